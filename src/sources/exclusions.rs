//! What a staged source leaves out of the image: entries removed from the staged tree before it
//! is inspected, counted, and reported in the build log.
//!
//! Authors publish repositories as they work in them, with git history, editor caches and
//! sometimes credentials beside the notebooks. An image is public once the datalab is, so the
//! staged tree is pruned before anything else reads it. For every entry, from the root down,
//! the first of these rules that applies decides:
//!
//! 1. `.git` (a folder, or a worktree's file) is always left out.
//! 2. Folders named `.ipynb_checkpoints` or `__pycache__` are always left out: JupyterLab and
//!    Python regenerate them.
//! 3. The root's `.dockerignore`: an excluding pattern leaves the entry out; a `!` pattern keeps
//!    it, even when it looks like a secret (an author who wants `certs/ca.pem` in the image says
//!    so there).
//! 4. `.gitignore` files (workspace folders and zip uploads only: a git source's tracked files
//!    are what its author committed, ignored or not), the deepest folder's first, as git reads
//!    them.
//! 5. Files that look like secrets ([`SECRET_NAMES`], [`SECRET_EXTENSIONS`]) are left out with a
//!    warning that names them.
//!
//! Pattern semantics, from the `ignore` crate's gitignore matcher:
//! - `#` starts a comment, blank lines are skipped, trailing unescaped spaces are dropped;
//! - `!pattern` re-includes what an earlier pattern of the same file excluded;
//! - `*`, `?` and `[...]` do not cross `/`; `**` matches any number of folders (`**/x`, `a/**`,
//!   `a/**/b`);
//! - a trailing `/` matches folders only;
//! - in `.gitignore`, a pattern with a `/` at its start or in its middle is anchored to the
//!   folder holding the file, one without matches at any depth; in `.dockerignore` every pattern
//!   is anchored to the root, as Docker reads it (`*.pem` is the root's `.pem` files; write
//!   `**/*.pem` for every folder);
//! - as in git, nothing inside a left-out folder can be re-included: write `data/*` then
//!   `!data/keep.csv` rather than `data` then `!data/keep.csv`. (Docker itself can re-include
//!   there; this is the one place where a `.dockerignore` reads differently.)
//!
//! Ignore files are read only when they are regular files (never through a link) and up to
//! [`MAX_IGNORE_FILE`] bytes. A `.dockerignore` line that is not a valid pattern is refused, as
//! Docker refuses it; a `.gitignore` line is skipped with a warning, as git skips it.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::budget::StagingBudget;
use super::error::SourceError;
use super::tree;

/// Largest ignore file read; the rest of a larger one is not read.
pub const MAX_IGNORE_FILE: u64 = 1024 * 1024;

/// Folders that tools regenerate and that never belong in an image.
const GENERATED_FOLDERS: [&str; 2] = [".ipynb_checkpoints", "__pycache__"];

/// File names that hold credentials: environment files, private keys, login files.
pub const SECRET_NAMES: [&str; 7] = [
    ".env",
    ".netrc",
    ".pypirc",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
];

/// Extensions of key and certificate stores.
pub const SECRET_EXTENSIONS: [&str; 3] = ["pem", "p12", "pfx"];

/// Which ignore files a source's author meant for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreFiles {
    /// Git sources: their tracked files are the author's choice, `.gitignore` or not.
    Dockerignore,
    /// Workspace folders and zip uploads: copies of a working tree.
    DockerignoreThenGitignore,
}

/// What was left out of a staged tree, for the build log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// Entries removed (files, folders, links), counting everything a removed folder held.
    pub files: u64,
    /// Bytes of the regular files removed.
    pub bytes: u64,
    /// Files left out because they look like secrets, by path under the root: the author should
    /// know they were in the source, and rotate them if it was ever shared.
    pub secrets: Vec<String>,
    /// `.gitignore` lines that could not be read as patterns and were skipped.
    pub warnings: Vec<String>,
}

/// Why an entry is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Rule,
    Secret,
}

