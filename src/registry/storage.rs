//! The registry's content store on the filesystem. All file I/O of the registry lives here.
//!
//! ```text
//! <root>/blobs/<algorithm>/<first two hex>/<hex>      content, shared by every repository
//! <root>/uploads/<session id>                         bytes of an upload in progress
//! <root>/tmp/                                         files being written before their rename
//! <root>/repositories/<name>/_links/<algorithm>/<hex>            blobs this repository may serve
//! <root>/repositories/<name>/_manifests/revisions/<algorithm>/<hex>  media type of a manifest
//! <root>/repositories/<name>/_manifests/tags/<tag>               digest the tag points at
//! <root>/repositories/<name>/_referrers/<algorithm>/<hex>/<algorithm>-<hex>  referrer descriptor
//! ```
//!
//! Blobs are written once, under their digest, after the digest was verified: every write goes to a
//! file under `uploads/` or `tmp/`, is synced, then renamed into place (and the folder synced), so a
//! crash or an interrupted upload never leaves a partial file where a reader looks. Names that end
//! up in paths are [`RepositoryName`], [`Tag`] and [`Digest`], which are validated on parsing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::fs;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::digest::{Algorithm, Digest, Hasher};
use super::error::StorageError;
use super::name::{RepositoryName, Tag};

const LINKS: &str = "_links";
const MANIFESTS: &str = "_manifests";
const REFERRERS: &str = "_referrers";

#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

/// A blob as found on disk, for garbage collection.
pub struct StoredBlob {
    pub digest: Digest,
    pub size: u64,
    pub modified: SystemTime,
}

/// Why streaming into an upload stopped.
#[derive(Debug)]
pub enum AppendError {
    /// The client's body failed (disconnect, timeout): the upload was rolled back to its old size.
    Body(String),
    Storage(StorageError),
}

impl From<StorageError> for AppendError {
    fn from(error: StorageError) -> Self {
        Self::Storage(error)
    }
}

/// The 32-byte key stored at `path`.
fn key_from(path: &Path, bytes: &[u8]) -> Result<[u8; 32], StorageError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| StorageError::Corrupt {
        path: path.to_owned(),
        reason: format!(
            "a token signing key has 32 bytes, this one has {}; remove it to make a new key \
             (tokens already issued stop working)",
            bytes.len()
        ),
    })
}

/// How long a file in `tmp/` must have been left alone for a starting process to remove it.
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_hours(1);

/// Suffix of the file naming an upload's repository.
const OWNER_SUFFIX: &str = ".repository";

impl Storage {
    /// Opens (creating) the store at `root`. Temporary files old enough to be left by an earlier
    /// process are removed, and only those: other processes serving the same store may be
    /// writing theirs. Uploads stay, to be resumed ([`Self::pending_uploads`]).
    pub async fn open(root: &Path) -> Result<Self, StorageError> {
        let storage = Self {
            root: root.to_owned(),
        };
        for folder in ["blobs", "uploads", "tmp", "repositories"] {
            create_dir(&root.join(folder)).await?;
        }
        storage.remove_stale_temporaries().await?;
        Ok(storage)
    }

    /// Removes the files of `tmp/` not modified for [`STALE_TEMPORARY`]. A temporary file lives
    /// for one write and its rename, so one that old belongs to no write in progress.
    async fn remove_stale_temporaries(&self) -> Result<(), StorageError> {
        let folder = self.root.join("tmp");
        let mut entries = fs::read_dir(&folder)
            .await
            .map_err(StorageError::io("list", &folder))?;
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(StorageError::io("list", &folder))?
        {
            let Ok(modified) = entry.metadata().await.and_then(|meta| meta.modified()) else {
                continue; // renamed or removed meanwhile by its writer
            };
            if modified
                .elapsed()
                .is_ok_and(|elapsed| elapsed >= STALE_TEMPORARY)
            {
                remove_file_if_present(&entry.path()).await?;
            }
        }
        Ok(())
    }

