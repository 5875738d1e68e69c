//! Image references and the few registry questions the pipeline asks (does this tag still point at
//! that digest?), over the OCI distribution API.

use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

/// `registry/namespace/name:tag`, split where the tag starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    /// `registry-host:port/path`.
    pub repository: String,
    pub tag: String,
}

impl ImageReference {
    pub fn new(repository: impl Into<String>, tag: impl Into<String>) -> Self {
        Self {
            repository: repository.into(),
            tag: tag.into(),
        }
    }

    /// The registry part (`host:port`).
    pub fn registry(&self) -> &str {
        self.repository
            .split_once('/')
            .map_or(self.repository.as_str(), |(host, _)| host)
    }

    /// The repository path inside the registry (`datalabs/name`).
    pub fn path(&self) -> &str {
        self.repository.split_once('/').map_or("", |(_, path)| path)
    }

    /// Whether the registry is on this machine, where plain HTTP is the norm.
    pub fn is_loopback(&self) -> bool {
        let host = self
            .registry()
            .rsplit_once(':')
            .map_or(self.registry(), |(host, _)| host);
        host == "localhost"
            || host
                .parse::<IpAddr>()
                .is_ok_and(|address| address.is_loopback())
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}", self.repository, self.tag)
    }
}

const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// An account on a registry. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    credentials: Option<Credentials>,
    tokens: TokenCache,
}

/// Bearer tokens already issued, by the challenge they answer, until shortly before they expire:
/// the token service checks the account's password (deliberately slow) for every token, and one
/// image takes many requests of the same scope.
#[derive(Clone, Default)]
struct TokenCache(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (String, Instant)>>>,
);

/// What a token is trusted for when the token service does not say (the distribution spec's
/// default lifetime is 60 s), and how long before its end it is no longer used.
const TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_mins(1);
const TOKEN_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

impl fmt::Debug for TokenCache {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("TokenCache { .. }")
    }
}

impl TokenCache {
    fn get(&self, challenge: &str) -> Option<String> {
        let tokens = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens
            .get(challenge)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(authorization, _)| authorization.clone())
    }

    fn remove(&self, challenge: &str) {
        let mut tokens = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens.remove(challenge);
    }

    fn insert(&self, challenge: &str, authorization: &str, lifetime: std::time::Duration) {
        let Some(usable) = lifetime.checked_sub(TOKEN_MARGIN) else {
            return;
        };
        let mut tokens = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens.retain(|_, (_, until)| Instant::now() < *until);
        tokens.insert(
            challenge.to_owned(),
            (authorization.to_owned(), Instant::now() + usable),
        );
    }
}

impl Default for RegistryClient {
    fn default() -> Self {
        Self::new()
    }
}

impl RegistryClient {
    pub fn new() -> Self {
        Self::with_credentials(None)
    }

    pub fn with_credentials(credentials: Option<Credentials>) -> Self {
        crate::install_crypto_provider();
        Self {
            // No idle connections are kept: a registry may answer an upload's first, anonymous
            // attempt with 401 before reading its body and then close the connection, and the
            // token request that follows must not be sent on it.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap_or_default(),
            credentials,
            tokens: TokenCache::default(),
        }
    }

