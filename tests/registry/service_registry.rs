//! The registry served by `labforge serve` follows the service's accounts and each datalab's
//! visibility: real skopeo against the real router on a loopback port, on SQLite and PostgreSQL.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use labforge::accounts::Role;
use labforge::datalabs::registry_access::DatalabDirectory;
use labforge::registry::{Grants, RegistryState};
use serde_json::json;

use crate::common::datalabs;
use crate::common::registry_peers::{layer, run, write_dir_image};
use crate::common::service::{As, TestApp};
use crate::on_both_backends;

on_both_backends!(datalab_images_are_pulled_by_whoever_sees_the_datalab);

const BUILD_PASSWORD: &str = "build-account-secret";

/// Serves the whole service (API + registry with the datalab directory) on a free port.
async fn serve(app: &TestApp) -> String {
    serve_state(&app.config, app.state.clone(), BUILD_PASSWORD).await
}

/// Serves `state` (API and a registry state of its own over the data folder of `config`, with the
/// build account `ci` of `build_password`) on a free port; its address.
pub(crate) async fn serve_state(
    config: &labforge::config::Config,
    state: labforge::app::AppState,
    build_password: &str,
) -> String {
    let mut grants = Grants::default();
    grants.add_builder(&labforge::images::Credentials {
        username: "ci".to_owned(),
        password: build_password.to_owned(),
    });
    let registry = RegistryState::open(&config.registry_server, &config.data_dir, grants)
        .await
        .unwrap()
        .with_directory(Arc::new(DatalabDirectory::new(
            state.accounts.clone(),
            state.datalabs.clone(),
        )));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let router = labforge::app::app(state, registry);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

async fn inspect(address: &str, credentials: Option<&str>) -> (bool, String) {
    let reference = format!("docker://{address}/datalabs/olga-lab:0.0.1-0");
    let mut arguments = vec!["inspect", "--tls-verify=false", "--raw"];
    if let Some(credentials) = credentials {
        arguments.extend(["--creds", credentials]);
    }
    arguments.push(&reference);
    run("skopeo", &arguments, None).await
}

async fn datalab_images_are_pulled_by_whoever_sees_the_datalab(app: TestApp) {
    let olga = app.user("olga", Role::Author).await;
    app.user("rita", Role::Researcher).await;
    app.user("mona", Role::Moderator).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs",
            As::User(&olga),
            Some(json!({"name": "olga-lab", "kind": "jupyterlab"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let address = serve(&app).await;

    let image = app.folder.path().join("image");
    let digest = write_dir_image(&image, &[layer("a.bin", 1 << 20, 7)]);
    let destination = format!("docker://{address}/datalabs/olga-lab:0.0.1-0");
    let build_account = format!("ci:{BUILD_PASSWORD}");
    let (ok, output) = run(
        "skopeo",
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-creds",
            &build_account,
            &format!("dir:{}", image.display()),
            &destination,
        ],
        None,
    )
    .await;
    assert!(ok, "the build account pushes: {output}");

    // A private draft: its owner (by password or API token) and moderators pull; others do not.
    let olga_password = "olga:olga-password-long-enough";
    let olga_token = format!("olga:{}", olga.token);
    for (who, credentials, allowed) in [
        ("anonymous", None, false),
        ("the owner by password", Some(olga_password), true),
        ("the owner by API token", Some(olga_token.as_str()), true),
        (
            "a researcher",
            Some("rita:rita-password-long-enough"),
            false,
        ),
        ("a moderator", Some("mona:mona-password-long-enough"), true),
        (
            "the owner with a wrong password",
            Some("olga:not-her-password"),
            false,
        ),
    ] {
        let (ok, output) = inspect(&address, credentials).await;
        assert_eq!(ok, allowed, "{who}: {output}");
        if allowed {
            assert_eq!(
                labforge::registry::Digest::sha256_of(output.trim_end().as_bytes()),
                digest
            );
        }
    }

    // Owners do not push: only the build account and administrators do.
    let (ok, output) = run(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            olga_password,
            &format!("dir:{}", image.display()),
            &format!("docker://{address}/datalabs/olga-lab:tampered"),
        ],
        None,
    )
    .await;
    assert!(!ok, "an owner pushed: {output}");

    // An account named like the build account does not inherit its grants.
    app.user("ci", Role::Author).await;
    let (ok, _) = inspect(&address, Some("ci:ci-password-long-enough")).await;
    assert!(!ok, "a service account named like the build account pulled");

    // Published and public: anyone pulls, anonymous included.
    datalabs::set_state_of_named(&app.state.database, "olga-lab", "published", "public").await;
    let (ok, output) = inspect(&address, None).await;
    assert!(ok, "anonymous pull of a published public datalab: {output}");
}
