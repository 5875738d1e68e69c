//! Builds, their queue and their logs.
//!
//! The queue is the `builds` table itself: a worker claims a build by turning it from `queued` to
//! `running` in one `UPDATE`, and holds it with a lease it renews (its heartbeat). Builds of one
//! datalab run in order because the claim takes the oldest queued build whose datalab has none
//! running, and the unique partial index `builds_one_running_per_datalab` refuses a second
//! running build even when two PostgreSQL workers race (the loser's claim fails and it tries
//! again later). On SQLite the single write connection serialises claims.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{Database, StorageError, with_pool};
use crate::datalabs::states::BuildStatus;

/// How often a build number is tried again when a concurrent request took it (PostgreSQL).
const NUMBER_ATTEMPTS: usize = 5;

/// A `builds` row with the name of the user who asked for it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BuildRow {
    pub id: String,
    pub datalab_id: String,
    pub version_id: String,
    pub number: i64,
    pub status: BuildStatus,
    pub requested_by: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub worker: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub cancel_requested: bool,
    pub failure: Option<String>,
    pub environment_hash: Option<String>,
    pub content_hash: Option<String>,
    pub image: Option<String>,
    pub digest: Option<String>,
    pub reused: bool,
    /// The smoke-test result as JSON text (the column is TEXT on both backends).
    pub smoke_test: Option<String>,
    pub lint_findings: Option<Json<serde_json::Value>>,
    pub phase_timings: Option<Json<serde_json::Value>>,
    /// The dependencies' licence report of a succeeded build (its SPDX document is read apart:
    /// [`Database::build_sbom`]).
    pub licence_report: Option<Json<serde_json::Value>>,
    /// A JupyterLab datalab's notebooks executed in the image.
    pub notebook_checks: Option<Json<serde_json::Value>>,
    /// Whether the build keeps a screenshot ([`Database::build_screenshot`]).
    pub has_screenshot: bool,
}

/// The columns of [`BuildRow`] from `builds b LEFT JOIN users u ON u.id = b.requested_by`.
macro_rules! build_columns {
    () => {
        "b.id, b.datalab_id, b.version_id, b.number, b.status, u.name AS requested_by, \
         b.queued_at, b.started_at, b.finished_at, b.worker, b.lease_expires_at, \
         b.cancel_requested, b.failure, b.environment_hash, b.content_hash, b.image, b.digest, \
         b.reused, b.smoke_test, b.lint_findings, b.phase_timings, b.licence_report, \
         b.notebook_checks, b.screenshot IS NOT NULL AS has_screenshot \
         FROM builds b LEFT JOIN users u ON u.id = b.requested_by"
    };
}

/// What a finished build leaves behind. `None` fields are stored as NULL.
#[derive(Debug, Clone)]
pub struct BuildResult {
    /// Succeeded, failed or cancelled.
    pub status: BuildStatus,
    pub failure: Option<String>,
    pub environment_hash: Option<String>,
    pub content_hash: Option<String>,
    pub image: Option<String>,
    pub digest: Option<String>,
    pub reused: bool,
    pub smoke_test: Option<String>,
    pub lint_findings: Option<serde_json::Value>,
    pub phase_timings: Option<serde_json::Value>,
    /// The image's SPDX document.
    pub sbom: Option<serde_json::Value>,
    pub licence_report: Option<serde_json::Value>,
    pub notebook_checks: Option<serde_json::Value>,
    /// A desktop's screen, as PNG.
    pub screenshot: Option<Vec<u8>>,
    /// The validated metadata of a succeeded build, stored on its version.
    pub version_metadata: Option<serde_json::Value>,
}

impl BuildResult {
    /// A build that ended with `status` and nothing else to record yet.
    pub fn ended(status: BuildStatus) -> Self {
        Self {
            status,
            failure: None,
            environment_hash: None,
            content_hash: None,
            image: None,
            digest: None,
            reused: false,
            smoke_test: None,
            lint_findings: None,
            phase_timings: None,
            sbom: None,
            licence_report: None,
            notebook_checks: None,
            screenshot: None,
            version_metadata: None,
        }
    }
}

/// A `build_log_lines` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogLineRow {
    pub line_number: i64,
    pub logged_at: DateTime<Utc>,
    pub phase: String,
    pub text: String,
}

/// A running build whose worker stopped renewing its lease.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AbandonedBuild {
    pub id: String,
    pub worker: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
}

