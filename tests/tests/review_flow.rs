//! Issue 8 end to end through `referral serve` over real HTTP and NATS: a hospital posts a
//! critical red card; the review consumer (fed by JetStream like every component) writes the
//! district's facts, so the district's indicators count her; her timeline and review pack
//! are read over HTTP; a reviewer records a conclusion and the district's half-year review
//! list shows it once the consumer has seen `CaseReviewed`.

mod common;
use common::*;

use contracts::ManualClock;
use edge::Role;
use referral::Application;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use time::macros::datetime;
use tokio::sync::watch;

async fn eventually(
    addr: std::net::SocketAddr,
    path: &str,
    key: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..400 {
        let (status, v) = http(addr, "GET", path, key, None).await;
        assert_eq!(status, 200, "{path}: {v}");
        if done(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{path} never became ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_card_reaches_indicators_pack_and_review_list() {
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
    let hospital = key(Role::Hospital, "H430103-01", "430103").await;
    let reviewer = key(Role::Reviewer, "MCH430103", "430103").await;
    let centre = key(Role::RescueCentre, "RC430103", "430103").await;
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(app.run_until_stopped(shutdown));

    let card = json!({
        "card_id": "REV-1",
        "institution_code": "H430103-01",
        "assessed_at": "2026-03-09T09:30:00+08:00",
        "assessor": "dr-017",
        "woman": {
            "id_type": "resident_id", "id_number": resident_id("43010319940514002"), "name": "李某某",
            "birth_date": "1994-05-14", "phone": "13812345678", "residence_district": "430103", "address": null
        },
        "pregnancy": { "lmp": "2025-12-01", "gestational_weeks": 14, "gestational_days": 1, "gravida": 2, "para": 1, "fetuses": 1 },
        "measurements": { "height_cm": 160.0, "weight_kg": 58.5 },
        "findings": ["R-CV-PAH"],
        "declared_colour": "red",
        "critical": true,
        "note": null
    });
    let (status, accepted) = http(addr, "POST", "/v1/risk-cards", &hospital, Some(&card)).await;
    assert_eq!(status, 202, "{accepted}");
    let case = accepted["case_id"].as_str().unwrap().to_owned();

    // The consumer wrote the district's facts: she counts as graded red this March.
    let ind = eventually(
        addr,
        "/v1/indicators/430103?from=2026-03-01&to=2026-03-31",
        &reviewer,
        |v| v["green_channel"]["referrals"] == 1 && v["red_share"]["numerator"] == 1,
    )
    .await;
    assert_eq!(ind["red_share"]["denominator"], 1);

    // Timeline and pack over HTTP.
    let tl = eventually(
        addr,
        &format!("/v1/cases/{case}/timeline"),
        &reviewer,
        |v| {
            v["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["event_type"] == "GreenChannelOpened"))
        },
    )
    .await;
    assert!(!tl.to_string().contains("李某某"));

    // The centre records a near miss, a reviewer concludes, the list shows it.
    let opened = tl["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "GreenChannelOpened")
        .unwrap()
        .clone();
    let (_, pack) = http(addr, "GET", &format!("/v1/reviews/{case}"), &reviewer, None).await;
    let referral = pack["referrals"][0]["referral_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(opened["zh"].as_str().unwrap().contains("开通绿色通道"));
    let (st, v) = http(
        addr,
        "POST",
        &format!("/v1/referrals/{referral}/accept"),
        &centre,
        Some(&json!({"receiving_doctor": "dr-rc-1"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = http(
        addr,
        "POST",
        &format!("/v1/referrals/{referral}/near-miss"),
        &centre,
        Some(&json!({"criteria": ["CV-SHOCK"]})),
    )
    .await;
    assert!(st == 200 || st == 201, "{st} {v}");
    let (st, v) = http(
        addr,
        "POST",
        &format!("/v1/reviews/{case}/conclusion"),
        &reviewer,
        Some(&json!({"request_id": "00000000-0000-0000-0000-000000000001", "level": "district", "avoidability": "unavoidable", "delays": []})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let list = eventually(
        addr,
        "/v1/reviews?district=430103&half=2026H1",
        &reviewer,
        |v| v["reviewed"] == 1,
    )
    .await;
    assert_eq!(list["cases"][0]["case_id"], case.as_str());
    let (_, head) = http(addr, "GET", "/v1/audit/head", &reviewer, None).await;
    assert!(head["position"].as_i64().unwrap() > 5);
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}