    /// Answers the registry's `WWW-Authenticate` challenge: a Bearer token from its token service
    /// (Docker token auth), or Basic credentials.
    async fn authorization(&self, challenge: &str) -> Result<Option<String>, RegistryRequestError> {
        let (scheme, parameters) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let parameters = challenge_parameters(parameters);
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(self.credentials.as_ref().map(basic_authorization));
        }
        if let Some(authorization) = self.tokens.get(challenge) {
            return Ok(Some(authorization));
        }
        let Some(realm) = parameters
            .iter()
            .find(|(key, _)| key == "realm")
            .map(|(_, value)| value)
        else {
            return Err(RegistryRequestError::Failed(format!(
                "the registry's challenge names no token service: {challenge}"
            )));
        };
        let query: Vec<(&str, &str)> = parameters
            .iter()
            .filter(|(key, _)| key == "service" || key == "scope")
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        let mut request = self.http.get(realm).query(&query);
        if let Some(credentials) = &self.credentials {
            request = request.basic_auth(&credentials.username, Some(&credentials.password));
        }
        let response = request
            .send()
            .await
            .map_err(|error| RegistryRequestError::Failed(format!("GET {realm}: {error}")))?;
        match response.status() {
            status if status.is_success() => {}
            status @ (reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN) => {
                return Err(RegistryRequestError::TokenRefused {
                    realm: realm.clone(),
                    status,
                });
            }
            status => {
                return Err(RegistryRequestError::Failed(format!(
                    "the token service {realm} answered {status}"
                )));
            }
        }
        let body: serde_json::Value = response.json().await.map_err(|error| {
            RegistryRequestError::Failed(format!("token from {realm}: {error}"))
        })?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| {
                RegistryRequestError::Failed(format!("the token service {realm} sent no token"))
            })?;
        let authorization = format!("Bearer {token}");
        let lifetime = body
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .map_or(TOKEN_LIFETIME, std::time::Duration::from_secs);
        self.tokens.insert(challenge, &authorization, lifetime);
        Ok(Some(authorization))
    }

    /// Sends a request built by `request` without credentials, and again with the authorization
    /// the registry's challenge asks for when it answers 401.
    async fn send_authorized(
        &self,
        request: impl Fn(Option<&str>) -> reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response, RegistryRequestError> {
        self.send_authorized_with(request, what, None).await
    }

    /// Like [`Self::send_authorized`], with pull access to the repository `also_pull` asked for
    /// in the same token (a mount reads from there).
    async fn send_authorized_with(
        &self,
        request: impl Fn(Option<&str>) -> reqwest::RequestBuilder,
        what: &str,
        also_pull: Option<&str>,
    ) -> Result<reqwest::Response, RegistryRequestError> {
        let failed =
            |error: reqwest::Error| RegistryRequestError::Failed(format!("{what}: {error}"));
        let response = request(None).send().await.map_err(failed)?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(challenge) = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
        else {
            return Ok(response);
        };
        let challenge = match also_pull {
            Some(repository) => format!("{challenge},scope=\"repository:{repository}:pull\""),
            None => challenge,
        };
        let Some(authorization) = self.authorization(&challenge).await? else {
            return Ok(response);
        };
        let response = request(Some(&authorization)).send().await.map_err(failed)?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        // A kept token the registry no longer takes (it restarted with a new key): a fresh one.
        self.tokens.remove(&challenge);
        let Some(authorization) = self.authorization(&challenge).await? else {
            return Ok(response);
        };
        request(Some(&authorization)).send().await.map_err(failed)
    }

    /// Whether the configured account may push to `repository` (`host:port/path`), asked before a
    /// build so a missing or refused account is found in a second, not after the whole build.
    /// The question is the start of a blob upload, which the registry allows only to pushers;
    /// the empty upload is cancelled at once.
    pub async fn check_push_access(&self, repository: &str) -> Result<(), PushAccessError> {
        let image = ImageReference::new(repository, "");
        let scheme = if image.is_loopback() { "http" } else { "https" };
        let url = format!(
            "{scheme}://{}/v2/{}/blobs/uploads/",
            image.registry(),
            image.path()
        );
        let request = |authorization: Option<&str>| {
            let request = self.http.post(&url);
            match authorization {
                Some(authorization) => {
                    request.header(reqwest::header::AUTHORIZATION, authorization)
                }
                None => request,
            }
        };
        let refused = || match &self.credentials {
            None => PushAccessError::NoAccount {
                registry: image.registry().to_owned(),
                repository: image.path().to_owned(),
            },
            Some(credentials) => PushAccessError::Refused {
                registry: image.registry().to_owned(),
                repository: image.path().to_owned(),
                username: credentials.username.clone(),
            },
        };
        let response = match self.send_authorized(request, &format!("POST {url}")).await {
            Ok(response) => response,
            Err(RegistryRequestError::TokenRefused { .. }) => return Err(refused()),
            Err(error @ RegistryRequestError::Failed(_)) => {
                return Err(PushAccessError::Unanswered {
                    message: error.to_string(),
                });
            }
        };
        match response.status() {
            status if status.is_success() => {
                self.cancel_upload(&image, &response).await;
                Ok(())
            }
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => Err(refused()),
            status => Err(PushAccessError::Unanswered {
                message: format!("POST {url} answered {status}"),
            }),
        }
    }

    /// Cancels the upload a push-access check opened; a registry that keeps it removes unused
    /// uploads on its own, so a failure here is only logged.
    async fn cancel_upload(&self, image: &ImageReference, opened: &reqwest::Response) {
        let Some(location) = opened
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
        else {
            return;
        };
        let url = if location.starts_with('/') {
            let scheme = if image.is_loopback() { "http" } else { "https" };
            format!("{scheme}://{}{location}", image.registry())
        } else {
            location.to_owned()
        };
        let request = |authorization: Option<&str>| {
            let request = self.http.delete(&url);
            match authorization {
                Some(authorization) => {
                    request.header(reqwest::header::AUTHORIZATION, authorization)
                }
                None => request,
            }
        };
        if let Err(error) = self
            .send_authorized(request, &format!("DELETE {url}"))
            .await
        {
            tracing::debug!(%error, "cannot cancel the upload of a push-access check");
        }
    }

    /// Every tag of `repository` (`host:port/path`); none when the registry does not know it.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, String> {
        let image = ImageReference::new(repository, "");
        let scheme = if image.is_loopback() { "http" } else { "https" };
        let origin = format!("{scheme}://{}", image.registry());
        let mut next = Some(format!("{origin}/v2/{}/tags/list", image.path()));
        let mut tags = Vec::new();
        while let Some(url) = next.take() {
            let request = |authorization: Option<&str>| {
                let request = self.http.get(&url);
                match authorization {
                    Some(authorization) => {
                        request.header(reqwest::header::AUTHORIZATION, authorization)
                    }
                    None => request,
                }
            };
            let response = self
                .send_authorized(request, &format!("GET {url}"))
                .await
                .map_err(|error| error.to_string())?;
            match response.status() {
                reqwest::StatusCode::NOT_FOUND => return Ok(tags),
                status if status.is_success() => {}
                status => return Err(format!("GET {url} answered {status}")),
            }
            // Pages follow `Link: </v2/...?last=x>; rel="next"`.
            next = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|value| value.to_str().ok())
                .and_then(|link| link.strip_prefix('<')?.split_once('>'))
                .filter(|(_, relation)| relation.contains("next"))
                .map(|(target, _)| {
                    if target.starts_with('/') {
                        format!("{origin}{target}")
                    } else {
                        target.to_owned()
                    }
                });
            let page: serde_json::Value = response
                .json()
                .await
                .map_err(|error| format!("GET {url}: {error}"))?;
            tags.extend(
                page["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(serde_json::Value::as_str)
                    .map(str::to_owned),
            );
        }
        Ok(tags)
    }

    /// The digest a tag points at, or `None` when the registry does not know the tag.
    pub async fn manifest_digest(&self, image: &ImageReference) -> Result<Option<String>, String> {
        let scheme = if image.is_loopback() { "http" } else { "https" };
        let url = format!(
            "{scheme}://{}/v2/{}/manifests/{}",
            image.registry(),
            image.path(),
            image.tag
        );
        let head = |authorization: Option<&str>| {
            let request = self
                .http
                .head(&url)
                .header(reqwest::header::ACCEPT, MANIFEST_TYPES);
            match authorization {
                Some(authorization) => {
                    request.header(reqwest::header::AUTHORIZATION, authorization)
                }
                None => request,
            }
        };
        let response = self
            .send_authorized(head, &format!("HEAD {url}"))
            .await
            .map_err(|error| error.to_string())?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => Ok(response
                .headers()
                .get("docker-content-digest")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)),
            status => Err(format!("HEAD {url} answered {status}")),
        }
    }
}

