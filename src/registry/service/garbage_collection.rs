//! Garbage collection: blobs that no manifest of any repository references and that are older
//! than the grace period are deleted, with the links that named them.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use super::RegistryService;
use super::manifests::ParsedManifest;
use crate::registry::error::StorageError;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GarbageReport {
    pub blobs_removed: usize,
    pub bytes_freed: u64,
}

impl RegistryService {
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
