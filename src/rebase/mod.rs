//! `labforge rebase`: moving published datalabs onto a patch release of their base without
//! rebuilding them (as Cloud Native Buildpacks' `rebase`).
//!
//! ```text
//! image    each published version's newest succeeded build, rewritten onto the new base's layers
//!          where the base declares the same interface (org.labforge.base.interface); its own
//!          layers are kept byte for byte (image.rs)
//! number   the next build number of the version, recorded as a running build of worker `rebase`
//! checks   the rebased image pulled into dockerd, smoke-tested, its notebooks run again, its SBOM
//!          made and attached, as after a build
//! record   the build succeeds (and is what launches use from then on) or fails with why, keeping
//!          the earlier build in use; a success is an event in the datalab's History
//! ```
//!
//! A refusal (another interface, an unknown base, an image already on the version) touches
//! nothing and says why.

mod error;
pub mod image;

use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;

pub use self::error::RebaseError;
use self::image::{RebaseRequest, RebasedImage, prepare_rebase};
use crate::build_log::{BuildLog, Phase};
use crate::buildkit::DockerdEngine;
use crate::config::RegistryTarget;
use crate::datalabs::BuildStatus;
use crate::evidence::EvidenceCollector;
use crate::images::{ImageReference, RegistryClient};
use crate::metadata::{DatalabKind, Metadata};
use crate::pipeline::checks::{ChecksConfig, NotebookChecks, check_notebooks};
use crate::pipeline::smoke::{DesktopProbe, SmokeTest, smoke_test};
use crate::storage::builds::{BuildResult, LogLineRow};
use crate::storage::datalabs::{DatalabRow, VersionRow};
use crate::storage::submissions::{HistoryEntry, PublishingWrite};
use crate::storage::{Database, StorageError};

/// The worker name rebased builds are recorded under.
const WORKER: &str = "rebase";
/// How long a rebase may hold its build before the abandoned-build sweep fails it.
const LEASE: Duration = Duration::from_hours(1);
const SMOKE_TEST_TIMEOUT: Duration = Duration::from_mins(2);

/// What rebasing needs: the service's database, registry, dockerd and check settings.
pub struct Rebaser {
    pub database: Database,
    pub registry: RegistryClient,
    pub target: RegistryTarget,
    /// The local dockerd, signed in to the registry as the build account: it pulls and runs the
    /// rebased images.
    pub daemon: DockerdEngine,
    pub checks: ChecksConfig,
}

