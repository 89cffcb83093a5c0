//! Per-case facts: what the quality indicators and the review lists need of one case, folded
//! from the case's events alone (pure, no IO). The component stores them as documents, one
//! per district the case touches, so an indicator query reads only its district's documents
//! and never the log.
//!
//! Attribution is by the district each fact names: an assessment to her residence district
//! on that card, an alert to the office it was addressed to, a follow-up month to the
//! district responsible for it (after any reassignment), a referral to her residence district.

use contracts::{Envelope, OutcomeKind, PregnancyOutcomeReported, RiskCardSubmitted};
use escalation::events::{
    GreenChannelOpened, NearMissRecorded, PatientArrived, PatientDeparted, ReferralAccepted,
    ReferralEscalated,
};
use followup::events::{
    FollowUpAttempted, FollowUpClosed, FollowUpReassigned, FollowUpScheduled, ItemKind,
    LostToFollowUp,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::OffsetDateTime;
use uuid::Uuid;
use warning::events::{
    CaseTransferred, DistrictAlertAcknowledged, DistrictAlertClosed, DistrictAlertRaised,
    RiskGraded,
};

use crate::events::CaseReviewed;

/// One assessment (from warning's `RiskGraded`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssessmentFact {
    /// When she was assessed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Her residence district on that card.
    pub district: String,
    /// Colour (`green` … `red`).
    pub colour: String,
    /// Purple carried alongside.
    pub infectious: bool,
    /// High-risk (专案) under the policy.
    pub high_risk: bool,
}

/// One district alert that had a deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertFact {
    /// The alert.
    pub alert_id: Uuid,
    /// The office it was addressed to.
    pub district: String,
    /// `assessment`, `transfer_in`, `copy`, `escalation`.
    pub kind: String,
    /// Acknowledge by then.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    /// The card arrived after the deadline.
    pub reported_late: bool,
    /// When acknowledged.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub acknowledged_at: Option<OffsetDateTime>,
    /// Acknowledged after its deadline.
    pub acknowledged_late: bool,
    /// Closed without acknowledgement (she moved away).
    pub closed: bool,
}

/// One month of phone follow-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthFact {
    /// The month's phone-call item.
    pub item_id: Uuid,
    /// `YYYY-MM` (UTC+8).
    pub month: String,
    /// The district responsible (after reassignment).
    pub district: String,
    /// At least one attempt reached her (reached, pregnancy ended, declined).
    pub contacted: bool,
    /// Closed without being done (the pregnancy ended).
    pub closed: bool,
}

/// Lost to follow-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostFact {
    /// The district responsible.
    pub district: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// One green-channel referral's step times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralFact {
    /// The referral.
    pub referral_id: Uuid,
    /// Her residence district.
    pub district: String,
    /// Opened.
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    /// Accepted.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub accepted_at: Option<OffsetDateTime>,
    /// Left the sender.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub departed_at: Option<OffsetDateTime>,
    /// Reached the centre.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub arrived_at: Option<OffsetDateTime>,
    /// Escalations (timeouts and hand-ons).
    pub escalations: u32,
}

/// How the pregnancy ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeFact {
    /// `delivery`, `miscarriage`, `termination`, `maternal_death`.
    pub kind: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// In a hospital.
    pub in_hospital: bool,
    /// Her residence district then.
    pub district: Option<String>,
    /// The reporting institution.
    pub institution: String,
}

