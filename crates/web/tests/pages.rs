//! The pages over HTTP against the real service, without a browser: another district's
//! officer can neither see nor act on this district's case through the pages; every form is
//! CSRF-protected; the session cookie's attributes, expiry and sign-out; the language
//! switch; and the accessibility basics of every page (each form field labelled, no badge
//! that is colour alone).

mod common;

use common::{api, hidden, poll, PageClient, Service};
use edge::Role;
use scraper::{Html, Selector};
use serde_json::json;

/// Every visible form field has a `<label for>` or an `aria-label`; every grade badge has a
/// colour name in text and a shape; the page declares its language. Returns the problems.
fn accessibility_problems(html: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let mut problems = Vec::new();
    let sel = |s: &str| Selector::parse(s).unwrap();
    if doc
        .select(&sel("html"))
        .next()
        .and_then(|h| h.value().attr("lang"))
        .is_none()
    {
        problems.push("<html> has no lang".into());
    }
    let labels: Vec<String> = doc
        .select(&sel("label[for]"))
        .filter(|l| !l.text().collect::<String>().trim().is_empty())
        .filter_map(|l| l.value().attr("for").map(str::to_owned))
        .collect();
    for field in doc.select(&sel("input, select, textarea")) {
        let v = field.value();
        if v.attr("type") == Some("hidden") {
            continue;
        }
        let labelled = v
            .attr("id")
            .is_some_and(|id| labels.iter().any(|l| l == id))
            || v.attr("aria-label").is_some_and(|l| !l.trim().is_empty());
        if !labelled {
            problems.push(format!("unlabelled field: {}", field.html()));
        }
    }
    for badge in doc.select(&sel(".badge")) {
        let text: String = badge.text().collect();
        let shape: String = badge
            .select(&sel(".shape"))
            .flat_map(|s| s.text())
            .collect();
        let words = text.replace(&shape, "");
        let is_none = badge.value().classes().any(|c| c == "b-none");
        if !is_none && (words.trim().is_empty() || shape.trim().is_empty()) {
            problems.push(format!("badge without a name or shape: {}", badge.html()));
        }
    }
    problems
}

#[test]
fn the_accessibility_check_can_fail() {
    let bad = r#"<html><body><input name="x"><select id="s"></select><span class="badge b-red"></span></body></html>"#;
    assert_eq!(
        accessibility_problems(bad).len(),
        4,
        "{:?}",
        accessibility_problems(bad)
    );
    let good = r#"<html lang="zh-CN"><body><label for="x">X</label><input id="x" name="x"><input type="hidden" name="csrf"><span class="badge b-red"><span class="shape">■</span> 红色</span></body></html>"#;
    assert!(accessibility_problems(good).is_empty());
}

#[test]
fn scoping_csrf_sessions_language_and_accessibility_through_the_pages() {
    common::run(scenario());
}

