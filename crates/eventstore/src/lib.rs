//! The append-only, tamper-evident event store: the system of record and the audit trail.
//!
//! One trait, [`EventStore`], two backends: [`PgStore`] (PostgreSQL, production) and
//! [`SqliteStore`] (the embedded default). [`Store`] picks one at run time from a URL.
//!
//! What it guarantees:
//! - appends are checked against an expected version and are idempotent by `event_id`
//!   (the same events again return their stored positions; a partial overlap is an error;
//!   success is never reported for events that were not stored);
//! - the global position is dense and in commit order: every append takes the lock on the
//!   one-row `log_head` as its last step, so a reader tailing `$all` never passes an event
//!   that commits late;
//! - each row carries `hash = SHA-256(prev_hash ‖ row)`; [`audit::verify`] recomputes it;
//!   triggers reject UPDATE and DELETE on `events`;
//! - a [`Commit`] also carries a subscriber checkpoint, read-model documents, deadlines and
//!   a handled-message marker, all in the same transaction as its events;
//! - deadlines are rows: armed and cancelled with the events that start and end them,
//!   fired by [`EventStore::fire_due_deadlines`] into an event whose id was fixed at arming.
//!
//! What it does not do: it knows no domain event and never decodes payloads; it never talks
//! to NATS (the `bus` crate's relay tails it).

pub mod audit;
pub mod common;
mod engine;
mod postgres;
pub mod rebuild;
pub mod scheduler;
mod sqlite;
pub mod subscription;
mod types;

pub use common::RawRow;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use types::*;

