//! Ward's read side: a read-only, stateless HTTP API over the read models. It never touches
//! the event store, so it scales out freely under the read-heavy anonymous traffic.
//!
//! # Layout
//! - [`app`]: start-up, the `query_api.services` switch and [`run`].
//! - [`board`]: boards, posts with their comments, search, the moderation log.
//! - [`cache`]: cache-aside in Redis with versioned keys, `ETag` and `304`.
//! - [`consistency`]: read-your-writes with `Ward-Min-Version`.
//! - [`cursor`]: opaque keyset-pagination cursors.

pub mod app;
pub mod board;
pub mod cache;
pub mod consistency;
pub mod cursor;

pub use app::run;
