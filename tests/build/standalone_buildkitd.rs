//! The build pipeline through a standalone buildkitd (`LABFORGE_TEST_BUILDKITD`, which
//! `scripts/test.sh` starts; the tests say they are skipped without it): each kind of datalab builds
//! and is pushed under the digest the registry holds, a rebuild takes the environment layers from
//! buildkitd's cache, and the local dockerd pulls the image to smoke-test it.

use labforge::buildkit::{BuildEngine, LayerCompression};
use labforge::config::Config;
use labforge::images::{ImageReference, RegistryClient};
use labforge::pipeline::{BuildOutcome, Pipeline};

use crate::common;
use crate::pipeline::{build_as, log_text, steps_cached};

/// A pipeline of its own data folder in `folder` whose builds go to the standalone buildkitd;
/// `None` (the test is skipped, saying so) when none is configured.
async fn pipeline_on_buildkitd(folder: &std::path::Path) -> Option<(Config, Pipeline)> {
    let mut config = common::isolated_config(folder);
    config.engine.buildkitd = Some(common::buildkitd_address()?);
    let pipeline = Pipeline::new(config.pipeline_settings())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(matches!(pipeline.engine(), BuildEngine::Buildkitd { .. }));
    Some((config, pipeline))
}

/// Builds the example `example` under a name of its own; returns the outcome and the log's text.
async fn build_example(
    config: &Config,
    pipeline: &Pipeline,
    example: &str,
    smoke_test: bool,
) -> (BuildOutcome, String) {
    let lab = common::copy_example(config, example);
    let name = common::unique_name(example);
    let (outcome, log) = build_as(pipeline, lab, Some(&name), smoke_test).await;
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    (outcome, log_text(&log))
}

/// The registry holds the image the build recorded, under its tag.
async fn assert_pushed(config: &Config, outcome: &BuildOutcome) {
    let (repository, tag) = outcome.record.image.rsplit_once(':').unwrap();
    let in_registry = RegistryClient::with_credentials(config.registry.credentials())
        .manifest_digest(&ImageReference::new(repository, tag))
        .await
        .unwrap();
    assert_eq!(
        in_registry.as_deref(),
        Some(outcome.record.digest.as_str()),
        "{}",
        outcome.record.image
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jupyterlab_lab_builds_through_buildkitd_and_a_rebuild_takes_its_environment_from_the_cache()
 {
    let folder = tempfile::tempdir().unwrap();
    let Some((config, pipeline)) = pipeline_on_buildkitd(folder.path()).await else {
        return;
    };
    let lab = common::copy_example(&config, "jl-photometry-demo");
    let name = common::unique_name("jl-photometry-demo");
    let (first, log) = build_as(&pipeline, lab.clone(), Some(&name), false).await;
    let first = first.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    assert_eq!(first.record.kind, "jupyterlab");
    assert!(first.smoke_test.is_none());
    assert_pushed(&config, &first).await;
    assert!(
        !steps_cached(&log, "uv pip install").is_empty(),
        "the environment layers are built:\n{}",
        log_text(&log)
    );
    // BuildKit's Dockerfile checks find nothing to warn the author about in labforge's own file.
    assert!(
        !log_text(&log).contains("WARN"),
        "no warning:\n{}",
        log_text(&log)
    );

    // A notebook edit: a new image, its environment layers from buildkitd's cache.
    let notebook = lab.join("photometry.ipynb");
    let text = std::fs::read_to_string(&notebook).unwrap();
    std::fs::write(&notebook, text.replace("# Aperture", "# Simple aperture")).unwrap();
    let (second, log) = build_as(&pipeline, lab, Some(&name), false).await;
    let second = second.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    assert_eq!(second.record.number, 1);
    assert_eq!(
        second.record.environment_hash,
        first.record.environment_hash
    );
    assert_ne!(second.record.digest, first.record.digest);
    assert_pushed(&config, &second).await;
    let environment_steps = steps_cached(&log, "uv pip install");
    assert!(!environment_steps.is_empty(), "{}", log_text(&log));
    assert!(
        environment_steps.iter().all(|cached| *cached),
        "no dependency work:\n{}",
        log_text(&log)
    );
    assert!(
        log_text(&log).contains("steps reused from the build cache"),
        "{}",
        log_text(&log)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_desktop_lab_builds_through_buildkitd_with_its_debian_packages() {
    let folder = tempfile::tempdir().unwrap();
    let Some((config, pipeline)) = pipeline_on_buildkitd(folder.path()).await else {
        return;
    };
    // apt.txt installs TOPCAT from the bases' apt cache mounts.
    let (outcome, log) = build_example(&config, &pipeline, "x-topcat", false).await;
    assert_eq!(outcome.record.kind, "desktop");
    assert_pushed(&config, &outcome).await;
    assert!(log.contains("apt-get install"), "{log}");
    assert!(
        outcome.evidence.report.debian_packages > 0,
        "the SBOM reads the pushed layers"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generic_lab_built_by_buildkitd_is_pulled_and_smoke_tested_on_the_local_dockerd() {
    let folder = tempfile::tempdir().unwrap();
    let Some((config, pipeline)) = pipeline_on_buildkitd(folder.path()).await else {
        return;
    };
    let (outcome, log) = build_example(&config, &pipeline, "web-catalog-browser", true).await;
    assert_eq!(outcome.record.kind, "generic");
    assert_pushed(&config, &outcome).await;
    assert!(log.contains("into the local dockerd to run it"), "{log}");
    let smoke = outcome
        .smoke_test
        .expect("the local dockerd runs what buildkitd built");
    assert!(
        smoke.passed && smoke.health_url_path == "/health",
        "{smoke:?}\n{log}"
    );
    assert_eq!(
        smoke.title.as_deref(),
        Some("Catalogue browser"),
        "{smoke:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lab_built_with_zstd_layers_gets_its_evidence_from_them() {
    let folder = tempfile::tempdir().unwrap();
    let mut config = common::isolated_config(folder.path());
    let Some(address) = common::buildkitd_address() else {
        return;
    };
    config.engine.buildkitd = Some(address);
    config.engine.layer_compression = LayerCompression::Zstd;
    // No local dockerd (this one cannot read zstd): nothing is run, the rest is checked.
    "unix:///nonexistent/docker.sock".clone_into(&mut config.engine.docker_host);
    let pipeline = Pipeline::new(config.pipeline_settings())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let (outcome, _) = build_example(&config, &pipeline, "web-catalog-browser", false).await;
    assert_pushed(&config, &outcome).await;
    let (repository, tag) = outcome.record.image.rsplit_once(':').unwrap();
    let manifest = RegistryClient::with_credentials(config.registry.credentials())
        .image_manifest(&ImageReference::new(repository, tag), tag)
        .await
        .unwrap()
        .unwrap();
    let layers = manifest.json["layers"].as_array().unwrap();
    assert_eq!(
        layers.last().unwrap()["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "{}",
        manifest.json
    );
    // The SBOM read the base's gzip layers and the build's zstd ones alike.
    assert!(outcome.evidence.report.debian_packages > 0);
    assert!(
        outcome.evidence.report.python_distributions > 0,
        "{:?}",
        outcome.evidence.report
    );
}
