//! The checks a built image gets before review, beyond its smoke test: a JupyterLab datalab's
//! notebooks are executed inside the image (nbclient, the image's own kernel), and a desktop's
//! screen is captured over VNC ([`rfb`]). Both are evidence kept with the build, shown to the
//! author and the moderator; a failing notebook does not fail the build, because only a person
//! can say whether a notebook that needs a data volume or the network should have passed here.
//!
//! Notebooks run in a container of their own, with the network of the operator's choice (none by
//! default) and the datalab's minimum resources, one after another with a time limit each. The
//! runner (`run_notebooks.py`) is passed on the command line, so the image needs nothing but the
//! nbclient and ipykernel `jl_base` has.

pub mod rfb;

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, LogsOptions, StartContainerOptions};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::smoke::{last_chars, remove_container};
use crate::build_log::{BuildLog, Phase};
use crate::metadata::{Metadata, MinimumResources};

const RUNNER: &str = include_str!("run_notebooks.py");
const MARKER: &str = "LABFORGE-NOTEBOOK ";
/// Time the runner may take besides the notebooks themselves (Python and nbclient starting).
const RUNNER_OVERHEAD: Duration = Duration::from_mins(1);
/// How much of the runner's own output a failure of the runner shows.
const OUTPUT_SHOWN: usize = 2000;

/// The operator's settings for the checks (`[checks]` in the configuration file).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ChecksConfig {
    /// Seconds each notebook may run, kernel start included.
    pub notebook_timeout_seconds: u64,
    /// Whether notebooks reach the network. Off by default: a notebook is an author's code run on
    /// the build host before anyone reviewed it.
    pub notebook_network: bool,
    /// At most this many notebooks run when metadata.yaml does not list them.
    pub notebooks_at_most: usize,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        Self {
            notebook_timeout_seconds: 300,
            notebook_network: false,
            notebooks_at_most: 20,
        }
    }
}

/// How one notebook ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotebookOutcome {
    /// Every cell ran without an error.
    Passed,
    /// A cell raised (`cell` is the one), the kernel died, or the notebook could not be read.
    Failed,
    /// The notebook took longer than its time limit (`cell` was running).
    TimedOut,
    /// Not run: more notebooks than the checks run without a list in metadata.yaml.
    NotRun,
}

/// One notebook executed in the built image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotebookCheck {
    /// The notebook's path in the datalab's content.
    pub path: String,
    pub outcome: NotebookOutcome,
    /// The cell that failed or was running when time ran out, counted from 1 in notebook order
    /// (markdown cells included), as JupyterLab shows them.
    pub cell: Option<u32>,
    /// What went wrong, in one line (`ZeroDivisionError: division by zero`).
    pub error: Option<String>,
    /// The cell's traceback, without terminal colours, its end when long.
    pub traceback: Option<String>,
    /// Seconds the notebook took, kernel start included.
    pub seconds: f64,
}

/// The notebooks of one build: which ran, how they ended, and under which conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotebookChecks {
    pub notebooks: Vec<NotebookCheck>,
    /// Whether the notebooks could reach the network (the operator's choice).
    pub network: bool,
    /// Seconds each notebook was allowed.
    pub timeout_seconds: u64,
}

impl NotebookChecks {
    pub fn passed(&self) -> usize {
        self.count(NotebookOutcome::Passed)
    }

    pub fn count(&self, outcome: NotebookOutcome) -> usize {
        self.notebooks
            .iter()
            .filter(|check| check.outcome == outcome)
            .count()
    }

    /// One line for the build log and the build's summary: `2 of 3 notebooks passed; ...`.
    pub fn summary(&self) -> String {
        if self.notebooks.is_empty() {
            return "no notebook to run".to_owned();
        }
        let mut summary = format!(
            "{} of {} notebooks passed",
            self.passed(),
            self.notebooks.len()
        );
        for check in &self.notebooks {
            if let Some(problem) = check.problem() {
                summary.push_str("; ");
                summary.push_str(&problem);
            }
        }
        summary
    }
}

impl NotebookCheck {
    /// What went wrong, naming the notebook and the cell: `analysis.ipynb failed at cell 3:
    /// ZeroDivisionError: division by zero`.
    pub fn problem(&self) -> Option<String> {
        let at = self
            .cell
            .map(|cell| format!(" at cell {cell}"))
            .unwrap_or_default();
        let error = self.error.as_deref().unwrap_or("no detail");
        match self.outcome {
            NotebookOutcome::Passed => None,
            NotebookOutcome::Failed => Some(format!("{} failed{at}: {error}", self.path)),
            NotebookOutcome::TimedOut => Some(format!(
                "{} timed out{at} after {:.0} s",
                self.path, self.seconds
            )),
            NotebookOutcome::NotRun => Some(format!("{} {error}", self.path)),
        }
    }
}

/// Which notebooks to run and how.
#[derive(Debug, Clone, Copy)]
struct NotebookRun<'a> {
    /// Paths relative to the image's working directory; `None` runs every notebook found there.
    notebooks: Option<&'a [String]>,
    resources: Option<&'a MinimumResources>,
    config: &'a ChecksConfig,
}

