//! The `labforge` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::base_images::build_base_images;
use crate::build_log::BuildLog;
use crate::buildkit::BuildEngine;
use crate::client::{self, ExitStatus, commands};
use crate::config::{Config, LogFormat, env};
use crate::datalabs::Visibility;
use crate::licences::{
    Audience, Decision, EvaluationRequest, LicenceError, LicenceService, LicencesConfig, Obligation,
};
use crate::metadata::DatalabKind;
use crate::pipeline::{BuildHistory, BuildOutcome, BuildSpec, Pipeline};
use crate::sources::Source;

#[derive(Debug, Parser)]
#[command(
    name = "labforge",
    version,
    about = "Turns scientists' code into launchable datalabs"
)]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Client(ClientCommand),
    /// Build a datalab from a git URL, a zip file or a folder, and push its image.
    Build {
        /// An https git URL, a .zip file, or a folder (inside the workspace root).
        source: String,
        /// Branch, tag or commit of a git source.
        #[arg(long = "ref")]
        reference: Option<String>,
        /// One folder of a git source, relative to the repository's root, built alone.
        #[arg(long)]
        subfolder: Option<String>,
        /// The datalab's name (default: metadata's alternateName).
        #[arg(long)]
        name: Option<String>,
        /// jupyterlab, desktop or generic (default: metadata's kind, else jupyterlab).
        #[arg(long)]
        kind: Option<DatalabKind>,
        /// Skip starting the image, probing its health endpoint and executing its notebooks.
        #[arg(long)]
        no_smoke_test: bool,
        /// Print the outcome as JSON on standard output.
        #[arg(long)]
        json: bool,
    },
    /// Build and push the base images (`datalab_base`, `jl_base`, `x_base`) from Debian packages.
    BaseImages,
    /// Move every published datalab onto a patch release of its base without rebuilding it: where
    /// the new base declares the same interface, the image gets the new base's layers under its
    /// own, is smoke-tested and its notebooks run again, and becomes the version's next build.
    Rebase {
        /// The base version to move onto (default: the one this labforge builds on).
        #[arg(long)]
        to: Option<String>,
        /// Only say what would be rebased.
        #[arg(long)]
        dry_run: bool,
        /// Print the outcomes as JSON on standard output.
        #[arg(long)]
        json: bool,
    },
    /// The main job: base images, then every example datalab in the given folder.
    Run {
        #[arg(long, default_value = "examples")]
        examples: PathBuf,
    },
    /// Serve labforge's OCI registry (distribution API, token auth by visibility).
    Registry,
    /// Serve the JSON API, the OCI registry and the build workers from one process.
    Serve,
    /// Run build workers only (`LABFORGE_BUILD_CONCURRENCY` of them) against the service's database.
    Worker,
    /// Bring the database schema up to date and rebuild the marketplace's search entries, then
    /// exit.
    Migrate,
    /// Print the effective configuration and the environment variables that shape it.
    Config,
    /// What an SPDX licence expression allows.
    Licence {
        #[command(subcommand)]
        command: LicenceCommand,
    },
}