impl Database {
    /// How many builds have each status (statuses without builds are absent).
    pub async fn build_counts_by_status(&self) -> Result<Vec<(BuildStatus, i64)>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as("SELECT status, COUNT(*) FROM builds GROUP BY status")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Queues a build of `version_id` numbered one after the version's newest build (0 for the
    /// first). Two PostgreSQL requests may compute the same number; the loser tries again.
    pub async fn insert_queued_build(
        &self,
        id: &str,
        datalab_id: &str,
        version_id: &str,
        requested_by: &str,
        queued_at: DateTime<Utc>,
    ) -> Result<BuildRow, StorageError> {
        self.insert_build(
            id,
            datalab_id,
            version_id,
            Some(requested_by),
            queued_at,
            None,
        )
        .await
    }

    /// A build that labforge itself runs at once, outside the queue (a rebase): numbered like a
    /// queued one, but inserted as `running` on `worker` until `lease_until`, so that no worker
    /// claims it and a crash leaves it to the abandoned-build sweep.
    pub async fn insert_running_build(
        &self,
        id: &str,
        datalab_id: &str,
        version_id: &str,
        started_at: DateTime<Utc>,
        worker: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<BuildRow, StorageError> {
        self.insert_build(
            id,
            datalab_id,
            version_id,
            None,
            started_at,
            Some((worker, lease_until)),
        )
        .await
    }

    async fn insert_build(
        &self,
        id: &str,
        datalab_id: &str,
        version_id: &str,
        requested_by: Option<&str>,
        queued_at: DateTime<Utc>,
        running: Option<(&str, DateTime<Utc>)>,
    ) -> Result<BuildRow, StorageError> {
        let status = if running.is_some() {
            BuildStatus::Running
        } else {
            BuildStatus::Queued
        };
        let (worker, lease) = running.unzip();
        let started_at = running.map(|_| queued_at);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let inserted = with_pool!(self, write, |pool| {
                sqlx::query(
                    "INSERT INTO builds (id, datalab_id, version_id, number, status, \
                     requested_by, queued_at, started_at, worker, lease_expires_at) \
                     SELECT $1, $2, $3, COALESCE(MAX(number) + 1, 0), $6, $4, $5, $7, $8, $9 \
                     FROM builds WHERE version_id = $3",
                )
                .bind(id)
                .bind(datalab_id)
                .bind(version_id)
                .bind(requested_by)
                .bind(queued_at)
                .bind(status)
                .bind(started_at)
                .bind(worker)
                .bind(lease)
                .execute(pool)
                .await
                .map(drop)
                .map_err(StorageError::conflict_as("a build with this number"))
            });
            match inserted {
                Ok(()) => break,
                Err(StorageError::Conflict { .. }) if attempt < NUMBER_ATTEMPTS => {}
                Err(error) => return Err(error),
            }
        }
        self.build_by_id(id).await?.ok_or(StorageError::Corrupt {
            what: "build",
            detail: format!("build {id} vanished right after it was queued"),
        })
    }

