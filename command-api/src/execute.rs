//! Runs one command against one aggregate: load, decide, commit. Unlike
//! `CqrsFramework::execute`, it answers with the aggregate's new version, which API clients
//! receive as a consistency token.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::Json;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore};
use ward_domain::rule::{BrokenRule, Refusal};
use ward_platform::http::{ApiError, CorrelationId};

use crate::openapi::Changed;

/// Runs `command` on the aggregate `id` ([`execute`]); answers its id and new version.
pub async fn change<A, S>(
    store: &S,
    services: &A::Services,
    id: &str,
    command: A::Command,
    correlation: &CorrelationId,
) -> Result<Json<Changed>, ApiError>
where
    A: Aggregate,
    A::Command: Clone,
    A::Error: BrokenRule,
    S: EventStore<A>,
{
    let version = execute(store, services, id, command, correlation)
        .await
        .map_err(api_error)?;
    Ok(Json(Changed::of(id, version)))
}

/// How often a command is retried when another command changed the aggregate between its
/// load and its commit (a hot thread takes many comments at once).
const CONFLICT_RETRIES: u32 = 12;

/// Handles `command` on the aggregate `id` and commits the resulting events; returns the
/// aggregate's version afterwards (the sequence of its last event). An optimistic-lock
/// conflict is retried on fresh state, with a short random back-off, a bounded number of
/// times before it is reported.
pub async fn execute<A, S>(
    store: &S,
    services: &A::Services,
    id: &str,
    command: A::Command,
    correlation: &CorrelationId,
) -> Result<usize, AggregateError<A::Error>>
where
    A: Aggregate,
    A::Command: Clone,
    S: EventStore<A>,
{
    let mut attempt = 0;
    loop {
        match execute_once(store, services, id, command.clone(), correlation).await {
            Err(AggregateError::AggregateConflict) if attempt < CONFLICT_RETRIES => {
                attempt += 1;
                tracing::debug!(attempt, "aggregate conflict; retrying");
                // A little random back-off spreads the contenders out.
                let jitter = rand::random::<u64>() % (5 * u64::from(attempt));
                tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
            }
            result => return result,
        }
    }
}

async fn execute_once<A, S>(
    store: &S,
    services: &A::Services,
    id: &str,
    command: A::Command,
    correlation: &CorrelationId,
) -> Result<usize, AggregateError<A::Error>>
where
    A: Aggregate,
    S: EventStore<A>,
{
    let mut context = store.load_aggregate(id).await?;
    let sink = EventSink::default();
    context
        .aggregate()
        .handle(command, services, &sink)
        .await
        .map_err(AggregateError::UserError)?;
    let events = sink.collect().await;
    // Metadata is only the correlation id; see `ward_platform::kafka::Metadata`.
    let metadata = HashMap::from([("correlation_id".to_owned(), correlation.0.clone())]);
    let committed = store.commit(events, context, metadata).await?;
    Ok(committed.last().map_or(0, |event| event.sequence))
}

/// Maps a command failure (or a failure to load an aggregate) to the API error: a broken rule
/// gets its refusal's status (422, 403, 404, 409) with the rule's code and details, a
/// concurrent change 409, an event store that cannot be reached 503 `service_unavailable`
/// with `Retry-After`, anything else an opaque 500. The event store's connection failures
/// come as `DatabaseConnectionError`, but postgres-es reports a pool that found no connection
/// in time as an `UnexpectedError`: [`ApiError::internal`] looks into it and answers 503 too.
pub fn api_error<E: BrokenRule>(error: AggregateError<E>) -> ApiError {
    match error {
        AggregateError::UserError(rule) => {
            let details = rule.details();
            let status = match rule.refusal() {
                Refusal::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                Refusal::Forbidden => StatusCode::FORBIDDEN,
                Refusal::NotFound => StatusCode::NOT_FOUND,
                Refusal::Conflict => StatusCode::CONFLICT,
            };
            let error = ApiError::new(status, rule.code(), rule.to_string());
            if details.is_empty() {
                error
            } else {
                error.with_details(serde_json::json!(details))
            }
        }
        AggregateError::AggregateConflict => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "someone changed this at the same moment; try again",
        ),
        AggregateError::DatabaseConnectionError(error) => ApiError::unavailable(error),
        AggregateError::UnexpectedError(error) | AggregateError::DeserializationError(error) => {
            ApiError::internal(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_domain::post::PostError;

    #[test]
    fn an_event_store_out_of_reach_is_503_and_a_broken_rule_its_refusal() {
        let status = |error: AggregateError<PostError>| api_error(error).status();
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            status(AggregateError::DatabaseConnectionError(Box::new(
                sqlx::Error::Io(refused)
            ))),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(AggregateError::UnexpectedError(Box::new(
                sqlx::Error::PoolTimedOut
            ))),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(AggregateError::UnexpectedError(Box::new(
                sqlx::Error::RowNotFound
            ))),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status(AggregateError::AggregateConflict),
            StatusCode::CONFLICT
        );
        assert_eq!(
            status(AggregateError::UserError(PostError::AlreadyExists)),
            StatusCode::CONFLICT
        );
    }
}