/// The commands that call a running labforge service (see docs/CLI.md for their exit codes).
#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Sign in to a labforge service; keeps its address and an API token (mode 0600) in
    /// `$XDG_CONFIG_HOME/labforge/credentials.json` for the other commands.
    Login {
        /// The service's address, like `https://labforge.example.org`.
        url: String,
        /// Your user name (asked on the terminal when absent).
        #[arg(long)]
        user: Option<String>,
        /// An API token made on the web page, instead of a user name and password.
        #[arg(long, env = client::TOKEN_VARIABLE, hide_env_values = true)]
        token: Option<String>,
    },
    /// Sign out: revoke the API token `labforge login` made and delete the kept credentials.
    Logout,
    /// Create or update a datalab from a folder, a .zip file or a git URL, build it on the
    /// service while showing its log, and print the image and digest.
    Push {
        /// A folder or .zip file holding metadata.yaml, or an https git URL.
        source: String,
        /// Branch, tag or commit of a git source.
        #[arg(long = "ref")]
        reference: Option<String>,
        /// One folder of a git source, relative to the repository's root, built alone.
        #[arg(long)]
        subfolder: Option<String>,
        /// The datalab's name (default: metadata's alternateName).
        #[arg(long)]
        name: Option<String>,
        /// The version (default: metadata's version).
        #[arg(long)]
        version: Option<String>,
        /// jupyterlab, desktop or generic, for a new datalab (default: metadata's kind, else
        /// jupyterlab).
        #[arg(long)]
        kind: Option<DatalabKind>,
    },
    /// Print a build's log, following it while it runs (default: the newest version's newest
    /// build).
    Logs {
        datalab: String,
        version: Option<String>,
        /// The build number within the version.
        build: Option<i64>,
    },
    /// Submit a version for publication; every unmet condition is listed.
    Submit {
        datalab: String,
        version: String,
        /// Who may see it once published: public, `member_states` or private.
        #[arg(long, default_value = "public")]
        audience: Visibility,
        /// A note for the moderators (what changed, what was fixed); kept in the history.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Launch a datalab, wait until it is ready and print the session's address.
    Launch {
        datalab: String,
        /// The version to run (default: the newest with a succeeded build).
        #[arg(long)]
        version: Option<String>,
        /// CPUs (default: the datalab's declared minimum, or 1).
        #[arg(long)]
        cpu: Option<f64>,
        /// Memory in GiB (default: the datalab's declared minimum, or 2).
        #[arg(long)]
        memory: Option<f64>,
        /// A data volume of the catalogue to mount (repeat for more).
        #[arg(long = "volume")]
        volumes: Vec<String>,
        /// The datazone to run in (default: local).
        #[arg(long)]
        datazone: Option<String>,
        /// A name for the session list (default: the datalab's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// List your sessions, or stop one or read its output.
    Sessions {
        #[command(subcommand)]
        command: Option<SessionsCommand>,
        /// Include ended and failed sessions.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// End a session and remove its container.
    Stop { id: String },
    /// Print the session container's recent output.
    Logs { id: String },
}

#[derive(Debug, Subcommand)]
enum LicenceCommand {
    /// Print the decision for an expression and an audience, with its obligations and reasons.
    /// Exits 0 when the audience is allowed, 1 when it is not, 2 when the expression is malformed.
    Check {
        /// An SPDX licence expression, like "MIT OR Apache-2.0" (quote it).
        expression: String,
        /// public, member-states or private.
        #[arg(long, default_value = "public")]
        audience: Audience,
    },
}

/// How `labforge licence check` exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CheckOutcome {
    Allowed,
    NotAllowed,
    Malformed,
}

impl CheckOutcome {
    fn of(result: &Result<Decision, LicenceError>) -> Self {
        match result {
            Ok(decision) if decision.allowed => Self::Allowed,
            Ok(_) => Self::NotAllowed,
            Err(_) => Self::Malformed,
        }
    }

    fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Self::Allowed => 0,
            Self::NotAllowed => 1,
            Self::Malformed => 2,
        })
    }
}

pub fn main() -> ExitCode {
    let arguments = Arguments::parse();
    // The client commands call a service; the service's own configuration is not theirs.
    let command = match arguments.command {
        Command::Client(command) => return run_client(command),
        command => command,
    };
    let arguments = Arguments { command };
    let config = match Config::load() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Pure computation: no logs, no runtime, and exit codes of its own.
    if let Command::Licence {
        command: LicenceCommand::Check {
            expression,
            audience,
        },
    } = &arguments.command
    {
        return check_licence(config.licences, expression, *audience);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs.init(),
        // One JSON object per event, for log collectors.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    crate::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new().expect("the async runtime starts");
    match runtime.block_on(run(arguments.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", with_causes(&error));
            ExitCode::FAILURE
        }
    }
}

fn run_client(command: ClientCommand) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("the async runtime starts");
    let work = async move {
        match command {
            ClientCommand::Login { url, user, token } => {
                commands::login(commands::LoginOptions { url, user, token }).await
            }
            ClientCommand::Push {
                source,
                reference,
                subfolder,
                name,
                version,
                kind,
            } => {
                commands::push(commands::PushOptions {
                    source,
                    reference,
                    subfolder,
                    name,
                    version,
                    kind,
                })
                .await
            }
            ClientCommand::Logs {
                datalab,
                version,
                build,
            } => commands::logs(&datalab, version, build).await,
            ClientCommand::Logout => commands::logout().await,
            ClientCommand::Submit {
                datalab,
                version,
                audience,
                comment,
            } => commands::submit(&datalab, &version, audience, comment).await,
            ClientCommand::Launch {
                datalab,
                version,
                cpu,
                memory,
                volumes,
                datazone,
                name,
            } => {
                commands::launch(commands::LaunchOptions {
                    datalab,
                    version,
                    cpu,
                    memory_gib: memory,
                    data_volumes: volumes,
                    datazone,
                    name,
                })
                .await
            }
            ClientCommand::Sessions { command, all } => match command {
                None => commands::sessions(all).await,
                Some(SessionsCommand::Stop { id }) => commands::stop_session(&id).await,
                Some(SessionsCommand::Logs { id }) => commands::session_logs(&id).await,
            },
        }
    };
    // Ctrl-C drops the command's future, which restores what it changed (the terminal's echo).
    let result = runtime.block_on(async move {
        tokio::select! {
            result = work => result,
            _ = tokio::signal::ctrl_c() => Err(client::ClientError::Interrupted),
        }
    });
    // A line still being read from the terminal is not waited for.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitStatus::Success.into(),
        Err(error) => {
            if matches!(error, client::ClientError::Interrupted) {
                // ^C leaves the cursor after what was printed last.
                eprintln!();
            }
            eprintln!("error: {error}");
            error.exit_status().into()
        }
    }
}

