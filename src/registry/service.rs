//! The distribution API's rules: upload sessions, digest verification, manifest validation, tags,
//! referrers, and garbage collection. Called by `routes`, calls `storage`; never the reverse.
//!
//! Garbage collection and writers coordinate through one read-write lock: every step that makes a
//! blob reachable (committing an upload, mounting, checking existence before a push, putting a
//! manifest) holds it for reading and refreshes the blob's modification time, and collection holds
//! it for writing. A blob younger than the grace period is never collected, which protects the
//! window between a client learning that a layer exists and pushing the manifest that uses it.
//! Bytes of uploads in progress live outside the blob store, so collection never sees them.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::Stream;
use serde_json::Value;
use tokio::fs::File;

use super::digest::{Algorithm, Digest, Hasher};
use super::error::{RegistryError, StorageError};
use super::name::{RepositoryName, Tag};
use super::storage::{AppendError, Storage};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest named by tag or by digest.
#[derive(Debug, Clone)]
pub enum ManifestReference {
    Tag(Tag),
    Digest(Digest),
}

impl FromStr for ManifestReference {
    type Err = RegistryError;

    fn from_str(reference: &str) -> Result<Self, Self::Err> {
        if reference.contains(':') {
            reference.parse().map(Self::Digest)
        } else {
            reference.parse().map(Self::Tag)
        }
    }
}

impl std::fmt::Display for ManifestReference {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tag(tag) => formatter.write_str(tag.as_str()),
            Self::Digest(digest) => digest.fmt(formatter),
        }
    }
}

struct UploadSession {
    size: u64,
    /// Set when the session is finished or cancelled, for requests that were waiting on its lock.
    closed: bool,
    sha256: Hasher,
    last_activity: Instant,
}

struct SessionEntry {
    repository: RepositoryName,
    session: Arc<tokio::sync::Mutex<UploadSession>>,
}

/// Where an upload stands, for the `Location` and `Range` headers.
#[derive(Debug, Clone)]
pub struct UploadStatus {
    pub id: String,
    pub size: u64,
}

/// The bytes of a blob to send: the whole blob or one range of it.
pub struct BlobContent {
    pub file: File,
    pub total_size: u64,
    pub start: u64,
    pub length: u64,
    pub partial: bool,
}

pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Bytes,
}

pub struct PutManifestOutcome {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

/// One page of a sorted listing and whether more follow.
pub struct Page {
    pub items: Vec<String>,
    pub more: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GarbageReport {
    pub blobs_removed: usize,
    pub bytes_freed: u64,
}

pub struct RegistryService {
    storage: Storage,
    uploads: Mutex<HashMap<String, SessionEntry>>,
    collection: tokio::sync::RwLock<()>,
    max_manifest_bytes: usize,
}

impl RegistryService {
    pub fn new(storage: Storage, max_manifest_bytes: usize) -> Self {
        Self {
            storage,
            uploads: Mutex::new(HashMap::new()),
            collection: tokio::sync::RwLock::new(()),
            max_manifest_bytes,
        }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn max_manifest_bytes(&self) -> usize {
        self.max_manifest_bytes
    }

    // ---- blobs ----

    /// Size of a blob that `repository` may serve.
    pub async fn stat_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<u64, RegistryError> {
        let _reachable = self.collection.read().await;
        let unknown = || RegistryError::BlobUnknown {
            digest: digest.to_string(),
        };
        if !self.storage.blob_linked(repository, digest).await
            || !self.storage.touch_blob(digest).await?
        {
            return Err(unknown());
        }
        self.storage.blob_size(digest).await?.ok_or_else(unknown)
    }

    /// Opens a blob for reading, honouring a `Range: bytes=...` header.
    pub async fn read_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        range: Option<&str>,
    ) -> Result<BlobContent, RegistryError> {
        let unknown = || RegistryError::BlobUnknown {
            digest: digest.to_string(),
        };
        if !self.storage.blob_linked(repository, digest).await {
            return Err(unknown());
        }
        let total_size = self.storage.blob_size(digest).await?.ok_or_else(unknown)?;
        let (start, length, partial) = match range {
            None => (0, total_size, false),
            Some(range) => {
                let (start, end) = parse_byte_range(range, total_size)?;
                (start, end - start + 1, true)
            }
        };
        let (file, _) = self
            .storage
            .open_blob(digest, start)
            .await?
            .ok_or_else(unknown)?;
        Ok(BlobContent {
            file,
            total_size,
            start,
            length,
            partial,
        })
    }

