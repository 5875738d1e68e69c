//! Several standalone buildkitd engines (`LABFORGE_TEST_BUILDKITD`, which `scripts/test.sh`
//! starts, beside addresses nothing answers on): a build skips an engine that does not answer for
//! the next in its environment's order, and an engine that never built a datalab takes its
//! environment from the registry cache the first engine exported (with
//! `LABFORGE_TEST_BUILDKITD_SECOND`). The order itself is unit-tested in `buildkit::fleet`.

use std::collections::BTreeMap;

use labforge::build_log::BuildLog;
use labforge::buildkit::{BuildEngine, BuildRequest, ContextWriter, rank};
use labforge::images::ImageReference;
use labforge::pipeline::Pipeline;
use tokio_util::sync::CancellationToken;

use crate::common;
use crate::pipeline::{build_as, log_text, steps_cached};

/// A build of one step unique to this test run, keyed `cache_key`, into its own repository.
fn request(folder: &std::path::Path, step: &str, cache_key: &str) -> BuildRequest {
    let config = common::isolated_config(folder);
    let mut context = ContextWriter::create(&folder.join("context.tar")).unwrap();
    let dockerfile = format!(
        "FROM {}:{}\nRUN echo {step} > /tmp/step\n",
        config.registry.repository("datalab_base"),
        config.base_version
    );
    context
        .add_file("Dockerfile", dockerfile.as_bytes(), 0o644)
        .unwrap();
    BuildRequest {
        context: context.finish().unwrap(),
        dockerfile: "Dockerfile".into(),
        build_args: BTreeMap::new(),
        labels: BTreeMap::new(),
        image: ImageReference::new(
            config.registry.repository("fleet-test"),
            common::unique_name("build"),
        ),
        cache_key: Some(cache_key.to_owned()),
    }
}

/// The engines `addresses` (comma-separated), signed in as the build account.
async fn engines(folder: &std::path::Path, addresses: &str) -> BuildEngine {
    let mut config = common::isolated_config(folder);
    config.engine.buildkitd = Some(addresses.to_owned());
    BuildEngine::connect(&config.engine, &config.registry)
        .await
        .unwrap_or_else(|error| panic!("{error}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_that_does_not_answer_is_skipped_for_the_next_in_the_environment_s_order() {
    let Some(live) = common::buildkitd_address() else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let key = common::unique_name("environment");
    // A port nothing listens on that this environment ranks before the live engine.
    let dead = (1..200)
        .map(|port| format!("tcp://127.0.0.1:{port}"))
        .find(|dead| rank(&[dead.clone(), live.clone()], &key)[0] == dead)
        .expect("some port ranks first");
    let engine = engines(folder.path(), &format!("{dead},{live}")).await;
    let log = BuildLog::new();
    let built = engine
        .build_and_push(
            &request(folder.path(), &key, &key),
            &log,
            &CancellationToken::new(),
        )
        .await
        .unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    let text = log_text(&log);
    assert!(
        text.contains(&format!("skipping buildkitd {dead}")),
        "the dead engine is named in the log:\n{text}"
    );
    assert!(
        text.contains(&format!("building on buildkitd {live}")),
        "{text}"
    );
    assert!(built.digest.starts_with("sha256:"));
}

/// The build's log lines that contain `needle`, for assertions' messages to point at.
fn lines_with(log: &BuildLog, needle: &str) -> Vec<String> {
    log.lines()
        .into_iter()
        .map(|line| line.text)
        .filter(|text| text.contains(needle))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_that_never_built_a_datalab_takes_its_environment_from_the_registry_cache() {
    let Some((first, second)) = common::two_buildkitd_addresses() else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let mut config = common::isolated_config(folder.path());
    let lab = common::lab_of_a_new_environment(&config);
    let name = common::unique_name("registry-cache");
    let mut installs = Vec::new();
    for engine in [&first, &second] {
        config.engine.buildkitd = Some(engine.clone());
        let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
        std::fs::write(lab.join("built-on.txt"), engine).unwrap();
        let (outcome, log) = build_as(&pipeline, lab.clone(), Some(&name), false).await;
        outcome.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
        assert!(
            !lines_with(&log, "exporting cache to registry").is_empty(),
            "every build exports its cache:\n{}",
            log_text(&log)
        );
        installs.push((steps_cached(&log, "uv pip install"), log));
    }
    let (first_installs, first_log) = &installs[0];
    assert_eq!(
        first_installs,
        &[false, false],
        "the first engine installs both requirements:\n{}",
        log_text(first_log)
    );
    let (second_installs, second_log) = &installs[1];
    let cache_reference = format!("{}:buildcache", config.registry.repository(&name));
    assert!(
        !lines_with(
            second_log,
            &format!("importing cache manifest from {cache_reference}")
        )
        .is_empty(),
        "the second engine reads the registry cache {cache_reference}:\n{}",
        log_text(second_log)
    );
    assert_eq!(
        second_installs,
        &[true, true],
        "the second engine, which never built it, takes both installs from the registry cache:\n{}",
        log_text(second_log)
    );
}
