//! Shared language of the referral service: the event envelope, the value objects every
//! component parses once at its edge, the NATS subject builder and the injected clock.
//!
//! This crate is pure: it performs no IO, opens no connection and never reads the system
//! clock except through [`clock::SystemClock`], which callers inject. Components depend on
//! it; it depends on no component.

pub mod clock;
pub mod envelope;
pub mod events;
pub mod ids;
pub mod subject;
pub mod values;

pub use clock::{china_offset, Clock, ManualClock, SystemClock};
pub use envelope::{DomainEvent, Envelope, EnvelopeError, Metadata, NewEvent, MAX_PAYLOAD_BYTES};
pub use events::{
    FollowUpAlertRaised, IdType, Measurements, OutcomeKind, Pregnancy, PregnancyOutcomeReported,
    RiskCardSubmitted, Woman,
};
pub use ids::{derive_event_id, CaseId, IdError, StreamId};
pub use subject::{event_type_token, Subject, STREAM_NAME, SUBJECT_ROOT};
pub use values::{
    Colour, DistrictCode, InstitutionCode, ResidentId, ResidentIdWarning, ValueError,
};
