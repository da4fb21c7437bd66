//! Service plumbing shared by Ward's processes, so each one starts, configures, reports and
//! stops the same way.
//!
//! # Layout
//! - [`cache`]: the versioned keys shared by projectors and the query API's Redis cache.
//! - [`config`]: typed configuration loaded from a TOML file, then `WARD_*` environment variables.
//! - [`telemetry`]: structured `tracing` logs, set up once per process.
//! - [`http`]: the API error body, the JSON extractor and correlation ids.
//! - [`session`]: sessions in Redis and the signed-in `Member` extractor, shared by the command
//!   and query APIs.
//! - [`member_index`]: reading a member's private index of their own items.
//! - [`ops`]: `/livez`, `/readyz`, `/metrics` and the HTTP request metrics layer.
//! - [`kafka`]: the event envelope on the wire, topic definitions and client settings.
//! - [`time`]: public times, rounded to the minute.
//! - [`shutdown`]: SIGTERM / Ctrl-C as a cancellation token, and graceful HTTP serving.

pub mod cache;
pub mod config;
pub mod http;
pub mod kafka;
pub mod member_index;
pub mod ops;
pub mod session;
pub mod shutdown;
pub mod telemetry;
pub mod time;
