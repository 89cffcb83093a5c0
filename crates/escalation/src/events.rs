//! The events the escalation component appends to `referral-<referral_id>`. Every event carries
//! the referral and the case; `Metadata.district` is the woman's residence district, so each
//! one is published on `referral.<district>.<event-type>`. Ids are derived from the command or
//! event that caused them (UUID v5), so handling a message twice appends nothing new.
//!
//! The opening event holds the referral form (转诊卡) with personal data: it lives in the log
//! and in access-controlled read models, never in logs.

use contracts::{CaseId, DistrictCode, DomainEvent, InstitutionCode};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;
use uuid::Uuid;

/// Who she is, as the referral form identifies her. Personal data: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Name.
    pub name: String,
    /// Age in completed years.
    #[serde(default)]
    pub age: Option<u8>,
    /// Ethnicity (民族).
    #[serde(default)]
    pub ethnicity: Option<String>,
    /// Education.
    #[serde(default)]
    pub education: Option<String>,
    /// Address.
    #[serde(default)]
    pub address: Option<String>,
    /// A relative to contact.
    #[serde(default)]
    pub relative: Option<String>,
    /// Phone of her or the relative.
    #[serde(default)]
    pub phone: Option<String>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity(<redacted>)")
    }
}

/// Her clinical state on leaving (离院时情况).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClinicalState {
    /// Chief complaint.
    pub complaint: String,
    /// Diagnosis.
    pub diagnosis: String,
    /// Treatment so far.
    #[serde(default)]
    pub treatment_so_far: Option<String>,
    /// Systolic blood pressure, mmHg.
    #[serde(default)]
    pub systolic_mmhg: Option<u16>,
    /// Diastolic blood pressure, mmHg.
    #[serde(default)]
    pub diastolic_mmhg: Option<u16>,
    /// Respiration, breaths per minute.
    #[serde(default)]
    pub respiration_per_min: Option<u16>,
    /// Pulse, beats per minute.
    #[serde(default)]
    pub pulse_per_min: Option<u16>,
    /// Fetal heart rate, beats per minute.
    #[serde(default)]
    pub fetal_heart_rate_bpm: Option<u16>,
    /// Fetal state (free text).
    #[serde(default)]
    pub fetal_state: Option<String>,
    /// Contractions (free text).
    #[serde(default)]
    pub contractions: Option<String>,
    /// Blood loss, ml.
    #[serde(default)]
    pub blood_loss_ml: Option<u32>,
    /// Hours in labour.
    #[serde(default)]
    pub hours_in_labour: Option<f64>,
}

/// How she travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// A 120 or hospital ambulance.
    Ambulance,
    /// A private vehicle.
    PrivateVehicle,
    /// By air.
    Air,
    /// Anything else.
    Other,
}

/// How the green channel was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenedBy {
    /// A hospital posted the referral form.
    Hospital,
    /// A risk card flagged her as critical (the form is completed by the hospital later).
    CriticalCard,
}

/// The referral form (转诊卡) as the sender filled it in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferralForm {
    /// Her identity (none when opened from a critical card).
    pub identity: Option<Identity>,
    /// Her clinical state on leaving (none when opened from a critical card).
    pub clinical: Option<ClinicalState>,
    /// Why she is referred.
    pub reason: String,
    /// Treatment planned en route.
    pub treatment_en_route: Option<String>,
    /// The referring doctor.
    pub referring_doctor: Option<String>,
    /// Who escorts her.
    pub escort: Option<String>,
    /// How she travels.
    pub transport: Option<Transport>,
}

/// A green channel was opened: the referral form and the first centre asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GreenChannelOpened {
    /// The referral.
    pub referral_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// Her residence district (whose offices are told, and whose ladder is used).
    pub residence_district: DistrictCode,
    /// How it was opened.
    pub opened_by: OpenedBy,
    /// The sending institution.
    pub sending_institution: InstitutionCode,
    /// The form.
    pub form: ReferralForm,
    /// The ladder used, nearest first (a centre the sender named comes first when it is not on
    /// her district's ladder).
    pub ladder: Vec<InstitutionCode>,
    /// The rung asked first (1-based).
    pub rung: u32,
    /// The centre asked first.
    pub target: InstitutionCode,
    /// When it was opened.
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    /// The first centre must accept by then.
    #[serde(with = "time::serde::rfc3339")]
    pub acceptance_due_at: OffsetDateTime,
}

/// The centre asked did not accept in time. Fired by the deadline scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferralAcceptanceOverdue {
    /// The referral.
    pub referral_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The rung that was asked (1-based).
    pub rung: u32,
    /// The centre that was asked.
    pub centre: InstitutionCode,
    /// How many re-notifications of this rung preceded this deadline.
    pub attempt: u32,
    /// The deadline.
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
}

