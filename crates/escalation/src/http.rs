//! The green-channel endpoints: opening (hospitals), the referral's steps (accept, hand-on,
//! arrive, feedback, near-miss by rescue centres; depart by the sender), one referral for its
//! parties, and the boards (a centre's requests, an office's districts, a sender's
//! referrals). Errors are RFC 7807 problems with JSON pointers to the wrong fields.

use crate::component::{Escalation, EscalationError, OpenRequest};
use crate::core::{Departure, Feedback, ReferralState, Rejection};
use crate::events::{ClinicalState, Identity, Outcome, ReferralForm, Timeliness, Transport};
use crate::projection::detail;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use contracts::{CaseId, Clock, DistrictCode, InstitutionCode};
use edge::{ApiError, Auth, FieldError, Principal, Role};
use eventstore::{EventStore, Store};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// What the endpoints need.
#[derive(Clone)]
pub struct EscalationState {
    /// The service.
    pub escalation: Escalation<Store>,
    /// The clock (minutes since opening on the boards).
    pub clock: Arc<dyn Clock>,
}

impl FromRef<EscalationState> for Store {
    fn from_ref(s: &EscalationState) -> Store {
        s.escalation.store().clone()
    }
}

/// The router.
pub fn router(state: EscalationState) -> Router {
    Router::new()
        .route("/v1/green-channel", post(open))
        .route("/v1/referrals", get(board))
        .route("/v1/referrals/{id}", get(show))
        .route("/v1/referrals/{id}/accept", post(accept))
        .route("/v1/referrals/{id}/hand-on", post(hand_on))
        .route("/v1/referrals/{id}/depart", post(depart))
        .route("/v1/referrals/{id}/arrive", post(arrive))
        .route("/v1/referrals/{id}/feedback", post(feedback))
        .route("/v1/referrals/{id}/near-miss", post(near_miss))
        .with_state(state)
}

fn service_error(e: EscalationError) -> ApiError {
    match e {
        EscalationError::Rejected(r) => match r {
            Rejection::NotFound => ApiError::not_found(),
            Rejection::NotYours(m) => ApiError::forbidden(m),
            Rejection::AlreadyAccepted(c) => {
                ApiError::conflict(format!("already accepted (by {c})"))
            }
            Rejection::NoLadder(_) => {
                ApiError::invalid(vec![FieldError::new("/target_centre", r.to_string())])
            }
            Rejection::Field(pointer, message) => {
                ApiError::invalid(vec![FieldError::new(pointer, message)])
            }
            other @ (Rejection::Closed
            | Rejection::TopRung
            | Rejection::NotAccepted
            | Rejection::NotArrived
            | Rejection::Conflict(_)) => ApiError::conflict(other.to_string()),
        },
        EscalationError::Busy => ApiError::unavailable(&e),
        other => ApiError::internal(&other),
    }
}

fn need_role(p: &Principal, role: Role, what: &str) -> Result<(), ApiError> {
    if p.role == role {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "only a {} key may {what}",
            role.as_str()
        )))
    }
}

fn referral_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found())
}

fn text(errors: &mut Vec<FieldError>, pointer: &str, value: &str, max: usize) {
    if value.trim().is_empty() || value.chars().count() > max {
        errors.push(FieldError::new(
            pointer,
            format!("must be 1 to {max} characters"),
        ));
    }
}

fn opt_text(errors: &mut Vec<FieldError>, pointer: &str, value: Option<&str>, max: usize) {
    if let Some(v) = value {
        text(errors, pointer, v, max);
    }
}

fn range<T: PartialOrd + Copy + std::fmt::Display>(
    errors: &mut Vec<FieldError>,
    pointer: &str,
    value: Option<T>,
    lo: T,
    hi: T,
) {
    if let Some(v) = value {
        if v < lo || v > hi {
            errors.push(FieldError::new(
                pointer,
                format!("must be between {lo} and {hi}"),
            ));
        }
    }
}

fn not_future(
    errors: &mut Vec<FieldError>,
    pointer: &str,
    t: Option<OffsetDateTime>,
    now: OffsetDateTime,
) {
    if t.is_some_and(|t| t > now + Duration::minutes(5)) {
        errors.push(FieldError::new(pointer, "is in the future"));
    }
}

