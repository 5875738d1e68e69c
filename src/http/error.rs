//! The one JSON error envelope of the API, and every mapping from a domain error to an HTTP status.
//!
//! ```json
//! {"error": {"code": "invalid_field", "message": "...", "field": "metadata.title"}}
//! ```
//!
//! A 4xx says exactly what was wrong and, where it can, how to fix it. A 5xx is logged with its
//! detail and an incident id, and answered with the id only: internals never reach clients.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::accounts::AccountError;
use crate::catalog::CatalogError;
use crate::datalabs::DatalabError;
use crate::launcher::LauncherError;
use crate::licences::LicenceError;
use crate::publishing::PublishingError;
use crate::sessions::SessionError;
use crate::sources::SourceError;
use crate::storage::StorageError;

/// An API failure: status, machine-readable code, message for people, and the field at fault.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Every problem, when there is more than one to fix.
    pub details: Vec<ErrorDetail>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, like `invalid_field` or `not_found`.
    pub code: String,
    pub message: String,
    /// The request field at fault, as a dotted path (`metadata.title`, `volumes[1]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Each of several problems, with the field or condition it concerns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
}

/// One of several problems of a request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub field: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            details: Vec::new(),
        }
    }

    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// A field whose value breaks a rule; `field` is its dotted path in the request.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn sign_in_required() -> Self {
        Self::unauthenticated(
            "sign in first: POST /api/session with a name and password, or send \
             `Authorization: Bearer <API token>`",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// Also the answer for things the caller may not know exist (private datalabs).
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} does not exist"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// An unexpected failure: logged in full here, answered with an incident id only.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        let incident = uuid::Uuid::new_v4();
        tracing::error!(%incident, error = %error, source = ?error.source(), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!(
                "labforge failed to answer; the operators can find incident {incident} in the logs"
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthenticated = self.status == StatusCode::UNAUTHORIZED;
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
                details: self.details,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"labforge\""),
            );
        }
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Conflict { what } => Self::conflict(format!("{what} already exists")),
            other => Self::internal(&other),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::InvalidCredentials | AccountError::InvalidToken => {
                Self::unauthenticated(error.to_string())
            }
            AccountError::InvalidName { .. } => Self::invalid_field("name", error.to_string()),
            AccountError::WeakPassword => Self::invalid_field("password", error.to_string()),
            AccountError::InvalidTokenLifetime => {
                Self::invalid_field("lifetime_days", error.to_string())
            }
            AccountError::UnknownRole(_) => Self::invalid_field("role", error.to_string()),
            AccountError::InvalidCountry(_) => {
                Self::invalid_field("affiliation_country", error.to_string())
            }
            AccountError::UnknownUser(name) => Self::not_found(format!("user {name:?}")),
            AccountError::UnknownToken(id) => Self::not_found(format!("API token {id:?}")),
            AccountError::SelfDemotion => Self::forbidden(error.to_string()),
            AccountError::Storage(storage) => storage.into(),
        }
    }
}

impl From<DatalabError> for ApiError {
    fn from(error: DatalabError) -> Self {
        let message = error.to_string();
        match error {
            DatalabError::InvalidName { .. } => Self::invalid_field("name", message),
            DatalabError::InvalidVersion { .. } => Self::invalid_field("version", message),
            DatalabError::InvalidSource(
                SourceError::GitSubfolderInvalid { .. } | SourceError::GitSubfolderMissing { .. },
            ) => Self::invalid_field("source.subfolder", message),
            DatalabError::InvalidSource(_) => Self::invalid_field("source", message),
            DatalabError::UnknownUpload { .. } => Self::invalid_field("source.upload", message),
            DatalabError::UnknownWorkspaceFolder { .. } => {
                Self::invalid_field("source.path", message)
            }
            DatalabError::AuthorRequired | DatalabError::EditForbidden { .. } => {
                Self::forbidden(message)
            }
            DatalabError::UnknownDatalab { .. }
            | DatalabError::UnknownVersion { .. }
            | DatalabError::UnknownBuild { .. }
            | DatalabError::NoEvidence { .. }
            | DatalabError::NoScreenshot { .. } => Self::not_found(message),
            DatalabError::UnknownUser(name) => Self::not_found(format!("user {name:?}")),
            DatalabError::NotDraft { .. } | DatalabError::BuildEnded { .. } => {
                Self::conflict(message)
            }
            DatalabError::UploadTooLarge { .. } | DatalabError::SourceFileTooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
            }
            DatalabError::NotZip { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "not_a_zip", message)
            }
            DatalabError::UploadInterrupted(_) => Self::bad_request(message),
            DatalabError::NotEditable { .. } | DatalabError::VersionPublished { .. } => {
                Self::new(StatusCode::CONFLICT, "not_editable", message)
            }
            DatalabError::NoSourceFile { .. } => {
                Self::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            DatalabError::InvalidMetadataFile(metadata) => {
                // Each problem beside its field: the envelope names the first, `details` all.
                let problems = metadata.problems();
                let field_of = |problem: &crate::metadata::MetadataProblem| {
                    problem
                        .field
                        .clone()
                        .unwrap_or_else(|| format!("line {}", problem.position.line))
                };
                let mut answer = Self::invalid_field(
                    problems
                        .first()
                        .map_or_else(|| "metadata.yaml".to_owned(), field_of),
                    message,
                );
                answer.details = problems
                    .iter()
                    .map(|problem| ErrorDetail {
                        field: field_of(problem),
                        message: format!(
                            "line {}, column {}: {}",
                            problem.position.line, problem.position.column, problem.message
                        ),
                    })
                    .collect();
                answer
            }
            DatalabError::InvalidRequirementsFile(_) => {
                Self::invalid_field("requirements.txt", message)
            }
            DatalabError::NotUtf8 { file, .. } => Self::invalid_field(file, message),
            DatalabError::NotPlainText => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                message,
            ),
            DatalabError::UploadStorage { .. }
            | DatalabError::EditStorage { .. }
            | DatalabError::ExportStorage { .. }
            | DatalabError::WorkspaceUnavailable { .. } => Self::internal(&error),
            DatalabError::Storage(storage) => storage.into(),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> Self {
        match error {
            CatalogError::InvalidParameter { ref parameter, .. } => {
                Self::invalid_field(parameter.clone(), error.to_string())
            }
            CatalogError::UnknownDatalab(name) => Self::not_found(format!("datalab {name:?}")),
            // The datalab exists and the caller sees it: only its state keeps the description out.
            CatalogError::NoMetadata(_) => {
                Self::new(StatusCode::CONFLICT, "no_metadata", error.to_string())
            }
            CatalogError::UnreadableMetadata { .. } | CatalogError::UnusableUrl { .. } => {
                Self::internal(&error)
            }
            CatalogError::Storage(storage) => storage.into(),
        }
    }
}

