//! The events the warning component appends to `warning-<case>`. Ids are derived from the
//! event that caused them (UUID v5), so handling a message twice appends nothing new.

use contracts::{CaseId, DistrictCode, DomainEvent, InstitutionCode};
use scoring::{AlertTrigger, Grade};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Every assessment the component saw, in full: the case's grading history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskGraded {
    /// The case.
    pub case_id: CaseId,
    /// The `RiskAssessed` event this records.
    pub assessment_event_id: Uuid,
    /// The grade.
    pub grade: Grade,
    /// When she was assessed.
    #[serde(with = "time::serde::rfc3339")]
    pub assessed_at: OffsetDateTime,
    /// When the card reached the service.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// The reporting institution.
    pub institution: InstitutionCode,
    /// Its district.
    pub institution_district: DistrictCode,
    /// Her residence district on this card.
    pub residence_district: DistrictCode,
    /// Catalogue set and policy the grade was made with (`id@version`).
    pub catalogue: String,
    /// The policy (`id@version`).
    pub policy: String,
}

/// Her colour (or purple flag) changed, up or down, through a new assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColourChanged {
    /// The case.
    pub case_id: CaseId,
    /// The grade before (none at the first assessment).
    pub from: Option<Grade>,
    /// The grade now.
    pub to: Grade,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub assessed_at: OffsetDateTime,
}

/// She became high-risk (专案) for the first time in this pregnancy: follow-up starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HighRiskCaseOpened {
    /// The case.
    pub case_id: CaseId,
    /// Where she lives (who follows her up).
    pub residence_district: DistrictCode,
    /// The grade that made her high-risk.
    pub grade: Grade,
    /// When she was assessed.
    #[serde(with = "time::serde::rfc3339")]
    pub assessed_at: OffsetDateTime,
    /// The reporting institution.
    pub institution: InstitutionCode,
}

/// Why an alert was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// An assessment triggered it (see `triggers`).
    Assessment,
    /// An information copy to the reporting hospital's district.
    Copy,
    /// She moved in: the new district must acknowledge her.
    TransferIn,
    /// A district did not acknowledge in time: the next office up is told.
    Escalation,
    /// She died: the death report is due (`due_at` counts from the time of death).
    MaternalDeath,
    /// Follow-up lost her: missed months in a row.
    LostToFollowUp,
}

/// An alert to a district (or city) office.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistrictAlertRaised {
    /// The alert.
    pub alert_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The office it is addressed to.
    pub district: DistrictCode,
    /// Why.
    pub kind: AlertKind,
    /// The policy triggers that applied (assessment alerts).
    pub triggers: Vec<AlertTrigger>,
    /// Her grade.
    pub grade: Grade,
    /// When she was assessed.
    #[serde(with = "time::serde::rfc3339")]
    pub assessed_at: OffsetDateTime,
    /// When the card arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Acknowledge by then (none for copies and escalations).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    /// The card arrived after the deadline had passed (counts against on-time reporting).
    pub reported_late: bool,
    /// The reporting institution.
    pub institution: InstitutionCode,
    /// Her residence district.
    pub residence_district: DistrictCode,
    /// The alert this one copies or escalates.
    pub related_alert: Option<Uuid>,
}

/// The office acknowledged (签收) an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistrictAlertAcknowledged {
    /// The alert.
    pub alert_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The office.
    pub district: DistrictCode,
    /// Who (the API key id or user id).
    pub by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// It was acknowledged after its deadline.
    pub late: bool,
}

/// An alert was not acknowledged by its deadline. Fired by the deadline scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistrictAlertOverdue {
    /// The alert.
    pub alert_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The office that did not acknowledge.
    pub district: DistrictCode,
    /// The deadline.
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// The office the escalation goes to (the parent: district → city → province).
    pub escalate_to: Option<DistrictCode>,
}

/// An alert was closed without acknowledgement (she moved away).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistrictAlertClosed {
    /// The alert.
    pub alert_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// The office.
    pub district: DistrictCode,
    /// Why.
    pub reason: String,
}

/// She moved to another district.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseTransferred {
    /// The case.
    pub case_id: CaseId,
    /// The old residence district.
    pub from: DistrictCode,
    /// The new one.
    pub to: DistrictCode,
    /// When it became known.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What showed it (`new card`, `follow-up`).
    pub reason: String,
}

/// A judgement that the pregnancy should not continue (不宜继续妊娠).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotSuitableRecorded {
    /// The case.
    pub case_id: CaseId,
    /// Her district.
    pub district: DistrictCode,
    /// The doctor who judged (associate chief or above).
    pub judged_by: String,
    /// Their title (e.g. 副主任医师).
    pub title: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub judged_at: OffsetDateTime,
    /// Why.
    pub reason: String,
    /// What followed (counselling, termination, continued with consent, …).
    pub followed_by: Option<String>,
    /// Who recorded it (API key id).
    pub recorded_by: String,
}

macro_rules! domain_events {
    ($($t:ident),*) => { $(impl DomainEvent for $t { const EVENT_TYPE: &'static str = stringify!($t); })* };
}
domain_events!(
    RiskGraded,
    ColourChanged,
    HighRiskCaseOpened,
    DistrictAlertRaised,
    DistrictAlertAcknowledged,
    DistrictAlertOverdue,
    DistrictAlertClosed,
    CaseTransferred,
    NotSuitableRecorded
);
