//! The raw baselines, measured in the same run on the same machine: plain batched sqlx
//! `INSERT`s of the run's own event rows into a scratch table of the same database, and plain
//! JetStream publish-with-ack of the same messages to a scratch stream; plus single-row
//! commit and single publish-ack latencies. The service's figures are reported beside these,
//! as ratios, so a busy machine skews both alike.
//!
//! This is the one place outside `eventstore` and `bus` that speaks SQL and NATS directly:
//! it measures what the service would cost without the service. It touches only its scratch
//! table (`loadgen_raw_events`) and stream (`LOADGEN_RAW`).

use crate::stats::Percentiles;
use anyhow::Result;
use async_nats::jetstream;
use eventstore::RawRow;
use serde::Serialize;
use std::time::Instant;

/// Raw figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Baseline {
    /// Rows inserted per second (batches of `batch` rows, one transaction each).
    pub insert_rows_per_s: f64,
    /// Messages published per second (pipelined, acks awaited per batch).
    pub publish_msgs_per_s: f64,
    /// One-row insert-and-commit latency, ms.
    pub insert_latency_ms: Percentiles,
    /// One publish awaiting its ack, ms.
    pub publish_latency_ms: Percentiles,
}

const SCRATCH: &str = "loadgen_raw_events";

async fn insert_pg(pool: &sqlx::PgPool, rows: &[RawRow]) -> Result<()> {
    let mut tx = pool.begin().await?;
    let t = |f: fn(&RawRow) -> &str| rows.iter().map(|r| f(r).to_owned()).collect::<Vec<_>>();
    sqlx::query(&format!(
        "INSERT INTO {SCRATCH} (event_id, stream_id, version, case_id, event_type, schema_version, payload, metadata, occurred_us, recorded_us, hash) \
         SELECT e, s, v, c, t, sv, pl::json, md::json, o, r, h \
         FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bytea[]) \
         AS u(e, s, v, c, t, sv, pl, md, o, r, h)"
    ))
    .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
    .bind(t(|r| &r.stream_id))
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.case_id.clone()).collect::<Vec<_>>())
    .bind(t(|r| &r.event_type))
    .bind(rows.iter().map(|r| r.schema_version).collect::<Vec<_>>())
    .bind(t(|r| &r.payload))
    .bind(t(|r| &r.metadata))
    .bind(rows.iter().map(|r| r.occurred_us).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.recorded_us).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.hash.clone()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_sqlite(pool: &sqlx::SqlitePool, rows: &[RawRow]) -> Result<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    for r in rows {
        sqlx::query(&format!(
            "INSERT INTO {SCRATCH} (event_id, stream_id, version, case_id, event_type, schema_version, payload, metadata, occurred_us, recorded_us, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
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
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Inserts `rows` in batches of `batch` into a fresh scratch table of `url`; then times
/// `samples` one-row commits. Returns (rows/s, latency).
pub async fn raw_inserts(
    url: &str,
    rows: &[RawRow],
    batch: usize,
    samples: usize,
) -> Result<(f64, Percentiles)> {
    let batch = batch.max(1);
    let mut lat = Vec::with_capacity(samples);
    let secs;
    if url.starts_with("sqlite:") {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        sqlx::query("PRAGMA synchronous=FULL")
            .execute(&pool)
            .await?;
        sqlx::query(&format!("DROP TABLE IF EXISTS {SCRATCH}"))
            .execute(&pool)
            .await?;
        sqlx::query(&format!(
            "CREATE TABLE {SCRATCH} (position INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL, \
             version INTEGER NOT NULL, case_id TEXT, event_type TEXT NOT NULL, schema_version INTEGER NOT NULL, \
             payload TEXT NOT NULL, metadata TEXT NOT NULL, occurred_us INTEGER NOT NULL, recorded_us INTEGER NOT NULL, \
             hash BLOB NOT NULL, UNIQUE (stream_id, version))"
        ))
        .execute(&pool)
        .await?;
        let t = Instant::now();
        for chunk in rows.chunks(batch) {
            insert_sqlite(&pool, chunk).await?;
        }
        secs = t.elapsed().as_secs_f64();
        for r in rows.iter().take(samples) {
            let mut r = r.clone();
            r.event_id = uuid::Uuid::new_v4();
            r.stream_id.push_str("-lat");
            let t = Instant::now();
            insert_sqlite(&pool, std::slice::from_ref(&r)).await?;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        sqlx::query(&format!("DROP TABLE {SCRATCH}"))
            .execute(&pool)
            .await?;
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        sqlx::query(&format!("DROP TABLE IF EXISTS {SCRATCH}"))
            .execute(&pool)
            .await?;
        sqlx::query(&format!(
            "CREATE TABLE {SCRATCH} (position BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL UNIQUE, stream_id TEXT NOT NULL, \
             version BIGINT NOT NULL, case_id TEXT, event_type TEXT NOT NULL, schema_version INT NOT NULL, \
             payload JSON NOT NULL, metadata JSON NOT NULL, occurred_us BIGINT NOT NULL, recorded_us BIGINT NOT NULL, \
             hash BYTEA NOT NULL, UNIQUE (stream_id, version))"
        ))
        .execute(&pool)
        .await?;
        sqlx::query(&format!(
            "CREATE INDEX {SCRATCH}_case ON {SCRATCH} (case_id, position) WHERE case_id IS NOT NULL"
        ))
        .execute(&pool)
        .await?;
        let t = Instant::now();
        for chunk in rows.chunks(batch) {
            insert_pg(&pool, chunk).await?;
        }
        secs = t.elapsed().as_secs_f64();
        for r in rows.iter().take(samples) {
            let mut r = r.clone();
            r.event_id = uuid::Uuid::new_v4();
            r.stream_id.push_str("-lat");
            let t = Instant::now();
            insert_pg(&pool, std::slice::from_ref(&r)).await?;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        sqlx::query(&format!("DROP TABLE {SCRATCH}"))
            .execute(&pool)
            .await?;
    }
    Ok((
        rows.len() as f64 / secs.max(1e-9),
        Percentiles::of(&mut lat),
    ))
}

/// Publishes the same messages (the rows' payloads, with `Nats-Msg-Id`) to a scratch stream
/// on `nats_url`, pipelined `batch` at a time; then times `samples` single publish-acks.
pub async fn raw_publish(
    nats_url: &str,
    rows: &[RawRow],
    batch: usize,
    samples: usize,
) -> Result<(f64, Percentiles)> {
    let client = async_nats::connect(nats_url).await?;
    let js = jetstream::new(client);
    let _ = js.delete_stream("LOADGEN_RAW").await;
    js.create_stream(jetstream::stream::Config {
        name: "LOADGEN_RAW".into(),
        subjects: vec!["loadgen.raw.>".into()],
        duplicate_window: std::time::Duration::from_secs(120),
        ..Default::default()
    })
    .await?;
    let subject = |r: &RawRow| format!("loadgen.raw.{}", r.event_type);
    let headers = |r: &RawRow| {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", r.event_id.to_string().as_str());
        h
    };
    let t = Instant::now();
    for chunk in rows.chunks(batch.max(1)) {
        let mut acks = Vec::with_capacity(chunk.len());
        for r in chunk {
            acks.push(
                js.publish_with_headers(subject(r), headers(r), r.payload.clone().into())
                    .await?,
            );
        }
        for a in acks {
            a.await?;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let mut lat = Vec::with_capacity(samples);
    for r in rows.iter().take(samples) {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", uuid::Uuid::new_v4().to_string().as_str());
        let t = Instant::now();
        js.publish_with_headers(subject(r), h, r.payload.clone().into())
            .await?
            .await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let _ = js.delete_stream("LOADGEN_RAW").await;
    Ok((
        rows.len() as f64 / secs.max(1e-9),
        Percentiles::of(&mut lat),
    ))
}