/// The error and its causes, each said once. Many of labforge's errors already end with their
/// cause (an I/O error, a daemon's answer) because the service shows them without a chain;
/// anyhow's `{:#}` would repeat it.
fn with_causes(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.is_empty() {
            text = cause;
        } else if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling...");
            on_interrupt.cancel();
        }
    });
    match command {
        Command::Build {
            source,
            reference,
            subfolder,
            name,
            kind,
            no_smoke_test,
            json,
        } => {
            let spec = BuildSpec {
                source: parse_source(
                    &source,
                    reference,
                    subfolder,
                    &config.sources.workspace_root,
                )?,
                name,
                kind,
                smoke_test: !no_smoke_test,
                history: BuildHistory::Index,
            };
            let pipeline = Pipeline::new(config.pipeline_settings()).await?;
            let outcome = build_with_progress(&pipeline, &spec, &cancel).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&outcome_json(&outcome))?);
            } else {
                print_outcome(&outcome);
            }
            Ok(())
        }
        Command::BaseImages => base_images(&config, &cancel).await,
        Command::Rebase { to, dry_run, json } => rebase(&config, to, dry_run, json).await,
        Command::Run { examples } => {
            base_images(&config, &cancel).await?;
            set_up_examples(config, &examples).await
        }
        Command::Registry => crate::app::serve_registry(config).await,
        Command::Serve => crate::app::serve(config).await,
        Command::Worker => crate::app::serve_workers(config).await,
        Command::Migrate => {
            let database =
                crate::storage::Database::open(&config.database, &config.data_dir).await?;
            let applied = database.applied_migrations().await?;
            let refreshed = database.refresh_all_datalab_search().await?;
            println!(
                "{:?} database is at migration {}; search entries of {refreshed} datalabs rebuilt",
                database.backend(),
                applied.last().copied().unwrap_or_default()
            );
            database.close().await;
            Ok(())
        }
        Command::Licence { .. } => unreachable!("answered before the runtime starts"),
        Command::Client(_) => unreachable!("run by `run_client`"),
        Command::Config => {
            println!("{}", toml::to_string_pretty(&config)?);
            for variable in env::ALL {
                println!("# {}: {}", variable.name, variable.doc);
            }
            Ok(())
        }
    }
}

/// Prints the decision on standard output, or the refusal on standard error.
fn check_licence(config: LicencesConfig, expression: &str, audience: Audience) -> ExitCode {
    let result = LicenceService::new(config).evaluate(&EvaluationRequest {
        expression: expression.to_owned(),
        audience,
    });
    match &result {
        Ok(decision) => print!("{}", decision_text(decision)),
        Err(error) => eprintln!("error: {error}"),
    }
    CheckOutcome::of(&result).exit_code()
}

fn decision_text(decision: &Decision) -> String {
    use std::fmt::Write as _;

    let or_none = |items: Vec<&str>, separator: &str| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(separator)
        }
    };
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        text,
        "{}: {} is {}\nallowed audiences: {}",
        decision.expression,
        decision.audience.as_argument(),
        if decision.allowed {
            "allowed"
        } else {
            "not allowed"
        },
        or_none(
            decision
                .audiences
                .iter()
                .map(|audience| audience.as_argument())
                .collect(),
            ", "
        )
    );
    if decision.allowed {
        let obligations = decision
            .obligations
            .iter()
            .map(|obligation| match obligation {
                Obligation::SourceReachable => "the source reachable from the datalab's page",
                Obligation::PublicSourceUrl => "a public source URL before it is public",
            })
            .collect();
        let _ = writeln!(text, "obligations: {}", or_none(obligations, "; "));
    }
    text.push_str("reasons:\n");
    for reason in &decision.reasons {
        let _ = writeln!(text, "  - {reason}");
    }
    text
}

