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
//! come from an optional TOML grants file (format in [`access`]), to which `labforge registry`
//! adds, unless the file names them itself (see [`standalone_grants`]):
//!
//! - the build service's account (`LABFORGE_REGISTRY_USERNAME` / `_PASSWORD`) as a builder, so one
//!   pair of variables configures both the pushing side and the registry on one machine;
//! - the base images (`datalabs/jl_base`, ...) as published public repositories, since every
//!   build pulls them.
//!
//! The rules:
//!
//! - published public repositories: pull by anyone, anonymous included;
//! - other repositories: pull by the owner, listed users, moderators, admins and builders;
//! - push and delete: `builder` (the build service) and `admin` users only;
//! - `_catalog` lists the repositories the caller may pull.
//!
//! A token records, per repository, what it was asked for and refused: a request needing a refused
//! action is answered 403, one needing an action the token never asked for gets the challenge for
//! it (a mount's challenge names the source repository's pull scope too). Conformance: the OCI
//! distribution-spec suite passes all four workflows (`scripts/test.sh` runs it); a mount without
//! `from` is never done, since it would let a pusher link blobs of repositories it cannot read.
//!
//! # Several processes
//!
//! Processes sharing one data folder share the content store, the token signing key and so each
//! other's tokens; an upload may be started on one and continued or finished on another (see
//! [`service`]'s uploads: the bytes on disk are the truth).
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
pub use error::{DirectoryUnavailable, GrantsError, PushOnError, RegistryError, StorageError};
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
    /// Users and repository grants (TOML); `<data_dir>/registry-grants.toml`, which may be
    /// missing, when absent.
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

    /// The grants file's users and repositories. At its default place the file is optional: a
    /// registry serving only the build service and the public bases needs none. A file named in
    /// the configuration must exist, so that a mistyped path is not taken for "no users".
    pub fn load_grants(&self, data_dir: &Path) -> Result<Grants, GrantsError> {
        match Grants::load(&self.grants_file(data_dir)) {
            Err(GrantsError::Read { source, .. })
                if self.grants_file.is_none() && source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(Grants::default())
            }
            loaded => loaded,
        }
    }
}

/// The grants the registry runs with: the grants file, plus the build service's account as a
/// builder and the base images public and published, each unless the file names it.
pub fn standalone_grants(
    config: &RegistryServerConfig,
    data_dir: &Path,
    build_account: Option<&crate::images::Credentials>,
) -> Result<Grants, GrantsError> {
    let mut grants = config.load_grants(data_dir)?;
    if let Some(credentials) = build_account {
        grants.add_builder(credentials);
    }
    grants.add_public_repositories(crate::base_images::base_repositories());
    Ok(grants)
}

/// Everything the routes need; cheap to clone.
#[derive(Clone)]
pub struct RegistryState {
    pub service: Arc<RegistryService>,
    pub access: Arc<AccessControl>,
    /// Users and visibility beyond the grants file, when served by `labforge serve`.
    pub directory: Option<Arc<dyn access::Directory>>,
    push_on_targets: Arc<[PushOnTarget]>,
    upload_expiry: Duration,
    garbage_collection_interval: Duration,
    garbage_collection_grace: Duration,
}

