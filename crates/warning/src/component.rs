//! The warning service: loads a case's state from `warning-<case>`, asks the pure core what
//! to do, and commits the new events, the read-model diff and the deadline changes in one
//! transaction with the expected version (retrying when another instance got there first).
//! Consumes `RiskAssessed`, its own `DistrictAlertOverdue` (fired by the deadline
//! scheduler), `PregnancyOutcomeReported` (a maternal death's report alert) and
//! `FollowUpAlertRaised` (lost to follow-up); acknowledgements and not-suitable judgements
//! come in as commands.

use crate::core::{self, CaseState, Decided, Decision, Rejection};
use crate::events::{AlertKind, DistrictAlertOverdue, NotSuitableRecorded};
use crate::projection::{diff, documents};
use bus::{ConsumerConfig, Handler, HandlerError};
use contracts::{
    CaseId, DistrictCode, DomainEvent, Envelope, FollowUpAlertRaised, Metadata, NewEvent,
    OutcomeKind, PregnancyOutcomeReported, StreamId, Subject,
};
use eventstore::{Commit, Deadline, DeadlineOp, EventStore, ExpectedVersion, StoreError};
use scoring::{AlertTrigger, Policy, RiskAssessed};
use std::sync::Arc;
use uuid::Uuid;

/// The component's name in metadata.
pub const COMPONENT: &str = "warning";

/// The durable consumers, one per event type (nats-server 2.9 allows one filter subject per
/// consumer).
pub fn consumer_configs() -> [ConsumerConfig; 4] {
    [
        ConsumerConfig::new(
            "warning-assessed",
            Subject::event_type(RiskAssessed::EVENT_TYPE),
        ),
        ConsumerConfig::new(
            "warning-overdue",
            Subject::event_type(DistrictAlertOverdue::EVENT_TYPE),
        ),
        ConsumerConfig::new(
            "warning-outcome",
            Subject::event_type(PregnancyOutcomeReported::EVENT_TYPE),
        ),
        ConsumerConfig::new(
            "warning-follow-up",
            Subject::event_type(FollowUpAlertRaised::EVENT_TYPE),
        ),
    ]
}

/// What can go wrong in the service (see [`bus::ComponentError`]).
pub type WarningError = bus::ComponentError<Rejection>;

impl From<Rejection> for WarningError {
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

/// The warning service over a store.
#[derive(Clone)]
pub struct Warning<S> {
    store: S,
    policy: Arc<Policy>,
}

impl<S: EventStore> Warning<S> {
    /// The service with this region policy.
    pub fn new(store: S, policy: Arc<Policy>) -> Self {
        Self { store, policy }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// A case's grading as the warning read model holds it (`case_id`, `district`, current
    /// `grade`, `assessed_at`, `high_risk_since`, `history` of every grade with its time and
    /// institution, `transfers`); `None` before scoring graded her. No scoping here: callers
    /// show it only to a principal already allowed to see the case.
    pub async fn grading(&self, case: &CaseId) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self
            .store
            .document("case-warning", case.as_str())
            .await?
            .map(|d| d.body))
    }

    fn stream(case: &CaseId) -> StreamId {
        StreamId::of("warning", case).expect("case ids make valid stream ids")
    }

    /// A case's state.
    pub async fn load(&self, case: &CaseId) -> Result<CaseState, WarningError> {
        let stream = Self::stream(case);
        let events = self.store.read_whole_stream(&stream).await?;
        Ok(CaseState::from_events(&events)?)
    }

    fn new_event(
        &self,
        case: &CaseId,
        d: &Decided,
        actor: &Actor<'_>,
    ) -> Result<NewEvent, WarningError> {
        let mut metadata = match actor {
            Actor::Cause(cause) => Metadata::caused_by(COMPONENT, cause),
            Actor::Principal(who) => Metadata {
                actor: Some((*who).to_owned()),
                ..Metadata::system(COMPONENT)
            },
        };
        metadata.district = Some(d.district.clone());
        Ok(NewEvent {
            event_id: d.event_id,
            stream_id: Self::stream(case),
            case_id: Some(case.clone()),
            event_type: d.event_type.to_owned(),
            schema_version: 1,
            payload: d.payload.clone(),
            metadata,
            occurred_at: d.occurred_at,
        })
    }