/// Registers the examples with the running service, whose workers build them; fails when the
/// service does not answer or an example does not build.
async fn set_up_examples(config: Config, examples: &Path) -> anyhow::Result<()> {
    let service_url = config.server.public_url();
    reqwest::get(format!("{service_url}/api/openapi.json"))
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| {
            format!("no labforge service answers at {service_url}: start `labforge serve` first")
        })?;
    let database = crate::storage::Database::open(&config.database, &config.data_dir).await?;
    let state = crate::app::AppState::new(&config, database);
    let owner = &config.accounts.first_admin_name;
    let outcomes = crate::datalabs::examples::set_up_examples(
        &state.accounts,
        &state.datalabs,
        owner,
        examples,
    )
    .await?;
    let mut failed = Vec::new();
    for outcome in &outcomes {
        eprintln!(
            "example {} {}: {}",
            outcome.name,
            outcome.version,
            outcome.status.as_str()
        );
        if let Some(failure) = &outcome.failure {
            eprintln!("  {failure}");
            failed.push(outcome.name.as_str());
        }
    }
    state.database.close().await;
    if !failed.is_empty() {
        bail!("examples that did not build: {}", failed.join(", "));
    }
    Ok(())
}

async fn base_images(config: &Config, cancel: &CancellationToken) -> anyhow::Result<()> {
    let BuildEngine::Dockerd(engine) =
        BuildEngine::connect(&config.engine, &config.registry).await?
    else {
        bail!(
            "base images are built with a local dockerd (it imports the root filesystem); unset LABFORGE_BUILDKITD"
        );
    };
    let log = BuildLog::new();
    let printer = print_log(&log);
    let result = build_base_images(&config.base_image_settings(), &engine, &log, cancel).await;
    finish_printing(log, printer).await;
    for image in result? {
        println!("{} {}", image.reference, image.digest);
    }
    Ok(())
}

async fn rebase(
    config: &Config,
    to: Option<String>,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<()> {
    let BuildEngine::Dockerd(engine) =
        BuildEngine::connect(&config.engine, &config.registry).await?
    else {
        bail!(
            "rebased images are checked on a local dockerd (smoke test, notebooks); unset \
             LABFORGE_BUILDKITD"
        );
    };
    let database = crate::storage::Database::open(&config.database, &config.data_dir).await?;
    let rebaser = crate::rebase::Rebaser {
        database: database.clone(),
        registry: crate::images::RegistryClient::with_credentials(config.registry.credentials()),
        target: config.registry.clone(),
        daemon: engine,
        checks: config.checks.clone(),
    };
    let base_version = to.unwrap_or_else(|| config.base_version.clone());
    let log = BuildLog::new();
    let printer = print_log(&log);
    let outcomes = rebaser.rebase_published(&base_version, dry_run, &log).await;
    finish_printing(log, printer).await;
    database.close().await;
    let outcomes = outcomes?;
    if json {
        println!("{}", serde_json::to_string_pretty(&outcomes)?);
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|outcome| matches!(outcome.result, crate::rebase::RebaseResult::Failed { .. }))
        .map(|outcome| format!("{} {}", outcome.datalab, outcome.version))
        .collect();
    if !failed.is_empty() {
        bail!(
            "rebased builds that failed their checks (the earlier builds stay in use): {}",
            failed.join(", ")
        );
    }
    Ok(())
}

async fn build_with_progress(
    pipeline: &Pipeline,
    spec: &BuildSpec,
    cancel: &CancellationToken,
) -> anyhow::Result<BuildOutcome> {
    let log = BuildLog::new();
    let printer = print_log(&log);
    let outcome = pipeline.build(spec, &log, cancel).await;
    finish_printing(log, printer).await;
    Ok(outcome?)
}

/// Dropping the last handle on the log closes its channel: the printer prints what is left and
/// stops. The time limit only guards against a handle kept alive elsewhere.
async fn finish_printing(log: BuildLog, printer: tokio::task::JoinHandle<()>) {
    drop(log);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), printer).await;
}

