//! The distribution API's rules: upload sessions, digest verification, manifest validation, tags,
//! referrers, and garbage collection. Called by `routes`, calls `storage`; never the reverse.
//!
//! Garbage collection and writers coordinate through one read-write lock: every step that makes a
//! blob reachable (committing an upload, mounting, checking existence before a push, putting a
//! manifest) holds it for reading and refreshes the blob's modification time, and collection holds
//! it for writing. A blob younger than the grace period is never collected, which protects the
//! window between a client learning that a layer exists and pushing the manifest that uses it.
//! Bytes of uploads in progress live outside the blob store, so collection never sees them.

mod blobs;
mod garbage_collection;
mod manifests;
mod uploads;

use std::collections::HashMap;
use std::sync::Mutex;

pub use blobs::{BlobContent, ByteRange};
pub use garbage_collection::GarbageReport;
pub use manifests::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, ManifestReference, OCI_INDEX, OCI_MANIFEST, Page,
    PutManifestOutcome, StoredManifest,
};
pub use uploads::UploadStatus;

use super::storage::Storage;
use uploads::SessionEntry;

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
}