fn finish(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(errors))
    }
}

fn body_of(s: &ReferralState) -> Result<Json<Value>, ApiError> {
    detail(s).map(Json).ok_or_else(ApiError::not_found)
}

/// The referral form a hospital posts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenGreenChannel {
    /// The caller's id for this request (a retry opens nothing new).
    pub request_id: Uuid,
    /// The case (from the risk card's answer).
    pub case_id: String,
    /// Her residence district (GB/T 2260).
    pub residence_district: String,
    /// A rescue centre the hospital names (else her district's first rung).
    #[serde(default)]
    pub target_centre: Option<String>,
    /// Her identity.
    pub identity: Identity,
    /// Her clinical state on leaving.
    pub clinical: ClinicalState,
    /// Why she is referred.
    pub reason: String,
    /// Treatment planned en route.
    #[serde(default)]
    pub treatment_en_route: Option<String>,
    /// The referring doctor.
    pub referring_doctor: String,
    /// Who escorts her.
    #[serde(default)]
    pub escort: Option<String>,
    /// How she travels.
    #[serde(default)]
    pub transport: Option<Transport>,
}

async fn open(
    State(s): State<EscalationState>,
    Auth(p): Auth,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    need_role(&p, Role::Hospital, "open a green channel")?;
    let req: OpenGreenChannel = edge::parse_json(&body).map_err(ApiError::malformed)?;
    let mut errors = Vec::new();
    let case = CaseId::parse(req.case_id.as_str());
    if case.is_err() {
        errors.push(FieldError::new("/case_id", "not a valid case id"));
    }
    let district = match DistrictCode::parse(&req.residence_district) {
        Ok(d) if s.escalation.reference().district(&d).is_some() => Some(d),
        Ok(_) => {
            errors.push(FieldError::new("/residence_district", "unknown district"));
            None
        }
        Err(e) => {
            errors.push(FieldError::new("/residence_district", e.to_string()));
            None
        }
    };
    let named = match req.target_centre.as_deref().map(InstitutionCode::parse) {
        None => None,
        Some(Ok(c)) if s.escalation.is_rescue_centre(&c) => Some(c),
        Some(_) => {
            errors.push(FieldError::new(
                "/target_centre",
                "not a known rescue centre",
            ));
            None
        }
    };
    let id = &req.identity;
    text(&mut errors, "/identity/name", &id.name, 100);
    range(&mut errors, "/identity/age", id.age, 10, 65);
    for (ptr, v) in [
        ("/identity/ethnicity", &id.ethnicity),
        ("/identity/education", &id.education),
        ("/identity/address", &id.address),
        ("/identity/relative", &id.relative),
        ("/identity/phone", &id.phone),
    ] {
        opt_text(&mut errors, ptr, v.as_deref(), 200);
    }
    let c = &req.clinical;
    text(&mut errors, "/clinical/complaint", &c.complaint, 1000);
    text(&mut errors, "/clinical/diagnosis", &c.diagnosis, 1000);
    opt_text(
        &mut errors,
        "/clinical/treatment_so_far",
        c.treatment_so_far.as_deref(),
        2000,
    );
    range(
        &mut errors,
        "/clinical/systolic_mmhg",
        c.systolic_mmhg,
        30,
        300,
    );
    range(
        &mut errors,
        "/clinical/diastolic_mmhg",
        c.diastolic_mmhg,
        10,
        200,
    );
    range(
        &mut errors,
        "/clinical/respiration_per_min",
        c.respiration_per_min,
        0,
        80,
    );
    range(
        &mut errors,
        "/clinical/pulse_per_min",
        c.pulse_per_min,
        0,
        250,
    );
    range(
        &mut errors,
        "/clinical/fetal_heart_rate_bpm",
        c.fetal_heart_rate_bpm,
        0,
        250,
    );
    range(
        &mut errors,
        "/clinical/blood_loss_ml",
        c.blood_loss_ml,
        0,
        20_000,
    );
    range(
        &mut errors,
        "/clinical/hours_in_labour",
        c.hours_in_labour,
        0.0,
        96.0,
    );
    if let (Some(sys), Some(dia)) = (c.systolic_mmhg, c.diastolic_mmhg) {
        if dia >= sys {
            errors.push(FieldError::new(
                "/clinical/diastolic_mmhg",
                "must be below the systolic pressure",
            ));
        }
    }
    text(&mut errors, "/reason", &req.reason, 1000);
    opt_text(
        &mut errors,
        "/treatment_en_route",
        req.treatment_en_route.as_deref(),
        2000,
    );
    text(&mut errors, "/referring_doctor", &req.referring_doctor, 100);
    opt_text(&mut errors, "/escort", req.escort.as_deref(), 200);
    finish(errors)?;
    let (Ok(case), Some(district)) = (case, district) else {
        return Err(ApiError::internal(&"validated fields vanished"));
    };
    let open = OpenRequest {
        request_id: req.request_id,
        case_id: case,
        residence_district: district,
        sending_institution: p.institution.clone(),
        named_centre: named,
        form: ReferralForm {
            identity: Some(req.identity),
            clinical: Some(req.clinical),
            reason: req.reason,
            treatment_en_route: req.treatment_en_route,
            referring_doctor: Some(req.referring_doctor),
            escort: req.escort,
            transport: req.transport,
        },
    };
    let state = s
        .escalation
        .open(open, &p.actor())
        .await
        .map_err(service_error)?;
    let Json(body) = body_of(&state)?;
    Ok((StatusCode::CREATED, Json(body)))
}

