//! A typed client of labforge's JSON API over reqwest. Requests are the service's own request
//! types (`NewDatalab`, `LaunchRequest`, ...), so a change of their shape fails to compile here;
//! answers are read into small views holding the fields the command line shows (serde skips the
//! rest, so the service may add fields freely). Every failure becomes a [`ClientError`] that says
//! what to do: the server's error envelope with its field, refused credentials, a wrong address,
//! an unreachable service.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::{ClientError, FieldProblem};
use super::event_stream::{EventParser, ServerEvent};
use crate::accounts::SESSION_COOKIE;
use crate::accounts::routes::{SignInRequest, TokenRequest};
use crate::datalabs::{
    BuildStatus, DatalabState, NewDatalab, NewVersion, VersionSource, VersionState, Visibility,
};
use crate::metadata::DatalabKind;
use crate::publishing::{SubmissionRequest, SubmissionState};
use crate::sessions::{LaunchRequest, SessionStatus};

/// How long connecting may take; answers themselves may take long (uploads, log streams).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The signed-in account.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatalabView {
    pub name: String,
    pub kind: DatalabKind,
    pub owner: String,
    pub state: DatalabState,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VersionView {
    pub version: String,
    pub source: VersionSource,
    pub state: VersionState,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UploadView {
    pub id: String,
    pub size_bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BuildView {
    pub number: i64,
    pub version: String,
    pub status: BuildStatus,
    pub failure: Option<String>,
    pub image: Option<String>,
    pub digest: Option<String>,
    pub reused: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogLineView {
    pub line: i64,
    pub at: DateTime<Utc>,
    pub phase: String,
    pub text: String,
}

/// The last event of a build log stream.
#[derive(Debug, Clone, Deserialize)]
pub struct LogEnd {
    pub status: BuildStatus,
    pub failure: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubmissionView {
    pub id: String,
    pub version: String,
    pub build: String,
    pub audience: Visibility,
    pub licence: String,
    pub state: SubmissionState,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionView {
    pub id: String,
    pub name: String,
    pub datalab: String,
    pub version: String,
    pub status: SessionStatus,
    pub reason: Option<String>,
    pub cpu: f64,
    pub memory_gib: f64,
    pub datazone: String,
    /// The path its owner opens it at, below the service's address.
    pub url: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionProgress {
    pub status: SessionStatus,
    pub reason: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    details: Vec<FieldProblem>,
}

#[derive(Deserialize)]
struct CreatedToken {
    token: TokenId,
    secret: String,
}

#[derive(Deserialize)]
struct TokenId {
    id: String,
}

/// An API token made by `labforge login`: its id on the service and its secret.
pub struct NewToken {
    pub id: String,
    pub secret: String,
}

/// Checks and normalises the address of a labforge service: http or https, no query or
/// fragment, no trailing slash.
pub fn service_url(given: &str) -> Result<String, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: given.to_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(given).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            "it must start with https:// (or http:// on this machine)",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it names no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or a fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A labforge service, called as one signed-in user (or anonymously, to sign in).
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl ApiClient {
    /// A client of the service at `url` (checked with [`service_url`]), sending `token`.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, ClientError> {
        crate::install_crypto_provider();
        let url = service_url(url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("labforge-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ClientError::Unreachable {
                url: url.clone(),
                detail: error_chain(&error),
            })?;
        Ok(Self { http, url, token })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Signs in with a password and returns the browser session's secret, which
    /// [`Self::create_token`] and [`Self::sign_out`] use.
    pub async fn sign_in(&self, name: &str, password: String) -> Result<String, ClientError> {
        let request = self
            .request(Method::POST, "/api/session")
            .json(&SignInRequest {
                name: name.to_owned(),
                password,
            });
        let response = self.fetch(request, "signing in").await?;
        response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(|cookie| {
                cookie
                    .split(';')
                    .next()?
                    .trim()
                    .strip_prefix(SESSION_COOKIE)?
                    .strip_prefix('=')
                    .map(str::to_owned)
            })
            .ok_or_else(|| ClientError::UnexpectedAnswer {
                what: "signing in".to_owned(),
                detail: "no session cookie came with it".to_owned(),
            })
    }

    /// Creates an API token named `name` for the user of the browser session `session`.
    pub async fn create_token(&self, session: &str, name: String) -> Result<NewToken, ClientError> {
        let request = self
            .request(Method::POST, "/api/tokens")
            .header(COOKIE, format!("{SESSION_COOKIE}={session}"))
            .json(&TokenRequest {
                name,
                lifetime_days: None,
            });
        let created: CreatedToken = self.call(request, "creating an API token").await?;
        Ok(NewToken {
            id: created.token.id,
            secret: created.secret,
        })
    }

    /// Revokes the caller's API token `id` (the one this client sends).
    pub async fn revoke_token(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/api/tokens/{}", segment(id));
        self.call_without_answer(
            self.request(Method::DELETE, &path),
            "revoking the API token",
        )
        .await
    }

    /// Ends the browser session `session`; the token made with it stays.
    pub async fn sign_out(&self, session: &str) -> Result<(), ClientError> {
        let request = self
            .request(Method::DELETE, "/api/session")
            .header(COOKIE, format!("{SESSION_COOKIE}={session}"));
        self.call_without_answer(request, "signing out").await
    }

    pub async fn me(&self) -> Result<Account, ClientError> {
        self.call(self.request(Method::GET, "/api/me"), "reading your account")
            .await
    }

    /// The datalab `name`, or `None` when there is none the caller may see.
    pub async fn datalab(&self, name: &str) -> Result<Option<DatalabView>, ClientError> {
        let path = format!("/api/datalabs/{}", segment(name));
        match self
            .call(self.request(Method::GET, &path), &format!("datalab {name}"))
            .await
        {
            Ok(datalab) => Ok(Some(datalab)),
            Err(ClientError::Refused { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    pub async fn create_datalab(&self, new: &NewDatalab) -> Result<DatalabView, ClientError> {
        let request = self.request(Method::POST, "/api/datalabs").json(new);
        self.call(request, "creating the datalab").await
    }

    /// Uploads a zip archive for a version's `zip` source.
    pub async fn upload_zip(&self, archive: Vec<u8>) -> Result<UploadView, ClientError> {
        let request = self
            .request(Method::POST, "/api/uploads")
            .header(CONTENT_TYPE, "application/zip")
            .body(archive);
        self.call(request, "uploading the zip archive").await
    }

    pub async fn create_version(
        &self,
        name: &str,
        new: &NewVersion,
    ) -> Result<VersionView, ClientError> {
        let path = format!("/api/datalabs/{}/versions", segment(name));
        let request = self.request(Method::POST, &path).json(new);
        self.call(request, "adding the version").await
    }

    pub async fn version(&self, name: &str, version: &str) -> Result<VersionView, ClientError> {
        let path = format!(
            "/api/datalabs/{}/versions/{}",
            segment(name),
            segment(version)
        );
        self.call(self.request(Method::GET, &path), "reading the version")
            .await
    }

    /// The versions of `name`, oldest first.
    pub async fn versions(&self, name: &str) -> Result<Vec<VersionView>, ClientError> {
        let path = format!("/api/datalabs/{}/versions", segment(name));
        self.call(self.request(Method::GET, &path), "listing the versions")
            .await
    }

    pub async fn queue_build(&self, name: &str, version: &str) -> Result<BuildView, ClientError> {
        let request = self.request(Method::POST, &builds_path(name, version));
        self.call(request, "queueing the build").await
    }

    /// The builds of a version, newest first.
    pub async fn builds(&self, name: &str, version: &str) -> Result<Vec<BuildView>, ClientError> {
        let request = self.request(Method::GET, &builds_path(name, version));
        self.call(request, "listing the builds").await
    }

    pub async fn build(
        &self,
        name: &str,
        version: &str,
        number: i64,
    ) -> Result<BuildView, ClientError> {
        let path = format!("{}/{number}", builds_path(name, version));
        self.call(self.request(Method::GET, &path), "reading the build")
            .await
    }

    /// Follows a build's log from its first line to its end, handing each line to `on_line`;
    /// picks the stream up again after the last line seen when the connection drops.
    pub async fn follow_build_log(
        &self,
        name: &str,
        version: &str,
        number: i64,
        mut on_line: impl FnMut(&LogLineView),
    ) -> Result<LogEnd, ClientError> {
        let path = format!("{}/{number}/log", builds_path(name, version));
        let what = format!("the log of build {version}-{number}");
        let mut last_line: Option<i64> = None;
        // A dropped connection is picked up again a few times; a service that keeps dropping
        // it is reported.
        for _ in 0..5 {
            let mut request = self
                .request(Method::GET, &path)
                .header(ACCEPT, "text/event-stream");
            if let Some(line) = last_line {
                request = request.header("Last-Event-ID", line.to_string());
            }
            let mut response = self.fetch(request, &what).await?;
            let mut parser = EventParser::default();
            while let Some(chunk) = self.next_chunk(&mut response, &what).await? {
                for event in parser.push(&chunk) {
                    match event.name.as_str() {
                        "line" => {
                            let line: LogLineView = parse_event(&event, &what)?;
                            // After a reconnection the service starts after the last line seen.
                            if last_line.is_none_or(|last| line.line > last) {
                                last_line = Some(line.line);
                                on_line(&line);
                            }
                        }
                        "end" => return parse_event(&event, &what),
                        _ => {}
                    }
                }
            }
        }
        Err(ClientError::StreamClosed { what })
    }

    pub async fn submit(
        &self,
        name: &str,
        version: &str,
        request: &SubmissionRequest,
    ) -> Result<SubmissionView, ClientError> {
        let path = format!(
            "/api/datalabs/{}/versions/{}/submission",
            segment(name),
            segment(version)
        );
        let request = self.request(Method::POST, &path).json(request);
        self.call(request, "submitting the version").await
    }

    pub async fn launch(&self, request: &LaunchRequest) -> Result<SessionView, ClientError> {
        let request = self.request(Method::POST, "/api/sessions").json(request);
        self.call(request, "launching").await
    }

    /// Follows a launch until it is ready, failed or ended, handing each status to
    /// `on_progress`; returns the last one.
    pub async fn follow_session(
        &self,
        id: &str,
        mut on_progress: impl FnMut(&SessionProgress),
    ) -> Result<SessionProgress, ClientError> {
        let path = format!("/api/sessions/{}/events", segment(id));
        let what = format!("the progress of session {id}");
        let request = self
            .request(Method::GET, &path)
            .header(ACCEPT, "text/event-stream");
        let mut response = self.fetch(request, &what).await?;
        let mut parser = EventParser::default();
        while let Some(chunk) = self.next_chunk(&mut response, &what).await? {
            for event in parser.push(&chunk) {
                if event.name != "status" {
                    continue;
                }
                let progress: SessionProgress = parse_event(&event, &what)?;
                on_progress(&progress);
                if progress.status.is_settled() {
                    return Ok(progress);
                }
            }
        }
        Err(ClientError::StreamClosed { what })
    }

    /// The caller's sessions, newest first.
    pub async fn sessions(&self) -> Result<Vec<SessionView>, ClientError> {
        self.call(
            self.request(Method::GET, "/api/sessions"),
            "listing your sessions",
        )
        .await
    }

    pub async fn stop_session(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/api/sessions/{}", segment(id));
        self.call_without_answer(self.request(Method::DELETE, &path), "stopping the session")
            .await
    }

    /// The session container's recent output.
    pub async fn session_logs(&self, id: &str) -> Result<String, ClientError> {
        let path = format!("/api/sessions/{}/logs", segment(id));
        let what = "reading the session's output";
        let response = self.fetch(self.request(Method::GET, &path), what).await?;
        response
            .text()
            .await
            .map_err(|error| self.unreachable(&error))
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
            None => request,
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        what: &str,
    ) -> Result<T, ClientError> {
        let response = self.fetch(request, what).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.unreachable(&error))?;
        serde_json::from_slice(&bytes).map_err(|error| ClientError::UnexpectedAnswer {
            what: what.to_owned(),
            detail: error.to_string(),
        })
    }

    async fn call_without_answer(
        &self,
        request: RequestBuilder,
        what: &str,
    ) -> Result<(), ClientError> {
        self.fetch(request, what).await.map(drop)
    }

    async fn next_chunk(
        &self,
        response: &mut Response,
        what: &str,
    ) -> Result<Option<bytes::Bytes>, ClientError> {
        match response.chunk().await {
            Ok(chunk) => Ok(chunk),
            // The stream broke off: the caller decides whether to pick it up again.
            Err(error) if error.is_body() || error.is_decode() => {
                tracing::debug!("{what} broke off: {}", error_chain(&error));
                Ok(None)
            }
            Err(error) => Err(self.unreachable(&error)),
        }
    }

    /// Sends `request`: the response when it succeeded, otherwise the error its status and body
    /// say.
    async fn fetch(&self, request: RequestBuilder, what: &str) -> Result<Response, ClientError> {
        let response = request
            .send()
            .await
            .map_err(|error| self.unreachable(&error))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(self.refusal(status, &body, what))
    }

    fn refusal(&self, status: StatusCode, body: &[u8], what: &str) -> ClientError {
        let Ok(ErrorEnvelope { error }) = serde_json::from_slice::<ErrorEnvelope>(body) else {
            return ClientError::NotLabforge {
                url: self.url.clone(),
                what: what.to_owned(),
                status: status.as_u16(),
            };
        };
        if status == StatusCode::UNAUTHORIZED {
            return ClientError::CredentialsRefused {
                url: self.url.clone(),
                message: error.message,
            };
        }
        if status.is_server_error() {
            return ClientError::ServerFailure {
                status: status.as_u16(),
                message: error.message,
            };
        }
        ClientError::Refused {
            status: status.as_u16(),
            code: error.code,
            message: error.message,
            field: error.field,
            details: error.details,
        }
    }

    fn unreachable(&self, error: &reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            url: self.url.clone(),
            detail: error_chain(error),
        }
    }
}

fn builds_path(name: &str, version: &str) -> String {
    format!(
        "/api/datalabs/{}/versions/{}/builds",
        segment(name),
        segment(version)
    )
}

/// `text` as one URL path segment.
fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn parse_event<T: DeserializeOwned>(event: &ServerEvent, what: &str) -> Result<T, ClientError> {
    serde_json::from_str(&event.data).map_err(|error| ClientError::UnexpectedAnswer {
        what: what.to_owned(),
        detail: format!("its {} event: {error}", event.name),
    })
}

/// reqwest's error and its causes ("error sending request" alone says little).
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_address_is_http_or_https_with_a_host_and_loses_its_trailing_slash() {
        assert_eq!(
            service_url("https://labforge.example.org/").unwrap(),
            "https://labforge.example.org"
        );
        assert_eq!(
            service_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for wrong in [
            "labforge.example.org",
            "ftp://labforge.example.org",
            "https://labforge.example.org/?a=1",
        ] {
            let error = service_url(wrong).unwrap_err();
            assert!(
                matches!(error, ClientError::InvalidUrl { .. }),
                "{wrong}: {error}"
            );
            assert!(error.to_string().contains("https://labforge.example.org"));
        }
    }

    #[test]
    fn an_error_envelope_becomes_a_refusal_with_its_field_and_anything_else_a_wrong_address() {
        let client = ApiClient::new("https://labforge.example.org", None).unwrap();
        let envelope = br#"{"error":{"code":"invalid_field","message":"datalab name \"A\" is not valid","field":"name"}}"#;
        let error = client.refusal(StatusCode::UNPROCESSABLE_ENTITY, envelope, "creating");
        assert_eq!(
            error.to_string(),
            "datalab name \"A\" is not valid (field `name`)"
        );
        let refused = client.refusal(
            StatusCode::UNAUTHORIZED,
            br#"{"error":{"code":"unauthorized","message":"wrong name or password"}}"#,
            "signing in",
        );
        assert!(
            matches!(refused, ClientError::CredentialsRefused { ref message, .. } if message == "wrong name or password"),
            "{refused}"
        );
        let html = client.refusal(StatusCode::NOT_FOUND, b"<html>nope</html>", "signing in");
        assert!(
            matches!(html, ClientError::NotLabforge { status: 404, .. }),
            "{html}"
        );
        let failed = client.refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"error":{"code":"internal","message":"incident 42"}}"#,
            "x",
        );
        assert!(matches!(
            failed,
            ClientError::ServerFailure { status: 500, .. }
        ));
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(segment("0.0.1-rc.1"), "0.0.1-rc.1");
    }
}
