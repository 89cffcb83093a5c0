//! `referral serve` end to end: built as `main` builds it, on a free port, against a real
//! nats-server and real SQLite and PostgreSQL databases.

use contracts::{derive_event_id, ManualClock, Metadata, NewEvent, StreamId};
use eventstore::{Commit, Deadline, DeadlineOp, EventStore, ExpectedVersion};
use referral::{Application, Config};
use std::sync::Arc;
use std::time::Duration;
use time::macros::datetime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use uuid::Uuid;

/// A minimal HTTP/1.1 GET over loopback (keeps the test free of an HTTP client crate).
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let status = buf[9..12].parse().unwrap();
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn serve_relays_and_fires(database_url: String) {
    let nats = testkit::NatsServer::start().unwrap();
    let config = Config {
        database_url,
        nats_url: nats.url(),
        http_addr: "127.0.0.1:0".into(),
        scheduler_interval_ms: 20,
        region_file: concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/regions/default.toml"
        )
        .into(),
        ..Config::default()
    };
    let clock = ManualClock::new(datetime!(2026-05-01 00:00 UTC));
    let app = Application::build(config, Arc::new(clock.clone()))
        .await
        .unwrap();
    let addr = app.local_addr();
    let store = app.store().clone();
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(app.run_until_stopped(shutdown));

    assert_eq!(get(addr, "/healthz").await.0, 200);
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");

    // An event and a deadline: the relay publishes both the event and, once the clock
    // passes the deadline, the event the scheduler fires.
    let event = |id: Uuid, ty: &str| NewEvent {
        event_id: id,
        stream_id: StreamId::parse("warning-c1").unwrap(),
        case_id: Some(contracts::CaseId::parse("c1").unwrap()),
        event_type: ty.into(),
        schema_version: 1,
        payload: serde_json::json!({}),
        metadata: Metadata::system("test"),
        occurred_at: datetime!(2026-05-01 00:00 UTC),
    };
    let raised = Uuid::new_v4();
    let deadline_id = derive_event_id(raised, "ack-deadline");
    let mut commit = Commit::append(
        StreamId::parse("warning-c1").unwrap(),
        ExpectedVersion::NoStream,
        vec![event(raised, "DistrictAlertRaised")],
    );
    commit.deadlines.push(DeadlineOp::Arm(Box::new(Deadline {
        deadline_id,
        kind: "alert-ack".into(),
        case_id: None,
        due_at: datetime!(2026-05-03 00:00 UTC),
        event: event(
            derive_event_id(deadline_id, "fired"),
            "DistrictAlertOverdue",
        ),
    })));
    store.commit(commit).await.unwrap();
    clock.set(datetime!(2026-05-03 00:00 UTC));

    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut published = 0;
    for _ in 0..200 {
        published = js
            .get_stream("REFERRAL")
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages;
        if published == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        published, 2,
        "the event and the fired deadline reached JetStream"
    );
    let (status, metrics) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("referral_log_head_position 2"),
        "{metrics}"
    );

    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_sqlite() {
    let db = testkit::SqliteFile::create().unwrap();
    serve_relays_and_fires(db.url.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres() {
    let db = testkit::PgDatabase::create().await.unwrap();
    serve_relays_and_fires(db.url.clone()).await;
}
