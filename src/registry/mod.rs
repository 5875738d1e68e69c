//! labforge's own OCI registry: the distribution API (OCI Distribution Spec v1.1), a content store
//! shared by every repository, access decided by each datalab's visibility, and push-on to
//! external registries.
//!
//! # Layers
//!
//! `routes` (HTTP: parse, authorize, one service call, shape the answer) -> `service` (the
//! protocol's rules: upload sessions, digest checks, manifest validation, garbage collection) ->
//! `storage` (all file I/O). Never the reverse. `access` decides who may do what and issues tokens;
//! `error` holds the OCI error enum whose `IntoResponse` writes the spec's error body.
//!
//! # Access model
//!
//! Docker token authentication: every `/v2/` request without a valid bearer token is answered 401
//! with `WWW-Authenticate: Bearer realm=".../auth/token",service="...",scope="repository:<name>:pull"`.
//! `GET /auth/token` (optionally with Basic credentials) returns a token granting the requested
//! actions the user is allowed. Until labforge's user store exists, users and repository grants
//! come from a TOML grants file (format in [`access`]):
//!
//! - published public repositories: pull by anyone, anonymous included;
//! - other repositories: pull by the owner, listed users, moderators, admins and builders;
//! - push and delete: `builder` (the build service) and `admin` users only;
//! - `_catalog` lists the repositories the caller may pull.
//!
//! # Storage guarantees
//!
//! See [`storage`]: blobs are verified before they become visible and written with
//! write-sync-rename; uploads live outside the blob store until verified; idle upload sessions
//! expire; garbage collection never removes blobs younger than a grace period and is excluded
//! from the steps that make blobs reachable (see [`service`]).

pub mod access;
mod digest;
pub mod error;
mod name;
mod push_on;
mod routes;
pub mod service;
pub mod storage;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use access::{AccessControl, Grants, hash_password};
pub use digest::Digest;
pub use error::{GrantsError, PushOnError, RegistryError, StorageError};
pub use name::{RepositoryName, Tag};
pub use push_on::{PushOnTarget, push_on};
pub use routes::router;
pub use service::{GarbageReport, RegistryService};

/// Settings of the registry server (`[registry_server]` in the configuration file).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryServerConfig {
    /// Address the standalone server listens on.
    pub listen: SocketAddr,
    /// Folder of the content store; `<data_dir>/registry` when absent.
    pub storage_root: Option<PathBuf>,
    /// Users and repository grants (TOML); `<data_dir>/registry-grants.toml` when absent.
    pub grants_file: Option<PathBuf>,
    /// URL of the token endpoint announced in challenges; derived from the request's `Host` when
    /// absent (`http://<host>/auth/token`), which suits a registry reached by one name.
    pub token_realm: Option<String>,
    /// The `service` of challenges and tokens.
    pub token_service: String,
    pub token_lifetime_seconds: u64,
    /// An upload session idle for longer than this is removed with its bytes.
    pub upload_expiry_seconds: u64,
    /// How often unreferenced blobs are collected; 0 disables collection.
    pub garbage_collection_interval_seconds: u64,
    /// Blobs younger than this are never collected (they may belong to a push in progress).
    pub garbage_collection_grace_seconds: u64,
    /// Largest manifest accepted.
    pub max_manifest_bytes: usize,
    /// External registries images can be copied to with [`push_on`].
    pub push_on: Vec<PushOnTarget>,
}

impl Default for RegistryServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            storage_root: None,
            grants_file: None,
            token_realm: None,
            token_service: "labforge-registry".to_owned(),
            token_lifetime_seconds: 300,
            upload_expiry_seconds: 3600,
            garbage_collection_interval_seconds: 6 * 3600,
            garbage_collection_grace_seconds: 3600,
            max_manifest_bytes: 4 << 20,
            push_on: Vec::new(),
        }
    }
}

impl RegistryServerConfig {
    pub fn storage_root(&self, data_dir: &Path) -> PathBuf {
        self.storage_root
            .clone()
            .unwrap_or_else(|| data_dir.join("registry"))
    }

