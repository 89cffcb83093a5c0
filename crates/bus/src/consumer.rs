//! Durable pull consumers: explicit ack, bounded redelivery with back-off, poison messages
//! recorded in the store's dead-letter table and terminated.
//!
//! Handlers must be idempotent, and the store makes that easy: a handler that emits events
//! derives their ids from the handled event's id ([`contracts::derive_event_id`]), so a
//! redelivered message appends nothing new; a handler that only writes documents sets the
//! commit's `handled` marker. Redelivery (lost ack, ack-wait expiry, server restart, a crash
//! after commit before ack) is then harmless.
//!
//! Unknown event types are the handler's call; the policy of this service is to ack and
//! skip them (a newer producer may add types an older consumer does not know).
//!
//! A consumer handles several messages at once, in lanes: every message of one case goes
//! to the same lane (a hash of its case id, or of its stream id when it has no case), and a
//! lane handles its messages one at a time, in the order they arrived. So one case's events
//! are handled in order, as with a single lane, while other cases' events proceed beside
//! them and their commits share the store's group transactions.

use crate::setup::BusError;
use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, AckKind};
use contracts::{Envelope, STREAM_NAME};
use eventstore::{DeadLetter, EventStore};
use futures::{FutureExt, StreamExt};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

/// Why a handler could not handle a message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying (the database is down, a conflict that a retry resolves).
    #[error("transient: {0}")]
    Transient(String),
    /// Will never succeed (the message is malformed): dead-letter it now.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<eventstore::StoreError> for HandlerError {
    fn from(e: eventstore::StoreError) -> Self {
        if e.is_transient() {
            Self::Transient(e.to_string())
        } else {
            Self::Permanent(e.to_string())
        }
    }
}

/// What a component's service (load its stream, decide, commit) can fail with: its own
/// refusal `R`, the store, a stored event that does not decode, or too many concurrent
/// writers on one stream. Each component names it: `type WarningError = ComponentError<Rejection>`.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError<R> {
    /// The command was refused.
    #[error(transparent)]
    Rejected(R),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] eventstore::StoreError),
    /// A stored event does not decode.
    #[error(transparent)]
    Event(#[from] contracts::EnvelopeError),
    /// The stream kept changing under concurrent writers.
    #[error("it kept changing under concurrent writers; try again")]
    Busy,
}

impl<R: std::error::Error> From<ComponentError<R>> for HandlerError {
    fn from(e: ComponentError<R>) -> Self {
        match e {
            ComponentError::Store(s) => s.into(),
            ComponentError::Busy => HandlerError::Transient(e.to_string()),
            other => HandlerError::Permanent(other.to_string()),
        }
    }
}

/// A component's reaction to the events it subscribes to.
pub trait Handler: Send + Sync + 'static {
    /// Handles one event. Must be idempotent.
    fn handle(&self, event: &Envelope) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// A durable consumer's settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Durable name (one per component: `scoring`, `warning`, …).
    pub durable: String,
    /// The subject filter (one: nats-server 2.9 knows no lists).
    pub filter_subject: String,
    /// Deliveries before a message is dead-lettered.
    pub max_deliver: i64,
    /// Delay before the n-th redelivery (the last entry repeats).
    pub backoff: Vec<Duration>,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Unacked messages in flight at most.
    pub max_ack_pending: i64,
    /// Messages handled at once, each case's in order (see the module docs); 1 handles one
    /// message at a time.
    pub lanes: usize,
}

/// Messages queued per lane before the consumer stops pulling.
const LANE_DEPTH: usize = 32;

impl ConsumerConfig {
    /// Defaults: 6 deliveries, back-off 1 s, 5 s, 30 s, 2 min, 5 min; ack wait 30 s;
    /// 1,000 unacked messages; 8 lanes.
    pub fn new(durable: impl Into<String>, filter_subject: impl Into<String>) -> Self {
        Self {
            durable: durable.into(),
            filter_subject: filter_subject.into(),
            max_deliver: 6,
            backoff: [1, 5, 30, 120, 300].map(Duration::from_secs).to_vec(),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 1000,
            lanes: 8,
        }
    }

    /// The same consumer with `lanes` lanes.
    pub fn with_lanes(mut self, lanes: usize) -> Self {
        self.lanes = lanes.max(1);
        self
    }

