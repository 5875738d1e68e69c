//! `labforge rebase` against the real registry and dockerd: two published datalabs, a patch
//! release of `jl_base` that keeps its interface and one of `datalab_base` that does not. The
//! JupyterLab datalab is rewritten onto the patched base with its own layers' digests kept,
//! starts, passes its smoke test and its notebook again, becomes the next build and an event in
//! the History; the generic one is refused with the reason and left as it was.

use std::collections::BTreeMap;
use std::path::Path;

use axum::http::Method;
use labforge::accounts::Role;
use labforge::base_images::{BASE_INTERFACE_LABEL, BASE_NAME_LABEL, BASE_VERSION_LABEL};
use labforge::build_log::BuildLog;
use labforge::buildkit::{BuildEngine, BuildRequest, ContextWriter};
use labforge::images::{ImageReference, RegistryClient};
use labforge::pipeline::checks::NotebookOutcome;
use labforge::rebase::{RebaseResult, Rebaser};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::common;
use crate::common::real_builds;
use crate::common::service::{As, TestApp, TestUser};
use labforge::storage::Backend;

/// Copies `examples/<example>` into `folder` as a datalab named `name`.
fn example_as(folder: &Path, example: &str, name: &str) {
    let target = folder.join(example);
    common::copy_folder(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(example),
        &target,
    );
    let metadata = std::fs::read_to_string(target.join("metadata.yaml")).unwrap();
    std::fs::write(
        target.join("metadata.yaml"),
        metadata.replace(
            &format!("alternateName: {example}"),
            &format!("alternateName: {name}"),
        ),
    )
    .unwrap();
}

/// Pushes `datalabs/<base>:<version>`: the current base with `dockerfile_tail` on top, labelled as
/// version `version` of the same base (and with `labels`).
async fn patched_base(
    app: &TestApp,
    base: &str,
    version: &str,
    dockerfile_tail: &str,
    labels: &[(&str, &str)],
) -> ImageReference {
    let BuildEngine::Dockerd(engine) =
        BuildEngine::connect(&app.config.engine, &app.config.registry)
            .await
            .unwrap()
    else {
        panic!("the tests build with dockerd")
    };
    let scratch = tempfile::tempdir().unwrap();
    let mut context = ContextWriter::create(&scratch.path().join("context.tar")).unwrap();
    let current = app.config.registry.repository(base);
    let dockerfile = format!(
        "FROM {current}:{}\n{dockerfile_tail}",
        app.config.base_version
    );
    context
        .add_file("Dockerfile", dockerfile.as_bytes(), 0o644)
        .unwrap();
    let mut all_labels = BTreeMap::from([
        (BASE_NAME_LABEL.to_owned(), base.to_owned()),
        (BASE_VERSION_LABEL.to_owned(), version.to_owned()),
    ]);
    for (name, value) in labels {
        all_labels.insert((*name).to_owned(), (*value).to_owned());
    }
    let image = ImageReference::new(current, version);
    let request = BuildRequest {
        context: context.finish().unwrap(),
        dockerfile: "Dockerfile".to_owned(),
        build_args: BTreeMap::new(),
        labels: all_labels,
        image: image.clone(),
        cache_key: None,
    };
    engine
        .build_and_push(&request, &BuildLog::new(), &CancellationToken::new())
        .await
        .unwrap();
    image
}

