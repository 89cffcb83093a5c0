//! The event envelope: what the store keeps for every event and what travels on NATS.
//!
//! A component builds a [`NewEvent`] (usually from a typed [`DomainEvent`]); the store
//! assigns `version`, `position` and `recorded_at` and hands back an [`Envelope`].
//! Payloads are JSON objects of at most [`MAX_PAYLOAD_BYTES`].

use crate::ids::{CaseId, StreamId};
use crate::values::{DistrictCode, InstitutionCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The largest payload (serialised JSON) the store accepts for one event.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Who caused an event, where, and why: kept with every event for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The acting principal (an API key id, a user id, or `system:<component>`). Never a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The institution or office the actor acted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<InstitutionCode>,
    /// The woman's residence district: routes the event to `referral.<district>.…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<DistrictCode>,
    /// The event (or request) that directly caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The first event (or request) of the chain this one belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The component that appended the event (`intake`, `scoring`, …).
    pub component: String,
    /// W3C `traceparent` of the span that produced the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

impl Metadata {
    /// Metadata for an event appended by `component` on its own account.
    pub fn system(component: &str) -> Self {
        Self {
            actor: Some(format!("system:{component}")),
            component: component.to_owned(),
            ..Self::default()
        }
    }

    /// Metadata for an event caused by `cause`: same correlation, causation = cause, same
    /// district and trace; actor and component are this component's.
    pub fn caused_by(component: &str, cause: &Envelope) -> Self {
        Self {
            actor: Some(format!("system:{component}")),
            institution: None,
            district: cause.metadata.district.clone(),
            causation_id: Some(cause.event_id),
            correlation_id: Some(cause.metadata.correlation_id.unwrap_or(cause.event_id)),
            component: component.to_owned(),
            trace: cause.metadata.trace.clone(),
        }
    }
}

/// A typed domain event: its name on the wire and the schema version of its payload.
pub trait DomainEvent: Serialize + DeserializeOwned {
    /// The event type, PascalCase (`DistrictAlertRaised`).
    const EVENT_TYPE: &'static str;
    /// The payload's schema version; bump it when the payload changes shape.
    const SCHEMA_VERSION: u32 = 1;
}

/// Why an event could not be built or decoded.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The payload did not serialise to a JSON object.
    #[error("payload of {event_type} does not serialise to a JSON object: {reason}")]
    Serialise {
        /// The event type.
        event_type: String,
        /// What went wrong.
        reason: String,
    },
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    #[error("payload of {event_type} is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The event type.
        event_type: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The envelope holds another event type than the one asked for.
    #[error("expected a {expected} event, found {found}")]
    WrongType {
        /// Asked for.
        expected: &'static str,
        /// Found.
        found: String,
    },
    /// The schema version is newer than this build understands.
    #[error("{event_type} has schema version {found}; this build reads up to {supported}")]
    UnsupportedSchema {
        /// The event type.
        event_type: String,
        /// Found.
        found: u32,
        /// Supported.
        supported: u32,
    },
    /// The payload does not decode into the typed event.
    #[error("payload of {event_type} does not decode: {reason}")]
    Decode {
        /// The event type.
        event_type: String,
        /// What went wrong.
        reason: String,
    },
}

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Unique id; appending the same id again is a no-op that returns the stored position.
    pub event_id: Uuid,
    /// The stream it is appended to.
    pub stream_id: StreamId,
    /// The case it concerns, if any.
    pub case_id: Option<CaseId>,
    /// PascalCase type name.
    pub event_type: String,
    /// Schema version of the payload.
    pub schema_version: u32,
    /// The payload, a JSON object.
    pub payload: serde_json::Value,
    /// Who, where, why.
    pub metadata: Metadata,
    /// When it happened in the world (e.g. the time of the assessment).
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}

impl NewEvent {
    /// Builds an event from a typed payload.
    pub fn from_domain<E: DomainEvent>(
        event_id: Uuid,
        stream_id: StreamId,
        case_id: Option<CaseId>,
        event: &E,
        metadata: Metadata,
        occurred_at: OffsetDateTime,
    ) -> Result<Self, EnvelopeError> {
        let payload = serde_json::to_value(event).map_err(|e| EnvelopeError::Serialise {
            event_type: E::EVENT_TYPE.to_owned(),
            reason: e.to_string(),
        })?;
        let new = Self {
            event_id,
            stream_id,
            case_id,
            event_type: E::EVENT_TYPE.to_owned(),
            schema_version: E::SCHEMA_VERSION,
            payload,
            metadata,
            occurred_at,
        };
        new.check()?;
        Ok(new)
    }

