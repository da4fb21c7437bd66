use std::collections::BTreeMap;

use crate::rule::BrokenRule;
use crate::text::TextError;

/// A rule a hospital command broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HospitalError {
    /// A text field breaks its rule.
    #[error(transparent)]
    Text(#[from] TextError),
    /// An email domain is not a domain name.
    #[error("{0:?} is not an email domain")]
    InvalidEmailDomain(String),
    /// Too many email domains.
    #[error("{0} email domains; at most {max} are allowed", max = super::profile::MAX_EMAIL_DOMAINS)]
    TooManyEmailDomains(usize),
    /// Registered already.
    #[error("this hospital is already registered")]
    AlreadyRegistered,
    /// Not registered.
    #[error("there is no such hospital")]
    NotRegistered,
    /// Closed; it cannot change any more.
    #[error("this hospital is closed")]
    Closed,
}

impl BrokenRule for HospitalError {
    fn code(&self) -> String {
        match self {
            HospitalError::Text(text) => text.code(),
            HospitalError::InvalidEmailDomain(_) => "email_domain_invalid".to_owned(),
            HospitalError::TooManyEmailDomains(_) => "email_domains_too_many".to_owned(),
            HospitalError::AlreadyRegistered => "hospital_already_registered".to_owned(),
            HospitalError::NotRegistered => "hospital_not_found".to_owned(),
            HospitalError::Closed => "hospital_closed".to_owned(),
        }
    }

    fn details(&self) -> BTreeMap<&'static str, String> {
        match self {
            HospitalError::Text(text) => BrokenRule::details(text),
            _ => BTreeMap::new(),
        }
    }
}
