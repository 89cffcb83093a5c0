//! The pure core: a case's warning state folded from its own events, and the decisions that
//! turn an assessment, an acknowledgement, an overdue deadline or a judgement into new events
//! and deadline changes. No IO, no clock (times come in as arguments), no NATS, no SQL.

use crate::events::*;
use contracts::{derive_event_id, CaseId, DistrictCode, DomainEvent, Envelope, EnvelopeError};
use scoring::{AlertTrigger, Grade, Policy, RiskAssessed};
use serde::Serialize;
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Where an alert stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AlertStatus {
    /// Waiting for acknowledgement.
    Open,
    /// Acknowledged.
    Acknowledged {
        /// Who.
        by: String,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Closed without acknowledgement (she moved).
    Closed {
        /// Why.
        reason: String,
    },
}

/// An alert and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// As raised.
    pub raised: DistrictAlertRaised,
    /// Its status.
    pub status: AlertStatus,
    /// The deadline passed unacknowledged.
    pub overdue: bool,
}

/// A case's warning state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseState {
    /// The stream's version (None: no events yet).
    pub version: Option<i64>,
    /// Her residence district, as of the latest assessment.
    pub district: Option<DistrictCode>,
    /// The current grade and when it was assessed.
    pub current: Option<(Grade, OffsetDateTime)>,
    /// Every assessment seen.
    pub history: Vec<RiskGraded>,
    /// When she first became high-risk.
    pub high_risk_since: Option<OffsetDateTime>,
    /// Alerts by id.
    pub alerts: BTreeMap<Uuid, Alert>,
    /// Transfers.
    pub transfers: Vec<CaseTransferred>,
    /// Not-suitable judgements.
    pub not_suitable: Vec<NotSuitableRecorded>,
}

impl CaseState {
    /// Folds the case's `warning-<case>` events.
    pub fn from_events(events: &[Envelope]) -> Result<Self, EnvelopeError> {
        let mut s = Self::default();
        for e in events {
            s.evolve(e)?;
        }
        Ok(s)
    }

    /// Applies one event.
    pub fn evolve(&mut self, e: &Envelope) -> Result<(), EnvelopeError> {
        self.version = Some(e.version);
        match e.event_type.as_str() {
            RiskGraded::EVENT_TYPE => {
                let g: RiskGraded = e.decode()?;
                if self.current.is_none_or(|(_, at)| g.assessed_at >= at) {
                    self.current = Some((g.grade, g.assessed_at));
                    self.district = Some(g.residence_district.clone());
                }
                self.history.push(g);
            }
            HighRiskCaseOpened::EVENT_TYPE => {
                let h: HighRiskCaseOpened = e.decode()?;
                self.high_risk_since.get_or_insert(h.assessed_at);
            }
            DistrictAlertRaised::EVENT_TYPE => {
                let a: DistrictAlertRaised = e.decode()?;
                self.alerts.insert(
                    a.alert_id,
                    Alert {
                        raised: a,
                        status: AlertStatus::Open,
                        overdue: false,
                    },
                );
            }
            DistrictAlertAcknowledged::EVENT_TYPE => {
                let a: DistrictAlertAcknowledged = e.decode()?;
                if let Some(alert) = self.alerts.get_mut(&a.alert_id) {
                    alert.status = AlertStatus::Acknowledged { by: a.by, at: a.at };
                }
            }
            DistrictAlertOverdue::EVENT_TYPE => {
                let a: DistrictAlertOverdue = e.decode()?;
                if let Some(alert) = self.alerts.get_mut(&a.alert_id) {
                    alert.overdue = true;
                }
            }
            DistrictAlertClosed::EVENT_TYPE => {
                let a: DistrictAlertClosed = e.decode()?;
                if let Some(alert) = self.alerts.get_mut(&a.alert_id) {
                    alert.status = AlertStatus::Closed { reason: a.reason };
                }
            }
            CaseTransferred::EVENT_TYPE => {
                let t: CaseTransferred = e.decode()?;
                self.district = Some(t.to.clone());
                self.transfers.push(t);
            }
            NotSuitableRecorded::EVENT_TYPE => self.not_suitable.push(e.decode()?),
            _ => {}
        }
        Ok(())
    }

    /// Whether the case has been high-risk.
    pub fn is_high_risk(&self) -> bool {
        self.high_risk_since.is_some()
    }
}

/// An event the core decided on, with its derived id.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    /// Its id.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: &'static str,
    /// Its payload.
    pub payload: serde_json::Value,
    /// When it happened.
    pub occurred_at: OffsetDateTime,
    /// The district it concerns (routes the subject).
    pub district: DistrictCode,
}

