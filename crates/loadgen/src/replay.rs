//! The replay figure: fill a store quickly with a realistic log (synthetic cards graded by
//! the real scoring engine, each case's warning events decided by the real warning core,
//! committed a few hundred cases per transaction), then time the rebuild `referral replay`
//! runs (`warning::Warning::rebuild`) beside a plain sequential read of the same `events`
//! table with sqlx.
//!
//! What it does not: go through HTTP or NATS (that is [`crate::run`]); arm deadlines or write
//! read models while loading (the rebuild writes them).

use anyhow::{Context, Result};
use contracts::{
    CaseId, Colour, DistrictCode, Envelope, InstitutionCode, Metadata, NewEvent, StreamId,
};
use eventstore::{Append, Commit, EventStore, ExpectedVersion, Store};
use futures::TryStreamExt;
use reference::ReferenceData;
use scoring::{Catalogues, Policy, RiskAssessed};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use uuid::Uuid;
use warning::core::{on_assessed, CaseState};

const NS: Uuid = Uuid::from_u128(0x4c6f_6164_6765_6e00_0000_0000_0000_0001);

fn date(v: &Value) -> Option<Date> {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(v.as_str()?, f).ok()
}

/// Grades a synthetic card body with the real engine (a load helper; intake is not involved).
fn assess(
    body: &Value,
    catalogues: &Catalogues,
    policy: &Policy,
) -> Result<(OffsetDateTime, scoring::Assessment)> {
    let at = OffsetDateTime::parse(body["assessed_at"].as_str().unwrap_or_default(), &Rfc3339)?;
    let m = &body["measurements"];
    let p = &body["pregnancy"];
    let card = scoring::Card {
        assessed_on: at.date(),
        findings: body["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        measurements: contracts::Measurements {
            birth_date: date(&body["woman"]["birth_date"]),
            height_cm: m["height_cm"].as_f64(),
            weight_kg: m["weight_kg"].as_f64(),
            systolic_mmhg: m["systolic_mmhg"].as_u64().map(|v| v as u16),
            diastolic_mmhg: m["diastolic_mmhg"].as_u64().map(|v| v as u16),
            hb_g_per_l: m["hb_g_per_l"].as_f64(),
            platelets_10e9_per_l: m["platelets_10e9_per_l"].as_f64(),
            gestational_weeks: p["gestational_weeks"].as_u64().map(|v| v as u8),
            gestational_days: p["gestational_days"].as_u64().map(|v| v as u8),
            fetuses: p["fetuses"].as_u64().map(|v| v as u8),
        },
        declared_colour: body["declared_colour"]
            .as_str()
            .and_then(|c| Colour::parse(c).ok()),
    };
    Ok((at, scoring::assess(&card, catalogues, policy)?))
}

/// Appends about `target` events: per card a `RiskAssessed` and warning's decision on it.
/// Returns the head position reached.
pub async fn load(
    store: &Store,
    reference: &ReferenceData,
    catalogues: &Catalogues,
    policy: &Policy,
    target: i64,
    seed: u64,
    mut progress: impl FnMut(i64),
) -> Result<i64> {
    let mut config = synth::SynthConfig::history(seed, OffsetDateTime::now_utc());
    config.duplicate_share = 0.0;
    config.invalid_share = 0.0;
    config.active_women = 2_000;
    let mut gen = synth::Synth::new(reference, catalogues, config)?;
    let mut states: HashMap<u64, (CaseId, CaseState, i64)> = HashMap::new();
    let (mut head, _) = store.head().await?;
    while head < target {
        let mut appends = Vec::new();
        for _ in 0..300 {
            let card = gen.next_card();
            let (at, assessment) = assess(&card.body, catalogues, policy)?;
            let entry = states.entry(card.woman).or_insert_with(|| {
                let case = CaseId::parse(
                    Uuid::new_v5(&NS, format!("w{}", card.woman).as_bytes()).to_string(),
                )
                .expect("uuid case ids are valid");
                (case, CaseState::default(), 0)
            });
            let case = entry.0.clone();
            let card_event_id = Uuid::new_v5(&NS, format!("card/{}", card.card_id).as_bytes());
            let ra_id = contracts::derive_event_id(card_event_id, "RiskAssessed");
            let institution = InstitutionCode::parse(&card.institution)?;
            let institution_district = reference
                .institution(&institution)
                .map(|i| i.district.clone())
                .context("institution in the reference data")?;
            let home = DistrictCode::parse(&card.district)?;
            let ra = RiskAssessed {
                case_id: case.clone(),
                card_id: card.card_id.clone(),
                card_event_id,
                institution,
                institution_district,
                residence_district: home.clone(),
                assessed_at: at,
                received_at: at,
                critical: false,
                assessment,
            };
            let decision = on_assessed(&entry.1, &ra, ra_id, policy);
            let mut meta = Metadata::system("loadgen");
            meta.district = Some(home);
            appends.push(Append {
                stream_id: StreamId::of("assessment", &case)?,
                expected: ExpectedVersion::Any,
                events: vec![NewEvent {
                    event_id: ra_id,
                    stream_id: StreamId::of("assessment", &case)?,
                    case_id: Some(case.clone()),
                    event_type: "RiskAssessed".into(),
                    schema_version: 1,
                    payload: serde_json::to_value(&ra)?,
                    metadata: meta,
                    occurred_at: at,
                }],
            });
            let stream = StreamId::of("warning", &case)?;
            let mut events = Vec::new();
            for d in decision.events {
                entry.2 += 1;
                let mut metadata = Metadata::system("warning");
                metadata.district = Some(d.district.clone());
                let env = Envelope {
                    event_id: d.event_id,
                    stream_id: stream.clone(),
                    version: entry.2,
                    position: 0,
                    case_id: Some(case.clone()),
                    event_type: d.event_type.to_owned(),
                    schema_version: 1,
                    payload: d.payload.clone(),
                    metadata: metadata.clone(),
                    occurred_at: d.occurred_at,
                    recorded_at: d.occurred_at,
                };
                entry.1.evolve(&env)?;
                events.push(NewEvent {
                    event_id: d.event_id,
                    stream_id: stream.clone(),
                    case_id: Some(case.clone()),
                    event_type: d.event_type.to_owned(),
                    schema_version: 1,
                    payload: d.payload,
                    metadata,
                    occurred_at: d.occurred_at,
                });
            }
            appends.push(Append {
                stream_id: stream,
                expected: ExpectedVersion::Any,
                events,
            });
        }
        store
            .commit(Commit {
                appends,
                ..Commit::default()
            })
            .await?;
        head = store.head().await?.0;
        progress(head);
    }
    Ok(head)
}

