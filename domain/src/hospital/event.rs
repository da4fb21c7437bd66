use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::HospitalProfile;

/// What happened to a hospital in the catalogue. Documented in `docs/events.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HospitalEvent {
    /// A hospital entered the catalogue (version 1).
    HospitalRegistered {
        /// Its profile.
        profile: HospitalProfile,
    },
    /// A hospital's profile changed (version 1); carries the whole new profile.
    HospitalUpdated {
        /// The new profile.
        profile: HospitalProfile,
    },
    /// The hospital closed (version 1); its reviews stay readable.
    HospitalClosed {},
}

impl DomainEvent for HospitalEvent {
    fn event_type(&self) -> String {
        match self {
            HospitalEvent::HospitalRegistered { .. } => "HospitalRegistered",
            HospitalEvent::HospitalUpdated { .. } => "HospitalUpdated",
            HospitalEvent::HospitalClosed {} => "HospitalClosed",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
