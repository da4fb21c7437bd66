use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{HospitalError, HospitalEvent, HospitalProfile};

/// Commands a `Hospital` accepts. Catalogue changes come from operators (the import CLI).
#[derive(Debug, Clone, PartialEq)]
pub enum HospitalCommand {
    /// Add the hospital to the catalogue.
    Register(HospitalProfile),
    /// Replace the profile; a profile equal to the current one records nothing.
    Update(HospitalProfile),
    /// Mark the hospital closed.
    Close,
}

/// A hospital, as far as its rules need to know it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Hospital {
    profile: Option<HospitalProfile>,
    closed: bool,
}

impl Aggregate for Hospital {
    const TYPE: &'static str = "hospital";
    type Command = HospitalCommand;
    type Event = HospitalEvent;
    type Error = HospitalError;
    type Services = ();

    async fn handle(
        &mut self,
        command: HospitalCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), HospitalError> {
        if let Some(event) = self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: HospitalEvent) {
        match event {
            HospitalEvent::HospitalRegistered { profile }
            | HospitalEvent::HospitalUpdated { profile } => self.profile = Some(profile),
            HospitalEvent::HospitalClosed {} => self.closed = true,
        }
    }
}

impl Hospital {
    /// Lowercase email domains of the hospital's staff (none before it is registered).
    pub fn email_domains(&self) -> &[String] {
        self.profile
            .as_ref()
            .map_or(&[], |p| p.email_domains.as_slice())
    }

    /// Whether the hospital is in the catalogue and not closed: members may claim and review
    /// it.
    pub fn is_open(&self) -> bool {
        self.profile.is_some() && !self.closed
    }

    fn decide(&self, command: HospitalCommand) -> Result<Option<HospitalEvent>, HospitalError> {
        match (command, &self.profile) {
            (HospitalCommand::Register(_), Some(_)) => Err(HospitalError::AlreadyRegistered),
            (HospitalCommand::Register(profile), None) => {
                Ok(Some(HospitalEvent::HospitalRegistered {
                    profile: profile.checked()?,
                }))
            }
            (_, None) => Err(HospitalError::NotRegistered),
            (_, Some(_)) if self.closed => Err(HospitalError::Closed),
            (HospitalCommand::Update(profile), Some(current)) => {
                let profile = profile.checked()?;
                Ok((&profile != current).then_some(HospitalEvent::HospitalUpdated { profile }))
            }
            (HospitalCommand::Close, Some(_)) => Ok(Some(HospitalEvent::HospitalClosed {})),
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::hospital::HospitalKind;
    use crate::text::TextError;

    type HospitalTest = TestFramework<Hospital>;

    fn profile() -> HospitalProfile {
        HospitalProfile {
            name: " 서울대학교병원 ".to_owned(),
            kind: HospitalKind::Tertiary,
            address: "서울특별시 종로구 대학로 101".to_owned(),
            sido: "서울".to_owned(),
            sigungu: "종로구".to_owned(),
            institution_code: Some(" ".to_owned()),
            email_domains: vec!["@SNUH.org".to_owned(), "snuh.org".to_owned()],
        }
    }

    fn registered() -> HospitalEvent {
        HospitalEvent::HospitalRegistered {
            profile: profile().checked().unwrap_or_else(|e| unreachable!("{e}")),
        }
    }

    #[test]
    fn registering_normalises_the_profile() {
        let checked = HospitalProfile {
            name: "서울대학교병원".to_owned(),
            institution_code: None,
            email_domains: vec!["snuh.org".to_owned()],
            ..profile()
        };
        HospitalTest::with(())
            .given_no_previous_events()
            .when(HospitalCommand::Register(profile()))
            .then_expect_events(vec![HospitalEvent::HospitalRegistered { profile: checked }]);
    }

    #[test]
    fn a_hospital_is_registered_once() {
        HospitalTest::with(())
            .given(vec![registered()])
            .when(HospitalCommand::Register(profile()))
            .then_expect_error(HospitalError::AlreadyRegistered);
    }

    #[test]
    fn an_unchanged_profile_records_nothing() {
        HospitalTest::with(())
            .given(vec![registered()])
            .when(HospitalCommand::Update(profile()))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_changed_profile_is_recorded_whole() {
        let moved = HospitalProfile {
            address: "서울특별시 종로구 대학로 103".to_owned(),
            ..profile()
        };
        let expected = moved
            .clone()
            .checked()
            .unwrap_or_else(|e| unreachable!("{e}"));
        HospitalTest::with(())
            .given(vec![registered()])
            .when(HospitalCommand::Update(moved))
            .then_expect_events(vec![HospitalEvent::HospitalUpdated { profile: expected }]);
    }

    #[test]
    fn an_unknown_hospital_cannot_change() {
        HospitalTest::with(())
            .given_no_previous_events()
            .when(HospitalCommand::Close)
            .then_expect_error(HospitalError::NotRegistered);
    }

    #[test]
    fn a_closed_hospital_cannot_change_or_close_again() {
        for command in [HospitalCommand::Update(profile()), HospitalCommand::Close] {
            HospitalTest::with(())
                .given(vec![registered(), HospitalEvent::HospitalClosed {}])
                .when(command)
                .then_expect_error(HospitalError::Closed);
        }
    }

    #[test]
    fn bad_fields_are_refused() {
        let nameless = HospitalProfile {
            name: " ".to_owned(),
            ..profile()
        };
        HospitalTest::with(())
            .given_no_previous_events()
            .when(HospitalCommand::Register(nameless))
            .then_expect_error(HospitalError::Text(TextError::Empty { field: "name" }));
        let bad_domain = HospitalProfile {
            email_domains: vec!["not a domain".to_owned()],
            ..profile()
        };
        HospitalTest::with(())
            .given_no_previous_events()
            .when(HospitalCommand::Register(bad_domain))
            .then_expect_error(HospitalError::InvalidEmailDomain("not a domain".to_owned()));
        let many = HospitalProfile {
            email_domains: (0..11).map(|n| format!("h{n}.kr")).collect(),
            ..profile()
        };
        HospitalTest::with(())
            .given_no_previous_events()
            .when(HospitalCommand::Register(many))
            .then_expect_error(HospitalError::TooManyEmailDomains(11));
    }

    #[test]
    fn public_list_kinds_map_to_ward_kinds() {
        for (name, kind) in [
            ("상급종합", HospitalKind::Tertiary),
            ("종합병원", HospitalKind::General),
            ("정신병원", HospitalKind::Hospital),
            ("요양병원", HospitalKind::Nursing),
            ("의원", HospitalKind::Clinic),
            ("치과의원", HospitalKind::Dental),
            ("한의원", HospitalKind::KoreanMedicine),
            ("보건소", HospitalKind::Other),
        ] {
            assert_eq!(HospitalKind::from_public_list(name), kind, "{name}");
        }
    }
}
