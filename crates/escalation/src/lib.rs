//! Green channel (绿色通道): a critical woman's emergency referral to a rescue centre that
//! accepts her, and if the centre asked does not answer in time, the next one up the ladder
//! (county → city → province) without anyone having to remember.
//!
//! - [`core`] (pure): a referral's state folded from its `referral-<id>` events, and the
//!   decisions for opening, acceptance (the first wins), hand-on, a fired acceptance deadline
//!   (escalation one rung up, or re-notification of the top rung), departure and arrival (to
//!   the minute), feedback (closes it) and near-miss records;
//! - [`projection`] (pure): the referral and the boards' rows as documents derived from the
//!   state;
//! - [`component`]: the thin edge to the store and the bus ([`component::consumer_configs`],
//!   a `bus::Handler` for `RiskAssessed` with `critical` and the fired
//!   `ReferralAcceptanceOverdue`);
//! - [`http`]: the router (`POST /v1/green-channel`, `/v1/referrals/{id}/…`, the boards);
//! - [`nearmiss`]: the WHO near-miss criteria as versioned data.
//!
//! Acceptance deadlines are rows in the store's deadline table, armed with the opening (and
//! each escalation) and cancelled with the acceptance, in the same transaction.

pub mod component;
pub mod core;
pub mod events;
pub mod http;
pub mod nearmiss;
pub mod projection;
pub mod replay;

pub use component::{consumer_configs, Actor, Escalation, EscalationError, OpenRequest};
pub use core::{ReferralState, Rejection, Status, Timing};
pub use nearmiss::NearMissCatalogue;
