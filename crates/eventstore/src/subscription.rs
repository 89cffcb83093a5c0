//! Catch-up subscriptions: a projection reads `$all` from its checkpoint and commits its
//! effects together with the new checkpoint, in one transaction. A crash at any point
//! leaves effects and checkpoint in step, so nothing is applied twice or skipped.
//!
//! Because positions are dense and in commit order, reading "after my checkpoint" never
//! passes an event that commits late: a slow append holds the log head, so nothing after it
//! can be committed before it.

use crate::{Commit, EventStore, StoreError};
use contracts::Envelope;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// Boxed error a projection returns.
pub type ProjectionError = Box<dyn std::error::Error + Send + Sync>;

/// A read model or handler fed from `$all`.
pub trait Projection: Send {
    /// The effects of one event (documents, events, deadlines); the subscription adds the
    /// checkpoint. Return `Commit::default()` for events it ignores.
    fn handle(
        &mut self,
        event: &Envelope,
    ) -> impl Future<Output = Result<Commit, ProjectionError>> + Send;
}

/// Why a subscription step failed.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The projection failed on the event at `position`.
    #[error("projection failed at position {position}: {source}")]
    Projection {
        /// Where.
        position: i64,
        /// Why.
        source: ProjectionError,
    },
}

/// A named, checkpointed reader of `$all`.
pub struct CatchUp<S, P> {
    store: S,
    name: String,
    projection: P,
    batch: u32,
    poll: Duration,
}

impl<S: EventStore, P: Projection> CatchUp<S, P> {
    /// A subscription called `name` (the checkpoint's name).
    pub fn new(store: S, name: impl Into<String>, projection: P) -> Self {
        Self {
            store,
            name: name.into(),
            projection,
            batch: 500,
            poll: Duration::from_millis(250),
        }
    }

    /// How many events one step reads (default 500).
    pub fn batch(mut self, batch: u32) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// How often to look for events appended by other processes (default 250 ms).
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The projection, e.g. to inspect it in a test.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// Reads one batch after the checkpoint and applies it. Returns how many events it saw.
    pub async fn step(&mut self) -> Result<usize, SubscriptionError> {
        let from = self.store.checkpoint(&self.name).await?;
        let events = self.store.read_all(from, self.batch).await?;
        let mut pending_checkpoint = None;
        for event in &events {
            let mut commit = self.projection.handle(event).await.map_err(|source| {
                SubscriptionError::Projection {
                    position: event.position,
                    source,
                }
            })?;
            if commit.is_empty() {
                pending_checkpoint = Some(event.position);
                continue;
            }
            commit.checkpoint = Some((self.name.clone(), event.position));
            self.store.commit(commit).await?;
            pending_checkpoint = None;
        }
        if let Some(position) = pending_checkpoint {
            let commit = Commit {
                checkpoint: Some((self.name.clone(), position)),
                ..Commit::default()
            };
            self.store.commit(commit).await?;
        }
        Ok(events.len())
    }

    /// Steps until `shutdown` turns true, waiting for appends (or the poll interval) when
    /// caught up and backing off after errors.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut appended = self.store.appended();
        let mut backoff = Duration::from_millis(100);
        while !*shutdown.borrow() {
            match self.step().await {
                Ok(n) if n > 0 => {
                    backoff = Duration::from_millis(100);
                    continue;
                }
                Ok(_) => {
                    tokio::select! {
                        _ = appended.changed() => {}
                        _ = tokio::time::sleep(self.poll) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::error!(subscription = %self.name, error = %e, "subscription step failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}
