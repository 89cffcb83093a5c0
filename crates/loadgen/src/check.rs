//! The invariant checker: after any run, reads the whole log (raw rows, in batches) and the
//! read models, and lists every broken promise with the case it concerns.
//!
//! What it checks (each a [`Rule`]):
//! - the hash chain verifies from position 1 to the head (`audit::verify`'s walk);
//! - every card the client saw accepted is in the log; every `RiskCardSubmitted` has exactly
//!   one `RiskAssessed`, and warning graded every assessment (`RiskGraded`);
//! - every alert the policy requires exists, exactly once: the checker replays each case's
//!   assessments in the order warning graded them (its `RiskGraded` events) through
//!   `Policy::alert_due_for` and derives the alert ids warning must have used; any other
//!   assessment or copy alert, or two alerts for one (case, district, kind, assessment), is a
//!   duplicate; an escalation alert exists at most once per overdue alert;
//! - deadlines: an alert whose deadline has passed (by more than the grace) has an
//!   acknowledgement, an overdue event (never before its deadline, never twice) or was
//!   closed; an open alert whose deadline is still ahead has an armed deadline row;
//! - read models: every alert has its `alert` document, with the status the log says;
//! - follow-up: every high-risk case has `FollowUpOpened` and a monthly phone call for the
//!   month she became high-risk and the next (UTC+8), each month's call scheduled once;
//! - green channel: every critical assessment opened a referral; a referral not accepted by
//!   its acceptance deadline (plus the grace) was escalated or re-notified.
//!
//! The pure core ([`Checker`]) is fed raw rows and read-model facts, so tests can plant
//! violations without a database; [`check_store`] does the IO. What it does not: change
//! anything, or print personal data (violations carry case ids only).

use contracts::derive_event_id;
use eventstore::common::ChainCheck;
use eventstore::{EventStore, RawRow, Store};
use scoring::{Grade, Policy};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};
use uuid::Uuid;

/// Which promise a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The hash chain does not verify.
    ChainBroken,
    /// A card the client saw accepted is not in the log.
    CardLost,
    /// A card has no assessment.
    CardNotAssessed,
    /// A card has more than one assessment.
    CardAssessedTwice,
    /// An assessment was never graded by warning.
    AssessmentNotGraded,
    /// A required alert is missing.
    AlertMissing,
    /// An alert exists more than once (or was not required).
    AlertDuplicated,
    /// An alert past its deadline has neither acknowledgement nor overdue event.
    AlertDeadlineForgotten,
    /// An overdue event before the deadline, or twice.
    AlertOverdueWrong,
    /// An open alert with its deadline ahead has no armed deadline row.
    DeadlineNotArmed,
    /// A read model disagrees with the log.
    ReadModelStale,
    /// A high-risk case lacks its follow-up plan or a month's call.
    FollowUpMissing,
    /// A month's call was scheduled twice.
    FollowUpDuplicated,
    /// A critical card opened no referral.
    ReferralNotOpened,
    /// A referral past its acceptance deadline was neither accepted nor escalated.
    ReferralNotEscalated,
}

/// One broken promise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Which.
    pub rule: Rule,
    /// The case, when the promise concerns one.
    pub case_id: Option<String>,
    /// What exactly (ids and times; never personal data).
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rule = serde_json::to_value(self.rule)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        write!(
            f,
            "{rule} case={} {}",
            self.case_id.as_deref().unwrap_or("-"),
            self.detail
        )
    }
}

/// Counts of what was checked, and the violations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Events read.
    pub events: i64,
    /// Cards (`RiskCardSubmitted`).
    pub cards: usize,
    /// Assessments.
    pub assessments: usize,
    /// Alerts of every kind.
    pub alerts: usize,
    /// Acknowledged alerts.
    pub acknowledged: usize,
    /// Alerts that went overdue.
    pub overdue: usize,
    /// High-risk cases with a follow-up plan.
    pub followup_cases: usize,
    /// Green-channel referrals.
    pub referrals: usize,
    /// Every violation found.
    pub violations: Vec<Violation>,
}

/// How to judge time-dependent promises.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// "Now" for deadlines (the service clock's now).
    pub now: OffsetDateTime,
    /// Slack for the deadline scheduler and consumers (a deadline passed by less is not judged).
    pub grace: Duration,
    /// Event ids of the cards the client saw accepted (`None`: not checked).
    pub accepted_cards: Option<Vec<Uuid>>,
}

#[derive(Clone)]
struct RaFact {
    case: String,
    card_event_id: Uuid,
    grade: Grade,
    assessed_at: OffsetDateTime,
    home: String,
    institution_district: String,
    critical: bool,
}