    /// Loads, decides, commits; retries on a concurrent change of the case.
    pub async fn run(
        &self,
        case: &CaseId,
        actor: Actor<'_>,
        decide: impl Fn(&CaseState) -> Result<Decision, Rejection>,
    ) -> Result<Decision, WarningError> {
        for _ in 0..20 {
            let state = self.load(case).await?;
            let decision = decide(&state)?;
            if decision.events.is_empty() && decision.cancel.is_empty() && decision.arm.is_empty() {
                if decision.refresh {
                    let docs = documents(case, &state);
                    self.store
                        .commit(Commit {
                            documents: diff(&[], &docs),
                            ..Commit::default()
                        })
                        .await?;
                }
                return Ok(decision);
            }
            let events: Vec<NewEvent> = decision
                .events
                .iter()
                .map(|d| self.new_event(case, d, &actor))
                .collect::<Result<_, _>>()?;
            // The state after, for the read-model diff.
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
            let mut commit = Commit::append(Self::stream(case), expected, events);
            commit.documents = diff(&documents(case, &state), &documents(case, &after));
            for arm in &decision.arm {
                commit.deadlines.push(DeadlineOp::Arm(Box::new(Deadline {
                    deadline_id: arm.deadline_id,
                    kind: "alert-ack".into(),
                    case_id: Some(case.clone()),
                    due_at: arm.due_at,
                    event: self.new_event(
                        case,
                        &arm.event,
                        &Actor::Principal("system:scheduler"),
                    )?,
                })));
            }
            commit
                .deadlines
                .extend(decision.cancel.iter().map(|id| DeadlineOp::Cancel(*id)));
            match self.store.commit(commit).await {
                Ok(_) => return Ok(decision),
                Err(StoreError::WrongExpectedVersion { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(WarningError::Busy)
    }

    /// Rebuilds every warning read model from the log in one pass (`referral replay`
    /// rebuilds them together with the other components' read models through
    /// [`crate::replay::replayer`]). `progress(position, head)` after each page. Returns the
    /// cases rebuilt. Run it with the warning consumers stopped; it is idempotent, so an
    /// interrupted run is finished by running it again.
    pub async fn rebuild(
        &self,
        progress: impl FnMut(i64, i64),
    ) -> Result<usize, eventstore::subscription::SubscriptionError> {
        let parts: Vec<Box<dyn eventstore::rebuild::Rebuild>> =
            vec![Box::new(crate::replay::replayer())];
        let rebuilt = eventstore::rebuild::rebuild(&self.store, parts, progress).await?;
        Ok(rebuilt.states[0])
    }

    /// An office acknowledges an alert (idempotent). Returns the alert's case.
    pub async fn acknowledge(
        &self,
        alert_id: Uuid,
        office: &DistrictCode,
        by: &str,
    ) -> Result<CaseId, WarningError> {
        let doc = self
            .store
            .document("alert", &alert_id.to_string())
            .await?
            .ok_or(Rejection::NotFound)?;
        if doc.scope != office.as_str() {
            return Err(Rejection::Forbidden.into());
        }
        let case = doc
            .body
            .get("case_id")
            .and_then(|c| c.as_str())
            .and_then(|c| CaseId::parse(c).ok())
            .ok_or(Rejection::NotFound)?;
        let now = self.store.clock().now();
        self.run(&case, Actor::Principal(by), |s| {
            core::on_acknowledge(s, alert_id, office, by, now)
        })
        .await?;
        Ok(case)
    }

    /// Records a not-suitable judgement (idempotent by `request_id`).
    pub async fn not_suitable(
        &self,
        case: &CaseId,
        request_id: Uuid,
        record: NotSuitableRecorded,
    ) -> Result<(), WarningError> {
        let by = record.recorded_by.clone();
        self.run(case, Actor::Principal(&by), |s| {
            if s.history.is_empty() {
                return Err(Rejection::NotFound);
            }
            Ok(core::on_not_suitable(s, request_id, record.clone()))
        })
        .await?;
        Ok(())
    }
}

impl<S: EventStore> Handler for Warning<S> {
    async fn handle(&self, event: &Envelope) -> Result<(), HandlerError> {
        let Some(case) = event.case_id.clone() else {
            return Ok(());
        };
        if event.is::<RiskAssessed>() {
            let ra: RiskAssessed = event
                .decode()
                .map_err(|e| HandlerError::Permanent(e.to_string()))?;
            let policy = self.policy.clone();
            let d = self
                .run(&case, Actor::Cause(event), |s| {
                    Ok(core::on_assessed(s, &ra, event.event_id, &policy))
                })
                .await?;
            tracing::info!(case_id = %case, events = d.events.len(), "assessment handled");
        } else if event.is::<DistrictAlertOverdue>() {
            let o: DistrictAlertOverdue = event
                .decode()
                .map_err(|e| HandlerError::Permanent(e.to_string()))?;
            let d = self
                .run(&case, Actor::Cause(event), |s| {
                    Ok(core::on_overdue(s, &o, event.event_id))
                })
                .await?;
            tracing::warn!(case_id = %case, escalations = d.events.len(), "alert overdue");
        } else if let Some(alert) = event_alert(event)? {
            let policy = self.policy.clone();
            let d = self
                .run(&case, Actor::Cause(event), |s| {
                    core::on_event_alert(s, &case, &alert, event.event_id, &policy)
                })
                .await
                .map_err(|e| match e {
                    // The assessment is still on its way: NAK, and see it again later.
                    WarningError::Rejected(Rejection::NotYetGraded) => {
                        HandlerError::Transient(e.to_string())
                    }
                    e => e.into(),
                })?;
            tracing::info!(case_id = %case, kind = ?alert.kind, alerts = d.events.len(), "event alert handled");
        }
        Ok(())
    }
}

/// The alert an event (not an assessment) asks of the district, if any: a maternal death's
/// report, or follow-up losing her.
fn event_alert(event: &Envelope) -> Result<Option<core::EventAlert>, HandlerError> {
    let permanent = |e: contracts::EnvelopeError| HandlerError::Permanent(e.to_string());
    if event.is::<PregnancyOutcomeReported>() {
        let o: PregnancyOutcomeReported = event.decode().map_err(permanent)?;
        if o.outcome != OutcomeKind::MaternalDeath {
            return Ok(None);
        }
        return Ok(Some(core::EventAlert {
            kind: AlertKind::MaternalDeath,
            trigger: AlertTrigger::MaternalDeath,
            at: o.occurred_at,
            received_at: event.recorded_at,
            district: None,
            institution: Some(o.institution),
        }));
    }
    if event.is::<FollowUpAlertRaised>() {
        let a: FollowUpAlertRaised = event.decode().map_err(permanent)?;
        if a.reason != "lost_to_follow_up" {
            return Ok(None);
        }
        return Ok(Some(core::EventAlert {
            kind: AlertKind::LostToFollowUp,
            trigger: AlertTrigger::LostToFollowUp,
            at: a.at,
            received_at: a.at.max(event.occurred_at),
            district: Some(a.district),
            institution: None,
        }));
    }
    Ok(None)
}
