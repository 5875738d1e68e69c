//! The `labforge` command line as a user runs it.

use std::process::Command;

use crate::common;

fn labforge(folder: &std::path::Path, arguments: &[&str]) -> std::process::Output {
    let config = common::isolated_config(folder);
    let mut command = Command::new(env!("CARGO_BIN_EXE_labforge"));
    command
        .args(arguments)
        .env("LABFORGE_REGISTRY", &config.registry.address)
        .env("LABFORGE_DATA_DIR", &config.data_dir)
        .env("LABFORGE_WORKSPACE_ROOT", &config.sources.workspace_root);
    if let Some(account) = config.registry.credentials() {
        command
            .env("LABFORGE_REGISTRY_USERNAME", account.username)
            .env("LABFORGE_REGISTRY_PASSWORD", account.password);
    }
    command.output().expect("the binary runs")
}

#[test]
fn a_build_prints_the_image_and_digest_and_a_rebuild_reuses_it() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = common::copy_example(&config, "web-catalog-browser");
    let lab = lab.to_str().unwrap();
    // Its own repository: the registry keeps every tag, so numbering starts at 0 only there.
    let name = common::unique_name("web-catalog-browser");

    let first = labforge(
        folder.path(),
        &["build", lab, "--name", &name, "--no-smoke-test", "--json"],
    );
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    let outcome: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let image = outcome["image"].as_str().unwrap();
    assert!(
        image.ends_with(&format!("/datalabs/{name}:0.0.1-0")),
        "{image}"
    );
    assert!(outcome["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(
        stderr.contains("solve") && stderr.contains("pushed"),
        "progress is shown: {stderr}"
    );

    let again = labforge(
        folder.path(),
        &["build", lab, "--name", &name, "--no-smoke-test"],
    );
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success());
    assert!(stdout.contains(&format!("image: {image}")), "{stdout}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing changed"));
}

#[test]
fn a_missing_source_exits_non_zero_with_the_reason() {
    let folder = tempfile::tempdir().unwrap();
    let output = labforge(folder.path(), &["build", "/nonexistent/lab"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no file or folder at /nonexistent/lab"),
        "{stderr}"
    );
}

#[test]
fn a_file_url_is_refused_before_anything_is_fetched() {
    let folder = tempfile::tempdir().unwrap();
    let output = labforge(folder.path(), &["build", "file:///etc", "--ref", "main"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
    assert!(
        stderr.contains("file://") && stderr.contains("https"),
        "{stderr}"
    );
}

/// The README's example: `labforge build <folder>` with the default, relative data folder.
#[test]
fn a_build_works_with_a_relative_data_folder_and_says_each_cause_once() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    // A lab with a requirements.txt, which is read from the staged copy in the data folder.
    let lab = common::copy_example(&config, "jl-photometry-demo");
    let name = common::unique_name("relative-data");
    let relative = |arguments: &[&str], extra: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_labforge"));
        command
            .args(arguments)
            .current_dir(folder.path())
            .env_remove("LABFORGE_DATA_DIR")
            .env("LABFORGE_REGISTRY", &config.registry.address)
            .env("LABFORGE_WORKSPACE_ROOT", &config.sources.workspace_root)
            .envs(extra.iter().copied());
        if let Some(account) = config.registry.credentials() {
            command
                .env("LABFORGE_REGISTRY_USERNAME", account.username)
                .env("LABFORGE_REGISTRY_PASSWORD", account.password);
        }
        command.output().expect("the binary runs")
    };
    let lab = lab.to_str().unwrap();

    let built = relative(&["build", lab, "--name", &name, "--no-smoke-test"], &[]);
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "{stderr}");
    assert!(folder.path().join(".labforge/builds.json").is_file());

    let other_name = common::unique_name("relative-bundle");
    let missing_bundle = relative(
        &["build", lab, "--name", &other_name, "--no-smoke-test"],
        &[("LABFORGE_CA_BUNDLE", "/nonexistent/ca.pem")],
    );
    let stderr = String::from_utf8_lossy(&missing_bundle.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("/nonexistent/ca.pem"), "{stderr}");
    assert_eq!(
        last.matches("No such file or directory").count(),
        1,
        "{last}"
    );
}

/// `labforge licence check` exits 0 when the audience is allowed, 1 when it is not, 2 when the
/// expression (or the audience) is malformed, and prints the decision or the refusal.
#[test]
fn a_licence_check_prints_the_decision_and_exits_by_its_outcome() {
    let folder = tempfile::tempdir().unwrap();
    let check = |arguments: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_labforge"))
            .arg("licence")
            .arg("check")
            .args(arguments)
            .env("LABFORGE_DATA_DIR", folder.path())
            .env_remove("LABFORGE_CONFIG")
            .output()
            .expect("the binary runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (code, stdout, _) = check(&["MIT OR GPL-3.0-only"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.starts_with(
            "MIT OR GPL-3.0-only: public is allowed\n\
             allowed audiences: public, member-states, private\nobligations: none\nreasons:\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("labforge takes `MIT`"), "{stdout}");

    let (code, stdout, _) = check(&["LicenseRef-ESA-CL-strong-copyleft-2.4"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("public is not allowed"), "{stdout}");
    assert!(
        stdout.contains("allowed audiences: member-states, private"),
        "{stdout}"
    );

    let (code, stdout, _) = check(&[
        "LicenseRef-ESA-CL-strong-copyleft-2.4",
        "--audience",
        "member-states",
    ]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("obligations: the source reachable from the datalab's page"),
        "{stdout}"
    );
    assert!(
        stdout.contains("The ESA Member States, as listed on"),
        "{stdout}"
    );

    let (code, stdout, stderr) = check(&["GPL-2.0"]);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("did you mean `GPL-2.0-only` or `GPL-2.0-or-later`?"),
        "{stderr}"
    );

    let (code, _, stderr) = check(&["MIT", "--audience", "everyone"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("public, member-states or private"),
        "{stderr}"
    );
}
