//! The UI in a real browser (headless Chromium via chromedriver) against the real service
//! (NATS, SQLite): a district officer signs in, sees a new orange alert with its time left,
//! acknowledges it and sees it leave the inbox; opens the case; records a follow-up call
//! outcome; a rescue centre accepts a referral. Screenshots of every page are saved under
//! `$CARGO_TARGET_DIR/ui-artefacts/`.

mod common;

use common::{api, poll, Browser, ChromeDriver, Service};
use edge::Role;
use serde_json::json;

#[test]
fn officer_acknowledges_records_an_outcome_and_a_centre_accepts() {
    common::run(scenario());
}

async fn scenario() {
    let svc = Service::start().await;
    let hospital = svc.key(Role::Hospital, "H430102-01", "430102").await;
    let office = svc.key(Role::DistrictOffice, "MCH430103", "430103").await;
    let centre = svc.key(Role::RescueCentre, "RC430103", "430103").await;

    // A hospital reports an orange woman living in 430103; the alert reaches the office.
    let card = common::orange_card("UI-1", "王某某", 2);
    let accepted = api(svc.addr, "POST", "/v1/risk-cards", &hospital, Some(&card)).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let case_id = accepted.json()["case_id"].as_str().unwrap().to_owned();
    let inbox = poll(svc.addr, "/v1/alerts", &office, |v| {
        v["alerts"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let alert_id = inbox["alerts"][0]["alert_id"].as_str().unwrap().to_owned();
    poll(svc.addr, "/v1/worklists/430103/2026-03", &office, |v| {
        v["rows"].as_array().is_some_and(|r| !r.is_empty())
    })
    .await;

    let driver = ChromeDriver::start().await;
    let b = Browser::open(&driver).await;

    // Sign in.
    b.goto(&svc.url("/signin")).await;
    b.screenshot("01-signin").await;
    b.type_into("#key", &office).await;
    b.click("form.card button[type=submit]").await;
    b.wait_url("/inbox").await;

    // The new orange alert, with its badge (shape + name) and the time left as text.
    let row = format!("tr[data-alert='{alert_id}']");
    assert_eq!(b.count(&row).await, 1);
    let text = b.text(&row).await;
    assert!(text.contains("橙色"), "{text}");
    assert!(text.contains("◆"), "a shape besides the colour: {text}");
    assert!(
        text.contains("剩余 47 小时"),
        "48 h from 09:30 is 47.5 h after 10:00: {text}"
    );
    b.screenshot("02-inbox").await;

    // Acknowledge: it leaves the open inbox.
    b.click(&format!("{row} button")).await;
    b.wait_url("/inbox?done=ack").await;
    assert_eq!(
        b.count(&row).await,
        0,
        "acknowledged alerts leave the inbox"
    );
    assert!(b.text("p.notice").await.contains("预警已签收"));
    b.screenshot("03-inbox-acknowledged").await;
    let acked = api(
        svc.addr,
        "GET",
        "/v1/alerts?status=acknowledged",
        &office,
        None,
    )
    .await;
    assert_eq!(acked.json()["alerts"][0]["alert_id"], json!(alert_id));

    // The case page: grade, findings, grading history.
    b.goto(&svc.url(&format!("/cases/{case_id}"))).await;
    assert!(b.text("#grade").await.contains("橙色"));
    assert!(b.text("#findings").await.contains("O-CV-NYHA2"));
    assert!(b.text("#history").await.contains("橙色"));
    let timeline = b.text("#timeline").await;
    assert!(
        timeline.contains("东湖区妇幼保健院"),
        "the timeline lists the card's events: {timeline}"
    );
    b.screenshot("04-case").await;

    // The worklist: record the call's outcome in place.
    b.goto(&svc.url("/worklist?month=2026-03")).await;
    let item = "#worklist tbody tr[data-item]";
    assert!(b.text(item).await.contains("王某某"));
    b.screenshot("05-worklist").await;
    let before = b.text(item).await;
    assert!(before.contains("待随访"), "{before}");
    b.type_into(&format!("{item} input[name=note]"), "已电话联系，无不适")
        .await;
    b.click(&format!("{item} form.outcome button")).await;
    b.wait_url("done=outcome").await;
    let after = b.text("#worklist").await;
    assert!(
        after.contains("已联系上"),
        "the outcome shows in the row: {after}"
    );
    b.screenshot("06-worklist-recorded").await;
    // The same page at a tablet's width (below 800 px the tables reflow into blocks).
    b.resize(820, 1180).await;
    b.screenshot("06b-worklist-tablet").await;
    b.resize(1280, 900).await;

    // The registers.
    b.goto(&svc.url("/registers/high-risk")).await;
    assert!(b.text("#register").await.contains("橙色"));
    b.screenshot("07-register-high-risk").await;
    b.goto(&svc.url("/indicators")).await;
    assert!(b.text("#indicators").await.contains("上报及时率"));
    assert_eq!(b.count("svg.chart rect").await, 12, "two bars per rate");
    b.screenshot("08-indicators").await;
    b.click("form[action='/signout'] button").await;
    b.wait_url("/signin").await;

    // A hospital opens a green channel; the county rescue centre accepts it on its board.
    let open = json!({
        "request_id": uuid::Uuid::new_v4(), "case_id": case_id, "residence_district": "430103",
        "identity": { "name": "王某某", "age": 31 },
        "clinical": { "complaint": "胸闷气促", "diagnosis": "妊娠合并心脏病 心功能III级" },
        "reason": "心衰风险，需上级救治", "referring_doctor": "李医生"
    });
    let opened = api(
        svc.addr,
        "POST",
        "/v1/green-channel",
        &hospital,
        Some(&open),
    )
    .await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    let referral = opened.json()["referral_id"].as_str().unwrap().to_owned();
    // Twelve minutes later (within the 15-minute acceptance deadline) the centre looks.
    svc.clock.advance(time::Duration::minutes(12));
    b.goto(&svc.url("/signin")).await;
    b.type_into("#key", &centre).await;
    b.click("form.card button[type=submit]").await;
    b.wait_url("/referrals").await;
    let card = format!("article[data-referral='{referral}']");
    let waiting = b.text(&card).await;
    assert!(waiting.contains("待接收"), "{waiting}");
    assert!(
        waiting.contains("已发起 12 分钟"),
        "time since opening: {waiting}"
    );
    assert!(
        waiting.contains("剩余 3 分钟"),
        "time to the acceptance deadline: {waiting}"
    );
    b.screenshot("09-referrals").await;
    b.type_into(&format!("{card} input[name=receiving_doctor]"), "赵主任")
        .await;
    b.click(&format!("{card} form[action$='/accept'] button"))
        .await;
    b.wait_url("done=referral").await;
    let accepted = b.text(&card).await;
    assert!(
        accepted.contains("已接收") && accepted.contains("赵主任"),
        "{accepted}"
    );
    b.screenshot("10-referral-accepted").await;
    let shown = api(
        svc.addr,
        "GET",
        &format!("/v1/referrals/{referral}"),
        &centre,
        None,
    )
    .await;
    assert_eq!(shown.json()["status"], "accepted");

    // English on a switch.
    b.goto(&svc.url("/referrals?lang=en")).await;
    assert!(b.text("h1").await.contains("Green-channel referral board"));
    b.goto(&svc.url("/referrals")).await;
    assert!(
        b.text(&card).await.contains("Accepted"),
        "the choice is remembered"
    );
    b.screenshot("11-referrals-en").await;

    b.close().await;
    drop(driver);
    eprintln!("screenshots: {}", common::artefacts_dir().display());
    svc.stop().await;
}
