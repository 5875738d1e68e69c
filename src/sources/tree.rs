//! Inspection of a staged tree: the final word on how many entries and bytes a source holds and
//! on every symbolic link staying inside it, whatever wrote the tree.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

use super::budget::StagingBudget;
use super::error::SourceError;

/// Walks `root` without following links, counts every entry and byte against `budget`, refuses
/// special files and symbolic links that do not resolve inside `root`.
pub fn inspect(root: &Path, budget: &mut StagingBudget) -> Result<(), SourceError> {
    let root = canonical(root)?;
    let mut folders = vec![root.clone()];
    while let Some(folder) = folders.pop() {
        budget.check_time("checking the staged files")?;
        for path in sorted_children(&folder)? {
            let entry = relative_name(&root, &path);
            let metadata =
                fs::symlink_metadata(&path).map_err(|source| SourceError::Filesystem {
                    action: "inspect",
                    path: path.clone(),
                    source,
                })?;
            budget.add_entry(&entry)?;
            let file_type = metadata.file_type();
            if file_type.is_dir() {
                folders.push(path);
            } else if file_type.is_file() {
                budget.add_bytes(&entry, metadata.len())?;
            } else if file_type.is_symlink() {
                check_link_stays_inside(&root, &path, &entry)?;
            } else {
                return Err(SourceError::UnsupportedFileType {
                    path: entry,
                    kind: special_kind(&metadata),
                });
            }
        }
    }
    Ok(())
}

/// Refuses the symbolic link at `link` unless its target resolves, through any other links,
/// to a path inside `root` (which must be canonical). Absolute targets are always refused: the
/// staged tree moves into an image, where they would point elsewhere. A dangling target is
/// accepted only when the part of it that exists already lies inside `root`.
pub fn check_link_stays_inside(root: &Path, link: &Path, entry: &str) -> Result<(), SourceError> {
    let target = fs::read_link(link).map_err(|source| SourceError::Filesystem {
        action: "read the symbolic link",
        path: link.to_path_buf(),
        source,
    })?;
    let escapes = || SourceError::SymlinkEscapes {
        path: entry.to_owned(),
        target: target.clone(),
    };
    if target.is_absolute() {
        return Err(escapes());
    }
    let joined = link.parent().unwrap_or(root).join(&target);
    match fs::canonicalize(&joined) {
        Ok(resolved) if resolved.starts_with(root) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // Dangling: the longest existing prefix must resolve inside, and what follows it
            // must be plain names, so that nothing created later can lead outside.
            let existing = joined
                .ancestors()
                .find_map(|ancestor| Some((ancestor, fs::canonicalize(ancestor).ok()?)));
            match existing {
                Some((ancestor, resolved)) if resolved.starts_with(root) => {
                    let rest = joined.strip_prefix(ancestor).map_err(|_| escapes())?;
                    if rest
                        .components()
                        .all(|component| matches!(component, Component::Normal(_)))
                    {
                        Ok(())
                    } else {
                        Err(escapes())
                    }
                }
                _ => Err(escapes()),
            }
        }
        Ok(_) | Err(_) => Err(escapes()),
    }
}

pub fn canonical(path: &Path) -> Result<PathBuf, SourceError> {
    fs::canonicalize(path).map_err(|source| SourceError::Filesystem {
        action: "resolve",
        path: path.to_path_buf(),
        source,
    })
}

/// Children of `folder`, sorted so that errors name the same entry on every run.
pub fn sorted_children(folder: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let read_error = |source| SourceError::Filesystem {
        action: "list",
        path: folder.to_path_buf(),
        source,
    };
    let mut children = fs::read_dir(folder)
        .map_err(read_error)?
        .map(|child| child.map(|child| child.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    children.sort();
    Ok(children)
}

/// The `/`-separated path of `path` under `root`, as errors show it to the author.
pub fn relative_name(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

pub fn special_kind(metadata: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let file_type = metadata.file_type();
    if file_type.is_fifo() {
        "named pipe"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

/// Creates one folder (never its parents) inside the staging area.
pub(super) fn create_folder(path: &Path) -> Result<(), SourceError> {
    DirBuilder::new()
        .mode(0o755)
        .create(path)
        .map_err(|source| SourceError::Filesystem {
            action: "create the folder",
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::sync::Arc;

    use super::*;
    use crate::sources::SourcesConfig;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let temporary = tempfile::tempdir().unwrap();
        let root = temporary.path().join("root");
        fs::create_dir_all(root.join("notebooks/deep")).unwrap();
        fs::write(root.join("notebooks/analysis.ipynb"), b"{}").unwrap();
        let root = fs::canonicalize(root).unwrap();
        (temporary, root)
    }

    fn check(root: &Path, link: &str) -> Result<(), SourceError> {
        check_link_stays_inside(root, &root.join(link), link)
    }

    #[test]
    fn links_inside_the_root_are_kept() {
        let (_temporary, root) = tree();
        symlink("notebooks/analysis.ipynb", root.join("main.ipynb")).unwrap();
        symlink("../analysis.ipynb", root.join("notebooks/deep/up.ipynb")).unwrap();
        symlink("notebooks/not-yet.txt", root.join("dangling")).unwrap();
        check(&root, "main.ipynb").unwrap();
        check(&root, "notebooks/deep/up.ipynb").unwrap();
        check(&root, "dangling").unwrap();
    }

    #[test]
    fn links_leaving_the_root_are_refused() {
        let (_temporary, root) = tree();
        symlink("../../etc/passwd", root.join("passwd")).unwrap();
        symlink("/etc/passwd", root.join("absolute")).unwrap();
        symlink("..", root.join("notebooks/parent")).unwrap();
        // Lexically `notebooks/parent/..` is `notebooks`, physically it is the root's parent.
        symlink("notebooks/parent/../outside", root.join("through-link")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        for link in ["passwd", "absolute", "through-link", "loop"] {
            let error = check(&root, link).unwrap_err();
            assert!(
                matches!(&error, SourceError::SymlinkEscapes { path, .. } if path == link),
                "{link}: {error}"
            );
        }
        assert_eq!(
            check(&root, "passwd").unwrap_err().to_string(),
            "symbolic link `passwd` points to `../../etc/passwd`, which does not resolve inside \
             the source; replace it with the file itself or a relative link that stays inside \
             the source"
        );
    }

    #[test]
    fn inspection_counts_entries_and_bytes() {
        let (_temporary, root) = tree();
        let mut budget = StagingBudget::new(&SourcesConfig::default(), Arc::default());
        inspect(&root, &mut budget).unwrap();
        // notebooks, notebooks/deep, notebooks/analysis.ipynb
        assert_eq!((budget.files(), budget.bytes()), (3, 2));
    }
}
