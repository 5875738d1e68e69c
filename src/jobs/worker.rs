//! One build worker: claim, hold the lease, run the pipeline, record the outcome, repeat.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use chrono::Utc;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::BuildQueueConfig;
use super::log_writer::LogWriter;
use crate::build_log::{BuildLog, Phase};
use crate::datalabs::{BuildEvents, BuildStatus, DatalabError, Workspaces, build_source};
use crate::metadata::policy::{
    ApplicationStamp, Writer, carry_over_fields_not_writable, stamp_application_fields,
};
use crate::pipeline::index::BuildRecord;
use crate::pipeline::{
    BuildHistory, BuildOutcome, BuildSpec, PhaseTimings, Pipeline, PipelineError,
};
use crate::storage::builds::{BuildResult, BuildRow};
use crate::storage::{Database, StorageError};

pub(super) struct Worker {
    pub name: String,
    pub database: Database,
    pub events: BuildEvents,
    pub pipeline: Arc<Pipeline>,
    pub queue: BuildQueueConfig,
    pub data_dir: PathBuf,
    /// Workspace sources are folders of the datalab owner's workspace.
    pub workspaces: Workspaces,
    pub shutdown: CancellationToken,
}

/// Why a running build was cancelled; the first reason set wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CancelReason {
    /// Someone asked through the API.
    Requested,
    /// The process is stopping.
    Shutdown,
    /// The build is no longer this worker's: deleted, or failed after its lease expired.
    LeaseLost,
}

/// What a build needs besides its row, read when it is claimed.
struct Prepared {
    spec: BuildSpec,
    label: String,
    /// The version's metadata as stored by its last succeeded build.
    previous_metadata: Option<serde_json::Value>,
}

impl Worker {
    pub async fn run(self) {
        let mut next_sweep = Instant::now() + self.queue.lease();
        while !self.shutdown.is_cancelled() {
            if Instant::now() >= next_sweep {
                next_sweep = Instant::now() + self.queue.lease();
                if let Err(error) = super::fail_abandoned_builds(&self.database, &self.events).await
                {
                    tracing::warn!(worker = %self.name, %error, "cannot look for abandoned builds");
                }
            }
            let queued = self.events.next_queued();
            let mut queued = std::pin::pin!(queued);
            queued.as_mut().enable();
            let lease_until = Utc::now() + self.queue.lease();
            match self
                .database
                .claim_next_build(&self.name, Utc::now(), lease_until)
                .await
            {
                Ok(Some(id)) => {
                    self.build(&id).await;
                    continue;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(worker = %self.name, %error, "cannot claim a build");
                }
            }
            tokio::select! {
                () = queued => {}
                () = tokio::time::sleep(self.queue.poll()) => {}
                () = self.shutdown.cancelled() => {}
            }
        }
        tracing::info!(worker = %self.name, "build worker stopped");
    }

