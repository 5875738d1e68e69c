//! A standalone buildkitd: the solve exports the image straight to the registry, and progress is
//! read from the Control API's `Status` stream for the build's ref.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::grpc::BuildRef;
use bollard::grpc::build::{ImageBuildFrontendOptions, ImageBuildLoadInput};
use bollard::grpc::driver::Image;
use bollard::grpc::driver::buildkitd::{BuildkitDaemon, ControlClient, Endpoint};
use bollard::grpc::registry::ImageRegistryOutput;
use bollard::moby::buildkit::v1::StatusRequest;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::progress::ProgressRenderer;
use super::{BuildRequest, BuildkitError, BuiltImage};
use crate::build_log::BuildLog;
use crate::images::{Credentials, RegistryClient};

#[derive(Debug, Clone)]
pub struct BuildkitdEngine {
    address: String,
    endpoint: Endpoint,
    credentials: Option<Credentials>,
}

impl BuildkitdEngine {
    pub fn new(address: &str, credentials: Option<Credentials>) -> Result<Self, BuildkitError> {
        let http_address = address.replacen("tcp://", "http://", 1);
        let endpoint = Endpoint::from_shared(http_address).map_err(|error| {
            BuildkitError::BuildkitdUnreachable {
                address: address.to_owned(),
                message: error.to_string(),
            }
        })?;
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
        let status = self.follow_status(build_ref.as_ref().to_owned(), log.clone());
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
        let result = tokio::select! {
            () = cancel.cancelled() => Err(BuildkitError::Cancelled),
            result = solve => result.map_err(|error| BuildkitError::SolveFailed { message: error.to_string() }),
        };
        status.abort();
        result?;
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

    fn follow_status(&self, build_ref: String, log: BuildLog) -> tokio::task::JoinHandle<()> {
        let endpoint = self.endpoint.clone();
        let address = self.address.clone();
        tokio::spawn(async move {
            let mut renderer = ProgressRenderer::default();
            // The solve registers the ref a moment after it starts; ask until it is known.
            for _ in 0..50 {
                let Ok(mut client) = ControlClient::connect(endpoint.clone()).await else {
                    tracing::warn!(%address, "cannot follow build progress");
                    return;
                };
                if let Ok(response) = client
                    .status(StatusRequest {
                        r#ref: build_ref.clone(),
                    })
                    .await
                {
                    let mut stream = response.into_inner();
                    while let Some(Ok(status)) = stream.next().await {
                        renderer.render(&status, &log);
                    }
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    }
}
