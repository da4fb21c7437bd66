//! Rules for text that members write: trimmed length limits, and a refusal of personal data
//! (resident registration numbers, phone numbers, email addresses), so Ward cannot be used to
//! expose a person.

use std::sync::LazyLock;

use regex::Regex;

/// Kinds of personal data Ward refuses in public text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalData {
    /// 주민등록번호 (resident registration number), `YYMMDD-GNNNNNN`.
    ResidentRegistrationNumber,
    /// A Korean mobile, landline, representative (15xx) or +82 number.
    PhoneNumber,
    /// An email address.
    EmailAddress,
}

impl PersonalData {
    /// A stable name for error details.
    pub fn code(self) -> &'static str {
        match self {
            PersonalData::ResidentRegistrationNumber => "resident_registration_number",
            PersonalData::PhoneNumber => "phone_number",
            PersonalData::EmailAddress => "email_address",
        }
    }

    /// The kind in plain words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            PersonalData::ResidentRegistrationNumber => "a resident registration number",
            PersonalData::PhoneNumber => "a phone number",
            PersonalData::EmailAddress => "an email address",
        }
    }
}

/// Why a text field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing but white space.
    #[error("the {field} is empty")]
    Empty {
        /// The field's name.
        field: &'static str,
    },
    /// Fewer characters than the field needs.
    #[error("the {field} has {actual} characters; at least {min} are needed")]
    TooShort {
        /// The field's name.
        field: &'static str,
        /// The least allowed.
        min: usize,
        /// What was sent (after trimming).
        actual: usize,
    },
    /// More characters than allowed.
    #[error("the {field} has {actual} characters; at most {max} are allowed")]
    TooLong {
        /// The field's name.
        field: &'static str,
        /// The most allowed.
        max: usize,
        /// What was sent (after trimming).
        actual: usize,
    },
    /// Contains personal data.
    #[error("the {field} contains {}; Ward does not publish personal data", found.describe())]
    PersonalData {
        /// The field's name.
        field: &'static str,
        /// What was found.
        found: PersonalData,
    },
}

impl TextError {
    /// The stable code: `<field>_empty`, `<field>_too_short`, `<field>_too_long` or
    /// `personal_data`.
    pub fn code(&self) -> String {
        match self {
            TextError::Empty { field } => format!("{field}_empty"),
            TextError::TooShort { field, .. } => format!("{field}_too_short"),
            TextError::TooLong { field, .. } => format!("{field}_too_long"),
            TextError::PersonalData { .. } => "personal_data".to_owned(),
        }
    }
}

/// The limits of one text field.
#[derive(Debug, Clone, Copy)]
pub struct TextRule {
    /// The field's name in errors (`title`, `body`, …).
    pub field: &'static str,
    /// Fewest characters after trimming (at least 1).
    pub min: usize,
    /// Most characters after trimming.
    pub max: usize,
    /// Whether personal data is refused (true for everything shown to the public).
    pub public: bool,
}

impl TextRule {
    /// `text` trimmed, if it keeps to the rule.
    pub fn check(&self, text: &str) -> Result<String, TextError> {
        let trimmed = text.trim();
        let actual = trimmed.chars().count();
        let field = self.field;
        if actual == 0 {
            return Err(TextError::Empty { field });
        }
        if actual < self.min {
            return Err(TextError::TooShort {
                field,
                min: self.min,
                actual,
            });
        }
        if actual > self.max {
            return Err(TextError::TooLong {
                field,
                max: self.max,
                actual,
            });
        }
        if self.public {
            if let Some(found) = find_personal_data(trimmed) {
                return Err(TextError::PersonalData { field, found });
            }
        }
        Ok(trimmed.to_owned())
    }
}

// The patterns run on a normalised copy: full-width digits and @ become ASCII, every dash-like
// character becomes '-', so "０１０－１２３４－５６７８" is caught like "010-1234-5678".
static RRN: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?:^|[^0-9])[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])\s*-?\s*[1-8][0-9]{6}(?:[^0-9]|$)",
    )
});
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?:^|[^0-9])(?:",
        // mobile: 010-1234-5678, 011 123 4567, 01012345678
        r"01[016789][\s.\-]?[0-9]{3,4}[\s.\-]?[0-9]{4}",
        // landline: 02-123-4567, 031.1234.5678, 070-1234-5678
        r"|0(?:2|[3-6][1-5]|70|50[0-9])[\s.\-]?[0-9]{3,4}[\s.\-]?[0-9]{4}",
        // representative numbers: 1588-1234
        r"|1[5-9][0-9]{2}-[0-9]{4}",
        // international: +82 10-1234-5678, +82-2-123-4567
        r"|\+\s?82[\s.\-]?(?:\(0\))?0?[1-9][0-9]?[\s.\-]?[0-9]{3,4}[\s.\-]?[0-9]{4}",
        r")(?:[^0-9]|$)"
    ))
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"[A-Za-z0-9._%+\-]+\s?@\s?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
});

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|error| unreachable!("a fixed pattern compiles: {error}"))
}

