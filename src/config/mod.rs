//! Settings for every module, assembled in one order: built-in defaults, then environment variables
//! (each declared once in [`env`]), then the TOML file named by `LABFORGE_CONFIG`, whose values are
//! the operator's last word.
//!
//! Each domain owns the struct of its own settings (`sources::SourcesConfig`, ...); this module only
//! composes them so that a deployment is described by one file.

pub mod env;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::buildkit::EngineConfig;
use crate::recipe::PackagingConfig;
use crate::sources::SourcesConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}={value:?} is not valid: {expected}")]
    Environment {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("the data folder {path} cannot be made absolute: {source}")]
    DataFolder {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where built images go: by default labforge's own registry (`labforge registry`) on this machine,
/// but any registry that speaks the distribution API works.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryTarget {
    /// `host:port` of the registry, as it appears in image references. Datalabs and base images
    /// live under its `datalabs/` namespace, the one user Dockerfiles name in their FROM line.
    pub address: String,
    /// The account the build service pushes as (the registry's token service checks it).
    pub username: Option<String>,
    pub password: Option<String>,
}

impl Default for RegistryTarget {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:5000".to_owned(),
            username: None,
            password: None,
        }
    }
}

impl RegistryTarget {
    /// The build service's credentials, when configured.
    pub fn credentials(&self) -> Option<crate::images::Credentials> {
        Some(crate::images::Credentials {
            username: self.username.clone()?,
            password: self.password.clone()?,
        })
    }

    /// `registry/datalabs/name`, the repository an image of `name` is pushed to.
    pub fn repository(&self, name: &str) -> String {
        format!("{}/{}", self.address, Self::repository_path(name))
    }

    /// `datalabs/name`: the repository as the registry itself names it, for its access rules.
    pub fn repository_path(name: &str) -> String {
        format!("datalabs/{name}")
    }
}

/// How log events are written to standard error.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How log events are written (the level comes from `RUST_LOG`).
    pub log_format: LogFormat,
    /// Folder for staging areas, the build index and logs.
    pub data_dir: PathBuf,
    /// Version of the base images (`base-images/VERSION`) that datalabs build on.
    pub base_version: String,
    /// Folder holding the base images' Dockerfiles and the root filesystem script.
    pub base_images_dir: PathBuf,
    pub registry: RegistryTarget,
    pub engine: EngineConfig,
    pub sources: SourcesConfig,
    pub packaging: PackagingConfig,
    /// The checks before review: notebooks executed in the built image.
    pub checks: crate::pipeline::checks::ChecksConfig,
    pub registry_server: crate::registry::RegistryServerConfig,
    pub server: crate::http::ServerConfig,
    pub database: crate::storage::DatabaseConfig,
    pub accounts: crate::accounts::AccountsConfig,
    pub datalabs: crate::datalabs::DatalabsConfig,
    pub build_queue: crate::jobs::BuildQueueConfig,
    pub catalog: crate::catalog::CatalogConfig,
    pub licences: crate::licences::LicencesConfig,
    /// Sessions: per-user quotas and lifetimes.
    pub launcher: crate::sessions::LauncherConfig,
    /// The built web UI served at `/`.
    pub ui: crate::ui::UiConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Text,
            data_dir: PathBuf::from(".labforge"),
            base_version: include_str!("../../base-images/VERSION").trim().to_owned(),
            base_images_dir: PathBuf::from("base-images"),
            registry: RegistryTarget::default(),
            engine: EngineConfig::default(),
            sources: SourcesConfig::default(),
            packaging: PackagingConfig::default(),
            checks: crate::pipeline::checks::ChecksConfig::default(),
            registry_server: crate::registry::RegistryServerConfig::default(),
            server: crate::http::ServerConfig::default(),
            database: crate::storage::DatabaseConfig::default(),
            accounts: crate::accounts::AccountsConfig::default(),
            datalabs: crate::datalabs::DatalabsConfig::default(),
            build_queue: crate::jobs::BuildQueueConfig::default(),
            catalog: crate::catalog::CatalogConfig::default(),
            launcher: crate::sessions::LauncherConfig::default(),
            licences: crate::licences::LicencesConfig::default(),
            ui: crate::ui::UiConfig::default(),
        }
    }
}

