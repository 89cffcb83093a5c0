//! The escalation service on real stores with a moved clock and the deadline scheduler:
//! accepted before the deadline (nothing fires), the whole ladder with a restart in the
//! middle (every escalation and re-notification exactly once, also when the fired event is
//! delivered twice or to two instances), a critical card opening a green channel once, and
//! the concurrent-accept race on PostgreSQL.

mod common;

use bus::Handler;
use common::*;
use contracts::{CaseId, DomainEvent, Envelope, Metadata, NewEvent, StreamId};
use escalation::events::ReferralAcceptanceOverdue;
use escalation::projection::documents;
use escalation::{Escalation, EscalationError, Rejection};
use eventstore::scheduler::Scheduler;
use eventstore::{Commit, EventStore, ExpectedVersion, Store};
use time::Duration;

fn scheduler(w: &World) -> Scheduler<Store> {
    Scheduler::new(w.store.clone(), std::time::Duration::ZERO)
}

/// Fires what is due and hands every fired overdue event not yet handled to `svc`.
async fn tick_and_handle(w: &World, svc: &Escalation<Store>, seen: &mut usize) -> usize {
    let fired = scheduler(w).tick().await.unwrap();
    let overdue = w.of_type(ReferralAcceptanceOverdue::EVENT_TYPE).await;
    for e in &overdue[*seen..] {
        svc.handle(e).await.unwrap();
    }
    *seen = overdue.len();
    fired
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_before_the_deadline_never_escalates() {
    let w = sqlite().await;
    let svc = service(&w.store);
    let s = svc.open(request(1, None), "key:h").await.unwrap();
    let id = s.opened.as_ref().unwrap().referral_id;
    // A retry of the same request opens nothing new.
    svc.open(request(1, None), "key:h").await.unwrap();
    assert_eq!(w.of_type("GreenChannelOpened").await.len(), 1);
    w.advance(Duration::minutes(14));
    assert_eq!(scheduler(&w).tick().await.unwrap(), 0);
    svc.accept(id, &code("RC430103"), "dr-2", "key:c")
        .await
        .unwrap();
    w.advance(Duration::hours(2));
    assert_eq!(scheduler(&w).tick().await.unwrap(), 0);
    assert!(w.of_type("ReferralAcceptanceOverdue").await.is_empty());
    assert!(w.of_type("ReferralEscalated").await.is_empty());
    let opened = &w.of_type("GreenChannelOpened").await[0];
    assert_eq!(
        opened.metadata.district.as_ref().unwrap().as_str(),
        "430103"
    );
    assert_eq!(opened.case_id.as_ref().unwrap().as_str(), "case-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ladder_with_a_restart_in_the_middle_escalates_each_step_exactly_once() {
    let w = sqlite().await;
    let first = service(&w.store);
    let s = first.open(request(2, None), "key:h").await.unwrap();
    let id = s.opened.as_ref().unwrap().referral_id;
    let mut seen = 0;

    // Rung 1 does not answer in 15 minutes.
    w.advance(Duration::minutes(15));
    assert_eq!(tick_and_handle(&w, &first, &mut seen).await, 1);
    assert_eq!(tick_and_handle(&w, &first, &mut seen).await, 0);
    let x = w.of_type("ReferralEscalated").await;
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].payload["to_centre"], "RC430100");
    assert_eq!(x[0].payload["at"], "2026-04-01T01:15:00Z");
    assert_eq!(
        x[0].payload["notified_offices"],
        serde_json::json!(["430103", "430100"])
    );
    assert_eq!(x[0].metadata.district.as_ref().unwrap().as_str(), "430103");

    // The instance dies; the clock moves past rung 2's deadline while nothing runs.
    drop(first);
    w.advance(Duration::minutes(20));
    let second = w.restart().await;
    assert_eq!(tick_and_handle(&w, &second, &mut seen).await, 1);
    // The fired event is delivered again, to the new instance and to another one.
    let overdue = w.of_type("ReferralAcceptanceOverdue").await;
    assert_eq!(overdue.len(), 2);
    second.handle(&overdue[1]).await.unwrap();
    w.restart().await.handle(&overdue[1]).await.unwrap();
    second.handle(&overdue[0]).await.unwrap();
    let x = w.of_type("ReferralEscalated").await;
    assert_eq!(x.len(), 2, "rung 1 → 2 → 3, each once");
    assert_eq!(x[1].payload["to_centre"], "RC430000");
    assert_eq!(
        x[1].payload["at"], "2026-04-01T01:35:00Z",
        "escalated when it ran again"
    );

    // The top rung: asked again every 10 minutes until someone accepts.
    w.advance(Duration::minutes(15));
    assert_eq!(tick_and_handle(&w, &second, &mut seen).await, 1);
    w.advance(Duration::minutes(10));
    assert_eq!(tick_and_handle(&w, &second, &mut seen).await, 1);
    let r = w.of_type("ReferralRenotified").await;
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].payload["at"], "2026-04-01T01:50:00Z");
    assert_eq!(r[1].payload["attempt"], 2);
    assert_eq!(r[1].payload["next_at"], "2026-04-01T02:10:00Z");

    // The board of the province centre shows it, waiting.
    let doc = w
        .store
        .document("referral-centre", &format!("RC430000|{id}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.body["status"], "awaiting_acceptance");
    assert_eq!(doc.body["renotifications"], 2);
    assert_eq!(doc.body["asked_now"], true);

    let s = second
        .accept(id, &code("RC430000"), "dr-p", "key:p")
        .await
        .unwrap();
    assert_eq!(s.accepted.as_ref().unwrap().rung, 3);
    w.advance(Duration::hours(3));
    assert_eq!(tick_and_handle(&w, &second, &mut seen).await, 0);
    assert_eq!(w.of_type("ReferralAcceptanceOverdue").await.len(), 4);
    assert_eq!(w.of_type("ReferralEscalated").await.len(), 2);
    assert_eq!(w.of_type("ReferralRenotified").await.len(), 2);
    assert_eq!(w.of_type("ReferralAccepted").await.len(), 1);

    // The documents are what the events alone give.
    let state = second.load(id).await.unwrap();
    for d in documents(&state) {
        let stored = w
            .store
            .document(d.collection, &d.key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.scope, stored.body),
            (d.scope, d.body),
            "{}",
            d.collection
        );
    }
}

