//! HTTP endpoints of datalabs: datalabs, sharing, zip uploads, versions, builds and build logs.
//! Reading needs view access (anonymous callers see published public datalabs only); changing
//! needs a signed-in owner or administrator. See [`super::visibility`].

use std::fmt::Write as _;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRef, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    Build, BuildStatus, Datalab, DatalabError, DatalabService, LogEvent, LogLine, NewDatalab,
    NewVersion, Png, SourceFile, Upload, Version, WorkspaceFolder,
};
use crate::accounts::{AccountService, Caller};
use crate::catalog::CatalogService;
use crate::evidence::LicenceReport;
use crate::http::error::ErrorEnvelope;
use crate::http::extract::media_type;
use crate::http::{ApiError, ApiJson, SignedIn};

/// Most log lines one JSON or text answer holds; page on with `after`.
const MAX_LOG_LINES: i64 = 10_000;

pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AccountService: FromRef<S>,
    CatalogService: FromRef<S>,
    DatalabService: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(create_datalab))
        .routes(routes!(my_datalabs))
        .routes(routes!(my_workspace))
        .routes(routes!(get_datalab, delete_datalab))
        .routes(routes!(datalab_members))
        .routes(routes!(share_datalab, unshare_datalab))
        .routes(routes!(get_source_file, replace_source_file))
        .routes(routes!(list_versions, create_version))
        .routes(routes!(get_version))
        .routes(routes!(replace_version_source))
        .routes(routes!(export_version))
        .routes(routes!(list_builds, queue_build))
        .routes(routes!(get_build))
        .routes(routes!(cancel_build))
        // The upload reads the raw body stream, which the API's JSON body limit does not
        // cover; the service cuts it off at `max_upload_bytes` instead.
        .routes(routes!(upload_zip))
        .routes(routes!(build_log))
        .routes(routes!(build_sbom))
        .routes(routes!(build_licence_report))
        .routes(routes!(build_screenshot))
}

/// The version as one zip archive: its sources as a build stages them (ignore files applied,
/// `.git` and secret-looking files left out) and `labforge-export.json` (where they came from,
/// the last green build's environment hash and image digest). Uploading it as a new version's
/// source builds the same environment. For anyone who may see the datalab.
#[utoipa::path(get, path = "/api/datalabs/{name}/versions/{version}/export", tag = "datalabs",
    security((), ("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version")),
    responses(
        (status = 200, content_type = "application/zip", body = Vec<u8>,
            description = "The sources and labforge-export.json"),
        (status = 404, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope, description = "The source cannot be staged any more")))]
async fn export_version(
    State(datalabs): State<DatalabService>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let archive = datalabs.export_version(&caller, &name, &version).await?;
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(archive.file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_LENGTH, archive.size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", archive.file_name),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Creates a draft, private datalab owned by the caller (authors and above).
#[utoipa::path(post, path = "/api/datalabs", tag = "datalabs", security(("api_token" = []), ("session_cookie" = [])), request_body = NewDatalab,
    responses((status = 201, body = Datalab), (status = 403, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn create_datalab(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
    ApiJson(new): ApiJson<NewDatalab>,
) -> Result<(StatusCode, Json<Datalab>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(datalabs.create(&user, new).await?),
    ))
}

/// The datalabs the caller owns.
#[utoipa::path(get, path = "/api/me/datalabs", tag = "datalabs", security(("api_token" = []), ("session_cookie" = [])),
    responses((status = 200, body = Vec<Datalab>), (status = 401, body = ErrorEnvelope)))]
async fn my_datalabs(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
) -> Result<Json<Vec<Datalab>>, ApiError> {
    Ok(Json(datalabs.owned_by(&user).await?))
}

/// The folders of the caller's workspace that hold a `metadata.yaml`, which a version's
/// `workspace` source can name (their own workspace, the one their sessions mount).
#[utoipa::path(get, path = "/api/me/workspace", tag = "datalabs", security(("api_token" = []), ("session_cookie" = [])),
    responses((status = 200, body = Vec<WorkspaceFolder>)))]
