//! The events the follow-up component appends to `followup-<case>`. Ids are derived from the
//! event or request that caused them (UUID v5), and every item's id from the case and the
//! item's place in the plan, so handling a message twice, or on two instances, appends
//! nothing new.
//!
//! `CaseDetailsNoted` carries personal data (name, phone, ID number) copied from the risk
//! card for the worklist: it lives in the log and in the access-controlled worklist documents,
//! never in logs.

use contracts::{CaseId, DistrictCode, DomainEvent};
use scoring::Grade;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// Serde for `YYYY-MM-DD` dates.
pub use contracts::events::iso_date;
/// Read by the warning component, so it lives in `contracts`.
pub use contracts::events::FollowUpAlertRaised;

/// The latest risk card's identity and dating of the pregnancy, for the worklist and due
/// dates. Personal data: never logged.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseDetailsNoted {
    /// The case.
    pub case_id: CaseId,
    /// The `RiskCardSubmitted` event this copies.
    pub card_event_id: Uuid,
    /// When the card's assessment was made (the latest card wins).
    #[serde(with = "time::serde::rfc3339")]
    pub assessed_at: OffsetDateTime,
    /// Her name.
    pub name: String,
    /// Her phone.
    pub phone: Option<String>,
    /// Her identity document number.
    pub id_number: String,
    /// Last menstrual period.
    #[serde(default, with = "iso_date::option")]
    pub lmp: Option<Date>,
    /// Expected date of delivery.
    #[serde(default, with = "iso_date::option")]
    pub edd: Option<Date>,
    /// Completed weeks of gestation at the assessment.
    pub gestational_weeks: Option<u8>,
    /// Days beyond the completed weeks.
    pub gestational_days: Option<u8>,
}

impl std::fmt::Debug for CaseDetailsNoted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseDetailsNoted")
            .field("case_id", &self.case_id)
            .field("card_event_id", &self.card_event_id)
            .finish_non_exhaustive()
    }
}

/// She became high-risk: follow-up starts in her residence district.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpOpened {
    /// The case.
    pub case_id: CaseId,
    /// The `HighRiskCaseOpened` event.
    pub cause: Uuid,
    /// The district that follows her up.
    pub district: DistrictCode,
    /// Her grade.
    pub grade: Grade,
    /// When she became high-risk.
    #[serde(with = "time::serde::rfc3339")]
    pub high_risk_since: OffsetDateTime,
}

/// What a follow-up item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// The monthly phone call.
    PhoneCall,
    /// The face-to-face visit before delivery.
    FaceToFace,
    /// The postpartum visit after discharge.
    PostpartumVisit,
    /// The 42-day postnatal check.
    PostnatalCheck,
    /// No outcome reported by the expected delivery date plus the policy's days: find out.
    OutcomeUnknown,
}

impl ItemKind {
    /// The snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PhoneCall => "phone_call",
            Self::FaceToFace => "face_to_face",
            Self::PostpartumVisit => "postpartum_visit",
            Self::PostnatalCheck => "postnatal_check",
            Self::OutcomeUnknown => "outcome_unknown",
        }
    }

    /// Items that survive the end of the pregnancy.
    pub fn is_postpartum(self) -> bool {
        matches!(self, Self::PostpartumVisit | Self::PostnatalCheck)
    }
}

/// A follow-up item was planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpScheduled {
    /// The item (derived from the case and its place in the plan).
    pub item_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// What.
    pub kind: ItemKind,
    /// The calendar month (UTC+8) a phone call belongs to, `YYYY-MM`.
    pub month: Option<String>,
    /// Due by the end of this day (UTC+8).
    #[serde(with = "iso_date")]
    pub due_date: Date,
    /// The instant it becomes overdue: the start of the day after `due_date` (UTC+8).
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// The district that does it.
    pub district: DistrictCode,
}

/// What came of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactOutcome {
    /// She was reached (seen, for a visit).
    Reached,
    /// No answer: retried per policy.
    NotReached,
    /// The number is not hers: the item closes without contact (the month may be missed).
    WrongNumber,
    /// She moved to another district: `TransferRequested` is appended and the item stays
    /// open; when warning's `CaseTransferred` arrives, open items move to the new district.
    MovedAway,
    /// She says the pregnancy ended: the outcome is asked for.
    PregnancyEnded,
    /// She declines follow-up.
    Declined,
}

impl ContactOutcome {
    /// The snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reached => "reached",
            Self::NotReached => "not_reached",
            Self::WrongNumber => "wrong_number",
            Self::MovedAway => "moved_away",
            Self::PregnancyEnded => "pregnancy_ended",
            Self::Declined => "declined",
        }
    }

    /// She was spoken to (the month counts as contacted).
    pub fn is_contact(self) -> bool {
        matches!(self, Self::Reached | Self::PregnancyEnded | Self::Declined)
    }
}