    /// The key that signs access tokens, created (mode 0600) on first use. Kept with the store so
    /// that tokens outlive a restart and every process serving this store accepts them.
    pub async fn token_signing_key(&self) -> Result<[u8; 32], StorageError> {
        let path = self.root.join("token-signing-key");
        match fs::read(&path).await {
            Ok(bytes) => return key_from(&path, &bytes),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(StorageError::io("read", path)(error)),
        }
        let mut key = [0; 32];
        getrandom::fill(&mut key).expect("the operating system provides randomness");
        let temporary = self
            .root
            .join("tmp")
            .join(format!("token-signing-key-{}", uuid::Uuid::new_v4()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .await
            .map_err(StorageError::io("create", &temporary))?;
        file.write_all(&key)
            .await
            .map_err(StorageError::io("write", &temporary))?;
        file.sync_all()
            .await
            .map_err(StorageError::io("sync", &temporary))?;
        // A link never replaces: when two processes open a new store at once, the first key in
        // place is the one both use.
        let linked = fs::hard_link(&temporary, &path).await;
        let _ = fs::remove_file(&temporary).await;
        match linked {
            Ok(()) => Ok(key),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let bytes = fs::read(&path)
                    .await
                    .map_err(StorageError::io("read", &path))?;
                key_from(&path, &bytes)
            }
            Err(error) => Err(StorageError::io("link", path)(error)),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(&digest.hex()[..2])
            .join(digest.hex())
    }

    fn repository_path(&self, repository: &RepositoryName) -> PathBuf {
        let mut path = self.root.join("repositories");
        path.extend(repository.components());
        path
    }

    fn link_path(&self, repository: &RepositoryName, digest: &Digest) -> PathBuf {
        self.repository_path(repository)
            .join(LINKS)
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    fn revision_path(&self, repository: &RepositoryName, digest: &Digest) -> PathBuf {
        self.repository_path(repository)
            .join(MANIFESTS)
            .join("revisions")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    fn tags_path(&self, repository: &RepositoryName) -> PathBuf {
        self.repository_path(repository)
            .join(MANIFESTS)
            .join("tags")
    }

    fn referrers_path(&self, repository: &RepositoryName, subject: &Digest) -> PathBuf {
        self.repository_path(repository)
            .join(REFERRERS)
            .join(subject.algorithm().name())
            .join(subject.hex())
    }

    fn upload_path(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    fn upload_owner_path(&self, id: &str) -> PathBuf {
        self.root
            .join("uploads")
            .join(format!("{id}{OWNER_SUFFIX}"))
    }

    // ---- blobs ----

    /// Size of the blob, if it is stored.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        let path = self.blob_path(digest);
        match fs::metadata(&path).await {
            Ok(metadata) => Ok(Some(metadata.len())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(StorageError::io("stat", path)(error)),
        }
    }

    /// Marks the blob as just used, so that garbage collection's grace period protects it while the
    /// manifest that will reference it is being pushed.
    pub async fn touch_blob(&self, digest: &Digest) -> Result<bool, StorageError> {
        let path = self.blob_path(digest);
        let result = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::options().append(true).open(&path)?;
            file.set_modified(SystemTime::now())
        })
        .await
        .map_err(|error| std::io::Error::other(error.to_string()));
        match result.and_then(|inner| inner) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(StorageError::io("touch", self.blob_path(digest))(error)),
        }
    }

    /// The blob's file positioned at `offset`, and its total size.
    pub async fn open_blob(
        &self,
        digest: &Digest,
        offset: u64,
    ) -> Result<Option<(fs::File, u64)>, StorageError> {
        let path = self.blob_path(digest);
        let mut file = match fs::File::open(&path).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(StorageError::io("open", path)(error)),
        };
        let size = file
            .metadata()
            .await
            .map_err(StorageError::io("stat", &path))?
            .len();
        if offset > 0 {
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(StorageError::io("seek", &path))?;
        }
        Ok(Some((file, size)))
    }

    pub async fn read_blob(&self, digest: &Digest) -> Result<Option<Bytes>, StorageError> {
        let path = self.blob_path(digest);
        match fs::read(&path).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(StorageError::io("read", path)(error)),
        }
    }

