//! The follow-up endpoints, on the shared `edge` crate's authentication and problem
//! responses. District and city MCH offices only, scoped by `Principal::may_see_district`.
//!
//! - `GET /v1/worklists/{district}/{yyyy-mm}`: every call and visit due that month (UTC+8)
//!   for the district's women, ordered red → orange → purple → yellow → green, then overdue
//!   first, then by due time. Filters: `colour` (comma-separated; `purple` means the purple
//!   flag), `status` (`open`, `done`, `closed`, `overdue`), `assignee`, `kind`. `format`:
//!   `json` (default), `csv`, `xlsx`. JSON is paged: `limit` rows (default [`PAGE`], at most
//!   [`MAX_PAGE`]) after the cursor `after` (the `next` of the previous page); the response
//!   says `truncated` and gives `next` (null on the last page). CSV and XLSX export the whole
//!   filtered list. Rows come from `followup-worklist` (see [`crate::projection`]), whose
//!   scopes list in worklist order, so a page is a bounded prefix read of each status scope
//!   asked for (only `open` for `status=open|overdue`), never the whole month.
//! - `POST /v1/follow-ups/{item_id}/outcome`: `{request_id, outcome, note?, danger_signs?,
//!   new_district?}`; outcome is `reached`, `not_reached`, `wrong_number`, `moved_away` (needs
//!   `new_district`; appends `TransferRequested`), `pregnancy_ended` (appends
//!   `OutcomeRequested`), `declined`.
//! - `POST /v1/follow-ups/{item_id}/assign`: `{request_id, assignee}`.