/// A centre accepted her (rescue centres may not refuse).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferralAccepted {
    /// The referral.
    pub referral_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The accepting centre.
    pub centre: InstitutionCode,
    /// Its rung on the ladder (1-based).
    pub rung: u32,
    /// The receiving doctor.
    pub receiving_doctor: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Minutes from opening to acceptance.
    pub minutes_from_opening: i64,
}

/// The centre asked handed her on, with a reason; counts as an escalation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferralHandedOn {
    /// The referral.
    pub referral_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The centre that handed on.
    pub centre: InstitutionCode,
    /// Its rung.
    pub rung: u32,
    /// Why.
    pub reason: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Why a referral went up a rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationReason {
    /// The centre did not accept within the timeout.
    Timeout,
    /// The centre handed her on.
    HandedOn,
}

/// The referral went up one rung; the district and city offices were told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferralEscalated {
    /// The referral.
    pub referral_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The rung left.
    pub from_rung: u32,
    /// The centre left.
    pub from_centre: InstitutionCode,
    /// The rung asked now.
    pub to_rung: u32,
    /// The centre asked now.
    pub to_centre: InstitutionCode,
    /// Why.
    pub reason: EscalationReason,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The new centre must accept by then.
    #[serde(with = "time::serde::rfc3339")]
    pub acceptance_due_at: OffsetDateTime,
    /// The offices notified: her residence district's and its city's.
    pub notified_offices: Vec<DistrictCode>,
}

/// Nobody above the top rung: it is asked again, and the offices told again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferralRenotified {
    /// The referral.
    pub referral_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The (top) rung.
    pub rung: u32,
    /// Its centre.
    pub centre: InstitutionCode,
    /// The re-notification's number (1, 2, …).
    pub attempt: u32,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The next re-notification, unless accepted before.
    #[serde(with = "time::serde::rfc3339")]
    pub next_at: OffsetDateTime,
    /// The offices notified.
    pub notified_offices: Vec<DistrictCode>,
}

/// She left the sending institution (time to the minute).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientDeparted {
    /// The referral.
    pub referral_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// When she left, to the minute.
    #[serde(with = "time::serde::rfc3339")]
    pub departed_at: OffsetDateTime,
    /// Who escorts her.
    pub escort: String,
    /// How she travels.
    pub transport: Option<Transport>,
    /// Treatment en route.
    pub treatment_en_route: Option<String>,
}

/// She reached the accepting centre (time to the minute).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientArrived {
    /// The referral.
    pub referral_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The centre.
    pub centre: InstitutionCode,
    /// When she arrived, to the minute.
    #[serde(with = "time::serde::rfc3339")]
    pub arrived_at: OffsetDateTime,
    /// Who escorted her.
    pub escort: Option<String>,
    /// Who received her.
    pub received_by: String,
}

/// What became of her.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Rescued (抢救成功).
    Rescued,
    /// Rescue failed (抢救失败).
    RescueFailed,
    /// Dead on arrival (到达时已死亡).
    DeadOnArrival,
}

/// Was the referral timely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timeliness {
    /// Timely (及时).
    Timely,
    /// Delayed (延误).
    Delayed,
    /// To be corrected (需改进).
    ToBeCorrected,
}

/// The feedback form (反馈单) to the sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferralFeedbackFiled {
    /// The referral.
    pub referral_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The centre filing it.
    pub centre: InstitutionCode,
    /// The sender it goes to.
    pub sending_institution: InstitutionCode,
    /// Diagnosis at the centre.
    pub diagnosis: String,
    /// Treatment given.
    pub treatment: String,
    /// Outcome.
    pub outcome: Outcome,
    /// The referral's timeliness.
    pub timeliness: Timeliness,
    /// A note to the sender.
    pub note: Option<String>,
    /// When filed.
    #[serde(with = "time::serde::rfc3339")]
    pub filed_at: OffsetDateTime,
}

/// The near-miss criteria she met; the case is flagged for critical-case review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearMissRecorded {
    /// The referral.
    pub referral_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The centre recording it.
    pub centre: InstitutionCode,
    /// The criteria catalogue (`who-2011@1`).
    pub catalogue: String,
    /// The criteria met (codes of that catalogue), sorted.
    pub criteria: Vec<String>,
    /// Flagged for critical-case review (always true: a near miss is reviewed).
    pub review_flagged: bool,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The green channel is closed (feedback filed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GreenChannelClosed {
    /// The referral.
    pub referral_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// Why (`feedback filed`).
    pub reason: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

macro_rules! domain_events {
    ($($t:ident),*) => { $(impl DomainEvent for $t { const EVENT_TYPE: &'static str = stringify!($t); })* };
}
domain_events!(
    GreenChannelOpened,
    ReferralAcceptanceOverdue,
    ReferralAccepted,
    ReferralHandedOn,
    ReferralEscalated,
    ReferralRenotified,
    PatientDeparted,
    PatientArrived,
    ReferralFeedbackFiled,
    NearMissRecorded,
    GreenChannelClosed
);
