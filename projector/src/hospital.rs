//! The hospital read model in MariaDB (MySQL 8 in production): the catalogue, each hospital's
//! verified members, its reviews and which reviews moderators hid. Documented in
//! `docs/read-models/hospital.md`.
//!
//! The hospital, affiliation, review and moderation topics feed it (and member withdrawals,
//! which trigger the erasure sweep); records of different topics arrive in no particular
//! order: a claim may come before its hospital, a hide before its review. So every table is
//! keyed by its own aggregate and nothing is derived across tables while projecting; the
//! query API joins and counts at read time. Every row remembers the sequence it last applied (its
//! version guard), which makes applying any record twice a no-op.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::{MySql, MySqlPool, PgPool, Transaction};
use uuid::Uuid;
use ward_domain::affiliation::ClaimEvent;
use ward_domain::hospital::{HospitalEvent, HospitalProfile};
use ward_domain::moderation::{ModerationEvent, TargetKind};
use ward_domain::review::{EventText, Ratings, ReviewEvent};
use ward_domain::sealed::ContentKey;
use ward_platform::kafka::Envelope;

use crate::consumer::{Projection, Record, StoredOffset};
use crate::content::{open, ContentKeys, Opened};
use crate::store::{self, Rejects, Verdict};

/// The hospital read model's schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/hospital");

/// The aggregate types whose topics this projection reads (`member` for withdrawals only).
pub const AGGREGATE_TYPES: &[&str] = &["hospital", "affiliation", "review", "moderation", "member"];

/// The member event after which the erasure sweep runs.
const WITHDRAWAL: &str = "MemberWithdrew";

/// How many reviews the erasure sweep checks per query.
const SWEEP_CHUNK: i64 = 1000;

/// Builds `hospitals`, `claims`, `reviews` and `moderation_state`.
pub struct HospitalProjection {
    pool: MySqlPool,
    keys: ContentKeys,
    removals: Removals,
}

impl HospitalProjection {
    /// A projection writing to `pool`, reading content keys from the event store `keys`;
    /// deletions and erasures apply at once.
    pub fn new(pool: MySqlPool, keys: PgPool) -> Self {
        Self {
            pool,
            keys: ContentKeys::new(keys),
            removals: Removals { in_epochs: false },
        }
    }

    /// The same, holding deletions and erasures back until [`Self::release_removals`].
    pub fn in_removal_epochs(self) -> Self {
        Self {
            removals: Removals { in_epochs: true },
            ..self
        }
    }

    /// Applies every removal held back so far, in one transaction: the end of an epoch.
    /// Returns how many reviews it removed. A review written anew after its removal was
    /// held back (same id, later version) stays.
    pub async fn release_removals(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let held: Vec<(String, i64)> =
            sqlx::query_as("SELECT id, version FROM review_removals FOR UPDATE")
                .fetch_all(&mut *tx)
                .await?;
        for (id, version) in &held {
            remove_now(&mut tx, id, *version).await?;
        }
        sqlx::query("DELETE FROM review_removals")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(held.len())
    }
}

/// How reviews leave what readers see.
#[derive(Debug, Clone, Copy)]
struct Removals {
    /// Whether they wait for the end of a removal epoch.
    in_epochs: bool,
}

