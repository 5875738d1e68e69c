//! Copies an image, by digest, from labforge's registry to an external one (Harbor, a cloud
//! registry, another distribution) with `oci-client`, credentials from the configuration.

use std::path::PathBuf;

use axum::http::HeaderValue;
use futures_util::TryStreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::RegistryState;
use super::digest::Digest;
use super::error::PushOnError;
use super::name::{RepositoryName, Tag};

/// An external registry images can be copied to.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PushOnTarget {
    /// How callers name this target.
    pub name: String,
    /// `host[:port]` of the registry.
    pub registry: String,
    /// Prefix put before the repository name (`project` for Harbor); empty for none.
    #[serde(default)]
    pub namespace: String,
    pub username: Option<String>,
    /// The password, or a file holding it (preferred: keeps secrets out of the main file).
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Speak plain HTTP (loopback test registries only).
    #[serde(default)]
    pub plain_http: bool,
}

impl PushOnTarget {
    fn auth(&self) -> Result<RegistryAuth, PushOnError> {
        let Some(username) = &self.username else {
            return Ok(RegistryAuth::Anonymous);
        };
        let password = match (&self.password, &self.password_file) {
            (Some(password), _) => password.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|error| PushOnError::Reference {
                    reference: self.registry.clone(),
                    reason: format!("cannot read password file {}: {error}", path.display()),
                })?
                .trim_end()
                .to_owned(),
            (None, None) => String::new(),
        };
        Ok(RegistryAuth::Basic(username.clone(), password))
    }

    fn repository(&self, repository: &RepositoryName) -> String {
        if self.namespace.is_empty() {
            format!("{}/{repository}", self.registry)
        } else {
            format!("{}/{}/{repository}", self.registry, self.namespace)
        }
    }
}

/// Copies `repository@digest` (an image manifest or an index with its manifests) to the target
/// named `target`, tagging it `tag` there if given. Blobs the target already has are skipped.
/// Returns the reference of the copy, by digest.
pub async fn push_on(
    state: &RegistryState,
    target: &str,
    repository: &RepositoryName,
    digest: &Digest,
    tag: Option<&Tag>,
) -> Result<String, PushOnError> {
    crate::install_crypto_provider();
    let target = state
        .push_on_targets
        .iter()
        .find(|candidate| candidate.name == target)
        .ok_or_else(|| PushOnError::UnknownTarget {
            name: target.to_owned(),
        })?;
    let client = Client::new(ClientConfig {
        protocol: if target.plain_http {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        ..ClientConfig::default()
    });
    let base = target.repository(repository);
    let by_digest = parse_reference(&format!("{base}@{digest}"))?;
    client
        .auth(&by_digest, &target.auth()?, RegistryOperation::Push)
        .await
        .map_err(|source| PushOnError::Target {
            target: target.registry.clone(),
            source,
        })?;
    let copier = Copier {
        state,
        client: &client,
        target,
        repository,
        base: &base,
    };
    let media_type = copier.copy_manifest(digest).await?;
    if let Some(tag) = tag {
        let manifest = read_manifest(state, repository, digest).await?;
        let by_tag = parse_reference(&format!("{base}:{}", tag.as_str()))?;
        copier.push_manifest(&by_tag, manifest, &media_type).await?;
    }
    Ok(by_digest.whole())
}

struct Copier<'a> {
    state: &'a RegistryState,
    client: &'a Client,
    target: &'a PushOnTarget,
    repository: &'a RepositoryName,
    base: &'a str,
}

impl Copier<'_> {
    /// Copies the manifest `digest` and everything it references; returns its media type.
    async fn copy_manifest(&self, digest: &Digest) -> Result<String, PushOnError> {
        let storage = self.state.service.storage();
        let media_type = storage
            .revision(self.repository, digest)
            .await?
            .ok_or_else(|| PushOnError::ManifestMissing {
                repository: self.repository.to_string(),
                digest: digest.to_string(),
            })?;
        let bytes = read_manifest(self.state, self.repository, digest).await?;
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|error| PushOnError::ManifestUnreadable {
                digest: digest.to_string(),
                reason: error.to_string(),
            })?;
        let reference = parse_reference(&format!("{}@{digest}", self.base))?;
        if let Some(children) = value["manifests"].as_array() {
            for child in children {
                let child = descriptor_digest(child, digest)?;
                Box::pin(self.copy_manifest(&child)).await?;
            }
        } else {
            let layers = value["layers"].as_array().into_iter().flatten();
            for blob in std::iter::once(&value["config"]).chain(layers) {
                self.copy_blob(&reference, &descriptor_digest(blob, digest)?)
                    .await?;
            }
        }
        self.push_manifest(&reference, bytes, &media_type).await?;
        Ok(media_type)
    }

    async fn copy_blob(&self, reference: &Reference, digest: &Digest) -> Result<(), PushOnError> {
        let target_error = |source| PushOnError::Target {
            target: self.target.registry.clone(),
            source,
        };
        if self
            .client
            .blob_exists(reference, &digest.to_string())
            .await
            .map_err(target_error)?
        {
            return Ok(());
        }
        let (file, size) = self
            .state
            .service
            .storage()
            .open_blob(digest, 0)
            .await?
            .ok_or_else(|| PushOnError::BlobMissing {
                digest: digest.to_string(),
            })?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).map_err(|error| {
            oci_client::errors::OciDistributionError::GenericError(Some(error.to_string()))
        });
        self.client
            .push_blob_stream(reference, stream, &digest.to_string(), Some(size))
            .await
            .map_err(target_error)?;
        Ok(())
    }

    async fn push_manifest(
        &self,
        reference: &Reference,
        bytes: bytes::Bytes,
        media_type: &str,
    ) -> Result<(), PushOnError> {
        let content_type =
            HeaderValue::from_str(media_type).map_err(|error| PushOnError::ManifestUnreadable {
                digest: reference.whole(),
                reason: error.to_string(),
            })?;
        self.client
            .push_manifest_raw(reference, bytes, content_type)
            .await
            .map_err(|source| PushOnError::Target {
                target: self.target.registry.clone(),
                source,
            })?;
        Ok(())
    }
}

async fn read_manifest(
    state: &RegistryState,
    repository: &RepositoryName,
    digest: &Digest,
) -> Result<bytes::Bytes, PushOnError> {
    state
        .service
        .storage()
        .read_blob(digest)
        .await?
        .ok_or_else(|| PushOnError::ManifestMissing {
            repository: repository.to_string(),
            digest: digest.to_string(),
        })
}

fn descriptor_digest(descriptor: &Value, manifest: &Digest) -> Result<Digest, PushOnError> {
    descriptor["digest"]
        .as_str()
        .and_then(|digest| digest.parse().ok())
        .ok_or_else(|| PushOnError::ManifestUnreadable {
            digest: manifest.to_string(),
            reason: "a descriptor has no valid digest".to_owned(),
        })
}

fn parse_reference(reference: &str) -> Result<Reference, PushOnError> {
    reference
        .parse()
        .map_err(|error: oci_client::ParseError| PushOnError::Reference {
            reference: reference.to_owned(),
            reason: error.to_string(),
        })
}
