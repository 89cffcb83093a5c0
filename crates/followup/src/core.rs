//! The pure core: a case's follow-up state folded from its own `followup-<case>` events, the
//! plan (which items and deadlines the state calls for) and the decisions that turn an input
//! event, a fired deadline or an attempt into new events. No IO, no clock (times come in as
//! arguments), no NATS, no SQL.
//!
//! Every decision ends with [`reconcile`]: it compares the state with the plan and schedules
//! what is missing, judges ended months, and re-arms the deadlines the plan needs (arming is
//! idempotent in the store, so arming again never fires twice). Item ids are derived from the
//! case and the item's place in the plan (`phone/2026-01`, `face-to-face`, …): an item can
//! exist once, whatever order or how often the inputs arrive.

use crate::events::*;
use contracts::{derive_event_id, CaseId, DistrictCode, DomainEvent, Envelope, EnvelopeError};
use contracts::{OutcomeKind, PregnancyOutcomeReported, RiskCardSubmitted};
use scoring::FollowUp;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use time::{Date, Duration, Month, OffsetDateTime, UtcOffset};
use uuid::Uuid;
use warning::events::{CaseTransferred, HighRiskCaseOpened};

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    /// Year.
    pub year: i32,
    /// Month.
    pub month: Month,
}

impl YearMonth {
    /// The month of a date.
    pub fn of(d: Date) -> Self {
        Self {
            year: d.year(),
            month: d.month(),
        }
    }

    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Option<Self> {
        let (y, m) = s.split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let year: i32 = y.parse().ok()?;
        let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
        Some(Self { year, month })
    }

    /// The next month.
    pub fn next(self) -> Self {
        let month = self.month.next();
        let year = if month == Month::January {
            self.year + 1
        } else {
            self.year
        };
        Self { year, month }
    }

    /// Its first day.
    pub fn first_day(self) -> Date {
        Date::from_calendar_date(self.year, self.month, 1).expect("day 1 exists")
    }

    /// Its last day.
    pub fn last_day(self) -> Date {
        let n = time::util::days_in_month(self.month, self.year);
        Date::from_calendar_date(self.year, self.month, n).expect("the last day exists")
    }

    /// `YYYY-MM`.
    pub fn key(self) -> String {
        format!("{:04}-{:02}", self.year, self.month as u8)
    }
}

impl std::fmt::Display for YearMonth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

/// The calendar offset of the policy (UTC+8 in China).
pub fn calendar_offset(policy: &FollowUp) -> UtcOffset {
    UtcOffset::from_hms(policy.utc_offset_hours, 0, 0).expect("the policy loader checks the offset")
}

/// The calendar date of an instant in the policy's offset.
pub fn local_date(t: OffsetDateTime, policy: &FollowUp) -> Date {
    t.to_offset(calendar_offset(policy)).date()
}

/// The first instant of a calendar day in the policy's offset.
pub fn start_of_day(d: Date, policy: &FollowUp) -> OffsetDateTime {
    d.midnight().assume_offset(calendar_offset(policy))
}

/// The namespace of a case's derived ids.
pub fn case_namespace(case: &CaseId) -> Uuid {
    derive_event_id(Uuid::nil(), &format!("followup/{case}"))
}

/// An item's id from its place in the plan.
pub fn item_id(case: &CaseId, slot: &str) -> Uuid {
    derive_event_id(case_namespace(case), slot)
}

/// The deadline that ends a month of follow-up.
pub fn month_deadline_id(case: &CaseId, month: YearMonth) -> Uuid {
    derive_event_id(case_namespace(case), &format!("month-end/{month}"))
}

/// The deadline that fires when no outcome arrived after the expected delivery date.
pub fn outcome_deadline_id(case: &CaseId, edd: Date) -> Uuid {
    derive_event_id(case_namespace(case), &format!("outcome-unknown/{edd}"))
}

/// One follow-up item and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// As scheduled.
    pub scheduled: FollowUpScheduled,
    /// The district that does it now (moves with open items on a transfer).
    pub district: DistrictCode,
    /// Attempts, in order.
    pub attempts: Vec<FollowUpAttempted>,
    /// Assigned to.
    pub assignee: Option<String>,
    /// Closed without being done, and why.
    pub closed: Option<String>,
    /// Its month ended with no contact.
    pub missed: bool,
}

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    /// To do (perhaps waiting for a retry).
    Open,
    /// Done: she was reached (or seen).
    Done,
    /// No more to do, not done.
    Closed,
}

