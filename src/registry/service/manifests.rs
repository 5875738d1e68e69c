//! Manifests: validated and stored under a digest, named by tags, listed with their referrers;
//! and the paginated listings of tags and repositories.

use std::str::FromStr;

use bytes::Bytes;
use serde_json::Value;

use super::RegistryService;
use crate::registry::digest::Digest;
use crate::registry::error::{RegistryError, StorageError};
use crate::registry::name::{RepositoryName, Tag};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest named by tag or by digest.
#[derive(Debug, Clone)]
pub enum ManifestReference {
    Tag(Tag),
    Digest(Digest),
}

impl FromStr for ManifestReference {
    type Err = RegistryError;

    fn from_str(reference: &str) -> Result<Self, Self::Err> {
        if reference.contains(':') {
            reference.parse().map(Self::Digest)
        } else {
            reference.parse().map(Self::Tag)
        }
    }
}

impl std::fmt::Display for ManifestReference {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tag(tag) => formatter.write_str(tag.as_str()),
            Self::Digest(digest) => digest.fmt(formatter),
        }
    }
}

pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Bytes,
}

pub struct PutManifestOutcome {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

/// One page of a sorted listing and whether more follow.
pub struct Page {
    pub items: Vec<String>,
    pub more: bool,
}

impl RegistryService {
    pub async fn put_manifest(
        &self,
        repository: &RepositoryName,
        reference: &ManifestReference,
        content_type: Option<&str>,
        bytes: Bytes,
    ) -> Result<PutManifestOutcome, RegistryError> {
        if bytes.len() > self.max_manifest_bytes {
            return Err(RegistryError::SizeInvalid {
                actual: bytes.len(),
                limit: self.max_manifest_bytes,
            });
        }
        let digest = match reference {
            ManifestReference::Digest(expected) => {
                let computed = expected.recompute(&bytes);
                if &computed != expected {
                    return Err(RegistryError::DigestMismatch {
                        provided: expected.to_string(),
                        computed: computed.to_string(),
                    });
                }
                computed
            }
            ManifestReference::Tag(_) => Digest::sha256_of(&bytes),
        };
        let manifest = ParsedManifest::parse(&bytes, content_type)?;

        let _reachable = self.collection.read().await;
        for blob in &manifest.blobs {
            if !self.storage.blob_linked(repository, blob).await
                || !self.storage.touch_blob(blob).await?
            {
                return Err(RegistryError::ManifestBlobUnknown {
                    repository: repository.to_string(),
                    digest: blob.to_string(),
                });
            }
        }
        for child in &manifest.children {
            if self.storage.revision(repository, child).await?.is_none() {
                return Err(RegistryError::ManifestBlobUnknown {
                    repository: repository.to_string(),
                    digest: child.to_string(),
                });
            }
        }
        self.storage.put_verified_blob(&digest, &bytes).await?;
        self.storage
            .put_revision(repository, &digest, &manifest.media_type)
            .await?;
        if let Some(subject) = &manifest.subject {
            let descriptor = manifest.referrer_descriptor(&digest, bytes.len());
            self.storage
                .put_referrer(
                    repository,
                    subject,
                    &digest,
                    descriptor.to_string().as_bytes(),
                )
                .await?;
        }
        if let ManifestReference::Tag(tag) = reference {
            self.storage.put_tag(repository, tag, &digest).await?;
        }
        Ok(PutManifestOutcome {
            digest,
            subject: manifest.subject,
        })
    }

    pub async fn get_manifest(
        &self,
        repository: &RepositoryName,
        reference: &ManifestReference,
    ) -> Result<StoredManifest, RegistryError> {
        let unknown = || RegistryError::ManifestUnknown {
            repository: repository.to_string(),
            reference: reference.to_string(),
        };
        let digest = self
            .resolve(repository, reference)
            .await?
            .ok_or_else(unknown)?;
        let media_type = self
            .storage
            .revision(repository, &digest)
            .await?
            .ok_or_else(unknown)?;
        let bytes = self.storage.read_blob(&digest).await?.ok_or_else(unknown)?;
        Ok(StoredManifest {
            digest,
            media_type,
            bytes,
        })
    }