async fn my_workspace(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
) -> Result<Json<Vec<WorkspaceFolder>>, ApiError> {
    Ok(Json(datalabs.workspace_projects(&user).await?))
}

/// One datalab; 404 also when the caller may not see it.
/// With `Accept: application/ld+json`, its DCAT-AP / schema.org description instead (the same
/// document as `GET /api/datalabs/{name}/jsonld`).
#[utoipa::path(get, path = "/api/datalabs/{name}", tag = "datalabs", security((), ("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name")),
    responses((status = 200, body = Datalab), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope,
            description = "Asked for JSON-LD while no version has metadata yet")))]
async fn get_datalab(
    State(datalabs): State<DatalabService>,
    State(catalog): State<CatalogService>,
    caller: Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let wants_linked_data = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("application/ld+json"));
    if wants_linked_data {
        let document = catalog.datalab_json_ld(&caller, &name).await?;
        return Ok(crate::catalog::routes::json_ld(&document));
    }
    Ok(Json(datalabs.get(&caller, &name).await?).into_response())
}

/// Deletes a draft datalab with its versions and builds (owner or administrator).
#[utoipa::path(delete, path = "/api/datalabs/{name}", tag = "datalabs", security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name")),
    responses((status = 204), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn delete_datalab(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    datalabs.delete(&user, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The users the datalab is shared with (who see it while it is private), by name. For those
/// who may change the datalab.
#[utoipa::path(get, path = "/api/datalabs/{name}/members", tag = "datalabs", security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name")),
    responses((status = 200, body = Vec<String>), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn datalab_members(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
    Path(name): Path<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(datalabs.members(&user, &name).await?))
}

/// The editable source file a path names; any other is not there to edit.
fn source_file(name: &str) -> Result<SourceFile, ApiError> {
    SourceFile::from_name(name).ok_or_else(|| {
        ApiError::not_found(format!(
            "an editable source file {name:?} (the editor reads and writes metadata.yaml and \
             requirements.txt)"
        ))
        .with_field("file")
    })
}

/// Gives a draft version other sources (a new zip upload, another git reference, another
/// workspace folder), checked as a new version's are; rebuild to use them. A published version
/// is a 409.
#[utoipa::path(put, path = "/api/datalabs/{name}/versions/{version}/source", tag = "datalabs",
    security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version")),
    request_body = NewSource,
    responses((status = 200, body = Version), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "The version is published"),
        (status = 422, body = ErrorEnvelope)))]
async fn replace_version_source(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
    Path((name, version)): Path<(String, String)>,
    ApiJson(new): ApiJson<NewSource>,
) -> Result<Json<Version>, ApiError> {
    Ok(Json(
        datalabs
            .replace_source(&user, &name, &version, new.source)
            .await?,
    ))
}

/// A draft version's new sources; `source` as when the version was added.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSource {
    pub source: super::VersionSource,
}

/// A file of a draft version's sources, as the editor shows it: `metadata.yaml` or
/// `requirements.txt` (empty when the sources have none). For those who may change the datalab;
/// a git source is a 409 (the file is edited in the repository).
#[utoipa::path(get, path = "/api/datalabs/{name}/versions/{version}/files/{file}", tag = "datalabs",
    security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version"),
        ("file" = SourceFile, Path, description = "metadata.yaml or requirements.txt")),
    responses(
        (status = 200, content_type = "text/plain", body = String, description = "The file's text"),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "A git source, or a published version"),
        (status = 422, body = ErrorEnvelope, description = "The source cannot be staged any more")))]
async fn get_source_file(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
    Path((name, version, file)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let file = source_file(&file)?;
    let text = datalabs.source_file(&user, &name, &version, file).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// Replaces a file of a draft version's sources with the request's text, once it passes the
/// checks a build makes (metadata.yaml: each problem with its field, line and column in
/// `details`; requirements.txt: the packaging rules). A zip source becomes a new upload the
/// version points at; a workspace folder gets the file in place. Rebuild to use it.
#[utoipa::path(put, path = "/api/datalabs/{name}/versions/{version}/files/{file}", tag = "datalabs",
    security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version"),
        ("file" = SourceFile, Path, description = "metadata.yaml or requirements.txt")),
    request_body(content = String, content_type = "text/plain",
        description = "The file's new text (UTF-8, at most 256 KiB)"),
    responses(
        (status = 200, body = Version, description = "The version, pointing at its new sources"),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "A git source, or a published version"),
        (status = 413, body = ErrorEnvelope), (status = 415, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope, description = "The text does not pass the build's checks")))]
