//! The `Hospital` aggregate: the catalogue of hospitals members can claim and review.
//!
//! # Layout
//! - `profile`: what a hospital is (name, kind, address, region, email domains) and its rules.
//! - `event`: what happened, as stored and published.
//! - `error`: the rules a command can break.
//! - `aggregate`: registration, updates and closure, with their given/when/then tests.

mod aggregate;
mod error;
mod event;
mod profile;

pub use aggregate::{Hospital, HospitalCommand};
pub use error::HospitalError;
pub use event::HospitalEvent;
pub use profile::{HospitalKind, HospitalProfile};