impl RegistryClient {
    /// `scheme://host:port/v2/<path>/` for `image`'s repository.
    fn repository_url(image: &ImageReference) -> String {
        let scheme = if image.is_loopback() { "http" } else { "https" };
        format!("{scheme}://{}/v2/{}", image.registry(), image.path())
    }

    /// `GET` of a manifest (by tag or digest) with its media type; `None` when the registry does
    /// not know it.
    pub async fn manifest(
        &self,
        image: &ImageReference,
        reference: &str,
    ) -> Result<Option<(String, bytes::Bytes)>, String> {
        let url = format!("{}/manifests/{reference}", Self::repository_url(image));
        let get = |authorization: Option<&str>| {
            let request = self
                .http
                .get(&url)
                .header(reqwest::header::ACCEPT, MANIFEST_TYPES);
            with_authorization(request, authorization)
        };
        let response = self
            .send_authorized(get, &format!("GET {url}"))
            .await
            .map_err(|error| error.to_string())?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => return Ok(None),
            status if status.is_success() => {}
            status => return Err(format!("GET {url} answered {status}")),
        }
        let media_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .bytes()
            .await
            .map_err(|error| format!("GET {url}: {error}"))?;
        Ok(Some((media_type, body)))
    }

    /// The image manifest `reference` of `image`'s repository; for an index, its linux/amd64
    /// manifest (else its first): one step down is enough for what BuildKit pushes. `None` when
    /// the registry does not know `reference`.
    pub async fn image_manifest(
        &self,
        image: &ImageReference,
        reference: &str,
    ) -> Result<Option<ImageManifest>, String> {
        let mut reference = reference.to_owned();
        for step in 0..2 {
            let Some((media_type, bytes)) = self.manifest(image, &reference).await? else {
                return if step == 0 {
                    Ok(None)
                } else {
                    Err(format!("{image} has no manifest {reference}"))
                };
            };
            let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|error| {
                format!("the manifest {reference} of {image} is not JSON: {error}")
            })?;
            let Some(children) = json["manifests"].as_array() else {
                let digest = if reference.starts_with("sha256:") {
                    reference
                } else {
                    format!(
                        "sha256:{}",
                        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
                    )
                };
                return Ok(Some(ImageManifest {
                    media_type,
                    digest,
                    json,
                    bytes,
                }));
            };
            reference = children
                .iter()
                .find(|child| {
                    child["platform"]["os"] == "linux"
                        && child["platform"]["architecture"] == "amd64"
                })
                .or_else(|| children.first())
                .and_then(|child| child["digest"].as_str())
                .ok_or_else(|| format!("the index {reference} of {image} lists no manifest"))?
                .to_owned();
        }
        Err(format!("{image} is an index of indexes"))
    }

    /// Makes the blob `digest` of the repository `from` (a path like `datalabs/jl_base` on the
    /// same registry) part of `image`'s repository without uploading it (a cross-repository
    /// mount); copies it when the registry does not mount.
    pub async fn mount_blob(
        &self,
        image: &ImageReference,
        digest: &str,
        from: &str,
    ) -> Result<(), String> {
        let url = format!(
            "{}/blobs/uploads/?mount={digest}&from={from}",
            Self::repository_url(image)
        );
        let post =
            |authorization: Option<&str>| with_authorization(self.http.post(&url), authorization);
        let response = self
            .send_authorized_with(post, &format!("POST {url}"), Some(from))
            .await
            .map_err(|error| error.to_string())?;
        if response.status() == reqwest::StatusCode::CREATED {
            return Ok(());
        }
        let source = ImageReference::new(format!("{}/{from}", image.registry()), "");
        let content = self.blob(&source, digest).await?;
        self.push_blob(image, digest, content).await
    }

    /// The whole blob `digest` of `image`'s repository.
    pub async fn blob(&self, image: &ImageReference, digest: &str) -> Result<bytes::Bytes, String> {
        let url = format!("{}/blobs/{digest}", Self::repository_url(image));
        let get =
            |authorization: Option<&str>| with_authorization(self.http.get(&url), authorization);
        let response = self
            .send_authorized(get, &format!("GET {url}"))
            .await
            .map_err(|error| error.to_string())?;
        if !response.status().is_success() {
            return Err(format!("GET {url} answered {}", response.status()));
        }
        response
            .bytes()
            .await
            .map_err(|error| format!("GET {url}: {error}"))
    }

    /// Uploads `content` as the blob `digest` into `image`'s repository: in one request when the
    /// registry takes a monolithic upload, else by finishing the upload it opened.
    pub async fn push_blob(
        &self,
        image: &ImageReference,
        digest: &str,
        content: bytes::Bytes,
    ) -> Result<(), String> {
        let url = format!(
            "{}/blobs/uploads/?digest={digest}",
            Self::repository_url(image)
        );
        let post = |authorization: Option<&str>| {
            let request = self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(content.clone());
            with_authorization(request, authorization)
        };
        let response = self
            .send_authorized(post, &format!("POST {url}"))
            .await
            .map_err(|error| error.to_string())?;
        match response.status() {
            reqwest::StatusCode::CREATED => return Ok(()),
            reqwest::StatusCode::ACCEPTED => {}
            status => return Err(format!("POST {url} answered {status}")),
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| format!("POST {url} answered 202 without a Location"))?;
        let mut target = if location.starts_with('/') {
            let scheme = if image.is_loopback() { "http" } else { "https" };
            format!("{scheme}://{}{location}", image.registry())
        } else {
            location.to_owned()
        };
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str("digest=");
        target.push_str(digest);
        let put = |authorization: Option<&str>| {
            let request = self
                .http
                .put(&target)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(content.clone());
            with_authorization(request, authorization)
        };
        let response = self
            .send_authorized(put, &format!("PUT {target}"))
            .await
            .map_err(|error| error.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("PUT {target} answered {}", response.status()))
        }
    }

    /// Stores `manifest` (of `media_type`) in `image`'s repository under `reference`.
    pub async fn put_manifest(
        &self,
        image: &ImageReference,
        reference: &str,
        media_type: &str,
        manifest: bytes::Bytes,
    ) -> Result<(), String> {
        let url = format!("{}/manifests/{reference}", Self::repository_url(image));
        let put = |authorization: Option<&str>| {
            let request = self
                .http
                .put(&url)
                .header(reqwest::header::CONTENT_TYPE, media_type)
                .body(manifest.clone());
            with_authorization(request, authorization)
        };
        let response = self
            .send_authorized(put, &format!("PUT {url}"))
            .await
            .map_err(|error| error.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            Err(format!("PUT {url} answered {status}: {body}"))
        }
    }
}

