//! The vocabulary of the store: what a caller asks for ([`Commit`]) and what it gets back.

use contracts::{CaseId, EnvelopeError, NewEvent, StreamId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// What the caller believes the stream's version to be before the append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version.
    Exact(i64),
    /// No check.
    Any,
}

/// Events to append to one stream.
#[derive(Debug, Clone)]
pub struct Append {
    /// The stream.
    pub stream_id: StreamId,
    /// The version check.
    pub expected: ExpectedVersion,
    /// The events, in order. All new, or all already stored (an idempotent retry).
    pub events: Vec<NewEvent>,
}

/// A deadline to arm: when `due_at` passes unless it was cancelled first, the scheduler
/// appends `event` (whose id is fixed now, so a firing can never be doubled).
#[derive(Debug, Clone)]
pub struct Deadline {
    /// Unique id; arming the same id again is a no-op.
    pub deadline_id: Uuid,
    /// What kind of deadline (`alert-ack`, `referral-accept`, …), for operators.
    pub kind: String,
    /// The case it concerns.
    pub case_id: Option<CaseId>,
    /// When it fires.
    pub due_at: OffsetDateTime,
    /// The event appended when it fires.
    pub event: NewEvent,
}

/// A change to the deadlines table, made in the same transaction as the commit's events.
#[derive(Debug, Clone)]
pub enum DeadlineOp {
    /// Arm a deadline.
    Arm(Box<Deadline>),
    /// Cancel an armed deadline (no effect on one already fired or cancelled).
    Cancel(Uuid),
}

/// A change to a read-model document, made in the same transaction as the commit's events.
#[derive(Debug, Clone)]
pub enum DocumentOp {
    /// Insert or replace.
    Put {
        /// Collection (`alerts`, `worklist`, …).
        collection: String,
        /// Key within the collection.
        key: String,
        /// Scope used to list and to restrict access (a district code, an institution).
        scope: String,
        /// The document.
        body: serde_json::Value,
    },
    /// Remove.
    Delete {
        /// Collection.
        collection: String,
        /// Key.
        key: String,
    },
    /// Remove every document of a collection (a rebuild starts with this).
    Clear {
        /// Collection.
        collection: String,
    },
}

/// One atomic unit of work: appends, a subscriber checkpoint, read-model documents and
/// deadlines, all committed together or not at all.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    /// Events per stream.
    pub appends: Vec<Append>,
    /// Move the named checkpoint to this position (never backwards).
    pub checkpoint: Option<(String, i64)>,
    /// Read-model changes.
    pub documents: Vec<DocumentOp>,
    /// Deadline changes.
    pub deadlines: Vec<DeadlineOp>,
    /// Mark the message `(consumer, event_id)` handled: if it was handled before, nothing of
    /// this commit is applied and [`CommitOutcome::already_handled`] is set.
    pub handled: Option<(String, Uuid)>,
}

impl Commit {
    /// A commit that appends `events` to `stream_id`.
    pub fn append(stream_id: StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        Self {
            appends: vec![Append {
                stream_id,
                expected,
                events,
            }],
            ..Self::default()
        }
    }

    /// Whether the commit would change nothing.
    pub fn is_empty(&self) -> bool {
        self.appends.iter().all(|a| a.events.is_empty())
            && self.checkpoint.is_none()
            && self.documents.is_empty()
            && self.deadlines.is_empty()
            && self.handled.is_none()
    }

    /// Adds the ops of `other` to this commit (appends, documents, deadlines; the later
    /// checkpoint wins).
    pub fn merge(&mut self, other: Commit) {
        self.appends.extend(other.appends);
        self.documents.extend(other.documents);
        self.deadlines.extend(other.deadlines);
        if other.checkpoint.is_some() {
            self.checkpoint = other.checkpoint;
        }
        if other.handled.is_some() {
            self.handled = other.handled;
        }
    }
}

/// Where one [`Append`]'s events are in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// The stream.
    pub stream_id: StreamId,
    /// The global position of each event, in order.
    pub positions: Vec<i64>,
    /// The stream's version after the append (its last event's version).
    pub version: i64,
    /// True when every event was already stored (an idempotent retry): nothing was written.
    pub already_stored: bool,
}

/// What a commit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    /// One per [`Append`], in order.
    pub appends: Vec<AppendResult>,
    /// Deadline ids whose `Cancel` found them armed (and so cancelled them).
    pub cancelled: Vec<Uuid>,
    /// The `handled` marker was already there: nothing was applied.
    pub already_handled: bool,
}

