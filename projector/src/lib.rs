//! Ward's projectors: Kafka consumers that turn the event log into read models.
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
//! - [`membership`]: how a projection's processes share its partitions (ADR 0015).
//! - [`follow`]: pausing caught-up partitions, and resuming them when records are appended.
//! - [`store`]: offsets and rejected records in each read-model database; decoding events.
//! - [`content`]: opening sealed texts with the write side's content keys.
//! - [`board`]: the board read model in PostgreSQL (`ward_board`).
//! - [`hospital`]: hospitals, verified members, reviews and their moderation in MariaDB/MySQL
//!   (`ward_hospital`).
//! - [`member`]: each item's sealed row and the notifications for its author, with no owner
//!   beside them, in MariaDB/MySQL (`ward_member`); a privileged projection holding the
//!   author key (ADR 0014).
//! - [`app`]: which projection lives where; start-up and [`run`].
//! - [`rebuild`]: `status`, and blue/green rebuilds of a read model.

pub mod app;
pub mod board;
pub mod consumer;
pub mod content;
pub mod follow;
pub mod hospital;
pub mod member;
pub mod membership;
pub mod rebuild;
pub mod stalls;
pub mod store;
#[cfg(test)]
mod testing;

pub use app::{migrate, run};
