//! The follow-up service: loads a case's state from `followup-<case>`, asks the pure core
//! what to do, and commits the new events, the read-model diff and the deadline changes in
//! one transaction with the expected version (retrying when another instance got there
//! first).
//!
//! Consumes, one durable consumer per subject (see [`consumer_configs`]): `RiskCardSubmitted`
//! (her name, phone and dating), warning's `HighRiskCaseOpened` and `CaseTransferred`,
//! `PregnancyOutcomeReported`, and its own fired deadlines `FollowUpMonthEnded` and
//! `OutcomeOverdue`. Attempts and assignments come in as commands.

use crate::core::{self, AttemptReport, CaseState, Decided, Decision, Rejection};
use crate::events::{FollowUpMonthEnded, OutcomeOverdue};
use crate::projection::{diff, documents};
use bus::{ConsumerConfig, Handler, HandlerError};
use contracts::{
    CaseId, DomainEvent, Envelope, Metadata, NewEvent, PregnancyOutcomeReported, RiskCardSubmitted,
    StreamId, Subject,
};
use eventstore::{Commit, Deadline, DeadlineOp, EventStore, ExpectedVersion, StoreError};
use scoring::FollowUp as Policy;
use std::sync::Arc;
use uuid::Uuid;
use warning::events::{CaseTransferred, HighRiskCaseOpened};

/// The component's name in metadata.
pub const COMPONENT: &str = "followup";

/// The six durable consumers (nats-server 2.9 allows one filter subject per consumer).
pub fn consumer_configs() -> [ConsumerConfig; 6] {
    [
        ("followup-card", RiskCardSubmitted::EVENT_TYPE),
        ("followup-opened", HighRiskCaseOpened::EVENT_TYPE),
        ("followup-transferred", CaseTransferred::EVENT_TYPE),
        ("followup-outcome", PregnancyOutcomeReported::EVENT_TYPE),
        ("followup-month-ended", FollowUpMonthEnded::EVENT_TYPE),
        ("followup-outcome-overdue", OutcomeOverdue::EVENT_TYPE),
    ]
    .map(|(durable, ty)| ConsumerConfig::new(durable, Subject::event_type(ty)))
}

/// What can go wrong in the service (see [`bus::ComponentError`]).
pub type FollowUpError = bus::ComponentError<Rejection>;

impl From<Rejection> for FollowUpError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

