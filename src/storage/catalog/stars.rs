//! Stars: who starred which datalab. The count the marketplace sorts by is kept on the datalab's
//! index entry, recounted in the same transaction as each star or unstar, so that starring needs no
//! index refresh.

use chrono::{DateTime, Utc};

use crate::storage::{Database, StorageError, with_pool};

/// Sets the star count of the entry of the datalab `$1`, if it has one, from the stars.
const RECOUNT_STARS: &str = "UPDATE marketplace_entries \
     SET stars = (SELECT COUNT(*) FROM stars WHERE datalab_id = $1) WHERE datalab_id = $1";
const COUNT_STARS: &str = "SELECT COUNT(*) FROM stars WHERE datalab_id = $1";

impl Database {
    /// Records that `user_id` stars `datalab_id` (starring twice changes nothing); returns the
    /// datalab's number of stars.
    pub async fn star_datalab(
        &self,
        datalab_id: &str,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StorageError> {
        with_pool!(self, write, |pool| {
            let mut transaction = pool.begin().await?;
            sqlx::query(
                "INSERT INTO stars (datalab_id, user_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (datalab_id, user_id) DO NOTHING",
            )
            .bind(datalab_id)
            .bind(user_id)
            .bind(at)
            .execute(&mut *transaction)
            .await?;
            sqlx::query(RECOUNT_STARS)
                .bind(datalab_id)
                .execute(&mut *transaction)
                .await?;
            let stars = sqlx::query_scalar(COUNT_STARS)
                .bind(datalab_id)
                .fetch_one(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok(stars)
        })
    }

    /// Removes `user_id`'s star from `datalab_id`, if any; returns the datalab's number of stars.
    pub async fn unstar_datalab(
        &self,
        datalab_id: &str,
        user_id: &str,
    ) -> Result<i64, StorageError> {
        with_pool!(self, write, |pool| {
            let mut transaction = pool.begin().await?;
            sqlx::query("DELETE FROM stars WHERE datalab_id = $1 AND user_id = $2")
                .bind(datalab_id)
                .bind(user_id)
                .execute(&mut *transaction)
                .await?;
            sqlx::query(RECOUNT_STARS)
                .bind(datalab_id)
                .execute(&mut *transaction)
                .await?;
            let stars = sqlx::query_scalar(COUNT_STARS)
                .bind(datalab_id)
                .fetch_one(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok(stars)
        })
    }
}
