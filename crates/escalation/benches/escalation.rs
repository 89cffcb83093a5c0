//! Escalation benchmark (bounded, ~1 minute per backend): the time from a referral's
//! acceptance deadline to its `ReferralEscalated` event being visible on NATS, p50/p99, with
//! 1,000 open referrals, through the whole pipeline (deadline scheduler every 20 ms, relay,
//! the escalation consumers, a real nats-server with JetStream), against the same pipeline's
//! latency for a plain event appended directly to the store (commit → visible on NATS).
//!
//! The deadlines fire by the store's clock, a `ManualClock` moved forward in step with wall
//! time (every 10 ms). Two phases on the same 1,000 referrals:
//! - **spread**: opened 50 ms of clock time apart, so their first deadlines (rung 1 → 2) are
//!   spread over 50 s (20 a second); latency = arrival on NATS − the wall instant the clock
//!   was first moved to or past the referral's due time. Plain-event probes are appended every
//!   100 ms during this phase (the baseline under the same load), and 200 more before it
//!   (idle);
//! - **burst**: then the clock jumps 16 minutes at once, so all 1,000 second deadlines
//!   (rung 2 → 3) are due together; latency = arrival − the jump (the worst case: the backlog
//!   drains through one consumer).
//!
//! `cargo bench -p escalation` (SQLite); add `REFERRAL_BENCH_PG=<admin url>` for PostgreSQL
//! too. Target: spread p99 ≤ 1 s.

#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use bus::{Consumer, Relay, StreamSettings};
use common::*;
use contracts::{CaseId, DistrictCode, Metadata, NewEvent, StreamId};
use eventstore::scheduler::Scheduler;
use eventstore::{Commit, EventStore, ExpectedVersion, Store};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use uuid::Uuid;

