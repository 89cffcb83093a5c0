//! One measured run against one backend: a fresh database (SQLite file or PostgreSQL
//! database), a private nats-server, the service as a child process (`loadgen serve`), keys
//! issued for every institution and office; then
//! 1. a batch phase: `count` live cards in `:batch` requests as fast as possible; accepted
//!    cards/s at the API, and end to end (until warning graded every accepted card, its
//!    alert committed with it), events/s from the log's head;
//! 2. a single-card phase: `single_count` cards one POST each at `rate`/s, with a watcher on
//!    `referral.*.district-alert-raised` and a poller of each office's inbox (which
//!    acknowledges what it sees, as an office does): POST → alert on NATS and → alert in the
//!    inbox, p50/p95/p99;
//! 3. the raw baselines on the same rows and messages ([`crate::baseline`]);
//! 4. the invariant checker over the whole log ([`crate::check`]).
//!
//! Everything is bounded by the card counts and `max_seconds`, loopback only.

use crate::baseline;
use crate::check::{check_store, CheckOptions};
use crate::client::Api;
use crate::drive::{drive, issue_keys, DriveConfig, Keys, Outcome};
use crate::procs::{Nats, PgDatabase, Service};
use crate::stats::Percentiles;
use anyhow::{Context, Result};
use eventstore::{EventStore, Store};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Which database.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server behind this admin URL.
    Postgres(String),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Database.
    pub backend: Backend,
    /// The repository root (config files).
    pub root: PathBuf,
    /// The service executable (`loadgen` itself, run as `serve`).
    pub exe: PathBuf,
    /// Cards in the batch phase.
    pub count: usize,
    /// Cards per batch request.
    pub batch: usize,
    /// Cards in the single-card phase.
    pub single_count: usize,
    /// Single cards per second.
    pub rate: f64,
    /// Upper bound on the whole run (each phase stops sending when it is spent).
    pub max_seconds: u64,
    /// Synthetic-data seed.
    pub seed: u64,
}

/// Figures of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// `postgres` or `sqlite`.
    pub backend: String,
    /// Batch phase: distinct cards accepted.
    pub batch_cards: usize,
    /// Accepted cards/s at the API (batch phase).
    pub batch_api_cards_per_s: f64,
    /// Cards/s end to end: accepted → assessed → graded, alert committed (batch phase).
    pub batch_e2e_cards_per_s: f64,
    /// Events/s appended end to end (batch phase).
    pub batch_events_per_s: f64,
    /// Events per accepted card.
    pub events_per_card: f64,
    /// Single phase: cards accepted.
    pub single_cards: usize,
    /// Single phase: offered rate.
    pub single_rate: f64,
    /// Single phase: achieved accepted cards/s.
    pub single_cards_per_s: f64,
    /// POST → `202`, ms.
    pub post_latency_ms: Percentiles,
    /// POST → alert on `referral.*.district-alert-raised`, ms.
    pub alert_nats_latency_ms: Percentiles,
    /// POST → alert seen in the office's inbox via the API, ms.
    pub alert_api_latency_ms: Percentiles,
    /// Raw baselines in the same run.
    pub baseline: baseline::Baseline,
    /// Service events/s ÷ raw inserted rows/s.
    pub ratio_events_vs_raw_insert: f64,
    /// Service events/s ÷ raw published messages/s.
    pub ratio_events_vs_raw_publish: f64,
    /// End-to-end cards/s ÷ (raw rows/s ÷ events per card).
    pub ratio_cards_vs_raw: f64,
    /// p99 alert latency (NATS) ÷ p99 of one raw insert + one raw publish.
    pub ratio_p99_vs_raw: f64,
    /// Peak RSS of the service process, MB.
    pub service_peak_rss_mb: f64,
    /// Retries and answers that were wrong.
    pub retries: usize,
    /// Wrong answers (invalid accepted, valid refused): should be 0.
    pub wrong_answers: usize,
    /// Invariant violations after the run: should be 0.
    pub violations: usize,
    /// Events in the log at the end.
    pub events_total: i64,
    /// Seconds the run took.
    pub wall_seconds: f64,
}

#[derive(Default)]
struct Seen {
    /// (case, assessed ns) → first time an assessment alert was seen.
    alerts: HashMap<(String, i128), Instant>,
    graded: HashSet<String>,
}

fn alert_key(body: &Value) -> Option<(String, i128)> {
    let case = body["case_id"].as_str()?.to_owned();
    let at = OffsetDateTime::parse(body["assessed_at"].as_str()?, &Rfc3339).ok()?;
    Some((case, at.unix_timestamp_nanos()))
}

