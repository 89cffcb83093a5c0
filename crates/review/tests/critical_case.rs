//! The scripted critical case, through the real components (intake, scoring, warning,
//! follow-up, escalation, review) over one store: a woman graded red on a critical card, the
//! district alert and its acknowledgement, the green channel with one escalation, acceptance,
//! departure, arrival, feedback, near miss, a follow-up call and the reviewers' conclusion. Her
//! timeline and review pack are read through the router and every interval is asserted; the
//! printable page is rendered in headless Chromium; then a row is changed behind the store's
//! back and both the audit and the pack's recorded digest catch it.

mod common;

use common::*;
use contracts::{CaseId, InstitutionCode};
use edge::Role;
use escalation::core::{Departure, Feedback};
use escalation::events::{Outcome, Timeliness, Transport};
use eventstore::Store;
use followup::core::AttemptReport;
use followup::events::ContactOutcome;
use serde_json::{json, Value};
use time::macros::datetime;
use time::Duration;
use uuid::Uuid;

const NAME: &str = "王某某";
const PHONE: &str = "13800001111";

struct Script {
    case: CaseId,
    alert_id: Uuid,
    referral_id: Uuid,
}

/// Runs the script: 2026-04-01, UTC+8.
async fn script(w: &World) -> Script {
    let hospital = edge::Principal {
        key_id: "key-h".into(),
        role: Role::Hospital,
        institution: InstitutionCode::parse("H430103-01").unwrap(),
        district: contracts::DistrictCode::parse("430103").unwrap(),
    };
    let id_number = resident_id("43010319940514002");
    let card: intake::wire::RiskCardRequest = serde_json::from_value(json!({
        "card_id": "CRIT-1",
        "institution_code": "H430103-01",
        "assessed_at": "2026-04-01T08:30:00+08:00",
        "assessor": "dr-017",
        "woman": {
            "id_type": "resident_id", "id_number": id_number, "name": NAME,
            "birth_date": "1994-05-14", "phone": PHONE, "residence_district": "430103", "address": "西岭区某路1号"
        },
        "pregnancy": { "lmp": "2025-10-01", "gestational_weeks": 26, "gestational_days": 1, "gravida": 2, "para": 1, "fetuses": 1 },
        "measurements": { "height_cm": 160.0, "weight_kg": 60.0 },
        "findings": ["R-CV-PAH"],
        "declared_colour": "red",
        "critical": true,
        "note": null
    }))
    .unwrap();
    // 09:00 the card arrives (assessed 08:30).
    let accepted = intake::service::submit_card(&w.intake, &hospital, &card)
        .await
        .unwrap();
    let case = CaseId::parse(accepted.case_id.clone()).unwrap();
    w.pump().await;
    let alert = w.of_type("DistrictAlertRaised").await;
    let alert_id: Uuid = serde_json::from_value(alert[0].payload["alert_id"].clone()).unwrap();
    let opened = w.of_type("GreenChannelOpened").await;
    let referral_id: Uuid =
        serde_json::from_value(opened[0].payload["referral_id"].clone()).unwrap();
    // 09:20: the county centre did not accept within 15 min: escalated to the city centre.
    w.advance(Duration::minutes(20)).await;
    assert_eq!(w.of_type("ReferralEscalated").await.len(), 1);
    // 09:25: the city centre accepts.
    w.advance(Duration::minutes(5)).await;
    let city = InstitutionCode::parse("RC430100").unwrap();
    w.escalation
        .accept(referral_id, &city, "dr-city-3", "key:rc")
        .await
        .unwrap();
    w.pump().await;
    // 09:40: the district office acknowledges the alert.
    w.advance(Duration::minutes(15)).await;
    w.warning
        .acknowledge(
            alert_id,
            &contracts::DistrictCode::parse("430103").unwrap(),
            "key:mch",
        )
        .await
        .unwrap();
    w.pump().await;
    // 09:52: the sender records her departure at 09:50.
    w.advance(Duration::minutes(12)).await;
    w.escalation
        .depart(
            referral_id,
            &hospital.institution,
            Departure {
                departed_at: datetime!(2026-04-01 09:50 +08:00),
                escort: "midwife-7".into(),
                transport: Some(Transport::Ambulance),
                treatment_en_route: Some("oxygen".into()),
            },
            "key:h",
        )
        .await
        .unwrap();
    w.pump().await;
    // 10:40: the centre records her arrival at 10:35.
    w.advance(Duration::minutes(48)).await;
    w.escalation
        .arrive(
            referral_id,
            &city,
            datetime!(2026-04-01 10:35 +08:00),
            Some("midwife-7".into()),
            "dr-city-3",
            "key:rc",
        )
        .await
        .unwrap();
    w.pump().await;
    // 12:00: feedback and near miss.
    w.advance(Duration::minutes(80)).await;
    w.escalation
        .feedback(
            referral_id,
            &city,
            Feedback {
                diagnosis: "right heart failure".into(),
                treatment: "ICU".into(),
                outcome: Outcome::Rescued,
                timeliness: Timeliness::Delayed,
                note: None,
            },
            "key:rc",
        )
        .await
        .unwrap();
    w.escalation
        .near_miss(referral_id, &city, &["CV-SHOCK".to_owned()], "key:rc")
        .await
        .unwrap();
    w.pump().await;
    // 12:30: the district's follow-up call reaches her.
    w.advance(Duration::minutes(30)).await;
    let item = w
        .of_type("FollowUpScheduled")
        .await
        .into_iter()
        .find(|e| e.payload["kind"] == "phone_call" && e.payload["month"] == "2026-04")
        .expect("April's call is planned");
    let item_id: Uuid = serde_json::from_value(item.payload["item_id"].clone()).unwrap();
    w.followup
        .attempt(
            &case,
            item_id,
            AttemptReport {
                request_id: Uuid::from_u128(77),
                outcome: ContactOutcome::Reached,
                note: None,
                danger_signs: vec![],
                new_district: None,
            },
            "staff-9",
        )
        .await
        .unwrap();
    w.pump().await;
    Script {
        case,
        alert_id,
        referral_id,
    }
}

