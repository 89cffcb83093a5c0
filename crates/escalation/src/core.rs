//! The pure core: a referral's state folded from its own `referral-<id>` events, and the
//! decisions that turn an opening, an acceptance, a hand-on, a fired acceptance deadline, a
//! departure, an arrival, a feedback form or a near-miss record into new events and deadline
//! changes. No IO, no clock (times come in as arguments), no NATS, no SQL.
//!
//! The ladder: the centre asked has `timeout` to accept. When its deadline fires, the next
//! rung is asked (with a fresh deadline) and her district and city offices are told; a hand-on
//! does the same at once. At the top rung there is nobody higher: the top centre is asked
//! again every `renotify` until someone accepts. Who may accept: the centre asked now, or one
//! asked before that simply ran out of time (it did not hand on); the first acceptance wins.

use crate::events::*;
use contracts::InstitutionCode;
use contracts::{derive_event_id, CaseId, DistrictCode, DomainEvent, Envelope, EnvelopeError};
use scoring::GreenChannel;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The policy's green-channel timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a centre has to accept.
    pub timeout: Duration,
    /// How often the top rung is asked again.
    pub renotify: Duration,
}

impl Timing {
    /// From the region policy (a re-notification interval of 0 means the timeout).
    pub fn from_policy(g: &GreenChannel) -> Self {
        let timeout = Duration::minutes(i64::from(g.acceptance_timeout_minutes));
        let renotify = match g.renotify_interval_minutes {
            0 => timeout,
            m => Duration::minutes(i64::from(m)),
        };
        Self { timeout, renotify }
    }
}

/// Where a referral stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for a centre to accept.
    AwaitingAcceptance,
    /// Accepted; transfer and feedback to come.
    Accepted,
    /// Feedback filed.
    Closed,
}

impl Status {
    /// The snake_case word.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::AwaitingAcceptance => "awaiting_acceptance",
            Status::Accepted => "accepted",
            Status::Closed => "closed",
        }
    }
}

/// A referral's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferralState {
    /// The stream's version (None: no events yet).
    pub version: Option<i64>,
    /// The opening (None: no such referral).
    pub opened: Option<GreenChannelOpened>,
    /// The rung asked now (1-based).
    pub rung: u32,
    /// The centre asked now.
    pub target: Option<InstitutionCode>,
    /// Re-notifications of the current rung so far.
    pub attempt: u32,
    /// When the centre asked now must accept by (None once accepted).
    pub acceptance_due_at: Option<OffsetDateTime>,
    /// Fired acceptance deadlines.
    pub overdue: Vec<ReferralAcceptanceOverdue>,
    /// Escalations.
    pub escalations: Vec<ReferralEscalated>,
    /// Hand-ons.
    pub handed_on: Vec<ReferralHandedOn>,
    /// Re-notifications of the top rung.
    pub renotified: Vec<ReferralRenotified>,
    /// The acceptance.
    pub accepted: Option<ReferralAccepted>,
    /// The departure.
    pub departed: Option<PatientDeparted>,
    /// The arrival.
    pub arrived: Option<PatientArrived>,
    /// The feedback form.
    pub feedback: Option<ReferralFeedbackFiled>,
    /// Near-miss records.
    pub near_miss: Vec<NearMissRecorded>,
    /// The closing.
    pub closed: Option<GreenChannelClosed>,
}