/// Removes from the tree at `root` every entry the rules above leave out, and reports them.
pub fn leave_out(
    root: &Path,
    ignore_files: IgnoreFiles,
    budget: &StagingBudget,
) -> Result<LeftOut, SourceError> {
    let root = tree::canonical(root)?;
    let dockerignore = read_dockerignore(&root)?;
    let mut left_out = LeftOut::default();
    let mut folders: Vec<(PathBuf, Vec<Arc<Gitignore>>)> = vec![(root.clone(), Vec::new())];
    while let Some((folder, mut gitignores)) = folders.pop() {
        budget.check_time("leaving out ignored files")?;
        if ignore_files == IgnoreFiles::DockerignoreThenGitignore
            && let Some(gitignore) = read_gitignore(&root, &folder, &mut left_out.warnings)?
        {
            gitignores.push(Arc::new(gitignore));
        }
        for path in tree::sorted_children(&folder)? {
            let is_folder = symlink_metadata(&path)?.is_dir();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            match decide(&path, &name, is_folder, &dockerignore, &gitignores) {
                None if is_folder => folders.push((path, gitignores.clone())),
                None => {}
                Some(reason) => {
                    let (files, bytes) = remove(&path, is_folder, budget)?;
                    left_out.files += files;
                    left_out.bytes += bytes;
                    if reason == Reason::Secret {
                        left_out.secrets.push(tree::relative_name(&root, &path));
                    }
                }
            }
        }
    }
    left_out.secrets.sort();
    Ok(left_out)
}

/// Whether the entry at `path` is left out, and why; `None` keeps it.
fn decide(
    path: &Path,
    name: &str,
    is_folder: bool,
    dockerignore: &Gitignore,
    gitignores: &[Arc<Gitignore>],
) -> Option<Reason> {
    if name == ".git" || (is_folder && GENERATED_FOLDERS.contains(&name)) {
        return Some(Reason::Rule);
    }
    match dockerignore.matched(path, is_folder) {
        Match::Ignore(_) => return Some(Reason::Rule),
        Match::Whitelist(_) => return None,
        Match::None => {}
    }
    for gitignore in gitignores.iter().rev() {
        match gitignore.matched(path, is_folder) {
            Match::Ignore(_) => return Some(Reason::Rule),
            Match::Whitelist(_) => break,
            Match::None => {}
        }
    }
    (!is_folder && looks_like_secret(name)).then_some(Reason::Secret)
}

/// Whether a file's name says it holds credentials.
pub fn looks_like_secret(name: &str) -> bool {
    SECRET_NAMES.contains(&name)
        || Path::new(name)
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| {
                SECRET_EXTENSIONS
                    .iter()
                    .any(|secret| extension.eq_ignore_ascii_case(secret))
            })
}

/// The root's `.dockerignore`, every pattern anchored to the root as Docker reads it.
fn read_dockerignore(root: &Path) -> Result<Gitignore, SourceError> {
    let path = root.join(".dockerignore");
    let mut builder = GitignoreBuilder::new(root);
    builder.allow_unclosed_class(false);
    if let Some(text) = read_ignore_file(&path)? {
        for (index, line) in text.lines().enumerate() {
            let Some(anchored) = anchor_dockerignore_line(line) else {
                continue;
            };
            builder
                .add_line(Some(path.clone()), &anchored)
                .map_err(|error| SourceError::DockerignorePatternInvalid {
                    line: index + 1,
                    pattern: line.trim().to_owned(),
                    reason: pattern_error(&error),
                })?;
        }
    }
    builder
        .build()
        .map_err(|error| SourceError::DockerignoreUnusable {
            reason: pattern_error(&error),
        })
}

/// A `.dockerignore` line as an equivalent root-anchored gitignore line, `None` for comments and
/// blank lines. Docker cleans each pattern as a path: a leading `/` or `./` means the root anyway.
fn anchor_dockerignore_line(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (negation, pattern) = match line.strip_prefix('!') {
        Some(pattern) => ("!", pattern.trim_start()),
        None => ("", line),
    };
    let pattern = pattern.trim_start_matches("./").trim_start_matches('/');
    (!pattern.is_empty()).then(|| format!("{negation}/{pattern}"))
}

