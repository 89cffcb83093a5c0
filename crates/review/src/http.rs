//! The review endpoints, on the shared `edge` crate's authentication and problem responses.
//!
//! - `GET /v1/cases/{case_id}/timeline`: every event of the case in log order (see
//!   [`crate::timeline`]).
//! - `GET /v1/reviews/{case_id}`: the review pack, JSON; `?format=html` (or
//!   `Accept: text/html`) the printable page.
//! - `GET /v1/reviews/{case_id}/verify?last_position=&case_digest=`: re-checks the case's rows
//!   against the hash chain; with a printed pack's `last_position` and `case_digest`, says
//!   whether the log still matches it.
//! - `POST /v1/reviews/{case_id}/conclusion` (reviewers): `{request_id?, level: facility |
//!   district, avoidability: avoidable | avoidable_with_conditions | unavoidable, delays:
//!   [1,2,3], notes, pack_last_position?}` → `CaseReviewed`; the same request again stores
//!   nothing new.
//! - `GET /v1/reviews?facility=<code>&quarter=2026Q3` and `?district=<code>&half=2026H2`:
//!   cases due for critical-case review (near miss, maternal death) whose event falls in the
//!   period, with their conclusions.
//! - `GET /v1/indicators/{district}?from=YYYY-MM-DD&to=YYYY-MM-DD` or `?year=2026` (the MCH
//!   statistical year ending in 2026); `format=csv` for CSV.
//! - `GET /v1/audit/head`: the log's last position and its chain hash.
//!
//! Who sees a case: a hospital or rescue centre that reported, sent, was asked to accept or
//! received her; a district or city office where she resides (`Principal::may_see_district`);
//! a reviewer where she resides within the reviewer's district, city or province. Anyone
//! else gets 404, as if there were no such case.

