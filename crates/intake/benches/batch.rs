//! Intake benchmark (bounded): cards/s accepted by `POST /v1/risk-cards:batch` (in process,
//! through the router: parse, validate, case matching, store), on SQLite and PostgreSQL;
//! beside it in the same run, the store alone appending the same number of card-sized events
//! in the same batch size, and the ratio.
//!
//! `cargo bench -p intake`; PostgreSQL with `REFERRAL_BENCH_PG=<admin url>`.

#![allow(missing_docs)]

use axum::body::Body;
use axum::http::Request;
use contracts::{DistrictCode, InstitutionCode, ManualClock, Metadata, NewEvent, StreamId};
use eventstore::{Commit, EventStore, ExpectedVersion, Store};
use intake::IntakeState;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use time::macros::datetime;
use tower::ServiceExt;

const BATCHES: usize = 8;
const PER_BATCH: usize = 500;

fn resident_id(n: usize) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let first17 = format!("430102199405{:02}{:03}", 1 + n % 28, (n / 28 % 500) * 2);
    let first17 = format!("{}{}", &first17[..14], &first17[14..17]);
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

fn card(n: usize, run: &str) -> Value {
    json!({
        "card_id": format!("{run}-{n}"),
        "institution_code": "H430102-01",
        "assessed_at": "2026-03-09T09:30:00+08:00",
        "assessor": "dr-017",
        "woman": {
            "id_type": if n < 14_000 { "resident_id" } else { "passport" },
            "id_number": if n < 14_000 { resident_id(n) } else { format!("E{n:08}") },
            "name": "张某某", "birth_date": format!("1994-05-{:02}", 1 + n % 28),
            "phone": "13812345678", "residence_district": "430103", "address": null
        },
        "pregnancy": { "lmp": "2025-12-01", "gestational_weeks": 14, "gestational_days": 1, "gravida": 2, "para": 1, "fetuses": 1 },
        "measurements": { "height_cm": 160.0, "weight_kg": 58.5, "systolic_mmhg": 118, "diastolic_mmhg": 76 },
        "findings": ["O-CV-NYHA2"],
        "declared_colour": "orange", "critical": false, "note": null
    })
}

async fn run(store: Store, label: &str, clock: Arc<ManualClock>) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let state = IntakeState {
        store: store.clone(),
        clock: clock.clone(),
        reference: Arc::new(
            reference::ReferenceData::load(format!("{root}/config/reference/demo-city.toml"))
                .unwrap(),
        ),
        catalogues: Arc::new(
            scoring::Region::load(format!("{root}/config/regions/default.toml"))
                .unwrap()
                .load_catalogues()
                .unwrap(),
        ),
    };
    let (_, key) = edge::issue_key(
        &store,
        edge::Role::Hospital,
        InstitutionCode::parse("H430102-01").unwrap(),
        DistrictCode::parse("430102").unwrap(),
    )
    .await
    .unwrap();
    let app = intake::router(state);
    let bodies: Vec<String> = (0..BATCHES)
        .map(|b| json!({ "cards": (0..PER_BATCH).map(|i| card(b * PER_BATCH + i, label)).collect::<Vec<_>>() }).to_string())
        .collect();
    let started = Instant::now();
    let mut accepted = 0u64;
    for body in &bodies {
        let req = Request::post("/v1/risk-cards:batch")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        accepted += v["accepted"].as_u64().unwrap_or(0);
    }
    let api = accepted as f64 / started.elapsed().as_secs_f64();
    assert_eq!(
        accepted as usize,
        BATCHES * PER_BATCH,
        "every card accepted"
    );
    // Baseline: the store alone, same number of card-sized events, same batch size.
    let payload = card(0, "x");
    let started = Instant::now();
    for b in 0..BATCHES {
        let events: Vec<NewEvent> = (0..PER_BATCH)
            .map(|i| NewEvent {
                event_id: uuid::Uuid::new_v4(),
                stream_id: StreamId::parse(format!("plain-{label}-{b}-{i}")).unwrap(),
                case_id: None,
                event_type: "Plain".into(),
                schema_version: 1,
                payload: payload.clone(),
                metadata: Metadata::system("bench"),
                occurred_at: datetime!(2026-03-09 01:30 UTC),
            })
            .collect();
        let appends = events
            .into_iter()
            .map(|e| eventstore::Append {
                stream_id: e.stream_id.clone(),
                expected: ExpectedVersion::Any,
                events: vec![e],
            })
            .collect();
        store
            .commit(Commit {
                appends,
                ..Commit::default()
            })
            .await
            .unwrap();
    }
    let plain = (BATCHES * PER_BATCH) as f64 / started.elapsed().as_secs_f64();
    println!(
        "{label:<9} batch API {api:>8.0} cards/s | store alone {plain:>8.0} events/s | ratio {:.2}",
        api / plain
    );
}

#[tokio::main]
async fn main() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-10 00:00 UTC)));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(
        &format!("sqlite:{}", dir.path().join("i.db").display()),
        clock.clone(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    run(store, "sqlite", clock.clone()).await;
    if let Ok(admin) = std::env::var("REFERRAL_BENCH_PG") {
        std::env::set_var("REFERRAL_TEST_PG", admin);
        let db = testkit::PgDatabase::create().await.unwrap();
        let store = Store::connect(&db.url, clock.clone()).await.unwrap();
        store.migrate().await.unwrap();
        run(store, "postgres", clock).await;
    }
}