async fn assessment(w: &World, critical: bool) -> Envelope {
    let (cats, policy) = (region().load_catalogues().unwrap(), policy());
    let mut card = scoring::Card::new(T.to_offset(contracts::china_offset()).date());
    card.findings = vec!["R-CV-PAH".into()];
    let ra = scoring::RiskAssessed {
        case_id: CaseId::parse("case-crit").unwrap(),
        card_id: "card-1".into(),
        card_event_id: uuid::Uuid::new_v4(),
        institution: code("H430103-01"),
        institution_district: contracts::DistrictCode::parse("430103").unwrap(),
        residence_district: contracts::DistrictCode::parse("430104").unwrap(),
        assessed_at: T,
        received_at: T + Duration::minutes(2),
        critical,
        assessment: scoring::assess(&card, &cats, policy).unwrap(),
    };
    let e = NewEvent::from_domain(
        uuid::Uuid::new_v4(),
        StreamId::parse("assessment-case-crit").unwrap(),
        Some(ra.case_id.clone()),
        &ra,
        Metadata::system("scoring"),
        T,
    )
    .unwrap();
    let out = w
        .store
        .commit(Commit::append(
            e.stream_id.clone(),
            ExpectedVersion::Any,
            vec![e],
        ))
        .await
        .unwrap();
    let p = out.appends[0].positions[0];
    w.store.read_all(p - 1, 1).await.unwrap().remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_card_opens_a_green_channel_once() {
    let w = sqlite().await;
    let svc = service(&w.store);
    let calm = assessment(&w, false).await;
    svc.handle(&calm).await.unwrap();
    assert!(w.of_type("GreenChannelOpened").await.is_empty());
    let crit = assessment(&w, true).await;
    svc.handle(&crit).await.unwrap();
    svc.handle(&crit).await.unwrap();
    w.restart().await.handle(&crit).await.unwrap();
    let opened = w.of_type("GreenChannelOpened").await;
    assert_eq!(opened.len(), 1);
    let o = &opened[0];
    assert_eq!(o.payload["opened_by"], "critical_card");
    assert_eq!(o.payload["target"], "RC430103");
    assert_eq!(o.payload["residence_district"], "430104");
    assert_eq!(o.metadata.district.as_ref().unwrap().as_str(), "430104");
    assert_eq!(o.metadata.causation_id, Some(crit.event_id));
    assert_eq!(
        o.payload["referral_id"],
        serde_json::json!(Escalation::<Store>::referral_id_for_assessment(
            crit.event_id
        ))
    );
    assert_eq!(o.payload["acceptance_due_at"], "2026-04-01T09:17:00+08:00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_centres_accepting_at_once_on_postgres_exactly_one_wins() {
    let w = postgres().await;
    let a = service(&w.store);
    let b = w.restart().await;
    let mut winners = std::collections::BTreeMap::new();
    for n in 0..6u128 {
        let s = a.open(request(100 + n, None), "key:h").await.unwrap();
        let id = s.opened.as_ref().unwrap().referral_id;
        // Rung 1 times out: rung 1 (late) and rung 2 (asked now) may both accept.
        w.advance(Duration::minutes(15));
        scheduler(&w).tick().await.unwrap();
        let overdue = w.of_type(ReferralAcceptanceOverdue::EVENT_TYPE).await;
        a.handle(overdue.last().unwrap()).await.unwrap();
        let (county, city) = (code("RC430103"), code("RC430100"));
        // Two instances, two tasks, released together.
        let go = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let race =
            |svc: Escalation<Store>, centre: contracts::InstitutionCode, doctor: &'static str| {
                let go = go.clone();
                tokio::spawn(async move {
                    go.wait().await;
                    svc.accept(id, &centre, doctor, "key:centre").await
                })
            };
        let tx = race(a.clone(), county, "dr-county");
        let ty = race(b.clone(), city, "dr-city");
        let (x, y) = (tx.await.unwrap(), ty.await.unwrap());
        let (ok, err) = match (x, y) {
            (Ok(s), Err(e)) | (Err(e), Ok(s)) => (s, e),
            (x, y) => panic!("exactly one must win: {:?} / {:?}", x.is_ok(), y.is_ok()),
        };
        let winner = ok.accepted.unwrap().centre;
        assert!(
            matches!(&err, EscalationError::Rejected(Rejection::AlreadyAccepted(c)) if *c == winner),
            "{err}"
        );
        *winners.entry(winner.to_string()).or_insert(0) += 1;
        let stored = a.load(id).await.unwrap();
        assert_eq!(stored.accepted.unwrap().centre, winner);
    }
    assert_eq!(w.of_type("ReferralAccepted").await.len(), 6);
    assert_eq!(winners.values().sum::<i32>(), 6);
}
