//! Events that cross component boundaries and whose payload no single component's pure code
//! owns: what a hospital submits (`RiskCardSubmitted`, `PregnancyOutcomeReported`). Events a
//! component derives (e.g. `RiskAssessed`) are defined next to the rules that make them.
//!
//! These payloads hold personal data (name, ID number, phone, address): they live in the log
//! and in access-controlled read models, never in logs or subjects.

use crate::envelope::DomainEvent;
use crate::ids::CaseId;
use crate::values::{Colour, DistrictCode, InstitutionCode};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

#[allow(missing_docs)]
mod date_format {
    time::serde::format_description!(pub iso_date, Date, "[year]-[month]-[day]");
}
/// Serde for dates as `YYYY-MM-DD` (`with = "iso_date"`, and `iso_date::option`).
pub use date_format::iso_date;

/// Measurements on a risk card; the scoring engine derives findings from them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measurements {
    /// Her birth date (age = completed years on the assessment date), `YYYY-MM-DD`.
    #[serde(default, with = "iso_date::option")]
    pub birth_date: Option<Date>,
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
    /// Completed weeks of gestation.
    #[serde(default)]
    pub gestational_weeks: Option<u8>,
    /// Days beyond the completed weeks, 0 to 6 (needs `gestational_weeks`).
    #[serde(default)]
    pub gestational_days: Option<u8>,
    /// Number of fetuses.
    #[serde(default)]
    pub fetuses: Option<u8>,
}

/// The kind of identity document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// PRC resident identity card (GB 11643, checked).
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

/// The woman, as the card identifies her. Personal data: never logged.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Woman {
    /// Identity document type.
    pub id_type: IdType,
    /// Document number (a checked resident ID when `id_type` is `resident_id`).
    pub id_number: String,
    /// Name.
    pub name: String,
    /// Birth date.
    #[serde(with = "iso_date")]
    pub birth_date: Date,
    /// Phone number.
    pub phone: Option<String>,
    /// Residence district (居住地): where alerts and follow-up go.
    pub residence_district: DistrictCode,
    /// Address.
    pub address: Option<String>,
}

impl std::fmt::Debug for Woman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Woman")
            .field("id_type", &self.id_type)
            .field("residence_district", &self.residence_district)
            .finish_non_exhaustive()
    }
}

/// The pregnancy on the card.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pregnancy {
    /// Last menstrual period.
    #[serde(default, with = "iso_date::option")]
    pub lmp: Option<Date>,
    /// Expected date of delivery.
    #[serde(default, with = "iso_date::option")]
    pub edd: Option<Date>,
    /// Gravida (pregnancies including this one).
    pub gravida: Option<u8>,
    /// Para (previous deliveries).
    pub para: Option<u8>,
}

/// A delivery hospital published a risk card (妊娠风险预警报告卡). Appended by intake to
/// `card-<institution>-<card_id>`; its id is derived from the institution and card id, so the
/// same card submitted twice is stored once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskCardSubmitted {
    /// The hospital's own id of the card.
    pub card_id: String,
    /// The case (one pregnancy of one woman) the card belongs to.
    pub case_id: CaseId,
    /// The reporting institution.
    pub institution: InstitutionCode,
    /// The reporting institution's district (an information copy goes there).
    pub institution_district: DistrictCode,
    /// Who assessed (a staff id or name as the hospital reports it).
    pub assessor: String,
    /// When the assessment was made.
    #[serde(with = "time::serde::rfc3339")]
    pub assessed_at: OffsetDateTime,
    /// When the service received the card.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// The woman.
    pub woman: Woman,
    /// The pregnancy.
    pub pregnancy: Pregnancy,
    /// Measurements.
    pub measurements: Measurements,
    /// Finding codes (five-colour, score and screening catalogues), as sent.
    pub findings: Vec<String>,
    /// The colour the hospital gave, if any.
    pub declared_colour: Option<Colour>,
    /// The hospital flags her as critical (opens the green channel).
    pub critical: bool,
    /// Free text.
    pub note: Option<String>,
}

impl DomainEvent for RiskCardSubmitted {
    const EVENT_TYPE: &'static str = "RiskCardSubmitted";
}

/// How a pregnancy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// Delivery.
    Delivery,
    /// Miscarriage.
    Miscarriage,
    /// Termination.
    Termination,
    /// Maternal death.
    MaternalDeath,
}

/// A hospital reported how the pregnancy ended; ends follow-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PregnancyOutcomeReported {
    /// The hospital's own id of the report.
    pub report_id: String,
    /// The case.
    pub case_id: CaseId,
    /// The reporting institution.
    pub institution: InstitutionCode,
    /// What happened.
    pub outcome: OutcomeKind,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Where (an institution code, or free text such as "home").
    pub place: String,
    /// In a hospital (institutional delivery).
    pub in_hospital: bool,
    /// Discharge time, when known (postpartum visit is due within 7 days of it).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub discharged_at: Option<OffsetDateTime>,
    /// Free text.
    pub note: Option<String>,
}

impl DomainEvent for PregnancyOutcomeReported {
    const EVENT_TYPE: &'static str = "PregnancyOutcomeReported";
}

/// Something follow-up found that the district office must look at (published on the
/// district's subject); the warning component turns it into an inbox alert with a deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpAlertRaised {
    /// The alert.
    pub alert_id: uuid::Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The office.
    pub district: DistrictCode,
    /// Why (`lost_to_follow_up`).
    pub reason: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl DomainEvent for FollowUpAlertRaised {
    const EVENT_TYPE: &'static str = "FollowUpAlertRaised";
}