/// `accept`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The receiving doctor.
    pub receiving_doctor: String,
}

async fn accept(
    State(s): State<EscalationState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    need_role(&p, Role::RescueCentre, "accept a referral")?;
    let id = referral_id(&id)?;
    let req: AcceptRequest = edge::parse_json(&body).map_err(ApiError::malformed)?;
    let mut errors = Vec::new();
    text(&mut errors, "/receiving_doctor", &req.receiving_doctor, 100);
    finish(errors)?;
    let st = s
        .escalation
        .accept(id, &p.institution, &req.receiving_doctor, &p.actor())
        .await
        .map_err(service_error)?;
    body_of(&st)
}

/// `hand-on`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandOnRequest {
    /// Why the centre hands her on.
    pub reason: String,
}

async fn hand_on(
    State(s): State<EscalationState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    need_role(&p, Role::RescueCentre, "hand a referral on")?;
    let id = referral_id(&id)?;
    let req: HandOnRequest = edge::parse_json(&body).map_err(ApiError::malformed)?;
    let mut errors = Vec::new();
    text(&mut errors, "/reason", &req.reason, 1000);
    finish(errors)?;
    let st = s
        .escalation
        .hand_on(id, &p.institution, &req.reason, &p.actor())
        .await
        .map_err(service_error)?;
    body_of(&st)
}

/// `depart`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartRequest {
    /// When she left (default: now); recorded to the minute.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub departed_at: Option<OffsetDateTime>,
    /// Who escorts her.
    pub escort: String,
    /// How she travels (default: as on the form).
    #[serde(default)]
    pub transport: Option<Transport>,
    /// Treatment en route.
    #[serde(default)]
    pub treatment_en_route: Option<String>,
}

async fn depart(
    State(s): State<EscalationState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    need_role(&p, Role::Hospital, "record a departure")?;
    let id = referral_id(&id)?;
    let req: DepartRequest = edge::parse_json(&body).map_err(ApiError::malformed)?;
    let now = s.clock.now();
    let mut errors = Vec::new();
    text(&mut errors, "/escort", &req.escort, 200);
    opt_text(
        &mut errors,
        "/treatment_en_route",
        req.treatment_en_route.as_deref(),
        2000,
    );
    not_future(&mut errors, "/departed_at", req.departed_at, now);
    finish(errors)?;
    let dep = Departure {
        departed_at: req.departed_at.unwrap_or(now),
        escort: req.escort,
        transport: req.transport,
        treatment_en_route: req.treatment_en_route,
    };
    let st = s
        .escalation
        .depart(id, &p.institution, dep, &p.actor())
        .await
        .map_err(service_error)?;
    body_of(&st)
}