/// An overdue deadline to arm: fires `event` at `due_at` unless cancelled.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmDeadline {
    /// The deadline's id.
    pub deadline_id: Uuid,
    /// When.
    pub due_at: OffsetDateTime,
    /// The event it fires.
    pub event: Decided,
}

/// What to commit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// New events, in order.
    pub events: Vec<Decided>,
    /// Deadlines to arm.
    pub arm: Vec<ArmDeadline>,
    /// Deadlines to cancel.
    pub cancel: Vec<Uuid>,
    /// Rewrite the case's documents even without new events (the scheduler appended an
    /// event the read models have not seen).
    pub refresh: bool,
}

impl Decision {
    fn push<E: DomainEvent>(
        &mut self,
        id: Uuid,
        event: &E,
        at: OffsetDateTime,
        district: &DistrictCode,
    ) {
        self.events.push(decided(id, event, at, district));
    }

    /// The types of the decided events, for tests.
    pub fn types(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.event_type).collect()
    }
}

fn decided<E: DomainEvent>(
    id: Uuid,
    event: &E,
    at: OffsetDateTime,
    district: &DistrictCode,
) -> Decided {
    Decided {
        event_id: id,
        event_type: E::EVENT_TYPE,
        payload: serde_json::to_value(event).expect("warning events serialise"),
        occurred_at: at,
        district: district.clone(),
    }
}

/// The deadline id of an alert.
pub fn deadline_id(alert_id: Uuid) -> Uuid {
    derive_event_id(alert_id, "ack-deadline")
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No such alert (or not visible to the caller).
    #[error("no such alert")]
    NotFound,
    /// The alert belongs to another office.
    #[error("this alert is addressed to another office")]
    Forbidden,
    /// The alert was closed (she moved away).
    #[error("this alert was closed: {0}")]
    Closed(String),
    /// The case has no assessment here yet (it is on its way): retry later.
    #[error("the case has not been graded yet")]
    NotYetGraded,
}

/// The hours a transfer-in alert gives the new district: the policy's deadline for
/// becoming high-risk, else its shortest deadline, else 48.
fn transfer_hours(policy: &Policy) -> u32 {
    policy
        .alerts
        .iter()
        .find(|a| a.trigger == AlertTrigger::BecameHighRisk)
        .or_else(|| policy.alerts.iter().min_by_key(|a| a.deadline_hours))
        .map_or(48, |a| a.deadline_hours)
}

#[allow(clippy::too_many_arguments)]
fn raise(
    d: &mut Decision,
    id: Uuid,
    ra: &RiskAssessed,
    district: &DistrictCode,
    kind: AlertKind,
    triggers: Vec<AlertTrigger>,
    deadline_hours: Option<u32>,
    related: Option<Uuid>,
) {
    let grade = Grade::from(&ra.assessment);
    let (due_at, late) = match deadline_hours {
        Some(h) => {
            let due = ra.assessed_at + Duration::hours(i64::from(h));
            (Some(due), ra.received_at > due)
        }
        None => (None, false),
    };
    let alert = DistrictAlertRaised {
        alert_id: id,
        case_id: ra.case_id.clone(),
        district: district.clone(),
        kind,
        triggers,
        grade,
        assessed_at: ra.assessed_at,
        received_at: ra.received_at,
        due_at,
        reported_late: late,
        institution: ra.institution.clone(),
        residence_district: ra.residence_district.clone(),
        related_alert: related,
    };
    d.push(id, &alert, ra.received_at.max(ra.assessed_at), district);
    if let (Some(due), Some(h)) = (due_at, deadline_hours) {
        arm_overdue(d, id, &ra.case_id, district, due, ra.received_at, h);
    }
}

/// Arms an alert's acknowledgement deadline. A report that arrives after `due` still gives
/// the office its full window (`hours`) from arrival; the alert stays marked
/// `reported_late` for the indicator.
fn arm_overdue(
    d: &mut Decision,
    id: Uuid,
    case: &CaseId,
    district: &DistrictCode,
    due: OffsetDateTime,
    received_at: OffsetDateTime,
    hours: u32,
) {
    let fire_at = if received_at > due {
        received_at + Duration::hours(i64::from(hours))
    } else {
        due
    };
    let overdue = DistrictAlertOverdue {
        alert_id: id,
        case_id: case.clone(),
        district: district.clone(),
        due_at: fire_at,
        escalate_to: district.parent(),
    };
    d.arm.push(ArmDeadline {
        deadline_id: deadline_id(id),
        due_at: fire_at,
        event: decided(derive_event_id(id, "overdue"), &overdue, fire_at, district),
    });
}