    async fn resolve(
        &self,
        repository: &RepositoryName,
        reference: &ManifestReference,
    ) -> Result<Option<Digest>, StorageError> {
        match reference {
            ManifestReference::Digest(digest) => Ok(Some(digest.clone())),
            ManifestReference::Tag(tag) => self.storage.resolve_tag(repository, tag).await,
        }
    }

    /// By tag: removes the tag. By digest: removes the manifest, the tags that point at it and its
    /// entry in its subject's referrers.
    pub async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        reference: &ManifestReference,
    ) -> Result<(), RegistryError> {
        let unknown = || RegistryError::ManifestUnknown {
            repository: repository.to_string(),
            reference: reference.to_string(),
        };
        match reference {
            ManifestReference::Tag(tag) => {
                if self.storage.delete_tag(repository, tag).await? {
                    Ok(())
                } else {
                    Err(unknown())
                }
            }
            ManifestReference::Digest(digest) => {
                if self.storage.revision(repository, digest).await?.is_none() {
                    return Err(unknown());
                }
                for name in self.storage.list_tags(repository).await? {
                    let Ok(tag) = name.parse::<Tag>() else {
                        continue;
                    };
                    if self.storage.resolve_tag(repository, &tag).await?.as_ref() == Some(digest) {
                        self.storage.delete_tag(repository, &tag).await?;
                    }
                }
                if let Some(bytes) = self.storage.read_blob(digest).await?
                    && let Some(subject) = ParsedManifest::subject_of(&bytes)
                {
                    self.storage
                        .delete_referrer(repository, &subject, digest)
                        .await?;
                }
                self.storage.delete_revision(repository, digest).await?;
                Ok(())
            }
        }
    }

    // ---- listings ----

    pub async fn list_tags(
        &self,
        repository: &RepositoryName,
        limit: Option<usize>,
        last: Option<&str>,
    ) -> Result<Page, RegistryError> {
        if !self.storage.repository_exists(repository).await {
            return Err(RegistryError::NameUnknown {
                name: repository.to_string(),
            });
        }
        let tags = self.storage.list_tags(repository).await?;
        Ok(paginate(tags, limit, last))
    }

    /// Repositories for which `visible` holds, paginated.
    pub async fn list_repositories(
        &self,
        limit: Option<usize>,
        last: Option<&str>,
        visible: impl Fn(&RepositoryName) -> bool,
    ) -> Result<Page, RegistryError> {
        let names = self
            .storage
            .list_repositories()
            .await?
            .into_iter()
            .filter(|name| visible(name))
            .map(|name| name.to_string())
            .collect();
        Ok(paginate(names, limit, last))
    }

    /// The OCI index of manifests whose subject is `subject`, filtered by `artifact_type`.
    pub async fn list_referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Bytes, RegistryError> {
        let descriptors: Vec<Value> = self
            .storage
            .list_referrers(repository, subject)
            .await?
            .iter()
            .filter_map(|bytes| serde_json::from_slice::<Value>(bytes).ok())
            .filter(|descriptor| {
                artifact_type
                    .is_none_or(|wanted| descriptor["artifactType"].as_str() == Some(wanted))
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": descriptors,
        });
        Ok(Bytes::from(index.to_string()))
    }
}

/// What the registry needs to know of a manifest it accepts.
pub(super) struct ParsedManifest {
    media_type: String,
    /// Config and layers: blobs that must already be in the repository.
    blobs: Vec<Digest>,
    /// Manifests of an index: must already be in the repository.
    children: Vec<Digest>,
    subject: Option<Digest>,
    artifact_type: Option<String>,
    annotations: Option<Value>,
}

