//! Store benchmark: appends/s at 1 and 100 events per transaction with 1 and 8 writers, and
//! the `$all` read rate, on SQLite and PostgreSQL; in the same run, plain sqlx `INSERT`s of
//! the same rows into a plain table with the same keys and indexes (unique event id, unique
//! stream+version, case index) but no log head, no hash chain and no checks, and the ratio.
//!
//! `cargo bench -p eventstore`. PostgreSQL: `REFERRAL_BENCH_PG` (an admin URL; a fresh
//! database is created and dropped), else `REFERRAL_TEST_PG`, else skipped. Bounded in count.

#![allow(missing_docs)]

use contracts::{CaseId, ManualClock, Metadata, NewEvent, StreamId};
use eventstore::{Commit, EventStore, ExpectedVersion, RawRow, Store};
use std::sync::Arc;
use std::time::Instant;
use time::macros::datetime;
use uuid::Uuid;

const SCENARIOS: [(usize, usize, usize); 4] = [
    (1, 1, 1500),
    (1, 8, 2400),
    (100, 1, 30_000),
    (100, 8, 40_000),
];

fn event(stream: &str, n: usize) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        stream_id: StreamId::parse(stream).unwrap(),
        case_id: Some(CaseId::parse(format!("case-{}", n % 5000)).unwrap()),
        event_type: "RiskAssessed".into(),
        schema_version: 1,
        payload: serde_json::json!({
            "colour": "orange", "infectious": false, "score": 20, "band": "severe",
            "findings": [{"code": "O-BAS-AGE40", "colour": "orange", "source": "derived"},
                         {"code": "SC-01", "points": 5, "source": "declared"}],
            "catalogue": "cn-nhc-2017@1", "policy": "default@1", "n": n
        }),
        metadata: Metadata::system("bench"),
        occurred_at: datetime!(2026-03-01 08:00 UTC),
    }
}

enum Raw {
    Pg(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl Raw {
    async fn setup(&self) {
        match self {
            Raw::Pg(p) => {
                sqlx::query(
                    "CREATE TABLE raw_events (id BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL UNIQUE, stream_id TEXT NOT NULL, \
                     version BIGINT NOT NULL, case_id TEXT, event_type TEXT NOT NULL, schema_version INT NOT NULL, \
                     payload JSON NOT NULL, metadata JSON NOT NULL, occurred_at TIMESTAMPTZ NOT NULL, recorded_at TIMESTAMPTZ NOT NULL, \
                     UNIQUE (stream_id, version))",
                )
                .execute(p)
                .await
                .unwrap();
                sqlx::query(
                    "CREATE INDEX raw_case ON raw_events (case_id, id) WHERE case_id IS NOT NULL",
                )
                .execute(p)
                .await
                .unwrap();
            }
            Raw::Sqlite(p) => {
                sqlx::query(
                    "CREATE TABLE raw_events (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL, \
                     version INTEGER NOT NULL, case_id TEXT, event_type TEXT NOT NULL, schema_version INTEGER NOT NULL, \
                     payload TEXT NOT NULL, metadata TEXT NOT NULL, occurred_at INTEGER NOT NULL, recorded_at INTEGER NOT NULL, \
                     UNIQUE (stream_id, version))",
                )
                .execute(p)
                .await
                .unwrap();
                sqlx::query(
                    "CREATE INDEX raw_case ON raw_events (case_id, id) WHERE case_id IS NOT NULL",
                )
                .execute(p)
                .await
                .unwrap();
            }
        }
    }

    /// Plain batched insert of the same rows: one transaction per batch.
    async fn insert(&self, rows: &[RawRow]) {
        match self {
            Raw::Pg(p) => {
                let mut tx = p.begin().await.unwrap();
                let t = |f: fn(&RawRow) -> &str| {
                    rows.iter().map(|r| f(r).to_owned()).collect::<Vec<_>>()
                };
                sqlx::query(
                    "INSERT INTO raw_events (event_id, stream_id, version, case_id, event_type, schema_version, payload, metadata, occurred_at, recorded_at) \
                     SELECT e, s, v, c, t, sv, pl::json, md::json, 'epoch'::timestamptz + o * interval '1 microsecond', now() \
                     FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[], $9::bigint[]) \
                     AS u(e, s, v, c, t, sv, pl, md, o)",
                )
                .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
                .bind(t(|r| &r.stream_id))
                .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.case_id.clone()).collect::<Vec<_>>())
                .bind(t(|r| &r.event_type))
                .bind(rows.iter().map(|r| r.schema_version).collect::<Vec<_>>())
                .bind(t(|r| &r.payload))
                .bind(t(|r| &r.metadata))
                .bind(rows.iter().map(|r| r.occurred_us).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
            }
            Raw::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await.unwrap();
                for r in rows {
                    sqlx::query(
                        "INSERT INTO raw_events (event_id, stream_id, version, case_id, event_type, schema_version, payload, metadata, occurred_at, recorded_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    )
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
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                }
                tx.commit().await.unwrap();
            }
        }
    }

    async fn read_all(&self) -> usize {
        let mut after = 0i64;
        let mut total = 0;
        loop {
            let sql = "SELECT id, event_id, stream_id, version, case_id, event_type, schema_version, payload, metadata, occurred_at, recorded_at \
                       FROM raw_events WHERE id > $1 ORDER BY id LIMIT 1000";
            let ids: Vec<i64> = match self {
                Raw::Pg(p) => {
                    let sql = sql.replace("payload, metadata", "payload::text, metadata::text");
                    sqlx::query_as::<
                        _,
                        (
                            i64,
                            Uuid,
                            String,
                            i64,
                            Option<String>,
                            String,
                            i32,
                            String,
                            String,
                            time::OffsetDateTime,
                            time::OffsetDateTime,
                        ),
                    >(&sql)
                    .bind(after)
                    .fetch_all(p)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.0)
                    .collect()
                }
                Raw::Sqlite(p) => sqlx::query_as::<
                    _,
                    (
                        i64,
                        String,
                        String,
                        i64,
                        Option<String>,
                        String,
                        i32,
                        String,
                        String,
                        i64,
                        i64,
                    ),
                >(&sql.replace("$1", "?"))
                .bind(after)
                .fetch_all(p)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.0)
                .collect(),
            };
            let Some(last) = ids.last() else { return total };
            after = *last;
            total += ids.len();
        }
    }
}

