//! The one binary's library: configuration, the application that wires the store, the bus,
//! the relay, the deadline scheduler and the HTTP endpoints together, and the operator
//! commands. Domain components (intake, scoring, …) plug in here as they arrive.
//!
//! It owns process concerns only: no SQL (the `eventstore` crate), no NATS protocol (the
//! `bus` crate), no domain rule.

pub mod app;
pub mod config;
pub mod demo;
pub mod http;
pub mod replay;

pub use app::Application;
pub use config::Config;
