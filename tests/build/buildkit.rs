//! The two BuildKit engines against labforge's registry on loopback: dockerd's built-in BuildKit
//! always, and a standalone buildkitd when `LABFORGE_TEST_BUILDKITD` names one (`scripts/test.sh`
//! starts one; the tests say they are skipped otherwise). Each behaviour is one body run by a test
//! per engine.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use labforge::build_log::BuildLog;
use labforge::buildkit::{
    BuildEngine, BuildRequest, BuildkitError, ContextWriter, EngineConfig, LayerCompression,
};
use labforge::images::{ImageReference, RegistryClient};
use tokio_util::sync::CancellationToken;

use crate::common;

fn request(folder: &Path, dockerfile: &str, tag: &str) -> BuildRequest {
    let mut context = ContextWriter::create(&folder.join("context.tar")).unwrap();
    context
        .add_file("Dockerfile", dockerfile.as_bytes(), 0o644)
        .unwrap();
    context
        .add_file("hello.txt", tag.as_bytes(), 0o644)
        .unwrap();
    BuildRequest {
        context: context.finish().unwrap(),
        dockerfile: "Dockerfile".into(),
        build_args: BTreeMap::from([("GREETING".into(), "hello".into())]),
        labels: BTreeMap::from([(
            "org.opencontainers.image.title".into(),
            "engine test".into(),
        )]),
        image: ImageReference::new(
            format!("{}/datalabs/engine-test", common::registry_address()),
            tag,
        ),
        cache_key: None,
    }
}

/// The engine `buildkitd` selects (dockerd's BuildKit when `None`), signed in to the test
/// registry as the build service, as the pipeline connects it.
async fn engine(buildkitd: Option<String>) -> BuildEngine {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let engine = EngineConfig {
        buildkitd,
        ..config.engine
    };
    BuildEngine::connect(&engine, &config.registry)
        .await
        .unwrap_or_else(|error| panic!("{error}"))
}

async fn dockerd() -> BuildEngine {
    engine(None).await
}

/// The standalone buildkitd; `None` (the test is skipped, saying so) when none is configured.
async fn buildkitd() -> Option<BuildEngine> {
    Some(engine(Some(common::buildkitd_address()?)).await)
}

/// The labels of the image `image` as the registry holds it (its config blob).
async fn labels_in_registry(image: &ImageReference) -> serde_json::Value {
    let registry = RegistryClient::with_credentials(common::registry_credentials());
    let manifest = registry
        .image_manifest(image, &image.tag)
        .await
        .unwrap()
        .unwrap();
    let config_digest = manifest.json["config"]["digest"].as_str().unwrap();
    let config = registry.blob(image, config_digest).await.unwrap();
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    config["config"]["Labels"].clone()
}