/// Who is acting: for metadata and the audit trail.
#[derive(Debug, Clone)]
pub enum Actor<'a> {
    /// Handling an event.
    Cause(&'a Envelope),
    /// A person or system with this id.
    Principal(&'a str),
}

/// The follow-up service over a store.
#[derive(Clone)]
pub struct FollowUpService<S> {
    store: S,
    policy: Arc<Policy>,
}

impl<S: EventStore> FollowUpService<S> {
    /// The service with this region's follow-up policy
    /// (`scoring::Region::load(..)?.policy.follow_up`).
    pub fn new(store: S, policy: Arc<Policy>) -> Self {
        Self { store, policy }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The stream of a case.
    pub fn stream(case: &CaseId) -> StreamId {
        StreamId::of("followup", case).expect("case ids make valid stream ids")
    }

    /// A case's state.
    pub async fn load(&self, case: &CaseId) -> Result<CaseState, FollowUpError> {
        let stream = Self::stream(case);
        let events = self.store.read_whole_stream(&stream).await?;
        Ok(CaseState::from_events(&events)?)
    }

    fn new_event(case: &CaseId, d: &Decided, actor: &Actor<'_>) -> NewEvent {
        let mut metadata = match actor {
            Actor::Cause(cause) => Metadata::caused_by(COMPONENT, cause),
            Actor::Principal(who) => Metadata {
                actor: Some((*who).to_owned()),
                ..Metadata::system(COMPONENT)
            },
        };
        metadata.district = d.district.clone();
        NewEvent {
            event_id: d.event_id,
            stream_id: Self::stream(case),
            case_id: Some(case.clone()),
            event_type: d.event_type.to_owned(),
            schema_version: 1,
            payload: d.payload.clone(),
            metadata,
            occurred_at: d.occurred_at,
        }
    }

    /// Loads, decides, commits; retries on a concurrent change of the case.
    pub async fn run(
        &self,
        case: &CaseId,
        actor: Actor<'_>,
        decide: impl Fn(&CaseState) -> Result<Decision, Rejection>,
    ) -> Result<Decision, FollowUpError> {
        for _ in 0..20 {
            let state = self.load(case).await?;
            let decision = decide(&state)?;
            if decision.is_empty() && !decision.refresh {
                return Ok(decision);
            }
            let events: Vec<NewEvent> = decision
                .events
                .iter()
                .map(|d| Self::new_event(case, d, &actor))
                .collect();
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
            let mut commit = if events.is_empty() {
                Commit::default()
            } else {
                let expected = state
                    .version
                    .map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                Commit::append(Self::stream(case), expected, events)
            };
            // A refresh rewrites every document: the scheduler appended an event the stored
            // documents have not seen.
            let before = if decision.refresh {
                Vec::new()
            } else {
                documents(case, &state, &self.policy)
            };
            commit.documents = diff(&before, &documents(case, &after, &self.policy));
            for arm in &decision.arm {
                commit.deadlines.push(DeadlineOp::Arm(Box::new(Deadline {
                    deadline_id: arm.deadline_id,
                    kind: arm.kind.into(),
                    case_id: Some(case.clone()),
                    due_at: arm.due_at,
                    event: Self::new_event(case, &arm.event, &Actor::Principal("system:scheduler")),
                })));
            }
            commit
                .deadlines
                .extend(decision.cancel.iter().map(|id| DeadlineOp::Cancel(*id)));
            if commit.is_empty() {
                return Ok(decision);
            }
            match self.store.commit(commit).await {
                Ok(_) => return Ok(decision),
                Err(StoreError::WrongExpectedVersion { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FollowUpError::Busy)
    }

    /// The case an item belongs to, from its document; `may_see` decides on the item's
    /// district.
    pub async fn item_case(
        &self,
        item: Uuid,
        may_see: impl Fn(&str) -> bool,
    ) -> Result<CaseId, FollowUpError> {
        let doc = self
            .store
            .document("followup-item", &item.to_string())
            .await?
            .ok_or(Rejection::NotFound)?;
        let district = doc.body["district"].as_str().unwrap_or_default();
        if !may_see(district) {
            return Err(Rejection::NotFound.into());
        }
        doc.body["case_id"]
            .as_str()
            .and_then(|c| CaseId::parse(c).ok())
            .ok_or_else(|| Rejection::NotFound.into())
    }

    /// Records an attempt on an item (idempotent by `report.request_id`).
    pub async fn attempt(
        &self,
        case: &CaseId,
        item: Uuid,
        report: AttemptReport,
        by: &str,
    ) -> Result<Decision, FollowUpError> {
        let now = self.store.clock().now();
        let policy = self.policy.clone();
        let d = self
            .run(case, Actor::Principal(by), |s| {
                core::on_attempt(s, item, &report, by, now, &policy)
            })
            .await?;
        tracing::info!(case_id = %case, %item, outcome = report.outcome.as_str(), "follow-up attempt recorded");
        Ok(d)
    }

    /// Assigns an item (idempotent by `request_id`).
    pub async fn assign(
        &self,
        case: &CaseId,
        item: Uuid,
        assignee: &str,
        request_id: Uuid,
        by: &str,
    ) -> Result<Decision, FollowUpError> {
        let now = self.store.clock().now();
        self.run(case, Actor::Principal(by), |s| {
            core::on_assign(s, item, assignee, request_id, by, now)
        })
        .await
    }
}

fn decode<E: DomainEvent>(event: &Envelope) -> Result<E, HandlerError> {
    event
        .decode()
        .map_err(|e| HandlerError::Permanent(e.to_string()))
}

impl<S: EventStore> Handler for FollowUpService<S> {
    async fn handle(&self, event: &Envelope) -> Result<(), HandlerError> {
        let Some(case) = event.case_id.clone() else {
            return Ok(());
        };
        let policy = self.policy.clone();
        let cause = event.event_id;
        let actor = Actor::Cause(event);
        let d = if event.is::<RiskCardSubmitted>() {
            let card: RiskCardSubmitted = decode(event)?;
            self.run(&case, actor, |s| {
                Ok(core::on_card(s, &card, cause, &policy))
            })
            .await?
        } else if event.is::<HighRiskCaseOpened>() {
            let h: HighRiskCaseOpened = decode(event)?;
            self.run(&case, actor, |s| Ok(core::on_opened(s, &h, cause, &policy)))
                .await?
        } else if event.is::<CaseTransferred>() {
            let t: CaseTransferred = decode(event)?;
            self.run(&case, actor, |s| {
                Ok(core::on_transferred(s, &t, cause, &policy))
            })
            .await?
        } else if event.is::<PregnancyOutcomeReported>() {
            let o: PregnancyOutcomeReported = decode(event)?;
            self.run(&case, actor, |s| {
                Ok(core::on_outcome_reported(s, &o, cause, &policy))
            })
            .await?
        } else if event.is::<FollowUpMonthEnded>() || event.is::<OutcomeOverdue>() {
            let at = event.occurred_at;
            self.run(&case, actor, |s| Ok(core::on_fired(s, &policy, at)))
                .await?
        } else {
            return Ok(());
        };
        tracing::info!(case_id = %case, event_type = %event.event_type, events = d.events.len(), "follow-up handled");
        Ok(())
    }
}