impl ItemStatus {
    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Done => "done",
            Self::Closed => "closed",
        }
    }
}

impl Item {
    /// She was spoken to (or seen) on this item.
    pub fn contacted(&self) -> bool {
        self.attempts.iter().any(|a| a.outcome.is_contact())
    }

    /// Status and result (`reached`, `declined`, `not_reached`, `unreachable`, `missed`,
    /// `wrong_number`, `cancelled`, or none while nothing was tried).
    pub fn status(&self, policy: &FollowUp) -> (ItemStatus, Option<&'static str>) {
        if let Some(a) = self.attempts.iter().rev().find(|a| a.outcome.is_contact()) {
            return (ItemStatus::Done, Some(a.outcome.as_str()));
        }
        if self.closed.is_some() {
            return (ItemStatus::Closed, Some("cancelled"));
        }
        if self.missed {
            return (ItemStatus::Closed, Some("missed"));
        }
        match self.attempts.last().map(|a| a.outcome) {
            Some(ContactOutcome::WrongNumber) => (ItemStatus::Closed, Some("wrong_number")),
            Some(ContactOutcome::NotReached)
                if self.scheduled.kind == ItemKind::PhoneCall
                    && self.not_reached() >= policy.attempts_per_month =>
            {
                (ItemStatus::Closed, Some("unreachable"))
            }
            Some(o) => (ItemStatus::Open, Some(o.as_str())),
            None => (ItemStatus::Open, None),
        }
    }

    /// Unanswered attempts.
    pub fn not_reached(&self) -> u32 {
        self.attempts
            .iter()
            .filter(|a| a.outcome == ContactOutcome::NotReached)
            .count() as u32
    }

    /// The month of a phone call.
    pub fn month(&self) -> Option<YearMonth> {
        self.scheduled.month.as_deref().and_then(YearMonth::parse)
    }
}

/// A case's follow-up state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseState {
    /// The stream's version (None: no events yet).
    pub version: Option<i64>,
    /// The latest card's details.
    pub details: Option<CaseDetailsNoted>,
    /// Follow-up opened.
    pub opened: Option<FollowUpOpened>,
    /// Transfers, in order of arrival.
    pub transfers: Vec<FollowUpTransferred>,
    /// Items by id.
    pub items: BTreeMap<Uuid, Item>,
    /// Months that ended (fired by the scheduler).
    pub months_ended: BTreeSet<YearMonth>,
    /// Missed months.
    pub missed: BTreeSet<YearMonth>,
    /// Lost-to-follow-up episodes.
    pub lost: Vec<LostToFollowUp>,
    /// The pregnancy ended.
    pub ended: Option<PregnancyEndedNoted>,
    /// Fired "outcome unknown" deadlines.
    pub outcome_overdue: Vec<OutcomeOverdue>,
    /// Input events and requests already handled.
    pub seen: BTreeSet<Uuid>,
}

impl CaseState {
    /// Folds the case's `followup-<case>` events.
    pub fn from_events(events: &[Envelope]) -> Result<Self, EnvelopeError> {
        let mut s = Self::default();
        for e in events {
            s.evolve(e)?;
        }
        Ok(s)
    }

    /// Applies one stored event.
    pub fn evolve(&mut self, e: &Envelope) -> Result<(), EnvelopeError> {
        self.version = Some(e.version);
        self.apply(&e.event_type, &e.payload)
            .map_err(|err| EnvelopeError::Decode {
                event_type: e.event_type.clone(),
                reason: err.to_string(),
            })
    }

