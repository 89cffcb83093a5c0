//! Tests of the scoring crate through its public API, against the real seed configuration under
//! `config/`: every catalogue entry, the derived-finding boundaries, properties of the engine,
//! versioning of catalogues, intake validation, the policy, and the crate's conventions.
//!
//! One test binary (modules below) to keep link time down. No IO except reading `config/` and
//! scratch copies of it under the system temp folder.

mod catalogue_entries;
mod conventions;
mod expected;
mod policy;
mod properties;
mod thresholds;
mod validation;
mod versioning;

use scoring::{Card, Catalogues, Region};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The repository's `config/` folder.
pub fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// The seed district's region and catalogues, loaded once.
pub fn seed() -> &'static (Region, Catalogues) {
    static SEED: OnceLock<(Region, Catalogues)> = OnceLock::new();
    SEED.get_or_init(|| {
        let region = Region::load(config_dir().join("regions/default.toml")).unwrap();
        let catalogues = region.load_catalogues().unwrap();
        (region, catalogues)
    })
}

/// An empty card dated 2025-03-01.
pub fn card() -> Card {
    Card::new(time::macros::date!(2025 - 03 - 01))
}

/// A card with the given declared codes.
pub fn card_with(codes: &[&str]) -> Card {
    let mut c = card();
    c.findings = codes.iter().map(|s| s.to_string()).collect();
    c
}

/// Grades with the seed region.
pub fn grade(card: &Card) -> scoring::Assessment {
    let (region, catalogues) = seed();
    scoring::assess(card, catalogues, &region.policy).unwrap()
}
