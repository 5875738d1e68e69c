//! A standalone buildkitd: the solve exports the image straight to the registry, and progress is
//! read from the Control API's `Status` stream for the build's ref.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::grpc::BuildRef;
use bollard::grpc::build::{ImageBuildFrontendOptions, ImageBuildLoadInput};
use bollard::grpc::driver::Image;
use bollard::grpc::driver::buildkitd::{BuildkitDaemon, ControlClient, Endpoint};
use bollard::grpc::error::GrpcError;
use bollard::grpc::registry::ImageRegistryOutput;
use bollard::moby::buildkit::v1::{ListWorkersRequest, StatusRequest};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::progress::ProgressRenderer;
use super::{BuildRequest, BuildkitError, BuiltImage};
use crate::build_log::{BuildLog, Phase};
use crate::images::{Credentials, RegistryClient};

/// How long opening a connection to buildkitd may take: an address nothing listens on fails
/// fast, one that drops packets fails within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the progress stream may go on after the solve has ended: buildkitd closes it once
/// the job is discarded, which is at once; this only bounds a stream that never ends.
const STATUS_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Times the progress stream is asked for before giving up: buildkitd waits a few seconds for a
/// ref it does not know yet, then refuses it.
const STATUS_ATTEMPTS: usize = 5;

#[derive(Debug, Clone)]
pub struct BuildkitdEngine {
    address: String,
    endpoint: Endpoint,
    credentials: Option<Credentials>,
}

impl BuildkitdEngine {
    /// The buildkitd at `address` (`tcp://host:port`), once it has answered: a wrong address is
    /// reported when labforge starts, not at the first build.
    pub async fn connect(
        address: &str,
        credentials: Option<Credentials>,
    ) -> Result<Self, BuildkitError> {
        let unreachable = |message: String| BuildkitError::BuildkitdUnreachable {
            address: address.to_owned(),
            message,
        };
        let http_address = address
            .strip_prefix("tcp://")
            .map(|rest| format!("http://{rest}"))
            .ok_or_else(|| {
                unreachable("labforge reaches buildkitd over TCP only (tcp://host:port)".to_owned())
            })?;
        let endpoint = Endpoint::from_shared(http_address)
            .map_err(|error| unreachable(error.to_string()))?
            .connect_timeout(CONNECT_TIMEOUT);
        let mut client = ControlClient::connect(endpoint.clone())
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        let workers = client
            .list_workers(ListWorkersRequest::default())
            .await
            .map_err(|status| unreachable(status.message().to_owned()))?
            .into_inner()
            .record;
        if workers.is_empty() {
            return Err(unreachable("it has no worker to build with".to_owned()));
        }
        Ok(Self {
            address: address.to_owned(),
            endpoint,
            credentials,
        })
    }

    pub async fn build_and_push(
        &self,
        request: &BuildRequest,
        log: &BuildLog,
        cancel: &CancellationToken,
    ) -> Result<BuiltImage, BuildkitError> {
        let context = tokio::fs::read(&request.context.path)
            .await
            .map_err(|source| BuildkitError::Context {
                path: request.context.path.clone(),
                source,
            })?;
        let mut options = ImageBuildFrontendOptions::builder()
            .dockerfile(std::path::Path::new(&request.dockerfile));
        for (key, value) in &request.build_args {
            options = options.buildarg(key, value);
        }
        for (key, value) in &request.labels {
            options = options.label(key, value);
        }
        let output = ImageRegistryOutput::builder(&request.image.to_string())
            .push(true)
            .insecure_registry(request.image.is_loopback())
            .consume();
        let build_ref = BuildRef::random();
        let mut status = self.follow_status(build_ref.as_ref().to_owned(), log.clone());
        let started = Instant::now();
        let registry = request.image.registry().to_owned();
        let credentials = self.credentials.as_ref().map(|credentials| {
            HashMap::from([(
                registry.as_str(),
                super::docker_credentials(&registry, credentials),
            )])
        });
        let solve = BuildkitDaemon::new(self.endpoint.clone()).registry(
            output,
            options.build(),
            ImageBuildLoadInput::Upload(context.into()),
            credentials,
            Some(build_ref),
        );
        // Dropping the solve ends its gRPC call, and buildkitd cancels a solve whose caller left.
        let solved = tokio::select! {
            () = cancel.cancelled() => {
                status.abort();
                return Err(BuildkitError::Cancelled);
            }
            solved = solve => solved,
        };
        let renderer = tokio::time::timeout(STATUS_DRAIN_TIMEOUT, &mut status)
            .await
            .ok()
            .and_then(Result::ok);
        status.abort();
        if let Err(error) = solved {
            return Err(self.solve_error(error, renderer.as_ref()));
        }
        if let Some(renderer) = &renderer {
            log.write(
                Phase::Solve,
                format!(
                    "{} of {} steps reused from the build cache",
                    renderer.cached_steps, renderer.steps
                ),
            );
        }
        let solve = started.elapsed();
        let digest = RegistryClient::with_credentials(self.credentials.clone())
            .manifest_digest(&request.image)
            .await
            .map_err(|message| BuildkitError::PushFailed {
                reference: request.image.to_string(),
                message,
            })?
            .ok_or_else(|| BuildkitError::MissingDigest {
                reference: request.image.to_string(),
            })?;
        Ok(BuiltImage {
            reference: request.image.clone(),
            digest,
            solve,
            push: Duration::ZERO,
        })
    }

    /// A failed solve in the terms the dockerd engine uses: the step that failed and what it
    /// printed when the progress named one, else BuildKit's own message.
    fn solve_error(&self, error: GrpcError, renderer: Option<&ProgressRenderer>) -> BuildkitError {
        let message = match error {
            GrpcError::TonicStatus { err } => err.message().to_owned(),
            GrpcError::TonicError { err } => {
                return BuildkitError::BuildkitdUnreachable {
                    address: self.address.clone(),
                    message: err.to_string(),
                };
            }
            other => other.to_string(),
        };
        match renderer.and_then(ProgressRenderer::failed_step) {
            Some(step) => BuildkitError::StepFailed {
                cause: step.cause().unwrap_or(message),
                step,
            },
            None => BuildkitError::SolveFailed { message },
        }
    }

    /// Renders the progress of the build `build_ref` into `log` until buildkitd ends the stream,
    /// then hands back the renderer, which knows the failed step and the cached ones.
    fn follow_status(
        &self,
        build_ref: String,
        log: BuildLog,
    ) -> tokio::task::JoinHandle<ProgressRenderer> {
        let endpoint = self.endpoint.clone();
        let address = self.address.clone();
        tokio::spawn(async move {
            let mut renderer = ProgressRenderer::default();
            for _ in 0..STATUS_ATTEMPTS {
                let Ok(mut client) = ControlClient::connect(endpoint.clone()).await else {
                    tracing::warn!(%address, "cannot follow build progress");
                    break;
                };
                let request = StatusRequest {
                    r#ref: build_ref.clone(),
                };
                // Until the solve has registered the ref, buildkitd answers with an error.
                let Ok(response) = client.status(request).await else {
                    continue;
                };
                let mut stream = response.into_inner();
                let mut received = false;
                while let Some(Ok(status)) = stream.next().await {
                    received = true;
                    renderer.render(&status, &log);
                }
                if received {
                    break;
                }
            }
            renderer
        })
    }
}