use crate::component::{Conclusion, Rejection, ReviewError, ReviewService};
use crate::events::{Avoidability, ReviewLevel};
use crate::facts::CaseFacts;
use crate::indicators;
use crate::pack;
use crate::policy::Period;
use crate::timeline::{timeline, TimelineEntry};
use crate::verify::coverage;
use axum::body::Body;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use contracts::{CaseId, Clock, DistrictCode, Envelope};
use edge::{ApiError, Auth, FieldError, Principal, Role};
use eventstore::{EventStore, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// What the endpoints need.
#[derive(Clone)]
pub struct ReviewState {
    /// The service.
    pub service: ReviewService<Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl FromRef<ReviewState> for Store {
    fn from_ref(s: &ReviewState) -> Store {
        s.service.store().clone()
    }
}

/// The router.
pub fn router(state: ReviewState) -> Router {
    Router::new()
        .route("/v1/cases/{case_id}/timeline", get(get_timeline))
        .route("/v1/reviews", get(list_reviews))
        .route("/v1/reviews/{case_id}", get(get_pack))
        .route("/v1/reviews/{case_id}/verify", get(verify_case))
        .route("/v1/reviews/{case_id}/conclusion", post(post_conclusion))
        .route("/v1/indicators/{district}", get(get_indicators))
        .route("/v1/audit/head", get(audit_head))
        .with_state(state)
}

fn store_error(e: StoreError) -> ApiError {
    if e.is_transient() {
        ApiError::unavailable(&e)
    } else {
        ApiError::internal(&e)
    }
}

fn service_error(e: ReviewError) -> ApiError {
    match e {
        ReviewError::Rejected(Rejection::NotFound) => ApiError::not_found(),
        ReviewError::Rejected(Rejection::Field(p, m)) => {
            ApiError::invalid(vec![FieldError::new(p, m)])
        }
        ReviewError::Rejected(r @ Rejection::Conflict) => ApiError::conflict(r.to_string()),
        ReviewError::Store(s) => store_error(s),
        ReviewError::Busy => ApiError::unavailable(&e),
        other => ApiError::internal(&other),
    }
}

fn within(area: &DistrictCode, district: &DistrictCode) -> bool {
    district == area || &district.city() == area || &district.province() == area
}

/// Whether `p` may see a case with these facts.
pub fn may_see(p: &Principal, facts: &CaseFacts) -> bool {
    let residence = facts
        .residence
        .as_deref()
        .and_then(|d| DistrictCode::parse(d).ok());
    match p.role {
        Role::Hospital | Role::RescueCentre => {
            facts.institutions().contains(p.institution.as_str())
        }
        Role::DistrictOffice | Role::CityOffice => {
            residence.is_some_and(|d| p.may_see_district(&d))
        }
        Role::Reviewer => residence.is_some_and(|d| within(&p.district, &d)),
        Role::Admin => false,
    }
}

/// The case's events and facts, when `p` may see them (404 otherwise).
async fn visible_case(
    s: &ReviewState,
    p: &Principal,
    case_id: &str,
) -> Result<(CaseId, Vec<Envelope>, CaseFacts), ApiError> {
    let case = CaseId::parse(case_id).map_err(|_| ApiError::not_found())?;
    let events = s.service.case_events(&case).await.map_err(store_error)?;
    let facts = CaseFacts::fold(case.as_str(), &events);
    if events.is_empty() || !may_see(p, &facts) {
        tracing::info!(case_id = %case, key_id = %p.key_id, "review read refused (404)");
        return Err(ApiError::not_found());
    }
    tracing::info!(case_id = %case, key_id = %p.key_id, "case read for review");
    Ok((case, events, facts))
}

/// The timeline response.
#[derive(Debug, Serialize)]
pub struct TimelineResponse {
    /// The case.
    pub case_id: String,
    /// Every event, in log order.
    pub events: Vec<TimelineEntry>,
}

async fn get_timeline(
    State(s): State<ReviewState>,
    Auth(p): Auth,
    Path(case_id): Path<String>,
) -> Result<Json<TimelineResponse>, ApiError> {
    let (case, events, _) = visible_case(&s, &p, &case_id).await?;
    Ok(Json(TimelineResponse {
        case_id: case.to_string(),
        events: timeline(&events, s.service.policy().offset()),
    }))
}

/// Pack query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackQuery {
    /// `json` (default) or `html`.
    pub format: Option<String>,
}

/// Builds the pack of a visible case.
pub async fn build_pack(
    s: &ReviewState,
    p: &Principal,
    case_id: &str,
) -> Result<pack::ReviewPack, ApiError> {
    let (case, events, _) = visible_case(s, p, case_id).await?;
    let positions: Vec<i64> = events.iter().map(|e| e.position).collect();
    let cov = coverage(s.service.store(), &positions)
        .await
        .map_err(store_error)?;
    Ok(pack::build(
        case.as_str(),
        &events,
        cov,
        s.service.near_miss(),
        s.service.policy().offset(),
        s.clock.now(),
    ))
}

async fn get_pack(
    State(s): State<ReviewState>,
    Auth(p): Auth,
    Path(case_id): Path<String>,
    Query(q): Query<PackQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let html = match q.format.as_deref() {
        Some("html") => true,
        Some("json") => false,
        Some(_) => {
            return Err(ApiError::invalid(vec![FieldError::new(
                "/format",
                "format is json or html",
            )]))
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.starts_with("text/html")),
    };
    let pack = build_pack(&s, &p, &case_id).await?;
    if html {
        Ok((
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            crate::html::render(&pack),
        )
            .into_response())
    } else {
        Ok(([(header::CACHE_CONTROL, "no-store")], Json(pack)).into_response())
    }
}

/// Verify query: a printed pack's values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    /// The pack's last position.
    pub last_position: Option<i64>,
    /// The pack's case digest.
    pub case_digest: Option<String>,
}

