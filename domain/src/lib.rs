//! Ward's domain: aggregates, commands, events and the rules between them. No IO lives here —
//! every function is deterministic given its inputs, so the rules are tested without a
//! database.
//!
//! # Layout
//! - [`affiliation`]: claims that a member works (or worked) at a hospital.
//! - [`author`]: keyed author references, which let the write side check authorship while two
//!   items by one member stay unlinkable in the event log.
//! - [`hospital`]: the hospital catalogue.
//! - [`member`]: who a member is on the write side.
//! - [`moderation`]: reports, hiding and restoring.
//! - [`post`]: the `Post` aggregate: boards, titles, bodies.
//! - [`review`]: structured hospital reviews by insiders.
//! - [`rule`]: the code and details every broken rule reports.
//! - [`sealed`]: per-item content encryption, so destroying a key erases the content.
//! - [`text`]: length rules and the personal-data filter for everything members write.

pub mod affiliation;
pub mod author;
pub mod hospital;
pub mod member;
pub mod moderation;
pub mod post;
pub mod review;
pub mod rule;
pub mod sealed;
pub mod text;
