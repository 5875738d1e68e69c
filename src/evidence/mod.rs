//! The evidence a build leaves for its review, read from the pushed image without starting it:
//!
//! ```text
//! layers   the image's layers from the registry, applied in order with their whiteouts,
//!          keeping only *.dist-info/METADATA, /var/lib/dpkg/status, /usr/share/doc/*/copyright
//! python   installed distributions and their licences (License-Expression, License, classifiers)
//! debian   installed packages and the licences of their DEP-5 copyright files
//! spdx     the SPDX 2.3 JSON document, attached to the image as an OCI referrer
//! report   each dependency's licence through the licence engine: what a moderator must look at
//! ```
//!
//! [`EvidenceCollector`] is the one entry point; the pipeline calls it after the push, and the
//! build record keeps the document and the report (`storage::builds`).

mod debian;
mod error;
mod layer_store;
pub mod layers;
mod python;
mod report;
pub mod spdx;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub use self::error::EvidenceError;
use self::layer_store::LayerStore;
pub use self::report::{
    BasePackages, ConcernCount, LicenceConcern, LicenceFlag, LicenceReport, licence_report,
};
use self::spdx::{DescribedImage, SPDX_MEDIA_TYPE};
use crate::images::{ImageReference, RegistryClient};
use crate::licences::LicenceExpression;

/// Where a dependency comes from.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PackageEcosystem {
    /// A Python distribution (`*.dist-info`).
    Python,
    /// A Debian package dpkg lists as installed.
    Debian,
}

/// One dependency found in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    pub ecosystem: PackageEcosystem,
    pub name: String,
    pub version: String,
    /// The SPDX expression read, when the licence engine accepts it.
    pub licence: Option<String>,
    /// Where the licence was read from, or why there is none.
    pub basis: String,
    /// The file it was read from.
    pub path: String,
}

/// `text` as an SPDX expression the licence engine accepts, as the engine writes it.
fn spdx_expression(text: &str) -> Option<String> {
    LicenceExpression::parse(text)
        .ok()
        .map(|expression| expression.as_str().to_owned())
}

/// What a build keeps: the SPDX document and the licence report.
#[derive(Debug, Clone)]
pub struct BuildEvidence {
    pub sbom: Value,
    pub report: LicenceReport,
    /// The digest of the referrer manifest that attaches the document to the image.
    pub referrer: String,
}

/// The folder of the data folder where the pipeline keeps the layers its evidence has read.
pub const LAYER_STORE_FOLDER: &str = "evidence-layers";

/// Layers read at once: two keeps both cores busy decompressing while holding at most two
/// layers in memory.
const LAYERS_AT_ONCE: usize = 2;

/// Config media type and content of an artifact manifest without a config (OCI 1.1).
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_CONFIG: &[u8] = b"{}";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Reads images for their evidence and attaches it, through one registry client.
#[derive(Debug, Clone)]
pub struct EvidenceCollector {
    registry: RegistryClient,
    read_layers: LayerCache,
    /// The layers read, also kept on disk, when a folder is given.
    stored_layers: Option<LayerStore>,
}

/// Layers read before, by digest, shared by the collector's clones: every datalab shares its
/// base's layers, so after the first image on a base only a datalab's own layers are downloaded
/// and read. A digest names its content, so a cached layer is the layer. Bounded by the bytes the
/// kept files take; the oldest layer read goes first.
#[derive(Debug, Clone)]
struct LayerCache {
    inner: std::sync::Arc<std::sync::Mutex<CachedLayers>>,
    limit: usize,
}

impl Default for LayerCache {
    fn default() -> Self {
        Self {
            inner: std::sync::Arc::default(),
            limit: CACHED_LAYER_BYTES,
        }
    }
}

#[derive(Debug, Default)]
struct CachedLayers {
    layers: std::collections::HashMap<String, std::sync::Arc<layers::LayerChanges>>,
    order: std::collections::VecDeque<String>,
    bytes: usize,
}

/// What the kept files of cached layers may take (a base's copyright files and dpkg status are a
/// few MiB).
const CACHED_LAYER_BYTES: usize = 64 * 1024 * 1024;

impl LayerCache {
    fn get(&self, digest: &str) -> Option<std::sync::Arc<layers::LayerChanges>> {
        let cached = self
            .inner
            .lock()
            .expect("the cache's lock is never poisoned");
        cached.layers.get(digest).cloned()
    }

    fn insert(&self, digest: &str, changes: std::sync::Arc<layers::LayerChanges>) {
        let size = changes.size();
        if size > self.limit {
            return;
        }
        let mut cached = self
            .inner
            .lock()
            .expect("the cache's lock is never poisoned");
        if cached.layers.contains_key(digest) {
            return;
        }
        while cached.bytes + size > self.limit {
            let Some(oldest) = cached.order.pop_front() else {
                break;
            };
            if let Some(removed) = cached.layers.remove(&oldest) {
                cached.bytes -= removed.size();
            }
        }
        cached.bytes += size;
        cached.order.push_back(digest.to_owned());
        cached.layers.insert(digest.to_owned(), changes);
    }
}

