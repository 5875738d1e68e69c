//! Shared harness for integration tests: the real parts (dockerd, a registry on loopback, the base
//! images) are started once by `scripts/test.sh`; this module checks they are there and gives each
//! test its own data folder and workspace.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::path::{Path, PathBuf};

use labforge::config::Config;

/// The registry the test command started (`LABFORGE_TEST_REGISTRY`).
pub fn registry_address() -> String {
    std::env::var("LABFORGE_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5005".to_owned())
}

/// A configuration isolated in `folder`: its own data folder and workspace root, the shared
/// registry and dockerd. Panics with the fix when the real parts are not running.
pub fn isolated_config(folder: &Path) -> Config {
    let registry = registry_address();
    let answer = std::process::Command::new("curl")
        .args(["-fsS", &format!("http://{registry}/v2/")])
        .output()
        .expect("curl runs");
    assert!(
        answer.status.success(),
        "no registry answers on {registry}: run the suite with `bash scripts/test.sh`"
    );
    let mut config = Config::load().expect("configuration loads");
    config.registry.address = registry;
    config.data_dir = folder.join("data");
    config.sources.workspace_root = folder.join("workspace");
    std::fs::create_dir_all(&config.sources.workspace_root).unwrap();
    config
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
