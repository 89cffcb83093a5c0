//! The bus against a real nats-server with JetStream (started per test on a free port) and
//! a real SQLite store: relay crashes at both points, redelivery in all its forms, server
//! restart, republish after the duplicate window, poison messages.

use async_nats::jetstream;
use bus::{ensure_stream, Consumer, ConsumerConfig, Handler, HandlerError, Relay, StreamSettings};
use contracts::{
    derive_event_id, CaseId, Envelope, ManualClock, Metadata, NewEvent, StreamId, Subject,
};
use eventstore::{Commit, EventStore, ExpectedVersion, Store};
use futures::StreamExt;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::macros::datetime;
use tokio::sync::watch;
use uuid::Uuid;

struct World {
    nats: testkit::NatsServer,
    js: jetstream::Context,
    store: Store,
    _db: testkit::SqliteFile,
}

async fn world() -> World {
    let nats = testkit::NatsServer::start().unwrap();
    let (_, js) = bus::connect(&nats.url()).await.unwrap();
    ensure_stream(&js, &StreamSettings::default())
        .await
        .unwrap();
    let db = testkit::SqliteFile::create().unwrap();
    let clock = ManualClock::new(datetime!(2026-03-01 08:00 UTC));
    let store = Store::connect(&db.url, Arc::new(clock)).await.unwrap();
    store.migrate().await.unwrap();
    World {
        nats,
        js,
        store,
        _db: db,
    }
}

fn counted(n: u64) -> NewEvent {
    let mut metadata = Metadata::system("test");
    metadata.district = Some(contracts::DistrictCode::parse("430102").unwrap());
    NewEvent {
        event_id: Uuid::new_v4(),
        stream_id: StreamId::parse(format!("src-{}", n % 7)).unwrap(),
        case_id: Some(CaseId::parse(format!("case-{n}")).unwrap()),
        event_type: "Counted".into(),
        schema_version: 1,
        payload: serde_json::json!({ "n": n }),
        metadata,
        occurred_at: datetime!(2026-03-01 08:00 UTC),
    }
}

/// Appends one event to its stream.
async fn append_one(store: &Store, e: NewEvent) {
    store
        .commit(Commit::append(
            e.stream_id.clone(),
            ExpectedVersion::Any,
            vec![e],
        ))
        .await
        .unwrap();
}

async fn append_counted(store: &Store, range: std::ops::Range<u64>) {
    for n in range {
        append_one(store, counted(n)).await;
    }
}

async fn stream_messages(js: &jetstream::Context) -> u64 {
    js.get_stream("REFERRAL")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .messages
}

/// Appends `Handled` for each `Counted`, with an id derived from the handled event's id.
/// Can be told to fail after committing (a crash between commit and ack).
struct Echo {
    store: Store,
    fail_after_commit: AtomicUsize,
    calls: AtomicUsize,
    seen: Mutex<Vec<Uuid>>,
}

impl Echo {
    fn new(store: Store, fail_after_commit: usize) -> Self {
        Self {
            store,
            fail_after_commit: AtomicUsize::new(fail_after_commit),
            calls: AtomicUsize::new(0),
            seen: Mutex::default(),
        }
    }
}

impl Handler for Echo {
    async fn handle(&self, event: &Envelope) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap().push(event.event_id);
        if event.event_type == "Poison" {
            return Err(HandlerError::Permanent(
                "cannot handle a Poison event".into(),
            ));
        }
        if event.event_type != "Counted" {
            return Ok(());
        }
        let out = NewEvent {
            event_id: derive_event_id(event.event_id, "Handled"),
            stream_id: StreamId::parse(format!("handled-{}", event.event_id.simple())).unwrap(),
            case_id: event.case_id.clone(),
            event_type: "Handled".into(),
            schema_version: 1,
            payload: serde_json::json!({ "of": event.event_id }),
            metadata: Metadata::caused_by("echo", event),
            occurred_at: event.occurred_at,
        };
        self.store
            .commit(Commit::append(
                out.stream_id.clone(),
                ExpectedVersion::Any,
                vec![out],
            ))
            .await?;
        let left = self.fail_after_commit.load(Ordering::SeqCst);
        if left > 0 {
            self.fail_after_commit.store(left - 1, Ordering::SeqCst);
            return Err(HandlerError::Transient(
                "simulated crash after commit, before ack".into(),
            ));
        }
        Ok(())
    }
}

async fn handled(store: &Store) -> Vec<Envelope> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let batch = store.read_all(after, 500).await.unwrap();
        let Some(last) = batch.last() else { return out };
        after = last.position;
        out.extend(batch.into_iter().filter(|e| e.event_type == "Handled"));
    }
}

