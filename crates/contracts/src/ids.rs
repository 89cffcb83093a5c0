//! Identifiers: stream and case ids, and the derivation of event ids from the event a handler
//! consumed, which makes redelivery harmless (the store drops the duplicates).

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty or longer than the limit.
    #[error("{kind} must be 1 to {max} characters long")]
    Length {
        /// Which identifier.
        kind: &'static str,
        /// The limit.
        max: usize,
    },
    /// A character outside `[A-Za-z0-9._:-]`.
    #[error("{kind} may only contain letters, digits, '.', '_', ':' and '-'")]
    Charset {
        /// Which identifier.
        kind: &'static str,
    },
    /// Names starting with `$` are reserved for the store (`$all`).
    #[error("{kind} may not start with '$'")]
    Reserved {
        /// Which identifier.
        kind: &'static str,
    },
}

fn check(kind: &'static str, s: &str, max: usize) -> Result<(), IdError> {
    if s.is_empty() || s.len() > max {
        return Err(IdError::Length { kind, max });
    }
    if s.starts_with('$') {
        return Err(IdError::Reserved { kind });
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err(IdError::Charset { kind });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and checks an identifier.
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check($kind, &s, $max)?;
                Ok(Self(s))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

string_id!(
    /// A stream: the events of one aggregate owned by one component, e.g. `warning-<case>`.
    StreamId,
    "stream id",
    200
);
string_id!(
    /// A case: one pregnancy of one woman. Every event about her carries it, which is what
    /// the case timeline reads. Case ids are opaque and carry no personal data.
    CaseId,
    "case id",
    100
);

impl StreamId {
    /// The stream `<category>-<id>`, e.g. `StreamId::of("warning", &case)`.
    pub fn of(category: &str, id: impl fmt::Display) -> Result<Self, IdError> {
        Self::parse(format!("{category}-{id}"))
    }
}

/// The id of an event a handler emits while handling `handled`: UUID v5 of the handled
/// event's id and a name unique within that handler (e.g. `"RiskAssessed"` or
/// `"FollowUpScheduled/2026-03"`). A redelivered message yields the same ids.
pub fn derive_event_id(handled: Uuid, name: &str) -> Uuid {
    Uuid::new_v5(&handled, name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(StreamId::parse("warning-abc_1").is_ok());
        assert!(StreamId::parse("").is_err());
        assert!(StreamId::parse("$all").is_err());
        assert!(StreamId::parse("a b").is_err());
        assert!(CaseId::parse("x".repeat(101)).is_err());
        assert_eq!(
            StreamId::of("card", "h1:42").unwrap().as_str(),
            "card-h1:42"
        );
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let handled = Uuid::from_u128(7);
        assert_eq!(derive_event_id(handled, "A"), derive_event_id(handled, "A"));
        assert_ne!(derive_event_id(handled, "A"), derive_event_id(handled, "B"));
        assert_ne!(
            derive_event_id(handled, "A"),
            derive_event_id(Uuid::from_u128(8), "A")
        );
    }
}
