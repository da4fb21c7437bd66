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

pub use aggregate::{Post, PostServices};
pub use command::{CreatePost, PostCommand};
pub use error::PostError;
pub use event::{Board, PostEvent};

/// Longest title, in characters after trimming.
pub const TITLE_MAX_CHARS: usize = 100;
/// Longest body, in characters after trimming.
pub const BODY_MAX_CHARS: usize = 10_000;