    fn apply(&mut self, event_type: &str, payload: &Value) -> Result<(), serde_json::Error> {
        fn de<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, serde_json::Error> {
            T::deserialize(v)
        }
        match event_type {
            CaseDetailsNoted::EVENT_TYPE => {
                let d: CaseDetailsNoted = de(payload)?;
                self.seen.insert(d.card_event_id);
                if self
                    .details
                    .as_ref()
                    .is_none_or(|old| d.assessed_at >= old.assessed_at)
                {
                    self.details = Some(d);
                }
            }
            FollowUpOpened::EVENT_TYPE => {
                let o: FollowUpOpened = de(payload)?;
                self.seen.insert(o.cause);
                self.opened.get_or_insert(o);
            }
            FollowUpTransferred::EVENT_TYPE => {
                let t: FollowUpTransferred = de(payload)?;
                self.seen.insert(t.cause);
                self.transfers.push(t);
            }
            FollowUpScheduled::EVENT_TYPE => {
                let s: FollowUpScheduled = de(payload)?;
                self.items.entry(s.item_id).or_insert(Item {
                    district: s.district.clone(),
                    scheduled: s,
                    attempts: vec![],
                    assignee: None,
                    closed: None,
                    missed: false,
                });
            }
            FollowUpAttempted::EVENT_TYPE => {
                let a: FollowUpAttempted = de(payload)?;
                self.seen.insert(a.request_id);
                if let Some(i) = self.items.get_mut(&a.item_id) {
                    i.attempts.push(a);
                }
            }
            FollowUpAssigned::EVENT_TYPE => {
                let a: FollowUpAssigned = de(payload)?;
                if let Some(i) = self.items.get_mut(&a.item_id) {
                    i.assignee = Some(a.assignee);
                }
            }
            FollowUpReassigned::EVENT_TYPE => {
                let r: FollowUpReassigned = de(payload)?;
                if let Some(i) = self.items.get_mut(&r.item_id) {
                    i.district = r.to;
                }
            }
            FollowUpClosed::EVENT_TYPE => {
                let c: FollowUpClosed = de(payload)?;
                if let Some(i) = self.items.get_mut(&c.item_id) {
                    i.closed = Some(c.reason);
                }
            }
            FollowUpMonthEnded::EVENT_TYPE => {
                let m: FollowUpMonthEnded = de(payload)?;
                if let Some(m) = YearMonth::parse(&m.month) {
                    self.months_ended.insert(m);
                }
            }
            FollowUpMissed::EVENT_TYPE => {
                let m: FollowUpMissed = de(payload)?;
                if let Some(i) = self.items.get_mut(&m.item_id) {
                    i.missed = true;
                }
                if let Some(m) = YearMonth::parse(&m.month) {
                    self.missed.insert(m);
                }
            }
            LostToFollowUp::EVENT_TYPE => self.lost.push(de(payload)?),
            PregnancyEndedNoted::EVENT_TYPE => {
                let p: PregnancyEndedNoted = de(payload)?;
                self.seen.insert(p.cause);
                self.ended.get_or_insert(p);
            }
            OutcomeOverdue::EVENT_TYPE => self.outcome_overdue.push(de(payload)?),
            _ => {}
        }
        Ok(())
    }

    /// The district that follows her up now: the latest of the opening and the transfers.
    pub fn district(&self) -> Option<DistrictCode> {
        let opened = self
            .opened
            .as_ref()
            .map(|o| (o.high_risk_since, o.district.clone()));
        self.transfers
            .iter()
            .map(|t| (t.at, t.to.clone()))
            .chain(opened)
            .max_by_key(|(at, _)| *at)
            .map(|(_, d)| d)
    }

    /// The estimated first day of the last menstrual period: the card's LMP, else EDD − 280
    /// days, else the assessment date minus the gestational age on the card.
    pub fn lmp(&self, policy: &FollowUp) -> Option<Date> {
        let d = self.details.as_ref()?;
        d.lmp
            .or_else(|| d.edd.map(|e| e - Duration::days(280)))
            .or_else(|| {
                let w = i64::from(d.gestational_weeks?);
                let days = i64::from(d.gestational_days.unwrap_or(0));
                Some(local_date(d.assessed_at, policy) - Duration::days(w * 7 + days))
            })
    }

    /// The expected delivery date: the card's, else LMP + 280 days.
    pub fn edd(&self, policy: &FollowUp) -> Option<Date> {
        self.details
            .as_ref()
            .and_then(|d| d.edd)
            .or_else(|| self.lmp(policy).map(|l| l + Duration::days(280)))
    }

    /// Whether she is open and still pregnant.
    pub fn active(&self) -> bool {
        self.opened.is_some() && self.ended.is_none()
    }

    /// The items of one kind.
    pub fn items_of(&self, kind: ItemKind) -> impl Iterator<Item = &Item> {
        self.items
            .values()
            .filter(move |i| i.scheduled.kind == kind)
    }

