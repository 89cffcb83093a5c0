//! The relay: the outbox from the event store to JetStream.
//!
//! It reads `$all` after its checkpoint, publishes each event on its subject with
//! `Nats-Msg-Id = event_id` (plus position, stream, version, type, schema and trace
//! headers), awaits all the acks of a batch (publishing is pipelined), and only then moves
//! its checkpoint. A crash before the checkpoint moves means a republish, which JetStream
//! drops inside its duplicate window and consumers drop after it (derived ids, handled
//! markers). After a NATS host loses its last 60 s (2.9 syncs to disk every minute), an
//! operator resets the checkpoint to an earlier position: the same rules make that safe.

use crate::headers;
use crate::setup::BusError;
use async_nats::jetstream;
use contracts::{Envelope, Subject};
use eventstore::EventStore;
use std::time::Duration;
use tokio::sync::watch;

/// Publishes the store's events to JetStream.
pub struct Relay<S> {
    store: S,
    js: jetstream::Context,
    name: String,
    batch: u32,
    poll: Duration,
}

/// The message headers of an event.
pub fn headers_of(e: &Envelope) -> async_nats::HeaderMap {
    let mut h = async_nats::HeaderMap::new();
    h.insert(headers::MSG_ID, e.event_id.to_string().as_str());
    h.insert(headers::POSITION, e.position.to_string().as_str());
    h.insert(headers::STREAM, e.stream_id.as_str());
    h.insert(headers::VERSION, e.version.to_string().as_str());
    h.insert(headers::EVENT_TYPE, e.event_type.as_str());
    h.insert(headers::SCHEMA, e.schema_version.to_string().as_str());
    if let Some(trace) = &e.metadata.trace {
        h.insert(headers::TRACEPARENT, trace.as_str());
    }
    h
}

impl<S: EventStore> Relay<S> {
    /// A relay whose checkpoint is called `relay`.
    pub fn new(store: S, js: jetstream::Context) -> Self {
        Self {
            store,
            js,
            name: "relay".into(),
            batch: 256,
            poll: Duration::from_millis(200),
        }
    }

    /// The checkpoint's name (several relays to several NATS systems need their own).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Events per batch (default 256).
    pub fn batch(mut self, batch: u32) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Publishes the next batch after the checkpoint and waits for every ack. Returns the
    /// position of the last acked event, or None when there was nothing to publish. Does
    /// not move the checkpoint: see [`Relay::step`].
    pub async fn publish_batch(&self) -> Result<Option<i64>, BusError> {
        let from = self.store.checkpoint(&self.name).await?;
        let events = self.store.read_all(from, self.batch).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(None);
        };
        let mut acks = Vec::with_capacity(events.len());
        for e in &events {
            let payload = serde_json::to_vec(e).map_err(BusError::js)?;
            let ack = self
                .js
                .publish_with_headers(Subject::of(e), headers_of(e), payload.into())
                .await
                .map_err(BusError::js)?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.map_err(BusError::js)?;
        }
        Ok(Some(last))
    }

    /// Moves the checkpoint to `position` (after its acks).
    pub async fn save_checkpoint(&self, position: i64) -> Result<(), BusError> {
        let commit = eventstore::Commit {
            checkpoint: Some((self.name.clone(), position)),
            ..eventstore::Commit::default()
        };
        self.store.commit(commit).await?;
        Ok(())
    }

    /// One batch: publish, await acks, move the checkpoint. Returns how far it got.
    pub async fn step(&self) -> Result<Option<i64>, BusError> {
        let last = self.publish_batch().await?;
        if let Some(p) = last {
            self.save_checkpoint(p).await?;
        }
        Ok(last)
    }

    /// Relays until `shutdown` turns true; waits for appends (or polls, for other
    /// processes' appends) when caught up, backs off on errors (NATS down).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut appended = self.store.appended();
        let mut backoff = Duration::from_millis(100);
        while !*shutdown.borrow() {
            match self.step().await {
                Ok(Some(position)) => {
                    tracing::debug!(position, "relayed");
                    backoff = Duration::from_millis(100);
                }
                Ok(None) => {
                    tokio::select! {
                        _ = appended.changed() => {}
                        _ = tokio::time::sleep(self.poll) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "relay step failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