impl RegistryState {
    /// Adds `directory`'s users and repositories to the grants'.
    #[must_use]
    pub fn with_directory(mut self, directory: Arc<dyn access::Directory>) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Opens the content store; `grants` decide who may do what.
    pub async fn open(
        config: &RegistryServerConfig,
        data_dir: &Path,
        grants: Grants,
    ) -> Result<Self, StorageError> {
        let storage = storage::Storage::open(&config.storage_root(data_dir)).await?;
        let signing_key = storage.token_signing_key().await?;
        let service = RegistryService::new(storage, config.max_manifest_bytes);
        let resumed = service.resume_uploads().await?;
        if resumed > 0 {
            tracing::info!(resumed, "upload sessions of an earlier process resumed");
        }
        Ok(Self {
            service: Arc::new(service),
            access: Arc::new(
                AccessControl::new(
                    grants,
                    config.token_service.clone(),
                    config.token_realm.clone(),
                    Duration::from_secs(config.token_lifetime_seconds),
                )
                .with_signing_key(signing_key),
            ),
            directory: None,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::access::{Action, Role};
    use super::*;
    use crate::base_images::base_repositories;
    use crate::config::RegistryTarget;
    use crate::images::Credentials;
    use crate::recipe::base::BaseImage;

    /// The grants of a registry whose data folder is `folder` and whose build account is `ci` /
    /// `secret`.
    fn grants_with_build_account(
        settings: &RegistryServerConfig,
        folder: &Path,
    ) -> Result<Grants, GrantsError> {
        let build_account = Credentials {
            username: "ci".to_owned(),
            password: "secret".to_owned(),
        };
        standalone_grants(settings, folder, Some(&build_account))
    }

    #[tokio::test]
    async fn tokens_stay_valid_after_a_restart_and_the_key_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let folder = tempfile::tempdir().unwrap();
        let settings = RegistryServerConfig::default();
        let grants = || grants_with_build_account(&settings, folder.path()).unwrap();
        let first = RegistryState::open(&settings, folder.path(), grants())
            .await
            .unwrap();
        let scope = ["repository:datalabs/lab:pull,push".to_owned()];
        let token = first.access.issue(Some("ci"), &scope).token;
        drop(first);
        let restarted = RegistryState::open(&settings, folder.path(), grants())
            .await
            .unwrap();
        let subject = restarted
            .access
            .verify(&token)
            .expect("the token outlives the restart");
        assert!(subject.may(&"datalabs/lab".parse().unwrap(), Action::Push));
        let key_file = settings
            .storage_root(folder.path())
            .join("token-signing-key");
        let mode = std::fs::metadata(key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let elsewhere = tempfile::tempdir().unwrap();
        let other = RegistryState::open(&settings, elsewhere.path(), grants())
            .await
            .unwrap();
        assert!(
            other.access.verify(&token).is_none(),
            "another store's key differs"
        );
    }

    #[tokio::test]
    async fn an_upload_continues_after_a_restart_and_its_digest_is_checked_over_all_bytes() {
        let folder = tempfile::tempdir().unwrap();
        let settings = RegistryServerConfig::default();
        let repository: RepositoryName = "datalabs/lab".parse().unwrap();
        let chunk = |bytes: &'static [u8]| {
            futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(bytes))])
        };
        let first = RegistryState::open(&settings, folder.path(), Grants::default())
            .await
            .unwrap();
        let upload = first.service.start_upload(&repository).await.unwrap();
        first
            .service
            .append_upload(&repository, &upload.id, Some(0), chunk(b"first "))
            .await
            .unwrap();
        drop(first);

