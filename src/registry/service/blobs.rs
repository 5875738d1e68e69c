//! Blobs a repository holds: existence, reading (whole or one range), mounting from another
//! repository, and removal from a repository.

use tokio::fs::File;

use super::RegistryService;
use crate::registry::digest::Digest;
use crate::registry::error::RegistryError;
use crate::registry::name::RepositoryName;

/// The part of a blob a `Range` request asks for, before the blob's size is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteRange {
    /// From `first` to `last` inclusive, or to the end when `last` is absent; a `last` past the
    /// end stops at the end.
    Span { first: u64, last: Option<u64> },
    /// The last `length` bytes.
    Suffix { length: u64 },
    /// A header that names no range the registry reads: answered 416 with the blob's size, so the
    /// client learns what it may ask for.
    Unreadable { header: String },
}

impl ByteRange {
    /// Inclusive offsets of the range in a blob of `size` bytes; None when it has no byte there.
    pub fn within(&self, size: u64) -> Option<(u64, u64)> {
        let last_byte = size.checked_sub(1)?;
        let (first, last) = match *self {
            Self::Span { first, last } => {
                (first, last.map_or(last_byte, |last| last.min(last_byte)))
            }
            Self::Suffix { length } => (size.saturating_sub(length), last_byte),
            Self::Unreadable { .. } => return None,
        };
        (first <= last && first < size).then_some((first, last))
    }
}

impl std::fmt::Display for ByteRange {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Span { first, last: None } => write!(formatter, "bytes={first}-"),
            Self::Span {
                first,
                last: Some(last),
            } => write!(formatter, "bytes={first}-{last}"),
            Self::Suffix { length } => write!(formatter, "bytes=-{length}"),
            Self::Unreadable { header } => formatter.write_str(header),
        }
    }
}

/// The bytes of a blob to send: the whole blob or one range of it.
pub struct BlobContent {
    pub file: File,
    pub total_size: u64,
    pub start: u64,
    pub length: u64,
    pub partial: bool,
}

impl RegistryService {
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

    /// Opens a blob for reading, whole or the requested `range` of it.
    pub async fn read_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        range: Option<&ByteRange>,
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
                let (start, end) =
                    range
                        .within(total_size)
                        .ok_or_else(|| RegistryError::RangeNotSatisfiable {
                            range: range.to_string(),
                            size: total_size,
                        })?;
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
}
