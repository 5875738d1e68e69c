//! The two hashes that decide how much of a build can be skipped.
//!
//! The environment hash covers what the dependency layers are made of (base digest, recipe
//! version, kind, normalised requirements, the Debian packages and set-up steps): equal hashes mean BuildKit finds those layers in its
//! cache. The content hash adds the author's files and the exact Dockerfile and context files:
//! equal environment and content hashes mean the previous image is the answer and nothing is built.

use std::io::Read;
use std::path::Path;

use std::os::unix::fs::PermissionsExt;

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of a named, length-prefixed sequence of parts (no two sequences collide by
/// shifting bytes between parts).
fn hash_parts<'a>(domain: &str, parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(domain.as_bytes());
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

pub fn environment_hash(
    recipe_version: u32,
    base_digest: &str,
    kind: &str,
    requirements: &str,
    setup: &str,
    user_dockerfile: Option<&str>,
) -> String {
    let version = recipe_version.to_string();
    hash_parts(
        "labforge-environment-v1",
        [
            version.as_bytes(),
            base_digest.as_bytes(),
            kind.as_bytes(),
            requirements.as_bytes(),
            setup.as_bytes(),
            user_dockerfile.unwrap_or_default().as_bytes(),
        ],
    )
}

/// Hash of a folder tree: every entry's relative path, kind, executable bit and contents, in name
/// order. Modification times are left out: BuildKit ignores them too.
pub fn tree_hash(root: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    hash_folder(root, root, &mut hasher)?;
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

fn hash_folder(root: &Path, folder: &Path, hasher: &mut Sha256) -> std::io::Result<()> {
    let mut entries = std::fs::read_dir(folder)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = path.strip_prefix(root).expect("entries lie below the root");
        let name = name.to_string_lossy();
        let kind = entry.file_type()?;
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        if kind.is_symlink() {
            hasher.update(b"l");
            hasher.update(std::fs::read_link(&path)?.to_string_lossy().as_bytes());
        } else if kind.is_dir() {
            hasher.update(b"d");
            hash_folder(root, &path, hasher)?;
            hasher.update(b"D");
        } else {
            let executable = entry.metadata()?.permissions().mode() & 0o111 != 0;
            hasher.update(if executable { b"x" } else { b"f" });
            let mut file = std::fs::File::open(&path)?;
            let mut file_hasher = Sha256::new();
            let mut buffer = vec![0; 64 * 1024];
            loop {
                let read = file.read(&mut buffer)?;
                if read == 0 {
                    break;
                }
                file_hasher.update(&buffer[..read]);
            }
            hasher.update(file_hasher.finalize());
        }
    }
    Ok(())
}

/// The content hash: the environment, the author's tree and every file labforge adds.
pub fn content_hash(
    environment: &str,
    tree: &str,
    dockerfile: &str,
    files: &[(String, String)],
) -> String {
    let mut parts: Vec<&[u8]> = vec![
        environment.as_bytes(),
        tree.as_bytes(),
        dockerfile.as_bytes(),
    ];
    for (name, contents) in files {
        parts.push(name.as_bytes());
        parts.push(contents.as_bytes());
    }
    hash_parts("labforge-content-v1", parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_hash_follows_contents_names_and_executable_bit_not_times() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("a.ipynb"), "{}").unwrap();
        let first = tree_hash(folder.path()).unwrap();
        assert_eq!(first, tree_hash(folder.path()).unwrap());

        let file = std::fs::File::options()
            .write(true)
            .open(folder.path().join("a.ipynb"))
            .unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(
            first,
            tree_hash(folder.path()).unwrap(),
            "times do not count"
        );

        std::fs::write(folder.path().join("a.ipynb"), "{ }").unwrap();
        let edited = tree_hash(folder.path()).unwrap();
        assert_ne!(first, edited);

        std::fs::set_permissions(
            folder.path().join("a.ipynb"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert_ne!(edited, tree_hash(folder.path()).unwrap());
    }

    #[test]
    fn parts_cannot_shift_into_each_other() {
        assert_ne!(
            environment_hash(1, "sha256:a", "jupyterlab", "numpy\n", "", None),
            environment_hash(1, "sha256:a", "jupyterlabnumpy\n", "", "", None)
        );
        assert_ne!(
            environment_hash(1, "sha256:a", "jupyterlab", "numpy\n", "apt\njq\n", None),
            environment_hash(1, "sha256:a", "jupyterlab", "numpy\napt\njq\n", "", None)
        );
    }
}
