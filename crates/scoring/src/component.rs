//! The scoring service: the thin edge that wires the pure engine to the bus and the store.
//! It consumes `RiskCardSubmitted` (durable consumer `scoring`) and appends one `RiskAssessed`
//! per card. Idempotent: the emitted id is derived from the card event's id, so redelivery
//! appends nothing new. Past assessments are never rewritten; a new catalogue version only
//! changes assessments made after it is loaded.

use crate::engine::assess;
use crate::events::RiskAssessed;
use crate::{Card, Catalogues, Policy};
use bus::{ConsumerConfig, Handler, HandlerError};
use contracts::{
    china_offset, derive_event_id, Envelope, Metadata, NewEvent, RiskCardSubmitted, StreamId,
    Subject,
};
use eventstore::{Commit, EventStore, ExpectedVersion};
use std::sync::Arc;

/// The component's durable consumer name.
pub const DURABLE: &str = "scoring";

/// The consumer settings: every `RiskCardSubmitted`, all districts.
pub fn consumer_config() -> ConsumerConfig {
    ConsumerConfig::new(
        DURABLE,
        Subject::event_type(<RiskCardSubmitted as contracts::DomainEvent>::EVENT_TYPE),
    )
}

/// Grades cards as they arrive.
pub struct ScoringHandler<S> {
    store: S,
    catalogues: Arc<Catalogues>,
    policy: Arc<Policy>,
}

impl<S: EventStore> ScoringHandler<S> {
    /// A handler grading with these catalogues and this policy.
    pub fn new(store: S, catalogues: Arc<Catalogues>, policy: Arc<Policy>) -> Self {
        Self {
            store,
            catalogues,
            policy,
        }
    }

    /// The `RiskAssessed` event for a submitted card (pure apart from reading nothing: the
    /// assessment date is the card's, in UTC+8).
    pub fn grade(
        &self,
        cause: &Envelope,
        card: &RiskCardSubmitted,
    ) -> Result<NewEvent, HandlerError> {
        let mut measurements = card.measurements.clone();
        measurements.birth_date = measurements.birth_date.or(Some(card.woman.birth_date));
        let input = Card {
            assessed_on: card.assessed_at.to_offset(china_offset()).date(),
            findings: card.findings.clone(),
            measurements,
            declared_colour: card.declared_colour,
        };
        let assessment = assess(&input, &self.catalogues, &self.policy)
            .map_err(|e| HandlerError::Permanent(format!("card cannot be graded: {e}")))?;
        let event = RiskAssessed {
            case_id: card.case_id.clone(),
            card_id: card.card_id.clone(),
            card_event_id: cause.event_id,
            institution: card.institution.clone(),
            institution_district: card.institution_district.clone(),
            residence_district: card.woman.residence_district.clone(),
            assessed_at: card.assessed_at,
            received_at: card.received_at,
            critical: card.critical,
            assessment,
        };
        let mut metadata = Metadata::caused_by("scoring", cause);
        metadata.district = Some(card.woman.residence_district.clone());
        let stream = StreamId::of("assessment", &card.case_id)
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        NewEvent::from_domain(
            derive_event_id(cause.event_id, "RiskAssessed"),
            stream,
            Some(card.case_id.clone()),
            &event,
            metadata,
            card.assessed_at,
        )
        .map_err(|e| HandlerError::Permanent(e.to_string()))
    }
}

impl<S: EventStore> Handler for ScoringHandler<S> {
    async fn handle(&self, event: &Envelope) -> Result<(), HandlerError> {
        if !event.is::<RiskCardSubmitted>() {
            return Ok(()); // not ours: ack and skip
        }
        let card: RiskCardSubmitted = event
            .decode()
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let graded = self.grade(event, &card)?;
        let stream = graded.stream_id.clone();
        let outcome = self
            .store
            .commit(Commit::append(stream, ExpectedVersion::Any, vec![graded]))
            .await?;
        tracing::info!(
            case_id = %card.case_id,
            replay = outcome.appends.first().is_some_and(|a| a.already_stored),
            "card graded"
        );
        Ok(())
    }
}
