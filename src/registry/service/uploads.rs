//! Upload sessions: started, appended to chunk by chunk, finished once the digest checks out, or
//! cancelled. Sessions an earlier process left are resumed at start; idle ones are purged.
//!
//! Several service processes may share one content store: an upload started by one can be
//! continued and finished by another. The bytes on disk are the truth: a session unknown here is
//! taken up from them, one whose bytes another process extended is hashed again from them, one
//! whose bytes are gone was finished or cancelled elsewhere, and an upload is idle only when its
//! bytes have not changed for the expiry.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;

use super::RegistryService;
use crate::registry::digest::{Algorithm, Digest, Hasher};
use crate::registry::error::{RegistryError, StorageError};
use crate::registry::name::RepositoryName;
use crate::registry::storage::AppendError;

struct UploadSession {
    size: u64,
    /// Set when the session is finished or cancelled, for requests that were waiting on its lock.
    closed: bool,
    sha256: Hasher,
    last_activity: Instant,
}

pub(super) struct SessionEntry {
    repository: RepositoryName,
    session: Arc<tokio::sync::Mutex<UploadSession>>,
}

/// Where an upload stands, for the `Location` and `Range` headers.
#[derive(Debug, Clone)]
pub struct UploadStatus {
    pub id: String,
    pub size: u64,
}

impl RegistryService {
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
        let session = self.session(repository, id).await?;
        let session = self.lock_open(&session, id).await?;
        Ok(UploadStatus {
            id: id.to_owned(),
            size: session.size,
        })
    }

    /// Appends a chunk. `chunk_start` is where the client says the chunk starts (its
    /// `Content-Range`): a chunk that does not start where the upload ends is refused with 416.
    pub async fn append_upload<S, E>(
        &self,
        repository: &RepositoryName,
        id: &str,
        chunk_start: Option<u64>,
        body: S,
    ) -> Result<UploadStatus, RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let session = self.session(repository, id).await?;
        let mut session = self.lock_open(&session, id).await?;
        self.append_locked(repository, id, &mut session, chunk_start, body)
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
        chunk_start: Option<u64>,
        body: S,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        if let Some(start) = chunk_start
            && start != session.size
        {
            return Err(RegistryError::ChunkOutOfOrder {
                start,
                size: session.size,
                repository: repository.to_string(),
                id: id.to_owned(),
            });
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
        chunk_start: Option<u64>,
        body: S,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let session = self.session(repository, id).await?;
        let mut session = self.lock_open(&session, id).await?;
        self.append_locked(repository, id, &mut session, chunk_start, body)
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
        let session = self.session(repository, id).await?;
        let mut session = self.lock_open(&session, id).await?;
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
        let mut purged = 0;
        for id in &expired {
            // Another process may be continuing it: idle means its bytes did not change either.
            if let Some((_, modified)) = self.storage.upload_state(id).await
                && modified.elapsed().is_ok_and(|idle| idle < expiry)
            {
                continue;
            }
            self.storage.remove_upload(id).await?;
            purged += 1;
        }
        Ok(purged)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionEntry>> {
        self.uploads.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session `id` of `repository`: this process's, or one another process sharing the
    /// content store started, taken up from its bytes.
    async fn session(
        &self,
        repository: &RepositoryName,
        id: &str,
    ) -> Result<Arc<tokio::sync::Mutex<UploadSession>>, RegistryError> {
        let unknown = || RegistryError::BlobUploadUnknown { id: id.to_owned() };
        if let Some(entry) = self.sessions().get(id) {
            return if &entry.repository == repository {
                Ok(Arc::clone(&entry.session))
            } else {
                Err(unknown())
            };
        }
        // Upload ids are this registry's UUIDs; anything else names no file of the store.
        if uuid::Uuid::parse_str(id).is_err()
            || self.storage.upload_owner(id).await.as_deref() != Some(repository.as_str())
        {
            return Err(unknown());
        }
        let (size, sha256) = self.storage.rehash_upload(id, Algorithm::Sha256).await?;
        let session = Arc::new(tokio::sync::Mutex::new(UploadSession {
            size,
            closed: false,
            sha256,
            last_activity: Instant::now(),
        }));
        let entry = self
            .sessions()
            .entry(id.to_owned())
            .or_insert_with(|| SessionEntry {
                repository: repository.clone(),
                session,
            })
            .session
            .clone();
        Ok(entry)
    }

    /// Locks an upload session that is still open, brought up to date with its bytes when
    /// another process changed them.
    async fn lock_open<'a>(
        &self,
        session: &'a tokio::sync::Mutex<UploadSession>,
        id: &str,
    ) -> Result<tokio::sync::MutexGuard<'a, UploadSession>, RegistryError> {
        let mut guard = session.lock().await;
        if guard.closed {
            return Err(RegistryError::BlobUploadUnknown { id: id.to_owned() });
        }
        match self.storage.upload_state(id).await {
            None => {
                // Finished or cancelled by another process.
                guard.closed = true;
                self.sessions().remove(id);
                return Err(RegistryError::BlobUploadUnknown { id: id.to_owned() });
            }
            Some((size, _)) if size != guard.size => {
                let (size, sha256) = self.storage.rehash_upload(id, Algorithm::Sha256).await?;
                guard.size = size;
                guard.sha256 = sha256;
            }
            Some(_) => {}
        }
        Ok(guard)
    }
}
