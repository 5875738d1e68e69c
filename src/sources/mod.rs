//! Sources: a git repository, a zip upload or a workspace folder, each brought into a private
//! staging folder under limits on bytes, file count and time. Nothing is ever written outside the
//! staging folder.
//!
//! Layout of a staging folder: `source/` holds the files (the root is `source/` itself, or for a
//! zip whose entries all sit in one folder, that folder); git also uses `git-home/` and
//! `history/` while it runs and removes them. Limits are counted as bytes are written, and
//! every staged tree is inspected at the end (`tree`): whatever wrote it, its counts are
//! recounted and every symbolic link must resolve inside the root.
//!
//! Before the tree is inspected, what its author would not want in an image is removed from it
//! (`exclusions`: `.git`, notebook checkpoints and Python caches, `.dockerignore` and
//! `.gitignore` patterns, files that look like secrets) and reported as [`LeftOut`]. Limits
//! count the source as given; the staged counts are what remains.
//!
//! Modules: `git_url` (which URLs and hosts may be fetched, decided before connecting),
//! `git` (the hardened `git` process), `archive` (zip uploads), `workspace` (workspace
//! folders), `budget` (limits), `error` (the one error type of this domain).

mod archive;
mod budget;
mod error;
mod exclusions;
mod git;
mod git_url;
mod tree;
mod workspace;

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

pub use error::SourceError;
pub use exclusions::LeftOut;

use budget::StagingBudget;
use exclusions::IgnoreFiles;

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
    /// The command line's workspace: folders it builds must be inside this one. (The service
    /// gives every user a workspace of their own instead; see `datalabs::workspaces`.)
    pub workspace_root: PathBuf,
    /// The CA bundle git trusts for https (`LABFORGE_CA_BUNDLE`, the one builds trust): git runs
    /// with a cleared environment, so an institute's own CA reaches it only this way. Set by the
    /// configuration from the engine's bundle, not a setting of its own.
    #[serde(skip)]
    pub ca_bundle: Option<PathBuf>,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024 * 1024,
            max_files: 100_000,
            timeout_seconds: 300,
            allow_http: false,
            allowed_hosts: Vec::new(),
            // The command line builds folders below where it runs; the service configures a real root.
            workspace_root: PathBuf::from("."),
            ca_bundle: None,
        }
    }
}

/// Where a datalab's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A public repository: an https URL and a branch, tag or (full or abbreviated) commit sha;
    /// the default branch when `reference` is `None`. With a `subfolder` (relative to the
    /// repository's root), only that folder is staged, as its own root: one tutorial of a
    /// repository of tutorials.
    Git {
        url: String,
        reference: Option<String>,
        subfolder: Option<String>,
    },
    /// An uploaded zip archive.
    Zip { path: PathBuf },
    /// A folder inside the workspace `root`: `path` is relative to it (or absolute, for the
    /// command line), and must stay inside it once every `..` and link is resolved. The service
    /// gives each user's own workspace as the root; the command line the operator's
    /// `workspace_root`.
    Workspace { root: PathBuf, path: PathBuf },
}

/// A source brought into its staging folder, within the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedSource {
    /// The folder holding the source's files, inside the staging folder.
    pub root: PathBuf,
    /// The commit sha of a git source.
    pub revision: Option<String>,
    /// The URL or path the source came from, for the image's `source` label.
    pub origin: String,
    /// Entries staged: files, folders and links.
    pub files: u64,
    /// Bytes of the staged regular files.
    pub bytes: u64,
    /// What the source held that the image will not.
    pub left_out: LeftOut,
}

/// Brings `source` into `staging_dir`, which must not exist yet (its parent must): it is
/// created with mode 0700 and holds everything the staging writes. On any failure, and if the
/// returned future is dropped before it completes, `staging_dir` is removed entirely.
pub async fn stage(
    source: &Source,
    staging_dir: &Path,
    config: &SourcesConfig,
) -> Result<StagedSource, SourceError> {
    let staging = StagingFolder::create(staging_dir)?;
    let result = stage_into(source, staging_dir, config, Arc::clone(&staging.cancelled)).await;
    if result.is_ok() {
        staging.keep();
    }
    result
}