    /// Runs the claimed build `id` to its end and records it.
    async fn build(&self, id: &str) {
        let log = BuildLog::new();
        let writer = LogWriter::start(
            self.database.clone(),
            self.events.clone(),
            id.to_owned(),
            log.clone(),
        );
        self.events.build_changed(id);
        let cancel = CancellationToken::new();
        let reason = Arc::new(OnceLock::new());
        let heartbeat = tokio::spawn(keep_lease(
            self.database.clone(),
            self.events.follow_changes(),
            id.to_owned(),
            self.name.clone(),
            self.queue.clone(),
            self.shutdown.clone(),
            cancel.clone(),
            Arc::clone(&reason),
        ));

        let outcome = match self.prepare(id).await {
            Ok(prepared) => {
                log.write(
                    Phase::Queue,
                    format!("build {} started on worker {}", prepared.label, self.name),
                );
                let previous = prepared.previous_metadata;
                self.run_pipeline(prepared.spec, &log, &cancel)
                    .await
                    .map(|built| governed_metadata(built, previous.as_ref()))
            }
            Err(error) => Err(Failure::Preparation(error.to_string())),
        };
        heartbeat.abort();

        let cancelled_for = reason.get().copied();
        if cancelled_for == Some(CancelReason::LeaseLost) {
            log.write(
                Phase::Queue,
                "the build is no longer this worker's (deleted, or failed after its lease \
                 expired): its outcome is not recorded",
            );
            writer.finish().await;
            return;
        }
        let result = self.result(outcome, cancelled_for);
        log.write(
            Phase::Queue,
            match &result.failure {
                Some(failure) => format!("{}: {failure}", result.status),
                None => format!(
                    "{}: {} {}",
                    result.status,
                    result.image.as_deref().unwrap_or_default(),
                    result.digest.as_deref().unwrap_or_default()
                ),
            },
        );
        // Every line is stored before the status changes: followers read the lines, then see
        // the end.
        writer.finish().await;
        match self
            .database
            .finish_build(id, &self.name, Utc::now(), &result)
            .await
        {
            Ok(Some(datalab_id)) if result.version_metadata.is_some() => {
                // The version's metadata changed: the marketplace shows it from its index.
                if let Err(error) = self.database.refresh_datalab_search(&datalab_id).await {
                    tracing::error!(build = id, %error, "cannot refresh the marketplace entry");
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::warn!(build = id, worker = %self.name, "the build was taken from this worker before it ended");
            }
            Err(error) => {
                tracing::error!(build = id, worker = %self.name, %error, "cannot record how a build ended; its lease will expire and it will be failed");
            }
        }
        self.events.build_changed(id);
    }

    /// The build's spec from its version and datalab.
    async fn prepare(&self, id: &str) -> Result<Prepared, DatalabError> {
        let missing = |what: &'static str| StorageError::Corrupt {
            what,
            detail: format!("build {id} refers to a {what} that does not exist"),
        };
        let build = self
            .database
            .build_by_id(id)
            .await?
            .ok_or_else(|| missing("build"))?;
        let version = self
            .database
            .version_by_id(&build.version_id)
            .await?
            .ok_or_else(|| missing("version"))?;
        let datalab = self
            .database
            .datalab_by_id(&build.datalab_id)
            .await?
            .ok_or_else(|| missing("datalab"))?;
        let number = u32::try_from(build.number).map_err(|_| StorageError::Corrupt {
            what: "build number",
            detail: build.number.to_string(),
        })?;
        let previous = self
            .database
            .latest_succeeded_build(&version.id)
            .await?
            .and_then(|row| previous_record(row, &datalab.name, &version.version, &datalab.kind))
            .map(Box::new);
        Ok(Prepared {
            previous_metadata: version.metadata.clone().map(|metadata| metadata.0),
            label: format!("{}-{} of {}", version.version, build.number, datalab.name),
            spec: BuildSpec {
                source: build_source(
                    &version,
                    &datalab.owner_name,
                    &self.data_dir,
                    &self.workspaces,
                )?,
                name: Some(datalab.name.clone()),
                kind: Some(datalab.kind.parse().map_err(|_| StorageError::Corrupt {
                    what: "datalab kind",
                    detail: datalab.kind.clone(),
                })?),
                smoke_test: true,
                history: BuildHistory::Recorded {
                    version: version.version.clone(),
                    number,
                    previous,
                    stored_metadata: version
                        .metadata
                        .clone()
                        .map(|metadata| Box::new(metadata.0)),
                },
            },
        })
    }

