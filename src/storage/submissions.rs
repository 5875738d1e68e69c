//! Submissions for publication and the append-only history of a datalab's publication.
//!
//! Every change of publishing state is one [`PublishingWrite`] applied in one transaction: new
//! submission, state changes (each only from the state the service saw, so two moderators
//! deciding at once cannot both win), the publication itself, and the history entries that
//! record it. The history table refuses updates and deletes by trigger on both backends.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{Database, StorageError, with_pool};
use crate::datalabs::states::{DatalabState, Visibility};
use crate::publishing::states::SubmissionState;

/// A `submissions` row with the names the API shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubmissionRow {
    pub id: String,
    pub datalab_id: String,
    pub datalab_name: String,
    pub kind: String,
    pub owner_id: String,
    pub version_id: String,
    pub version: String,
    pub build_id: String,
    pub build_number: i64,
    pub submitted_by: String,
    pub submitter_name: String,
    pub visibility: Visibility,
    pub licence: String,
    pub state: SubmissionState,
    pub changes: Option<Json<serde_json::Value>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! submission_columns {
    () => {
        "s.id, s.datalab_id, d.name AS datalab_name, d.kind, d.owner_id, s.version_id, \
         v.version, s.build_id, b.number AS build_number, s.submitted_by, \
         u.name AS submitter_name, s.visibility, s.licence, s.state, s.changes, s.created_at, \
         s.updated_at FROM submissions s JOIN datalabs d ON d.id = s.datalab_id \
         JOIN versions v ON v.id = s.version_id JOIN builds b ON b.id = s.build_id \
         JOIN users u ON u.id = s.submitted_by"
    };
}

/// A new submission.
#[derive(Debug, Clone)]
pub struct SubmissionInsert {
    pub id: String,
    pub datalab_id: String,
    pub version_id: String,
    pub build_id: String,
    pub submitted_by: String,
    pub visibility: Visibility,
    pub licence: String,
    pub state: SubmissionState,
    pub changes: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// Moves submission `id` from `from` to `to`; `build_id` replaces the checked build (resubmit).
#[derive(Debug, Clone)]
pub struct StateChange {
    pub submission_id: String,
    pub from: SubmissionState,
    pub to: SubmissionState,
    pub build_id: Option<String>,
}

/// Makes `version_id` the published version of `datalab_id`, seen by `visibility`.
#[derive(Debug, Clone)]
pub struct Publication {
    pub datalab_id: String,
    pub version_id: String,
    pub visibility: Visibility,
}

/// Moves the datalab `datalab_id` from `from` to `to` (deprecating, archiving).
#[derive(Debug, Clone)]
pub struct DatalabStateChange {
    pub datalab_id: String,
    pub from: DatalabState,
    pub to: DatalabState,
}

/// One `history` row to append; its number within the datalab is given when it is written.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub datalab_id: String,
    pub datalab_name: String,
    pub submission_id: Option<String>,
    /// `None` for labforge itself.
    pub actor: Option<String>,
    pub action: &'static str,
    pub from_state: Option<String>,
    pub to_state: String,
    pub version: Option<String>,
    pub build_number: Option<i64>,
    pub comment: Option<String>,
}

/// A `history` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryRow {
    pub sequence: i64,
    pub submission_id: Option<String>,
    pub actor: Option<String>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub version: Option<String>,
    pub build_number: Option<i64>,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Everything one publishing step writes, all or nothing.
#[derive(Debug, Clone, Default)]
pub struct PublishingWrite {
    pub insert: Option<SubmissionInsert>,
    pub state_changes: Vec<StateChange>,
    pub publication: Option<Publication>,
    pub datalab_state: Option<DatalabStateChange>,
    pub history: Vec<HistoryEntry>,
}

/// Which submissions the review queue shows.
#[derive(Debug, Clone)]
pub struct QueueFilter {
    pub state: SubmissionState,
    pub kind: Option<String>,
    /// Only those submitted before this time.
    pub submitted_before: Option<DateTime<Utc>>,
}

