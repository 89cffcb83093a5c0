//! Five-colour warning: every high-risk woman reaches her residence district's office as an
//! alert with a deadline, and nobody can forget to look.
//!
//! - [`core`] (pure): a case's state folded from its events, and the decisions for an
//!   assessment (grading history, colour changes, first high-risk, alerts and copies,
//!   transfers), an acknowledgement, an overdue deadline (escalation to the parent office) and
//!   a not-suitable judgement;
//! - [`projection`] (pure): the inbox and the registers as documents derived from the state;
//! - [`component`]: the thin edge to the store and the bus.
//!
//! Deadlines are rows in the store's deadline table, armed with the alert and cancelled with
//! the acknowledgement, in the same transaction; the scheduler fires `DistrictAlertOverdue`.
//! [`http`] is its router (inbox, acknowledgement, registers, not-suitable), on the shared
//! `edge` crate's authentication and problem responses.

pub mod component;
pub mod core;
pub mod events;
pub mod http;
pub mod projection;
pub mod replay;

pub use component::{Actor, Warning, WarningError};
pub use core::{CaseState, Decision, Rejection};
