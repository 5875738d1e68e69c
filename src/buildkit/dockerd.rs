//! Builds with the BuildKit built into dockerd, over bollard's BuildKit session, then pushes with
//! the daemon. dockerd 20.10's BuildKit has no image exporter that pushes, so the image lands in
//! the daemon's store first; the daemon's push sends Docker schema2 manifests.

use std::collections::HashMap;
use std::time::Instant;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::BuildInfoAux;
use bollard::query_parameters::{
    BuildImageOptions, BuilderVersion, CreateImageOptions, PushImageOptions,
};
use futures_util::{StreamExt, TryStreamExt};
use tokio_util::io::ReaderStream;
use tokio_util::sync::CancellationToken;

use super::progress::ProgressRenderer;
use super::{BuildRequest, BuildkitError, BuiltImage, ImageReference};
use crate::build_log::{BuildLog, Phase};
use crate::images::Credentials;

/// Seconds the daemon connection waits for one answer; builds stream, so this bounds silence.
const DAEMON_TIMEOUT_SECONDS: u64 = 3600;

#[derive(Debug, Clone)]
pub struct DockerdEngine {
    docker: Docker,
    /// Registry address and the account used there for pushes and pulls of bases.
    registry_account: Option<(String, Credentials)>,
}

impl DockerdEngine {
    pub async fn connect(host: &str) -> Result<Self, BuildkitError> {
        let unreachable = |source| BuildkitError::DaemonUnreachable {
            host: host.to_owned(),
            source,
        };
        let docker = if let Some(path) = host.strip_prefix("unix://") {
            Docker::connect_with_unix(path, DAEMON_TIMEOUT_SECONDS, bollard::API_DEFAULT_VERSION)
        } else {
            Docker::connect_with_http(host, DAEMON_TIMEOUT_SECONDS, bollard::API_DEFAULT_VERSION)
        }
        .map_err(unreachable)?;
        // dockerd 20.10 speaks API 1.41 at most; without negotiation every call is refused.
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        Ok(Self {
            docker,
            registry_account: None,
        })
    }

    /// Signs pushes to (and base pulls from) `registry` in as `credentials`.
    #[must_use]
    pub fn with_registry_account(
        mut self,
        registry: &str,
        credentials: Option<Credentials>,
    ) -> Self {
        self.registry_account = credentials.map(|credentials| (registry.to_owned(), credentials));
        self
    }

    fn docker_credentials(&self) -> Option<DockerCredentials> {
        self.registry_account
            .as_ref()
            .map(|(registry, credentials)| super::docker_credentials(registry, credentials))
    }

