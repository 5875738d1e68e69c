//! Image references and the few registry questions the pipeline asks (does this tag still point at
//! that digest?), over the OCI distribution API.

use std::fmt;
use std::net::IpAddr;

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
            http: reqwest::Client::default(),
            credentials,
        }
    }

    /// Answers the registry's `WWW-Authenticate` challenge: a Bearer token from its token service
    /// (Docker token auth), or Basic credentials.
    async fn authorization(&self, challenge: &str) -> Result<Option<String>, String> {
        let (scheme, parameters) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let parameters = challenge_parameters(parameters);
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(self.credentials.as_ref().map(basic_authorization));
        }
        let Some(realm) = parameters
            .iter()
            .find(|(key, _)| key == "realm")
            .map(|(_, value)| value)
        else {
            return Err(format!(
                "the registry's challenge names no token service: {challenge}"
            ));
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
            .map_err(|error| format!("GET {realm}: {error}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "the token service {realm} answered {}",
                response.status()
            ));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|error| format!("token from {realm}: {error}"))?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| format!("the token service {realm} sent no token"))?;
        Ok(Some(format!("Bearer {token}")))
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
        let head = |authorization: Option<String>| {
            let mut request = self
                .http
                .head(&url)
                .header(reqwest::header::ACCEPT, MANIFEST_TYPES);
            if let Some(authorization) = authorization {
                request = request.header(reqwest::header::AUTHORIZATION, authorization);
            }
            request.send()
        };
        let mut response = head(None)
            .await
            .map_err(|error| format!("HEAD {url}: {error}"))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED
            && let Some(challenge) = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
            && let Some(authorization) = self.authorization(&challenge).await?
        {
            response = head(Some(authorization))
                .await
                .map_err(|error| format!("HEAD {url}: {error}"))?;
        }
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
