//! What every aggregate's error type tells an API client.

use std::collections::BTreeMap;

/// What kind of "no" a broken rule is; APIs map it to a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request itself is wrong (422).
    Invalid,
    /// The caller may not do this (403).
    Forbidden,
    /// The target does not exist (404).
    NotFound,
    /// The target's state does not allow it (409).
    Conflict,
}

/// A broken rule: a stable, machine-readable code plus details, besides the human message
/// (`Display`).
pub trait BrokenRule: std::error::Error {
    /// What kind of refusal this is.
    fn refusal(&self) -> Refusal {
        Refusal::Invalid
    }

    /// The stable code, e.g. `title_too_long`.
    fn code(&self) -> String;

    /// Machine-readable details, e.g. `{"field": "title", "found": "phone_number"}`.
    fn details(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::new()
    }
}

impl BrokenRule for crate::text::TextError {
    fn code(&self) -> String {
        crate::text::TextError::code(self)
    }

    fn details(&self) -> BTreeMap<&'static str, String> {
        use crate::text::TextError;
        let mut details = BTreeMap::new();
        match self {
            TextError::Empty { field } => {
                details.insert("field", (*field).to_owned());
            }
            TextError::TooShort { field, min, actual } => {
                details.insert("field", (*field).to_owned());
                details.insert("min", min.to_string());
                details.insert("actual", actual.to_string());
            }
            TextError::TooLong { field, max, actual } => {
                details.insert("field", (*field).to_owned());
                details.insert("max", max.to_string());
                details.insert("actual", actual.to_string());
            }
            TextError::PersonalData { field, found } => {
                details.insert("field", (*field).to_owned());
                details.insert("found", found.code().to_owned());
            }
        }
        details
    }
}
