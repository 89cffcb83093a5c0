//! The pure core without a store: the plan follows the policy data (not constants), the
//! visit is due at once when she became high-risk after the policy week, and a decision
//! repeated on its own result adds nothing.

mod common;

use common::*;
use contracts::{Colour, Envelope, Metadata, StreamId};
use followup::core::{self, CaseState, Decision, YearMonth};
use followup::events::{FollowUpScheduled, ItemKind};
use scoring::FollowUp;
use time::macros::{date, datetime};

fn apply(state: &mut CaseState, d: &Decision) {
    for (i, e) in d.events.iter().enumerate() {
        let env = Envelope {
            event_id: e.event_id,
            stream_id: StreamId::parse("followup-c").unwrap(),
            version: state.version.unwrap_or(0) + 1,
            position: i as i64,
            case_id: None,
            event_type: e.event_type.to_owned(),
            schema_version: 1,
            payload: e.payload.clone(),
            metadata: Metadata::system("test"),
            occurred_at: e.occurred_at,
            recorded_at: e.occurred_at,
        };
        state.evolve(&env).unwrap();
    }
}

fn open(policy: &FollowUp, at: time::OffsetDateTime, lmp: time::Date) -> (CaseState, Decision) {
    let c = case("c");
    let mut s = CaseState::default();
    let d1 = core::on_card(
        &s,
        &card(&c, "430103", at, Some(lmp), None),
        uuid::Uuid::from_u128(1),
        policy,
    );
    apply(&mut s, &d1);
    let d2 = core::on_opened(
        &s,
        &opened(&c, "430103", grade(Colour::Red, false, 30), at),
        uuid::Uuid::from_u128(2),
        policy,
    );
    apply(&mut s, &d2);
    (s, d2)
}

#[test]
fn the_plan_is_policy_data() {
    let at = datetime!(2026-04-10 09:00 +08:00);
    let (s, d) = open(policy(), at, date!(2025 - 12 - 01));
    let items: Vec<(ItemKind, Option<String>, String)> = d
        .of::<FollowUpScheduled>()
        .into_iter()
        .map(|i| (i.kind, i.month, i.due_date.to_string()))
        .collect();
    assert_eq!(
        items,
        vec![
            (
                ItemKind::PhoneCall,
                Some("2026-04".into()),
                "2026-04-30".into()
            ),
            (
                ItemKind::PhoneCall,
                Some("2026-05".into()),
                "2026-05-31".into()
            ),
            (ItemKind::FaceToFace, None, "2026-07-13".into()),
        ]
    );
    // Deadlines: April's and May's month ends, and the outcome watch at EDD + 14 days.
    let arms: Vec<(&str, String)> = d
        .arm
        .iter()
        .map(|a| (a.kind, a.due_at.to_string()))
        .collect();
    assert_eq!(arms.len(), 3, "{arms:?}");
    assert_eq!(d.arm[0].due_at, datetime!(2026-05-01 00:00 +08:00));
    assert_eq!(d.arm[2].due_at, datetime!(2026-09-21 00:00 +08:00)); // 2026-09-07 + 14
                                                                     // Deciding again on the result adds no event.
    let again = core::on_opened(
        &s,
        &opened(&case("c"), "430103", grade(Colour::Red, false, 30), at),
        uuid::Uuid::from_u128(2),
        policy(),
    );
    assert!(again.events.is_empty());

    // Another region: two calls a month, the visit by week 28, the watch after 7 days.
    let mut other = policy().clone();
    other.contacts_per_month = 2;
    other.face_to_face_by_week = 28;
    other.outcome_unknown_after_edd_days = 7;
    let (_, d) = open(&other, at, date!(2025 - 12 - 01));
    let due: Vec<String> = d
        .of::<FollowUpScheduled>()
        .iter()
        .map(|i| i.due_date.to_string())
        .collect();
    assert_eq!(
        due,
        [
            "2026-04-15",
            "2026-04-30",
            "2026-05-16",
            "2026-05-31",
            "2026-06-15"
        ]
    );
    assert_eq!(d.arm[2].due_at, datetime!(2026-09-14 00:00 +08:00));
}

#[test]
fn the_visit_is_due_at_once_after_the_policy_week() {
    let at = datetime!(2026-04-10 09:00 +08:00);
    let (_, d) = open(policy(), at, date!(2025 - 08 - 01)); // 36 weeks
    let visit = d
        .of::<FollowUpScheduled>()
        .into_iter()
        .find(|i| i.kind == ItemKind::FaceToFace)
        .unwrap();
    assert_eq!(visit.due_date, date!(2026 - 04 - 10));
    assert_eq!(YearMonth::parse("2026-12").unwrap().next().key(), "2027-01");
    assert!(YearMonth::parse("2026-1").is_none());
}

#[test]
fn a_maternal_death_closes_everything_and_a_delivery_keeps_postpartum_items() {
    let at = datetime!(2026-04-10 09:00 +08:00);
    let (s, _) = open(policy(), at, date!(2025 - 12 - 01));
    let died = outcome(
        &case("c"),
        contracts::OutcomeKind::MaternalDeath,
        datetime!(2026-04-20 03:00 +08:00),
        None,
    );
    let d = core::on_outcome_reported(&s, &died, uuid::Uuid::from_u128(3), policy());
    assert_eq!(
        d.types(),
        [
            "PregnancyEndedNoted",
            "FollowUpClosed",
            "FollowUpClosed",
            "FollowUpClosed"
        ]
    );
    assert!(d.of::<FollowUpScheduled>().is_empty());
    assert!(d.arm.is_empty());
    assert_eq!(d.cancel.len(), 3, "two month ends and the outcome watch");

    let born = outcome(
        &case("c"),
        contracts::OutcomeKind::Delivery,
        datetime!(2026-04-20 03:00 +08:00),
        Some(datetime!(2026-04-23 10:00 +08:00)),
    );
    let d = core::on_outcome_reported(&s, &born, uuid::Uuid::from_u128(4), policy());
    let due: Vec<(ItemKind, String)> = d
        .of::<FollowUpScheduled>()
        .iter()
        .map(|i| (i.kind, i.due_date.to_string()))
        .collect();
    assert_eq!(
        due,
        [
            (ItemKind::PostpartumVisit, "2026-04-30".to_owned()),
            (ItemKind::PostnatalCheck, "2026-06-01".to_owned()),
        ]
    );
}