    /// Links a blob of `from` into `repository` without copying it. Returns false when `from` does
    /// not hold it (the caller then starts an ordinary upload, as the spec requires).
    pub async fn mount_blob(
        &self,
        repository: &RepositoryName,
        from: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let _reachable = self.collection.read().await;
        if !self.storage.blob_linked(from, digest).await || !self.storage.touch_blob(digest).await?
        {
            return Ok(false);
        }
        self.storage.link_blob(repository, digest).await?;
        Ok(true)
    }

    /// Removes the blob from `repository`; the content goes at the next collection if unused.
    pub async fn delete_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        if !self.storage.blob_linked(repository, digest).await {
            return Err(RegistryError::BlobUnknown {
                digest: digest.to_string(),
            });
        }
        self.storage.unlink_blob(repository, digest).await?;
        Ok(())
    }

    // ---- uploads ----

    pub async fn start_upload(
        &self,
        repository: &RepositoryName,
    ) -> Result<UploadStatus, RegistryError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.storage.create_upload(&id, repository).await?;
        let session = UploadSession {
            size: 0,
            closed: false,
            sha256: Algorithm::Sha256.hasher(),
            last_activity: Instant::now(),
        };
        let entry = SessionEntry {
            repository: repository.clone(),
            session: Arc::new(tokio::sync::Mutex::new(session)),
        };
        self.sessions().insert(id.clone(), entry);
        Ok(UploadStatus { id, size: 0 })
    }

    pub async fn upload_status(
        &self,
        repository: &RepositoryName,
        id: &str,
    ) -> Result<UploadStatus, RegistryError> {
        let session = self.session(repository, id)?;
        let session = Self::lock_open(&session, id).await?;
        Ok(UploadStatus {
            id: id.to_owned(),
            size: session.size,
        })
    }

