//! Rewriting one image onto another base, as Cloud Native Buildpacks' `rebase` does: the image's
//! lower layers must be exactly its base's, the new base must declare the same interface, and the
//! result is the new base's layers followed by the image's own, byte for byte; the config keeps
//! everything of the image but its layer list, its history's base part and the base version label.

use serde_json::Value;

use super::RebaseError;
use crate::base_images::{BASE_INTERFACE_LABEL, BASE_NAME_LABEL, BASE_VERSION_LABEL};
use crate::config::RegistryTarget;
use crate::images::{ImageManifest, ImageReference, RegistryClient};

/// The image to rebase.
#[derive(Debug, Clone)]
pub struct RebaseRequest<'a> {
    /// The image as it is (its tag), and its manifest's digest.
    pub image: &'a ImageReference,
    pub digest: &'a str,
    /// The version of the same base to move onto.
    pub base_version: &'a str,
}

/// A rebase found possible, ready to push: the new config and manifest.
#[derive(Debug, Clone)]
pub struct PreparedRebase {
    pub base: String,
    pub from_version: String,
    pub to_version: String,
    base_layers: Vec<String>,
    own_layers: Vec<String>,
    config: bytes::Bytes,
    manifest: Value,
    media_type: String,
}

/// A rebased image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebasedImage {
    pub digest: String,
    /// The base's name (`jl_base`) and the versions moved from and to.
    pub base: String,
    pub from_version: String,
    pub to_version: String,
    /// The image's own layers, kept as they were.
    pub own_layers: Vec<String>,
    /// The new base's layers now under them.
    pub base_layers: Vec<String>,
}

/// An image's manifest and config, read for rebasing.
struct Parts {
    manifest: ImageManifest,
    config: Value,
}

impl Parts {
    async fn read(
        registry: &RegistryClient,
        image: &ImageReference,
        reference: &str,
    ) -> Result<Option<Self>, RebaseError> {
        let Some(manifest) = registry
            .image_manifest(image, reference)
            .await
            .map_err(|detail| RebaseError::Registry {
                image: image.to_string(),
                detail,
            })?
        else {
            return Ok(None);
        };
        let config_digest = manifest.json["config"]["digest"]
            .as_str()
            .ok_or_else(|| RebaseError::Unreadable {
                image: image.to_string(),
                detail: "its manifest names no config".to_owned(),
            })?
            .to_owned();
        let config = registry
            .blob(image, &config_digest)
            .await
            .map_err(|detail| RebaseError::Registry {
                image: image.to_string(),
                detail,
            })?;
        let config = serde_json::from_slice(&config).map_err(|error| RebaseError::Unreadable {
            image: image.to_string(),
            detail: format!("its config is not JSON: {error}"),
        })?;
        Ok(Some(Self { manifest, config }))
    }

    fn label(&self, name: &str) -> Option<&str> {
        self.config["config"]["Labels"][name].as_str()
    }

    fn layers(&self) -> &[Value] {
        self.manifest.json["layers"]
            .as_array()
            .map_or(&[], Vec::as_slice)
    }

    fn layer_digests(&self) -> Vec<String> {
        self.layers()
            .iter()
            .filter_map(|layer| layer["digest"].as_str().map(str::to_owned))
            .collect()
    }

    fn diff_ids(&self) -> &[Value] {
        self.config["rootfs"]["diff_ids"]
            .as_array()
            .map_or(&[], Vec::as_slice)
    }

    fn history(&self) -> &[Value] {
        self.config["history"].as_array().map_or(&[], Vec::as_slice)
    }
}

async fn read_base(
    registry: &RegistryClient,
    repository: &str,
    version: &str,
) -> Result<Parts, RebaseError> {
    let reference = ImageReference::new(repository, version);
    Parts::read(registry, &reference, version)
        .await?
        .ok_or_else(|| RebaseError::BaseMissing {
            image: reference.to_string(),
        })
}

