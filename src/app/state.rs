//! What every handler can reach. Domain routes never name this type: each handler takes the one
//! service it calls (`State<DatalabService>`, ...), which axum finds here through [`FromRef`], so
//! the domains do not depend on the root that assembles them.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::accounts::AccountService;
use crate::catalog::CatalogService;
use crate::config::Config;
use crate::datalabs::{BuildEvents, DatalabService};
use crate::http::ServerConfig;
use crate::http::metrics::Metrics;
use crate::launcher::LauncherService;
use crate::storage::Database;

/// The services of one `labforge serve` process. Each field is cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub server: ServerConfig,
    pub database: Database,
    pub accounts: AccountService,
    pub datalabs: DatalabService,
    pub catalog: CatalogService,
    pub launcher: LauncherService,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// Hands each domain its own settings out of `config`.
    pub fn new(config: &Config, database: Database) -> Self {
        Self {
            server: config.server.clone(),
            accounts: AccountService::new(database.clone(), config.accounts.clone()),
            datalabs: DatalabService::new(
                database.clone(),
                config.datalab_settings(),
                BuildEvents::new(),
            ),
            catalog: CatalogService::new(
                database.clone(),
                config.catalog.clone(),
                config.server.public_url(),
            ),
            launcher: LauncherService::new(database.clone()),
            metrics: Arc::default(),
            database,
        }
    }
}

macro_rules! service_from_state {
    ($($field:ident: $service:ty),* $(,)?) => {
        $(
            impl FromRef<AppState> for $service {
                fn from_ref(state: &AppState) -> Self {
                    state.$field.clone()
                }
            }
        )*
    };
}

service_from_state!(
    database: Database,
    accounts: AccountService,
    datalabs: DatalabService,
    catalog: CatalogService,
    launcher: LauncherService,
    metrics: Arc<Metrics>,
);