/// `arrive`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArriveRequest {
    /// When she arrived (default: now); recorded to the minute.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub arrived_at: Option<OffsetDateTime>,
    /// Who escorted her (default: the escort on departure).
    #[serde(default)]
    pub escort: Option<String>,
    /// Who received her.
    pub received_by: String,
}

async fn arrive(
    State(s): State<EscalationState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    need_role(&p, Role::RescueCentre, "record an arrival")?;
    let id = referral_id(&id)?;
    let req: ArriveRequest = edge::parse_json(&body).map_err(ApiError::malformed)?;
    let now = s.clock.now();
    let mut errors = Vec::new();
    text(&mut errors, "/received_by", &req.received_by, 100);
    opt_text(&mut errors, "/escort", req.escort.as_deref(), 200);
    not_future(&mut errors, "/arrived_at", req.arrived_at, now);
    finish(errors)?;
    let st = s
        .escalation
        .arrive(
            id,
            &p.institution,
            req.arrived_at.unwrap_or(now),
            req.escort,
            &req.received_by,
            &p.actor(),
        )
        .await
        .map_err(service_error)?;
    body_of(&st)
}

/// `feedback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// Diagnosis at the centre.
    pub diagnosis: String,
    /// Treatment given.
    pub treatment: String,
    /// `rescued`, `rescue_failed`, `dead_on_arrival`.
    pub outcome: Outcome,
    /// `timely`, `delayed`, `to_be_corrected`.
    pub timeliness: Timeliness,
    /// A note to the sender.
    #[serde(default)]
    pub note: Option<String>,
}

async fn feedback(
    State(s): State<EscalationState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    need_role(&p, Role::RescueCentre, "file feedback")?;
    let id = referral_id(&id)?;
    let req: FeedbackRequest = edge::parse_json(&body).map_err(ApiError::malformed)?;
    let mut errors = Vec::new();
    text(&mut errors, "/diagnosis", &req.diagnosis, 1000);
    text(&mut errors, "/treatment", &req.treatment, 2000);
    opt_text(&mut errors, "/note", req.note.as_deref(), 2000);
    finish(errors)?;
    let f = Feedback {
        diagnosis: req.diagnosis,
        treatment: req.treatment,
        outcome: req.outcome,
        timeliness: req.timeliness,
        note: req.note,
    };
    let st = s
        .escalation
        .feedback(id, &p.institution, f, &p.actor())
        .await
        .map_err(service_error)?;
    body_of(&st)
}

/// `near-miss`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearMissRequest {
    /// Codes of the near-miss catalogue's criteria she met.
    pub criteria: Vec<String>,
}

async fn near_miss(
    State(s): State<EscalationState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    need_role(&p, Role::RescueCentre, "record a near miss")?;
    let id = referral_id(&id)?;
    let req: NearMissRequest = edge::parse_json(&body).map_err(ApiError::malformed)?;
    if req.criteria.is_empty() {
        return Err(ApiError::invalid(vec![FieldError::new(
            "/criteria",
            "at least one criterion is needed",
        )]));
    }
    let st = s
        .escalation
        .near_miss(id, &p.institution, &req.criteria, &p.actor())
        .await
        .map_err(service_error)?;
    body_of(&st)
}

/// Whether `p` is a party to the referral described by `body` (a summary or detail).
fn is_party(p: &Principal, body: &Value) -> bool {
    let inst = json!(p.institution);
    match p.role {
        Role::Hospital => body["sending_institution"] == inst,
        Role::RescueCentre => body["ladder"].as_array().is_some_and(|l| l.contains(&inst)),
        Role::DistrictOffice | Role::CityOffice => body["residence_district"]
            .as_str()
            .and_then(|d| DistrictCode::parse(d).ok())
            .is_some_and(|d| p.may_see_district(&d)),
        Role::Reviewer => true,
        Role::Admin => false,
    }
}

async fn show(
    State(s): State<EscalationState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = referral_id(&id)?;
    let doc = s
        .escalation
        .store()
        .document("referral", &id.to_string())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(ApiError::not_found)?;
    if !is_party(&p, &doc.body) {
        return Err(ApiError::not_found());
    }
    Ok(Json(doc.body))
}

