//! The critical-case review pack: a case's grading history, alerts with their times,
//! follow-up contacts, referral and feedback forms, near-miss criteria, outcome, conclusions
//! and the intervals reviewers use to classify the three delays, plus the log positions it
//! covers and their chain hashes (see [`crate::verify`]) so a printed pack can be checked
//! against the log later. Folded from the case's events alone: pure, no IO.
//!
//! The woman's identity (name, document number, phone, address, relative) is left out: a
//! review pack is de-identified. Staff identifiers (doctors, escorts) stay: reviewers need to
//! know who acted where.

use crate::facts::CaseFacts;
use crate::timeline::{rfc3339, timeline, TimelineEntry};
use crate::verify::Coverage;
use contracts::{Envelope, PregnancyOutcomeReported};
use escalation::events::{
    GreenChannelOpened, NearMissRecorded, PatientArrived, PatientDeparted, ReferralAccepted,
    ReferralEscalated, ReferralFeedbackFiled,
};
use escalation::NearMissCatalogue;
use followup::events::{FollowUpAttempted, FollowUpScheduled};
use serde::Serialize;
use serde_json::{json, Value};
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;
use warning::events::{
    DistrictAlertAcknowledged, DistrictAlertClosed, DistrictAlertOverdue, DistrictAlertRaised,
    RiskGraded,
};

use crate::events::CaseReviewed;

/// One grading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grading {
    /// Log position.
    pub position: i64,
    /// Assessed.
    pub assessed_at: String,
    /// The card reached the service.
    pub received_at: String,
    /// Reporting institution.
    pub institution: String,
    /// Colour.
    pub colour: String,
    /// Purple alongside.
    pub infectious: bool,
    /// Score.
    pub score: u32,
    /// High-risk.
    pub high_risk: bool,
    /// Catalogue set.
    pub catalogue: String,
    /// Policy.
    pub policy: String,
}

/// One alert with its times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertTimes {
    /// Alert.
    pub alert_id: Uuid,
    /// Addressed to.
    pub district: String,
    /// Kind.
    pub kind: String,
    /// Assessed.
    pub assessed_at: String,
    /// Card received.
    pub received_at: String,
    /// Raised (recorded in the log).
    pub raised_at: String,
    /// Deadline.
    pub due_at: Option<String>,
    /// Born late.
    pub reported_late: bool,
    /// Acknowledged.
    pub acknowledged_at: Option<String>,
    /// By.
    pub acknowledged_by: Option<String>,
    /// Acknowledged late.
    pub acknowledged_late: bool,
    /// Overdue (fired).
    pub overdue: bool,
    /// Escalated to.
    pub escalated_to: Option<String>,
    /// Closed unacknowledged.
    pub closed: bool,
}

/// One follow-up contact attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    /// Item.
    pub item_id: Uuid,
    /// Kind (`phone_call`, …).
    pub kind: String,
    /// Month.
    pub month: Option<String>,
    /// Attempt number.
    pub attempt: u32,
    /// Outcome.
    pub outcome: String,
    /// When.
    pub at: String,
    /// By (staff id).
    pub by: String,
}

/// One referral, its forms and steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferralPack {
    /// Referral.
    pub referral_id: Uuid,
    /// Opened by a hospital or a critical card.
    pub opened_by: String,
    /// Sender.
    pub sending_institution: String,
    /// Opened.
    pub opened_at: String,
    /// The referral form (转诊卡) without her identity.
    pub form: Value,
    /// The ladder.
    pub ladder: Vec<String>,
    /// Escalations, in order.
    pub escalations: Vec<Value>,
    /// Acceptance.
    pub accepted: Option<Value>,
    /// Departure.
    pub departed: Option<Value>,
    /// Arrival.
    pub arrived: Option<Value>,
    /// Feedback form (反馈单).
    pub feedback: Option<Value>,
}

/// The near-miss criteria met.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearMiss {
    /// Recorded by.
    pub centre: String,
    /// Catalogue.
    pub catalogue: String,
    /// When.
    pub at: String,
    /// Criteria: code, zh, en.
    pub criteria: Vec<Value>,
}

/// One computed interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interval {
    /// Stable key (`assessment_to_report`, `report_to_acknowledgement`, `opened_to_accepted`,
    /// `accepted_to_departed`, `departed_to_arrived`, `opened_to_arrived`, `escalation`).
    pub key: String,
    /// The alert or referral it belongs to.
    pub of: Uuid,
    /// Chinese label.
    pub zh: String,
    /// English label.
    pub en: String,
    /// From.
    pub from: String,
    /// To.
    pub to: String,
    /// Whole minutes.
    pub minutes: i64,
}