        let restarted = RegistryState::open(&settings, folder.path(), Grants::default())
            .await
            .unwrap();
        let status = restarted
            .service
            .upload_status(&repository, &upload.id)
            .await
            .expect("the session is resumed");
        assert_eq!(status.size, 6);
        let wrong = Digest::sha256_of(b"second half only");
        assert!(
            restarted
                .service
                .finish_upload(
                    &repository,
                    &upload.id,
                    &wrong,
                    Some(6),
                    chunk(b"second half")
                )
                .await
                .is_err(),
            "the digest covers the bytes received before the restart too"
        );
        let again = restarted.service.start_upload(&repository).await.unwrap();
        restarted
            .service
            .append_upload(&repository, &again.id, None, chunk(b"first "))
            .await
            .unwrap();
        drop(restarted);
        let third = RegistryState::open(&settings, folder.path(), Grants::default())
            .await
            .unwrap();
        let whole = Digest::sha256_of(b"first second half");
        third
            .service
            .finish_upload(&repository, &again.id, &whole, None, chunk(b"second half"))
            .await
            .unwrap();
        assert_eq!(
            third.service.stat_blob(&repository, &whole).await.unwrap(),
            17
        );
    }

    fn access_control(grants: Grants) -> AccessControl {
        AccessControl::new(grants, "labforge".to_owned(), None, Duration::from_mins(1))
    }

    #[tokio::test]
    async fn without_a_grants_file_the_build_account_pushes_and_anyone_pulls_the_bases() {
        let folder = tempfile::tempdir().unwrap();
        let settings = RegistryServerConfig::default();
        let access = access_control(grants_with_build_account(&settings, folder.path()).unwrap());
        let builder = access
            .authenticate("ci", "secret")
            .await
            .expect("the build account signs in");
        assert_eq!(builder.role, Role::Builder);
        assert!(access.authenticate("ci", "wrong").await.is_none());
        let datalab = RegistryTarget::repository_path("jl-demo");
        assert!(
            access
                .allowed_actions(Some("ci"), &datalab)
                .contains(&Action::Push)
        );
        assert!(
            access.allowed_actions(None, &datalab).is_empty(),
            "datalabs stay private"
        );
        let bases = base_repositories();
        assert_eq!(bases.len(), 1 + BaseImage::ALL.len());
        for base in &bases {
            assert_eq!(
                access.allowed_actions(None, base),
                vec![Action::Pull],
                "{base}"
            );
        }
    }

    #[tokio::test]
    async fn the_grants_file_has_the_last_word_on_a_base_and_on_the_build_account() {
        let folder = tempfile::tempdir().unwrap();
        let jl_base = RegistryTarget::repository_path(BaseImage::JlBase.image_name());
        std::fs::write(
            folder.path().join("registry-grants.toml"),
            format!(
                "[[users]]\nname = \"ci\"\npassword_hash = \"{}\"\nrole = \"author\"\n\n\
                 [[repositories]]\nname = \"{jl_base}\"\nvisibility = \"private\"\n",
                hash_password("from the file")
            ),
        )
        .unwrap();
        let settings = RegistryServerConfig::default();
        let access = access_control(grants_with_build_account(&settings, folder.path()).unwrap());
        assert!(access.authenticate("ci", "secret").await.is_none());
        assert_eq!(
            access
                .authenticate("ci", "from the file")
                .await
                .map(|user| user.role),
            Some(Role::Author)
        );
        assert!(access.allowed_actions(None, &jl_base).is_empty());
        let x_base = RegistryTarget::repository_path(BaseImage::XBase.image_name());
        assert_eq!(access.allowed_actions(None, &x_base), vec![Action::Pull]);
    }

    #[test]
    fn a_grants_file_named_in_the_configuration_must_exist() {
        let folder = tempfile::tempdir().unwrap();
        let settings = RegistryServerConfig {
            grants_file: Some(folder.path().join("mistyped.toml")),
            ..RegistryServerConfig::default()
        };
        let error = grants_with_build_account(&settings, folder.path()).unwrap_err();
        assert!(error.to_string().contains("mistyped.toml"), "{error}");
    }

    #[test]
    fn settings_come_from_the_configuration_file() {
        let settings: RegistryServerConfig = toml::from_str(
            "listen = \"127.0.0.1:6001\"\ngrants_file = \"/etc/labforge/grants.toml\"\n\
             [[push_on]]\nname = \"harbor\"\nregistry = \"harbor.example:443\"\nusername = \"robot\"\n",
        )
        .unwrap();
        let data_dir = Path::new("/var/lib/labforge");
        assert_eq!(settings.listen.port(), 6001);
        assert_eq!(settings.storage_root(data_dir), data_dir.join("registry"));
        assert_eq!(
            settings.grants_file(data_dir),
            std::path::Path::new("/etc/labforge/grants.toml")
        );
        assert_eq!(settings.push_on[0].username.as_deref(), Some("robot"));
    }
}
