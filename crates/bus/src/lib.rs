//! NATS JetStream wiring, and the only crate that speaks NATS.
//!
//! - [`setup`]: connect, and create or check the `REFERRAL` stream on `referral.>`, failing
//!   fast with a clear message when the server lacks JetStream or holds a different stream;
//! - [`relay`]: tails the event store and publishes every event with `Nats-Msg-Id =
//!   event_id`, pipelining the acks and moving its checkpoint only after them;
//! - [`consumer`]: durable pull consumers with explicit ack, bounded redelivery with
//!   back-off, and a dead-letter table for poison messages.
//!
//! It does not decide anything about the domain: handlers do. It works on nats-server 2.9
//! (Debian's) and current releases: no per-message TTL, no scheduling, one filter subject
//! per consumer.

pub mod consumer;
pub mod relay;
pub mod setup;

pub use consumer::{ComponentError, Consumer, ConsumerConfig, Handler, HandlerError};
pub use relay::Relay;
pub use setup::{connect, ensure_stream, BusError, StreamSettings};

/// Message header names, set by the relay on every event.
pub mod headers {
    /// JetStream's de-duplication header: the event id.
    pub const MSG_ID: &str = "Nats-Msg-Id";
    /// The event's global position in the store.
    pub const POSITION: &str = "Referral-Position";
    /// The event's stream in the store.
    pub const STREAM: &str = "Referral-Stream";
    /// The event's version in its stream.
    pub const VERSION: &str = "Referral-Version";
    /// The event type (PascalCase).
    pub const EVENT_TYPE: &str = "Referral-Event-Type";
    /// The payload schema version.
    pub const SCHEMA: &str = "Referral-Schema";
    /// W3C trace context of the span that produced the event.
    pub const TRACEPARENT: &str = "traceparent";
}