async fn scenario() {
    let svc = Service::start().await;
    let hospital = svc.key(Role::Hospital, "H430102-01", "430102").await;
    let office = svc.key(Role::DistrictOffice, "MCH430103", "430103").await;
    let other = svc.key(Role::DistrictOffice, "MCH430104", "430104").await;
    let centre = svc.key(Role::RescueCentre, "RC430103", "430103").await;
    let card = common::orange_card("PG-1", "陈某某", 4);
    let accepted = api(svc.addr, "POST", "/v1/risk-cards", &hospital, Some(&card)).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let case_id = accepted.json()["case_id"].as_str().unwrap().to_owned();
    let inbox = poll(svc.addr, "/v1/alerts", &office, |v| {
        v["alerts"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let alert_id = inbox["alerts"][0]["alert_id"].as_str().unwrap().to_owned();
    // A second woman's card arrives two days after her assessment: her alert is born overdue.
    let mut late = common::orange_card("PG-2", "林某某", 6);
    late["assessed_at"] = json!("2026-03-07T00:00:00+08:00");
    let posted = api(svc.addr, "POST", "/v1/risk-cards", &hospital, Some(&late)).await;
    assert_eq!(posted.status, 202, "{}", posted.body);
    poll(svc.addr, "/v1/alerts", &office, |v| {
        v["alerts"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let worklist = poll(svc.addr, "/v1/worklists/430103/2026-03", &office, |v| {
        v["rows"].as_array().is_some_and(|r| !r.is_empty())
    })
    .await;
    let item_id = worklist["rows"][0]["item_id"].as_str().unwrap().to_owned();
    let open = json!({
        "request_id": uuid::Uuid::new_v4(), "case_id": case_id, "residence_district": "430103",
        "identity": { "name": "陈某某" },
        "clinical": { "complaint": "阴道出血", "diagnosis": "前置胎盘" },
        "reason": "大出血风险", "referring_doctor": "周医生"
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

    // Not signed in: every page sends you to the sign-in page.
    let mut anon = PageClient::new(svc.addr);
    for path in [
        "/inbox",
        &format!("/cases/{case_id}"),
        "/worklist",
        "/referrals",
    ] {
        let a = anon.get(path).await;
        assert_eq!(a.status, 303, "{path}");
        assert_eq!(a.header("location"), Some("/signin"), "{path}");
    }
    // Sign-in is CSRF-protected too (double submit), and a wrong key is refused.
    let mut fresh = PageClient::new(svc.addr);
    let form = fresh.get("/signin").await;
    assert!(
        accessibility_problems(&form.body).is_empty(),
        "{:?}",
        accessibility_problems(&form.body)
    );
    let token = hidden(&form.body, "csrf").unwrap();
    let forged = common::exchange(
        svc.addr,
        "POST",
        "/signin",
        &[("Content-Type", "application/x-www-form-urlencoded".into())],
        &format!("csrf={token}&key={}", common::enc(&office)),
    )
    .await;
    assert_eq!(forged.status, 403, "no double-submit cookie, no sign-in");
    let wrong = fresh
        .post("/signin", &[("csrf", &token), ("key", "hrp_nope")])
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("密钥无效"));

    // The officer signs in: the session cookie's attributes.
    let mut mine = PageClient::new(svc.addr);
    let signin = mine.get("/signin").await;
    let token = hidden(&signin.body, "csrf").unwrap();
    let ok = mine
        .post("/signin", &[("csrf", &token), ("key", &office)])
        .await;
    assert_eq!(ok.status, 303);
    let set: Vec<&str> = ok
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .filter(|v| v.starts_with("hrp_session="))
        .collect();
    assert_eq!(set.len(), 1);
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set[0].contains(attr), "{}", set[0]);
    }
    let page = mine.get("/inbox").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-security-policy"),
        Some(web::pages::CSP)
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let csrf = hidden(&page.body, "csrf").unwrap();
    assert!(page.body.contains(&alert_id));
    // Overdue first, marked by more than colour, with the time as text.
    let rows: Vec<(bool, Option<String>, String)> = {
        // (scraper's documents are not Send: parsed and dropped between awaits)
        let doc = Html::parse_document(&page.body);
        doc.select(&Selector::parse("tr[data-alert]").unwrap())
            .map(|r| {
                (
                    r.value().classes().any(|c| c == "overdue"),
                    r.value().attr("data-alert").map(str::to_owned),
                    r.text().collect(),
                )
            })
            .collect()
    };
    assert_eq!(rows.len(), 2);
    assert!(rows[0].0, "the overdue row is marked");
    assert!(
        rows[0].2.contains("⚠ 已超期 10 小时") && rows[0].2.contains("迟报"),
        "{}",
        rows[0].2
    );
    assert_eq!(rows[1].1.as_deref(), Some(alert_id.as_str()));
    assert!(rows[1].2.contains("剩余 47 小时"), "{}", rows[1].2);

    // Accessibility basics on every page the officer and the centre use.
    for path in [
        "/inbox".to_owned(),
        "/inbox?status=acknowledged".into(),
        format!("/cases/{case_id}"),
        "/worklist?month=2026-03".into(),
        "/registers/high-risk".into(),
        "/registers/red".into(),
        "/registers/not-suitable".into(),
        "/referrals".into(),
        "/indicators".into(),
    ] {
        let a = mine.get(&path).await;
        assert_eq!(a.status, 200, "{path}");
        let problems = accessibility_problems(&a.body);
        assert!(problems.is_empty(), "{path}: {problems:?}");
    }
    let worklist_page = mine.get("/worklist?month=2026-03").await;
    assert!(
        worklist_page.body.contains("<label for=\"outcome-"),
        "the outcome form is there"
    );
    let mut rc = PageClient::new(svc.addr);
    rc.sign_in(&centre).await;
    let board = rc.get("/referrals").await;
    assert!(
        board.body.contains("receiving_doctor"),
        "the accept form is there"
    );
    let problems = accessibility_problems(&board.body);
    assert!(problems.is_empty(), "/referrals (centre): {problems:?}");

    // Another district's officer: not the case, not the ack, not the worklist, not the
    // registers; and the alert is not in their inbox.
    let mut them = PageClient::new(svc.addr);
    let their_csrf = them.sign_in(&other).await;
    let their_inbox = them.get("/inbox").await;
    assert_eq!(their_inbox.status, 200);
    assert!(!their_inbox.body.contains(&alert_id) && !their_inbox.body.contains(&case_id));
    let case = them.get(&format!("/cases/{case_id}")).await;
    assert_eq!(
        case.status, 404,
        "another district's case does not exist for them"
    );
    assert!(!case.body.contains("O-CV-NYHA2"));
    let ack = them
        .post(&format!("/alerts/{alert_id}/ack"), &[("csrf", &their_csrf)])
        .await;
    assert!(matches!(ack.status, 403 | 404), "ack: {}", ack.status);
    for path in [
        "/worklist?month=2026-03&district=430103",
        "/worklist/export?month=2026-03&district=430103&format=csv",
        "/registers/high-risk?district=430103",
        "/indicators?district=430103",
        "/indicators/export?district=430103&year=2026",
        "/registers/red?district=430103&format=csv",
    ] {
        let a = them.get(path).await;
        assert_eq!(a.status, 403, "{path}");
        assert!(!a.body.contains("陈某某"), "{path}");
    }
    let outcome = them
        .post(
            &format!("/follow-ups/{item_id}/outcome"),
            &[
                ("csrf", &their_csrf),
                ("request_id", &uuid::Uuid::new_v4().to_string()),
                ("outcome", "reached"),
            ],
        )
        .await;
    assert!(
        matches!(outcome.status, 403 | 404),
        "outcome: {}",
        outcome.status
    );
    let timeline = them.get(&format!("/cases/{case_id}")).await;
    assert!(
        !timeline.body.contains("东湖区妇幼保健院"),
        "no timeline either"
    );
    // Their own worklist and registers do not list her.
    for path in ["/worklist?month=2026-03", "/registers/high-risk"] {
        let a = them.get(path).await;
        assert_eq!(a.status, 200, "{path}");
        assert!(
            !a.body.contains(&case_id) && !a.body.contains("陈某某"),
            "{path}"
        );
    }

    // CSRF on every form: no token or a wrong one is a 403 and nothing happens.
    let none = mine.post(&format!("/alerts/{alert_id}/ack"), &[]).await;
    assert_eq!(none.status, 403);
    assert!(none.body.contains("表单已失效"));
    let forged = mine
        .post(&format!("/alerts/{alert_id}/ack"), &[("csrf", &their_csrf)])
        .await;
    assert_eq!(forged.status, 403, "another session's token is no good");
    let forged = mine
        .post(
            &format!("/follow-ups/{item_id}/outcome"),
            &[
                ("request_id", &uuid::Uuid::new_v4().to_string()),
                ("outcome", "reached"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    let forged = mine.post("/signout", &[("csrf", "0")]).await;
    assert_eq!(forged.status, 403);
    let still = api(svc.addr, "GET", "/v1/alerts", &office, None).await;
    let still = still.json();
    let ours = still["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alert_id"] == json!(alert_id))
        .cloned();
    assert_eq!(
        ours.map(|a| a["status"].clone()),
        Some(json!("open")),
        "nothing was acknowledged"
    );
    let ack = mine
        .post(&format!("/alerts/{alert_id}/ack"), &[("csrf", &csrf)])
        .await;
    assert_eq!(ack.status, 303);
    assert_eq!(ack.header("location"), Some("/inbox?done=ack"));

    // English on a switch, remembered in a cookie.
    let en = mine.get("/inbox?lang=en").await;
    assert!(en.body.contains("High-risk alert inbox") && en.body.contains("lang=\"en\""));
    let again = mine.get("/inbox").await;
    assert!(again.body.contains("High-risk alert inbox"));
    let zh = mine.get("/inbox?lang=zh").await;
    assert!(zh.body.contains("高危预警签收"));

    // Sign-out ends the session for good: the old cookie no longer works.
    let old = mine.cookie("hrp_session").unwrap().to_owned();
    let out = mine.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    let replay = common::exchange(
        svc.addr,
        "GET",
        "/inbox",
        &[("Cookie", format!("hrp_session={old}"))],
        "",
    )
    .await;
    assert_eq!(replay.status, 303, "a signed-out session is gone");

    // Sessions expire (12 h by configuration) and end when the key is revoked.
    assert_eq!(them.get("/inbox").await.status, 200);
    svc.clock.advance(time::Duration::hours(12));
    assert_eq!(them.get("/inbox").await.status, 303, "expired");
    let mut later = PageClient::new(svc.addr);
    later.sign_in(&other).await;
    assert_eq!(later.get("/inbox").await.status, 200);
    let keys = edge::list_keys(&svc.store, 100).await.unwrap();
    let theirs = keys
        .iter()
        .find(|k| k.principal.institution.as_str() == "MCH430104")
        .unwrap();
    assert!(edge::revoke_key(&svc.store, &theirs.principal.key_id)
        .await
        .unwrap());
    assert_eq!(
        later.get("/inbox").await.status,
        303,
        "revoked key, no session"
    );

    svc.stop().await;
}
