//! HTTP for the distribution API and the token endpoint: each handler authorizes, calls one
//! service function, and shapes the answer (status, `Location`, `Range`, `Docker-Content-Digest`).
//!
//! Repository names contain slashes, which axum's path patterns cannot place before a fixed
//! suffix, so `/v2/*` is matched once and split by [`Endpoint::parse`].

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::RegistryState;
use super::access::{Action, Subject};
use super::digest::Digest;
use super::error::RegistryError;
use super::name::RepositoryName;
use super::service::{
    BlobContent, ByteRange, ManifestReference, OCI_INDEX, Page, PutManifestOutcome,
};

const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");
const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");

pub fn router(state: RegistryState) -> Router {
    Router::new()
        .route("/v2", get(base))
        .route("/v2/", get(base))
        .route("/v2/{*path}", any(distribution))
        .route("/auth/token", get(token))
        .with_state(state)
}

/// Endpoints below `/v2/`.
#[derive(Debug)]
enum Endpoint {
    Catalog,
    Blob(RepositoryName, Digest),
    Uploads(RepositoryName),
    Upload(RepositoryName, String),
    Manifest(RepositoryName, ManifestReference),
    Tags(RepositoryName),
    Referrers(RepositoryName, Digest),
}

impl Endpoint {
    fn parse(path: &str) -> Result<Self, RegistryError> {
        let rest = path.strip_prefix("/v2/").unwrap_or(path);
        if rest == "_catalog" {
            return Ok(Self::Catalog);
        }
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return Ok(Self::Tags(name.parse()?));
        }
        // The right-most marker whose tail is a single segment names the endpoint; a repository
        // may itself have components called `blobs` or `manifests`.
        let markers = ["/manifests/", "/referrers/", "/blobs/uploads/", "/blobs/"];
        let split = markers
            .iter()
            .filter_map(|marker| {
                let index = rest.rfind(marker)?;
                let tail = &rest[index + marker.len()..];
                (!tail.contains('/')).then_some((index, *marker, tail))
            })
            .max_by_key(|(index, marker, _)| (*index, marker.len()));
        let Some((index, marker, tail)) = split else {
            return Err(RegistryError::Unsupported {
                what: format!("no endpoint at {path}"),
            });
        };
        let name: RepositoryName = rest[..index].parse()?;
        match marker {
            "/manifests/" => Ok(Self::Manifest(name, tail.parse()?)),
            "/referrers/" => Ok(Self::Referrers(name, tail.parse()?)),
            "/blobs/uploads/" if tail.is_empty() => Ok(Self::Uploads(name)),
            "/blobs/uploads/" => Ok(Self::Upload(name, tail.to_owned())),
            _ => Ok(Self::Blob(name, tail.parse()?)),
        }
    }

    fn required(&self, method: &Method) -> Option<(&RepositoryName, Action)> {
        let action = match (self, method) {
            (Self::Catalog, _) => return None,
            (Self::Blob(..) | Self::Manifest(..), &Method::DELETE) => Action::Delete,
            (Self::Uploads(_) | Self::Upload(..), _) | (Self::Manifest(..), &Method::PUT) => {
                Action::Push
            }
            _ => Action::Pull,
        };
        let name = match self {
            Self::Catalog => return None,
            Self::Blob(name, _)
            | Self::Uploads(name)
            | Self::Upload(name, _)
            | Self::Manifest(name, _)
            | Self::Tags(name)
            | Self::Referrers(name, _) => name,
        };
        Some((name, action))
    }
}

struct Query(Vec<(String, String)>);

