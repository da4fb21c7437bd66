//! Ward's domain: aggregates, commands, events and the rules between them. No IO lives here —
//! every function is deterministic given its inputs, so the rules are tested without a
//! database.
//!
//! # Layout
//! - [`author`]: keyed author references, which let the write side check authorship while two
//!   items by one member stay unlinkable in the event log.
//! - [`hospital`]: the hospital catalogue.
//! - [`member`]: who a member is on the write side.
//! - [`post`]: the `Post` aggregate: boards, titles, bodies.
//! - [`rule`]: the code and details every broken rule reports.
//! - [`sealed`]: per-item content encryption, so destroying a key erases the content.
//! - [`text`]: length rules and the personal-data filter for everything members write.

pub mod author;
pub mod hospital;
pub mod member;
pub mod post;
pub mod rule;
pub mod sealed;
pub mod text;