fn print_log(log: &BuildLog) -> tokio::task::JoinHandle<()> {
    let mut lines = log.follow();
    tokio::spawn(async move {
        loop {
            match lines.recv().await {
                Ok(line) => eprintln!("{line}"),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    eprintln!("({missed} log lines skipped)");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

fn print_outcome(outcome: &BuildOutcome) {
    let timings = &outcome.timings;
    eprintln!(
        "phases: fetch {:.2}s, package {:.2}s, lint {:.2}s, solve {:.2}s, push {:.2}s, evidence {:.2}s, smoke test {:.2}s, checks {:.2}s{}",
        timings.fetch,
        timings.package,
        timings.lint,
        timings.solve,
        timings.push,
        timings.evidence,
        timings.smoke_test,
        timings.checks,
        if outcome.reused {
            " (nothing changed: image reused)"
        } else {
            ""
        }
    );
    println!("image: {}", outcome.record.image);
    println!("digest: {}", outcome.record.digest);
    if let Some(notebooks) = &outcome.notebooks {
        println!("notebooks: {}", notebooks.summary());
    }
}

fn outcome_json(outcome: &BuildOutcome) -> serde_json::Value {
    serde_json::json!({
        "image": outcome.record.image,
        "digest": outcome.record.digest,
        "reused": outcome.reused,
        "build": outcome.record,
        "lint": outcome.lint,
        "smoke_test": outcome.smoke_test,
        "notebooks": outcome.notebooks,
        "screenshot_bytes": outcome.screenshot.as_ref().map(|screenshot| screenshot.png.len()),
        "timings": outcome.timings,
    })
}

/// A git URL, a zip file or a folder, told apart the way a user would.
fn parse_source(
    source: &str,
    reference: Option<String>,
    subfolder: Option<String>,
    workspace_root: &Path,
) -> anyhow::Result<Source> {
    if source.contains("://") || source.starts_with("git@") {
        return Ok(Source::Git {
            url: source.to_owned(),
            reference,
            subfolder,
        });
    }
    if reference.is_some() {
        bail!("--ref applies to git sources only; {source} is a file or folder");
    }
    if subfolder.is_some() {
        bail!(
            "--subfolder applies to git sources only; {source} is a file or folder: give the \
             folder itself"
        );
    }
    let path = Path::new(source);
    let metadata =
        std::fs::metadata(path).with_context(|| format!("no file or folder at {source}"))?;
    let path = std::path::absolute(path)?;
    if metadata.is_dir() {
        Ok(Source::Workspace {
            root: workspace_root.to_path_buf(),
            path,
        })
    } else if path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("zip"))
    {
        Ok(Source::Zip { path })
    } else {
        bail!("{source} is neither a folder nor a .zip file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_checks_exit_zero_when_allowed_one_when_not_two_when_malformed() {
        let outcome = |expression: &str, audience| {
            CheckOutcome::of(&crate::licences::evaluate(expression, audience))
        };
        assert_eq!(outcome("MIT", Audience::Public), CheckOutcome::Allowed);
        assert_eq!(
            outcome("LicenseRef-proprietary", Audience::Public),
            CheckOutcome::NotAllowed
        );
        assert_eq!(outcome("MIT OR", Audience::Public), CheckOutcome::Malformed);
        assert_eq!(CheckOutcome::Allowed.exit_code(), ExitCode::from(0));
        assert_eq!(CheckOutcome::NotAllowed.exit_code(), ExitCode::from(1));
        assert_eq!(CheckOutcome::Malformed.exit_code(), ExitCode::from(2));
    }

    #[test]
    fn a_decision_prints_its_audiences_obligations_and_reasons() {
        let decision = crate::licences::evaluate("AGPL-3.0-only", Audience::Public).unwrap();
        let text = decision_text(&decision);
        assert!(
            text.starts_with(
                "AGPL-3.0-only: public is allowed\nallowed audiences: public, member-states, private\n\
                 obligations: the source reachable from the datalab's page; a public source URL \
                 before it is public\nreasons:\n  - `AGPL-3.0-only` ("
            ),
            "{text}"
        );
    }

    #[test]
    fn a_cause_the_message_already_states_is_not_repeated() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let error = anyhow::Error::new(crate::pipeline::PipelineError::Storage {
            action: "cannot read",
            path: PathBuf::from("/data/requirements.txt"),
            source: missing,
        });
        let text = with_causes(&error);
        assert_eq!(text.matches("entity not found").count(), 1, "{text}");
        let chained = anyhow::Error::msg("inner").context("outer");
        assert_eq!(with_causes(&chained), "outer: inner");
    }
}