impl ReferralState {
    /// Folds a referral's events.
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
            GreenChannelOpened::EVENT_TYPE => {
                let o: GreenChannelOpened = e.decode()?;
                self.rung = o.rung;
                self.target = Some(o.target.clone());
                self.attempt = 0;
                self.acceptance_due_at = Some(o.acceptance_due_at);
                self.opened = Some(o);
            }
            ReferralAcceptanceOverdue::EVENT_TYPE => self.overdue.push(e.decode()?),
            ReferralAccepted::EVENT_TYPE => {
                self.accepted = Some(e.decode()?);
                self.acceptance_due_at = None;
            }
            ReferralHandedOn::EVENT_TYPE => self.handed_on.push(e.decode()?),
            ReferralEscalated::EVENT_TYPE => {
                let x: ReferralEscalated = e.decode()?;
                self.rung = x.to_rung;
                self.target = Some(x.to_centre.clone());
                self.attempt = 0;
                self.acceptance_due_at = Some(x.acceptance_due_at);
                self.escalations.push(x);
            }
            ReferralRenotified::EVENT_TYPE => {
                let r: ReferralRenotified = e.decode()?;
                self.attempt = r.attempt;
                self.acceptance_due_at = Some(r.next_at);
                self.renotified.push(r);
            }
            PatientDeparted::EVENT_TYPE => self.departed = Some(e.decode()?),
            PatientArrived::EVENT_TYPE => self.arrived = Some(e.decode()?),
            ReferralFeedbackFiled::EVENT_TYPE => self.feedback = Some(e.decode()?),
            NearMissRecorded::EVENT_TYPE => self.near_miss.push(e.decode()?),
            GreenChannelClosed::EVENT_TYPE => self.closed = Some(e.decode()?),
            _ => {}
        }
        Ok(())
    }

    /// Where it stands (None: no such referral).
    pub fn status(&self) -> Option<Status> {
        self.opened.as_ref()?;
        Some(if self.closed.is_some() {
            Status::Closed
        } else if self.accepted.is_some() {
            Status::Accepted
        } else {
            Status::AwaitingAcceptance
        })
    }

    /// Whether `centre` may accept now: the centre asked now, or one asked earlier whose time
    /// ran out (a centre that handed on declined and may not).
    pub fn may_accept(&self, centre: &InstitutionCode) -> bool {
        if self.handed_on.iter().any(|h| &h.centre == centre) {
            return false;
        }
        self.target.as_ref() == Some(centre)
            || self
                .escalations
                .iter()
                .any(|x| &x.from_centre == centre && x.reason == EscalationReason::Timeout)
    }

    /// Every centre asked so far, in order, without repeats.
    pub fn centres_asked(&self) -> Vec<InstitutionCode> {
        let mut out: Vec<InstitutionCode> = Vec::new();
        let first = self.opened.iter().map(|o| &o.target);
        for c in first.chain(self.escalations.iter().map(|x| &x.to_centre)) {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        out
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
    /// The case.
    pub case_id: CaseId,
    /// Her residence district (routes the subject).
    pub district: DistrictCode,
}

/// A deadline to arm: fires `event` at `due_at` unless cancelled.
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
    /// Rewrite the referral's documents even without new events (the scheduler appended an
    /// event the read models have not seen).
    pub refresh: bool,
}

impl Decision {
    fn push<E: DomainEvent>(
        &mut self,
        id: Uuid,
        event: &E,
        at: OffsetDateTime,
        o: &GreenChannelOpened,
    ) {
        self.events.push(decided(id, event, at, o));
    }

    /// The types of the decided events, for tests.
    pub fn types(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.event_type).collect()
    }

    /// Whether nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.arm.is_empty() && self.cancel.is_empty()
    }
}