/// An assessment arrived (`cause` is the `RiskAssessed` event's id).
pub fn on_assessed(state: &CaseState, ra: &RiskAssessed, cause: Uuid, policy: &Policy) -> Decision {
    let mut d = Decision::default();
    if state.history.iter().any(|h| h.assessment_event_id == cause) {
        return d; // handled before
    }
    let grade = Grade::from(&ra.assessment);
    let at = ra.assessed_at;
    let home = &ra.residence_district;
    let graded = RiskGraded {
        case_id: ra.case_id.clone(),
        assessment_event_id: cause,
        grade,
        assessed_at: at,
        received_at: ra.received_at,
        institution: ra.institution.clone(),
        institution_district: ra.institution_district.clone(),
        residence_district: home.clone(),
        catalogue: ra.assessment.catalogues.set.label(),
        policy: ra.assessment.policy.label(),
    };
    d.push(derive_event_id(cause, "RiskGraded"), &graded, at, home);
    // An older assessment arriving after a newer one joins the history and changes nothing.
    if state.current.is_some_and(|(_, current_at)| at < current_at) {
        return d;
    }
    let previous = state.current.map(|(g, _)| g);
    let was_high_risk = state.is_high_risk();

    // She moved: close the old district's open items, tell the new one.
    if let Some(old) = state.district.as_ref().filter(|old| *old != home) {
        let t = CaseTransferred {
            case_id: ra.case_id.clone(),
            from: old.clone(),
            to: home.clone(),
            at,
            reason: "new card with another residence".into(),
        };
        d.push(derive_event_id(cause, "CaseTransferred"), &t, at, old);
        for alert in state.alerts.values() {
            if alert.raised.district == *old
                && alert.status == AlertStatus::Open
                && alert.raised.kind != AlertKind::Copy
            {
                let c = DistrictAlertClosed {
                    alert_id: alert.raised.alert_id,
                    case_id: ra.case_id.clone(),
                    district: old.clone(),
                    reason: "transferred".into(),
                };
                d.push(
                    derive_event_id(alert.raised.alert_id, "closed"),
                    &c,
                    at,
                    old,
                );
                d.cancel.push(deadline_id(alert.raised.alert_id));
            }
        }
        if was_high_risk || grade.high_risk {
            let id = derive_event_id(cause, &format!("alert/{home}/transfer-in"));
            raise(
                &mut d,
                id,
                ra,
                home,
                AlertKind::TransferIn,
                vec![],
                Some(transfer_hours(policy)),
                None,
            );
        }
    }

    if previous.is_none_or(|p| (p.colour, p.infectious) != (grade.colour, grade.infectious)) {
        let c = ColourChanged {
            case_id: ra.case_id.clone(),
            from: previous,
            to: grade,
            assessed_at: at,
        };
        d.push(derive_event_id(cause, "ColourChanged"), &c, at, home);
    }
    if grade.high_risk && !was_high_risk {
        let h = HighRiskCaseOpened {
            case_id: ra.case_id.clone(),
            residence_district: home.clone(),
            grade,
            assessed_at: at,
            institution: ra.institution.clone(),
        };
        d.push(derive_event_id(cause, "HighRiskCaseOpened"), &h, at, home);
    }
    if let Some(due) = policy.alert_due_for(previous, grade) {
        let id = derive_event_id(cause, &format!("alert/{home}"));
        raise(
            &mut d,
            id,
            ra,
            home,
            AlertKind::Assessment,
            due.triggers.clone(),
            Some(due.deadline_hours),
            None,
        );
        if ra.institution_district != *home {
            let copy = derive_event_id(cause, &format!("alert/{}/copy", ra.institution_district));
            raise(
                &mut d,
                copy,
                ra,
                &ra.institution_district,
                AlertKind::Copy,
                due.triggers,
                None,
                Some(id),
            );
        }
    }
    d
}

/// An event (not an assessment) that the residence district must acknowledge: a maternal
/// death (the death report) or a woman lost to follow-up.
#[derive(Debug, Clone, PartialEq)]
pub struct EventAlert {
    /// What it is.
    pub kind: AlertKind,
    /// The policy trigger whose deadline applies.
    pub trigger: AlertTrigger,
    /// When it happened (the deadline counts from here).
    pub at: OffsetDateTime,
    /// When the service learnt of it.
    pub received_at: OffsetDateTime,
    /// The district it concerns, when the event names one (else her residence district).
    pub district: Option<DistrictCode>,
    /// The institution that reported it, when known (else the one that last assessed her).
    pub institution: Option<contracts::InstitutionCode>,
}