impl From<LauncherError> for ApiError {
    fn from(error: LauncherError) -> Self {
        match error {
            LauncherError::InvalidField { field, .. } => {
                Self::invalid_field(field, error.to_string())
            }
            LauncherError::UnknownDataVolume(name) => {
                Self::not_found(format!("data volume {name:?}"))
            }
            LauncherError::UnknownDatazone(name) => Self::not_found(format!("datazone {name:?}")),
            LauncherError::Storage(storage) => storage.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        let message = error.to_string();
        match error {
            SessionError::InvalidField { field, .. } => Self::invalid_field(field, message),
            SessionError::QuotaExceeded { limit, .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", message)
                    .with_field(format!("launcher.{limit}"))
            }
            SessionError::DatazoneFull { limit, .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "datazone_full", message)
                    .with_field(format!("datazone.{limit}"))
            }
            SessionError::UnknownSession(id) => Self::not_found(format!("session {id:?}")),
            SessionError::UnknownReference { field, .. } => {
                Self::new(StatusCode::NOT_FOUND, "not_found", message).with_field(field)
            }
            SessionError::NotBuilt(_) => {
                Self::new(StatusCode::CONFLICT, "not_built", message).with_field("version")
            }
            // A datalab the caller may not see is unknown, as everywhere.
            SessionError::Datalab(DatalabError::UnknownDatalab { .. }) => {
                Self::not_found(message).with_field("datalab")
            }
            SessionError::Datalab(DatalabError::UnknownVersion { .. }) => {
                Self::not_found(message).with_field("version")
            }
            SessionError::Datalab(datalab) => datalab.into(),
            SessionError::Runtime(_) | SessionError::Kubernetes(_) => Self::internal(&error),
            SessionError::Storage(storage) => storage.into(),
        }
    }
}

impl From<PublishingError> for ApiError {
    fn from(error: PublishingError) -> Self {
        let message = error.to_string();
        match error {
            PublishingError::Datalab(datalab) => datalab.into(),
            PublishingError::NotReady { unmet, .. } => {
                let mut answer = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "not_ready", message);
                answer.details = unmet
                    .into_iter()
                    .map(|condition| ErrorDetail {
                        field: condition.field,
                        message: condition.message,
                    })
                    .collect();
                answer
            }
            PublishingError::AlreadyPending { .. }
            | PublishingError::Archived { .. }
            | PublishingError::StepNotAllowed(_)
            | PublishingError::LifecycleNotAllowed { .. }
            | PublishingError::ChangedMeanwhile { .. } => Self::conflict(message),
            PublishingError::UnknownSubmission { .. } => Self::not_found(message),
            PublishingError::ModeratorRequired
            | PublishingError::OwnDatalab { .. }
            | PublishingError::NotYours { .. } => Self::forbidden(message),
            PublishingError::CommentRequired { .. } | PublishingError::CommentTooLong { .. } => {
                Self::invalid_field("comment", message)
            }
            PublishingError::InvalidFilter { parameter, .. } => {
                Self::invalid_field(parameter, message)
            }
            PublishingError::Storage(storage) => storage.into(),
        }
    }
}

impl From<LicenceError> for ApiError {
    /// Every refusal of an expression is the author's to fix, in the request's `expression`.
    fn from(error: LicenceError) -> Self {
        Self::invalid_field("expression", error.to_string())
    }
}
