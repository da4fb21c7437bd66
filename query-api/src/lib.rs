//! Ward's read side: a read-only, stateless HTTP API over the read models. It never touches
//! the event store, so it scales out freely under the read-heavy anonymous traffic.
//!
//! # Layout
//! - [`anonymity`]: verified members published as bands (badges and labels are decided when
//!   written, by the command API).
//! - [`app`]: start-up, the `query_api.services` switch and [`run`].
//! - [`board`]: boards, posts with their comments, search, the moderation log.
//! - [`cache`]: cache-aside in Redis with versioned keys, `ETag` and `304`.
//! - [`consistency`]: read-your-writes with `Ward-Min-Version`, and who may wait for it.
//! - [`cursor`]: opaque keyset-pagination cursors.
//! - [`hospital`]: hospital search, profiles with rating summaries, reviews (k-anonymity).
//! - [`me`]: the signed-in member's affiliations, activity and notifications (the `member`
//!   service; it holds the author key).
//! - [`openapi`]: the OpenAPI 3.1 document.
//! - [`pages`]: the web pages (the `web` service), HTML rendered from the other services'
//!   answers.

pub mod anonymity;
pub mod app;
pub mod board;
pub mod cache;
pub mod consistency;
pub mod cursor;
pub mod hospital;
pub mod me;
pub mod openapi;
pub mod pages;
pub mod sql;

pub use app::run;