async fn builds_pushes_and_reports_the_registry_s_digest(engine: &BuildEngine) {
    let folder = tempfile::tempdir().unwrap();
    // Its own tag: tags never change, and both engines push to this repository.
    let request = request(
        folder.path(),
        "FROM scratch\nARG GREETING\nCOPY hello.txt /hello.txt\n",
        &common::unique_name("t"),
    );
    let log = BuildLog::new();
    let built = engine
        .build_and_push(&request, &log, &CancellationToken::new())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(
        built.digest.starts_with("sha256:") && built.digest.len() == 71,
        "{}",
        built.digest
    );
    let in_registry = RegistryClient::with_credentials(common::registry_credentials())
        .manifest_digest(&request.image)
        .await
        .unwrap();
    assert_eq!(in_registry.as_deref(), Some(built.digest.as_str()));
    let text: Vec<String> = log.lines().into_iter().map(|line| line.text).collect();
    assert!(
        text.iter()
            .any(|line| line.contains("COPY hello.txt /hello.txt")),
        "{text:?}"
    );
    assert_eq!(
        labels_in_registry(&request.image).await["org.opencontainers.image.title"],
        "engine test"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dockerd_solves_a_build_pushes_it_and_its_digest_matches_the_registry() {
    builds_pushes_and_reports_the_registry_s_digest(&dockerd().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn buildkitd_solves_a_build_pushes_it_and_its_digest_matches_the_registry() {
    let Some(engine) = buildkitd().await else {
        return;
    };
    builds_pushes_and_reports_the_registry_s_digest(&engine).await;
}

async fn a_failing_step_reports_buildkit_s_error(engine: &BuildEngine) {
    let folder = tempfile::tempdir().unwrap();
    let request = request(
        folder.path(),
        "FROM scratch\nCOPY missing.txt /\n",
        "failing",
    );
    let error = engine
        .build_and_push(&request, &BuildLog::new(), &CancellationToken::new())
        .await
        .unwrap_err();
    // The step that failed is named, with BuildKit's own words as the cause.
    assert!(
        matches!(&error, BuildkitError::StepFailed { step, .. } if step.name.contains("COPY missing.txt")),
        "{error:?}"
    );
    assert!(error.to_string().contains("missing.txt"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dockerd_reports_a_failing_step_with_buildkit_s_error() {
    a_failing_step_reports_buildkit_s_error(&dockerd().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn buildkitd_reports_a_failing_step_with_buildkit_s_error() {
    let Some(engine) = buildkitd().await else {
        return;
    };
    a_failing_step_reports_buildkit_s_error(&engine).await;
}

/// Whether a process whose command line contains `marker` runs on this machine (build steps run
/// as runc containers, whose processes the host sees).
fn process_running(marker: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", marker])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("pgrep runs")
        .success()
}

async fn a_cancelled_build_stops_promptly(engine: &BuildEngine) {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let rootfs = labforge::base_images::root_filesystem_image(&config.base_image_settings());
    // The marker names this step's shell among the machine's processes.
    let marker = common::unique_name("cancelled-step");
    let dockerfile = format!("FROM {rootfs}\nRUN sleep 120 && echo {marker}\n");
    let request = request(folder.path(), &dockerfile, "cancelled");
    let cancel = CancellationToken::new();
    let log = BuildLog::new();
    let (trigger, step) = (cancel.clone(), marker.clone());
    tokio::spawn(async move {
        // Cancelled once the step runs, so that buildkitd has a process to stop.
        let deadline = Instant::now() + Duration::from_mins(2);
        while !process_running(&step) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        trigger.cancel();
    });
    let error = engine
        .build_and_push(&request, &log, &cancel)
        .await
        .unwrap_err();
    let cancelled = Instant::now();
    assert!(matches!(error, BuildkitError::Cancelled), "{error:?}");
    assert!(
        log.lines().iter().any(|line| line.text.contains(&marker)),
        "the step had started: {:?}",
        log.lines()
    );
    while process_running(&marker) {
        assert!(
            cancelled.elapsed() < Duration::from_secs(30),
            "the step still runs {:?} after the build was cancelled",
            cancelled.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dockerd_stops_a_cancelled_build_promptly() {
    a_cancelled_build_stops_promptly(&dockerd().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn buildkitd_stops_a_cancelled_build_promptly() {
    let Some(engine) = buildkitd().await else {
        return;
    };
    a_cancelled_build_stops_promptly(&engine).await;
}

#[tokio::test]
async fn an_unreachable_daemon_says_how_to_fix_it() {
    let error = labforge::buildkit::DockerdEngine::connect("unix:///nonexistent/docker.sock")
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("LABFORGE_DOCKER_HOST"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreachable_buildkitd_says_how_to_fix_it() {
    // Port 9 (discard) on loopback: nothing listens there.
    for address in ["tcp://127.0.0.1:9", "unix:///run/buildkit/buildkitd.sock"] {
        let error = labforge::buildkit::BuildkitdEngine::connect(address, None)
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, BuildkitError::BuildkitdUnreachable { .. })
                && message.contains(address)
                && message.contains("LABFORGE_BUILDKITD")
                && message.contains("start_buildkitd"),
            "{message}"
        );
    }
}

/// The standalone buildkitd with `compression`, and the local dockerd at `docker_host`.
async fn buildkitd_compressing(
    address: String,
    compression: LayerCompression,
    docker_host: Option<&str>,
) -> Result<BuildEngine, BuildkitError> {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let engine = EngineConfig {
        buildkitd: Some(address),
        layer_compression: compression,
        docker_host: docker_host.map_or(config.engine.docker_host.clone(), str::to_owned),
        ..config.engine
    };
    BuildEngine::connect(&engine, &config.registry).await
}

/// Builds a layer of random bytes unique to this run on the base `datalab_base`; returns the
/// image and the media types of its layers, the base's first.
async fn build_random_layer(engine: &BuildEngine) -> (ImageReference, Vec<String>) {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let base = ImageReference::new(
        config.registry.repository("datalab_base"),
        config.base_version.clone(),
    );
    let tag = common::unique_name("compressed");
    let dockerfile = format!(
        "FROM {base}\nRUN head -c 3000000 /dev/urandom > /tmp/random-{tag} && echo {tag}\n"
    );
    let request = request(folder.path(), &dockerfile, &tag);
    engine
        .build_and_push(&request, &BuildLog::new(), &CancellationToken::new())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let registry = RegistryClient::with_credentials(common::registry_credentials());
    // (digest, media type) of each layer.
    let layers = |manifest: serde_json::Value| -> Vec<(String, String)> {
        manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|layer| {
                let text = |key: &str| layer[key].as_str().unwrap().to_owned();
                (text("digest"), text("mediaType"))
            })
            .collect()
    };
    let image_layers = layers(
        registry
            .image_manifest(&request.image, &tag)
            .await
            .unwrap()
            .unwrap()
            .json,
    );
    let base_layers = layers(
        registry
            .image_manifest(&base, &base.tag)
            .await
            .unwrap()
            .unwrap()
            .json,
    );
    let digests = |layers: &[(String, String)]| -> Vec<String> {
        layers.iter().map(|(digest, _)| digest.clone()).collect()
    };
    assert_eq!(
        digests(&image_layers[..base_layers.len()]),
        digests(&base_layers),
        "the base's layers are the same blobs, their compression kept"
    );
    let image_layers: Vec<String> = image_layers
        .into_iter()
        .map(|(_, media_type)| media_type)
        .collect();
    (request.image, image_layers[base_layers.len()..].to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn buildkitd_pushes_uncompressed_layers_that_dockerd_runs() {
    let Some(address) = common::buildkitd_address() else {
        return;
    };
    let engine = buildkitd_compressing(address, LayerCompression::Uncompressed, None)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let (image, built) = build_random_layer(&engine).await;
    assert_eq!(built, ["application/vnd.docker.image.rootfs.diff.tar"]);
    let daemon = engine
        .daemon_holding(&image, &BuildLog::new())
        .await
        .unwrap()
        .expect("a local dockerd answers");
    let inspected = daemon
        .docker()
        .inspect_image(&image.to_string())
        .await
        .unwrap();
    assert!(
        inspected.size.unwrap_or_default() > 3_000_000,
        "{inspected:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn buildkitd_pushes_zstd_layers_in_an_oci_manifest_that_podman_pulls() {
    let Some(address) = common::buildkitd_address() else {
        return;
    };
    // Without a local dockerd to smoke-test on (zstd is for the clients that read it).
    let engine = buildkitd_compressing(
        address,
        LayerCompression::Zstd,
        Some("unix:///nonexistent/docker.sock"),
    )
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    let (image, built) = build_random_layer(&engine).await;
    assert_eq!(built, ["application/vnd.oci.image.layer.v1.tar+zstd"]);
    let credentials = common::registry_credentials().unwrap();
    let output = std::process::Command::new("podman")
        .args([
            "pull",
            "--quiet",
            "--tls-verify=false",
            "--creds",
            &format!("{}:{}", credentials.username, credentials.password),
            &image.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let removed = std::process::Command::new("podman")
        .args(["rmi", "--force", &image.to_string()])
        .output()
        .unwrap();
    assert!(removed.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn zstd_with_a_dockerd_that_cannot_read_it_is_refused_at_start_saying_what_to_do() {
    let Some(address) = common::buildkitd_address() else {
        return;
    };
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    let version = docker.version().await.unwrap().version.unwrap();
    let major: u32 = version.split('.').next().unwrap().parse().unwrap();
    let connected = buildkitd_compressing(address, LayerCompression::Zstd, None).await;
    if major >= 23 {
        assert!(connected.is_ok(), "dockerd {version} reads zstd");
        return;
    }
    let error = connected.expect_err("dockerd 20.10 cannot read zstd");
    assert!(
        matches!(error, BuildkitError::ZstdUnreadable { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&version) && message.contains("gzip or uncompressed"),
        "{message}"
    );
}
