//! Shared test fixtures: real catalogues and policy, and `RiskAssessed` events graded by the
//! real engine.
#![allow(dead_code)]

use contracts::{CaseId, DistrictCode, InstitutionCode};
use scoring::{assess, Card, Catalogues, Policy, Region, RiskAssessed};
use std::sync::OnceLock;
use time::OffsetDateTime;

pub fn seed() -> &'static (Catalogues, Policy) {
    static SEED: OnceLock<(Catalogues, Policy)> = OnceLock::new();
    SEED.get_or_init(|| {
        let region = Region::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/regions/default.toml"
        ))
        .unwrap();
        (region.load_catalogues().unwrap(), region.policy)
    })
}

pub fn policy() -> &'static Policy {
    &seed().1
}

/// A `RiskAssessed` for case `case`, with these finding codes, living in `home`, reported by a
/// hospital in `hospital_district`.
pub fn assessed(
    case: &str,
    codes: &[&str],
    home: &str,
    hospital_district: &str,
    at: OffsetDateTime,
    received: OffsetDateTime,
) -> RiskAssessed {
    let (cats, policy) = seed();
    let mut card = Card::new(at.to_offset(contracts::china_offset()).date());
    card.findings = codes.iter().map(|c| (*c).to_owned()).collect();
    RiskAssessed {
        case_id: CaseId::parse(case).unwrap(),
        card_id: format!("card-{}", at.unix_timestamp()),
        card_event_id: uuid::Uuid::new_v4(),
        institution: InstitutionCode::parse("H-01").unwrap(),
        institution_district: DistrictCode::parse(hospital_district).unwrap(),
        residence_district: DistrictCode::parse(home).unwrap(),
        assessed_at: at,
        received_at: received,
        critical: false,
        assessment: assess(&card, cats, policy).unwrap(),
    }
}
