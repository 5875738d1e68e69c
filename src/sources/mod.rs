//! Sources: a git repository, a zip upload or a workspace folder, each brought into a private
//! staging folder under limits on bytes, file count and time. Nothing is ever written outside the
//! staging folder.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    /// Largest total of file bytes a source may stage.
    pub max_bytes: u64,
    /// Largest number of entries (files, folders, links) a source may stage.
    pub max_files: u64,
    /// Longest a fetch or extraction may take.
    pub timeout_seconds: u64,
    /// Whether plain `http://` git URLs are accepted.
    pub allow_http: bool,
    /// Hosts or IP addresses that git URLs may use although they resolve to loopback, private or
    /// link-local addresses.
    pub allowed_hosts: Vec<String>,
    /// Workspace sources must be folders inside this one.
    pub workspace_root: PathBuf,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024 * 1024,
            max_files: 100_000,
            timeout_seconds: 300,
            allow_http: false,
            allowed_hosts: Vec::new(),
            workspace_root: PathBuf::from("/srv/labforge/workspaces"),
        }
    }
}