async fn replace_source_file(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
    Path((name, version, file)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Version>, ApiError> {
    let file = source_file(&file)?;
    let text = if media_type(&headers) == Some("text/plain") {
        String::from_utf8(body.to_vec()).map_err(|error| DatalabError::NotUtf8 {
            file: file.name(),
            at: error.utf8_error().valid_up_to(),
        })
    } else {
        Err(DatalabError::NotPlainText)
    };
    Ok(Json(
        datalabs
            .replace_source_file(&user, &name, &version, file, text)
            .await?,
    ))
}

/// Shares the datalab with a user, who may then view it while it is private.
#[utoipa::path(put, path = "/api/datalabs/{name}/members/{user}", tag = "datalabs", security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("user" = String, Path, description = "User name")),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn share_datalab(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
    Path((name, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    datalabs.share(&user, &name, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops sharing the datalab with a user.
#[utoipa::path(delete, path = "/api/datalabs/{name}/members/{user}", tag = "datalabs", security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("user" = String, Path, description = "User name")),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn unshare_datalab(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
    Path((name, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    datalabs.unshare(&user, &name, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A zip archive, sent as the raw body of `POST /api/uploads`.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[expect(
    dead_code,
    reason = "describes the raw body in the OpenAPI document; the handler streams it instead"
)]
struct ZipArchive(Vec<u8>);

/// Stores a zip archive sent as the raw request body, for a version's `zip` source. Refused
/// with 413 past `max_upload_bytes`, and with 422 when it is not a zip archive.
#[utoipa::path(post, path = "/api/uploads", tag = "datalabs", security(("api_token" = []), ("session_cookie" = [])),
    request_body(content = ZipArchive, content_type = "application/zip"),
    responses((status = 201, body = Upload), (status = 413, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)))]
async fn upload_zip(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Upload>), ApiError> {
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    let upload = datalabs
        .upload_zip(&user, declared_length, body.into_data_stream())
        .await?;
    Ok((StatusCode::CREATED, Json(upload)))
}

/// The versions of a datalab, oldest first.
#[utoipa::path(get, path = "/api/datalabs/{name}/versions", tag = "datalabs", security((), ("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name")),
    responses((status = 200, body = Vec<Version>), (status = 404, body = ErrorEnvelope)))]
async fn list_versions(
    State(datalabs): State<DatalabService>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<Version>>, ApiError> {
    Ok(Json(datalabs.versions(&caller, &name).await?))
}

/// Adds a version and the source it is built from: a git URL and reference, an upload, or a
/// workspace folder.
#[utoipa::path(post, path = "/api/datalabs/{name}/versions", tag = "datalabs", security(("api_token" = []), ("session_cookie" = [])),
    request_body = NewVersion,
    params(("name" = String, Path, description = "Datalab name")),
    responses((status = 201, body = Version), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)))]
async fn create_version(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
    Path(name): Path<String>,
    ApiJson(new): ApiJson<NewVersion>,
) -> Result<(StatusCode, Json<Version>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(datalabs.create_version(&user, &name, new).await?),
    ))
}

/// One version.
#[utoipa::path(get, path = "/api/datalabs/{name}/versions/{version}", tag = "datalabs", security((), ("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version")),
    responses((status = 200, body = Version), (status = 404, body = ErrorEnvelope)))]
async fn get_version(
    State(datalabs): State<DatalabService>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Version>, ApiError> {
    Ok(Json(datalabs.version(&caller, &name, &version).await?))
}

/// The builds of a version, newest first.
#[utoipa::path(get, path = "/api/datalabs/{name}/versions/{version}/builds", tag = "datalabs", security((), ("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version")),
    responses((status = 200, body = Vec<Build>), (status = 404, body = ErrorEnvelope)))]
