//! The three base images, built from a Debian root filesystem.
//!
//! No public image registry is reachable from a data centre's build hosts, so the bottom layer is
//! a Debian root filesystem made from packages (`base-images/rootfs.sh`, mmdebstrap), imported into
//! dockerd once and pushed to the registry. `datalab_base`, `jl_base` and `x_base` are then built
//! on it through BuildKit like any datalab, and pushed as `datalabs/<base>:<version>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::build_log::{BuildLog, Phase};
use crate::buildkit::{BuildRequest, BuildkitError, BuiltImage, ContextWriter, DockerdEngine};
use crate::config::RegistryTarget;
use crate::images::ImageReference;
use crate::recipe::base::BaseImage;
use crate::recipe::generate::CA_BUNDLE_IN_CONTEXT;

#[derive(Debug, thiserror::Error)]
pub enum BaseImageError {
    #[error(
        "{script} failed ({status}); its output is above. Is mmdebstrap installed and the Debian mirror reachable?"
    )]
    RootFilesystem {
        script: PathBuf,
        status: std::process::ExitStatus,
    },
    #[error("cannot run {script}: {source}")]
    Script {
        script: PathBuf,
        source: std::io::Error,
    },
    #[error("{action} {path}: {source}")]
    Storage {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Build(#[from] BuildkitError),
}

/// What building the bases needs of the configuration.
#[derive(Debug, Clone)]
pub struct BaseImageSettings {
    /// Where the bases are pushed, and the build account that pushes them.
    pub registry: RegistryTarget,
    /// Version the bases are tagged with (`base-images/VERSION`).
    pub base_version: String,
    /// Folder holding the bases' Dockerfiles and the root filesystem script.
    pub base_images_dir: PathBuf,
    /// The build host's CA bundle, trusted by the bases' build steps.
    pub ca_bundle: PathBuf,
    /// Scratch space and the root filesystem tarball live under it.
    pub data_dir: PathBuf,
}

/// Name of the image the root filesystem is imported as (`datalabs/debian-rootfs`).
pub const ROOT_FILESYSTEM_NAME: &str = "debian-rootfs";

/// The base an image was built on, set on each base and inherited by every datalab built on it.
pub const BASE_NAME_LABEL: &str = "org.labforge.base.name";
/// The version of that base.
pub const BASE_VERSION_LABEL: &str = "org.labforge.base.version";
/// What a datalab's own layers rely on in its base, declared by the base's Dockerfile.
pub const BASE_INTERFACE_LABEL: &str = "org.labforge.base.interface";

/// The image the root filesystem is imported as, in the registry so that any engine can use it.
pub fn root_filesystem_image(settings: &BaseImageSettings) -> ImageReference {
    ImageReference::new(
        settings.registry.repository(ROOT_FILESYSTEM_NAME),
        format!("bookworm-{}", settings.base_version),
    )
}

/// Repositories of the root filesystem and the three bases, as the registry names them
/// (`datalabs/jl_base`): every datalab is built from them, so the registry serves them to anyone.
pub fn base_repositories() -> Vec<String> {
    std::iter::once(ROOT_FILESYSTEM_NAME)
        .chain(BaseImage::ALL.map(BaseImage::image_name))
        .map(RegistryTarget::repository_path)
        .collect()
}

pub fn base_image_reference(settings: &BaseImageSettings, base: BaseImage) -> ImageReference {
    ImageReference::new(
        settings.registry.repository(base.image_name()),
        settings.base_version.clone(),
    )
}

/// Builds (or, when BuildKit's cache has them, re-confirms) the root filesystem and the three
/// bases, in dependency order, and pushes them.
pub async fn build_base_images(
    settings: &BaseImageSettings,
    engine: &DockerdEngine,
    log: &BuildLog,
    cancel: &CancellationToken,
) -> Result<Vec<BuiltImage>, BaseImageError> {
    let rootfs = root_filesystem_image(settings);
    if engine.has_image(&rootfs).await? {
        log.write(Phase::Fetch, format!("{rootfs} is already imported"));
    } else {
        let tarball = make_root_filesystem(settings, log).await?;
        log.write(
            Phase::Fetch,
            format!("importing {} as {rootfs}", tarball.display()),
        );
        engine.import_root_filesystem(&tarball, &rootfs).await?;
    }
    engine.push(&rootfs, log).await?;

    let bundle = std::fs::read(&settings.ca_bundle).map_err(|source| BaseImageError::Storage {
        action: "cannot read the CA bundle",
        path: settings.ca_bundle.clone(),
        source,
    })?;
    let scratch = tempfile::tempdir_in(prepare(&settings.data_dir)?).map_err(|source| {
        BaseImageError::Storage {
            action: "cannot create a folder in",
            path: settings.data_dir.clone(),
            source,
        }
    })?;
    let mut built = Vec::new();
    for base in [BaseImage::DatalabBase, BaseImage::JlBase, BaseImage::XBase] {
        let folder = settings.base_images_dir.join(base.image_name());
        let mut context = ContextWriter::create(&scratch.path().join(format!("{base}.tar")))?;
        context.add_folder(&folder, Path::new(""))?;
        context.add_file(CA_BUNDLE_IN_CONTEXT, &bundle, 0o644)?;
        let request = BuildRequest {
            context: context.finish()?,
            dockerfile: "Dockerfile".to_owned(),
            build_args: BTreeMap::from([
                ("ROOTFS".to_owned(), rootfs.to_string()),
                ("REGISTRY".to_owned(), settings.registry.address.clone()),
                (
                    BaseImage::DatalabBase.version_arg().to_owned(),
                    settings.base_version.clone(),
                ),
            ]),
            labels: BTreeMap::from([
                (
                    "org.opencontainers.image.title".to_owned(),
                    base.image_name().to_owned(),
                ),
                (
                    "org.opencontainers.image.version".to_owned(),
                    settings.base_version.clone(),
                ),
                // Datalabs inherit these two: `labforge rebase` reads which base and version an
                // image was built on from them.
                (BASE_NAME_LABEL.to_owned(), base.image_name().to_owned()),
                (BASE_VERSION_LABEL.to_owned(), settings.base_version.clone()),
            ]),
            image: base_image_reference(settings, base),
            cache_key: None,
        };
        log.write(Phase::Solve, format!("building {}", request.image));
        let image = engine.build_and_push(&request, log, cancel).await?;
        log.write(
            Phase::Push,
            format!("pushed {} {}", image.reference, image.digest),
        );
        built.push(image);
    }
    Ok(built)
}

fn prepare(folder: &Path) -> Result<&Path, BaseImageError> {
    std::fs::create_dir_all(folder).map_err(|source| BaseImageError::Storage {
        action: "cannot create",
        path: folder.to_owned(),
        source,
    })?;
    Ok(folder)
}

/// Runs `base-images/rootfs.sh` (idempotent: it keeps an up-to-date tarball) and returns the
/// tarball's path.
async fn make_root_filesystem(
    settings: &BaseImageSettings,
    log: &BuildLog,
) -> Result<PathBuf, BaseImageError> {
    let script = settings.base_images_dir.join("rootfs.sh");
    let tarball = prepare(&settings.data_dir.join("rootfs"))?.join("debian-bookworm.tar");
    log.write(
        Phase::Fetch,
        format!(
            "making the Debian root filesystem with {}",
            script.display()
        ),
    );
    let status = tokio::process::Command::new("bash")
        .arg(&script)
        .arg(&tarball)
        .status()
        .await
        .map_err(|source| BaseImageError::Script {
            script: script.clone(),
            source,
        })?;
    if !status.success() {
        return Err(BaseImageError::RootFilesystem { script, status });
    }
    Ok(tarball)
}
