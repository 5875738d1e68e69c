//! HTTP endpoints of publishing: submitting a version, the moderators' queue and review,
//! decisions, withdrawing, and a datalab's submissions and history.

use axum::Json;
use axum::extract::{FromRef, Path, RawQuery, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::MAX_QUEUE_AGE_HOURS;
use super::{
    DecisionRequest, HistoryEvent, LifecycleRequest, PublishingService, QueueQuery, Review,
    Submission, SubmissionRequest, SubmissionState,
};
use crate::accounts::{AccountService, Caller};
use crate::datalabs::{Datalab, DatalabState};
use crate::http::error::ErrorEnvelope;
use crate::http::{ApiError, ApiJson, SignedIn};
use crate::metadata::DatalabKind;

pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AccountService: FromRef<S>,
    PublishingService: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(submit_version))
        .routes(routes!(datalab_submissions))
        .routes(routes!(datalab_history))
        .routes(routes!(review_queue))
        .routes(routes!(review_submission))
        .routes(routes!(decide_submission))
        .routes(routes!(withdraw_submission))
        .routes(routes!(deprecate_datalab))
        .routes(routes!(archive_datalab))
}

/// Submits a version for publication to an audience. Every unmet condition (a green build, a
/// passed smoke test, validated metadata, a licence that allows the audience) is listed in one
/// 422. Submitting a version whose submission was sent back resubmits it (200); an update that
/// changes nothing sensitive is published at once (state `published`).
#[utoipa::path(post, path = "/api/datalabs/{name}/versions/{version}/submission",
    tag = "publishing", security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version")),
    request_body = SubmissionRequest,
    responses((status = 201, body = Submission, description = "Submitted"),
        (status = 200, body = Submission, description = "Resubmitted after changes were requested"),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "Already awaiting review, or archived"),
        (status = 422, body = ErrorEnvelope, description = "Conditions unmet, each in `details`")))]
async fn submit_version(
    State(publishing): State<PublishingService>,
    SignedIn(user): SignedIn,
    Path((name, version)): Path<(String, String)>,
    ApiJson(request): ApiJson<SubmissionRequest>,
) -> Result<(StatusCode, Json<Submission>), ApiError> {
    let (submission, created) = publishing.submit(&user, &name, &version, request).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(submission)))
}

/// The datalab's submissions, oldest first: for its owner, administrators and moderators.
#[utoipa::path(get, path = "/api/datalabs/{name}/submissions", tag = "publishing",
    security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name")),
    responses((status = 200, body = Vec<Submission>), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn datalab_submissions(
    State(publishing): State<PublishingService>,
    SignedIn(user): SignedIn,
    Path(name): Path<String>,
) -> Result<Json<Vec<Submission>>, ApiError> {
    Ok(Json(
        publishing
            .submissions_of(&Caller::User(user), &name)
            .await?,
    ))
}

/// Every transition of the datalab's publication, in order: who, when, from, to, the comment
/// and the build. For its owner, administrators and moderators.
#[utoipa::path(get, path = "/api/datalabs/{name}/history", tag = "publishing",
    security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name")),
    responses((status = 200, body = Vec<HistoryEvent>), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn datalab_history(
    State(publishing): State<PublishingService>,
    SignedIn(user): SignedIn,
    Path(name): Path<String>,
) -> Result<Json<Vec<HistoryEvent>>, ApiError> {
    Ok(Json(publishing.history(&Caller::User(user), &name).await?))
}

/// The moderators' queue, oldest first; by default the submissions awaiting review.
#[utoipa::path(get, path = "/api/moderation/queue", tag = "publishing",
    security(("api_token" = []), ("session_cookie" = [])),
    params(("kind" = Option<DatalabKind>, Query, description = "Only datalabs of this kind"),
        ("state" = Option<SubmissionState>, Query, description = "awaiting_review by default"),
        ("min_age_hours" = Option<i64>, Query, minimum = 0, maximum = 87_600,
            description = "Only submissions waiting at least this long")),
    responses((status = 200, body = Vec<Submission>), (status = 403, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)))]
