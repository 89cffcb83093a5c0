//! The bridge to the JSON API: a page's read or action is a request to the same `/v1/…`
//! routers the API serves, made in-process (no socket) with the signed-in principal in the
//! request's extensions ([`edge::Authenticated`]). The answer is the API's own: JSON on
//! success, an RFC 7807 problem otherwise, which [`ApiFailure`] carries to the error page.
//!
//! What it does not do: interpret, filter or re-scope what the API returns.

use crate::WebState;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use edge::{Authenticated, Principal};
use serde_json::Value;
use tower::ServiceExt;

/// The largest API answer a page reads (an XLSX export of a big worklist included).
pub const ANSWER_LIMIT: usize = 64 * 1024 * 1024;

/// A failed call: the API's status and problem body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    /// The HTTP status the API answered.
    pub status: StatusCode,
    /// The problem's `detail`, when it has one.
    pub detail: Option<String>,
    /// Field errors: (JSON pointer, message).
    pub errors: Vec<(String, String)>,
}

impl ApiFailure {
    fn internal() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            detail: None,
            errors: Vec::new(),
        }
    }
}

/// A successful raw answer (exports).
#[derive(Debug)]
pub struct Raw {
    /// Headers (content type and disposition).
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// Calls the API as `principal` and returns the raw successful answer.
pub async fn call_raw(
    state: &WebState,
    principal: &Principal,
    method: Method,
    uri: &str,
    body: Option<&Value>,
) -> Result<Raw, ApiFailure> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .extension(Authenticated(principal.clone()));
    if body.is_none() {
        req = req.header(header::CONTENT_LENGTH, "0");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .map_err(|_| ApiFailure::internal())?;
    // Boxed: the API's handler future is large, and the page's own handler awaits it.
    let res = match Box::pin(state.api.clone().oneshot(req)).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, ANSWER_LIMIT)
        .await
        .map_err(|_| ApiFailure::internal())?;
    if parts.status.is_success() {
        return Ok(Raw {
            headers: parts.headers,
            body: bytes,
        });
    }
    let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Err(ApiFailure {
        status: parts.status,
        detail: problem["detail"].as_str().map(str::to_owned),
        errors: problem["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["pointer"].as_str().unwrap_or("").to_owned(),
                            e["message"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Calls the API as `principal` and parses the JSON answer.
pub async fn call(
    state: &WebState,
    principal: &Principal,
    method: Method,
    uri: &str,
    body: Option<&Value>,
) -> Result<Value, ApiFailure> {
    let raw = call_raw(state, principal, method, uri, body).await?;
    serde_json::from_slice(&raw.body).map_err(|_| ApiFailure::internal())
}

/// Percent-encodes a query or path value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
