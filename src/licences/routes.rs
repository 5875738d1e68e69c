//! HTTP endpoints of the licence engine: the picker's list and the evaluation of an expression.
//! Both are public: they say what a licence allows, which is no secret.

use axum::Json;
use axum::extract::{FromRef, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Decision, EvaluationRequest, LicenceList, LicenceService};
use crate::http::error::ErrorEnvelope;
use crate::http::{ApiError, ApiJson};

pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    LicenceService: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_licences))
        .routes(routes!(evaluate_licence))
}

/// The licences an author can pick.
///
/// Popular first, then the ESA licences, then all others, each with its category and the
/// audiences it allows; and the ESA Member States the `member_states` audience stands for.
#[utoipa::path(get, path = "/api/licences", tag = "licences",
    responses((status = 200, body = LicenceList)))]
async fn list_licences(State(licences): State<LicenceService>) -> Json<LicenceList> {
    Json(licences.list())
}

/// What an SPDX licence expression allows for an audience.
///
/// Whether it is allowed, the obligations and the reasons. A malformed expression is a 422
/// naming `expression` and what would be accepted.
#[utoipa::path(post, path = "/api/licences/evaluate", tag = "licences",
    request_body = EvaluationRequest,
    responses((status = 200, body = Decision), (status = 422, body = ErrorEnvelope,
        description = "The expression is malformed, names an unknown or deprecated id, or is \
            beyond the limits; `field` is `expression` (or `audience`)")))]
async fn evaluate_licence(
    State(licences): State<LicenceService>,
    ApiJson(request): ApiJson<EvaluationRequest>,
) -> Result<Json<Decision>, ApiError> {
    Ok(Json(licences.evaluate(&request)?))
}