    /// Stores `bytes`, whose digest the caller computed from these very bytes.
    pub async fn put_verified_blob(
        &self,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<(), StorageError> {
        self.write_atomically(&self.blob_path(digest), bytes).await
    }

    pub async fn delete_blob(&self, digest: &Digest) -> Result<(), StorageError> {
        remove_file_if_present(&self.blob_path(digest)).await
    }

    /// Every stored blob, for garbage collection.
    pub async fn list_blobs(&self) -> Result<Vec<StoredBlob>, StorageError> {
        let mut blobs = Vec::new();
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let folder = self.root.join("blobs").join(algorithm.name());
            for prefix in list_names(&folder).await? {
                for hex in list_names(&folder.join(&prefix)).await? {
                    let path = folder.join(&prefix).join(&hex);
                    let Ok(digest) = format!("{}:{hex}", algorithm.name()).parse::<Digest>() else {
                        continue;
                    };
                    let metadata = fs::metadata(&path)
                        .await
                        .map_err(StorageError::io("stat", &path))?;
                    let modified = metadata
                        .modified()
                        .map_err(StorageError::io("stat", &path))?;
                    blobs.push(StoredBlob {
                        digest,
                        size: metadata.len(),
                        modified,
                    });
                }
            }
        }
        Ok(blobs)
    }

    // ---- uploads ----

    /// Creates the upload `id` of `repository`. The repository is written beside the bytes so a
    /// restarted registry can resume the session.
    pub async fn create_upload(
        &self,
        id: &str,
        repository: &RepositoryName,
    ) -> Result<(), StorageError> {
        let path = self.upload_path(id);
        fs::File::create(&path)
            .await
            .map_err(StorageError::io("create", &path))?;
        let owner = self.upload_owner_path(id);
        fs::write(&owner, repository.as_str())
            .await
            .map_err(StorageError::io("write", &owner))?;
        Ok(())
    }

    pub async fn remove_upload(&self, id: &str) -> Result<(), StorageError> {
        remove_file_if_present(&self.upload_path(id)).await?;
        remove_file_if_present(&self.upload_owner_path(id)).await
    }

    /// The repository the upload `id` belongs to, as written when it started; `None` when there
    /// is no such upload (never started, finished or cancelled, possibly by another process).
    pub async fn upload_owner(&self, id: &str) -> Option<String> {
        fs::read_to_string(self.upload_owner_path(id)).await.ok()
    }

    /// The size of the upload `id`'s bytes and when they last changed; `None` when it is gone.
    pub async fn upload_state(&self, id: &str) -> Option<(u64, std::time::SystemTime)> {
        let metadata = fs::metadata(self.upload_path(id)).await.ok()?;
        Some((metadata.len(), metadata.modified().ok()?))
    }

