//! The hospital catalogue import: reads a CSV in the layout of Korea's public hospital list
//! and registers or updates each hospital through the `Hospital` aggregate. Importing the same
//! file again records nothing; a changed row becomes one `HospitalUpdated`.

use std::path::Path;

use anyhow::Context;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::EventStore;
use indicatif::{ProgressBar, ProgressStyle};
use postgres_es::PostgresEventRepository;
use uuid::Uuid;
use ward_domain::hospital::{Hospital, HospitalCommand, HospitalKind, HospitalProfile};
use ward_domain::rule::BrokenRule;
use ward_platform::config::WardConfig;
use ward_platform::http::CorrelationId;

use crate::execute::execute;

/// Namespace of hospital ids: `UUIDv5(namespace, key)`, so one row always maps to one id.
const HOSPITAL_NAMESPACE: Uuid = Uuid::from_u128(0x5741_5244_686f_7370_6974_616c_0000_0001);

/// Columns of the public list that the import reads; others are ignored.
const NAME: &str = "요양기관명";
const KIND: &str = "종별코드명";
const SIDO: &str = "시도코드명";
const SIGUNGU: &str = "시군구코드명";
const ADDRESS: &str = "주소";
const CODE: &str = "암호화요양기호";
/// Ward's extension: staff email domains separated by `;`.
const EMAIL_DOMAINS: &str = "직원이메일도메인";

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Hospitals new to the catalogue.
    pub registered: usize,
    /// Hospitals whose profile changed.
    pub updated: usize,
    /// Rows equal to the catalogue already.
    pub unchanged: usize,
    /// Rows refused, with their line number and reason; the other rows are imported.
    pub rejected: Vec<(usize, String)>,
}

/// One hospital's id, derived from the public list's institution code when there is one,
/// otherwise from its name and region.
pub fn hospital_id(profile: &HospitalProfile) -> Uuid {
    let key = match &profile.institution_code {
        Some(code) => format!("code:{code}"),
        None => format!(
            "name:{}|{}|{}",
            profile.name.trim(),
            profile.sido.trim(),
            profile.sigungu.trim()
        ),
    };
    Uuid::new_v5(&HOSPITAL_NAMESPACE, key.as_bytes())
}

/// Imports the CSV at `path` (UTF-8, or the public list's usual EUC-KR) into the event store.
pub async fn import(
    config: &WardConfig,
    path: &Path,
    show_progress: bool,
) -> anyhow::Result<ImportReport> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let rows = parse(&decode(&bytes))?;
    crate::migrate(config).await?;
    let store: PersistedEventStore<PostgresEventRepository, Hospital> =
        PersistedEventStore::new_event_store(PostgresEventRepository::new(
            config.event_store.connect_postgres().await?,
        ));
    let progress = if show_progress {
        ProgressBar::new(rows.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} hospitals {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let correlation = CorrelationId(format!("hospital-import-{}", Uuid::now_v7()));
    let mut report = ImportReport::default();
    for (line, row) in rows {
        progress.inc(1);
        let profile = match row {
            Ok(profile) => profile,
            Err(reason) => {
                report.rejected.push((line, reason));
                continue;
            }
        };
        let id = hospital_id(&profile).to_string();
        let before = store.load_events(&id).await?.len();
        let command = if before == 0 {
            HospitalCommand::Register(profile)
        } else {
            HospitalCommand::Update(profile)
        };
        match execute(&store, &(), &id, command, &correlation).await {
            Ok(after) if before == 0 => report.registered += usize::from(after > 0),
            Ok(after) if after > before => report.updated += 1,
            Ok(_) => report.unchanged += 1,
            Err(cqrs_es::AggregateError::UserError(rule)) => {
                report
                    .rejected
                    .push((line, format!("{}: {rule}", rule.code())));
            }
            Err(error) => return Err(error).context(format!("importing line {line}")),
        }
    }
    progress.finish_and_clear();
    Ok(report)
}

/// Marks the hospital `id` closed; answers its new version.
pub async fn close(config: &WardConfig, id: Uuid) -> anyhow::Result<usize> {
    let store: PersistedEventStore<PostgresEventRepository, Hospital> =
        crate::app::store(config.event_store.connect_postgres().await?);
    let correlation = CorrelationId(format!("hospital-close-{}", Uuid::now_v7()));
    execute(
        &store,
        &(),
        &id.to_string(),
        HospitalCommand::Close,
        &correlation,
    )
    .await
    .map_err(|error| anyhow::anyhow!("closing hospital {id}: {error}"))
}

/// The file as text: UTF-8 (with or without BOM) when it is, otherwise EUC-KR (CP949).
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.trim_start_matches('\u{feff}').to_owned(),
        Err(_) => encoding_rs::EUC_KR.decode(bytes).0.into_owned(),
    }
}

