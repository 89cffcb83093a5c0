//! The pure core of the ladder, given events → expected events: accepted at rung 1; timeout at
//! rung 1 → rung 2 → accepted; handed on; top-rung re-notification; two centres accepting at
//! the same moment (exactly one wins, the other is told it was already accepted); stale and
//! redelivered deadlines change nothing.

use contracts::{CaseId, DistrictCode, Envelope, InstitutionCode, Metadata, StreamId};
use escalation::core::*;
use escalation::events::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const T: OffsetDateTime = datetime!(2026-04-01 09:00 +08:00);
const TIMING: Timing = Timing {
    timeout: Duration::minutes(15),
    renotify: Duration::minutes(10),
};

fn c(code: &str) -> InstitutionCode {
    InstitutionCode::parse(code).unwrap()
}

fn ladder() -> Vec<InstitutionCode> {
    vec![c("RC430103"), c("RC430100"), c("RC430000")]
}

fn apply(state: &mut ReferralState, d: &Decision) {
    for e in &d.events {
        let v = state.version.unwrap_or(0) + 1;
        state
            .evolve(&Envelope {
                event_id: e.event_id,
                stream_id: StreamId::parse("referral-r").unwrap(),
                version: v,
                position: v,
                case_id: Some(e.case_id.clone()),
                event_type: e.event_type.into(),
                schema_version: 1,
                payload: e.payload.clone(),
                metadata: Metadata::system("test"),
                occurred_at: e.occurred_at,
                recorded_at: e.occurred_at,
            })
            .unwrap();
    }
}

fn opened(named: Option<&str>) -> (ReferralState, Decision) {
    let district = DistrictCode::parse("430103").unwrap();
    let named = named.map(c);
    let (ladder, rung) = plan_ladder(&district, &ladder(), named.as_ref()).unwrap();
    let o = GreenChannelOpened {
        referral_id: Uuid::from_u128(1),
        case_id: CaseId::parse("case-1").unwrap(),
        residence_district: district,
        opened_by: OpenedBy::Hospital,
        sending_institution: c("H430103-01"),
        form: ReferralForm {
            identity: None,
            clinical: None,
            reason: "postpartum haemorrhage".into(),
            treatment_en_route: None,
            referring_doctor: Some("dr-1".into()),
            escort: None,
            transport: Some(Transport::Ambulance),
        },
        target: ladder[(rung - 1) as usize].clone(),
        ladder,
        rung,
        opened_at: T,
        acceptance_due_at: T + TIMING.timeout,
    };
    let mut s = ReferralState::default();
    let d = on_open(&s, &o);
    apply(&mut s, &d);
    (s, d)
}

/// The overdue event a deadline armed in `d` would fire.
fn fired(d: &Decision) -> (ReferralAcceptanceOverdue, Uuid, OffsetDateTime) {
    assert_eq!(d.arm.len(), 1, "one deadline armed");
    let a = &d.arm[0];
    (
        serde_json::from_value(a.event.payload.clone()).unwrap(),
        a.event.event_id,
        a.due_at,
    )
}

fn payload<E: serde::de::DeserializeOwned>(d: &Decision, ty: &str) -> E {
    let e = d.events.iter().find(|e| e.event_type == ty).unwrap();
    serde_json::from_value(e.payload.clone()).unwrap()
}

