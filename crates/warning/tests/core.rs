//! The pure core, given events → expected events: first high-risk, colour up and down, purple
//! added to red, re-assessment with no change, late report, transfer, acknowledgement,
//! escalation.

mod common;

use common::{assessed, policy};
use contracts::{CaseId, DistrictCode, Envelope, Metadata, StreamId};
use time::macros::datetime;
use time::Duration;
use uuid::Uuid;
use warning::core::{on_acknowledge, on_assessed, on_overdue, Decision, Rejection};
use warning::events::*;
use warning::CaseState;

const A: &str = "430102";
const B: &str = "430103";

/// Applies a decision's events to the state, as the store would.
fn apply(state: &mut CaseState, d: &Decision) {
    for e in &d.events {
        let v = state.version.unwrap_or(0) + 1;
        state
            .evolve(&Envelope {
                event_id: e.event_id,
                stream_id: StreamId::parse("warning-c").unwrap(),
                version: v,
                position: v,
                case_id: Some(CaseId::parse("c").unwrap()),
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

fn grade_once(
    state: &mut CaseState,
    codes: &[&str],
    home: &str,
    at: time::OffsetDateTime,
) -> Decision {
    let ra = assessed("c", codes, home, A, at, at + Duration::hours(1));
    let d = on_assessed(state, &ra, Uuid::new_v4(), policy());
    apply(state, &d);
    d
}

fn alerts(d: &Decision) -> Vec<DistrictAlertRaised> {
    d.events
        .iter()
        .filter(|e| e.event_type == "DistrictAlertRaised")
        .map(|e| serde_json::from_value(e.payload.clone()).unwrap())
        .collect()
}

const T: time::OffsetDateTime = datetime!(2026-04-01 09:00 +08:00);

#[test]
fn first_high_risk_opens_the_case_and_alerts_the_residence_district_with_a_copy() {
    let mut s = CaseState::default();
    let d = grade_once(&mut s, &["O-CV-NYHA2"], B, T);
    assert_eq!(
        d.types(),
        [
            "RiskGraded",
            "ColourChanged",
            "HighRiskCaseOpened",
            "DistrictAlertRaised",
            "DistrictAlertRaised"
        ]
    );
    let a = alerts(&d);
    assert_eq!(a[0].district.as_str(), B);
    assert_eq!(a[0].kind, AlertKind::Assessment);
    assert_eq!(a[0].due_at, Some(T + Duration::hours(48)));
    assert!(!a[0].reported_late);
    assert_eq!(
        (a[1].district.as_str(), a[1].kind, a[1].due_at),
        (A, AlertKind::Copy, None)
    );
    assert_eq!(d.arm.len(), 1, "one deadline, for the residence district");
    assert_eq!(d.arm[0].due_at, T + Duration::hours(48));
    assert_eq!(d.arm[0].event.event_type, "DistrictAlertOverdue");
}

#[test]
fn a_first_green_or_yellow_raises_no_alert_but_a_raise_does() {
    let mut s = CaseState::default();
    let d = grade_once(&mut s, &[], A, T);
    assert_eq!(d.types(), ["RiskGraded", "ColourChanged"]);
    let mut y = CaseState::default();
    let d = grade_once(&mut y, &["Y-BAS-AGE35"], A, T);
    assert_eq!(d.types(), ["RiskGraded", "ColourChanged"]);
    // Green → yellow raises her colour: the seed policy alerts on every raise.
    let d = grade_once(&mut s, &["Y-BAS-AGE35"], A, T + Duration::days(1));
    assert_eq!(
        d.types(),
        ["RiskGraded", "ColourChanged", "DistrictAlertRaised"]
    );
    assert_eq!(
        alerts(&d)[0].triggers,
        vec![scoring::AlertTrigger::ColourRaised]
    );
    assert!(!s.is_high_risk());
}

#[test]
fn colour_up_alerts_colour_down_does_not_and_no_change_is_quiet() {
    let mut s = CaseState::default();
    grade_once(&mut s, &["O-CV-NYHA2"], A, T);
    let up = grade_once(&mut s, &["R-CV-PAH"], A, T + Duration::days(7));
    assert_eq!(
        up.types(),
        ["RiskGraded", "ColourChanged", "DistrictAlertRaised"]
    );
    assert!(alerts(&up)[0].triggers.len() >= 2, "colour raised and red");
    let down = grade_once(&mut s, &["Y-BAS-AGE35"], A, T + Duration::days(14));
    assert_eq!(
        down.types(),
        ["RiskGraded", "ColourChanged"],
        "down: recorded, no alert"
    );
    let same = grade_once(&mut s, &["Y-BAS-AGE35"], A, T + Duration::days(21));
    assert_eq!(same.types(), ["RiskGraded"], "no change: history only");
    assert_eq!(s.history.len(), 4);
    assert!(s.is_high_risk(), "she stays under case management");
}

#[test]
fn purple_added_to_red_alerts_and_keeps_red() {
    let mut s = CaseState::default();
    grade_once(&mut s, &["R-CV-PAH"], A, T);
    let d = grade_once(
        &mut s,
        &["R-CV-PAH", "P-INF-SYPH"],
        A,
        T + Duration::days(3),
    );
    assert_eq!(
        d.types(),
        ["RiskGraded", "ColourChanged", "DistrictAlertRaised"]
    );
    let a = &alerts(&d)[0];
    assert_eq!(
        (a.grade.colour, a.grade.infectious),
        (contracts::Colour::Red, true)
    );
}

#[test]
fn a_late_card_raises_a_late_alert_with_a_full_window_from_arrival() {
    let mut s = CaseState::default();
    let received = T + Duration::hours(60);
    let ra = assessed("c", &["O-CV-NYHA2"], A, A, T, received);
    let d = on_assessed(&s, &ra, Uuid::new_v4(), policy());
    apply(&mut s, &d);
    let a = &alerts(&d)[0];
    assert!(a.reported_late);
    assert_eq!(a.due_at, Some(T + Duration::hours(48)));
    assert_eq!(d.arm[0].due_at, received + Duration::hours(48));
}

#[test]
fn a_move_transfers_closes_the_old_district_and_alerts_the_new_one() {
    let mut s = CaseState::default();
    let first = grade_once(&mut s, &["O-CV-NYHA2"], A, T);
    let old_alert = alerts(&first)[0].alert_id;
    let d = grade_once(&mut s, &["O-CV-NYHA2"], B, T + Duration::days(10));
    assert_eq!(
        d.types(),
        [
            "RiskGraded",
            "CaseTransferred",
            "DistrictAlertClosed",
            "DistrictAlertRaised"
        ]
    );
    let a = &alerts(&d)[0];
    assert_eq!((a.kind, a.district.as_str()), (AlertKind::TransferIn, B));
    assert!(d.cancel.contains(&warning::core::deadline_id(old_alert)));
    assert_eq!(s.district.as_ref().unwrap().as_str(), B);
    assert_eq!(
        on_acknowledge(
            &s,
            old_alert,
            &DistrictCode::parse(A).unwrap(),
            "k",
            T + Duration::days(11)
        ),
        Err(Rejection::Closed("transferred".into()))
    );
}

#[test]
fn an_older_card_arriving_late_joins_the_history_only() {
    let mut s = CaseState::default();
    grade_once(&mut s, &["R-CV-PAH"], A, T + Duration::days(5));
    let d = grade_once(&mut s, &["Y-BAS-AGE35"], A, T);
    assert_eq!(d.types(), ["RiskGraded"]);
    assert_eq!(s.current.unwrap().0.colour, contracts::Colour::Red);
}

#[test]
fn acknowledgement_is_idempotent_and_scoped_and_overdue_escalates_once() {
    let mut s = CaseState::default();
    let d = grade_once(&mut s, &["O-CV-NYHA2"], A, T);
    let id = alerts(&d)[0].alert_id;
    let office = DistrictCode::parse(A).unwrap();
    let other = DistrictCode::parse(B).unwrap();
    assert_eq!(
        on_acknowledge(&s, id, &other, "k", T),
        Err(Rejection::Forbidden)
    );
    assert_eq!(
        on_acknowledge(&s, Uuid::new_v4(), &office, "k", T),
        Err(Rejection::NotFound)
    );
    let ack = on_acknowledge(&s, id, &office, "key-1", T + Duration::hours(2)).unwrap();
    assert_eq!(ack.types(), ["DistrictAlertAcknowledged"]);
    assert_eq!(ack.cancel, vec![warning::core::deadline_id(id)]);
    apply(&mut s, &ack);
    assert!(
        on_acknowledge(&s, id, &office, "key-1", T + Duration::hours(3))
            .unwrap()
            .events
            .is_empty()
    );

    // Another alert goes overdue: one escalation to the city, never two.
    let mut s = CaseState::default();
    let d = grade_once(&mut s, &["O-CV-NYHA2"], A, T);
    let overdue: DistrictAlertOverdue =
        serde_json::from_value(d.arm[0].event.payload.clone()).unwrap();
    assert_eq!(overdue.escalate_to.as_ref().unwrap().as_str(), "430100");
    let cause = d.arm[0].event.event_id;
    let e = on_overdue(&s, &overdue, cause);
    assert_eq!(alerts(&e)[0].kind, AlertKind::Escalation);
    assert_eq!(alerts(&e)[0].district.as_str(), "430100");
    apply(&mut s, &e);
    assert!(on_overdue(&s, &overdue, cause).events.is_empty());
}
