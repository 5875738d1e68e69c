//! BuildKit: a Dockerfile and its context become an image in the registry.
//!
//! Two engines share one interface. [`DockerdEngine`] (the default) drives the BuildKit built into
//! the local dockerd over bollard's gRPC session, then pushes with the daemon. [`BuildkitdEngine`]
//! drives a standalone buildkitd, the scale-out engine, which exports straight to the registry.
//! labforge never runs `docker build` as a subprocess.

mod buildkitd;
pub mod context;
mod dockerd;
mod error;
mod fleet;
pub mod progress;
mod session;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use self::buildkitd::BuildkitdEngine;
pub use self::context::{BuildContext, ContextWriter};
pub use self::dockerd::DockerdEngine;
pub use self::error::BuildkitError;
pub use self::fleet::{BuildkitdFleet, rank};
use crate::build_log::{BuildLog, Phase};
use crate::config::RegistryTarget;
pub use crate::images::ImageReference;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Docker daemon whose built-in BuildKit builds and pushes images.
    pub docker_host: String,
    /// Standalone buildkitd engines (`tcp://host:port`, several separated by commas); when set,
    /// builds go there instead of dockerd, each to the engine its environment ranks first.
    pub buildkitd: Option<String>,
    /// CA bundle mounted into build steps that reach the network.
    pub ca_bundle: PathBuf,
    /// How a standalone buildkitd compresses the layers it builds before pushing them (dockerd's
    /// push always gzips). Layers taken from the base keep theirs.
    pub layer_compression: LayerCompression,
}

/// The compression of the layers a standalone buildkitd pushes. gzip is what every client reads
/// and the slowest to write; zstd writes several times faster at a similar size (docker 23+,
/// podman 4, containerd); uncompressed costs no CPU at all, for a registry on the same network,
/// at two to three times the bytes stored and moved.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LayerCompression {
    #[default]
    Gzip,
    Zstd,
    Uncompressed,
}

impl LayerCompression {
    pub const ALL: [Self; 3] = [Self::Gzip, Self::Zstd, Self::Uncompressed];

    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Uncompressed => "uncompressed",
        }
    }
}

impl std::str::FromStr for LayerCompression {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|compression| compression.name() == value)
            .ok_or_else(|| format!("{value:?} is not gzip, zstd or uncompressed"))
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            docker_host: "unix:///var/run/docker.sock".to_owned(),
            buildkitd: None,
            ca_bundle: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            layer_compression: LayerCompression::default(),
        }
    }
}

/// One solve: a context, the Dockerfile in it, and where the image goes.
#[derive(Debug)]
pub struct BuildRequest {
    pub context: BuildContext,
    /// Path of the Dockerfile inside the context.
    pub dockerfile: String,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub image: ImageReference,
    /// What the build's cache depends on (a datalab's environment hash): standalone engines route
    /// by it, so the same environment is built where its layers are cached. `None`: routed by the
    /// image's repository.
    pub cache_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub reference: ImageReference,
    /// Manifest digest in the registry (`sha256:...`).
    pub digest: String,
    pub solve: Duration,
    /// Zero where the engine pushes as part of the solve (buildkitd).
    pub push: Duration,
}

/// The engine chosen by configuration.
#[derive(Debug, Clone)]
pub enum BuildEngine {
    Dockerd(DockerdEngine),
    /// A standalone buildkitd, and the local dockerd that runs what it built (smoke tests,
    /// notebooks), when one answered at start.
    Buildkitd {
        engine: Box<BuildkitdFleet>,
        local_daemon: Option<DockerdEngine>,
    },
}

impl BuildEngine {
    /// The engine `config` names, signed in to `registry` as the build service.
    pub async fn connect(
        config: &EngineConfig,
        registry: &RegistryTarget,
    ) -> Result<Self, BuildkitError> {
        let Some(addresses) = &config.buildkitd else {
            return Ok(Self::Dockerd(
                DockerdEngine::connect(&config.docker_host)
                    .await?
                    .with_registry_account(&registry.address, registry.credentials()),
            ));
        };
        let addresses = addresses
            .split(',')
            .map(str::trim)
            .filter(|address| !address.is_empty())
            .map(str::to_owned)
            .collect();
        let engine = BuildkitdFleet::connect(addresses, registry.credentials())
            .await?
            .with_layer_compression(config.layer_compression);
        let local_daemon = match DockerdEngine::connect(&config.docker_host).await {
            Ok(daemon) => {
                if config.layer_compression == LayerCompression::Zstd {
                    daemon.check_reads_zstd().await?;
                }
                Some(daemon.with_registry_account(&registry.address, registry.credentials()))
            }
            Err(error) => {
                tracing::info!(%error, "built images are not run: no smoke tests, no notebooks");
                None
            }
        };
        Ok(Self::Buildkitd {
            engine: Box::new(engine),
            local_daemon,
        })
    }

    pub async fn build_and_push(
        &self,
        request: &BuildRequest,
        log: &BuildLog,
        cancel: &CancellationToken,
    ) -> Result<BuiltImage, BuildkitError> {
        match self {
            Self::Dockerd(engine) => engine.build_and_push(request, log, cancel).await,
            Self::Buildkitd { engine, .. } => engine.build_and_push(request, log, cancel).await,
        }
    }

    /// A local dockerd holding `image`, to run it: dockerd's own build left it in its store; a
    /// standalone buildkitd's went to the registry only, so the local dockerd pulls it from there
    /// as the build service. `None` when no local dockerd answered at start.
    pub async fn daemon_holding(
        &self,
        image: &ImageReference,
        log: &BuildLog,
    ) -> Result<Option<&DockerdEngine>, BuildkitError> {
        match self {
            Self::Dockerd(engine) => Ok(Some(engine)),
            Self::Buildkitd {
                local_daemon: Some(daemon),
                ..
            } => {
                log.write(
                    Phase::SmokeTest,
                    format!("pulling {image} into the local dockerd to run it"),
                );
                daemon.pull(image).await?;
                Ok(Some(daemon))
            }
            Self::Buildkitd {
                local_daemon: None, ..
            } => Ok(None),
        }
    }
}

/// The account in the form the Docker API and BuildKit's auth session take it.
pub(crate) fn docker_credentials(
    registry: &str,
    credentials: &crate::images::Credentials,
) -> bollard::auth::DockerCredentials {
    bollard::auth::DockerCredentials {
        username: Some(credentials.username.clone()),
        password: Some(credentials.password.clone()),
        serveraddress: Some(registry.to_owned()),
        ..bollard::auth::DockerCredentials::default()
    }
}