/// The review pack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewPack {
    /// The case.
    pub case_id: String,
    /// When rendered.
    pub generated_at: String,
    /// What log it covers and how to check it.
    pub coverage: Coverage,
    /// Her residence district.
    pub residence_district: Option<String>,
    /// Institutions that reported cards or the outcome.
    pub reporting_institutions: Vec<String>,
    /// Grading history.
    pub grading_history: Vec<Grading>,
    /// Alerts.
    pub alerts: Vec<AlertTimes>,
    /// Follow-up contacts.
    pub follow_up: Vec<Contact>,
    /// Referrals.
    pub referrals: Vec<ReferralPack>,
    /// Near misses.
    pub near_miss: Vec<NearMiss>,
    /// The outcome.
    pub outcome: Option<Value>,
    /// The intervals.
    pub intervals: Vec<Interval>,
    /// Conclusions.
    pub conclusions: Vec<CaseReviewed>,
    /// Every event.
    pub timeline: Vec<TimelineEntry>,
}

fn v<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn s<T: Serialize>(t: &T) -> String {
    v(t).as_str().map(str::to_owned).unwrap_or_default()
}

/// Folds the pack. `coverage` comes from [`crate::verify::coverage`] over the same events.
pub fn build(
    case_id: &str,
    events: &[Envelope],
    coverage: Coverage,
    near_miss: Option<&NearMissCatalogue>,
    offset: UtcOffset,
    generated_at: OffsetDateTime,
) -> ReviewPack {
    let t = |x: OffsetDateTime| rfc3339(x, offset);
    let facts = CaseFacts::fold(case_id, events);
    let mut p = ReviewPack {
        case_id: case_id.to_owned(),
        generated_at: t(generated_at),
        coverage,
        residence_district: facts.residence.clone(),
        reporting_institutions: facts.reporters.iter().cloned().collect(),
        grading_history: Vec::new(),
        alerts: Vec::new(),
        follow_up: Vec::new(),
        referrals: Vec::new(),
        near_miss: Vec::new(),
        outcome: None,
        intervals: Vec::new(),
        conclusions: Vec::new(),
        timeline: timeline(events, offset),
    };
    let mut items: Vec<FollowUpScheduled> = Vec::new();
    // Raw times for intervals.
    let mut alert_times: Vec<(Uuid, OffsetDateTime, OffsetDateTime, Option<OffsetDateTime>)> =
        Vec::new();
    let mut referral_times: Vec<ReferralClock> = Vec::new();
    for e in events {
        match e.event_type.as_str() {
            "RiskGraded" => {
                if let Ok(g) = e.decode::<RiskGraded>() {
                    p.grading_history.push(Grading {
                        position: e.position,
                        assessed_at: t(g.assessed_at),
                        received_at: t(g.received_at),
                        institution: g.institution.to_string(),
                        colour: g.grade.colour.as_str().to_owned(),
                        infectious: g.grade.infectious,
                        score: g.grade.score,
                        high_risk: g.grade.high_risk,
                        catalogue: g.catalogue,
                        policy: g.policy,
                    });
                }
            }
            "DistrictAlertRaised" => {
                if let Ok(a) = e.decode::<DistrictAlertRaised>() {
                    p.alerts.push(AlertTimes {
                        alert_id: a.alert_id,
                        district: a.district.to_string(),
                        kind: s(&a.kind),
                        assessed_at: t(a.assessed_at),
                        received_at: t(a.received_at),
                        raised_at: t(e.recorded_at),
                        due_at: a.due_at.map(t),
                        reported_late: a.reported_late,
                        acknowledged_at: None,
                        acknowledged_by: None,
                        acknowledged_late: false,
                        overdue: false,
                        escalated_to: None,
                        closed: false,
                    });
                    if a.due_at.is_some() {
                        alert_times.push((a.alert_id, a.assessed_at, a.received_at, None));
                    }
                }
            }
            "DistrictAlertAcknowledged" => {
                if let Ok(a) = e.decode::<DistrictAlertAcknowledged>() {
                    if let Some(x) = p.alerts.iter_mut().find(|x| x.alert_id == a.alert_id) {
                        x.acknowledged_at = Some(t(a.at));
                        x.acknowledged_by = Some(a.by.clone());
                        x.acknowledged_late = a.late;
                    }
                    if let Some(x) = alert_times.iter_mut().find(|x| x.0 == a.alert_id) {
                        x.3.get_or_insert(a.at);
                    }
                }
            }
            "DistrictAlertOverdue" => {
                if let Ok(a) = e.decode::<DistrictAlertOverdue>() {
                    if let Some(x) = p.alerts.iter_mut().find(|x| x.alert_id == a.alert_id) {
                        x.overdue = true;
                        x.escalated_to = a.escalate_to.map(|d| d.to_string());
                    }
                }
            }
            "DistrictAlertClosed" => {
                if let Ok(a) = e.decode::<DistrictAlertClosed>() {
                    if let Some(x) = p.alerts.iter_mut().find(|x| x.alert_id == a.alert_id) {
                        x.closed = true;
                    }
                }
            }
            "FollowUpScheduled" => {
                if let Ok(i) = e.decode::<FollowUpScheduled>() {
                    items.push(i);
                }
            }
            "FollowUpAttempted" => {
                if let Ok(a) = e.decode::<FollowUpAttempted>() {
                    let item = items.iter().find(|i| i.item_id == a.item_id);
                    p.follow_up.push(Contact {
                        item_id: a.item_id,
                        kind: item.map(|i| i.kind.as_str().to_owned()).unwrap_or_default(),
                        month: item.and_then(|i| i.month.clone()),
                        attempt: a.attempt,
                        outcome: a.outcome.as_str().to_owned(),
                        at: t(a.at),
                        by: a.by,
                    });
                }
            }
            "GreenChannelOpened" => {
                if let Ok(o) = e.decode::<GreenChannelOpened>() {
                    let mut form = v(&o.form);
                    if let Some(m) = form.as_object_mut() {
                        m.remove("identity");
                    }
                    p.referrals.push(ReferralPack {
                        referral_id: o.referral_id,
                        opened_by: s(&o.opened_by),
                        sending_institution: o.sending_institution.to_string(),
                        opened_at: t(o.opened_at),
                        form,
                        ladder: o.ladder.iter().map(ToString::to_string).collect(),
                        escalations: Vec::new(),
                        accepted: None,
                        departed: None,
                        arrived: None,
                        feedback: None,
                    });
                    referral_times.push(ReferralClock {
                        id: o.referral_id,
                        opened: o.opened_at,
                        asked_since: o.opened_at,
                        escalations: Vec::new(),
                        accepted: None,
                        departed: None,
                        arrived: None,
                    });
                }
            }
            "ReferralEscalated" => {
                if let Ok(x) = e.decode::<ReferralEscalated>() {
                    if let Some(r) = p
                        .referrals
                        .iter_mut()
                        .find(|r| r.referral_id == x.referral_id)
                    {
                        r.escalations.push(json!({
                            "from_rung": x.from_rung, "from_centre": x.from_centre, "to_rung": x.to_rung,
                            "to_centre": x.to_centre, "reason": x.reason, "at": t(x.at),
                            "acceptance_due_at": t(x.acceptance_due_at), "notified_offices": x.notified_offices,
                        }));
                    }
                    if let Some(c) = referral_times.iter_mut().find(|c| c.id == x.referral_id) {
                        c.escalations.push((
                            c.asked_since,
                            x.at,
                            x.from_centre.to_string(),
                            x.to_centre.to_string(),
                        ));
                        c.asked_since = x.at;
                    }
                }
            }
            "ReferralAccepted" => {
                if let Ok(a) = e.decode::<ReferralAccepted>() {
                    if let Some(r) = p
                        .referrals
                        .iter_mut()
                        .find(|r| r.referral_id == a.referral_id)
                    {
                        r.accepted = Some(json!({
                            "centre": a.centre, "rung": a.rung, "receiving_doctor": a.receiving_doctor,
                            "at": t(a.at), "minutes_from_opening": a.minutes_from_opening,
                        }));
                    }
                    if let Some(c) = referral_times.iter_mut().find(|c| c.id == a.referral_id) {
                        c.accepted.get_or_insert(a.at);
                    }
                }
            }
            "PatientDeparted" => {
                if let Ok(d) = e.decode::<PatientDeparted>() {
                    if let Some(r) = p
                        .referrals
                        .iter_mut()
                        .find(|r| r.referral_id == d.referral_id)
                    {
                        r.departed = Some(json!({
                            "at": t(d.departed_at), "escort": d.escort, "transport": d.transport,
                            "treatment_en_route": d.treatment_en_route,
                        }));
                    }
                    if let Some(c) = referral_times.iter_mut().find(|c| c.id == d.referral_id) {
                        c.departed.get_or_insert(d.departed_at);
                    }
                }
            }
            "PatientArrived" => {
                if let Ok(a) = e.decode::<PatientArrived>() {
                    if let Some(r) = p
                        .referrals
                        .iter_mut()
                        .find(|r| r.referral_id == a.referral_id)
                    {
                        r.arrived = Some(json!({
                            "centre": a.centre, "at": t(a.arrived_at), "escort": a.escort, "received_by": a.received_by,
                        }));
                    }
                    if let Some(c) = referral_times.iter_mut().find(|c| c.id == a.referral_id) {
                        c.arrived.get_or_insert(a.arrived_at);
                    }
                }
            }
            "ReferralFeedbackFiled" => {
                if let Ok(f) = e.decode::<ReferralFeedbackFiled>() {
                    if let Some(r) = p
                        .referrals
                        .iter_mut()
                        .find(|r| r.referral_id == f.referral_id)
                    {
                        let mut body = v(&f);
                        body["filed_at"] = json!(t(f.filed_at));
                        r.feedback = Some(body);
                    }
                }
            }
            "NearMissRecorded" => {
                if let Ok(n) = e.decode::<NearMissRecorded>() {
                    let criteria = n
                        .criteria
                        .iter()
                        .map(|code| {
                            let c = near_miss.and_then(|cat| cat.criteria.iter().find(|c| &c.code == code));
                            json!({ "code": code, "zh": c.map(|c| c.zh.clone()), "en": c.map(|c| c.en.clone()) })
                        })
                        .collect();
                    p.near_miss.push(NearMiss {
                        centre: n.centre.to_string(),
                        catalogue: n.catalogue,
                        at: t(n.at),
                        criteria,
                    });
                }
            }
            "PregnancyOutcomeReported" => {
                if let Ok(o) = e.decode::<PregnancyOutcomeReported>() {
                    p.outcome = Some(json!({
                        "outcome": o.outcome, "occurred_at": t(o.occurred_at), "in_hospital": o.in_hospital,
                        "institution": o.institution, "discharged_at": o.discharged_at.map(t),
                    }));
                }
            }
            "CaseReviewed" => {
                if let Ok(r) = e.decode::<CaseReviewed>() {
                    p.conclusions.push(r);
                }
            }
            _ => {}
        }
    }
    let mut iv = |key: &str, of: Uuid, zh: &str, en: &str, a: OffsetDateTime, b: OffsetDateTime| {
        p.intervals.push(Interval {
            key: key.to_owned(),
            of,
            zh: zh.to_owned(),
            en: en.to_owned(),
            from: t(a),
            to: t(b),
            minutes: (b - a).whole_minutes(),
        });
    };
    for (id, assessed, received, acked) in alert_times {
        iv(
            "assessment_to_report",
            id,
            "评估 → 上报",
            "assessment → report",
            assessed,
            received,
        );
        if let Some(ack) = acked {
            iv(
                "report_to_acknowledgement",
                id,
                "上报 → 签收",
                "report → acknowledgement",
                received,
                ack,
            );
        }
    }
    for c in referral_times {
        for (from, at, a, b) in &c.escalations {
            iv(
                "escalation",
                c.id,
                &format!("逐级上转 {a} → {b}"),
                &format!("escalation {a} → {b}"),
                *from,
                *at,
            );
        }
        if let Some(acc) = c.accepted {
            iv(
                "opened_to_accepted",
                c.id,
                "绿色通道开通 → 接收",
                "green channel opened → accepted",
                c.opened,
                acc,
            );
            if let Some(dep) = c.departed {
                iv(
                    "accepted_to_departed",
                    c.id,
                    "接收 → 离院",
                    "accepted → departure",
                    acc,
                    dep,
                );
            }
        }
        if let (Some(dep), Some(arr)) = (c.departed, c.arrived) {
            iv(
                "departed_to_arrived",
                c.id,
                "离院 → 到达",
                "departure → arrival",
                dep,
                arr,
            );
        }
        if let Some(arr) = c.arrived {
            iv(
                "opened_to_arrived",
                c.id,
                "绿色通道开通 → 到达",
                "green channel opened → arrival",
                c.opened,
                arr,
            );
        }
    }
    p
}

struct ReferralClock {
    id: Uuid,
    opened: OffsetDateTime,
    asked_since: OffsetDateTime,
    escalations: Vec<(OffsetDateTime, OffsetDateTime, String, String)>,
    accepted: Option<OffsetDateTime>,
    departed: Option<OffsetDateTime>,
    arrived: Option<OffsetDateTime>,
}
