//! Ward's read side: a read-only, stateless HTTP API over the read models. It never touches
//! the event store, so it scales out freely under the read-heavy anonymous traffic.
//!
//! # Layout
//! - [`app`]: start-up, the router and [`run`].
//! - [`board`]: board listings and single posts.
//! - [`cursor`]: opaque keyset-pagination cursors.

pub mod app;
pub mod board;
pub mod cursor;

pub use app::run;
