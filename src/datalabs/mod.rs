//! Datalabs as authors manage them: a named datalab of a kind, its versions (each with the source
//! it is built from), zip uploads, and the builds of each version with their logs.
//!
//! The Trow rule holds: [`routes`] extract and call one [`DatalabService`] method, which checks
//! the caller's [`visibility::access`] and calls `storage`; nothing here writes SQL. Builds are
//! only queued here; `jobs` runs them.
//!
//! - `service`: datalabs, sharing, uploads and versions; `builds`: queueing, cancelling and the
//!   logs of builds; both are methods of [`DatalabService`].
//! - `views`: what the API shows and takes; [`states`]: the typed states; `names`: the rules for
//!   names and versions; `error`: [`DatalabError`].
//! - [`visibility`]: the one rule of who sees what; [`registry_access`]: the same rule for the
//!   registry; [`events`] and `log_follower`: live build logs.

mod builds;
mod error;
pub mod events;
pub mod examples;
mod export;
mod launchable;
mod log_follower;
pub mod names;
pub mod registry_access;
pub mod routes;
mod service;
mod source_files;
pub mod states;
mod upload;
mod views;
pub mod visibility;
pub mod workspaces;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::licences::MemberStates;
use crate::sources::SourcesConfig;

pub use builds::build_source;
pub use error::DatalabError;
pub use events::BuildEvents;
pub use export::{ExportArchive, ExportManifest, MANIFEST_FILE};
pub use launchable::Launchable;
pub use log_follower::LogEvent;
pub use service::DatalabService;
pub use source_files::{MAX_SOURCE_FILE_BYTES, SourceFile};
pub use states::{BuildStatus, DatalabState, UnknownState, VersionState, Visibility};
pub use views::{
    Build, Datalab, LogLine, NewDatalab, NewVersion, Png, Upload, Version, VersionSource,
};
pub use workspaces::{WorkspaceFolder, Workspaces};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct DatalabsConfig {
    /// Largest zip upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// An upload no version has named for this long is removed.
    pub unused_upload_hours: u32,
    /// Where every user's workspace lives (`<folder>/<user name>`); `<data_dir>/workspaces` when
    /// absent. The launcher mounts the same folders into sessions.
    pub workspaces_dir: Option<PathBuf>,
}

impl Default for DatalabsConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 512 * 1024 * 1024,
            unused_upload_hours: 24,
            workspaces_dir: None,
        }
    }
}

/// What the datalabs service needs of the configuration.
#[derive(Debug, Clone)]
pub struct DatalabSettings {
    pub limits: DatalabsConfig,
    /// How version sources are checked when they are registered.
    pub sources: SourcesConfig,
    pub workspaces: Workspaces,
    /// Uploads live under it (`<data_dir>/uploads`).
    pub data_dir: PathBuf,
    /// Who is in the ESA Member States audience.
    pub member_states: MemberStates,
    /// The rules requirements.txt is read with, when an author edits it.
    pub packaging: crate::recipe::PackagingConfig,
}
