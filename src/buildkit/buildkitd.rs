//! A standalone buildkitd: the solve exports the image straight to the registry, and progress is
//! read from the Control API's `Status` stream for the build's ref.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::grpc::BuildRef;
use bollard::grpc::driver::buildkitd::{ControlClient, Endpoint};
use bollard::moby::buildkit::v1::{CacheOptionsEntry, Exporter, ListWorkersRequest, StatusRequest};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::progress::ProgressRenderer;
use super::{BuildRequest, BuildkitError, BuiltImage, LayerCompression, session};
use crate::build_log::{BuildLog, Phase};
use crate::images::{Credentials, ImageReference, RegistryClient};

/// How long opening a connection to buildkitd may take: an address nothing listens on fails
/// fast, one that drops packets fails within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the progress stream may go on after a failed solve: buildkitd closes it once the job
/// is discarded, and its last messages name the step that failed.
const STATUS_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The same after a solve that succeeded, whose progress has been sent by the time it answers:
/// a stream buildkitd keeps open a while longer costs the build no more than this.
const STATUS_DRAIN_AFTER_SUCCESS: Duration = Duration::from_secs(1);

/// Times the progress stream is asked for before giving up: buildkitd waits a few seconds for a
/// ref it does not know yet, then refuses it.
const STATUS_ATTEMPTS: usize = 5;

#[derive(Debug, Clone)]
pub struct BuildkitdEngine {
    address: String,
    endpoint: Endpoint,
    credentials: Option<Credentials>,
    layer_compression: LayerCompression,
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
            layer_compression: LayerCompression::default(),
        })
    }

    /// Pushes the layers it builds compressed with `compression`.
    #[must_use]
    pub fn with_layer_compression(mut self, compression: LayerCompression) -> Self {
        self.layer_compression = compression;
        self
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
        // One connection for the progress and the solve, the progress asked for first: buildkitd
        // streams a build's progress only to a request that arrives before the build has ended.
        let channel =
            self.endpoint
                .connect()
                .await
                .map_err(|error| BuildkitError::BuildkitdUnreachable {
                    address: self.address.clone(),
                    message: error.to_string(),
                })?;
        let build_ref = BuildRef::random();
        let renderer = Arc::new(Mutex::new(ProgressRenderer::default()));
        let mut status = follow_status(
            channel.clone(),
            build_ref.as_ref().to_owned(),
            log.clone(),
            Arc::clone(&renderer),
        );
        tokio::task::yield_now().await;
        let started = Instant::now();
        let cache = registry_cache(&request.image, self.layer_compression);
        let solve = session::solve(
            channel,
            session::Solve {
                build_ref: build_ref.into(),
                frontend_attrs: frontend_attributes(request),
                context,
                exporter: self.image_exporter(&request.image),
                cache_imports: vec![cache.import],
                cache_exports: vec![cache.export],
                credentials: self
                    .credentials
                    .clone()
                    .map(|credentials| (request.image.registry().to_owned(), credentials)),
            },
        );
        // Dropping the solve ends its gRPC call, and buildkitd cancels a solve whose caller left.
        let solved = tokio::select! {
            () = cancel.cancelled() => {
                status.abort();
                return Err(BuildkitError::Cancelled);
            }
            solved = solve => solved,
        };
        let drain = if solved.is_ok() {
            STATUS_DRAIN_AFTER_SUCCESS
        } else {
            STATUS_DRAIN_TIMEOUT
        };
        if tokio::time::timeout(drain, &mut status).await.is_err() {
            tracing::debug!(address = %self.address, ?drain, "the progress stream outlived the solve");
        }
        status.abort();
        let renderer = std::mem::take(
            &mut *renderer
                .lock()
                .expect("the progress renderer's lock is never poisoned"),
        );
        if let Err(error) = solved {
            return Err(self.solve_error(&error, &renderer));
        }
        log.write(
            Phase::Solve,
            format!(
                "{} of {} steps reused from the build cache",
                renderer.cached_steps, renderer.steps
            ),
        );
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
    fn solve_error(&self, error: &Status, renderer: &ProgressRenderer) -> BuildkitError {
        if error.code() == Code::Unavailable {
            return BuildkitError::BuildkitdUnreachable {
                address: self.address.clone(),
                message: error.message().to_owned(),
            };
        }
        let message = error.message().to_owned();
        match renderer.failed_step() {
            Some(step) => BuildkitError::StepFailed {
                cause: step.cause().unwrap_or(message),
                step,
            },
            None => BuildkitError::SolveFailed { message },
        }
    }

    /// The image exporter: pushed to the registry, its new layers compressed as configured.
    fn image_exporter(&self, image: &ImageReference) -> Exporter {
        let mut attrs = HashMap::from([
            ("name".to_owned(), image.to_string()),
            ("push".to_owned(), "true".to_owned()),
            (
                "registry.insecure".to_owned(),
                image.is_loopback().to_string(),
            ),
        ]);
        attrs.extend(compression_attributes(self.layer_compression));
        Exporter {
            r#type: "image".to_owned(),
            attrs,
        }
    }
}

