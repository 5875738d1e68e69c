//! The build pipeline end to end, against dockerd's BuildKit and labforge's registry on loopback.

use labforge::build_log::BuildLog;
use labforge::images::{ImageReference, RegistryClient};
use labforge::pipeline::{BuildHistory, BuildSpec, Pipeline, PipelineError};
use labforge::recipe::base::BaseImage;
use labforge::registry::Digest;
use labforge::sources::Source;
use tokio_util::sync::CancellationToken;

use crate::common;

async fn build(
    pipeline: &Pipeline,
    folder: std::path::PathBuf,
    smoke_test: bool,
) -> (
    Result<labforge::pipeline::BuildOutcome, PipelineError>,
    BuildLog,
) {
    build_as(pipeline, folder, None, smoke_test).await
}

/// Like [`build`], into the repository `name` instead of the one `metadata.yaml` names.
pub(crate) async fn build_as(
    pipeline: &Pipeline,
    folder: std::path::PathBuf,
    name: Option<&str>,
    smoke_test: bool,
) -> (
    Result<labforge::pipeline::BuildOutcome, PipelineError>,
    BuildLog,
) {
    let log = BuildLog::new();
    let spec = BuildSpec {
        source: Source::Workspace {
            root: folder
                .parent()
                .expect("labs live in a workspace")
                .to_path_buf(),
            path: folder,
        },
        name: name.map(str::to_owned),
        kind: None,
        smoke_test,
        history: BuildHistory::Index,
    };
    let outcome = pipeline.build(&spec, &log, &CancellationToken::new()).await;
    (outcome, log)
}