    pub fn grants_file(&self, data_dir: &Path) -> PathBuf {
        self.grants_file
            .clone()
            .unwrap_or_else(|| data_dir.join("registry-grants.toml"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Grants(#[from] GrantsError),
}

/// Everything the routes need; cheap to clone.
#[derive(Clone)]
pub struct RegistryState {
    pub service: Arc<RegistryService>,
    pub access: Arc<AccessControl>,
    push_on_targets: Arc<[PushOnTarget]>,
    upload_expiry: Duration,
    garbage_collection_interval: Duration,
    garbage_collection_grace: Duration,
}

impl RegistryState {
    /// Opens the content store and loads the grants file.
    pub async fn open(config: &RegistryServerConfig, data_dir: &Path) -> Result<Self, OpenError> {
        let grants = Grants::load(&config.grants_file(data_dir))?;
        let storage = storage::Storage::open(&config.storage_root(data_dir)).await?;
        Ok(Self {
            service: Arc::new(RegistryService::new(storage, config.max_manifest_bytes)),
            access: Arc::new(AccessControl::new(
                grants,
                config.token_service.clone(),
                config.token_realm.clone(),
                Duration::from_secs(config.token_lifetime_seconds),
            )),
            push_on_targets: config.push_on.clone().into(),
            upload_expiry: Duration::from_secs(config.upload_expiry_seconds),
            garbage_collection_interval: Duration::from_secs(
                config.garbage_collection_interval_seconds,
            ),
            garbage_collection_grace: Duration::from_secs(config.garbage_collection_grace_seconds),
        })
    }

    /// Expires idle uploads and collects garbage on the configured schedule, forever. A host that
    /// mounts [`router`] spawns this next to it.
    pub async fn run_maintenance(self) {
        let tick = (self.upload_expiry / 4).clamp(Duration::from_secs(1), Duration::from_mins(1));
        let mut interval = tokio::time::interval(tick);
        let mut since_collection = Duration::ZERO;
        loop {
            interval.tick().await;
            if let Err(error) = self.service.purge_expired_uploads(self.upload_expiry).await {
                tracing::error!(%error, "expiring registry uploads failed");
            }
            since_collection += tick;
            if !self.garbage_collection_interval.is_zero()
                && since_collection >= self.garbage_collection_interval
            {
                since_collection = Duration::ZERO;
                match self
                    .service
                    .collect_garbage(self.garbage_collection_grace)
                    .await
                {
                    Ok(report) => tracing::info!(?report, "registry garbage collected"),
                    Err(error) => tracing::error!(%error, "registry garbage collection failed"),
                }
            }
        }
    }
}

/// Runs the registry alone (`labforge registry`) on `config.registry_server.listen`.
pub async fn serve(config: &crate::config::Config) -> anyhow::Result<()> {
    crate::install_crypto_provider();
    let settings = &config.registry_server;
    let state = RegistryState::open(settings, &config.data_dir).await?;
    tokio::spawn(state.clone().run_maintenance());
    let listener = tokio::net::TcpListener::bind(settings.listen).await?;
    tracing::info!(address = %settings.listen, "registry listening");
    axum::serve(listener, router(state)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn settings_come_from_the_configuration_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("labforge.toml");
        std::fs::write(
            &path,
            "[registry_server]\nlisten = \"127.0.0.1:6001\"\ngrants_file = \"/etc/labforge/grants.toml\"\n\
             [[registry_server.push_on]]\nname = \"harbor\"\nregistry = \"harbor.example:443\"\nusername = \"robot\"\n",
        )
        .unwrap();
        let config = Config::default().merge_file(&path).unwrap();
        let settings = &config.registry_server;
        assert_eq!(settings.listen.port(), 6001);
        assert_eq!(
            settings.storage_root(&config.data_dir),
            config.data_dir.join("registry")
        );
        assert_eq!(
            settings.grants_file(&config.data_dir),
            std::path::Path::new("/etc/labforge/grants.toml")
        );
        assert_eq!(settings.push_on[0].username.as_deref(), Some("robot"));
    }
}