    /// Appends a chunk. `content_range` is the `Content-Range` header: a chunk that does not start
    /// where the upload ends is refused with 416.
    pub async fn append_upload<S, E>(
        &self,
        repository: &RepositoryName,
        id: &str,
        content_range: Option<&str>,
        body: S,
    ) -> Result<UploadStatus, RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let session = self.session(repository, id)?;
        let mut session = Self::lock_open(&session, id).await?;
        self.append_locked(repository, id, &mut session, content_range, body)
            .await?;
        Ok(UploadStatus {
            id: id.to_owned(),
            size: session.size,
        })
    }

    async fn append_locked<S, E>(
        &self,
        repository: &RepositoryName,
        id: &str,
        session: &mut UploadSession,
        content_range: Option<&str>,
        body: S,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        if let Some(range) = content_range {
            let start = parse_content_range_start(range)?;
            if start != session.size {
                return Err(RegistryError::ChunkOutOfOrder {
                    start,
                    size: session.size,
                    location: format!("/v2/{repository}/blobs/uploads/{id}"),
                });
            }
        }
        session.last_activity = Instant::now();
        let result = self
            .storage
            .append_upload(id, session.size, &mut session.sha256, body)
            .await;
        session.last_activity = Instant::now();
        match result {
            Ok(size) => {
                session.size = size;
                Ok(())
            }
            Err(AppendError::Body(reason)) => Err(RegistryError::BlobUploadInvalid {
                reason: format!(
                    "the request body was interrupted ({reason}); the upload keeps its earlier bytes"
                ),
            }),
            Err(AppendError::Storage(error)) => Err(error.into()),
        }
    }

    /// Appends the last chunk (possibly empty), verifies the digest and makes the blob visible.
    pub async fn finish_upload<S, E>(
        &self,
        repository: &RepositoryName,
        id: &str,
        digest: &Digest,
        content_range: Option<&str>,
        body: S,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let session = self.session(repository, id)?;
        let mut session = Self::lock_open(&session, id).await?;
        self.append_locked(repository, id, &mut session, content_range, body)
            .await?;
        let computed = match digest.algorithm() {
            Algorithm::Sha256 => session.sha256.clone().finish(),
            algorithm @ Algorithm::Sha512 => self.storage.hash_upload(id, algorithm).await?,
        };
        self.sessions().remove(id);
        session.closed = true;
        if &computed != digest {
            self.storage.remove_upload(id).await?;
            return Err(RegistryError::DigestMismatch {
                provided: digest.to_string(),
                computed: computed.to_string(),
            });
        }
        let _reachable = self.collection.read().await;
        self.storage.commit_upload(id, digest).await?;
        self.storage.link_blob(repository, digest).await?;
        Ok(())
    }

    /// `POST ...?digest=` with the whole blob as body.
    pub async fn upload_monolithic<S, E>(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        body: S,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let status = self.start_upload(repository).await?;
        let result = self
            .finish_upload(repository, &status.id, digest, None, body)
            .await;
        if result.is_err() {
            self.sessions().remove(&status.id);
            self.storage.remove_upload(&status.id).await?;
        }
        result
    }

    pub async fn cancel_upload(
        &self,
        repository: &RepositoryName,
        id: &str,
    ) -> Result<(), RegistryError> {
        let session = self.session(repository, id)?;
        let mut session = Self::lock_open(&session, id).await?;
        session.closed = true;
        self.sessions().remove(id);
        self.storage.remove_upload(id).await?;
        Ok(())
    }

    /// Takes back the uploads an earlier process left, so clients can continue them after a
    /// restart; their idle time counts from now. Returns how many.
    pub async fn resume_uploads(&self) -> Result<usize, StorageError> {
        let mut resumed = 0;
        for (id, repository) in self.storage.pending_uploads().await? {
            let Ok(repository) = repository.parse::<RepositoryName>() else {
                self.storage.remove_upload(&id).await?;
                continue;
            };
            let (size, sha256) = self.storage.rehash_upload(&id, Algorithm::Sha256).await?;
            let session = UploadSession {
                size,
                closed: false,
                sha256,
                last_activity: Instant::now(),
            };
            self.sessions().insert(
                id,
                SessionEntry {
                    repository,
                    session: Arc::new(tokio::sync::Mutex::new(session)),
                },
            );
            resumed += 1;
        }
        Ok(resumed)
    }

    /// Removes sessions idle for longer than `expiry` and their bytes. Returns how many.
    pub async fn purge_expired_uploads(&self, expiry: Duration) -> Result<usize, StorageError> {
        let expired: Vec<String> = {
            let mut sessions = self.sessions();
            let expired: Vec<String> = sessions
                .iter()
                .filter(|(_, entry)| {
                    entry
                        .session
                        .try_lock()
                        .is_ok_and(|session| session.last_activity.elapsed() > expiry)
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                sessions.remove(id);
            }
            expired
        };
        for id in &expired {
            self.storage.remove_upload(id).await?;
        }
        Ok(expired.len())
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionEntry>> {
        self.uploads.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn session(
        &self,
        repository: &RepositoryName,
        id: &str,
    ) -> Result<Arc<tokio::sync::Mutex<UploadSession>>, RegistryError> {
        let unknown = || RegistryError::BlobUploadUnknown { id: id.to_owned() };
        let sessions = self.sessions();
        let entry = sessions
            .get(id)
            .filter(|entry| &entry.repository == repository)
            .ok_or_else(unknown)?;
        Ok(Arc::clone(&entry.session))
    }

    /// Locks an upload session that is still open.
    async fn lock_open<'a>(
        session: &'a tokio::sync::Mutex<UploadSession>,
        id: &str,
    ) -> Result<tokio::sync::MutexGuard<'a, UploadSession>, RegistryError> {
        let guard = session.lock().await;
        if guard.closed {
            return Err(RegistryError::BlobUploadUnknown { id: id.to_owned() });
        }
        Ok(guard)
    }

    // ---- manifests ----

    pub async fn put_manifest(
        &self,
        repository: &RepositoryName,
        reference: &ManifestReference,
        content_type: Option<&str>,
        bytes: Bytes,
    ) -> Result<PutManifestOutcome, RegistryError> {
        if bytes.len() > self.max_manifest_bytes {
            return Err(RegistryError::SizeInvalid {
                actual: bytes.len(),
                limit: self.max_manifest_bytes,
            });
        }
        let digest = match reference {
            ManifestReference::Digest(expected) => {
                let computed = expected.recompute(&bytes);
                if &computed != expected {
                    return Err(RegistryError::DigestMismatch {
                        provided: expected.to_string(),
                        computed: computed.to_string(),
                    });
                }
                computed
            }
            ManifestReference::Tag(_) => Digest::sha256_of(&bytes),
        };
        let manifest = ParsedManifest::parse(&bytes, content_type)?;

        let _reachable = self.collection.read().await;
        for blob in &manifest.blobs {
            if !self.storage.blob_linked(repository, blob).await
                || !self.storage.touch_blob(blob).await?
            {
                return Err(RegistryError::ManifestBlobUnknown {
                    repository: repository.to_string(),
                    digest: blob.to_string(),
                });
            }
        }
        for child in &manifest.children {
            if self.storage.revision(repository, child).await?.is_none() {
                return Err(RegistryError::ManifestBlobUnknown {
                    repository: repository.to_string(),
                    digest: child.to_string(),
                });
            }
        }
        self.storage.put_verified_blob(&digest, &bytes).await?;
        self.storage
            .put_revision(repository, &digest, &manifest.media_type)
            .await?;
        if let Some(subject) = &manifest.subject {
            let descriptor = manifest.referrer_descriptor(&digest, bytes.len());
            self.storage
                .put_referrer(
                    repository,
                    subject,
                    &digest,
                    descriptor.to_string().as_bytes(),
                )
                .await?;
        }
        if let ManifestReference::Tag(tag) = reference {
            self.storage.put_tag(repository, tag, &digest).await?;
        }
        Ok(PutManifestOutcome {
            digest,
            subject: manifest.subject,
        })
    }

    pub async fn get_manifest(
        &self,
        repository: &RepositoryName,
        reference: &ManifestReference,
    ) -> Result<StoredManifest, RegistryError> {
        let unknown = || RegistryError::ManifestUnknown {
            repository: repository.to_string(),
            reference: reference.to_string(),
        };
        let digest = self
            .resolve(repository, reference)
            .await?
            .ok_or_else(unknown)?;
        let media_type = self
            .storage
            .revision(repository, &digest)
            .await?
            .ok_or_else(unknown)?;
        let bytes = self.storage.read_blob(&digest).await?.ok_or_else(unknown)?;
        Ok(StoredManifest {
            digest,
            media_type,
            bytes,
        })
    }

    async fn resolve(
        &self,
        repository: &RepositoryName,
        reference: &ManifestReference,
    ) -> Result<Option<Digest>, StorageError> {
        match reference {
            ManifestReference::Digest(digest) => Ok(Some(digest.clone())),
            ManifestReference::Tag(tag) => self.storage.resolve_tag(repository, tag).await,
        }
    }

    /// By tag: removes the tag. By digest: removes the manifest, the tags that point at it and its
    /// entry in its subject's referrers.
    pub async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        reference: &ManifestReference,
    ) -> Result<(), RegistryError> {
        let unknown = || RegistryError::ManifestUnknown {
            repository: repository.to_string(),
            reference: reference.to_string(),
        };
        match reference {
            ManifestReference::Tag(tag) => {
                if self.storage.delete_tag(repository, tag).await? {
                    Ok(())
                } else {
                    Err(unknown())
                }
            }
            ManifestReference::Digest(digest) => {
                if self.storage.revision(repository, digest).await?.is_none() {
                    return Err(unknown());
                }
                for name in self.storage.list_tags(repository).await? {
                    let Ok(tag) = name.parse::<Tag>() else {
                        continue;
                    };
                    if self.storage.resolve_tag(repository, &tag).await?.as_ref() == Some(digest) {
                        self.storage.delete_tag(repository, &tag).await?;
                    }
                }
                if let Some(bytes) = self.storage.read_blob(digest).await?
                    && let Some(subject) = ParsedManifest::subject_of(&bytes)
                {
                    self.storage
                        .delete_referrer(repository, &subject, digest)
                        .await?;
                }
                self.storage.delete_revision(repository, digest).await?;
                Ok(())
            }
        }
    }

    // ---- listings ----

    pub async fn list_tags(
        &self,
        repository: &RepositoryName,
        limit: Option<usize>,
        last: Option<&str>,
    ) -> Result<Page, RegistryError> {
        if !self.storage.repository_exists(repository).await {
            return Err(RegistryError::NameUnknown {
                name: repository.to_string(),
            });
        }
        let tags = self.storage.list_tags(repository).await?;
        Ok(paginate(tags, limit, last))
    }

    /// Repositories for which `visible` holds, paginated.
    pub async fn list_repositories(
        &self,
        limit: Option<usize>,
        last: Option<&str>,
        visible: impl Fn(&RepositoryName) -> bool,
    ) -> Result<Page, RegistryError> {
        let names = self
            .storage
            .list_repositories()
            .await?
            .into_iter()
            .filter(|name| visible(name))
            .map(|name| name.to_string())
            .collect();
        Ok(paginate(names, limit, last))
    }

    /// The OCI index of manifests whose subject is `subject`, filtered by `artifact_type`.
    pub async fn list_referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Bytes, RegistryError> {
        let descriptors: Vec<Value> = self
            .storage
            .list_referrers(repository, subject)
            .await?
            .iter()
            .filter_map(|bytes| serde_json::from_slice::<Value>(bytes).ok())
            .filter(|descriptor| {
                artifact_type
                    .is_none_or(|wanted| descriptor["artifactType"].as_str() == Some(wanted))
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": descriptors,
        });
        Ok(Bytes::from(index.to_string()))
    }

    // ---- garbage collection ----

    /// Deletes blobs no manifest of any repository references and that are older than `grace`.
    pub async fn collect_garbage(&self, grace: Duration) -> Result<GarbageReport, StorageError> {
        let _exclusive = self.collection.write().await;
        let repositories = self.storage.list_repositories().await?;
        let mut marked = HashSet::new();
        for repository in &repositories {
            for digest in self.storage.list_revisions(repository).await? {
                if let Some(bytes) = self.storage.read_blob(&digest).await? {
                    marked.extend(ParsedManifest::referenced_digests(&bytes));
                }
                marked.insert(digest);
            }
        }
        let cutoff = SystemTime::now()
            .checked_sub(grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut report = GarbageReport::default();
        let mut removed = HashSet::new();
        for blob in self.storage.list_blobs().await? {
            if !marked.contains(&blob.digest) && blob.modified <= cutoff {
                self.storage.delete_blob(&blob.digest).await?;
                report.blobs_removed += 1;
                report.bytes_freed += blob.size;
                removed.insert(blob.digest);
            }
        }
        for repository in &repositories {
            for link in self.storage.list_links(repository).await? {
                if removed.contains(&link) {
                    self.storage.unlink_blob(repository, &link).await?;
                }
            }
        }
        Ok(report)
    }
}

