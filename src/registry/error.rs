//! The registry's errors, and the one place where they become HTTP responses.
//!
//! [`RegistryError`] is what the distribution API answers: each variant maps to one error code of
//! the OCI Distribution Spec (`BLOB_UNKNOWN`, `MANIFEST_INVALID`, ...) and its `IntoResponse`
//! writes the spec's body `{"errors":[{"code","message","detail"}]}`. [`StorageError`] is what the
//! filesystem layer reports; it reaches clients only as a logged, generic 500.
//! [`DirectoryUnavailable`] is an outage of the account directory, answered 503 so that a client
//! retries instead of taking it for lost access. [`GrantsError`] and [`PushOnError`] belong to
//! start-up and to push-on, which are not HTTP.

use std::path::PathBuf;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("stored file {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

impl StorageError {
    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            operation,
            path,
            source,
        }
    }
}

/// The account directory (labforge's accounts and datalabs) could not answer, its database being
/// unreachable for example. The implementation logs the cause where it meets it; the registry only
/// needs to know that the answer is neither yes nor no.
#[derive(Debug, thiserror::Error)]
#[error("the account directory is unavailable")]
pub struct DirectoryUnavailable;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to registry: {digest}")]
    BlobUnknown { digest: String },
    #[error("blob upload unknown to registry: {id}")]
    BlobUploadUnknown { id: String },
    #[error("blob upload invalid: {reason}")]
    BlobUploadInvalid { reason: String },
    #[error("chunk starts at byte {start} but the upload holds {size} bytes")]
    ChunkOutOfOrder {
        start: u64,
        size: u64,
        repository: String,
        id: String,
    },
    #[error("range {range:?} cannot be served from a blob of {size} bytes")]
    RangeNotSatisfiable { range: String, size: u64 },
    #[error("digest {value:?} is invalid: {reason}")]
    DigestInvalid { value: String, reason: String },
    #[error("provided digest {provided} does not match the content, whose digest is {computed}")]
    DigestMismatch { provided: String, computed: String },
    #[error("manifest references {digest}, which is unknown to repository {repository}")]
    ManifestBlobUnknown { repository: String, digest: String },
    #[error("manifest invalid: {reason}")]
    ManifestInvalid { reason: String },
    #[error("manifest {reference} unknown to repository {repository}")]
    ManifestUnknown {
        repository: String,
        reference: String,
    },
    #[error("invalid repository name {name:?}: {reason}")]
    NameInvalid { name: String, reason: &'static str },
    #[error("repository {name} is not known to the registry")]
    NameUnknown { name: String },
    #[error(
        "invalid tag {tag:?}: at most 128 characters of [A-Za-z0-9_.-], not starting with . or -"
    )]
    TagInvalid { tag: String },
    #[error("content is {actual} bytes, more than the limit of {limit}")]
    SizeInvalid { actual: usize, limit: usize },
    #[error("authentication required")]
    Unauthorized { challenge: String },
    #[error("requested access to the resource is denied")]
    Denied,
    #[error("the operation is unsupported: {what}")]
    Unsupported { what: String },
    #[error("the account directory is unavailable; try again in a moment")]
    DirectoryUnavailable(#[from] DirectoryUnavailable),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl RegistryError {
    fn code(&self) -> &'static str {
        match self {
            Self::BlobUnknown { .. } => "BLOB_UNKNOWN",
            Self::BlobUploadUnknown { .. } => "BLOB_UPLOAD_UNKNOWN",
            Self::BlobUploadInvalid { .. }
            | Self::ChunkOutOfOrder { .. }
            | Self::RangeNotSatisfiable { .. } => "BLOB_UPLOAD_INVALID",
            Self::DigestInvalid { .. } | Self::DigestMismatch { .. } => "DIGEST_INVALID",
            Self::ManifestBlobUnknown { .. } => "MANIFEST_BLOB_UNKNOWN",
            Self::ManifestInvalid { .. } | Self::TagInvalid { .. } => "MANIFEST_INVALID",
            Self::ManifestUnknown { .. } => "MANIFEST_UNKNOWN",
            Self::NameInvalid { .. } => "NAME_INVALID",
            Self::NameUnknown { .. } => "NAME_UNKNOWN",
            Self::SizeInvalid { .. } => "SIZE_INVALID",
            Self::Unauthorized { .. } => "UNAUTHORIZED",
            Self::Denied => "DENIED",
            Self::Unsupported { .. } => "UNSUPPORTED",
            Self::DirectoryUnavailable(_) => "UNAVAILABLE",
            Self::Storage(_) => "UNKNOWN",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BlobUnknown { .. }
            | Self::BlobUploadUnknown { .. }
            | Self::ManifestUnknown { .. }
            | Self::NameUnknown { .. } => StatusCode::NOT_FOUND,
            Self::ChunkOutOfOrder { .. } | Self::RangeNotSatisfiable { .. } => {
                StatusCode::RANGE_NOT_SATISFIABLE
            }
            Self::SizeInvalid { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Denied => StatusCode::FORBIDDEN,
            Self::Unsupported { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::DirectoryUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BlobUploadInvalid { .. }
            | Self::DigestInvalid { .. }
            | Self::DigestMismatch { .. }
            | Self::ManifestBlobUnknown { .. }
            | Self::ManifestInvalid { .. }
            | Self::NameInvalid { .. }
            | Self::TagInvalid { .. } => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if let Self::Storage(error) = &self {
            tracing::error!(%error, "registry storage failure");
            "internal storage error".to_owned()
        } else {
            self.to_string()
        };
        let body = serde_json::json!({
            "errors": [{ "code": self.code(), "message": message, "detail": null }]
        });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized { challenge } => {
                if let Ok(value) = HeaderValue::from_str(challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            Self::ChunkOutOfOrder {
                size,
                repository,
                id,
                ..
            } => {
                if let Ok(value) =
                    HeaderValue::from_str(&super::routes::upload_location(repository, id))
                {
                    headers.insert(header::LOCATION, value);
                }
                headers.insert(header::RANGE, super::routes::upload_range(*size));
            }
            Self::RangeNotSatisfiable { size, .. } => {
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    headers.insert(header::CONTENT_RANGE, value);
                }
            }
            _ => {}
        }
        response
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GrantsError {
    #[error("cannot read the registry grants file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the registry grants file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("the registry grants file {path}: user {user} has an invalid password hash: {message}")]
    PasswordHash {
        path: PathBuf,
        user: String,
        message: String,
    },
    #[error("the registry grants file {path}: repository {name:?} is not a valid name: {reason}")]
    RepositoryName {
        path: PathBuf,
        name: String,
        reason: &'static str,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PushOnError {
    #[error("no push-on target named {name:?} in the registry configuration")]
    UnknownTarget { name: String },
    #[error("{repository}@{digest} is not in the registry")]
    ManifestMissing { repository: String, digest: String },
    #[error("manifest {digest} cannot be read: {reason}")]
    ManifestUnreadable { digest: String, reason: String },
    #[error("blob {digest} referenced by the manifest is missing from the registry")]
    BlobMissing { digest: String },
    #[error("invalid reference {reference:?} on the target registry: {reason}")]
    Reference { reference: String, reason: String },
    #[error("pushing to {target} failed: {source}")]
    Target {
        target: String,
        source: oci_client::errors::OciDistributionError,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}