use crate::component::{FollowUpError, FollowUpService};
use crate::core::{AttemptReport, Rejection, YearMonth};
use crate::events::ContactOutcome;
use crate::projection::{rank, worklist_status_scope, STATUSES};
use axum::extract::{FromRef, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use contracts::{Clock, Colour, DistrictCode};
use edge::{ApiError, Auth, FieldError, Principal, Role};
use eventstore::{EventStore, Store};
use eventstore::{KeyRange, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// What the endpoints need.
#[derive(Clone)]
pub struct FollowUpState {
    /// The service.
    pub service: FollowUpService<Store>,
    /// The clock (overdue, gestational age today).
    pub clock: Arc<dyn Clock>,
}

impl FromRef<FollowUpState> for Store {
    fn from_ref(s: &FollowUpState) -> Store {
        s.service.store().clone()
    }
}

/// The router.
pub fn router(state: FollowUpState) -> Router {
    Router::new()
        .route("/v1/worklists/{district}/{month}", get(worklist))
        .route("/v1/follow-ups/{item_id}/outcome", post(outcome))
        .route("/v1/follow-ups/{item_id}/assign", post(assign))
        .with_state(state)
}

fn service_error(e: FollowUpError) -> ApiError {
    match e {
        FollowUpError::Rejected(Rejection::NotFound) => ApiError::not_found(),
        FollowUpError::Rejected(Rejection::Forbidden) => {
            ApiError::forbidden("this item belongs to another district")
        }
        FollowUpError::Rejected(r @ (Rejection::NotOpen(_) | Rejection::TooEarly(_))) => {
            ApiError::conflict(r.to_string())
        }
        FollowUpError::Rejected(Rejection::Invalid(m)) => {
            ApiError::invalid(vec![FieldError::new("", m)])
        }
        FollowUpError::Busy => ApiError::unavailable(&e),
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

/// Worklist query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorklistQuery {
    /// Colours, comma-separated (`red,orange,purple`).
    pub colour: Option<String>,
    /// `open`, `done`, `closed` or `overdue`.
    pub status: Option<String>,
    /// Assigned to.
    pub assignee: Option<String>,
    /// Item kind (`phone_call`, `face_to_face`, …).
    pub kind: Option<String>,
    /// `json` (default), `csv`, `xlsx`.
    pub format: Option<String>,
    /// JSON page size (default [`PAGE`], at most [`MAX_PAGE`]).
    pub limit: Option<String>,
    /// JSON cursor: the previous page's `next`.
    pub after: Option<String>,
}

/// The default JSON page size.
pub const PAGE: usize = 500;
/// The largest JSON page.
pub const MAX_PAGE: usize = 5000;

/// One worklist row, computed from an item document and the clock.
#[derive(Debug, Clone)]
struct Row {
    body: Value,
    overdue: bool,
    gestational_age: Option<String>,
    /// The position in worklist order (rank, overdue first, due time, case id, item id) as
    /// text: the JSON cursor, and what rows are sorted by.
    cursor: String,
}

/// The cursor of a row: its document key (`rank!due!case!item`) with the overdue flag after
/// the rank. Within one status scope this sorts like the key (overdue items are the earliest
/// due of their colour), so each scope's key order is its worklist order.
fn cursor(rank: u8, overdue: bool, key: &str) -> String {
    let rest = key.split_once('!').map_or(key, |(_, r)| r);
    format!("{rank}!{}!{rest}", u8::from(!overdue))
}

fn row(key: &str, body: Value, now: OffsetDateTime, today: Date) -> Option<Row> {
    let due_at = OffsetDateTime::parse(body["due_at"].as_str()?, &Rfc3339).ok()?;
    let open = body["status"] == "open";
    let colour = body["colour"].as_str().and_then(|c| Colour::parse(c).ok());
    let rank = rank(colour, body["purple"].as_bool().unwrap_or(false));
    let overdue = open && now >= due_at;
    let gestational_age = (!body["pregnancy_ended"].as_bool().unwrap_or(false))
        .then(|| {
            let lmp = Date::parse(
                body["lmp"].as_str()?,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .ok()?;
            let days = (today - lmp).whole_days();
            (days >= 0).then(|| format!("{}+{}", days / 7, days % 7))
        })
        .flatten();
    Some(Row {
        overdue,
        gestational_age,
        cursor: cursor(rank, overdue, key),
        body,
    })
}

fn matches(r: &Row, q: &WorklistQuery) -> bool {
    if let Some(colours) = q.colour.as_deref() {
        let hit = colours.split(',').map(str::trim).any(|c| {
            if c.eq_ignore_ascii_case("purple") {
                r.body["purple"].as_bool().unwrap_or(false)
            } else {
                r.body["colour"]
                    .as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case(c))
            }
        });
        if !hit {
            return false;
        }
    }
    if let Some(s) = q.status.as_deref() {
        let ok = if s == "overdue" {
            r.overdue
        } else {
            r.body["status"] == s
        };
        if !ok {
            return false;
        }
    }
    if let Some(a) = q.assignee.as_deref() {
        if r.body["assignee"].as_str() != Some(a) {
            return false;
        }
    }
    if let Some(k) = q.kind.as_deref() {
        if r.body["kind"] != k {
            return false;
        }
    }
    true
}

/// What is read of one status scope.
struct Read {
    rows: Vec<Row>,
    /// Rows past these may exist.
    more: bool,
}

/// The document key a cursor stands for: `rank!overdue!rest` → `rank!rest` (see
/// [`cursor`]). Within a status scope, rows after the cursor are exactly the documents after
/// this key.
fn cursor_key(cursor: &str) -> String {
    let mut parts = cursor.splitn(3, '!');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(rank), Some(_), Some(rest)) => format!("{rank}!{rest}"),
        _ => cursor.to_owned(),
    }
}

/// The worklist ranks (see [`rank`]) that can hold rows of these colours: a purple woman
/// ranks with red or orange when she is also red or orange, else in the purple rank.
fn ranks_for(colours: Option<&str>) -> Result<Vec<u8>, String> {
    let Some(colours) = colours else {
        return Ok((0..=4).collect());
    };
    let mut ranks = std::collections::BTreeSet::new();
    for c in colours.split(',').map(str::trim) {
        if c.eq_ignore_ascii_case("purple") {
            ranks.extend([0, 1, 2]);
            continue;
        }
        let held: &[u8] = match Colour::parse(&c.to_ascii_lowercase()) {
            Ok(Colour::Red) => &[0],
            Ok(Colour::Orange) => &[1],
            Ok(Colour::Yellow) => &[2, 3],
            Ok(Colour::Green) => &[2, 4],
            _ => {
                return Err(format!(
                    "unknown colour {c:?}: red, orange, yellow, green, purple"
                ))
            }
        };
        ranks.extend(held.iter().copied());
    }
    Ok(ranks.into_iter().collect())
}

/// Up to `want` + 1 matching rows of one status scope after `after`, in worklist order
/// (`want` = `None`: all of them). Reads only the ranks the colour filter can match, each
/// from the cursor on, a page at a time through the key index, so a deep page or a rare
/// colour costs what it returns, not what precedes it.
#[allow(clippy::too_many_arguments)]
async fn read_scope(
    store: &Store,
    scope: &str,
    q: &WorklistQuery,
    ranks: &[u8],
    after: Option<&str>,
    want: Option<usize>,
    now: OffsetDateTime,
    today: Date,
) -> Result<Read, StoreError> {
    let page = want.map_or(MAX_PAGE, |w| (w + 1).clamp(64, MAX_PAGE)) as u32;
    let after = after.map(cursor_key);
    let overdue_only = q.status.as_deref() == Some("overdue");
    let mut rows = Vec::new();
    for rank in ranks {
        let (low, high) = (format!("{rank}!"), format!("{rank}\""));
        let mut from = match &after {
            Some(a) if *a >= low => a.clone(),
            _ => low,
        };
        if from >= high {
            continue;
        }
        loop {
            let range = KeyRange {
                after: Some(&from),
                before: Some(&high),
            };
            let docs = store
                .documents_in("followup-worklist", scope, range, page)
                .await?;
            let (read, last) = (docs.len(), docs.last().map(|d| d.key.clone()));
            let mut past_overdue = false;
            for d in docs {
                let Some(r) = row(&d.key, d.body, now, today) else {
                    continue;
                };
                // Overdue items are the earliest due of their rank: the rest are not.
                if overdue_only && !r.overdue {
                    past_overdue = true;
                    break;
                }
                if matches(&r, q) {
                    rows.push(r);
                }
            }
            if want.is_some_and(|w| rows.len() > w) {
                return Ok(Read { rows, more: true });
            }
            match last {
                Some(last) if !past_overdue && read == page as usize => from = last,
                _ => break,
            }
        }
    }
    Ok(Read { rows, more: false })
}

/// The columns of the CSV and XLSX exports.
pub const COLUMNS: [&str; 18] = [
    "case_id",
    "name",
    "phone",
    "colour",
    "purple",
    "score",
    "gestational_age",
    "kind",
    "due_date",
    "overdue",
    "status",
    "result",
    "attempts",
    "last_contact_at",
    "last_contact_outcome",
    "assignee",
    "district",
    "item_id",
];

fn json_row(r: &Row) -> Value {
    let mut b = r.body.clone();
    if let Some(o) = b.as_object_mut() {
        o.insert("overdue".into(), json!(r.overdue));
        o.insert("gestational_age".into(), json!(r.gestational_age));
        o.remove("lmp");
    }
    b
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A CSV cell: quoted when needed; a leading `=`, `+`, `-` or `@` is escaped so a
/// spreadsheet never runs it as a formula.
fn csv_cell(raw: String) -> String {
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

fn xlsx(rows: &[Value]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("worklist")?;
    for (c, name) in COLUMNS.iter().enumerate() {
        ws.write_string(0, c as u16, *name)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, name) in COLUMNS.iter().enumerate() {
            let c = c as u16;
            match &row[*name] {
                Value::Null => {}
                Value::Number(n) => {
                    ws.write_number(r, c, n.as_f64().unwrap_or_default())?;
                }
                Value::Bool(b) => {
                    ws.write_boolean(r, c, *b)?;
                }
                // Strings are written as strings: never parsed as formulas.
                other => {
                    ws.write_string(r, c, cell(other))?;
                }
            }
        }
    }
    wb.save_to_buffer()
}

async fn worklist(
    State(s): State<FollowUpState>,
    Auth(p): Auth,
    Path((district, month)): Path<(String, String)>,
    Query(q): Query<WorklistQuery>,
) -> Result<Response, ApiError> {
    office_only(&p)?;
    let district = DistrictCode::parse(&district)
        .map_err(|e| ApiError::invalid(vec![FieldError::new("/district", e.to_string())]))?;
    if !p.may_see_district(&district) {
        return Err(ApiError::forbidden("this office may not see that district"));
    }
    let month = YearMonth::parse(&month)
        .ok_or_else(|| ApiError::invalid(vec![FieldError::new("/month", "a month is YYYY-MM")]))?;
    if let Some(st) = q.status.as_deref() {
        if !matches!(st, "open" | "done" | "closed" | "overdue") {
            return Err(ApiError::invalid(vec![FieldError::new(
                "/status",
                "status is one of open, done, closed, overdue",
            )]));
        }
    }
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv" | "xlsx") {
        return Err(ApiError::invalid(vec![FieldError::new(
            "/format",
            "format is one of json, csv, xlsx",
        )]));
    }
    let limit = match q.limit.as_deref() {
        None => PAGE,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| {
                ApiError::invalid(vec![FieldError::new(
                    "/limit",
                    format!("limit is 1 to {MAX_PAGE}"),
                )])
            })?,
    };
    if q.after.as_deref().is_some_and(|a| a.len() > 300) {
        return Err(ApiError::invalid(vec![FieldError::new(
            "/after",
            "not a cursor",
        )]));
    }
    let now = s.clock.now();
    let today = crate::core::local_date(now, s.service.policy());
    let statuses: &[&str] = match q.status.as_deref() {
        Some("open" | "overdue") => &STATUSES[..1],
        Some("done") => &STATUSES[1..2],
        Some("closed") => &STATUSES[2..],
        _ => &STATUSES,
    };
    // The exports are the whole filtered list; JSON is one page.
    let (want, after) = if format == "json" {
        (Some(limit), q.after.as_deref())
    } else {
        (None, None)
    };
    let ranks = ranks_for(q.colour.as_deref())
        .map_err(|e| ApiError::invalid(vec![FieldError::new("/colour", e)]))?;
    let mut rows = Vec::new();
    let mut more = false;
    for st in statuses {
        let scope = worklist_status_scope(district.as_str(), &month.key(), st);
        let read = read_scope(
            s.service.store(),
            &scope,
            &q,
            &ranks,
            after,
            want,
            now,
            today,
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
        more |= read.more;
        rows.extend(read.rows);
    }
    rows.sort_by(|a, b| a.cursor.cmp(&b.cursor));
    let mut next = None;
    if let Some(w) = want {
        if rows.len() > w {
            rows.truncate(w);
            more = true;
        }
        if more {
            next = rows.last().map(|r| r.cursor.clone());
        }
    }
    let rows: Vec<Value> = rows.iter().map(json_row).collect();
    tracing::info!(district = %district, month = %month, rows = rows.len(), actor = %p.actor(), "worklist read");
    let file = format!("worklist-{district}-{month}");
    match format {
        "csv" => {
            let mut out = COLUMNS.join(",");
            out.push('\n');
            for r in &rows {
                let line: Vec<String> = COLUMNS.iter().map(|c| csv_cell(cell(&r[*c]))).collect();
                out.push_str(&line.join(","));
                out.push('\n');
            }
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}.csv\""),
                    ),
                ],
                out,
            )
                .into_response())
        }
        "xlsx" => {
            let bytes = xlsx(&rows).map_err(|e| ApiError::internal(&e))?;
            Ok((
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .to_owned(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}.xlsx\""),
                    ),
                ],
                bytes,
            )
                .into_response())
        }
        _ => Ok(Json(json!({
            "district": district,
            "month": month.key(),
            "now": now.format(&Rfc3339).unwrap_or_default(),
            "limit": limit,
            "truncated": next.is_some(),
            "next": next,
            "rows": rows,
        }))
        .into_response()),
    }
}

