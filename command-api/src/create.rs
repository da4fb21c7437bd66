//! The one way an item is created — a post, a comment, a review, a claim or a report: the
//! request's `Idempotency-Key`, the member's rate limit, the item's record for the member (an
//! entry in the member's index and, for a text, the content key that seals it), the command,
//! the clean-up when it is refused, and `201` with the answer. Each endpoint only says what
//! differs, as a [`Create`].

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cqrs_es::{Aggregate, AggregateError, EventStore};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;
use ward_domain::member::MemberId;
use ward_domain::rule::BrokenRule;
use ward_domain::sealed::ContentKey;
use ward_platform::config::Limit;
use ward_platform::http::{ApiError, CorrelationId};

use crate::app::AppState;
use crate::execute::execute;
use crate::idempotency::{created_before, Answer};

/// What a create records for the member before its command runs.
#[derive(Debug, Clone, Copy)]
pub enum Record {
    /// A text the member writes (`post`, `comment`, `review`): an entry in the member's index
    /// and a fresh content key that seals it. A refused command gives the key up, unless
    /// `keep_key` (a derived id: the key may seal an earlier, live item with that id).
    Text { kind: &'static str, keep_key: bool },
    /// An entry in the member's index, without a text (`claim`); a re-submission (the same
    /// derived id) has one already.
    Listed { kind: &'static str },
    /// Nothing (a report).
    Nothing,
}

/// One create: the member's rate limit, the aggregate the command runs on, what is recorded.
pub struct Create<'a, A: Aggregate, S> {
    /// The rate limit's name (`post`, …) and the member's limit.
    pub limit: (&'static str, Limit),
    /// The aggregate's event store and services.
    pub store: &'a S,
    pub services: &'a A::Services,
    pub record: Record,
    /// The refusal that says the item exists already: a retried request whose first answer
    /// was lost answers the existing item.
    pub exists: fn(&A::Error) -> bool,
}

/// The content key a text's plan gets: a [`Record::Text`] always has one.
pub fn text_key(key: Option<ContentKey>) -> Result<ContentKey, ApiError> {
    key.ok_or_else(|| ApiError::internal("a text's create has no content key"))
}

/// Who asks for a create: the member, the request's headers (its `Idempotency-Key`) and its
/// correlation id.
pub struct Requester<'a> {
    pub state: &'a AppState,
    pub member: MemberId,
    pub headers: &'a HeaderMap,
    pub correlation: &'a CorrelationId,
}

impl<'a> Requester<'a> {
    /// `member`'s request, with its headers and correlation id.
    pub fn new(
        state: &'a AppState,
        member: MemberId,
        headers: &'a HeaderMap,
        correlation: &'a CorrelationId,
    ) -> Self {
        Self {
            state,
            member,
            headers,
            correlation,
        }
    }
}

/// The command of a create, planned once the item's id and content key are known.
pub struct Planned<C> {
    /// The aggregate the command runs on: the item's own, or a comment's post.
    pub aggregate_id: String,
    pub command: C,
    /// Where the new item lives, if it has an address of its own.
    pub location: Option<String>,
}

impl<A, S> Create<'_, A, S>
where
    A: Aggregate,
    A::Command: Clone,
    A::Error: BrokenRule,
    S: EventStore<A>,
{
    /// Creates the item that `requester` asks for with `request` (its body, serialized as the
    /// key remembers it): `id` makes the item's id from the one the key stands for, `plan` its
    /// command from the id and its content key (for a text), and `answer` the `201` body from
    /// the id and the aggregate's new version.
    pub async fn run<B: Serialize>(
        self,
        requester: Requester<'_>,
        request: &[u8],
        id: impl FnOnce(Uuid) -> Uuid,
        plan: impl FnOnce(Uuid, Option<ContentKey>) -> Result<Planned<A::Command>, ApiError>,
        answer: impl FnOnce(Uuid, u64) -> B,
    ) -> Result<Response, ApiError> {
        let Requester {
            state,
            member,
            headers,
            correlation,
        } = requester;
        let (name, limit) = self.limit;
        state
            .idempotency
            .run(member, headers, request, |key, claimed| {
                state.rate_limiter.within(name, member, limit, async move {
                    let id = id(key);
                    let (content_key, indexed) = match self.record {
                        Record::Text { kind, .. } => {
                            let (key, indexed) =
                                state.member_items.record_new(member, kind, id).await?;
                            (Some(key), Some(indexed))
                        }
                        Record::Listed { kind }
                            if !state.member_items.has(member, kind, id).await? =>
                        {
                            (
                                None,
                                Some(state.member_items.record(member, kind, id).await?),
                            )
                        }
                        Record::Listed { .. } | Record::Nothing => (None, None),
                    };
                    let planned = plan(id, content_key)?;
                    let version = match execute(
                        self.store,
                        self.services,
                        &planned.aggregate_id,
                        planned.command,
                        correlation,
                    )
                    .await
                    {
                        Ok(version) => version,
                        Err(error) => {
                            if let Some(indexed) = indexed {
                                state.member_items.forget(indexed).await?;
                            }
                            let exists =
                                matches!(&error, AggregateError::UserError(e) if (self.exists)(e));
                            if let (
                                Record::Text {
                                    kind,
                                    keep_key: false,
                                },
                                false,
                            ) = (self.record, exists)
                            {
                                state.content_keys.discard(kind, id).await?;
                            }
                            created_before(
                                self.store,
                                &planned.aggregate_id,
                                claimed,
                                error,
                                self.exists,
                            )
                            .await?
                        }
                    };
                    let version = u64::try_from(version).map_err(ApiError::internal)?;
                    let body: Value =
                        serde_json::to_value(answer(id, version)).map_err(ApiError::internal)?;
                    Ok(Answer {
                        status: StatusCode::CREATED.as_u16(),
                        body,
                        location: planned.location,
                    })
                })
            })
            .await
    }
}