/// Someone tried an item (a call or a visit) and recorded the outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpAttempted {
    /// The item.
    pub item_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The caller's request id (a retry of the request is harmless).
    pub request_id: Uuid,
    /// The outcome.
    pub outcome: ContactOutcome,
    /// Which attempt on this item (1-based).
    pub attempt: u32,
    /// Free text.
    pub note: Option<String>,
    /// Danger signs she reported (a re-assessment is requested).
    #[serde(default)]
    pub danger_signs: Vec<String>,
    /// Her new district (moved away).
    pub new_district: Option<DistrictCode>,
    /// An unanswered call is tried again from then (policy gap), if attempts remain.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Who.
    pub by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// An item was assigned to a staff member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpAssigned {
    /// The item.
    pub item_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The assignee (a staff id).
    pub assignee: String,
    /// Who assigned.
    pub by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// An open item moved to another district (she was transferred).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpReassigned {
    /// The item.
    pub item_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The old district.
    pub from: DistrictCode,
    /// The new one.
    pub to: DistrictCode,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// An item was closed without being done (the pregnancy ended).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpClosed {
    /// The item.
    pub item_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// Why (`pregnancy ended`, `maternal death`).
    pub reason: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A calendar month (UTC+8) of follow-up ended. Fired by the deadline scheduler at the start
/// of the next month; the component then judges the month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpMonthEnded {
    /// The case.
    pub case_id: CaseId,
    /// The month, `YYYY-MM`.
    pub month: String,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A month ended with no contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpMissed {
    /// The month's phone-call item.
    pub item_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The month, `YYYY-MM`.
    pub month: String,
    /// The district responsible.
    pub district: DistrictCode,
    /// Missed months in a row, this one included.
    pub missed_in_a_row: u32,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The policy's number of missed months in a row: she is lost to follow-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LostToFollowUp {
    /// The case.
    pub case_id: CaseId,
    /// The district responsible.
    pub district: DistrictCode,
    /// The missed months, `YYYY-MM`.
    pub months: Vec<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A follow-up learnt that she moved. The warning component owns residence: it may act on
/// this by appending `CaseTransferred` (after which her open items move to `to`). Until it
/// does, nothing moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferRequested {
    /// The case.
    pub case_id: CaseId,
    /// The district she left.
    pub from: DistrictCode,
    /// The district she says she lives in now.
    pub to: DistrictCode,
    /// The item whose attempt learnt it.
    pub item_id: Uuid,
    /// Who.
    pub requested_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// She reported danger signs on a follow-up: a re-assessment is asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReassessmentRequested {
    /// The case.
    pub case_id: CaseId,
    /// Her district.
    pub district: DistrictCode,
    /// The item.
    pub item_id: Uuid,
    /// The signs, as recorded.
    pub danger_signs: Vec<String>,
    /// Who.
    pub by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// She says the pregnancy ended but no outcome was reported: the outcome is asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRequested {
    /// The case.
    pub case_id: CaseId,
    /// Her district.
    pub district: DistrictCode,
    /// The item.
    pub item_id: Uuid,
    /// Who.
    pub by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The expected delivery date plus the policy's days passed with no outcome. Fired by the
/// deadline scheduler; the component then schedules an "outcome unknown" item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeOverdue {
    /// The case.
    pub case_id: CaseId,
    /// The expected delivery date the deadline was armed for.
    #[serde(with = "iso_date")]
    pub edd: Date,
    /// When it fired.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The pregnancy ended (copied from `PregnancyOutcomeReported`, without free text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PregnancyEndedNoted {
    /// The case.
    pub case_id: CaseId,
    /// The `PregnancyOutcomeReported` event.
    pub cause: Uuid,
    /// What happened.
    pub outcome: contracts::OutcomeKind,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Discharge, when known.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub discharged_at: Option<OffsetDateTime>,
}

/// Her residence district changed (copied from warning's `CaseTransferred`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpTransferred {
    /// The case.
    pub case_id: CaseId,
    /// The `CaseTransferred` event.
    pub cause: Uuid,
    /// The old district.
    pub from: DistrictCode,
    /// The new one.
    pub to: DistrictCode,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

macro_rules! domain_events {
    ($($t:ident),*) => { $(impl DomainEvent for $t { const EVENT_TYPE: &'static str = stringify!($t); })* };
}
domain_events!(
    CaseDetailsNoted,
    FollowUpOpened,
    FollowUpScheduled,
    FollowUpAttempted,
    FollowUpAssigned,
    FollowUpReassigned,
    FollowUpClosed,
    FollowUpMonthEnded,
    FollowUpMissed,
    LostToFollowUp,
    TransferRequested,
    ReassessmentRequested,
    OutcomeRequested,
    OutcomeOverdue,
    PregnancyEndedNoted,
    FollowUpTransferred
);