/// What the registry needs to know of a manifest it accepts.
struct ParsedManifest {
    media_type: String,
    /// Config and layers: blobs that must already be in the repository.
    blobs: Vec<Digest>,
    /// Manifests of an index: must already be in the repository.
    children: Vec<Digest>,
    subject: Option<Digest>,
    artifact_type: Option<String>,
    annotations: Option<Value>,
}

impl ParsedManifest {
    fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self, RegistryError> {
        let invalid = |reason: String| RegistryError::ManifestInvalid { reason };
        let value: Value =
            serde_json::from_slice(bytes).map_err(|error| invalid(format!("not JSON: {error}")))?;
        if value["schemaVersion"].as_u64() != Some(2) {
            return Err(invalid("schemaVersion must be 2".to_owned()));
        }
        let media_type = value["mediaType"]
            .as_str()
            .or(content_type)
            .ok_or_else(|| invalid("no mediaType in the manifest and no Content-Type".to_owned()))?
            .to_owned();
        let descriptor_digest =
            |descriptor: &Value, field: &str| -> Result<Digest, RegistryError> {
                descriptor["digest"]
                    .as_str()
                    .ok_or_else(|| invalid(format!("a descriptor in {field} has no digest")))?
                    .parse()
            };
        let mut blobs = Vec::new();
        let mut children = Vec::new();
        match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                if !value["config"].is_object() {
                    return Err(invalid(
                        "an image manifest needs a config descriptor".to_owned(),
                    ));
                }
                blobs.push(descriptor_digest(&value["config"], "config")?);
                let layers = value["layers"]
                    .as_array()
                    .ok_or_else(|| invalid("an image manifest needs a layers array".to_owned()))?;
                for layer in layers {
                    // Foreign layers (with urls) are fetched from elsewhere by clients.
                    if layer["urls"].as_array().is_none_or(Vec::is_empty) {
                        blobs.push(descriptor_digest(layer, "layers")?);
                    }
                }
            }
            OCI_INDEX | DOCKER_MANIFEST_LIST => {
                let manifests = value["manifests"]
                    .as_array()
                    .ok_or_else(|| invalid("an index needs a manifests array".to_owned()))?;
                for manifest in manifests {
                    children.push(descriptor_digest(manifest, "manifests")?);
                }
            }
            other => return Err(invalid(format!("unsupported manifest media type {other}"))),
        }
        let subject = if value["subject"].is_object() {
            Some(descriptor_digest(&value["subject"], "subject")?)
        } else {
            None
        };
        let artifact_type = value["artifactType"]
            .as_str()
            .or_else(|| value["config"]["mediaType"].as_str())
            .map(str::to_owned);
        let annotations = value
            .get("annotations")
            .filter(|value| value.is_object())
            .cloned();
        Ok(Self {
            media_type,
            blobs,
            children,
            subject,
            artifact_type,
            annotations,
        })
    }

    fn referrer_descriptor(&self, digest: &Digest, size: usize) -> Value {
        let mut descriptor = serde_json::json!({
            "mediaType": self.media_type,
            "digest": digest.to_string(),
            "size": size,
        });
        if let Some(artifact_type) = &self.artifact_type {
            descriptor["artifactType"] = Value::String(artifact_type.clone());
        }
        if let Some(annotations) = &self.annotations {
            descriptor["annotations"] = annotations.clone();
        }
        descriptor
    }

    fn subject_of(bytes: &[u8]) -> Option<Digest> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        value["subject"]["digest"].as_str()?.parse().ok()
    }

    /// Every digest a stored manifest keeps alive: config, layers, index entries.
    fn referenced_digests(bytes: &[u8]) -> Vec<Digest> {
        let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
            return Vec::new();
        };
        let config = std::iter::once(&value["config"]);
        let lists = ["layers", "manifests", "blobs"]
            .into_iter()
            .filter_map(|field| value[field].as_array())
            .flatten();
        config
            .chain(lists)
            .filter_map(|descriptor| descriptor["digest"].as_str()?.parse().ok())
            .collect()
    }
}