async fn review_queue(
    State(publishing): State<PublishingService>,
    SignedIn(user): SignedIn,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Submission>>, ApiError> {
    let mut filter = QueueQuery::default();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let invalid = |expected: &str| {
            ApiError::invalid_field(
                key.to_string(),
                format!("{key} must be {expected}, not {value:?}"),
            )
        };
        match key.as_ref() {
            "kind" => filter.kind = Some(value.to_string()),
            "state" => {
                filter.state = Some(value.parse().map_err(|_| {
                    invalid(
                        &SubmissionState::ALL
                            .iter()
                            .map(|state| state.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                })?);
            }
            "min_age_hours" => {
                filter.min_age_hours = Some(value.parse().map_err(|_| {
                    invalid(&format!(
                        "a whole number of hours from 0 to {MAX_QUEUE_AGE_HOURS}"
                    ))
                })?);
            }
            _ => {}
        }
    }
    Ok(Json(publishing.queue(&user, filter).await?))
}

/// What a moderator reviews: the submission, its build (lint findings, smoke test), a link to
/// its log, the metadata, the licence decision, the changes against the last approved version
/// and the history. Also readable by the datalab's owner.
#[utoipa::path(get, path = "/api/submissions/{id}", tag = "publishing",
    security(("api_token" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Submission id")),
    responses((status = 200, body = Review), (status = 404, body = ErrorEnvelope)))]
async fn review_submission(
    State(publishing): State<PublishingService>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<Review>, ApiError> {
    Ok(Json(publishing.review(&user, &id).await?))
}

/// A moderator's decision: approve (publishes), request changes or reject (both need a
/// comment). No one decides on their own datalab.
#[utoipa::path(post, path = "/api/submissions/{id}/decision", tag = "publishing",
    security(("api_token" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Submission id")),
    request_body = DecisionRequest,
    responses((status = 200, body = Submission), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "Not awaiting review"),
        (status = 422, body = ErrorEnvelope)))]
async fn decide_submission(
    State(publishing): State<PublishingService>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Json<Submission>, ApiError> {
    Ok(Json(publishing.decide(&user, &id, request).await?))
}

/// The author takes back a submission that is awaiting review or was sent back.
#[utoipa::path(post, path = "/api/submissions/{id}/withdraw", tag = "publishing",
    security(("api_token" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Submission id")),
    responses((status = 200, body = Submission), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "Already decided")))]
async fn withdraw_submission(
    State(publishing): State<PublishingService>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<Submission>, ApiError> {
    Ok(Json(publishing.withdraw(&user, &id).await?))
}

/// Deprecates a published datalab: still readable and launchable by those who may see it, left
/// out of the marketplace. The owner or an administrator; kept in the history.
#[utoipa::path(post, path = "/api/datalabs/{name}/deprecate", tag = "publishing",
    security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name")),
    request_body = LifecycleRequest,
    responses((status = 200, body = Datalab), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "Not published")))]
async fn deprecate_datalab(
    State(publishing): State<PublishingService>,
    SignedIn(user): SignedIn,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<LifecycleRequest>,
) -> Result<Json<Datalab>, ApiError> {
    retire(&publishing, &user, &name, DatalabState::Deprecated, request).await
}

/// Archives a published or deprecated datalab: listed and launchable nowhere, its images kept
/// for existing references. The owner, an administrator or a moderator; kept in the history.
#[utoipa::path(post, path = "/api/datalabs/{name}/archive", tag = "publishing",
    security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name")),
    request_body = LifecycleRequest,
    responses((status = 200, body = Datalab), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "Neither published nor deprecated")))]
async fn archive_datalab(
    State(publishing): State<PublishingService>,
    SignedIn(user): SignedIn,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<LifecycleRequest>,
) -> Result<Json<Datalab>, ApiError> {
    retire(&publishing, &user, &name, DatalabState::Archived, request).await
}

/// Deprecating and archiving are one service call to two documented endpoints.
async fn retire(
    publishing: &PublishingService,
    user: &crate::accounts::User,
    name: &str,
    to: DatalabState,
    request: LifecycleRequest,
) -> Result<Json<Datalab>, ApiError> {
    Ok(Json(
        publishing.retire(user, name, to, request.comment).await?,
    ))
}
