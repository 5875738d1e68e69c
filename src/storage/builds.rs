//! Builds, their queue and their logs.

use super::{Database, StorageError, with_pool};

/// Every status a build can have, in the order a build goes through them.
pub const BUILD_STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

impl Database {
    /// How many builds have each status (statuses without builds are absent).
    pub async fn build_counts_by_status(&self) -> Result<Vec<(String, i64)>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as("SELECT status, COUNT(*) FROM builds GROUP BY status")
                .fetch_all(pool)
                .await?
        }))
    }
}
