//! Issue 5's end-to-end path through the whole service over real HTTP and NATS: a hospital
//! in district A (430102) posts a card for an orange woman living in district B (430103);
//! B's inbox shows the alert due 48 h after the assessment, A's office sees the copy, a
//! subscriber on `referral.430103.>` receives it; B acknowledges; nothing becomes overdue.

mod common;
use common::*;

use contracts::ManualClock;
use edge::Role;
use eventstore::EventStore;
use futures::StreamExt;
use referral::Application;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use time::macros::datetime;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_in_a_for_a_woman_in_b_reaches_b_and_is_acknowledged() {
    let nats = testkit::NatsServer::start().unwrap();
    let db = testkit::SqliteFile::create().unwrap();
    let config = service_config(nats.url(), db.url.clone());
    let clock = ManualClock::new(datetime!(2026-03-09 02:00 UTC));
    let app = Application::build(config, Arc::new(clock.clone()))
        .await
        .unwrap();
    let addr = app.local_addr();
    let store = app.store().clone();
    let key = |role, inst: &'static str, d: &'static str| common::key(&store, role, inst, d);
    let hospital_a = key(Role::Hospital, "H430102-01", "430102").await;
    let office_a = key(Role::DistrictOffice, "MCH430102", "430102").await;
    let office_b = key(Role::DistrictOffice, "MCH430103", "430103").await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut b_subject = client.subscribe("referral.430103.>").await.unwrap();
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(app.run_until_stopped(shutdown));

    let card = json!({
        "card_id": "E2E-1",
        "institution_code": "H430102-01",
        "assessed_at": "2026-03-09T09:30:00+08:00",
        "assessor": "dr-017",
        "woman": {
            "id_type": "resident_id", "id_number": resident_id("43010319940514002"), "name": "张某某",
            "birth_date": "1994-05-14", "phone": "13812345678", "residence_district": "430103", "address": null
        },
        "pregnancy": { "lmp": "2025-12-01", "gestational_weeks": 14, "gestational_days": 1, "gravida": 2, "para": 1, "fetuses": 1 },
        "measurements": { "height_cm": 160.0, "weight_kg": 58.5 },
        "findings": ["O-CV-NYHA2"],
        "declared_colour": "orange",
        "critical": false,
        "note": null
    });
    let (status, accepted) = http(addr, "POST", "/v1/risk-cards", &hospital_a, Some(&card)).await;
    assert_eq!(status, 202, "{accepted}");

    let mut alerts = Value::Null;
    for _ in 0..400 {
        let (_, inbox) = http(addr, "GET", "/v1/alerts", &office_b, None).await;
        if inbox["alerts"].as_array().is_some_and(|a| !a.is_empty()) {
            alerts = inbox["alerts"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let alert = &alerts[0];
    assert_eq!(
        alert["due_at"], "2026-03-11T09:30:00+08:00",
        "48 h after the assessment"
    );
    assert_eq!(alert["colour"], "orange");
    assert_eq!(alert["case_id"], accepted["case_id"]);
    let (_, copy) = http(addr, "GET", "/v1/alerts", &office_a, None).await;
    assert_eq!(copy["alerts"][0]["kind"], "copy");

    // B's own system hears it on its subject.
    let mut heard = false;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(10), b_subject.next()).await
    {
        if msg.subject.as_str() == "referral.430103.district-alert-raised" {
            heard = true;
            break;
        }
    }
    assert!(
        heard,
        "a subscriber on referral.430103.> receives the alert"
    );

    // Follow-up took her on: March's phone call is on B's worklist.
    let mut items = Value::Null;
    for _ in 0..400 {
        let (status, list) =
            http(addr, "GET", "/v1/worklists/430103/2026-03", &office_b, None).await;
        assert_eq!(status, 200, "{list}");
        if list
            .to_string()
            .contains(accepted["case_id"].as_str().unwrap())
        {
            items = list;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        !items.is_null(),
        "the woman is on the district's March worklist"
    );

    let id = alert["alert_id"].as_str().unwrap();
    let (status, acked) = http(
        addr,
        "POST",
        &format!("/v1/alerts/{id}/ack"),
        &office_b,
        None,
    )
    .await;
    assert_eq!(
        (status, acked["status"].as_str()),
        (200, Some("acknowledged"))
    );
    clock.advance(time::Duration::days(4));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let overdue = store
        .read_all(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "DistrictAlertOverdue")
        .count();
    // The copy has no deadline; B acknowledged in time: nothing is overdue.
    assert_eq!(overdue, 0);
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}