/// A reviewer's conclusion, as the lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewFact {
    /// The conclusion.
    pub review_id: Uuid,
    /// `facility` or `district`.
    pub level: String,
    /// `avoidable`, `avoidable_with_conditions`, `unavoidable`.
    pub avoidability: String,
    /// Delays found.
    pub delays: Vec<u8>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Everything the indicators and review lists need of one case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFacts {
    /// The case.
    pub case_id: String,
    /// The last log position folded in.
    pub as_of: i64,
    /// Her residence district now.
    pub residence: Option<String>,
    /// Institutions that reported a card or outcome.
    pub reporters: BTreeSet<String>,
    /// Institutions that sent her, were asked to accept her or received her.
    pub referral_institutions: BTreeSet<String>,
    /// Grading history.
    pub assessments: Vec<AssessmentFact>,
    /// Alerts.
    pub alerts: Vec<AlertFact>,
    /// Phone follow-up months.
    pub months: Vec<MonthFact>,
    /// Any follow-up contact, any item.
    pub contacted: bool,
    /// Lost to follow-up.
    pub lost: Vec<LostFact>,
    /// Referrals.
    pub referrals: Vec<ReferralFact>,
    /// The outcome.
    pub outcome: Option<OutcomeFact>,
    /// The first near miss recorded.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub near_miss_at: Option<OffsetDateTime>,
    /// The institution that recorded it.
    pub near_miss_centre: Option<String>,
    /// Conclusions.
    pub reviews: Vec<ReviewFact>,
}

