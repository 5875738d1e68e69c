//! Every user's own workspace: `<workspaces root>/<user name>/`, their persistent storage, which a
//! version's `workspace` source names a folder of (relative to it) and which the launcher mounts
//! into their sessions. The service never resolves a workspace path against anything else: a
//! folder that resolves outside the owner's workspace (`..`, an absolute path, a link into another
//! user's workspace) is answered exactly like a folder that does not exist, so nobody learns what
//! other users keep.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::DatalabError;
use crate::sources::Source;

/// The datalab user inside every image (`base-images/`): it owns the workspace it works in.
pub const DATALAB_USER_ID: u32 = 1000;

/// How deep below a workspace folders holding a `metadata.yaml` are looked for.
const MAX_PROJECT_DEPTH: usize = 4;
/// Most folders one listing visits, so that a huge workspace cannot make it slow.
const MAX_FOLDERS_VISITED: usize = 10_000;

/// A folder of a workspace that holds a `metadata.yaml`: something a version can be built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WorkspaceFolder {
    /// Relative to the workspace, as a version's `workspace` source names it.
    pub path: String,
}

/// Where the users' workspaces live.
#[derive(Debug, Clone)]
pub struct Workspaces {
    root: PathBuf,
}

impl Workspaces {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// `user_name`'s workspace, created on first use and handed to the datalab user.
    pub fn of(&self, user_name: &str) -> Result<PathBuf, DatalabError> {
        let folder = self.root.join(user_name);
        if folder.is_dir() {
            return Ok(folder);
        }
        let unavailable = |source| DatalabError::WorkspaceUnavailable {
            path: folder.clone(),
            source,
        };
        fs::create_dir_all(&folder).map_err(unavailable)?;
        match std::os::unix::fs::chown(&folder, Some(DATALAB_USER_ID), Some(DATALAB_USER_ID)) {
            Ok(()) => {}
            // Not running as root (a developer's service): the folder stays the service's own.
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                tracing::warn!(path = %folder.display(), "cannot hand the workspace to uid {DATALAB_USER_ID}: not running as root");
            }
            Err(error) => return Err(unavailable(error)),
        }
        Ok(folder)
    }

    /// The source of `owner`'s workspace folder `path`, which must be relative and lie inside
    /// their workspace once resolved. Every refusal is the same [`DatalabError::UnknownWorkspaceFolder`].
    pub fn source(&self, owner: &str, path: &str) -> Result<Source, DatalabError> {
        self.folder(owner, path)?;
        Ok(Source::Workspace {
            root: self.of(owner)?,
            path: PathBuf::from(path),
        })
    }

    /// `owner`'s workspace folder `path` as it is on disk, with the refusals of [`Self::source`].
    pub fn folder(&self, owner: &str, path: &str) -> Result<PathBuf, DatalabError> {
        let unknown = || DatalabError::UnknownWorkspaceFolder {
            path: path.to_owned(),
        };
        let relative = Path::new(path);
        if path.is_empty() || relative.is_absolute() {
            return Err(unknown());
        }
        crate::sources::workspace_folder(&self.of(owner)?, relative).map_err(|_| unknown())
    }

    /// The folders of `owner`'s workspace that hold a `metadata.yaml`, in path order; hidden
    /// folders and links are not followed.
    pub fn projects(&self, owner: &str) -> Result<Vec<WorkspaceFolder>, DatalabError> {
        let workspace = self.of(owner)?;
        let mut found = Vec::new();
        let mut visited = 0;
        let mut pending = vec![(workspace.clone(), 0)];
        while let Some((folder, depth)) = pending.pop() {
            visited += 1;
            if visited > MAX_FOLDERS_VISITED {
                break;
            }
            if folder != workspace
                && fs::symlink_metadata(folder.join("metadata.yaml"))
                    .is_ok_and(|metadata| metadata.is_file())
            {
                let relative = folder.strip_prefix(&workspace).unwrap_or(&folder);
                found.push(WorkspaceFolder {
                    path: relative.to_string_lossy().into_owned(),
                });
            }
            if depth == MAX_PROJECT_DEPTH {
                continue;
            }
            let Ok(entries) = fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                let is_folder = entry.file_type().is_ok_and(|kind| kind.is_dir());
                if is_folder && !hidden {
                    pending.push((entry.path(), depth + 1));
                }
            }
        }
        found.sort_by(|left, right| left.path.cmp(&right.path));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(folder: &Path) {
        fs::create_dir_all(folder).unwrap();
        fs::write(folder.join("metadata.yaml"), "title: x\n").unwrap();
    }

    #[test]
    fn a_folder_outside_the_owners_workspace_is_refused_like_a_missing_one() {
        let root = tempfile::tempdir().unwrap();
        let workspaces = Workspaces::new(root.path().to_owned());
        lab(&workspaces.of("bob").unwrap().join("lab"));
        let alice = workspaces.of("alice").unwrap();
        lab(&alice.join("mine"));
        std::os::unix::fs::symlink(root.path().join("bob/lab"), alice.join("borrowed")).unwrap();

        assert!(workspaces.source("alice", "mine").is_ok());
        let bob_lab = root.path().join("bob/lab").display().to_string();
        let refusals: Vec<String> = [
            "../bob/lab",
            bob_lab.as_str(),
            "borrowed",
            "..",
            "",
            ".",
            "missing",
        ]
        .iter()
        .map(|path| {
            let error = workspaces.source("alice", path).unwrap_err();
            assert!(
                matches!(error, DatalabError::UnknownWorkspaceFolder { .. }),
                "{path}: {error}"
            );
            error.to_string().replace(&format!("{path:?}"), "PATH")
        })
        .collect();
        assert!(
            refusals.windows(2).all(|pair| pair[0] == pair[1]),
            "every refusal reads the same: {refusals:?}"
        );
    }

    #[test]
    fn projects_are_the_folders_with_metadata_below_the_workspace() {
        let root = tempfile::tempdir().unwrap();
        let workspaces = Workspaces::new(root.path().to_owned());
        let alice = workspaces.of("alice").unwrap();
        lab(&alice.join("lab-a"));
        lab(&alice.join("tutorials/lab-b"));
        lab(&alice.join(".hidden/lab-c"));
        fs::create_dir_all(alice.join("data")).unwrap();
        lab(&workspaces.of("bob").unwrap().join("bobs"));
        std::os::unix::fs::symlink(root.path().join("bob"), alice.join("link")).unwrap();
        let paths: Vec<String> = workspaces
            .projects("alice")
            .unwrap()
            .into_iter()
            .map(|folder| folder.path)
            .collect();
        assert_eq!(paths, ["lab-a", "tutorials/lab-b"]);
    }
}
