//! Warning benchmark (bounded): alerts raised per second through the service (store, core,
//! read models, deadlines) against plain single-event appends to the same store in the same
//! run; and inbox query latency (p50/p99, first page of 500) with 100,000 open alerts in one
//! district against the same query with 1,000 (the index keeps it flat).
//!
//! `cargo bench -p warning` (SQLite); add `REFERRAL_BENCH_PG=<admin url>` for PostgreSQL too.

#![allow(missing_docs)]

use bus::Handler;
use contracts::{CaseId, DistrictCode, InstitutionCode, ManualClock, Metadata, NewEvent, StreamId};
use eventstore::{Commit, DocumentOp, EventStore, ExpectedVersion, Store};
use scoring::{assess, Card, Region, RiskAssessed};
use std::sync::Arc;
use std::time::Instant;
use time::macros::datetime;
use warning::Warning;

const CARDS: usize = 1500;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(store: Store, label: &str) {
    let region = Region::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/regions/default.toml"
    ))
    .unwrap();
    let cats = region.load_catalogues().unwrap();
    let service = Warning::new(store.clone(), Arc::new(region.policy.clone()));
    let t = datetime!(2026-04-01 09:00 +08:00);
    let mut card = Card::new(t.date());
    card.findings = vec!["O-CV-NYHA2".into()];
    let assessment = assess(&card, &cats, &region.policy).unwrap();
    // RiskAssessed events as scoring appends them.
    let mut envelopes = Vec::with_capacity(CARDS);
    for i in 0..CARDS {
        let case = CaseId::parse(format!("b{i}")).unwrap();
        let ra = RiskAssessed {
            case_id: case.clone(),
            card_id: format!("c{i}"),
            card_event_id: uuid::Uuid::new_v4(),
            institution: InstitutionCode::parse("H-01").unwrap(),
            institution_district: DistrictCode::parse("430102").unwrap(),
            residence_district: DistrictCode::parse("430103").unwrap(),
            assessed_at: t,
            received_at: t,
            critical: false,
            assessment: assessment.clone(),
        };
        let e = NewEvent::from_domain(
            uuid::Uuid::new_v4(),
            StreamId::of("assessment", &case).unwrap(),
            Some(case),
            &ra,
            Metadata::system("scoring"),
            t,
        )
        .unwrap();
        let out = store
            .commit(Commit::append(
                e.stream_id.clone(),
                ExpectedVersion::Any,
                vec![e],
            ))
            .await
            .unwrap();
        envelopes.push(
            store
                .read_all(out.appends[0].positions[0] - 1, 1)
                .await
                .unwrap()
                .remove(0),
        );
    }
    let started = Instant::now();
    for e in &envelopes {
        service.handle(e).await.unwrap();
    }
    let service_rate = CARDS as f64 / started.elapsed().as_secs_f64();
    // Baseline: one plain single-event append per card, same store.
    let started = Instant::now();
    for e in &envelopes {
        let mut n = NewEvent {
            event_id: uuid::Uuid::new_v4(),
            stream_id: StreamId::parse(format!("plain-{}", e.case_id.as_ref().unwrap())).unwrap(),
            case_id: e.case_id.clone(),
            event_type: "Plain".into(),
            schema_version: 1,
            payload: e.payload.clone(),
            metadata: Metadata::system("bench"),
            occurred_at: t,
        };
        n.payload["n"] = serde_json::json!(1);
        store
            .commit(Commit::append(
                n.stream_id.clone(),
                ExpectedVersion::Any,
                vec![n],
            ))
            .await
            .unwrap();
    }
    let plain_rate = CARDS as f64 / started.elapsed().as_secs_f64();
    println!("{label:<9} alerts raised (service)      {service_rate:>9.0}/s   plain appends {plain_rate:>9.0}/s   ratio {:.2}", service_rate / plain_rate);

    // Inbox latency: 1,000 vs 100,000 open alerts in one office.
    let mut results = Vec::new();
    for (scope, n) in [
        ("bench-small|open", 1_000usize),
        ("bench-large|open", 100_000),
    ] {
        for chunk in 0..n.div_ceil(2000) {
            let docs = (chunk * 2000..((chunk + 1) * 2000).min(n))
                .map(|i| DocumentOp::Put {
                    collection: "inbox".into(),
                    key: format!("{:020}|{i:08}", 1_700_000_000 + i),
                    scope: scope.into(),
                    body: serde_json::json!({ "alert_id": i, "colour": "orange", "due_at": "2026-04-03T09:00:00+08:00", "status": "open" }),
                })
                .collect();
            store
                .commit(Commit {
                    documents: docs,
                    ..Commit::default()
                })
                .await
                .unwrap();
        }
        let mut lat = Vec::with_capacity(200);
        for _ in 0..200 {
            let q = Instant::now();
            let page = store.documents("inbox", Some(scope), 500).await.unwrap();
            lat.push(q.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(page.len(), 500);
        }
        lat.sort_by(f64::total_cmp);
        results.push((n, percentile(&lat, 0.5), percentile(&lat, 0.99)));
    }
    let (small, large) = (results[0], results[1]);
    println!(
        "{label:<9} inbox first 500 of {:>6}: p50 {:.2} ms p99 {:.2} ms | of {:>7}: p50 {:.2} ms p99 {:.2} ms | p50 ratio {:.2}",
        small.0, small.1, small.2, large.0, large.1, large.2, large.1 / small.1
    );
}

#[tokio::main]
async fn main() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-04-01 02:00 UTC)));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(
        &format!("sqlite:{}", dir.path().join("w.db").display()),
        clock.clone(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    run(store, "sqlite").await;
    if let Ok(admin) = std::env::var("REFERRAL_BENCH_PG") {
        std::env::set_var("REFERRAL_TEST_PG", admin);
        let db = testkit::PgDatabase::create().await.unwrap();
        let store = Store::connect(&db.url, clock).await.unwrap();
        store.migrate().await.unwrap();
        run(store, "postgres").await;
    }
}
