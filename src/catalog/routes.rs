//! HTTP endpoints of the catalogue: the marketplace search, stars, and the JSON-LD descriptions.
//!
//! `GET /api/datalabs/{name}` belongs to the datalabs domain; it answers
//! `Accept: application/ld+json` with [`CatalogService::datalab_json_ld`](super::CatalogService::datalab_json_ld),
//! which `GET /api/datalabs/{name}/jsonld` serves here for clients that cannot set the header.

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::search::{MarketplaceRequest, MarketplaceResults};
use super::{CatalogService, StarState};
use crate::accounts::{AccountService, Caller};
use crate::http::error::ErrorEnvelope;
use crate::http::{ApiError, SignedIn};
use crate::metadata::DatalabKind;
use crate::storage::catalog::SearchOrder;

/// The media type of JSON-LD documents.
pub const JSON_LD: &str = "application/ld+json";

pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AccountService: FromRef<S>,
    CatalogService: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(marketplace))
        .routes(routes!(star, unstar))
        .routes(routes!(datalab_json_ld))
        .routes(routes!(catalog_json_ld))
}

impl<S: Send + Sync> FromRequestParts<S> for MarketplaceRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(Self::from_query_string(
            parts.uri.query().unwrap_or_default(),
        )?)
    }
}

/// Searches the published datalabs the caller may see, with facet counts.
#[utoipa::path(get, path = "/api/marketplace", tag = "marketplace", security((), ("api_token" = []), ("session_cookie" = [])),
    params(
        ("q" = Option<String>, Query, max_length = 200, description = "Words to find in the title, \
            slug, abstract and keywords; all must match, stemmed, the last one also as a prefix"),
        ("kind" = Option<Vec<DatalabKind>>, Query, max_items = 20, description = "Repeat for any \
            of several"),
        ("domain" = Option<Vec<String>>, Query, max_items = 20, description = "Repeat for any of \
            several"),
        ("mission" = Option<Vec<String>>, Query, max_items = 20, description = "Repeat for any of \
            several"),
        ("instrument" = Option<Vec<String>>, Query, max_items = 20, description = "Repeat for any \
            of several"),
        ("audience" = Option<Vec<String>>, Query, max_items = 20, description = "Repeat for any of \
            several"),
        ("licence" = Option<Vec<String>>, Query, max_items = 20, description = "SPDX expression as \
            published; repeat for any of several"),
        ("esa_official" = Option<bool>, Query, description = "true or false"),
        ("sort" = Option<SearchOrder>, Query, description = "Relevance by default"),
        ("page" = Option<u32>, Query, minimum = 1, maximum = 1_000_000, description = "From 1"),
        ("per_page" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Default 20"),
    ),
    responses((status = 200, body = MarketplaceResults), (status = 422, body = ErrorEnvelope)))]
async fn marketplace(
    State(catalog): State<CatalogService>,
    caller: Caller,
    request: MarketplaceRequest,
) -> Result<Json<MarketplaceResults>, ApiError> {
    Ok(Json(catalog.search(&caller, &request).await?))
}

/// Stars a datalab for the caller; starring again changes nothing.
#[utoipa::path(put, path = "/api/datalabs/{name}/star", tag = "marketplace", security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name")),
    responses((status = 200, body = StarState), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn star(
    State(catalog): State<CatalogService>,
    SignedIn(user): SignedIn,
    Path(name): Path<String>,
) -> Result<Json<StarState>, ApiError> {
    Ok(Json(catalog.star(&user, &name).await?))
}

/// Takes the caller's star back; without one, changes nothing.
#[utoipa::path(delete, path = "/api/datalabs/{name}/star", tag = "marketplace", security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name")),
    responses((status = 200, body = StarState), (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn unstar(
    State(catalog): State<CatalogService>,
    SignedIn(user): SignedIn,
    Path(name): Path<String>,
) -> Result<Json<StarState>, ApiError> {
    Ok(Json(catalog.unstar(&user, &name).await?))
}

/// One datalab as JSON-LD (`dcat:DataService` and `schema:SoftwareApplication`), public fields
/// only.
#[utoipa::path(get, path = "/api/datalabs/{name}/jsonld", tag = "catalog", security((), ("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name")),
    responses((status = 200, body = Value, content_type = "application/ld+json"),
        (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "No version has metadata yet")))]
async fn datalab_json_ld(
    State(catalog): State<CatalogService>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json_ld(&catalog.datalab_json_ld(&caller, &name).await?))
}

/// The catalogue of published public datalabs as a DCAT-AP `dcat:Catalog`, for harvesters.
#[utoipa::path(get, path = "/catalog.jsonld", tag = "catalog",
    responses((status = 200, body = Value, content_type = "application/ld+json")))]
async fn catalog_json_ld(State(catalog): State<CatalogService>) -> Result<Response, ApiError> {
    Ok(json_ld(&catalog.catalog_json_ld().await?))
}

/// `document` served as `application/ld+json`.
pub fn json_ld(document: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_LD))],
        document.to_string(),
    )
        .into_response()
}
