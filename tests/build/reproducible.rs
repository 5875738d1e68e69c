//! Reproducible environment layers: the same sources built on two standalone buildkitd engines
//! (`LABFORGE_TEST_BUILDKITD` and `LABFORGE_TEST_BUILDKITD_SECOND`, which `scripts/test.sh`
//! starts), neither of which has built the environment before, give environment layers with the
//! same digests: labforge's recipe sets every file uv installed (and the base-packages list) to
//! one modification time, so the layers hold the same bytes.

use labforge::images::{ImageReference, RegistryClient};
use labforge::pipeline::Pipeline;

use crate::common;
use crate::pipeline::{build_as, log_text, steps_cached};

async fn layers(registry: &RegistryClient, image: &str) -> Vec<String> {
    let (repository, tag) = image.rsplit_once(':').unwrap();
    let manifest = registry
        .image_manifest(&ImageReference::new(repository, tag), tag)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{image} is not in the registry"));
    manifest.json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["digest"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_environment_built_twice_from_an_empty_cache_has_the_same_layer_digests() {
    let Some((first, second)) = common::two_buildkitd_addresses() else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let mut config = common::isolated_config(folder.path());
    let lab = common::lab_of_a_new_environment(&config);
    let registry = RegistryClient::with_credentials(config.registry.credentials());
    let base = config.registry.repository("jl_base");
    let base_layers = layers(&registry, &format!("{base}:{}", config.base_version)).await;
    let mut environments = Vec::new();
    for engine in [first, second] {
        // A datalab of its own on each engine: the second must not find the first's layers in
        // the registry cache, which is per datalab.
        let name = common::unique_name("reproducible");
        config.engine.buildkitd = Some(engine.clone());
        let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
        // A new content each time, so the second build is not a reuse of the first image.
        std::fs::write(lab.join("built-on.txt"), &engine).unwrap();
        let (outcome, log) = build_as(&pipeline, lab.clone(), Some(&name), false).await;
        let outcome = outcome.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
        let installs = steps_cached(&log, "uv pip install");
        assert_eq!(
            installs,
            [false, false],
            "both requirements installed from an empty cache on {engine}:\n{}",
            log_text(&log)
        );
        let image_layers = layers(&registry, &outcome.record.image).await;
        assert_eq!(image_layers[..base_layers.len()], base_layers[..]);
        // The base-packages list and one layer per requirement, before the content.
        environments.push(image_layers[base_layers.len()..base_layers.len() + 3].to_vec());
    }
    assert_eq!(
        environments[0], environments[1],
        "the environment layers built on both engines"
    );
}
