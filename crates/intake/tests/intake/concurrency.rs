//! Two hospitals posting for the same woman at the same moment end with one case: 20
//! simultaneous cards from 3 hospitals → one case, 20 cards, no 500.

use crate::helpers::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use contracts::CaseId;
use edge::Role;
use eventstore::EventStore;
use std::collections::HashSet;
use tower::ServiceExt;

async fn twenty_cards_one_case(app: App) {
    let hospitals = ["H430102-01", "H430103-01", "H430105-01"];
    let mut keys = Vec::new();
    for h in hospitals {
        keys.push(app.key(Role::Hospital, h).await);
    }
    let id = her_id(42);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let h = hospitals[i % 3];
        let body = serde_json::to_vec(&card(&format!("k-{i}"), h, &id)).unwrap();
        let req = Request::post("/v1/risk-cards")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", keys[i % 3]))
            .body(Body::from(body))
            .unwrap();
        let router = app.router.clone();
        tasks.push(tokio::spawn(async move {
            let res = router.oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
            )
        }));
    }
    let mut cases = HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        cases.insert(body["case_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(cases.len(), 1, "one case: {cases:?}");
    let case = CaseId::parse(cases.into_iter().next().unwrap()).unwrap();
    let events = app.state.store.read_case(&case, 0, 1000).await.unwrap();
    let cards = events
        .iter()
        .filter(|e| e.event_type == "RiskCardSubmitted")
        .count();
    let opened = events
        .iter()
        .filter(|e| e.event_type == "CaseOpened")
        .count();
    assert_eq!((cards, opened), (20, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cards_for_one_woman_make_one_case_on_sqlite() {
    twenty_cards_one_case(sqlite_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cards_for_one_woman_make_one_case_on_postgres() {
    twenty_cards_one_case(postgres_app().await).await;
}
