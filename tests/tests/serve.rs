//! `referral serve` end to end: built as `main` builds it, on a free port, against a real
//! nats-server and real SQLite and PostgreSQL databases.

mod common;
use common::service_config;

use contracts::{derive_event_id, ManualClock, Metadata, NewEvent, StreamId};
use eventstore::{Commit, Deadline, DeadlineOp, EventStore, ExpectedVersion};
use referral::Application;
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
    let config = service_config(nats.url(), database_url);
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

/// A card as intake appends it flows through NATS: scoring grades it, warning raises the
/// alert in the residence district's inbox with a deadline 48 h after the assessment, and
/// the hospital's district gets its copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_becomes_an_alert_in_the_residence_district() {
    use contracts::{
        CaseId, DistrictCode, IdType, InstitutionCode, Measurements, Pregnancy, RiskCardSubmitted,
        Woman,
    };
    let nats = testkit::NatsServer::start().unwrap();
    let db = testkit::SqliteFile::create().unwrap();
    let config = service_config(nats.url(), db.url.clone());
    let clock = ManualClock::new(datetime!(2026-05-01 02:00 UTC));
    let app = Application::build(config, Arc::new(clock)).await.unwrap();
    let store = app.store().clone();
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(app.run_until_stopped(shutdown));

    let card = RiskCardSubmitted {
        card_id: "C-1".into(),
        case_id: CaseId::parse("case-e2e").unwrap(),
        institution: InstitutionCode::parse("H-A-01").unwrap(),
        institution_district: DistrictCode::parse("430102").unwrap(),
        assessor: "dr-1".into(),
        assessed_at: datetime!(2026-05-01 09:00 +08:00),
        received_at: datetime!(2026-05-01 10:00 +08:00),
        woman: Woman {
            id_type: IdType::Passport,
            id_number: "E1234567".into(),
            name: "测试".into(),
            birth_date: time::macros::date!(1995 - 01 - 01),
            phone: None,
            residence_district: DistrictCode::parse("430103").unwrap(),
            address: None,
        },
        pregnancy: Pregnancy::default(),
        measurements: Measurements::default(),
        findings: vec!["O-CV-NYHA2".into()],
        declared_colour: None,
        critical: false,
        note: None,
    };
    let mut metadata = Metadata::system("intake");
    metadata.district = Some(card.woman.residence_district.clone());
    let event = NewEvent::from_domain(
        Uuid::new_v4(),
        StreamId::parse("card-H-A-01-C-1").unwrap(),
        Some(card.case_id.clone()),
        &card,
        metadata,
        card.assessed_at,
    )
    .unwrap();
    store
        .commit(Commit::append(
            event.stream_id.clone(),
            ExpectedVersion::NoStream,
            vec![event],
        ))
        .await
        .unwrap();

    let mut inbox = Vec::new();
    for _ in 0..400 {
        inbox = store
            .documents("inbox", Some("430103|open"), 10)
            .await
            .unwrap();
        if !inbox.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        inbox.len(),
        1,
        "the residence district's inbox has the alert"
    );
    assert_eq!(inbox[0].body["due_at"], "2026-05-03T09:00:00+08:00");
    assert_eq!(inbox[0].body["colour"], "orange");
    assert_eq!(
        store
            .documents("inbox", Some("430102|open"), 10)
            .await
            .unwrap()
            .len(),
        1,
        "copy"
    );
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}
