use serde::{Deserialize, Serialize};

use super::HospitalError;
use crate::text::TextRule;

/// The kinds of medical institution Ward distinguishes (after Korea's 종별 classification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HospitalKind {
    /// 상급종합병원.
    Tertiary,
    /// 종합병원.
    General,
    /// 병원 (and 정신병원).
    Hospital,
    /// 요양병원.
    Nursing,
    /// 의원.
    Clinic,
    /// 치과병원, 치과의원.
    Dental,
    /// 한방병원, 한의원.
    KoreanMedicine,
    /// Anything else (보건소, 조산원, …).
    Other,
}

impl HospitalKind {
    /// The kind for a `종별코드명` of the public hospital list.
    pub fn from_public_list(name: &str) -> HospitalKind {
        match name.trim() {
            "상급종합" | "상급종합병원" => HospitalKind::Tertiary,
            "종합병원" => HospitalKind::General,
            "병원" | "정신병원" => HospitalKind::Hospital,
            "요양병원" => HospitalKind::Nursing,
            "의원" => HospitalKind::Clinic,
            "치과병원" | "치과의원" => HospitalKind::Dental,
            "한방병원" | "한의원" => HospitalKind::KoreanMedicine,
            _ => HospitalKind::Other,
        }
    }
}

/// Everything the catalogue records about a hospital.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HospitalProfile {
    /// Official name (요양기관명).
    pub name: String,
    /// Kind of institution.
    pub kind: HospitalKind,
    /// Street address.
    pub address: String,
    /// Province or metropolitan city (시도), e.g. `서울`.
    pub sido: String,
    /// District (시군구), e.g. `종로구`.
    pub sigungu: String,
    /// The public list's institution code (암호화요양기호), when known.
    pub institution_code: Option<String>,
    /// Email domains of the hospital's staff, for work-email verification; lowercase.
    pub email_domains: Vec<String>,
}

const NAME: TextRule = TextRule {
    field: "name",
    min: 1,
    max: 100,
    public: false,
};
const ADDRESS: TextRule = TextRule {
    field: "address",
    min: 1,
    max: 200,
    public: false,
};
const REGION: TextRule = TextRule {
    field: "region",
    min: 1,
    max: 30,
    public: false,
};
const CODE: TextRule = TextRule {
    field: "institution_code",
    min: 1,
    max: 200,
    public: false,
};
/// Most email domains one hospital may list.
pub const MAX_EMAIL_DOMAINS: usize = 10;

impl HospitalProfile {
    /// The profile with its text trimmed and domains normalised, if it keeps to the rules.
    pub fn checked(self) -> Result<HospitalProfile, HospitalError> {
        let institution_code = match self.institution_code.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(code) => Some(CODE.check(code)?),
        };
        if self.email_domains.len() > MAX_EMAIL_DOMAINS {
            return Err(HospitalError::TooManyEmailDomains(self.email_domains.len()));
        }
        let mut email_domains = Vec::with_capacity(self.email_domains.len());
        for domain in &self.email_domains {
            let domain = domain.trim().trim_start_matches('@').to_ascii_lowercase();
            if !is_domain(&domain) {
                return Err(HospitalError::InvalidEmailDomain(domain));
            }
            if !email_domains.contains(&domain) {
                email_domains.push(domain);
            }
        }
        email_domains.sort();
        Ok(HospitalProfile {
            name: NAME.check(&self.name)?,
            kind: self.kind,
            address: ADDRESS.check(&self.address)?,
            sido: REGION.check(&self.sido)?,
            sigungu: REGION.check(&self.sigungu)?,
            institution_code,
            email_domains,
        })
    }
}

/// A plausible DNS name: labels of letters, digits and inner hyphens, at least two of them.
fn is_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_alphabetic()))
}