impl ParsedManifest {
    fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self, RegistryError> {
        let invalid = |reason: String| RegistryError::ManifestInvalid { reason };
        let value: Value =
            serde_json::from_slice(bytes).map_err(|error| invalid(format!("not JSON: {error}")))?;
        if value["schemaVersion"].as_u64() != Some(2) {
            return Err(invalid("schemaVersion must be 2".to_owned()));
        }
        let media_type = value["mediaType"]
            .as_str()
            .or(content_type)
            .ok_or_else(|| invalid("no mediaType in the manifest and no Content-Type".to_owned()))?
            .to_owned();
        let descriptor_digest =
            |descriptor: &Value, field: &str| -> Result<Digest, RegistryError> {
                descriptor["digest"]
                    .as_str()
                    .ok_or_else(|| invalid(format!("a descriptor in {field} has no digest")))?
                    .parse()
            };
        let mut blobs = Vec::new();
        let mut children = Vec::new();
        match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                if !value["config"].is_object() {
                    return Err(invalid(
                        "an image manifest needs a config descriptor".to_owned(),
                    ));
                }
                blobs.push(descriptor_digest(&value["config"], "config")?);
                let layers = value["layers"]
                    .as_array()
                    .ok_or_else(|| invalid("an image manifest needs a layers array".to_owned()))?;
                for layer in layers {
                    // Foreign layers (with urls) are fetched from elsewhere by clients.
                    if layer["urls"].as_array().is_none_or(Vec::is_empty) {
                        blobs.push(descriptor_digest(layer, "layers")?);
                    }
                }
            }
            OCI_INDEX | DOCKER_MANIFEST_LIST => {
                let manifests = value["manifests"]
                    .as_array()
                    .ok_or_else(|| invalid("an index needs a manifests array".to_owned()))?;
                for manifest in manifests {
                    children.push(descriptor_digest(manifest, "manifests")?);
                }
            }
            other => return Err(invalid(format!("unsupported manifest media type {other}"))),
        }
        let subject = if value["subject"].is_object() {
            Some(descriptor_digest(&value["subject"], "subject")?)
        } else {
            None
        };
        let artifact_type = value["artifactType"]
            .as_str()
            .or_else(|| value["config"]["mediaType"].as_str())
            .map(str::to_owned);
        let annotations = value
            .get("annotations")
            .filter(|value| value.is_object())
            .cloned();
        Ok(Self {
            media_type,
            blobs,
            children,
            subject,
            artifact_type,
            annotations,
        })
    }

    fn referrer_descriptor(&self, digest: &Digest, size: usize) -> Value {
        let mut descriptor = serde_json::json!({
            "mediaType": self.media_type,
            "digest": digest.to_string(),
            "size": size,
        });
        if let Some(artifact_type) = &self.artifact_type {
            descriptor["artifactType"] = Value::String(artifact_type.clone());
        }
        if let Some(annotations) = &self.annotations {
            descriptor["annotations"] = annotations.clone();
        }
        descriptor
    }

    fn subject_of(bytes: &[u8]) -> Option<Digest> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        value["subject"]["digest"].as_str()?.parse().ok()
    }

    /// Every digest a stored manifest keeps alive: config, layers, index entries.
    pub(super) fn referenced_digests(bytes: &[u8]) -> Vec<Digest> {
        let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
            return Vec::new();
        };
        let config = std::iter::once(&value["config"]);
        let lists = ["layers", "manifests", "blobs"]
            .into_iter()
            .filter_map(|field| value[field].as_array())
            .flatten();
        config
            .chain(lists)
            .filter_map(|descriptor| descriptor["digest"].as_str()?.parse().ok())
            .collect()
    }
}

fn paginate(mut items: Vec<String>, limit: Option<usize>, last: Option<&str>) -> Page {
    items.sort();
    if let Some(last) = last {
        items.retain(|item| item.as_str() > last);
    }
    let more = limit.is_some_and(|limit| items.len() > limit);
    if let Some(limit) = limit {
        items.truncate(limit);
    }
    Page { items, more }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_is_lexical_after_last() {
        let items = ["c", "a", "b", "d"].map(String::from).to_vec();
        let page = paginate(items.clone(), Some(2), None);
        assert_eq!(
            (page.items, page.more),
            (vec!["a".to_owned(), "b".to_owned()], true)
        );
        let page = paginate(items, Some(2), Some("b"));
        assert_eq!(
            (page.items, page.more),
            (vec!["c".to_owned(), "d".to_owned()], false)
        );
    }
}