#[test]
fn accepted_at_rung_one() {
    let (mut s, d) = opened(None);
    assert_eq!(d.types(), ["GreenChannelOpened"]);
    let (_, _, due) = fired(&d);
    assert_eq!(due, T + Duration::minutes(15));
    assert_eq!(s.target, Some(c("RC430103")));
    // Not the target: refused.
    assert!(matches!(
        on_accept(&s, &c("RC430100"), "dr-x", T + Duration::minutes(3)),
        Err(Rejection::NotYours(_))
    ));
    let a = on_accept(&s, &c("RC430103"), "dr-2", T + Duration::minutes(7)).unwrap();
    assert_eq!(a.types(), ["ReferralAccepted"]);
    assert_eq!(a.cancel, [acceptance_deadline_id(Uuid::from_u128(1), 1, 0)]);
    assert_eq!(a.cancel[0], d.arm[0].deadline_id);
    let acc: ReferralAccepted = payload(&a, "ReferralAccepted");
    assert_eq!((acc.rung, acc.minutes_from_opening), (1, 7));
    apply(&mut s, &a);
    assert_eq!(s.status(), Some(Status::Accepted));
    // Twice by the same centre is harmless.
    assert!(
        on_accept(&s, &c("RC430103"), "dr-2", T + Duration::minutes(8))
            .unwrap()
            .is_empty()
    );
    // A deadline that fires anyway (a lost cancel race) changes nothing.
    let (o, id, _) = fired(&d);
    let late = on_overdue(&s, &o, id, T + Duration::minutes(15), TIMING);
    assert!(late.is_empty());
}

#[test]
fn timeout_at_rung_one_escalates_to_rung_two_then_accepted() {
    let (mut s, d) = opened(None);
    let (o, id, due) = fired(&d);
    let x = on_overdue(&s, &o, id, due, TIMING);
    assert_eq!(x.types(), ["ReferralEscalated"]);
    let e: ReferralEscalated = payload(&x, "ReferralEscalated");
    assert_eq!((e.from_rung, e.to_rung), (1, 2));
    assert_eq!(
        (e.from_centre.as_str(), e.to_centre.as_str()),
        ("RC430103", "RC430100")
    );
    assert_eq!(e.reason, EscalationReason::Timeout);
    assert_eq!(e.at, T + Duration::minutes(15));
    assert_eq!(e.acceptance_due_at, T + Duration::minutes(30));
    assert_eq!(
        e.notified_offices,
        [
            DistrictCode::parse("430103").unwrap(),
            DistrictCode::parse("430100").unwrap()
        ]
    );
    let (o2, _, due2) = fired(&x);
    assert_eq!(
        (o2.rung, o2.centre.as_str(), due2),
        (2, "RC430100", T + Duration::minutes(30))
    );
    apply(&mut s, &x);
    // Delivered again: nothing more.
    assert!(on_overdue(&s, &o, id, due + Duration::minutes(1), TIMING).is_empty());
    let a = on_accept(&s, &c("RC430100"), "dr-3", T + Duration::minutes(21)).unwrap();
    assert_eq!(a.cancel, [acceptance_deadline_id(Uuid::from_u128(1), 2, 0)]);
    let acc: ReferralAccepted = payload(&a, "ReferralAccepted");
    assert_eq!((acc.rung, acc.centre.as_str()), (2, "RC430100"));
    apply(&mut s, &a);
    assert_eq!(s.status(), Some(Status::Accepted));
    assert_eq!(s.escalations.len(), 1);
}

#[test]
fn a_component_down_past_the_deadline_escalates_from_now() {
    let (s, d) = opened(None);
    let (o, id, due) = fired(&d);
    let later = due + Duration::minutes(40);
    let x = on_overdue(&s, &o, id, later, TIMING);
    let e: ReferralEscalated = payload(&x, "ReferralEscalated");
    assert_eq!(e.at, later);
    assert_eq!(
        e.acceptance_due_at,
        later + Duration::minutes(15),
        "the next centre gets its full time"
    );
}

