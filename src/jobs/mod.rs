//! The build queue's workers: they claim queued builds from the database, run the pipeline on
//! them and record how they ended. `labforge serve` runs them next to the API; `labforge worker`
//! runs them alone, as many processes as wanted against one PostgreSQL database.
//!
//! - **Order and bounds.** Each worker runs one build at a time, so `concurrency` workers bound
//!   the builds of a process. A worker claims the oldest queued build whose datalab has none
//!   running (`storage::builds`), so the builds of one datalab run in the order they were queued.
//! - **Leases.** A claimed build carries its worker's name and a lease that the worker renews
//!   every quarter of `lease_seconds` (its heartbeat). A build whose lease ran out is failed with
//!   the reason ("the worker ... stopped while building") by every worker start and then by each
//!   worker once per lease period: it is never left `running`. It is not queued again on its own,
//!   because a build that kills its worker would otherwise do so forever.
//! - **Cancelling.** A cancel request sets `cancel_requested`; the worker sees it at its next
//!   heartbeat (at once when the request came through this process), cancels the pipeline's
//!   token, and records the build as `cancelled`.
//! - **Stopping.** On SIGTERM each worker cancels its running build the same way and records it
//!   as `cancelled` with the reason, waiting at most `shutdown_grace_seconds` for the pipeline to
//!   stop. A process that dies without that (SIGKILL, power loss) leaves its builds to the lease
//!   rule above.

mod log_writer;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::datalabs::BuildEvents;
use crate::pipeline::{Pipeline, PipelineSettings};
use crate::storage::{Database, StorageError};

/// How long to wait before trying the build engine again when it cannot be reached at start.
const ENGINE_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct BuildQueueConfig {
    /// Builds one process runs at a time; 0 makes `labforge serve` run none (separate
    /// `labforge worker` processes do).
    pub concurrency: usize,
    /// How long a claimed build stays a worker's without a heartbeat.
    pub lease_seconds: u64,
    /// How often an idle worker looks at the queue when no in-process signal wakes it.
    pub poll_milliseconds: u64,
    /// How long a stopping worker waits for a cancelled build to wind down.
    pub shutdown_grace_seconds: u64,
}

impl Default for BuildQueueConfig {
    fn default() -> Self {
        Self {
            concurrency: 2,
            lease_seconds: 60,
            poll_milliseconds: 1000,
            shutdown_grace_seconds: 20,
        }
    }
}

impl BuildQueueConfig {
    fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds.max(1))
    }

    fn heartbeat(&self) -> Duration {
        self.lease() / 4
    }

    fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_milliseconds.max(10))
    }

    fn grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }
}

/// What the workers of one process need of the configuration.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub queue: BuildQueueConfig,
    pub pipeline: PipelineSettings,
    pub workspaces: crate::datalabs::Workspaces,
}

/// Fails every running build whose lease ran out before now, with the reason as its failure and
/// as the last line of its log. Returns the ids of the builds it failed.
pub async fn fail_abandoned_builds(
    database: &Database,
    events: &BuildEvents,
) -> Result<Vec<String>, StorageError> {
    let now = Utc::now();
    let mut failed = Vec::new();
    for build in database.abandoned_builds(now).await? {
        let reason = format!(
            "the worker {} stopped while building: its lease expired at {} without a heartbeat. \
             Queue the build again",
            build.worker.as_deref().unwrap_or("(unknown)"),
            build
                .lease_expires_at
                .map_or_else(|| "(unknown)".to_owned(), |at| at.to_rfc3339()),
        );
        if database
            .fail_abandoned_build(&build.id, now, &reason)
            .await?
        {
            tracing::warn!(build = %build.id, worker = ?build.worker, "failed a build whose worker stopped");
            events.build_changed(&build.id);
            failed.push(build.id);
        }
    }
    Ok(failed)
}

/// Fails abandoned builds, then runs `settings.queue.concurrency` workers until `shutdown` is
/// cancelled; returns once every worker has recorded its last build.
pub async fn run_workers(
    settings: WorkerSettings,
    database: Database,
    events: BuildEvents,
    shutdown: CancellationToken,
) -> Result<(), StorageError> {
    fail_abandoned_builds(&database, &events).await?;
    let concurrency = settings.queue.concurrency;
    if concurrency == 0 {
        return Ok(());
    }
    let data_dir = settings.pipeline.data_dir.clone();
    let Some(pipeline) = connect_pipeline(settings.pipeline, &shutdown).await else {
        return Ok(());
    };
    let process = format!("{}-{}", host_name(), std::process::id());
    let workers: Vec<_> = (0..concurrency)
        .map(|index| {
            let worker = worker::Worker {
                name: format!("{process}-{index}"),
                database: database.clone(),
                events: events.clone(),
                pipeline: Arc::clone(&pipeline),
                queue: settings.queue.clone(),
                data_dir: data_dir.clone(),
                workspaces: settings.workspaces.clone(),
                shutdown: shutdown.clone(),
            };
            tokio::spawn(worker.run())
        })
        .collect();
    tracing::info!(concurrency, "build workers started");
    for handle in workers {
        if let Err(error) = handle.await {
            tracing::error!(%error, "a build worker stopped abnormally");
        }
    }
    Ok(())
}

/// The pipeline, once its build engine answers; `None` when stopped before that.
async fn connect_pipeline(
    settings: PipelineSettings,
    shutdown: &CancellationToken,
) -> Option<Arc<Pipeline>> {
    loop {
        match Pipeline::new(settings.clone()).await {
            Ok(pipeline) => return Some(Arc::new(pipeline)),
            Err(error) => {
                tracing::error!(%error, retry_seconds = ENGINE_RETRY.as_secs(), "the build workers cannot reach their build engine; builds stay queued");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(ENGINE_RETRY) => {}
            () = shutdown.cancelled() => return None,
        }
    }
}

/// This machine's name, so an operator can tell whose lease expired.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "labforge".to_owned())
}
