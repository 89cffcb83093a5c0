//! Sign-in sessions and CSRF tokens.
//!
//! What it owns: a session is created when a user pastes an API key that
//! [`edge::authenticate`] accepts. Its token is random (two v4 UUIDs from the operating
//! system's CSPRNG), sent only as an `HttpOnly; SameSite=Strict; Path=/` cookie (`Secure`
//! when configured) and stored only as its SHA-256, as a document of the event store's
//! `web_sessions` collection (scope: the key's id), so sessions survive a restart and can be
//! revoked. Each session carries its expiry (a configured time to live) and its own random
//! CSRF token, which every form of the UI posts back. Every request re-checks that the key
//! behind the session is still not revoked. Sign-in itself is protected by a double-submit
//! token (a short-lived cookie equal to a hidden field).
//!
//! What it does not own: what a principal may see or do (the services' routers decide, as
//! for the JSON API), and it never logs a token or a key.

use edge::{KeyRecord, Principal, API_KEYS};
use eventstore::{Commit, DocumentOp, EventStore, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The read-model collection holding the session hashes.
pub const SESSIONS: &str = "web_sessions";
/// The session cookie.
pub const SESSION_COOKIE: &str = "hrp_session";
/// The sign-in form's double-submit cookie.
pub const SIGNIN_COOKIE: &str = "hrp_signin";
/// The language cookie.
pub const LANG_COOKIE: &str = "hrp_lang";

/// A random token: 244 bits from the OS CSPRNG, as 64 hex digits.
pub fn random_token() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// The SHA-256 of a token, lowercase hex: the only form in which a session token is stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether two tokens are equal, in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A stored session (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Who signed in.
    pub principal: Principal,
    /// The SHA-256 of the key used (to notice a revocation).
    pub key_hash: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// When the session began.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it ends.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A live session as the pages use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who is signed in.
    pub principal: Principal,
    /// The CSRF token to embed in forms.
    pub csrf: String,
    /// The token's hash (the document key).
    pub hash: String,
}

/// Creates a session for `principal` (who presented the key with hash `key_hash`), valid for
/// `ttl` from now; returns the plaintext token (for the cookie only) and the session.
pub async fn create(
    store: &Store,
    principal: Principal,
    key_hash: String,
    ttl: Duration,
) -> Result<(String, Session), StoreError> {
    let token = random_token();
    let now = store.clock().now();
    let record = SessionRecord {
        principal: principal.clone(),
        key_hash,
        csrf: random_token(),
        created_at: now,
        expires_at: now + ttl,
    };
    let hash = token_hash(&token);
    let body = serde_json::to_value(&record).map_err(|e| StoreError::Invalid(e.to_string()))?;
    store
        .commit(Commit {
            documents: vec![DocumentOp::Put {
                collection: SESSIONS.into(),
                key: hash.clone(),
                scope: principal.key_id.clone(),
                body,
            }],
            ..Commit::default()
        })
        .await?;
    tracing::info!(key_id = %principal.key_id, "web session started");
    Ok((
        token,
        Session {
            principal,
            csrf: record.csrf,
            hash,
        },
    ))
}

/// The live session of `token`: `None` when unknown, expired, or when its key has been
/// revoked since.
pub async fn load(store: &Store, token: &str) -> Result<Option<Session>, StoreError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let hash = token_hash(token);
    let Some(doc) = store.document(SESSIONS, &hash).await? else {
        return Ok(None);
    };
    let Ok(record) = serde_json::from_value::<SessionRecord>(doc.body) else {
        return Ok(None);
    };
    if store.clock().now() >= record.expires_at {
        return Ok(None);
    }
    let key_live = match store.document(API_KEYS, &record.key_hash).await? {
        Some(k) => serde_json::from_value::<KeyRecord>(k.body)
            .is_ok_and(|k| k.revoked_at.is_none() && k.principal == record.principal),
        None => false,
    };
    if !key_live {
        return Ok(None);
    }
    Ok(Some(Session {
        principal: record.principal,
        csrf: record.csrf,
        hash,
    }))
}

/// Ends a session (sign-out).
pub async fn end(store: &Store, session: &Session) -> Result<(), StoreError> {
    store
        .commit(Commit {
            documents: vec![DocumentOp::Delete {
                collection: SESSIONS.into(),
                key: session.hash.clone(),
            }],
            ..Commit::default()
        })
        .await?;
    tracing::info!(key_id = %session.principal.key_id, "web session ended");
    Ok(())
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Strict; Path=/`, `Secure` when asked, and a
/// `Max-Age` (0 clears it).
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_cookies() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &random_token()));
        assert!(!same_token("", ""));
        assert_eq!(
            cookie("a=1; hrp_session=xyz; b=2", SESSION_COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie("hrp_session_x=1", SESSION_COOKIE), None);
        let c = set_cookie(SESSION_COOKIE, "v", 60, true);
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Secure",
            "Max-Age=60",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!set_cookie(SESSION_COOKIE, "v", 60, false).contains("Secure"));
    }
}
