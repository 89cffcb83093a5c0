//! The conformance suite: every test is written once against the `EventStore` trait and
//! runs on real PostgreSQL and real SQLite (see the `backends!` macro at the end).

use contracts::{CaseId, ManualClock, Metadata, NewEvent, StreamId};
use eventstore::rebuild::{Fold, FoldBy, Rebuild};
use eventstore::subscription::{CatchUp, Projection, ProjectionError};
use eventstore::{
    audit, scheduler::Scheduler, Commit, Deadline, DeadlineOp, DocumentOp, EventStore,
    ExpectedVersion, KeyRange, Store, StoreError,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::sync::oneshot;
use uuid::Uuid;

const T0: OffsetDateTime = datetime!(2026-03-01 08:00 UTC);

struct Harness {
    store: Store,
    clock: ManualClock,
    _pg: Option<testkit::PgDatabase>,
    _sqlite: Option<testkit::SqliteFile>,
}

impl Harness {
    async fn postgres() -> Self {
        let db = testkit::PgDatabase::create().await.expect("test database");
        Self::open(&db.url.clone(), Some(db), None).await
    }

    async fn sqlite() -> Self {
        let f = testkit::SqliteFile::create().expect("temp dir");
        Self::open(&f.url.clone(), None, Some(f)).await
    }

    async fn open(
        url: &str,
        pg: Option<testkit::PgDatabase>,
        sqlite: Option<testkit::SqliteFile>,
    ) -> Self {
        let clock = ManualClock::new(T0);
        let store = Store::connect(url, Arc::new(clock.clone()))
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        Self {
            store,
            clock,
            _pg: pg,
            _sqlite: sqlite,
        }
    }

    /// Runs raw SQL as the database owner (PostgreSQL: superuser), bypassing the store.
    async fn raw(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match &self.store {
            Store::Postgres(s) => sqlx::query(sql)
                .execute(s.pool())
                .await
                .map(|r| r.rows_affected()),
            Store::Sqlite(s) => sqlx::query(sql)
                .execute(s.writer())
                .await
                .map(|r| r.rows_affected()),
        }
    }
}

fn stream(s: &str) -> StreamId {
    StreamId::parse(s).unwrap()
}

fn event(stream_id: &str, n: u64) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        stream_id: stream(stream_id),
        case_id: Some(
            CaseId::parse(format!("case-{}", stream_id.rsplit('-').next().unwrap())).unwrap(),
        ),
        event_type: "Counted".into(),
        schema_version: 1,
        payload: serde_json::json!({ "n": n, "text": "二〇二六 \"quoted\"" }),
        metadata: Metadata::system("test"),
        occurred_at: T0,
    }
}

fn events(stream_id: &str, count: u64) -> Vec<NewEvent> {
    (0..count).map(|n| event(stream_id, n)).collect()
}

async fn append(
    store: &Store,
    s: &str,
    expected: ExpectedVersion,
    mut evs: Vec<NewEvent>,
) -> Result<Vec<i64>, StoreError> {
    for e in &mut evs {
        e.stream_id = stream(s);
    }
    let out = store
        .commit(Commit::append(stream(s), expected, evs))
        .await?;
    Ok(out.appends[0].positions.clone())
}

async fn all_events(store: &Store) -> Vec<contracts::Envelope> {
    let mut out = Vec::new();
    loop {
        let batch = store
            .read_all(
                out.last().map_or(0, |e: &contracts::Envelope| e.position),
                7,
            )
            .await
            .unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

fn assert_dense(evs: &[contracts::Envelope]) {
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e.position, i as i64 + 1, "positions are dense from 1");
    }
}