struct Row {
    backend: &'static str,
    what: String,
    store: f64,
    raw: f64,
}

async fn run_backend(store: Store, raw: Raw, out: &mut Vec<Row>) {
    raw.setup().await;
    let backend = store.backend();
    for (per_tx, writers, total) in SCENARIOS {
        let txs_per_writer = total / per_tx / writers;
        // Store.
        let started = Instant::now();
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for t in 0..txs_per_writer {
                        let stream = format!("bench-{per_tx}-{writers}-{w}");
                        let evs = (0..per_tx)
                            .map(|i| event(&stream, t * per_tx + i))
                            .collect();
                        store
                            .commit(Commit::append(
                                StreamId::parse(&stream).unwrap(),
                                ExpectedVersion::Any,
                                evs,
                            ))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let n = (txs_per_writer * per_tx * writers) as f64;
        let store_rate = n / started.elapsed().as_secs_f64();
        // Raw inserts of the same rows.
        let raw = Arc::new(raw_clone(&raw));
        let started = Instant::now();
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let raw = raw.clone();
                tokio::spawn(async move {
                    for t in 0..txs_per_writer {
                        let stream = format!("bench-{per_tx}-{writers}-{w}");
                        let rows: Vec<RawRow> = (0..per_tx)
                            .map(|i| {
                                let v = (t * per_tx + i) as i64 + 1;
                                RawRow::new(
                                    &event(&stream, t * per_tx + i),
                                    0,
                                    v,
                                    datetime!(2026-03-01 08:00 UTC),
                                )
                                .unwrap()
                            })
                            .collect();
                        raw.insert(&rows).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let raw_rate = n / started.elapsed().as_secs_f64();
        out.push(Row {
            backend,
            what: format!("append {per_tx}/tx, {writers} writer(s)"),
            store: store_rate,
            raw: raw_rate,
        });
    }
    // $all read rate over everything written above.
    let started = Instant::now();
    let mut after = 0;
    let mut read = 0usize;
    loop {
        let batch = store.read_all(after, 1000).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position;
        read += batch.len();
    }
    let store_rate = read as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let raw_read = raw.read_all().await;
    let raw_rate = raw_read as f64 / started.elapsed().as_secs_f64();
    out.push(Row {
        backend,
        what: "read $all (1000/batch)".into(),
        store: store_rate,
        raw: raw_rate,
    });
}

fn raw_clone(r: &Raw) -> Raw {
    match r {
        Raw::Pg(p) => Raw::Pg(p.clone()),
        Raw::Sqlite(p) => Raw::Sqlite(p.clone()),
    }
}

#[tokio::main]
async fn main() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-01 08:00 UTC)));
    let mut rows = Vec::new();

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url, clock.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let Store::Sqlite(s) = &store else {
        unreachable!()
    };
    let raw = Raw::Sqlite(s.writer().clone());
    run_backend(store.clone(), raw, &mut rows).await;

    let admin = std::env::var("REFERRAL_BENCH_PG")
        .or_else(|_| std::env::var("REFERRAL_TEST_PG"))
        .ok();
    if let Some(admin) = admin {
        std::env::set_var("REFERRAL_TEST_PG", &admin);
        let db = testkit::PgDatabase::create().await.unwrap();
        let store = Store::connect(&db.url, clock.clone()).await.unwrap();
        store.migrate().await.unwrap();
        let Store::Postgres(p) = &store else {
            unreachable!()
        };
        let raw = Raw::Pg(p.pool().clone());
        run_backend(store.clone(), raw, &mut rows).await;
    } else {
        eprintln!("PostgreSQL skipped: set REFERRAL_BENCH_PG to an admin URL");
    }

    println!(
        "{:<9} {:<32} {:>12} {:>12} {:>8}",
        "backend", "scenario", "store ev/s", "raw ev/s", "ratio"
    );
    for r in &rows {
        println!(
            "{:<9} {:<32} {:>12.0} {:>12.0} {:>8.2}",
            r.backend,
            r.what,
            r.store,
            r.raw,
            r.store / r.raw
        );
    }
    let json: Vec<_> = rows
        .iter()
        .map(|r| serde_json::json!({ "backend": r.backend, "scenario": r.what, "store_per_s": r.store.round(), "raw_per_s": r.raw.round(), "ratio": (r.store / r.raw * 100.0).round() / 100.0 }))
        .collect();
    println!("{}", serde_json::to_string(&json).unwrap());
}