/// The first kind of personal data found in `text`, if any.
pub fn find_personal_data(text: &str) -> Option<PersonalData> {
    let normalised = normalise(text);
    if RRN.is_match(&normalised) {
        Some(PersonalData::ResidentRegistrationNumber)
    } else if PHONE.is_match(&normalised) {
        Some(PersonalData::PhoneNumber)
    } else if EMAIL.is_match(&normalised) {
        Some(PersonalData::EmailAddress)
    } else {
        None
    }
}

fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '＠' => '@',
            '＋' => '+',
            '．' | '。' => '.',
            '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | '－' | 'ー' => '-',
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const TITLE: TextRule = TextRule {
        field: "title",
        min: 1,
        max: 100,
        public: true,
    };

    #[test]
    fn known_formats_are_caught() {
        for (text, kind) in [
            (
                "제 주민번호는 900101-1234567 입니다",
                PersonalData::ResidentRegistrationNumber,
            ),
            ("9001012234567", PersonalData::ResidentRegistrationNumber),
            ("020315 - 4123456", PersonalData::ResidentRegistrationNumber),
            (
                "９００１０１－１２３４５６７",
                PersonalData::ResidentRegistrationNumber,
            ),
            ("연락주세요 010-1234-5678", PersonalData::PhoneNumber),
            ("01012345678로", PersonalData::PhoneNumber),
            ("011 123 4567", PersonalData::PhoneNumber),
            ("02-123-4567", PersonalData::PhoneNumber),
            ("031.1234.5678", PersonalData::PhoneNumber),
            ("070-1234-5678", PersonalData::PhoneNumber),
            ("1588-1234", PersonalData::PhoneNumber),
            ("+82 10-1234-5678", PersonalData::PhoneNumber),
            ("+82-2-123-4567", PersonalData::PhoneNumber),
            ("０１０－１２３４－５６７８", PersonalData::PhoneNumber),
            ("nurse.kim@snuh.org", PersonalData::EmailAddress),
            ("kim ＠ example.co.kr", PersonalData::EmailAddress),
        ] {
            assert_eq!(find_personal_data(text), Some(kind), "{text}");
        }
    }

    #[test]
    fn ordinary_hospital_talk_passes() {
        for text in [
            "3교대 근무 12시간, 주 52시간 넘게 일해요",
            "2024년 3월부터 2025-12-31까지",
            "병동 40병상, 간호사 1명당 환자 12명",
            "연봉 4,500만원",
            "오전 7:00 ~ 오후 3:30",
            "@멘션은 괜찮아요",
        ] {
            assert_eq!(find_personal_data(text), None, "{text}");
        }
    }

    #[test]
    fn the_rule_trims_counts_characters_and_names_the_problem() {
        assert_eq!(TITLE.check("  제목 "), Ok("제목".to_owned()));
        assert_eq!(TITLE.check(" \n"), Err(TextError::Empty { field: "title" }));
        assert_eq!(
            TITLE.check(&"가".repeat(101)),
            Err(TextError::TooLong {
                field: "title",
                max: 100,
                actual: 101
            })
        );
        let pros = TextRule {
            field: "pros",
            min: 20,
            max: 2000,
            public: true,
        };
        assert_eq!(
            pros.check("짧아요").map_err(|e| e.code()),
            Err("pros_too_short".to_owned())
        );
        assert_eq!(
            TITLE.check("문의 010-1234-5678").map_err(|e| e.code()),
            Err("personal_data".to_owned())
        );
    }

    proptest! {
        #[test]
        fn no_input_makes_the_checks_panic(text in any::<String>()) {
            let _ = find_personal_data(&text);
            let _ = TITLE.check(&text);
        }

        #[test]
        fn any_mobile_number_is_caught_in_any_surrounding(
            prefix in "[가-힣 ]{0,10}",
            carrier in prop::sample::select(vec!["010", "011", "016", "017", "018", "019"]),
            middle in "[0-9]{3,4}",
            last in "[0-9]{4}",
            separator in prop::sample::select(vec!["-", " ", ".", "", "－"]),
            suffix in "[가-힣 ]{0,10}",
        ) {
            let text = format!("{prefix}{carrier}{separator}{middle}{separator}{last}{suffix}");
            prop_assert_eq!(find_personal_data(&text), Some(PersonalData::PhoneNumber), "{}", text);
        }

        #[test]
        fn any_resident_registration_number_is_caught(
            year in 0u32..100, month in 1u32..=12, day in 1u32..=28,
            gender in 1u32..=8, rest in "[0-9]{6}",
            hyphen in prop::bool::ANY,
            prefix in "[가-힣 ]{0,10}",
        ) {
            let text = format!("{prefix}{year:02}{month:02}{day:02}{}{gender}{rest}", if hyphen { "-" } else { "" });
            prop_assert_eq!(find_personal_data(&text), Some(PersonalData::ResidentRegistrationNumber), "{}", text);
        }

        #[test]
        fn trimmed_text_within_limits_is_kept(text in "[가-힣a-z ]{1,100}") {
            let rule = TextRule { field: "body", min: 1, max: 100, public: false };
            match rule.check(&text) {
                Ok(kept) => prop_assert_eq!(kept, text.trim()),
                Err(TextError::Empty { .. }) => prop_assert!(text.trim().is_empty()),
                Err(other) => prop_assert!(false, "{other}"),
            }
        }
    }
}
