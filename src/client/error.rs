//! What can go wrong on the client's side of labforge, each variant saying what to do about it,
//! and how the command line exits for it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::datalabs::BuildStatus;
use crate::sources::SourceError;

/// One problem of a field, as the server's error envelope lists them in `details`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "{url:?} is not a labforge address: {reason}. Give the address of labforge's web page, \
         like https://labforge.example.org"
    )]
    InvalidUrl { url: String, reason: String },
    #[error(
        "not signed in: there are no credentials at {}. Run `labforge login <url>` first",
        path.display()
    )]
    NotSignedIn { path: PathBuf },
    #[error(
        "{url} refused the credentials: {message}. Check the user name and password, or run \
         `labforge login {url}` again for a new token"
    )]
    CredentialsRefused { url: String, message: String },
    #[error(
        "cannot reach {url}: {detail}. Check the address and your network, and that the service runs"
    )]
    Unreachable { url: String, detail: String },
    #[error(
        "{url} answered {what} with HTTP {status} and no labforge error: is it the address of a \
         labforge service? Give the address of its web page, like https://labforge.example.org"
    )]
    NotLabforge {
        url: String,
        what: String,
        status: u16,
    },
    /// A 4xx with the API's error envelope: the request was wrong, as the message says.
    #[error("{}", refusal_text(message, field.as_deref(), details))]
    Refused {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
        details: Vec<FieldProblem>,
    },
    #[error(
        "signed out here (the credentials file is deleted), but {url} did not revoke the API \
         token, which stays valid: {cause}. Revoke it on the service's web page, or with \
         DELETE /api/tokens/<id>"
    )]
    NotRevoked {
        url: String,
        cause: Box<ClientError>,
    },
    #[error("the service failed ({status}): {message}. Try again later, or tell its operators")]
    ServerFailure { status: u16, message: String },
    #[error("the service's answer to {what} could not be read: {detail}")]
    UnexpectedAnswer { what: String, detail: String },
    #[error(
        "there is no folder to keep credentials in: set XDG_CONFIG_HOME or HOME to a folder of \
         yours"
    )]
    NoConfigFolder,
    #[error("cannot {action} {}: {source}", path.display())]
    CredentialsFile {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the credentials file {} cannot be read ({detail}); delete it and run `labforge login \
         <url>` again",
        path.display()
    )]
    CredentialsCorrupt { path: PathBuf, detail: String },
    #[error("cannot read {what} from the terminal: {source}")]
    Terminal {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("no {what} was given: {how}")]
    MissingInput {
        what: &'static str,
        how: &'static str,
    },
    #[error("no file or folder at {}: give a folder, a .zip file or an https git URL", path.display())]
    NoSource { path: PathBuf },
    #[error("{} is neither a folder nor a .zip file: give a folder, a .zip file or an https git URL", path.display())]
    UnknownSource { path: PathBuf },
    #[error("{} holds no metadata.yaml at its root: add one (see docs/METADATA.md), or pass --name and --version", path.display())]
    NoMetadata { path: PathBuf },
    #[error("cannot read {}: {detail}", path.display())]
    UnreadableSource { path: PathBuf, detail: String },
    #[error("{file} has no {field}: add it, or pass --{flag}")]
    MissingMetadataField {
        file: String,
        field: &'static str,
        flag: &'static str,
    },
    #[error("a git source's metadata.yaml is only read by the build: pass --name and --version")]
    GitNeedsNameAndVersion,
    #[error("--{flag} applies to git sources only; {source_given} is a file or folder")]
    GitOnlyFlag {
        flag: &'static str,
        source_given: String,
    },
    #[error("cannot package the folder: {0}")]
    Packaging(#[from] SourceError),
    #[error("cannot write the zip archive of the folder: {detail}")]
    Zip { detail: String },
    #[error(
        "the upload arrived changed (sha256 {received}, sent {sent}); push again, and check any \
         proxy between you and the service"
    )]
    UploadChanged { sent: String, received: String },
    #[error(
        "version {version} of {name:?} already exists with another source, and a version's \
         source never changes: raise `version` in metadata.yaml (or pass --version) to push new \
         files"
    )]
    VersionTaken { name: String, version: String },
    #[error("build {version}-{number} of {name:?} {status}{}", failure.as_deref().map(|failure| format!(": {failure}")).unwrap_or_default())]
    BuildFailed {
        name: String,
        version: String,
        number: i64,
        status: BuildStatus,
        failure: Option<String>,
    },
    #[error("{name:?} has {what}")]
    NothingToShow { name: String, what: &'static str },
    #[error("session {id} {status}{}", reason.as_deref().map(|reason| format!(": {reason}")).unwrap_or_default())]
    LaunchFailed {
        id: String,
        status: crate::sessions::SessionStatus,
        reason: Option<String>,
    },
    #[error(
        "interrupted; whatever runs on the service goes on (`labforge logs` follows a build, \
         `labforge sessions stop` ends a session)"
    )]
    Interrupted,
    #[error("the service closed {what} before it ended; run the command again to pick it up")]
    StreamClosed { what: String },
}

