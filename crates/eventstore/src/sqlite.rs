//! The SQLite backend (the embedded default): the SQL behind [`crate::engine`]. WAL,
//! `synchronous=FULL`, one writer connection whose transactions start with
//! `BEGIN IMMEDIATE`, a busy timeout, and a separate pool of readers. The single writer is
//! what serialises appends and deadline claims here. UUIDs are stored as text, times as
//! microseconds since the epoch.

use crate::common::{from_micros, to_micros, truncate, Found, RawRow};
use crate::engine::{self, Backend, DocPut, TxOps};
use crate::{
    Commit, CommitOutcome, DeadLetter, Deadline, DeadlineRow, Document, EventStore, KeyRange,
    StoreError,
};
use contracts::{CaseId, Clock, Envelope, StreamId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// Documents per multi-row upsert: five bound parameters each, well under SQLite's limit of
/// 32,766 (and still under the 999 of builds before 3.32 would need a smaller figure).
const BULK_DOCUMENTS: usize = 1_000;

const SELECT_RAW: &str = "SELECT position, event_id, stream_id, version, case_id, event_type, \
     schema_version, payload, metadata, occurred_at, recorded_at, hash FROM events";

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The SQLite event store.
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    clock: Arc<dyn Clock>,
    appended: Arc<watch::Sender<i64>>,
    queue: Arc<engine::GroupQueue>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite:path/to/file.db`).
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        if let Some(dir) = options.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            }
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            writer,
            readers,
            clock,
            appended: Arc::new(watch::channel(0).0),
            queue: Arc::default(),
        })
    }

    /// Applies the migrations under `migrations/sqlite`.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    /// The writer pool (one connection; benchmarks and tests use it for plain SQL).
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    async fn raw(
        &self,
        sql_tail: &str,
        bind: impl FnOnce(RawQuery<'_>) -> RawQuery<'_>,
    ) -> Result<Vec<RawRow>, StoreError> {
        let sql = format!("{SELECT_RAW} {sql_tail}");
        let rows = bind(sqlx::query(&sql)).fetch_all(&self.readers).await?;
        rows.iter().map(raw_row).collect()
    }
}

type RawQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn uuid(r: &SqliteRow, col: &str) -> Result<Uuid, StoreError> {
    let s: String = r.try_get(col)?;
    Uuid::parse_str(&s).map_err(|e| StoreError::Invalid(format!("column {col}: {e}")))
}

fn time_of(r: &SqliteRow, col: &str) -> Result<OffsetDateTime, StoreError> {
    from_micros(r.try_get(col)?).map_err(|e| StoreError::Invalid(format!("column {col}: {e}")))
}

fn raw_row(r: &SqliteRow) -> Result<RawRow, StoreError> {
    Ok(RawRow {
        position: r.try_get("position")?,
        event_id: uuid(r, "event_id")?,
        stream_id: r.try_get("stream_id")?,
        version: r.try_get("version")?,
        case_id: r.try_get("case_id")?,
        event_type: r.try_get("event_type")?,
        schema_version: r.try_get("schema_version")?,
        payload: r.try_get("payload")?,
        metadata: r.try_get("metadata")?,
        occurred_us: r.try_get("occurred_at")?,
        recorded_us: r.try_get("recorded_at")?,
        hash: r.try_get("hash")?,
    })
}

fn envelopes(rows: Vec<RawRow>) -> Result<Vec<Envelope>, StoreError> {
    rows.into_iter().map(RawRow::into_envelope).collect()
}

/// A write transaction on SQLite (`BEGIN IMMEDIATE` on the one writer connection).
pub(crate) struct SqliteTx(Transaction<'static, Sqlite>);

impl TxOps for SqliteTx {
    async fn mark_handled(
        &mut self,
        markers: &[(&str, Uuid)],
        now: OffsetDateTime,
    ) -> Result<HashSet<(String, Uuid)>, StoreError> {
        let mut inserted = HashSet::new();
        for (consumer, id) in markers {
            let r = sqlx::query(
                "INSERT INTO processed (consumer, event_id, processed_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(*consumer)
            .bind(id.to_string())
            .bind(to_micros(now))
            .execute(&mut *self.0)
            .await?;
            if r.rows_affected() == 1 {
                inserted.insert(((*consumer).to_owned(), *id));
            }
        }
        Ok(inserted)
    }

    async fn find(&mut self, ids: &[Uuid]) -> Result<Vec<Found>, StoreError> {
        let list = serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let rows = sqlx::query(
            "SELECT event_id, stream_id, version, position FROM events \
             WHERE event_id IN (SELECT value FROM json_each(?))",
        )
        .bind(list)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Found {
                    event_id: uuid(r, "event_id")?,
                    stream_id: r.try_get("stream_id")?,
                    version: r.try_get("version")?,
                    position: r.try_get("position")?,
                })
            })
            .collect()
    }

    async fn stream_versions(
        &mut self,
        streams: &[&str],
    ) -> Result<HashMap<String, i64>, StoreError> {
        let mut out = HashMap::with_capacity(streams.len());
        for chunk in streams.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT stream_id, max(version) FROM events WHERE stream_id IN ({marks}) GROUP BY stream_id"
            );
            let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
            for s in chunk {
                query = query.bind(*s);
            }
            out.extend(query.fetch_all(&mut *self.0).await?);
        }
        Ok(out)
    }

    async fn put_document(
        &mut self,
        collection: &str,
        key: &str,
        scope: &str,
        body: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO documents (collection, key, scope, body, updated_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (collection, key) DO UPDATE SET scope = excluded.scope, body = excluded.body, \
             updated_at = excluded.updated_at",
        )
        .bind(collection)
        .bind(key)
        .bind(scope)
        .bind(body.to_string())
        .bind(to_micros(now))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn put_documents(
        &mut self,
        docs: &[DocPut<'_>],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = to_micros(now);
        for chunk in docs.chunks(BULK_DOCUMENTS) {
            let mut q = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO documents (collection, key, scope, body, updated_at) ",
            );
            q.push_values(chunk, |mut row, d| {
                row.push_bind(d.collection)
                    .push_bind(d.key)
                    .push_bind(d.scope)
                    .push_bind(d.body.to_string())
                    .push_bind(now);
            });
            q.push(
                " ON CONFLICT (collection, key) DO UPDATE SET scope = excluded.scope, \
                 body = excluded.body, updated_at = excluded.updated_at",
            );
            q.build().execute(&mut *self.0).await?;
        }
        Ok(())
    }

    async fn delete_document(
        &mut self,
        collection: &str,
        key: Option<&str>,
    ) -> Result<(), StoreError> {
        // Two statements: `key IS NULL OR …` would keep a generic plan off the primary key.
        match key {
            Some(key) => {
                sqlx::query("DELETE FROM documents WHERE collection = ?1 AND key = ?2")
                    .bind(collection)
                    .bind(key)
                    .execute(&mut *self.0)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM documents WHERE collection = ?1")
                    .bind(collection)
                    .execute(&mut *self.0)
                    .await?
            }
        };
        Ok(())
    }

    async fn arm(
        &mut self,
        d: &Deadline,
        event_json: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO deadlines (deadline_id, kind, case_id, due_at, status, event, armed_at) \
             VALUES (?, ?, ?, ?, 'armed', ?, ?) ON CONFLICT (deadline_id) DO NOTHING",
        )
        .bind(d.deadline_id.to_string())
        .bind(&d.kind)
        .bind(d.case_id.as_ref().map(CaseId::as_str))
        .bind(to_micros(d.due_at))
        .bind(event_json)
        .bind(to_micros(now))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn cancel(&mut self, id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE deadlines SET status = 'cancelled', settled_at = ? WHERE deadline_id = ? AND status = 'armed'")
            .bind(to_micros(now))
            .bind(id.to_string())
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn checkpoint(
        &mut self,
        name: &str,
        position: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (name, position, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET position = max(checkpoints.position, excluded.position), \
             updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(position)
        .bind(to_micros(now))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn lock_head(&mut self) -> Result<(i64, Vec<u8>), StoreError> {
        // The write lock is already held (BEGIN IMMEDIATE); reading the head is enough.
        let head = sqlx::query("SELECT position, hash FROM log_head WHERE id = 1")
            .fetch_one(&mut *self.0)
            .await?;
        Ok((head.try_get("position")?, head.try_get("hash")?))
    }

    async fn insert(&mut self, rows: &[RawRow], _now: OffsetDateTime) -> Result<(), StoreError> {
        for r in rows {
            sqlx::query(
                "INSERT INTO events (position, event_id, stream_id, version, case_id, event_type, schema_version, \
                 payload, metadata, occurred_at, recorded_at, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(r.position)
            .bind(r.event_id.to_string())
            .bind(&r.stream_id)
            .bind(r.version)
            .bind(&r.case_id)
            .bind(&r.event_type)
            .bind(r.schema_version)
            .bind(&r.payload)
            .bind(&r.metadata)
            .bind(r.occurred_us)
            .bind(r.recorded_us)
            .bind(&r.hash)
            .execute(&mut *self.0)
            .await?;
        }
        Ok(())
    }

    async fn set_head(&mut self, position: i64, hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("UPDATE log_head SET position = ?, hash = ? WHERE id = 1")
            .bind(position)
            .bind(hash)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn claim_due(
        &mut self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT deadline_id, event FROM deadlines WHERE status = 'armed' AND due_at <= ? \
             ORDER BY due_at, deadline_id LIMIT ?",
        )
        .bind(to_micros(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|r| Ok((uuid(r, "deadline_id")?, r.try_get("event")?)))
            .collect()
    }

    async fn mark_fired(&mut self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE deadlines SET status = 'fired', settled_at = ? WHERE deadline_id = ?")
            .bind(to_micros(now))
            .bind(id.to_string())
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        Ok(self.0.commit().await?)
    }

    async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.0.rollback().await?)
    }
}

impl Backend for SqliteStore {
    type Tx = SqliteTx;

    async fn begin(&self) -> Result<SqliteTx, StoreError> {
        Ok(SqliteTx(self.writer.begin_with("BEGIN IMMEDIATE").await?))
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn notifier(&self) -> &watch::Sender<i64> {
        &self.appended
    }

    fn queue(&self) -> &engine::GroupQueue {
        &self.queue
    }
}

impl EventStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError> {
        engine::group_commit(self, commit).await
    }

    async fn commit_gated(
        &self,
        commit: Commit,
        gate: oneshot::Receiver<bool>,
    ) -> Result<CommitOutcome, StoreError> {
        engine::run_commit(self, commit, Some(gate)).await
    }

    async fn read_all(&self, after: i64, limit: u32) -> Result<Vec<Envelope>, StoreError> {
        envelopes(self.read_raw(after, limit).await?)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: i64,
        limit: u32,
    ) -> Result<Vec<Envelope>, StoreError> {
        let stream = stream.as_str().to_owned();
        envelopes(
            self.raw(
                "WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?",
                |q| q.bind(stream).bind(from).bind(i64::from(limit)),
            )
            .await?,
        )
    }

    async fn read_case(
        &self,
        case: &CaseId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Envelope>, StoreError> {
        let case = case.as_str().to_owned();
        envelopes(
            self.raw(
                "WHERE case_id = ? AND position > ? ORDER BY position LIMIT ?",
                |q| q.bind(case).bind(after).bind(i64::from(limit)),
            )
            .await?,
        )
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT max(version) FROM events WHERE stream_id = ?")
                .bind(stream.as_str())
                .fetch_one(&self.readers)
                .await?,
        )
    }

    async fn head(&self) -> Result<(i64, Vec<u8>), StoreError> {
        let r = sqlx::query("SELECT position, hash FROM log_head WHERE id = 1")
            .fetch_one(&self.readers)
            .await?;
        Ok((r.try_get("position")?, r.try_get("hash")?))
    }

    async fn read_raw(&self, after: i64, limit: u32) -> Result<Vec<RawRow>, StoreError> {
        self.raw("WHERE position > ? ORDER BY position LIMIT ?", |q| {
            q.bind(after).bind(i64::from(limit))
        })
        .await
    }

    async fn checkpoint(&self, name: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT position FROM checkpoints WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.readers)
                .await?
                .unwrap_or(0),
        )
    }

    async fn reset_checkpoint(&self, name: &str, position: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (name, position, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(position)
        .bind(to_micros(self.clock.now()))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn document(&self, collection: &str, key: &str) -> Result<Option<Document>, StoreError> {
        let row = sqlx::query(
            "SELECT collection, key, scope, body FROM documents WHERE collection = ? AND key = ?",
        )
        .bind(collection)
        .bind(key)
        .fetch_optional(&self.readers)
        .await?;
        row.as_ref().map(document_row).transpose()
    }

    async fn documents(
        &self,
        collection: &str,
        scope: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Document>, StoreError> {
        // Two statements, not `scope IS NULL OR …`: a generic plan of that cannot use the
        // (collection, scope, key) index.
        let rows = match scope {
            Some(scope) => {
                sqlx::query(
                    "SELECT collection, key, scope, body FROM documents \
                     WHERE collection = ?1 AND scope = ?2 ORDER BY key LIMIT ?3",
                )
                .bind(collection)
                .bind(scope)
                .bind(i64::from(limit))
                .fetch_all(&self.readers)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT collection, key, scope, body FROM documents \
                     WHERE collection = ?1 ORDER BY key LIMIT ?2",
                )
                .bind(collection)
                .bind(i64::from(limit))
                .fetch_all(&self.readers)
                .await?
            }
        };
        rows.iter().map(document_row).collect()
    }

    async fn documents_in(
        &self,
        collection: &str,
        scope: &str,
        range: KeyRange<'_>,
        limit: u32,
    ) -> Result<Vec<Document>, StoreError> {
        // One statement per shape of the range, so that every bound present is an index
        // condition (a generic plan of `$n IS NULL OR key > $n` cannot use it).
        let sql = range.sql("?");
        let mut query = sqlx::query(&sql).bind(collection).bind(scope);
        for bound in range.bounds() {
            query = query.bind(bound);
        }
        let rows = query
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(document_row).collect()
    }

    async fn fire_due_deadlines(&self, limit: u32) -> Result<Vec<Uuid>, StoreError> {
        engine::fire_due(self, limit).await
    }

    async fn deadline(&self, id: Uuid) -> Result<Option<DeadlineRow>, StoreError> {
        let row = sqlx::query("SELECT deadline_id, kind, case_id, due_at, status FROM deadlines WHERE deadline_id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.readers)
            .await?;
        row.map(|r| {
            Ok(DeadlineRow {
                deadline_id: uuid(&r, "deadline_id")?,
                kind: r.try_get("kind")?,
                case_id: r.try_get("case_id")?,
                due_at: time_of(&r, "due_at")?,
                status: r.try_get("status")?,
            })
        })
        .transpose()
    }

    async fn record_dead_letter(&self, l: DeadLetter) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dead_letters (consumer, event_id, subject, deliveries, error, payload, recorded_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&l.consumer)
        .bind(l.event_id.map(|u| u.to_string()))
        .bind(&l.subject)
        .bind(l.deliveries)
        .bind(&l.error)
        .bind(&l.payload)
        .bind(to_micros(truncate(l.recorded_at)))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn dead_letters(&self, consumer: Option<&str>) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = sqlx::query(
            "SELECT consumer, event_id, subject, deliveries, error, payload, recorded_at FROM dead_letters \
             WHERE (?1 IS NULL OR consumer = ?1) ORDER BY id",
        )
        .bind(consumer)
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|r| {
                let event_id: Option<String> = r.try_get("event_id")?;
                Ok(DeadLetter {
                    consumer: r.try_get("consumer")?,
                    event_id: event_id.and_then(|s| Uuid::parse_str(&s).ok()),
                    subject: r.try_get("subject")?,
                    deliveries: r.try_get("deliveries")?,
                    error: r.try_get("error")?,
                    payload: r.try_get("payload")?,
                    recorded_at: time_of(r, "recorded_at")?,
                })
            })
            .collect()
    }

    fn appended(&self) -> watch::Receiver<i64> {
        self.appended.subscribe()
    }
}

fn document_row(r: &SqliteRow) -> Result<Document, StoreError> {
    let body: String = r.try_get("body")?;
    Ok(Document {
        collection: r.try_get("collection")?,
        key: r.try_get("key")?,
        scope: r.try_get("scope")?,
        body: serde_json::from_str(&body)
            .map_err(|e| StoreError::Invalid(format!("document body: {e}")))?,
    })
}