/// A deadline as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadlineRow {
    /// Id.
    pub deadline_id: Uuid,
    /// Kind.
    pub kind: String,
    /// Case.
    pub case_id: Option<String>,
    /// Due time.
    pub due_at: OffsetDateTime,
    /// `armed`, `cancelled` or `fired`.
    pub status: String,
}

/// A stored read-model document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    /// Collection.
    pub collection: String,
    /// Key.
    pub key: String,
    /// Scope.
    pub scope: String,
    /// Body.
    pub body: serde_json::Value,
}

/// Which keys of a scope [`crate::EventStore::documents_in`] reads: those after `after` and
/// before `before` (both exclusive; keys compare as bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyRange<'a> {
    /// Keys greater than this (a page cursor: the last key already read).
    pub after: Option<&'a str>,
    /// Keys less than this.
    pub before: Option<&'a str>,
}

impl<'a> KeyRange<'a> {
    /// Every key.
    pub fn all() -> Self {
        Self::default()
    }

    /// Keys after `cursor`.
    pub fn after(cursor: &'a str) -> Self {
        Self {
            after: Some(cursor),
            before: None,
        }
    }

    /// The bounds present, in the order [`KeyRange::sql`] binds them.
    pub(crate) fn bounds(&self) -> impl Iterator<Item = &'a str> {
        self.after.into_iter().chain(self.before)
    }

    /// The statement for this shape of range; `mark` is the placeholder sigil (`$` or `?`).
    /// Binds: collection, scope, the bounds present, the limit.
    pub(crate) fn sql(&self, mark: &str) -> String {
        let mut sql = format!(
            "SELECT collection, key, scope, body FROM documents \
             WHERE collection = {mark}1 AND scope = {mark}2"
        );
        let mut n = 2;
        if self.after.is_some() {
            n += 1;
            sql.push_str(&format!(" AND key > {mark}{n}"));
        }
        if self.before.is_some() {
            n += 1;
            sql.push_str(&format!(" AND key < {mark}{n}"));
        }
        sql.push_str(&format!(" ORDER BY key LIMIT {mark}{}", n + 1));
        sql
    }
}

/// A message a consumer gave up on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// The consumer.
    pub consumer: String,
    /// The event's id, when the message had one.
    pub event_id: Option<Uuid>,
    /// The subject it arrived on.
    pub subject: String,
    /// How many times it was delivered.
    pub deliveries: i64,
    /// Why it was given up (never personal data: error kinds and codes).
    pub error: String,
    /// The raw message (for an operator to inspect and replay).
    pub payload: String,
    /// When it was recorded.
    pub recorded_at: OffsetDateTime,
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// How many events were checked.
    pub checked: i64,
    /// The last position of the log.
    pub head_position: i64,
    /// The hash of the last event (hex), which a printed review pack quotes.
    pub head_hash: String,
    /// The first position whose row does not match the chain, and why.
    pub first_bad: Option<(i64, String)>,
}

/// Everything the store can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream is not at the expected version: nothing was written.
    #[error("stream {stream}: expected version {expected:?}, found {actual:?}")]
    WrongExpectedVersion {
        /// The stream.
        stream: String,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's version (None: no stream).
        actual: Option<i64>,
    },
    /// The event ids overlap stored events in a way that is not an exact retry.
    #[error("event {event_id}: {reason}")]
    IdempotencyConflict {
        /// The offending id.
        event_id: Uuid,
        /// Why it is not a retry.
        reason: String,
    },
    /// The commit is malformed (payload, size, duplicate ids within it, …).
    #[error("invalid commit: {0}")]
    Invalid(String),
    /// An event could not be built or checked.
    #[error(transparent)]
    Event(#[from] EnvelopeError),
    /// A stored row does not decode: the log is damaged.
    #[error("the row at position {position} is unreadable: {reason}")]
    Corrupt {
        /// Position.
        position: i64,
        /// Reason.
        reason: String,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether retrying the same call may succeed (a lost connection, a serialisation
    /// failure), as opposed to a refusal that will repeat.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(e) => !matches!(
                e,
                sqlx::Error::RowNotFound
                    | sqlx::Error::ColumnDecode { .. }
                    | sqlx::Error::Decode(_)
                    | sqlx::Error::TypeNotFound { .. }
            ),
            _ => false,
        }
    }
}
