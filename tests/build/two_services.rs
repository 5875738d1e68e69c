//! Two `labforge serve` processes on one PostgreSQL database and one data folder (its content
//! store), as behind a load balancer: an image pushed through one is pulled through the other by
//! skopeo, a chunked upload started on one is continued and finished or cancelled on the other,
//! and the builds queued for several datalabs are claimed by the workers of both, each build by
//! exactly one worker, and all succeed.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use axum::http::StatusCode;
use labforge::accounts::Role;
use labforge::datalabs::BuildStatus;
use labforge::registry::Digest;
use labforge::storage::Backend;
use serde_json::json;

use crate::common;
use crate::common::registry_peers::{layer, run, write_dir_image};
use crate::common::service::{As, TestApp, TestUser};

/// How many datalabs get a build: more than the two processes' one worker each.
const DATALABS: usize = 4;

/// One `labforge serve` child process, killed when dropped.
struct Serve {
    address: String,
    log: std::path::PathBuf,
    _child: tokio::process::Child,
}

impl Serve {
    /// Starts `labforge serve` with the configuration file `config` and one build worker; returns
    /// once it answers.
    async fn start(config: &Path, app: &TestApp, name: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let log = app.folder.path().join(format!("{name}.log"));
        let output = std::fs::File::create(&log).unwrap();
        let credentials = app.config.registry.credentials().unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_labforge"))
            .arg("serve")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("LABFORGE_CONFIG", config)
            .env("LABFORGE_LISTEN", &address)
            .env("LABFORGE_BUILD_CONCURRENCY", "1")
            .env("LABFORGE_REGISTRY_USERNAME", &credentials.username)
            .env("LABFORGE_REGISTRY_PASSWORD", &credentials.password)
            .stdout(Stdio::from(output.try_clone().unwrap()))
            .stderr(Stdio::from(output))
            .kill_on_drop(true)
            .spawn()
            .expect("labforge serve starts");
        let serve = Self {
            address,
            log,
            _child: child,
        };
        let client = reqwest::Client::new();
        for _ in 0..600 {
            let answer = client
                .get(format!("http://{}/v2/", serve.address))
                .send()
                .await;
            if answer.is_ok() {
                return serve;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("labforge serve never answered:\n{}", serve.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A datalab of the web catalogue example in `owner`'s workspace, with version 0.0.1 and one
/// build queued; its name.
async fn queued_datalab(app: &TestApp, owner: &TestUser) -> String {
    let name = common::unique_name("two-services");
    let folder = app.workspace_of(owner).join(&name);
    common::copy_folder(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/web-catalog-browser"),
        &folder,
    );
    app.create_datalab_with_version(
        owner,
        &name,
        "generic",
        "0.0.1",
        json!({"kind": "workspace", "path": name}),
    )
    .await;
    crate::build_queue::queue(app, owner, &name).await;
    name
}

#[tokio::test(flavor = "multi_thread")]
async fn two_serve_processes_share_images_uploads_and_the_build_queue() {
    labforge::install_crypto_provider();
    let app = TestApp::with_config(Backend::Postgres, common::real_builds).await;
    let alice = app.user("alice", Role::Author).await;
    let mut names = Vec::new();
    for _ in 0..DATALABS {
        names.push(queued_datalab(&app, &alice).await);
    }
    // The file has the last word over the environment: each process's address and worker count
    // are left to its environment.
    let mut table = toml::Table::try_from(&app.config).unwrap();
    for (section, key) in [("server", "listen"), ("build_queue", "concurrency")] {
        table[section].as_table_mut().unwrap().remove(key);
    }
    let config = app.folder.path().join("labforge.toml");
    std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
    let one = Serve::start(&config, &app, "one").await;
    let two = Serve::start(&config, &app, "two").await;

    image_pushed_through_one_is_pulled_through_the_other(&app, &one.address, &two.address).await;
    let client = reqwest::Client::new();
    let repository = "datalabs/shared-upload";
    let credentials = app.config.registry.credentials().unwrap();
    let authorization = push_token(&client, &one.address, repository, &credentials).await;
    let across = Across {
        client: &client,
        one: &one.address,
        two: &two.address,
        repository,
        authorization: &authorization,
    };
    across.chunked_upload().await;
    across.cancelled_upload().await;

    let mut workers = Vec::new();
    for name in &names {
        let path = format!("/api/datalabs/{name}/versions/0.0.1/builds/0");
        let build = app
            .wait_for(&path, As::User(&alice), Duration::from_mins(10), |build| {
                build["status"] != "queued" && build["status"] != "running"
            })
            .await;
        assert_eq!(
            build["status"],
            "succeeded",
            "{build}\n--- one:\n{}\n--- two:\n{}",
            one.log_text(),
            two.log_text()
        );
        workers.push(worker_of(&app, name).await);
    }
    // Each build was claimed once (a second claim would have left a second build or a failure),
    // and by a worker of one of the two processes; both took part.
    let processes: std::collections::BTreeSet<String> = workers
        .iter()
        .map(|worker| worker.rsplit_once('-').unwrap().0.to_owned())
        .collect();
    assert_eq!(processes.len(), 2, "both processes built: {workers:?}");
}

/// The worker that ran build 0 of `name`'s version 0.0.1; that it is the only build of the
/// version.
async fn worker_of(app: &TestApp, name: &str) -> String {
    let database = &app.state.database;
    let datalab = database.datalab_by_name(name).await.unwrap().unwrap();
    let version = database
        .version_of(&datalab.id, "0.0.1")
        .await
        .unwrap()
        .unwrap();
    let builds = database.builds_of_version(&version.id).await.unwrap();
    assert_eq!(builds.len(), 1, "{builds:?}");
    assert_eq!(builds[0].status, BuildStatus::Succeeded);
    builds[0].worker.clone().expect("a worker claimed it")
}

async fn image_pushed_through_one_is_pulled_through_the_other(app: &TestApp, one: &str, two: &str) {
    let image = tempfile::tempdir().unwrap();
    write_dir_image(image.path(), &[layer("hello.txt", 4096, 7)]);
    let credentials = app.config.registry.credentials().unwrap();
    let credentials = format!("{}:{}", credentials.username, credentials.password);
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
        "the second process serves what the first stored: {output}"
    );
}

/// A push token of the build account from the service on `address`.
async fn push_token(
    client: &reqwest::Client,
    address: &str,
    repository: &str,
    credentials: &labforge::images::Credentials,
) -> String {
    let token: serde_json::Value = client
        .get(format!("http://{address}/auth/token"))
        .query(&[("scope", format!("repository:{repository}:pull,push"))])
        .basic_auth(&credentials.username, Some(&credentials.password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    format!("Bearer {}", token["token"].as_str().unwrap())
}

/// Requests to the two processes with one push token.
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