    /// The phone-call items of a month.
    pub fn calls_in(&self, month: YearMonth) -> Vec<&Item> {
        self.items_of(ItemKind::PhoneCall)
            .filter(|i| i.month() == Some(month))
            .collect()
    }

    /// Her last attempt on any item.
    pub fn last_attempt(&self) -> Option<&FollowUpAttempted> {
        self.items
            .values()
            .flat_map(|i| i.attempts.iter())
            .max_by_key(|a| a.at)
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
    pub payload: Value,
    /// When it happened.
    pub occurred_at: OffsetDateTime,
    /// The district it concerns (routes the subject).
    pub district: Option<DistrictCode>,
}

/// A deadline to arm: fires `event` at `due_at` unless cancelled.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmDeadline {
    /// The deadline's id.
    pub deadline_id: Uuid,
    /// Its kind (`followup-month-end`, `followup-outcome-unknown`).
    pub kind: &'static str,
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
    /// Deadlines to arm (idempotent).
    pub arm: Vec<ArmDeadline>,
    /// Deadlines to cancel.
    pub cancel: Vec<Uuid>,
    /// Rewrite the case's documents even without new events (the scheduler appended an
    /// event the read models have not seen).
    pub refresh: bool,
}

impl Decision {
    /// The types of the decided events, for tests.
    pub fn types(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.event_type).collect()
    }

    /// The decided events of one type, decoded.
    pub fn of<E: DomainEvent>(&self) -> Vec<E> {
        self.events
            .iter()
            .filter(|e| e.event_type == E::EVENT_TYPE)
            .filter_map(|e| serde_json::from_value(e.payload.clone()).ok())
            .collect()
    }

    /// Whether there is anything to write.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.arm.is_empty() && self.cancel.is_empty()
    }
}

/// Builds a decision on a working copy of the state, so later steps see earlier events.
struct Builder {
    state: CaseState,
    d: Decision,
}

impl Builder {
    fn new(state: &CaseState) -> Self {
        Self {
            state: state.clone(),
            d: Decision::default(),
        }
    }

    fn push<E: DomainEvent>(
        &mut self,
        id: Uuid,
        event: &E,
        at: OffsetDateTime,
        district: Option<DistrictCode>,
    ) {
        let e = decided(id, event, at, district);
        self.state
            .apply(e.event_type, &e.payload)
            .expect("own events apply");
        self.d.events.push(e);
    }
}

