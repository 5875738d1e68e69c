//! The BuildKit engine against the real dockerd and a registry on loopback.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use labforge::build_log::BuildLog;
use labforge::buildkit::{BuildRequest, BuildkitError, ContextWriter, DockerdEngine};
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
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_build_is_solved_by_buildkit_pushed_and_its_digest_matches_the_registry() {
    let folder = tempfile::tempdir().unwrap();
    let engine = DockerdEngine::connect("unix:///var/run/docker.sock")
        .await
        .unwrap()
        .with_registry_account(&common::registry_address(), common::registry_credentials());
    let tag = format!("t{}", std::process::id());
    let request = request(
        folder.path(),
        "FROM scratch\nARG GREETING\nCOPY hello.txt /hello.txt\n",
        &tag,
    );
    let log = BuildLog::new();
    let built = engine
        .build_and_push(&request, &log, &CancellationToken::new())
        .await
        .unwrap();
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
    let inspected = engine
        .docker()
        .inspect_image(&request.image.to_string())
        .await
        .unwrap();
    let labels = inspected
        .config
        .and_then(|config| config.labels)
        .unwrap_or_default();
    assert_eq!(
        labels
            .get("org.opencontainers.image.title")
            .map(String::as_str),
        Some("engine test")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_step_reports_buildkit_s_error() {
    let folder = tempfile::tempdir().unwrap();
    let engine = DockerdEngine::connect("unix:///var/run/docker.sock")
        .await
        .unwrap();
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
async fn a_cancelled_build_stops_promptly() {
    let folder = tempfile::tempdir().unwrap();
    let engine = DockerdEngine::connect("unix:///var/run/docker.sock")
        .await
        .unwrap();
    let config = common::isolated_config(folder.path());
    let rootfs = labforge::base_images::root_filesystem_image(&config.base_image_settings());
    let dockerfile = format!("FROM {rootfs}\nRUN sleep 120\n");
    let request = request(folder.path(), &dockerfile, "cancelled");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let error = engine
        .build_and_push(&request, &BuildLog::new(), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(error, BuildkitError::Cancelled), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_daemon_says_how_to_fix_it() {
    let error = DockerdEngine::connect("unix:///nonexistent/docker.sock")
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("LABFORGE_DOCKER_HOST"),
        "{error}"
    );
}
