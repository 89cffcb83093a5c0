//! The warning service on real stores with a moved clock: deadlines (acknowledged before due,
//! never acknowledged, downtime across the due time, two instances), the inbox, and registers
//! that a rebuild from the log reproduces exactly.

mod common;

use bus::Handler;
use common::{assessed, policy};
use contracts::{
    CaseId, DistrictCode, DomainEvent, Envelope, ManualClock, Metadata, NewEvent, StreamId,
};
use eventstore::scheduler::Scheduler;
use eventstore::{Commit, EventStore, ExpectedVersion, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use warning::events::NotSuitableRecorded;
use warning::projection::documents;
use warning::Warning;

const T: OffsetDateTime = datetime!(2026-04-01 09:00 +08:00);

struct World {
    store: Store,
    clock: ManualClock,
    service: Warning<Store>,
    _db: (Option<testkit::SqliteFile>, Option<testkit::PgDatabase>),
}

async fn sqlite() -> World {
    let f = testkit::SqliteFile::create().unwrap();
    world(f.url.clone(), (Some(f), None)).await
}

async fn postgres() -> World {
    let db = testkit::PgDatabase::create().await.unwrap();
    world(db.url.clone(), (None, Some(db))).await
}

async fn world(
    url: String,
    guard: (Option<testkit::SqliteFile>, Option<testkit::PgDatabase>),
) -> World {
    let clock = ManualClock::new(T.to_offset(time::UtcOffset::UTC) + Duration::hours(1));
    let store = Store::connect(&url, Arc::new(clock.clone())).await.unwrap();
    store.migrate().await.unwrap();
    let service = Warning::new(store.clone(), Arc::new(policy().clone()));
    World {
        store,
        clock,
        service,
        _db: guard,
    }
}

/// Appends a `RiskAssessed` as scoring would and returns its envelope.
async fn assessment(
    w: &World,
    case: &str,
    codes: &[&str],
    home: &str,
    at: OffsetDateTime,
) -> Envelope {
    let ra = assessed(case, codes, home, "430102", at, at + Duration::minutes(30));
    let e = NewEvent::from_domain(
        uuid::Uuid::new_v4(),
        StreamId::parse(format!("assessment-{case}")).unwrap(),
        Some(CaseId::parse(case).unwrap()),
        &ra,
        Metadata::system("scoring"),
        at,
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

async fn of_type(w: &World, ty: &str) -> Vec<Envelope> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let b = w.store.read_all(after, 500).await.unwrap();
        let Some(l) = b.last() else { return out };
        after = l.position;
        out.extend(b.into_iter().filter(|e| e.event_type == ty));
    }
}

async fn open_inbox(w: &World, office: &str) -> Vec<serde_json::Value> {
    w.store
        .documents("inbox", Some(&format!("{office}|open")), 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_before_due_never_goes_overdue() {
    let w = sqlite().await;
    let env = assessment(&w, "c1", &["O-CV-NYHA2"], "430103", T).await;
    w.service.handle(&env).await.unwrap();
    let inbox = open_inbox(&w, "430103").await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["due_at"], "2026-04-03T09:00:00+08:00");
    assert_eq!(
        open_inbox(&w, "430102").await.len(),
        1,
        "the hospital's district has its copy"
    );
    let alert_id: uuid::Uuid = serde_json::from_value(inbox[0]["alert_id"].clone()).unwrap();
    let office = DistrictCode::parse("430103").unwrap();
    // Another district may not acknowledge it.
    assert!(w
        .service
        .acknowledge(alert_id, &DistrictCode::parse("430104").unwrap(), "k9")
        .await
        .is_err());
    w.clock.advance(Duration::hours(47));
    w.service
        .acknowledge(alert_id, &office, "key-b")
        .await
        .unwrap();
    w.service
        .acknowledge(alert_id, &office, "key-b")
        .await
        .unwrap();
    assert_eq!(
        of_type(&w, "DistrictAlertAcknowledged").await.len(),
        1,
        "twice is harmless"
    );
    assert!(open_inbox(&w, "430103").await.is_empty());
    assert_eq!(
        w.store
            .documents("inbox", Some("430103|acknowledged"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    w.clock.advance(Duration::days(3));
    assert_eq!(
        Scheduler::new(w.store.clone(), std::time::Duration::ZERO)
            .tick()
            .await
            .unwrap(),
        0
    );
    assert!(of_type(&w, "DistrictAlertOverdue").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_goes_overdue_once_and_escalates_once_even_across_downtime() {
    let w = sqlite().await;
    let env = assessment(&w, "c2", &["R-CV-PAH"], "430103", T).await;
    w.service.handle(&env).await.unwrap();
    // The component is down across the due time; the scheduler (or a restart) fires later.
    w.clock.advance(Duration::days(5));
    let scheduler = Scheduler::new(w.store.clone(), std::time::Duration::ZERO);
    assert_eq!(scheduler.tick().await.unwrap(), 1);
    assert_eq!(scheduler.tick().await.unwrap(), 0);
    let overdue = of_type(&w, "DistrictAlertOverdue").await;
    assert_eq!(overdue.len(), 1);
    assert_eq!(
        overdue[0].occurred_at,
        T + Duration::hours(48),
        "fired with the deadline's own time"
    );
    // The component comes back and sees the overdue event, maybe more than once.
    w.service.handle(&overdue[0]).await.unwrap();
    w.service.handle(&overdue[0]).await.unwrap();
    w.service.handle(&env).await.unwrap();
    let raised = of_type(&w, "DistrictAlertRaised").await;
    let escalations: Vec<_> = raised
        .iter()
        .filter(|e| e.payload["kind"] == "escalation")
        .collect();
    assert_eq!(escalations.len(), 1);
    assert_eq!(escalations[0].payload["district"], "430100");
    assert_eq!(
        escalations[0].metadata.district.as_ref().unwrap().as_str(),
        "430100"
    );
    let inbox = open_inbox(&w, "430103").await;
    assert_eq!(inbox[0]["overdue"], true);
    assert_eq!(
        open_inbox(&w, "430100").await.len(),
        1,
        "the city office sees the escalation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_raise_and_escalate_exactly_once() {
    let w = postgres().await;
    let other = Warning::new(w.store.clone(), Arc::new(policy().clone()));
    let env = assessment(&w, "c3", &["O-CV-NYHA2"], "430103", T).await;
    let (a, b) = tokio::join!(w.service.handle(&env), other.handle(&env));
    a.unwrap();
    b.unwrap();
    assert_eq!(
        of_type(&w, "DistrictAlertRaised").await.len(),
        2,
        "one alert and one copy"
    );
    w.clock.advance(Duration::days(3));
    let s1 = Scheduler::new(w.store.clone(), std::time::Duration::ZERO);
    let s2 = Scheduler::new(w.store.clone(), std::time::Duration::ZERO);
    let (x, y) = tokio::join!(s1.tick(), s2.tick());
    assert_eq!(x.unwrap() + y.unwrap(), 1);
    let overdue = of_type(&w, "DistrictAlertOverdue").await.remove(0);
    let (a, b) = tokio::join!(w.service.handle(&overdue), other.handle(&overdue));
    a.unwrap();
    b.unwrap();
    let escalations = of_type(&w, "DistrictAlertRaised")
        .await
        .into_iter()
        .filter(|e| e.payload["kind"] == "escalation")
        .count();
    assert_eq!(escalations, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_follow_a_scripted_history_and_rebuild_identically() {
    let w = sqlite().await;
    // c4: orange → red → yellow (ever red, high-risk); c5: yellow only; c6: red, then moves.
    for (case, codes, home, day) in [
        ("c4", &["O-CV-NYHA2"][..], "430103", 0),
        ("c5", &["Y-BAS-AGE35"][..], "430103", 0),
        ("c6", &["R-CV-PAH"][..], "430103", 1),
        ("c4", &["R-CV-PAH"][..], "430103", 5),
        ("c4", &["Y-BAS-AGE35"][..], "430103", 9),
        ("c6", &["R-CV-PAH"][..], "430104", 12),
    ] {
        let env = assessment(&w, case, codes, home, T + Duration::days(day)).await;
        w.service.handle(&env).await.unwrap();
    }
    let record = NotSuitableRecorded {
        case_id: CaseId::parse("c6").unwrap(),
        district: DistrictCode::parse("430104").unwrap(),
        judged_by: "doctor-3".into(),
        title: "副主任医师".into(),
        judged_at: T + Duration::days(13),
        reason: "severe pulmonary hypertension".into(),
        followed_by: Some("counselled".into()),
        recorded_by: "key-h".into(),
    };
    let req = uuid::Uuid::from_u128(42);
    w.service
        .not_suitable(&CaseId::parse("c6").unwrap(), req, record.clone())
        .await
        .unwrap();
    w.service
        .not_suitable(&CaseId::parse("c6").unwrap(), req, record)
        .await
        .unwrap();

    let keys =
        |docs: Vec<eventstore::Document>| docs.into_iter().map(|d| d.key).collect::<Vec<_>>();
    assert_eq!(
        keys(
            w.store
                .documents("register-high-risk", Some("430103"), 100)
                .await
                .unwrap()
        ),
        ["c4"]
    );
    assert_eq!(
        keys(
            w.store
                .documents("register-high-risk", Some("430104"), 100)
                .await
                .unwrap()
        ),
        ["c6"]
    );
    let red = w
        .store
        .document("register-red", "c4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(red.body["red_assessments"].as_array().unwrap().len(), 1);
    assert_eq!(red.body["current_colour"], "yellow");
    let ns = w
        .store
        .documents("register-not-suitable", Some("430104"), 100)
        .await
        .unwrap();
    assert_eq!(ns.len(), 1);
    assert_eq!(
        ns[0].body["judgements"].as_array().unwrap().len(),
        1,
        "recorded once"
    );
    assert_eq!(
        open_inbox(&w, "430104")
            .await
            .iter()
            .filter(|a| a["kind"] == "transfer_in")
            .count(),
        1
    );

    // Rebuild every case's documents from its events alone: identical to what was written.
    for case in ["c4", "c5", "c6"] {
        let case = CaseId::parse(case).unwrap();
        let state = w.service.load(&case).await.unwrap();
        for d in documents(&case, &state) {
            let stored = w
                .store
                .document(d.collection, &d.key)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (stored.scope, stored.body),
                (d.scope, d.body),
                "{} {}",
                d.collection,
                d.key
            );
        }
    }
    let all: BTreeMap<_, _> = w
        .store
        .documents("alert", None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.key, d.scope))
        .collect();
    assert!(all.len() >= 5);
    assert!(warning::events::DistrictAlertRaised::EVENT_TYPE == "DistrictAlertRaised");
}

/// Appends an event of another component (intake's outcome, follow-up's alert) and returns
/// its envelope.
async fn foreign<E: DomainEvent + serde::Serialize>(
    w: &World,
    stream: &str,
    case: &str,
    event: &E,
    at: OffsetDateTime,
) -> Envelope {
    let e = NewEvent::from_domain(
        uuid::Uuid::new_v4(),
        StreamId::parse(stream).unwrap(),
        Some(CaseId::parse(case).unwrap()),
        event,
        Metadata::system("test"),
        at,
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

/// A maternal death raises the death-report alert in her residence district's inbox, due 48 h
/// (policy) after the death, once however often the outcome is delivered; unacknowledged it
/// goes overdue. A death reported before her assessment reached the warning component is
/// retried (transient), not lost. Lost to follow-up becomes an inbox alert too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maternal_death_and_lost_to_follow_up_raise_inbox_alerts_once() {
    use bus::HandlerError;
    use contracts::{FollowUpAlertRaised, InstitutionCode, OutcomeKind, PregnancyOutcomeReported};
    let w = sqlite().await;
    let died = T + Duration::days(30);
    let outcome = |case: &str| PregnancyOutcomeReported {
        report_id: format!("r-{case}"),
        case_id: CaseId::parse(case).unwrap(),
        institution: InstitutionCode::parse("H430102-01").unwrap(),
        outcome: OutcomeKind::MaternalDeath,
        occurred_at: died,
        place: "H430102-01".into(),
        in_hospital: true,
        discharged_at: None,
        note: None,
    };
    // Not graded yet: transient, nothing stored.
    let early = foreign(&w, "outcome-c9", "c9", &outcome("c9"), died).await;
    assert!(matches!(
        w.service.handle(&early).await,
        Err(HandlerError::Transient(_))
    ));
    assert!(of_type(&w, "DistrictAlertRaised").await.is_empty());

    // A woman graded green (not high-risk) dies: the report is due all the same.
    let env = assessment(&w, "c9", &[], "430103", T).await;
    w.service.handle(&env).await.unwrap();
    assert!(open_inbox(&w, "430103").await.is_empty(), "green: no alert");
    w.clock.set(died + Duration::hours(5));
    w.service.handle(&early).await.unwrap();
    w.service.handle(&early).await.unwrap();
    let inbox = open_inbox(&w, "430103").await;
    assert_eq!(inbox.len(), 1, "one death-report alert: {inbox:?}");
    assert_eq!(inbox[0]["kind"], "maternal_death");
    assert_eq!(inbox[0]["due_at"], "2026-05-03T09:00:00+08:00");
    // Nobody acknowledges: overdue once, escalated to the city.
    w.clock.set(died + Duration::hours(49));
    let scheduler = Scheduler::new(w.store.clone(), std::time::Duration::ZERO);
    assert_eq!(scheduler.tick().await.unwrap(), 1);
    let overdue = of_type(&w, "DistrictAlertOverdue").await;
    assert_eq!(overdue.len(), 1);
    w.service.handle(&overdue[0]).await.unwrap();
    assert_eq!(open_inbox(&w, "430100").await.len(), 1);

    // Lost to follow-up: an alert for the district follow-up names, acknowledged in time.
    let env = assessment(&w, "c10", &["O-CV-NYHA2"], "430104", T).await;
    w.service.handle(&env).await.unwrap();
    let lost_at = datetime!(2026-06-01 00:00 +08:00);
    let lost = FollowUpAlertRaised {
        alert_id: uuid::Uuid::new_v4(),
        case_id: CaseId::parse("c10").unwrap(),
        district: DistrictCode::parse("430104").unwrap(),
        reason: "lost_to_follow_up".into(),
        at: lost_at,
    };
    let env = foreign(&w, "followup-c10", "c10", &lost, lost_at).await;
    w.service.handle(&env).await.unwrap();
    w.service.handle(&env).await.unwrap();
    let inbox = open_inbox(&w, "430104").await;
    let lost: Vec<_> = inbox
        .iter()
        .filter(|a| a["kind"] == "lost_to_follow_up")
        .collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0]["due_at"], "2026-06-03T00:00:00+08:00");
}