async fn verify_case(
    State(s): State<ReviewState>,
    Auth(p): Auth,
    Path(case_id): Path<String>,
    Query(q): Query<VerifyQuery>,
) -> Result<Json<Value>, ApiError> {
    let (case, events, _) = visible_case(&s, &p, &case_id).await?;
    let upto = q.last_position.unwrap_or(i64::MAX);
    let positions: Vec<i64> = events
        .iter()
        .map(|e| e.position)
        .filter(|p| *p <= upto)
        .collect();
    let cov = coverage(s.service.store(), &positions)
        .await
        .map_err(store_error)?;
    let matches = q
        .case_digest
        .as_ref()
        .map(|d| d.eq_ignore_ascii_case(&cov.case_digest) && cov.first_bad.is_none());
    Ok(Json(json!({
        "case_id": case,
        "verified": cov.first_bad.is_none(),
        "first_bad": cov.first_bad.as_ref().map(|(p, why)| json!({"position": p, "reason": why})),
        "matches_recorded": matches,
        "coverage": cov,
    })))
}

/// A conclusion as posted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConclusionRequest {
    /// Idempotency key (recommended).
    pub request_id: Option<Uuid>,
    /// `facility` or `district`.
    pub level: ReviewLevel,
    /// Avoidability.
    pub avoidability: Avoidability,
    /// Delays found, each 1, 2 or 3.
    #[serde(default)]
    pub delays: Vec<u8>,
    /// Notes.
    #[serde(default)]
    pub notes: String,
    /// The pack's last position.
    pub pack_last_position: Option<i64>,
}

async fn post_conclusion(
    State(s): State<ReviewState>,
    Auth(p): Auth,
    Path(case_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if p.role != Role::Reviewer {
        return Err(ApiError::forbidden("only reviewers record conclusions"));
    }
    let bytes = edge::read_limited(&headers, body, 128 * 1024).await?;
    let req: ConclusionRequest = edge::parse_json(&bytes).map_err(ApiError::malformed)?;
    let (case, _, _) = visible_case(&s, &p, &case_id).await?;
    let r = s
        .service
        .conclude(
            &case,
            Conclusion {
                request_id: req.request_id,
                level: req.level,
                avoidability: req.avoidability,
                delays: req.delays,
                notes: req.notes,
                pack_last_position: req.pack_last_position,
            },
            &p.actor(),
            &p.institution,
            &p.district,
        )
        .await
        .map_err(service_error)?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(&r).unwrap_or_default()),
    ))
}

/// Review-list query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// A facility's code (with `quarter`).
    pub facility: Option<String>,
    /// `2026Q3`.
    pub quarter: Option<String>,
    /// A district's code (with `half`).
    pub district: Option<String>,
    /// `2026H2`.
    pub half: Option<String>,
}