fn with_authorization(
    request: reqwest::RequestBuilder,
    authorization: Option<&str>,
) -> reqwest::RequestBuilder {
    match authorization {
        Some(authorization) => request.header(reqwest::header::AUTHORIZATION, authorization),
        None => request,
    }
}

/// An image manifest (never an index), with its own digest.
#[derive(Debug, Clone)]
pub struct ImageManifest {
    pub media_type: String,
    pub digest: String,
    pub json: serde_json::Value,
    pub bytes: bytes::Bytes,
}

/// Why a request to a registry failed: the token service refusing the account is told apart from
/// everything else, so that a missing or wrong account can be named.
#[derive(Debug, thiserror::Error)]
pub enum RegistryRequestError {
    #[error("the token service {realm} refused the account ({status})")]
    TokenRefused {
        realm: String,
        status: reqwest::StatusCode,
    },
    #[error("{0}")]
    Failed(String),
}

/// Why the configured account cannot push; the pipeline adds how to configure it.
#[derive(Debug, thiserror::Error)]
pub enum PushAccessError {
    #[error(
        "the registry {registry} wants an account to push {repository}, and none is configured"
    )]
    NoAccount {
        registry: String,
        repository: String,
    },
    #[error("the registry {registry} refused the account `{username}` to push {repository}")]
    Refused {
        registry: String,
        repository: String,
        username: String,
    },
    #[error("the registry could not be asked whether the account may push: {message}")]
    Unanswered { message: String },
}

