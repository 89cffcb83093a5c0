//! The instrument that proves the service keeps its promises under load and faults, and the
//! figures that show how fast it is (issue 10).
//!
//! What it owns: the measured run ([`run`]: batch and single-card phases over HTTP, alert
//! latency on NATS and in the inbox, events/s, peak RSS, raw baselines in the same run), the
//! replay figure ([`replay`]), the invariant checker ([`check`]), the HTTP driver with
//! idempotent retries ([`drive`]) and the processes a scenario needs, each killed on drop
//! ([`procs`]). The `loadgen` binary exposes them: `run`, `replay`, `check`, `serve`.
//!
//! What it does not: it is not part of the service (nothing in `referral` links it), it
//! talks to loopback only, every run is bounded in count and time, and it never logs
//! personal data (violations and wrong answers name card and case ids only). It speaks SQL
//! and NATS directly only in [`baseline`] (scratch table, scratch stream) and
//! [`replay::raw_read`] (a plain read of `events`), to measure the raw cost beside the
//! service's.

pub mod baseline;
pub mod check;
pub mod client;
pub mod drive;
pub mod procs;
pub mod replay;
pub mod run;
pub mod stats;
