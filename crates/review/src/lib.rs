//! Critical-case review (危重孕产妇评审) and quality indicators.
//!
//! What it owns: the case timeline ([`timeline`]), the review pack with the intervals behind
//! the three delays and its log coverage ([`pack`], [`html`]), the per-case check of the hash
//! chain ([`verify`]), reviewers' conclusions (`CaseReviewed` on `review-<case>`, [`events`]),
//! the per-case facts behind the quality indicators and review lists ([`facts`],
//! [`indicators`]), and the component that keeps those facts in step with the log
//! ([`component`]) and its HTTP endpoints ([`http`]).
//!
//! What it does not: it decides nothing for the other components and appends only its own
//! conclusions; timeline and pack read the log itself (the log is the evidence), never a read
//! model; indicators read only this component's documents of one district, never the log.
//! Wording, facts, pack and indicators are pure functions of events; IO is in `component`,
//! `verify` and `http`.

pub mod component;
pub mod events;
pub mod facts;
pub mod html;
pub mod http;
pub mod indicators;
pub mod pack;
pub mod policy;
pub mod replay;
pub mod timeline;
pub mod verify;

pub use component::{consumer_config, Conclusion, ReviewService, COMPONENT};
pub use events::{Avoidability, CaseReviewed, ReviewLevel};
pub use facts::CaseFacts;
pub use policy::{Period, PolicyError, ReviewPolicy};
