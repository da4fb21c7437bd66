//! What a post's badge and a review's author label may show, decided once, when the item is
//! written, from the verified-member counts then (`verified_counts`, kept by a trigger on the
//! claim events). k-anonymity holds per label: a badge names its author's hospital only if at
//! least K members of that job category are verified there; a review's label (job category
//! and tenure) appears only if at least K members with that category and tenure are. A label
//! is never revealed later, when a count crosses K, nor withdrawn: readers see what was
//! decided, and so does every copy of the log and the read models (`docs/privacy.md`).

use sqlx::PgPool;
use uuid::Uuid;
use ward_domain::affiliation::Tenure;
use ward_domain::member::JobCategory;

/// Where a badge places its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The hospital itself.
    Hospital,
    /// Only the hospital's region (시도) and kind.
    Region {
        /// 시도.
        sido: String,
        /// The hospital kind (`general`, …).
        kind: String,
    },
    /// Nowhere: the job category only.
    Nowhere,
}

/// The counts, and K.
#[derive(Clone)]
pub struct Labels {
    pool: PgPool,
    k: i64,
}

impl Labels {
    /// Counts in the event store `pool`; `k` is `query_api.k_anonymity`.
    pub fn new(pool: PgPool, k: u32) -> Self {
        Self {
            pool,
            k: i64::from(k),
        }
    }

    /// Where a badge of a member verified at `hospital` as `job_category` may place them:
    /// the hospital if it has K verified members of that category; else its region and kind
    /// if the hospitals there that are themselves below K for that category have K together
    /// (hospitals that show their own name do not count: they would leave a lone member's
    /// badge as the only one of the region); else nowhere.
    pub async fn place(&self, hospital: Uuid, job_category: JobCategory) -> anyhow::Result<Place> {
        let counted: Option<(i64, String, String, i64)> = sqlx::query_as(
            "WITH own AS ( \
                 SELECT max(sido) AS sido, max(kind) AS kind, sum(members)::bigint AS members \
                 FROM verified_counts WHERE hospital_id = $1 AND job_category = $2 \
                 HAVING count(*) > 0), \
             below AS ( \
                 SELECT v.hospital_id, sum(v.members) AS members \
                 FROM verified_counts v JOIN own o ON v.sido = o.sido AND v.kind = o.kind \
                 WHERE v.job_category = $2 GROUP BY v.hospital_id HAVING sum(v.members) < $3) \
             SELECT own.members, own.sido, own.kind, \
                    (SELECT coalesce(sum(members), 0) FROM below)::bigint FROM own",
        )
        .bind(hospital.to_string())
        .bind(job_category.as_str())
        .bind(self.k)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match counted {
            Some((members, ..)) if members >= self.k => Place::Hospital,
            Some((_, sido, kind, below)) if below >= self.k && !sido.is_empty() => {
                Place::Region { sido, kind }
            }
            _ => Place::Nowhere,
        })
    }

    /// Whether a review at `hospital` may carry its author's label (`job_category`,
    /// `tenure`): at least K members with that category and tenure are verified there.
    pub async fn label_shown(
        &self,
        hospital: Uuid,
        job_category: JobCategory,
        tenure: Tenure,
    ) -> anyhow::Result<bool> {
        let members: Option<i32> = sqlx::query_scalar(
            "SELECT members FROM verified_counts \
             WHERE hospital_id = $1 AND job_category = $2 AND tenure = $3",
        )
        .bind(hospital.to_string())
        .bind(job_category.as_str())
        .bind(tenure.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(i64::from(members.unwrap_or_default()) >= self.k)
    }
}
