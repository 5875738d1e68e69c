//! Workspace folders: a folder under the workspace root, copied into staging without ever
//! following a link. Links that stay inside the folder are kept as (relative) links; any other
//! link is refused by name.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::budget::StagingBudget;
use super::error::SourceError;
use super::tree;

/// Resolves `folder` (absolute, or relative to `workspace_root`) and checks that it lies inside
/// the root once every `..` and link is resolved.
pub fn resolve(folder: &Path, workspace_root: &Path) -> Result<PathBuf, SourceError> {
    let unreadable = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SourceError::WorkspaceUnreadable { path, source }
    };
    let root = fs::canonicalize(workspace_root).map_err(unreadable(workspace_root))?;
    let requested = workspace_root.join(folder);
    let resolved = fs::canonicalize(&requested).map_err(unreadable(&requested))?;
    if resolved == root || !resolved.starts_with(&root) {
        return Err(SourceError::WorkspaceOutsideRoot {
            path: requested,
            root: workspace_root.to_path_buf(),
        });
    }
    if !resolved.is_dir() {
        return Err(SourceError::WorkspaceNotAFolder { path: requested });
    }
    Ok(resolved)
}

/// Copies the canonical folder `source` into `destination`, which must not exist.
pub fn copy(
    source: &Path,
    destination: &Path,
    budget: &mut StagingBudget,
) -> Result<(), SourceError> {
    tree::create_folder(destination)?;
    let mut folders = vec![(source.to_path_buf(), destination.to_path_buf())];
    while let Some((from_folder, to_folder)) = folders.pop() {
        for from in tree::sorted_children(&from_folder)? {
            budget.check_time("copying the workspace folder")?;
            let entry = tree::relative_name(source, &from);
            let to = to_folder.join(from.file_name().unwrap_or_default());
            let metadata =
                fs::symlink_metadata(&from).map_err(|source| SourceError::WorkspaceUnreadable {
                    path: from.clone(),
                    source,
                })?;
            budget.add_entry(&entry)?;
            let file_type = metadata.file_type();
            if file_type.is_dir() {
                tree::create_folder(&to)?;
                folders.push((from, to));
            } else if file_type.is_file() {
                copy_file(&from, &to, &entry, metadata.permissions().mode(), budget)?;
            } else if file_type.is_symlink() {
                let target = link_target(source, &from, &entry)?;
                std::os::unix::fs::symlink(&target, &to).map_err(|source| {
                    SourceError::Filesystem {
                        action: "create the symbolic link",
                        path: to.clone(),
                        source,
                    }
                })?;
            } else {
                return Err(SourceError::UnsupportedFileType {
                    path: entry,
                    kind: tree::special_kind(&metadata),
                });
            }
        }
    }
    Ok(())
}

/// The target to give the staged copy of `link`: its own target when relative and inside,
/// or the equivalent relative path when it is absolute and points inside `source`.
fn link_target(source: &Path, link: &Path, entry: &str) -> Result<PathBuf, SourceError> {
    let target = fs::read_link(link).map_err(|error| SourceError::WorkspaceUnreadable {
        path: link.to_path_buf(),
        source: error,
    })?;
    if target.is_relative() {
        tree::check_link_stays_inside(source, link, entry)?;
        return Ok(target);
    }
    let escapes = || SourceError::SymlinkEscapes {
        path: entry.to_owned(),
        target: target.clone(),
    };
    let resolved = fs::canonicalize(&target).map_err(|_| escapes())?;
    let inside = resolved.strip_prefix(source).map_err(|_| escapes())?;
    let depth = link
        .parent()
        .and_then(|parent| parent.strip_prefix(source).ok())
        .map_or(0, |parent| {
            parent
                .components()
                .filter(|component| matches!(component, Component::Normal(_)))
                .count()
        });
    let mut relative: PathBuf = std::iter::repeat_n(Component::ParentDir, depth).collect();
    relative.push(inside);
    if relative.as_os_str().is_empty() {
        relative.push(".");
    }
    Ok(relative)
}

fn copy_file(
    from: &Path,
    to: &Path,
    entry: &str,
    mode: u32,
    budget: &mut StagingBudget,
) -> Result<(), SourceError> {
    // O_NOFOLLOW: a file swapped for a link after it was inspected is not followed.
    let mut input = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(from)
        .map_err(|source| SourceError::WorkspaceUnreadable {
            path: from.to_path_buf(),
            source,
        })?;
    let mut output = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if mode & 0o111 == 0 { 0o644 } else { 0o755 })
        .open(to)
        .map_err(|source| SourceError::Filesystem {
            action: "create the file",
            path: to.to_path_buf(),
            source,
        })?;
    budget.copy(
        entry,
        &mut input,
        &mut output,
        "copying the workspace folder",
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn folders_inside_the_root_resolve() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("alice/lab")).unwrap();
        let resolved = resolve(Path::new("alice/lab"), root.path()).unwrap();
        assert_eq!(
            resolved,
            fs::canonicalize(root.path().join("alice/lab")).unwrap()
        );
        let absolute = resolve(&root.path().join("alice/lab"), root.path()).unwrap();
        assert_eq!(absolute, resolved);
    }

    #[test]
    fn escapes_are_refused() {
        let temporary = tempfile::tempdir().unwrap();
        let root = temporary.path().join("workspaces");
        fs::create_dir_all(root.join("alice")).unwrap();
        fs::create_dir_all(temporary.path().join("elsewhere")).unwrap();
        symlink(temporary.path().join("elsewhere"), root.join("alice/away")).unwrap();
        for folder in [
            "alice/../../elsewhere",
            "/etc",
            "alice/away",
            "alice/..",
            ".",
        ] {
            assert!(
                matches!(
                    resolve(Path::new(folder), &root),
                    Err(SourceError::WorkspaceOutsideRoot { .. })
                ),
                "{folder}"
            );
        }
        fs::write(root.join("alice/notes.txt"), b"x").unwrap();
        assert!(matches!(
            resolve(Path::new("alice/notes.txt"), &root),
            Err(SourceError::WorkspaceNotAFolder { .. })
        ));
    }

    #[test]
    fn absolute_links_inside_become_relative() {
        let temporary = tempfile::tempdir().unwrap();
        let source = fs::canonicalize(temporary.path()).unwrap();
        fs::create_dir_all(source.join("data/deep")).unwrap();
        fs::write(source.join("data/table.csv"), b"a,b").unwrap();
        symlink(
            source.join("data/table.csv"),
            source.join("data/deep/table.csv"),
        )
        .unwrap();
        let target = link_target(&source, &source.join("data/deep/table.csv"), "x").unwrap();
        assert_eq!(target, Path::new("../../data/table.csv"));
    }
}
