//! The deadline scheduler: fires armed deadlines whose time has come (by the injected
//! clock) into their prepared events. Several schedulers may run against one PostgreSQL
//! database (claims use `SKIP LOCKED`); on SQLite the single writer serialises them.
//! Downtime loses nothing: a deadline that passed while no scheduler ran fires at the next
//! tick, with the event's `occurred_at` still the deadline's own time.

use crate::{EventStore, StoreError};
use std::time::Duration;
use tokio::sync::watch;

/// Fires due deadlines in batches.
#[derive(Debug, Clone)]
pub struct Scheduler<S> {
    store: S,
    batch: u32,
    interval: Duration,
}

impl<S: EventStore> Scheduler<S> {
    /// A scheduler over `store`, checking every `interval`.
    pub fn new(store: S, interval: Duration) -> Self {
        Self {
            store,
            batch: 100,
            interval,
        }
    }

    /// Fires every deadline due now; returns how many fired.
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let fired = self.store.fire_due_deadlines(self.batch).await?;
            total += fired.len();
            if fired.len() < self.batch as usize {
                return Ok(total);
            }
        }
    }

    /// Ticks every interval until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            match self.tick().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(fired = n, "deadlines fired"),
                Err(e) => tracing::error!(error = %e, "deadline scheduler tick failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
