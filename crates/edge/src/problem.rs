//! RFC 7807 problem responses: the one error type every router returns ([`ApiError`]), its
//! wire body ([`Problem`]) and the per-field list ([`FieldError`], a JSON pointer and a
//! message).
//!
//! What it owns: the mapping of expected refusals (4xx, each with a stable `code`) and of
//! unexpected failures (500/503, logged here with the cause, answered with a generic body
//! that never leaks internals) to `application/problem+json`. It does not decide what is
//! valid: callers build the field list.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of problem bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One wrong field: where (a JSON pointer into the request, RFC 6901) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// JSON pointer to the field, e.g. `/woman/id_number` (`""` = the whole document).
    pub pointer: String,
    /// What is wrong, in words a hospital's IT staff can act on. Never repeats the value.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// The body of every error response (RFC 7807, `application/problem+json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:referral:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// The stable, machine-readable code (`invalid-request`, `unauthorized`, …).
    pub code: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Every wrong field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Problem-specific members (e.g. the two content hashes of a conflicting resubmission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extra: Option<serde_json::Value>,
}

/// An error a handler returns; renders as a [`Problem`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: Option<String>,
    errors: Vec<FieldError>,
    extra: Option<serde_json::Value>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, title: &'static str) -> Self {
        Self {
            status,
            code,
            title,
            detail: None,
            errors: Vec::new(),
            extra: None,
        }
    }

    /// 400 `invalid-request`: the listed fields are wrong.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let n = errors.len();
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "The request is not valid",
        )
        .with_detail(format!("{n} field(s) are wrong; see `errors`"))
        .with_errors(errors)
    }

    /// 400 `malformed-body`: the body is not the expected JSON (or CSV) at all.
    pub fn malformed(error: FieldError) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-body",
            "The body cannot be read",
        )
        .with_detail(error.message.clone())
        .with_errors(vec![error])
    }

    /// 401 `unauthorized`: no key, or a key this service does not know.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A valid API key is required",
        )
        .with_detail("send `Authorization: Bearer <key>` with a key issued to your institution")
    }

    /// 403 `forbidden`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Not allowed for this key",
        )
        .with_detail(detail)
    }

    /// 404 `not-found`: no such resource, or one the caller may not see (never told apart).
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "No such resource")
    }

    /// 409 `conflict`.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "conflict",
            "Conflicts with what is stored",
        )
        .with_detail(detail)
    }

    /// 413 `payload-too-large`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "The body is too large",
        )
        .with_detail(format!("the limit is {limit} bytes"))
    }

    /// 415 `unsupported-media-type`.
    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported content type",
        )
        .with_detail(format!("send `Content-Type: {expected}`"))
    }

    /// 503 `unavailable`: a transient failure; retry later. `cause` is logged, not sent.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "request failed transiently");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
        )
        .with_detail("retry later")
    }

    /// 500 `internal`: an unexpected failure. `cause` is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        )
    }

    /// Sets the detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the field list.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// Sets problem-specific members.
    pub fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.extra = Some(extra);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The wire body.
    pub fn problem(&self) -> Problem {
        Problem {
            type_uri: format!("urn:referral:problem:{}", self.code),
            code: self.code.to_owned(),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
            extra: self.extra.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.code)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_else(|_| b"{}".to_vec());
        let mut res = (self.status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_500_says_nothing_about_its_cause() {
        let e = ApiError::internal(&"connection to 10.0.0.7 refused: password authentication");
        let p = e.problem();
        assert_eq!(p.status, 500);
        assert_eq!(p.code, "internal");
        let body = serde_json::to_string(&p).unwrap();
        assert!(
            !body.contains("10.0.0.7") && !body.contains("password"),
            "{body}"
        );
    }

    #[test]
    fn invalid_lists_every_pointer() {
        let e = ApiError::invalid(vec![
            FieldError::new("/woman/id_number", "wrong check character"),
            FieldError::new("/assessed_at", "in the future"),
        ]);
        let v = serde_json::to_value(e.problem()).unwrap();
        assert_eq!(v["type"], "urn:referral:problem:invalid-request");
        assert_eq!(v["status"], 400);
        assert_eq!(v["errors"][0]["pointer"], "/woman/id_number");
        assert_eq!(v["errors"][1]["pointer"], "/assessed_at");
    }
}
