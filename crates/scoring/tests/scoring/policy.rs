//! The seed district's policy as the rule book's "Default policy" table states it, region file
//! errors, and which alert an assessment starts.

use crate::{card_with, config_dir, grade, seed};
use contracts::Colour;
use scoring::{AlertTrigger, Region};

#[test]
fn the_default_region_carries_the_seed_policy() {
    let (region, _) = seed();
    let p = &region.policy;
    assert_eq!(region.id, "default");
    assert_eq!(p.identity.label(), "seed-district@4");
    assert_eq!(p.identity.sha256.len(), 64);
    assert_eq!(
        p.high_risk.colours,
        vec![Colour::Orange, Colour::Red, Colour::Purple]
    );
    assert_eq!(p.high_risk.min_score, Some(20));
    let deadline = |t: AlertTrigger| {
        p.alerts
            .iter()
            .find(|a| a.trigger == t)
            .unwrap()
            .deadline_hours
    };
    assert_eq!(deadline(AlertTrigger::BecameHighRisk), 48);
    assert_eq!(
        deadline(AlertTrigger::Colour {
            colour: Colour::Red
        }),
        48
    );
    assert_eq!(
        deadline(AlertTrigger::Colour {
            colour: Colour::Purple
        }),
        48
    );
    // Event alerts: the death report within 2 days; lost to follow-up.
    assert_eq!(p.event_alert_hours(AlertTrigger::MaternalDeath), Some(48));
    assert_eq!(p.event_alert_hours(AlertTrigger::LostToFollowUp), Some(48));
    let f = &p.follow_up;
    assert_eq!(
        (
            f.contacts_per_month,
            f.utc_offset_hours,
            f.attempts_per_month,
            f.attempt_gap_hours
        ),
        (1, 8, 3, 24)
    );
    assert_eq!(
        (
            f.missed_months_lost,
            f.face_to_face_by_week,
            f.postpartum_visit_days,
            f.postnatal_check_days
        ),
        (2, 32, 7, 42)
    );
    assert_eq!(f.outcome_unknown_after_edd_days, 14);
    assert_eq!(p.green_channel.acceptance_timeout_minutes, 15);
    assert_eq!(p.green_channel.levels, ["county", "city", "province"]);
}

#[test]
fn region_file_errors_name_the_file_and_line() {
    let text = std::fs::read_to_string(config_dir().join("regions/default.toml")).unwrap();
    let bad = text.replace(
        "colours = [\"orange\", \"red\", \"purple\"]",
        "colours = [\"orange\", \"crimson\"]",
    );
    let line = bad.lines().position(|l| l.contains("crimson")).unwrap() + 1;
    let err = Region::from_toml("r.toml", bad.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(&format!("r.toml:{line}: ")), "{err}");
    let bad = text.replace(
        "trigger = \"colour_raised\"\ndeadline_hours = 48",
        "trigger = \"became_high_risk\"\ndeadline_hours = 24",
    );
    let err = Region::from_toml("r.toml", bad.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("duplicate alert trigger BecameHighRisk"),
        "{err}"
    );
}

#[test]
fn a_policy_edit_changes_the_policy_identity() {
    let text = std::fs::read_to_string(config_dir().join("regions/default.toml")).unwrap();
    let a = Region::from_toml("a", text.as_bytes()).unwrap();
    let b = Region::from_toml(
        "b",
        text.replace("min_score = 20", "min_score = 25").as_bytes(),
    )
    .unwrap();
    assert_eq!(a.policy.identity.label(), b.policy.identity.label());
    assert_ne!(a.policy.identity, b.policy.identity);
    assert_eq!(a.policy, seed().0.policy);
}

#[test]
fn alerts_start_on_becoming_high_risk_or_rising() {
    let (region, _) = seed();
    let p = &region.policy;
    let yellow = grade(&card_with(&["Y-BAS-SCAR"]));
    let orange = grade(&card_with(&["O-BAS-AGE40"]));
    let red = grade(&card_with(&["R-PSY"]));
    assert_eq!(p.alert_due(None, &yellow), None);
    let due = p.alert_due(None, &orange).unwrap();
    assert_eq!(due.triggers, vec![AlertTrigger::BecameHighRisk]);
    assert_eq!(due.deadline_hours, 48);
    let due = p.alert_due(Some(&orange), &red).unwrap();
    assert_eq!(
        due.triggers,
        vec![
            AlertTrigger::ColourRaised,
            AlertTrigger::Colour {
                colour: Colour::Red
            }
        ]
    );
    assert_eq!(p.alert_due(Some(&red), &red), None);
    assert_eq!(p.alert_due(Some(&red), &orange), None);
    let due = p.alert_due(Some(&yellow), &orange).unwrap();
    assert_eq!(
        due.triggers,
        vec![AlertTrigger::BecameHighRisk, AlertTrigger::ColourRaised]
    );
}

#[test]
fn the_shortest_deadline_wins() {
    let text = std::fs::read_to_string(config_dir().join("regions/default.toml")).unwrap();
    let strict = text.replace(
        "colour = \"red\"\ndeadline_hours = 48",
        "colour = \"red\"\ndeadline_hours = 0",
    );
    let region = Region::from_toml("strict", strict.as_bytes()).unwrap();
    let red = grade(&card_with(&["R-PSY"]));
    assert_eq!(
        region.policy.alert_due(None, &red).unwrap().deadline_hours,
        0
    );
}
