//! The parser entry points the fuzz targets (`crates/intake/fuzz`) drive, kept here so that
//! an ordinary test runs them too: raw bytes in, and nothing may panic. Each returns whether
//! the input was accepted.

use crate::validate::{validate_card, Context};
use crate::wire::RiskCardRequest;
use contracts::InstitutionCode;
use reference::ReferenceData;
use scoring::Catalogues;
use time::OffsetDateTime;

/// A card body as `POST /v1/risk-cards` receives it: JSON parse, then every rule.
pub fn card_body(
    bytes: &[u8],
    reference: &ReferenceData,
    catalogues: &Catalogues,
    now: OffsetDateTime,
) -> bool {
    let Ok(req) = edge::parse_json::<RiskCardRequest>(bytes) else {
        return false;
    };
    let caller = InstitutionCode::parse(&req.institution_code)
        .unwrap_or_else(|_| InstitutionCode::parse("X").expect("valid"));
    let ctx = Context {
        reference,
        catalogues,
        now,
        caller: &caller,
    };
    validate_card(&req, &ctx).is_ok()
}

/// A CSV import body.
pub fn csv_body(bytes: &[u8]) -> bool {
    crate::csv_import::parse_csv(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_entry_points_survive_odd_input() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let reference =
            ReferenceData::load(format!("{root}/config/reference/demo-city.toml")).unwrap();
        let catalogues = scoring::Region::load(format!("{root}/config/regions/default.toml"))
            .unwrap()
            .load_catalogues()
            .unwrap();
        let now = time::macros::datetime!(2026-03-10 00:00 UTC);
        for input in [
            &b""[..],
            b"{",
            b"null",
            b"[]",
            b"{\"card_id\":1}",
            "{\"woman\":{\"id_number\":\"\u{0}\"}}".as_bytes(),
            &[0xff, 0xfe, 0x00],
        ] {
            assert!(!card_body(input, &reference, &catalogues, now));
            let _ = csv_body(input);
        }
    }
}
