//! The PostgreSQL backend (production): the SQL behind [`crate::engine`]. Appends lock the
//! one-row `log_head` as their last step and insert with one `UNNEST` statement per stream;
//! the scheduler claims due deadlines with `FOR UPDATE SKIP LOCKED`, so several schedulers
//! never fire one twice.

use crate::common::{to_micros, truncate, Found, RawRow};
use crate::engine::{self, Backend, DocPut, TxOps};
use crate::{
    Commit, CommitOutcome, DeadLetter, Deadline, DeadlineRow, Document, EventStore, KeyRange,
    StoreError,
};
use contracts::{CaseId, Clock, Envelope, StreamId};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

const SELECT_RAW: &str = "SELECT position, event_id, stream_id, version, case_id, event_type, \
     schema_version, payload::text AS payload, metadata::text AS metadata, occurred_at, recorded_at, hash \
     FROM events";

/// Documents per bulk upsert (arrays have no bound-parameter limit; this bounds memory).
const BULK_DOCUMENTS: usize = 5_000;

/// The PostgreSQL event store.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    writer: PgPool,
    clock: Arc<dyn Clock>,
    appended: Arc<watch::Sender<i64>>,
    queue: Arc<engine::GroupQueue>,
}

impl PgStore {
    /// Connects to `url`: a pool of 16 connections for reads, and 2 of its own for write
    /// transactions, so that a group commit never queues behind readers.
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        let writer = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        let mut store = Self::from_pool(pool, clock);
        store.writer = writer;
        Ok(store)
    }

    /// Wraps an existing pool (for reads and writes).
    pub fn from_pool(pool: PgPool, clock: Arc<dyn Clock>) -> Self {
        Self {
            writer: pool.clone(),
            pool,
            clock,
            appended: Arc::new(watch::channel(0).0),
            queue: Arc::default(),
        }
    }

    /// Applies the migrations under `migrations/postgres`.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The pool (benchmarks and tests compare against plain SQL on it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn raw(
        &self,
        sql_tail: &str,
        bind: impl FnOnce(RawQuery<'_>) -> RawQuery<'_>,
    ) -> Result<Vec<RawRow>, StoreError> {
        let sql = format!("{SELECT_RAW} {sql_tail}");
        let rows = bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(raw_row).collect::<Result<_, _>>()?)
    }
}

type RawQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

fn raw_row(r: &PgRow) -> Result<RawRow, sqlx::Error> {
    Ok(RawRow {
        position: r.try_get("position")?,
        event_id: r.try_get("event_id")?,
        stream_id: r.try_get("stream_id")?,
        version: r.try_get("version")?,
        case_id: r.try_get("case_id")?,
        event_type: r.try_get("event_type")?,
        schema_version: r.try_get("schema_version")?,
        payload: r.try_get("payload")?,
        metadata: r.try_get("metadata")?,
        occurred_us: to_micros(r.try_get::<OffsetDateTime, _>("occurred_at")?),
        recorded_us: to_micros(r.try_get::<OffsetDateTime, _>("recorded_at")?),
        hash: r.try_get("hash")?,
    })
}

fn envelopes(rows: Vec<RawRow>) -> Result<Vec<Envelope>, StoreError> {
    rows.into_iter().map(RawRow::into_envelope).collect()
}

