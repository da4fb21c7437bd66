//! The `Post` aggregate: a post on one of Ward's boards.
//!
//! # Layout
//! - `command`: what a member asks for.
//! - `event`: what happened, as stored and published.
//! - `error`: the rules a command can break, each with a stable code.
//! - `aggregate`: the rules themselves, with their given/when/then tests.

mod aggregate;
mod command;
mod error;
mod event;

pub use crate::sealed::EventText;
pub use aggregate::{Post, PostServices};
pub use command::{CreatePost, DeletePost, PostCommand};
pub use error::PostError;
pub use event::{upcast_fields, Board, DeletedBy, PostEvent};

use crate::text::TextRule;

/// A post's title: 1–100 characters after trimming, no personal data.
pub const TITLE: TextRule = TextRule {
    field: "title",
    min: 1,
    max: 100,
    public: true,
};
/// A post's body: 1–10,000 characters after trimming, no personal data.
pub const BODY: TextRule = TextRule {
    field: "body",
    min: 1,
    max: 10_000,
    public: true,
};