#[derive(Clone)]
struct AlertFact {
    case: String,
    district: String,
    kind: String,
    due_at: Option<OffsetDateTime>,
    assessed_at: String,
    related: Option<Uuid>,
}

/// Facts read from the read models and the deadline table.
#[derive(Debug, Clone, Default)]
pub struct ReadModels {
    /// `alert` documents: alert id → status word (`open`, `acknowledged`, `closed`).
    pub alert_status: HashMap<Uuid, String>,
    /// Deadline rows of open alerts: deadline id → status (`armed`, `fired`, `cancelled`).
    pub deadlines: HashMap<Uuid, String>,
}

/// The pure core: feed it every raw row in position order, then [`Checker::finish`].
pub struct Checker {
    policy: Policy,
    chain: ChainCheck,
    events: i64,
    cards: HashMap<Uuid, String>,
    assessed: HashMap<Uuid, Vec<Uuid>>,
    ras: HashMap<Uuid, RaFact>,
    graded: BTreeMap<String, Vec<Uuid>>,
    graded_set: HashSet<Uuid>,
    alerts: BTreeMap<Uuid, AlertFact>,
    acks: HashSet<Uuid>,
    closed: HashSet<Uuid>,
    overdue: HashMap<Uuid, Vec<OffsetDateTime>>,
    followup_opened: HashMap<String, OffsetDateTime>,
    high_risk: BTreeMap<String, OffsetDateTime>,
    ended: HashSet<String>,
    scheduled: HashMap<(String, String, String), HashSet<Uuid>>,
    referrals: HashMap<Uuid, (String, OffsetDateTime)>,
    referral_cases: HashSet<String>,
    accepted_referrals: HashSet<Uuid>,
    undecodable: Vec<Violation>,
}

fn time_of(v: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v.as_str()?, &Rfc3339).ok()
}