/// The image's dependencies and how long reading them took.
#[derive(Debug, Clone)]
pub struct ImageInventory {
    pub packages: Vec<InstalledPackage>,
    pub created: chrono::DateTime<chrono::Utc>,
    /// The image config's labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Time spent downloading and reading the layers.
    pub elapsed: Duration,
}

impl EvidenceCollector {
    pub fn new(registry: RegistryClient) -> Self {
        Self {
            registry,
            read_layers: LayerCache::default(),
            stored_layers: None,
        }
    }

    /// Also keeps the layers read in `folder`, for later processes on the same data folder: the
    /// first build after a restart does not read its base's layers again.
    #[must_use]
    pub fn with_layer_store(mut self, folder: PathBuf) -> Self {
        self.stored_layers = Some(LayerStore::new(folder));
        self
    }

    /// Makes the SPDX document and licence report of `image` (whose manifest is `digest`) and
    /// attaches the document to it as a referrer.
    pub async fn collect(
        &self,
        image: &ImageReference,
        digest: &str,
    ) -> Result<BuildEvidence, EvidenceError> {
        let inventory = self.inventory(image, digest).await?;
        let sbom = spdx::document(
            &DescribedImage {
                repository: &image.repository,
                tag: &image.tag,
                digest,
                created: inventory.created,
            },
            &inventory.packages,
        );
        let base = self.base_packages(image, &inventory).await;
        let report = licence_report(&inventory.packages, base.as_ref());
        let referrer = self.attach(image, digest, &sbom).await?;
        Ok(BuildEvidence {
            sbom,
            report,
            referrer,
        })
    }

    /// The packages of the labforge base `image` was built on (its `org.labforge.base.*` labels),
    /// read through the same layer cache; `None` when the image names no base or it cannot be
    /// read, and then every package is reported.
    pub async fn base_packages(
        &self,
        image: &ImageReference,
        inventory: &ImageInventory,
    ) -> Option<BasePackages> {
        let name = inventory.labels.get(crate::base_images::BASE_NAME_LABEL)?;
        let version = inventory
            .labels
            .get(crate::base_images::BASE_VERSION_LABEL)?;
        let base = ImageReference::new(
            format!(
                "{}/{}",
                image.registry(),
                crate::config::RegistryTarget::repository_path(name)
            ),
            version.clone(),
        );
        let digest = self.registry.manifest_digest(&base).await.ok()??;
        let packages = self.inventory(&base, &digest).await.ok()?.packages;
        Some(BasePackages::new(format!("{name} {version}"), &packages))
    }

    /// The dependencies installed in `image`, read from its layers.
    pub async fn inventory(
        &self,
        image: &ImageReference,
        digest: &str,
    ) -> Result<ImageInventory, EvidenceError> {
        let started = Instant::now();
        let (media_type, manifest) = self.image_manifest(image, digest).await?;
        let unreadable = |reason: String| EvidenceError::ManifestUnreadable {
            image: image.to_string(),
            reference: digest.to_owned(),
            reason,
        };
        let layer_digests: Vec<String> = manifest["layers"]
            .as_array()
            .ok_or_else(|| unreadable(format!("a {media_type} without layers")))?
            .iter()
            .map(|layer| layer["digest"].as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| unreadable("a layer without a digest".to_owned()))?;
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .ok_or_else(|| unreadable("no config digest".to_owned()))?;
        let config = self.blob(image, config_digest, "the config").await?;
        let config = serde_json::from_slice::<Value>(&config).unwrap_or_default();
        let created = config["created"]
            .as_str()
            .and_then(|created| chrono::DateTime::parse_from_rfc3339(created).ok())
            .map_or_else(chrono::Utc::now, |created| created.to_utc());
        let labels = serde_json::from_value(config["config"]["Labels"].clone()).unwrap_or_default();

        let mut changes = futures_util::stream::iter(layer_digests)
            .map(|layer| async move {
                if let Some(cached) = self.read_layers.get(&layer) {
                    return Ok(cached);
                }
                if let Some(store) = self.stored_layers.clone() {
                    let digest = layer.clone();
                    if let Ok(Some(stored)) =
                        tokio::task::spawn_blocking(move || store.load(&digest)).await
                    {
                        let stored = std::sync::Arc::new(stored);
                        self.read_layers
                            .insert(&layer, std::sync::Arc::clone(&stored));
                        return Ok(stored);
                    }
                }
                let blob = self.blob(image, &layer, &format!("layer {layer}")).await?;
                let (store, digest) = (self.stored_layers.clone(), layer.clone());
                let read = tokio::task::spawn_blocking(move || {
                    let read = layers::read_layer(&blob)?;
                    if let Some(store) = store {
                        store.save(&digest, &read);
                    }
                    Ok(read)
                })
                .await
                .map_err(|error| error.to_string())
                .and_then(|read| read)
                .map_err(|detail| EvidenceError::Layer {
                    image: image.to_string(),
                    digest: layer.clone(),
                    detail,
                })?;
                let read = std::sync::Arc::new(read);
                self.read_layers
                    .insert(&layer, std::sync::Arc::clone(&read));
                Ok(read)
            })
            .buffered(LAYERS_AT_ONCE);
        let mut files = layers::ImageFiles::new();
        while let Some(layer) = changes.try_next().await? {
            layers::apply(&mut files, &layer);
        }

        let mut packages: Vec<InstalledPackage> = files
            .iter()
            .filter(|(path, _)| path.ends_with(".dist-info/METADATA"))
            .map(|(path, metadata)| python::distribution(path, &String::from_utf8_lossy(metadata)))
            .collect();
        packages.extend(debian::packages(&files));
        Ok(ImageInventory {
            packages,
            created,
            labels,
            elapsed: started.elapsed(),
        })
    }

