//! Follow-up of high-risk women: every woman under case management is phoned every calendar
//! month (UTC+8) until the pregnancy ends, seen face to face before delivery, visited after
//! discharge and checked at 42 days; unanswered calls are retried, a month with no contact is
//! missed, and the policy's number of missed months in a row makes her lost to follow-up.
//!
//! - [`core`] (pure): a case's follow-up state folded from `followup-<case>`, the plan, and
//!   the decisions for each input (card details, opening, transfer, outcome, fired deadlines,
//!   attempts, assignments);
//! - [`projection`] (pure): the worklist items and the per-case summary as documents;
//! - [`component`]: the thin edge to the store and the bus ([`component::consumer_configs`],
//!   a [`bus::Handler`]);
//! - [`http`]: the worklist (JSON, CSV, XLSX), attempt outcomes and assignments.
//!
//! Month items are generated lazily: the current and the next month are scheduled, and the
//! scheduler's `FollowUpMonthEnded` (a deadline armed with each month) judges the month and
//! schedules the one after. Policy numbers come from the region file
//! (`policy.follow_up`), never from code.

pub mod component;
pub mod core;
pub mod events;
pub mod http;
pub mod projection;
pub mod replay;

pub use component::{consumer_configs, Actor, FollowUpError, FollowUpService};
pub use core::{CaseState, Decision, Rejection};