impl Query {
    fn of(uri: &Uri) -> Self {
        Self(
            form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    fn limit(&self) -> Result<Option<usize>, RegistryError> {
        self.get("n")
            .map(|n| {
                n.parse().map_err(|_| RegistryError::Unsupported {
                    what: format!("n={n:?} is not a number"),
                })
            })
            .transpose()
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Range` of an upload holding `size` bytes.
pub(crate) fn upload_range(size: u64) -> HeaderValue {
    value(&format!("0-{}", size.saturating_sub(1)))
}

/// `Location` of an upload session, where the client sends its next chunk.
pub(crate) fn upload_location(repository: &str, id: &str) -> String {
    format!("/v2/{repository}/blobs/uploads/{id}")
}

/// A `Range: bytes=<first>-<last>`, `bytes=<first>-` or `bytes=-<length>` header.
fn byte_range(header: &str) -> ByteRange {
    let number = |text: &str| text.parse::<u64>().ok();
    let range = header
        .strip_prefix("bytes=")
        .and_then(|spec| spec.split_once('-'))
        .and_then(|(first, last)| match (first.trim(), last.trim()) {
            ("", length) => number(length).map(|length| ByteRange::Suffix { length }),
            (first, "") => number(first).map(|first| ByteRange::Span { first, last: None }),
            (first, last) => number(first)
                .zip(number(last))
                .map(|(first, last)| ByteRange::Span {
                    first,
                    last: Some(last),
                }),
        });
    range.unwrap_or_else(|| ByteRange::Unreadable {
        header: header.to_owned(),
    })
}

/// The start offset of a chunk's `Content-Range: <start>-<end>` header.
fn content_range_start(header: &str) -> Result<u64, RegistryError> {
    let spec = header
        .trim()
        .trim_start_matches("bytes")
        .trim_start_matches(['=', ' ']);
    spec.split_once('-')
        .and_then(|(start, _)| start.trim().parse().ok())
        .ok_or_else(|| RegistryError::BlobUploadInvalid {
            reason: format!("Content-Range {header:?} is not <start>-<end>"),
        })
}

/// The start offset of the chunk a request carries, when it says.
fn chunk_start(headers: &HeaderMap) -> Result<Option<u64>, RegistryError> {
    header_str(headers, &header::CONTENT_RANGE)
        .map(content_range_start)
        .transpose()
}

async fn base(
    State(state): State<RegistryState>,
    headers: HeaderMap,
) -> Result<Response, RegistryError> {
    state.access.authorize(
        header_str(&headers, &header::AUTHORIZATION),
        header_str(&headers, &header::HOST),
        None,
    )?;
    Ok((
        [(API_VERSION, "registry/2.0")],
        axum::Json(serde_json::json!({})),
    )
        .into_response())
}

/// `GET /auth/token`: a token for the requested scopes, for the Basic credentials' user or anonymous.
async fn token(
    State(state): State<RegistryState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, RegistryError> {
    let scopes: Vec<String> = Query::of(&uri)
        .all("scope")
        .flat_map(|scope| scope.split(' '))
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect();
    let token = state
        .access
        .issue_token(
            state.directory.as_deref(),
            header_str(&headers, &header::AUTHORIZATION),
            &scopes,
        )
        .await?;
    Ok(axum::Json(token).into_response())
}

async fn distribution(
    State(state): State<RegistryState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, RegistryError> {
    let authorization = header_str(&headers, &header::AUTHORIZATION);
    let host = header_str(&headers, &header::HOST);
    let endpoint = match Endpoint::parse(uri.path()) {
        Ok(endpoint) => endpoint,
        Err(error) => {
            // Say nothing about names to a client that is not authenticated at all.
            state.access.authorize(authorization, host, None)?;
            return Err(error);
        }
    };
    let subject = state
        .access
        .authorize(authorization, host, endpoint.required(&method))?;
    let query = Query::of(&uri);
    // A mount reads from another repository: a token without pull there is answered with the
    // challenge for both scopes (as distribution does), so that the client can mount instead of
    // uploading again. A holder refused pull there gets an upload session instead.
    if let (Endpoint::Uploads(name), &Method::POST) = (&endpoint, &method)
        && query.get("mount").is_some()
        && let Some(from) = query
            .get("from")
            .and_then(|from| from.parse::<RepositoryName>().ok())
        && !subject.may(&from, Action::Pull)
        && !subject.was_refused(&from, Action::Pull)
    {
        return Err(RegistryError::Unauthorized {
            challenge: state.access.challenge(
                host,
                Some(&format!(
                    "repository:{name}:pull,push repository:{from}:pull"
                )),
            ),
        });
    }
    let call = Call {
        state: &state,
        subject,
        query,
        headers: &headers,
    };
    match endpoint {
        Endpoint::Blob(..) | Endpoint::Uploads(_) | Endpoint::Upload(..) => {
            blobs(&call, endpoint, method, body).await
        }
        _ => manifests_and_listings(&call, endpoint, method, body).await,
    }
}

/// What every endpoint handler needs from the request.
struct Call<'a> {
    state: &'a RegistryState,
    subject: Subject,
    query: Query,
    headers: &'a HeaderMap,
}

async fn blobs(
    call: &Call<'_>,
    endpoint: Endpoint,
    method: Method,
    body: Body,
) -> Result<Response, RegistryError> {
    let (service, query, headers) = (&call.state.service, &call.query, call.headers);
    match (endpoint, method) {
        (Endpoint::Blob(name, digest), Method::HEAD) => {
            let size = service.stat_blob(&name, &digest).await?;
            Ok((
                StatusCode::OK,
                [
                    (header::CONTENT_LENGTH, value(&size.to_string())),
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    ),
                    (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
                    (DOCKER_CONTENT_DIGEST, value(&digest.to_string())),
                ],
            )
                .into_response())
        }
        (Endpoint::Blob(name, digest), Method::GET) => {
            let range = header_str(headers, &header::RANGE).map(byte_range);
            let content = service.read_blob(&name, &digest, range.as_ref()).await?;
            Ok(blob_response(&digest, content))
        }
        (Endpoint::Blob(name, digest), Method::DELETE) => {
            service.delete_blob(&name, &digest).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Endpoint::Uploads(name), Method::POST) => {
            start_upload(call.state, &call.subject, &name, query, body).await
        }
        (Endpoint::Upload(name, id), Method::GET) => {
            let status = service.upload_status(&name, &id).await?;
            Ok(upload_accepted(
                &name,
                &status.id,
                status.size,
                StatusCode::NO_CONTENT,
            ))
        }
        (Endpoint::Upload(name, id), Method::PATCH) => {
            let status = service
                .append_upload(&name, &id, chunk_start(headers)?, body.into_data_stream())
                .await?;
            Ok(upload_accepted(
                &name,
                &status.id,
                status.size,
                StatusCode::ACCEPTED,
            ))
        }
        (Endpoint::Upload(name, id), Method::PUT) => {
            let digest: Digest = query
                .get("digest")
                .ok_or_else(|| RegistryError::DigestInvalid {
                    value: String::new(),
                    reason: "closing an upload needs ?digest=".to_owned(),
                })?
                .parse()?;
            service
                .finish_upload(
                    &name,
                    &id,
                    &digest,
                    chunk_start(headers)?,
                    body.into_data_stream(),
                )
                .await?;
            Ok(blob_created(&name, &digest))
        }
        (Endpoint::Upload(name, id), Method::DELETE) => {
            service.cancel_upload(&name, &id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (endpoint, method) => Err(RegistryError::Unsupported {
            what: format!("{method} on {endpoint:?}"),
        }),
    }
}

async fn manifests_and_listings(
    call: &Call<'_>,
    endpoint: Endpoint,
    method: Method,
    body: Body,
) -> Result<Response, RegistryError> {
    let (state, service, query, headers) =
        (call.state, &call.state.service, &call.query, call.headers);
    match (endpoint, method) {
        (Endpoint::Catalog, Method::GET) => {
            let user = call.subject.user.as_deref();
            let page = service
                .list_repositories(query.limit()?, query.get("last"), |name| {
                    state
                        .access
                        .allowed_actions(user, name.as_str())
                        .contains(&Action::Pull)
                })
                .await?;
            Ok(listing("/v2/_catalog", "repositories", None, &page))
        }
        (Endpoint::Manifest(name, reference), method @ (Method::GET | Method::HEAD)) => {
            let manifest = service.get_manifest(&name, &reference).await?;
            let headers = [
                (header::CONTENT_TYPE, value(&manifest.media_type)),
                (
                    header::CONTENT_LENGTH,
                    value(&manifest.bytes.len().to_string()),
                ),
                (DOCKER_CONTENT_DIGEST, value(&manifest.digest.to_string())),
            ];
            if method == Method::HEAD {
                Ok((StatusCode::OK, headers).into_response())
            } else {
                Ok((StatusCode::OK, headers, manifest.bytes).into_response())
            }
        }
        (Endpoint::Manifest(name, reference), Method::PUT) => {
            let bytes = axum::body::to_bytes(body, service.max_manifest_bytes())
                .await
                .map_err(|_| RegistryError::SizeInvalid {
                    actual: service.max_manifest_bytes() + 1,
                    limit: service.max_manifest_bytes(),
                })?;
            let outcome = service
                .put_manifest(
                    &name,
                    &reference,
                    header_str(headers, &header::CONTENT_TYPE),
                    bytes,
                )
                .await?;
            Ok(manifest_created(&name, &outcome))
        }
        (Endpoint::Manifest(name, reference), Method::DELETE) => {
            service.delete_manifest(&name, &reference).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Endpoint::Tags(name), Method::GET) => {
            let page = service
                .list_tags(&name, query.limit()?, query.get("last"))
                .await?;
            let path = format!("/v2/{name}/tags/list");
            Ok(listing(&path, "tags", Some(&name), &page))
        }
        (Endpoint::Referrers(name, digest), Method::GET) => {
            let artifact_type = query.get("artifactType");
            let index = service
                .list_referrers(&name, &digest, artifact_type)
                .await?;
            let mut response = ([(header::CONTENT_TYPE, OCI_INDEX)], index).into_response();
            if artifact_type.is_some() {
                response.headers_mut().insert(
                    OCI_FILTERS_APPLIED,
                    HeaderValue::from_static("artifactType"),
                );
            }
            Ok(response)
        }
        (endpoint, method) => Err(RegistryError::Unsupported {
            what: format!("{method} on {endpoint:?}"),
        }),
    }
}

fn blob_response(digest: &Digest, content: BlobContent) -> Response {
    let stream = ReaderStream::with_capacity(content.file.take(content.length), 256 * 1024);
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, value(&content.length.to_string()));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(DOCKER_CONTENT_DIGEST, value(&digest.to_string()));
    if content.partial {
        let end = content.start + content.length - 1;
        headers.insert(
            header::CONTENT_RANGE,
            value(&format!(
                "bytes {}-{end}/{}",
                content.start, content.total_size
            )),
        );
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    response
}

fn manifest_created(name: &RepositoryName, outcome: &PutManifestOutcome) -> Response {
    let mut response = (
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                value(&format!("/v2/{name}/manifests/{}", outcome.digest)),
            ),
            (DOCKER_CONTENT_DIGEST, value(&outcome.digest.to_string())),
        ],
    )
        .into_response();
    if let Some(subject) = &outcome.subject {
        response
            .headers_mut()
            .insert(OCI_SUBJECT, value(&subject.to_string()));
    }
    response
}

/// `POST /v2/<name>/blobs/uploads/`: a mount, a monolithic upload, or the start of a session.
async fn start_upload(
    state: &RegistryState,
    subject: &Subject,
    name: &RepositoryName,
    query: &Query,
    body: Body,
) -> Result<Response, RegistryError> {
    let service = &state.service;
    if let (Some(mount), Some(from)) = (query.get("mount"), query.get("from")) {
        let digest: Digest = mount.parse()?;
        let from: RepositoryName = from.parse()?;
        if subject.may(&from, Action::Pull) && service.mount_blob(name, &from, &digest).await? {
            return Ok(blob_created(name, &digest));
        }
    } else if let Some(digest) = query.get("digest") {
        let digest: Digest = digest.parse()?;
        service
            .upload_monolithic(name, &digest, body.into_data_stream())
            .await?;
        return Ok(blob_created(name, &digest));
    }
    let status = service.start_upload(name).await?;
    Ok(upload_accepted(
        name,
        &status.id,
        status.size,
        StatusCode::ACCEPTED,
    ))
}

fn blob_created(name: &RepositoryName, digest: &Digest) -> Response {
    (
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                value(&format!("/v2/{name}/blobs/{digest}")),
            ),
            (DOCKER_CONTENT_DIGEST, value(&digest.to_string())),
            (header::CONTENT_LENGTH, HeaderValue::from_static("0")),
        ],
    )
        .into_response()
}

fn upload_accepted(name: &RepositoryName, id: &str, size: u64, status: StatusCode) -> Response {
    (
        status,
        [
            (header::LOCATION, value(&upload_location(name.as_str(), id))),
            (header::RANGE, upload_range(size)),
            (DOCKER_UPLOAD_UUID, value(id)),
            (header::CONTENT_LENGTH, HeaderValue::from_static("0")),
        ],
    )
        .into_response()
}

/// A paginated JSON listing with its `Link: <...>; rel="next"` header.
fn listing(path: &str, field: &str, name: Option<&RepositoryName>, page: &Page) -> Response {
    let next = page.more.then(|| {
        let last = page.items.last().cloned().unwrap_or_default();
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("n", &page.items.len().to_string())
            .append_pair("last", &last)
            .finish();
        format!("<{path}?{query}>; rel=\"next\"")
    });
    let mut body = serde_json::json!({ field: page.items });
    if let Some(name) = name {
        body["name"] = serde_json::Value::String(name.to_string());
    }
    let mut response = axum::Json(body).into_response();
    if let Some(next) = next {
        response.headers_mut().insert(header::LINK, value(&next));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges() {
        let within = |header: &str, size| byte_range(header).within(size);
        assert_eq!(within("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(within("bytes=90-", 100), Some((90, 99)));
        assert_eq!(within("bytes=-10", 100), Some((90, 99)));
        assert_eq!(within("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(within("bytes=100-", 100), None);
        assert_eq!(
            byte_range("items=0-1"),
            ByteRange::Unreadable {
                header: "items=0-1".to_owned()
            }
        );
        assert_eq!(within("items=0-1", 100), None);
    }

    #[test]
    fn content_range_starts() {
        assert_eq!(content_range_start("0-99").unwrap(), 0);
        assert_eq!(content_range_start("bytes 100-199").unwrap(), 100);
        assert!(content_range_start("x").is_err());
    }

    #[test]
    fn endpoints_split_names_with_slashes_and_refuse_dot_dot() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(
            Endpoint::parse(&format!("/v2/datalabs/blobs/x/blobs/{digest}")),
            Ok(Endpoint::Blob(name, _)) if name.as_str() == "datalabs/blobs/x"
        ));
        assert!(matches!(
            Endpoint::parse("/v2/a/b/blobs/uploads/"),
            Ok(Endpoint::Uploads(name)) if name.as_str() == "a/b"
        ));
        assert!(matches!(
            Endpoint::parse("/v2/a/manifests/latest"),
            Ok(Endpoint::Manifest(_, ManifestReference::Tag(_)))
        ));
        assert!(matches!(
            Endpoint::parse("/v2/a/tags/list"),
            Ok(Endpoint::Tags(_))
        ));
        assert!(matches!(
            Endpoint::parse("/v2/a/../b/manifests/latest"),
            Err(RegistryError::NameInvalid { .. })
        ));
    }

    #[tokio::test]
    async fn a_token_request_while_the_directory_is_unavailable_is_answered_503() {
        use std::sync::Arc;

        use tower::ServiceExt as _;

        use super::super::access::tests::UnavailableDirectory;
        use super::super::{Grants, RegistryServerConfig};

        let folder = tempfile::tempdir().unwrap();
        let state = RegistryState::open(
            &RegistryServerConfig::default(),
            folder.path(),
            Grants::default(),
        )
        .await
        .unwrap()
        .with_directory(Arc::new(UnavailableDirectory));
        let request = axum::http::Request::get("/auth/token?scope=repository:datalabs/lab:pull")
            .header(header::AUTHORIZATION, "Basic Y2Fyb2w6c2VjcmV0")
            .body(Body::empty())
            .unwrap();
        let response = router(state).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errors"][0]["code"], "UNAVAILABLE");
        assert_eq!(
            body["errors"][0]["message"],
            "the account directory is unavailable; try again in a moment"
        );
    }
}