/// Watches the NATS subjects for alerts and gradings.
async fn watch_nats(url: String, seen: Arc<Mutex<Seen>>) -> Result<()> {
    let client = async_nats::connect(&url).await?;
    let mut alerts = client.subscribe("referral.*.district-alert-raised").await?;
    let mut graded = client.subscribe("referral.*.risk-graded").await?;
    loop {
        tokio::select! {
            Some(m) = alerts.next() => {
                let now = Instant::now();
                if let Ok(env) = serde_json::from_slice::<Value>(&m.payload) {
                    let p = &env["payload"];
                    if p["kind"] == "assessment" {
                        if let Some(k) = alert_key(p) {
                            seen.lock().expect("not poisoned").alerts.entry(k).or_insert(now);
                        }
                    }
                }
            }
            Some(m) = graded.next() => {
                if let Ok(env) = serde_json::from_slice::<Value>(&m.payload) {
                    if let Some(id) = env["payload"]["assessment_event_id"].as_str() {
                        seen.lock().expect("not poisoned").graded.insert(id.to_owned());
                    }
                }
            }
            else => return Ok(()),
        }
    }
}

/// Polls every office's open inbox, records when each assessment alert first shows, and
/// acknowledges it (keeping the inbox short, as an office working it does).
async fn poll_inboxes(
    api: Api,
    keys: Keys,
    seen: Arc<Mutex<HashMap<(String, i128), Instant>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut acked: HashSet<String> = HashSet::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        for (district, key) in &keys.offices {
            let path = format!("/v1/alerts?district={district}&status=open&limit=5000");
            let Ok((200, body)) = api.call("GET", &path, key, None).await else {
                continue;
            };
            let now = Instant::now();
            for a in body["alerts"].as_array().into_iter().flatten() {
                if a["kind"] == "assessment" {
                    if let Some(k) = alert_key(a) {
                        seen.lock().expect("not poisoned").entry(k).or_insert(now);
                    }
                }
                if let Some(id) = a["alert_id"].as_str() {
                    if acked.insert(id.to_owned()) {
                        let _ = api
                            .call("POST", &format!("/v1/alerts/{id}/ack"), key, None)
                            .await;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn cards(
    reference: &reference::ReferenceData,
    catalogues: &scoring::Catalogues,
    seed: u64,
    prefix: &str,
    n: usize,
) -> Result<Vec<synth::SynthCard>> {
    let mut config =
        synth::SynthConfig::live(seed, OffsetDateTime::now_utc() - time::Duration::minutes(1));
    config.card_id_prefix = prefix.into();
    config.active_women = 500;
    Ok(synth::Synth::new(reference, catalogues, config)?
        .take(n)
        .collect())
}

/// Waits until warning graded every accepted card (seen on NATS) and the log's head stood
/// still for a second, or `until`. Returns when it got there.
async fn drain(
    store: &Store,
    seen: &Mutex<Seen>,
    outcome: &Outcome,
    until: Instant,
) -> Result<(Instant, usize)> {
    let want = outcome.accepted_ids().len();
    let mut last_head = -1;
    let mut still_since = Instant::now();
    let mut all_graded_at: Option<Instant> = None;
    loop {
        let graded = seen.lock().expect("not poisoned").graded.len();
        if graded >= want && all_graded_at.is_none() {
            all_graded_at = Some(Instant::now());
        }
        let head = store.head().await?.0;
        if head != last_head {
            last_head = head;
            still_since = Instant::now();
        }
        if let Some(at) = all_graded_at {
            if still_since.elapsed() > Duration::from_secs(1) {
                return Ok((at, graded));
            }
        }
        if Instant::now() > until {
            eprintln!("drain timed out: {graded} of {want} cards graded");
            return Ok((Instant::now(), graded));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the phases and returns the figures.
pub async fn run(cfg: &RunConfig) -> Result<Figures> {
    let wall = Instant::now();
    // The batch phase gets two thirds of the budget, the single phase the rest.
    let until = wall + Duration::from_secs(cfg.max_seconds * 2 / 3);
    let root = &cfg.root;
    let region = scoring::Region::load(root.join("config/regions/default.toml"))?;
    let catalogues = region.load_catalogues()?;
    let reference = reference::ReferenceData::load(root.join("config/reference/demo-city.toml"))?;

    let sqlite_dir = tempfile::tempdir()?;
    let mut _pg_guard = None;
    let url = match &cfg.backend {
        Backend::Sqlite => format!("sqlite:{}", sqlite_dir.path().join("events.db").display()),
        Backend::Postgres(admin) => {
            let db = PgDatabase::create(admin).await?;
            let url = db.url.clone();
            _pg_guard = Some(db);
            url
        }
    };
    let store = Store::connect(&url, Arc::new(contracts::SystemClock)).await?;
    store.migrate().await?;
    let keys = issue_keys(&store, &reference).await?;
    let nats = Nats::start()?;
    let service = Service::start(&cfg.exe, root, &url, &nats.url()).context("the service")?;
    let api = Api::new(service.addr())?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watcher = tokio::spawn(watch_nats(nats.url(), seen.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut f = Figures {
        backend: store.backend().into(),
        ..Figures::default()
    };

    // 1. Batch phase.
    let batch_cards = cards(&reference, &catalogues, cfg.seed, "B", cfg.count)?;
    let head0 = store.head().await?.0;
    let t0 = Instant::now();
    let out_b = drive(
        &api,
        &keys,
        batch_cards,
        &DriveConfig {
            rate: None,
            batch: cfg.batch,
            in_flight: 2,
            max: until.saturating_duration_since(Instant::now()),
            retry_for: Duration::from_secs(30),
        },
    )
    .await?;
    let api_done = t0.elapsed().as_secs_f64();
    let (graded_at, graded) = drain(&store, &seen, &out_b, until).await?;
    let e2e = graded_at.duration_since(t0).as_secs_f64();
    let head1 = store.head().await?.0;
    f.batch_cards = out_b.accepted_ids().len();
    f.batch_api_cards_per_s = f.batch_cards as f64 / api_done.max(1e-9);
    f.batch_e2e_cards_per_s = graded.min(f.batch_cards) as f64 / e2e.max(1e-9);
    f.batch_events_per_s = (head1 - head0) as f64 / e2e.max(1e-9);
    f.events_per_card = (head1 - head0) as f64 / (graded.clamp(1, f.batch_cards.max(1))) as f64;

    // 2. Single-card phase, with the inbox poller.
    let inbox_seen = Arc::new(Mutex::new(HashMap::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = tokio::spawn(poll_inboxes(
        api.clone(),
        keys.clone(),
        inbox_seen.clone(),
        stop.clone(),
    ));
    let single_cards = cards(&reference, &catalogues, cfg.seed + 1, "S", cfg.single_count)?;
    let t1 = Instant::now();
    let until = wall + Duration::from_secs(cfg.max_seconds);
    let out_s = drive(
        &api,
        &keys,
        single_cards,
        &DriveConfig {
            rate: Some(cfg.rate),
            batch: 1,
            in_flight: 256,
            max: until.saturating_duration_since(Instant::now()),
            retry_for: Duration::from_secs(30),
        },
    )
    .await?;
    let sent_secs = t1.elapsed().as_secs_f64();
    let mut all = Outcome::default();
    all.accepted.extend(out_b.accepted.iter().cloned());
    all.accepted.extend(out_s.accepted.iter().cloned());
    drain(&store, &seen, &all, until).await?;
    // Give the poller a moment to see the last alerts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    poller.await.ok();
    f.service_peak_rss_mb = service.peak_rss_kb().unwrap_or(0) as f64 / 1024.0;
    f.single_cards = out_s.accepted_ids().len();
    f.single_rate = cfg.rate;
    f.single_cards_per_s = f.single_cards as f64 / sent_secs.max(1e-9);
    let mut post = Vec::new();
    let mut via_nats = Vec::new();
    let mut via_api = Vec::new();
    {
        let seen = seen.lock().expect("not poisoned");
        let inbox = inbox_seen.lock().expect("not poisoned");
        for a in out_s.accepted.iter().filter(|a| !a.duplicate) {
            let k = (a.case_id.clone(), a.assessed_ns);
            if let Some(t) = seen.alerts.get(&k) {
                via_nats.push(t.saturating_duration_since(a.sent).as_secs_f64() * 1e3);
            }
            if let Some(t) = inbox.get(&k) {
                via_api.push(t.saturating_duration_since(a.sent).as_secs_f64() * 1e3);
            }
        }
    }
    post.extend(
        out_s
            .accepted
            .iter()
            .map(|a| a.answered.saturating_duration_since(a.sent).as_secs_f64() * 1e3),
    );
    f.alert_nats_latency_ms = Percentiles::of(&mut via_nats);
    f.alert_api_latency_ms = Percentiles::of(&mut via_api);
    f.post_latency_ms = Percentiles::of(&mut post);
    f.retries = out_b.retries + out_s.retries;
    f.wrong_answers = out_b.wrong.len() + out_s.wrong.len();
    for w in out_b.wrong.iter().chain(&out_s.wrong).take(10) {
        eprintln!("wrong answer: {w}");
    }

    // 3. Raw baselines over the batch phase's own rows.
    let mut rows = Vec::new();
    let mut after = head0;
    while after < head1 {
        let batch = store.read_raw(after, 5_000).await?;
        let Some(last) = batch.last() else { break };
        after = last.position;
        rows.extend(batch.into_iter().filter(|r| r.position <= head1));
    }
    let (ins, ins_lat) = baseline::raw_inserts(&url, &rows, 500, 300).await?;
    let (publ, pub_lat) = baseline::raw_publish(&nats.url(), &rows, 256, 300).await?;
    f.baseline = baseline::Baseline {
        insert_rows_per_s: ins,
        publish_msgs_per_s: publ,
        insert_latency_ms: ins_lat,
        publish_latency_ms: pub_lat,
    };
    f.ratio_events_vs_raw_insert = f.batch_events_per_s / ins.max(1e-9);
    f.ratio_events_vs_raw_publish = f.batch_events_per_s / publ.max(1e-9);
    f.ratio_cards_vs_raw = f.batch_e2e_cards_per_s / (ins / f.events_per_card.max(1e-9)).max(1e-9);
    f.ratio_p99_vs_raw = f.alert_nats_latency_ms.p99 / (ins_lat.p99 + pub_lat.p99).max(1e-9);

    // 4. Invariants.
    let report = check_store(
        &store,
        &region.policy,
        &CheckOptions {
            now: OffsetDateTime::now_utc(),
            grace: time::Duration::seconds(10),
            accepted_cards: Some(all.accepted_ids()),
        },
    )
    .await?;
    for v in report.violations.iter().take(20) {
        eprintln!("violation: {v}");
    }
    f.violations = report.violations.len();
    f.events_total = report.events;
    watcher.abort();
    drop(service);
    f.wall_seconds = wall.elapsed().as_secs_f64();
    Ok(f)
}

/// The figures as a table.
pub fn table(runs: &[Figures]) -> String {
    let mut s = String::new();
    let mut row = |name: &str, val: &dyn Fn(&Figures) -> String| {
        s.push_str(&format!("{name:<44}"));
        for r in runs {
            s.push_str(&format!("{:>22}", val(r)));
        }
        s.push('\n');
    };
    let pct = |p: &Percentiles| format!("{:.1}/{:.1}/{:.1}", p.p50, p.p95, p.p99);
    row("backend", &|r| r.backend.clone());
    row("batch: cards accepted", &|r| r.batch_cards.to_string());
    row("batch: cards/s at the API", &|r| {
        format!("{:.0}", r.batch_api_cards_per_s)
    });
    row("batch: cards/s end to end", &|r| {
        format!("{:.0}", r.batch_e2e_cards_per_s)
    });
    row("batch: events/s end to end", &|r| {
        format!("{:.0}", r.batch_events_per_s)
    });
    row("events per card", &|r| format!("{:.1}", r.events_per_card));
    row("raw: batched INSERT rows/s", &|r| {
        format!("{:.0}", r.baseline.insert_rows_per_s)
    });
    row("raw: JetStream publish-ack msgs/s", &|r| {
        format!("{:.0}", r.baseline.publish_msgs_per_s)
    });
    row("ratio: events/s ÷ raw INSERT rows/s", &|r| {
        format!("{:.3}", r.ratio_events_vs_raw_insert)
    });
    row("ratio: events/s ÷ raw publish msgs/s", &|r| {
        format!("{:.3}", r.ratio_events_vs_raw_publish)
    });
    row("ratio: cards/s ÷ raw-equivalent cards/s", &|r| {
        format!("{:.3}", r.ratio_cards_vs_raw)
    });
    row("single: offered cards/s", &|r| {
        format!("{:.0}", r.single_rate)
    });
    row("single: accepted cards/s", &|r| {
        format!("{:.0}", r.single_cards_per_s)
    });
    row("POST→alert on NATS p50/p95/p99 ms", &|r| {
        pct(&r.alert_nats_latency_ms)
    });
    row("POST→alert in inbox p50/p95/p99 ms", &|r| {
        pct(&r.alert_api_latency_ms)
    });
    row("alerts measured (NATS / API)", &|r| {
        format!(
            "{} / {}",
            r.alert_nats_latency_ms.n, r.alert_api_latency_ms.n
        )
    });
    row("raw: 1-row commit p50/p95/p99 ms", &|r| {
        pct(&r.baseline.insert_latency_ms)
    });
    row("raw: 1 publish-ack p50/p95/p99 ms", &|r| {
        pct(&r.baseline.publish_latency_ms)
    });
    row("ratio: p99 alert ÷ p99(commit+publish)", &|r| {
        format!("{:.1}", r.ratio_p99_vs_raw)
    });
    row("service peak RSS MB", &|r| {
        format!("{:.0}", r.service_peak_rss_mb)
    });
    row("retries / wrong answers", &|r| {
        format!("{} / {}", r.retries, r.wrong_answers)
    });
    row("events in log / violations", &|r| {
        format!("{} / {}", r.events_total, r.violations)
    });
    row("wall seconds", &|r| format!("{:.0}", r.wall_seconds));
    s
}
