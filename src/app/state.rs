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
use crate::licences::LicenceService;
use crate::publishing::PublishingService;
use crate::sessions::SessionService;
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
    pub publishing: PublishingService,
    pub licences: LicenceService,
    pub sessions: SessionService,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// Hands each domain its own settings out of `config`.
    pub fn new(config: &Config, database: Database) -> Self {
        let datalabs = DatalabService::new(
            database.clone(),
            config.datalab_settings(),
            BuildEvents::new(),
        );
        let sessions = SessionService::new(
            database.clone(),
            datalabs.clone(),
            config.session_settings(),
        );
        Self {
            server: config.server.clone(),
            accounts: AccountService::new(database.clone(), config.accounts.clone()),
            publishing: PublishingService::new(database.clone(), datalabs.clone()),
            datalabs,
            catalog: CatalogService::new(
                database.clone(),
                config.catalog.clone(),
                config.server.public_url(),
                config.licences.member_states.clone(),
            ),
            launcher: LauncherService::new(database.clone()),
            licences: LicenceService::new(config.licences.clone()),
            sessions,
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
    publishing: PublishingService,
    licences: LicenceService,
    sessions: SessionService,
    metrics: Arc<Metrics>,
);
