//! The warning endpoints: the alert inbox, acknowledgement, the registers (JSON and CSV) and
//! the not-suitable judgement. Every query is scoped to the caller's office: a district
//! office sees its district, a city office its city's districts.

use crate::component::{Warning, WarningError};
use crate::core::Rejection;
use crate::events::NotSuitableRecorded;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use contracts::{CaseId, Clock, DistrictCode};
use edge::{ApiError, Auth, FieldError, Principal, Role};
use eventstore::{EventStore, Store};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

/// What the endpoints need.
#[derive(Clone)]
pub struct WarningState {
    /// The service.
    pub warning: Warning<Store>,
    /// The clock (time left to deadlines).
    pub clock: Arc<dyn Clock>,
}

impl FromRef<WarningState> for Store {
    fn from_ref(s: &WarningState) -> Store {
        s.warning.store().clone()
    }
}

/// The router.
pub fn router(state: WarningState) -> Router {
    Router::new()
        .route("/v1/alerts", get(inbox))
        .route("/v1/alerts/{alert_id}/ack", post(acknowledge))
        .route("/v1/registers/{district}/{register}", get(register))
        .route("/v1/cases/{case_id}/not-suitable", post(not_suitable))
        .with_state(state)
}

fn store_error(e: WarningError) -> ApiError {
    match e {
        WarningError::Rejected(Rejection::NotFound) => ApiError::not_found(),
        WarningError::Rejected(Rejection::Forbidden) => {
            ApiError::forbidden("this alert is addressed to another office")
        }
        WarningError::Rejected(Rejection::Closed(reason)) => {
            ApiError::conflict(format!("the alert was closed ({reason})"))
        }
        WarningError::Busy => ApiError::unavailable(&e),
        other => ApiError::internal(&other),
    }
}

fn office_only(p: &Principal) -> Result<(), ApiError> {
    match p.role {
        Role::DistrictOffice | Role::CityOffice => Ok(()),
        _ => Err(ApiError::forbidden(
            "only district and city MCH offices use this",
        )),
    }
}

fn district_param(p: &Principal, raw: Option<&str>) -> Result<DistrictCode, ApiError> {
    let district = match raw {
        Some(s) => DistrictCode::parse(s)
            .map_err(|e| ApiError::invalid(vec![FieldError::new("/district", e.to_string())]))?,
        None => p.district.clone(),
    };
    if district != p.district && !p.may_see_district(&district) {
        return Err(ApiError::forbidden("this office may not see that district"));
    }
    Ok(district)
}

/// Inbox query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// The office's district (default: the caller's).
    pub district: Option<String>,
    /// `open` (default), `acknowledged`, `closed`.
    pub status: Option<String>,
    /// At most this many (default 500, up to 5000).
    pub limit: Option<u32>,
}

async fn inbox(
    State(s): State<WarningState>,
    Auth(p): Auth,
    Query(q): Query<InboxQuery>,
) -> Result<Json<Value>, ApiError> {
    office_only(&p)?;
    let district = district_param(&p, q.district.as_deref())?;
    let status = q.status.as_deref().unwrap_or("open");
    if !matches!(status, "open" | "acknowledged" | "closed") {
        return Err(ApiError::invalid(vec![FieldError::new(
            "/status",
            "status is one of open, acknowledged, closed",
        )]));
    }
    let limit = q.limit.unwrap_or(500).clamp(1, 5000);
    let docs = s
        .warning
        .store()
        .documents("inbox", Some(&format!("{district}|{status}")), limit)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let now = s.clock.now();
    let alerts: Vec<Value> = docs
        .into_iter()
        .map(|d| with_time_left(d.body, now))
        .collect();
    Ok(Json(
        json!({ "district": district, "status": status, "now": now.format(&Rfc3339).unwrap_or_default(), "alerts": alerts }),
    ))
}

/// Adds `seconds_left` and `overdue` (as of now) to an alert body.
fn with_time_left(mut body: Value, now: OffsetDateTime) -> Value {
    let due = body
        .get("due_at")
        .and_then(Value::as_str)
        .and_then(|d| OffsetDateTime::parse(d, &Rfc3339).ok());
    if let (Some(due), Some(obj)) = (due, body.as_object_mut()) {
        let left = (due - now).whole_seconds();
        obj.insert("seconds_left".into(), json!(left));
        let open = obj.get("status").and_then(Value::as_str) == Some("open");
        let already = obj.get("overdue").and_then(Value::as_bool).unwrap_or(false);
        obj.insert("overdue".into(), json!(already || (open && left < 0)));
    }
    body
}

