//! Intake's tests beyond its unit tests, in one binary: the pure rules table by table
//! (`rules`), arbitrary bodies against the parser (`properties`), the HTTP API on real SQLite
//! and PostgreSQL stores (`api`, `concurrency`), and the wire contract in `proto/`
//! (`contract`).

mod api;
mod concurrency;
mod contract;
mod helpers;
mod properties;
mod rules;
