//! The wire shapes of the intake API: what hospitals send and what they get back.
//!
//! What it owns: the request and response types (snake_case JSON, unknown fields refused),
//! their OpenAPI schemas, and nothing else. Dates and times travel as strings and are
//! parsed in [`crate::validate`], so a malformed date is listed with every other wrong
//! field instead of stopping the parse. These types hold personal data: they derive no
//! `Debug` that prints it.

use edge::Problem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A risk card (妊娠风险预警报告卡), as a hospital sends it.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskCardRequest {
    /// The hospital's own id of the card: 1–64 characters `A-Z a-z 0-9 . _ : -`. The same id
    /// from the same institution is the same card.
    pub card_id: String,
    /// The reporting institution; must be the caller's.
    pub institution_code: String,
    /// When the assessment was made, RFC 3339 with offset (`2026-03-01T09:30:00+08:00`).
    pub assessed_at: String,
    /// Who assessed (a staff id as the hospital reports it).
    pub assessor: String,
    /// The woman.
    pub woman: WomanIn,
    /// The pregnancy.
    pub pregnancy: PregnancyIn,
    /// Measurements, each optional.
    #[serde(default)]
    pub measurements: MeasurementsIn,
    /// Finding codes from the five-colour, score and screening catalogues.
    #[serde(default)]
    pub findings: Vec<String>,
    /// The colour the hospital gave, if any.
    #[serde(default)]
    pub declared_colour: Option<ColourIn>,
    /// The hospital flags her as critical.
    #[serde(default)]
    pub critical: bool,
    /// Free text.
    #[serde(default)]
    pub note: Option<String>,
}

impl std::fmt::Debug for RiskCardRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RiskCardRequest")
            .field("card_id", &self.card_id)
            .field("institution_code", &self.institution_code)
            .finish_non_exhaustive()
    }
}

/// The kind of identity document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdTypeIn {
    /// PRC resident identity card (GB 11643; check character verified).
    ResidentId,
    /// Passport.
    Passport,
    /// Hong Kong / Macao / Taiwan travel permit.
    TravelPermit,
    /// Foreign permanent resident ID.
    ForeignPermanentResident,
    /// Other document.
    Other,
}

impl From<IdTypeIn> for contracts::IdType {
    fn from(v: IdTypeIn) -> Self {
        match v {
            IdTypeIn::ResidentId => Self::ResidentId,
            IdTypeIn::Passport => Self::Passport,
            IdTypeIn::TravelPermit => Self::TravelPermit,
            IdTypeIn::ForeignPermanentResident => Self::ForeignPermanentResident,
            IdTypeIn::Other => Self::Other,
        }
    }
}

/// A colour of the five-colour grading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColourIn {
    /// Low risk.
    Green,
    /// General risk.
    Yellow,
    /// Higher risk.
    Orange,
    /// High risk.
    Red,
    /// Infectious disease.
    Purple,
}

impl From<ColourIn> for contracts::Colour {
    fn from(v: ColourIn) -> Self {
        match v {
            ColourIn::Green => Self::Green,
            ColourIn::Yellow => Self::Yellow,
            ColourIn::Orange => Self::Orange,
            ColourIn::Red => Self::Red,
            ColourIn::Purple => Self::Purple,
        }
    }
}

/// The woman. Personal data: never logged.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WomanIn {
    /// Identity document type.
    pub id_type: IdTypeIn,
    /// Document number.
    pub id_number: String,
    /// Name.
    pub name: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: String,
    /// Phone: a mainland mobile (`13812345678`, optionally `+86`) or a landline with area
    /// code (`0731-12345678`).
    #[serde(default)]
    pub phone: Option<String>,
    /// Residence district (居住地), GB/T 2260 code: where alerts and follow-up go.
    pub residence_district: String,
    /// Address.
    #[serde(default)]
    pub address: Option<String>,
}

/// The pregnancy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PregnancyIn {
    /// Last menstrual period, `YYYY-MM-DD` (LMP and/or EDD is required).
    #[serde(default)]
    pub lmp: Option<String>,
    /// Expected date of delivery, `YYYY-MM-DD`.
    #[serde(default)]
    pub edd: Option<String>,
    /// Completed weeks of gestation at the assessment, 0–45.
    #[serde(default)]
    pub gestational_weeks: Option<u8>,
    /// Days beyond the completed weeks, 0–6.
    #[serde(default)]
    pub gestational_days: Option<u8>,
    /// Gravida (pregnancies including this one).
    #[serde(default)]
    pub gravida: Option<u8>,
    /// Para (previous deliveries).
    #[serde(default)]
    pub para: Option<u8>,
    /// Number of fetuses.
    #[serde(default)]
    pub fetuses: Option<u8>,
}

