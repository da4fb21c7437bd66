//! Ward's write side. Authenticates the caller, runs commands against cqrs-es aggregates
//! stored by postgres-es, and relays the committed events from the transactional outbox to
//! Kafka.
//!
//! # Layout
//! - [`app`]: start-up — pools, migrations, the router, the relay — and [`run`].
//! - [`content_keys`]: per-item content keys for crypto-shredding.
//! - [`execute`]: runs one command against one aggregate and reports the new version.
//! - [`idempotency`]: `Idempotency-Key` on creates.
//! - [`rate_limit`]: per-member rate limits in Redis.
//! - [`session`]: sessions in Redis and the `Member` extractor (`ward_platform::session`,
//!   shared with the query API).
//! - [`posts`]: the post endpoints; [`comments`]: the comment endpoints.
//! - [`claims`]: affiliation claims; [`reviews`]: hospital reviews.
//! - [`moderation`]: reports, automatic hiding, moderators' hide and restore.
//! - [`hospitals`]: the hospital catalogue import from the public hospital list.
//! - [`labels`]: what a badge or review label may show, decided when it is written.
//! - [`member_items`]: the private member -> items index behind withdrawal.
//! - [`members`]: registration and the `Actor` every command acts as.
//! - [`outbox`]: the relay from the outbox table to Kafka, with its single-leader lock.
//! - [`openapi`]: the OpenAPI 3.1 document of these endpoints, at
//!   `GET /api/v1/openapi/commands.json`.
//! - [`forms`]: the web pages' forms: each runs its JSON endpoint, then redirects.
//! - [`pages`]: the sign-in page and the moderators' queue.

pub mod app;
pub mod auth;
pub mod claim_queue;
pub mod claims;
pub mod comments;
pub mod content_keys;
pub mod create;
pub mod csrf;
pub mod email;
pub mod execute;
pub mod forms;
pub mod hospitals;
pub mod idempotency;
pub mod labels;
pub mod member_items;
pub mod members;
pub mod moderation;
pub mod openapi;
pub mod outbox;
pub mod pages;
pub mod pepper;
pub mod posts;
pub mod proofs;
pub mod rate_limit;
pub mod reviews;
pub use ward_platform::session;

pub use app::{migrate, run};
