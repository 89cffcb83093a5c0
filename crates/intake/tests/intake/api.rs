//! The HTTP API through `tower::ServiceExt::oneshot` on real stores: acceptance and
//! idempotency, authentication and authorization, every-field problems, batches, outcomes
//! closing cases, case-view scoping and CSV import.

use crate::helpers::*;
use axum::http::StatusCode;
use edge::Role;
use eventstore::EventStore;
use serde_json::{json, Value};

const H1: &str = "H430102-01";
const H2: &str = "H430103-01";

async fn accept_resubmit_and_conflict(app: &App) {
    let key = app.key(Role::Hospital, H1).await;
    let id = her_id(1);
    let (s, first) = app
        .call(
            "POST",
            "/v1/risk-cards",
            Some(&key),
            Some(card("c-1", H1, &id)),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{first}");
    assert!(first["case_id"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(first["warnings"], json!([]));
    // The card, the case-opened link: two events, the card once.
    assert_eq!(app.events().await, 2);
    let stream = contracts::StreamId::parse(format!("card-{H1}-c-1")).unwrap();
    let stored = app.state.store.read_stream(&stream, 1, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].event_id.to_string(),
        first["event_id"].as_str().unwrap()
    );
    assert_eq!(
        stored[0].metadata.district.as_ref().unwrap().as_str(),
        "430102"
    );

    // Same card again (later): same answer, nothing stored.
    app.clock.advance(time::Duration::minutes(3));
    let (s, again) = app
        .call(
            "POST",
            "/v1/risk-cards",
            Some(&key),
            Some(card("c-1", H1, &id)),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(again, first);
    assert_eq!(app.events().await, 2);

    // Same card id, other content: 409 with both hashes, nothing stored.
    let mut changed = card("c-1", H1, &id);
    changed["assessor"] = json!("dr-018");
    let (s, p) = app
        .call("POST", "/v1/risk-cards", Some(&key), Some(changed))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    let extra = &p["extra"];
    assert_ne!(
        extra["stored_content_sha256"],
        extra["submitted_content_sha256"]
    );
    assert_eq!(app.events().await, 2);

    // A second card for her from another hospital joins the case.
    let key2 = app.key(Role::Hospital, H2).await;
    let (s, second) = app
        .call(
            "POST",
            "/v1/risk-cards",
            Some(&key2),
            Some(card("x-9", H2, &id)),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{second}");
    assert_eq!(second["case_id"], first["case_id"]);
}

#[tokio::test]
async fn a_card_is_accepted_once_on_sqlite() {
    accept_resubmit_and_conflict(&sqlite_app().await).await;
}

#[tokio::test]
async fn a_card_is_accepted_once_on_postgres() {
    accept_resubmit_and_conflict(&postgres_app().await).await;
}

#[tokio::test]
async fn keys_are_required_and_institutions_must_match() {
    let app = sqlite_app().await;
    let body = card("c-1", H1, &her_id(2));
    let (s, p) = app
        .call("POST", "/v1/risk-cards", None, Some(body.clone()))
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (s, _) = app
        .call(
            "POST",
            "/v1/risk-cards",
            Some("hrp_0000"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let other = app.key(Role::Hospital, H2).await;
    let (s, p) = app
        .call("POST", "/v1/risk-cards", Some(&other), Some(body.clone()))
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let office = app.key(Role::DistrictOffice, "MCH430102").await;
    let (s, _) = app
        .call("POST", "/v1/risk-cards", Some(&office), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A revoked key no longer works.
    let key = app.key(Role::Hospital, H1).await;
    let keys = edge::list_keys(&app.state.store, 100).await.unwrap();
    let id = keys
        .iter()
        .find(|k| k.principal.institution.as_str() == H1)
        .map(|k| k.principal.key_id.clone())
        .unwrap();
    assert!(edge::revoke_key(&app.state.store, &id).await.unwrap());
    let (s, _) = app
        .call("POST", "/v1/risk-cards", Some(&key), Some(body))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(app.events().await, 0, "nothing refused is stored");
}

#[tokio::test]
async fn bad_fields_are_all_listed_and_nothing_is_stored() {
    let app = sqlite_app().await;
    let key = app.key(Role::Hospital, H1).await;
    let mut body = card("c 1", H1, "430102199405140021");
    body["assessed_at"] = json!("2026-03-11T09:30:00+08:00");
    body["woman"]["phone"] = json!("12345");
    body["woman"]["residence_district"] = json!("430199");
    body["pregnancy"]["gestational_weeks"] = json!(46);
    body["measurements"]["height_cm"] = json!(400.0);
    body["findings"] = json!(["O-CV-NYHA2", "O-CV-NYHA9"]);
    let (s, p) = app
        .call("POST", "/v1/risk-cards", Some(&key), Some(body))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
    assert_eq!(p["code"], "invalid-request");
    assert_eq!(
        pointers(&p),
        [
            "/card_id",
            "/assessed_at",
            "/woman/id_number",
            "/woman/phone",
            "/woman/residence_district",
            "/pregnancy/gestational_weeks",
            "/findings/1",
            "/measurements/height_cm",
        ]
    );
    // An unknown field is named; a body over 64 KiB is a 413.
    let mut extra = card("c-2", H1, &her_id(3));
    extra["woman"]["nickname"] = json!("x");
    let (s, p) = app
        .call("POST", "/v1/risk-cards", Some(&key), Some(extra))
        .await;
    assert_eq!(
        (s, pointers(&p)),
        (StatusCode::BAD_REQUEST, vec!["/woman/nickname".to_owned()])
    );
    let mut big = card("c-3", H1, &her_id(3));
    big["note"] = json!("x".repeat(70 * 1024));
    let (s, p) = app
        .call("POST", "/v1/risk-cards", Some(&key), Some(big))
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload-too-large"))
    );
    let (s, _) = app
        .raw(
            "POST",
            "/v1/risk-cards",
            Some(&key),
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(app.events().await, 0);
}

#[tokio::test]
async fn an_odd_sequence_digit_is_a_warning() {
    let app = sqlite_app().await;
    let key = app.key(Role::Hospital, H1).await;
    let id = resident_id("43010219940514001");
    let (s, a) = app
        .call(
            "POST",
            "/v1/risk-cards",
            Some(&key),
            Some(card("c-1", H1, &id)),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{a}");
    assert_eq!(a["warnings"][0]["code"], "odd_sequence_digit");
    assert_eq!(a["warnings"][0]["pointer"], "/woman/id_number");
}

#[tokio::test]
async fn a_batch_answers_per_card() {
    let app = sqlite_app().await;
    let key = app.key(Role::Hospital, H1).await;
    let mut bad = card("b-2", H1, &her_id(5));
    bad["woman"]["birth_date"] = json!("1994-13-40");
    let mut unknown = card("b-4", H1, &her_id(6));
    unknown["colour"] = json!("red");
    let batch = json!({ "cards": [
        card("b-1", H1, &her_id(4)),
        bad,
        card("b-3", H2, &her_id(5)),
        unknown,
        card("b-1", H1, &her_id(4)),
    ]});
    let (s, r) = app
        .call("POST", "/v1/risk-cards:batch", Some(&key), Some(batch))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let statuses: Vec<u64> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [202, 400, 403, 400, 202]);
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(pointers(&r["results"][1]["problem"]), ["/woman/birth_date"]);
    assert_eq!(pointers(&r["results"][3]["problem"]), ["/colour"]);
    assert_eq!(r["results"][4]["accepted"], r["results"][0]["accepted"]);
    assert_eq!(app.events().await, 2);
    let too_many = json!({ "cards": vec![Value::Null; 1001] });
    let (s, p) = app
        .call("POST", "/v1/risk-cards:batch", Some(&key), Some(too_many))
        .await;
    assert_eq!(
        (s, pointers(&p)),
        (StatusCode::BAD_REQUEST, vec!["/cards".to_owned()])
    );
}

#[tokio::test]
async fn an_outcome_closes_the_case_and_the_next_card_opens_another() {
    let app = sqlite_app().await;
    let key = app.key(Role::Hospital, H1).await;
    let id = her_id(7);
    let (_, first) = app
        .call(
            "POST",
            "/v1/risk-cards",
            Some(&key),
            Some(card("c-1", H1, &id)),
        )
        .await;
    let case = first["case_id"].as_str().unwrap().to_owned();
    let outcome = json!({
        "report_id": "o-1",
        "institution_code": H1,
        "case_id": case,
        "outcome": "delivery",
        "occurred_at": "2026-03-10T08:00:00+08:00",
        "place": H1,
        "in_hospital": true
    });
    let (s, o) = app
        .call(
            "POST",
            "/v1/pregnancy-outcomes",
            Some(&key),
            Some(outcome.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{o}");
    let before = app.events().await;
    let (s, again) = app
        .call(
            "POST",
            "/v1/pregnancy-outcomes",
            Some(&key),
            Some(outcome.clone()),
        )
        .await;
    assert_eq!((s, &again), (StatusCode::ACCEPTED, &o));
    assert_eq!(app.events().await, before);
    let mut second = outcome.clone();
    second["report_id"] = json!("o-2");
    let (s, _) = app
        .call("POST", "/v1/pregnancy-outcomes", Some(&key), Some(second))
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a closed case takes no second outcome"
    );
    let mut nowhere = outcome;
    nowhere["report_id"] = json!("o-3");
    nowhere["case_id"] = json!("no-such-case");
    let (s, _) = app
        .call("POST", "/v1/pregnancy-outcomes", Some(&key), Some(nowhere))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (_, view) = app
        .call("GET", &format!("/v1/cases/{case}"), Some(&key), None)
        .await;
    assert_eq!(view["status"], "closed");
    assert_eq!(view["outcome"]["outcome"], "delivery");

    let (s, next) = app
        .call(
            "POST",
            "/v1/risk-cards",
            Some(&key),
            Some(card("c-2", H1, &id)),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_ne!(next["case_id"].as_str(), Some(case.as_str()));
}

#[tokio::test]
async fn the_case_view_is_scoped() {
    let app = sqlite_app().await;
    let key = app.key(Role::Hospital, H1).await;
    let (_, a) = app
        .call(
            "POST",
            "/v1/risk-cards",
            Some(&key),
            Some(card("c-1", H1, &her_id(8))),
        )
        .await;
    let path = format!("/v1/cases/{}", a["case_id"].as_str().unwrap());
    let expect = [
        (Role::Hospital, H1, StatusCode::OK),
        (Role::Hospital, H2, StatusCode::NOT_FOUND),
        (Role::DistrictOffice, "MCH430102", StatusCode::OK),
        (Role::DistrictOffice, "MCH430103", StatusCode::NOT_FOUND),
        (Role::CityOffice, "MCH430100", StatusCode::OK),
        (Role::RescueCentre, "RC430100", StatusCode::NOT_FOUND),
        (Role::Reviewer, "MCH430100", StatusCode::NOT_FOUND),
        (Role::Admin, "MCH430100", StatusCode::NOT_FOUND),
    ];
    for (role, institution, status) in expect {
        let k = app.key(role, institution).await;
        let (s, v) = app.call("GET", &path, Some(&k), None).await;
        assert_eq!(s, status, "{role:?} at {institution}: {v}");
        if s == StatusCode::OK {
            assert_eq!(v["cards"][0]["card_id"], "c-1");
            let text = v.to_string();
            assert!(
                !text.contains("张某某") && !text.contains(&her_id(8)),
                "no personal data: {text}"
            );
        }
    }
    let (s, _) = app.call("GET", "/v1/cases/nope", Some(&key), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.call("GET", &path, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_case_view_shows_the_latest_assessment() {
    let app = sqlite_app().await;
    let key = app.key(Role::Hospital, H1).await;
    let (_, a) = app
        .call(
            "POST",
            "/v1/risk-cards",
            Some(&key),
            Some(card("c-1", H1, &her_id(9))),
        )
        .await;
    let case = contracts::CaseId::parse(a["case_id"].as_str().unwrap()).unwrap();
    // What scoring appends, as JSON (intake reads it without depending on its type).
    let assessed = contracts::NewEvent {
        event_id: uuid::Uuid::new_v4(),
        stream_id: contracts::StreamId::parse(format!("assessment-{case}")).unwrap(),
        case_id: Some(case.clone()),
        event_type: "RiskAssessed".into(),
        schema_version: 1,
        payload: json!({ "assessed_at": "2026-03-09T09:30:00+08:00", "assessment": { "colour": "orange", "score": 10, "high_risk": true, "policy": "x" } }),
        metadata: contracts::Metadata::system("scoring"),
        occurred_at: now(),
    };
    app.state
        .store
        .commit(eventstore::Commit::append(
            assessed.stream_id.clone(),
            eventstore::ExpectedVersion::Any,
            vec![assessed],
        ))
        .await
        .unwrap();
    let (s, v) = app
        .call("GET", &format!("/v1/cases/{case}"), Some(&key), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["assessment"]["colour"], "orange");
    assert_eq!(v["assessment"]["high_risk"], true);
    assert!(v["assessment"].get("policy").is_none());
}

#[tokio::test]
async fn a_csv_import_reports_bad_rows_and_reimports_nothing() {
    let app = sqlite_app().await;
    let key = app.key(Role::Hospital, H1).await;
    let header = "card_id,institution_code,assessed_at,assessor,id_type,id_number,name,birth_date,phone,residence_district,lmp,gestational_weeks,findings,critical\n";
    let csv = format!(
        "\u{feff}{header}\
         r-1,{H1},2026-03-09T09:30:00+08:00,dr-1,resident_id,{},王某,1994-05-14,13812345678,430102,2025-12-01,14,O-CV-NYHA2;Y-BAS-AGE35,否\n\
         r-2,{H1},2026-03-09T09:30:00+08:00,dr-1,resident_id,{},李某,1994-05-14,13812345678,430102,2025-12-01,fourteen,,\n\
         r-3,{H1},2026-03-09T09:30:00+08:00,dr-1,passport,E12345678,Maria,1990-02-01,,430103,2025-12-01,14,,yes\n",
        her_id(10),
        her_id(11)
    );
    let (s, r) = app
        .raw(
            "POST",
            "/v1/risk-cards:import",
            Some(&key),
            "text/csv; charset=utf-8",
            csv.clone().into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let rows: Vec<(u64, u64)> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["row"].as_u64().unwrap(), i["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(rows, [(2, 202), (3, 400), (4, 202)]);
    assert_eq!(
        pointers(&r["results"][1]["problem"]),
        ["/pregnancy/gestational_weeks"]
    );
    let stored = app.events().await;
    assert_eq!(stored, 4);
    let (_, again) = app
        .raw(
            "POST",
            "/v1/risk-cards:import",
            Some(&key),
            "text/csv",
            csv.into_bytes(),
        )
        .await;
    assert_eq!(again["results"][0]["accepted"], r["results"][0]["accepted"]);
    assert_eq!(app.events().await, stored, "a re-import stores nothing");
    let (s, _) = app
        .raw(
            "POST",
            "/v1/risk-cards:import",
            Some(&key),
            "application/json",
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, p) = app
        .raw(
            "POST",
            "/v1/risk-cards:import",
            Some(&key),
            "text/csv",
            b"card_id,colour\n".to_vec(),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed-body"))
    );
}

#[tokio::test]
async fn only_reporters_post_and_only_for_themselves() {
    let app = sqlite_app().await;
    // (role, key's institution, card's institution, expected)
    let matrix = [
        (Role::Hospital, H1, H1, StatusCode::ACCEPTED),
        (Role::Hospital, H2, H1, StatusCode::FORBIDDEN),
        (
            Role::RescueCentre,
            "RC430100",
            "RC430100",
            StatusCode::ACCEPTED,
        ),
        (Role::RescueCentre, "RC430100", H1, StatusCode::FORBIDDEN),
        (
            Role::DistrictOffice,
            "MCH430102",
            "MCH430102",
            StatusCode::FORBIDDEN,
        ),
        (
            Role::CityOffice,
            "MCH430100",
            "MCH430100",
            StatusCode::FORBIDDEN,
        ),
        (
            Role::Reviewer,
            "MCH430100",
            "MCH430100",
            StatusCode::FORBIDDEN,
        ),
        (Role::Admin, "MCH430100", "MCH430100", StatusCode::FORBIDDEN),
    ];
    for (n, (role, own, institution, expected)) in matrix.into_iter().enumerate() {
        let key = app.key(role, own).await;
        let body = card(&format!("m-{n}"), institution, &her_id(20 + n as u32));
        let (s, p) = app
            .call("POST", "/v1/risk-cards", Some(&key), Some(body.clone()))
            .await;
        assert_eq!(
            s, expected,
            "card: {role:?} at {own} for {institution}: {p}"
        );
        let (s, _) = app
            .call(
                "POST",
                "/v1/risk-cards:batch",
                Some(&key),
                Some(json!({ "cards": [body] })),
            )
            .await;
        let batch_ok = expected == StatusCode::ACCEPTED
            || role == Role::Hospital
            || role == Role::RescueCentre;
        assert_eq!(s.is_success(), batch_ok, "batch: {role:?}");
        let outcome = json!({
            "report_id": format!("o-{n}"), "institution_code": institution, "case_id": "no-such-case",
            "outcome": "delivery", "occurred_at": "2026-03-10T08:00:00+08:00", "place": "home", "in_hospital": false
        });
        let (s, _) = app
            .call("POST", "/v1/pregnancy-outcomes", Some(&key), Some(outcome))
            .await;
        let expected_outcome = if expected == StatusCode::ACCEPTED {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(
            s, expected_outcome,
            "outcome: {role:?} at {own} for {institution}"
        );
    }
}

/// A large batch commits many cards per transaction; a second card for the same woman in the
/// batch joins her case; the whole batch again stores nothing and answers the same.
#[tokio::test]
async fn a_large_batch_groups_cards_and_stays_idempotent() {
    let app = sqlite_app().await;
    let key = app.key(Role::Hospital, H1).await;
    // `her_id` gives 100 distinct women.
    let mut cards: Vec<Value> = (0..100)
        .map(|i| card(&format!("g-{i}"), H1, &her_id(i)))
        .collect();
    cards.extend((0..30).map(|i| card(&format!("h-{i}"), H1, &her_id(i))));
    let batch = json!({ "cards": cards });
    let (s, first) = app
        .call(
            "POST",
            "/v1/risk-cards:batch",
            Some(&key),
            Some(batch.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(first["accepted"], 130, "{first}");
    let results = first["results"].as_array().unwrap();
    for i in 0..30 {
        assert_eq!(
            results[100 + i]["accepted"]["case_id"],
            results[i]["accepted"]["case_id"],
            "a second card for woman {i} joins her case"
        );
    }
    let distinct: std::collections::HashSet<_> = results
        .iter()
        .map(|r| r["accepted"]["case_id"].to_string())
        .collect();
    assert_eq!(distinct.len(), 100);
    let events = app.events().await;
    let (_, again) = app
        .call("POST", "/v1/risk-cards:batch", Some(&key), Some(batch))
        .await;
    assert_eq!(again["results"], first["results"]);
    assert_eq!(app.events().await, events, "nothing new stored");
}