pub(crate) fn log_text(log: &BuildLog) -> String {
    log.lines()
        .iter()
        .map(|line| format!("{} {}", line.phase, line.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Step numbers of BuildKit vertices whose name contains `needle`, and whether each was cached.
pub(crate) fn steps_cached(log: &BuildLog, needle: &str) -> Vec<bool> {
    let text: Vec<String> = log.lines().into_iter().map(|line| line.text).collect();
    text.iter()
        .filter(|line| line.contains(needle) && line.starts_with('#'))
        .filter_map(|line| line.split_whitespace().next())
        .map(|number| text.iter().any(|line| *line == format!("{number} CACHED")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn jupyterlab_lab_builds_answers_its_health_check_then_rebuilds_only_what_changed() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = common::copy_example(&config, "jl-photometry-demo");
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    // Its own repository: the registry keeps every tag, so numbering starts at 0 only there.
    let name = common::unique_name("jl-photometry-demo");

    let (first, log) = build_as(&pipeline, lab.clone(), Some(&name), true).await;
    let first = first.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    assert!(!first.reused);
    assert_eq!(first.record.number, 0);
    assert!(
        first
            .record
            .image
            .ends_with(&format!("/datalabs/{name}:0.0.1-0")),
        "{}",
        first.record.image
    );
    let smoke = first
        .smoke_test
        .as_ref()
        .expect("jupyterlab labs are smoke-tested");
    assert!(
        smoke.passed && smoke.health_url_path == "/api/status",
        "{smoke:?}"
    );
    assert_eq!(smoke.title.as_deref(), Some("JupyterLab"), "{smoke:?}");
    let (repository, tag) = first.record.image.rsplit_once(':').unwrap();
    let in_registry = RegistryClient::with_credentials(config.registry.credentials())
        .manifest_digest(&ImageReference::new(repository, tag))
        .await
        .unwrap();
    assert_eq!(in_registry.as_deref(), Some(first.record.digest.as_str()));
    assert!(
        first.lint.is_empty(),
        "generated Dockerfiles are hadolint-clean: {:?}",
        first.lint
    );

    // A notebook edit: the environment layers come from BuildKit's cache, a new build is pushed.
    let notebook = lab.join("photometry.ipynb");
    let text = std::fs::read_to_string(&notebook).unwrap();
    std::fs::write(&notebook, text.replace("# Aperture", "# Simple aperture")).unwrap();
    let (second, log) = build_as(&pipeline, lab.clone(), Some(&name), false).await;
    let second = second.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    assert_eq!(second.record.number, 1);
    assert_eq!(
        second.record.environment_hash,
        first.record.environment_hash
    );
    assert_ne!(second.record.content_hash, first.record.content_hash);
    assert_ne!(second.record.digest, first.record.digest);
    let environment_steps = steps_cached(&log, "uv pip install");
    assert!(!environment_steps.is_empty(), "{}", log_text(&log));
    assert!(
        environment_steps.iter().all(|cached| *cached),
        "no dependency work:\n{}",
        log_text(&log)
    );
    assert!(log_text(&log).contains("environment unchanged since build 0.0.1-0"));

    // Nothing changed: no build at all, the last image is reused.
    let (third, log) = build_as(&pipeline, lab, Some(&name), false).await;
    let third = third.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    assert!(third.reused, "{}", log_text(&log));
    assert_eq!(third.record.digest, second.record.digest);
    assert!(
        !log_text(&log).contains("solve"),
        "no solve when nothing changed:\n{}",
        log_text(&log)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_is_private_in_labforge_s_registry_and_the_bases_are_public() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let credentials = config
        .registry
        .credentials()
        .expect("scripts/test.sh gives the test registry a build account");
    let lab = common::copy_example(&config, "web-catalog-browser");
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let log = BuildLog::new();
    let spec = BuildSpec {
        source: Source::Workspace {
            root: config.sources.workspace_root.clone(),
            path: lab,
        },
        // Its own repository: other tests push this example under its own name concurrently.
        name: Some("private-catalog-browser".to_owned()),
        kind: None,
        smoke_test: false,
        history: BuildHistory::Index,
    };
    let outcome = pipeline
        .build(&spec, &log, &CancellationToken::new())
        .await
        .unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    let (repository, tag) = outcome.record.image.rsplit_once(':').unwrap();
    let path = repository
        .strip_prefix(&format!("{}/", config.registry.address))
        .expect("the image is in the configured registry");
    let manifest = format!("{path}/manifests/{tag}");

    let anonymous = common::registry_get(&manifest, None).await;
    assert_eq!(anonymous.status(), 401, "datalabs are private");
    let builder = common::registry_get(&manifest, Some(&credentials)).await;
    assert_eq!(builder.status(), 200);
    assert_eq!(
        builder.headers()["docker-content-digest"].to_str().unwrap(),
        outcome.record.digest,
        "the registry holds the image the build recorded"
    );

    // Anyone pulls a base: its manifest, then the blobs it names, checked against their digest.
    let base = labforge::base_images::base_image_reference(
        &config.base_image_settings(),
        BaseImage::JlBase,
    );
    let answer =
        common::registry_get(&format!("{}/manifests/{}", base.path(), base.tag), None).await;
    assert_eq!(answer.status(), 200, "{base} pulls anonymously");
    let base_manifest: serde_json::Value = answer.json().await.unwrap();
    let config_digest = base_manifest["config"]["digest"].as_str().unwrap();
    let blob = common::registry_get(&format!("{}/blobs/{config_digest}", base.path()), None).await;
    assert_eq!(blob.status(), 200);
    let bytes = blob.bytes().await.unwrap();
    assert_eq!(Digest::sha256_of(&bytes).to_string(), config_digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn generic_lab_runs_its_declared_command_and_port() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = common::copy_example(&config, "web-catalog-browser");
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    // Its own repository: `cli` pushes this example under its own name in the same process and
    // expects its digest to still be there when it builds again.
    let (outcome, log) = build_as(&pipeline, lab, Some("generic-catalog-browser"), true).await;
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    let smoke = outcome
        .smoke_test
        .expect("generic labs with a service are smoke-tested");
    assert!(
        smoke.passed && smoke.health_url_path == "/health",
        "{smoke:?}"
    );
    // The health page is plain text: the title is the front page's, as a browser shows it.
    assert_eq!(smoke.status, Some(200), "{smoke:?}");
    assert_eq!(
        smoke.title.as_deref(),
        Some("Catalogue browser"),
        "{smoke:?}"
    );
    assert_eq!(smoke.title_path.as_deref(), Some("/"), "{smoke:?}");
    let labforge::buildkit::BuildEngine::Dockerd(engine) = pipeline.engine() else {
        panic!("the tests build with dockerd")
    };
    let image = engine
        .docker()
        .inspect_image(&outcome.record.image)
        .await
        .unwrap();
    let labels = image
        .config
        .and_then(|config| config.labels)
        .unwrap_or_default();
    let label = |key: &str| labels.get(key).map(String::as_str);
    assert_eq!(label("org.labforge.port"), Some("8050"));
    assert_eq!(label("org.labforge.health-path"), Some("/health"));
    assert_eq!(
        label("org.opencontainers.image.licenses"),
        Some("BSD-3-Clause")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_dockerfile_from_an_unapproved_base_is_refused_before_building() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = common::copy_example(&config, "jl-photometry-demo");
    std::fs::write(lab.join("Dockerfile"), "FROM python:3.12\nCOPY . /app\n").unwrap();
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let (outcome, log) = build(&pipeline, lab, false).await;
    let error = outcome
        .expect_err("an unapproved base must be refused")
        .to_string();
    assert!(error.contains("python:3.12"), "{error}");
    assert!(
        error.contains("$REGISTRY/datalabs/"),
        "the message shows the approved form: {error}"
    );
    assert!(!log_text(&log).contains("solve"), "nothing was built");
    let staging = config.data_dir.join("staging");
    assert_eq!(
        std::fs::read_dir(&staging).unwrap().count(),
        0,
        "the staging folder is cleaned up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_user_dockerfile_with_a_lint_error_fails_with_the_finding() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = common::copy_example(&config, "jl-photometry-demo");
    std::fs::write(
        lab.join("Dockerfile"),
        "ARG REGISTRY\nARG JL_BASE_VERSION\nFROM $REGISTRY/datalabs/jl_base:$JL_BASE_VERSION\n\
         COPY --chown=1000:1000 . /home/datalab/lab\nRUN cd /home/datalab/lab && ls\n\
         ENTRYPOINT foo bar\nENTRYPOINT [\"x\"]\n",
    )
    .unwrap();
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let (outcome, _) = build(&pipeline, lab, false).await;
    let error = outcome
        .expect_err("error-level findings fail the build")
        .to_string();
    assert!(error.contains("hadolint found errors"), "{error}");
    assert!(
        error.contains("DL4004"),
        "multiple ENTRYPOINTs is an error-level finding: {error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_without_metadata_is_refused_with_what_to_add() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = config.sources.workspace_root.join("empty-lab");
    std::fs::create_dir_all(&lab).unwrap();
    std::fs::write(lab.join("notebook.ipynb"), "{}").unwrap();
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let (outcome, _) = build(&pipeline, lab, false).await;
    let error = outcome.expect_err("metadata.yaml is required").to_string();
    assert!(
        error.contains("metadata.yaml") && error.contains("alternateName"),
        "{error}"
    );
}

/// A pipeline of its own data folder (another machine, a fresh clone) on the shared registry,
/// building from `workspace_root` when given.
async fn pipeline_in(
    folder: &std::path::Path,
    workspace_root: Option<&std::path::Path>,
) -> (labforge::config::Config, Pipeline) {
    let mut config = common::isolated_config(folder);
    if let Some(root) = workspace_root {
        config.sources.workspace_root = root.to_owned();
    }
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    (config, pipeline)
}

async fn build_recorded(
    pipeline: &Pipeline,
    folder: std::path::PathBuf,
    name: &str,
    number: u32,
) -> Result<labforge::pipeline::BuildOutcome, PipelineError> {
    let spec = BuildSpec {
        source: Source::Workspace {
            root: folder
                .parent()
                .expect("labs live in a workspace")
                .to_path_buf(),
            path: folder,
        },
        name: Some(name.to_owned()),
        kind: None,
        smoke_test: false,
        history: BuildHistory::Recorded {
            version: "0.0.1".to_owned(),
            number,
            previous: None,
            stored_metadata: None,
        },
    };
    pipeline
        .build(&spec, &BuildLog::new(), &CancellationToken::new())
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_data_folder_cannot_overwrite_a_tag() {
    let name = common::unique_name("tag-keeper");
    let first_machine = tempfile::tempdir().unwrap();
    let (config, first_pipeline) = pipeline_in(first_machine.path(), None).await;
    let lab = common::copy_example(&config, "web-catalog-browser");
    let (first, log) = build_as(&first_pipeline, lab.clone(), Some(&name), false).await;
    let first = first.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    assert_eq!(first.record.number, 0);

    // Another data folder, other content: it numbers after the registry's tags, not its own index.
    let second_machine = tempfile::tempdir().unwrap();
    let (_, second_pipeline) =
        pipeline_in(second_machine.path(), Some(&config.sources.workspace_root)).await;
    std::fs::write(lab.join("catalogue.csv"), "name,ra,dec\nM31,10.68,41.27\n").unwrap();
    let (second, log) = build_as(&second_pipeline, lab.clone(), Some(&name), false).await;
    let second = second.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    assert_eq!(second.record.number, 1, "{}", log_text(&log));
    assert_ne!(second.record.digest, first.record.digest);
    let registry = RegistryClient::with_credentials(config.registry.credentials());
    let (repository, tag) = first.record.image.rsplit_once(':').unwrap();
    let still = registry
        .manifest_digest(&ImageReference::new(repository, tag))
        .await
        .unwrap();
    assert_eq!(still.as_deref(), Some(first.record.digest.as_str()));

    // A service whose database numbers this build 0 again is refused before anything is built.
    std::fs::write(lab.join("catalogue.csv"), "name,ra,dec\nM33,23.46,30.66\n").unwrap();
    let error = build_recorded(&second_pipeline, lab, &name, 0)
        .await
        .expect_err("an existing tag is never overwritten")
        .to_string();
    assert!(
        error.contains(&format!("{name}:0.0.1-0")) && error.contains("already"),
        "{error}"
    );
    let still = registry
        .manifest_digest(&ImageReference::new(repository, tag))
        .await
        .unwrap();
    assert_eq!(still.as_deref(), Some(first.record.digest.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_build_without_a_working_registry_account_stops_before_building() {
    let folder = tempfile::tempdir().unwrap();
    let mut config = common::isolated_config(folder.path());
    let lab = common::copy_example(&config, "web-catalog-browser");
    let name = common::unique_name("no-account");

    config.registry.username = None;
    config.registry.password = None;
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let (outcome, log) = build_as(&pipeline, lab.clone(), Some(&name), false).await;
    let error = outcome.expect_err("no account, no push").to_string();
    assert!(
        error.contains("LABFORGE_REGISTRY_USERNAME")
            && error.contains("LABFORGE_REGISTRY_PASSWORD")
            && error.contains("registry-builder-password"),
        "{error}"
    );
    assert!(!log_text(&log).contains("solve"), "{}", log_text(&log));

    config.registry.username = Some("builder".to_owned());
    config.registry.password = Some("not-the-password".to_owned());
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let (outcome, log) = build_as(&pipeline, lab, Some(&name), false).await;
    let error = outcome.expect_err("a wrong password, no push").to_string();
    assert!(
        error.contains("`builder`") && error.contains("LABFORGE_REGISTRY_PASSWORD"),
        "{error}"
    );
    assert!(!log_text(&log).contains("solve"), "{}", log_text(&log));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_build_log_names_no_other_datalab_and_a_folder_leaves_no_local_path() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = common::copy_example(&config, "web-catalog-browser");
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let private = common::unique_name("private-neighbour");
    let (outcome, log) = build_as(&pipeline, lab.clone(), Some(&private), false).await;
    outcome.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));

    // The same layers under another name: the registry mounts them from the first repository.
    let public = common::unique_name("public-lab");
    let (outcome, log) = build_as(&pipeline, lab.clone(), Some(&public), false).await;
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    let text = log_text(&log);
    assert!(!text.contains(&private), "{text}");
    assert!(!text.contains("Mounted from"), "{text}");

    let labforge::buildkit::BuildEngine::Dockerd(engine) = pipeline.engine() else {
        panic!("the tests build with dockerd")
    };
    let image = engine
        .docker()
        .inspect_image(&outcome.record.image)
        .await
        .unwrap();
    let labels = image
        .config
        .and_then(|config| config.labels)
        .unwrap_or_default();
    let local = folder.path().to_str().unwrap();
    assert!(
        labels.values().all(|value| !value.contains(local)),
        "{labels:?}"
    );
    assert!(
        !labels.contains_key("org.opencontainers.image.source"),
        "a folder has no public source: {labels:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_install_ends_with_the_cause_and_its_requirement_line() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = common::copy_example(&config, "jl-photometry-demo");
    std::fs::write(lab.join("requirements.txt"), "numpy\npython\n").unwrap();
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let name = common::unique_name("failed-install");
    let (outcome, log) = build_as(&pipeline, lab, Some(&name), false).await;
    let error = outcome.expect_err("python is no package").to_string();
    let last = error.lines().last().unwrap_or_default();
    assert!(
        last.contains("python was not found in the package registry"),
        "{error}\n{}",
        log_text(&log)
    );
    assert!(
        last.contains("requirements.txt line 2") && last.contains("`python`"),
        "{error}"
    );
    assert!(!last.contains("executor failed"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metadata_file_that_is_not_utf8_is_reported_as_such() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = config.sources.workspace_root.join("latin-1-lab");
    std::fs::create_dir_all(&lab).unwrap();
    std::fs::write(
        lab.join("metadata.yaml"),
        b"title: Lab\nabstract: Donn\xe9es du ciel\n",
    )
    .unwrap();
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let (outcome, _) = build(&pipeline, lab, false).await;
    let error = outcome.expect_err("not UTF-8").to_string();
    assert!(
        error.contains("not UTF-8") && error.contains("line 2") && error.contains("column 15"),
        "{error}"
    );
    assert!(!error.contains("no metadata.yaml"), "{error}");
}