/// The build numbers under `version` among `tags`: `1.0.0-3` is build 3 of 1.0.0.
pub fn build_numbers<'a>(tags: &'a [String], version: &'a str) -> impl Iterator<Item = u32> + 'a {
    tags.iter().filter_map(move |tag| {
        tag.strip_prefix(version)?
            .strip_prefix('-')?
            .parse::<u32>()
            .ok()
    })
}

fn basic_authorization(credentials: &Credentials) -> String {
    use base64::Engine;
    let pair = format!("{}:{}", credentials.username, credentials.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// `realm="https://a/token",service="registry",scope="repository:x:pull"` as key/value pairs.
fn challenge_parameters(text: &str) -> Vec<(String, String)> {
    let mut parameters = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, remainder) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => after.split_once(',').unwrap_or((after, "")),
        };
        parameters.push((key, value.to_owned()));
        rest = remainder.trim_start_matches(',').trim();
    }
    parameters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_registry_path_and_tag() {
        let image = ImageReference::new("127.0.0.1:5000/datalabs/jl-demo", "0.0.1-0");
        assert_eq!(image.registry(), "127.0.0.1:5000");
        assert_eq!(image.path(), "datalabs/jl-demo");
        assert_eq!(image.to_string(), "127.0.0.1:5000/datalabs/jl-demo:0.0.1-0");
        assert!(image.is_loopback());
        assert!(!ImageReference::new("registry.example.org/datalabs/x", "1").is_loopback());
    }

    #[test]
    fn bearer_challenges_are_read_with_commas_inside_quotes() {
        let parameters = challenge_parameters(
            r#"realm="http://127.0.0.1:5000/token",service="labforge",scope="repository:datalabs/a:pull,push""#,
        );
        assert_eq!(
            parameters,
            [
                ("realm".to_owned(), "http://127.0.0.1:5000/token".to_owned()),
                ("service".to_owned(), "labforge".to_owned()),
                (
                    "scope".to_owned(),
                    "repository:datalabs/a:pull,push".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn build_numbers_are_read_from_the_tags_of_their_version_only() {
        let tags = [
            "1.0.0-0",
            "1.0.0-7",
            "1.0.0-rc1",
            "1.0.0",
            "1.0.0-2",
            "1.0.01-9",
            "2.0.0-8",
        ]
        .map(str::to_owned);
        let mut numbers: Vec<u32> = build_numbers(&tags, "1.0.0").collect();
        numbers.sort_unstable();
        assert_eq!(numbers, [0, 2, 7]);
    }

    #[test]
    fn credentials_never_show_their_password() {
        let credentials = Credentials {
            username: "builder".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{credentials:?}").contains("s3cret"));
        assert_eq!(
            basic_authorization(&credentials),
            "Basic YnVpbGRlcjpzM2NyZXQ="
        );
    }
}
