//! The composition root: the one place that reads the whole [`Config`], opens the database and
//! the registry's store, hands each domain its own settings and handles, and runs the processes
//! of the `serve`, `worker` and `registry` subcommands with their shutdown and periodic sweeps.
//!
//! - [`state`]: [`AppState`], the services of one process; handlers reach a service through
//!   `FromRef`, never the state itself.
//! - [`router`]: the router and the OpenAPI document, merged from the domains' routes.
//!
//! Nothing in the domains imports this module.

pub mod router;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

pub use router::{api, app};
pub use state::AppState;

use crate::config::Config;
use crate::datalabs::BuildEvents;
use crate::datalabs::registry_access::DatalabDirectory;
use crate::registry::RegistryState;
use crate::storage::Database;

/// How often the service's housekeeping runs.
const SWEEP_INTERVAL: Duration = Duration::from_hours(1);
/// How often sessions are checked for idleness and age.
const SESSION_WATCH_INTERVAL: Duration = Duration::from_mins(1);

/// `labforge serve`: opens the database (migrating it), creates the first administrator on a new
/// database and prints its one-time password, starts the build workers, then serves until Ctrl-C
/// or SIGTERM.
pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    crate::install_crypto_provider();
    ensure_build_account(&mut config);
    let grants = config.registry_grants()?;
    let database = Database::open(&config.database, &config.data_dir)
        .await
        .context("opening the database")?;
    let state = AppState::new(&config, database);
    if let Some((name, password)) = state.accounts.ensure_first_admin().await? {
        // Printed, not logged: log files outlive the moment and are read by more people.
        println!(
            "created the first administrator {name:?} with the one-time password {password}\n\
             sign in and change it: PUT /api/me/password"
        );
    }
    let registry = RegistryState::open(&config.registry_server, &config.data_dir, grants)
        .await
        .context("opening the registry's content store")?
        .with_directory(Arc::new(DatalabDirectory::new(
            state.accounts.clone(),
            state.datalabs.clone(),
        )));
    tokio::spawn(registry.clone().run_maintenance());
    tokio::spawn(sweep_hourly(state.clone()));
    // Before the API answers, so that no launch starts while containers are being matched.
    if let Err(error) = state.sessions.runtime().reconcile().await {
        tracing::warn!(%error, "cannot reconcile the sessions with their containers");
    }
    tokio::spawn(cull_sessions(state.clone()));
    let listen = config.server.listen;
    let database = state.database.clone();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let shutdown = cancel_on_signal();
    let events = state.datalabs.events().clone();
    let workers = tokio::spawn({
        let workers = crate::jobs::run_workers(
            config.worker_settings(),
            database.clone(),
            events.clone(),
            shutdown.clone(),
        );
        async move {
            // Reported when it happens: the API keeps serving without workers.
            if let Err(error) = workers.await {
                tracing::error!(%error, "the build workers could not start");
            }
        }
    });
    // The API keeps answering while the workers record their cancelled builds, so log followers
    // receive the end of those builds; then the remaining log streams close and the server stops.
    let stopping = async move {
        shutdown.cancelled().await;
        if let Err(error) = workers.await {
            tracing::error!(%error, "the build workers stopped abnormally");
        }
        events.close();
    };
    tracing::info!(address = %listen, backend = ?database.backend(), "labforge serving");
    axum::serve(
        listener,
        app(state, registry).merge(crate::ui::router(&config.ui)),
    )
    .with_graceful_shutdown(stopping)
    .await?;
    database.close().await;
    Ok(())
}

/// `labforge worker`: build workers without the API, until Ctrl-C or SIGTERM.
pub async fn serve_workers(config: Config) -> anyhow::Result<()> {
    if config.build_queue.concurrency == 0 {
        anyhow::bail!(
            "LABFORGE_BUILD_CONCURRENCY is 0: a worker process needs at least one worker"
        );
    }
    let database = Database::open(&config.database, &config.data_dir)
        .await
        .context("opening the database")?;
    crate::jobs::run_workers(
        config.worker_settings(),
        database.clone(),
        BuildEvents::new(),
        cancel_on_signal(),
    )
    .await?;
    database.close().await;
    Ok(())
}

/// `labforge registry`: the registry alone, on `config.registry_server.listen`.
pub async fn serve_registry(config: Config) -> anyhow::Result<()> {
    crate::install_crypto_provider();
    let settings = &config.registry_server;
    let state = RegistryState::open(settings, &config.data_dir, config.registry_grants()?).await?;
    tokio::spawn(state.clone().run_maintenance());
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    tracing::info!(address = %settings.listen, "registry listening");
    axum::serve(listener, crate::registry::router(state)).await?;
    Ok(())
}

/// The in-process build workers push to this process's registry as the build account. Without
/// one configured (`LABFORGE_REGISTRY_USERNAME`/`_PASSWORD`, needed when separate `labforge worker`
/// processes push too), a random one is made for this process's lifetime.
fn ensure_build_account(config: &mut Config) {
    if config.registry.credentials().is_none() {
        let mut secret = [0_u8; 32];
        getrandom::fill(&mut secret).expect("the operating system provides randomness");
        config.registry.username = Some("labforge-builder".to_owned());
        config.registry.password = Some(hex::encode(secret));
    }
}

/// Hourly housekeeping: uploads sent but never named by a version are removed once they are old
/// enough, and sessions past their expiry are deleted (they no longer sign anyone in, but their
/// rows would otherwise pile up forever).
async fn sweep_hourly(state: AppState) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        interval.tick().await;
        match state.datalabs.remove_stale_uploads().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "unused uploads removed"),
            Err(error) => tracing::warn!(%error, "cannot remove unused uploads"),
        }
        match state.accounts.purge_expired_sessions().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired sessions removed"),
            Err(error) => tracing::warn!(%error, "cannot remove expired sessions"),
        }
    }
}

/// Stops idle and too-old sessions every minute.
async fn cull_sessions(state: AppState) {
    let runtime = state.sessions.runtime();
    let mut interval = tokio::time::interval(SESSION_WATCH_INTERVAL);
    loop {
        interval.tick().await;
        match runtime.cull().await {
            Ok(0) => {}
            Ok(stopped) => tracing::info!(stopped, "idle or old sessions stopped"),
            Err(error) => tracing::warn!(%error, "cannot stop idle sessions"),
        }
    }
}

/// A token cancelled on Ctrl-C or SIGTERM.
fn cancel_on_signal() -> CancellationToken {
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.cancel();
    });
    shutdown
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
