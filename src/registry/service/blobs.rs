//! Blobs a repository holds: existence, reading (whole or one range), mounting from another
//! repository, and removal from a repository.

use tokio::fs::File;

use super::RegistryService;
use crate::registry::digest::Digest;
use crate::registry::error::RegistryError;
use crate::registry::name::RepositoryName;

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
}