async fn layers(registry: &RegistryClient, image: &ImageReference, reference: &str) -> Vec<String> {
    let manifest = registry
        .image_manifest(image, reference)
        .await
        .unwrap()
        .unwrap();
    manifest.json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// Build 1 of `lab` was checked like a build (smoke test, the notebook again, an SBOM) and is in
/// the History as a rebase onto `patch`.
async fn assert_checked_and_in_history(app: &TestApp, admin: &TestUser, lab: &str, patch: &str) {
    // Checked like a build: smoke test, the notebook again, an SBOM; launches now use it.
    let (_, after) = app
        .call(
            Method::GET,
            &format!("/api/datalabs/{lab}/versions/0.0.1/builds/1"),
            As::User(admin),
            None,
        )
        .await;
    assert_eq!(after["status"], "succeeded", "{after}");
    assert_eq!(after["smoke_test"]["passed"], true, "{after}");
    let notebook: Vec<&Value> = after["notebooks"]["notebooks"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(notebook.len(), 1, "{after}");
    assert_eq!(
        notebook[0]["outcome"],
        serde_json::to_value(NotebookOutcome::Passed).unwrap()
    );
    assert!(after["licence_report"]["debian_packages"].as_u64().unwrap() > 10);
    let (_, history) = app
        .call(
            Method::GET,
            &format!("/api/datalabs/{lab}/history"),
            As::User(admin),
            None,
        )
        .await;
    let event = history
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["action"] == "rebased")
        .unwrap_or_else(|| panic!("no rebase in the History: {history}"));
    assert_eq!(event["build"], "0.0.1-1");
    assert!(
        event["comment"]
            .as_str()
            .unwrap()
            .contains(&format!("onto {patch} without rebuilding")),
        "{event}"
    );
}

/// `labforge rebase`'s worker over the test app's database, the registry and the local dockerd.
async fn rebaser(app: &TestApp, registry: &RegistryClient) -> Rebaser {
    let daemon = labforge::buildkit::DockerdEngine::connect(&app.config.engine.docker_host)
        .await
        .unwrap()
        .with_registry_account(
            &app.config.registry.address,
            app.config.registry.credentials(),
        );
    Rebaser {
        database: app.state.database.clone(),
        registry: registry.clone(),
        target: app.config.registry.clone(),
        daemon,
        checks: app.config.checks.clone(),
    }
}

fn reference_of(image: &str) -> ImageReference {
    let (repository, tag) = image.rsplit_once(':').unwrap();
    ImageReference::new(repository, tag)
}

/// A JupyterLab and a generic example, built by the service's workers and published.
async fn publish_two_examples(app: &TestApp, admin: &TestUser) -> (String, String) {
    let workers = app.start_workers();
    let examples = app.folder.path().join("examples");
    let lab = common::unique_name("jl-rebase");
    let web = common::unique_name("web-rebase");
    example_as(&examples, "jl-photometry-demo", &lab);
    example_as(&examples, "web-catalog-browser", &web);
    let outcomes = labforge::datalabs::examples::set_up_examples(
        &app.state.accounts,
        &app.state.datalabs,
        &admin.name,
        &examples,
    )
    .await
    .unwrap();
    workers.stop().await;
    assert!(
        outcomes.iter().all(|outcome| outcome.failure.is_none()),
        "{outcomes:?}"
    );

    (lab, web)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patched_base_with_the_same_interface_is_rebased_onto_and_another_is_refused() {
    let app = TestApp::with_config(Backend::Sqlite, real_builds).await;
    let admin = app.user("root-rebase", Role::Admin).await;
    let (lab, web) = publish_two_examples(&app, &admin).await;

    let patch = format!(
        "{}-patch.{}",
        app.config.base_version,
        common::unique_name("p")
    );
    let interface = "python3.11 venv=/opt/datalab/venv uid=1000 jupyterlab=4";
    let jl_patch = patched_base(
        &app,
        "jl_base",
        &patch,
        "USER 0\nRUN echo patched > /etc/labforge-patch\nUSER 1000\n",
        &[(BASE_INTERFACE_LABEL, interface)],
    )
    .await;
    patched_base(
        &app,
        "datalab_base",
        &patch,
        "",
        &[(
            BASE_INTERFACE_LABEL,
            "python3.12 venv=/opt/datalab/venv uid=1000",
        )],
    )
    .await;

    let registry = RegistryClient::with_credentials(app.config.registry.credentials());
    let rebaser = rebaser(&app, &registry).await;
    let log = BuildLog::new();
    let outcomes = rebaser.rebase_published(&patch, false, &log).await.unwrap();
    let text: Vec<String> = log.lines().into_iter().map(|line| line.text).collect();
    let text = text.join("\n");
    println!("{text}");
    let outcome_of = |name: &str| {
        outcomes
            .iter()
            .find(|outcome| outcome.datalab == name)
            .unwrap_or_else(|| panic!("{name} is not among {outcomes:#?}"))
    };

    // The generic datalab: datalab_base's patch declares another Python, so it is refused.
    let RebaseResult::Refused { reason } = &outcome_of(&web).result else {
        panic!("{:#?}", outcome_of(&web));
    };
    assert!(
        reason.contains("declares the interface \"python3.12 venv=/opt/datalab/venv uid=1000\"")
            && reason.contains("rebuilt instead"),
        "{reason}"
    );

    // The JupyterLab datalab: the next build, on the patched base's layers under its own.
    let RebaseResult::Rebased {
        build,
        image,
        digest,
        own_layers,
        ..
    } = &outcome_of(&lab).result
    else {
        panic!("{:#?}\n{text}", outcome_of(&lab));
    };
    assert_eq!(*build, 1);
    let (_, before) = app
        .call(
            Method::GET,
            &format!("/api/datalabs/{lab}/versions/0.0.1/builds/0"),
            As::User(&admin),
            None,
        )
        .await;
    let original = reference_of(before["image"].as_str().unwrap());
    let original_layers = layers(&registry, &original, before["digest"].as_str().unwrap()).await;
    let base_layers = layers(&registry, &jl_patch, &patch).await;
    let new_layers = layers(&registry, &reference_of(image), digest).await;
    assert_eq!(new_layers[..base_layers.len()], base_layers[..]);
    assert_eq!(
        new_layers[base_layers.len()..],
        original_layers[original_layers.len() - own_layers..],
        "the datalab's own layers keep their digests"
    );
    assert!(*own_layers >= 2, "{own_layers}");

    assert_checked_and_in_history(&app, &admin, &lab, &patch).await;

    // Once on the patch, there is nothing left to do.
    let again = rebaser
        .rebase_published(&patch, false, &BuildLog::new())
        .await
        .unwrap();
    assert!(
        again.iter().all(|outcome| matches!(&outcome.result,
            RebaseResult::Refused { reason } if reason.contains("already on") || reason.contains("interface"))),
        "{again:#?}"
    );
}
