//! Issue 8's benchmark (`cargo bench -p review`): in a SQLite store of 1,000,000 events
//! (`REVIEW_BENCH_EVENTS` to change), the latency of one case's timeline and review pack
//! through the router (p50/p99 over 200 requests), beside the raw `read_case` of the same
//! case in the same run; and the indicators of a district over a statistical year, beside the
//! raw read of that district's documents. The history is the synthetic one of the indicator
//! test (women with assessments, alerts, follow-up months, referrals, outcomes), loaded in
//! commits of ~5,000 events; the facts documents are written from the same events (what the
//! component's handler writes), not by replaying through NATS.

#[path = "../tests/common/mod.rs"]
mod common;

use common::synthetic::*;
use common::*;
use contracts::{CaseId, Envelope, NewEvent};
use edge::Role;
use eventstore::{Append, Commit, EventStore, ExpectedVersion};
use review::CaseFacts;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn latency<F, Fut>(n: usize, mut f: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..5 {
        f().await;
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        v.push(t.elapsed());
    }
    (pct(&mut v, 0.5), pct(&mut v, 0.99))
}

fn envelope(e: &NewEvent, position: i64) -> Envelope {
    Envelope {
        event_id: e.event_id,
        stream_id: e.stream_id.clone(),
        version: 0,
        position,
        case_id: e.case_id.clone(),
        event_type: e.event_type.clone(),
        schema_version: e.schema_version,
        payload: e.payload.clone(),
        metadata: e.metadata.clone(),
        occurred_at: e.occurred_at,
        recorded_at: e.occurred_at,
    }
}

async fn run() {
    let target = env_usize("REVIEW_BENCH_EVENTS", 1_000_000);
    let w = sqlite().await;
    w.clock.set(time::macros::datetime!(2026-11-01 00:00 UTC));
    let started = Instant::now();
    let mut total = 0usize;
    let mut position = 0i64;
    let mut commit = Commit::default();
    let mut pending = 0;
    let mut women = 0usize;
    let mut biggest: Option<(usize, CaseId)> = None;
    let mut batch_no = 0u64;
    while total < target {
        // 2,000 women per generator batch, each batch with its own seed.
        batch_no += 1;
        let mut ws = generate(2_000);
        for (i, woman) in ws.iter_mut().enumerate() {
            woman.case = CaseId::parse(format!("b{batch_no}-{i}")).unwrap();
        }
        for woman in &ws {
            let mut evs = events(woman);
            evs.sort_by_key(|e| e.occurred_at);
            let envs: Vec<Envelope> = evs
                .iter()
                .enumerate()
                .map(|(k, e)| envelope(e, position + k as i64 + 1))
                .collect();
            for e in evs {
                commit.appends.push(Append {
                    stream_id: e.stream_id.clone(),
                    expected: ExpectedVersion::Any,
                    events: vec![e],
                });
            }
            position += envs.len() as i64;
            total += envs.len();
            pending += envs.len();
            women += 1;
            let facts = CaseFacts::fold(woman.case.as_str(), &envs);
            commit.documents.extend(w.review.documents(&facts));
            if biggest.as_ref().is_none_or(|(n, _)| envs.len() > *n) && woman.referral.is_some() {
                biggest = Some((envs.len(), woman.case.clone()));
            }
            if pending >= 5_000 {
                w.store.commit(std::mem::take(&mut commit)).await.unwrap();
                pending = 0;
            }
            if total >= target {
                break;
            }
        }
    }
    w.store.commit(commit).await.unwrap();
    let (head, _) = w.store.head().await.unwrap();
    println!(
        "loaded {head} events of {women} women (with their facts documents) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (n, case) = biggest.unwrap();
    let reviewer = w.key(Role::Reviewer, "MCH430100", "430100").await;
    let requests = env_usize("REVIEW_BENCH_REQUESTS", 200);

    let (rp50, rp99) = latency(requests, || async {
        let mut after = 0;
        loop {
            let b = w.store.read_case(&case, after, 1000).await.unwrap();
            let Some(l) = b.last() else { break };
            after = l.position;
            if b.len() < 1000 {
                break;
            }
        }
    })
    .await;
    let (tp50, tp99) = latency(requests, || async {
        let (s, _, _) = w
            .call(
                "GET",
                &format!("/v1/cases/{case}/timeline"),
                &reviewer,
                None,
            )
            .await;
        assert_eq!(s, 200);
    })
    .await;
    let (pp50, pp99) = latency(requests, || async {
        let (s, _, _) = w
            .call("GET", &format!("/v1/reviews/{case}"), &reviewer, None)
            .await;
        assert_eq!(s, 200);
    })
    .await;
    let (hp50, hp99) = latency(requests / 4, || async {
        let (s, _, _) = w
            .call(
                "GET",
                &format!("/v1/reviews/{case}?format=html"),
                &reviewer,
                None,
            )
            .await;
        assert_eq!(s, 200);
    })
    .await;
    println!(
        "case {case}: {n} events; baseline raw read_case p50 {:.2} ms p99 {:.2} ms",
        ms(rp50),
        ms(rp99)
    );
    for (label, p50, p99) in [
        ("timeline", tp50, tp99),
        ("review pack JSON", pp50, pp99),
        ("review pack HTML", hp50, hp99),
    ] {
        println!(
            "{label}: p50 {:.2} ms p99 {:.2} ms | p99 / read_case p99 = {:.1} | target p99 <= 20 ms: {}",
            ms(p50),
            ms(p99),
            p99.as_secs_f64() / rp99.as_secs_f64(),
            if ms(p99) <= 20.0 { "met" } else { "MISSED" }
        );
    }
    let docs = w
        .store
        .documents(
            review::component::FACTS,
            Some(&format!("{D}:2026")),
            u32::MAX,
        )
        .await
        .unwrap()
        .len();
    let (dp50, dp99) = latency(10, || async {
        w.store
            .documents(
                review::component::FACTS,
                Some(&format!("{D}:2026")),
                u32::MAX,
            )
            .await
            .unwrap();
    })
    .await;
    let (ip50, ip99) = latency(10, || async {
        let (s, _, _) = w
            .call(
                "GET",
                &format!("/v1/indicators/{D}?year=2026"),
                &reviewer,
                None,
            )
            .await;
        assert_eq!(s, 200);
    })
    .await;
    println!(
        "indicators {D}, statistical year 2026 ({docs} case documents): p50 {:.1} ms p99 {:.1} ms | baseline raw document read p50 {:.1} ms p99 {:.1} ms | ratio p50 {:.2}",
        ms(ip50),
        ms(ip99),
        ms(dp50),
        ms(dp99),
        ip50.as_secs_f64() / dp50.as_secs_f64()
    );
}

fn main() {
    // `cargo test --benches` passes `--bench`-less args; run only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("review bench: run with `cargo bench -p review`");
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}