/// The `.gitignore` of `folder`, if it has one; lines that are not patterns become warnings.
fn read_gitignore(
    root: &Path,
    folder: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<Gitignore>, SourceError> {
    let path = folder.join(".gitignore");
    let Some(text) = read_ignore_file(&path)? else {
        return Ok(None);
    };
    let mut builder = GitignoreBuilder::new(folder);
    builder.allow_unclosed_class(true);
    for (index, line) in text.lines().enumerate() {
        if let Err(error) = builder.add_line(Some(path.clone()), line) {
            warnings.push(format!(
                "{}:{}: `{}` is not a pattern ({}); skipped, as git skips it",
                tree::relative_name(root, &path),
                index + 1,
                line.trim(),
                pattern_error(&error)
            ));
        }
    }
    match builder.build() {
        Ok(gitignore) => Ok(Some(gitignore)),
        Err(error) => {
            warnings.push(format!(
                "{}: not used ({})",
                tree::relative_name(root, &path),
                pattern_error(&error)
            ));
            Ok(None)
        }
    }
}

/// The text of an ignore file when it is a regular file (a link is not followed), up to
/// [`MAX_IGNORE_FILE`] bytes.
fn read_ignore_file(path: &Path) -> Result<Option<String>, SourceError> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_file() => {}
        Ok(_) => return Ok(None),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SourceError::Filesystem {
                action: "inspect",
                path: path.to_path_buf(),
                source,
            });
        }
    }
    let unreadable = |source| SourceError::Filesystem {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    fs::File::open(path)
        .map_err(unreadable)?
        .take(MAX_IGNORE_FILE)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// The glob error alone: the crate's message repeats the pattern, which the caller names.
fn pattern_error(error: &ignore::Error) -> String {
    match error {
        ignore::Error::Glob { err, .. } => err.clone(),
        other => other.to_string(),
    }
}

/// Removes the entry at `path` (a folder with everything in it, never following a link) and
/// returns the entries and the bytes of regular files it held.
fn remove(path: &Path, is_folder: bool, budget: &StagingBudget) -> Result<(u64, u64), SourceError> {
    let mut files = 1;
    let mut bytes = 0;
    let removed = if is_folder {
        let mut folders = vec![path.to_path_buf()];
        while let Some(folder) = folders.pop() {
            budget.check_time("leaving out ignored files")?;
            for child in tree::sorted_children(&folder)? {
                let metadata = symlink_metadata(&child)?;
                files += 1;
                if metadata.is_dir() {
                    folders.push(child);
                } else if metadata.is_file() {
                    bytes += metadata.len();
                }
            }
        }
        fs::remove_dir_all(path)
    } else {
        let metadata = symlink_metadata(path)?;
        if metadata.is_file() {
            bytes = metadata.len();
        }
        fs::remove_file(path)
    };
    removed.map_err(|source| SourceError::Filesystem {
        action: "remove",
        path: path.to_path_buf(),
        source,
    })?;
    Ok((files, bytes))
}

fn symlink_metadata(path: &Path) -> Result<fs::Metadata, SourceError> {
    fs::symlink_metadata(path).map_err(|source| SourceError::Filesystem {
        action: "inspect",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::sources::SourcesConfig;

    /// A working tree as authors publish it.
    fn repository() -> (tempfile::TempDir, PathBuf) {
        let temporary = tempfile::tempdir().unwrap();
        let root = temporary.path().join("lab");
        for folder in [
            ".git/objects/pack",
            ".ipynb_checkpoints",
            "notebooks/.ipynb_checkpoints",
            "src/__pycache__",
            "data/raw",
            "certs",
        ] {
            fs::create_dir_all(root.join(folder)).unwrap();
        }
        for (file, text) in [
            (".git/HEAD", "ref: refs/heads/main\n"),
            (".git/objects/pack/pack-1.pack", "0123456789"),
            (".ipynb_checkpoints/analysis-checkpoint.ipynb", "{}"),
            ("notebooks/.ipynb_checkpoints/x-checkpoint.ipynb", "{}"),
            ("notebooks/analysis.ipynb", "{}"),
            ("src/__pycache__/lab.cpython-312.pyc", "pyc"),
            ("src/lab.py", "print()\n"),
            ("data/raw/big.fits", "FITS-DATA"),
            ("data/small.csv", "a,b\n"),
            (".env", "TOKEN=secret\n"),
            ("certs/server.pem", "-----BEGIN-----"),
            ("certs/ca.PEM", "-----BEGIN-----"),
            ("metadata.yaml", "title: Lab\n"),
            (".gitignore", "data/raw/\n*.log\n"),
            ("notebooks/run.log", "log"),
        ] {
            fs::write(root.join(file), text).unwrap();
        }
        (temporary, root)
    }

    fn budget() -> StagingBudget {
        StagingBudget::new(&SourcesConfig::default(), Arc::default())
    }

    fn remaining(root: &Path) -> Vec<String> {
        let mut names = Vec::new();
        let mut folders = vec![root.to_path_buf()];
        while let Some(folder) = folders.pop() {
            for path in tree::sorted_children(&folder).unwrap() {
                if fs::symlink_metadata(&path).unwrap().is_dir() {
                    folders.push(path.clone());
                }
                names.push(tree::relative_name(root, &path));
            }
        }
        names.sort();
        names
    }

    fn has(names: &[String], name: &str) -> bool {
        names.iter().any(|kept| kept == name)
    }

    #[test]
    fn history_caches_ignored_files_and_secrets_are_left_out() {
        let (_temporary, root) = repository();
        let left_out = leave_out(&root, IgnoreFiles::DockerignoreThenGitignore, &budget()).unwrap();
        assert_eq!(
            remaining(&root),
            [
                ".gitignore",
                "certs",
                "data",
                "data/small.csv",
                "metadata.yaml",
                "notebooks",
                "notebooks/analysis.ipynb",
                "src",
                "src/lab.py",
            ]
        );
        assert_eq!(
            left_out.secrets,
            [".env", "certs/ca.PEM", "certs/server.pem"]
        );
        // .git (5 entries), two checkpoint folders (2 each), __pycache__ (2), data/raw (2),
        // run.log, .env and the two certificates.
        assert_eq!(left_out.files, 5 + 4 + 2 + 2 + 1 + 3);
        assert_eq!(left_out.bytes, 21 + 10 + 2 + 2 + 3 + 9 + 3 + 13 + 15 + 15);
        assert!(left_out.warnings.is_empty());
    }

    #[test]
    fn dockerignore_comes_first_and_can_keep_a_secret_looking_file() {
        let (_temporary, root) = repository();
        fs::write(
            root.join(".dockerignore"),
            "# the data stays in its volume\n/data\n!certs/ca.PEM\n!notebooks/run.log\n",
        )
        .unwrap();
        let left_out = leave_out(&root, IgnoreFiles::DockerignoreThenGitignore, &budget()).unwrap();
        let kept = remaining(&root);
        assert!(has(&kept, "certs/ca.PEM"), "{kept:?}");
        assert!(has(&kept, "notebooks/run.log"), "{kept:?}");
        assert!(
            !kept.iter().any(|name| name.starts_with("data")),
            "{kept:?}"
        );
        assert_eq!(left_out.secrets, [".env", "certs/server.pem"]);
    }

    #[test]
    fn dockerignore_patterns_are_anchored_at_the_root() {
        let (_temporary, root) = repository();
        fs::write(root.join(".dockerignore"), "*.csv\n**/*.py\n").unwrap();
        fs::write(root.join("top.csv"), "x").unwrap();
        leave_out(&root, IgnoreFiles::Dockerignore, &budget()).unwrap();
        let kept = remaining(&root);
        assert!(!has(&kept, "top.csv"), "{kept:?}");
        assert!(has(&kept, "data/small.csv"), "{kept:?}");
        assert!(!has(&kept, "src/lab.py"), "{kept:?}");
        // Git sources do not read .gitignore: the committed data stays.
        assert!(has(&kept, "data/raw/big.fits"), "{kept:?}");
    }

    #[test]
    fn gitignore_negation_double_star_folders_only_anchoring_and_nesting() {
        let (_temporary, root) = repository();
        fs::write(
            root.join(".gitignore"),
            "data/*\n!data/small.csv\n**/deep/**\nbuild/\n/top-only.txt\n",
        )
        .unwrap();
        fs::create_dir_all(root.join("a/deep/er")).unwrap();
        fs::write(root.join("a/deep/er/x.txt"), "x").unwrap();
        fs::write(root.join("build"), "a file named build stays").unwrap();
        fs::create_dir_all(root.join("notebooks/sub")).unwrap();
        fs::write(
            root.join("notebooks/top-only.txt"),
            "kept: anchored elsewhere",
        )
        .unwrap();
        fs::write(root.join("top-only.txt"), "left out").unwrap();
        fs::write(root.join("notebooks/.gitignore"), "*.ipynb\n!keep.ipynb\n").unwrap();
        fs::write(root.join("notebooks/sub/keep.ipynb"), "{}").unwrap();
        fs::write(root.join("notebooks/sub/drop.ipynb"), "{}").unwrap();
        leave_out(&root, IgnoreFiles::DockerignoreThenGitignore, &budget()).unwrap();
        let kept = remaining(&root);
        for name in [
            "data/small.csv",
            "build",
            "notebooks/top-only.txt",
            "notebooks/sub/keep.ipynb",
            "a/deep",
        ] {
            assert!(has(&kept, name), "{name}: {kept:?}");
        }
        for name in [
            "data/raw",
            "a/deep/er",
            "top-only.txt",
            "notebooks/analysis.ipynb",
            "notebooks/sub/drop.ipynb",
        ] {
            assert!(!has(&kept, name), "{name}: {kept:?}");
        }
    }

    #[test]
    fn ignore_files_behind_links_are_not_read_and_links_are_removed_not_followed() {
        let temporary = tempfile::tempdir().unwrap();
        let outside = temporary.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("rules"), "*\n").unwrap();
        fs::write(outside.join("keep.env"), "stays").unwrap();
        let root = temporary.path().join("lab");
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("notebook.ipynb"), "{}").unwrap();
        symlink(outside.join("rules"), root.join(".gitignore")).unwrap();
        symlink(&outside, root.join(".git")).unwrap();
        leave_out(&root, IgnoreFiles::DockerignoreThenGitignore, &budget()).unwrap();
        assert_eq!(remaining(&root), [".gitignore", "notebook.ipynb"]);
        assert!(outside.join("keep.env").exists());
    }

    #[test]
    fn an_invalid_dockerignore_pattern_is_refused_with_its_line() {
        let (_temporary, root) = repository();
        fs::write(root.join(".dockerignore"), "data\n[unclosed\n").unwrap();
        let error = leave_out(&root, IgnoreFiles::Dockerignore, &budget()).unwrap_err();
        assert!(
            matches!(&error, SourceError::DockerignorePatternInvalid { line: 2, pattern, .. } if pattern == "[unclosed"),
            "{error}"
        );
        assert!(
            root.join("data").exists(),
            "nothing is removed before the rules are read"
        );
    }

    #[test]
    fn secret_names() {
        for name in [".env", "id_rsa", "id_ed25519", "server.pem", "store.P12"] {
            assert!(looks_like_secret(name), "{name}");
        }
        for name in [
            ".env.example",
            "id_rsa.pub",
            "pem",
            "environment.yml",
            "notes.md",
        ] {
            assert!(!looks_like_secret(name), "{name}");
        }
    }
}