impl Database {
    /// Applies `write` in one transaction. A state change whose submission is no longer in its
    /// `from` state is a [`StorageError::Conflict`], and nothing is written.
    #[expect(
        clippy::too_many_lines,
        reason = "one transaction on either backend: its statements read best in the order they run"
    )]
    pub async fn apply_publishing(
        &self,
        write: &PublishingWrite,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            let mut transaction = pool.begin().await?;
            if let Some(insert) = &write.insert {
                sqlx::query(
                    "INSERT INTO submissions (id, datalab_id, version_id, build_id, \
                     submitted_by, visibility, licence, state, changes, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                )
                .bind(&insert.id)
                .bind(&insert.datalab_id)
                .bind(&insert.version_id)
                .bind(&insert.build_id)
                .bind(&insert.submitted_by)
                .bind(insert.visibility)
                .bind(&insert.licence)
                .bind(insert.state)
                .bind(insert.changes.as_ref().map(Json))
                .bind(insert.created_at)
                .execute(&mut *transaction)
                .await?;
            }
            for change in &write.state_changes {
                let changed = sqlx::query(
                    "UPDATE submissions SET state = $3, build_id = COALESCE($4, build_id), \
                     updated_at = $5 WHERE id = $1 AND state = $2",
                )
                .bind(&change.submission_id)
                .bind(change.from)
                .bind(change.to)
                .bind(change.build_id.as_deref())
                .bind(now)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Err(StorageError::Conflict {
                        what: format!(
                            "a newer decision on submission {} (it is no longer {})",
                            change.submission_id, change.from
                        ),
                    });
                }
            }
            if let Some(publication) = &write.publication {
                sqlx::query(
                    "UPDATE datalabs SET state = 'published', visibility = $2, updated_at = $3 \
                     WHERE id = $1",
                )
                .bind(&publication.datalab_id)
                .bind(publication.visibility)
                .bind(now)
                .execute(&mut *transaction)
                .await?;
                sqlx::query(
                    "UPDATE versions SET state = 'published', updated_at = $2 WHERE id = $1",
                )
                .bind(&publication.version_id)
                .bind(now)
                .execute(&mut *transaction)
                .await?;
            }
            if let Some(change) = &write.datalab_state {
                let changed = sqlx::query(
                    "UPDATE datalabs SET state = $3, updated_at = $4 WHERE id = $1 AND state = $2",
                )
                .bind(&change.datalab_id)
                .bind(change.from)
                .bind(change.to)
                .bind(now)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Err(StorageError::Conflict {
                        what: format!(
                            "a newer change of the datalab (it is no longer {})",
                            change.from
                        ),
                    });
                }
            }
            for entry in &write.history {
                sqlx::query(
                    "INSERT INTO history (datalab_id, sequence, datalab_name, submission_id, \
                     actor, action, from_state, to_state, version, build_number, comment, \
                     created_at) SELECT $1, COALESCE(MAX(sequence), 0) + 1, $2, $3, $4, $5, $6, \
                     $7, $8, $9, $10, $11 FROM history WHERE datalab_id = $1",
                )
                .bind(&entry.datalab_id)
                .bind(&entry.datalab_name)
                .bind(entry.submission_id.as_deref())
                .bind(entry.actor.as_deref())
                .bind(entry.action)
                .bind(entry.from_state.as_deref())
                .bind(&entry.to_state)
                .bind(entry.version.as_deref())
                .bind(entry.build_number)
                .bind(entry.comment.as_deref())
                .bind(now)
                .execute(&mut *transaction)
                .await
                .map_err(StorageError::conflict_as(
                    "a history entry written at the same time",
                ))?;
            }
            transaction.commit().await?;
        });
        Ok(())
    }

    pub async fn submission_by_id(&self, id: &str) -> Result<Option<SubmissionRow>, StorageError> {
        let query = concat!("SELECT ", submission_columns!(), " WHERE s.id = $1");
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query).bind(id).fetch_optional(pool).await?
        }))
    }

    /// The submissions of a datalab, oldest first.
    pub async fn submissions_of_datalab(
        &self,
        datalab_id: &str,
    ) -> Result<Vec<SubmissionRow>, StorageError> {
        let query = concat!(
            "SELECT ",
            submission_columns!(),
            " WHERE s.datalab_id = $1 ORDER BY s.created_at, s.id"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(datalab_id)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The review queue: oldest first.
    pub async fn review_queue(
        &self,
        filter: &QueueFilter,
    ) -> Result<Vec<SubmissionRow>, StorageError> {
        let query = concat!(
            "SELECT ",
            submission_columns!(),
            " WHERE s.state = $1 AND ($2 IS NULL OR d.kind = $2) \
             AND ($3 IS NULL OR s.created_at < $3) ORDER BY s.created_at, s.id"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(filter.state)
                .bind(filter.kind.as_deref())
                .bind(filter.submitted_before)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The datalab's history, in the order it happened.
    pub async fn history_of(&self, datalab_id: &str) -> Result<Vec<HistoryRow>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT sequence, submission_id, actor, action, from_state, to_state, version, \
                 build_number, comment, created_at FROM history WHERE datalab_id = $1 \
                 ORDER BY sequence",
            )
            .bind(datalab_id)
            .fetch_all(pool)
            .await?
        }))
    }
}