fn paginate(mut items: Vec<String>, limit: Option<usize>, last: Option<&str>) -> Page {
    items.sort();
    if let Some(last) = last {
        items.retain(|item| item.as_str() > last);
    }
    let more = limit.is_some_and(|limit| items.len() > limit);
    if let Some(limit) = limit {
        items.truncate(limit);
    }
    Page { items, more }
}

/// `bytes=start-end`, `bytes=start-` or `bytes=-suffix`, as inclusive offsets.
fn parse_byte_range(range: &str, size: u64) -> Result<(u64, u64), RegistryError> {
    let unsatisfiable = || RegistryError::RangeNotSatisfiable {
        range: range.to_owned(),
        size,
    };
    let spec = range.strip_prefix("bytes=").ok_or_else(unsatisfiable)?;
    let (start, end) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let suffix: u64 = suffix.parse().map_err(|_| unsatisfiable())?;
            (
                size.saturating_sub(suffix),
                size.checked_sub(1).ok_or_else(unsatisfiable)?,
            )
        }
        (start, "") => (
            start.parse().map_err(|_| unsatisfiable())?,
            size.checked_sub(1).ok_or_else(unsatisfiable)?,
        ),
        (start, end) => {
            let end: u64 = end.parse().map_err(|_| unsatisfiable())?;
            (
                start.parse().map_err(|_| unsatisfiable())?,
                end.min(size.saturating_sub(1)),
            )
        }
    };
    if start > end || start >= size {
        return Err(unsatisfiable());
    }
    Ok((start, end))
}

