//! `referral replay` against the live service: a realistic history (the demo city's cards,
//! outcomes, acknowledgements, follow-up calls and accepted referrals, then the clock moved
//! past alert, acceptance and month-end deadlines so alerts are escalated, referrals go up
//! the ladder and months are missed) runs through every component over NATS; the read models
//! of warning, follow-up, escalation and review are snapshotted; the service stops; the one
//! pass rebuild clears and rewrites them; every document must be as the live components
//! wrote it. Then the service starts again: its consumers must find nothing to redo (no new
//! event, the same documents).

mod common;
use common::*;

use contracts::ManualClock;
use eventstore::{EventStore, Store};
use futures::StreamExt;
use referral::demo::{self, DemoOptions};
use referral::Application;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::macros::datetime;
use tokio::sync::watch;

type Snapshot = BTreeMap<(String, String), (String, Value)>;

async fn snapshot(store: &Store, collections: &[String]) -> Snapshot {
    let mut out = Snapshot::new();
    for c in collections {
        for d in store.documents(c, None, u32::MAX).await.unwrap() {
            out.insert((d.collection, d.key), (d.scope, d.body));
        }
    }
    out
}

/// Waits (bounded) until the relay has published the whole log and every durable consumer
/// has nothing pending or unacknowledged, three polls in a row.
async fn drained(store: &Store, nats_url: &str) {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url).await.unwrap());
    let started = Instant::now();
    let mut quiet = 0;
    while quiet < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the service did not drain"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let head = store.head().await.unwrap().0;
        let relayed = store.checkpoint("relay").await.unwrap();
        let mut idle = head == relayed;
        let stream = js.get_stream("REFERRAL").await.unwrap();
        let names: Vec<String> = stream
            .consumer_names()
            .filter_map(|n| async move { n.ok() })
            .collect()
            .await;
        for name in names {
            let info = stream.consumer_info(&name).await.unwrap();
            idle &= info.num_pending == 0 && info.num_ack_pending == 0;
        }
        quiet = if idle { quiet + 1 } else { 0 };
    }
}

fn differences(live: &Snapshot, replayed: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in live {
        match replayed.get(k) {
            None => out.push(format!("missing after replay: {k:?}")),
            Some(r) if r != v => out.push(format!("differs: {k:?}\n live {v:?}\n replay {r:?}")),
            Some(_) => {}
        }
    }
    for k in replayed.keys().filter(|k| !live.contains_key(*k)) {
        out.push(format!("only after replay: {k:?}"));
    }
    out
}

async fn count(store: &Store, event_type: &str) -> usize {
    let mut n = 0;
    let mut after = 0;
    loop {
        let batch = store.read_all(after, 1000).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position;
        n += batch.iter().filter(|e| e.event_type == event_type).count();
    }
    n
}

async fn replay_equals_live(database_url: String) {
    let nats = testkit::NatsServer::start().unwrap();
    let config = service_config(nats.url(), database_url);
    let clock = ManualClock::new(datetime!(2026-11-20 02:00 UTC));
    let app = Application::build(config.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let store = app.store().clone();
    let (reference, catalogues, router) = (
        app.reference().clone(),
        app.catalogues().clone(),
        app.router(),
    );
    let (stop, shutdown) = watch::channel(false);
    let serving = tokio::spawn(app.run_until_stopped(shutdown));
    // Every collection the four components write.
    let collections: Vec<String> = referral::replay::configured_parts(&config)
        .unwrap()
        .iter()
        .flat_map(|p| p.collections())
        .collect();
    assert_eq!(collections.len(), 15);

    let keys = demo::issue_keys(&store, &reference).await.unwrap();
    let options = DemoOptions {
        seed: 11,
        cards: 120,
        settle_timeout: Duration::from_secs(60),
    };
    let now = contracts::Clock::now(&clock);
    let loaded = demo::load(
        &router,
        &store,
        &reference,
        &catalogues,
        &keys,
        &options,
        now,
    )
    .await
    .unwrap();
    assert!(loaded.acknowledged > 0 && loaded.calls > 0, "{loaded:?}");
    // Past the 48 h alert deadlines, the acceptance deadlines and the month's end (UTC+8).
    clock.advance(time::Duration::days(12));
    drained(&store, &nats.url()).await;

    for (event_type, what) in [
        ("FollowUpScheduled", "follow-up plans"),
        ("GreenChannelOpened", "referrals"),
        ("ReferralAccepted", "accepted referrals"),
        ("ReferralEscalated", "escalated referrals"),
        ("DistrictAlertOverdue", "overdue alerts"),
    ] {
        assert!(
            count(&store, event_type).await > 0,
            "the history has {what}"
        );
    }
    let live = snapshot(&store, &collections).await;
    // (The demo history has no not-suitable judgement and no case due for review.)
    for c in collections
        .iter()
        .filter(|c| !["register-not-suitable", "review-due"].contains(&c.as_str()))
    {
        assert!(
            live.keys().any(|(coll, _)| coll == c),
            "the live service wrote {c}"
        );
    }
    let (head, _) = store.head().await.unwrap();
    let relayed = store.checkpoint("relay").await.unwrap();
    stop.send(true).unwrap();
    serving.await.unwrap().unwrap();

    let rebuilt = referral::replay::replay(&store, &config, 1, |_, _| {})
        .await
        .unwrap();
    assert_eq!(rebuilt.head, head);
    assert_eq!(rebuilt.documents, live.len());
    let replayed = snapshot(&store, &collections).await;
    let diff = differences(&live, &replayed);
    assert!(
        diff.is_empty(),
        "{} of {} documents differ:\n{}",
        diff.len(),
        live.len(),
        diff.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    // Review's checkpoint is the replayed head; the relay's is untouched.
    assert_eq!(store.checkpoint("review").await.unwrap(), head);
    assert_eq!(store.checkpoint("relay").await.unwrap(), relayed);

    // The service again: nothing to redo, nothing doubled.
    let app = Application::build(config, Arc::new(clock.clone()))
        .await
        .unwrap();
    let (stop, shutdown) = watch::channel(false);
    let serving = tokio::spawn(app.run_until_stopped(shutdown));
    tokio::time::sleep(Duration::from_secs(1)).await;
    drained(&store, &nats.url()).await;
    assert_eq!(store.head().await.unwrap().0, head, "no event after replay");
    let after = snapshot(&store, &collections).await;
    assert!(
        differences(&live, &after).is_empty(),
        "the restarted service changed documents"
    );
    stop.send(true).unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_rebuilds_every_projection_as_live_on_sqlite() {
    let db = testkit::SqliteFile::create().unwrap();
    replay_equals_live(db.url.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_rebuilds_every_projection_as_live_on_postgres() {
    let db = testkit::PgDatabase::create().await.unwrap();
    replay_equals_live(db.url.clone()).await;
}
