//! The layers the evidence has read, kept on disk so that they outlive the process: after a
//! restart, or in another service process on the same data folder, the base's layers are not
//! downloaded and read again. A file per layer, named by its digest (which names its content);
//! written whole or not at all; the least recently used go first beyond a size limit. It only
//! saves time: what cannot be read or written is read from the registry again, with a log line.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::layers::LayerChanges;

/// What the kept files may take (a base's copyright files and dpkg status are a few MiB, a
/// datalab's own layers a few KiB of package metadata).
const STORED_LAYER_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub(super) struct LayerStore {
    folder: PathBuf,
    limit: u64,
}

impl LayerStore {
    pub(super) fn new(folder: PathBuf) -> Self {
        Self {
            folder,
            limit: STORED_LAYER_BYTES,
        }
    }

    /// The file of the layer `digest`, or `None` for a digest that is not a plain
    /// `<algorithm>:<hex>` (a manifest is its author's, and names no other path).
    fn path(&self, digest: &str) -> Option<PathBuf> {
        let (algorithm, encoded) = digest.split_once(':')?;
        let plain = |text: &str| {
            (1..=128).contains(&text.len())
                && text
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
        };
        (plain(algorithm) && plain(encoded))
            .then(|| self.folder.join(format!("{algorithm}-{encoded}")))
    }

    /// The changes kept for `digest`, marked as just used; `None` when there are none, or when
    /// the file is unreadable (it is removed then).
    pub(super) fn load(&self, digest: &str) -> Option<LayerChanges> {
        let path = self.path(digest)?;
        let encoded = match std::fs::read(&path) {
            Ok(encoded) => encoded,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "a stored layer cannot be read; reading the layer again");
                return None;
            }
        };
        let Some(changes) = LayerChanges::decode(&encoded) else {
            tracing::warn!(path = %path.display(), "a stored layer is not in the expected form; removing it and reading the layer again");
            let _ = std::fs::remove_file(&path);
            return None;
        };
        // The least recently used go first: a layer read is a layer used.
        let _ = std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|file| file.set_modified(SystemTime::now()));
        Some(changes)
    }

    /// Keeps `changes` for `digest`, then removes the least recently used files beyond the
    /// limit.
    pub(super) fn save(&self, digest: &str, changes: &LayerChanges) {
        let Some(path) = self.path(digest) else {
            return;
        };
        let written = std::fs::create_dir_all(&self.folder)
            .and_then(|()| write_whole(&self.folder, &path, &changes.encode()))
            .and_then(|()| self.remove_least_recently_used());
        if let Err(error) = written {
            tracing::warn!(folder = %self.folder.display(), %error, "the layer read cannot be kept on disk; the next build reads it again");
        }
    }

    fn remove_least_recently_used(&self) -> std::io::Result<()> {
        let mut files = Vec::new();
        let mut total = 0;
        for entry in std::fs::read_dir(&self.folder)? {
            let entry = entry?;
            let Ok(metadata) = entry.metadata() else {
                continue; // removed meanwhile by another process
            };
            if metadata.is_file() {
                total += metadata.len();
                files.push((metadata.modified()?, metadata.len(), entry.path()));
            }
        }
        if total <= self.limit {
            return Ok(());
        }
        files.sort();
        for (_, size, path) in files {
            if total <= self.limit {
                break;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => total -= size,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => total -= size,
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// `content` at `path` through a temporary file in `folder` renamed into place: a reader sees
/// the whole file or none.
fn write_whole(folder: &Path, path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(folder)?;
    file.write_all(content)?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::layers::dpkg_status_layer;
    use super::*;

    fn set_used(store: &LayerStore, digest: &str, seconds: u64) {
        std::fs::File::options()
            .write(true)
            .open(store.path(digest).unwrap())
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
            .unwrap();
    }

    #[test]
    fn a_layer_kept_by_one_store_is_read_by_another_on_the_same_folder() {
        let folder = tempfile::tempdir().unwrap();
        let first = LayerStore::new(folder.path().join("layers"));
        assert_eq!(first.load("sha256:aa"), None, "nothing kept yet");
        first.save("sha256:aa", &dpkg_status_layer(10));
        let second = LayerStore::new(folder.path().join("layers"));
        assert_eq!(second.load("sha256:aa"), Some(dpkg_status_layer(10)));
        assert_eq!(second.load("sha256:bb"), None);
    }

    #[test]
    fn a_digest_that_is_not_plain_names_no_file() {
        let folder = tempfile::tempdir().unwrap();
        let store = LayerStore::new(folder.path().join("layers"));
        for digest in [
            "sha256:../../x",
            "../x",
            "sha256:",
            ":aa",
            "sha256:AA",
            "sha256/x:aa",
        ] {
            assert_eq!(store.path(digest), None, "{digest}");
            store.save(digest, &dpkg_status_layer(1));
            assert_eq!(store.load(digest), None, "{digest}");
        }
        assert!(!folder.path().join("layers").exists(), "nothing written");
    }

    #[test]
    fn a_damaged_file_is_read_as_none_and_removed() {
        let folder = tempfile::tempdir().unwrap();
        let store = LayerStore::new(folder.path().to_owned());
        store.save("sha256:aa", &dpkg_status_layer(10));
        let path = store.path("sha256:aa").unwrap();
        let mut damaged = std::fs::read(&path).unwrap();
        damaged.truncate(damaged.len() - 1);
        std::fs::write(&path, damaged).unwrap();
        assert_eq!(store.load("sha256:aa"), None);
        assert!(!path.exists());
    }

    #[test]
    fn beyond_its_limit_the_least_recently_used_layer_goes_first() {
        let folder = tempfile::tempdir().unwrap();
        let one = u64::try_from(dpkg_status_layer(100).encode().len()).unwrap();
        let store = LayerStore {
            limit: 2 * one,
            ..LayerStore::new(folder.path().to_owned())
        };
        store.save("sha256:aa", &dpkg_status_layer(100));
        set_used(&store, "sha256:aa", 1);
        store.save("sha256:bb", &dpkg_status_layer(100));
        set_used(&store, "sha256:bb", 2);
        // Reading aa makes it the most recently used: bb goes when cc comes.
        assert!(store.load("sha256:aa").is_some());
        store.save("sha256:cc", &dpkg_status_layer(100));
        assert!(store.load("sha256:bb").is_none(), "the least recently used");
        assert!(store.load("sha256:aa").is_some() && store.load("sha256:cc").is_some());
    }
}
