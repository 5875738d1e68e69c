//! Two service instances on one PostgreSQL database and one content store, each with its own
//! registry state (as two `labforge serve` processes behind a load balancer): an image pushed
//! through one is pulled through the other by skopeo, and a chunked upload started on one is
//! continued, finished or cancelled on the other.

use labforge::registry::Digest;
use labforge::storage::{Backend, Database};
use reqwest::StatusCode;

use crate::common::registry_peers::{layer, run, write_dir_image};
use crate::common::service::TestApp;
use crate::service_registry::serve_state;

const BUILD_PASSWORD: &str = "two-processes-secret";

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
    let one = serve_state(&first.config, first.state.clone(), BUILD_PASSWORD).await;
    let two = serve_state(&first.config, second_state, BUILD_PASSWORD).await;

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
    /// `method` on `address` (one of the two) for `path`, with the token and `body`.
    async fn send(
        &self,
        method: reqwest::Method,
        address: &str,
        path: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.client
            .request(method, format!("http://{address}{path}"))
            .header("authorization", self.authorization)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Starts an upload on `address`; its location.
    async fn start(&self, address: &str) -> String {
        let uploads = format!("/v2/{}/blobs/uploads/", self.repository);
        let started = self
            .send(reqwest::Method::POST, address, &uploads, Vec::new())
            .await;
        assert_eq!(started.status(), StatusCode::ACCEPTED);
        started.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Started on one, a chunk on two, a chunk on one, finished on two.
    async fn chunked_upload(&self) {
        let (one, two) = (self.one, self.two);
        let location = self.start(one).await;
        let chunks: [&[u8]; 2] = [b"shared by ", b"two processes"];
        let mut offset = 0;
        for (chunk, address) in chunks.iter().zip([two, one]) {
            let end = offset + chunk.len() - 1;
            let answer = self
                .client
                .patch(format!("http://{address}{location}"))
                .header("authorization", self.authorization)
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
        let finish = format!("{location}?digest={digest}");
        let finished = self
            .send(reqwest::Method::PUT, two, &finish, Vec::new())
            .await;
        assert_eq!(finished.status(), StatusCode::CREATED);
        let blob_path = format!("/v2/{}/blobs/{digest}", self.repository);
        let blob = self
            .send(reqwest::Method::GET, one, &blob_path, Vec::new())
            .await;
        assert_eq!(blob.status(), StatusCode::OK);
        assert_eq!(blob.bytes().await.unwrap(), whole.as_slice());
        // Finished on two: one no longer takes chunks for it.
        let late = self
            .send(reqwest::Method::PATCH, one, &location, b"late".to_vec())
            .await;
        assert_eq!(late.status(), StatusCode::NOT_FOUND);
    }

    /// Cancelled on one after a chunk on two: gone for both.
    async fn cancelled_upload(&self) {
        let (one, two) = (self.one, self.two);
        let location = self.start(one).await;
        let answer = self
            .send(
                reqwest::Method::PATCH,
                two,
                &location,
                b"abandoned".to_vec(),
            )
            .await;
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
        let cancelled = self
            .send(reqwest::Method::DELETE, one, &location, Vec::new())
            .await;
        assert_eq!(cancelled.status(), StatusCode::NO_CONTENT);
        let status = self
            .send(reqwest::Method::GET, two, &location, Vec::new())
            .await;
        assert_eq!(status.status(), StatusCode::NOT_FOUND);
    }
}