    fn delay_after(&self, delivered: i64) -> Duration {
        let i = usize::try_from(delivered.max(1) - 1).unwrap_or(0);
        self.backoff
            .get(i)
            .or(self.backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Handled and acked.
    Acked,
    /// Handler failed; redelivery asked for after a back-off.
    Retrying,
    /// Recorded as a dead letter and terminated.
    DeadLettered,
}

/// A durable pull consumer feeding a handler.
pub struct Consumer<S, H> {
    store: S,
    js: jetstream::Context,
    config: ConsumerConfig,
    handler: H,
}

impl<S: EventStore, H: Handler> Consumer<S, H> {
    /// A consumer on the `REFERRAL` stream.
    pub fn new(store: S, js: jetstream::Context, config: ConsumerConfig, handler: H) -> Self {
        Self {
            store,
            js,
            config,
            handler,
        }
    }

    /// The handler (tests inspect it).
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Creates the durable consumer, or binds to it.
    pub async fn durable(&self) -> Result<pull::Stream, BusError> {
        let stream = self
            .js
            .get_stream(STREAM_NAME)
            .await
            .map_err(BusError::js)?;
        let c = &self.config;
        let consumer: jetstream::consumer::Consumer<pull::Config> = stream
            .get_or_create_consumer(
                &c.durable,
                pull::Config {
                    durable_name: Some(c.durable.clone()),
                    filter_subject: c.filter_subject.clone(),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: c.ack_wait,
                    max_deliver: c.max_deliver,
                    max_ack_pending: c.max_ack_pending,
                    ..Default::default()
                },
            )
            .await
            .map_err(BusError::js)?;
        consumer.messages().await.map_err(BusError::js)
    }

    /// Handles one message and acks, naks or terminates it.
    pub async fn process(&self, msg: &jetstream::Message) -> Disposition {
        self.process_parsed(msg, parse(msg)).await
    }

    /// [`Consumer::process`] for a message whose payload was parsed already.
    async fn process_parsed(
        &self,
        msg: &jetstream::Message,
        parsed: Result<Envelope, String>,
    ) -> Disposition {
        let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
        let envelope = match parsed {
            Ok(e) => e,
            Err(reason) => return self.dead_letter(msg, None, delivered, reason).await,
        };
        let span = tracing::info_span!(
            "handle",
            consumer = %self.config.durable,
            event_type = %envelope.event_type,
            event_id = %envelope.event_id,
            position = envelope.position,
            case_id = envelope.case_id.as_ref().map(|c| c.as_str()).unwrap_or(""),
            traceparent = envelope.metadata.trace.as_deref().unwrap_or(""),
        );
        let result = AssertUnwindSafe(self.handler.handle(&envelope).instrument(span))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(HandlerError::Transient("the handler panicked".into())));
        match result {
            Ok(()) => {
                if let Err(e) = msg.ack().await {
                    // The effects are committed; a redelivery will find them done.
                    tracing::warn!(event_id = %envelope.event_id, error = %e, "ack failed");
                }
                Disposition::Acked
            }
            Err(HandlerError::Transient(reason)) if delivered < self.config.max_deliver => {
                let delay = self.config.delay_after(delivered);
                tracing::warn!(event_id = %envelope.event_id, delivered, ?delay, %reason, "handler failed; will retry");
                msg.ack_with(AckKind::Nak(Some(delay))).await.ok();
                Disposition::Retrying
            }
            Err(e) => {
                self.dead_letter(msg, Some(envelope.event_id), delivered, e.to_string())
                    .await
            }
        }
    }

    async fn dead_letter(
        &self,
        msg: &jetstream::Message,
        event_id: Option<uuid::Uuid>,
        delivered: i64,
        error: String,
    ) -> Disposition {
        let letter = DeadLetter {
            consumer: self.config.durable.clone(),
            event_id,
            subject: msg.subject.to_string(),
            deliveries: delivered,
            error: error.clone(),
            payload: String::from_utf8_lossy(&msg.payload).into_owned(),
            recorded_at: self.store.clock().now(),
        };
        match self.store.record_dead_letter(letter).await {
            Ok(()) => {
                tracing::error!(consumer = %self.config.durable, ?event_id, delivered, %error, "message dead-lettered");
                msg.ack_with(AckKind::Term).await.ok();
                Disposition::DeadLettered
            }
            Err(e) => {
                // Never drop a message we could not record: try again later.
                tracing::error!(error = %e, "could not record a dead letter; will retry");
                msg.ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                    .await
                    .ok();
                Disposition::Retrying
            }
        }
    }

    /// Consumes until `shutdown` turns true, re-binding after errors (server restarts).
    /// Each lane finishes the message it is handling; messages still queued are not acked
    /// and come back on the next start.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let me = Arc::new(self);
        let mut lanes = Vec::with_capacity(me.config.lanes.max(1));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..me.config.lanes.max(1) {
            let (tx, mut rx) =
                mpsc::channel::<(jetstream::Message, Result<Envelope, String>)>(LANE_DEPTH);
            lanes.push(tx);
            let me = Arc::clone(&me);
            let mut stop = shutdown.clone();
            tasks.spawn(async move {
                while !*stop.borrow() {
                    let next = tokio::select! {
                        biased;
                        _ = stop.changed() => break,
                        next = rx.recv() => next,
                    };
                    let Some((msg, parsed)) = next else { break };
                    me.process_parsed(&msg, parsed).await;
                }
            });
        }
        me.pull(&lanes, shutdown).await;
        drop(lanes);
        while tasks.join_next().await.is_some() {}
    }

