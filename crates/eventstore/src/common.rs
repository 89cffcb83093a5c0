//! Logic both backends share: checking a commit, deciding whether an append is new or an
//! idempotent retry, the row format of the hash chain, and decoding rows into envelopes.
//! Only the SQL differs between the backends; everything here is plain functions.

use crate::types::{Append, AppendResult, Commit, ExpectedVersion, StoreError};
use contracts::{CaseId, Envelope, Metadata, NewEvent, StreamId};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use time::OffsetDateTime;
use uuid::Uuid;

/// The most events one commit may carry.
pub const MAX_EVENTS_PER_COMMIT: usize = 10_000;

/// The hash that precedes the first event.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// Microseconds since the epoch: the precision both backends keep.
pub fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The inverse of [`to_micros`], in UTC.
pub fn from_micros(us: i64) -> Result<OffsetDateTime, String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).map_err(|e| e.to_string())
}

/// `t` cut to whole microseconds, in UTC.
pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    from_micros(to_micros(t)).unwrap_or(t)
}

/// Checks a commit before any IO: events valid, within limits, on their group's stream,
/// no id twice.
pub fn validate(commit: &Commit) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    let mut total = 0usize;
    for group in &commit.appends {
        for ev in &group.events {
            ev.check()?;
            if ev.stream_id != group.stream_id {
                return Err(StoreError::Invalid(format!(
                    "event {} names stream {} inside an append to {}",
                    ev.event_id, ev.stream_id, group.stream_id
                )));
            }
            if !seen.insert(ev.event_id) {
                return Err(StoreError::Invalid(format!(
                    "event {} appears twice in one commit",
                    ev.event_id
                )));
            }
            if ev.event_type.is_empty() || ev.event_type.len() > 100 {
                return Err(StoreError::Invalid(
                    "event type must be 1 to 100 characters".into(),
                ));
            }
        }
        total += group.events.len();
    }
    if total > MAX_EVENTS_PER_COMMIT {
        return Err(StoreError::Invalid(format!(
            "{total} events in one commit; the limit is {MAX_EVENTS_PER_COMMIT}"
        )));
    }
    if let Some((name, pos)) = &commit.checkpoint {
        if name.is_empty() || *pos < 0 {
            return Err(StoreError::Invalid(
                "a checkpoint needs a name and a position ≥ 0".into(),
            ));
        }
    }
    Ok(())
}

/// An event already in the store with one of the ids of an append.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its id.
    pub event_id: Uuid,
    /// Its stream.
    pub stream_id: String,
    /// Its version.
    pub version: i64,
    /// Its position.
    pub position: i64,
}

/// Whether an append is new or an exact retry of a stored one.
pub enum Plan {
    /// Nothing of it is stored.
    New,
    /// All of it is stored, on the same stream, in the same order.
    Stored(AppendResult),
}

/// Decides between a new append, an idempotent retry, and a conflict.
pub fn plan(group: &Append, found: &[Found]) -> Result<Plan, StoreError> {
    if group.events.is_empty() || found.is_empty() {
        return Ok(Plan::New);
    }
    if let Some(f) = found
        .iter()
        .find(|f| f.stream_id != group.stream_id.as_str())
    {
        return Err(StoreError::IdempotencyConflict {
            event_id: f.event_id,
            reason: format!("already stored on stream {}", f.stream_id),
        });
    }
    if found.len() != group.events.len() {
        let first_new = group
            .events
            .iter()
            .find(|e| !found.iter().any(|f| f.event_id == e.event_id))
            .map_or(found[0].event_id, |e| e.event_id);
        return Err(StoreError::IdempotencyConflict {
            event_id: first_new,
            reason: format!(
                "partial overlap: {} of {} events are already stored",
                found.len(),
                group.events.len()
            ),
        });
    }
    let mut ordered = Vec::with_capacity(found.len());
    for ev in &group.events {
        let f = found
            .iter()
            .find(|f| f.event_id == ev.event_id)
            .expect("same length and all ids distinct");
        ordered.push(f);
    }
    if ordered.windows(2).any(|w| w[1].version != w[0].version + 1) {
        return Err(StoreError::IdempotencyConflict {
            event_id: ordered[0].event_id,
            reason: "stored in another order or not together".into(),
        });
    }
    Ok(Plan::Stored(AppendResult {
        stream_id: group.stream_id.clone(),
        positions: ordered.iter().map(|f| f.position).collect(),
        version: ordered.last().map_or(0, |f| f.version),
        already_stored: true,
    }))
}

/// Checks the expected version against the stream's current version (None: no stream).
pub fn check_expected(
    stream: &StreamId,
    expected: ExpectedVersion,
    actual: Option<i64>,
) -> Result<(), StoreError> {
    let ok = match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => actual.is_none(),
        ExpectedVersion::Exact(v) => actual == Some(v),
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::WrongExpectedVersion {
            stream: stream.to_string(),
            expected,
            actual,
        })
    }
}

/// One row of the `events` table, as stored (text payloads, micro-second times).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    /// Global position.
    pub position: i64,
    /// Event id.
    pub event_id: Uuid,
    /// Stream.
    pub stream_id: String,
    /// Version in the stream.
    pub version: i64,
    /// Case.
    pub case_id: Option<String>,
    /// Type.
    pub event_type: String,
    /// Schema version.
    pub schema_version: i32,
    /// Payload JSON text, exactly as stored.
    pub payload: String,
    /// Metadata JSON text, exactly as stored.
    pub metadata: String,
    /// occurred_at, µs since the epoch.
    pub occurred_us: i64,
    /// recorded_at, µs since the epoch.
    pub recorded_us: i64,
    /// The chain hash stored with the row.
    pub hash: Vec<u8>,
}

