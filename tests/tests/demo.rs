//! Issue 9's demo city: `referral demo`'s load, on the real service (NATS, SQLite, every
//! component): the generated history goes in through the service's own routes and is
//! processed, so the district offices have alerts (some acknowledged, some open), the
//! worklists have calls, the rescue centres have referrals; the database is marked loaded;
//! issuing demo keys again revokes the previous ones.

mod common;
use common::*;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use contracts::ManualClock;
use edge::Role;
use http_body_util::BodyExt;
use referral::demo::{self, DemoOptions};
use referral::Application;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use time::macros::datetime;
use tokio::sync::watch;
use tower::ServiceExt;

async fn get(router: &axum::Router, uri: &str, key: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_history_goes_through_the_service_and_fills_every_board() {
    let nats = testkit::NatsServer::start().unwrap();
    let db = testkit::SqliteFile::create().unwrap();
    let config = service_config(nats.url(), db.url.clone());
    let clock = ManualClock::new(datetime!(2026-11-20 02:00 UTC));
    let app = Application::build(config, Arc::new(clock.clone()))
        .await
        .unwrap();
    let store = app.store().clone();
    let reference = app.reference().clone();
    let catalogues = app.catalogues().clone();
    let router = app.router();
    let (stop, shutdown) = watch::channel(false);
    let serving = tokio::spawn(app.run_until_stopped(shutdown));

    assert!(!demo::loaded(&store).await.unwrap());
    let keys = demo::issue_keys(&store, &reference).await.unwrap();
    for role in [
        Role::Hospital,
        Role::DistrictOffice,
        Role::CityOffice,
        Role::RescueCentre,
        Role::Reviewer,
        Role::Admin,
    ] {
        assert!(
            keys.iter().any(|k| k.role == role),
            "a demo key for {role:?}"
        );
    }
    let options = DemoOptions {
        seed: 7,
        cards: 160,
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
    assert_eq!(loaded.cards, 160);
    assert_eq!(loaded.accepted, 160, "every demo card is valid: {loaded:?}");
    assert!(loaded.acknowledged > 0, "{loaded:?}");
    assert!(demo::loaded(&store).await.unwrap());

    // Every card was graded by the scoring component, through NATS.
    let mut graded = 0;
    let mut after = 0;
    loop {
        let batch = eventstore::EventStore::read_all(&store, after, 1000)
            .await
            .unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position;
        graded += batch
            .iter()
            .filter(|e| e.event_type == "RiskAssessed")
            .count();
    }
    assert!(graded >= 150, "{graded} of 160 cards graded");

    // The district offices have something in their inboxes: open and acknowledged alerts.
    let mut open = 0;
    let mut acknowledged = 0;
    for k in keys.iter().filter(|k| k.role == Role::DistrictOffice) {
        let (st, inbox) = get(&router, "/v1/alerts?status=open", &k.key).await;
        assert_eq!(st, StatusCode::OK);
        open += inbox["alerts"].as_array().map_or(0, Vec::len);
        let (_, acked) = get(&router, "/v1/alerts?status=acknowledged", &k.key).await;
        acknowledged += acked["alerts"].as_array().map_or(0, Vec::len);
    }
    assert!(
        open > 0 && acknowledged > 0,
        "open {open}, acknowledged {acknowledged}"
    );
    assert_eq!(acknowledged, loaded.acknowledged);

    // A demo key works as printed; a new run's keys replace it.
    let office = keys
        .iter()
        .find(|k| k.role == Role::DistrictOffice)
        .unwrap();
    let (st, _) = get(&router, "/v1/alerts", &office.key).await;
    assert_eq!(st, StatusCode::OK);

    let again = demo::issue_keys(&store, &reference).await.unwrap();
    assert_eq!(again.len(), keys.len());
    let (st, _) = get(&router, "/v1/alerts", &office.key).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let fresh = again
        .iter()
        .find(|k| k.role == Role::DistrictOffice && k.institution == office.institution)
        .unwrap();
    assert_eq!(
        get(&router, "/v1/alerts", &fresh.key).await.0,
        StatusCode::OK
    );

    stop.send(true).unwrap();
    serving.await.unwrap().unwrap();
}
