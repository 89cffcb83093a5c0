//! The follow-up service on real stores with a moved clock: a whole pregnancy driven day by
//! day, month boundaries in UTC+8, the retry rule, missed months and lost to follow-up,
//! outcome unknown, a transfer, redelivery and two instances.

mod common;

use bus::Handler;
use common::*;
use contracts::{CaseId, Colour, OutcomeKind};
use eventstore::EventStore;
use followup::core::AttemptReport;
use followup::events::{ContactOutcome, ItemKind};
use followup::projection::documents;
use followup::{FollowUpError, FollowUpService, Rejection};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Every item document of a case.
async fn items(w: &World, c: &CaseId) -> Vec<Value> {
    w.store
        .documents("followup-item", None, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.body)
        .filter(|b| b["case_id"] == c.as_str())
        .collect()
}

async fn item(w: &World, c: &CaseId, kind: ItemKind, month: Option<&str>) -> Uuid {
    let all = items(w, c).await;
    let b = all
        .iter()
        .find(|b| b["kind"] == kind.as_str() && (month.is_none() || b["month"] == month.unwrap()))
        .unwrap_or_else(|| panic!("no {kind:?} {month:?} item"));
    serde_json::from_value(b["item_id"].clone()).unwrap()
}

async fn attempt(
    w: &World,
    c: &CaseId,
    item: Uuid,
    outcome: ContactOutcome,
) -> Result<(), FollowUpError> {
    let report = AttemptReport {
        request_id: Uuid::new_v4(),
        outcome,
        note: None,
        danger_signs: vec![],
        new_district: None,
    };
    w.service
        .attempt(c, item, report, "key:staff")
        .await
        .map(|_| ())
}

/// (kind, month, due date, district) of every `FollowUpScheduled` in log order.
async fn scheduled(w: &World, c: &CaseId) -> Vec<(String, String, String, String)> {
    w.of_type("FollowUpScheduled")
        .await
        .into_iter()
        .filter(|e| e.case_id.as_ref() == Some(c))
        .map(|e| {
            let s = |k: &str| e.payload[k].as_str().unwrap_or("").to_owned();
            (s("kind"), s("month"), s("due_date"), s("district"))
        })
        .collect()
}

