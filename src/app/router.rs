//! The router and its OpenAPI document, gathered from the domains' routes: the JSON API under
//! `/api`, `/api/openapi.json`, `/metrics`, and (for the whole service) the OCI registry.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use super::AppState;
use crate::http::metrics;
use crate::registry::RegistryState;

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
        .layer(DefaultBodyLimit::max(state.server.max_json_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
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
