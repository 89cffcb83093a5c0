//! The intake HTTP API (DESIGN §5): `POST /v1/risk-cards`, `POST /v1/risk-cards:batch`,
//! `POST /v1/risk-cards:import` (CSV), `POST /v1/pregnancy-outcomes`,
//! `GET /v1/cases/{case_id}`, and the OpenAPI document generated from these handlers.
//!
//! What it owns: routes, body limits (64 KiB per card or outcome, 16 MiB per batch, 4 MiB
//! per CSV file), authentication through [`edge::Auth`] and the status codes. It holds no
//! rule: handlers parse the body and call [`crate::service`].

use crate::service::{self, IntakeState};
use crate::wire::{
    BatchRequest, BatchResponse, CardAccepted, CaseView, OutcomeAccepted, OutcomeRequest,
    RiskCardRequest,
};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use edge::{ApiError, Auth, Problem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;

/// The largest card or outcome body.
pub const MAX_CARD_BYTES: usize = 64 * 1024;
/// The largest batch body.
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// The most cards in one batch.
pub const MAX_BATCH_CARDS: usize = 1_000;
/// The largest CSV file.
pub const MAX_CSV_BYTES: usize = 4 * 1024 * 1024;

/// The intake routes, ready to merge into the service's router.
pub fn router(state: IntakeState) -> Router {
    Router::new()
        .route("/v1/risk-cards", post(post_card))
        .route("/v1/risk-cards:batch", post(post_batch))
        .route("/v1/risk-cards:import", post(post_import))
        .route("/v1/pregnancy-outcomes", post(post_outcome))
        .route("/v1/cases/{case_id}", get(get_case))
        .with_state(state)
}

/// Submit a risk card.
#[utoipa::path(
    post,
    path = "/v1/risk-cards",
    tag = "intake",
    request_body = RiskCardRequest,
    responses(
        (status = 202, description = "Accepted (also for an identical resubmission)", body = CardAccepted),
        (status = 400, description = "Invalid: every wrong field listed", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The card names another institution than the key's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Same card_id, other content", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn post_card(
    State(state): State<IntakeState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<CardAccepted>), ApiError> {
    let bytes = edge::read_limited(&headers, body, MAX_CARD_BYTES).await?;
    let req: RiskCardRequest = edge::parse_json(&bytes).map_err(ApiError::malformed)?;
    let accepted = service::submit_card(&state, &principal, &req).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Submit up to 1,000 risk cards; one result per card.
#[utoipa::path(
    post,
    path = "/v1/risk-cards:batch",
    tag = "intake",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "One result per card, in order", body = BatchResponse),
        (status = 400, description = "Not a batch, or more than 1,000 cards", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 16 MiB", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn post_batch(
    State(state): State<IntakeState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<BatchResponse>, ApiError> {
    let bytes = edge::read_limited(&headers, body, MAX_BATCH_BYTES).await?;
    let batch: BatchRequest = edge::parse_json(&bytes).map_err(ApiError::malformed)?;
    if batch.cards.len() > MAX_BATCH_CARDS {
        return Err(ApiError::invalid(vec![edge::FieldError::new(
            "/cards",
            format!("at most {MAX_BATCH_CARDS} cards per batch"),
        )]));
    }
    Ok(Json(
        service::submit_batch(&state, &principal, &batch.cards).await?,
    ))
}

/// Import risk cards from a CSV file (`Content-Type: text/csv`, ≤ 1,000 rows); one result
/// per row, with its row number.
#[utoipa::path(
    post,
    path = "/v1/risk-cards:import",
    tag = "intake",
    request_body(content = String, content_type = "text/csv", description = "UTF-8 CSV with a header row; see the intake crate's csv_import module for the columns"),
    responses(
        (status = 200, description = "One result per row", body = BatchResponse),
        (status = 400, description = "Not a readable CSV file, unknown or missing columns, or more than 1,000 rows", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "File over 4 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not text/csv", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn post_import(
    State(state): State<IntakeState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<BatchResponse>, ApiError> {
    if !edge::has_content_type(&headers, "text/csv") {
        return Err(ApiError::unsupported_media_type("text/csv"));
    }
    let bytes = edge::read_limited(&headers, body, MAX_CSV_BYTES).await?;
    Ok(Json(service::import_csv(&state, &principal, &bytes).await?))
}

/// Report how a pregnancy ended; closes the case.
#[utoipa::path(
    post,
    path = "/v1/pregnancy-outcomes",
    tag = "intake",
    request_body = OutcomeRequest,
    responses(
        (status = 202, description = "Accepted (also for an identical resubmission)", body = OutcomeAccepted),
        (status = 400, description = "Invalid: every wrong field listed", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The report names another institution than the key's", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The case is not open, or same report_id with other content", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn post_outcome(
    State(state): State<IntakeState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<OutcomeAccepted>), ApiError> {
    let bytes = edge::read_limited(&headers, body, MAX_CARD_BYTES).await?;
    let req: OutcomeRequest = edge::parse_json(&bytes).map_err(ApiError::malformed)?;
    let accepted = service::submit_outcome(&state, &principal, &req).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// A case: its cards, latest grading and outcome. 404 when it does not exist or the caller
/// may not see it (never told apart).
#[utoipa::path(
    get,
    path = "/v1/cases/{case_id}",
    tag = "intake",
    params(("case_id" = String, Path, description = "The case id")),
    responses(
        (status = 200, description = "The case", body = CaseView),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case, or not visible to this key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_case(
    State(state): State<IntakeState>,
    Auth(principal): Auth,
    Path(case_id): Path<String>,
) -> Result<Json<CaseView>, ApiError> {
    Ok(Json(
        service::case_view(&state, &principal, &case_id).await?,
    ))
}

/// The OpenAPI document of the intake API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "High-risk pregnancy referral service: intake API",
        description = "Risk cards and pregnancy outcomes from delivery hospitals. Errors are RFC 7807 application/problem+json with a stable `code` and every wrong field as a JSON pointer."
    ),
    paths(post_card, post_batch, post_import, post_outcome, get_case),
    modifiers(&BearerAuth),
    tags((name = "intake", description = "Risk cards, outcomes and case views"))
)]
pub struct IntakeApi;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document as pretty JSON (what `proto/openapi.json` holds), with a fixed
/// version so that it changes only when the API does.
pub fn openapi_json() -> String {
    let mut doc = IntakeApi::openapi();
    doc.info.version = "1".into();
    doc.info.license = None;
    doc.to_pretty_json().unwrap_or_default() + "\n"
}