    /// The pipeline, given `shutdown_grace_seconds` to stop by itself once cancelled and
    /// abandoned after that.
    async fn run_pipeline(
        &self,
        spec: BuildSpec,
        log: &BuildLog,
        cancel: &CancellationToken,
    ) -> Result<BuildOutcome, Failure> {
        let grace = self.queue.grace();
        let pipeline = Arc::clone(&self.pipeline);
        let log = log.clone();
        let cancel = cancel.clone();
        let runtime = tokio::runtime::Handle::current();
        // bollard's BuildKit session future is not `Send`, so it cannot be a task of its own: it
        // runs on a blocking thread, driven by the same runtime's reactor and timers.
        let joined = tokio::task::spawn_blocking(move || {
            runtime.block_on(async move {
                tokio::select! {
                    result = pipeline.build(&spec, &log, &cancel) => result,
                    () = async {
                        cancel.cancelled().await;
                        tokio::time::sleep(grace).await;
                    } => Err(PipelineError::Cancelled),
                }
            })
        })
        .await;
        match joined {
            Ok(result) => result.map_err(Failure::Pipeline),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }

    fn result(
        &self,
        outcome: Result<(BuildOutcome, serde_json::Value), Failure>,
        cancelled_for: Option<CancelReason>,
    ) -> BuildResult {
        match outcome {
            Ok((outcome, metadata)) => BuildResult {
                status: BuildStatus::Succeeded,
                environment_hash: Some(outcome.record.environment_hash),
                content_hash: Some(outcome.record.content_hash),
                image: Some(outcome.record.image),
                digest: Some(outcome.record.digest),
                reused: outcome.reused,
                smoke_test: outcome
                    .smoke_test
                    .as_ref()
                    .and_then(|result| serde_json::to_string(result).ok()),
                lint_findings: serde_json::to_value(&outcome.lint).ok(),
                phase_timings: serde_json::to_value(outcome.timings).ok(),
                sbom: Some(outcome.evidence.sbom),
                licence_report: serde_json::to_value(&outcome.evidence.report).ok(),
                notebook_checks: outcome
                    .notebooks
                    .as_ref()
                    .and_then(|checks| serde_json::to_value(checks).ok()),
                screenshot: outcome.screenshot.map(|screenshot| screenshot.png),
                version_metadata: Some(metadata),
                failure: None,
            },
            Err(Failure::Pipeline(error)) if error.is_cancelled() => BuildResult {
                failure: Some(match cancelled_for {
                    Some(CancelReason::Shutdown) => format!(
                        "labforge stopped while building (worker {} was shut down); queue the \
                         build again",
                        self.name
                    ),
                    _ => "cancelled while running, as requested".to_owned(),
                }),
                ..BuildResult::ended(BuildStatus::Cancelled)
            },
            Err(Failure::Pipeline(error)) => BuildResult {
                lint_findings: match &error {
                    PipelineError::LintFailed { findings } => serde_json::to_value(findings).ok(),
                    _ => None,
                },
                failure: Some(error.to_string()),
                ..BuildResult::ended(BuildStatus::Failed)
            },
            Err(Failure::Preparation(message)) => BuildResult {
                failure: Some(format!("the build could not start: {message}")),
                ..BuildResult::ended(BuildStatus::Failed)
            },
        }
    }
}

enum Failure {
    Pipeline(PipelineError),
    Preparation(String),
}

/// The metadata a build stores on its version, under the field table's rules: fields only a
/// moderator or labforge may write keep their stored values (the pipeline already refused a
/// metadata.yaml that sets or changes them), and labforge stamps its own (the image by digest,
/// the dates).
fn governed_metadata(
    built: BuildOutcome,
    previous: Option<&serde_json::Value>,
) -> (BuildOutcome, serde_json::Value) {
    let mut metadata = serde_json::to_value(&built.metadata).unwrap_or_default();
    if let Some(previous) = previous {
        carry_over_fields_not_writable(previous, &mut metadata, Writer::Author);
    }
    let image_id = match built.record.image.rsplit_once(':') {
        // A colon after the last slash separates the tag; one before it is a registry port.
        Some((repository, tag)) if !tag.contains('/') => {
            format!("{repository}@{}", built.record.digest)
        }
        _ => format!("{}@{}", built.record.image, built.record.digest),
    };
    stamp_application_fields(
        previous,
        &mut metadata,
        &ApplicationStamp {
            image_id,
            platform: "linux/amd64".to_owned(),
            at: Utc::now(),
        },
    );
    (built, metadata)
}

/// The succeeded build `row` as the pipeline's record, when it holds everything reuse needs.
fn previous_record(row: BuildRow, name: &str, version: &str, kind: &str) -> Option<BuildRecord> {
    Some(BuildRecord {
        name: name.to_owned(),
        version: version.to_owned(),
        number: u32::try_from(row.number).ok()?,
        kind: kind.to_owned(),
        environment_hash: row.environment_hash?,
        content_hash: row.content_hash?,
        image: row.image?,
        digest: row.digest?,
        created: row.finished_at?,
        timings: row
            .phase_timings
            .and_then(|timings| serde_json::from_value::<PhaseTimings>(timings.0).ok())
            .unwrap_or_default(),
    })
}

/// Renews the lease of the build `id` every quarter lease, and at once when this process
/// signals a change to it; cancels `cancel` with the reason when a cancel was requested, the
/// process is stopping, or the build is no longer this worker's. Runs until aborted.
#[expect(
    clippy::too_many_arguments,
    reason = "a spawned task takes what it uses by value"
)]
async fn keep_lease(
    database: Database,
    mut changes: broadcast::Receiver<String>,
    id: String,
    worker: String,
    queue: BuildQueueConfig,
    shutdown: CancellationToken,
    cancel: CancellationToken,
    reason: Arc<OnceLock<CancelReason>>,
) {
    let stop = |why| {
        // Only the first reason counts: a build stopped for shutdown stays stopped for that.
        let _ = reason.set(why);
        cancel.cancel();
    };
    let mut stopping = false;
    loop {
        let shutting_down = async {
            if stopping {
                std::future::pending::<()>().await;
            } else {
                shutdown.cancelled().await;
            }
        };
        tokio::select! {
            () = tokio::time::sleep(queue.heartbeat()) => {}
            () = change_of(&mut changes, &id) => {}
            () = shutting_down => {
                stopping = true;
                stop(CancelReason::Shutdown);
                // The lease is still renewed while the pipeline winds down.
                continue;
            }
        }
        match database
            .renew_build_lease(&id, &worker, Utc::now() + queue.lease())
            .await
        {
            Ok(Some(true)) => stop(CancelReason::Requested),
            Ok(Some(false)) => {}
            Ok(None) => {
                stop(CancelReason::LeaseLost);
                return;
            }
            Err(error) => {
                tracing::warn!(build = %id, %worker, %error, "cannot renew a build's lease");
            }
        }
    }
}

