//! Intake: where delivery hospitals' risk cards and pregnancy outcomes enter the service.
//! What a hospital sends is checked once, here, and then never lost.
//!
//! What it owns: the wire types ([`wire`]), the pure rules that parse a request into values
//! and list every wrong field ([`validate`]), case identity (one case per pregnancy, decided
//! in [`case`] and made safe under concurrency by an expected version on the per-woman
//! stream), the case view ([`view`]), CSV import ([`csv_import`]), the thin IO shell over the
//! event store ([`service`]) and the axum router with its OpenAPI document ([`http`]).
//! It appends `RiskCardSubmitted`, `PregnancyOutcomeReported` and its own case-identity
//! events ([`events`]). What it does not: grade cards (scoring does, from the bus), talk to
//! NATS, or read the system clock (the [`contracts::Clock`] is injected). It never logs a
//! name, ID number, phone or address: logs carry case and event ids.
//!
//! Wiring (for the `referral` binary):
//! ```no_run
//! # async fn wire(store: eventstore::Store, clock: std::sync::Arc<dyn contracts::Clock>) -> anyhow::Result<()> {
//! let reference = reference::ReferenceData::load("config/reference/demo-city.toml")?;
//! let catalogues = scoring::Region::load("config/regions/default.toml")?.load_catalogues()?;
//! let state = intake::IntakeState {
//!     store,
//!     clock,
//!     reference: std::sync::Arc::new(reference),
//!     catalogues: std::sync::Arc::new(catalogues),
//! };
//! let app: axum::Router = intake::router(state);
//! # Ok(()) }
//! ```

pub mod case;
pub mod csv_import;
pub mod events;
pub mod fuzzing;
pub mod http;
pub mod service;
pub mod validate;
pub mod view;
pub mod wire;

pub use http::{openapi_json, router, IntakeApi};
pub use service::{
    case_view, import_csv, import_csv_with_progress, store_card, store_outcome, submit_batch,
    submit_card, submit_outcome, IntakeState,
};
