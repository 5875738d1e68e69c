//! HTTP endpoints of sessions: launch, list mine, read one, follow its launch, read its
//! container's output, delete it. Every signed-in user may launch; a session is its owner's
//! alone (another user's answers 404).

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{FromRef, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{LaunchRequest, Session, SessionProgress, SessionService, SessionStatus};
use crate::accounts::AccountService;
use crate::http::error::ErrorEnvelope;
use crate::http::{ApiError, ApiJson, SignedIn};

/// How often a progress stream reads the session again when no change was announced.
const PROGRESS_POLL: Duration = Duration::from_secs(2);

pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AccountService: FromRef<S>,
    SessionService: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_sessions, launch_session))
        .routes(routes!(get_session, delete_session))
        .routes(routes!(session_logs))
        .routes(routes!(session_events))
}

/// Launches a datalab: the checks are made now (each refusal names its field, a quota names its
/// limit), the container starts afterwards; follow it with `GET /api/sessions/{id}/events`.
#[utoipa::path(post, path = "/api/sessions", tag = "sessions", security(("api_token" = []), ("session_cookie" = [])),
    request_body = LaunchRequest,
    responses((status = 202, body = Session),
        (status = 404, body = ErrorEnvelope, description = "No datalab of that name the caller may see, or no such version, data volume or datazone (`field` names it)"),
        (status = 409, body = ErrorEnvelope, description = "The version has no succeeded build to run"),
        (status = 422, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope, description = "A quota of the caller would be exceeded")))]
async fn launch_session(
    State(sessions): State<SessionService>,
    SignedIn(user): SignedIn,
    ApiJson(request): ApiJson<LaunchRequest>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let session = sessions.launch(&user, request).await?;
    Ok((StatusCode::ACCEPTED, Json(session)))
}

/// The caller's sessions, newest first, ended ones included.
#[utoipa::path(get, path = "/api/sessions", tag = "sessions", security(("api_token" = []), ("session_cookie" = [])),
    responses((status = 200, body = Vec<Session>)))]
async fn list_sessions(
    State(sessions): State<SessionService>,
    SignedIn(user): SignedIn,
) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(sessions.sessions_of(&user).await?))
}

#[utoipa::path(get, path = "/api/sessions/{id}", tag = "sessions", security(("api_token" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = Session), (status = 404, body = ErrorEnvelope)))]
async fn get_session(
    State(sessions): State<SessionService>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(sessions.session(&user, &id).await?))
}

/// Ends the session and removes its container; its record stays, `ended`.
#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "sessions", security(("api_token" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204), (status = 404, body = ErrorEnvelope)))]
async fn delete_session(
    State(sessions): State<SessionService>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    sessions.delete(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The container's recent output (its last 200 lines), stdout and stderr interleaved.
#[utoipa::path(get, path = "/api/sessions/{id}/logs", tag = "sessions", security(("api_token" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = String, content_type = "text/plain"),
        (status = 404, body = ErrorEnvelope)))]
async fn session_logs(
    State(sessions): State<SessionService>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let text = sessions.logs(&user, &id).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

/// The launch's progress as Server-Sent Events: a `status` event (a `SessionProgress`) each time
/// the status changes, the last one `ready`, `failed` (with its reason) or `ended`.
#[utoipa::path(get, path = "/api/sessions/{id}/events", tag = "sessions", security(("api_token" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, body = SessionProgress, content_type = "text/event-stream",
            description = "`status` events, each a SessionProgress"),
        (status = 404, body = ErrorEnvelope)))]
async fn session_events(
    State(sessions): State<SessionService>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    sessions.owned(&user, &id).await?;
    // Subscribed before the first read, so that no change falls between the two.
    let changes = sessions.runtime().subscribe();
    let follower = Follower {
        sessions,
        id,
        changes,
        last: None,
        done: false,
    };
    let stream = futures_util::stream::unfold(follower, |mut follower| async move {
        let progress = follower.next().await?;
        let event = Event::default()
            .event("status")
            .json_data(&progress)
            .expect("progress serialises");
        follower.done = progress.status.is_settled();
        follower.last = Some(progress);
        Some((Ok(event), follower))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Follows one session's status: its current one, then each change as the runtime records it
/// (re-read from the database when the follower fell behind, and every few seconds in case
/// another process changed it).
struct Follower {
    sessions: SessionService,
    id: String,
    changes: broadcast::Receiver<(String, SessionProgress)>,
    last: Option<SessionProgress>,
    done: bool,
}

impl Follower {
    /// The next status to report; `None` once the session settled or vanished.
    async fn next(&mut self) -> Option<SessionProgress> {
        if self.done {
            return None;
        }
        if self.last.is_none() {
            return self.sessions.progress(&self.id).await.ok().flatten();
        }
        loop {
            let changed = tokio::time::timeout(PROGRESS_POLL, self.changes.recv()).await;
            let progress = match changed {
                Ok(Ok((id, progress))) if id == self.id => progress,
                Ok(Ok(_)) => continue,
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                Ok(Err(broadcast::error::RecvError::Lagged(_))) | Err(_) => {
                    self.sessions.progress(&self.id).await.ok().flatten()?
                }
            };
            // A change announced before the first read may arrive after it: statuses only move
            // forward, so an earlier one is old news.
            let order =
                |status: SessionStatus| SessionStatus::ALL.iter().position(|s| *s == status);
            if self
                .last
                .as_ref()
                .is_none_or(|last| order(progress.status) > order(last.status))
            {
                return Some(progress);
            }
        }
    }
}
