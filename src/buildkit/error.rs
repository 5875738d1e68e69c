use std::path::PathBuf;

use super::progress::FailedStep;

#[derive(Debug, thiserror::Error)]
pub enum BuildkitError {
    #[error(
        "cannot reach the Docker daemon at {host}: {source}. Start dockerd (the README's run command \
         does) or set LABFORGE_DOCKER_HOST"
    )]
    DaemonUnreachable {
        host: String,
        source: bollard::errors::Error,
    },
    #[error(
        "cannot reach buildkitd at {address}: {message}. Start buildkitd there (scripts/lib.sh's \
         start_buildkitd does), or set LABFORGE_BUILDKITD to the tcp://host:port it listens on \
         (unset, builds go to dockerd)"
    )]
    BuildkitdUnreachable { address: String, message: String },
    #[error(
        "LABFORGE_LAYER_COMPRESSION is zstd, but the local dockerd {version} that runs every \
         build's smoke test cannot read zstd layers (docker 23 or newer can): set it to gzip or \
         uncompressed, or upgrade dockerd"
    )]
    ZstdUnreadable { version: String },
    #[error("the build failed: {message}")]
    SolveFailed { message: String },
    /// A Dockerfile step exited with an error: the cause is what the step printed, not BuildKit's
    /// "executor failed running" line, which only repeats the command.
    #[error("the build step `{}` failed: {cause}", step.name)]
    StepFailed { step: FailedStep, cause: String },
    #[error("pushing {reference} failed: {message}")]
    PushFailed { reference: String, message: String },
    #[error("the local dockerd cannot pull {reference} from the registry to run it: {message}")]
    PullFailed { reference: String, message: String },
    #[error("the registry did not report a digest for {reference}")]
    MissingDigest { reference: String },
    #[error("the build was cancelled")]
    Cancelled,
    #[error("cannot read {path} for the build context: {source}")]
    Context {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("importing the root filesystem {path} failed: {message}")]
    Import { path: PathBuf, message: String },
    #[error("the Docker daemon refused a request: {0}")]
    Daemon(#[from] bollard::errors::Error),
}