    /// The daemon, for running containers of built images (smoke tests).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Fails unless this dockerd reads zstd-compressed layers, which moby does from 23.0 on.
    pub async fn check_reads_zstd(&self) -> Result<(), BuildkitError> {
        let version = self.docker.version().await?.version.unwrap_or_default();
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|major| major.parse().ok())
            .unwrap_or(0);
        if major >= 23 {
            Ok(())
        } else {
            Err(BuildkitError::ZstdUnreadable { version })
        }
    }

    pub async fn build(
        &self,
        request: &BuildRequest,
        log: &BuildLog,
        cancel: &CancellationToken,
    ) -> Result<(), BuildkitError> {
        let context = tokio::fs::File::open(&request.context.path)
            .await
            .map_err(|source| BuildkitError::Context {
                path: request.context.path.clone(),
                source,
            })?;
        let options = BuildImageOptions {
            dockerfile: request.dockerfile.clone(),
            t: Some(request.image.to_string()),
            buildargs: Some(to_hash_map(&request.build_args)),
            labels: Some(to_hash_map(&request.labels)),
            networkmode: Some("host".to_owned()),
            version: BuilderVersion::BuilderBuildKit,
            session: Some(uuid::Uuid::new_v4().to_string()),
            rm: true,
            ..BuildImageOptions::default()
        };
        let body = bollard::body_try_stream(ReaderStream::new(context));
        let credentials = self.docker_credentials().map(|credentials| {
            HashMap::from([(
                credentials.serveraddress.clone().unwrap_or_default(),
                credentials,
            )])
        });
        let mut stream = self.docker.build_image(options, credentials, Some(body));
        let mut renderer = ProgressRenderer::default();
        loop {
            let item = tokio::select! {
                () = cancel.cancelled() => return Err(BuildkitError::Cancelled),
                item = stream.next() => item,
            };
            match item {
                None => break,
                Some(Ok(info)) => {
                    if let Some(BuildInfoAux::BuildKit(status)) = &info.aux {
                        renderer.render(status, log);
                    }
                    if let Some(text) = info
                        .stream
                        .as_deref()
                        .filter(|text| !text.trim().is_empty())
                    {
                        log.write(Phase::Solve, text);
                    }
                }
                Some(Err(error)) => {
                    let message = solve_message(error);
                    return Err(match renderer.failed_step() {
                        Some(step) => BuildkitError::StepFailed {
                            cause: step.cause().unwrap_or(message),
                            step,
                        },
                        None => BuildkitError::SolveFailed { message },
                    });
                }
            }
        }
        log.write(
            Phase::Solve,
            format!(
                "{} of {} steps reused from the build cache",
                renderer.cached_steps, renderer.steps
            ),
        );
        Ok(())
    }

    /// Pushes an image from the daemon's store and returns the manifest digest the registry gave.
    pub async fn push(
        &self,
        image: &ImageReference,
        log: &BuildLog,
    ) -> Result<String, BuildkitError> {
        let options = PushImageOptions {
            tag: Some(image.tag.clone()),
            ..PushImageOptions::default()
        };
        let mut stream =
            self.docker
                .push_image(&image.repository, Some(options), self.docker_credentials());
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|error| BuildkitError::PushFailed {
                reference: image.to_string(),
                message: solve_message(error),
            })?;
            let Some(status) = info.status else { continue };
            if let Some(found) = digest_in_push_status(&status) {
                digest = Some(found.to_owned());
            }
            // Per-layer chatter ("Preparing", "Waiting", byte counts) hides the outcome lines.
            let progress = info
                .progress_detail
                .is_some_and(|detail| detail.current.is_some());
            if !progress && !matches!(status.as_str(), "Preparing" | "Waiting") {
                log.write(Phase::Push, without_other_repositories(status));
            }
        }
        digest.ok_or_else(|| BuildkitError::MissingDigest {
            reference: image.to_string(),
        })
    }

    pub async fn build_and_push(
        &self,
        request: &BuildRequest,
        log: &BuildLog,
        cancel: &CancellationToken,
    ) -> Result<BuiltImage, BuildkitError> {
        let started = Instant::now();
        self.build(request, log, cancel).await?;
        let solve = started.elapsed();
        let started = Instant::now();
        let digest = tokio::select! {
            () = cancel.cancelled() => return Err(BuildkitError::Cancelled),
            digest = self.push(&request.image, log) => digest?,
        };
        Ok(BuiltImage {
            reference: request.image.clone(),
            digest,
            solve,
            push: started.elapsed(),
        })
    }

    /// Pulls `image` from its registry into the daemon's store, as the registry account.
    pub async fn pull(&self, image: &ImageReference) -> Result<(), BuildkitError> {
        let options = CreateImageOptions {
            from_image: Some(image.repository.clone()),
            tag: Some(image.tag.clone()),
            ..CreateImageOptions::default()
        };
        let mut stream = self
            .docker
            .create_image(Some(options), None, self.docker_credentials());
        while let Some(item) = stream.next().await {
            item.map_err(|error| BuildkitError::PullFailed {
                reference: image.to_string(),
                message: solve_message(error),
            })?;
        }
        Ok(())
    }

    /// Imports a root filesystem tarball as an image (`docker import`), the bottom of the bases.
    pub async fn import_root_filesystem(
        &self,
        tarball: &std::path::Path,
        image: &ImageReference,
    ) -> Result<(), BuildkitError> {
        let import_error = |message: String| BuildkitError::Import {
            path: tarball.to_owned(),
            message,
        };
        let file = tokio::fs::File::open(tarball)
            .await
            .map_err(|error| import_error(error.to_string()))?;
        let options = CreateImageOptions {
            from_src: Some("-".to_owned()),
            repo: Some(image.repository.clone()),
            tag: Some(image.tag.clone()),
            ..CreateImageOptions::default()
        };
        self.docker
            .create_image(
                Some(options),
                Some(bollard::body_try_stream(ReaderStream::new(file))),
                None,
            )
            .try_collect::<Vec<_>>()
            .await
            .map_err(|error| import_error(error.to_string()))?;
        Ok(())
    }

    /// Whether the daemon holds an image of that reference.
    pub async fn has_image(&self, image: &ImageReference) -> Result<bool, BuildkitError> {
        match self.docker.inspect_image(&image.to_string()).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}

fn to_hash_map(map: &std::collections::BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

fn solve_message(error: bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerStreamError { error } => error,
        other => other.to_string(),
    }
}

/// The daemon says where a layer it did not upload came from (`Mounted from datalabs/<other>`):
/// that names another, possibly private, datalab in a log its readers may not see. The layer is
/// simply already in the registry.
fn without_other_repositories(status: String) -> String {
    if status.starts_with("Mounted from ") {
        "Layer already exists".to_owned()
    } else {
        status
    }
}

/// The daemon's last push line reads `TAG: digest: sha256:HEX size: N`.
fn digest_in_push_status(status: &str) -> Option<&str> {
    let rest = &status[status.find("digest: ")? + "digest: ".len()..];
    let digest = rest.split_whitespace().next()?;
    digest.starts_with("sha256:").then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mounted_layer_does_not_name_the_repository_it_came_from() {
        assert_eq!(
            without_other_repositories("Mounted from datalabs/jl-private".to_owned()),
            "Layer already exists"
        );
        assert_eq!(without_other_repositories("Pushed".to_owned()), "Pushed");
    }

    #[test]
    fn the_digest_is_read_from_the_final_push_line() {
        assert_eq!(
            digest_in_push_status("0.0.1-0: digest: sha256:0123abcd size: 1570"),
            Some("sha256:0123abcd")
        );
        assert_eq!(digest_in_push_status("Layer already exists"), None);
    }
}
