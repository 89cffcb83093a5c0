//! Each catalogue code alone gives its colour or points, checked against the independent table
//! in `expected.rs`; plus counts, score bands and advice.

use crate::expected::{FIVE_COLOUR, SCORE, SCREENING};
use crate::{card_with, grade, seed};
use contracts::Colour;
use scoring::{HighRiskReason, Source, Table};

#[test]
fn the_seed_catalogues_have_every_entry_of_the_rule_book() {
    let (_, c) = seed();
    assert_eq!(c.five_colour().len(), 117);
    assert_eq!(c.score_items().len(), 64);
    assert_eq!(c.screening_items().len(), 48);
    assert_eq!(FIVE_COLOUR.len(), 117);
    assert_eq!(SCORE.len(), 64);
    assert_eq!(SCREENING.len(), 48);
    assert_eq!(c.versions().set.label(), "cn-nhc-2017@1");
    assert_eq!(
        c.versions().five_colour.label(),
        "cn-nhc-2017-five-colour@1"
    );
}

#[test]
fn every_five_colour_code_alone_gives_its_colour() {
    for (code, colour) in FIVE_COLOUR {
        let a = grade(&card_with(&[code]));
        let (want_colour, want_infectious) = match colour {
            Colour::Purple => (Colour::Green, true),
            c => (*c, false),
        };
        assert_eq!(a.colour, want_colour, "{code}");
        assert_eq!(a.infectious, want_infectious, "{code}");
        assert_eq!(a.score, 0, "{code}");
        assert_eq!(a.findings.len(), 1, "{code}");
        let f = &a.findings[0];
        assert_eq!(
            (f.code.as_str(), f.table, f.colour, f.points),
            (*code, Table::FiveColour, Some(*colour), None),
        );
        assert_eq!(f.sources, vec![Source::Declared]);
        // The rule book: orange, red and purple are case-managed; green and yellow are not.
        let want_high = matches!(colour, Colour::Orange | Colour::Red | Colour::Purple);
        assert_eq!(a.high_risk, want_high, "{code}");
        assert_eq!(
            a.advice.case_management,
            want_colour.rank() >= Some(2),
            "{code}"
        );
        assert_eq!(a.infectious_advice.is_some(), want_infectious, "{code}");
    }
}

#[test]
fn every_score_code_alone_gives_its_points_and_band() {
    for (code, points) in SCORE {
        let a = grade(&card_with(&[code]));
        assert_eq!(a.score, *points, "{code}");
        assert_eq!(a.colour, Colour::Green, "{code}");
        let f = &a.findings[0];
        assert_eq!(
            (f.table, f.points, f.colour),
            (Table::Score, Some(*points), None)
        );
        let band = a.score_band.as_ref().map(|b| b.name.as_str());
        let want = match points {
            0..=4 => None,
            5..=9 => Some("light"),
            10..=19 => Some("medium"),
            _ => Some("severe"),
        };
        assert_eq!(band, want, "{code}");
        assert_eq!(a.high_risk, *points >= 20, "{code}");
        if *points >= 20 {
            assert_eq!(
                a.high_risk_reasons,
                vec![HighRiskReason::Score {
                    points: *points,
                    min_score: 20
                }]
            );
        }
    }
}

#[test]
fn every_screening_code_alone_makes_her_screen_positive_only() {
    for code in SCREENING {
        let a = grade(&card_with(&[code]));
        assert!(a.screen_positive, "{code}");
        assert_eq!(
            (a.colour, a.score, a.high_risk),
            (Colour::Green, 0, false),
            "{code}"
        );
        assert_eq!(a.findings[0].table, Table::Screening);
    }
}

#[test]
fn nothing_found_is_green_with_no_band() {
    let a = grade(&crate::card());
    assert_eq!(a.colour, Colour::Green);
    assert!(!a.infectious && !a.high_risk && !a.screen_positive);
    assert_eq!(a.score, 0);
    assert_eq!(a.score_band, None);
    assert!(a.findings.is_empty());
    assert_eq!(a.advice.care_and_delivery, "any qualified facility");
}

#[test]
fn highest_colour_wins_and_purple_rides_alongside() {
    let a = grade(&card_with(&[
        "Y-BAS-SCAR",
        "R-HEM-LEUK",
        "O-CV-NYHA2",
        "P-INF-HIV",
    ]));
    assert_eq!(a.colour, Colour::Red);
    assert!(a.infectious);
    assert_eq!(
        a.high_risk_reasons,
        vec![
            HighRiskReason::Colour {
                colour: Colour::Red
            },
            HighRiskReason::Infectious
        ]
    );
    assert!(a.advice.care_and_delivery.contains("tertiary"));
    assert_eq!(
        a.infectious_advice.unwrap().care_and_delivery,
        "secondary level or higher"
    );
}

#[test]
fn points_add_up_to_the_severe_band() {
    // 10 + 10 = 20: severe, high-risk through the score alone while still green.
    let a = grade(&card_with(&["SC-01", "SC-13"]));
    assert_eq!(a.score, 20);
    assert_eq!(a.score_band.unwrap().name, "severe");
    assert_eq!(a.colour, Colour::Green);
    assert!(a.high_risk);
    // 5 + 10 = 15: medium, not high-risk.
    let a = grade(&card_with(&["SC-03", "SC-13"]));
    assert_eq!(a.score_band.unwrap().name, "medium");
    assert!(!a.high_risk);
}

#[test]
fn codes_are_read_case_insensitively_and_repeats_count_once() {
    let a = grade(&card_with(&[" sc-01 ", "SC-01", "y-bas-scar"]));
    assert_eq!(a.score, 10);
    assert_eq!(a.colour, Colour::Yellow);
    assert_eq!(a.findings.len(), 2);
}

#[test]
fn declared_colour_differing_from_computed_is_a_discrepancy() {
    use scoring::DiscrepancyKind::*;
    let cases: &[(&[&str], Colour, Option<scoring::DiscrepancyKind>)] = &[
        (&["O-BAS-AGE40"], Colour::Orange, None),
        (&["O-BAS-AGE40"], Colour::Yellow, Some(UnderGraded)),
        (&["Y-BAS-SCAR"], Colour::Red, Some(OverGraded)),
        (&[], Colour::Green, None),
        (&["P-INF-SYPH"], Colour::Purple, None),
        (&["P-INF-SYPH", "R-PSY"], Colour::Purple, Some(UnderGraded)),
        (&["Y-BAS-SCAR"], Colour::Purple, Some(NotInfectious)),
        (&["P-INF-SYPH", "Y-BAS-SCAR"], Colour::Yellow, None),
    ];
    for (codes, declared, want) in cases {
        let mut c = card_with(codes);
        c.declared_colour = Some(*declared);
        let a = grade(&c);
        assert_eq!(
            a.discrepancy.as_ref().map(|d| d.kind),
            *want,
            "{codes:?} declared {declared}"
        );
        assert_eq!(a.declared_colour, Some(*declared));
    }
}

#[test]
fn an_assessment_round_trips_through_json() {
    let mut c = card_with(&["R-HEM-LEUK", "P-INF-TB", "SC-21"]);
    c.measurements.hb_g_per_l = Some(55.0);
    c.declared_colour = Some(Colour::Yellow);
    let a = grade(&c);
    let json = serde_json::to_string(&a).unwrap();
    let back: scoring::Assessment = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["colour"], "red");
    assert_eq!(v["infectious"], true);
    assert_eq!(v["catalogues"]["set"]["id"], "cn-nhc-2017");
    assert_eq!(v["policy"]["id"], "seed-district");
    assert_eq!(v["discrepancy"]["kind"], "under_graded");
}
