//! The escalation service: loads a referral's state from `referral-<id>`, asks the pure core
//! what to do, and commits the new events, the read-model diff and the deadline changes in one
//! transaction with the expected version (retrying when another instance or request got
//! there first, which is how exactly one of two racing acceptances wins).
//! Consumes `RiskAssessed` (opens a green channel when the card says `critical`) and its own
//! `ReferralAcceptanceOverdue` (fired by the deadline scheduler); the steps of a referral
//! come in as commands from [`crate::http`].

use crate::core::{self, Decided, Decision, Departure, Feedback, ReferralState, Rejection, Timing};
use crate::events::{GreenChannelOpened, OpenedBy, ReferralAcceptanceOverdue, ReferralForm};
use crate::nearmiss::NearMissCatalogue;
use crate::projection::{diff, documents};
use bus::{ConsumerConfig, Handler, HandlerError};
use contracts::{
    derive_event_id, CaseId, DistrictCode, DomainEvent, Envelope, InstitutionCode, Metadata,
    NewEvent, StreamId, Subject,
};
use eventstore::{Commit, Deadline, DeadlineOp, EventStore, ExpectedVersion, StoreError};
use reference::{InstitutionKind, ReferenceData};
use scoring::{GreenChannel, RiskAssessed};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// The component's name in metadata.
pub const COMPONENT: &str = "escalation";

/// The deadline kind of an acceptance deadline.
pub const DEADLINE_KIND: &str = "referral-accept";

/// The two durable consumers (nats-server 2.9 allows one filter subject per consumer).
pub fn consumer_configs() -> [ConsumerConfig; 2] {
    [
        ConsumerConfig::new(
            "escalation-assessed",
            Subject::event_type(RiskAssessed::EVENT_TYPE),
        ),
        ConsumerConfig::new(
            "escalation-overdue",
            Subject::event_type(ReferralAcceptanceOverdue::EVENT_TYPE),
        ),
    ]
}

/// What can go wrong in the service (see [`bus::ComponentError`]).
pub type EscalationError = bus::ComponentError<Rejection>;

impl From<Rejection> for EscalationError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

/// Who is acting: for metadata and the audit trail.
#[derive(Debug, Clone)]
pub enum Actor<'a> {
    /// Handling an event.
    Cause(&'a Envelope),
    /// A key (`key:<id>`) acting for an institution.
    Principal(&'a str, &'a InstitutionCode),
}

/// A hospital's request to open a green channel (validated by the caller).
#[derive(Debug, Clone)]
pub struct OpenRequest {
    /// The caller's id for this request (a retry opens nothing new).
    pub request_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// Her residence district.
    pub residence_district: DistrictCode,
    /// The sending institution.
    pub sending_institution: InstitutionCode,
    /// A centre the sender named (else the first rung of her district's ladder).
    pub named_centre: Option<InstitutionCode>,
    /// The form.
    pub form: ReferralForm,
}

/// The escalation service over a store.
#[derive(Clone)]
pub struct Escalation<S> {
    store: S,
    timing: Timing,
    reference: Arc<ReferenceData>,
    near_miss: Arc<NearMissCatalogue>,
}