impl Config {
    /// Defaults, then the environment, then the file named by `LABFORGE_CONFIG` (if any).
    pub fn load() -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.apply_environment(|name| std::env::var(name).ok())?;
        if let Some(path) = std::env::var_os(env::CONFIG.name) {
            config = config.merge_file(Path::new(&path))?;
        }
        config.make_data_folder_absolute()?;
        Ok(config)
    }

    /// The data folder is handed to staging, git, BuildKit's context and the database, some of
    /// which run in other folders: a relative `.labforge` would name a different place for each.
    /// It is made absolute once, against the folder labforge was started in.
    fn make_data_folder_absolute(&mut self) -> Result<(), ConfigError> {
        self.data_dir =
            std::path::absolute(&self.data_dir).map_err(|source| ConfigError::DataFolder {
                path: self.data_dir.clone(),
                source,
            })?;
        Ok(())
    }

    /// Applies every variable of [`env::ALL`] that `lookup` finds.
    pub fn apply_environment(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for variable in env::ALL {
            if let Some(value) = lookup(variable.name) {
                (variable.apply)(self, value)?;
            }
        }
        Ok(())
    }

    /// Overlays the keys present in the TOML file at `path` on `self`.
    pub fn merge_file(self, path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.merge_toml(&text)
            .map_err(|message| ConfigError::Parse {
                path: path.to_owned(),
                message,
            })
    }

    /// The datalabs service's settings.
    pub fn datalab_settings(&self) -> crate::datalabs::DatalabSettings {
        crate::datalabs::DatalabSettings {
            limits: self.datalabs.clone(),
            sources: self.sources_settings(),
            workspaces: self.workspaces(),
            data_dir: self.data_dir.clone(),
            member_states: self.licences.member_states.clone(),
            packaging: self.packaging.clone(),
        }
    }

    /// The sources' settings, with the CA bundle builds trust, which git must trust too.
    fn sources_settings(&self) -> SourcesConfig {
        SourcesConfig {
            ca_bundle: Some(self.engine.ca_bundle.clone()),
            ..self.sources.clone()
        }
    }

    /// The users' workspaces: `datalabs.workspaces_dir`, by default `<data_dir>/workspaces`.
    pub fn workspaces(&self) -> crate::datalabs::Workspaces {
        crate::datalabs::Workspaces::new(
            self.datalabs
                .workspaces_dir
                .clone()
                .unwrap_or_else(|| self.data_dir.join("workspaces")),
        )
    }

    /// What the sessions service needs: its quotas, the workspaces it mounts, the local daemon
    /// and the registry account it pulls with.
    pub fn session_settings(&self) -> crate::sessions::SessionSettings {
        crate::sessions::SessionSettings {
            limits: self.launcher.clone(),
            workspaces: self.workspaces(),
            local_docker_host: self.engine.docker_host.clone(),
            registry: self
                .registry
                .credentials()
                .map(|credentials| (self.registry.address.clone(), credentials)),
            instance: self.instance(),
        }
    }

    /// A stable name of this service among others sharing a Docker daemon: its data folder
    /// (every instance has its own), hashed.
    pub fn instance(&self) -> String {
        use sha2::Digest as _;
        let folder = self
            .data_dir
            .canonicalize()
            .unwrap_or_else(|_| self.data_dir.clone());
        let digest = sha2::Sha256::digest(folder.as_os_str().as_encoded_bytes());
        hex::encode(&digest[..8])
    }

    /// The build pipeline's settings.
    pub fn pipeline_settings(&self) -> crate::pipeline::PipelineSettings {
        crate::pipeline::PipelineSettings {
            data_dir: self.data_dir.clone(),
            base_version: self.base_version.clone(),
            registry: self.registry.clone(),
            engine: self.engine.clone(),
            sources: self.sources_settings(),
            packaging: self.packaging.clone(),
            checks: self.checks.clone(),
        }
    }

    /// The build workers' settings.
    pub fn worker_settings(&self) -> crate::jobs::WorkerSettings {
        crate::jobs::WorkerSettings {
            queue: self.build_queue.clone(),
            pipeline: self.pipeline_settings(),
            workspaces: self.workspaces(),
        }
    }

    /// What building the base images needs.
    pub fn base_image_settings(&self) -> crate::base_images::BaseImageSettings {
        crate::base_images::BaseImageSettings {
            registry: self.registry.clone(),
            base_version: self.base_version.clone(),
            base_images_dir: self.base_images_dir.clone(),
            ca_bundle: self.engine.ca_bundle.clone(),
            data_dir: self.data_dir.clone(),
        }
    }

    /// The grants labforge's registry runs with: the grants file, the build account, the bases.
    pub fn registry_grants(
        &self,
    ) -> Result<crate::registry::access::Grants, crate::registry::GrantsError> {
        crate::registry::standalone_grants(
            &self.registry_server,
            &self.data_dir,
            self.registry.credentials().as_ref(),
        )
    }

    fn merge_toml(self, text: &str) -> Result<Self, String> {
        let overlay: toml::Table = toml::from_str(text).map_err(|error| error.to_string())?;
        let mut base = toml::Table::try_from(&self).map_err(|error| error.to_string())?;
        merge_tables(&mut base, overlay);
        toml::Value::Table(base)
            .try_into()
            .map_err(|error: toml::de::Error| error.to_string())
    }
}

