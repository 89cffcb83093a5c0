//! The generated cards against the real intake validator and the real scoring engine.

use super::*;
use contracts::InstitutionCode;
use intake::validate::{validate_card, Context, Rejection};
use intake::wire::RiskCardRequest;
use std::collections::{HashMap, HashSet};
use time::macros::datetime;

fn data() -> (ReferenceData, Catalogues, scoring::Policy) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let reference =
        ReferenceData::load(format!("{root}/config/reference/demo-city.toml")).expect("reference");
    let region =
        scoring::Region::load(format!("{root}/config/regions/default.toml")).expect("region");
    let catalogues = region.load_catalogues().expect("catalogues");
    (reference, catalogues, region.policy)
}

const END: OffsetDateTime = datetime!(2026-11-01 08:00 +8);

fn check_cards(config: SynthConfig, n: usize) -> HashMap<&'static str, usize> {
    let (reference, catalogues, policy) = data();
    let mut gen = Synth::new(&reference, &catalogues, config).expect("generator");
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    let mut seen_ids = HashSet::new();
    for card in gen.by_ref().take(n) {
        let req: RiskCardRequest =
            serde_json::from_value(card.body.clone()).expect("the wire format parses");
        let caller = InstitutionCode::parse(&card.institution).expect("institution code");
        let ctx = Context {
            reference: &reference,
            catalogues: &catalogues,
            now: END,
            caller: &caller,
        };
        let result = validate_card(&req, &ctx);
        match card.kind {
            CardKind::Valid {
                colour, infectious, ..
            } => {
                let valid = match result {
                    Ok(v) => v,
                    Err(e) => panic!("{card:?} refused: {e:?}"),
                };
                assert!(valid.warnings.is_empty(), "{card:?}: warnings");
                assert!(seen_ids.insert(card.card_id.clone()), "card ids are unique");
                let scored = scoring::Card {
                    assessed_on: valid.assessed_at.date(),
                    findings: valid.findings.clone(),
                    measurements: valid.measurements.clone(),
                    declared_colour: valid.declared_colour,
                };
                let a = scoring::assess(&scored, &catalogues, &policy).expect("grades");
                assert_eq!(a.colour, colour, "{card:?}");
                assert_eq!(a.infectious, infectious, "{card:?}");
                assert!(a.discrepancy.is_none(), "{card:?}");
                *counts.entry(colour.as_str()).or_default() += 1;
                if infectious {
                    *counts.entry("infectious").or_default() += 1;
                }
            }
            CardKind::Duplicate => {
                assert!(result.is_ok(), "a duplicate is a valid card");
                assert!(
                    seen_ids.contains(&card.card_id),
                    "a duplicate repeats a card"
                );
                *counts.entry("duplicate").or_default() += 1;
            }
            CardKind::Invalid(reason) => {
                assert!(
                    matches!(result, Err(Rejection::Invalid(_))),
                    "{reason:?} accepted"
                );
                *counts.entry("invalid").or_default() += 1;
            }
        }
    }
    counts
}

#[test]
fn valid_cards_grade_to_their_colour_and_invalid_ones_are_refused() {
    let mut config = SynthConfig::history(7, END);
    config.duplicate_share = 0.05;
    config.invalid_share = 0.05;
    let counts = check_cards(config, 3_000);
    for k in [
        "green",
        "yellow",
        "orange",
        "red",
        "infectious",
        "duplicate",
        "invalid",
    ] {
        assert!(
            counts.get(k).copied().unwrap_or(0) > 0,
            "no {k}: {counts:?}"
        );
    }
    // Mostly green and yellow.
    let low = counts["green"] + counts["yellow"];
    let high = counts["orange"] + counts["red"];
    assert!(low > 3 * high, "{counts:?}");
}

#[test]
fn live_cards_are_valid_too() {
    let counts = check_cards(SynthConfig::live(11, END), 1_000);
    assert!(counts["green"] > 0);
}

#[test]
fn the_same_seed_gives_the_same_cards() {
    let (reference, catalogues, _) = data();
    let a: Vec<Value> = Synth::new(&reference, &catalogues, SynthConfig::history(3, END))
        .unwrap()
        .take(200)
        .map(|c| c.body)
        .collect();
    let b: Vec<Value> = Synth::new(&reference, &catalogues, SynthConfig::history(3, END))
        .unwrap()
        .take(200)
        .map(|c| c.body)
        .collect();
    let c: Vec<Value> = Synth::new(&reference, &catalogues, SynthConfig::history(4, END))
        .unwrap()
        .take(200)
        .map(|c| c.body)
        .collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn repeat_visits_are_in_order_for_one_woman() {
    let (reference, catalogues, _) = data();
    let mut last: HashMap<u64, (u32, String)> = HashMap::new();
    let mut repeats = 0;
    for card in Synth::new(&reference, &catalogues, SynthConfig::history(5, END))
        .unwrap()
        .take(2_000)
    {
        if !matches!(card.kind, CardKind::Valid { .. }) {
            continue;
        }
        let at = card.body["assessed_at"].as_str().unwrap().to_owned();
        if let Some((v, prev)) = last.get(&card.woman) {
            assert_eq!(card.visit, v + 1);
            assert!(at > *prev, "later visit, later time");
            repeats += 1;
        }
        last.insert(card.woman, (card.visit, at));
    }
    assert!(repeats > 100);
}

#[test]
fn resident_ids_carry_the_right_check_character() {
    let mut rng = Rng::new(1);
    for i in 0..500 {
        let id = resident_id("430102", time::macros::date!(1995 - 03 - 07), i, &mut rng);
        let parsed = contracts::ResidentId::parse(&id).expect("valid");
        assert!(parsed.warnings().is_empty(), "female sequence digit");
    }
    // The standard's worked example.
    assert_eq!(resident_id_check_char(b"11010519491231002"), b'X');
}