impl<S: EventStore> Escalation<S> {
    /// The service with the region's green-channel policy, the reference data (ladders) and
    /// the near-miss criteria.
    pub fn new(
        store: S,
        policy: &GreenChannel,
        reference: Arc<ReferenceData>,
        near_miss: Arc<NearMissCatalogue>,
    ) -> Self {
        Self {
            store,
            timing: Timing::from_policy(policy),
            reference,
            near_miss,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The reference data.
    pub fn reference(&self) -> &ReferenceData {
        &self.reference
    }

    /// The near-miss criteria.
    pub fn near_miss_catalogue(&self) -> &NearMissCatalogue {
        &self.near_miss
    }

    /// The timing in force.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// The stream of a referral.
    pub fn stream(referral_id: Uuid) -> StreamId {
        StreamId::of("referral", referral_id).expect("uuids make valid stream ids")
    }

    /// The referral id a hospital's request opens.
    pub fn referral_id_for(institution: &InstitutionCode, request_id: Uuid) -> Uuid {
        derive_event_id(request_id, &format!("green-channel/{institution}"))
    }

    /// The referral id a critical `RiskAssessed` opens.
    pub fn referral_id_for_assessment(assessment_event_id: Uuid) -> Uuid {
        derive_event_id(assessment_event_id, "green-channel")
    }

    /// A referral's state.
    pub async fn load(&self, referral_id: Uuid) -> Result<ReferralState, EscalationError> {
        let stream = Self::stream(referral_id);
        let events = self.store.read_whole_stream(&stream).await?;
        Ok(ReferralState::from_events(&events)?)
    }

    fn new_event(
        &self,
        referral_id: Uuid,
        d: &Decided,
        actor: &Actor<'_>,
    ) -> Result<NewEvent, EscalationError> {
        let mut metadata = match actor {
            Actor::Cause(cause) => Metadata::caused_by(COMPONENT, cause),
            Actor::Principal(who, institution) => Metadata {
                actor: Some((*who).to_owned()),
                institution: Some((*institution).clone()),
                ..Metadata::system(COMPONENT)
            },
        };
        metadata.district = Some(d.district.clone());
        Ok(NewEvent {
            event_id: d.event_id,
            stream_id: Self::stream(referral_id),
            case_id: Some(d.case_id.clone()),
            event_type: d.event_type.to_owned(),
            schema_version: 1,
            payload: d.payload.clone(),
            metadata,
            occurred_at: d.occurred_at,
        })
    }

    /// Loads, decides, commits; retries on a concurrent change of the referral.
    pub async fn run(
        &self,
        referral_id: Uuid,
        actor: Actor<'_>,
        decide: impl Fn(&ReferralState) -> Result<Decision, Rejection>,
    ) -> Result<(Decision, ReferralState), EscalationError> {
        for _ in 0..20 {
            let state = self.load(referral_id).await?;
            let decision = decide(&state)?;
            if decision.is_empty() {
                if decision.refresh {
                    self.store
                        .commit(Commit {
                            documents: diff(&[], &documents(&state)),
                            ..Commit::default()
                        })
                        .await?;
                }
                return Ok((decision, state));
            }
            let events: Vec<NewEvent> = decision
                .events
                .iter()
                .map(|d| self.new_event(referral_id, d, &actor))
                .collect::<Result<_, _>>()?;
            let mut after = state.clone();
            let base = state.version.unwrap_or(0);
            for (i, e) in events.iter().enumerate() {
                after.evolve(&Envelope {
                    event_id: e.event_id,
                    stream_id: e.stream_id.clone(),
                    version: base + i as i64 + 1,
                    position: 0,
                    case_id: e.case_id.clone(),
                    event_type: e.event_type.clone(),
                    schema_version: e.schema_version,
                    payload: e.payload.clone(),
                    metadata: e.metadata.clone(),
                    occurred_at: e.occurred_at,
                    recorded_at: e.occurred_at,
                })?;
            }
            let expected = state
                .version
                .map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
            let mut commit = Commit::append(Self::stream(referral_id), expected, events);
            commit.documents = diff(&documents(&state), &documents(&after));
            for arm in &decision.arm {
                commit.deadlines.push(DeadlineOp::Arm(Box::new(Deadline {
                    deadline_id: arm.deadline_id,
                    kind: DEADLINE_KIND.into(),
                    case_id: Some(arm.event.case_id.clone()),
                    due_at: arm.due_at,
                    event: NewEvent {
                        metadata: Metadata {
                            district: Some(arm.event.district.clone()),
                            ..Metadata::system(COMPONENT)
                        },
                        ..self.new_event(referral_id, &arm.event, &actor)?
                    },
                })));
            }
            commit
                .deadlines
                .extend(decision.cancel.iter().map(|id| DeadlineOp::Cancel(*id)));
            match self.store.commit(commit).await {
                // Another request stored these very events first (same derived ids): the
                // stored ones are the truth.
                Ok(out) if out.appends.iter().any(|a| a.already_stored) => {
                    return Ok((decision, self.load(referral_id).await?));
                }
                Ok(_) => return Ok((decision, after)),
                Err(StoreError::WrongExpectedVersion { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EscalationError::Busy)
    }

    fn opening(
        &self,
        referral_id: Uuid,
        req: &OpenRequest,
        opened_by: OpenedBy,
        now: OffsetDateTime,
    ) -> Result<GreenChannelOpened, Rejection> {
        let district = &req.residence_district;
        let (ladder, rung) = core::plan_ladder(
            district,
            self.reference.ladder(district),
            req.named_centre.as_ref(),
        )?;
        let target = ladder[(rung - 1) as usize].clone();
        Ok(GreenChannelOpened {
            referral_id,
            case_id: req.case_id.clone(),
            residence_district: district.clone(),
            opened_by,
            sending_institution: req.sending_institution.clone(),
            form: req.form.clone(),
            ladder,
            rung,
            target,
            opened_at: now,
            acceptance_due_at: now + self.timing.timeout,
        })
    }

    /// Whether `code` is a rescue centre in the reference data.
    pub fn is_rescue_centre(&self, code: &InstitutionCode) -> bool {
        self.reference
            .institution(code)
            .is_some_and(|i| i.kind == InstitutionKind::RescueCentre)
    }

    /// A hospital opens a green channel (a retry of the same request opens nothing new).
    /// Returns the referral's state.
    pub async fn open(&self, req: OpenRequest, by: &str) -> Result<ReferralState, EscalationError> {
        let referral_id = Self::referral_id_for(&req.sending_institution, req.request_id);
        let now = self.store.clock().now();
        let opened = self.opening(referral_id, &req, OpenedBy::Hospital, now)?;
        let (d, state) = self
            .run(
                referral_id,
                Actor::Principal(by, &req.sending_institution),
                |s| Ok(core::on_open(s, &opened)),
            )
            .await?;
        if !d.events.is_empty() {
            tracing::warn!(referral_id = %referral_id, case_id = %req.case_id, target = %opened.target, "green channel opened");
        }
        Ok(state)
    }

    /// The opening a critical `RiskAssessed` (stored as `assessment_event_id`) asks for:
    /// her district's ladder from the reference data, the first rung, the acceptance deadline;
    /// `None` for a card that is not critical. Pure: no store read.
    pub fn opening_for_assessment(
        &self,
        assessment_event_id: Uuid,
        ra: &RiskAssessed,
    ) -> Result<Option<GreenChannelOpened>, Rejection> {
        if !ra.critical {
            return Ok(None);
        }
        let referral_id = Self::referral_id_for_assessment(assessment_event_id);
        let req = OpenRequest {
            request_id: assessment_event_id,
            case_id: ra.case_id.clone(),
            residence_district: ra.residence_district.clone(),
            sending_institution: ra.institution.clone(),
            named_centre: None,
            form: ReferralForm {
                identity: None,
                clinical: None,
                reason: "critical risk card".into(),
                treatment_en_route: None,
                referring_doctor: None,
                escort: None,
                transport: None,
            },
        };
        self.opening(referral_id, &req, OpenedBy::CriticalCard, ra.received_at)
            .map(Some)
    }

    /// A critical `RiskAssessed` opens a green channel (idempotent by the event's id).
    pub async fn open_from_assessment(
        &self,
        event: &Envelope,
        ra: &RiskAssessed,
    ) -> Result<Option<Uuid>, EscalationError> {
        let Some(opened) = self.opening_for_assessment(event.event_id, ra)? else {
            return Ok(None);
        };
        let referral_id = opened.referral_id;
        let (d, _) = self
            .run(referral_id, Actor::Cause(event), |s| {
                Ok(core::on_open(s, &opened))
            })
            .await?;
        if !d.events.is_empty() {
            tracing::warn!(referral_id = %referral_id, case_id = %ra.case_id, "green channel opened from a critical card");
        }
        Ok(Some(referral_id))
    }

    /// A centre accepts (the first acceptance wins).
    pub async fn accept(
        &self,
        referral_id: Uuid,
        centre: &InstitutionCode,
        receiving_doctor: &str,
        by: &str,
    ) -> Result<ReferralState, EscalationError> {
        let now = self.store.clock().now();
        let (d, s) = self
            .run(referral_id, Actor::Principal(by, centre), |s| {
                core::on_accept(s, centre, receiving_doctor, now)
            })
            .await?;
        if !d.events.is_empty() {
            tracing::info!(referral_id = %referral_id, centre = %centre, "referral accepted");
        }
        Ok(s)
    }

    /// The centre asked hands her on.
    pub async fn hand_on(
        &self,
        referral_id: Uuid,
        centre: &InstitutionCode,
        reason: &str,
        by: &str,
    ) -> Result<ReferralState, EscalationError> {
        let now = self.store.clock().now();
        let timing = self.timing;
        let (_, s) = self
            .run(referral_id, Actor::Principal(by, centre), |s| {
                core::on_hand_on(s, centre, reason, now, timing)
            })
            .await?;
        tracing::warn!(referral_id = %referral_id, centre = %centre, rung = s.rung, "referral handed on");
        Ok(s)
    }

    /// The sender records her departure.
    pub async fn depart(
        &self,
        referral_id: Uuid,
        sender: &InstitutionCode,
        dep: Departure,
        by: &str,
    ) -> Result<ReferralState, EscalationError> {
        let (_, s) = self
            .run(referral_id, Actor::Principal(by, sender), |s| {
                core::on_depart(s, sender, dep.clone())
            })
            .await?;
        Ok(s)
    }

    /// The accepting centre records her arrival.
    pub async fn arrive(
        &self,
        referral_id: Uuid,
        centre: &InstitutionCode,
        arrived_at: OffsetDateTime,
        escort: Option<String>,
        received_by: &str,
        by: &str,
    ) -> Result<ReferralState, EscalationError> {
        let (_, s) = self
            .run(referral_id, Actor::Principal(by, centre), |s| {
                core::on_arrive(s, centre, arrived_at, escort.clone(), received_by)
            })
            .await?;
        Ok(s)
    }

    /// The accepting centre files the feedback form (closes the green channel).
    pub async fn feedback(
        &self,
        referral_id: Uuid,
        centre: &InstitutionCode,
        f: Feedback,
        by: &str,
    ) -> Result<ReferralState, EscalationError> {
        let now = self.store.clock().now();
        let (_, s) = self
            .run(referral_id, Actor::Principal(by, centre), |s| {
                core::on_feedback(s, centre, f.clone(), now)
            })
            .await?;
        Ok(s)
    }

    /// The accepting centre records the near-miss criteria met (codes checked against the
    /// catalogue).
    pub async fn near_miss(
        &self,
        referral_id: Uuid,
        centre: &InstitutionCode,
        criteria: &[String],
        by: &str,
    ) -> Result<ReferralState, EscalationError> {
        if let Some(bad) = criteria.iter().position(|c| !self.near_miss.contains(c)) {
            return Err(Rejection::Field(
                format!("/criteria/{bad}"),
                format!("not a criterion of {}", self.near_miss.label()),
            )
            .into());
        }
        let now = self.store.clock().now();
        let label = self.near_miss.label();
        let (_, s) = self
            .run(referral_id, Actor::Principal(by, centre), |s| {
                core::on_near_miss(s, centre, &label, criteria, now)
            })
            .await?;
        tracing::info!(referral_id = %referral_id, "near miss recorded; flagged for review");
        Ok(s)
    }
}

impl<S: EventStore> Handler for Escalation<S> {
    async fn handle(&self, event: &Envelope) -> Result<(), HandlerError> {
        if event.is::<RiskAssessed>() {
            let ra: RiskAssessed = event
                .decode()
                .map_err(|e| HandlerError::Permanent(e.to_string()))?;
            match self.open_from_assessment(event, &ra).await {
                Ok(_) => {}
                // No ladder for her district: nothing to open automatically; the hospital
                // can still open one naming a centre.
                Err(EscalationError::Rejected(Rejection::NoLadder(d))) => {
                    tracing::error!(case_id = %ra.case_id, district = %d, "critical card but no rescue-centre ladder");
                }
                Err(e) => return Err(e.into()),
            }
        } else if event.is::<ReferralAcceptanceOverdue>() {
            let o: ReferralAcceptanceOverdue = event
                .decode()
                .map_err(|e| HandlerError::Permanent(e.to_string()))?;
            let now = self.store.clock().now();
            let timing = self.timing;
            let (d, s) = self
                .run(o.referral_id, Actor::Cause(event), |s| {
                    Ok(core::on_overdue(s, &o, event.event_id, now, timing))
                })
                .await?;
            if !d.events.is_empty() {
                tracing::warn!(referral_id = %o.referral_id, case_id = %o.case_id, rung = s.rung, types = ?d.types(), "acceptance overdue: escalated");
            }
        }
        Ok(())
    }
}
