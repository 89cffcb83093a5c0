//! The fault suite, reduced size (a few hundred cards per scenario): while the generator
//! sends cards, in turn `kill -9` the service and restart it (three times); stop and restart
//! nats-server; restart PostgreSQL; kill the service while the log is ahead of the relay's
//! checkpoint (committed, not yet published) and check the relay catches up. The client
//! retries with the same `card_id` throughout. After a bounded drain the invariant checker
//! must find nothing, and every card the client saw accepted must be in the log.
//!
//! Every process (service, nats-server, PostgreSQL) is a guard killed on drop; each
//! scenario is bounded by a timeout. The full-size run is `deploy/faults.sh`.

use eventstore::{EventStore, Store};
use loadgen::check::{check_store, CheckOptions, Report};
use loadgen::client::Api;
use loadgen::drive::{drive, issue_keys, DriveConfig, Keys, Outcome};
use loadgen::procs::{Nats, PgCluster, Service};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn cards_n() -> usize {
    std::env::var("LOADGEN_FAULT_CARDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// How much bigger than the reduced size (300 cards) this run is.
fn scale() -> f64 {
    (cards_n() as f64 / 300.0).max(1.0)
}

/// The generator's rate: 60 cards/s at reduced size, up to 300/s at full size.
fn rate() -> f64 {
    60.0 * scale().min(5.0)
}

/// A time bound that grows with the size.
fn bound(secs: u64) -> Duration {
    Duration::from_secs_f64(secs as f64 * scale())
}

struct Scenario {
    nats: Nats,
    service: Service,
    store: Store,
    keys: Keys,
    api: Api,
    policy: scoring::Policy,
    cards: Vec<synth::SynthCard>,
    _sqlite: tempfile::TempDir,
    pg: Option<PgCluster>,
}

async fn setup(postgres: bool, seed: u64) -> Scenario {
    let region = scoring::Region::load(root().join("config/regions/default.toml")).unwrap();
    let catalogues = region.load_catalogues().unwrap();
    let reference =
        reference::ReferenceData::load(root().join("config/reference/demo-city.toml")).unwrap();
    let sqlite = tempfile::tempdir().unwrap();
    let pg = postgres.then(|| PgCluster::start().expect("a private PostgreSQL cluster"));
    let url = match &pg {
        Some(c) => c.url(),
        None => format!("sqlite:{}", sqlite.path().join("events.db").display()),
    };
    let store = Store::connect(&url, Arc::new(contracts::SystemClock))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let keys = issue_keys(&store, &reference).await.unwrap();
    let nats = Nats::start().unwrap();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    let service = Service::start(&exe, &root(), &url, &nats.url()).unwrap();
    let api = Api::new(service.addr()).unwrap();
    let mut config = synth::SynthConfig::live(
        seed,
        time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
    );
    config.active_women = 60;
    config.mix.critical = 0.3;
    let cards = synth::Synth::new(&reference, &catalogues, config)
        .unwrap()
        .take(cards_n())
        .collect();
    Scenario {
        nats,
        service,
        store,
        keys,
        api,
        policy: region.policy,
        cards,
        _sqlite: sqlite,
        pg,
    }
}

impl Scenario {
    /// Starts the generator in the background: single cards at `rate`/s.
    fn start_load(&self, rate: f64) -> tokio::task::JoinHandle<Outcome> {
        let (api, keys, cards) = (self.api.clone(), self.keys.clone(), self.cards.clone());
        tokio::spawn(async move {
            drive(
                &api,
                &keys,
                cards,
                &DriveConfig {
                    rate: Some(rate),
                    batch: 1,
                    in_flight: 32,
                    max: bound(40),
                    retry_for: bound(40),
                },
            )
            .await
            .unwrap()
        })
    }

    /// Waits (bounded) until the checker finds nothing, and returns its last report.
    async fn drain_and_check(&self, outcome: &Outcome, within: Duration) -> Report {
        let until = Instant::now() + within;
        loop {
            let report = check_store(
                &self.store,
                &self.policy,
                &CheckOptions {
                    now: time::OffsetDateTime::now_utc(),
                    grace: time::Duration::seconds(10),
                    accepted_cards: Some(outcome.accepted_ids()),
                },
            )
            .await;
            match report {
                Ok(r) if r.violations.is_empty() || Instant::now() > until => return r,
                Err(e) if Instant::now() > until => panic!("checker failed: {e:#}"),
                _ => tokio::time::sleep(Duration::from_millis(1000)).await,
            }
        }
    }
}

fn assert_clean(outcome: &Outcome, report: &Report) {
    for v in &report.violations {
        eprintln!("violation: {v}");
    }
    assert!(
        outcome.wrong.is_empty(),
        "wrong answers: {:?}",
        outcome.wrong
    );
    assert_eq!(outcome.given_up, 0, "cards given up");
    assert!(!outcome.accepted.is_empty());
    assert!(
        report.violations.is_empty(),
        "{} violations",
        report.violations.len()
    );
    assert!(report.alerts > 0 && report.assessments > 0, "{report:?}");
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_the_service_three_times_mid_load() {
    tokio::time::timeout(bound(120), async {
        let mut s = setup(false, 101).await;
        let load = s.start_load(rate());
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            blocking(|| s.service.restart()).unwrap();
        }
        let outcome = load.await.unwrap();
        assert!(outcome.retries > 0, "the kills were felt");
        let report = s.drain_and_check(&outcome, bound(45)).await;
        assert_clean(&outcome, &report);
    })
    .await
    .expect("bounded in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_restart_nats_mid_load() {
    tokio::time::timeout(bound(120), async {
        let mut s = setup(false, 202).await;
        let load = s.start_load(rate());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        s.nats.stop();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        blocking(|| s.nats.start_again()).unwrap();
        let outcome = load.await.unwrap();
        let report = s.drain_and_check(&outcome, bound(60)).await;
        assert_clean(&outcome, &report);
    })
    .await
    .expect("bounded in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_postgres_mid_load() {
    tokio::time::timeout(bound(150), async {
        let mut s = setup(true, 303).await;
        let load = s.start_load(rate());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        blocking(|| s.pg.as_mut().expect("a cluster").restart()).unwrap();
        let outcome = load.await.unwrap();
        let report = s.drain_and_check(&outcome, bound(60)).await;
        assert_clean(&outcome, &report);
    })
    .await
    .expect("bounded in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_between_commit_and_publish_then_the_relay_catches_up() {
    tokio::time::timeout(bound(120), async {
        let mut s = setup(false, 404).await;
        let load = s.start_load(rate() * 1.3);
        // Kill at a moment the log is ahead of the relay's checkpoint: events committed,
        // not yet published. Try until it is observed (bounded).
        let mut observed = None;
        let until = Instant::now() + Duration::from_secs(3);
        tokio::time::sleep(Duration::from_millis(500)).await;
        while observed.is_none() && Instant::now() < until {
            let head = s.store.head().await.unwrap().0;
            let published = s.store.checkpoint("relay").await.unwrap();
            if head > published {
                blocking(|| s.service.kill9());
                let head = s.store.head().await.unwrap().0;
                let published = s.store.checkpoint("relay").await.unwrap();
                if head > published {
                    observed = Some((head, published));
                } else {
                    blocking(|| s.service.restart()).unwrap();
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let (head, published) = observed.expect("the log got ahead of the relay");
        eprintln!("killed with the log at {head} and the relay at {published}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        blocking(|| s.service.restart()).unwrap();
        let outcome = load.await.unwrap();
        let report = s.drain_and_check(&outcome, bound(45)).await;
        let caught_up = s.store.checkpoint("relay").await.unwrap();
        assert!(
            caught_up >= head,
            "the relay caught up ({caught_up} < {head})"
        );
        assert_clean(&outcome, &report);
    })
    .await
    .expect("bounded in time");
}