fn local(t: OffsetDateTime) -> time::Date {
    t.to_offset(contracts::china_offset()).date()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_pregnancy_day_by_day() {
    // Identified on the last day of January at 20:00 UTC+8 (12:00 UTC), at 14+0 weeks.
    let t0 = datetime!(2026-01-31 20:00 +08:00);
    let lmp = date!(2026 - 01 - 31) - Duration::weeks(14);
    assert_eq!(lmp, date!(2025 - 10 - 25));
    let mut w = sqlite(t0).await;
    let c = case("sim-1");
    open_case(
        &mut w,
        &c,
        "430103",
        grade(Colour::Orange, false, 10),
        t0,
        Some(lmp),
    )
    .await;
    // January's call is due today, 31 January (UTC+8), and is made at once.
    let jan = item(&w, &c, ItemKind::PhoneCall, Some("2026-01")).await;
    let doc = w
        .store
        .document("followup-item", &jan.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.body["due_date"], "2026-01-31");
    assert_eq!(doc.scope, "430103|2026-01");
    attempt(&w, &c, jan, ContactOutcome::Reached).await.unwrap();

    let delivery = datetime!(2026-07-25 10:00 +08:00); // 39+0
    assert_eq!((local(delivery) - lmp).whole_days(), 39 * 7);
    let discharge = datetime!(2026-07-28 09:00 +08:00);
    let mut delivered = false;
    while w.now() < datetime!(2026-09-30 20:00 +08:00) {
        w.clock.advance(Duration::days(1));
        w.pump().await;
        let today = local(w.now());
        if today.day() == 10 && today < date!(2026 - 07 - 25) {
            let m = format!("{:04}-{:02}", today.year(), today.month() as u8);
            let it = item(&w, &c, ItemKind::PhoneCall, Some(&m)).await;
            attempt(&w, &c, it, ContactOutcome::Reached).await.unwrap();
        }
        if today == date!(2026 - 05 - 20) {
            let it = item(&w, &c, ItemKind::FaceToFace, None).await;
            attempt(&w, &c, it, ContactOutcome::Reached).await.unwrap();
        }
        if today == date!(2026 - 07 - 25) && !delivered {
            let o = outcome(&c, OutcomeKind::Delivery, delivery, Some(discharge));
            w.append("outcome", &c, &o, w.now()).await;
            w.pump().await;
            delivered = true;
        }
        if today == date!(2026 - 08 - 02) {
            let it = item(&w, &c, ItemKind::PostpartumVisit, None).await;
            attempt(&w, &c, it, ContactOutcome::Reached).await.unwrap();
        }
        if today == date!(2026 - 09 - 05) {
            let it = item(&w, &c, ItemKind::PostnatalCheck, None).await;
            attempt(&w, &c, it, ContactOutcome::Reached).await.unwrap();
        }
    }
    let s = |k: &str, m: &str, d: &str| {
        (
            k.to_owned(),
            m.to_owned(),
            d.to_owned(),
            "430103".to_owned(),
        )
    };
    assert_eq!(
        scheduled(&w, &c).await,
        vec![
            s("phone_call", "2026-01", "2026-01-31"),
            s("phone_call", "2026-02", "2026-02-28"),
            s("face_to_face", "", "2026-06-06"), // 32+0 weeks
            s("phone_call", "2026-03", "2026-03-31"),
            s("phone_call", "2026-04", "2026-04-30"),
            s("phone_call", "2026-05", "2026-05-31"),
            s("phone_call", "2026-06", "2026-06-30"),
            s("phone_call", "2026-07", "2026-07-31"),
            // Scheduled a month ahead on 1 July, closed by the delivery.
            s("phone_call", "2026-08", "2026-08-31"),
            s("postpartum_visit", "", "2026-08-04"), // discharge + 7 days
            s("postnatal_check", "", "2026-09-05"),  // delivery + 42 days
        ]
    );
    let ended: Vec<String> = w
        .of_type("FollowUpMonthEnded")
        .await
        .iter()
        .map(|e| e.payload["month"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ended,
        ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    );
    // The first month ended at midnight UTC+8, i.e. 16:00 UTC on the 31st.
    assert_eq!(
        w.of_type("FollowUpMonthEnded").await[0].occurred_at,
        datetime!(2026-01-31 16:00 UTC)
    );
    assert!(w.of_type("FollowUpMissed").await.is_empty());
    assert!(
        w.of_type("OutcomeOverdue").await.is_empty(),
        "the outcome came in time"
    );
    let closed = w.of_type("FollowUpClosed").await;
    assert_eq!(closed.len(), 1);
    assert_eq!(
        closed[0].payload["item_id"],
        item(&w, &c, ItemKind::PhoneCall, Some("2026-08"))
            .await
            .to_string()
    );
    let statuses: BTreeSet<(String, String)> = items(&w, &c)
        .await
        .iter()
        .map(|b| {
            (
                b["kind"].as_str().unwrap().to_owned(),
                b["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(!statuses.contains(&("phone_call".into(), "open".into())));
    assert_eq!(
        items(&w, &c)
            .await
            .iter()
            .filter(|b| b["status"] == "done")
            .count(),
        10
    );
    // Documents rebuild identically from the events alone.
    let state = w.service.load(&c).await.unwrap();
    for d in documents(&c, &state, policy()) {
        let stored = w
            .store
            .document(d.collection, &d.key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((stored.scope, stored.body), (d.scope, d.body));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn month_boundaries_are_utc_plus_8() {
    // 00:30 on 1 February in UTC+8 is still 31 January in UTC: her first month is February.
    let t = datetime!(2026-01-31 16:30 UTC);
    let mut w = sqlite(t).await;
    let c = case("feb-1");
    open_case(
        &mut w,
        &c,
        "430103",
        grade(Colour::Red, false, 30),
        t,
        Some(date!(2025 - 12 - 01)),
    )
    .await;
    let months: Vec<String> = scheduled(&w, &c)
        .await
        .into_iter()
        .filter(|s| s.0 == "phone_call")
        .map(|s| s.1)
        .collect();
    assert_eq!(months, ["2026-02", "2026-03"]);
    // 23:30 on 31 January in UTC+8: January's call is due that same day and the month ends
    // 30 minutes later, missed.
    let t = datetime!(2026-01-31 23:30 +08:00);
    let mut w = sqlite(t).await;
    let c = case("jan-31");
    open_case(
        &mut w,
        &c,
        "430103",
        grade(Colour::Red, false, 30),
        t,
        Some(date!(2025 - 12 - 01)),
    )
    .await;
    let jan = item(&w, &c, ItemKind::PhoneCall, Some("2026-01")).await;
    w.clock.advance(Duration::minutes(29));
    w.pump().await;
    assert!(w.of_type("FollowUpMissed").await.is_empty());
    w.clock.advance(Duration::minutes(1));
    w.pump().await;
    let missed = w.of_type("FollowUpMissed").await;
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0].payload["item_id"], jan.to_string());
    assert_eq!(missed[0].payload["month"], "2026-01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_call_is_retried_a_day_apart_up_to_the_policy() {
    let t = datetime!(2026-03-02 09:00 +08:00);
    let mut w = sqlite(t).await;
    let c = case("retry-1");
    open_case(
        &mut w,
        &c,
        "430103",
        grade(Colour::Orange, false, 10),
        t,
        Some(date!(2025 - 12 - 01)),
    )
    .await;
    let it = item(&w, &c, ItemKind::PhoneCall, Some("2026-03")).await;
    let p = policy();
    assert_eq!(p.attempts_per_month, 3);
    attempt(&w, &c, it, ContactOutcome::NotReached)
        .await
        .unwrap();
    let doc = w
        .store
        .document("followup-item", &it.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.body["status"], "open");
    assert_eq!(doc.body["attempts"], 1);
    assert_eq!(doc.body["next_attempt_at"], "2026-03-03T01:00:00Z");
    // Too early: a day apart.
    w.clock
        .advance(Duration::hours(i64::from(p.attempt_gap_hours)) - Duration::minutes(1));
    let err = attempt(&w, &c, it, ContactOutcome::NotReached)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FollowUpError::Rejected(Rejection::TooEarly(_))),
        "{err}"
    );
    w.clock.advance(Duration::minutes(1));
    attempt(&w, &c, it, ContactOutcome::NotReached)
        .await
        .unwrap();
    w.clock.advance(Duration::days(1));
    attempt(&w, &c, it, ContactOutcome::NotReached)
        .await
        .unwrap();
    let doc = w
        .store
        .document("followup-item", &it.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (doc.body["status"].as_str(), doc.body["result"].as_str()),
        (Some("closed"), Some("unreachable"))
    );
    assert_eq!(doc.body["attempts"], 3);
    w.clock.advance(Duration::days(1));
    let err = attempt(&w, &c, it, ContactOutcome::Reached)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        FollowUpError::Rejected(Rejection::NotOpen("unreachable"))
    ));
    assert_eq!(w.of_type("FollowUpAttempted").await.len(), 3);
    // A reached call on a fresh item is done at the first attempt.
    let apr = item(&w, &c, ItemKind::PhoneCall, Some("2026-04")).await;
    let ok = attempt(&w, &c, apr, ContactOutcome::NotReached).await;
    assert!(ok.is_ok());
    w.clock.advance(Duration::days(1));
    attempt(&w, &c, apr, ContactOutcome::Reached).await.unwrap();
    let doc = w
        .store
        .document("followup-item", &apr.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.body["status"], "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_months_and_lost_to_follow_up_after_two_in_a_row() {
    let t = datetime!(2026-03-05 09:00 +08:00);
    let mut w = sqlite(t).await;
    let c = case("lost-1");
    open_case(
        &mut w,
        &c,
        "430103",
        grade(Colour::Red, false, 30),
        t,
        Some(date!(2025 - 12 - 01)),
    )
    .await;
    // March: three unanswered attempts; April: nothing at all.
    let mar = item(&w, &c, ItemKind::PhoneCall, Some("2026-03")).await;
    for _ in 0..3 {
        attempt(&w, &c, mar, ContactOutcome::NotReached)
            .await
            .unwrap();
        w.clock.advance(Duration::days(1));
    }
    w.clock.set(datetime!(2026-04-01 00:00 +08:00));
    w.pump().await;
    let missed = w.of_type("FollowUpMissed").await;
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0].payload["missed_in_a_row"], 1);
    assert!(w.of_type("LostToFollowUp").await.is_empty());
    let case_doc = w
        .store
        .document("followup-case", c.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(case_doc.body["lost_to_follow_up"], false);
    // May's item exists now (scheduled a month ahead when March ended).
    item(&w, &c, ItemKind::PhoneCall, Some("2026-05")).await;
    w.clock.set(datetime!(2026-05-01 00:00 +08:00));
    w.pump().await;
    w.pump().await; // a second pass changes nothing
    let missed = w.of_type("FollowUpMissed").await;
    assert_eq!(missed.len(), 2);
    assert_eq!(missed[1].payload["month"], "2026-04");
    assert_eq!(missed[1].payload["missed_in_a_row"], 2);
    let lost = w.of_type("LostToFollowUp").await;
    assert_eq!(lost.len(), 1);
    assert_eq!(
        lost[0].payload["months"],
        serde_json::json!(["2026-03", "2026-04"])
    );
    let alerts = w.of_type("FollowUpAlertRaised").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].payload["district"], "430103");
    assert_eq!(
        alerts[0].metadata.district.as_ref().unwrap().as_str(),
        "430103"
    );
    let case_doc = w
        .store
        .document("followup-case", c.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(case_doc.body["lost_to_follow_up"], true);
    // Found again in May: no longer lost; a single missed June later starts a new streak.
    let may = item(&w, &c, ItemKind::PhoneCall, Some("2026-05")).await;
    attempt(&w, &c, may, ContactOutcome::Reached).await.unwrap();
    let case_doc = w
        .store
        .document("followup-case", c.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(case_doc.body["lost_to_follow_up"], false);
    w.clock.set(datetime!(2026-07-01 00:00 +08:00));
    w.pump().await;
    let missed = w.of_type("FollowUpMissed").await;
    assert_eq!(missed.len(), 3);
    assert_eq!(missed[2].payload["month"], "2026-06");
    assert_eq!(missed[2].payload["missed_in_a_row"], 1);
    assert_eq!(w.of_type("LostToFollowUp").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcome_unknown_after_edd_plus_policy_days() {
    let t = datetime!(2026-05-10 09:00 +08:00);
    let mut w = sqlite(t).await;
    let c = case("unknown-1");
    let lmp = date!(2025 - 09 - 01);
    let edd = lmp + Duration::days(280); // 2026-06-08
    open_case(
        &mut w,
        &c,
        "430103",
        grade(Colour::Orange, false, 10),
        t,
        Some(lmp),
    )
    .await;
    let days = i64::from(policy().outcome_unknown_after_edd_days);
    assert_eq!(days, 14);
    let fire = (edd + Duration::days(days))
        .midnight()
        .assume_offset(contracts::china_offset());
    w.clock.set(fire - Duration::seconds(1));
    w.pump().await;
    assert!(w.of_type("OutcomeOverdue").await.is_empty());
    w.clock.set(fire);
    w.pump().await;
    assert_eq!(w.of_type("OutcomeOverdue").await.len(), 1);
    let unknown: Vec<_> = scheduled(&w, &c)
        .await
        .into_iter()
        .filter(|s| s.0 == "outcome_unknown")
        .collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].2, "2026-06-22");
    // Redelivery of the fired event changes nothing.
    let fired = w.of_type("OutcomeOverdue").await.remove(0);
    w.service.handle(&fired).await.unwrap();
    assert_eq!(
        scheduled(&w, &c)
            .await
            .iter()
            .filter(|s| s.0 == "outcome_unknown")
            .count(),
        1
    );
    // The outcome then closes it (and every other open item), and postpartum items follow.
    let o = outcome(
        &c,
        OutcomeKind::Delivery,
        datetime!(2026-06-05 10:00 +08:00),
        None,
    );
    w.append("outcome", &c, &o, fire + Duration::hours(2)).await;
    w.pump().await;
    let open: Vec<Value> = items(&w, &c)
        .await
        .into_iter()
        .filter(|b| b["status"] == "open")
        .collect();
    let kinds: BTreeSet<&str> = open.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["postpartum_visit", "postnatal_check"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_moves_her_from_the_next_item_on_without_duplicates() {
    let t = datetime!(2026-01-10 09:00 +08:00);
    let mut w = sqlite(t).await;
    let c = case("moves-1");
    open_case(
        &mut w,
        &c,
        "430103",
        grade(Colour::Orange, false, 10),
        t,
        Some(date!(2025 - 11 - 01)),
    )
    .await;
    let jan = item(&w, &c, ItemKind::PhoneCall, Some("2026-01")).await;
    attempt(&w, &c, jan, ContactOutcome::Reached).await.unwrap();
    // February: the district learns she moved and asks for a transfer.
    w.clock.set(datetime!(2026-02-05 10:00 +08:00));
    w.pump().await;
    let feb = item(&w, &c, ItemKind::PhoneCall, Some("2026-02")).await;
    let report = AttemptReport {
        request_id: Uuid::new_v4(),
        outcome: ContactOutcome::MovedAway,
        note: None,
        danger_signs: vec![],
        new_district: Some(district("430104")),
    };
    w.service
        .attempt(&c, feb, report, "key:staff")
        .await
        .unwrap();
    let req = w.of_type("TransferRequested").await;
    assert_eq!(req.len(), 1);
    assert_eq!(req[0].payload["to"], "430104");
    // Warning acts on it: CaseTransferred.
    let tr = transferred(&c, "430103", "430104", datetime!(2026-02-06 10:00 +08:00));
    let env = w
        .append("warning", &c, &tr, datetime!(2026-02-06 10:00 +08:00))
        .await;
    w.pump().await;
    w.service.handle(&env).await.unwrap(); // redelivered
    assert_eq!(
        w.worklist("430103", "2026-01").await.len(),
        1,
        "January's done call stays"
    );
    assert!(w.worklist("430103", "2026-02").await.is_empty());
    let new_feb = w.worklist("430104", "2026-02").await;
    assert_eq!(new_feb.len(), 1);
    assert_eq!(new_feb[0]["item_id"], feb.to_string());
    assert_eq!(new_feb[0]["status"], "open");
    assert_eq!(
        w.of_type("FollowUpReassigned").await.len(),
        3,
        "February, March, the visit"
    );
    // The new district does the call; later items are born in the new district.
    attempt(&w, &c, feb, ContactOutcome::Reached).await.unwrap();
    w.clock.set(datetime!(2026-03-01 00:00 +08:00));
    w.pump().await;
    let apr: Vec<_> = scheduled(&w, &c)
        .await
        .into_iter()
        .filter(|s| s.1 == "2026-04")
        .collect();
    assert_eq!(apr.len(), 1);
    assert_eq!(apr[0].3, "430104");
    let all = items(&w, &c).await;
    let ids: BTreeSet<&str> = all.iter().map(|b| b["item_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len());
    assert_eq!(all.len(), w.of_type("FollowUpScheduled").await.len());
    assert!(
        w.of_type("FollowUpMissed").await.is_empty(),
        "nothing lost in the move"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_and_restart_add_nothing() {
    let t = datetime!(2026-02-10 09:00 +08:00);
    let mut w = sqlite(t).await;
    let c = case("again-1");
    let card_env = w
        .append(
            "card",
            &c,
            &card(&c, "430103", t, Some(date!(2025 - 12 - 01)), None),
            t,
        )
        .await;
    let open_env = w
        .append(
            "warning",
            &c,
            &opened(&c, "430103", grade(Colour::Red, false, 30), t),
            t,
        )
        .await;
    for _ in 0..3 {
        w.service.handle(&open_env).await.unwrap();
        w.service.handle(&card_env).await.unwrap();
    }
    w.pump().await;
    let before = scheduled(&w, &c).await;
    assert_eq!(before.len(), 3, "two months and the visit: {before:?}");
    // A restarted service (a new instance over the same store) sees everything again.
    let restarted = FollowUpService::new(w.store.clone(), Arc::new(policy().clone()));
    for e in w.store.read_all(0, 1000).await.unwrap() {
        restarted.handle(&e).await.unwrap();
    }
    w.clock.advance(Duration::days(20));
    w.pump().await;
    for e in w.store.read_all(0, 1000).await.unwrap() {
        restarted.handle(&e).await.unwrap();
    }
    let after = scheduled(&w, &c).await;
    assert_eq!(after.len(), 4, "March's month end added April: {after:?}");
    let unique: BTreeSet<_> = after.iter().collect();
    assert_eq!(unique.len(), after.len());
    assert_eq!(w.of_type("FollowUpOpened").await.len(), 1);
    assert_eq!(w.of_type("CaseDetailsNoted").await.len(), 1);
    assert_eq!(w.of_type("FollowUpMonthEnded").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgres_schedule_and_judge_exactly_once() {
    let t = datetime!(2026-02-10 09:00 +08:00);
    let mut w = postgres(t).await;
    let other = FollowUpService::new(w.store.clone(), Arc::new(policy().clone()));
    let c = case("pg-1");
    let card_env = w
        .append(
            "card",
            &c,
            &card(&c, "430103", t, Some(date!(2025 - 12 - 01)), None),
            t,
        )
        .await;
    let open_env = w
        .append(
            "warning",
            &c,
            &opened(&c, "430103", grade(Colour::Red, false, 30), t),
            t,
        )
        .await;
    let (a, b) = tokio::join!(w.service.handle(&card_env), other.handle(&card_env));
    a.unwrap();
    b.unwrap();
    let (a, b) = tokio::join!(w.service.handle(&open_env), other.handle(&open_env));
    a.unwrap();
    b.unwrap();
    assert_eq!(scheduled(&w, &c).await.len(), 3);
    // Two months pass without contact: February's and March's month ends (both armed at
    // the opening) fire once, and both instances handle both.
    w.clock.set(datetime!(2026-04-01 00:00 +08:00));
    let s1 = eventstore::scheduler::Scheduler::new(w.store.clone(), std::time::Duration::ZERO);
    let s2 = eventstore::scheduler::Scheduler::new(w.store.clone(), std::time::Duration::ZERO);
    let (x, y) = tokio::join!(s1.tick(), s2.tick());
    assert_eq!(x.unwrap() + y.unwrap(), 2);
    let fired = w.of_type("FollowUpMonthEnded").await;
    assert_eq!(fired.len(), 2);
    for f in &fired {
        let (a, b) = tokio::join!(w.service.handle(f), other.handle(f));
        a.unwrap();
        b.unwrap();
    }
    w.pump().await;
    assert_eq!(w.of_type("FollowUpMissed").await.len(), 2);
    assert_eq!(w.of_type("LostToFollowUp").await.len(), 1);
    assert_eq!(w.of_type("FollowUpAlertRaised").await.len(), 1);
    let all = scheduled(&w, &c).await;
    let unique: BTreeSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len());
    assert_eq!(
        all.iter().filter(|s| s.0 == "phone_call").count(),
        4,
        "Feb to May"
    );
}
