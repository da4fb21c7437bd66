//! Ward's write side. Authenticates the caller, runs commands against cqrs-es aggregates
//! stored by postgres-es, and relays the committed events from the transactional outbox to
//! Kafka.
//!
//! # Layout
//! - [`app`]: start-up — pools, migrations, the router, the relay — and [`run`].
//! - [`execute`]: runs one command against one aggregate and reports the new version.
//! - [`session`]: sessions in Redis and the `Member` extractor.
//! - [`posts`]: the post endpoints.
//! - [`outbox`]: the relay from the outbox table to Kafka, with its single-leader lock.

pub mod app;
pub mod execute;
pub mod outbox;
pub mod posts;
pub mod session;

pub use app::{migrate, run};
