//! The warning endpoints in process (`oneshot`) on a real SQLite store: the inbox scoped to
//! the caller's office, acknowledgement (idempotent, forbidden across districts), registers
//! as JSON and CSV, not-suitable with field errors.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bus::Handler;
use common::{assessed, policy};
use contracts::{CaseId, DistrictCode, InstitutionCode, ManualClock, Metadata, NewEvent, StreamId};
use edge::Role;
use eventstore::{Commit, EventStore, ExpectedVersion, Store};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use time::macros::datetime;
use time::Duration;
use tower::ServiceExt;
use warning::http::{router, WarningState};
use warning::Warning;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, String, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {key}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, ct, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_ack_registers_and_not_suitable_over_http() {
    let db = testkit::SqliteFile::create().unwrap();
    let t = datetime!(2026-04-01 09:00 +08:00);
    let clock = ManualClock::new(t.to_offset(time::UtcOffset::UTC) + Duration::hours(2));
    let store = Store::connect(&db.url, Arc::new(clock.clone()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let warning = Warning::new(store.clone(), Arc::new(policy().clone()));
    let app = router(WarningState {
        warning: warning.clone(),
        clock: Arc::new(clock.clone()),
    });
    let key = |role, inst: &str, d: &str| {
        let store = store.clone();
        let (inst, d) = (
            InstitutionCode::parse(inst).unwrap(),
            DistrictCode::parse(d).unwrap(),
        );
        async move { edge::issue_key(&store, role, inst, d).await.unwrap().1 }
    };
    let office_b = key(Role::DistrictOffice, "MCH-430103", "430103").await;
    let office_c = key(Role::DistrictOffice, "MCH-430104", "430104").await;
    let city = key(Role::CityOffice, "MCH-430100", "430100").await;
    let hospital = key(Role::Hospital, "H-01", "430102").await;

    // An orange woman living in B, graded at a hospital in A.
    let ra = assessed(
        "case-h",
        &["R-CV-PAH"],
        "430103",
        "430102",
        t,
        t + Duration::minutes(20),
    );
    let e = NewEvent::from_domain(
        uuid::Uuid::new_v4(),
        StreamId::parse("assessment-case-h").unwrap(),
        Some(CaseId::parse("case-h").unwrap()),
        &ra,
        Metadata::system("scoring"),
        t,
    )
    .unwrap();
    store
        .commit(Commit::append(
            e.stream_id.clone(),
            ExpectedVersion::Any,
            vec![e],
        ))
        .await
        .unwrap();
    let env = store.read_all(0, 1).await.unwrap().remove(0);
    warning.handle(&env).await.unwrap();

    let (status, _, inbox) = call(&app, "GET", "/v1/alerts", &office_b, None).await;
    assert_eq!(status, StatusCode::OK);
    let alerts = inbox["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["seconds_left"], 46 * 3600);
    assert_eq!(alerts[0]["overdue"], false);
    let id = alerts[0]["alert_id"].as_str().unwrap().to_owned();

    assert_eq!(
        call(&app, "GET", "/v1/alerts?district=430103", &office_c, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "GET", "/v1/alerts", &hospital, None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "GET", "/v1/alerts?district=430103", &city, None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, ct, problem) = call(&app, "GET", "/v1/alerts?status=bogus", &office_b, None).await;
    assert_eq!(
        (status, ct.as_str()),
        (StatusCode::BAD_REQUEST, "application/problem+json")
    );
    assert_eq!(problem["errors"][0]["pointer"], "/status");
    assert_eq!(
        call(&app, "GET", "/v1/alerts", "hrp_nonsense", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // C may not acknowledge B's alert; B may, twice.
    assert_eq!(
        call(
            &app,
            "POST",
            &format!("/v1/alerts/{id}/ack"),
            &office_c,
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (status, _, acked) = call(
        &app,
        "POST",
        &format!("/v1/alerts/{id}/ack"),
        &office_b,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(acked["status"], "acknowledged");
    assert_eq!(
        call(
            &app,
            "POST",
            &format!("/v1/alerts/{id}/ack"),
            &office_b,
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "POST", "/v1/alerts/not-a-uuid/ack", &office_b, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, _, now_open) = call(&app, "GET", "/v1/alerts", &office_b, None).await;
    assert!(now_open["alerts"].as_array().unwrap().is_empty());

    // Registers.
    let (status, _, red) = call(&app, "GET", "/v1/registers/430103/red", &office_b, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(red["rows"][0]["case_id"], "case-h");
    let (status, ct, csv) = call(
        &app,
        "GET",
        "/v1/registers/430103/high-risk?format=csv",
        &office_b,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/csv"));
    let csv = csv.as_str().unwrap().to_owned();
    assert!(csv.starts_with("case_id,colour,"));
    assert!(csv.contains("case-h,red,false"));
    assert_eq!(
        call(&app, "GET", "/v1/registers/430103/red", &office_c, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "GET", "/v1/registers/430103/unknown", &office_b, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // Not suitable: the reporting hospital may record it; bad fields are listed.
    let body = json!({ "request_id": uuid::Uuid::from_u128(7), "judged_by": "dr-9", "title": "主任医师",
                       "judged_at": "2026-04-01T10:00:00+08:00", "reason": "肺动脉高压", "followed_by": null });
    assert_eq!(
        call(
            &app,
            "POST",
            "/v1/cases/case-h/not-suitable",
            &hospital,
            Some(body.clone())
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &app,
            "POST",
            "/v1/cases/case-h/not-suitable",
            &hospital,
            Some(body.clone())
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, _, ns) = call(
        &app,
        "GET",
        "/v1/registers/430103/not-suitable",
        &office_b,
        None,
    )
    .await;
    assert_eq!(ns["rows"][0]["judgements"].as_array().unwrap().len(), 1);
    let mut bad = body.clone();
    bad["reason"] = json!("");
    bad["judged_at"] = json!("2030-01-01T00:00:00Z");
    let (status, _, problem) = call(
        &app,
        "POST",
        "/v1/cases/case-h/not-suitable",
        &hospital,
        Some(bad),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let pointers: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pointers, ["/reason", "/judged_at"]);
    let mut unknown = body;
    unknown["colour"] = json!("red");
    assert_eq!(
        call(
            &app,
            "POST",
            "/v1/cases/case-h/not-suitable",
            &hospital,
            Some(unknown)
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(
            &app,
            "POST",
            "/v1/cases/case-h/not-suitable",
            &office_c,
            Some(json!({}))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
}