const REFERRALS: usize = 1000;
/// Clock time between two openings (so between two first deadlines).
const SPACING_MS: i64 = 50;
const IDLE_PROBES: u64 = 200;
const PROBE_EVERY: Duration = Duration::from_millis(100);
const TICK: Duration = Duration::from_millis(10);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Arrival instants on NATS, by what arrived.
#[derive(Default)]
struct Seen {
    /// (referral id, rung escalated to) → first arrival.
    escalated: HashMap<(Uuid, u64), Instant>,
    /// probe number → arrival.
    probes: HashMap<u64, Instant>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[derive(Clone, Copy)]
struct Stats {
    n: usize,
    p50: f64,
    p99: f64,
    max: f64,
}

fn stats(mut ms: Vec<f64>) -> Stats {
    assert!(!ms.is_empty());
    ms.sort_by(f64::total_cmp);
    Stats {
        n: ms.len(),
        p50: percentile(&ms, 0.5),
        p99: percentile(&ms, 0.99),
        max: *ms.last().unwrap(),
    }
}

fn probe(n: u64) -> NewEvent {
    let mut metadata = Metadata::system("bench");
    metadata.district = Some(DistrictCode::parse("430103").unwrap());
    NewEvent {
        event_id: Uuid::new_v4(),
        stream_id: StreamId::parse(format!("probe-{n}")).unwrap(),
        case_id: Some(CaseId::parse(format!("probe-{n}")).unwrap()),
        event_type: "BenchProbe".into(),
        schema_version: 1,
        payload: serde_json::json!({ "n": n }),
        metadata,
        occurred_at: T,
    }
}

/// Appends probe `n`; returns the wall instant its commit returned.
async fn append_probe(store: &Store, n: u64) -> Instant {
    let e = probe(n);
    store
        .commit(Commit::append(
            e.stream_id.clone(),
            ExpectedVersion::Any,
            vec![e],
        ))
        .await
        .unwrap();
    Instant::now()
}

async fn relay_caught_up(store: &Store) {
    loop {
        let at = store.checkpoint("relay").await.unwrap();
        if store.read_all(at, 1).await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `done` holds for what was seen, or the drain timeout.
async fn wait_for(seen: &Mutex<Seen>, done: impl Fn(&Seen) -> bool) -> bool {
    let until = Instant::now() + DRAIN_TIMEOUT;
    while Instant::now() < until {
        if done(&seen.lock().unwrap()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn ms(later: Instant, earlier: Instant) -> f64 {
    later.saturating_duration_since(earlier).as_secs_f64() * 1000.0
}

struct Results {
    spread: Stats,
    burst: Stats,
    burst_drain_ms: f64,
    probe_idle: Stats,
    probe_loaded: Stats,
    open_secs: f64,
}

async fn run(w: World, label: &str) -> Results {
    let nats = testkit::NatsServer::start().unwrap();
    let (client, js) = bus::connect(&nats.url()).await.unwrap();
    bus::ensure_stream(&js, &StreamSettings::default())
        .await
        .unwrap();

    // What arrives on NATS, timestamped on arrival by a core subscription.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut escalated = client
        .subscribe("referral.*.referral-escalated")
        .await
        .unwrap();
    let mut probes = client.subscribe("referral.*.bench-probe").await.unwrap();
    client.flush().await.unwrap();
    let listener = {
        let seen = seen.clone();
        tokio::spawn(async move {
            loop {
                let (msg, escalation) = tokio::select! {
                    Some(m) = escalated.next() => (m, true),
                    Some(m) = probes.next() => (m, false),
                    else => return,
                };
                let at = Instant::now();
                let e: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
                let p = &e["payload"];
                let mut seen = seen.lock().unwrap();
                if escalation {
                    let id: Uuid = p["referral_id"].as_str().unwrap().parse().unwrap();
                    let rung = p["to_rung"].as_u64().unwrap();
                    seen.escalated.entry((id, rung)).or_insert(at);
                } else {
                    seen.probes.entry(p["n"].as_u64().unwrap()).or_insert(at);
                }
            }
        })
    };

    // The pipeline.
    let (stop, shutdown) = watch::channel(false);
    let mut tasks = vec![
        tokio::spawn(Relay::new(w.store.clone(), js.clone()).run(shutdown.clone())),
        tokio::spawn(
            Scheduler::new(w.store.clone(), Duration::from_millis(20)).run(shutdown.clone()),
        ),
    ];
    let svc = service(&w.store);
    for config in escalation::consumer_configs() {
        tasks.push(tokio::spawn(
            Consumer::new(w.store.clone(), js.clone(), config, svc.clone()).run(shutdown.clone()),
        ));
    }

    // 1,000 open referrals, opened SPACING_MS of clock time apart.
    let start = w.clock_now();
    let opening = Instant::now();
    let mut due = Vec::with_capacity(REFERRALS);
    for i in 0..REFERRALS {
        w.clock
            .set(start + time::Duration::milliseconds(SPACING_MS * i as i64));
        let s = svc
            .open(request(i as u128 + 1, None), "key:h")
            .await
            .unwrap();
        let o = s.opened.unwrap();
        due.push((o.referral_id, o.acceptance_due_at));
    }
    let open_secs = opening.elapsed().as_secs_f64();
    relay_caught_up(&w.store).await;

    // Baseline at idle: plain events, commit → visible on NATS.
    let mut probe_sent: Vec<(u64, Instant, bool)> = Vec::new();
    for n in 0..IDLE_PROBES {
        probe_sent.push((n, append_probe(&w.store, n).await, false));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Spread phase: the clock follows wall time from just before the first deadline.
    let first_due = due.iter().map(|d| d.1).min().unwrap();
    let last_due = due.iter().map(|d| d.1).max().unwrap();
    let clock_from = first_due - time::Duration::milliseconds(200);
    let mut advances: Vec<(time::OffsetDateTime, Instant)> = Vec::new();
    let began = Instant::now();
    let mut next_probe = began;
    let mut n = IDLE_PROBES;
    let mut ticker = tokio::time::interval(TICK);
    loop {
        ticker.tick().await;
        let now = clock_from + began.elapsed();
        w.clock.set(now);
        advances.push((now, Instant::now()));
        if now > last_due + time::Duration::milliseconds(100) {
            break;
        }
        if Instant::now() >= next_probe {
            probe_sent.push((n, append_probe(&w.store, n).await, true));
            n += 1;
            next_probe += PROBE_EVERY;
        }
    }
    let all_spread = wait_for(&seen, |s| {
        s.escalated.keys().filter(|k| k.1 == 2).count() >= REFERRALS && s.probes.len() as u64 >= n
    })
    .await;
    assert!(all_spread, "{label}: not every escalation arrived in time");
    let spread = {
        let s = seen.lock().unwrap();
        stats(
            due.iter()
                .map(|(id, d)| {
                    // The first wall instant the clock stood at or past the due time.
                    let i = advances.partition_point(|a| a.0 < *d);
                    ms(s.escalated[&(*id, 2)], advances[i].1)
                })
                .collect(),
        )
    };
    let (probe_idle, probe_loaded) = {
        let s = seen.lock().unwrap();
        let lat = |loaded: bool| {
            stats(
                probe_sent
                    .iter()
                    .filter(|p| p.2 == loaded)
                    .map(|(n, at, _)| ms(s.probes[n], *at))
                    .collect(),
            )
        };
        (lat(false), lat(true))
    };
    relay_caught_up(&w.store).await;

    // Burst phase: every second deadline (rung 2) due at once.
    let jump = w.clock_now() + time::Duration::minutes(16);
    w.clock.set(jump);
    let jumped = Instant::now();
    let all_burst = wait_for(&seen, |s| {
        s.escalated.keys().filter(|k| k.1 == 3).count() >= REFERRALS
    })
    .await;
    assert!(
        all_burst,
        "{label}: not every burst escalation arrived in time"
    );
    let burst = {
        let s = seen.lock().unwrap();
        stats(
            due.iter()
                .map(|(id, _)| ms(s.escalated[&(*id, 3)], jumped))
                .collect(),
        )
    };
    let burst_drain_ms = burst.max;

    stop.send(true).unwrap();
    for t in tasks {
        t.await.ok();
    }
    listener.abort();
    drop(nats);
    Results {
        spread,
        burst,
        burst_drain_ms,
        probe_idle,
        probe_loaded,
        open_secs,
    }
}

trait ClockNow {
    fn clock_now(&self) -> time::OffsetDateTime;
}

impl ClockNow for World {
    fn clock_now(&self) -> time::OffsetDateTime {
        contracts::Clock::now(&self.clock)
    }
}

fn report(label: &str, r: &Results) {
    let row = |what: &str, s: &Stats| {
        println!(
            "{label:<9} {what:<40} n {:>5}  p50 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms",
            s.n, s.p50, s.p99, s.max
        );
    };
    println!(
        "{label:<9} opened {REFERRALS} referrals in {:.1} s",
        r.open_secs
    );
    row("deadline → ReferralEscalated (spread)", &r.spread);
    row("plain commit → NATS (during spread)", &r.probe_loaded);
    row("plain commit → NATS (idle)", &r.probe_idle);
    row("deadline → ReferralEscalated (burst)", &r.burst);
    let target = if r.spread.p99 <= 1000.0 {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "{label:<9} spread/plain(loaded) ratio p50 {:.1} p99 {:.1}; target p99 ≤ 1000 ms {target}",
        r.spread.p50 / r.probe_loaded.p50,
        r.spread.p99 / r.probe_loaded.p99
    );
    let j = |s: &Stats| serde_json::json!({ "n": s.n, "p50_ms": s.p50, "p99_ms": s.p99, "max_ms": s.max });
    println!(
        "{}",
        serde_json::json!({
            "bench": "escalation",
            "backend": label,
            "open_referrals": REFERRALS,
            "deadline_spacing_ms": SPACING_MS,
            "spread": j(&r.spread),
            "burst": j(&r.burst),
            "burst_drain_ms": r.burst_drain_ms,
            "plain_loaded": j(&r.probe_loaded),
            "plain_idle": j(&r.probe_idle),
            "ratio_p50": r.spread.p50 / r.probe_loaded.p50,
            "ratio_p99": r.spread.p99 / r.probe_loaded.p99,
            "target_p99_ms": 1000,
            "target_met": r.spread.p99 <= 1000.0,
        })
    );
}

#[tokio::main]
async fn main() {
    let r = run(sqlite().await, "sqlite").await;
    report("sqlite", &r);
    if let Ok(admin) = std::env::var("REFERRAL_BENCH_PG") {
        std::env::set_var("REFERRAL_TEST_PG", admin);
        let r = run(postgres().await, "postgres").await;
        report("postgres", &r);
    }
}
