//! Two service instances on one PostgreSQL database and one content store, each with its own
//! registry state (as two `labforge serve` processes behind a load balancer): an image pushed
//! through one is pulled through the other by skopeo, and a chunked upload started on one is
//! continued, finished or cancelled on the other.

use std::sync::Arc;

use labforge::datalabs::registry_access::DatalabDirectory;
use labforge::registry::{Digest, Grants, RegistryState};
use labforge::storage::{Backend, Database};
use reqwest::StatusCode;

use crate::common::registry_peers::{layer, run, write_dir_image};
use crate::common::service::TestApp;

const BUILD_PASSWORD: &str = "two-processes-secret";

/// Serves `state` as a whole service (API and registry) over the data folder of `config` on a
/// free port, with its own registry state.
async fn serve(config: &labforge::config::Config, state: labforge::app::AppState) -> String {
    let mut grants = Grants::default();
    grants.add_builder(&labforge::images::Credentials {
        username: "ci".to_owned(),
        password: BUILD_PASSWORD.to_owned(),
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

/// A push token of the build account from the service on `address`.
async fn push_token(client: &reqwest::Client, address: &str, repository: &str) -> String {
    let token: serde_json::Value = client
        .get(format!("http://{address}/auth/token"))
        .query(&[("scope", format!("repository:{repository}:pull,push"))])
        .basic_auth("ci", Some(BUILD_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    format!("Bearer {}", token["token"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_images_and_uploads() {
    labforge::install_crypto_provider();
    let first = TestApp::new(Backend::Postgres).await;
    // The second instance: its own connections to the same database, its own registry state.
    let database = Database::open(&first.config.database, &first.config.data_dir)
        .await
        .unwrap();
    let second_state = labforge::app::AppState::new(&first.config, database);
    let one = serve(&first.config, first.state.clone()).await;
    let two = serve(&first.config, second_state).await;

    // skopeo pushes through one and reads back through the other.
    let image = tempfile::tempdir().unwrap();
    write_dir_image(image.path(), &[layer("hello.txt", 4096, 7)]);
    let credentials = format!("ci:{BUILD_PASSWORD}");
    let source = format!("dir:{}", image.path().display());
    let pushed = format!("docker://{one}/datalabs/shared-lab:1");
    let (ok, output) = run(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &credentials,
            &source,
            &pushed,
        ],
        None,
    )
    .await;
    assert!(ok, "{output}");
    let copy = tempfile::tempdir().unwrap();
    let pulled = format!("dir:{}", copy.path().join("image").display());
    let from_two = format!("docker://{two}/datalabs/shared-lab:1");
    let (ok, output) = run(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            &credentials,
            &from_two,
            &pulled,
        ],
        None,
    )
    .await;
    assert!(
        ok,
        "the second instance serves what the first stored: {output}"
    );

    let client = reqwest::Client::new();
    let repository = "datalabs/shared-upload";
    let authorization = push_token(&client, &one, repository).await;
    let across = Across {
        client: &client,
        one: &one,
        two: &two,
        repository,
        authorization: &authorization,
    };
    across.chunked_upload().await;
    across.cancelled_upload().await;
}

/// Requests to the two instances with one push token.
struct Across<'a> {
    client: &'a reqwest::Client,
    one: &'a str,
    two: &'a str,
    repository: &'a str,
    authorization: &'a str,
}

impl Across<'_> {
    /// Started on one, a chunk on two, a chunk on one, finished on two.
    async fn chunked_upload(&self) {
        let Self {
            client,
            one,
            two,
            repository,
            authorization,
        } = *self;
        let started = client
            .post(format!("http://{one}/v2/{repository}/blobs/uploads/"))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), StatusCode::ACCEPTED);
        let location = started.headers()["location"].to_str().unwrap().to_owned();
        let chunks: [&[u8]; 2] = [b"shared by ", b"two processes"];
        let mut offset = 0;
        for (chunk, address) in chunks.iter().zip([two, one]) {
            let end = offset + chunk.len() - 1;
            let answer = client
                .patch(format!("http://{address}{location}"))
                .header("authorization", authorization)
                .header("content-type", "application/octet-stream")
                .header("content-range", format!("{offset}-{end}"))
                .body(chunk.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::ACCEPTED, "chunk on {address}");
            assert_eq!(answer.headers()["range"], format!("0-{end}").as_str());
            offset = end + 1;
        }
        let whole: Vec<u8> = chunks.concat();
        let digest = Digest::sha256_of(&whole).to_string();
        let finished = client
            .put(format!("http://{two}{location}?digest={digest}"))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(finished.status(), StatusCode::CREATED);
        let blob = client
            .get(format!("http://{one}/v2/{repository}/blobs/{digest}"))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(blob.status(), StatusCode::OK);
        assert_eq!(blob.bytes().await.unwrap(), whole.as_slice());
        // Finished on two: one no longer takes chunks for it.
        let late = client
            .patch(format!("http://{one}{location}"))
            .header("authorization", authorization)
            .body(b"late".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(late.status(), StatusCode::NOT_FOUND);
    }

    /// Cancelled on one after a chunk on two: gone for both.
    async fn cancelled_upload(&self) {
        let Self {
            client,
            one,
            two,
            repository,
            authorization,
        } = *self;
        let started = client
            .post(format!("http://{one}/v2/{repository}/blobs/uploads/"))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        let location = started.headers()["location"].to_str().unwrap().to_owned();
        let answer = client
            .patch(format!("http://{two}{location}"))
            .header("authorization", authorization)
            .body(b"abandoned".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
        let cancelled = client
            .delete(format!("http://{one}{location}"))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(cancelled.status(), StatusCode::NO_CONTENT);
        let status = client
            .get(format!("http://{two}{location}"))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(status.status(), StatusCode::NOT_FOUND);
    }
}
