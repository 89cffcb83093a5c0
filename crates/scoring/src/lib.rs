//! Risk scoring: grades a woman's risk card against a region's versioned catalogues and policy,
//! as the rule book (《孕产妇妊娠风险评估与管理工作规范》) describes: five-colour grade (highest
//! wins, purple carried alongside), the older additive score and its bands, high-risk (专案) with
//! reasons, findings derived from measurements, and the hospital's declared colour compared.
//!
//! What it owns: the catalogue and policy data model and their validation ([`catalogue`],
//! [`policy`]), intake validation of a card ([`validate`]) and the pure engine ([`assess`]).
//! What it does not: it has no clock (the date is on the card), no NATS, no SQL, no async and no
//! IO except [`load`], which reads the data files once at start. Every clinical number is data
//! under `config/`, never a constant here. The one exception to "pure" is [`component`], the
//! thin edge that consumes `RiskCardSubmitted` from the bus and appends [`RiskAssessed`].
//!
//! Versioning rule: every catalogue file is identified by `id@version` plus the sha256 of its
//! content ([`VersionId`]); the set's `manifest.toml` pins each file's hash, so an edited file
//! does not load until its entry gets a new version and hash. An [`Assessment`] records the
//! identities it was made with and is never recomputed: loading a new version changes only
//! future assessments.
//!
//! ```no_run
//! use scoring::{assess, Card, Region};
//! let region = Region::load("config/regions/default.toml")?;
//! let catalogues = region.load_catalogues()?;
//! let mut card = Card::new(time::macros::date!(2025 - 03 - 01));
//! card.findings.push("O-CV-NYHA2".into());
//! let a = assess(&card, &catalogues, &region.policy)?;
//! assert!(a.high_risk);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod card;
pub mod catalogue;
pub mod component;
pub mod engine;
pub mod error;
pub mod events;
pub mod load;
pub mod policy;
pub mod validate;

pub use card::{age_in_years, bmi, Card, Measurements};
pub use catalogue::{
    content_sha256, Advice, CatalogueVersions, Catalogues, Condition, Confidence, DerivedRule,
    FiveColourEntry, Measure, ScoreBand, ScoreItem, ScreeningItem, Table, VersionId,
};
pub use engine::{
    assess, Assessment, Discrepancy, DiscrepancyKind, Finding, HighRiskReason, Source,
};
pub use error::{LoadError, LoadProblem};
pub use events::RiskAssessed;
pub use policy::{
    AlertDue, AlertRule, AlertTrigger, CatalogueSelection, FollowUp, Grade, GreenChannel,
    HighRiskRule, Policy, Region,
};
pub use validate::{canonical_code, close_codes, levenshtein, validate, AssessError, Problem};