/// The server's message, the field it names, and each of several problems on a line.
fn refusal_text(message: &str, field: Option<&str>, details: &[FieldProblem]) -> String {
    let mut text = match field {
        Some(field) => format!("{message} (field `{field}`)"),
        None => message.to_owned(),
    };
    for problem in details {
        // Writing to a String cannot fail.
        let _ = write!(text, "\n  - {}: {}", problem.field, problem.message);
    }
    text
}

/// How the command line exits; documented in docs/CLI.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    /// The build or the launch ran and failed.
    Failed = 1,
    /// The command line or a local file is wrong (clap exits 2 for its own usage errors too).
    LocalInput = 2,
    /// Not signed in, or the credentials were refused.
    SignIn = 3,
    /// The service refused the request (a 4xx with its error).
    Refused = 4,
    /// The service could not be reached, failed, or answered something else than labforge.
    Service = 5,
    /// Interrupted with Ctrl-C (128 + SIGINT, as shells report it).
    Interrupted = 130,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status as u8)
    }
}

impl ClientError {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Self::BuildFailed { .. } | Self::LaunchFailed { .. } => ExitStatus::Failed,
            Self::Interrupted => ExitStatus::Interrupted,
            Self::InvalidUrl { .. }
            | Self::Terminal { .. }
            | Self::MissingInput { .. }
            | Self::NoSource { .. }
            | Self::UnknownSource { .. }
            | Self::NoMetadata { .. }
            | Self::UnreadableSource { .. }
            | Self::MissingMetadataField { .. }
            | Self::GitNeedsNameAndVersion
            | Self::GitOnlyFlag { .. }
            | Self::Packaging(_)
            | Self::Zip { .. }
            | Self::NoConfigFolder
            | Self::CredentialsFile { .. } => ExitStatus::LocalInput,
            Self::NotSignedIn { .. }
            | Self::CredentialsRefused { .. }
            | Self::CredentialsCorrupt { .. } => ExitStatus::SignIn,
            Self::Refused { .. } | Self::VersionTaken { .. } | Self::NothingToShow { .. } => {
                ExitStatus::Refused
            }
            Self::NotRevoked { cause, .. } => cause.exit_status(),
            Self::Unreachable { .. }
            | Self::NotLabforge { .. }
            | Self::ServerFailure { .. }
            | Self::UnexpectedAnswer { .. }
            | Self::UploadChanged { .. }
            | Self::StreamClosed { .. } => ExitStatus::Service,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_shows_the_field_and_each_problem_on_its_own_line() {
        let error = ClientError::Refused {
            status: 422,
            code: "invalid_field".to_owned(),
            message: "the submission is not ready".to_owned(),
            field: Some("version".to_owned()),
            details: vec![
                FieldProblem {
                    field: "build".to_owned(),
                    message: "no green build".to_owned(),
                },
                FieldProblem {
                    field: "metadata.license".to_owned(),
                    message: "missing".to_owned(),
                },
            ],
        };
        assert_eq!(
            error.to_string(),
            "the submission is not ready (field `version`)\n  - build: no green build\n  - \
             metadata.license: missing"
        );
        assert_eq!(error.exit_status(), ExitStatus::Refused);
    }

    #[test]
    fn failures_sign_in_problems_and_unreachable_services_exit_differently() {
        let failed = ClientError::BuildFailed {
            name: "jl-demo".to_owned(),
            version: "0.0.1".to_owned(),
            number: 2,
            status: BuildStatus::Failed,
            failure: Some("metadata.yaml: title is missing".to_owned()),
        };
        assert_eq!(
            failed.to_string(),
            "build 0.0.1-2 of \"jl-demo\" failed: metadata.yaml: title is missing"
        );
        assert_eq!(failed.exit_status(), ExitStatus::Failed);
        let signed_out = ClientError::NotSignedIn {
            path: PathBuf::from("/home/ada/.config/labforge/credentials.json"),
        };
        assert!(signed_out.to_string().contains("labforge login"));
        assert_eq!(signed_out.exit_status(), ExitStatus::SignIn);
        let unreachable = ClientError::Unreachable {
            url: "https://labforge.example.org".to_owned(),
            detail: "connection refused".to_owned(),
        };
        assert_eq!(unreachable.exit_status(), ExitStatus::Service);
        assert_eq!(ExitCode::from(ExitStatus::Service), ExitCode::from(5));
    }
}