    /// Uploads left by an earlier process, with their repository names as written. Bytes whose
    /// repository file is missing (a crash between the two writes) are removed.
    pub async fn pending_uploads(&self) -> Result<Vec<(String, String)>, StorageError> {
        let folder = self.root.join("uploads");
        let mut entries = fs::read_dir(&folder)
            .await
            .map_err(StorageError::io("list", &folder))?;
        let mut pending = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(StorageError::io("list", &folder))?
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(OWNER_SUFFIX) {
                continue;
            }
            match fs::read_to_string(self.upload_owner_path(&name)).await {
                Ok(repository) => pending.push((name, repository)),
                Err(_) => self.remove_upload(&name).await?,
            }
        }
        Ok(pending)
    }

    /// The size of the upload `id` and its bytes hashed with `algorithm`, to resume a session.
    pub async fn rehash_upload(
        &self,
        id: &str,
        algorithm: Algorithm,
    ) -> Result<(u64, Hasher), StorageError> {
        let path = self.upload_path(id);
        let corrupt_path = path.clone();
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::open(&path).map_err(StorageError::io("open", &path))?;
            let mut hasher = algorithm.hasher();
            let mut size = 0_u64;
            let mut buffer = vec![0; 1 << 20];
            loop {
                let read = std::io::Read::read(&mut file, &mut buffer)
                    .map_err(StorageError::io("read", &path))?;
                if read == 0 {
                    break;
                }
                hasher.update(&buffer[..read]);
                size += read as u64;
            }
            Ok((size, hasher))
        })
        .await
        .map_err(|error| StorageError::Corrupt {
            path: corrupt_path,
            reason: error.to_string(),
        })?
    }

    /// Appends `body` to the upload `id`, which holds `size` bytes hashed into `hasher`. On success
    /// returns the new size; if the body fails midway the file is truncated back to `size`, so the
    /// session stays consistent and the client can resume.
    ///
    /// The body's chunks are gathered into batches of about [`BATCH`] bytes, handed to one
    /// blocking writer that hashes and writes each batch with a vectored write while the next is
    /// received: no copy into a buffer, and one hand-over per batch instead of one per write.
    pub async fn append_upload<S, E>(
        &self,
        id: &str,
        size: u64,
        hasher: &mut Hasher,
        body: S,
    ) -> Result<u64, AppendError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let path = self.upload_path(id);
        let (batches, received) = tokio::sync::mpsc::channel::<Vec<Bytes>>(2);
        let writer = UploadWriter {
            path: path.clone(),
            hasher: hasher.clone(),
            written: size,
            unsynced: 0,
            write_back: None,
        };
        let writing = tokio::task::spawn_blocking(move || writer.run(received));
        let mut body = std::pin::pin!(body);
        let mut failure = None;
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        loop {
            let chunk = body.next().await;
            let last = match chunk {
                Some(Ok(chunk)) => {
                    batch_bytes += chunk.len();
                    batch.push(chunk);
                    false
                }
                Some(Err(error)) => {
                    failure = Some(error.to_string());
                    true
                }
                None => true,
            };
            let full = batch_bytes >= BATCH || batch.len() >= BATCH_CHUNKS;
            if (last || full) && !batch.is_empty() {
                batch_bytes = 0;
                // A writer that stopped has its error waiting below.
                if batches.send(std::mem::take(&mut batch)).await.is_err() {
                    break;
                }
            }
            if last {
                break;
            }
        }
        drop(batches);
        let (written, updated) = writing.await.map_err(|error| StorageError::Corrupt {
            path: path.clone(),
            reason: format!("the upload's writer stopped: {error}"),
        })??;
        if let Some(reason) = failure {
            fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .await
                .map_err(StorageError::io("open", &path))?
                .set_len(size)
                .await
                .map_err(StorageError::io("truncate", &path))?;
            return Err(AppendError::Body(reason));
        }
        *hasher = updated;
        Ok(written)
    }

    /// Digest of the upload with `algorithm`, read back from disk (for algorithms the session did
    /// not hash while receiving).
    pub async fn hash_upload(
        &self,
        id: &str,
        algorithm: Algorithm,
    ) -> Result<Digest, StorageError> {
        let (_, hasher) = self.rehash_upload(id, algorithm).await?;
        Ok(hasher.finish())
    }

    /// Makes the verified upload `id` the blob `digest`: sync, rename, sync the folder.
    pub async fn commit_upload(&self, id: &str, digest: &Digest) -> Result<(), StorageError> {
        let source = self.upload_path(id);
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&source)
            .await
            .map_err(StorageError::io("open", &source))?;
        file.sync_all()
            .await
            .map_err(StorageError::io("sync", &source))?;
        drop(file);
        let target = self.blob_path(digest);
        rename_into_place(&source, &target).await?;
        remove_file_if_present(&self.upload_owner_path(id)).await
    }

    // ---- repositories ----

    pub async fn link_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        let path = self.link_path(repository, digest);
        if fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(());
        }
        self.write_atomically(&path, b"").await
    }

    pub async fn blob_linked(&self, repository: &RepositoryName, digest: &Digest) -> bool {
        fs::try_exists(self.link_path(repository, digest))
            .await
            .unwrap_or(false)
    }

    pub async fn repository_exists(&self, repository: &RepositoryName) -> bool {
        let path = self.repository_path(repository);
        fs::try_exists(path.join(MANIFESTS)).await.unwrap_or(false)
            || fs::try_exists(path.join(LINKS)).await.unwrap_or(false)
    }

    /// Records that `repository` holds the manifest `digest` of `media_type`.
    pub async fn put_revision(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        media_type: &str,
    ) -> Result<(), StorageError> {
        self.write_atomically(
            &self.revision_path(repository, digest),
            media_type.as_bytes(),
        )
        .await
    }

    /// Media type of the manifest `digest` in `repository`, if the repository holds it.
    pub async fn revision(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<String>, StorageError> {
        read_optional_string(&self.revision_path(repository, digest)).await
    }

    pub async fn delete_revision(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        remove_file_if_present(&self.revision_path(repository, digest)).await
    }

    /// Every manifest digest held by `repository`.
    pub async fn list_revisions(
        &self,
        repository: &RepositoryName,
    ) -> Result<Vec<Digest>, StorageError> {
        let folder = self
            .repository_path(repository)
            .join(MANIFESTS)
            .join("revisions");
        digests_in(&folder).await
    }

    pub async fn put_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        let path = self.tags_path(repository).join(tag.as_str());
        self.write_atomically(&path, digest.to_string().as_bytes())
            .await
    }

    pub async fn resolve_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<Digest>, StorageError> {
        let path = self.tags_path(repository).join(tag.as_str());
        let Some(text) = read_optional_string(&path).await? else {
            return Ok(None);
        };
        text.parse().map(Some).map_err(|_| StorageError::Corrupt {
            path,
            reason: format!("{text:?} is not a digest"),
        })
    }

    pub async fn delete_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> Result<bool, StorageError> {
        let path = self.tags_path(repository).join(tag.as_str());
        let existed = fs::try_exists(&path).await.unwrap_or(false);
        remove_file_if_present(&path).await?;
        Ok(existed)
    }

    /// Tags of `repository`, sorted.
    pub async fn list_tags(
        &self,
        repository: &RepositoryName,
    ) -> Result<Vec<String>, StorageError> {
        let mut tags = list_names(&self.tags_path(repository)).await?;
        tags.sort();
        Ok(tags)
    }

    /// Records `descriptor` (JSON) of the manifest `referrer` whose subject is `subject`.
    pub async fn put_referrer(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        referrer: &Digest,
        descriptor: &[u8],
    ) -> Result<(), StorageError> {
        let path = self.referrers_path(repository, subject).join(format!(
            "{}-{}",
            referrer.algorithm().name(),
            referrer.hex()
        ));
        self.write_atomically(&path, descriptor).await
    }

    pub async fn delete_referrer(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        referrer: &Digest,
    ) -> Result<(), StorageError> {
        let path = self.referrers_path(repository, subject).join(format!(
            "{}-{}",
            referrer.algorithm().name(),
            referrer.hex()
        ));
        remove_file_if_present(&path).await
    }

    /// Descriptors (JSON) of the manifests whose subject is `subject`.
    pub async fn list_referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<Bytes>, StorageError> {
        let folder = self.referrers_path(repository, subject);
        let mut names = list_names(&folder).await?;
        names.sort();
        let mut descriptors = Vec::with_capacity(names.len());
        for name in names {
            let path = folder.join(name);
            if let Some(bytes) = read_optional(&path).await? {
                descriptors.push(Bytes::from(bytes));
            }
        }
        Ok(descriptors)
    }

    /// Every repository that holds manifests or blobs, sorted.
    pub async fn list_repositories(&self) -> Result<Vec<RepositoryName>, StorageError> {
        let mut found = BTreeSet::new();
        let mut pending = vec![(self.root.join("repositories"), String::new())];
        while let Some((folder, name)) = pending.pop() {
            for entry in list_names(&folder).await? {
                if entry == MANIFESTS || entry == LINKS {
                    if let Ok(repository) = name.parse::<RepositoryName>() {
                        found.insert(repository);
                    }
                } else if !entry.starts_with('_') {
                    let child = if name.is_empty() {
                        entry.clone()
                    } else {
                        format!("{name}/{entry}")
                    };
                    pending.push((folder.join(&entry), child));
                }
            }
        }
        Ok(found.into_iter().collect())
    }

    /// Blob links of `repository`, for garbage collection.
    pub async fn list_links(
        &self,
        repository: &RepositoryName,
    ) -> Result<Vec<Digest>, StorageError> {
        let folder = self.repository_path(repository).join(LINKS);
        digests_in(&folder).await
    }

    pub async fn unlink_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        remove_file_if_present(&self.link_path(repository, digest)).await
    }

    // ---- primitives ----

    /// Write to `tmp/`, sync, rename over `path`, sync `path`'s folder.
    async fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
        let temporary = self.root.join("tmp").join(uuid::Uuid::new_v4().to_string());
        let mut file = fs::File::create(&temporary)
            .await
            .map_err(StorageError::io("create", &temporary))?;
        file.write_all(bytes)
            .await
            .map_err(StorageError::io("write", &temporary))?;
        file.sync_all()
            .await
            .map_err(StorageError::io("sync", &temporary))?;
        drop(file);
        let result = rename_into_place(&temporary, path).await;
        if result.is_err() {
            let _ = fs::remove_file(&temporary).await;
        }
        result
    }
}

