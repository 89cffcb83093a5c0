//! Fuzzes the risk-card parser and validator: arbitrary bytes as a `POST /v1/risk-cards` body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn data() -> &'static (reference::ReferenceData, scoring::Catalogues) {
    static DATA: OnceLock<(reference::ReferenceData, scoring::Catalogues)> = OnceLock::new();
    DATA.get_or_init(|| {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../..");
        let reference = reference::ReferenceData::load(format!("{root}/config/reference/demo-city.toml")).unwrap();
        let region = scoring::Region::load(format!("{root}/config/regions/default.toml")).unwrap();
        (reference, region.load_catalogues().unwrap())
    })
}

fuzz_target!(|bytes: &[u8]| {
    let (reference, catalogues) = data();
    let now = time::macros::datetime!(2026-03-10 00:00 UTC);
    let _ = intake::fuzzing::card_body(bytes, reference, catalogues, now);
});