use contracts::{CaseId, Clock, Envelope, StreamId};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// The store's operations. Both backends pass the same conformance suite.
pub trait EventStore: Clone + Send + Sync + 'static {
    /// `postgres` or `sqlite`.
    fn backend(&self) -> &'static str;

    /// The clock that stamps `recorded_at` and decides which deadlines are due.
    fn clock(&self) -> &Arc<dyn Clock>;

    /// Applies a commit atomically.
    fn commit(
        &self,
        commit: Commit,
    ) -> impl Future<Output = Result<CommitOutcome, StoreError>> + Send;

    /// Test hook: does everything a commit does, then waits for `gate` before committing
    /// (`true`) or rolling back (`false` or a dropped sender). Holds the log head meanwhile.
    #[doc(hidden)]
    fn commit_gated(
        &self,
        commit: Commit,
        gate: oneshot::Receiver<bool>,
    ) -> impl Future<Output = Result<CommitOutcome, StoreError>> + Send;

    /// Up to `limit` events of `$all` after position `after`, in order.
    fn read_all(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Envelope>, StoreError>> + Send;

    /// Up to `limit` events of a stream from version `from` (inclusive), in order.
    fn read_stream(
        &self,
        stream: &StreamId,
        from: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Envelope>, StoreError>> + Send;

    /// Every event of a stream, in order (read in pages of 1,000).
    fn read_whole_stream(
        &self,
        stream: &StreamId,
    ) -> impl Future<Output = Result<Vec<Envelope>, StoreError>> + Send {
        async move {
            let mut events: Vec<Envelope> = Vec::new();
            loop {
                let from = events.last().map_or(1, |e| e.version + 1);
                let batch = self.read_stream(stream, from, 1000).await?;
                let done = batch.len() < 1000;
                events.extend(batch);
                if done {
                    return Ok(events);
                }
            }
        }
    }

    /// Up to `limit` events of a case after position `after`, in log order.
    fn read_case(
        &self,
        case: &CaseId,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Envelope>, StoreError>> + Send;

    /// The stream's current version (None: no such stream).
    fn stream_version(
        &self,
        stream: &StreamId,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// The last position and its chain hash.
    fn head(&self) -> impl Future<Output = Result<(i64, Vec<u8>), StoreError>> + Send;

    /// Raw rows for verification, after `after`, in order.
    fn read_raw(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RawRow>, StoreError>> + Send;

    /// The named checkpoint (0 when never set).
    fn checkpoint(&self, name: &str) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Sets the named checkpoint to `position`, also backwards (operator use: replay).
    fn reset_checkpoint(
        &self,
        name: &str,
        position: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A read-model document.
    fn document(
        &self,
        collection: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Document>, StoreError>> + Send;

    /// Documents of a collection, optionally of one scope, by key.
    fn documents(
        &self,
        collection: &str,
        scope: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Document>, StoreError>> + Send;

    /// Documents of one scope whose keys lie in `range`, by key: a page of a key-ordered
    /// read model (a cursor, or a key prefix such as one colour of a worklist) read through
    /// the (collection, scope, key) index, however deep the page.
    fn documents_in(
        &self,
        collection: &str,
        scope: &str,
        range: KeyRange<'_>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Document>, StoreError>> + Send;

    /// Fires up to `limit` armed deadlines due at the clock's now: appends each one's event
    /// and marks it fired, in one transaction. Returns the fired ids.
    fn fire_due_deadlines(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send;

    /// A deadline's row.
    fn deadline(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<DeadlineRow>, StoreError>> + Send;

    /// Records a message a consumer gave up on.
    fn record_dead_letter(
        &self,
        letter: DeadLetter,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Dead letters, newest last, optionally of one consumer.
    fn dead_letters(
        &self,
        consumer: Option<&str>,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;

    /// Watches the last position committed by this process (other processes: poll).
    fn appended(&self) -> watch::Receiver<i64>;
}

/// The store chosen at run time: PostgreSQL for `postgres://…`, SQLite for `sqlite:…`.
#[derive(Clone)]
pub enum Store {
    /// PostgreSQL.
    Postgres(PgStore),
    /// SQLite.
    Sqlite(SqliteStore),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.backend())
    }
}

impl Store {
    /// Connects to `url` (`postgres://…` or `sqlite:path`), creating a SQLite file if
    /// missing. Does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(PgStore::connect(url, clock).await?))
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(SqliteStore::connect(url, clock).await?))
        } else {
            Err(StoreError::Invalid(
                "the database URL must start with postgres:// or sqlite:".into(),
            ))
        }
    }

    /// Applies the backend's migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Postgres(s) => s.migrate().await,
            Self::Sqlite(s) => s.migrate().await,
        }
    }

    /// Checks the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Postgres(s) => s.ping().await,
            Self::Sqlite(s) => s.ping().await,
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Postgres($s) => $e,
            Store::Sqlite($s) => $e,
        }
    };
}

impl EventStore for Store {
    fn backend(&self) -> &'static str {
        dispatch!(self, s => s.backend())
    }
    fn clock(&self) -> &Arc<dyn Clock> {
        dispatch!(self, s => s.clock())
    }
    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError> {
        dispatch!(self, s => s.commit(commit).await)
    }
    async fn commit_gated(
        &self,
        commit: Commit,
        gate: oneshot::Receiver<bool>,
    ) -> Result<CommitOutcome, StoreError> {
        dispatch!(self, s => s.commit_gated(commit, gate).await)
    }
    async fn read_all(&self, after: i64, limit: u32) -> Result<Vec<Envelope>, StoreError> {
        dispatch!(self, s => s.read_all(after, limit).await)
    }
    async fn read_stream(
        &self,
        stream: &StreamId,
        from: i64,
        limit: u32,
    ) -> Result<Vec<Envelope>, StoreError> {
        dispatch!(self, s => s.read_stream(stream, from, limit).await)
    }
    async fn read_case(
        &self,
        case: &CaseId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Envelope>, StoreError> {
        dispatch!(self, s => s.read_case(case, after, limit).await)
    }
    async fn stream_version(&self, stream: &StreamId) -> Result<Option<i64>, StoreError> {
        dispatch!(self, s => s.stream_version(stream).await)
    }
    async fn head(&self) -> Result<(i64, Vec<u8>), StoreError> {
        dispatch!(self, s => s.head().await)
    }
    async fn read_raw(&self, after: i64, limit: u32) -> Result<Vec<RawRow>, StoreError> {
        dispatch!(self, s => s.read_raw(after, limit).await)
    }
    async fn checkpoint(&self, name: &str) -> Result<i64, StoreError> {
        dispatch!(self, s => s.checkpoint(name).await)
    }
    async fn reset_checkpoint(&self, name: &str, position: i64) -> Result<(), StoreError> {
        dispatch!(self, s => s.reset_checkpoint(name, position).await)
    }
    async fn document(&self, collection: &str, key: &str) -> Result<Option<Document>, StoreError> {
        dispatch!(self, s => s.document(collection, key).await)
    }
    async fn documents(
        &self,
        collection: &str,
        scope: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Document>, StoreError> {
        dispatch!(self, s => s.documents(collection, scope, limit).await)
    }
    async fn documents_in(
        &self,
        collection: &str,
        scope: &str,
        range: KeyRange<'_>,
        limit: u32,
    ) -> Result<Vec<Document>, StoreError> {
        dispatch!(self, s => s.documents_in(collection, scope, range, limit).await)
    }
    async fn fire_due_deadlines(&self, limit: u32) -> Result<Vec<Uuid>, StoreError> {
        dispatch!(self, s => s.fire_due_deadlines(limit).await)
    }
    async fn deadline(&self, id: Uuid) -> Result<Option<DeadlineRow>, StoreError> {
        dispatch!(self, s => s.deadline(id).await)
    }
    async fn record_dead_letter(&self, letter: DeadLetter) -> Result<(), StoreError> {
        dispatch!(self, s => s.record_dead_letter(letter).await)
    }
    async fn dead_letters(&self, consumer: Option<&str>) -> Result<Vec<DeadLetter>, StoreError> {
        dispatch!(self, s => s.dead_letters(consumer).await)
    }
    fn appended(&self) -> watch::Receiver<i64> {
        dispatch!(self, s => s.appended())
    }
}