/// Bytes of an upload's body handed to its writer at once.
const BATCH: usize = 4 << 20;

/// Chunks handed to an upload's writer at once, at most: a body of tiny chunks is written as
/// often as a vectored write can take them (Linux's `IOV_MAX`).
const BATCH_CHUNKS: usize = 1024;

/// Bytes received between two background syncs of an upload.
const WRITE_BACK: u64 = 32 << 20;

/// The blocking half of [`Storage::append_upload`]: hashes and writes the batches it receives
/// at the end of the upload's file.
struct UploadWriter {
    path: PathBuf,
    hasher: Hasher,
    written: u64,
    /// Bytes written since the last write-back was started.
    unsynced: u64,
    /// A sync of the bytes written before it, running on a thread of its own (on a second handle
    /// of the file) while the writing goes on: the sync that commits the blob then has little
    /// left to flush.
    write_back: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl UploadWriter {
    /// Writes until the batches end; the size written up to and the hasher then.
    fn run(
        mut self,
        mut batches: tokio::sync::mpsc::Receiver<Vec<Bytes>>,
    ) -> Result<(u64, Hasher), StorageError> {
        use std::io::{Seek, Write};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(StorageError::io("open", &self.path))?;
        file.seek(std::io::SeekFrom::Start(self.written))
            .map_err(StorageError::io("seek", &self.path))?;
        while let Some(batch) = batches.blocking_recv() {
            for chunk in &batch {
                self.hasher.update(chunk);
            }
            let mut slices: Vec<std::io::IoSlice<'_>> = batch
                .iter()
                .map(|chunk| std::io::IoSlice::new(chunk))
                .collect();
            let mut slices = slices.as_mut_slice();
            while !slices.is_empty() {
                let wrote = match file.write_vectored(slices) {
                    Ok(0) => Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(wrote) => Ok(wrote),
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(error) => Err(error),
                }
                .map_err(StorageError::io("write", &self.path))?;
                self.written += wrote as u64;
                std::io::IoSlice::advance_slices(&mut slices, wrote);
            }
            self.unsynced += batch.iter().map(|chunk| chunk.len() as u64).sum::<u64>();
            if self.unsynced >= WRITE_BACK {
                self.unsynced = 0;
                self.finish_write_back()?;
                let handle = file
                    .try_clone()
                    .map_err(StorageError::io("open", &self.path))?;
                self.write_back = Some(std::thread::spawn(move || handle.sync_data()));
            }
        }
        self.finish_write_back()?;
        Ok((self.written, self.hasher))
    }

    /// Waits for the write-back started last, if any.
    fn finish_write_back(&mut self) -> Result<(), StorageError> {
        let Some(write_back) = self.write_back.take() else {
            return Ok(());
        };
        write_back
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the write-back thread panicked")))
            .map_err(StorageError::io("sync", &self.path))
    }
}

async fn rename_into_place(source: &Path, target: &Path) -> Result<(), StorageError> {
    let parent = target.parent().unwrap_or(target).to_owned();
    create_dir(&parent).await?;
    fs::rename(source, target)
        .await
        .map_err(StorageError::io("rename", target))?;
    tokio::task::spawn_blocking(move || {
        std::fs::File::open(&parent).and_then(|folder| folder.sync_all())
    })
    .await
    .map_err(|error| std::io::Error::other(error.to_string()))
    .and_then(|inner| inner)
    .map_err(StorageError::io("sync", target))
}

async fn create_dir(path: &Path) -> Result<(), StorageError> {
    fs::create_dir_all(path)
        .await
        .map_err(StorageError::io("create folder", path))
}

async fn remove_file_if_present(path: &Path) -> Result<(), StorageError> {
    match fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(StorageError::io("remove", path)(error)),
    }
}

async fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    match fs::read(path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(StorageError::io("read", path)(error)),
    }
}

async fn read_optional_string(path: &Path) -> Result<Option<String>, StorageError> {
    read_optional(path).await?.map_or(Ok(None), |bytes| {
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| StorageError::Corrupt {
                path: path.to_owned(),
                reason: "not UTF-8".to_owned(),
            })
    })
}

/// Names of the entries of `folder`; none if it does not exist.
async fn list_names(folder: &Path) -> Result<Vec<String>, StorageError> {
    let mut entries = match fs::read_dir(folder).await {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(StorageError::io("list", folder)(error)),
    };
    let mut names = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(StorageError::io("list", folder))?
    {
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

/// Digests stored as `<folder>/<algorithm>/<hex>`.
async fn digests_in(folder: &Path) -> Result<Vec<Digest>, StorageError> {
    let mut digests = Vec::new();
    for algorithm in list_names(folder).await? {
        for hex in list_names(&folder.join(&algorithm)).await? {
            if let Ok(digest) = format!("{algorithm}:{hex}").parse() {
                digests.push(digest);
            }
        }
    }
    Ok(digests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(sizes: &[usize], seed: u8) -> Vec<Bytes> {
        sizes
            .iter()
            .enumerate()
            .map(|(index, size)| {
                #[expect(clippy::cast_possible_truncation, reason = "a byte pattern")]
                let byte = seed.wrapping_add(index as u8);
                Bytes::from(vec![byte; *size])
            })
            .collect()
    }

    #[tokio::test]
    async fn opening_a_store_removes_only_temporary_files_left_long_ago() {
        let folder = tempfile::tempdir().unwrap();
        let first = Storage::open(folder.path()).await.unwrap();
        let (in_progress, left) = (
            folder.path().join("tmp/in-progress"),
            folder.path().join("tmp/left-by-a-crash"),
        );
        std::fs::write(&in_progress, b"being written").unwrap();
        std::fs::write(&left, b"old").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&left)
            .unwrap()
            .set_modified(SystemTime::now() - STALE_TEMPORARY - std::time::Duration::from_secs(1))
            .unwrap();

        // A second process opening the same store, as when several serve it.
        let second = Storage::open(folder.path()).await.unwrap();
        assert!(
            in_progress.exists(),
            "another process's write in progress is kept"
        );
        assert!(!left.exists(), "a file left long ago is removed");
        assert_eq!(
            first.token_signing_key().await.unwrap(),
            second.token_signing_key().await.unwrap()
        );
    }

    #[tokio::test]
    async fn an_upload_gets_every_byte_in_order_whatever_its_chunks_and_a_failed_body_is_undone() {
        let folder = tempfile::tempdir().unwrap();
        let storage = Storage::open(folder.path()).await.unwrap();
        let repository: RepositoryName = "datalabs/lab".parse().unwrap();
        storage.create_upload("one", &repository).await.unwrap();
        // More tiny chunks than one vectored write takes, then chunks that cross the batch and
        // the write-back sizes.
        let mut sizes = vec![3; 2 * BATCH_CHUNKS + 7];
        sizes.extend([
            BATCH + 1,
            1,
            3 * BATCH,
            usize::try_from(WRITE_BACK).unwrap(),
        ]);
        let first = chunks(&sizes, 1);
        let mut hasher = Algorithm::Sha256.hasher();
        let stream = futures_util::stream::iter(first.clone().into_iter().map(Ok::<_, String>));
        let size = storage
            .append_upload("one", 0, &mut hasher, stream)
            .await
            .unwrap();
        let expected: Vec<u8> = first.iter().flat_map(|chunk| chunk.to_vec()).collect();
        assert_eq!(size, expected.len() as u64);
        let on_disk = std::fs::read(storage.upload_path("one")).unwrap();
        assert!(on_disk == expected, "the file holds the chunks in order");
        let mut whole = Algorithm::Sha256.hasher();
        whole.update(&expected);
        assert_eq!(hasher.clone().finish(), whole.finish());

        // A body that fails after some chunks leaves the file and the hash as they were.
        let before = hasher.clone().finish();
        let broken = chunks(&[BATCH, 5, 7], 9)
            .into_iter()
            .map(Ok)
            .chain([Err("connection reset".to_owned())]);
        let failed = storage
            .append_upload("one", size, &mut hasher, futures_util::stream::iter(broken))
            .await;
        assert!(matches!(failed, Err(AppendError::Body(reason)) if reason == "connection reset"));
        assert_eq!(
            std::fs::metadata(storage.upload_path("one")).unwrap().len(),
            size
        );
        assert_eq!(hasher.finish(), before);
    }
}
