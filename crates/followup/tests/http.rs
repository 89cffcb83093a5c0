//! The follow-up endpoints in process (`oneshot`) on a real SQLite store: the worklist's
//! order, filters and scoping, CSV and a real XLSX read back with calamine, outcomes and
//! assignment.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use calamine::{Data, Reader, Xlsx};
use common::*;
use contracts::{Colour, InstitutionCode};
use edge::Role;
use followup::http::{router, FollowUpState, COLUMNS};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use time::macros::{date, datetime};
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, String, Vec<u8>) {
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
    let bytes = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, ct, bytes)
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

fn order(rows: &Value) -> Vec<(String, String)> {
    rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["case_id"].as_str().unwrap().to_owned(),
                r["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worklist_order_filters_exports_and_outcomes() {
    let mut w = sqlite(datetime!(2026-03-05 09:00 +08:00)).await;
    let recent = Some(date!(2025 - 12 - 01)); // 32 weeks in July: only calls in March
    let late = Some(date!(2025 - 07 - 01)); // past 32 weeks: the visit is due at once
    let t0 = w.now();
    open_case(
        &mut w,
        &case("y2"),
        "430103",
        grade(Colour::Yellow, false, 22),
        t0,
        late,
    )
    .await;
    w.clock.set(datetime!(2026-03-10 09:00 +08:00));
    let now = w.now();
    open_case(
        &mut w,
        &case("y1"),
        "430103",
        grade(Colour::Yellow, false, 21),
        now,
        late,
    )
    .await;
    open_case(
        &mut w,
        &case("a"),
        "430103",
        grade(Colour::Yellow, true, 5),
        now,
        recent,
    )
    .await;
    open_case(
        &mut w,
        &case("o"),
        "430103",
        grade(Colour::Orange, false, 10),
        now,
        recent,
    )
    .await;
    open_case(
        &mut w,
        &case("r"),
        "430103",
        grade(Colour::Red, false, 40),
        now,
        recent,
    )
    .await;
    open_case(
        &mut w,
        &case("x"),
        "430104",
        grade(Colour::Red, false, 40),
        now,
        recent,
    )
    .await;
    w.clock.set(datetime!(2026-03-20 10:00 +08:00));

    let app = router(FollowUpState {
        service: w.service.clone(),
        clock: Arc::new(w.clock.clone()),
    });
    let key = |role, inst: &str, d: &str| {
        let store = w.store.clone();
        let (inst, d) = (InstitutionCode::parse(inst).unwrap(), district(d));
        async move { edge::issue_key(&store, role, inst, d).await.unwrap().1 }
    };
    let office = key(Role::DistrictOffice, "MCH-430103", "430103").await;
    let other = key(Role::DistrictOffice, "MCH-430104", "430104").await;
    let city = key(Role::CityOffice, "MCH-430100", "430100").await;
    let hospital = key(Role::Hospital, "H-01", "430102").await;
    let url = "/v1/worklists/430103/2026-03";

    let (st, _, body) = call(&app, "GET", url, &office, None).await;
    assert_eq!(st, StatusCode::OK);
    let list = json_of(&body);
    let s = |c: &str, k: &str| (c.to_owned(), k.to_owned());
    assert_eq!(
        order(&list),
        vec![
            s("r", "phone_call"),
            s("o", "phone_call"),
            s("a", "phone_call"),
            s("y2", "face_to_face"), // the most overdue first
            s("y1", "face_to_face"),
            s("y1", "phone_call"),
            s("y2", "phone_call"),
        ]
    );
    let r = &list["rows"][0];
    assert_eq!(r["name"], "Woman r");
    assert!(r["phone"].as_str().unwrap().starts_with("138"));
    assert_eq!(r["colour"], "red");
    assert_eq!(r["purple"], false);
    assert_eq!(r["score"], 40);
    assert_eq!(r["gestational_age"], "15+4"); // 2025-12-01 → 2026-03-20
    assert_eq!(r["due_date"], "2026-03-31");
    assert_eq!(r["overdue"], false);
    assert_eq!(r["attempts"], 0);
    assert_eq!(list["rows"][3]["overdue"], true);
    assert_eq!(list["rows"][2]["purple"], true);
    assert!(list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["case_id"] != "x"));

    assert_eq!(list["truncated"], false);
    assert_eq!(list["next"], Value::Null);
    assert_eq!(list["limit"], 500);

    // Paging: three pages of at most 3 rows, joined, are the whole list.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    for page in 0..3 {
        let uri = match &after {
            Some(a) => format!("{url}?limit=3&after={a}"),
            None => format!("{url}?limit=3"),
        };
        let (st, _, b) = call(&app, "GET", &uri, &office, None).await;
        assert_eq!(st, StatusCode::OK);
        let p = json_of(&b);
        paged.extend(order(&p));
        assert_eq!(p["truncated"], page < 2);
        after = p["next"].as_str().map(str::to_owned);
    }
    assert_eq!(after, None);
    assert_eq!(paged, order(&list));
    assert_eq!(
        call(&app, "GET", &format!("{url}?limit=0"), &office, None)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    // Scoping.
    assert_eq!(
        call(&app, "GET", url, &other, None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "GET", url, &hospital, None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(call(&app, "GET", url, &city, None).await.0, StatusCode::OK);
    assert_eq!(
        call(&app, "GET", "/v1/worklists/430103/2026-13", &office, None)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    // Filters.
    let get = |q: &str| {
        let app = app.clone();
        let office = office.clone();
        let uri = format!("{url}?{q}");
        async move { json_of(&call(&app, "GET", &uri, &office, None).await.2) }
    };
    assert_eq!(order(&get("colour=red").await), vec![s("r", "phone_call")]);
    assert_eq!(
        order(&get("colour=purple").await),
        vec![s("a", "phone_call")]
    );
    assert_eq!(
        order(&get("colour=red,orange").await),
        vec![s("r", "phone_call"), s("o", "phone_call")]
    );
    assert_eq!(
        order(&get("status=overdue").await),
        vec![s("y2", "face_to_face"), s("y1", "face_to_face")]
    );
    assert_eq!(
        order(&get("kind=face_to_face&colour=yellow").await).len(),
        2
    );
    // A colour filter pages by cursor like the whole list: one row a page, same rows.
    let yellow = order(&get("colour=yellow,red").await);
    assert_eq!(
        yellow.len(),
        6,
        "r, a (purple and yellow), y1 and y2: {yellow:?}"
    );
    assert_eq!(yellow[1], s("a", "phone_call"));
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("colour=yellow,red&limit=1&after={a}"),
            None => "colour=yellow,red&limit=1".to_owned(),
        };
        let p = get(&q).await;
        paged.extend(order(&p));
        after = p["next"].as_str().map(str::to_owned);
        if after.is_none() {
            break;
        }
    }
    assert_eq!(paged, yellow);
    assert_eq!(
        call(&app, "GET", &format!("{url}?colour=blue"), &office, None)
            .await
            .0,
        StatusCode::BAD_REQUEST,
        "an unknown colour is an error, not an empty list"
    );

    // Assign r's call, record o's call as reached with a danger sign.
    let item_of = |c: &str| {
        list["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["case_id"] == c && r["kind"] == "phone_call")
            .unwrap()["item_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (st, _, b) = call(
        &app,
        "POST",
        &format!("/v1/follow-ups/{}/assign", item_of("r")),
        &office,
        Some(json!({"request_id": uuid::Uuid::new_v4(), "assignee": "nurse-7"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert_eq!(
        order(&get("assignee=nurse-7").await),
        vec![s("r", "phone_call")]
    );
    let rid = uuid::Uuid::new_v4();
    let body = json!({"request_id": rid, "outcome": "reached", "note": "well", "danger_signs": ["headache"]});
    let o_item = item_of("o");
    let (st, _, b) = call(
        &app,
        "POST",
        &format!("/v1/follow-ups/{o_item}/outcome"),
        &office,
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert_eq!(json_of(&b)["status"], "done");
    // The same request again is harmless; another district cannot see the item.
    let (st, _, _) = call(
        &app,
        "POST",
        &format!("/v1/follow-ups/{o_item}/outcome"),
        &office,
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, _) = call(
        &app,
        "POST",
        &format!("/v1/follow-ups/{o_item}/outcome"),
        &other,
        Some(body),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // A new report on a done item conflicts; moved away needs the new district.
    let again = json!({"request_id": uuid::Uuid::new_v4(), "outcome": "not_reached"});
    assert_eq!(
        call(
            &app,
            "POST",
            &format!("/v1/follow-ups/{o_item}/outcome"),
            &office,
            Some(again)
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let moved = json!({"request_id": uuid::Uuid::new_v4(), "outcome": "moved_away"});
    assert_eq!(
        call(
            &app,
            "POST",
            &format!("/v1/follow-ups/{}/outcome", item_of("r")),
            &office,
            Some(moved)
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(w.of_type("FollowUpAttempted").await.len(), 1);
    assert_eq!(w.of_type("ReassessmentRequested").await.len(), 1);
    let done = get("status=done").await;
    assert_eq!(order(&done), vec![s("o", "phone_call")]);
    assert_eq!(done["rows"][0]["last_contact_outcome"], "reached");
    assert_eq!(done["rows"][0]["attempts"], 1);

    // CSV.
    let (st, ct, csv) = call(&app, "GET", &format!("{url}?format=csv"), &office, None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(ct.starts_with("text/csv"));
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], COLUMNS.join(","));
    assert_eq!(lines.len(), 8);
    assert!(lines[1].starts_with("r,Woman r,138"));
    assert!(lines[2].contains(",reached,"));

    // XLSX, opened by a spreadsheet library.
    let (st, ct, bytes) = call(
        &app,
        "GET",
        &format!("{url}?format=xlsx&colour=red,orange"),
        &office,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(ct.contains("spreadsheetml"));
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let sheet = book.worksheet_range("worklist").unwrap();
    let rows: Vec<Vec<Data>> = sheet.rows().map(<[Data]>::to_vec).collect();
    assert_eq!(rows.len(), 3);
    let header: Vec<String> = rows[0].iter().map(ToString::to_string).collect();
    assert_eq!(header, COLUMNS);
    let col = |n: &str| COLUMNS.iter().position(|c| *c == n).unwrap();
    assert_eq!(rows[1][col("case_id")], Data::String("r".into()));
    assert_eq!(rows[1][col("name")], Data::String("Woman r".into()));
    assert_eq!(rows[1][col("score")], Data::Float(40.0));
    assert_eq!(rows[1][col("assignee")], Data::String("nurse-7".into()));
    assert_eq!(rows[2][col("case_id")], Data::String("o".into()));
    assert_eq!(rows[2][col("result")], Data::String("reached".into()));
    assert_eq!(rows[2][col("overdue")], Data::Bool(false));
}