/// Replay figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplayFigures {
    /// Backend.
    pub backend: String,
    /// Events in the log.
    pub events: i64,
    /// Cases whose warning read models were rebuilt.
    pub cases: usize,
    /// Seconds the rebuild took.
    pub replay_secs: f64,
    /// Events per second of the rebuild.
    pub replay_events_per_s: f64,
    /// Seconds a plain sequential sqlx read of the whole `events` table took.
    pub raw_read_secs: f64,
    /// Rows per second of that read.
    pub raw_read_rows_per_s: f64,
    /// replay ÷ raw read.
    pub ratio: f64,
    /// Peak RSS of the replaying process, MB.
    pub peak_rss_mb: f64,
}

/// Times the rebuild (`referral replay`'s function) and the raw read. Run it in a fresh
/// process for a clean peak RSS.
pub async fn measure(url: &str, policy: Policy) -> Result<ReplayFigures> {
    let store = Store::connect(url, Arc::new(contracts::SystemClock)).await?;
    store.migrate().await?;
    let (events, _) = store.head().await?;
    let (raw_rows, raw_secs) = raw_read(url).await?;
    let started = Instant::now();
    let warning = warning::Warning::new(store.clone(), Arc::new(policy));
    let cases = warning.rebuild(|_, _| {}).await?;
    let secs = started.elapsed().as_secs_f64();
    let replay = events as f64 / secs.max(1e-9);
    let raw = raw_rows as f64 / raw_secs.max(1e-9);
    Ok(ReplayFigures {
        backend: store.backend().into(),
        events,
        cases,
        replay_secs: secs,
        replay_events_per_s: replay,
        raw_read_secs: raw_secs,
        raw_read_rows_per_s: raw,
        ratio: replay / raw,
        peak_rss_mb: crate::procs::own_peak_rss_kb().unwrap_or(0) as f64 / 1024.0,
    })
}

/// A plain sequential read of every column of `events` in position order (streamed).
pub async fn raw_read(url: &str) -> Result<(u64, f64)> {
    let started = Instant::now();
    let mut rows = 0u64;
    let mut bytes = 0usize;
    const SQL: &str = "SELECT position, event_id, stream_id, version, case_id, event_type, \
                       schema_version, payload, metadata, occurred_at, recorded_at, hash \
                       FROM events ORDER BY position";
    if url.starts_with("sqlite:") {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        let mut s = sqlx::query(SQL).fetch(&pool);
        while let Some(r) = s.try_next().await? {
            let p: String = r.try_get("payload")?;
            bytes += p.len();
            rows += 1;
        }
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        let sql = SQL.replace(
            "payload, metadata",
            "payload::text AS payload, metadata::text AS metadata",
        );
        let mut s = sqlx::query(&sql).fetch(&pool);
        while let Some(r) = s.try_next().await? {
            let p: String = r.try_get("payload")?;
            bytes += p.len();
            rows += 1;
        }
    }
    std::hint::black_box(bytes);
    Ok((rows, started.elapsed().as_secs_f64()))
}