fn interval(pack: &Value, key: &str) -> Vec<i64> {
    pack["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["key"] == key)
        .map(|i| i["minutes"].as_i64().unwrap())
        .collect()
}

async fn scripted_case(w: World) {
    let s = script(&w).await;
    let reviewer = w.key(Role::Reviewer, "MCH430103", "430103").await;
    let city_reviewer = w.key(Role::Reviewer, "MCH430100", "430100").await;
    let office = w.key(Role::DistrictOffice, "MCH430103", "430103").await;
    let other_office = w.key(Role::DistrictOffice, "MCH430102", "430102").await;
    let hospital = w.key(Role::Hospital, "H430103-01", "430103").await;
    let other_hospital = w.key(Role::Hospital, "H430102-01", "430102").await;
    let admin = w.key(Role::Admin, "MCH430103", "430103").await;
    let case = s.case.as_str();

    // The conclusion: reviewers only; a double POST stores one.
    let body = json!({
        "request_id": "00000000-0000-0000-0000-00000000c0de",
        "level": "district", "avoidability": "avoidable_with_conditions",
        "delays": [3, 2], "notes": "acceptance took two rungs"
    });
    let (st, _) = w
        .json(
            "POST",
            &format!("/v1/reviews/{case}/conclusion"),
            &office,
            Some(body.clone()),
        )
        .await;
    assert_eq!(st, 403, "offices do not conclude");
    let (st, first) = w
        .json(
            "POST",
            &format!("/v1/reviews/{case}/conclusion"),
            &reviewer,
            Some(body.clone()),
        )
        .await;
    assert_eq!(st, 201, "{first}");
    assert_eq!(first["delays"], json!([2, 3]));
    let (st, again) = w
        .json(
            "POST",
            &format!("/v1/reviews/{case}/conclusion"),
            &reviewer,
            Some(body.clone()),
        )
        .await;
    assert_eq!((st, &again), (axum::http::StatusCode::CREATED, &first));
    let mut other = body.clone();
    other["notes"] = json!("something else");
    let (st, _) = w
        .json(
            "POST",
            &format!("/v1/reviews/{case}/conclusion"),
            &reviewer,
            Some(other),
        )
        .await;
    assert_eq!(st, 409, "same request id, other content");
    let mut bad = body.clone();
    bad["request_id"] = json!(Uuid::from_u128(5));
    bad["delays"] = json!([4]);
    let (st, _) = w
        .json(
            "POST",
            &format!("/v1/reviews/{case}/conclusion"),
            &reviewer,
            Some(bad),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(w.of_type("CaseReviewed").await.len(), 1);
    w.pump().await;

    // Scoping: the district, its city's reviewer and the reporting hospital see her; another
    // district, another hospital and an admin are told there is no such case.
    for k in [&reviewer, &city_reviewer, &office, &hospital] {
        let (st, _) = w
            .json("GET", &format!("/v1/cases/{case}/timeline"), k, None)
            .await;
        assert_eq!(st, 200);
    }
    for k in [&other_office, &other_hospital, &admin] {
        let (st, _) = w
            .json("GET", &format!("/v1/cases/{case}/timeline"), k, None)
            .await;
        assert_eq!(st, 404);
        let (st, _) = w.json("GET", &format!("/v1/reviews/{case}"), k, None).await;
        assert_eq!(st, 404);
    }

    // The timeline: every event of the case, in log order, each with a line in both
    // languages, none naming her.
    let (st, tl) = w
        .json(
            "GET",
            &format!("/v1/cases/{case}/timeline"),
            &reviewer,
            None,
        )
        .await;
    assert_eq!(st, 200);
    let events = tl["events"].as_array().unwrap();
    let stored = w.review.case_events(&s.case).await.unwrap();
    assert_eq!(events.len(), stored.len());
    let positions: Vec<i64> = events
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]));
    assert_eq!(
        positions,
        stored.iter().map(|e| e.position).collect::<Vec<_>>()
    );
    let line = |ty: &str| {
        events
            .iter()
            .find(|e| e["event_type"] == ty)
            .unwrap_or_else(|| panic!("{ty} in the timeline"))
            .clone()
    };
    assert_eq!(
        line("RiskAssessed")["zh"],
        "评估分级：红色，0分，高危专案（评估于 2026-04-01 08:30）"
    );
    assert!(line("DistrictAlertRaised")["zh"]
        .as_str()
        .unwrap()
        .contains("须于 2026-04-03 08:30 前签收"));
    assert_eq!(
        line("DistrictAlertAcknowledged")["en"],
        "430103 acknowledged the alert at 2026-04-01 09:40"
    );
    assert_eq!(line("DistrictAlertAcknowledged")["actor"], "key:mch");
    assert!(line("ReferralEscalated")["en"]
        .as_str()
        .unwrap()
        .contains("from RC430103 (rung 1) to RC430100 (rung 2)"));
    assert_eq!(
        line("PatientArrived")["zh"],
        "孕产妇于 2026-04-01 10:35 到达 RC430100"
    );
    assert_eq!(line("ReferralAccepted")["institution"], "RC430100");
    assert_eq!(line("ReferralAccepted")["component"], "escalation");
    assert!(line("NearMissRecorded")["en"]
        .as_str()
        .unwrap()
        .contains("CV-SHOCK"));
    assert!(line("CaseReviewed")["zh"]
        .as_str()
        .unwrap()
        .contains("创造条件可避免"));
    let text = tl.to_string();
    for secret in [NAME, PHONE, &resident_id("43010319940514002"), "西岭区某路"] {
        assert!(
            !text.contains(secret),
            "the timeline shows no personal data"
        );
    }

    // The pack: every interval.
    let (st, pack) = w
        .json("GET", &format!("/v1/reviews/{case}"), &reviewer, None)
        .await;
    assert_eq!(st, 200, "{pack}");
    assert_eq!(
        interval(&pack, "assessment_to_report"),
        vec![30],
        "08:30 → 09:00"
    );
    assert_eq!(
        interval(&pack, "report_to_acknowledgement"),
        vec![40],
        "09:00 → 09:40"
    );
    assert_eq!(
        interval(&pack, "escalation"),
        vec![20],
        "opened 09:00 → escalated 09:20"
    );
    assert_eq!(
        interval(&pack, "opened_to_accepted"),
        vec![25],
        "09:00 → 09:25"
    );
    assert_eq!(
        interval(&pack, "accepted_to_departed"),
        vec![25],
        "09:25 → 09:50"
    );
    assert_eq!(
        interval(&pack, "departed_to_arrived"),
        vec![45],
        "09:50 → 10:35"
    );
    assert_eq!(
        interval(&pack, "opened_to_arrived"),
        vec![95],
        "09:00 → 10:35"
    );
    assert_eq!(pack["intervals"].as_array().unwrap().len(), 7);
    assert_eq!(pack["grading_history"][0]["colour"], "red");
    assert_eq!(pack["alerts"][0]["alert_id"], json!(s.alert_id));
    assert_eq!(pack["alerts"][0]["due_at"], "2026-04-03T08:30:00+08:00");
    assert_eq!(
        pack["alerts"][0]["acknowledged_at"],
        "2026-04-01T09:40:00+08:00"
    );
    let r = &pack["referrals"][0];
    assert_eq!(r["referral_id"], json!(s.referral_id));
    assert_eq!(r["accepted"]["centre"], "RC430100");
    assert_eq!(r["feedback"]["timeliness"], "delayed");
    assert_eq!(r["escalations"][0]["reason"], "timeout");
    assert!(r["form"].get("identity").is_none());
    assert_eq!(pack["near_miss"][0]["criteria"][0]["code"], "CV-SHOCK");
    assert!(pack["near_miss"][0]["criteria"][0]["zh"].is_string());
    assert_eq!(pack["follow_up"][0]["outcome"], "reached");
    assert_eq!(
        pack["conclusions"][0]["avoidability"],
        "avoidable_with_conditions"
    );
    let cov = &pack["coverage"];
    assert_eq!(cov["first_position"], positions[0]);
    assert_eq!(cov["last_position"], *positions.last().unwrap());
    assert_eq!(cov["events"], positions.len());
    assert!(cov["first_bad"].is_null());
    let (_, head) = w.json("GET", "/v1/audit/head", &reviewer, None).await;
    assert_eq!(cov["head_position"], head["position"]);
    assert_eq!(cov["head_hash"], head["hash"]);
    let text = pack.to_string();
    for secret in [NAME, PHONE, &resident_id("43010319940514002"), "西岭区某路"] {
        assert!(!text.contains(secret), "the pack is de-identified");
    }

    // Review lists: the district's half-year and the centre's quarter hold her, reviewed.
    let (st, list) = w
        .json(
            "GET",
            "/v1/reviews?district=430103&half=2026H1",
            &reviewer,
            None,
        )
        .await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["cases"][0]["case_id"], case);
    assert_eq!(list["cases"][0]["trigger"], "near_miss");
    assert_eq!(list["reviewed"], 1);
    let (_, list) = w
        .json(
            "GET",
            "/v1/reviews?district=430103&half=2026H2",
            &reviewer,
            None,
        )
        .await;
    assert_eq!(list["cases"], json!([]));
    let rc = w.key(Role::RescueCentre, "RC430100", "430100").await;
    let (st, list) = w
        .json(
            "GET",
            "/v1/reviews?facility=RC430100&quarter=2026Q2",
            &rc,
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(list["cases"][0]["case_id"], case);
    let (st, _) = w
        .json(
            "GET",
            "/v1/reviews?facility=RC430103&quarter=2026Q2",
            &rc,
            None,
        )
        .await;
    assert_eq!(st, 403);
    let (st, _) = w
        .json(
            "GET",
            "/v1/reviews?district=430102&half=2026H1",
            &reviewer,
            None,
        )
        .await;
    assert_eq!(st, 403);

    // The printable page, rendered by headless Chromium.
    let (st, ct, html) = w
        .call(
            "GET",
            &format!("/v1/reviews/{case}?format=html"),
            &reviewer,
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert!(ct.starts_with("text/html"));
    let dom = chromium_text(&html);
    for expected in [
        "危重孕产妇评审资料",
        "绿色通道开通 → 到达 / green channel opened → arrival",
        "逐级上转 RC430103 → RC430100",
        "创造条件可避免",
        "通过 verified",
        cov["case_digest"].as_str().unwrap(),
    ] {
        assert!(dom.contains(expected), "the rendered page shows {expected}");
    }
    assert!(!dom.contains(NAME));

    // Tampering: change the acceptance row behind the store's back.
    let accepted_at = w.of_type("ReferralAccepted").await[0].position;
    tamper(&w.store, accepted_at).await;
    let report = eventstore::audit::verify(&w.store, 1000, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        report.first_bad.as_ref().map(|b| b.0),
        Some(accepted_at),
        "{report:?}"
    );
    let uri = format!(
        "/v1/reviews/{case}/verify?last_position={}&case_digest={}",
        cov["last_position"],
        cov["case_digest"].as_str().unwrap()
    );
    let (st, check) = w.json("GET", &uri, &reviewer, None).await;
    assert_eq!(st, 200);
    assert_eq!(check["verified"], false);
    assert_eq!(check["first_bad"]["position"], accepted_at);
    assert_eq!(
        check["matches_recorded"], false,
        "the printed pack no longer matches the log"
    );
    assert_ne!(check["coverage"]["case_digest"], cov["case_digest"]);
    let (_, after) = w
        .json("GET", &format!("/v1/reviews/{case}"), &reviewer, None)
        .await;
    assert_eq!(after["coverage"]["first_bad"][0], accepted_at);
}

/// Changes one row's payload with the append-only trigger out of the way.
pub async fn tamper(store: &Store, position: i64) {
    match store {
        Store::Sqlite(s) => {
            sqlx::query("DROP TRIGGER events_no_update")
                .execute(s.writer())
                .await
                .unwrap();
            sqlx::query("UPDATE events SET payload = replace(payload, 'dr-city-3', 'dr-other') WHERE position = ?")
                .bind(position)
                .execute(s.writer())
                .await
                .unwrap();
        }
        Store::Postgres(p) => {
            sqlx::query("ALTER TABLE events DISABLE TRIGGER ALL")
                .execute(p.pool())
                .await
                .unwrap();
            sqlx::query("UPDATE events SET payload = replace(payload::text, 'dr-city-3', 'dr-other')::json WHERE position = $1")
                .bind(position)
                .execute(p.pool())
                .await
                .unwrap();
        }
    }
}

/// The visible text of an HTML page as headless Chromium renders it.
fn chromium_text(html: &[u8]) -> String {
    let dir = tempfile_dir();
    let file = dir.join("pack.html");
    std::fs::write(&file, html).unwrap();
    let out = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--dump-dom",
        ])
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs (deploy/test.sh installs it)");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("</html>"),
        "chromium rendered the page: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
    dom
}

fn chromium() -> &'static str {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .unwrap_or("chromium")
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("review-pack-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_critical_case_on_sqlite() {
    scripted_case(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_critical_case_on_postgres() {
    scripted_case(postgres().await).await;
}
