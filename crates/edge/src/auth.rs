//! Bearer API keys and the principal they stand for.
//!
//! What it owns: issuing a key (random, shown once, stored only as its SHA-256 in the event
//! store's `api_keys` documents, keyed by the hex hash and scoped by institution), listing
//! and revoking keys, the [`Auth`] extractor that turns `Authorization: Bearer …` into a
//! [`Principal`] (401 when missing, unknown or revoked), and the scoping helpers a router
//! asks (`may_see_district`, `acts_for`). It does not know reference data (callers check
//! that an institution exists before issuing a key) and never logs a key.

use crate::problem::ApiError;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use contracts::{DistrictCode, InstitutionCode};
use eventstore::{Commit, DocumentOp, EventStore, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

/// The read-model collection holding the key hashes.
pub const API_KEYS: &str = "api_keys";

/// The prefix of every key (so a leaked key is recognisable in a secret scanner).
pub const KEY_PREFIX: &str = "hrp_";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A delivery hospital: posts cards and outcomes for itself, reads cases it reported.
    Hospital,
    /// A district MCH office: reads cases residing in its district.
    DistrictOffice,
    /// A city MCH office: reads cases residing in its city.
    CityOffice,
    /// A rescue centre.
    RescueCentre,
    /// A critical-case reviewer.
    Reviewer,
    /// An administrator (keys, reference data); sees no case data by this role alone.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::Hospital,
        Role::DistrictOffice,
        Role::CityOffice,
        Role::RescueCentre,
        Role::Reviewer,
        Role::Admin,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Hospital => "hospital",
            Role::DistrictOffice => "district_office",
            Role::CityOffice => "city_office",
            Role::RescueCentre => "rescue_centre",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`"))
    }
}

/// Who is calling: the key's id (safe to log and to record as the actor), role, institution
/// and district.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The key's public id (`key-…`); never the key itself.
    pub key_id: String,
    /// The role.
    pub role: Role,
    /// The institution or office the key acts for.
    pub institution: InstitutionCode,
    /// The district of that institution (a city office: the city's code).
    pub district: DistrictCode,
}

impl Principal {
    /// The actor recorded in event metadata: `key:<key_id>`.
    pub fn actor(&self) -> String {
        format!("key:{}", self.key_id)
    }

    /// Whether the key acts for `institution`.
    pub fn acts_for(&self, institution: &InstitutionCode) -> bool {
        &self.institution == institution
    }

    /// Whether this principal may see data about a woman residing in `district`: a district
    /// office its own district, a city office every district of its city. No other role sees
    /// by residence.
    pub fn may_see_district(&self, district: &DistrictCode) -> bool {
        match self.role {
            Role::DistrictOffice => district == &self.district,
            Role::CityOffice => {
                district == &self.district
                    || district.city() == self.district
                    || district.province() == self.district
            }
            _ => false,
        }
    }
}

/// A stored key: the principal and its life (never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Who the key stands for.
    pub principal: Principal,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was revoked, if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// The SHA-256 of a key, lowercase hex: the only form in which a key is stored.
pub fn hash_key(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

fn random_secret() -> String {
    // Two v4 UUIDs: 244 random bits from the operating system's CSPRNG.
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    format!("{KEY_PREFIX}{}{}", a.simple(), b.simple())
}

/// Issues a key for `role` at `institution` (in `district`): stores its hash and returns the
/// plaintext key, which is shown once and never again. The principal's `key_id` is new.
pub async fn issue_key(
    store: &Store,
    role: Role,
    institution: InstitutionCode,
    district: DistrictCode,
) -> Result<(Principal, String), StoreError> {
    let principal = Principal {
        key_id: format!("key-{}", Uuid::new_v4().simple()),
        role,
        institution,
        district,
    };
    let plaintext = random_secret();
    let record = KeyRecord {
        principal: principal.clone(),
        created_at: store.clock().now(),
        revoked_at: None,
    };
    put(store, &hash_key(&plaintext), &record).await?;
    tracing::info!(key_id = %principal.key_id, role = principal.role.as_str(), institution = %principal.institution, "api key issued");
    Ok((principal, plaintext))
}

async fn put(store: &Store, hash: &str, record: &KeyRecord) -> Result<(), StoreError> {
    let body = serde_json::to_value(record).map_err(|e| StoreError::Invalid(e.to_string()))?;
    store
        .commit(Commit {
            documents: vec![DocumentOp::Put {
                collection: API_KEYS.into(),
                key: hash.to_owned(),
                scope: record.principal.institution.to_string(),
                body,
            }],
            ..Commit::default()
        })
        .await
        .map(|_| ())
}

/// Every key ever issued (at most `limit`), revoked ones included.
pub async fn list_keys(store: &Store, limit: u32) -> Result<Vec<KeyRecord>, StoreError> {
    let docs = store.documents(API_KEYS, None, limit).await?;
    docs.into_iter()
        .map(|d| {
            serde_json::from_value(d.body).map_err(|e| StoreError::Corrupt {
                position: 0,
                reason: format!("api key document: {e}"),
            })
        })
        .collect()
}

/// Revokes the key with `key_id`; false when there is no such (unrevoked) key.
pub async fn revoke_key(store: &Store, key_id: &str) -> Result<bool, StoreError> {
    for doc in store.documents(API_KEYS, None, u32::MAX).await? {
        let Ok(mut record) = serde_json::from_value::<KeyRecord>(doc.body) else {
            continue;
        };
        if record.principal.key_id == key_id && record.revoked_at.is_none() {
            record.revoked_at = Some(store.clock().now());
            put(store, &doc.key, &record).await?;
            tracing::info!(key_id, "api key revoked");
            return Ok(true);
        }
    }
    Ok(false)
}

/// The principal of a presented key: `None` when unknown or revoked.
pub async fn authenticate(store: &Store, plaintext: &str) -> Result<Option<Principal>, StoreError> {
    if !plaintext.starts_with(KEY_PREFIX) || plaintext.len() > 200 {
        return Ok(None);
    }
    let Some(doc) = store.document(API_KEYS, &hash_key(plaintext)).await? else {
        return Ok(None);
    };
    match serde_json::from_value::<KeyRecord>(doc.body) {
        Ok(r) if r.revoked_at.is_none() => Ok(Some(r.principal)),
        Ok(_) => Ok(None),
        Err(e) => Err(StoreError::Corrupt {
            position: 0,
            reason: format!("api key document: {e}"),
        }),
    }
}

/// Extracts the caller: `Authorization: Bearer <key>` checked against the stored hashes.
/// Rejects with a 401 problem; any router whose state yields a [`Store`] can use it.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

/// A principal that code in this process has already authenticated (the web UI's session
/// layer, which verified the key at sign-in and checks it is not revoked on every request),
/// put into a request's extensions before the request is handed to the API router
/// in-process. [`Auth`] takes it instead of a bearer header. A request from the network
/// cannot carry it: extensions exist only inside the process.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl<S> FromRequestParts<S> for Auth
where
    S: Send + Sync,
    Store: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(Authenticated(p)) = parts.extensions.get::<Authenticated>() {
            return Ok(Auth(p.clone()));
        }
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or_else(ApiError::unauthorized)?;
        let store = Store::from_ref(state);
        match authenticate(&store, token).await {
            Ok(Some(p)) => Ok(Auth(p)),
            Ok(None) => Err(ApiError::unauthorized()),
            Err(e) if e.is_transient() => Err(ApiError::unavailable(&e)),
            Err(e) => Err(ApiError::internal(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, district: &str) -> Principal {
        Principal {
            key_id: "key-1".into(),
            role,
            institution: InstitutionCode::parse("X1").unwrap(),
            district: DistrictCode::parse(district).unwrap(),
        }
    }

    #[test]
    fn scoping_by_residence() {
        let d = |s| DistrictCode::parse(s).unwrap();
        let office = principal(Role::DistrictOffice, "430102");
        assert!(office.may_see_district(&d("430102")));
        assert!(!office.may_see_district(&d("430103")));
        let city = principal(Role::CityOffice, "430100");
        assert!(city.may_see_district(&d("430102")));
        assert!(city.may_see_district(&d("430105")));
        assert!(!city.may_see_district(&d("430202")));
        for role in [
            Role::Hospital,
            Role::RescueCentre,
            Role::Reviewer,
            Role::Admin,
        ] {
            assert!(
                !principal(role, "430102").may_see_district(&d("430102")),
                "{role:?}"
            );
        }
    }

    #[test]
    fn keys_are_random_and_hashed() {
        let a = random_secret();
        let b = random_secret();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 64);
        assert_eq!(hash_key(&a).len(), 64);
        assert_ne!(hash_key(&a), hash_key(&b));
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
    }
}