/// Waits (bounded) until `count` Handled events exist; returns them.
async fn wait_handled(store: &Store, count: usize) -> Vec<Envelope> {
    for _ in 0..600 {
        let h = handled(store).await;
        if h.len() >= count {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "timed out waiting for {count} Handled events (have {})",
        handled(store).await.len()
    );
}

fn fast_config(name: &str) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(name, Subject::all());
    c.backoff = vec![Duration::from_millis(20)];
    c.ack_wait = Duration::from_secs(2);
    c.max_deliver = 4;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_publishes_everything_once_across_crashes() {
    let w = world().await;
    append_counted(&w.store, 0..300).await;
    // Crash between commit and publish: a relay that never ran. A new one catches up.
    let relay = Relay::new(w.store.clone(), w.js.clone()).batch(64);
    while relay.step().await.unwrap().is_some() {}
    assert_eq!(w.store.checkpoint("relay").await.unwrap(), 300);
    assert_eq!(stream_messages(&w.js).await, 300);

    // Crash between ack and checkpoint: publish, then die before saving.
    append_counted(&w.store, 300..350).await;
    let doomed = Relay::new(w.store.clone(), w.js.clone()).batch(64);
    assert_eq!(doomed.publish_batch().await.unwrap(), Some(350));
    drop(doomed);
    assert_eq!(w.store.checkpoint("relay").await.unwrap(), 300);
    let relay = Relay::new(w.store.clone(), w.js.clone());
    while relay.step().await.unwrap().is_some() {}
    assert_eq!(
        stream_messages(&w.js).await,
        350,
        "JetStream dropped the republished duplicates"
    );

    // Headers carry the ids; subjects carry the district.
    let msg =
        w.js.get_stream("REFERRAL")
            .await
            .unwrap()
            .get_raw_message(1)
            .await
            .unwrap();
    assert_eq!(msg.subject.as_str(), "referral.430102.counted");
    let env: Envelope = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(env.position, 1);
    assert_eq!(
        msg.headers.get("Nats-Msg-Id").unwrap().as_str(),
        env.event_id.to_string()
    );
    assert_eq!(msg.headers.get("Referral-Position").unwrap().as_str(), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_after_crash_before_ack_has_effects_once() {
    let w = world().await;
    append_counted(&w.store, 0..40).await;
    let relay = Relay::new(w.store.clone(), w.js.clone());
    while relay.step().await.unwrap().is_some() {}
    // The handler commits, then "crashes" before acking for the first 10 messages.
    let consumer = Consumer::new(
        w.store.clone(),
        w.js.clone(),
        fast_config("echo"),
        Echo::new(w.store.clone(), 10),
    );
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(consumer.run(shutdown));
    let done = wait_handled(&w.store, 40).await;
    // Give redeliveries a chance to (wrongly) add more.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    task.await.unwrap();
    let done_again = handled(&w.store).await;
    assert_eq!(done.len(), 40);
    assert_eq!(done_again.len(), 40, "no effect twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_ack_and_ack_wait_expiry_redeliver_harmlessly() {
    let w = world().await;
    append_counted(&w.store, 0..5).await;
    Relay::new(w.store.clone(), w.js.clone())
        .step()
        .await
        .unwrap();
    let mut config = fast_config("lost-ack");
    config.ack_wait = Duration::from_secs(1);
    let consumer = Consumer::new(
        w.store.clone(),
        w.js.clone(),
        config,
        Echo::new(w.store.clone(), 0),
    );
    let mut messages = consumer.durable().await.unwrap();
    // First deliveries: handle (commit) but "lose" the ack.
    for _ in 0..5 {
        let msg = messages.next().await.unwrap().unwrap();
        let env: Envelope = serde_json::from_slice(&msg.payload).unwrap();
        consumer.handler().handle(&env).await.unwrap();
    }
    // After the ack wait the server redelivers all five; process them properly.
    let mut redelivered = HashSet::new();
    while redelivered.len() < 5 {
        let msg = tokio::time::timeout(Duration::from_secs(20), messages.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(msg.info().unwrap().delivered >= 2);
        assert_eq!(
            consumer.process(&msg).await,
            bus::consumer::Disposition::Acked
        );
        redelivered.insert(msg.info().unwrap().stream_sequence);
    }
    assert_eq!(handled(&w.store).await.len(), 5);
    assert_eq!(consumer.handler().calls.load(Ordering::SeqCst), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_and_late_republish_lose_and_double_nothing() {
    let mut w = world().await;
    let (stop, shutdown) = watch::channel(false);
    let relay = tokio::spawn(Relay::new(w.store.clone(), w.js.clone()).run(shutdown.clone()));
    let consumer = tokio::spawn(
        Consumer::new(
            w.store.clone(),
            w.js.clone(),
            fast_config("echo"),
            Echo::new(w.store.clone(), 0),
        )
        .run(shutdown.clone()),
    );
    append_counted(&w.store, 0..50).await;
    wait_handled(&w.store, 50).await;
    w.nats.restart().unwrap();
    append_counted(&w.store, 50..100).await;
    let after = wait_handled(&w.store, 100).await;
    assert_eq!(after.len(), 100);

    // Republish after the duplicate window: the same event arrives as a new message (no
    // Nats-Msg-Id, so JetStream cannot drop it). The consumer's effects stay single.
    let first = w.store.read_all(0, 1).await.unwrap().remove(0);
    let (client, _) = bus::connect(&w.nats.url()).await.unwrap();
    let js = jetstream::new(client);
    js.publish(
        Subject::of(&first),
        serde_json::to_vec(&first).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(handled(&w.store).await.len(), 100);
    stop.send(true).unwrap();
    relay.await.unwrap();
    consumer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_dead_lettered_and_do_not_stall() {
    let w = world().await;
    let (stop, shutdown) = watch::channel(false);
    let consumer = Consumer::new(
        w.store.clone(),
        w.js.clone(),
        fast_config("echo"),
        Echo::new(w.store.clone(), 0),
    );
    let task = tokio::spawn(consumer.run(shutdown));
    w.js.publish("referral.global.counted", "not json at all".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let mut poison = counted(1);
    poison.event_type = "Poison".into();
    append_one(&w.store, poison).await;
    append_counted(&w.store, 10..13).await;
    while Relay::new(w.store.clone(), w.js.clone())
        .step()
        .await
        .unwrap()
        .is_some()
    {}
    wait_handled(&w.store, 3).await;
    for _ in 0..200 {
        if w.store.dead_letters(Some("echo")).await.unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let letters = w.store.dead_letters(Some("echo")).await.unwrap();
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(letters
        .iter()
        .any(|l| l.error.contains("not an event envelope") && l.event_id.is_none()));
    assert!(letters
        .iter()
        .any(|l| l.error.contains("Poison") && l.event_id.is_some()));
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_stream_of_the_same_name_is_refused_clearly() {
    let nats = testkit::NatsServer::start().unwrap();
    let (_, js) = bus::connect(&nats.url()).await.unwrap();
    js.create_stream(jetstream::stream::Config {
        name: "REFERRAL".into(),
        subjects: vec!["other.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let err = ensure_stream(&js, &StreamSettings::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("instead of referral.>"), "{err}");
}

/// What a [`Recorder`] saw: the order it handled each case's events in, and how many it
/// handled at once at most.
#[derive(Default)]
struct Record {
    order: Mutex<Vec<(String, u64)>>,
    now: AtomicUsize,
    most: AtomicUsize,
}

/// A handler that takes a little time per event and records into a shared [`Record`].
struct Recorder(Arc<Record>);

impl Handler for Recorder {
    async fn handle(&self, event: &Envelope) -> Result<(), HandlerError> {
        let r = &self.0;
        let now = r.now.fetch_add(1, Ordering::SeqCst) + 1;
        r.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        let case = event
            .case_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default();
        let n = event.payload["n"].as_u64().unwrap_or(u64::MAX);
        r.order.lock().unwrap().push((case, n));
        r.now.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

/// With lanes, events of different cases are handled side by side and each case's in
/// order; with one lane, one at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_keep_each_case_in_order_and_run_cases_side_by_side() {
    let w = world().await;
    for n in 0..240u64 {
        let mut e = counted(n);
        e.case_id = Some(CaseId::parse(format!("case-{}", n % 12)).unwrap());
        e.stream_id = StreamId::parse(format!("src-{}", n % 12)).unwrap();
        append_one(&w.store, e).await;
    }
    let relay = Relay::new(w.store.clone(), w.js.clone());
    while relay.step().await.unwrap().is_some() {}
    for lanes in [4, 1] {
        let record = Arc::new(Record::default());
        let consumer = Consumer::new(
            w.store.clone(),
            w.js.clone(),
            fast_config(&format!("lanes-{lanes}")).with_lanes(lanes),
            Recorder(Arc::clone(&record)),
        );
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(consumer.run(shutdown));
        for _ in 0..600 {
            if record.order.lock().unwrap().len() >= 240 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        task.await.unwrap();
        let order = record.order.lock().unwrap().clone();
        assert_eq!(order.len(), 240, "{lanes} lanes: every event handled once");
        for case in 0..12 {
            let seen: Vec<u64> = order
                .iter()
                .filter(|(c, _)| *c == format!("case-{case}"))
                .map(|(_, n)| *n)
                .collect();
            let want: Vec<u64> = (0..240).filter(|n| n % 12 == case).collect();
            assert_eq!(seen, want, "{lanes} lanes: case-{case} in order");
        }
        let most = record.most.load(Ordering::SeqCst);
        if lanes == 1 {
            assert_eq!(most, 1, "one lane handles one event at a time");
        } else {
            assert!(
                most > 1,
                "{lanes} lanes handle cases side by side (at most {most})"
            );
            assert!(most <= lanes, "never more than one event per lane ({most})");
        }
    }
}
