//! The scoring service through a real nats-server (JetStream) and a real SQLite store: a
//! `RiskCardSubmitted` delivered three times yields exactly one `RiskAssessed`, graded from the
//! card (including findings derived from measurements) with the catalogue versions recorded.

use bus::{ensure_stream, Consumer, Relay, StreamSettings};
use contracts::{
    CaseId, DistrictCode, IdType, InstitutionCode, ManualClock, Measurements, Metadata, NewEvent,
    Pregnancy, RiskCardSubmitted, StreamId, Subject, Woman,
};
use eventstore::{Commit, EventStore, ExpectedVersion, Store};
use scoring::component::{consumer_config, ScoringHandler};
use scoring::{Region, RiskAssessed};
use std::sync::Arc;
use std::time::Duration;
use time::macros::{date, datetime};
use tokio::sync::watch;

fn card() -> RiskCardSubmitted {
    RiskCardSubmitted {
        card_id: "HIS-0001".into(),
        case_id: CaseId::parse("case-1").unwrap(),
        institution: InstitutionCode::parse("H-430102-01").unwrap(),
        institution_district: DistrictCode::parse("430102").unwrap(),
        assessor: "doctor-17".into(),
        assessed_at: datetime!(2026-03-01 09:30 +08:00),
        received_at: datetime!(2026-03-01 10:00 +08:00),
        woman: Woman {
            id_type: IdType::ResidentId,
            id_number: "11010519491231002X".into(),
            name: "测试".into(),
            // 40 on the assessment date: age ≥ 40 is orange, derived.
            birth_date: date!(1985 - 02 - 01),
            phone: Some("13800000000".into()),
            residence_district: DistrictCode::parse("430103").unwrap(),
            address: None,
        },
        pregnancy: Pregnancy::default(),
        measurements: Measurements {
            gestational_weeks: Some(20),
            ..Measurements::default()
        },
        findings: vec![],
        declared_colour: Some(contracts::Colour::Yellow),
        critical: false,
        note: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_delivered_three_times_is_assessed_once() {
    let nats = testkit::NatsServer::start().unwrap();
    let (_, js) = bus::connect(&nats.url()).await.unwrap();
    ensure_stream(&js, &StreamSettings::default())
        .await
        .unwrap();
    let db = testkit::SqliteFile::create().unwrap();
    let store = Store::connect(
        &db.url,
        Arc::new(ManualClock::new(datetime!(2026-03-01 02:00 UTC))),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();

    let region = Region::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/regions/default.toml"
    ))
    .unwrap();
    let catalogues = Arc::new(region.load_catalogues().unwrap());
    let policy = Arc::new(region.policy.clone());

    // Intake's append, as intake makes it.
    let c = card();
    let mut metadata = Metadata::system("intake");
    metadata.district = Some(c.woman.residence_district.clone());
    let submitted = NewEvent::from_domain(
        uuid::Uuid::new_v4(),
        StreamId::parse("card-H-430102-01-HIS-0001").unwrap(),
        Some(c.case_id.clone()),
        &c,
        metadata,
        c.assessed_at,
    )
    .unwrap();
    store
        .commit(Commit::append(
            submitted.stream_id.clone(),
            ExpectedVersion::NoStream,
            vec![submitted],
        ))
        .await
        .unwrap();
    Relay::new(store.clone(), js.clone()).step().await.unwrap();
    // Two more deliveries of the same event as new messages (as after the duplicate window).
    let envelope = store.read_all(0, 1).await.unwrap().remove(0);
    for _ in 0..2 {
        js.publish(
            Subject::of(&envelope),
            serde_json::to_vec(&envelope).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }

    let handler = ScoringHandler::new(store.clone(), catalogues, policy);
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(
        Consumer::new(store.clone(), js.clone(), consumer_config(), handler).run(shutdown),
    );
    // Wait (bounded) until the consumer has taken all three messages.
    for _ in 0..400 {
        let info = js
            .get_stream("REFERRAL")
            .await
            .unwrap()
            .consumer_info("scoring")
            .await;
        if info.is_ok_and(|i| {
            i.num_ack_pending == 0 && i.num_pending == 0 && i.delivered.stream_sequence >= 3
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
    let info = js
        .get_stream("REFERRAL")
        .await
        .unwrap()
        .consumer_info("scoring")
        .await
        .unwrap();
    assert_eq!(
        info.ack_floor.stream_sequence, 3,
        "all three deliveries were handled and acked"
    );

    let assessed: Vec<_> = store
        .read_all(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "RiskAssessed")
        .collect();
    assert_eq!(assessed.len(), 1, "three deliveries, one assessment");
    let a: RiskAssessed = assessed[0].decode().unwrap();
    assert_eq!(assessed[0].stream_id.as_str(), "assessment-case-1");
    assert_eq!(
        assessed[0].metadata.district.as_ref().unwrap().as_str(),
        "430103"
    );
    assert_eq!(
        a.assessment.colour,
        contracts::Colour::Orange,
        "age 40 derived from the birth date"
    );
    assert!(a.assessment.high_risk);
    assert!(
        a.assessment.discrepancy.is_some(),
        "declared yellow, computed orange"
    );
    assert_eq!(a.assessment.catalogues.set.label(), region_label());
    assert!(store.dead_letters(None).await.unwrap().is_empty());
}

fn region_label() -> String {
    let region = Region::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/regions/default.toml"
    ))
    .unwrap();
    region.load_catalogues().unwrap().versions().set.label()
}