#[test]
fn handed_on_escalates_at_once_and_the_handing_centre_may_not_accept() {
    let (mut s, d) = opened(None);
    assert!(matches!(
        on_hand_on(&s, &c("RC430100"), "full", T, TIMING),
        Err(Rejection::NotYours(_))
    ));
    let at = T + Duration::minutes(4);
    let h = on_hand_on(&s, &c("RC430103"), "no ICU bed", at, TIMING).unwrap();
    assert_eq!(h.types(), ["ReferralHandedOn", "ReferralEscalated"]);
    assert_eq!(h.cancel, [d.arm[0].deadline_id]);
    let e: ReferralEscalated = payload(&h, "ReferralEscalated");
    assert_eq!(e.reason, EscalationReason::HandedOn);
    assert_eq!(
        (e.to_rung, e.at, e.acceptance_due_at),
        (2, at, at + Duration::minutes(15))
    );
    let (o2, _, _) = fired(&h);
    assert_eq!(o2.rung, 2);
    apply(&mut s, &h);
    assert_eq!(s.target, Some(c("RC430100")));
    assert!(matches!(
        on_accept(&s, &c("RC430103"), "dr", at + Duration::minutes(1)),
        Err(Rejection::NotYours(_))
    ));
    // The first rung's deadline fired before the hand-on was committed: stale, nothing.
    let (o1, id1, due1) = fired(&d);
    assert!(on_overdue(&s, &o1, id1, due1, TIMING).is_empty());
}

#[test]
fn top_rung_is_renotified_at_the_interval_until_accepted() {
    // The sender named the province centre: it is the top rung already.
    let (mut s, d) = opened(Some("RC430000"));
    assert_eq!(s.rung, 3);
    assert!(matches!(
        on_hand_on(&s, &c("RC430000"), "busy", T, TIMING),
        Err(Rejection::TopRung)
    ));
    let mut deadline = d;
    for attempt in 1..=3u32 {
        let (o, id, due) = fired(&deadline);
        assert_eq!(o.attempt, attempt - 1);
        let r = on_overdue(&s, &o, id, due, TIMING);
        assert_eq!(r.types(), ["ReferralRenotified"]);
        let n: ReferralRenotified = payload(&r, "ReferralRenotified");
        assert_eq!(
            (n.rung, n.attempt, n.centre.as_str()),
            (3, attempt, "RC430000")
        );
        assert_eq!(n.next_at, due + Duration::minutes(10));
        assert_eq!(n.notified_offices.len(), 2);
        apply(&mut s, &r);
        // A redelivery of the same firing does nothing.
        assert!(on_overdue(&s, &o, id, due, TIMING).is_empty());
        deadline = r;
    }
    assert_eq!(
        fired(&deadline).2,
        T + Duration::minutes(15 + 10 + 10 + 10),
        "15 min, then every 10"
    );
    let a = on_accept(&s, &c("RC430000"), "dr-p", T + Duration::minutes(50)).unwrap();
    assert_eq!(a.cancel, [acceptance_deadline_id(Uuid::from_u128(1), 3, 3)]);
    apply(&mut s, &a);
    let (o, id, due) = fired(&deadline);
    assert!(on_overdue(&s, &o, id, due, TIMING).is_empty());
}

#[test]
fn a_named_centre_off_the_ladder_goes_first() {
    let district = DistrictCode::parse("430103").unwrap();
    let (l, rung) = plan_ladder(&district, &ladder(), Some(&c("RC999999"))).unwrap();
    assert_eq!(rung, 1);
    assert_eq!(l.len(), 4);
    assert_eq!(l[0].as_str(), "RC999999");
    assert!(matches!(
        plan_ladder(&district, &[], None),
        Err(Rejection::NoLadder(_))
    ));
}

#[test]
fn two_centres_accepting_at_the_same_moment_exactly_one_wins() {
    // Rung 1 timed out → rung 2 asked; both the late rung-1 centre and rung 2 accept at once.
    let (mut s, d) = opened(None);
    let (o, id, due) = fired(&d);
    let x = on_overdue(&s, &o, id, due, TIMING);
    apply(&mut s, &x);
    let now = T + Duration::minutes(16);
    let a1 = on_accept(&s, &c("RC430103"), "dr-county", now).unwrap();
    let a2 = on_accept(&s, &c("RC430100"), "dr-city", now).unwrap();
    // Both were decided from the same version; the store lets the first commit in and the
    // other retries on the new state.
    assert_ne!(a1.events[0].event_id, a2.events[0].event_id);
    apply(&mut s, &a2);
    assert_eq!(
        on_accept(&s, &c("RC430103"), "dr-county", now),
        Err(Rejection::AlreadyAccepted(c("RC430100")))
    );
    assert_eq!(
        Rejection::AlreadyAccepted(c("RC430100")).to_string(),
        "already accepted by RC430100"
    );
    assert_eq!(s.accepted.as_ref().unwrap().centre.as_str(), "RC430100");
    // And the hand-on is refused once accepted.
    assert!(matches!(
        on_hand_on(&s, &c("RC430100"), "x", now, TIMING),
        Err(Rejection::AlreadyAccepted(_))
    ));
}