/// Board query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardQuery {
    /// A rescue centre's code (rescue-centre keys: their own, the default).
    pub centre: Option<String>,
    /// An office's district (office keys: default their own; a city office may name any of
    /// its districts, else it sees them all).
    pub district: Option<String>,
    /// `active` (default: awaiting acceptance and accepted), `awaiting_acceptance`,
    /// `accepted`, `closed` or `all`.
    pub status: Option<String>,
    /// At most this many (default 500, up to 5000).
    pub limit: Option<u32>,
}

fn status_rank(v: &Value) -> u8 {
    match v["status"].as_str() {
        Some("awaiting_acceptance") => 0,
        Some("accepted") => 1,
        _ => 2,
    }
}

async fn board(
    State(s): State<EscalationState>,
    Auth(p): Auth,
    Query(q): Query<BoardQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = q.status.as_deref().unwrap_or("active");
    if !matches!(
        status,
        "active" | "awaiting_acceptance" | "accepted" | "closed" | "all"
    ) {
        return Err(ApiError::invalid(vec![FieldError::new(
            "/status",
            "status is one of active, awaiting_acceptance, accepted, closed, all",
        )]));
    }
    let limit = q.limit.unwrap_or(500).clamp(1, 5000);
    let store = s.escalation.store();
    let internal = |e: eventstore::StoreError| ApiError::internal(&e);
    let (collection, scopes): (&str, Vec<String>) = match p.role {
        Role::RescueCentre => {
            let centre = match q.centre.as_deref() {
                None => p.institution.clone(),
                Some(c) => InstitutionCode::parse(c).map_err(|e| {
                    ApiError::invalid(vec![FieldError::new("/centre", e.to_string())])
                })?,
            };
            if !p.acts_for(&centre) {
                return Err(ApiError::forbidden("a centre sees its own board only"));
            }
            ("referral-centre", vec![centre.to_string()])
        }
        Role::DistrictOffice | Role::CityOffice => {
            let scopes = match q.district.as_deref() {
                Some(d) => {
                    let d = DistrictCode::parse(d).map_err(|e| {
                        ApiError::invalid(vec![FieldError::new("/district", e.to_string())])
                    })?;
                    if !p.may_see_district(&d) {
                        return Err(ApiError::forbidden("this office may not see that district"));
                    }
                    vec![d.to_string()]
                }
                None if p.role == Role::DistrictOffice => vec![p.district.to_string()],
                None => s
                    .escalation
                    .reference()
                    .districts()
                    .filter(|d| p.may_see_district(&d.code))
                    .map(|d| d.code.to_string())
                    .collect(),
            };
            ("referral-district", scopes)
        }
        Role::Hospital => ("referral-sender", vec![p.institution.to_string()]),
        _ => return Err(ApiError::forbidden("no board for this role")),
    };
    let mut rows = Vec::new();
    for scope in &scopes {
        let docs = store
            .documents(collection, Some(scope), 100_000)
            .await
            .map_err(internal)?;
        rows.extend(docs.into_iter().map(|d| d.body).filter(|b| {
            let st = b["status"].as_str().unwrap_or("");
            match status {
                "all" => true,
                "active" => st != "closed",
                other => st == other,
            }
        }));
    }
    let now = s.clock.now();
    let opened = |v: &Value| {
        v["opened_at"]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    };
    rows.sort_by(|a, b| {
        (status_rank(a), opened(a), a["referral_id"].as_str()).cmp(&(
            status_rank(b),
            opened(b),
            b["referral_id"].as_str(),
        ))
    });
    rows.truncate(limit as usize);
    for r in &mut rows {
        let since = opened(r).map(|t| (now - t).whole_minutes());
        let left = r["acceptance_due_at"]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .map(|t| (t - now).whole_minutes());
        if let Some(o) = r.as_object_mut() {
            o.insert("minutes_since_opening".into(), json!(since));
            o.insert("minutes_to_acceptance_deadline".into(), json!(left));
        }
    }
    Ok(Json(json!({
        "status": status,
        "now": now.format(&Rfc3339).unwrap_or_default(),
        "referrals": rows,
    })))
}