async fn list_builds(
    State(datalabs): State<DatalabService>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Vec<Build>>, ApiError> {
    Ok(Json(datalabs.builds(&caller, &name, &version).await?))
}

/// Queues a build of the version, numbered after its previous builds (0, 1, 2...).
#[utoipa::path(post, path = "/api/datalabs/{name}/versions/{version}/builds", tag = "datalabs", security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version")),
    responses((status = 202, body = Build), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
async fn queue_build(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
    Path((name, version)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Build>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(datalabs.queue_build(&user, &name, &version).await?),
    ))
}

/// One build: status, phase timings, lint findings, hashes, image, digest, smoke test, failure.
#[utoipa::path(get, path = "/api/datalabs/{name}/versions/{version}/builds/{number}",
    tag = "datalabs", security((), ("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version"),
        ("number" = i64, Path, description = "Build number within the version")),
    responses((status = 200, body = Build), (status = 404, body = ErrorEnvelope)))]
async fn get_build(
    State(datalabs): State<DatalabService>,
    caller: Caller,
    Path((name, version, number)): Path<(String, String, String)>,
) -> Result<Json<Build>, ApiError> {
    let number = build_number(&name, &version, &number)?;
    Ok(Json(
        datalabs.build(&caller, &name, &version, number).await?,
    ))
}

/// The SPDX 2.3 JSON document of the build's image (also attached to the image in the registry as
/// an OCI referrer of artifact type `application/spdx+json`), as a download.
#[utoipa::path(get, path = "/api/datalabs/{name}/versions/{version}/builds/{number}/sbom",
    tag = "datalabs", security((), ("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version"),
        ("number" = i64, Path, description = "Build number within the version")),
    responses((status = 200, body = Object, content_type = "application/spdx+json",
            description = "An SPDX 2.3 JSON document"),
        (status = 404, body = ErrorEnvelope, description = "No such build, or it kept no SBOM")))]
async fn build_sbom(
    State(datalabs): State<DatalabService>,
    caller: Caller,
    Path((name, version, number)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let number = build_number(&name, &version, &number)?;
    let sbom = datalabs
        .build_sbom(&caller, &name, &version, number)
        .await?;
    let file = format!("attachment; filename=\"{name}-{version}-{number}.spdx.json\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/spdx+json".to_owned()),
            (header::CONTENT_DISPOSITION, file),
        ],
        Json(sbom),
    )
        .into_response())
}

/// The licence report of the build's dependencies: how many were found, and each one whose
/// licence is unknown, non-commercial, copyleft, limited to the ESA Member States or proprietary,
/// with why.
#[utoipa::path(get, path = "/api/datalabs/{name}/versions/{version}/builds/{number}/licence-report",
    tag = "datalabs", security((), ("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version"),
        ("number" = i64, Path, description = "Build number within the version")),
    responses((status = 200, body = LicenceReport),
        (status = 404, body = ErrorEnvelope, description = "No such build, or it kept no report")))]
async fn build_licence_report(
    State(datalabs): State<DatalabService>,
    caller: Caller,
    Path((name, version, number)): Path<(String, String, String)>,
) -> Result<Json<LicenceReport>, ApiError> {
    let number = build_number(&name, &version, &number)?;
    Ok(Json(
        datalabs
            .build_licence_report(&caller, &name, &version, number)
            .await?,
    ))
}

/// The screen of a desktop datalab's build once its smoke test saw the application's window, as
/// noVNC shows it.
#[utoipa::path(get, path = "/api/datalabs/{name}/versions/{version}/builds/{number}/screenshot",
    tag = "datalabs", security((), ("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version"),
        ("number" = i64, Path, description = "Build number within the version")),
    responses((status = 200, body = Png, content_type = "image/png",
            description = "A PNG image of the whole desktop"),
        (status = 404, body = ErrorEnvelope,
            description = "No such build, or it kept no screenshot (not a desktop build)")))]