/// The start offset of a `Content-Range: <start>-<end>` header of a chunk.
fn parse_content_range_start(range: &str) -> Result<u64, RegistryError> {
    let spec = range
        .trim()
        .trim_start_matches("bytes")
        .trim_start_matches(['=', ' ']);
    spec.split_once('-')
        .and_then(|(start, _)| start.trim().parse().ok())
        .ok_or_else(|| RegistryError::BlobUploadInvalid {
            reason: format!("Content-Range {range:?} is not <start>-<end>"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges() {
        assert_eq!(parse_byte_range("bytes=0-9", 100).unwrap(), (0, 9));
        assert_eq!(parse_byte_range("bytes=90-", 100).unwrap(), (90, 99));
        assert_eq!(parse_byte_range("bytes=-10", 100).unwrap(), (90, 99));
        assert_eq!(parse_byte_range("bytes=50-500", 100).unwrap(), (50, 99));
        assert!(parse_byte_range("bytes=100-", 100).is_err());
        assert!(parse_byte_range("items=0-1", 100).is_err());
    }

    #[test]
    fn pagination_is_lexical_after_last() {
        let items = ["c", "a", "b", "d"].map(String::from).to_vec();
        let page = paginate(items.clone(), Some(2), None);
        assert_eq!(
            (page.items, page.more),
            (vec!["a".to_owned(), "b".to_owned()], true)
        );
        let page = paginate(items, Some(2), Some("b"));
        assert_eq!(
            (page.items, page.more),
            (vec!["c".to_owned(), "d".to_owned()], false)
        );
    }

    #[test]
    fn content_range_start() {
        assert_eq!(parse_content_range_start("0-99").unwrap(), 0);
        assert_eq!(parse_content_range_start("bytes 100-199").unwrap(), 100);
        assert!(parse_content_range_start("x").is_err());
    }
}