impl RawRow {
    /// Builds the row for a new event at `position`/`version`.
    pub fn new(
        ev: &NewEvent,
        position: i64,
        version: i64,
        recorded: OffsetDateTime,
    ) -> Result<Self, StoreError> {
        let payload = serde_json::to_string(&ev.payload)
            .map_err(|e| StoreError::Invalid(format!("payload of {}: {e}", ev.event_id)))?;
        let metadata = serde_json::to_string(&ev.metadata)
            .map_err(|e| StoreError::Invalid(format!("metadata of {}: {e}", ev.event_id)))?;
        Ok(Self {
            position,
            event_id: ev.event_id,
            stream_id: ev.stream_id.to_string(),
            version,
            case_id: ev.case_id.as_ref().map(ToString::to_string),
            event_type: ev.event_type.clone(),
            schema_version: i32::try_from(ev.schema_version)
                .map_err(|_| StoreError::Invalid("schema version too large".into()))?,
            payload,
            metadata,
            occurred_us: to_micros(ev.occurred_at),
            recorded_us: to_micros(recorded),
            hash: Vec::new(),
        })
    }

    /// `H(prev ‖ row)`: SHA-256 over the previous hash and every column but the hash,
    /// each length-prefixed so that no two rows encode alike.
    pub fn chain_hash(&self, prev: &[u8]) -> [u8; 32] {
        fn field(h: &mut Sha256, bytes: &[u8]) {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        }
        let mut h = Sha256::new();
        field(&mut h, prev);
        field(&mut h, &self.position.to_be_bytes());
        field(&mut h, self.event_id.as_bytes());
        field(&mut h, self.stream_id.as_bytes());
        field(&mut h, &self.version.to_be_bytes());
        match &self.case_id {
            Some(c) => field(&mut h, c.as_bytes()),
            None => h.update(u64::MAX.to_be_bytes()),
        }
        field(&mut h, self.event_type.as_bytes());
        field(&mut h, &self.schema_version.to_be_bytes());
        field(&mut h, self.payload.as_bytes());
        field(&mut h, self.metadata.as_bytes());
        field(&mut h, &self.occurred_us.to_be_bytes());
        field(&mut h, &self.recorded_us.to_be_bytes());
        h.finalize().into()
    }

    /// Decodes the row into an envelope.
    pub fn into_envelope(self) -> Result<Envelope, StoreError> {
        let position = self.position;
        let bad = |reason: String| StoreError::Corrupt { position, reason };
        Ok(Envelope {
            event_id: self.event_id,
            stream_id: StreamId::parse(self.stream_id).map_err(|e| bad(e.to_string()))?,
            version: self.version,
            position,
            case_id: self
                .case_id
                .map(CaseId::parse)
                .transpose()
                .map_err(|e| bad(e.to_string()))?,
            event_type: self.event_type,
            schema_version: u32::try_from(self.schema_version).map_err(|e| bad(e.to_string()))?,
            payload: serde_json::from_str(&self.payload).map_err(|e| bad(e.to_string()))?,
            metadata: serde_json::from_str::<Metadata>(&self.metadata)
                .map_err(|e| bad(e.to_string()))?,
            occurred_at: from_micros(self.occurred_us).map_err(bad)?,
            recorded_at: from_micros(self.recorded_us).map_err(bad)?,
        })
    }
}

/// Whether a database error is a unique-key violation (a concurrent append got there first).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
        }
        _ => false,
    }
}

/// Walks rows in position order and checks the chain; used by `audit verify`.
#[derive(Debug)]
pub struct ChainCheck {
    prev_hash: Vec<u8>,
    next_position: i64,
    /// Rows checked so far.
    pub checked: i64,
    /// The first break found.
    pub first_bad: Option<(i64, String)>,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self {
            prev_hash: GENESIS_HASH.to_vec(),
            next_position: 1,
            checked: 0,
            first_bad: None,
        }
    }
}

impl ChainCheck {
    /// Checks the next row; returns false once a break was found.
    pub fn feed(&mut self, row: &RawRow) -> bool {
        if self.first_bad.is_some() {
            return false;
        }
        if row.position != self.next_position {
            self.first_bad = Some((
                self.next_position,
                format!(
                    "position {} is missing (next row is {})",
                    self.next_position, row.position
                ),
            ));
            return false;
        }
        let expected = row.chain_hash(&self.prev_hash);
        if expected.as_slice() != row.hash.as_slice() {
            self.first_bad = Some((
                row.position,
                "the row does not match its hash: it was changed after it was written".into(),
            ));
            return false;
        }
        self.prev_hash = row.hash.clone();
        self.next_position += 1;
        self.checked += 1;
        true
    }

    /// Compares the end of the walk with the log head.
    pub fn finish(mut self, head_position: i64, head_hash: &[u8]) -> crate::VerifyReport {
        if self.first_bad.is_none() {
            if head_position != self.next_position - 1 {
                self.first_bad = Some((
                    self.next_position,
                    format!(
                        "the log head says {head_position} but the rows end at {}",
                        self.next_position - 1
                    ),
                ));
            } else if head_hash != self.prev_hash.as_slice() {
                self.first_bad = Some((
                    head_position,
                    "the log head hash does not match the last row".into(),
                ));
            }
        }
        crate::VerifyReport {
            checked: self.checked,
            head_position,
            head_hash: hex::encode(head_hash),
            first_bad: self.first_bad,
        }
    }
}