/// A write transaction on PostgreSQL.
pub(crate) struct PgTx(Transaction<'static, Postgres>);

impl TxOps for PgTx {
    async fn mark_handled(
        &mut self,
        markers: &[(&str, Uuid)],
        now: OffsetDateTime,
    ) -> Result<HashSet<(String, Uuid)>, StoreError> {
        let rows: Vec<(String, Uuid)> = sqlx::query_as(
            "INSERT INTO processed (consumer, event_id, processed_at) \
             SELECT c, e, $3 FROM UNNEST($1::text[], $2::uuid[]) AS u(c, e) \
             ON CONFLICT DO NOTHING RETURNING consumer, event_id",
        )
        .bind(markers.iter().map(|m| m.0).collect::<Vec<_>>())
        .bind(markers.iter().map(|m| m.1).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(rows.into_iter().collect())
    }

    async fn find(&mut self, ids: &[Uuid]) -> Result<Vec<Found>, StoreError> {
        let rows = sqlx::query(
            "SELECT event_id, stream_id, version, position FROM events WHERE event_id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(Found {
                    event_id: r.try_get("event_id")?,
                    stream_id: r.try_get("stream_id")?,
                    version: r.try_get("version")?,
                    position: r.try_get("position")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    async fn stream_versions(
        &mut self,
        streams: &[&str],
    ) -> Result<HashMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT stream_id, max(version) FROM events WHERE stream_id = ANY($1) GROUP BY stream_id",
        )
        .bind(streams)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(rows.into_iter().collect())
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
            "INSERT INTO documents (collection, key, scope, body, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (collection, key) DO UPDATE SET scope = EXCLUDED.scope, body = EXCLUDED.body, \
             updated_at = EXCLUDED.updated_at",
        )
        .bind(collection)
        .bind(key)
        .bind(scope)
        .bind(sqlx::types::Json(body))
        .bind(now)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn put_documents(
        &mut self,
        docs: &[DocPut<'_>],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        for chunk in docs.chunks(BULK_DOCUMENTS) {
            sqlx::query(
                "INSERT INTO documents (collection, key, scope, body, updated_at) \
                 SELECT c, k, s, b::jsonb, $5 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
                 AS u(c, k, s, b) \
                 ON CONFLICT (collection, key) DO UPDATE SET scope = EXCLUDED.scope, body = EXCLUDED.body, \
                 updated_at = EXCLUDED.updated_at",
            )
            .bind(chunk.iter().map(|d| d.collection).collect::<Vec<&str>>())
            .bind(chunk.iter().map(|d| d.key).collect::<Vec<&str>>())
            .bind(chunk.iter().map(|d| d.scope).collect::<Vec<&str>>())
            .bind(chunk.iter().map(|d| d.body.to_string()).collect::<Vec<_>>())
            .bind(now)
            .execute(&mut *self.0)
            .await?;
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
                sqlx::query("DELETE FROM documents WHERE collection = $1 AND key = $2")
                    .bind(collection)
                    .bind(key)
                    .execute(&mut *self.0)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM documents WHERE collection = $1")
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
             VALUES ($1, $2, $3, $4, 'armed', $5::json, $6) ON CONFLICT (deadline_id) DO NOTHING",
        )
        .bind(d.deadline_id)
        .bind(&d.kind)
        .bind(d.case_id.as_ref().map(CaseId::as_str))
        .bind(truncate(d.due_at))
        .bind(event_json)
        .bind(now)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn cancel(&mut self, id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE deadlines SET status = 'cancelled', settled_at = $2 WHERE deadline_id = $1 AND status = 'armed'",
        )
        .bind(id)
        .bind(now)
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
            "INSERT INTO checkpoints (name, position, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET position = GREATEST(checkpoints.position, EXCLUDED.position), \
             updated_at = EXCLUDED.updated_at",
        )
        .bind(name)
        .bind(position)
        .bind(now)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn lock_head(&mut self) -> Result<(i64, Vec<u8>), StoreError> {
        let head = sqlx::query("SELECT position, hash FROM log_head WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *self.0)
            .await?;
        Ok((head.try_get("position")?, head.try_get("hash")?))
    }

    async fn insert(&mut self, rows: &[RawRow], now: OffsetDateTime) -> Result<(), StoreError> {
        let text =
            |f: fn(&RawRow) -> &str| rows.iter().map(|r| f(r).to_owned()).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO events (position, event_id, stream_id, version, case_id, event_type, schema_version, \
             payload, metadata, occurred_at, recorded_at, hash) \
             SELECT p, e, s, v, c, t, sv, pl::json, md::json, 'epoch'::timestamptz + o * interval '1 microsecond', $11, h \
             FROM UNNEST($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::int[], \
                         $8::text[], $9::text[], $10::bigint[], $12::bytea[]) AS u(p, e, s, v, c, t, sv, pl, md, o, h)",
        )
        .bind(rows.iter().map(|r| r.position).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
        .bind(text(|r| &r.stream_id))
        .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.case_id.clone()).collect::<Vec<_>>())
        .bind(text(|r| &r.event_type))
        .bind(rows.iter().map(|r| r.schema_version).collect::<Vec<_>>())
        .bind(text(|r| &r.payload))
        .bind(text(|r| &r.metadata))
        .bind(rows.iter().map(|r| r.occurred_us).collect::<Vec<_>>())
        .bind(now)
        .bind(rows.iter().map(|r| r.hash.clone()).collect::<Vec<_>>())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn set_head(&mut self, position: i64, hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("UPDATE log_head SET position = $1, hash = $2 WHERE id = 1")
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
            "SELECT deadline_id, event::text AS event FROM deadlines WHERE status = 'armed' AND due_at <= $1 \
             ORDER BY due_at, deadline_id LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.0)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Ok((r.try_get("deadline_id")?, r.try_get("event")?)))
            .collect::<Result<_, sqlx::Error>>()?)
    }

    async fn mark_fired(&mut self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deadlines SET status = 'fired', settled_at = $2 WHERE deadline_id = $1",
        )
        .bind(id)
        .bind(now)
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

impl Backend for PgStore {
    type Tx = PgTx;

    async fn begin(&self) -> Result<PgTx, StoreError> {
        Ok(PgTx(self.writer.begin().await?))
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

impl EventStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
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
                "WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3",
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
                "WHERE case_id = $1 AND position > $2 ORDER BY position LIMIT $3",
                |q| q.bind(case).bind(after).bind(i64::from(limit)),
            )
            .await?,
        )
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT max(version) FROM events WHERE stream_id = $1")
                .bind(stream.as_str())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn head(&self) -> Result<(i64, Vec<u8>), StoreError> {
        let r = sqlx::query("SELECT position, hash FROM log_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok((r.try_get("position")?, r.try_get("hash")?))
    }

    async fn read_raw(&self, after: i64, limit: u32) -> Result<Vec<RawRow>, StoreError> {
        self.raw("WHERE position > $1 ORDER BY position LIMIT $2", |q| {
            q.bind(after).bind(i64::from(limit))
        })
        .await
    }

    async fn checkpoint(&self, name: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT position FROM checkpoints WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    async fn reset_checkpoint(&self, name: &str, position: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkpoints (name, position, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at",
        )
        .bind(name)
        .bind(position)
        .bind(truncate(self.clock.now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn document(&self, collection: &str, key: &str) -> Result<Option<Document>, StoreError> {
        let row = sqlx::query(
            "SELECT collection, key, scope, body FROM documents WHERE collection = $1 AND key = $2",
        )
        .bind(collection)
        .bind(key)
        .fetch_optional(&self.pool)
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
                     WHERE collection = $1 AND scope = $2 ORDER BY key LIMIT $3",
                )
                .bind(collection)
                .bind(scope)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT collection, key, scope, body FROM documents \
                     WHERE collection = $1 ORDER BY key LIMIT $2",
                )
                .bind(collection)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
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
        let sql = range.sql("$");
        let mut query = sqlx::query(&sql).bind(collection).bind(scope);
        for bound in range.bounds() {
            query = query.bind(bound);
        }
        let rows = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(document_row).collect()
    }

    async fn fire_due_deadlines(&self, limit: u32) -> Result<Vec<Uuid>, StoreError> {
        engine::fire_due(self, limit).await
    }

    async fn deadline(&self, id: Uuid) -> Result<Option<DeadlineRow>, StoreError> {
        let row = sqlx::query("SELECT deadline_id, kind, case_id, due_at, status FROM deadlines WHERE deadline_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| -> Result<DeadlineRow, sqlx::Error> {
                Ok(DeadlineRow {
                    deadline_id: r.try_get("deadline_id")?,
                    kind: r.try_get("kind")?,
                    case_id: r.try_get("case_id")?,
                    due_at: r.try_get("due_at")?,
                    status: r.try_get("status")?,
                })
            })
            .transpose()?)
    }

    async fn record_dead_letter(&self, l: DeadLetter) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dead_letters (consumer, event_id, subject, deliveries, error, payload, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&l.consumer)
        .bind(l.event_id)
        .bind(&l.subject)
        .bind(l.deliveries)
        .bind(&l.error)
        .bind(&l.payload)
        .bind(truncate(l.recorded_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn dead_letters(&self, consumer: Option<&str>) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = sqlx::query(
            "SELECT consumer, event_id, subject, deliveries, error, payload, recorded_at FROM dead_letters \
             WHERE ($1::text IS NULL OR consumer = $1) ORDER BY id",
        )
        .bind(consumer)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(DeadLetter {
                    consumer: r.try_get("consumer")?,
                    event_id: r.try_get("event_id")?,
                    subject: r.try_get("subject")?,
                    deliveries: r.try_get("deliveries")?,
                    error: r.try_get("error")?,
                    payload: r.try_get("payload")?,
                    recorded_at: r.try_get("recorded_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    fn appended(&self) -> watch::Receiver<i64> {
        self.appended.subscribe()
    }
}

fn document_row(r: &PgRow) -> Result<Document, StoreError> {
    Ok(Document {
        collection: r.try_get("collection")?,
        key: r.try_get("key")?,
        scope: r.try_get("scope")?,
        body: r
            .try_get::<sqlx::types::Json<serde_json::Value>, _>("body")?
            .0,
    })
}
