//! The one way into a session: `/sessions/{id}/...`, HTTP and WebSocket (any `Upgrade`), for its
//! owner only, signed in by session cookie or API token. Anyone else gets 404, as for a session
//! that does not exist; the caller's credentials (the `Authorization` header and labforge's
//! cookie) never reach the container.
//!
//! Each request opens its own HTTP/1.1 connection to the container's loopback-published port; an
//! upgrade answered `101` joins the two connections byte for byte, so WebSocket frames pass
//! untouched (JupyterLab's kernels, noVNC's websockify).

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::any;
use hyper_util::rt::TokioIo;

use super::{SessionError, SessionService, SessionStatus, prefix_of};
use crate::accounts::{AccountService, Caller, SESSION_COOKIE};
use crate::http::ApiError;
use crate::metadata::DatalabKind;

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AccountService: FromRef<S>,
    SessionService: FromRef<S>,
{
    Router::new()
        .route("/sessions/{id}", any(to_prefix))
        .route("/sessions/{id}/", any(proxy))
        .route("/sessions/{id}/{*rest}", any(proxy))
}

/// The path the container receives for `path` (below the session's prefix, starting with `/`):
/// JupyterLab serves under its base URL, the other kinds at their root.
pub fn upstream_path(kind: DatalabKind, id: &str, path: &str) -> String {
    match kind {
        DatalabKind::JupyterLab => format!("{}{}", prefix_of(id), path.trim_start_matches('/')),
        DatalabKind::Desktop | DatalabKind::Generic => path.to_owned(),
    }
}

async fn to_prefix(Path(id): Path<String>) -> Redirect {
    Redirect::permanent(&prefix_of(&id))
}

async fn proxy(
    State(sessions): State<SessionService>,
    caller: Caller,
    request: Request,
) -> Result<Response, ApiError> {
    let Caller::User(user) = caller else {
        return Err(ApiError::sign_in_required());
    };
    let path = request.uri().path().to_owned();
    let id = path
        .strip_prefix("/sessions/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let session = sessions.owned(&user, &id).await?;
    let Some(address) = session.address.clone().filter(|_| {
        matches!(
            session.status,
            SessionStatus::Ready | SessionStatus::WaitingForHealth
        )
    }) else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "session_not_ready",
            format!("session {id} is {}", session.status),
        ));
    };
    let kind: DatalabKind = session
        .kind
        .parse()
        .map_err(|_| ApiError::internal(&SessionError::UnknownSession(id.clone())))?;
    sessions.note_activity(&id).await;
    let below = &path[prefix_of(&id).len() - 1..];
    let mut target = upstream_path(kind, &id, below);
    if let Some(query) = request.uri().query() {
        target.push('?');
        target.push_str(query);
    }
    forward(request, &address, &target, &prefix_of(&id))
        .await
        .map_err(|error| {
            tracing::info!(session = %id, %error, "the session did not answer");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "session_unreachable",
                format!("session {id} did not answer: {error}"),
            )
        })
}

/// Sends `request` to `address` as `target`, and joins the connections when it upgrades.
async fn forward(
    mut request: Request,
    address: &str,
    target: &str,
    prefix: &str,
) -> Result<Response, Box<dyn std::error::Error + Send + Sync>> {
    let client_upgrade = request
        .headers()
        .contains_key(header::UPGRADE)
        .then(|| hyper::upgrade::on(&mut request));
    let authority = request.uri().authority().map(ToString::to_string);
    *request.uri_mut() = Uri::try_from(target)?;
    let headers = request.headers_mut();
    headers.remove(header::AUTHORIZATION);
    strip_session_cookie(headers);
    headers.insert("x-forwarded-prefix", HeaderValue::from_str(prefix)?);
    // The caller's Host stays (JupyterLab compares a WebSocket's Origin with it); HTTP/1.1
    // requires one, and a client of HTTP/2 sends none.
    if !headers.contains_key(header::HOST) {
        let host = authority.unwrap_or_else(|| address.to_owned());
        headers.insert(header::HOST, HeaderValue::from_str(&host)?);
    }
    let stream = tokio::net::TcpStream::connect(address).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "a session connection closed with an error");
        }
    });
    let mut response = sender.send_request(request).await?;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        let server_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, server_upgrade) {
                Ok((client, server)) => {
                    let mut client = TokioIo::new(client);
                    let mut server = TokioIo::new(server);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
                Err(error) => tracing::debug!(%error, "a session upgrade failed"),
            }
        });
    }
    Ok(response.map(Body::new).into_response())
}

/// Removes labforge's own cookie from `Cookie`, keeping the container's.
fn strip_session_cookie(headers: &mut axum::http::HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .map(str::trim)
        .filter(|cookie| {
            !cookie.is_empty()
                && cookie
                    .split_once('=')
                    .is_none_or(|(name, _)| name.trim() != SESSION_COOKIE)
        })
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jupyterlab_keeps_its_base_url_and_the_others_are_served_at_their_root() {
        assert_eq!(
            upstream_path(DatalabKind::JupyterLab, "abc", "/api/status"),
            "/sessions/abc/api/status"
        );
        assert_eq!(
            upstream_path(DatalabKind::JupyterLab, "abc", "/"),
            "/sessions/abc/"
        );
        assert_eq!(
            upstream_path(DatalabKind::Desktop, "abc", "/vnc.html"),
            "/vnc.html"
        );
        assert_eq!(upstream_path(DatalabKind::Generic, "abc", "/"), "/");
    }

    #[test]
    fn labforge_s_cookie_never_reaches_the_container() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("_xsrf=1; {SESSION_COOKIE}=secret; theme=dark"))
                .unwrap(),
        );
        strip_session_cookie(&mut headers);
        assert_eq!(headers[header::COOKIE], "_xsrf=1; theme=dark");
    }
}