#[test]
fn departure_arrival_feedback_and_near_miss_in_order() {
    let (mut s, _) = opened(None);
    let sender = c("H430103-01");
    let centre = c("RC430103");
    assert_eq!(
        on_arrive(&s, &centre, T, None, "dr"),
        Err(Rejection::NotAccepted)
    );
    let a = on_accept(&s, &centre, "dr-2", T + Duration::minutes(5)).unwrap();
    apply(&mut s, &a);
    let dep = Departure {
        departed_at: datetime!(2026-04-01 09:12:47 +08:00),
        escort: "midwife-7".into(),
        transport: None,
        treatment_en_route: Some("oxytocin".into()),
    };
    assert!(matches!(
        on_depart(&s, &centre, dep.clone()),
        Err(Rejection::NotYours(_))
    ));
    let d = on_depart(&s, &sender, dep.clone()).unwrap();
    let p: PatientDeparted = payload(&d, "PatientDeparted");
    assert_eq!(
        p.departed_at,
        datetime!(2026-04-01 09:12 +08:00),
        "to the minute"
    );
    assert_eq!(p.transport, Some(Transport::Ambulance), "from the form");
    apply(&mut s, &d);
    assert!(on_depart(&s, &sender, dep).unwrap().is_empty());
    assert!(matches!(
        on_arrive(&s, &centre, datetime!(2026-04-01 09:10 +08:00), None, "dr"),
        Err(Rejection::Field(..))
    ));
    let f = Feedback {
        diagnosis: "PPH".into(),
        treatment: "B-Lynch".into(),
        outcome: Outcome::Rescued,
        timeliness: Timeliness::Timely,
        note: None,
    };
    assert_eq!(
        on_feedback(&s, &centre, f.clone(), T + Duration::hours(1)),
        Err(Rejection::NotArrived)
    );
    let ar = on_arrive(
        &s,
        &centre,
        datetime!(2026-04-01 09:41:59 +08:00),
        None,
        "dr-9",
    )
    .unwrap();
    let p: PatientArrived = payload(&ar, "PatientArrived");
    assert_eq!(p.arrived_at, datetime!(2026-04-01 09:41 +08:00));
    assert_eq!(p.escort.as_deref(), Some("midwife-7"));
    apply(&mut s, &ar);
    let nm = on_near_miss(
        &s,
        &centre,
        "who-2011@1",
        &["CV-SHOCK".into(), "HAEM-MASSIVE-TRANSFUSION".into()],
        T + Duration::hours(2),
    )
    .unwrap();
    let n: NearMissRecorded = payload(&nm, "NearMissRecorded");
    assert!(n.review_flagged);
    apply(&mut s, &nm);
    assert!(on_near_miss(
        &s,
        &centre,
        "who-2011@1",
        &["HAEM-MASSIVE-TRANSFUSION".into(), "CV-SHOCK".into()],
        T
    )
    .unwrap()
    .is_empty());
    let fb = on_feedback(&s, &centre, f.clone(), T + Duration::hours(3)).unwrap();
    assert_eq!(fb.types(), ["ReferralFeedbackFiled", "GreenChannelClosed"]);
    apply(&mut s, &fb);
    assert_eq!(s.status(), Some(Status::Closed));
    assert!(on_feedback(&s, &centre, f, T).unwrap().is_empty());
}