/// Renders the progress of the build `build_ref` into `log` (and `renderer`, which learns the
/// failed step and the cached ones) until buildkitd ends the stream.
fn follow_status(
    channel: Channel,
    build_ref: String,
    log: BuildLog,
    renderer: Arc<Mutex<ProgressRenderer>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for _ in 0..STATUS_ATTEMPTS {
            let mut client = ControlClient::new(channel.clone());
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
                renderer
                    .lock()
                    .expect("the progress renderer's lock is never poisoned")
                    .render(&status, &log);
            }
            if received {
                break;
            }
        }
    })
}

/// The Dockerfile frontend's attributes for `request`: its Dockerfile, build arguments and labels.
fn frontend_attributes(request: &BuildRequest) -> HashMap<String, String> {
    let mut attrs = HashMap::from([("filename".to_owned(), request.dockerfile.clone())]);
    for (key, value) in &request.build_args {
        attrs.insert(format!("build-arg:{key}"), value.clone());
    }
    for (key, value) in &request.labels {
        attrs.insert(format!("label:{key}"), value.clone());
    }
    attrs
}

/// Exporter attributes for `compression`. Only the layers this build makes are compressed so;
/// those of the base keep theirs. zstd layers exist only in OCI manifests; the others keep
/// Docker's media types, as the dockerd engine's images have. BuildKit reuses a cached layer's
/// blob whatever its compression, so after a change of setting an engine could push a zstd layer
/// it made earlier: gzip is forced (the bases are gzip, so that converts only such leftovers), and
/// the others are not, since forcing would convert every layer of the base.
fn compression_attributes(compression: LayerCompression) -> [(String, String); 3] {
    [
        ("compression".to_owned(), compression.name().to_owned()),
        (
            "oci-mediatypes".to_owned(),
            (compression == LayerCompression::Zstd).to_string(),
        ),
        (
            "force-compression".to_owned(),
            (compression == LayerCompression::Gzip).to_string(),
        ),
    ]
}

/// Where a datalab's BuildKit cache lives in the registry: beside its images, under the tag
/// `buildcache` of its own repository, so that exporting it uploads nothing the image push did not
/// (BuildKit mounts no blob across repositories for a cache) and it is seen by whoever sees the
/// images. Every build exports it (`mode=min`: the layers of the image, which for labforge's
/// single-stage Dockerfile are every step's; the intermediate stages of an author's multi-stage
/// Dockerfile are never published this way) and imports it first, so an engine that has never
/// built the datalab (a new one, or the next in its order when the first is down) warms up from
/// the registry instead of building the environment again.
struct RegistryCache {
    import: CacheOptionsEntry,
    export: CacheOptionsEntry,
}

fn registry_cache(image: &ImageReference, compression: LayerCompression) -> RegistryCache {
    let reference = format!("{}:buildcache", image.repository);
    let import = CacheOptionsEntry {
        r#type: "registry".to_owned(),
        attrs: HashMap::from([
            ("ref".to_owned(), reference),
            (
                "registry.insecure".to_owned(),
                image.is_loopback().to_string(),
            ),
        ]),
    };
    let mut export = import.clone();
    export.attrs.extend(compression_attributes(compression));
    export.attrs.extend(
        [
            ("mode", "min"),
            // An OCI image manifest whose config is the cache's: BuildKit's older format, an
            // index listing layers as if they were manifests, is refused by registries that
            // check what an index lists (labforge's does).
            ("image-manifest", "true"),
            ("oci-mediatypes", "true"),
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned())),
    );
    RegistryCache { import, export }
}