type Row = (usize, Result<HospitalProfile, String>);

/// Each data row with its line number: a profile, or why the row cannot be one.
fn parse(text: &str) -> anyhow::Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader.headers().context("reading the header row")?.clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let missing: Vec<&str> = [NAME, KIND, SIDO, SIGUNGU, ADDRESS]
        .into_iter()
        .filter(|name| column(name).is_none())
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "the header row lacks the column(s) {}",
        missing.join(", ")
    );
    let (name, kind, sido, sigungu, address) = (
        column(NAME),
        column(KIND),
        column(SIDO),
        column(SIGUNGU),
        column(ADDRESS),
    );
    let (code, domains) = (column(CODE), column(EMAIL_DOMAINS));
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                rows.push((line, Err(format!("unreadable row: {error}"))));
                continue;
            }
        };
        let field = |at: Option<usize>| {
            at.and_then(|i| record.get(i))
                .unwrap_or("")
                .trim()
                .to_owned()
        };
        let profile = HospitalProfile {
            name: field(name),
            kind: HospitalKind::from_public_list(&field(kind)),
            address: field(address),
            sido: field(sido),
            sigungu: field(sigungu),
            institution_code: Some(field(code)).filter(|c| !c.is_empty()),
            email_domains: field(domains)
                .split(';')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        rows.push((line, Ok(profile)));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "암호화요양기호,요양기관명,종별코드,종별코드명,시도코드,시도코드명,시군구코드,시군구코드명,주소,직원이메일도메인";

    #[test]
    fn rows_become_profiles_by_header_name() -> anyhow::Result<()> {
        let text = format!("{HEADER},extra\n,서울대학교병원,01,상급종합,110000,서울,110016,종로구,\"서울특별시 종로구 대학로 101, 본관\",snuh.org;SNUH.ORG,x\n");
        let rows = parse(&text)?;
        let (line, profile) = &rows[0];
        assert_eq!(*line, 2);
        let profile = profile.clone().map_err(anyhow::Error::msg)?;
        assert_eq!(profile.name, "서울대학교병원");
        assert_eq!(profile.kind, HospitalKind::Tertiary);
        assert_eq!(profile.address, "서울특별시 종로구 대학로 101, 본관");
        assert_eq!(profile.institution_code, None);
        assert_eq!(profile.email_domains, vec!["snuh.org", "SNUH.ORG"]);
        Ok(())
    }

    #[test]
    fn a_file_without_the_required_columns_is_refused() {
        let error = parse("요양기관명,주소\n a,b\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("종별코드명") && error.contains("시도코드명"),
            "{error}"
        );
    }

    #[test]
    fn euc_kr_files_are_decoded() {
        let (bytes, _, _) = encoding_rs::EUC_KR.encode("요양기관명,주소\n서울대학교병원,서울\n");
        assert_eq!(decode(&bytes), "요양기관명,주소\n서울대학교병원,서울\n");
    }

    #[test]
    fn the_institution_code_decides_the_id_when_there_is_one() {
        let profile = HospitalProfile {
            name: "A".to_owned(),
            kind: HospitalKind::Clinic,
            address: "x".to_owned(),
            sido: "서울".to_owned(),
            sigungu: "종로구".to_owned(),
            institution_code: None,
            email_domains: vec![],
        };
        let renamed = HospitalProfile {
            name: "B".to_owned(),
            ..profile.clone()
        };
        assert_ne!(hospital_id(&profile), hospital_id(&renamed));
        let coded = HospitalProfile {
            institution_code: Some("JDQ4".to_owned()),
            ..profile
        };
        let coded_renamed = HospitalProfile {
            name: "B".to_owned(),
            ..coded.clone()
        };
        assert_eq!(hospital_id(&coded), hospital_id(&coded_renamed));
    }
}
