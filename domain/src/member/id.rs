//! Members as the write side knows them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A member's random id. It never appears in an event in the clear: events carry
/// [`crate::author::AuthorRef`]s instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberId(pub Uuid);

impl std::fmt::Display for MemberId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
