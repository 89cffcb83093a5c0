//! Intake validation: unknown codes come back with close valid codes; impossible measurements
//! name their field; every problem is reported at once.

use crate::{card, card_with, seed};
use scoring::{assess, validate, Problem};
use time::macros::date;

fn problems(c: &scoring::Card) -> Vec<Problem> {
    let (region, catalogues) = seed();
    let e = assess(c, catalogues, &region.policy).unwrap_err();
    assert_eq!(validate(c, catalogues).unwrap_err(), e);
    e.problems
}

fn close(code: &str) -> Vec<String> {
    match &problems(&card_with(&[code]))[..] {
        [Problem::UnknownCode { code: c, close }] if c == code => close.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_codes_list_close_valid_codes() {
    assert_eq!(close("Y-BAS-AGE36")[0], "Y-BAS-AGE35");
    assert_eq!(close("SC-1")[0], "SC-01");
    assert!(close("SC-1").len() <= 5);
    assert!(close("O-BAS-AGE4").contains(&"O-BAS-AGE40".to_string()));
    assert!(close("AGE40").contains(&"O-BAS-AGE40".to_string()));
    assert_eq!(close("Y-HEM-ANEMIA")[0], "Y-HEM-ANEM");
    // Nothing close: falls back to codes sharing the longest prefix.
    let far = close("P-INF-ZZZZZZZZZ");
    assert!(
        !far.is_empty() && far.iter().all(|c| c.starts_with("P-INF-")),
        "{far:?}"
    );
    assert!(close("###").is_empty());
}

/// Puts one impossible value on a card's measurements.
type SetMeasurement = fn(&mut scoring::Measurements);

#[test]
fn impossible_measurements_name_their_field() {
    let cases: &[(&str, SetMeasurement)] = &[
        ("measurements.height_cm", |m| m.height_cm = Some(20.0)),
        ("measurements.hb_g_per_l", |m| m.hb_g_per_l = Some(900.0)),
        ("measurements.weight_kg", |m| m.weight_kg = Some(-3.0)),
        ("measurements.platelets_10e9_per_l", |m| {
            m.platelets_10e9_per_l = Some(5000.0)
        }),
        ("measurements.gestational_weeks", |m| {
            m.gestational_weeks = Some(50)
        }),
        ("measurements.fetuses", |m| m.fetuses = Some(0)),
        ("measurements.systolic_mmhg", |m| {
            m.systolic_mmhg = Some(400);
            m.diastolic_mmhg = Some(80);
        }),
        ("measurements.diastolic_mmhg", |m| {
            m.systolic_mmhg = Some(90);
            m.diastolic_mmhg = Some(120);
        }),
        ("measurements.birth_date", |m| {
            m.birth_date = Some(date!(2026 - 01 - 01))
        }),
        ("measurements.birth_date", |m| {
            m.birth_date = Some(date!(1900 - 01 - 01))
        }),
        ("measurements.gestational_days", |m| {
            m.gestational_weeks = Some(30);
            m.gestational_days = Some(7);
        }),
        ("measurements.hb_g_per_l", |m| m.hb_g_per_l = Some(f64::NAN)),
        ("bmi", |m| {
            m.height_cm = Some(200.0);
            m.weight_kg = Some(30.0);
        }),
    ];
    for (field, set) in cases {
        let mut c = card();
        set(&mut c.measurements);
        let p = problems(&c);
        assert_eq!(p.len(), 1, "{field}: {p:?}");
        let text = p[0].to_string();
        assert!(text.starts_with(field), "{field}: {text}");
    }
}

#[test]
fn every_problem_is_reported_at_once_without_repeating_values() {
    let mut c = card_with(&["Y-BAS-AGE35", "NOPE-1", "SC-99"]);
    c.measurements.height_cm = Some(20.0);
    c.measurements.hb_g_per_l = Some(900.0);
    c.measurements.systolic_mmhg = Some(80);
    c.measurements.diastolic_mmhg = Some(120);
    let p = problems(&c);
    assert_eq!(p.len(), 5, "{p:?}");
    assert!(matches!(&p[0], Problem::UnknownCode { code, .. } if code == "NOPE-1"));
    assert!(matches!(&p[1], Problem::UnknownCode { code, .. } if code == "SC-99"));
    let (region, catalogues) = seed();
    let msg = assess(&c, catalogues, &region.policy)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("measurements.height_cm") && msg.contains("measurements.hb_g_per_l"));
    assert!(!msg.contains("900"), "{msg}");
}

#[test]
fn a_good_card_validates() {
    let (_, catalogues) = seed();
    let mut c = card_with(&["O-CV-NYHA2", "sc-21"]);
    c.measurements.height_cm = Some(158.0);
    c.measurements.weight_kg = Some(61.5);
    c.measurements.systolic_mmhg = Some(118);
    c.measurements.diastolic_mmhg = Some(76);
    assert_eq!(validate(&c, catalogues), Ok(()));
}

#[test]
fn a_card_reads_from_json_and_rejects_unknown_fields() {
    let c: scoring::Card = serde_json::from_str(
        r#"{"assessed_on":"2025-03-01","findings":["SC-01"],
            "measurements":{"hb_g_per_l":95.0},"declared_colour":"yellow"}"#,
    )
    .unwrap();
    assert_eq!(c.measurements.hb_g_per_l, Some(95.0));
    assert!(serde_json::from_str::<scoring::Card>(
        r#"{"assessed_on":"2025-03-01","measurements":{"hb":95.0}}"#
    )
    .is_err());
}
