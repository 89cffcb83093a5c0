//! Bounded request bodies and JSON parsing that reports where it failed.
//!
//! What it owns: reading a body up to a limit (413 beyond it) and turning a serde failure
//! into a [`FieldError`] with a JSON pointer (an unknown or missing field is named in the
//! pointer). It does not validate content: that is each context's pure core.

use crate::problem::{ApiError, FieldError};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

/// Reads `body`, refusing (413) one longer than `limit` bytes, by its `Content-Length` or
/// while streaming.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let inner = e.into_inner();
        if inner.is::<http_body_util::LengthLimitError>() {
            ApiError::too_large(limit)
        } else {
            ApiError::malformed(FieldError::new("", "the body could not be read"))
        }
    })
}

/// Whether the request's `Content-Type` is `expected` (parameters such as `charset` ignored).
pub fn has_content_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(expected))
}

/// Parses JSON into `T`; on failure, one [`FieldError`] pointing at the offending place.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FieldError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let mut pointer = String::new();
        for seg in e.path().iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => {
                    pointer.push('/');
                    pointer.push_str(&index.to_string());
                }
                serde_path_to_error::Segment::Map { key } => {
                    pointer.push('/');
                    pointer.push_str(&escape_pointer(key));
                }
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => {}
            }
        }
        let inner = e.into_inner();
        let raw = inner.to_string();
        // Drop serde_json's " at line 1 column 17" suffix: the pointer says where.
        let message = match raw.rfind(" at line ") {
            Some(i) if inner.line() > 0 => raw[..i].to_string(),
            _ => raw,
        };
        for prefix in ["unknown field `", "missing field `"] {
            if let Some(rest) = message.strip_prefix(prefix) {
                if let Some(end) = rest.find('`') {
                    let field = format!("/{}", escape_pointer(&rest[..end]));
                    if !pointer.ends_with(&field) {
                        pointer.push_str(&field);
                    }
                }
            }
        }
        FieldError::new(pointer, message)
    })
}

/// Escapes a key for a JSON pointer (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        a: u8,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Vec<Inner>,
    }

    #[test]
    fn pointers_name_the_field() {
        let cases = [
            (
                r#"{"inner":[{"a":1},{"a":1,"zz":2}]}"#,
                "/inner/1/zz",
                "unknown field",
            ),
            (r#"{"inner":[{}]}"#, "/inner/0/a", "missing field"),
            (r#"{"inner":[{"a":"x"}]}"#, "/inner/0/a", "invalid type"),
            (r#"{"inner":[{"a":300}]}"#, "/inner/0/a", "invalid value"),
            (r#"{"inner": "#, "/inner", "EOF"),
        ];
        for (body, pointer, message) in cases {
            let e = parse_json::<Outer>(body.as_bytes()).unwrap_err();
            assert_eq!(e.pointer, pointer, "{body}");
            assert!(e.message.contains(message), "{body}: {}", e.message);
        }
        assert_eq!(escape_pointer("a/b~c"), "a~1b~0c");
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413() {
        let headers = HeaderMap::new();
        let ok = read_limited(&headers, Body::from(vec![b'x'; 10]), 10).await;
        assert_eq!(ok.unwrap().len(), 10);
        let big = read_limited(&headers, Body::from(vec![b'x'; 11]), 10).await;
        assert_eq!(big.unwrap_err().status().as_u16(), 413);
        let mut declared = HeaderMap::new();
        declared.insert(header::CONTENT_LENGTH, "1000".parse().unwrap());
        let e = read_limited(&declared, Body::empty(), 10)
            .await
            .unwrap_err();
        assert_eq!(e.status().as_u16(), 413);
    }
}
