//! Issue 6's benchmark (`cargo bench -p followup`): the worklist's first page for a district
//! with 50,000 open high-risk women in one month, in a store of 1,000,000 cases, against a
//! district-month of 1,000 in the same store (p50/p99 over 200 requests through the router);
//! colour and overdue filters and a deep page (cursor); and the rate of `FollowUpMonthEnded`
//! handling (monthly plan generation) against plain appends in the same store. SQLite always;
//! PostgreSQL too when `REFERRAL_BENCH_PG` is set (it becomes `REFERRAL_TEST_PG`).
//!
//! The item documents are written directly (10,000 a transaction) with the projection's own
//! builder over a real case's state, so their shapes are real. The store holds 1,000,000
//! cases (`REFERRAL_BENCH_CASES`): the measured 50,000 and 1,000, and the rest spread over
//! other districts, five documents each (two March items in two collections and the case).
//! Each woman has two March items (the call and the overdue face-to-face visit).

#[path = "../tests/common/mod.rs"]
mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bus::Handler;
use common::*;
use contracts::{CaseId, Colour, InstitutionCode, Metadata, NewEvent, StreamId};
use edge::Role;
use eventstore::{Commit, EventStore, ExpectedVersion};
use followup::core::{CaseState, YearMonth};
use followup::http::{router, FollowUpState};
use followup::projection::{diff, documents};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::macros::{date, datetime};
use tower::ServiceExt;
use uuid::Uuid;

const BIG: usize = 50_000;
const SMALL: usize = 1_000;
/// Cases in the store, all districts together.
const CASES: usize = 1_000_000;
const REQUESTS: usize = 200;
const PLAN_CASES: usize = 1_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The template woman's state, reshaped as woman `n` of `district`: only her March items.
fn woman(t: &CaseState, district: &str, n: usize) -> (CaseId, CaseState) {
    let case = CaseId::parse(format!("b{district}-{n:06}")).unwrap();
    let mut s = t.clone();
    let d = contracts::DistrictCode::parse(district).unwrap();
    let colours = [
        Colour::Red,
        Colour::Orange,
        Colour::Yellow,
        Colour::Yellow,
        Colour::Green,
    ];
    if let Some(o) = s.opened.as_mut() {
        o.case_id = case.clone();
        o.district = d.clone();
        o.grade.colour = colours[n % 5];
        o.grade.infectious = n.is_multiple_of(7);
    }
    s.transfers.clear();
    s.items = t
        .items
        .values()
        .filter(|i| YearMonth::of(i.scheduled.due_date).key() == "2026-03")
        .enumerate()
        .map(|(j, i)| {
            let mut i = i.clone();
            let id = Uuid::from_u128(((n as u128) << 40) | ((j as u128) << 32) | hash(district));
            i.scheduled.item_id = id;
            i.scheduled.case_id = case.clone();
            i.scheduled.district = d.clone();
            i.district = d.clone();
            i.scheduled.due_at -= time::Duration::minutes((n % 600) as i64);
            (id, i)
        })
        .collect();
    (case, s)
}

fn hash(d: &str) -> u128 {
    d.parse::<u128>().unwrap_or(0)
}

async fn populate(w: &World, t: &CaseState, district: &str, women: usize) -> usize {
    let mut docs = 0;
    let mut n = 0;
    while n < women {
        let mut commit = Commit::default();
        while n < women && commit.documents.len() < 10_000 {
            let (case, s) = woman(t, district, n);
            commit
                .documents
                .extend(diff(&[], &documents(&case, &s, policy())));
            n += 1;
        }
        docs += commit.documents.len();
        w.store.commit(commit).await.unwrap();
    }
    docs
}