/// What happened to one published version.
#[derive(Debug, Clone, Serialize)]
pub struct RebaseOutcome {
    pub datalab: String,
    pub version: String,
    /// The build that was rebased.
    pub from_build: i64,
    pub result: RebaseResult,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RebaseResult {
    /// Rebased and checked: the new build is what launches use.
    Rebased {
        build: i64,
        image: String,
        digest: String,
        base: String,
        from_version: String,
        to_version: String,
        own_layers: usize,
        seconds: f64,
    },
    /// Not rebased, nothing changed: why.
    Refused { reason: String },
    /// Rebased, but the new build failed its checks (or could not be made): the earlier build
    /// stays in use.
    Failed { build: Option<i64>, reason: String },
}

impl Rebaser {
    /// Rebases every published version whose newest succeeded build is on another version of its
    /// base onto `base_version`; with `dry_run`, only says what would be done.
    pub async fn rebase_published(
        &self,
        base_version: &str,
        dry_run: bool,
        log: &BuildLog,
    ) -> Result<Vec<RebaseOutcome>, StorageError> {
        let mut outcomes = Vec::new();
        for version in self.database.published_versions().await? {
            let Some(datalab) = self.database.datalab_by_id(&version.datalab_id).await? else {
                continue;
            };
            let Some(build) = self.database.latest_succeeded_build(&version.id).await? else {
                continue;
            };
            let (Some(image), Some(digest)) = (build.image.clone(), build.digest.clone()) else {
                continue;
            };
            let (repository, tag) = image.rsplit_once(':').unwrap_or((&image, ""));
            let current = ImageReference::new(repository, tag);
            let request = RebaseRequest {
                image: &current,
                digest: &digest,
                base_version,
            };
            let previous = build
                .notebook_checks
                .as_ref()
                .and_then(|checks| serde_json::from_value(checks.0.clone()).ok());
            let result = match prepare_rebase(&self.registry, &self.target, &request).await {
                Err(refusal) => RebaseResult::Refused {
                    reason: refusal.to_string(),
                },
                Ok(prepared) if dry_run => RebaseResult::Refused {
                    reason: format!(
                        "dry run: would move from {} {} to {}",
                        prepared.base, prepared.from_version, prepared.to_version
                    ),
                },
                Ok(prepared) => {
                    let rebasing = Rebasing {
                        datalab: &datalab,
                        version: &version,
                        repository,
                        previous: previous.as_ref(),
                    };
                    self.rebase_version(&rebasing, prepared, log).await?
                }
            };
            log.write(
                Phase::Queue,
                format!(
                    "{} {}-{}: {}",
                    datalab.name,
                    version.version,
                    build.number,
                    describe(&result)
                ),
            );
            outcomes.push(RebaseOutcome {
                datalab: datalab.name,
                version: version.version,
                from_build: build.number,
                result,
            });
        }
        Ok(outcomes)
    }