async fn append_read_and_versions(h: Harness) {
    let s = &h.store;
    assert_eq!(
        append(s, "a-1", ExpectedVersion::NoStream, events("a-1", 3))
            .await
            .unwrap(),
        vec![1, 2, 3]
    );
    assert_eq!(
        append(s, "b-2", ExpectedVersion::Any, events("b-2", 1))
            .await
            .unwrap(),
        vec![4]
    );
    assert_eq!(
        append(s, "a-1", ExpectedVersion::Exact(3), events("a-1", 2))
            .await
            .unwrap(),
        vec![5, 6]
    );
    // Wrong expectations: typed conflict, nothing written.
    for wrong in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(3),
        ExpectedVersion::Exact(9),
    ] {
        let err = append(s, "a-1", wrong, events("a-1", 1)).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::WrongExpectedVersion {
                    actual: Some(5),
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert!(matches!(
        append(s, "c-3", ExpectedVersion::Exact(0), events("c-3", 1))
            .await
            .unwrap_err(),
        StoreError::WrongExpectedVersion { actual: None, .. }
    ));
    let stored = s.read_stream(&stream("a-1"), 1, 100).await.unwrap();
    assert_eq!(
        stored.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(stored[0].payload["text"], "二〇二六 \"quoted\"");
    assert_eq!(stored[0].recorded_at, T0);
    assert_eq!(
        s.read_stream(&stream("a-1"), 4, 1).await.unwrap()[0].version,
        4
    );
    assert_eq!(s.stream_version(&stream("a-1")).await.unwrap(), Some(5));
    assert_eq!(s.stream_version(&stream("zzz")).await.unwrap(), None);
    let all = all_events(s).await;
    assert_eq!(all.len(), 6);
    assert_dense(&all);
    let case = s
        .read_case(&CaseId::parse("case-2").unwrap(), 0, 100)
        .await
        .unwrap();
    assert_eq!(case.len(), 1);
    assert_eq!(case[0].stream_id.as_str(), "b-2");
    assert_eq!(s.head().await.unwrap().0, 6);
}

async fn bad_input_is_refused_and_not_stored(h: Harness) {
    let s = &h.store;
    let mut big = event("x-1", 0);
    big.payload = serde_json::json!({ "blob": "x".repeat(contracts::MAX_PAYLOAD_BYTES + 1) });
    assert!(matches!(
        append(s, "x-1", ExpectedVersion::Any, vec![big]).await,
        Err(StoreError::Event(_))
    ));
    let mut not_object = event("x-1", 0);
    not_object.payload = serde_json::json!([1]);
    assert!(append(s, "x-1", ExpectedVersion::Any, vec![not_object])
        .await
        .is_err());
    let mut elsewhere = event("x-1", 0);
    elsewhere.stream_id = stream("y-1");
    assert!(matches!(
        s.commit(Commit::append(
            stream("x-1"),
            ExpectedVersion::Any,
            vec![elsewhere]
        ))
        .await,
        Err(StoreError::Invalid(_))
    ));
    let twice = event("x-1", 0);
    assert!(matches!(
        append(s, "x-1", ExpectedVersion::Any, vec![twice.clone(), twice]).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(all_events(s).await.is_empty());
}

async fn concurrent_appends_to_one_stream(h: Harness) {
    let s = h.store.clone();
    append(&s, "race-1", ExpectedVersion::NoStream, events("race-1", 1))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                append(&s, "race-1", ExpectedVersion::Exact(1), events("race-1", 2)).await
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::WrongExpectedVersion { .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one writer wins");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                append(&s, "race-1", ExpectedVersion::Any, events("race-1", 5)).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let versions: Vec<i64> = s
        .read_stream(&stream("race-1"), 1, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, (1..=43).collect::<Vec<_>>(), "versions dense");
    assert_dense(&all_events(&s).await);
}

/// Collects the positions a live subscriber sees.
#[derive(Default)]
struct Seen(Vec<i64>);

impl Projection for Seen {
    async fn handle(&mut self, e: &contracts::Envelope) -> Result<Commit, ProjectionError> {
        self.0.push(e.position);
        Ok(Commit::default())
    }
}

async fn held_append_never_skipped(h: Harness) {
    for release in [true, false] {
        let s = h.store.clone();
        let before = s.head().await.unwrap().0;
        let name = format!("live-{release}");
        let mut sub = CatchUp::new(s.clone(), name, Seen::default());
        sub.step().await.unwrap();
        let (gate, wait) = oneshot::channel();
        let held = {
            let s = s.clone();
            tokio::spawn(async move {
                s.commit_gated(
                    Commit::append(stream("held-1"), ExpectedVersion::Any, events("held-1", 2)),
                    wait,
                )
                .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let later: Vec<_> = (0..3)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    append(
                        &s,
                        &format!("later-{i}"),
                        ExpectedVersion::Any,
                        events("later-1", 1),
                    )
                    .await
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        // While the first append is open, nothing after it is visible: nothing to skip.
        sub.step().await.unwrap();
        assert_eq!(
            sub.projection().0.len() as i64,
            before,
            "nothing visible while the head is held"
        );
        gate.send(release).unwrap();
        assert_eq!(held.await.unwrap().is_ok(), release);
        for l in later {
            l.await.unwrap().unwrap();
        }
        while sub.step().await.unwrap() > 0 {}
        let seen = &sub.projection().0;
        let expected = (1..=s.head().await.unwrap().0).collect::<Vec<_>>();
        assert_eq!(
            seen, &expected,
            "the subscriber saw every position, in order, and did not stall"
        );
    }
    assert_dense(&all_events(&h.store).await);
}

async fn idempotent_retry_after_lost_reply(h: Harness) {
    let s = &h.store;
    let evs = events("idem-1", 3);
    let first = s
        .commit(Commit::append(
            stream("idem-1"),
            ExpectedVersion::NoStream,
            evs.clone(),
        ))
        .await
        .unwrap();
    // The reply was lost; the client sends the same commit again.
    let again = s
        .commit(Commit::append(
            stream("idem-1"),
            ExpectedVersion::NoStream,
            evs.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(first.appends[0].positions, again.appends[0].positions);
    assert!(again.appends[0].already_stored && !first.appends[0].already_stored);
    assert_eq!(again.appends[0].version, 3);
    // Partial overlap and a known id on another stream are errors.
    let mut partial = evs[1..].to_vec();
    partial.push(event("idem-1", 9));
    assert!(matches!(
        s.commit(Commit::append(
            stream("idem-1"),
            ExpectedVersion::Any,
            partial
        ))
        .await,
        Err(StoreError::IdempotencyConflict { .. })
    ));
    let mut moved = evs[0].clone();
    moved.stream_id = stream("other-1");
    assert!(matches!(
        s.commit(Commit::append(
            stream("other-1"),
            ExpectedVersion::Any,
            vec![moved]
        ))
        .await,
        Err(StoreError::IdempotencyConflict { .. })
    ));
    // Concurrent duplicates: both succeed, one stores.
    let dup = events("idem-2", 2);
    let (a, b) = tokio::join!(
        s.commit(Commit::append(
            stream("idem-2"),
            ExpectedVersion::Any,
            dup.clone()
        )),
        s.commit(Commit::append(
            stream("idem-2"),
            ExpectedVersion::Any,
            dup.clone()
        ))
    );
    assert_eq!(
        a.unwrap().appends[0].positions,
        b.unwrap().appends[0].positions
    );
    assert_eq!(all_events(s).await.len(), 5);
}

/// Document keys order as bytes on both backends (punctuation, digits, upper before lower
/// case), and `documents_in` reads exactly the keys strictly inside its bounds.
async fn documents_in_key_ranges(h: Harness) {
    let s = &h.store;
    let keys = ["1!b", "10", "1!a", "a", "B", "_x", "1a", "2!0", "1!a!z"];
    let documents = keys
        .iter()
        .map(|k| DocumentOp::Put {
            collection: "wl".into(),
            key: (*k).into(),
            scope: "430102|2026-03".into(),
            body: serde_json::json!({ "k": k }),
        })
        .chain(std::iter::once(DocumentOp::Put {
            collection: "wl".into(),
            key: "1!c".into(),
            scope: "430103|2026-03".into(),
            body: serde_json::json!({}),
        }))
        .collect();
    s.commit(Commit {
        documents,
        ..Commit::default()
    })
    .await
    .unwrap();
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable(); // byte order
    let read = |range: KeyRange<'static>, limit: u32| async move {
        s.documents_in("wl", "430102|2026-03", range, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.key)
            .collect::<Vec<_>>()
    };
    assert_eq!(read(KeyRange::all(), 100).await, sorted);
    assert_eq!(read(KeyRange::all(), 3).await, sorted[..3]);
    assert_eq!(read(KeyRange::after("1!a"), 100).await, sorted[1..]);
    let prefix = KeyRange {
        after: Some("1!"),
        before: Some("1\""),
    };
    assert_eq!(read(prefix, 100).await, ["1!a", "1!a!z", "1!b"]);
    let upper = KeyRange {
        after: None,
        before: Some("2"),
    };
    assert_eq!(read(upper, 100).await, ["1!a", "1!a!z", "1!b", "10", "1a"]);
    assert!(read(KeyRange::after("a"), 100).await.is_empty());
}

async fn handled_marker_and_documents(h: Harness) {
    let s = &h.store;
    let msg = Uuid::new_v4();
    let commit = Commit {
        documents: vec![DocumentOp::Put {
            collection: "inbox".into(),
            key: "k1".into(),
            scope: "430102".into(),
            body: serde_json::json!({ "count": 1 }),
        }],
        handled: Some(("warning".into(), msg)),
        ..Commit::default()
    };
    assert!(!s.commit(commit.clone()).await.unwrap().already_handled);
    let mut second = commit.clone();
    second.documents = vec![DocumentOp::Put {
        collection: "inbox".into(),
        key: "k1".into(),
        scope: "430102".into(),
        body: serde_json::json!({ "count": 2 }),
    }];
    assert!(s.commit(second).await.unwrap().already_handled);
    let doc = s.document("inbox", "k1").await.unwrap().unwrap();
    assert_eq!(
        doc.body["count"], 1,
        "a redelivered message changes nothing"
    );
    assert_eq!(
        s.documents("inbox", Some("430102"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s
        .documents("inbox", Some("430103"), 10)
        .await
        .unwrap()
        .is_empty());
    s.commit(Commit {
        documents: vec![DocumentOp::Delete {
            collection: "inbox".into(),
            key: "k1".into(),
        }],
        ..Commit::default()
    })
    .await
    .unwrap();
    assert!(s.document("inbox", "k1").await.unwrap().is_none());
    // Checkpoints only move forward through commits; reset moves them anywhere.
    for p in [5, 3] {
        s.commit(Commit {
            checkpoint: Some(("cp".into(), p)),
            ..Commit::default()
        })
        .await
        .unwrap();
    }
    assert_eq!(s.checkpoint("cp").await.unwrap(), 5);
    s.reset_checkpoint("cp", 1).await.unwrap();
    assert_eq!(s.checkpoint("cp").await.unwrap(), 1);
}

async fn append_only_and_tamper_evident(h: Harness) {
    let s = &h.store;
    for i in 0..5 {
        append(s, &format!("t-{i}"), ExpectedVersion::Any, events("t-1", 2))
            .await
            .unwrap();
    }
    let clean = audit::verify(s, 3, |_, _| {}).await.unwrap();
    assert_eq!(
        (clean.checked, clean.head_position, clean.first_bad.clone()),
        (10, 10, None)
    );
    assert!(h
        .raw("UPDATE events SET event_type = 'Forged' WHERE position = 3")
        .await
        .is_err());
    assert!(h
        .raw("DELETE FROM events WHERE position = 10")
        .await
        .is_err());
    // A superuser switches the triggers off and edits a row: verify finds it.
    match &h.store {
        Store::Postgres(_) => {
            h.raw("ALTER TABLE events DISABLE TRIGGER events_no_update")
                .await
                .unwrap();
            h.raw("UPDATE events SET payload = '{\"n\":99}' WHERE position = 4")
                .await
                .unwrap();
        }
        Store::Sqlite(_) => {
            h.raw("DROP TRIGGER events_no_update").await.unwrap();
            h.raw("UPDATE events SET payload = '{\"n\":99}' WHERE position = 4")
                .await
                .unwrap();
        }
    }
    let report = audit::verify(s, 3, |_, _| {}).await.unwrap();
    assert_eq!(
        report.first_bad.as_ref().map(|b| b.0),
        Some(4),
        "{report:?}"
    );
    assert_eq!(report.checked, 3);
}

fn deadline(case: &str, due: OffsetDateTime) -> (Uuid, DeadlineOp) {
    let id = Uuid::new_v4();
    let mut ev = event(&format!("warning-{case}"), 0);
    ev.event_id = contracts::derive_event_id(id, "fired");
    ev.event_type = "DistrictAlertOverdue".into();
    ev.occurred_at = due;
    let d = Deadline {
        deadline_id: id,
        kind: "alert-ack".into(),
        case_id: None,
        due_at: due,
        event: ev,
    };
    (id, DeadlineOp::Arm(Box::new(d)))
}

async fn count_type(s: &Store, ty: &str) -> usize {
    all_events(s)
        .await
        .iter()
        .filter(|e| e.event_type == ty)
        .count()
}

async fn deadlines_fire_exactly_once_or_never(h: Harness) {
    let s = &h.store;
    let sched = Scheduler::new(s.clone(), std::time::Duration::from_millis(10));
    let due = T0 + Duration::hours(48);
    // Acknowledged just before the deadline: never fires.
    let (before, arm) = deadline("1", due);
    s.commit(Commit {
        deadlines: vec![arm],
        ..Commit::default()
    })
    .await
    .unwrap();
    h.clock.set(due - Duration::seconds(1));
    assert_eq!(sched.tick().await.unwrap(), 0);
    let c = s
        .commit(Commit {
            deadlines: vec![DeadlineOp::Cancel(before)],
            ..Commit::default()
        })
        .await
        .unwrap();
    assert_eq!(c.cancelled, vec![before]);
    h.clock.set(due + Duration::days(1));
    assert_eq!(sched.tick().await.unwrap(), 0);
    assert_eq!(
        s.deadline(before).await.unwrap().unwrap().status,
        "cancelled"
    );

    // Exactly at the deadline: fires; the late acknowledgement cancels nothing.
    let due2 = h.clock_now() + Duration::hours(1);
    let (at, arm) = deadline("2", due2);
    s.commit(Commit {
        deadlines: vec![arm],
        ..Commit::default()
    })
    .await
    .unwrap();
    h.clock.set(due2);
    assert_eq!(sched.tick().await.unwrap(), 1);
    let c = s
        .commit(Commit {
            deadlines: vec![DeadlineOp::Cancel(at)],
            ..Commit::default()
        })
        .await
        .unwrap();
    assert!(c.cancelled.is_empty());
    assert_eq!(sched.tick().await.unwrap(), 0);
    assert_eq!(count_type(s, "DistrictAlertOverdue").await, 1);
    let fired = all_events(s)
        .await
        .into_iter()
        .find(|e| e.event_type == "DistrictAlertOverdue")
        .unwrap();
    assert_eq!(fired.occurred_at, due2);

    // Downtime across the due time: fires once when the scheduler is back.
    let due3 = h.clock_now() + Duration::minutes(15);
    let (_, arm) = deadline("3", due3);
    // Arming twice is harmless.
    s.commit(Commit {
        deadlines: vec![arm.clone()],
        ..Commit::default()
    })
    .await
    .unwrap();
    s.commit(Commit {
        deadlines: vec![arm],
        ..Commit::default()
    })
    .await
    .unwrap();
    h.clock.set(due3 + Duration::days(3));
    assert_eq!(sched.tick().await.unwrap(), 1);
    assert_eq!(sched.tick().await.unwrap(), 0);
    assert_eq!(count_type(s, "DistrictAlertOverdue").await, 2);

    // A firing that crashed after appending but before marking: no second event.
    let due4 = h.clock_now() + Duration::minutes(1);
    let (crashed, arm) = deadline("4", due4);
    let DeadlineOp::Arm(d) = &arm else {
        unreachable!()
    };
    let ev = d.event.clone();
    s.commit(Commit {
        deadlines: vec![arm],
        ..Commit::default()
    })
    .await
    .unwrap();
    s.commit(Commit::append(
        ev.stream_id.clone(),
        ExpectedVersion::Any,
        vec![ev],
    ))
    .await
    .unwrap();
    h.clock.set(due4);
    assert_eq!(sched.tick().await.unwrap(), 1);
    assert_eq!(s.deadline(crashed).await.unwrap().unwrap().status, "fired");
    assert_eq!(count_type(s, "DistrictAlertOverdue").await, 3);

    // Two schedulers, many deadlines: each fires once.
    let due5 = h.clock_now() + Duration::minutes(1);
    let ops: Vec<_> = (0..60)
        .map(|i| deadline(&format!("m{i}"), due5).1)
        .collect();
    s.commit(Commit {
        deadlines: ops,
        ..Commit::default()
    })
    .await
    .unwrap();
    h.clock.set(due5);
    let other = Scheduler::new(s.clone(), std::time::Duration::from_millis(10));
    let (a, b) = tokio::join!(sched.tick(), other.tick());
    assert_eq!(a.unwrap() + b.unwrap(), 60);
    assert_eq!(count_type(s, "DistrictAlertOverdue").await, 63);

    // Acknowledgement racing the scheduler: per deadline, one firing or none, never both
    // a cancel and a firing.
    let due6 = h.clock_now() + Duration::minutes(1);
    let armed: Vec<_> = (0..20).map(|i| deadline(&format!("r{i}"), due6)).collect();
    s.commit(Commit {
        deadlines: armed.iter().map(|(_, op)| op.clone()).collect(),
        ..Commit::default()
    })
    .await
    .unwrap();
    h.clock.set(due6);
    let acks: Vec<_> = armed
        .iter()
        .map(|(id, _)| {
            let s = s.clone();
            let id = *id;
            tokio::spawn(async move {
                s.commit(Commit {
                    deadlines: vec![DeadlineOp::Cancel(id)],
                    ..Commit::default()
                })
                .await
            })
        })
        .collect();
    let fired = sched.tick().await.unwrap();
    let mut cancelled = 0;
    for a in acks {
        cancelled += a.await.unwrap().unwrap().cancelled.len();
    }
    assert_eq!(
        fired + cancelled,
        20,
        "fired {fired}, cancelled {cancelled}"
    );
    assert_eq!(count_type(s, "DistrictAlertOverdue").await, 63 + fired);
    assert_dense(&all_events(s).await);
}

impl Harness {
    fn clock_now(&self) -> OffsetDateTime {
        use contracts::Clock;
        self.clock.now()
    }
}

/// A projection that keeps, per stream, the count and sum of `n`, as documents.
struct Totals(&'static str);

impl Projection for Totals {
    async fn handle(&mut self, e: &contracts::Envelope) -> Result<Commit, ProjectionError> {
        // The read model is derived from the event alone (plus its position), so replay and
        // live processing must agree.
        Ok(Commit {
            documents: vec![DocumentOp::Put {
                collection: self.0.into(),
                key: format!("{}#{}", e.stream_id, e.version),
                scope: e.stream_id.to_string(),
                body: serde_json::json!({ "n": e.payload["n"], "position": e.position }),
            }],
            ..Commit::default()
        })
    }
}

async fn rebuild_equals_live(h: Harness) {
    let rt_store = h.store.clone();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 12,
        ..ProptestConfig::default()
    });
    let round = std::sync::atomic::AtomicUsize::new(0);
    let strategy = proptest::collection::vec((0usize..4, 1u64..4), 1..25);
    let handle = tokio::runtime::Handle::current();
    runner
        .run(&strategy, |history| {
            let r = round.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let s = rt_store.clone();
            let (live_docs, rebuilt_docs) = tokio::task::block_in_place(|| {
                handle.block_on(async move {
                    let live_name: &'static str = Box::leak(format!("live{r}").into_boxed_str());
                    let rebuilt_name: &'static str =
                        Box::leak(format!("rebuilt{r}").into_boxed_str());
                    let start = s.head().await.unwrap().0;
                    let mut live = CatchUp::new(s.clone(), live_name, Totals(live_name)).batch(3);
                    s.reset_checkpoint(live_name, start).await.unwrap();
                    for (stream_no, count) in history {
                        append(
                            &s,
                            &format!("p{r}-{stream_no}"),
                            ExpectedVersion::Any,
                            events("p-1", count),
                        )
                        .await
                        .unwrap();
                        live.step().await.unwrap();
                    }
                    while live.step().await.unwrap() > 0 {}
                    let mut rebuilt =
                        CatchUp::new(s.clone(), rebuilt_name, Totals(rebuilt_name)).batch(50);
                    s.reset_checkpoint(rebuilt_name, start).await.unwrap();
                    while rebuilt.step().await.unwrap() > 0 {}
                    let docs = |name: &'static str| {
                        let s = s.clone();
                        async move {
                            s.documents(name, None, 10_000)
                                .await
                                .unwrap()
                                .into_iter()
                                .map(|d| (d.key, d.body))
                                .collect::<BTreeMap<_, _>>()
                        }
                    };
                    (docs(live_name).await, docs(rebuilt_name).await)
                })
            });
            prop_assert!(!live_docs.is_empty());
            prop_assert_eq!(live_docs, rebuilt_docs);
            Ok(())
        })
        .unwrap();
}

/// Many commits at once, of every kind, share group transactions: each caller still gets
/// exactly the answer it would get alone (new appends, exact retries, redelivered messages,
/// version conflicts, partial overlaps, documents), and the log stays dense and chained.
async fn grouped_commits_answer_each_as_alone(h: Harness) {
    let s = &h.store;
    // What is there before: 20 streams of 2 events, 20 handled messages.
    let mut stored = Vec::new();
    for i in 0..20 {
        let name = format!("old-{i}");
        let evs = events(&name, 2);
        append(s, &name, ExpectedVersion::NoStream, evs.clone())
            .await
            .unwrap();
        stored.push((name, evs));
    }
    let handled: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    for id in &handled {
        s.commit(Commit {
            handled: Some(("grouped".into(), *id)),
            ..Commit::default()
        })
        .await
        .unwrap();
    }
    let before = all_events(s).await.len();

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Want {
        New,
        Retry,
        Handled,
        Conflict,
        Overlap,
        Document,
    }
    let mut jobs: Vec<(Want, Commit)> = Vec::new();
    for i in 0..100 {
        let name = format!("new-{i}");
        jobs.push((
            Want::New,
            Commit::append(stream(&name), ExpectedVersion::NoStream, events(&name, 3)),
        ));
    }
    for (name, evs) in &stored {
        jobs.push((
            Want::Retry,
            Commit::append(stream(name), ExpectedVersion::NoStream, evs.clone()),
        ));
        jobs.push((
            Want::Conflict,
            Commit::append(stream(name), ExpectedVersion::Exact(5), events(name, 1)),
        ));
        let mut partial = vec![evs[1].clone()];
        partial.push(event(name, 7));
        jobs.push((
            Want::Overlap,
            Commit::append(stream(name), ExpectedVersion::Any, partial),
        ));
    }
    for (i, id) in handled.iter().enumerate() {
        jobs.push((
            Want::Handled,
            Commit {
                documents: vec![DocumentOp::Put {
                    collection: "grouped".into(),
                    key: format!("h-{i}"),
                    scope: "x".into(),
                    body: serde_json::json!({ "i": i }),
                }],
                handled: Some(("grouped".into(), *id)),
                ..Commit::default()
            },
        ));
        jobs.push((
            Want::Document,
            Commit {
                documents: vec![DocumentOp::Put {
                    collection: "grouped".into(),
                    key: format!("d-{i}"),
                    scope: "x".into(),
                    body: serde_json::json!({ "i": i }),
                }],
                ..Commit::default()
            },
        ));
    }
    let start = Arc::new(tokio::sync::Barrier::new(jobs.len()));
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|(want, commit)| {
            let s = s.clone();
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                (want, s.commit(commit).await)
            })
        })
        .collect();
    let mut new_positions = Vec::new();
    for t in tasks {
        let (want, got) = t.await.unwrap();
        match (want, got) {
            (Want::New, Ok(o)) => {
                assert!(!o.appends[0].already_stored);
                assert_eq!(o.appends[0].version, 3);
                new_positions.extend(o.appends[0].positions.clone());
            }
            (Want::Retry, Ok(o)) => {
                assert!(o.appends[0].already_stored, "an exact retry stores nothing");
                assert_eq!(o.appends[0].version, 2);
            }
            (Want::Handled, Ok(o)) => assert!(o.already_handled),
            (Want::Document, Ok(o)) => assert!(!o.already_handled),
            (Want::Conflict, Err(StoreError::WrongExpectedVersion { .. })) => {}
            (Want::Overlap, Err(StoreError::IdempotencyConflict { .. })) => {}
            (want, got) => panic!("{want:?} answered {got:?}"),
        }
    }
    new_positions.sort_unstable();
    new_positions.dedup();
    assert_eq!(new_positions.len(), 300, "every new event stored once");
    let all = all_events(s).await;
    assert_eq!(all.len(), before + 300, "nothing else stored");
    assert_dense(&all);
    let report = audit::verify(s, 64, |_, _| {}).await.unwrap();
    assert!(report.first_bad.is_none(), "{report:?}");
    let docs = s.documents("grouped", Some("x"), 100).await.unwrap();
    assert_eq!(
        docs.len(),
        20,
        "documents of handled messages are not written again"
    );
    assert!(docs.iter().all(|d| d.key.starts_with("d-")));
}

/// Runs of puts are written in bulk (more rows than one SQLite statement may bind): a key put
/// twice in a run keeps its last body, a delete or a clear between runs keeps its place, and
/// the bodies read back as written.
async fn bulk_document_writes(h: Harness) {
    let s = &h.store;
    let put = |key: String, scope: &str, n: u64| DocumentOp::Put {
        collection: "bulk".into(),
        key,
        scope: scope.into(),
        body: serde_json::json!({ "n": n, "text": "二〇二六 \"quoted\"", "nested": { "a": [1, 2] } }),
    };
    let mut documents: Vec<DocumentOp> = (0..7_000)
        .map(|i| put(format!("k{i:05}"), "a", i))
        .collect();
    // The same key again in the same run: the later put wins.
    documents.push(put("k00003".into(), "b", 99));
    documents.push(DocumentOp::Delete {
        collection: "bulk".into(),
        key: "k00004".into(),
    });
    documents.push(put("k00005".into(), "b", 55));
    documents.push(DocumentOp::Put {
        collection: "other".into(),
        key: "x".into(),
        scope: "a".into(),
        body: serde_json::json!(null),
    });
    s.commit(Commit {
        documents,
        ..Commit::default()
    })
    .await
    .unwrap();
    let all = s.documents("bulk", None, u32::MAX).await.unwrap();
    assert_eq!(all.len(), 6_999);
    assert_eq!(s.documents("bulk", Some("b"), 10).await.unwrap().len(), 2);
    let three = s.document("bulk", "k00003").await.unwrap().unwrap();
    assert_eq!(
        (three.scope.as_str(), three.body["n"].as_u64()),
        ("b", Some(99))
    );
    assert!(s.document("bulk", "k00004").await.unwrap().is_none());
    let last = s.document("bulk", "k06999").await.unwrap().unwrap();
    assert_eq!(last.body["text"], "二〇二六 \"quoted\"");
    assert_eq!(last.body["nested"]["a"][1], 2);
    assert!(s.document("other", "x").await.unwrap().is_some());
    // A clear, then a run, in one commit (how a rebuild starts).
    s.commit(Commit {
        documents: vec![
            DocumentOp::Clear {
                collection: "bulk".into(),
            },
            put("k1".into(), "c", 1),
            put("k2".into(), "c", 2),
        ],
        ..Commit::default()
    })
    .await
    .unwrap();
    let all = s.documents("bulk", None, u32::MAX).await.unwrap();
    assert_eq!(
        all.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(),
        ["k1", "k2"]
    );
}

/// The one-pass rebuild reads every page of the log, clears what the parts own (a stale
/// document goes), writes every part's documents and moves the parts' checkpoints.
async fn one_pass_rebuild(h: Harness) {
    let s = &h.store;
    for i in 0..30u64 {
        append(
            s,
            &format!("p-{}", i % 7),
            ExpectedVersion::Any,
            events("p-1", 1 + i % 5),
        )
        .await
        .unwrap();
        append(s, &format!("q-{i}"), ExpectedVersion::Any, events("q-1", 1))
            .await
            .unwrap();
    }
    let (head, _) = s.head().await.unwrap();
    let mut expected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for e in all_events(s).await {
        if let Some(key) = e.stream_id.as_str().strip_prefix("p-") {
            let t = expected.entry(key.to_owned()).or_default();
            t.0 += 1;
            t.1 += e.payload["n"].as_u64().unwrap();
        }
    }
    // In one pass, and in three (each keeps a third of the states): the same documents.
    for passes in [1, 3] {
        // A stale document of the part's collection: the rebuild clears it.
        s.commit(Commit {
            documents: vec![DocumentOp::Put {
                collection: "sums".into(),
                key: "stale".into(),
                scope: "all".into(),
                body: serde_json::json!({}),
            }],
            ..Commit::default()
        })
        .await
        .unwrap();
        let mut pages = 0;
        // Per stream of category `p`: the count and the sum of `n`.
        let sums = Fold::new(
            FoldBy::Stream("p"),
            &["sums"],
            |_| (0u64, 0u64),
            |(count, sum), e| {
                *count += 1;
                *sum += e.payload["n"].as_u64().ok_or("no n")?;
                Ok::<_, ProjectionError>(())
            },
            |key, (count, sum)| {
                vec![DocumentOp::Put {
                    collection: "sums".into(),
                    key,
                    scope: "all".into(),
                    body: serde_json::json!({ "count": count, "sum": sum }),
                }]
            },
        )
        .checkpoint("sums");
        let parts: Vec<Box<dyn Rebuild>> = vec![Box::new(sums)];
        let rebuilt = eventstore::rebuild::rebuild_in_passes(s, parts, passes, |_, _| pages += 1)
            .await
            .unwrap();
        assert_eq!(
            (rebuilt.head, rebuilt.states.clone(), rebuilt.documents),
            (head, vec![7], 7),
            "{passes} passes"
        );
        assert!(pages >= passes, "every pass reads the log");
        let docs: BTreeMap<String, (u64, u64)> = s
            .documents("sums", None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|d| {
                let n = |f: &str| d.body[f].as_u64().unwrap();
                (d.key.clone(), (n("count"), n("sum")))
            })
            .collect();
        assert_eq!(docs, expected, "{passes} passes");
        assert_eq!(s.checkpoint("sums").await.unwrap(), head);
    }
}

macro_rules! backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Harness::postgres().await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Harness::sqlite().await).await;
                }
            )*
        }
    };
}