    pub async fn build_by_id(&self, id: &str) -> Result<Option<BuildRow>, StorageError> {
        let query = concat!("SELECT ", build_columns!(), " WHERE b.id = $1");
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query).bind(id).fetch_optional(pool).await?
        }))
    }

    pub async fn build_by_number(
        &self,
        version_id: &str,
        number: i64,
    ) -> Result<Option<BuildRow>, StorageError> {
        let query = concat!(
            "SELECT ",
            build_columns!(),
            " WHERE b.version_id = $1 AND b.number = $2"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(version_id)
                .bind(number)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// The SPDX document build `id` keeps; `None` when the build has none (not succeeded, or
    /// built before labforge made them).
    pub async fn build_sbom(&self, id: &str) -> Result<Option<serde_json::Value>, StorageError> {
        let query = "SELECT sbom FROM builds WHERE id = $1";
        let sbom: Option<(Option<Json<serde_json::Value>>,)> = with_pool!(self, read, |pool| {
            sqlx::query_as(query).bind(id).fetch_optional(pool).await?
        });
        Ok(sbom.and_then(|(sbom,)| sbom).map(|sbom| sbom.0))
    }

    /// The PNG screenshot build `id` keeps; `None` when it has none (not a desktop, not
    /// succeeded, or the screen could not be read).
    pub async fn build_screenshot(&self, id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let query = "SELECT screenshot FROM builds WHERE id = $1";
        let screenshot: Option<(Option<Vec<u8>>,)> = with_pool!(self, read, |pool| {
            sqlx::query_as(query).bind(id).fetch_optional(pool).await?
        });
        Ok(screenshot.and_then(|(screenshot,)| screenshot))
    }

    /// The builds of a version, newest first.
    pub async fn builds_of_version(&self, version_id: &str) -> Result<Vec<BuildRow>, StorageError> {
        let query = concat!(
            "SELECT ",
            build_columns!(),
            " WHERE b.version_id = $1 ORDER BY b.number DESC"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(version_id)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The newest succeeded build of a version: the one a new build may reuse.
    pub async fn latest_succeeded_build(
        &self,
        version_id: &str,
    ) -> Result<Option<BuildRow>, StorageError> {
        let query = concat!(
            "SELECT ",
            build_columns!(),
            " WHERE b.version_id = $1 AND b.status = 'succeeded' ORDER BY b.number DESC LIMIT 1"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(version_id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Cancels the build `id` if it is still queued; returns whether it was.
    pub async fn cancel_queued_build(
        &self,
        id: &str,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool, StorageError> {
        Ok(with_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE builds SET status = 'cancelled', finished_at = $2, failure = $3 \
                 WHERE id = $1 AND status = 'queued'",
            )
            .bind(id)
            .bind(now)
            .bind(reason)
            .execute(pool)
            .await?
            .rows_affected()
                > 0
        }))
    }

    /// Asks the worker of the running build `id` to cancel it; returns whether it is running.
    pub async fn request_build_cancel(&self, id: &str) -> Result<bool, StorageError> {
        Ok(with_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE builds SET cancel_requested = TRUE WHERE id = $1 AND status = 'running'",
            )
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
                > 0
        }))
    }

    /// Claims the oldest queued build whose datalab has no running build, for `worker` until
    /// `lease_expires_at`. `None` when there is nothing to claim, or when another worker won a
    /// race for the same build or datalab (PostgreSQL): the caller simply tries again later.
    pub async fn claim_next_build(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_expires_at: DateTime<Utc>,
    ) -> Result<Option<String>, StorageError> {
        // `status = 'queued'` is checked again outside the subquery: a PostgreSQL worker that
        // waited on the row lock of a build another worker just claimed re-evaluates it and
        // finds nothing instead of claiming the build twice.
        let claimed = with_pool!(self, write, |pool| {
            sqlx::query_scalar(
                "UPDATE builds SET status = 'running', worker = $1, started_at = $2, \
                 lease_expires_at = $3 \
                 WHERE status = 'queued' AND id = ( \
                     SELECT candidate.id FROM builds candidate \
                     WHERE candidate.status = 'queued' AND NOT EXISTS ( \
                         SELECT 1 FROM builds running \
                         WHERE running.datalab_id = candidate.datalab_id \
                         AND running.status = 'running') \
                     ORDER BY candidate.queued_at, candidate.number LIMIT 1) \
                 RETURNING id",
            )
            .bind(worker)
            .bind(now)
            .bind(lease_expires_at)
            .fetch_optional(pool)
            .await
        });
        match claimed {
            Ok(id) => Ok(id),
            // Another worker started a build of the same datalab between our look and our write.
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Renews `worker`'s lease on the running build `id`. Returns whether a cancel was requested,
    /// or `None` when the build is no longer this worker's (deleted, or its lease expired and it
    /// was failed by a recovery).
    pub async fn renew_build_lease(
        &self,
        id: &str,
        worker: &str,
        lease_expires_at: DateTime<Utc>,
    ) -> Result<Option<bool>, StorageError> {
        Ok(with_pool!(self, write, |pool| {
            sqlx::query_scalar(
                "UPDATE builds SET lease_expires_at = $3 \
                 WHERE id = $1 AND worker = $2 AND status = 'running' \
                 RETURNING cancel_requested",
            )
            .bind(id)
            .bind(worker)
            .bind(lease_expires_at)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Records how `worker`'s build `id` ended, and the validated metadata on its version, in one
    /// transaction. Returns the build's datalab id, or `None` (and changes nothing) when the build
    /// is no longer this worker's.
    pub async fn finish_build(
        &self,
        id: &str,
        worker: &str,
        finished_at: DateTime<Utc>,
        result: &BuildResult,
    ) -> Result<Option<String>, StorageError> {
        Ok(with_pool!(self, write, |pool| {
            let mut transaction = pool.begin().await?;
            let recorded: Option<(String, String)> = sqlx::query_as(
                "UPDATE builds SET status = $3, finished_at = $4, lease_expires_at = NULL, \
                 failure = $5, environment_hash = $6, content_hash = $7, image = $8, \
                 digest = $9, reused = $10, smoke_test = $11, lint_findings = $12, \
                 phase_timings = $13, sbom = $14, licence_report = $15, \
                 notebook_checks = $16, screenshot = $17 \
                 WHERE id = $1 AND worker = $2 AND status = 'running' \
                 RETURNING version_id, datalab_id",
            )
            .bind(id)
            .bind(worker)
            .bind(result.status)
            .bind(finished_at)
            .bind(&result.failure)
            .bind(&result.environment_hash)
            .bind(&result.content_hash)
            .bind(&result.image)
            .bind(&result.digest)
            .bind(result.reused)
            .bind(&result.smoke_test)
            .bind(result.lint_findings.as_ref().map(Json))
            .bind(result.phase_timings.as_ref().map(Json))
            .bind(result.sbom.as_ref().map(Json))
            .bind(result.licence_report.as_ref().map(Json))
            .bind(result.notebook_checks.as_ref().map(Json))
            .bind(&result.screenshot)
            .fetch_optional(&mut *transaction)
            .await?;
            if let (Some((version_id, _)), Some(metadata)) = (&recorded, &result.version_metadata) {
                sqlx::query("UPDATE versions SET metadata = $2, updated_at = $3 WHERE id = $1")
                    .bind(version_id)
                    .bind(Json(metadata))
                    .bind(finished_at)
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.commit().await?;
            recorded.map(|(_, datalab_id)| datalab_id)
        }))
    }

    /// Running builds whose lease ran out before `now`.
    pub async fn abandoned_builds(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<AbandonedBuild>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT id, worker, lease_expires_at FROM builds \
                 WHERE status = 'running' AND lease_expires_at < $1 ORDER BY queued_at",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Fails the running build `id` if its lease is still expired at `now` (a late heartbeat
    /// wins), with `reason` as its failure and as the last line of its log. Returns whether it
    /// was failed.
    pub async fn fail_abandoned_build(
        &self,
        id: &str,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool, StorageError> {
        Ok(with_pool!(self, write, |pool| {
            let mut transaction = pool.begin().await?;
            let failed = sqlx::query(
                "UPDATE builds SET status = 'failed', finished_at = $2, failure = $3, \
                 lease_expires_at = NULL \
                 WHERE id = $1 AND status = 'running' AND lease_expires_at < $2",
            )
            .bind(id)
            .bind(now)
            .bind(reason)
            .execute(&mut *transaction)
            .await?
            .rows_affected()
                > 0;
            if failed {
                sqlx::query(
                    "INSERT INTO build_log_lines (build_id, line_number, logged_at, phase, text) \
                     SELECT $1, COALESCE(MAX(line_number) + 1, 0), $2, 'queue', $3 \
                     FROM build_log_lines WHERE build_id = $1",
                )
                .bind(id)
                .bind(now)
                .bind(reason)
                .execute(&mut *transaction)
                .await?;
            }
            transaction.commit().await?;
            failed
        }))
    }

    /// Appends log lines of the build `id` in one transaction.
    pub async fn append_build_log(
        &self,
        id: &str,
        lines: &[LogLineRow],
    ) -> Result<(), StorageError> {
        if lines.is_empty() {
            return Ok(());
        }
        with_pool!(self, write, |pool| {
            let mut transaction = pool.begin().await?;
            for line in lines {
                sqlx::query(
                    "INSERT INTO build_log_lines (build_id, line_number, logged_at, phase, text) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(line.line_number)
                .bind(line.logged_at)
                .bind(&line.phase)
                .bind(&line.text)
                .execute(&mut *transaction)
                .await?;
            }
            transaction.commit().await?;
        });
        Ok(())
    }

    /// Up to `limit` log lines of the build `id` numbered above `after` (-1 for the first).
    pub async fn build_log(
        &self,
        id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LogLineRow>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT line_number, logged_at, phase, text FROM build_log_lines \
                 WHERE build_id = $1 AND line_number > $2 ORDER BY line_number LIMIT $3",
            )
            .bind(id)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }
}