impl Removals {
    /// Removes the review `id` as of its `version`, as its deletion does: at once, or at the
    /// end of the current removal epoch.
    async fn remove(self, tx: &mut Tx<'_>, id: &str, version: i64) -> anyhow::Result<()> {
        if !self.in_epochs {
            return remove_now(tx, id, version).await;
        }
        sqlx::query(
            "INSERT INTO review_removals (id, version) VALUES (?, ?) \
             ON DUPLICATE KEY UPDATE version = GREATEST(version, VALUES(version))",
        )
        .bind(id)
        .bind(version)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// Deletes a review as readers see it, unless it was written anew after `version`: an
/// author's deletion, a moderator's and a withdrawal's erasure look the same (texts, ratings
/// and helpful marks gone, not counted).
async fn remove_now(tx: &mut Tx<'_>, id: &str, version: i64) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE reviews SET state = 'deleted', overall = NULL, work_environment = NULL, \
         pay_benefits = NULL, management = NULL, care_quality = NULL, \
         work_life_balance = NULL, title = NULL, pros = NULL, cons = NULL, advice = NULL, \
         would_recommend = NULL, helpful_count = 0 \
         WHERE id = ? AND version <= ?",
    )
    .bind(id)
    .bind(version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Projection for HospitalProjection {
    fn name(&self) -> &'static str {
        "hospital"
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        AGGREGATE_TYPES
    }

    async fn stored_offsets(&self, group: &str) -> anyhow::Result<Vec<StoredOffset>> {
        store::mysql::stored_offsets(&self.pool, group).await
    }

    #[tracing::instrument(skip_all, fields(group, records = batch.len()))]
    async fn apply(&self, group: &str, batch: &[Record]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        let mut rejects = Rejects::default();
        let mut withdrawals = false;
        for record in batch {
            match store::envelope(record) {
                // Of the member topic only withdrawals matter; other member events are not
                // even parsed.
                Ok(envelope) if envelope.aggregate_type == "member" => {
                    withdrawals |= envelope.event_type == WITHDRAWAL;
                }
                Ok(envelope) => {
                    let verdict = apply_event(&mut tx, &self.keys, self.removals, envelope);
                    rejects.check(record, verdict.await?)
                }
                Err(reason) => rejects.push(record, reason),
            }
        }
        if withdrawals {
            sweep(&mut tx, &self.keys, self.removals).await?;
        }
        store::mysql::finish(&mut tx, group, batch, &rejects).await?;
        tx.commit().await.context("committing a hospital batch")?;
        Ok(())
    }
}

type Tx<'c> = Transaction<'c, MySql>;

/// Applies one event. The outer error is a database failure (retry the batch); the inner
/// one an event that can never be applied (reject it and go on).
async fn apply_event(
    tx: &mut Tx<'_>,
    keys: &ContentKeys,
    removals: Removals,
    envelope: Envelope,
) -> anyhow::Result<Verdict> {
    match envelope.aggregate_type.as_str() {
        "hospital" => match parse(envelope) {
            Ok((at, event)) => Ok(Ok(apply_hospital(tx, at, event).await?)),
            Err(reason) => Ok(Err(reason)),
        },
        "affiliation" => match parse(envelope) {
            Ok((at, event)) => Ok(Ok(apply_claim(tx, at, event).await?)),
            Err(reason) => Ok(Err(reason)),
        },
        "review" => match parse_review(envelope) {
            Ok((at, event)) => Ok(Ok(apply_review(tx, keys, removals, at, event).await?)),
            Err(reason) => Ok(Err(reason)),
        },
        "moderation" => match moderation_target(&envelope.aggregate_id) {
            // Posts and comments are the board read model's business.
            Some((kind, _)) if kind != TargetKind::Review => Ok(Ok(())),
            _ => match parse(envelope) {
                Ok((at, event)) => Ok(Ok(apply_moderation(tx, at, event).await?)),
                Err(reason) => Ok(Err(reason)),
            },
        },
        other => Ok(Err(format!(
            "aggregate type {other:?} is not projected here"
        ))),
    }
}

/// Where an event applies: its aggregate's id and the event's sequence and time.
#[derive(Debug, Clone, Copy)]
struct At {
    id: Uuid,
    sequence: i64,
    occurred_at: DateTime<Utc>,
}

/// The event of `envelope`, as the domain type `E` (every event of these types is at
/// version 1), with where it applies; or why it cannot be read.
fn parse<E: DeserializeOwned>(envelope: Envelope) -> Result<(At, E), String> {
    let at = at(&envelope)?;
    if envelope.event_version != "1" {
        return Err(format!(
            "{} version {} is unknown",
            envelope.event_type, envelope.event_version
        ));
    }
    Ok((at, store::event(&envelope)?))
}

/// A review event of `envelope`, upcast from older versions (`ReviewWritten` version 1 reads
/// without a label: `ward_domain::review::upcast_fields`), with where it applies.
fn parse_review(envelope: Envelope) -> Result<(At, ReviewEvent), String> {
    let at = at(&envelope)?;
    let Envelope {
        event_type,
        event_version,
        payload,
        ..
    } = envelope;
    let event = ReviewEvent::from_fields(&event_type, &event_version, payload)
        .map_err(|error| format!("{event_type} version {event_version}: {error}"))?;
    Ok((at, event))
}

/// Where the event of `envelope` applies, or why its aggregate id is not understood.
fn at(envelope: &Envelope) -> Result<At, String> {
    let id = match envelope.aggregate_type.as_str() {
        "moderation" => moderation_target(&envelope.aggregate_id)
            .map(|(_, id)| id)
            .ok_or_else(|| {
                format!(
                    "moderation id {:?} is not <kind>:<uuid>",
                    envelope.aggregate_id
                )
            }),
        _ => store::aggregate_uuid(envelope),
    }?;
    Ok(At {
        id,
        sequence: envelope.sequence,
        occurred_at: envelope.occurred_at,
    })
}

/// The kind and item of a moderation aggregate id, `<kind>:<uuid>`.
fn moderation_target(aggregate_id: &str) -> Option<(TargetKind, Uuid)> {
    let (kind, id) = aggregate_id.split_once(':')?;
    Some((TargetKind::parse(kind)?, Uuid::parse_str(id).ok()?))
}

/// The version stored by `select` (a `SELECT version ... WHERE <key> = ?...`) for `key`.
async fn stored_version(
    tx: &mut Tx<'_>,
    select: &'static str,
    key: &[&str],
) -> sqlx::Result<Option<i64>> {
    let mut query = sqlx::query_scalar(select);
    for part in key {
        query = query.bind(*part);
    }
    query.fetch_optional(&mut **tx).await
}

/// Whether an event at `sequence` is news to a row whose stored version is `stored`.
fn is_newer(stored: Option<i64>, sequence: i64) -> bool {
    stored.is_none_or(|version| version < sequence)
}

async fn apply_hospital(tx: &mut Tx<'_>, at: At, event: HospitalEvent) -> sqlx::Result<()> {
    let id = at.id.to_string();
    match event {
        HospitalEvent::HospitalRegistered { profile }
        | HospitalEvent::HospitalUpdated { profile } => {
            let stored =
                stored_version(tx, "SELECT version FROM hospitals WHERE id = ?", &[&id]).await?;
            if is_newer(stored, at.sequence) {
                upsert_hospital(tx, &id, at.sequence, &profile).await?;
            }
        }
        HospitalEvent::HospitalClosed {} => {
            sqlx::query(
                "UPDATE hospitals SET closed = TRUE, version = ? WHERE id = ? AND version < ?",
            )
            .bind(at.sequence)
            .bind(&id)
            .bind(at.sequence)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

async fn upsert_hospital(
    tx: &mut Tx<'_>,
    id: &str,
    version: i64,
    profile: &HospitalProfile,
) -> sqlx::Result<()> {
    // Staff email domains are for verification only; the read model does not need them.
    sqlx::query(
        "INSERT INTO hospitals (id, name, kind, address, sido, sigungu, institution_code, version) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE name = VALUES(name), kind = VALUES(kind), \
         address = VALUES(address), sido = VALUES(sido), sigungu = VALUES(sigungu), \
         institution_code = VALUES(institution_code), version = VALUES(version)",
    )
    .bind(id)
    .bind(&profile.name)
    .bind(store::name(&profile.kind))
    .bind(&profile.address)
    .bind(&profile.sido)
    .bind(&profile.sigungu)
    .bind(&profile.institution_code)
    .bind(version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn apply_claim(tx: &mut Tx<'_>, at: At, event: ClaimEvent) -> sqlx::Result<()> {
    let id = at.id.to_string();
    let state = match event {
        ClaimEvent::ClaimSubmitted { hospital_id, .. } => {
            let stored =
                stored_version(tx, "SELECT version FROM claims WHERE id = ?", &[&id]).await?;
            if is_newer(stored, at.sequence) {
                // A submission (also one after a revocation) is open: it does not count.
                sqlx::query(
                    "INSERT INTO claims (id, hospital_id, state, version) VALUES (?, ?, 'open', ?) \
                     ON DUPLICATE KEY UPDATE hospital_id = VALUES(hospital_id), \
                     state = VALUES(state), version = VALUES(version)",
                )
                .bind(&id)
                .bind(hospital_id.to_string())
                .bind(at.sequence)
                .execute(&mut **tx)
                .await?;
            }
            return Ok(());
        }
        ClaimEvent::ClaimVerified { .. } => "verified",
        ClaimEvent::ClaimRejected { .. } => "rejected",
        ClaimEvent::ClaimRevoked {} => "revoked",
        ClaimEvent::ClaimExpired {} => "expired",
    };
    // One claim's events share a partition, so its submission is always there already.
    sqlx::query("UPDATE claims SET state = ?, version = ? WHERE id = ? AND version < ?")
        .bind(state)
        .bind(at.sequence)
        .bind(&id)
        .bind(at.sequence)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A review's texts, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Texts {
    title: String,
    pros: String,
    cons: String,
    advice: Option<String>,
}

/// The texts of a written or edited review, or `None` when any of them no longer opens: its
/// key was destroyed (deletion, withdrawal), or it was sealed with the key of an earlier,
/// deleted review of the same aggregate. Either way the text is erased for good.
fn open_texts(
    key: Option<&ContentKey>,
    review: Uuid,
    title: &EventText,
    pros: &EventText,
    cons: &EventText,
    advice: Option<&EventText>,
) -> Option<Texts> {
    let open = |field: &str, text: &EventText| match open(key, "review", review, field, text) {
        Opened::Text(text) => Some(text),
        Opened::Erased | Opened::Unreadable => None,
    };
    Some(Texts {
        title: open("title", title)?,
        pros: open("pros", pros)?,
        cons: open("cons", cons)?,
        advice: match advice {
            None => None,
            Some(advice) => Some(open("advice", advice)?),
        },
    })
}

async fn apply_review(
    tx: &mut Tx<'_>,
    keys: &ContentKeys,
    removals: Removals,
    at: At,
    event: ReviewEvent,
) -> anyhow::Result<()> {
    let id = at.id.to_string();
    match event {
        ReviewEvent::ReviewWritten {
            hospital_id,
            ratings,
            title,
            pros,
            cons,
            advice,
            would_recommend,
            label,
            author_ref: _,
        } => {
            let stored =
                stored_version(tx, "SELECT version FROM reviews WHERE id = ?", &[&id]).await?;
            if !is_newer(stored, at.sequence) {
                return Ok(());
            }
            let key = keys.get("review", at.id).await?;
            let texts = open_texts(key.as_ref(), at.id, &title, &pros, &cons, advice.as_ref());
            // A review written anew after a deletion replaces the row, helpful marks included.
            sqlx::query(
                "INSERT INTO reviews (id, hospital_id, state, overall, work_environment, \
                 pay_benefits, management, care_quality, work_life_balance, title, pros, cons, \
                 advice, would_recommend, job_category, tenure, helpful_count, created_at, version) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) \
                 ON DUPLICATE KEY UPDATE hospital_id = VALUES(hospital_id), state = VALUES(state), \
                 overall = VALUES(overall), work_environment = VALUES(work_environment), \
                 pay_benefits = VALUES(pay_benefits), management = VALUES(management), \
                 care_quality = VALUES(care_quality), work_life_balance = VALUES(work_life_balance), \
                 title = VALUES(title), pros = VALUES(pros), cons = VALUES(cons), \
                 advice = VALUES(advice), would_recommend = VALUES(would_recommend), \
                 job_category = VALUES(job_category), tenure = VALUES(tenure), \
                 helpful_count = 0, created_at = VALUES(created_at), version = VALUES(version)",
            )
            .bind(&id)
            .bind(hospital_id.to_string())
            .bind(if texts.is_some() { "published" } else { "erased" })
            .bind(ratings.overall)
            .bind(ratings.work_environment)
            .bind(ratings.pay_benefits)
            .bind(ratings.management)
            .bind(ratings.care_quality)
            .bind(ratings.work_life_balance)
            .bind(texts.as_ref().map(|t| &t.title))
            .bind(texts.as_ref().map(|t| &t.pros))
            .bind(texts.as_ref().map(|t| &t.cons))
            .bind(texts.as_ref().and_then(|t| t.advice.as_ref()))
            .bind(would_recommend)
            // The label only when readers see it; the event carries no other.
            .bind(label.map(|label| label.job_category.as_str()))
            .bind(label.map(|label| label.tenure.as_str()))
            .bind(ward_platform::time::minute(at.occurred_at))
            .bind(at.sequence)
            .execute(&mut **tx)
            .await?;
            if texts.is_none() {
                // Gone before it was ever shown: as deleted (docs/privacy.md).
                remove_now(tx, &id, at.sequence).await?;
            }
        }
        ReviewEvent::ReviewEdited {
            ratings,
            title,
            pros,
            cons,
            advice,
            would_recommend,
        } => {
            let key = keys.get("review", at.id).await?;
            // Texts that no longer open were deleted or erased: a later event or the sweep
            // removes the review.
            if let Some(texts) =
                open_texts(key.as_ref(), at.id, &title, &pros, &cons, advice.as_ref())
            {
                edit_review(tx, &id, at.sequence, &ratings, texts, would_recommend).await?;
            }
        }
        ReviewEvent::ReviewDeleted { .. } => {
            let advanced =
                sqlx::query("UPDATE reviews SET version = ? WHERE id = ? AND version < ?")
                    .bind(at.sequence)
                    .bind(&id)
                    .bind(at.sequence)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
            if advanced > 0 {
                removals.remove(tx, &id, at.sequence).await?;
            }
        }
        ReviewEvent::ReviewMarkedHelpful { .. } => {
            sqlx::query(
                "UPDATE reviews SET helpful_count = helpful_count + 1, version = ? \
                 WHERE id = ? AND version < ?",
            )
            .bind(at.sequence)
            .bind(&id)
            .bind(at.sequence)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Applies an edit to a review that is not deleted.
async fn edit_review(
    tx: &mut Tx<'_>,
    id: &str,
    sequence: i64,
    ratings: &Ratings,
    texts: Texts,
    would_recommend: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE reviews SET overall = ?, work_environment = ?, pay_benefits = ?, \
         management = ?, care_quality = ?, work_life_balance = ?, title = ?, pros = ?, cons = ?, \
         advice = ?, would_recommend = ?, version = ? \
         WHERE id = ? AND version < ? AND state <> 'deleted'",
    )
    .bind(ratings.overall)
    .bind(ratings.work_environment)
    .bind(ratings.pay_benefits)
    .bind(ratings.management)
    .bind(ratings.care_quality)
    .bind(ratings.work_life_balance)
    .bind(texts.title)
    .bind(texts.pros)
    .bind(texts.cons)
    .bind(texts.advice)
    .bind(would_recommend)
    .bind(sequence)
    .bind(id)
    .bind(sequence)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes every published review whose content key is gone, as a deletion removes it (and
/// in the same epoch). Runs once per batch that holds a withdrawal: a withdrawal destroyed
/// the member's content keys before it was recorded, and the log does not say which reviews
/// were theirs (that would link them).
async fn sweep(tx: &mut Tx<'_>, keys: &ContentKeys, removals: Removals) -> anyhow::Result<()> {
    let mut after = String::new();
    loop {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, version FROM reviews WHERE state = 'published' AND id > ? \
             ORDER BY id LIMIT ?",
        )
        .bind(&after)
        .bind(SWEEP_CHUNK)
        .fetch_all(&mut **tx)
        .await?;
        let Some((last, _)) = rows.last() else {
            return Ok(());
        };
        after.clone_from(last);
        let versions: HashMap<Uuid, i64> = rows
            .iter()
            .filter_map(|(id, version)| Some((Uuid::parse_str(id).ok()?, *version)))
            .collect();
        let ids: Vec<Uuid> = versions.keys().copied().collect();
        let present = keys.present("review", &ids).await?;
        let gone: Vec<(&Uuid, &i64)> = versions
            .iter()
            .filter(|(id, _)| !present.contains(id))
            .collect();
        if !gone.is_empty() {
            tracing::info!(erased = gone.len(), "erasure sweep of reviews");
        }
        for (id, version) in gone {
            removals.remove(tx, &id.to_string(), *version).await?;
        }
    }
}

async fn apply_moderation(tx: &mut Tx<'_>, at: At, event: ModerationEvent) -> sqlx::Result<()> {
    let hidden = match event {
        // Reports change nothing the public sees until they hide the item.
        ModerationEvent::ReportFiled { .. } => return Ok(()),
        ModerationEvent::TargetHidden { .. } => true,
        ModerationEvent::TargetRestored { .. } => false,
    };
    let target = at.id.to_string();
    let stored = stored_version(
        tx,
        "SELECT version FROM moderation_state WHERE target_kind = 'review' AND target_id = ?",
        &[&target],
    )
    .await?;
    if is_newer(stored, at.sequence) {
        sqlx::query(
            "INSERT INTO moderation_state (target_kind, target_id, hidden, version) \
             VALUES ('review', ?, ?, ?) \
             ON DUPLICATE KEY UPDATE hidden = VALUES(hidden), version = VALUES(version)",
        )
        .bind(&target)
        .bind(hidden)
        .bind(at.sequence)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::record;
    use ward_domain::affiliation::{Tenure, VerificationMethod};
    use ward_domain::author::AuthorRef;
    use ward_domain::hospital::HospitalKind;
    use ward_domain::member::JobCategory;
    use ward_domain::moderation::{HiddenCause, ReportReason};
    use ward_domain::post::DeletedBy;
    use ward_domain::review::ReviewLabel;
    use ward_platform::config::DatabaseConfig;

    type Result<T = ()> = anyhow::Result<T>;

    const RATINGS: Ratings = Ratings {
        overall: 4,
        work_environment: 3,
        pay_benefits: 2,
        management: 2,
        care_quality: 5,
        work_life_balance: 1,
    };

    fn sealed(key: &ContentKey, review: Uuid, field: &str, text: &str) -> EventText {
        EventText::Sealed(key.seal("review", review, field, text))
    }

    fn written(key: &ContentKey, review: Uuid, hospital: Uuid, title: &str) -> ReviewEvent {
        ReviewEvent::ReviewWritten {
            hospital_id: hospital,
            ratings: RATINGS,
            title: sealed(key, review, "title", title),
            pros: sealed(key, review, "pros", "교육 체계가 잘 갖춰져 있습니다"),
            cons: sealed(key, review, "cons", "야간 근무가 너무 많고 힘듭니다"),
            advice: None,
            would_recommend: true,
            label: Some(ReviewLabel {
                job_category: JobCategory::Nurse,
                tenure: Tenure::Current,
            }),
            author_ref: AuthorRef("ab".repeat(32)),
        }
    }

    fn profile(name: &str) -> HospitalProfile {
        HospitalProfile {
            name: name.to_owned(),
            kind: HospitalKind::KoreanMedicine,
            address: "서울특별시 종로구 대학로 1".to_owned(),
            sido: "서울".to_owned(),
            sigungu: "종로구".to_owned(),
            institution_code: None,
            email_domains: vec!["example.org".to_owned()],
        }
    }

    #[test]
    fn events_parse_from_their_envelope_and_strangers_do_not() -> Result {
        let id = Uuid::new_v4();
        let good = record(
            "hospital",
            &id.to_string(),
            3,
            &HospitalEvent::HospitalClosed {},
        )?;
        let envelope = store::envelope(&good).map_err(anyhow::Error::msg)?;
        let (at, event) = parse::<HospitalEvent>(envelope.clone()).map_err(anyhow::Error::msg)?;
        assert_eq!((at.id, at.sequence), (id, 3));
        assert_eq!(event, HospitalEvent::HospitalClosed {});

        let newer = Envelope {
            event_version: "2".to_owned(),
            ..envelope.clone()
        };
        assert!(parse::<HospitalEvent>(newer).is_err());
        let not_a_uuid = Envelope {
            aggregate_id: "nope".to_owned(),
            ..envelope.clone()
        };
        assert!(parse::<HospitalEvent>(not_a_uuid).is_err());
        assert!(parse_review(envelope).is_err(), "not a review event");
        Ok(())
    }

    #[test]
    fn review_written_parses_at_versions_1_and_2_and_version_1_has_no_label() -> Result {
        let (key, review) = (ContentKey::generate(), Uuid::new_v4());
        let event = written(&key, review, Uuid::new_v4(), "제목");
        let current = store::envelope(&record("review", &review.to_string(), 1, &event)?)
            .map_err(anyhow::Error::msg)?;
        assert_eq!(current.event_version, "2");
        let (_, parsed) = parse_review(current.clone()).map_err(anyhow::Error::msg)?;
        assert_eq!(parsed, event);

        // Version 1: the label always there, decided at read time per hospital.
        let mut payload = current.payload.clone();
        if let Some(fields) = payload.as_object_mut() {
            fields.remove("label");
            fields.insert("job_category".to_owned(), "pharmacist".into());
            fields.insert("tenure".to_owned(), "current".into());
        }
        let version_1 = Envelope {
            event_version: "1".to_owned(),
            payload,
            ..current.clone()
        };
        let (_, parsed) = parse_review(version_1).map_err(anyhow::Error::msg)?;
        assert!(
            matches!(parsed, ReviewEvent::ReviewWritten { label: None, .. }),
            "{parsed:?}"
        );
        let unknown = Envelope {
            event_version: "3".to_owned(),
            ..current
        };
        assert!(parse_review(unknown).is_err());
        Ok(())
    }

    #[test]
    fn moderation_ids_name_a_kind_and_an_item() {
        let id = Uuid::new_v4();
        assert_eq!(
            moderation_target(&format!("review:{id}")),
            Some((TargetKind::Review, id))
        );
        assert_eq!(
            moderation_target(&format!("post:{id}")),
            Some((TargetKind::Post, id))
        );
        for bad in ["review", "review:x", &format!("hospital:{id}"), ""] {
            assert_eq!(moderation_target(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn texts_open_with_the_current_key_only() {
        let (key, review) = (ContentKey::generate(), Uuid::new_v4());
        let title = sealed(&key, review, "title", "제목");
        let pros = sealed(&key, review, "pros", "장점");
        let cons = sealed(&key, review, "cons", "단점");
        let advice = sealed(&key, review, "advice", "조언");
        assert_eq!(
            open_texts(Some(&key), review, &title, &pros, &cons, Some(&advice)),
            Some(Texts {
                title: "제목".to_owned(),
                pros: "장점".to_owned(),
                cons: "단점".to_owned(),
                advice: Some("조언".to_owned()),
            })
        );
        assert_eq!(
            open_texts(Some(&key), review, &title, &pros, &cons, None).map(|t| t.advice),
            Some(None),
            "no advice is not an erasure"
        );
        assert_eq!(open_texts(None, review, &title, &pros, &cons, None), None);
        let rewritten = ContentKey::generate();
        assert_eq!(
            open_texts(Some(&rewritten), review, &title, &pros, &cons, None),
            None,
            "texts of a deleted review do not open with its successor's key"
        );
        let legacy = EventText::Legacy("예전 글".to_owned());
        assert_eq!(
            open_texts(None, review, &legacy, &legacy, &legacy, None).map(|t| t.title),
            Some("예전 글".to_owned())
        );
    }

    /// A scratch read model in MariaDB and a scratch key table in PostgreSQL, dropped after
    /// `body` ran.
    async fn with_databases<F, Fut>(body: F) -> Result
    where
        F: FnOnce(HospitalProjection, PgPool) -> Fut,
        Fut: std::future::Future<Output = Result>,
    {
        let name = format!("ward_unit_h_{}", &Uuid::new_v4().simple().to_string()[..12]);
        let mysql =
            DatabaseConfig::new("mysql://root@127.0.0.1:3306/mysql").with_database(&name)?;
        let pg = DatabaseConfig::new("postgres://postgres@127.0.0.1:5432/postgres")
            .with_database(&name)?;
        mysql.create_mysql_database().await?;
        pg.create_postgres_database().await?;
        let pool = mysql.connect_mysql().await?;
        MIGRATOR.run(&pool).await?;
        let keys = pg.connect_postgres().await?;
        crate::testing::content_key_table(&keys).await?;
        let outcome = body(
            HospitalProjection::new(pool.clone(), keys.clone()),
            keys.clone(),
        )
        .await;
        pool.close().await;
        keys.close().await;
        sqlx::query(&format!("DROP DATABASE IF EXISTS `{name}`"))
            .execute(
                &DatabaseConfig::new("mysql://root@127.0.0.1:3306/mysql")
                    .connect_mysql()
                    .await?,
            )
            .await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(
                &DatabaseConfig::new("postgres://postgres@127.0.0.1:5432/postgres")
                    .connect_postgres()
                    .await?,
            )
            .await?;
        outcome
    }

    async fn store_key(keys: &PgPool, review: Uuid, key: &ContentKey) -> Result {
        sqlx::query(
            "INSERT INTO content_keys (item_type, item_id, key) VALUES ('review', $1, $2) \
             ON CONFLICT (item_type, item_id) DO UPDATE SET key = EXCLUDED.key",
        )
        .bind(review.to_string())
        .bind(key.as_bytes().as_slice())
        .execute(keys)
        .await?;
        Ok(())
    }

    /// Every row of the read model, in a comparable form.
    async fn snapshot(pool: &MySqlPool) -> Result<Vec<String>> {
        let mut rows = Vec::new();
        let hospitals: Vec<(String, String, String, bool, i64)> =
            sqlx::query_as("SELECT id, name, kind, closed, version FROM hospitals ORDER BY id")
                .fetch_all(pool)
                .await?;
        rows.extend(hospitals.iter().map(|r| format!("hospital {r:?}")));
        let claims: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT id, hospital_id, state, version FROM claims ORDER BY id")
                .fetch_all(pool)
                .await?;
        rows.extend(claims.iter().map(|r| format!("claim {r:?}")));
        type ReviewRow = (String, String, Option<u8>, Option<String>, i64, i64);
        let reviews: Vec<ReviewRow> = sqlx::query_as(
            "SELECT id, state, overall, title, helpful_count, version FROM reviews ORDER BY id",
        )
        .fetch_all(pool)
        .await?;
        rows.extend(reviews.iter().map(|r| format!("review {r:?}")));
        let hidden: Vec<(String, bool, i64)> = sqlx::query_as(
            "SELECT target_id, hidden, version FROM moderation_state ORDER BY target_id",
        )
        .fetch_all(pool)
        .await?;
        rows.extend(hidden.iter().map(|r| format!("moderation {r:?}")));
        Ok(rows)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn records_of_any_topic_order_applied_twice_give_one_read_model() -> Result {
        with_databases(|projection, keys| async move {
            let (hospital, claim, review) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
            let key = ContentKey::generate();
            store_key(&keys, review, &key).await?;
            let moderation = format!("review:{review}");
            // Claim and hide first, hospital and review last: topics are not ordered.
            let batch = vec![
                record(
                    "affiliation",
                    &claim.to_string(),
                    1,
                    &ClaimEvent::ClaimSubmitted {
                        hospital_id: hospital,
                        job_category: JobCategory::Doctor,
                        tenure: Tenure::Former,
                        submitted_at: 1,
                    },
                )?,
                record(
                    "affiliation",
                    &claim.to_string(),
                    2,
                    &ClaimEvent::ClaimVerified {
                        method: VerificationMethod::Moderator,
                        verified_at: 2,
                    },
                )?,
                record(
                    "moderation",
                    &moderation,
                    1,
                    &ModerationEvent::TargetHidden {
                        cause: HiddenCause::Moderator,
                        reason: ReportReason::Abuse,
                        note: None,
                    },
                )?,
                record(
                    "hospital",
                    &hospital.to_string(),
                    1,
                    &HospitalEvent::HospitalRegistered {
                        profile: profile("세브란스병원"),
                    },
                )?,
                record(
                    "review",
                    &review.to_string(),
                    1,
                    &written(&key, review, hospital, "제목"),
                )?,
                record(
                    "review",
                    &review.to_string(),
                    2,
                    &ReviewEvent::ReviewMarkedHelpful {
                        voter_ref: AuthorRef("cd".repeat(32)),
                    },
                )?,
                record(
                    "hospital",
                    &hospital.to_string(),
                    2,
                    &HospitalEvent::HospitalClosed {},
                )?,
            ];
            projection.apply("g", &batch).await?;
            let once = snapshot(&projection.pool).await?;
            assert_eq!(
                once,
                [
                    format!(
                        "hospital (\"{hospital}\", \"세브란스병원\", \"korean_medicine\", true, 2)"
                    ),
                    format!("claim (\"{claim}\", \"{hospital}\", \"verified\", 2)"),
                    format!("review (\"{review}\", \"published\", Some(4), Some(\"제목\"), 1, 2)"),
                    format!("moderation (\"{review}\", true, 1)"),
                ]
            );
            // Redelivered as a whole, and one record at a time in reverse: nothing changes.
            projection.apply("g", &batch).await?;
            for record in batch.iter().rev() {
                projection.apply("g", std::slice::from_ref(record)).await?;
            }
            assert_eq!(snapshot(&projection.pool).await?, once);
            let rejects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projector_rejects")
                .fetch_one(&projection.pool)
                .await?;
            assert_eq!(rejects, 0);
            Ok(())
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_withdrawal_removes_the_reviews_whose_key_is_gone_as_deletions_are() -> Result {
        with_databases(|projection, keys| async move {
            let hospital = Uuid::new_v4();
            let (kept, gone) = (Uuid::new_v4(), Uuid::new_v4());
            let mut batch = Vec::new();
            for review in [kept, gone] {
                let key = ContentKey::generate();
                store_key(&keys, review, &key).await?;
                let event = written(&key, review, hospital, "제목");
                batch.push(record("review", &review.to_string(), 1, &event)?);
            }
            projection.apply("g", &batch).await?;
            // The command side destroys the keys, then records the withdrawal.
            sqlx::query("DELETE FROM content_keys WHERE item_id = $1")
                .bind(gone.to_string())
                .execute(&keys)
                .await?;
            let withdrew = ward_domain::member::MemberEvent::MemberWithdrew {};
            let withdrawal = record("member", &"ef".repeat(32), 7, &withdrew)?;
            projection.apply("g", &[withdrawal]).await?;
            let mut expected = [
                format!("review (\"{kept}\", \"published\", Some(4), Some(\"제목\"), 0, 1)"),
                format!("review (\"{gone}\", \"deleted\", None, None, 0, 1)"),
            ];
            expected.sort();
            assert_eq!(snapshot(&projection.pool).await?, expected);
            Ok(())
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_review_written_anew_starts_over_and_a_replay_shows_the_old_one_deleted() -> Result {
        with_databases(|projection, keys| async move {
            let (hospital, review) = (Uuid::new_v4(), Uuid::new_v4());
            let id = review.to_string();
            let first_key = ContentKey::generate();
            store_key(&keys, review, &first_key).await?;
            let helpful = ReviewEvent::ReviewMarkedHelpful {
                voter_ref: AuthorRef("cd".repeat(32)),
            };
            let mut log = vec![
                record(
                    "review",
                    &id,
                    1,
                    &written(&first_key, review, hospital, "처음"),
                )?,
                record("review", &id, 2, &helpful)?,
                record("review", &id, 3, &helpful)?,
            ];
            projection.apply("g", &log).await?;
            let deleted = record(
                "review",
                &id,
                4,
                &ReviewEvent::ReviewDeleted {
                    by: DeletedBy::Author,
                },
            )?;
            projection
                .apply("g", std::slice::from_ref(&deleted))
                .await?;
            log.push(deleted);
            assert_eq!(
                snapshot(&projection.pool).await?,
                [format!("review (\"{id}\", \"deleted\", None, None, 0, 4)")]
            );

            // The deletion destroyed the key; the new review has a new one.
            let second_key = ContentKey::generate();
            store_key(&keys, review, &second_key).await?;
            log.push(record(
                "review",
                &id,
                5,
                &written(&second_key, review, hospital, "다시"),
            )?);
            projection.apply("g", &log[4..]).await?;
            let live = snapshot(&projection.pool).await?;
            assert_eq!(
                live,
                [format!(
                    "review (\"{id}\", \"published\", Some(4), Some(\"다시\"), 0, 5)"
                )]
            );

            // A rebuild from offset 0: the first review's texts never open again.
            sqlx::query("DELETE FROM reviews")
                .execute(&projection.pool)
                .await?;
            projection.apply("g", &log[..1]).await?;
            assert_eq!(
                snapshot(&projection.pool).await?,
                [format!("review (\"{id}\", \"deleted\", None, None, 0, 1)")],
                "erased exactly as deleted: no texts, no ratings"
            );
            projection.apply("g", &log).await?;
            assert_eq!(snapshot(&projection.pool).await?, live);
            Ok(())
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_label_is_stored_only_when_the_event_carries_it() -> Result {
        with_databases(|projection, keys| async move {
            let hospital = Uuid::new_v4();
            let (labelled, unlabelled, old) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
            let mut batch = Vec::new();
            for review in [labelled, unlabelled, old] {
                let key = ContentKey::generate();
                store_key(&keys, review, &key).await?;
                let mut event = written(&key, review, hospital, "제목");
                if review != labelled {
                    if let ReviewEvent::ReviewWritten { label, .. } = &mut event {
                        *label = None;
                    }
                }
                let mut stored = record("review", &review.to_string(), 1, &event)?;
                if review == old {
                    // Version 1 carried the label whatever the counts: it is not kept.
                    let mut envelope = store::envelope(&stored).map_err(anyhow::Error::msg)?;
                    envelope.event_version = "1".to_owned();
                    if let Some(fields) = envelope.payload.as_object_mut() {
                        fields.insert("job_category".to_owned(), "pharmacist".into());
                        fields.insert("tenure".to_owned(), "former".into());
                    }
                    stored.value = Some(serde_json::to_vec(&envelope)?);
                }
                batch.push(stored);
            }
            projection.apply("g", &batch).await?;
            let label = |review: Uuid| {
                let pool = projection.pool.clone();
                async move {
                    let row: (String, Option<String>, Option<String>) = sqlx::query_as(
                        "SELECT state, job_category, tenure FROM reviews WHERE id = ?",
                    )
                    .bind(review.to_string())
                    .fetch_one(&pool)
                    .await?;
                    Ok::<_, anyhow::Error>(row)
                }
            };
            let published = "published".to_owned();
            assert_eq!(
                label(labelled).await?,
                (
                    published.clone(),
                    Some("nurse".to_owned()),
                    Some("current".to_owned())
                )
            );
            assert_eq!(label(unlabelled).await?, (published.clone(), None, None));
            assert_eq!(label(old).await?, (published, None, None));
            let rejects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projector_rejects")
                .fetch_one(&projection.pool)
                .await?;
            assert_eq!(rejects, 0);
            Ok(())
        })
        .await
    }
}
