//! Ward's projectors: Kafka consumer groups that turn the event log into read models.
//!
//! Each projection stores its consumer offsets in its own read-model database, in the same
//! transaction as the changes a batch made, and on partition assignment the consumer seeks to
//! those stored offsets. A crash or a redelivered record therefore never loses or doubles an
//! effect; applying an event twice changes nothing (each row remembers the last sequence
//! applied to it).
//!
//! # Layout
//! - [`consumer`]: the consumer loop shared by every projection: batches, the stored-offset
//!   seek on assignment, retries, lag metrics, graceful shutdown.
//! - [`board`]: the board read model in PostgreSQL (`ward_board`).
//! - [`app`]: start-up and [`run`].

pub mod app;
pub mod board;
pub mod consumer;
pub mod store;

pub use app::{migrate, run};