/// Checks what can be checked of `source` without fetching it: a git URL against the URL policy
/// and its reference against the ref-name rules (the host's addresses are vetted when it is
/// fetched), a workspace folder against the workspace root. The service calls it when a version
/// is registered, so an author hears about a mistake at once rather than from a failed build.
/// Zip archives are checked when they are uploaded and extracted.
pub fn check(source: &Source, config: &SourcesConfig) -> Result<(), SourceError> {
    match source {
        Source::Git {
            url,
            reference,
            subfolder,
        } => {
            git_url::GitUrl::parse(url, config)?;
            reference
                .as_deref()
                .map_or(Ok(()), git::validate_reference)?;
            subfolder.as_deref().map_or(Ok(()), |subfolder| {
                git::validate_subfolder(subfolder).map(drop)
            })
        }
        Source::Zip { .. } => Ok(()),
        Source::Workspace { .. } => check_workspace(source),
    }
}

/// Checks a workspace source: its folder exists and lies inside its workspace once resolved.
pub fn check_workspace(source: &Source) -> Result<(), SourceError> {
    match source {
        Source::Workspace { root, path } => workspace_folder(root, path).map(drop),
        Source::Git { .. } | Source::Zip { .. } => Ok(()),
    }
}

/// The folder `path` of the workspace `root`, every `..` and link resolved, which must lie
/// inside the workspace.
pub fn workspace_folder(root: &Path, path: &Path) -> Result<PathBuf, SourceError> {
    workspace::resolve(path, root)
}

async fn stage_into(
    source: &Source,
    staging_dir: &Path,
    config: &SourcesConfig,
    cancelled: Arc<AtomicBool>,
) -> Result<StagedSource, SourceError> {
    let budget = StagingBudget::new(config, cancelled);
    let content = staging_dir.join("source");
    let (root, revision, origin) = match source {
        Source::Git {
            url,
            reference,
            subfolder,
        } => {
            let fetched = git::fetch(
                url,
                reference.as_deref(),
                subfolder.as_deref(),
                staging_dir,
                config,
                &budget,
            )
            .await?;
            (fetched.root, Some(fetched.revision), url.clone())
        }
        Source::Zip { path } => {
            let archive_path = path.clone();
            let mut budget = budget.fresh();
            let root =
                blocking(move || archive::extract(&archive_path, &content, &mut budget)).await?;
            (root, None, path.display().to_string())
        }
        Source::Workspace { root, path } => {
            let folder = workspace::resolve(path, root)?;
            let origin = folder.display().to_string();
            let mut budget = budget.fresh();
            blocking(move || workspace::copy(&folder, &content, &mut budget)).await?;
            (staging_dir.join("source"), None, origin)
        }
    };
    let ignore_files = match source {
        Source::Git { .. } => IgnoreFiles::Dockerignore,
        Source::Zip { .. } | Source::Workspace { .. } => IgnoreFiles::DockerignoreThenGitignore,
    };
    let mut tally = budget.fresh();
    let inspected_root = root.clone();
    let (left_out, tally) = blocking(move || {
        let left_out = exclusions::leave_out(&inspected_root, ignore_files, &tally)?;
        tree::inspect(&inspected_root, &mut tally)?;
        Ok((left_out, tally))
    })
    .await?;
    Ok(StagedSource {
        root,
        revision,
        origin,
        files: tally.files(),
        bytes: tally.bytes(),
        left_out,
    })
}

/// Runs filesystem work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// The staging folder, removed with everything in it unless the staging succeeded.
struct StagingFolder {
    path: PathBuf,
    cancelled: Arc<AtomicBool>,
    keep: bool,
}

impl StagingFolder {
    fn create(path: &Path) -> Result<Self, SourceError> {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(path)
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    SourceError::StagingExists {
                        path: path.to_path_buf(),
                    }
                } else {
                    SourceError::Filesystem {
                        action: "create the staging folder",
                        path: path.to_path_buf(),
                        source,
                    }
                }
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            cancelled: Arc::default(),
            keep: false,
        })
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for StagingFolder {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        // Stops blocking work still running for a dropped staging.
        self.cancelled.store(true, Ordering::Relaxed);
        if let Err(error) = std::fs::remove_dir_all(&self.path) {
            tracing::error!(path = %self.path.display(), %error, "could not remove a failed staging folder");
        }
    }
}