/// Reads `request.image` and the base versions it moves between, and makes its new config and
/// manifest. Refuses, with the reason, an image whose base is unknown or already that version, a
/// new base that declares another interface, and lower layers that are not the old base's.
pub async fn prepare_rebase(
    registry: &RegistryClient,
    target_registry: &RegistryTarget,
    request: &RebaseRequest<'_>,
) -> Result<PreparedRebase, RebaseError> {
    let image = request.image;
    let current = Parts::read(registry, image, request.digest)
        .await?
        .ok_or_else(|| RebaseError::Registry {
            image: image.to_string(),
            detail: format!("no manifest {}", request.digest),
        })?;
    let (Some(base), Some(from_version)) = (
        current.label(BASE_NAME_LABEL),
        current.label(BASE_VERSION_LABEL),
    ) else {
        return Err(RebaseError::UnknownBase {
            image: image.to_string(),
        });
    };
    let (base, from_version) = (base.to_owned(), from_version.to_owned());
    if from_version == request.base_version {
        return Err(RebaseError::AlreadyOnBase {
            image: image.to_string(),
            base,
            version: from_version,
        });
    }
    let base_repository = target_registry.repository(&base);
    let old_base = read_base(registry, &base_repository, &from_version).await?;
    let new_base = read_base(registry, &base_repository, request.base_version).await?;

    let built_for = current.label(BASE_INTERFACE_LABEL);
    let offered = new_base.label(BASE_INTERFACE_LABEL);
    if built_for.is_none() || built_for != offered {
        return Err(RebaseError::InterfaceMismatch {
            image: image.to_string(),
            base: base.clone(),
            version: request.base_version.to_owned(),
            built_for: built_for.unwrap_or("(none declared)").to_owned(),
            offered: offered.unwrap_or("(none declared)").to_owned(),
        });
    }

    let layers = current.layer_digests();
    let old_layers = old_base.layer_digests();
    let count = old_layers.len();
    let history_count = old_base.history().len();
    if layers.len() < count
        || layers[..count] != old_layers[..]
        || current.diff_ids().get(..count) != Some(old_base.diff_ids())
        || current.history().len() < history_count
    {
        return Err(RebaseError::NotOnItsBase {
            image: image.to_string(),
            base: format!("{base}:{from_version}"),
        });
    }

    let mut config = current.config.clone();
    config["rootfs"]["diff_ids"] = Value::Array(
        new_base
            .diff_ids()
            .iter()
            .chain(&current.diff_ids()[count..])
            .cloned()
            .collect(),
    );
    config["history"] = Value::Array(
        new_base
            .history()
            .iter()
            .chain(&current.history()[history_count..])
            .cloned()
            .collect(),
    );
    config["config"]["Labels"][BASE_VERSION_LABEL] = Value::from(request.base_version);
    let config = bytes::Bytes::from(serde_json::to_vec(&config).expect("JSON serialises"));
    let mut manifest = current.manifest.json.clone();
    manifest["config"]["digest"] =
        Value::from(crate::registry::Digest::sha256_of(&config).to_string());
    manifest["config"]["size"] = Value::from(config.len());
    manifest["layers"] = Value::Array(
        new_base
            .layers()
            .iter()
            .chain(&current.layers()[count..])
            .cloned()
            .collect(),
    );
    Ok(PreparedRebase {
        base,
        from_version,
        to_version: request.base_version.to_owned(),
        base_layers: new_base.layer_digests(),
        own_layers: layers[count..].to_vec(),
        config,
        manifest,
        media_type: current.manifest.media_type,
    })
}

impl PreparedRebase {
    /// Pushes the rebased image as `target` (a tag of the image's repository): the new base's
    /// layers are mounted from the base's repository, the image's own are there already.
    pub async fn push(
        self,
        registry: &RegistryClient,
        target: &ImageReference,
    ) -> Result<RebasedImage, RebaseError> {
        let push_error = |detail| RebaseError::Registry {
            image: target.to_string(),
            detail,
        };
        let base_path = RegistryTarget::repository_path(&self.base);
        for layer in &self.base_layers {
            registry
                .mount_blob(target, layer, &base_path)
                .await
                .map_err(push_error)?;
        }
        let config_digest = crate::registry::Digest::sha256_of(&self.config).to_string();
        registry
            .push_blob(target, &config_digest, self.config)
            .await
            .map_err(push_error)?;
        let manifest =
            bytes::Bytes::from(serde_json::to_vec(&self.manifest).expect("JSON serialises"));
        let digest = crate::registry::Digest::sha256_of(&manifest).to_string();
        registry
            .put_manifest(target, &target.tag, &self.media_type, manifest)
            .await
            .map_err(push_error)?;
        Ok(RebasedImage {
            digest,
            base: self.base,
            from_version: self.from_version,
            to_version: self.to_version,
            own_layers: self.own_layers,
            base_layers: self.base_layers,
        })
    }
}
