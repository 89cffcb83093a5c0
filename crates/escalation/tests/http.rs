//! The green-channel endpoints in process (`oneshot`) on a real SQLite store with a manual
//! clock: from `POST /v1/green-channel` through accept, depart, arrive, near-miss and
//! feedback, asserting the minute-level times in the stored events and the boards; field
//! errors as problem+json pointers; who may do what.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use contracts::DistrictCode;
use edge::Role;
use escalation::http::{router, EscalationState};
use eventstore::EventStore;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use time::Duration;
use tower::ServiceExt;

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

fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn green_channel_from_opening_to_feedback_over_http() {
    let w = sqlite().await;
    let svc = service(&w.store);
    let app = router(EscalationState {
        escalation: svc.clone(),
        clock: Arc::new(w.clock.clone()),
    });
    let key = |role, inst: &str, d: &str| {
        let store = w.store.clone();
        let (inst, d) = (code(inst), DistrictCode::parse(d).unwrap());
        async move { edge::issue_key(&store, role, inst, d).await.unwrap().1 }
    };
    let hospital = key(Role::Hospital, "H430103-01", "430103").await;
    let county = key(Role::RescueCentre, "RC430103", "430103").await;
    let city = key(Role::RescueCentre, "RC430100", "430102").await;
    let office = key(Role::DistrictOffice, "MCH430103", "430103").await;
    let other_office = key(Role::DistrictOffice, "MCH430104", "430104").await;
    let city_office = key(Role::CityOffice, "MCH430100", "430100").await;

    let form = json!({
        "request_id": uuid::Uuid::from_u128(9),
        "case_id": "case-h",
        "residence_district": "430103",
        "identity": { "name": "测试孕妇", "age": 31, "phone": "13800000000" },
        "clinical": { "complaint": "bleeding", "diagnosis": "postpartum haemorrhage",
                      "systolic_mmhg": 82, "diastolic_mmhg": 50, "pulse_per_min": 128,
                      "respiration_per_min": 24, "fetal_heart_rate_bpm": null,
                      "blood_loss_ml": 1600, "hours_in_labour": 9.5 },
        "reason": "needs transfusion and surgery",
        "referring_doctor": "dr-1",
        "escort": "midwife-7",
        "transport": "ambulance"
    });

    // Field errors, with pointers.
    let mut bad = form.clone();
    bad["residence_district"] = json!("999999");
    bad["identity"]["name"] = json!(" ");
    bad["clinical"]["blood_loss_ml"] = json!(50_000);
    bad["clinical"]["diastolic_mmhg"] = json!(90);
    bad["target_centre"] = json!("H430103-01");
    let (status, ct, problem) = call(&app, "POST", "/v1/green-channel", &hospital, Some(bad)).await;
    assert_eq!(
        (status, ct.as_str()),
        (StatusCode::BAD_REQUEST, "application/problem+json")
    );
    assert_eq!(
        pointers(&problem),
        [
            "/residence_district",
            "/target_centre",
            "/identity/name",
            "/clinical/blood_loss_ml",
            "/clinical/diastolic_mmhg"
        ]
    );
    let mut unknown = form.clone();
    unknown["colour"] = json!("red");
    assert_eq!(
        call(&app, "POST", "/v1/green-channel", &hospital, Some(unknown))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(
            &app,
            "POST",
            "/v1/green-channel",
            &county,
            Some(form.clone())
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    // Opened at 09:00:30 (China time).
    w.advance(Duration::seconds(30));
    let (status, _, opened) = call(
        &app,
        "POST",
        "/v1/green-channel",
        &hospital,
        Some(form.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    assert_eq!(opened["target"], "RC430103");
    assert_eq!(opened["rung"], 1);
    assert_eq!(opened["status"], "awaiting_acceptance");
    assert_eq!(opened["acceptance_due_at"], "2026-04-01T01:15:30Z");
    let id = opened["referral_id"].as_str().unwrap().to_owned();
    // The same request again: the same referral, nothing new.
    let (status, _, again) = call(
        &app,
        "POST",
        "/v1/green-channel",
        &hospital,
        Some(form.clone()),
    )
    .await;
    assert_eq!(
        (status, again["referral_id"].as_str()),
        (StatusCode::CREATED, Some(id.as_str()))
    );
    assert_eq!(w.of_type("GreenChannelOpened").await.len(), 1);

    // A second referral the county centre has not answered, opened 3 minutes later.
    w.advance(Duration::minutes(3));
    let mut second = form.clone();
    second["request_id"] = json!(uuid::Uuid::from_u128(10));
    second["case_id"] = json!("case-i");
    assert_eq!(
        call(&app, "POST", "/v1/green-channel", &hospital, Some(second))
            .await
            .0,
        StatusCode::CREATED
    );

    // The county centre accepts the first one at 09:07:50; the city centre may not.
    w.advance(Duration::seconds(4 * 60 + 20));
    let accept = json!({ "receiving_doctor": "dr-zhou" });
    let (status, _, p) = call(
        &app,
        "POST",
        &format!("/v1/referrals/{id}/accept"),
        &city,
        Some(accept.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    let (status, _, p) = call(
        &app,
        "POST",
        &format!("/v1/referrals/{id}/accept"),
        &county,
        Some(json!({ "receiving_doctor": "" })),
    )
    .await;
    assert_eq!(
        (status, pointers(&p)),
        (
            StatusCode::BAD_REQUEST,
            vec!["/receiving_doctor".to_owned()]
        )
    );
    let (status, _, accepted) = call(
        &app,
        "POST",
        &format!("/v1/referrals/{id}/accept"),
        &county,
        Some(accept.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["accepted_by"], "RC430103");

    // The county board: the waiting request first, with minutes since opening.
    w.advance(Duration::minutes(1));
    let (status, _, board) =
        call(&app, "GET", "/v1/referrals?centre=RC430103", &county, None).await;
    assert_eq!(status, StatusCode::OK);
    let rows = board["referrals"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["case_id"], "case-i");
    assert_eq!(rows[0]["status"], "awaiting_acceptance");
    assert_eq!(rows[0]["minutes_since_opening"], 5);
    assert_eq!(rows[0]["minutes_to_acceptance_deadline"], 9);
    assert_eq!(rows[1]["case_id"], "case-h");
    assert_eq!(rows[1]["status"], "accepted");
    assert_eq!(rows[1]["minutes_since_opening"], 8);
    assert!(
        rows.iter().all(|r| r.get("form").is_none()),
        "no identity on the board"
    );
    assert_eq!(
        call(&app, "GET", "/v1/referrals?centre=RC430103", &city, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (_, _, b) = call(
        &app,
        "GET",
        "/v1/referrals?status=awaiting_acceptance",
        &county,
        None,
    )
    .await;
    assert_eq!(b["referrals"].as_array().unwrap().len(), 1);
    let (status, _, p) = call(&app, "GET", "/v1/referrals?status=bogus", &county, None).await;
    assert_eq!(
        (status, pointers(&p)),
        (StatusCode::BAD_REQUEST, vec!["/status".to_owned()])
    );

    // Departure, recorded to the minute: 09:10:40 → 09:10.
    w.advance(Duration::minutes(2));
    let (status, _, p) = call(&app, "POST", &format!("/v1/referrals/{id}/depart"), &hospital,
        Some(json!({ "departed_at": "2026-04-01T09:10:40+08:00", "escort": "midwife-7", "treatment_en_route": "oxytocin" }))).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["departed_at"], "2026-04-01T09:10:00+08:00");
    let (status, _, p) = call(
        &app,
        "POST",
        &format!("/v1/referrals/{id}/depart"),
        &hospital,
        Some(json!({ "departed_at": "2026-04-01T11:00:00+08:00", "escort": "" })),
    )
    .await;
    assert_eq!(
        (status, pointers(&p)),
        (
            StatusCode::BAD_REQUEST,
            vec!["/escort".to_owned(), "/departed_at".to_owned()]
        )
    );

    // Arrival: before the departure is refused; 09:38:15 → 09:38.
    w.advance(Duration::minutes(30));
    let (status, _, p) = call(
        &app,
        "POST",
        &format!("/v1/referrals/{id}/arrive"),
        &county,
        Some(json!({ "arrived_at": "2026-04-01T09:05:00+08:00", "received_by": "dr-zhou" })),
    )
    .await;
    assert_eq!(
        (status, pointers(&p)),
        (StatusCode::BAD_REQUEST, vec!["/arrived_at".to_owned()])
    );
    assert_eq!(
        call(
            &app,
            "POST",
            &format!("/v1/referrals/{id}/arrive"),
            &city,
            Some(json!({ "received_by": "dr-x" }))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (status, _, p) = call(
        &app,
        "POST",
        &format!("/v1/referrals/{id}/arrive"),
        &county,
        Some(json!({ "arrived_at": "2026-04-01T09:38:15+08:00", "received_by": "dr-zhou" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["arrived_at"], "2026-04-01T09:38:00+08:00");

    // Near miss: unknown criteria are pointed at; known ones flag the case for review.
    let (status, _, p) = call(
        &app,
        "POST",
        &format!("/v1/referrals/{id}/near-miss"),
        &county,
        Some(json!({ "criteria": ["CV-SHOCK", "NOT-A-CRITERION"] })),
    )
    .await;
    assert_eq!(
        (status, pointers(&p)),
        (StatusCode::BAD_REQUEST, vec!["/criteria/1".to_owned()])
    );
    let (status, _, p) = call(
        &app,
        "POST",
        &format!("/v1/referrals/{id}/near-miss"),
        &county,
        Some(json!({ "criteria": ["HAEM-MASSIVE-TRANSFUSION", "CV-SHOCK"] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["review_flagged"], true);

    // Feedback: bad outcome is a malformed body; then filed, closing the channel.
    let (status, _, _) = call(&app, "POST", &format!("/v1/referrals/{id}/feedback"), &county,
        Some(json!({ "diagnosis": "PPH", "treatment": "B-Lynch", "outcome": "fine", "timeliness": "timely" }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    w.advance(Duration::hours(2));
    let fb = json!({ "diagnosis": "PPH, uterine atony", "treatment": "transfusion 6 u, B-Lynch suture",
                     "outcome": "rescued", "timeliness": "timely", "note": "well escorted" });
    let (status, _, closed) = call(
        &app,
        "POST",
        &format!("/v1/referrals/{id}/feedback"),
        &county,
        Some(fb.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["outcome"], "rescued");
    assert_eq!(
        call(
            &app,
            "POST",
            &format!("/v1/referrals/{id}/feedback"),
            &county,
            Some(fb)
        )
        .await
        .0,
        StatusCode::OK,
        "the same form again is harmless"
    );

    // The stored events: every minute-level time, in order.
    let ty = |t: &'static str| {
        let w = &w;
        async move { w.of_type(t).await }
    };
    let dep = ty("PatientDeparted").await;
    let arr = ty("PatientArrived").await;
    let acc = ty("ReferralAccepted").await;
    assert_eq!(dep.len(), 1);
    assert_eq!(dep[0].payload["departed_at"], "2026-04-01T09:10:00+08:00");
    assert_eq!(dep[0].payload["escort"], "midwife-7");
    assert_eq!(dep[0].payload["transport"], "ambulance");
    assert_eq!(arr[0].payload["arrived_at"], "2026-04-01T09:38:00+08:00");
    assert_eq!(arr[0].payload["escort"], "midwife-7");
    assert_eq!(acc[0].payload["at"], "2026-04-01T01:07:50Z");
    assert_eq!(acc[0].payload["minutes_from_opening"], 7);
    assert_eq!(
        acc[0].metadata.institution.as_ref().unwrap().as_str(),
        "RC430103"
    );
    assert!(acc[0]
        .metadata
        .actor
        .as_deref()
        .unwrap()
        .starts_with("key:key-"));
    let filed = ty("ReferralFeedbackFiled").await;
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].payload["timeliness"], "timely");
    assert_eq!(filed[0].payload["sending_institution"], "H430103-01");
    assert_eq!(ty("GreenChannelClosed").await.len(), 1);
    assert_eq!(
        ty("NearMissRecorded").await[0].payload["catalogue"],
        "who-2011@1"
    );
    let stream: Vec<String> = w
        .store
        .read_stream(
            &escalation::Escalation::<eventstore::Store>::stream(id.parse().unwrap()),
            1,
            100,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        stream,
        [
            "GreenChannelOpened",
            "ReferralAccepted",
            "PatientDeparted",
            "PatientArrived",
            "NearMissRecorded",
            "ReferralFeedbackFiled",
            "GreenChannelClosed"
        ]
    );

    // The sender sees the feedback on its board; the offices see their districts only.
    let (_, _, b) = call(&app, "GET", "/v1/referrals?status=closed", &hospital, None).await;
    assert_eq!(b["referrals"][0]["outcome"], "rescued");
    assert_eq!(b["referrals"][0]["timeliness"], "timely");
    let (_, _, b) = call(&app, "GET", "/v1/referrals?status=all", &office, None).await;
    assert_eq!(b["referrals"].as_array().unwrap().len(), 2);
    assert_eq!(
        b["referrals"][0]["case_id"], "case-i",
        "open requests first"
    );
    let (_, _, b) = call(&app, "GET", "/v1/referrals?status=all", &city_office, None).await;
    assert_eq!(b["referrals"].as_array().unwrap().len(), 2);
    let (_, _, b) = call(&app, "GET", "/v1/referrals?status=all", &other_office, None).await;
    assert!(b["referrals"].as_array().unwrap().is_empty());
    assert_eq!(
        call(
            &app,
            "GET",
            "/v1/referrals?district=430103",
            &other_office,
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    // The whole referral, forms included, for its parties only.
    let (status, _, full) =
        call(&app, "GET", &format!("/v1/referrals/{id}"), &hospital, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(full["form"]["identity"]["name"], "测试孕妇");
    assert_eq!(full["feedback"]["outcome"], "rescued");
    assert_eq!(
        call(
            &app,
            "GET",
            &format!("/v1/referrals/{id}"),
            &other_office,
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, "GET", "/v1/referrals", "hrp_nonsense", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_on_and_already_accepted_over_http() {
    let w = sqlite().await;
    let svc = service(&w.store);
    let app = router(EscalationState {
        escalation: svc.clone(),
        clock: Arc::new(w.clock.clone()),
    });
    let issue = |role, inst: &str, d: &str| {
        let store = w.store.clone();
        let (inst, d) = (code(inst), DistrictCode::parse(d).unwrap());
        async move { edge::issue_key(&store, role, inst, d).await.unwrap().1 }
    };
    let county = issue(Role::RescueCentre, "RC430103", "430103").await;
    let city = issue(Role::RescueCentre, "RC430100", "430102").await;
    let province = issue(Role::RescueCentre, "RC430000", "430104").await;
    let s = svc.open(request(5, None), "key:h").await.unwrap();
    let id = s.opened.unwrap().referral_id;

    let (status, _, p) = call(
        &app,
        "POST",
        &format!("/v1/referrals/{id}/hand-on"),
        &county,
        Some(json!({ "reason": "" })),
    )
    .await;
    assert_eq!(
        (status, pointers(&p)),
        (StatusCode::BAD_REQUEST, vec!["/reason".to_owned()])
    );
    let (status, _, p) = call(
        &app,
        "POST",
        &format!("/v1/referrals/{id}/hand-on"),
        &county,
        Some(json!({ "reason": "no ICU bed" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(
        (p["target"].as_str(), p["rung"].as_i64()),
        (Some("RC430100"), Some(2))
    );
    assert_eq!(p["escalation_history"][0]["reason"], "handed_on");
    // The centre that handed on may not accept; the city centre does; then the province is
    // told it was already accepted.
    assert_eq!(
        call(
            &app,
            "POST",
            &format!("/v1/referrals/{id}/accept"),
            &county,
            Some(json!({ "receiving_doctor": "dr" }))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            &app,
            "POST",
            &format!("/v1/referrals/{id}/accept"),
            &city,
            Some(json!({ "receiving_doctor": "dr-c" }))
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, _, p) = call(
        &app,
        "POST",
        &format!("/v1/referrals/{id}/accept"),
        &province,
        Some(json!({ "receiving_doctor": "dr-p" })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("already accepted"),
        "{p}"
    );
    assert_eq!(
        call(
            &app,
            "POST",
            "/v1/referrals/00000000-0000-0000-0000-000000000000/accept",
            &city,
            Some(json!({ "receiving_doctor": "dr" }))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}