fn snake<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl CaseFacts {
    /// Folds a case's events (in log order). Events that do not decode are skipped (the
    /// timeline still shows them).
    pub fn fold(case_id: &str, events: &[Envelope]) -> Self {
        let mut f = Self::new(case_id);
        for e in events {
            f.apply(e);
        }
        f.finish()
    }

    /// No event folded yet: [`CaseFacts::apply`] each event in log order, then
    /// [`CaseFacts::finish`] (what [`CaseFacts::fold`] does, for a caller that meets the
    /// events one at a time, such as a replay).
    pub fn new(case_id: &str) -> Self {
        Self {
            case_id: case_id.to_owned(),
            ..Self::default()
        }
    }

    /// The facts once every event is folded: an outcome without a district is her residence's.
    pub fn finish(mut self) -> Self {
        if let Some(o) = self.outcome.as_mut() {
            if o.district.is_none() {
                o.district.clone_from(&self.residence);
            }
        }
        self
    }

    fn referral(&mut self, id: Uuid) -> Option<&mut ReferralFact> {
        self.referrals.iter_mut().find(|r| r.referral_id == id)
    }

    /// Folds one event of the case (see [`CaseFacts::new`]).
    pub fn apply(&mut self, e: &Envelope) {
        self.as_of = self.as_of.max(e.position);
        match e.event_type.as_str() {
            "RiskCardSubmitted" => {
                if let Ok(c) = e.decode::<RiskCardSubmitted>() {
                    self.reporters.insert(c.institution.to_string());
                    self.residence = Some(c.woman.residence_district.to_string());
                }
            }
            "RiskGraded" => {
                if let Ok(g) = e.decode::<RiskGraded>() {
                    self.residence = Some(g.residence_district.to_string());
                    self.reporters.insert(g.institution.to_string());
                    self.assessments.push(AssessmentFact {
                        at: g.assessed_at,
                        district: g.residence_district.to_string(),
                        colour: g.grade.colour.as_str().to_owned(),
                        infectious: g.grade.infectious,
                        high_risk: g.grade.high_risk,
                    });
                }
            }
            "CaseTransferred" => {
                if let Ok(t) = e.decode::<CaseTransferred>() {
                    self.residence = Some(t.to.to_string());
                }
            }
            "DistrictAlertRaised" => {
                if let Ok(a) = e.decode::<DistrictAlertRaised>() {
                    self.alerts.push(AlertFact {
                        alert_id: a.alert_id,
                        district: a.district.to_string(),
                        kind: snake(&a.kind),
                        due_at: a.due_at,
                        reported_late: a.reported_late,
                        acknowledged_at: None,
                        acknowledged_late: false,
                        closed: false,
                    });
                }
            }
            "DistrictAlertAcknowledged" => {
                if let Ok(a) = e.decode::<DistrictAlertAcknowledged>() {
                    if let Some(x) = self.alerts.iter_mut().find(|x| x.alert_id == a.alert_id) {
                        if x.acknowledged_at.is_none() {
                            x.acknowledged_at = Some(a.at);
                            x.acknowledged_late = a.late;
                        }
                    }
                }
            }
            "DistrictAlertClosed" => {
                if let Ok(a) = e.decode::<DistrictAlertClosed>() {
                    if let Some(x) = self.alerts.iter_mut().find(|x| x.alert_id == a.alert_id) {
                        x.closed = true;
                    }
                }
            }
            "FollowUpScheduled" => {
                if let Ok(s) = e.decode::<FollowUpScheduled>() {
                    if s.kind == ItemKind::PhoneCall
                        && !self.months.iter().any(|m| m.item_id == s.item_id)
                    {
                        if let Some(month) = s.month {
                            self.months.push(MonthFact {
                                item_id: s.item_id,
                                month,
                                district: s.district.to_string(),
                                contacted: false,
                                closed: false,
                            });
                        }
                    }
                }
            }
            "FollowUpAttempted" => {
                if let Ok(a) = e.decode::<FollowUpAttempted>() {
                    if a.outcome.is_contact() {
                        self.contacted = true;
                        if let Some(m) = self.months.iter_mut().find(|m| m.item_id == a.item_id) {
                            m.contacted = true;
                        }
                    }
                }
            }
            "FollowUpReassigned" => {
                if let Ok(r) = e.decode::<FollowUpReassigned>() {
                    if let Some(m) = self.months.iter_mut().find(|m| m.item_id == r.item_id) {
                        m.district = r.to.to_string();
                    }
                }
            }
            "FollowUpClosed" => {
                if let Ok(c) = e.decode::<FollowUpClosed>() {
                    if let Some(m) = self.months.iter_mut().find(|m| m.item_id == c.item_id) {
                        m.closed = true;
                    }
                }
            }
            "LostToFollowUp" => {
                if let Ok(l) = e.decode::<LostToFollowUp>() {
                    self.lost.push(LostFact {
                        district: l.district.to_string(),
                        at: l.at,
                    });
                }
            }
            "GreenChannelOpened" => {
                if let Ok(o) = e.decode::<GreenChannelOpened>() {
                    self.referral_institutions
                        .insert(o.sending_institution.to_string());
                    self.referral_institutions.insert(o.target.to_string());
                    if self.referral(o.referral_id).is_none() {
                        self.referrals.push(ReferralFact {
                            referral_id: o.referral_id,
                            district: o.residence_district.to_string(),
                            opened_at: o.opened_at,
                            accepted_at: None,
                            departed_at: None,
                            arrived_at: None,
                            escalations: 0,
                        });
                    }
                }
            }
            "ReferralEscalated" => {
                if let Ok(x) = e.decode::<ReferralEscalated>() {
                    self.referral_institutions.insert(x.to_centre.to_string());
                    if let Some(r) = self.referral(x.referral_id) {
                        r.escalations += 1;
                    }
                }
            }
            "ReferralAccepted" => {
                if let Ok(a) = e.decode::<ReferralAccepted>() {
                    self.referral_institutions.insert(a.centre.to_string());
                    if let Some(r) = self.referral(a.referral_id) {
                        r.accepted_at.get_or_insert(a.at);
                    }
                }
            }
            "PatientDeparted" => {
                if let Ok(d) = e.decode::<PatientDeparted>() {
                    if let Some(r) = self.referral(d.referral_id) {
                        r.departed_at.get_or_insert(d.departed_at);
                    }
                }
            }
            "PatientArrived" => {
                if let Ok(a) = e.decode::<PatientArrived>() {
                    if let Some(r) = self.referral(a.referral_id) {
                        r.arrived_at.get_or_insert(a.arrived_at);
                    }
                }
            }
            "NearMissRecorded" => {
                if let Ok(n) = e.decode::<NearMissRecorded>() {
                    if self.near_miss_at.is_none() {
                        self.near_miss_at = Some(n.at);
                        self.near_miss_centre = Some(n.centre.to_string());
                    }
                    self.referral_institutions.insert(n.centre.to_string());
                }
            }
            "PregnancyOutcomeReported" => {
                if let Ok(o) = e.decode::<PregnancyOutcomeReported>() {
                    self.reporters.insert(o.institution.to_string());
                    self.outcome = Some(OutcomeFact {
                        kind: snake(&o.outcome),
                        at: o.occurred_at,
                        in_hospital: o.in_hospital,
                        district: self.residence.clone(),
                        institution: o.institution.to_string(),
                    });
                }
            }
            "CaseReviewed" => {
                if let Ok(r) = e.decode::<CaseReviewed>() {
                    if !self.reviews.iter().any(|x| x.review_id == r.review_id) {
                        self.reviews.push(ReviewFact {
                            review_id: r.review_id,
                            level: snake(&r.level),
                            avoidability: r.avoidability.as_str().to_owned(),
                            delays: r.delays,
                            at: r.reviewed_at,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    /// Every district the case's facts name (each gets a copy of the facts document).
    pub fn districts(&self) -> BTreeSet<String> {
        let mut d: BTreeSet<String> = self.residence.iter().cloned().collect();
        d.extend(self.assessments.iter().map(|a| a.district.clone()));
        d.extend(self.alerts.iter().map(|a| a.district.clone()));
        d.extend(self.months.iter().map(|m| m.district.clone()));
        d.extend(self.lost.iter().map(|l| l.district.clone()));
        d.extend(self.referrals.iter().map(|r| r.district.clone()));
        d.extend(self.outcome.iter().filter_map(|o| o.district.clone()));
        d
    }

    /// `<district>:<statistical year>` for every fact (the scopes of the facts documents).
    pub fn district_years(&self, policy: &crate::ReviewPolicy) -> BTreeSet<String> {
        let offset = policy.offset();
        let year = |t: OffsetDateTime| policy.statistical_year_of(t.to_offset(offset).date());
        let mut s = BTreeSet::new();
        let mut add = |d: &str, t: OffsetDateTime| {
            s.insert(format!("{d}:{}", year(t)));
        };
        for a in &self.assessments {
            add(&a.district, a.at);
        }
        for a in &self.alerts {
            if let Some(t) = a.due_at {
                add(&a.district, t);
            }
        }
        for m in &self.months {
            if let Some(start) = crate::policy::month_start(&m.month) {
                add(&m.district, start.midnight().assume_offset(offset));
            }
        }
        for l in &self.lost {
            add(&l.district, l.at);
        }
        for r in &self.referrals {
            add(&r.district, r.opened_at);
        }
        if let Some(o) = &self.outcome {
            if let Some(d) = &o.district {
                add(d, o.at);
            }
        }
        s
    }

    /// Every institution involved: reporters, senders, centres.
    pub fn institutions(&self) -> BTreeSet<String> {
        self.reporters
            .union(&self.referral_institutions)
            .cloned()
            .collect()
    }

    /// Why and since when the case is due for critical-case review (near miss, maternal
    /// death), under the policy.
    pub fn review_trigger(
        &self,
        policy: &crate::ReviewPolicy,
    ) -> Option<(&'static str, OffsetDateTime)> {
        let death = self
            .outcome
            .as_ref()
            .filter(|o| o.kind == snake(&OutcomeKind::MaternalDeath))
            .map(|o| o.at);
        match (
            policy.review_maternal_death.then_some(death).flatten(),
            policy
                .review_near_miss
                .then_some(self.near_miss_at)
                .flatten(),
        ) {
            (Some(d), _) => Some(("maternal_death", d)),
            (None, Some(n)) => Some(("near_miss", n)),
            (None, None) => None,
        }
    }
}