fn uuid_of(v: &Value) -> Option<Uuid> {
    Uuid::parse_str(v.as_str()?).ok()
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn colour_of(v: &Value) -> Option<contracts::Colour> {
    contracts::Colour::parse(v.as_str()?).ok()
}

fn month_utc8(t: OffsetDateTime) -> (i32, u8) {
    let l = t.to_offset(UtcOffset::from_hms(8, 0, 0).expect("valid offset"));
    (l.year(), u8::from(l.month()))
}

fn month_key((y, m): (i32, u8)) -> String {
    format!("{y:04}-{m:02}")
}

fn next_month((y, m): (i32, u8)) -> (i32, u8) {
    if m == 12 {
        (y + 1, 1)
    } else {
        (y, m + 1)
    }
}

impl Checker {
    /// A checker judging alerts by `policy` (the region's, as the service ran it).
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            chain: ChainCheck::default(),
            events: 0,
            cards: HashMap::new(),
            assessed: HashMap::new(),
            ras: HashMap::new(),
            graded: BTreeMap::new(),
            graded_set: HashSet::new(),
            alerts: BTreeMap::new(),
            acks: HashSet::new(),
            closed: HashSet::new(),
            overdue: HashMap::new(),
            followup_opened: HashMap::new(),
            high_risk: BTreeMap::new(),
            ended: HashSet::new(),
            scheduled: HashMap::new(),
            referrals: HashMap::new(),
            referral_cases: HashSet::new(),
            accepted_referrals: HashSet::new(),
            undecodable: Vec::new(),
        }
    }

    /// Feeds the next row (position order).
    pub fn feed(&mut self, row: &RawRow) {
        self.chain.feed(row);
        self.events += 1;
        let case = row.case_id.clone().unwrap_or_default();
        let p: Value = match serde_json::from_str(&row.payload) {
            Ok(p) => p,
            Err(_) => {
                self.undecodable.push(Violation {
                    rule: Rule::ChainBroken,
                    case_id: row.case_id.clone(),
                    detail: format!("position {}: payload is not JSON", row.position),
                });
                return;
            }
        };
        match row.event_type.as_str() {
            "RiskCardSubmitted" => {
                self.cards.insert(row.event_id, case);
            }
            "RiskAssessed" => {
                let a = &p["assessment"];
                let (Some(card), Some(colour), Some(at)) = (
                    uuid_of(&p["card_event_id"]),
                    colour_of(&a["colour"]),
                    time_of(&p["assessed_at"]),
                ) else {
                    self.undecodable.push(Violation {
                        rule: Rule::CardNotAssessed,
                        case_id: row.case_id.clone(),
                        detail: format!("RiskAssessed at {} is not readable", row.position),
                    });
                    return;
                };
                self.assessed.entry(card).or_default().push(row.event_id);
                self.ras.insert(
                    row.event_id,
                    RaFact {
                        case,
                        card_event_id: card,
                        grade: Grade {
                            colour,
                            infectious: a["infectious"].as_bool().unwrap_or(false),
                            score: a["score"].as_u64().unwrap_or(0) as u32,
                            high_risk: a["high_risk"].as_bool().unwrap_or(false),
                        },
                        assessed_at: at,
                        home: str_of(&p["residence_district"]),
                        institution_district: str_of(&p["institution_district"]),
                        critical: p["critical"].as_bool().unwrap_or(false),
                    },
                );
            }
            "RiskGraded" => {
                if let Some(ra) = uuid_of(&p["assessment_event_id"]) {
                    if self.graded_set.insert(ra) {
                        self.graded.entry(case).or_default().push(ra);
                    }
                }
            }
            "DistrictAlertRaised" => {
                if let Some(id) = uuid_of(&p["alert_id"]) {
                    self.alerts.insert(
                        id,
                        AlertFact {
                            case,
                            district: str_of(&p["district"]),
                            kind: str_of(&p["kind"]),
                            due_at: time_of(&p["due_at"]),
                            assessed_at: str_of(&p["assessed_at"]),
                            related: uuid_of(&p["related_alert"]),
                        },
                    );
                }
            }
            "DistrictAlertAcknowledged" => {
                if let Some(id) = uuid_of(&p["alert_id"]) {
                    self.acks.insert(id);
                }
            }
            "DistrictAlertClosed" => {
                if let Some(id) = uuid_of(&p["alert_id"]) {
                    self.closed.insert(id);
                }
            }
            "DistrictAlertOverdue" => {
                if let Some(id) = uuid_of(&p["alert_id"]) {
                    let at = contracts_micros(row.occurred_us);
                    self.overdue.entry(id).or_default().push(at);
                }
            }
            "HighRiskCaseOpened" => {
                if let Some(at) = time_of(&p["assessed_at"]) {
                    self.high_risk.entry(case).or_insert(at);
                }
            }
            "FollowUpOpened" => {
                if let Some(at) = time_of(&p["high_risk_since"]) {
                    self.followup_opened.entry(case).or_insert(at);
                }
            }
            "FollowUpScheduled" => {
                if let Some(id) = uuid_of(&p["item_id"]) {
                    self.scheduled
                        .entry((case, str_of(&p["kind"]), str_of(&p["month"])))
                        .or_default()
                        .insert(id);
                }
            }
            "PregnancyOutcomeReported" | "PregnancyEndedNoted" => {
                self.ended.insert(case);
            }
            "GreenChannelOpened" | "ReferralEscalated" | "ReferralRenotified" => {
                if let Some(id) = uuid_of(&p["referral_id"]) {
                    if let Some(due) = time_of(&p["acceptance_due_at"]) {
                        let e = self.referrals.entry(id).or_insert((case.clone(), due));
                        e.1 = e.1.max(due);
                    }
                    self.referral_cases.insert(case);
                }
            }
            "ReferralAccepted" => {
                if let Some(id) = uuid_of(&p["referral_id"]) {
                    self.accepted_referrals.insert(id);
                }
            }
            _ => {}
        }
    }

    /// Open alerts whose deadline is still ahead at `now`: their deadline ids (the read
    /// models should hold an armed row for each).
    pub fn open_alert_deadlines(&self, now: OffsetDateTime) -> Vec<Uuid> {
        self.alerts
            .iter()
            .filter(|(id, a)| {
                a.due_at.is_some_and(|d| d > now)
                    && !self.acks.contains(id)
                    && !self.closed.contains(id)
                    && !self.overdue.contains_key(id)
            })
            .map(|(id, _)| warning::core::deadline_id(*id))
            .collect()
    }

    /// Every alert id seen.
    pub fn alert_ids(&self) -> Vec<Uuid> {
        self.alerts.keys().copied().collect()
    }

    /// Judges everything fed so far.
    pub fn finish(self, head: (i64, Vec<u8>), models: &ReadModels, opts: &CheckOptions) -> Report {
        let mut v: Vec<Violation> = self.undecodable.clone();
        let mut add = |rule, case: Option<&str>, detail: String| {
            v.push(Violation {
                rule,
                case_id: case.map(str::to_owned),
                detail,
            })
        };
        let chain = self.chain.finish(head.0, &head.1);
        if let Some((pos, why)) = &chain.first_bad {
            add(Rule::ChainBroken, None, format!("position {pos}: {why}"));
        }

        // Cards and assessments.
        if let Some(accepted) = &opts.accepted_cards {
            for id in accepted {
                if !self.cards.contains_key(id) {
                    add(Rule::CardLost, None, format!("card event {id}"));
                }
            }
        }
        for (card, case) in &self.cards {
            match self.assessed.get(card).map_or(0, Vec::len) {
                0 => add(
                    Rule::CardNotAssessed,
                    Some(case),
                    format!("card event {card}"),
                ),
                1 => {}
                n => add(
                    Rule::CardAssessedTwice,
                    Some(case),
                    format!("card event {card}: {n} assessments"),
                ),
            }
        }
        for (id, ra) in &self.ras {
            if !self.graded_set.contains(id) {
                add(
                    Rule::AssessmentNotGraded,
                    Some(&ra.case),
                    format!("assessment {id}"),
                );
            }
            if !self.cards.contains_key(&ra.card_event_id) {
                add(
                    Rule::CardNotAssessed,
                    Some(&ra.case),
                    format!("assessment {id} of an unknown card {}", ra.card_event_id),
                );
            }
        }

        // Required alerts, by replaying each case in warning's order.
        let mut required: HashSet<Uuid> = HashSet::new();
        for (case, order) in &self.graded {
            let mut current: Option<(Grade, OffsetDateTime)> = None;
            let mut district: Option<String> = None;
            for cause in order {
                let Some(ra) = self.ras.get(cause) else {
                    continue;
                };
                if current.is_some_and(|(_, at)| ra.assessed_at < at) {
                    continue;
                }
                let previous = current.map(|(g, _)| g);
                let was_high = previous.is_some_and(|g| g.high_risk);
                let mut need = Vec::new();
                if district.as_ref().is_some_and(|d| *d != ra.home)
                    && (was_high || ra.grade.high_risk)
                {
                    need.push(derive_event_id(
                        *cause,
                        &format!("alert/{}/transfer-in", ra.home),
                    ));
                }
                if self.policy.alert_due_for(previous, ra.grade).is_some() {
                    need.push(derive_event_id(*cause, &format!("alert/{}", ra.home)));
                    if ra.institution_district != ra.home {
                        need.push(derive_event_id(
                            *cause,
                            &format!("alert/{}/copy", ra.institution_district),
                        ));
                    }
                }
                for id in need {
                    if !self.alerts.contains_key(&id) {
                        add(
                            Rule::AlertMissing,
                            Some(case),
                            format!("alert {id} for assessment {cause}"),
                        );
                    }
                    required.insert(id);
                }
                current = Some((ra.grade, ra.assessed_at));
                district = Some(ra.home.clone());
            }
        }
        let mut seen: HashMap<(String, String, String, String), Uuid> = HashMap::new();
        let mut escalations: HashMap<Uuid, Uuid> = HashMap::new();
        for (id, a) in &self.alerts {
            if a.kind == "escalation" {
                if let Some(r) = a.related {
                    if let Some(other) = escalations.insert(r, *id) {
                        add(
                            Rule::AlertDuplicated,
                            Some(&a.case),
                            format!("escalations {other} and {id} of alert {r}"),
                        );
                    }
                }
                continue;
            }
            if !required.contains(id) {
                add(
                    Rule::AlertDuplicated,
                    Some(&a.case),
                    format!("{} alert {id} for {} was not required", a.kind, a.district),
                );
            }
            let key = (
                a.case.clone(),
                a.district.clone(),
                a.kind.clone(),
                a.assessed_at.clone(),
            );
            if let Some(other) = seen.insert(key, *id) {
                add(
                    Rule::AlertDuplicated,
                    Some(&a.case),
                    format!("alerts {other} and {id}: same district, kind and assessment"),
                );
            }
        }

        // Deadlines and read models.
        let judge_before = opts.now - opts.grace;
        let mut acknowledged = 0;
        for (id, a) in &self.alerts {
            let acked = self.acks.contains(id);
            let closed = self.closed.contains(id);
            acknowledged += usize::from(acked);
            let overdue = self.overdue.get(id).map_or(&[][..], Vec::as_slice);
            if let Some(due) = a.due_at {
                if due < judge_before && !acked && !closed && overdue.is_empty() {
                    add(
                        Rule::AlertDeadlineForgotten,
                        Some(&a.case),
                        format!("alert {id} due {due} has no acknowledgement and no overdue"),
                    );
                }
                if overdue.len() > 1 {
                    add(
                        Rule::AlertOverdueWrong,
                        Some(&a.case),
                        format!("alert {id} went overdue {} times", overdue.len()),
                    );
                }
                if let Some(at) = overdue.iter().find(|at| **at < due) {
                    add(
                        Rule::AlertOverdueWrong,
                        Some(&a.case),
                        format!("alert {id} overdue at {at}, before its deadline {due}"),
                    );
                }
                if due > opts.now && !acked && !closed && overdue.is_empty() {
                    let d = warning::core::deadline_id(*id);
                    if models.deadlines.get(&d).map(String::as_str) != Some("armed") {
                        add(
                            Rule::DeadlineNotArmed,
                            Some(&a.case),
                            format!("alert {id}: deadline {d} is not armed"),
                        );
                    }
                }
            } else if !overdue.is_empty() {
                add(
                    Rule::AlertOverdueWrong,
                    Some(&a.case),
                    format!("alert {id} has no deadline but went overdue"),
                );
            }
            let want = if closed {
                "closed"
            } else if acked {
                "acknowledged"
            } else {
                "open"
            };
            match models.alert_status.get(id) {
                None => add(
                    Rule::ReadModelStale,
                    Some(&a.case),
                    format!("alert {id} has no document"),
                ),
                Some(s) if s != want => add(
                    Rule::ReadModelStale,
                    Some(&a.case),
                    format!("alert {id}: document says {s}, the log says {want}"),
                ),
                Some(_) => {}
            }
        }

        // Follow-up.
        for (case, since) in &self.high_risk {
            let Some(opened) = self.followup_opened.get(case) else {
                add(
                    Rule::FollowUpMissing,
                    Some(case),
                    format!("high-risk since {since} but no follow-up plan"),
                );
                continue;
            };
            if self.ended.contains(case) {
                continue;
            }
            let first = month_utc8(*opened);
            for m in [first, next_month(first)] {
                let key = (case.clone(), "phone_call".to_owned(), month_key(m));
                if !self.scheduled.contains_key(&key) {
                    add(
                        Rule::FollowUpMissing,
                        Some(case),
                        format!("no phone call scheduled for {}", month_key(m)),
                    );
                }
            }
        }
        for ((case, kind, month), ids) in &self.scheduled {
            if ids.len() > 1 {
                add(
                    Rule::FollowUpDuplicated,
                    Some(case),
                    format!("{kind} {month} scheduled {} times", ids.len()),
                );
            }
        }

        // Green channel.
        for ra in self.ras.values() {
            if ra.critical && !self.referral_cases.contains(&ra.case) {
                add(
                    Rule::ReferralNotOpened,
                    Some(&ra.case),
                    "a critical card opened no green channel".into(),
                );
            }
        }
        for (id, (case, due)) in &self.referrals {
            if !self.accepted_referrals.contains(id) && *due < judge_before {
                add(
                    Rule::ReferralNotEscalated,
                    Some(case),
                    format!("referral {id}: acceptance due {due}, neither accepted nor escalated"),
                );
            }
        }

        v.sort_by(|a, b| (a.rule, &a.case_id).cmp(&(b.rule, &b.case_id)));
        Report {
            events: self.events,
            cards: self.cards.len(),
            assessments: self.ras.len(),
            alerts: self.alerts.len(),
            acknowledged,
            overdue: self.overdue.len(),
            followup_cases: self.followup_opened.len(),
            referrals: self.referrals.len(),
            violations: v,
        }
    }
}

fn contracts_micros(us: i64) -> OffsetDateTime {
    eventstore::common::from_micros(us).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Reads the whole log and the read models of `store` and checks every invariant.
pub async fn check_store(
    store: &Store,
    policy: &Policy,
    opts: &CheckOptions,
) -> anyhow::Result<Report> {
    let head = store.head().await?;
    let mut checker = Checker::new(policy.clone());
    let mut after = 0;
    loop {
        let rows = store.read_raw(after, 5_000).await?;
        let Some(last) = rows.last() else { break };
        after = last.position;
        for r in rows.iter().filter(|r| r.position <= head.0) {
            checker.feed(r);
        }
        if after >= head.0 {
            break;
        }
    }
    let mut models = ReadModels::default();
    for d in store.documents("alert", None, u32::MAX).await? {
        if let Ok(id) = Uuid::parse_str(&d.key) {
            models.alert_status.insert(id, str_of(&d.body["status"]));
        }
    }
    for id in checker.open_alert_deadlines(opts.now) {
        if let Some(row) = store.deadline(id).await? {
            models.deadlines.insert(id, row.status);
        }
    }
    Ok(checker.finish(head, &models, opts))
}

#[cfg(test)]
mod tests;
