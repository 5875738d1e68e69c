//! Shared harness for the integration tests, one module of each area binary (`tests/api`,
//! `tests/build`, `tests/registry`): the real parts (dockerd, labforge's registry on loopback with a
//! build account, the base images) are started once by `scripts/test.sh`; this module checks they
//! are there and gives each test its own data folder and workspace. Everything a test starts
//! itself (a database, a registry, a git server) gets a fresh name or a free port, because the
//! modules of one binary run their tests side by side in one process.

#![allow(
    dead_code,
    reason = "each area binary uses its own part of the harness"
)]

pub mod datalabs;
pub mod git_server;
pub mod registry_peers;
pub mod service;

use std::path::{Path, PathBuf};

use labforge::config::Config;
use labforge::images::Credentials;

/// The registry the test command started (`LABFORGE_TEST_REGISTRY`).
pub fn registry_address() -> String {
    std::env::var("LABFORGE_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5005".to_owned())
}

/// The build account on that registry (`LABFORGE_TEST_REGISTRY_USERNAME` / `_PASSWORD`), which
/// `scripts/test.sh` gives the registry it starts.
pub fn registry_credentials() -> Option<Credentials> {
    Some(Credentials {
        username: std::env::var("LABFORGE_TEST_REGISTRY_USERNAME").ok()?,
        password: std::env::var("LABFORGE_TEST_REGISTRY_PASSWORD").ok()?,
    })
}

/// The standalone buildkitd the test command started (`LABFORGE_TEST_BUILDKITD`, a
/// `tcp://host:port`); `None`, with a line saying the test is skipped, when it is unset.
pub fn buildkitd_address() -> Option<String> {
    let address = std::env::var("LABFORGE_TEST_BUILDKITD").ok();
    if address.is_none() {
        println!(
            "skipped: LABFORGE_TEST_BUILDKITD is not set; `bash scripts/test.sh` builds and starts \
             buildkitd (scripts/lib.sh's start_buildkitd) and sets it"
        );
    }
    address
}

/// A configuration isolated in `folder`: its own data folder and workspace root, the shared
/// registry (signed in to as the build account) and dockerd. Panics with the fix when the real
/// parts are not running.
pub fn isolated_config(folder: &Path) -> Config {
    let registry = registry_address();
    // Any HTTP answer will do: labforge's registry answers 401 until a token is presented.
    let answer = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", &format!("http://{registry}/v2/")])
        .output()
        .expect("curl runs");
    assert!(
        answer.status.success(),
        "no registry answers on {registry}: run the suite with `bash scripts/test.sh`"
    );
    let mut config = Config::load().expect("configuration loads");
    config.registry.address = registry;
    let credentials = registry_credentials();
    config.registry.username = credentials.as_ref().map(|account| account.username.clone());
    config.registry.password = credentials.map(|account| account.password);
    config.data_dir = folder.join("data");
    config.sources.workspace_root = folder.join("workspace");
    std::fs::create_dir_all(&config.sources.workspace_root).unwrap();
    config
}

/// Adjusts a test app's configuration to build for real: the test command's registry, build
/// engine and packaging tools, and one build worker.
pub fn real_builds(config: &mut Config) {
    let scratch = tempfile::tempdir().unwrap();
    let shared = isolated_config(scratch.path());
    config.registry = shared.registry;
    config.engine = shared.engine;
    config.packaging = shared.packaging;
    config.build_queue.concurrency = 1;
}

/// The two standalone buildkitd engines the test command starts (`LABFORGE_TEST_BUILDKITD` and
/// `LABFORGE_TEST_BUILDKITD_SECOND`); `None` (the test is skipped, saying so) without them.
pub fn two_buildkitd_addresses() -> Option<(String, String)> {
    let first = buildkitd_address()?;
    let Ok(second) = std::env::var("LABFORGE_TEST_BUILDKITD_SECOND") else {
        println!(
            "skipped: LABFORGE_TEST_BUILDKITD_SECOND is not set (`bash scripts/test.sh` sets it)"
        );
        return None;
    };
    Some((first, second))
}

/// The photometry example with requirements no other build has (so no engine holds their
/// environment in its own cache) that resolve to the same packages every time.
pub fn lab_of_a_new_environment(config: &Config) -> PathBuf {
    let lab = copy_example(config, "jl-photometry-demo");
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::fs::write(
        lab.join("requirements.txt"),
        format!("toolz>=0.0.{run}\nmore-itertools>=0.0.{run}\n"),
    )
    .unwrap();
    lab
}

/// Copies `examples/<name>` into the workspace and returns the copy's path.
pub fn copy_example(config: &Config, name: &str) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let target = config.sources.workspace_root.join(name);
    copy_folder(&source, &target);
    target
}

pub fn copy_folder(source: &Path, target: &Path) {
    std::fs::create_dir_all(target).unwrap();
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&path, &target.join(entry.file_name()));
        } else {
            std::fs::copy(&path, target.join(entry.file_name())).unwrap();
        }
    }
}

/// `GET /v2/<path>` on the test registry as a distribution client does it: on a 401, a token for
/// the challenge's scope from the token service (as `credentials`, or anonymously), then again.
pub async fn registry_get(path: &str, credentials: Option<&Credentials>) -> reqwest::Response {
    labforge::install_crypto_provider();
    let client = reqwest::Client::new();
    let url = format!("http://{}/v2/{path}", registry_address());
    let request = || {
        client.get(&url).header(
            reqwest::header::ACCEPT,
            "application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.oci.image.manifest.v1+json",
        )
    };
    let response = request().send().await.unwrap();
    if response.status() != reqwest::StatusCode::UNAUTHORIZED {
        return response;
    }
    let challenge = response.headers()[reqwest::header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    let parameter = |key: &str| {
        let start = challenge.find(&format!("{key}=\"")).unwrap() + key.len() + 2;
        let length = challenge[start..].find('"').unwrap();
        challenge[start..start + length].to_owned()
    };
    let mut token_request = client.get(parameter("realm")).query(&[
        ("service", parameter("service")),
        ("scope", parameter("scope")),
    ]);
    if let Some(account) = credentials {
        token_request = token_request.basic_auth(&account.username, Some(&account.password));
    }
    let answer: serde_json::Value = token_request.send().await.unwrap().json().await.unwrap();
    request()
        .bearer_auth(answer["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
}

/// A datalab name no earlier run has pushed to the shared registry: tags there never change, so a
/// test that counts builds from 0 needs a repository of its own.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}
