//! Properties of the engine over random cards: adding a finding never lowers the colour or the
//! score; purple never hides the other colour; the result does not depend on finding order.

use crate::{card, seed};
use proptest::prelude::*;
use scoring::{assess, Assessment, Card, Measurements};

fn all_codes() -> Vec<String> {
    seed().1.codes().map(str::to_string).collect()
}

fn purple_codes() -> Vec<String> {
    all_codes()
        .into_iter()
        .filter(|c| c.starts_with("P-"))
        .collect()
}

fn run(c: &Card) -> Assessment {
    let (region, catalogues) = seed();
    assess(c, catalogues, &region.policy).unwrap()
}

/// Plausible measurements, each present or not.
fn measurements() -> impl Strategy<Value = Measurements> {
    (
        proptest::option::of(15i32..55),
        proptest::option::of((140.0f64..190.0, 40.0f64..120.0)),
        proptest::option::of((90u16..200, 50u16..89)),
        proptest::option::of(30.0f64..160.0),
        proptest::option::of(10.0f64..400.0),
        proptest::option::of((4u8..44, 0u8..7)),
        proptest::option::of(1u8..5),
    )
        .prop_map(|(age, hw, bp, hb, plt, ga, fetuses)| Measurements {
            birth_date: age.map(|a| {
                time::Date::from_calendar_date(2025 - a, time::Month::January, 10).unwrap()
            }),
            height_cm: hw.map(|(h, _)| h),
            weight_kg: hw.map(|(_, w)| w),
            systolic_mmhg: bp.map(|(s, _)| s),
            diastolic_mmhg: bp.map(|(_, d)| d),
            hb_g_per_l: hb,
            platelets_10e9_per_l: plt,
            gestational_weeks: ga.map(|(w, _)| w),
            gestational_days: ga.map(|(_, d)| d),
            fetuses,
        })
}

/// A random card: some codes (maybe repeated), some measurements.
fn cards() -> impl Strategy<Value = Card> {
    let codes = all_codes();
    (
        proptest::collection::vec(proptest::sample::select(codes), 0..12),
        measurements(),
    )
        .prop_map(|(findings, measurements)| {
            let mut c = card();
            c.findings = findings;
            c.measurements = measurements;
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn adding_a_finding_never_lowers_colour_or_score(
        c in cards(),
        extra in proptest::sample::select(all_codes()),
    ) {
        let before = run(&c);
        let mut more = c.clone();
        more.findings.push(extra.clone());
        let after = run(&more);
        prop_assert!(after.colour.rank() >= before.colour.rank(), "{extra}");
        prop_assert!(after.score >= before.score, "{extra}");
        prop_assert!(after.infectious >= before.infectious);
        prop_assert!(after.high_risk >= before.high_risk);
        prop_assert!(after.screen_positive >= before.screen_positive);
        prop_assert!(after.findings.len() >= before.findings.len());
    }

    #[test]
    fn purple_never_hides_the_other_colour(
        c in cards(),
        purple in proptest::sample::select(purple_codes()),
    ) {
        let before = run(&c);
        let mut more = c.clone();
        more.findings.push(purple);
        let after = run(&more);
        prop_assert_eq!(after.colour, before.colour);
        prop_assert_ne!(after.colour, contracts::Colour::Purple);
        prop_assert_eq!(after.score, before.score);
        prop_assert!(after.infectious);
        prop_assert!(after.high_risk);
    }

    #[test]
    fn the_result_does_not_depend_on_finding_order(
        c in cards(),
        seed_perm in any::<proptest::sample::Index>(),
    ) {
        let a = run(&c);
        let mut reversed = c.clone();
        reversed.findings.reverse();
        prop_assert_eq!(&run(&reversed), &a);
        let mut rotated = c.clone();
        if !rotated.findings.is_empty() {
            let k = seed_perm.index(rotated.findings.len());
            rotated.findings.rotate_left(k);
        }
        prop_assert_eq!(&run(&rotated), &a);
    }

    #[test]
    fn colour_is_the_highest_declared_or_derived(c in cards()) {
        let a = run(&c);
        let max = a.findings.iter().filter_map(|f| f.colour).filter_map(|c| c.rank()).max().unwrap_or(0);
        prop_assert_eq!(a.colour.rank(), Some(max));
        let sum: u32 = a.findings.iter().filter_map(|f| f.points).sum();
        prop_assert_eq!(a.score, sum);
    }
}
