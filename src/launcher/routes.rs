//! HTTP endpoints of the launcher's catalogues: every signed-in user lists them, administrators
//! keep them.

use axum::Json;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{DataVolume, DataVolumeSpec, Datazone, DatazoneSpec, LauncherService};
use crate::accounts::AccountService;
use crate::http::error::ErrorEnvelope;
use crate::http::{Admin, ApiError, ApiJson, SignedIn};

pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AccountService: FromRef<S>,
    LauncherService: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_data_volumes, create_data_volume))
        .routes(routes!(update_data_volume, delete_data_volume))
        .routes(routes!(list_datazones, create_datazone))
        .routes(routes!(update_datazone, delete_datazone))
}

/// The data volumes a launch can mount.
#[utoipa::path(get, path = "/api/data-volumes", tag = "launcher", security(("api_token" = []), ("session_cookie" = [])),
    responses((status = 200, body = Vec<DataVolume>), (status = 401, body = ErrorEnvelope)))]
async fn list_data_volumes(
    State(launcher): State<LauncherService>,
    _user: SignedIn,
) -> Result<Json<Vec<DataVolume>>, ApiError> {
    Ok(Json(launcher.data_volumes().await?))
}

/// Adds a data volume (administrators only).
#[utoipa::path(post, path = "/api/data-volumes", tag = "launcher", security(("api_token" = []), ("session_cookie" = [])), request_body = DataVolumeSpec,
    responses((status = 201, body = DataVolume), (status = 403, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn create_data_volume(
    State(launcher): State<LauncherService>,
    _admin: Admin,
    ApiJson(spec): ApiJson<DataVolumeSpec>,
) -> Result<(StatusCode, Json<DataVolume>), ApiError> {
    let volume = launcher.create_data_volume(spec).await?;
    Ok((StatusCode::CREATED, Json(volume)))
}

/// Replaces a data volume's description, possibly renaming it (administrators only).
#[utoipa::path(put, path = "/api/data-volumes/{name}", tag = "launcher", security(("api_token" = []), ("session_cookie" = [])),
    request_body = DataVolumeSpec,
    params(("name" = String, Path, description = "Data volume name")),
    responses((status = 200, body = DataVolume), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)))]
async fn update_data_volume(
    State(launcher): State<LauncherService>,
    _admin: Admin,
    Path(name): Path<String>,
    ApiJson(spec): ApiJson<DataVolumeSpec>,
) -> Result<Json<DataVolume>, ApiError> {
    Ok(Json(launcher.update_data_volume(&name, spec).await?))
}

/// Removes a data volume (administrators only).
#[utoipa::path(delete, path = "/api/data-volumes/{name}", tag = "launcher", security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Data volume name")),
    responses((status = 204), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn delete_data_volume(
    State(launcher): State<LauncherService>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    launcher.delete_data_volume(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The datazones a launch can run in.
#[utoipa::path(get, path = "/api/datazones", tag = "launcher", security(("api_token" = []), ("session_cookie" = [])),
    responses((status = 200, body = Vec<Datazone>), (status = 401, body = ErrorEnvelope)))]
async fn list_datazones(
    State(launcher): State<LauncherService>,
    _user: SignedIn,
) -> Result<Json<Vec<Datazone>>, ApiError> {
    Ok(Json(launcher.datazones().await?))
}

/// Adds a datazone (administrators only).
#[utoipa::path(post, path = "/api/datazones", tag = "launcher", security(("api_token" = []), ("session_cookie" = [])), request_body = DatazoneSpec,
    responses((status = 201, body = Datazone), (status = 403, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn create_datazone(
    State(launcher): State<LauncherService>,
    _admin: Admin,
    ApiJson(spec): ApiJson<DatazoneSpec>,
) -> Result<(StatusCode, Json<Datazone>), ApiError> {
    let datazone = launcher.create_datazone(spec).await?;
    Ok((StatusCode::CREATED, Json(datazone)))
}

/// Replaces a datazone's description, possibly renaming it (administrators only).
#[utoipa::path(put, path = "/api/datazones/{name}", tag = "launcher", security(("api_token" = []), ("session_cookie" = [])), request_body = DatazoneSpec,
    params(("name" = String, Path, description = "Datazone name")),
    responses((status = 200, body = Datazone), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)))]
async fn update_datazone(
    State(launcher): State<LauncherService>,
    _admin: Admin,
    Path(name): Path<String>,
    ApiJson(spec): ApiJson<DatazoneSpec>,
) -> Result<Json<Datazone>, ApiError> {
    Ok(Json(launcher.update_datazone(&name, spec).await?))
}

/// Removes a datazone (administrators only).
#[utoipa::path(delete, path = "/api/datazones/{name}", tag = "launcher", security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datazone name")),
    responses((status = 204), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn delete_datazone(
    State(launcher): State<LauncherService>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    launcher.delete_datazone(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