    /// The image manifest `digest`; for an index, its linux/amd64 manifest (else its first).
    async fn image_manifest(
        &self,
        image: &ImageReference,
        digest: &str,
    ) -> Result<(String, Value), EvidenceError> {
        let unreadable = |reason| EvidenceError::ManifestUnreadable {
            image: image.to_string(),
            reference: digest.to_owned(),
            reason,
        };
        let manifest = self
            .registry
            .image_manifest(image, digest)
            .await
            .map_err(unreadable)?
            .ok_or_else(|| unreadable(format!("{image} has no manifest {digest}")))?;
        Ok((manifest.media_type, manifest.json))
    }

    async fn blob(
        &self,
        image: &ImageReference,
        digest: &str,
        what: &str,
    ) -> Result<bytes::Bytes, EvidenceError> {
        self.registry
            .blob(image, digest)
            .await
            .map_err(|detail| Self::registry_error(image, what, detail))
    }

    fn registry_error(image: &ImageReference, what: &str, detail: String) -> EvidenceError {
        EvidenceError::Registry {
            image: image.to_string(),
            what: what.to_owned(),
            detail,
        }
    }

    /// Pushes `sbom` and an OCI artifact manifest whose subject is the image manifest `digest`,
    /// so that the referrers API lists it. Returns the artifact manifest's digest.
    async fn attach(
        &self,
        image: &ImageReference,
        digest: &str,
        sbom: &Value,
    ) -> Result<String, EvidenceError> {
        let failed = |detail: String| EvidenceError::Attach {
            image: image.to_string(),
            detail,
        };
        // The subject descriptor needs the image manifest's media type and size as stored.
        let (subject_type, subject) = self
            .registry
            .manifest(image, digest)
            .await
            .map_err(failed)?
            .ok_or_else(|| failed(format!("no manifest {digest}")))?;
        let document = bytes::Bytes::from(
            serde_json::to_vec(sbom)
                .map_err(|error| failed(format!("the document does not serialise: {error}")))?,
        );
        let document_digest = sha256(&document);
        let empty_digest = sha256(EMPTY_CONFIG);
        self.registry
            .push_blob(
                image,
                &empty_digest,
                bytes::Bytes::from_static(EMPTY_CONFIG),
            )
            .await
            .map_err(failed)?;
        self.registry
            .push_blob(image, &document_digest, document.clone())
            .await
            .map_err(failed)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SPDX_MEDIA_TYPE,
            "config": {
                "mediaType": EMPTY_MEDIA_TYPE,
                "digest": empty_digest,
                "size": EMPTY_CONFIG.len(),
                "data": "e30=",
            },
            "layers": [{
                "mediaType": SPDX_MEDIA_TYPE,
                "digest": document_digest,
                "size": document.len(),
            }],
            "subject": {
                "mediaType": subject_type,
                "digest": digest,
                "size": subject.len(),
            },
            "annotations": {
                "org.opencontainers.image.created": sbom["creationInfo"]["created"],
                "org.opencontainers.image.title": "SPDX 2.3 software bill of materials",
            },
        });
        let manifest = bytes::Bytes::from(manifest.to_string());
        let manifest_digest = sha256(&manifest);
        self.registry
            .put_manifest(image, &manifest_digest, OCI_MANIFEST, manifest)
            .await
            .map_err(failed)?;
        Ok(manifest_digest)
    }
}

fn sha256(content: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(content)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(bytes: usize) -> std::sync::Arc<layers::LayerChanges> {
        std::sync::Arc::new(layers::dpkg_status_layer(bytes))
    }

    #[test]
    fn the_layer_cache_keeps_the_newest_layers_within_its_bytes() {
        let cache = LayerCache {
            limit: 250,
            ..LayerCache::default()
        };
        cache.insert("sha256:a", layer(100));
        cache.insert("sha256:b", layer(100));
        assert!(cache.get("sha256:a").is_some() && cache.get("sha256:b").is_some());
        cache.insert("sha256:c", layer(100));
        assert!(cache.get("sha256:a").is_none(), "the oldest goes first");
        assert!(cache.get("sha256:b").is_some() && cache.get("sha256:c").is_some());
        cache.insert("sha256:huge", layer(1000));
        assert!(
            cache.get("sha256:huge").is_none(),
            "a layer over the limit is not kept"
        );
        assert!(cache.get("sha256:c").is_some());
    }
}