fn decided<E: DomainEvent>(
    id: Uuid,
    event: &E,
    at: OffsetDateTime,
    o: &GreenChannelOpened,
) -> Decided {
    Decided {
        event_id: id,
        event_type: E::EVENT_TYPE,
        payload: serde_json::to_value(event).expect("escalation events serialise"),
        occurred_at: at,
        case_id: o.case_id.clone(),
        district: o.residence_district.clone(),
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No such referral (or not visible to the caller).
    #[error("no such referral")]
    NotFound,
    /// The caller is not the party this step belongs to.
    #[error("{0}")]
    NotYours(&'static str),
    /// Another centre (or another request) accepted first.
    #[error("already accepted by {0}")]
    AlreadyAccepted(InstitutionCode),
    /// The green channel is closed.
    #[error("the green channel is closed")]
    Closed,
    /// Nobody above the top rung to hand on to.
    #[error("this is the top rung of the ladder: there is no centre to hand on to")]
    TopRung,
    /// The step needs an acceptance first.
    #[error("the referral has not been accepted")]
    NotAccepted,
    /// The step needs her arrival first.
    #[error("she has not arrived")]
    NotArrived,
    /// The step was recorded already, differently.
    #[error("{0}")]
    Conflict(String),
    /// No rescue-centre ladder for her district and no centre named.
    #[error("no rescue-centre ladder for district {0}; name a centre")]
    NoLadder(DistrictCode),
    /// A field is wrong given the referral's history (`pointer`, message).
    #[error("{1}")]
    Field(String, String),
}

/// The ladder to use and the rung to start at: the district's ladder from its first rung, or
/// from the named centre's rung when it is on it; a named centre that is not on it goes first.
pub fn plan_ladder(
    district: &DistrictCode,
    district_ladder: &[InstitutionCode],
    named: Option<&InstitutionCode>,
) -> Result<(Vec<InstitutionCode>, u32), Rejection> {
    match named {
        Some(c) => match district_ladder.iter().position(|x| x == c) {
            Some(i) => Ok((district_ladder.to_vec(), rung_of(i))),
            None => {
                let mut l = vec![c.clone()];
                l.extend(district_ladder.iter().cloned());
                Ok((l, 1))
            }
        },
        None if district_ladder.is_empty() => Err(Rejection::NoLadder(district.clone())),
        None => Ok((district_ladder.to_vec(), 1)),
    }
}

fn rung_of(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// The acceptance deadline of a referral's rung and re-notification attempt.
pub fn acceptance_deadline_id(referral_id: Uuid, rung: u32, attempt: u32) -> Uuid {
    derive_event_id(
        referral_id,
        &format!("acceptance-deadline/{rung}/{attempt}"),
    )
}

/// The offices told of an escalation: her district's and its city's.
pub fn offices_to_notify(district: &DistrictCode) -> Vec<DistrictCode> {
    let mut v = vec![district.clone()];
    let city = district.city();
    if city != *district {
        v.push(city);
    }
    v
}

fn arm_acceptance(
    d: &mut Decision,
    o: &GreenChannelOpened,
    rung: u32,
    centre: &InstitutionCode,
    attempt: u32,
    due_at: OffsetDateTime,
) {
    let deadline_id = acceptance_deadline_id(o.referral_id, rung, attempt);
    let overdue = ReferralAcceptanceOverdue {
        referral_id: o.referral_id,
        case_id: o.case_id.clone(),
        rung,
        centre: centre.clone(),
        attempt,
        due_at,
    };
    d.arm.push(ArmDeadline {
        deadline_id,
        due_at,
        event: decided(
            derive_event_id(deadline_id, ReferralAcceptanceOverdue::EVENT_TYPE),
            &overdue,
            due_at,
            o,
        ),
    });
}

/// Opens the green channel (`opened` is the complete opening; see [`plan_ladder`]); a
/// referral that exists already is left as it is.
pub fn on_open(state: &ReferralState, opened: &GreenChannelOpened) -> Decision {
    let mut d = Decision::default();
    if state.opened.is_some() {
        return d;
    }
    let o = opened;
    d.push(
        derive_event_id(o.referral_id, GreenChannelOpened::EVENT_TYPE),
        o,
        o.opened_at,
        o,
    );
    arm_acceptance(&mut d, o, o.rung, &o.target, 0, o.acceptance_due_at);
    d
}

/// The scheduler fired an acceptance deadline (`cause` is the fired event's id): the next
/// rung is asked, or at the top the top centre again. A stale deadline (accepted, handed on,
/// already escalated) changes nothing; so does a second delivery.
pub fn on_overdue(
    state: &ReferralState,
    overdue: &ReferralAcceptanceOverdue,
    cause: Uuid,
    now: OffsetDateTime,
    timing: Timing,
) -> Decision {
    let mut d = Decision {
        refresh: true,
        ..Decision::default()
    };
    let Some(o) = state.opened.as_ref() else {
        return d;
    };
    if state.accepted.is_some()
        || state.closed.is_some()
        || overdue.rung != state.rung
        || overdue.attempt != state.attempt
    {
        return d;
    }
    let at = now.max(overdue.due_at);
    let offices = offices_to_notify(&o.residence_district);
    let from = state.target.clone().unwrap_or_else(|| o.target.clone());
    match o.ladder.get(state.rung as usize) {
        Some(next) => {
            let due = at + timing.timeout;
            let x = ReferralEscalated {
                referral_id: o.referral_id,
                case_id: o.case_id.clone(),
                from_rung: state.rung,
                from_centre: from,
                to_rung: state.rung + 1,
                to_centre: next.clone(),
                reason: EscalationReason::Timeout,
                at,
                acceptance_due_at: due,
                notified_offices: offices,
            };
            d.push(
                derive_event_id(cause, ReferralEscalated::EVENT_TYPE),
                &x,
                at,
                o,
            );
            arm_acceptance(&mut d, o, state.rung + 1, next, 0, due);
        }
        None => {
            let attempt = state.attempt + 1;
            let next_at = at + timing.renotify;
            let r = ReferralRenotified {
                referral_id: o.referral_id,
                case_id: o.case_id.clone(),
                rung: state.rung,
                centre: from.clone(),
                attempt,
                at,
                next_at,
                notified_offices: offices,
            };
            d.push(
                derive_event_id(cause, ReferralRenotified::EVENT_TYPE),
                &r,
                at,
                o,
            );
            arm_acceptance(&mut d, o, state.rung, &from, attempt, next_at);
        }
    }
    d
}

fn open_referral(state: &ReferralState) -> Result<&GreenChannelOpened, Rejection> {
    state.opened.as_ref().ok_or(Rejection::NotFound)
}

/// A centre accepts her. The first acceptance wins; the same centre again is harmless; any
/// other centre is told it was already accepted.
pub fn on_accept(
    state: &ReferralState,
    centre: &InstitutionCode,
    receiving_doctor: &str,
    now: OffsetDateTime,
) -> Result<Decision, Rejection> {
    let o = open_referral(state)?;
    let mut d = Decision::default();
    if let Some(a) = &state.accepted {
        if &a.centre == centre {
            return Ok(d);
        }
        return Err(Rejection::AlreadyAccepted(a.centre.clone()));
    }
    if state.closed.is_some() {
        return Err(Rejection::Closed);
    }
    if !state.may_accept(centre) {
        return Err(Rejection::NotYours(
            "this referral is not addressed to your centre",
        ));
    }
    let rung = o
        .ladder
        .iter()
        .position(|c| c == centre)
        .map_or(state.rung, rung_of);
    let a = ReferralAccepted {
        referral_id: o.referral_id,
        case_id: o.case_id.clone(),
        centre: centre.clone(),
        rung,
        receiving_doctor: receiving_doctor.to_owned(),
        at: now,
        minutes_from_opening: (now - o.opened_at).whole_minutes(),
    };
    d.push(
        derive_event_id(o.referral_id, &format!("ReferralAccepted/{centre}")),
        &a,
        now,
        o,
    );
    d.cancel.push(acceptance_deadline_id(
        o.referral_id,
        state.rung,
        state.attempt,
    ));
    Ok(d)
}

/// The centre asked hands her on with a reason: the next rung is asked at once.
pub fn on_hand_on(
    state: &ReferralState,
    centre: &InstitutionCode,
    reason: &str,
    now: OffsetDateTime,
    timing: Timing,
) -> Result<Decision, Rejection> {
    let o = open_referral(state)?;
    if let Some(a) = &state.accepted {
        return Err(Rejection::AlreadyAccepted(a.centre.clone()));
    }
    if state.closed.is_some() {
        return Err(Rejection::Closed);
    }
    if state.target.as_ref() != Some(centre) {
        return Err(Rejection::NotYours(
            "only the centre asked now may hand her on",
        ));
    }
    let Some(next) = o.ladder.get(state.rung as usize) else {
        return Err(Rejection::TopRung);
    };
    let mut d = Decision::default();
    let h = ReferralHandedOn {
        referral_id: o.referral_id,
        case_id: o.case_id.clone(),
        centre: centre.clone(),
        rung: state.rung,
        reason: reason.to_owned(),
        at: now,
    };
    let key = format!("{}/{}", state.rung, state.attempt);
    d.push(
        derive_event_id(o.referral_id, &format!("ReferralHandedOn/{key}")),
        &h,
        now,
        o,
    );
    let due = now + timing.timeout;
    let x = ReferralEscalated {
        referral_id: o.referral_id,
        case_id: o.case_id.clone(),
        from_rung: state.rung,
        from_centre: centre.clone(),
        to_rung: state.rung + 1,
        to_centre: next.clone(),
        reason: EscalationReason::HandedOn,
        at: now,
        acceptance_due_at: due,
        notified_offices: offices_to_notify(&o.residence_district),
    };
    d.push(
        derive_event_id(o.referral_id, &format!("ReferralEscalated/handed-on/{key}")),
        &x,
        now,
        o,
    );
    d.cancel.push(acceptance_deadline_id(
        o.referral_id,
        state.rung,
        state.attempt,
    ));
    arm_acceptance(&mut d, o, state.rung + 1, next, 0, due);
    Ok(d)
}

/// `t` cut to the minute (the forms record minutes).
pub fn to_minute(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_second(0)
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(t)
}

/// What the sender records when she leaves.
#[derive(Debug, Clone, PartialEq)]
pub struct Departure {
    /// When she left (cut to the minute).
    pub departed_at: OffsetDateTime,
    /// Who escorts her.
    pub escort: String,
    /// How she travels.
    pub transport: Option<Transport>,
    /// Treatment en route.
    pub treatment_en_route: Option<String>,
}

/// The sending institution records her departure (once; the same time again is harmless).
pub fn on_depart(
    state: &ReferralState,
    sender: &InstitutionCode,
    dep: Departure,
) -> Result<Decision, Rejection> {
    let o = open_referral(state)?;
    if &o.sending_institution != sender {
        return Err(Rejection::NotYours(
            "only the sending institution records the departure",
        ));
    }
    if state.closed.is_some() {
        return Err(Rejection::Closed);
    }
    let departed_at = to_minute(dep.departed_at);
    let mut d = Decision::default();
    if let Some(p) = &state.departed {
        if p.departed_at == departed_at {
            return Ok(d);
        }
        return Err(Rejection::Conflict(format!(
            "the departure was recorded already ({})",
            p.departed_at
        )));
    }
    let e = PatientDeparted {
        referral_id: o.referral_id,
        case_id: o.case_id.clone(),
        departed_at,
        escort: dep.escort,
        transport: dep.transport.or(o.form.transport),
        treatment_en_route: dep.treatment_en_route,
    };
    d.push(
        derive_event_id(o.referral_id, PatientDeparted::EVENT_TYPE),
        &e,
        departed_at,
        o,
    );
    Ok(d)
}

fn accepting_centre<'a>(
    state: &'a ReferralState,
    centre: &InstitutionCode,
) -> Result<(&'a GreenChannelOpened, &'a ReferralAccepted), Rejection> {
    let o = open_referral(state)?;
    let a = state.accepted.as_ref().ok_or(Rejection::NotAccepted)?;
    if &a.centre != centre {
        return Err(Rejection::NotYours(
            "only the accepting centre records this",
        ));
    }
    Ok((o, a))
}

/// The accepting centre records her arrival (once; the same time again is harmless).
pub fn on_arrive(
    state: &ReferralState,
    centre: &InstitutionCode,
    arrived_at: OffsetDateTime,
    escort: Option<String>,
    received_by: &str,
) -> Result<Decision, Rejection> {
    let (o, _) = accepting_centre(state, centre)?;
    let arrived_at = to_minute(arrived_at);
    let mut d = Decision::default();
    if let Some(p) = &state.arrived {
        if p.arrived_at == arrived_at {
            return Ok(d);
        }
        return Err(Rejection::Conflict(format!(
            "the arrival was recorded already ({})",
            p.arrived_at
        )));
    }
    if state.closed.is_some() {
        return Err(Rejection::Closed);
    }
    if let Some(p) = &state.departed {
        if arrived_at < p.departed_at {
            return Err(Rejection::Field(
                "/arrived_at".into(),
                "is before her departure".into(),
            ));
        }
    }
    let e = PatientArrived {
        referral_id: o.referral_id,
        case_id: o.case_id.clone(),
        centre: centre.clone(),
        arrived_at,
        escort: escort.or_else(|| state.departed.as_ref().map(|p| p.escort.clone())),
        received_by: received_by.to_owned(),
    };
    d.push(
        derive_event_id(o.referral_id, PatientArrived::EVENT_TYPE),
        &e,
        arrived_at,
        o,
    );
    Ok(d)
}

/// The feedback form's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// Diagnosis at the centre.
    pub diagnosis: String,
    /// Treatment given.
    pub treatment: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Timeliness.
    pub timeliness: Timeliness,
    /// Note.
    pub note: Option<String>,
}

/// The accepting centre files the feedback form; the green channel closes.
pub fn on_feedback(
    state: &ReferralState,
    centre: &InstitutionCode,
    f: Feedback,
    now: OffsetDateTime,
) -> Result<Decision, Rejection> {
    let (o, _) = accepting_centre(state, centre)?;
    let mut d = Decision::default();
    if let Some(p) = &state.feedback {
        if (&p.diagnosis, &p.treatment, p.outcome, p.timeliness, &p.note)
            == (&f.diagnosis, &f.treatment, f.outcome, f.timeliness, &f.note)
        {
            return Ok(d);
        }
        return Err(Rejection::Conflict("the feedback was filed already".into()));
    }
    if state.arrived.is_none() {
        return Err(Rejection::NotArrived);
    }
    let e = ReferralFeedbackFiled {
        referral_id: o.referral_id,
        case_id: o.case_id.clone(),
        centre: centre.clone(),
        sending_institution: o.sending_institution.clone(),
        diagnosis: f.diagnosis,
        treatment: f.treatment,
        outcome: f.outcome,
        timeliness: f.timeliness,
        note: f.note,
        filed_at: now,
    };
    d.push(
        derive_event_id(o.referral_id, ReferralFeedbackFiled::EVENT_TYPE),
        &e,
        now,
        o,
    );
    let c = GreenChannelClosed {
        referral_id: o.referral_id,
        case_id: o.case_id.clone(),
        reason: "feedback filed".into(),
        at: now,
    };
    d.push(
        derive_event_id(o.referral_id, GreenChannelClosed::EVENT_TYPE),
        &c,
        now,
        o,
    );
    Ok(d)
}

/// The accepting centre records the near-miss criteria she met (checked codes of the
/// catalogue `catalogue`); the same set again is harmless, a different set is a new record.
pub fn on_near_miss(
    state: &ReferralState,
    centre: &InstitutionCode,
    catalogue: &str,
    criteria: &[String],
    now: OffsetDateTime,
) -> Result<Decision, Rejection> {
    let (o, _) = accepting_centre(state, centre)?;
    let mut criteria = criteria.to_vec();
    criteria.sort();
    criteria.dedup();
    if criteria.is_empty() {
        return Err(Rejection::Field(
            "/criteria".into(),
            "at least one criterion is needed".into(),
        ));
    }
    let mut d = Decision::default();
    if state
        .near_miss
        .iter()
        .any(|n| n.criteria == criteria && n.catalogue == catalogue)
    {
        return Ok(d);
    }
    let e = NearMissRecorded {
        referral_id: o.referral_id,
        case_id: o.case_id.clone(),
        centre: centre.clone(),
        catalogue: catalogue.to_owned(),
        criteria: criteria.clone(),
        review_flagged: true,
        at: now,
    };
    let name = format!("NearMissRecorded/{catalogue}/{}", criteria.join(","));
    d.push(derive_event_id(o.referral_id, &name), &e, now, o);
    Ok(d)
}