/// Resolves when this process signals a change to the build `id`, or may have (signals were
/// missed).
async fn change_of(receiver: &mut broadcast::Receiver<String>, id: &str) {
    loop {
        match receiver.recv().await {
            Ok(changed) if changed == id => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::parse_metadata;

    fn outcome(metadata_yaml: &str) -> BuildOutcome {
        BuildOutcome {
            record: BuildRecord {
                name: "jl-lab".to_owned(),
                version: "0.0.1".to_owned(),
                number: 0,
                kind: "jupyterlab".to_owned(),
                environment_hash: "e".to_owned(),
                content_hash: "c".to_owned(),
                image: "127.0.0.1:5000/datalabs/jl-lab:0.0.1-0".to_owned(),
                digest: "sha256:abc".to_owned(),
                created: Utc::now(),
                timings: PhaseTimings::default(),
            },
            reused: false,
            lint: Vec::new(),
            smoke_test: None,
            evidence: crate::evidence::BuildEvidence {
                sbom: serde_json::json!({}),
                report: crate::evidence::licence_report(&[], None),
                referrer: "sha256:def".to_owned(),
            },
            notebooks: None,
            screenshot: None,
            timings: PhaseTimings::default(),
            metadata: parse_metadata(metadata_yaml, "metadata.yaml").unwrap(),
        }
    }

    const METADATA: &str = "title: Lab\nalternateName: jl-lab\nabstract: A lab.\n\
        contactPoint: a@example.org\ncreator: ESA\nversion: 0.0.1\n";

    #[test]
    fn labforge_stamps_the_image_by_digest_and_the_dates() {
        let (_, metadata) = governed_metadata(outcome(METADATA), None);
        assert_eq!(
            metadata["datalabImage"]["id"],
            "127.0.0.1:5000/datalabs/jl-lab@sha256:abc"
        );
        assert!(metadata["dateCreated"].is_string());
    }

    #[test]
    fn a_moderator_s_choice_is_kept_when_metadata_yaml_leaves_it_out() {
        let reviewed = serde_json::json!({"title": "Lab", "ESAOfficial": true});
        let (_, metadata) = governed_metadata(outcome(METADATA), Some(&reviewed));
        assert_eq!(metadata["ESAOfficial"], true);
    }
}