async fn build_screenshot(
    State(datalabs): State<DatalabService>,
    caller: Caller,
    Path((name, version, number)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let number = build_number(&name, &version, &number)?;
    let png = datalabs
        .build_screenshot(&caller, &name, &version, number)
        .await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// Cancels a build: a queued one at once, a running one as soon as its worker notices
/// (`cancel_requested` is then true until it stops).
#[utoipa::path(post, path = "/api/datalabs/{name}/versions/{version}/builds/{number}/cancel",
    tag = "datalabs", security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version"),
        ("number" = i64, Path, description = "Build number within the version")),
    responses((status = 200, body = Build), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn cancel_build(
    State(datalabs): State<DatalabService>,
    SignedIn(user): SignedIn,
    Path((name, version, number)): Path<(String, String, String)>,
) -> Result<Json<Build>, ApiError> {
    let number = build_number(&name, &version, &number)?;
    Ok(Json(
        datalabs
            .cancel_build(&user, &name, &version, number)
            .await?,
    ))
}

/// How a log stream ends.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LogEnd {
    status: BuildStatus,
    failure: Option<String>,
}

/// The build log. JSON lines by default; `Accept: text/plain` gives the text; `Accept:
/// text/event-stream` streams Server-Sent Events: `line` events (id = line number) live while the
/// build runs, then one `end` event with the status. `after` (or `Last-Event-ID`) skips the
/// lines up to that number.
#[utoipa::path(get, path = "/api/datalabs/{name}/versions/{version}/builds/{number}/log",
    tag = "datalabs", security((), ("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "Datalab name"),
        ("version" = String, Path, description = "Semantic version"),
        ("number" = i64, Path, description = "Build number within the version"),
        ("after" = Option<i64>, Query, description = "Only lines numbered above this one"),
        ("limit" = Option<i64>, Query, description = "Most lines in a JSON or text answer")),
    responses(
        (status = 200, body = Vec<LogLine>, content_type = "application/json"),
        (status = 200, body = String, content_type = "text/plain"),
        (status = 200, body = LogEnd, content_type = "text/event-stream",
            description = "`line` events carry a LogLine, the final `end` event this"),
        (status = 404, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope, description = "`after` or `limit` is not an integer")))]
async fn build_log(
    State(datalabs): State<DatalabService>,
    caller: Caller,
    Path((name, version, number)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let number = build_number(&name, &version, &number)?;
    let mut after = -1;
    let mut limit = MAX_LOG_LINES;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let parsed = || {
            value.parse::<i64>().map_err(|_| {
                ApiError::invalid_field(key.to_string(), format!("{key} must be an integer"))
            })
        };
        match key.as_ref() {
            "after" => after = parsed()?,
            "limit" => limit = parsed()?.clamp(1, MAX_LOG_LINES),
            _ => {}
        }
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if accept.contains("text/event-stream") {
        if let Some(last) = headers
            .get("last-event-id")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok())
        {
            after = last;
        }
        let events = datalabs
            .follow_log(&caller, &name, &version, number, after)
            .await?
            .map(|event| match event {
                LogEvent::Line(line) => Event::default()
                    .event("line")
                    .id(line.line.to_string())
                    .json_data(&line),
                LogEvent::End { status, failure } => Event::default()
                    .event("end")
                    .json_data(LogEnd { status, failure }),
            });
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let lines = datalabs
        .log(&caller, &name, &version, number, after, limit)
        .await?;
    if accept.contains("text/plain") {
        let mut text = String::new();
        for line in &lines {
            // Writing to a String cannot fail.
            let _ = writeln!(
                text,
                "{} {:<10} {}",
                line.at.format("%H:%M:%S%.3f"),
                line.phase,
                line.text
            );
        }
        return Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response());
    }
    Ok(Json(lines).into_response())
}

/// A build number from the path; anything else names no build.
fn build_number(name: &str, version: &str, number: &str) -> Result<i64, ApiError> {
    number
        .parse()
        .map_err(|_| ApiError::not_found(format!("build {version}-{number} of datalab {name:?}")))
}
