//! BuildKit: a Dockerfile and its context become an image in the registry.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Docker daemon whose built-in BuildKit builds and pushes images.
    pub docker_host: String,
    /// A standalone buildkitd (`tcp://host:port`); when set, builds go there instead of dockerd.
    pub buildkitd: Option<String>,
    /// CA bundle mounted into build steps that reach the network.
    pub ca_bundle: PathBuf,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            docker_host: "unix:///var/run/docker.sock".to_owned(),
            buildkitd: None,
            ca_bundle: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
        }
    }
}
