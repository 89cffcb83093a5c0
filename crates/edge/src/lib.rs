//! The shared HTTP edge every component's router stands on.
//!
//! What it owns: the one error type ([`ApiError`], rendered as RFC 7807
//! `application/problem+json` with a stable code and a JSON-pointer list of wrong fields; a
//! 500 never leaks internals), bearer API keys stored only as SHA-256 hashes and the
//! [`Auth`] extractor that turns them into a [`Principal`] with its scoping helpers, and
//! bounded bodies with pointer-reporting JSON parsing ([`body`]).
//! What it does not: no route of its own, no domain rule, no reference data; each context
//! crate's router decides what a principal may do with its resources.

pub mod auth;
pub mod body;
pub mod problem;

pub use auth::{
    authenticate, hash_key, issue_key, list_keys, revoke_key, Auth, Authenticated, KeyRecord,
    Principal, Role, API_KEYS,
};
pub use body::{has_content_type, parse_json, read_limited};
pub use problem::{ApiError, FieldError, Problem, PROBLEM_JSON};
