//! The service's HTTP face: the JSON API under `/api`, its OpenAPI document, Prometheus metrics,
//! and labforge's OCI registry (`/v2`, `/auth/token`), all served by one process.
//!
//! Handlers extract, call one service function and return; the domains own their routes
//! (`accounts::routes`, ...) and this module only assembles them, applies the request limits and
//! the access log, and maps errors through [`error`].

pub mod error;
pub mod extract;
pub mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use crate::accounts::AccountService;
use crate::catalog::CatalogService;
use crate::config::Config;
use crate::datalabs::{BuildEvents, DatalabService};
use crate::launcher::LauncherService;
use crate::registry::RegistryState;
use crate::storage::Database;

pub use error::ApiError;
pub use extract::{Admin, ApiJson, SignedIn};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address `labforge serve` listens on: the API, the web UI and the registry.
    pub listen: SocketAddr,
    /// The URL users reach the service at, for links in responses and JSON-LD; derived from
    /// `listen` when absent.
    pub public_url: Option<String>,
    /// Largest JSON body accepted.
    pub max_json_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            public_url: None,
            max_json_bytes: 1 << 20,
        }
    }
}

impl ServerConfig {
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }
}

/// What every handler can reach. Each field is cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub database: Database,
    pub accounts: AccountService,
    pub datalabs: DatalabService,
    pub catalog: CatalogService,
    pub launcher: LauncherService,
    pub metrics: Arc<metrics::Metrics>,
}

impl AppState {
    pub fn new(config: Config, database: Database) -> Self {
        let config = Arc::new(config);
        let accounts = AccountService::new(database.clone(), config.accounts.clone());
        let datalabs =
            DatalabService::new(database.clone(), Arc::clone(&config), BuildEvents::new());
        let catalog = CatalogService::new(
            database.clone(),
            config.catalog.clone(),
            config.server.public_url(),
        );
        let launcher = LauncherService::new(database.clone());
        Self {
            config,
            database,
            accounts,
            datalabs,
            catalog,
            launcher,
            metrics: Arc::default(),
        }
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "labforge",
        description = "Builds scientists' code into datalabs, publishes them and launches them."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "accounts", description = "Users, sessions and API tokens"),
        (name = "datalabs", description = "Datalabs, their versions and sources, builds and build logs"),
        (name = "marketplace", description = "Searching the published datalabs, with facets; stars"),
        (name = "launcher", description = "Data volumes and datazones a launch can use"),
        (name = "catalog", description = "The catalogue as DCAT-AP / schema.org JSON-LD"),
    )
)]
struct ApiDocument;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::accounts::SESSION_COOKIE,
            ))),
        );
    }
}

/// The JSON API and its OpenAPI document, gathered from the domains' routes.
pub fn api(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (router, document) = OpenApiRouter::with_openapi(ApiDocument::openapi())
        .merge(crate::accounts::routes::routes())
        .merge(crate::datalabs::routes::routes())
        .merge(crate::catalog::routes::routes())
        .merge(crate::launcher::routes::routes())
        .split_for_parts();
    // Serialised once: the document is fixed for the life of the process.
    let document_json = axum::body::Bytes::from(
        serde_json::to_vec(&document).expect("the OpenAPI document serialises"),
    );
    let router = router
        .route(
            "/api/openapi.json",
            get(move || {
                let body = document_json.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                }
            }),
        )
        .route("/metrics", get(metrics::render))
        .layer(DefaultBodyLimit::max(state.config.server.max_json_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::observe_requests,
        ))
        .with_state(state);
    (router, document)
}

/// The whole service: the API and the registry on one listener.
pub fn app(state: AppState, registry: RegistryState) -> Router {
    let (api, _) = api(state);
    api.merge(crate::registry::router(registry))
}

/// `labforge serve`: opens the database (migrating it), creates the first administrator on a new
/// database and prints its one-time password, starts the build workers, then serves until Ctrl-C
/// or SIGTERM.
pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    crate::install_crypto_provider();
    ensure_build_account(&mut config);
    let grants = crate::registry::standalone_grants(&config)?;
    let database = Database::open(&config.database, &config.data_dir)
        .await
        .context("opening the database")?;
    let state = AppState::new(config, database);
    if let Some((name, password)) = state.accounts.ensure_first_admin().await? {
        // Printed, not logged: log files outlive the moment and are read by more people.
        println!(
            "created the first administrator {name:?} with the one-time password {password}\n\
             sign in and change it: PUT /api/me/password"
        );
    }
    let registry = RegistryState::open(
        &state.config.registry_server,
        &state.config.data_dir,
        grants,
    )
    .await
    .context("opening the registry's content store")?
    .with_directory(Arc::new(
        crate::datalabs::registry_access::DatalabDirectory::new(
            state.accounts.clone(),
            state.datalabs.clone(),
        ),
    ));
    tokio::spawn(registry.clone().run_maintenance());
    tokio::spawn(remove_stale_uploads(state.datalabs.clone()));
    let listen = state.config.server.listen;
    let database = state.database.clone();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.cancel();
    });
    let events = state.datalabs.events().clone();
    let workers = tokio::spawn({
        let workers = crate::jobs::run_workers(
            Arc::clone(&state.config),
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
    axum::serve(listener, app(state, registry))
        .with_graceful_shutdown(stopping)
        .await?;
    database.close().await;
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

/// Hourly: uploads sent but never named by a version are removed once they are old enough.
async fn remove_stale_uploads(datalabs: crate::datalabs::DatalabService) {
    let mut interval = tokio::time::interval(std::time::Duration::from_hours(1));
    loop {
        interval.tick().await;
        match datalabs.remove_stale_uploads().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "unused uploads removed"),
            Err(error) => tracing::warn!(%error, "cannot remove unused uploads"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
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
