use std::path::PathBuf;

use crate::buildkit::BuildkitError;
use crate::images::PushAccessError;
use crate::metadata::MetadataError;
use crate::recipe::error::{BinderError, RequirementsError, UserDockerfileError};
use crate::recipe::lint::{LintError, LintFinding};
use crate::sources::SourceError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(
        "the source has no metadata.yaml at its top level ({path}). Add one with at least title, \
         alternateName, abstract, contactPoint, creator and version"
    )]
    MissingMetadata { path: PathBuf },
    #[error(
        "metadata.yaml is not UTF-8: its first bad byte, 0x{byte:02X}, is at line {line}, column \
         {column} (byte offset {offset}). Save the file as UTF-8 (Latin-1 and Windows-1252 \
         editors write accented letters as single bytes like this one)"
    )]
    MetadataNotUtf8 {
        byte: u8,
        offset: usize,
        line: usize,
        column: usize,
    },
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("metadata.yaml: {0}. Remove the field from metadata.yaml and build again")]
    MetadataField(#[from] crate::metadata::policy::FieldWriteError),
    #[error(transparent)]
    Requirements(#[from] RequirementsError),
    #[error(transparent)]
    UserDockerfile(#[from] UserDockerfileError),
    #[error(transparent)]
    Binder(#[from] BinderError),
    #[error(
        "the datalab kind {requested} needs the base {expected}, but the Dockerfile builds FROM \
         {found}. Change the kind or the Dockerfile's FROM line"
    )]
    KindMismatch {
        requested: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error(
        "a generic datalab without its own Dockerfile needs a `service` in metadata.yaml: the \
         command to run, the port it serves on and the path that answers 200 when it is up"
    )]
    GenericNeedsService,
    #[error(
        "metadata.yaml names an `application`, which only a desktop datalab opens, but this is a \
         {kind} build. Build it as kind desktop, or remove `application` from metadata.yaml"
    )]
    ApplicationNeedsDesktop { kind: crate::metadata::DatalabKind },
    #[error(
        "metadata.yaml lists {path} under testing.notebooks, but {reason}. List notebooks by \
         their path from the top of the content, like analysis/photometry.ipynb"
    )]
    ListedNotebook { path: String, reason: &'static str },
    #[error(
        "the base image {image} is not in the registry. Build the bases first: `labforge base-images`"
    )]
    BaseImageMissing { image: String },
    #[error(
        "{source}. Set LABFORGE_REGISTRY_USERNAME and LABFORGE_REGISTRY_PASSWORD to the build \
         account: scripts/run.sh starts the registry with the account `builder` and keeps its \
         password in {password_file}"
    )]
    RegistryAccount {
        source: PushAccessError,
        password_file: PathBuf,
    },
    #[error(
        "{image} is already in the registry, and a pushed build's tag never changes. The build \
         numbers of this version disagree with the registry's tags (a reset database?): build a \
         new version, or have an administrator remove the tag"
    )]
    TagExists { image: String },
    #[error("the registry could not be asked about {image}: {message}")]
    Registry { image: String, message: String },
    #[error(transparent)]
    LintUnavailable(#[from] LintError),
    #[error(transparent)]
    Evidence(#[from] crate::evidence::EvidenceError),
    #[error("hadolint found errors in the Dockerfile:\n{}", list(findings))]
    LintFailed { findings: Vec<LintFinding> },
    #[error(transparent)]
    Build(#[from] BuildkitError),
    #[error(
        "installing the requirements failed: {cause} ({} line {line_number}: `{requirement}`)",
        file.display()
    )]
    InstallFailed {
        cause: String,
        file: PathBuf,
        line_number: usize,
        requirement: String,
    },
    #[error(
        "installing the Debian packages failed: {cause} ({} line {line_number}: `{package}`). \
         Check the name in Debian bookworm's package list (packages.debian.org)",
        file.display()
    )]
    AptInstallFailed {
        cause: String,
        file: PathBuf,
        line_number: usize,
        package: String,
    },
    #[error(transparent)]
    BaseConflict(Box<BaseConflict>),
    #[error("{} failed: {cause}", file.display())]
    PostBuildFailed { file: PathBuf, cause: String },
    #[error(
        "shellcheck cannot read {} as a {shell} script, so it could not run either:\n{}",
        file.display(),
        findings.join("\n")
    )]
    PostBuildSyntax {
        file: PathBuf,
        shell: &'static str,
        /// `file:line code: message`.
        findings: Vec<String>,
    },
    #[error("the smoke test of {image} failed: {detail}")]
    SmokeTestFailed { image: String, detail: String },
    #[error("the smoke test of {image} could not run: {source}")]
    SmokeTestError {
        image: String,
        source: bollard::errors::Error,
    },
    #[error("the notebooks of {image} could not be executed: {source}")]
    NotebooksError {
        image: String,
        source: bollard::errors::Error,
    },
    #[error(
        "metadata.yaml says version {found}, but this is a build of version {expected}. Change \
         `version` in metadata.yaml, or add the source as version {found}"
    )]
    VersionMismatch { expected: String, found: String },
    #[error("the build was cancelled")]
    Cancelled,
    #[error("{action} {path}: {source}")]
    Storage {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl PipelineError {
    /// True when the build stopped because it was cancelled, wherever that was noticed.
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            Self::Cancelled | Self::Build(BuildkitError::Cancelled)
        )
    }
}

fn list(findings: &[LintFinding]) -> String {
    findings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A requirement that would replace one of the base's packages.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} line {line_number}: `{requirement}` conflicts with the base image {base}, which has \
     {package} {version}: requirements are installed with the base's own packages as \
     constraints, so a datalab adds packages but never replaces one of the base's (that would \
     break what the base runs). Remove the line or let it accept {package} {version}; a datalab \
     that needs another version builds from its own Dockerfile FROM the base. uv said: {cause}",
    file.display()
)]
pub struct BaseConflict {
    pub cause: String,
    pub file: PathBuf,
    pub line_number: usize,
    pub requirement: String,
    pub base: &'static str,
    pub package: String,
    pub version: String,
}