backends!(
    append_read_and_versions,
    bad_input_is_refused_and_not_stored,
    concurrent_appends_to_one_stream,
    held_append_never_skipped,
    idempotent_retry_after_lost_reply,
    grouped_commits_answer_each_as_alone,
    handled_marker_and_documents,
    documents_in_key_ranges,
    append_only_and_tamper_evident,
    deadlines_fire_exactly_once_or_never,
    rebuild_equals_live,
    bulk_document_writes,
    one_pass_rebuild,
);

/// Two stores on one SQLite file (as two processes would be): writers queue on the file's
/// write lock (BEGIN IMMEDIATE + busy timeout); no SQLITE_BUSY escapes, positions stay dense.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_writers_on_one_file_never_see_busy() {
    let h = Harness::sqlite().await;
    let url = h._sqlite.as_ref().unwrap().url.clone();
    let other = Store::connect(&url, Arc::new(h.clock.clone()))
        .await
        .unwrap();
    let tasks: Vec<_> = [h.store.clone(), other.clone()]
        .into_iter()
        .enumerate()
        .flat_map(|(i, s)| {
            (0..4).map(move |w| {
                let s = s.clone();
                tokio::spawn(async move {
                    for _ in 0..25 {
                        append(
                            &s,
                            &format!("proc{i}-{w}"),
                            ExpectedVersion::Any,
                            events("p-1", 3),
                        )
                        .await
                        .unwrap();
                    }
                })
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let all = all_events(&other).await;
    assert_eq!(all.len(), 2 * 4 * 25 * 3);
    assert_dense(&all);
    assert_eq!(
        audit::verify(&h.store, 100, |_, _| {})
            .await
            .unwrap()
            .first_bad,
        None
    );
}