fn decided<E: DomainEvent>(
    id: Uuid,
    event: &E,
    at: OffsetDateTime,
    district: Option<DistrictCode>,
) -> Decided {
    Decided {
        event_id: id,
        event_type: E::EVENT_TYPE,
        payload: serde_json::to_value(event).expect("follow-up events serialise"),
        occurred_at: at,
        district,
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No such item (or not visible to the caller).
    #[error("no such follow-up item")]
    NotFound,
    /// The item belongs to another district.
    #[error("this item belongs to another district")]
    Forbidden,
    /// The item is done or closed.
    #[error("this item is {0}")]
    NotOpen(&'static str),
    /// An unanswered call may be tried again only after the policy's gap.
    #[error("the next attempt is allowed from {0}")]
    TooEarly(String),
    /// The request is incomplete or contradictory.
    #[error("{0}")]
    Invalid(String),
}

/// The plan's due day for a phone call `k` of `n` in a month: the month split evenly, the
/// last call due on the last day.
fn call_due(month: YearMonth, k: u32, n: u32) -> Date {
    let days = u32::from(time::util::days_in_month(month.month, month.year));
    let day = (days * k).div_ceil(n).clamp(1, days);
    Date::from_calendar_date(month.year, month.month, day as u8).expect("a day of the month")
}

fn schedule(
    b: &mut Builder,
    policy: &FollowUp,
    slot: &str,
    kind: ItemKind,
    month: Option<YearMonth>,
    due_date: Date,
    at: OffsetDateTime,
) {
    let Some(opened) = b.state.opened.as_ref() else {
        return;
    };
    let case = opened.case_id.clone();
    let id = item_id(&case, slot);
    if b.state.items.contains_key(&id) {
        return;
    }
    let Some(district) = b.state.district() else {
        return;
    };
    let s = FollowUpScheduled {
        item_id: id,
        case_id: case,
        kind,
        month: month.map(YearMonth::key),
        due_date,
        due_at: start_of_day(due_date + Duration::days(1), policy),
        district: district.clone(),
    };
    b.push(derive_event_id(id, "scheduled"), &s, at, Some(district));
}

/// Brings the state in line with the plan: schedules missing items, judges ended months,
/// closes what the end of the pregnancy closes, and arms or cancels deadlines.
fn reconcile(b: &mut Builder, policy: &FollowUp, at: OffsetDateTime) {
    let Some(opened) = b.state.opened.clone() else {
        return;
    };
    let case = opened.case_id.clone();
    let start = YearMonth::of(local_date(opened.high_risk_since, policy));

    // Ended months: judge them, oldest first.
    let ended: Vec<YearMonth> = b.state.months_ended.iter().copied().collect();
    for month in ended {
        judge_month(b, policy, &case, month, at);
    }

    if b.state.active() {
        // Phone calls: the current month and the next, advanced as months end.
        let horizon = b
            .state
            .months_ended
            .iter()
            .next_back()
            .map_or(start.next(), |m| m.next().next())
            .max(start.next());
        let mut m = start;
        let n = policy.contacts_per_month.max(1);
        while m <= horizon {
            for k in 1..=n {
                let slot = if n == 1 {
                    format!("phone/{m}")
                } else {
                    format!("phone/{m}/{k}")
                };
                schedule(
                    b,
                    policy,
                    &slot,
                    ItemKind::PhoneCall,
                    Some(m),
                    call_due(m, k, n),
                    at,
                );
            }
            if !b.state.months_ended.contains(&m) {
                arm_month_end(b, policy, &case, m);
            }
            m = m.next();
        }
        // One face-to-face visit, by the policy's week (at once if that is past).
        if let Some(lmp) = b.state.lmp(policy) {
            let by = lmp + Duration::weeks(i64::from(policy.face_to_face_by_week));
            let due = by.max(local_date(opened.high_risk_since, policy));
            schedule(
                b,
                policy,
                "face-to-face",
                ItemKind::FaceToFace,
                None,
                due,
                at,
            );
        }
        // The "outcome unknown" watch on the expected delivery date.
        if let Some(edd) = b.state.edd(policy) {
            let fire_date = edd + Duration::days(i64::from(policy.outcome_unknown_after_edd_days));
            let fired = b.state.outcome_overdue.iter().any(|o| o.edd == edd);
            if fired {
                schedule(
                    b,
                    policy,
                    "outcome-unknown",
                    ItemKind::OutcomeUnknown,
                    None,
                    fire_date,
                    at,
                );
            } else {
                let due_at = start_of_day(fire_date, policy);
                let id = outcome_deadline_id(&case, edd);
                let e = OutcomeOverdue {
                    case_id: case.clone(),
                    edd,
                    at: due_at,
                };
                b.d.arm.push(ArmDeadline {
                    deadline_id: id,
                    kind: "followup-outcome-unknown",
                    due_at,
                    event: decided(derive_event_id(id, "fired"), &e, due_at, b.state.district()),
                });
            }
        }
    }

    if let Some(end) = b.state.ended.clone() {
        // The end closes every open item but the postpartum ones (a death closes all).
        let death = end.outcome == OutcomeKind::MaternalDeath;
        let to_close: Vec<Uuid> = b
            .state
            .items
            .values()
            .filter(|i| death || !i.scheduled.kind.is_postpartum())
            .filter(|i| i.status(policy).0 == ItemStatus::Open)
            .map(|i| i.scheduled.item_id)
            .collect();
        let reason = if death {
            "maternal death"
        } else {
            "pregnancy ended"
        };
        for id in to_close {
            let c = FollowUpClosed {
                item_id: id,
                case_id: case.clone(),
                reason: reason.into(),
                at: end.occurred_at,
            };
            let district = b.state.items.get(&id).map(|i| i.district.clone());
            b.push(derive_event_id(id, "closed"), &c, at, district);
        }
        for m in b
            .state
            .items_of(ItemKind::PhoneCall)
            .filter_map(Item::month)
            .collect::<BTreeSet<_>>()
        {
            if !b.state.months_ended.contains(&m) {
                b.d.cancel.push(month_deadline_id(&case, m));
            }
        }
        if let Some(edd) = b.state.edd(policy) {
            b.d.cancel.push(outcome_deadline_id(&case, edd));
        }
        if !death {
            let end_date = local_date(end.occurred_at, policy);
            let discharge = end
                .discharged_at
                .map_or(end_date, |t| local_date(t, policy));
            schedule(
                b,
                policy,
                "postpartum-visit",
                ItemKind::PostpartumVisit,
                None,
                discharge + Duration::days(i64::from(policy.postpartum_visit_days)),
                at,
            );
            schedule(
                b,
                policy,
                "postnatal-check",
                ItemKind::PostnatalCheck,
                None,
                end_date + Duration::days(i64::from(policy.postnatal_check_days)),
                at,
            );
        }
    }
    b.d.cancel.sort();
    b.d.cancel.dedup();
}

fn arm_month_end(b: &mut Builder, policy: &FollowUp, case: &CaseId, m: YearMonth) {
    let due_at = start_of_day(m.next().first_day(), policy);
    let id = month_deadline_id(case, m);
    let e = FollowUpMonthEnded {
        case_id: case.clone(),
        month: m.key(),
        at: due_at,
    };
    b.d.arm.push(ArmDeadline {
        deadline_id: id,
        kind: "followup-month-end",
        due_at,
        event: decided(derive_event_id(id, "fired"), &e, due_at, b.state.district()),
    });
}

/// A month ended: no contact on any of its calls (and not cancelled by the end of the
/// pregnancy) → missed; the policy's number in a row → lost to follow-up, with an alert.
fn judge_month(
    b: &mut Builder,
    policy: &FollowUp,
    case: &CaseId,
    month: YearMonth,
    at: OffsetDateTime,
) {
    if b.state.missed.contains(&month) {
        return;
    }
    let calls = b.state.calls_in(month);
    let Some(last) = calls.iter().max_by_key(|i| i.scheduled.due_date) else {
        return;
    };
    if calls.iter().any(|i| i.contacted() || i.closed.is_some()) {
        return;
    }
    let (item, district) = (last.scheduled.item_id, last.district.clone());
    // Missed months in a row, this one included.
    let mut in_a_row = 1;
    let mut months = vec![month.key()];
    // Walk back through the missed months while each is the month before the last: a month
    // with a contact (not missed) or without a call breaks the streak.
    let mut expect = month;
    for p in b.state.missed.iter().rev() {
        if p.next() != expect {
            break;
        }
        in_a_row += 1;
        months.insert(0, p.key());
        expect = *p;
    }
    let fired_at = start_of_day(month.next().first_day(), policy);
    let m = FollowUpMissed {
        item_id: item,
        case_id: case.clone(),
        month: month.key(),
        district: district.clone(),
        missed_in_a_row: in_a_row,
        at: fired_at,
    };
    b.push(
        derive_event_id(item, "missed"),
        &m,
        at,
        Some(district.clone()),
    );
    if in_a_row == policy.missed_months_lost {
        let lost = LostToFollowUp {
            case_id: case.clone(),
            district: district.clone(),
            months,
            at: fired_at,
        };
        let ns = case_namespace(case);
        b.push(
            derive_event_id(ns, &format!("lost/{month}")),
            &lost,
            at,
            Some(district.clone()),
        );
        let alert_id = derive_event_id(ns, &format!("lost-alert/{month}"));
        let alert = FollowUpAlertRaised {
            alert_id,
            case_id: case.clone(),
            district: district.clone(),
            reason: "lost_to_follow_up".into(),
            at: fired_at,
        };
        b.push(alert_id, &alert, at, Some(district));
    }
}

/// A risk card arrived (`cause` is its event id): keep her details (the latest card wins).
pub fn on_card(
    state: &CaseState,
    card: &RiskCardSubmitted,
    cause: Uuid,
    policy: &FollowUp,
) -> Decision {
    let mut b = Builder::new(state);
    if state.seen.contains(&cause) {
        return b.d;
    }
    let before_edd = state.edd(policy);
    let d = CaseDetailsNoted {
        case_id: card.case_id.clone(),
        card_event_id: cause,
        assessed_at: card.assessed_at,
        name: card.woman.name.clone(),
        phone: card.woman.phone.clone(),
        id_number: card.woman.id_number.clone(),
        lmp: card.pregnancy.lmp,
        edd: card.pregnancy.edd,
        gestational_weeks: card.measurements.gestational_weeks,
        gestational_days: card.measurements.gestational_days,
    };
    let district = state.district();
    b.push(
        derive_event_id(cause, "CaseDetailsNoted"),
        &d,
        card.received_at,
        district,
    );
    if let Some(old) = before_edd.filter(|old| Some(*old) != b.state.edd(policy)) {
        if state.active() {
            b.d.cancel.push(outcome_deadline_id(&card.case_id, old));
        }
    }
    reconcile(&mut b, policy, card.received_at);
    b.d
}

/// She became high-risk (`cause` is the `HighRiskCaseOpened` event): follow-up opens.
pub fn on_opened(
    state: &CaseState,
    h: &HighRiskCaseOpened,
    cause: Uuid,
    policy: &FollowUp,
) -> Decision {
    let mut b = Builder::new(state);
    if state.opened.is_none() {
        let o = FollowUpOpened {
            case_id: h.case_id.clone(),
            cause,
            district: h.residence_district.clone(),
            grade: h.grade,
            high_risk_since: h.assessed_at,
        };
        b.push(
            derive_event_id(cause, "FollowUpOpened"),
            &o,
            h.assessed_at,
            Some(h.residence_district.clone()),
        );
    }
    reconcile(&mut b, policy, h.assessed_at);
    b.d
}

/// She moved (`cause` is warning's `CaseTransferred`): her open items move to the new
/// district; done and closed items stay where the work was done.
pub fn on_transferred(
    state: &CaseState,
    t: &CaseTransferred,
    cause: Uuid,
    policy: &FollowUp,
) -> Decision {
    let mut b = Builder::new(state);
    if state.seen.contains(&cause) {
        return b.d;
    }
    let ft = FollowUpTransferred {
        case_id: t.case_id.clone(),
        cause,
        from: t.from.clone(),
        to: t.to.clone(),
        at: t.at,
    };
    b.push(
        derive_event_id(cause, "FollowUpTransferred"),
        &ft,
        t.at,
        Some(t.to.clone()),
    );
    move_open_items(&mut b, policy, cause, t.at);
    reconcile(&mut b, policy, t.at);
    b.d
}

fn move_open_items(b: &mut Builder, policy: &FollowUp, cause: Uuid, at: OffsetDateTime) {
    let Some(to) = b.state.district() else {
        return;
    };
    let moving: Vec<(Uuid, CaseId, DistrictCode)> = b
        .state
        .items
        .values()
        .filter(|i| i.district != to && i.status(policy).0 == ItemStatus::Open)
        .map(|i| {
            (
                i.scheduled.item_id,
                i.scheduled.case_id.clone(),
                i.district.clone(),
            )
        })
        .collect();
    for (id, case, from) in moving {
        let r = FollowUpReassigned {
            item_id: id,
            case_id: case,
            from,
            to: to.clone(),
            at,
        };
        b.push(
            derive_event_id(cause, &format!("reassigned/{id}")),
            &r,
            at,
            Some(to.clone()),
        );
    }
}

/// The pregnancy ended (`cause` is the `PregnancyOutcomeReported` event).
pub fn on_outcome_reported(
    state: &CaseState,
    o: &PregnancyOutcomeReported,
    cause: Uuid,
    policy: &FollowUp,
) -> Decision {
    let mut b = Builder::new(state);
    if state.ended.is_none() {
        let p = PregnancyEndedNoted {
            case_id: o.case_id.clone(),
            cause,
            outcome: o.outcome,
            occurred_at: o.occurred_at,
            discharged_at: o.discharged_at,
        };
        b.push(
            derive_event_id(cause, "PregnancyEndedNoted"),
            &p,
            o.occurred_at,
            state.district(),
        );
    }
    reconcile(&mut b, policy, o.occurred_at);
    b.d
}

/// The scheduler fired one of this component's deadlines (the event is already in the
/// stream): judge, plan, and rewrite the documents.
pub fn on_fired(state: &CaseState, policy: &FollowUp, at: OffsetDateTime) -> Decision {
    let mut b = Builder::new(state);
    b.d.refresh = true;
    reconcile(&mut b, policy, at);
    b.d
}

/// What an attempt reports.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptReport {
    /// The caller's request id.
    pub request_id: Uuid,
    /// The outcome.
    pub outcome: ContactOutcome,
    /// Free text.
    pub note: Option<String>,
    /// Danger signs.
    pub danger_signs: Vec<String>,
    /// Her new district (moved away).
    pub new_district: Option<DistrictCode>,
}

/// Someone reports an attempt on an item (the caller's district was checked at the edge).
/// Idempotent by `report.request_id`.
pub fn on_attempt(
    state: &CaseState,
    item: Uuid,
    report: &AttemptReport,
    by: &str,
    now: OffsetDateTime,
    policy: &FollowUp,
) -> Result<Decision, Rejection> {
    let mut b = Builder::new(state);
    if state.seen.contains(&report.request_id) {
        return Ok(b.d); // a retried request
    }
    let it = state.items.get(&item).ok_or(Rejection::NotFound)?;
    let (status, result) = it.status(policy);
    if status != ItemStatus::Open {
        return Err(Rejection::NotOpen(result.unwrap_or(status.as_str())));
    }
    if let Some(next) = it.attempts.last().and_then(|a| a.next_attempt_at) {
        if now < next {
            return Err(Rejection::TooEarly(
                next.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            ));
        }
    }
    let district = it.district.clone();
    let case = it.scheduled.case_id.clone();
    let new_district = match report.outcome {
        ContactOutcome::MovedAway => match &report.new_district {
            Some(d) if *d != district => Some(d.clone()),
            Some(_) => {
                return Err(Rejection::Invalid(
                    "new_district is her current district".into(),
                ))
            }
            None => return Err(Rejection::Invalid("moved_away needs new_district".into())),
        },
        _ => None,
    };
    let attempt = it.attempts.len() as u32 + 1;
    let next_attempt_at = (report.outcome == ContactOutcome::NotReached
        && it.scheduled.kind == ItemKind::PhoneCall
        && it.not_reached() + 1 < policy.attempts_per_month)
        .then(|| now + Duration::hours(i64::from(policy.attempt_gap_hours)));
    let a = FollowUpAttempted {
        item_id: item,
        case_id: case.clone(),
        request_id: report.request_id,
        outcome: report.outcome,
        attempt,
        note: report.note.clone(),
        danger_signs: report.danger_signs.clone(),
        new_district: new_district.clone(),
        next_attempt_at,
        by: by.to_owned(),
        at: now,
    };
    let rid = report.request_id;
    b.push(
        derive_event_id(rid, "attempted"),
        &a,
        now,
        Some(district.clone()),
    );
    if report.outcome == ContactOutcome::Reached && !report.danger_signs.is_empty() {
        let r = ReassessmentRequested {
            case_id: case.clone(),
            district: district.clone(),
            item_id: item,
            danger_signs: report.danger_signs.clone(),
            by: by.to_owned(),
            at: now,
        };
        b.push(
            derive_event_id(rid, "reassessment"),
            &r,
            now,
            Some(district.clone()),
        );
    }
    if let Some(to) = new_district {
        let t = TransferRequested {
            case_id: case.clone(),
            from: district.clone(),
            to,
            item_id: item,
            requested_by: by.to_owned(),
            at: now,
        };
        b.push(
            derive_event_id(rid, "transfer"),
            &t,
            now,
            Some(district.clone()),
        );
    }
    if report.outcome == ContactOutcome::PregnancyEnded && state.ended.is_none() {
        let o = OutcomeRequested {
            case_id: case,
            district: district.clone(),
            item_id: item,
            by: by.to_owned(),
            at: now,
        };
        b.push(
            derive_event_id(rid, "outcome-requested"),
            &o,
            now,
            Some(district),
        );
    }
    reconcile(&mut b, policy, now);
    Ok(b.d)
}

/// An item is assigned to a staff member.
pub fn on_assign(
    state: &CaseState,
    item: Uuid,
    assignee: &str,
    request_id: Uuid,
    by: &str,
    now: OffsetDateTime,
) -> Result<Decision, Rejection> {
    let mut b = Builder::new(state);
    let it = state.items.get(&item).ok_or(Rejection::NotFound)?;
    if it.assignee.as_deref() == Some(assignee) {
        return Ok(b.d);
    }
    let a = FollowUpAssigned {
        item_id: item,
        case_id: it.scheduled.case_id.clone(),
        assignee: assignee.to_owned(),
        by: by.to_owned(),
        at: now,
    };
    b.push(
        derive_event_id(request_id, "assigned"),
        &a,
        now,
        Some(it.district.clone()),
    );
    Ok(b.d)
}