/// Runs the notebooks `metadata` asks for (`testing.notebooks`, else every one) in `image` under
/// `config`, logging what runs and how it ended; `None` when metadata.yaml lists none.
pub async fn check_notebooks(
    docker: &Docker,
    image: &str,
    metadata: &Metadata,
    config: &ChecksConfig,
    log: &BuildLog,
) -> Result<Option<NotebookChecks>, bollard::errors::Error> {
    let listed = metadata
        .testing
        .as_ref()
        .and_then(|testing| testing.notebooks.as_deref());
    if listed.is_some_and(<[String]>::is_empty) {
        log.write(
            Phase::Checks,
            "notebooks skipped: metadata.yaml lists none under testing.notebooks",
        );
        return Ok(None);
    }
    log.write(
        Phase::Checks,
        format!(
            "executing {} in the image, {} s each, {}",
            listed.map_or_else(
                || "every notebook".to_owned(),
                |listed| format!("the {} notebooks listed in metadata.yaml", listed.len())
            ),
            config.notebook_timeout_seconds,
            if config.notebook_network {
                "with the network"
            } else {
                "without network"
            }
        ),
    );
    let run = NotebookRun {
        notebooks: listed,
        resources: metadata.minimum_resources.as_ref(),
        config,
    };
    let checks = run_notebooks(docker, image, run, log).await?;
    log.write(Phase::Checks, checks.summary());
    Ok(Some(checks))
}

/// Runs the notebooks of `image` in a container of their own and reports each as it ends.
/// `Err` is dockerd failing; a notebook or runner failure is a result.
async fn run_notebooks(
    docker: &Docker,
    image: &str,
    run: NotebookRun<'_>,
    log: &BuildLog,
) -> Result<NotebookChecks, bollard::errors::Error> {
    let config = run.config;
    let settings = serde_json::json!({
        "notebooks": run.notebooks,
        "limit": config.notebooks_at_most,
        "timeout": config.notebook_timeout_seconds,
    });
    let container = docker
        .create_container(
            None::<CreateContainerOptions>,
            ContainerCreateBody {
                image: Some(image.to_owned()),
                cmd: Some(vec![
                    "python".to_owned(),
                    "-c".to_owned(),
                    RUNNER.to_owned(),
                    settings.to_string(),
                ]),
                network_disabled: Some(!config.notebook_network),
                host_config: Some(HostConfig {
                    network_mode: (!config.notebook_network).then(|| "none".to_owned()),
                    memory: run
                        .resources
                        .and_then(|resources| resources.memory_gib)
                        .map(gib_to_bytes),
                    nano_cpus: run
                        .resources
                        .and_then(|resources| resources.cpu)
                        .map(cpus_to_nano),
                    ..HostConfig::default()
                }),
                ..ContainerCreateBody::default()
            },
        )
        .await?
        .id;
    let started = docker
        .start_container(&container, None::<StartContainerOptions>)
        .await;
    let collected = match started {
        Ok(()) => collect(docker, &container, run, log).await,
        Err(error) => Err(error),
    };
    remove_container(docker, &container).await?;
    Ok(NotebookChecks {
        notebooks: collected?,
        network: config.notebook_network,
        timeout_seconds: config.notebook_timeout_seconds,
    })
}

/// The runner's reports as they arrive, within the time the notebooks may take in all; a runner
/// that ends early or is stopped leaves the listed notebooks it never reached as failed or timed
/// out.
async fn collect(
    docker: &Docker,
    container: &str,
    run: NotebookRun<'_>,
    log: &BuildLog,
) -> Result<Vec<NotebookCheck>, bollard::errors::Error> {
    let config = run.config;
    let count = run
        .notebooks
        .map_or(config.notebooks_at_most, <[String]>::len);
    let per_notebook = Duration::from_secs(config.notebook_timeout_seconds);
    let allowed = per_notebook * u32::try_from(count).unwrap_or(u32::MAX) + RUNNER_OVERHEAD;
    let mut reports = Reports::default();
    let finished = tokio::time::timeout_at(
        (Instant::now() + allowed).into(),
        reports.read(docker, container, log),
    )
    .await;
    let Ok(finished) = finished else {
        log.write(
            Phase::Checks,
            format!(
                "the notebooks took more than the {} s they may take in all; stopped",
                allowed.as_secs()
            ),
        );
        reports.not_reached(
            run.notebooks,
            NotebookOutcome::TimedOut,
            "not finished when the checks' time ran out",
        );
        return Ok(reports.checks);
    };
    finished?;
    let status = docker
        .inspect_container(container, None)
        .await?
        .state
        .and_then(|state| state.exit_code)
        .unwrap_or_default();
    if status != 0 {
        log.write(
            Phase::Checks,
            format!("the notebook runner ended with status {status}"),
        );
        let output = last_chars(reports.other.trim(), OUTPUT_SHOWN).to_owned();
        reports.not_reached(
            run.notebooks,
            NotebookOutcome::Failed,
            &format!("not run: the notebook runner ended with status {status} before it: {output}"),
        );
        if reports.checks.is_empty() {
            reports.not_reached(
                Some(&["(all notebooks)".to_owned()]),
                NotebookOutcome::Failed,
                &format!("the notebook runner ended with status {status}: {output}"),
            );
        }
    }
    Ok(reports.checks)
}