async fn list_reviews(
    State(s): State<ReviewState>,
    Auth(p): Auth,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let bad = |ptr: &str, m: &str| ApiError::invalid(vec![FieldError::new(ptr, m)]);
    let (scope, period, label) = match (&q.facility, &q.quarter, &q.district, &q.half) {
        (Some(f), Some(qr), None, None) => {
            let period = Period::quarter(qr)
                .ok_or_else(|| bad("/quarter", "a quarter is YYYYQ1 to YYYYQ4"))?;
            match p.role {
                Role::Hospital | Role::RescueCentre if p.institution.as_str() != f => {
                    return Err(ApiError::forbidden("a facility lists its own cases"))
                }
                Role::Hospital
                | Role::RescueCentre
                | Role::Reviewer
                | Role::DistrictOffice
                | Role::CityOffice => {}
                Role::Admin => return Err(ApiError::forbidden("not for this role")),
            }
            (format!("f:{f}"), period, qr.clone())
        }
        (None, None, Some(d), Some(h)) => {
            let period =
                Period::half(h).ok_or_else(|| bad("/half", "a half-year is YYYYH1 or YYYYH2"))?;
            let district = DistrictCode::parse(d).map_err(|e| bad("/district", &e.to_string()))?;
            let ok = match p.role {
                Role::Reviewer => within(&p.district, &district),
                Role::DistrictOffice | Role::CityOffice => p.may_see_district(&district),
                _ => false,
            };
            if !ok {
                return Err(ApiError::forbidden("this key may not list that district"));
            }
            (format!("d:{d}"), period, h.clone())
        }
        _ => return Err(bad("", "give facility and quarter, or district and half")),
    };
    let offset = s.service.policy().offset();
    let mut cases: Vec<Value> = s
        .service
        .due(&scope)
        .await
        .map_err(service_error)?
        .into_iter()
        .filter(|c| {
            c["at"]
                .as_str()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .is_some_and(|t| period.contains(t, offset))
        })
        .filter(|c| {
            // Facility lists seen by offices or reviewers: only women they may see.
            let facts = CaseFacts {
                residence: c["residence_district"].as_str().map(str::to_owned),
                reporters: c["institutions"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|i| i.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                ..CaseFacts::default()
            };
            may_see(&p, &facts)
        })
        .collect();
    cases.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
    Ok(Json(json!({
        "scope": scope,
        "period": label,
        "from": period.from.to_string(),
        "to": period.to.to_string(),
        "reviewed": cases.iter().filter(|c| c["reviews"].as_array().is_some_and(|r| !r.is_empty())).count(),
        "cases": cases,
    })))
}

/// Indicator query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorQuery {
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (inclusive).
    pub to: Option<String>,
    /// A statistical year (the year it ends in), instead of from/to.
    pub year: Option<i32>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

fn date(ptr: &str, s: &str) -> Result<Date, ApiError> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| ApiError::invalid(vec![FieldError::new(ptr, "a date is YYYY-MM-DD")]))
}

async fn get_indicators(
    State(s): State<ReviewState>,
    Auth(p): Auth,
    Path(district): Path<String>,
    Query(q): Query<IndicatorQuery>,
) -> Result<Response, ApiError> {
    let bad = |ptr: &str, m: &str| ApiError::invalid(vec![FieldError::new(ptr, m)]);
    let d = DistrictCode::parse(&district).map_err(|e| bad("/district", &e.to_string()))?;
    let ok = match p.role {
        Role::Reviewer => within(&p.district, &d),
        Role::DistrictOffice | Role::CityOffice => p.may_see_district(&d),
        _ => false,
    };
    if !ok {
        return Err(ApiError::forbidden(
            "this key may not see that district's indicators",
        ));
    }
    let policy = s.service.policy();
    let period = match (&q.year, &q.from, &q.to) {
        (Some(y), None, None) => policy
            .statistical_year(*y)
            .ok_or_else(|| bad("/year", "not a year"))?,
        (None, Some(f), Some(t)) => Period::new(date("/from", f)?, date("/to", t)?)
            .ok_or_else(|| bad("/to", "to is before from"))?,
        _ => {
            return Err(bad(
                "",
                "give from and to, or year (the statistical year ending in it)",
            ))
        }
    };
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(bad("/format", "format is json or csv")),
    };
    let facts = s
        .service
        .district_facts(d.as_str(), period)
        .await
        .map_err(service_error)?;
    let ind = indicators::compute(
        d.as_str(),
        period,
        policy.offset(),
        s.clock.now(),
        &policy.label(),
        &facts,
    );
    if csv {
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"indicators-{d}-{}-{}.csv\"",
                        ind.from, ind.to
                    ),
                ),
            ],
            indicators::to_csv(&ind),
        )
            .into_response())
    } else {
        Ok(Json(ind).into_response())
    }
}

async fn audit_head(State(s): State<ReviewState>, Auth(_): Auth) -> Result<Json<Value>, ApiError> {
    let (position, hash) = s.service.store().head().await.map_err(store_error)?;
    Ok(Json(
        json!({ "position": position, "hash": hex::encode(hash) }),
    ))
}
