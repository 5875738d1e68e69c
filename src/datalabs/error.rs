//! What can go wrong with datalabs, versions, uploads and builds, each variant saying what the
//! caller can do about it. `http::error` maps them to statuses.

use std::path::PathBuf;

use super::BuildStatus;
use super::names::MAX_VERSION_CHARACTERS;
use super::states::DatalabState;
use crate::sources::SourceError;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum DatalabError {
    #[error(
        "datalab name {name:?} is not valid: {reason}. Use 2 to 63 lowercase letters, digits and \
         hyphens, starting and ending with a letter or digit, like jl-euclid-tools"
    )]
    InvalidName { name: String, reason: &'static str },
    #[error(
        "version {version:?} is not a semantic version like 1.2.3 or 1.2.3-rc.1 (at most \
         {MAX_VERSION_CHARACTERS} characters)"
    )]
    InvalidVersion { version: String },
    #[error("creating datalabs needs the author role; ask an administrator for it")]
    AuthorRequired,
    /// Also the answer for datalabs the caller may not see.
    #[error("datalab {name:?}")]
    UnknownDatalab { name: String },
    #[error("version {version} of datalab {name:?}")]
    UnknownVersion { name: String, version: String },
    #[error("build {version}-{number} of datalab {name:?}")]
    UnknownBuild {
        name: String,
        version: String,
        number: i64,
    },
    #[error(
        "the SBOM and licence report of build {version}-{number} ({status}: only succeeded builds \
         keep them; queue a new build of a version built before they existed)"
    )]
    NoEvidence {
        version: String,
        number: i64,
        status: BuildStatus,
    },
    #[error(
        "a screenshot of build {version}-{number}: only a succeeded build of a desktop datalab \
         keeps one, taken when its smoke test saw the application's window"
    )]
    NoScreenshot { version: String, number: i64 },
    #[error("there is no user {0:?}")]
    UnknownUser(String),
    #[error("only the owner of {name:?} or an administrator may change it")]
    EditForbidden { name: String },
    #[error(
        "{name:?} is {state}, not a draft: only drafts can be deleted. Deprecate or archive it \
         instead"
    )]
    NotDraft { name: String, state: DatalabState },
    #[error(transparent)]
    InvalidSource(#[from] SourceError),
    #[error(
        "there is no upload {id:?} of yours; upload the zip first with POST /api/uploads and use \
         the id it returns"
    )]
    UnknownUpload { id: String },
    #[error(
        "the upload is larger than the limit of {limit} bytes; leave data sets out of the source \
         and mount them as data volumes"
    )]
    UploadTooLarge { limit: u64 },
    #[error("the upload is not a zip archive: {detail}")]
    NotZip { detail: String },
    #[error("the upload could not be read: {0}")]
    UploadInterrupted(String),
    #[error("cannot store the upload at {path}: {source}")]
    UploadStorage {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("build {version}-{number} already ended ({status}); there is nothing to cancel")]
    BuildEnded {
        version: String,
        number: i64,
        status: BuildStatus,
    },
    /// Also the answer for folders outside the owner's workspace, so nobody learns what others
    /// keep.
    #[error(
        "there is no folder {path:?} in your workspace; name a folder relative to your workspace \
         (GET /api/me/workspace lists those that hold a metadata.yaml)"
    )]
    UnknownWorkspaceFolder { path: String },
    #[error("{file} of version {version} of {name:?} cannot be edited here: {reason}")]
    NotEditable {
        name: String,
        version: String,
        file: &'static str,
        reason: &'static str,
    },
    #[error(
        "version {version} of {name:?} is published and its sources never change: add a new \
         version for new sources"
    )]
    VersionPublished { name: String, version: String },
    #[error(
        "the sources of version {version} of {name:?} have no {file}; add one to the sources \
         (a build needs metadata.yaml at the top of the sources)"
    )]
    NoSourceFile {
        name: String,
        version: String,
        file: &'static str,
    },
    #[error("{file} is {size} bytes; it may be at most {limit} bytes")]
    SourceFileTooLarge {
        file: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("{0}")]
    InvalidMetadataFile(#[from] crate::metadata::MetadataError),
    #[error("send the file's text with Content-Type: text/plain")]
    NotPlainText,
    #[error("{file} is not UTF-8 text (at byte {at}); save the file as UTF-8")]
    NotUtf8 { file: &'static str, at: usize },
    #[error("requirements.txt is not accepted: {0}")]
    InvalidRequirementsFile(String),
    #[error("cannot write the edited sources under {path}: {source}")]
    EditStorage {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the export under {path}: {source}")]
    ExportStorage {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot prepare the workspace {path}: {source}")]
    WorkspaceUnavailable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}