/// What the runner printed: its reports, and everything else (shown when it fails).
#[derive(Default)]
struct Reports {
    checks: Vec<NotebookCheck>,
    other: String,
}

impl Reports {
    /// Follows the container's output to its end, logging each report as it arrives.
    async fn read(
        &mut self,
        docker: &Docker,
        container: &str,
        log: &BuildLog,
    ) -> Result<(), bollard::errors::Error> {
        let mut output = docker.logs(
            container,
            Some(LogsOptions {
                follow: true,
                stdout: true,
                stderr: true,
                ..LogsOptions::default()
            }),
        );
        let mut pending = String::new();
        while let Some(chunk) = output.next().await {
            pending.push_str(&chunk?.to_string());
            while let Some(end) = pending.find('\n') {
                let line: String = pending.drain(..=end).collect();
                let Some(report) = line.trim_end().strip_prefix(MARKER) else {
                    self.other.push_str(&line);
                    continue;
                };
                match serde_json::from_str::<NotebookCheck>(report) {
                    Ok(check) => {
                        log.write(Phase::Checks, describe(&check));
                        self.checks.push(check);
                    }
                    Err(error) => {
                        self.other.push_str("unreadable report: ");
                        self.other.push_str(&error.to_string());
                        self.other.push('\n');
                    }
                }
            }
        }
        Ok(())
    }

    /// Each of `listed` without a report, as `outcome` with `error`.
    fn not_reached(&mut self, listed: Option<&[String]>, outcome: NotebookOutcome, error: &str) {
        for path in listed.unwrap_or_default() {
            if self.checks.iter().any(|check| &check.path == path) {
                continue;
            }
            self.checks.push(NotebookCheck {
                path: path.clone(),
                outcome,
                cell: None,
                error: Some(error.to_owned()),
                traceback: None,
                seconds: 0.0,
            });
        }
    }
}

fn describe(check: &NotebookCheck) -> String {
    check
        .problem()
        .unwrap_or_else(|| format!("{} passed in {:.1} s", check.path, check.seconds))
}

fn gib_to_bytes(gib: f64) -> i64 {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "metadata bounds the memory far below i64::MAX bytes"
    )]
    let bytes = (gib * 1024.0 * 1024.0 * 1024.0).round() as i64;
    bytes
}

fn cpus_to_nano(cpus: f64) -> i64 {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "metadata bounds the CPUs far below i64::MAX / 1e9"
    )]
    let nano = (cpus * 1e9).round() as i64;
    nano
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        path: &str,
        outcome: NotebookOutcome,
        cell: Option<u32>,
        error: &str,
    ) -> NotebookCheck {
        NotebookCheck {
            path: path.to_owned(),
            outcome,
            cell,
            error: (!error.is_empty()).then(|| error.to_owned()),
            traceback: None,
            seconds: 12.4,
        }
    }

    #[test]
    fn the_summary_names_each_notebook_that_did_not_pass_and_where() {
        let checks = NotebookChecks {
            notebooks: vec![
                check("a.ipynb", NotebookOutcome::Passed, None, ""),
                check(
                    "b.ipynb",
                    NotebookOutcome::Failed,
                    Some(3),
                    "ZeroDivisionError: division by zero",
                ),
                check("slow/c.ipynb", NotebookOutcome::TimedOut, Some(2), "late"),
            ],
            network: false,
            timeout_seconds: 10,
        };
        assert_eq!(
            checks.summary(),
            "1 of 3 notebooks passed; b.ipynb failed at cell 3: ZeroDivisionError: division by \
             zero; slow/c.ipynb timed out at cell 2 after 12 s"
        );
        assert_eq!(checks.count(NotebookOutcome::TimedOut), 1);
    }

    #[test]
    fn a_report_line_of_the_runner_reads_as_a_check() {
        let line = r#"{"path": "x.ipynb", "outcome": "failed", "cell": 3, "seconds": 1.5, "error": "ValueError: no", "traceback": null}"#;
        let check: NotebookCheck = serde_json::from_str(line).unwrap();
        assert_eq!(check.outcome, NotebookOutcome::Failed);
        assert_eq!(check.cell, Some(3));
        assert_eq!(
            check.problem().as_deref(),
            Some("x.ipynb failed at cell 3: ValueError: no")
        );
    }

    #[test]
    fn resources_become_docker_limits() {
        assert_eq!(gib_to_bytes(2.0), 2_147_483_648);
        assert_eq!(cpus_to_nano(0.5), 500_000_000);
    }
}