/// Measurements, each optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasurementsIn {
    /// Height in cm.
    #[serde(default)]
    pub height_cm: Option<f64>,
    /// Weight in kg.
    #[serde(default)]
    pub weight_kg: Option<f64>,
    /// Systolic blood pressure, mmHg.
    #[serde(default)]
    pub systolic_mmhg: Option<u16>,
    /// Diastolic blood pressure, mmHg.
    #[serde(default)]
    pub diastolic_mmhg: Option<u16>,
    /// Haemoglobin, g/L.
    #[serde(default)]
    pub hb_g_per_l: Option<f64>,
    /// Platelets, ×10⁹/L.
    #[serde(default)]
    pub platelets_10e9_per_l: Option<f64>,
}

/// A warning about an accepted card (the card is stored; check the field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Warning {
    /// JSON pointer to the field.
    pub pointer: String,
    /// Stable code (`odd_sequence_digit`).
    pub code: String,
    /// Explanation.
    pub message: String,
}

/// The answer to an accepted card (202). A resubmission of the same card gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CardAccepted {
    /// The hospital's card id.
    pub card_id: String,
    /// The case (one pregnancy of one woman) the card joined or opened.
    pub case_id: String,
    /// The id of the stored `RiskCardSubmitted` event.
    pub event_id: String,
    /// Warnings (the card was accepted).
    pub warnings: Vec<Warning>,
}

/// A batch of cards (at most 1,000). Each element is checked on its own.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The cards.
    #[schema(value_type = Vec<RiskCardRequest>)]
    pub cards: Vec<serde_json::Value>,
}

/// One card's result in a batch or an import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchItem {
    /// Position in the batch, from 0.
    pub index: usize,
    /// The CSV row (the header is row 1), for an import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    /// The HTTP status this card alone would have had (202, 400, 403, 409, …).
    pub status: u16,
    /// The answer when accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<CardAccepted>,
    /// The problem when refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

/// The results of a batch or an import, one per card, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    /// Cards accepted (including identical resubmissions).
    pub accepted: usize,
    /// Cards refused.
    pub rejected: usize,
    /// One per card.
    pub results: Vec<BatchItem>,
}

/// How a pregnancy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKindIn {
    /// Delivery.
    Delivery,
    /// Miscarriage.
    Miscarriage,
    /// Termination.
    Termination,
    /// Maternal death.
    MaternalDeath,
}

impl From<OutcomeKindIn> for contracts::OutcomeKind {
    fn from(v: OutcomeKindIn) -> Self {
        match v {
            OutcomeKindIn::Delivery => Self::Delivery,
            OutcomeKindIn::Miscarriage => Self::Miscarriage,
            OutcomeKindIn::Termination => Self::Termination,
            OutcomeKindIn::MaternalDeath => Self::MaternalDeath,
        }
    }
}

/// A pregnancy outcome, as a hospital sends it. Closes the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    /// The hospital's own id of the report (same rules as `card_id`).
    pub report_id: String,
    /// The reporting institution; must be the caller's.
    pub institution_code: String,
    /// The case.
    pub case_id: String,
    /// What happened.
    pub outcome: OutcomeKindIn,
    /// When, RFC 3339 with offset.
    pub occurred_at: String,
    /// Where: an institution code, or free text such as `home`.
    pub place: String,
    /// In a hospital (institutional delivery).
    pub in_hospital: bool,
    /// Discharge time, RFC 3339, when known.
    #[serde(default)]
    pub discharged_at: Option<String>,
    /// Free text.
    #[serde(default)]
    pub note: Option<String>,
}

/// The answer to an accepted outcome (202); a resubmission gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OutcomeAccepted {
    /// The hospital's report id.
    pub report_id: String,
    /// The case it closed.
    pub case_id: String,
    /// The id of the stored `PregnancyOutcomeReported` event.
    pub event_id: String,
}

/// A card as the case view shows it (no personal data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CardSummary {
    /// The hospital's card id.
    pub card_id: String,
    /// The reporting institution.
    pub institution: String,
    /// When assessed (RFC 3339).
    pub assessed_at: String,
    /// When received (RFC 3339).
    pub received_at: String,
    /// Finding codes as sent.
    pub findings: Vec<String>,
    /// The hospital's colour.
    pub declared_colour: Option<String>,
    /// Flagged critical.
    pub critical: bool,
}

/// The outcome as the case view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OutcomeSummary {
    /// What happened (`delivery`, …).
    pub outcome: String,
    /// When (RFC 3339).
    pub occurred_at: String,
    /// Where.
    pub place: String,
    /// In a hospital.
    pub in_hospital: bool,
    /// The reporting institution.
    pub institution: String,
}

/// A case: one pregnancy of one woman, folded from its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaseView {
    /// The case.
    pub case_id: String,
    /// `open` until an outcome is reported, then `closed`.
    pub status: String,
    /// Her residence district on the latest card.
    pub residence_district: String,
    /// The latest grading (`colour`, `infectious`, `score`, `high_risk`, `high_risk_reasons`,
    /// `findings`, `assessed_at`), when scoring has graded a card.
    #[schema(value_type = Option<Object>)]
    pub assessment: Option<serde_json::Value>,
    /// Every card, in order of arrival.
    pub cards: Vec<CardSummary>,
    /// The outcome, once reported.
    pub outcome: Option<OutcomeSummary>,
}