async fn get(app: &axum::Router, uri: &str, key: &str) -> (Duration, serde_json::Value) {
    let req = Request::builder()
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let t = Instant::now();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let took = t.elapsed();
    let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (took, v)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn latency(app: &axum::Router, uri: &str, key: &str, n: usize) -> (Duration, Duration) {
    let mut ts = Vec::with_capacity(n);
    for _ in 0..n {
        ts.push(get(app, uri, key).await.0);
    }
    ts.sort();
    (pct(&ts, 0.5), pct(&ts, 0.99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn run(mut w: World, backend: &str) {
    let big = env_usize("REFERRAL_BENCH_WOMEN", BIG);
    let other_women = env_usize("REFERRAL_BENCH_CASES", CASES).saturating_sub(big + SMALL);
    println!("== {backend} ==");
    // A real woman, high-risk on 10 March, through the handler: the template.
    let t0 = datetime!(2026-03-10 09:00 +08:00);
    let tc = case("template");
    open_case(
        &mut w,
        &tc,
        "430199",
        grade(Colour::Red, false, 30),
        t0,
        Some(date!(2025 - 07 - 01)),
    )
    .await;
    let template = w.service.load(&tc).await.unwrap();

    // Monthly plan generation: PLAN_CASES real cases, then their March ends.
    let plan = env_usize("REFERRAL_BENCH_PLAN_CASES", PLAN_CASES);
    for n in 0..plan {
        let c = CaseId::parse(format!("plan-{n:05}")).unwrap();
        w.append(
            "card",
            &c,
            &card(&c, "430105", t0, Some(date!(2025 - 12 - 01)), None),
            t0,
        )
        .await;
        w.append(
            "warning",
            &c,
            &opened(&c, "430105", grade(Colour::Orange, false, 12), t0),
            t0,
        )
        .await;
    }
    w.pump().await;

    let start = Instant::now();
    let mut docs = populate(&w, &template, "430103", big).await;
    docs += populate(&w, &template, "430104", SMALL).await;
    let mut d = 0;
    let mut left = other_women;
    while left > 0 {
        let k = left.min(50_000);
        docs += populate(&w, &template, &format!("43{:04}", 1_000 + d), k).await;
        left -= k;
        d += 1;
    }
    println!(
        "populated {docs} documents ({big} + {SMALL} women in the measured months, {other_women} women in {d} other districts) in {:.1}s",
        start.elapsed().as_secs_f64()
    );

    w.clock.set(datetime!(2026-03-20 10:00 +08:00));
    let app = router(FollowUpState {
        service: w.service.clone(),
        clock: Arc::new(w.clock.clone()),
    });
    let city = edge::issue_key(
        &w.store,
        Role::CityOffice,
        InstitutionCode::parse("MCH-430100").unwrap(),
        district("430100"),
    )
    .await
    .unwrap()
    .1;
    let (_, first) = get(&app, "/v1/worklists/430103/2026-03", &city).await;
    println!(
        "first page: {} rows, truncated {}, first colour {}",
        first["rows"].as_array().map_or(0, Vec::len),
        first["truncated"],
        first["rows"][0]["colour"]
    );
    for (label, q) in [("all statuses", ""), ("status=open", "?status=open")] {
        let (bp50, bp99) = latency(
            &app,
            &format!("/v1/worklists/430103/2026-03{q}"),
            &city,
            REQUESTS,
        )
        .await;
        let (sp50, sp99) = latency(
            &app,
            &format!("/v1/worklists/430104/2026-03{q}"),
            &city,
            REQUESTS,
        )
        .await;
        println!(
            "worklist first page ({label}, 500 rows): {big} women p50 {:.2} ms p99 {:.2} ms | {SMALL} women p50 {:.2} ms p99 {:.2} ms | p99 ratio {:.2} (target p99 <= 50 ms: {})",
            ms(bp50), ms(bp99), ms(sp50), ms(sp99),
            bp99.as_secs_f64() / sp99.as_secs_f64(),
            if ms(bp99) <= 50.0 { "met" } else { "MISSED" }
        );
    }
    for (label, q) in [
        ("colour=green", "?colour=green"),
        ("colour=red", "?colour=red"),
        ("colour=purple", "?colour=purple"),
        ("status=overdue", "?status=overdue"),
    ] {
        let (p50, p99) = latency(
            &app,
            &format!("/v1/worklists/430103/2026-03{q}"),
            &city,
            REQUESTS,
        )
        .await;
        println!(
            "filtered page ({label}, 500 rows): p50 {:.2} ms p99 {:.2} ms ({REQUESTS} requests; target p99 <= 50 ms: {})",
            ms(p50),
            ms(p99),
            if ms(p99) <= 50.0 { "met" } else { "MISSED" }
        );
    }
    // A deep page: follow the cursor 40 pages in (20,000 rows), then time that page.
    let mut next = first["next"].as_str().map(str::to_owned);
    for _ in 0..39 {
        let Some(after) = next.take() else { break };
        let (_, page) = get(
            &app,
            &format!("/v1/worklists/430103/2026-03?after={after}"),
            &city,
        )
        .await;
        next = page["next"].as_str().map(str::to_owned);
    }
    if let Some(after) = next {
        let (p50, p99) = latency(
            &app,
            &format!("/v1/worklists/430103/2026-03?after={after}"),
            &city,
            REQUESTS,
        )
        .await;
        println!(
            "page 41 by cursor (rows 20,001-20,500): p50 {:.2} ms p99 {:.2} ms ({REQUESTS} requests)",
            ms(p50),
            ms(p99)
        );
    }
    let t = Instant::now();
    let req = Request::builder()
        .uri("/v1/worklists/430103/2026-03?format=csv")
        .header("authorization", format!("Bearer {city}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let csv = resp.into_body().collect().await.unwrap().to_bytes();
    println!(
        "CSV export of the whole month: {} lines in {:.0} ms (one request)",
        csv.iter().filter(|b| **b == b'\n').count(),
        ms(t.elapsed())
    );

    // Month end: fire the deadlines, then time the handling of FollowUpMonthEnded.
    w.clock.set(datetime!(2026-04-01 00:30 +08:00));
    let cursor = w.store.head().await.unwrap().0;
    while !w.store.fire_due_deadlines(500).await.unwrap().is_empty() {}
    let mut ended = Vec::new();
    let mut after = cursor;
    loop {
        let b = w.store.read_all(after, 1000).await.unwrap();
        let Some(l) = b.last() else { break };
        after = l.position;
        ended.extend(
            b.into_iter()
                .filter(|e| e.event_type == "FollowUpMonthEnded"),
        );
    }
    let t = Instant::now();
    for e in &ended {
        w.service.handle(e).await.unwrap();
    }
    let handled = ended.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for n in 0..ended.len() {
        let ne = NewEvent {
            event_id: Uuid::new_v4(),
            stream_id: StreamId::parse(format!("plain-{n}")).unwrap(),
            case_id: None,
            event_type: "BenchPlain".into(),
            schema_version: 1,
            payload: serde_json::json!({"n": n, "month": "2026-03"}),
            metadata: Metadata::system("bench"),
            occurred_at: w.now(),
        };
        w.store
            .commit(Commit::append(
                ne.stream_id.clone(),
                ExpectedVersion::Any,
                vec![ne],
            ))
            .await
            .unwrap();
    }
    let plain = ended.len() as f64 / t.elapsed().as_secs_f64();
    println!(
        "monthly plan generation: {} FollowUpMonthEnded handled at {handled:.0} events/s; plain single-event appends {plain:.0} events/s; ratio {:.2}",
        ended.len(),
        handled / plain
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let start = datetime!(2026-03-10 09:00 +08:00);
        run(sqlite(start).await, "sqlite").await;
        if let Ok(url) = std::env::var("REFERRAL_BENCH_PG") {
            std::env::set_var("REFERRAL_TEST_PG", url);
            run(postgres(start).await, "postgresql").await;
        }
    });
}