/// An attempt's outcome.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    /// The caller's id for this report (a retry is harmless).
    pub request_id: Uuid,
    /// What came of it.
    pub outcome: ContactOutcome,
    /// Free text.
    pub note: Option<String>,
    /// Danger signs she reported (reached only; a re-assessment is requested).
    #[serde(default)]
    pub danger_signs: Vec<String>,
    /// Her new district (moved away).
    pub new_district: Option<String>,
}

fn item_param(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found())
}

async fn outcome(
    State(s): State<FollowUpState>,
    Auth(p): Auth,
    Path(item): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    office_only(&p)?;
    let item = item_param(&item)?;
    let req: OutcomeRequest = edge::parse_json(&body).map_err(ApiError::malformed)?;
    let mut errors = Vec::new();
    if req
        .note
        .as_deref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        errors.push(FieldError::new("/note", "at most 2000 characters"));
    }
    if req.danger_signs.len() > 50 || req.danger_signs.iter().any(|d| d.trim().is_empty()) {
        errors.push(FieldError::new(
            "/danger_signs",
            "up to 50 non-empty entries",
        ));
    }
    let new_district = match req.new_district.as_deref() {
        Some(d) => match DistrictCode::parse(d) {
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(FieldError::new("/new_district", e.to_string()));
                None
            }
        },
        None => None,
    };
    if req.outcome == ContactOutcome::MovedAway && req.new_district.is_none() {
        errors.push(FieldError::new(
            "/new_district",
            "moved_away needs new_district",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let case = s
        .service
        .item_case(item, |d| {
            DistrictCode::parse(d).is_ok_and(|d| p.may_see_district(&d))
        })
        .await
        .map_err(service_error)?;
    let report = AttemptReport {
        request_id: req.request_id,
        outcome: req.outcome,
        note: req.note,
        danger_signs: req.danger_signs,
        new_district,
    };
    s.service
        .attempt(&case, item, report, &p.actor())
        .await
        .map_err(service_error)?;
    item_doc(&s, item).await
}

async fn item_doc(s: &FollowUpState, item: Uuid) -> Result<Json<Value>, ApiError> {
    let doc = s
        .service
        .store()
        .document("followup-item", &item.to_string())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(doc.body))
}

/// An assignment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The caller's id for this request.
    pub request_id: Uuid,
    /// The staff id to assign.
    pub assignee: String,
}

async fn assign(
    State(s): State<FollowUpState>,
    Auth(p): Auth,
    Path(item): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    office_only(&p)?;
    let item = item_param(&item)?;
    let req: AssignRequest = edge::parse_json(&body).map_err(ApiError::malformed)?;
    let a = req.assignee.trim();
    if a.is_empty() || a.chars().count() > 100 {
        return Err(ApiError::invalid(vec![FieldError::new(
            "/assignee",
            "must be 1 to 100 characters",
        )]));
    }
    let case = s
        .service
        .item_case(item, |d| {
            DistrictCode::parse(d).is_ok_and(|d| p.may_see_district(&d))
        })
        .await
        .map_err(service_error)?;
    s.service
        .assign(&case, item, a, req.request_id, &p.actor())
        .await
        .map_err(service_error)?;
    item_doc(&s, item).await
}