    /// Pulls messages and hands each to its case's lane, until `shutdown` turns true.
    async fn pull(
        &self,
        lanes: &[mpsc::Sender<(jetstream::Message, Result<Envelope, String>)>],
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut backoff = Duration::from_millis(200);
        while !*shutdown.borrow() {
            let mut messages = match self.durable().await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(consumer = %self.config.durable, error = %e, "cannot bind consumer; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(200);
            loop {
                let next = tokio::select! {
                    next = messages.next() => next,
                    _ = shutdown.changed() => return,
                };
                match next {
                    Some(Ok(msg)) => {
                        let parsed = parse(&msg);
                        let lane = &lanes[lane_of(parsed.as_ref().ok(), lanes.len())];
                        tokio::select! {
                            sent = lane.send((msg, parsed)) => if sent.is_err() { return },
                            _ = shutdown.changed() => return,
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(consumer = %self.config.durable, error = %e, "consumer stream error");
                        if matches!(
                            e.kind(),
                            jetstream::consumer::pull::MessagesErrorKind::MissingHeartbeat
                                | jetstream::consumer::pull::MessagesErrorKind::ConsumerDeleted
                        ) {
                            break;
                        }
                    }
                    None => break,
                }
            }
        }
    }
}

/// A message's envelope, or why it is not one.
fn parse(msg: &jetstream::Message) -> Result<Envelope, String> {
    serde_json::from_slice(&msg.payload).map_err(|e| format!("not an event envelope: {e}"))
}

/// The lane of an event: by case, else by stream (lane 0 for what is not an event).
fn lane_of(envelope: Option<&Envelope>, lanes: usize) -> usize {
    let Some(e) = envelope else { return 0 };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match &e.case_id {
        Some(case) => case.as_str().hash(&mut h),
        None => e.stream_id.as_str().hash(&mut h),
    }
    usize::try_from(h.finish() % lanes.max(1) as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_case_always_takes_one_lane_and_cases_spread() {
        let event = |case: &str, stream: &str| -> Envelope {
            serde_json::from_value(serde_json::json!({
                "event_id": uuid::Uuid::new_v4(),
                "stream_id": stream,
                "case_id": case,
                "event_type": "T",
                "schema_version": 1,
                "position": 1,
                "version": 1,
                "payload": {},
                "metadata": {"component": "t"},
                "occurred_at": "2026-03-01T00:00:00Z",
                "recorded_at": "2026-03-01T00:00:00Z",
            }))
            .expect("an envelope")
        };
        let a = lane_of(Some(&event("woman-a", "assessment-woman-a")), 8);
        assert_eq!(a, lane_of(Some(&event("woman-a", "warning-woman-a")), 8));
        let used: std::collections::BTreeSet<usize> = (0..200)
            .map(|i| lane_of(Some(&event(&format!("woman-{i}"), "s-x")), 8))
            .collect();
        assert_eq!(used.len(), 8, "200 cases use every lane");
        assert!((0..50).all(|i| lane_of(Some(&event(&format!("woman-{i}"), "s-x")), 1) == 0));
        assert_eq!(lane_of(None, 8), 0);
    }
}