fn merge_tables(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(overlay_inner)) => {
                merge_tables(inner, overlay_inner);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_environment_which_overrides_defaults() {
        let mut config = Config::default();
        config
            .apply_environment(|name| match name {
                "LABFORGE_REGISTRY" => Some("127.0.0.1:6000".to_owned()),
                "LABFORGE_DATA_DIR" => Some("/srv/labforge".to_owned()),
                "LABFORGE_REGISTRY_LISTEN" => Some("127.0.0.1:6001".to_owned()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.registry.address, "127.0.0.1:6000");
        assert_eq!(config.registry_server.listen.port(), 6001);
        let config = config
            .merge_toml("[registry]\naddress = \"10.0.0.1:5000\"\n")
            .unwrap();
        assert_eq!(config.registry.address, "10.0.0.1:5000");
        assert_eq!(
            config.data_dir,
            PathBuf::from("/srv/labforge"),
            "keys absent from the file keep their value"
        );
    }

    #[test]
    fn the_file_replaces_the_esa_member_states_and_a_bad_code_is_refused() {
        let config = Config::default()
            .merge_toml(
                "[licences.member_states]\ntaken = \"2031-06-01\"\n\
                 source = \"an ESA Council decision\"\ncountries = [\"DE\", \"UA\"]\n",
            )
            .unwrap();
        let states = &config.licences.member_states;
        assert!(states.includes("UA") && !states.includes("FR"));
        assert_eq!(states.source(), "an ESA Council decision");
        let error = Config::default()
            .merge_toml("[licences.member_states]\ncountries = [\"Germany\"]\n")
            .unwrap_err();
        assert!(
            error.contains("\"Germany\" is not an ISO 3166-1 alpha-2 code"),
            "{error}"
        );
    }

    #[test]
    fn a_relative_data_folder_is_made_absolute_against_the_current_folder() {
        let mut config = Config::default();
        config.make_data_folder_absolute().unwrap();
        assert_eq!(
            config.data_dir,
            std::env::current_dir().unwrap().join(".labforge")
        );
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused_with_their_name() {
        let error = Config::default()
            .merge_toml("[registry]\nadress = \"x\"\n")
            .unwrap_err();
        assert!(error.contains("adress"), "{error}");
    }

    #[test]
    fn build_queue_and_upload_settings_come_from_the_environment() {
        let mut config = Config::default();
        config
            .apply_environment(|name| match name {
                "LABFORGE_BUILD_CONCURRENCY" => Some("4".to_owned()),
                "LABFORGE_BUILD_LEASE_SECONDS" => Some("30".to_owned()),
                "LABFORGE_MAX_UPLOAD_BYTES" => Some("1048576".to_owned()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.build_queue.concurrency, 4);
        assert_eq!(config.build_queue.lease_seconds, 30);
        assert_eq!(config.datalabs.max_upload_bytes, 1_048_576);
        let error = config
            .apply_environment(|name| (name == "LABFORGE_BUILD_CONCURRENCY").then(|| "two".into()))
            .unwrap_err();
        assert!(
            error.to_string().contains("LABFORGE_BUILD_CONCURRENCY"),
            "{error}"
        );
    }

    #[test]
    fn a_malformed_boolean_names_the_variable() {
        let mut config = Config::default();
        let error = config
            .apply_environment(|name| {
                (name == "LABFORGE_GIT_ALLOW_HTTP").then(|| "maybe".to_owned())
            })
            .unwrap_err();
        assert!(
            error.to_string().contains("LABFORGE_GIT_ALLOW_HTTP"),
            "{error}"
        );
    }

    #[test]
    fn the_layer_compression_comes_from_the_environment_and_a_wrong_one_says_which_exist() {
        let mut config = Config::default();
        assert_eq!(
            config.engine.layer_compression,
            crate::buildkit::LayerCompression::Gzip
        );
        config
            .apply_environment(|name| (name == "LABFORGE_LAYER_COMPRESSION").then(|| "zstd".into()))
            .unwrap();
        assert_eq!(
            config.engine.layer_compression,
            crate::buildkit::LayerCompression::Zstd
        );
        let error = config
            .apply_environment(|name| (name == "LABFORGE_LAYER_COMPRESSION").then(|| "lz4".into()))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("LABFORGE_LAYER_COMPRESSION")
                && error.contains("gzip, zstd or uncompressed"),
            "{error}"
        );
    }
}
