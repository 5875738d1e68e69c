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

    /// The same repository pinned to a digest.
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}@{digest}", self.repository)
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

#[derive(Debug, Clone, Default)]
pub struct RegistryClient {
    http: reqwest::Client,
}

impl RegistryClient {
    pub fn new() -> Self {
        Self::default()
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
        let response = self
            .http
            .head(&url)
            .header(reqwest::header::ACCEPT, MANIFEST_TYPES)
            .send()
            .await
            .map_err(|error| format!("HEAD {url}: {error}"))?;
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
}