    /// Pushes the rebased image as the version's next build, checks it and records the outcome.
    async fn rebase_version(
        &self,
        rebasing: &Rebasing<'_>,
        prepared: image::PreparedRebase,
        log: &BuildLog,
    ) -> Result<RebaseResult, StorageError> {
        let Rebasing {
            datalab,
            version,
            repository,
            ..
        } = *rebasing;
        let started = Instant::now();
        let now = Utc::now();
        let id = uuid::Uuid::new_v4().to_string();
        let row = self
            .database
            .insert_running_build(&id, &datalab.id, &version.id, now, WORKER, now + LEASE)
            .await?;
        let target = ImageReference::new(repository, format!("{}-{}", version.version, row.number));
        let build_log = BuildLog::new();
        let outcome = self
            .rebase_and_check(rebasing, prepared, &target, &build_log)
            .await;
        let (result, rebased) = match outcome {
            Ok((result, rebased)) => (result, Some(rebased)),
            Err(reason) => (
                BuildResult {
                    failure: Some(reason),
                    ..BuildResult::ended(BuildStatus::Failed)
                },
                None,
            ),
        };
        build_log.write(
            Phase::Queue,
            match &result.failure {
                Some(failure) => format!("failed: {failure}"),
                None => format!(
                    "succeeded: {target} {}",
                    result.digest.as_deref().unwrap_or("")
                ),
            },
        );
        self.store_log(&id, &build_log, log).await?;
        self.database
            .finish_build(&id, WORKER, Utc::now(), &result)
            .await?;
        let Some(rebased) = rebased.filter(|_| result.failure.is_none()) else {
            return Ok(RebaseResult::Failed {
                build: Some(row.number),
                reason: result.failure.unwrap_or_default(),
            });
        };
        self.record_in_history(datalab, version, row.number, &rebased)
            .await?;
        Ok(RebaseResult::Rebased {
            build: row.number,
            image: target.to_string(),
            digest: rebased.digest,
            base: rebased.base,
            from_version: rebased.from_version,
            to_version: rebased.to_version,
            own_layers: rebased.own_layers.len(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// The rebased build's log, kept like a build's and repeated, indented, in `log`.
    async fn store_log(
        &self,
        id: &str,
        build_log: &BuildLog,
        log: &BuildLog,
    ) -> Result<(), StorageError> {
        let lines: Vec<LogLineRow> = build_log
            .lines()
            .into_iter()
            .zip(0..)
            .map(|(line, number)| LogLineRow {
                line_number: number,
                logged_at: line.at,
                phase: line.phase.to_string(),
                text: line.text,
            })
            .collect();
        for line in &lines {
            log.write(Phase::Queue, format!("  {}", line.text));
        }
        self.database.append_build_log(id, &lines).await
    }

    /// The rebase as an event of the datalab's History, by labforge itself.
    async fn record_in_history(
        &self,
        datalab: &DatalabRow,
        version: &VersionRow,
        number: i64,
        rebased: &RebasedImage,
    ) -> Result<(), StorageError> {
        let comment = format!(
            "rebased build {}-{number} from {} {} onto {} without rebuilding: {} own layers kept",
            version.version,
            rebased.base,
            rebased.from_version,
            rebased.to_version,
            rebased.own_layers.len()
        );
        self.database
            .apply_publishing(
                &PublishingWrite {
                    history: vec![HistoryEntry {
                        datalab_id: datalab.id.clone(),
                        datalab_name: datalab.name.clone(),
                        submission_id: None,
                        actor: None,
                        action: "rebased",
                        from_state: Some("published".to_owned()),
                        to_state: "published".to_owned(),
                        version: Some(version.version.clone()),
                        build_number: Some(number),
                        comment: Some(comment),
                    }],
                    ..PublishingWrite::default()
                },
                Utc::now(),
            )
            .await
    }

    /// The push and the checks a build gets after its push; `Err` is why the rebased build
    /// failed.
    async fn rebase_and_check(
        &self,
        rebasing: &Rebasing<'_>,
        prepared: image::PreparedRebase,
        target: &ImageReference,
        log: &BuildLog,
    ) -> Result<(BuildResult, RebasedImage), String> {
        let Rebasing {
            datalab, version, ..
        } = *rebasing;
        log.write(
            Phase::Push,
            format!(
                "rebasing onto {} {} (from {}): the base's layers are replaced, the datalab's own \
                 are kept",
                prepared.base, prepared.to_version, prepared.from_version
            ),
        );
        let rebased = prepared
            .push(&self.registry, target)
            .await
            .map_err(|error| error.to_string())?;
        log.write(
            Phase::Push,
            format!(
                "pushed {target} {} ({} base layers, {} own layers kept)",
                rebased.digest,
                rebased.base_layers.len(),
                rebased.own_layers.len()
            ),
        );
        let evidence = EvidenceCollector::new(self.registry.clone())
            .collect(target, &rebased.digest)
            .await
            .map_err(|error| error.to_string())?;
        self.daemon
            .pull(target)
            .await
            .map_err(|error| error.to_string())?;
        let metadata: Option<Metadata> = version
            .metadata
            .as_ref()
            .and_then(|metadata| serde_json::from_value(metadata.0.clone()).ok());
        let kind: DatalabKind = datalab
            .kind
            .parse()
            .map_err(|_| format!("the datalab's kind {} is unknown", datalab.kind))?;
        let smoke = self
            .smoke_test(target, kind, metadata.as_ref(), log)
            .await?;
        if !smoke.result.passed {
            return Err(format!(
                "the smoke test of the rebased image failed: {}",
                smoke.result.detail
            ));
        }
        let notebooks = self.notebooks(target, kind, metadata.as_ref(), log).await?;
        if let (Some(before), Some(after)) = (rebasing.previous, &notebooks) {
            check_no_regression(before, after)?;
        }
        let result = BuildResult {
            status: BuildStatus::Succeeded,
            image: Some(target.to_string()),
            digest: Some(rebased.digest.clone()),
            smoke_test: serde_json::to_string(&smoke.result).ok(),
            lint_findings: Some(serde_json::json!([])),
            sbom: Some(evidence.sbom),
            licence_report: serde_json::to_value(&evidence.report).ok(),
            notebook_checks: notebooks.and_then(|checks| serde_json::to_value(checks).ok()),
            screenshot: smoke.screenshot.map(|screenshot| screenshot.png),
            ..BuildResult::ended(BuildStatus::Succeeded)
        };
        Ok((result, rebased))
    }

    async fn smoke_test(
        &self,
        image: &ImageReference,
        kind: DatalabKind,
        metadata: Option<&Metadata>,
        log: &BuildLog,
    ) -> Result<SmokeTest, String> {
        let inspected = self
            .daemon
            .docker()
            .inspect_image(&image.to_string())
            .await
            .map_err(|error| format!("dockerd cannot read {image}: {error}"))?;
        let labels = inspected
            .config
            .and_then(|config| config.labels)
            .unwrap_or_default();
        let port = labels
            .get("org.labforge.port")
            .and_then(|port| port.parse().ok())
            .ok_or_else(|| format!("{image} has no org.labforge.port label to probe"))?;
        let health_path = labels
            .get("org.labforge.health-path")
            .cloned()
            .unwrap_or_else(|| "/".to_owned());
        let desktop = (kind == DatalabKind::Desktop).then_some(DesktopProbe {
            application: metadata.and_then(|metadata| metadata.application.as_ref()),
        });
        smoke_test(
            self.daemon.docker(),
            &image.to_string(),
            port,
            &health_path,
            desktop,
            SMOKE_TEST_TIMEOUT,
            log,
        )
        .await
        .map_err(|error| format!("the smoke test could not run: {error}"))
    }

    async fn notebooks(
        &self,
        image: &ImageReference,
        kind: DatalabKind,
        metadata: Option<&Metadata>,
        log: &BuildLog,
    ) -> Result<Option<NotebookChecks>, String> {
        if kind != DatalabKind::JupyterLab {
            return Ok(None);
        }
        let Some(metadata) = metadata else {
            log.write(
                Phase::Checks,
                "notebooks skipped: the version keeps no metadata to read testing.notebooks from",
            );
            return Ok(None);
        };
        check_notebooks(
            self.daemon.docker(),
            &image.to_string(),
            metadata,
            &self.checks,
            log,
        )
        .await
        .map_err(|error| format!("the notebooks could not run: {error}"))
    }
}

/// One published version being rebased.
#[derive(Clone, Copy)]
struct Rebasing<'a> {
    datalab: &'a DatalabRow,
    version: &'a VersionRow,
    /// The image's repository (`registry/datalabs/<name>`).
    repository: &'a str,
    /// The notebooks as the rebased build left them.
    previous: Option<&'a NotebookChecks>,
}

/// A notebook that passed before the rebase must pass after it.
fn check_no_regression(before: &NotebookChecks, after: &NotebookChecks) -> Result<(), String> {
    let passed = crate::pipeline::checks::NotebookOutcome::Passed;
    for earlier in before
        .notebooks
        .iter()
        .filter(|check| check.outcome == passed)
    {
        if let Some(now) = after
            .notebooks
            .iter()
            .find(|check| check.path == earlier.path && check.outcome != passed)
        {
            return Err(format!(
                "{} passed before the rebase and does not now: {}",
                earlier.path,
                now.problem().unwrap_or_default()
            ));
        }
    }
    Ok(())
}

fn describe(result: &RebaseResult) -> String {
    match result {
        RebaseResult::Rebased {
            build,
            base,
            to_version,
            own_layers,
            seconds,
            ..
        } => format!(
            "rebased onto {base} {to_version} as build {build} ({own_layers} own layers kept, \
             {seconds:.1} s with its checks)"
        ),
        RebaseResult::Refused { reason } => format!("not rebased: {reason}"),
        RebaseResult::Failed {
            build: Some(build),
            reason,
        } => format!("build {build} failed: {reason}"),
        RebaseResult::Failed {
            build: None,
            reason,
        } => format!("failed: {reason}"),
    }
}