/// An event alert (`cause`: the event's id) for her residence district, once per cause, with
/// the policy's deadline for its trigger (no rule: no alert). Her current grade goes with it;
/// a case the warning component has not graded yet is [`Rejection::NotYetGraded`] (the
/// assessment is on its way: retry).
pub fn on_event_alert(
    state: &CaseState,
    case: &CaseId,
    alert: &EventAlert,
    cause: Uuid,
    policy: &Policy,
) -> Result<Decision, Rejection> {
    let mut d = Decision::default();
    let Some(hours) = policy.event_alert_hours(alert.trigger) else {
        return Ok(d);
    };
    let (Some((grade, assessed_at)), Some(latest)) = (state.current, state.history.last()) else {
        return Err(Rejection::NotYetGraded);
    };
    let id = derive_event_id(cause, "alert/event");
    if state.alerts.contains_key(&id) {
        return Ok(d);
    }
    let residence = state
        .district
        .clone()
        .unwrap_or_else(|| latest.residence_district.clone());
    let district = alert.district.clone().unwrap_or_else(|| residence.clone());
    let due = alert.at + Duration::hours(i64::from(hours));
    let late = alert.received_at > due;
    let raised = DistrictAlertRaised {
        alert_id: id,
        case_id: case.clone(),
        district: district.clone(),
        kind: alert.kind,
        triggers: vec![alert.trigger],
        grade,
        assessed_at,
        received_at: alert.received_at,
        due_at: Some(due),
        reported_late: late,
        institution: alert
            .institution
            .clone()
            .unwrap_or_else(|| latest.institution.clone()),
        residence_district: residence,
        related_alert: None,
    };
    d.push(id, &raised, alert.received_at.max(alert.at), &district);
    arm_overdue(&mut d, id, case, &district, due, alert.received_at, hours);
    Ok(d)
}

/// An office acknowledges an alert. `office` is the caller's district (or city) code.
pub fn on_acknowledge(
    state: &CaseState,
    alert_id: Uuid,
    office: &DistrictCode,
    by: &str,
    now: OffsetDateTime,
) -> Result<Decision, Rejection> {
    let alert = state.alerts.get(&alert_id).ok_or(Rejection::NotFound)?;
    if alert.raised.district != *office {
        return Err(Rejection::Forbidden);
    }
    let mut d = Decision::default();
    match &alert.status {
        AlertStatus::Acknowledged { .. } => return Ok(d), // twice is harmless
        AlertStatus::Closed { reason } => return Err(Rejection::Closed(reason.clone())),
        AlertStatus::Open => {}
    }
    let ack = DistrictAlertAcknowledged {
        alert_id,
        case_id: alert.raised.case_id.clone(),
        district: office.clone(),
        by: by.to_owned(),
        at: now,
        late: alert.raised.due_at.is_some_and(|due| now > due),
    };
    d.push(derive_event_id(alert_id, "acknowledged"), &ack, now, office);
    d.cancel.push(deadline_id(alert_id));
    Ok(d)
}

/// The scheduler fired an alert's deadline (`cause` is the `DistrictAlertOverdue` event):
/// the next office up gets an escalation alert, once.
pub fn on_overdue(state: &CaseState, overdue: &DistrictAlertOverdue, cause: Uuid) -> Decision {
    let mut d = Decision {
        refresh: true,
        ..Decision::default()
    };
    let (Some(alert), Some(parent)) = (
        state.alerts.get(&overdue.alert_id),
        overdue.escalate_to.as_ref(),
    ) else {
        return d;
    };
    let id = derive_event_id(cause, "escalation");
    if state.alerts.contains_key(&id) {
        return d;
    }
    let r = &alert.raised;
    let escalation = DistrictAlertRaised {
        alert_id: id,
        kind: AlertKind::Escalation,
        district: parent.clone(),
        due_at: None,
        related_alert: Some(r.alert_id),
        ..r.clone()
    };
    d.push(id, &escalation, overdue.due_at, parent);
    d
}

/// A judgement that the pregnancy should not continue; `request_id` makes it idempotent.
pub fn on_not_suitable(
    state: &CaseState,
    request_id: Uuid,
    mut record: NotSuitableRecorded,
) -> Decision {
    let mut d = Decision::default();
    if let Some(district) = state.district.clone() {
        record.district = district;
    }
    let district = record.district.clone();
    let at = record.judged_at;
    d.push(
        derive_event_id(request_id, "NotSuitableRecorded"),
        &record,
        at,
        &district,
    );
    d
}

/// The case id of a decided event's payload (all warning events carry one).
pub fn case_of(d: &Decided) -> Option<CaseId> {
    d.payload
        .get("case_id")
        .and_then(|c| c.as_str())
        .and_then(|c| CaseId::parse(c).ok())
}