    /// Checks the payload is an object within the size limit.
    pub fn check(&self) -> Result<(), EnvelopeError> {
        if !self.payload.is_object() {
            return Err(EnvelopeError::Serialise {
                event_type: self.event_type.clone(),
                reason: "the payload is not a JSON object".into(),
            });
        }
        let size = serde_json::to_vec(&self.payload)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_PAYLOAD_BYTES {
            return Err(EnvelopeError::TooLarge {
                event_type: self.event_type.clone(),
                size,
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        Ok(())
    }
}

/// A stored event, as read from the store or received from NATS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique id.
    pub event_id: Uuid,
    /// Its stream.
    pub stream_id: StreamId,
    /// Its version in the stream, from 1, dense.
    pub version: i64,
    /// Its position in the global log (`$all`), from 1, dense, in commit order.
    pub position: i64,
    /// The case it concerns.
    pub case_id: Option<CaseId>,
    /// PascalCase type name.
    pub event_type: String,
    /// Schema version of the payload.
    pub schema_version: u32,
    /// The payload.
    pub payload: serde_json::Value,
    /// Who, where, why.
    pub metadata: Metadata,
    /// When it happened in the world.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// When the store committed it.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

impl Envelope {
    /// Whether this envelope holds an `E`.
    pub fn is<E: DomainEvent>(&self) -> bool {
        self.event_type == E::EVENT_TYPE
    }

    /// Decodes the payload as `E`, checking type and schema version.
    pub fn decode<E: DomainEvent>(&self) -> Result<E, EnvelopeError> {
        if self.event_type != E::EVENT_TYPE {
            return Err(EnvelopeError::WrongType {
                expected: E::EVENT_TYPE,
                found: self.event_type.clone(),
            });
        }
        if self.schema_version > E::SCHEMA_VERSION {
            return Err(EnvelopeError::UnsupportedSchema {
                event_type: self.event_type.clone(),
                found: self.schema_version,
                supported: E::SCHEMA_VERSION,
            });
        }
        serde_json::from_value(self.payload.clone()).map_err(|e| EnvelopeError::Decode {
            event_type: self.event_type.clone(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pinged {
        n: u32,
    }
    impl DomainEvent for Pinged {
        const EVENT_TYPE: &'static str = "Pinged";
    }

    #[test]
    fn typed_round_trip_and_type_check() {
        let ev = NewEvent::from_domain(
            Uuid::from_u128(1),
            StreamId::parse("t-1").unwrap(),
            None,
            &Pinged { n: 3 },
            Metadata::system("test"),
            datetime!(2026-01-01 0:00 UTC),
        )
        .unwrap();
        let env = Envelope {
            event_id: ev.event_id,
            stream_id: ev.stream_id,
            version: 1,
            position: 1,
            case_id: None,
            event_type: ev.event_type,
            schema_version: 1,
            payload: ev.payload,
            metadata: ev.metadata,
            occurred_at: ev.occurred_at,
            recorded_at: ev.occurred_at,
        };
        assert_eq!(env.decode::<Pinged>().unwrap(), Pinged { n: 3 });
        let mut newer = env.clone();
        newer.schema_version = 2;
        assert!(matches!(
            newer.decode::<Pinged>(),
            Err(EnvelopeError::UnsupportedSchema { .. })
        ));
        let mut other = env;
        other.event_type = "Ponged".into();
        assert!(matches!(
            other.decode::<Pinged>(),
            Err(EnvelopeError::WrongType { .. })
        ));
    }

    #[test]
    fn oversized_and_non_object_payloads_are_rejected() {
        let mut ev = NewEvent {
            event_id: Uuid::from_u128(1),
            stream_id: StreamId::parse("t-1").unwrap(),
            case_id: None,
            event_type: "Big".into(),
            schema_version: 1,
            payload: serde_json::json!({ "s": "x".repeat(MAX_PAYLOAD_BYTES) }),
            metadata: Metadata::system("test"),
            occurred_at: datetime!(2026-01-01 0:00 UTC),
        };
        assert!(matches!(ev.check(), Err(EnvelopeError::TooLarge { .. })));
        ev.payload = serde_json::json!([1, 2]);
        assert!(matches!(ev.check(), Err(EnvelopeError::Serialise { .. })));
    }
}
