//! The event scoring emits: `RiskAssessed`, one per risk card, appended to
//! `assessment-<case>` with an id derived from the card's event id (a redelivered card
//! yields the same id, which the store drops). The assessment inside is a value: it records
//! the catalogue and policy identities it was made with and is never recomputed.

use crate::engine::Assessment;
use contracts::{CaseId, DistrictCode, DomainEvent, InstitutionCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A card was graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskAssessed {
    /// The case.
    pub case_id: CaseId,
    /// The hospital's card id.
    pub card_id: String,
    /// The event id of the `RiskCardSubmitted` that was graded.
    pub card_event_id: Uuid,
    /// The reporting institution.
    pub institution: InstitutionCode,
    /// Its district (an information copy of alerts goes there when it differs).
    pub institution_district: DistrictCode,
    /// The woman's residence district (alerts and follow-up go there).
    pub residence_district: DistrictCode,
    /// When the assessment was made (the card's time, with its offset).
    #[serde(with = "time::serde::rfc3339")]
    pub assessed_at: OffsetDateTime,
    /// When the card reached the service (late-report detection).
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// The hospital flagged her as critical.
    pub critical: bool,
    /// The grade and why.
    pub assessment: Assessment,
}

impl DomainEvent for RiskAssessed {
    const EVENT_TYPE: &'static str = "RiskAssessed";
}