async fn acknowledge(
    State(s): State<WarningState>,
    Auth(p): Auth,
    Path(alert_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    office_only(&p)?;
    let alert_id = Uuid::parse_str(&alert_id).map_err(|_| ApiError::not_found())?;
    s.warning
        .acknowledge(alert_id, &p.district, &p.actor())
        .await
        .map_err(store_error)?;
    let doc = s
        .warning
        .store()
        .document("alert", &alert_id.to_string())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(doc.body))
}

/// Register query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterQuery {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

async fn register(
    State(s): State<WarningState>,
    Auth(p): Auth,
    Path((district, register)): Path<(String, String)>,
    Query(q): Query<RegisterQuery>,
) -> Result<Response, ApiError> {
    office_only(&p)?;
    let district = district_param(&p, Some(&district))?;
    let (collection, columns): (&str, &[&str]) = match register.as_str() {
        "high-risk" => (
            "register-high-risk",
            &[
                "case_id",
                "colour",
                "infectious",
                "score",
                "high_risk_since",
                "last_assessed_at",
                "institution",
                "assessments",
            ],
        ),
        "red" => (
            "register-red",
            &["case_id", "current_colour", "red_assessments"],
        ),
        "not-suitable" => ("register-not-suitable", &["case_id", "judgements"]),
        _ => return Err(ApiError::not_found()),
    };
    let rows: Vec<Value> = s
        .warning
        .store()
        .documents(collection, Some(district.as_str()), 100_000)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .into_iter()
        .map(|d| d.body)
        .collect();
    if q.format.as_deref() == Some("csv") {
        let mut out = columns.join(",");
        out.push('\n');
        for r in &rows {
            let line: Vec<String> = columns
                .iter()
                .map(|c| csv_cell(r.get(*c).unwrap_or(&Value::Null)))
                .collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        let name = format!("attachment; filename=\"{register}-{district}.csv\"");
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, name),
            ],
            out,
        )
            .into_response());
    }
    Ok(Json(json!({ "district": district, "register": register, "rows": rows })).into_response())
}

/// One CSV cell: strings as they are, anything else as JSON; quoted when needed; a leading
/// `=`, `+`, `-` or `@` is escaped so a spreadsheet never runs it as a formula.
fn csv_cell(v: &Value) -> String {
    let raw = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let raw = if raw.starts_with(['=', '+', '-', '@']) {
        format!("'{raw}")
    } else {
        raw
    };
    if raw.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", raw.replace('"', "\"\""))
    } else {
        raw
    }
}

/// The not-suitable judgement.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotSuitableRequest {
    /// The caller's id for this record (makes a retry harmless).
    pub request_id: Uuid,
    /// The doctor who judged.
    pub judged_by: String,
    /// Their title (associate chief or above).
    pub title: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub judged_at: OffsetDateTime,
    /// Why.
    pub reason: String,
    /// What followed.
    pub followed_by: Option<String>,
}

async fn not_suitable(
    State(s): State<WarningState>,
    Auth(p): Auth,
    Path(case_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: NotSuitableRequest = edge::parse_json(&body).map_err(ApiError::malformed)?;
    let case = CaseId::parse(case_id).map_err(|_| ApiError::not_found())?;
    let doc = s
        .warning
        .store()
        .document("case-warning", case.as_str())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(ApiError::not_found)?;
    let district = DistrictCode::parse(&doc.scope).map_err(|e| ApiError::internal(&e))?;
    let reported_here = doc.body["history"]
        .as_array()
        .is_some_and(|h| h.iter().any(|e| e["institution"] == json!(p.institution)));
    let allowed = match p.role {
        Role::Hospital => reported_here,
        Role::DistrictOffice | Role::CityOffice => p.may_see_district(&district),
        _ => false,
    };
    if !allowed {
        return Err(ApiError::not_found());
    }
    let mut errors = Vec::new();
    for (field, value) in [
        ("/judged_by", &req.judged_by),
        ("/title", &req.title),
        ("/reason", &req.reason),
    ] {
        if value.trim().is_empty() || value.chars().count() > 500 {
            errors.push(FieldError::new(field, "must be 1 to 500 characters"));
        }
    }
    if req.judged_at > s.clock.now() + time::Duration::minutes(5) {
        errors.push(FieldError::new("/judged_at", "is in the future"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let record = NotSuitableRecorded {
        case_id: case.clone(),
        district: district.clone(),
        judged_by: req.judged_by,
        title: req.title,
        judged_at: req.judged_at,
        reason: req.reason,
        followed_by: req.followed_by,
        recorded_by: p.actor(),
    };
    s.warning
        .not_suitable(&case, req.request_id, record)
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "case_id": case, "recorded": true })))
}
