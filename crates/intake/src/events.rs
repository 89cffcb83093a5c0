//! The events intake owns besides the shared `RiskCardSubmitted` and
//! `PregnancyOutcomeReported` (defined in `contracts`): the case-identity events on the
//! per-woman stream `woman-<key>`, where `<key>` is the SHA-256 of her document type and
//! number. Appending to that stream with an expected version is what makes two hospitals
//! posting for the same woman at once end with one case.
//!
//! What it owns: these payloads. They carry the case id and the card or outcome event id,
//! never personal data (the woman is named only by the stream's hash).

use contracts::{CaseId, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A card found no open case for her: a new case (pregnancy) starts with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseOpened {
    /// The new case.
    pub case_id: CaseId,
    /// The `RiskCardSubmitted` that opened it.
    pub card_event_id: Uuid,
}

impl DomainEvent for CaseOpened {
    const EVENT_TYPE: &'static str = "CaseOpened";
}

/// A card joined her open case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardJoinedCase {
    /// The case.
    pub case_id: CaseId,
    /// The `RiskCardSubmitted`.
    pub card_event_id: Uuid,
}

impl DomainEvent for CardJoinedCase {
    const EVENT_TYPE: &'static str = "CardJoinedCase";
}

/// An outcome closed her case: the next card opens a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseClosed {
    /// The case.
    pub case_id: CaseId,
    /// The `PregnancyOutcomeReported` that closed it.
    pub outcome_event_id: Uuid,
}

impl DomainEvent for CaseClosed {
    const EVENT_TYPE: &'static str = "CaseClosed";
}
