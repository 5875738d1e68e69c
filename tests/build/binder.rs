//! Repositories as Binder users have them (repo2docker's `apt.txt`, `environment.yml`,
//! `postBuild` in a `binder/` folder), built with dockerd's BuildKit into the test registry, then
//! checked by running commands in the image.

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, StartContainerOptions,
    WaitContainerOptions,
};
use futures_util::StreamExt;
use labforge::build_log::BuildLog;
use labforge::pipeline::{BuildHistory, BuildOutcome, BuildSpec, Pipeline, PipelineError};
use labforge::sources::Source;
use tokio_util::sync::CancellationToken;

use crate::common;

const METADATA: &str = "title: Binder lab\nalternateName: binder-lab\nabstract: A lab as Binder \
    users write them.\ncontactPoint: a@example.org\ncreator: labforge tests\nversion: 0.0.1\n\
    kind: jupyterlab\n";

/// A lab in a fresh workspace: metadata.yaml plus `files` (path, contents).
fn lab(config: &labforge::config::Config, files: &[(&str, &str)]) -> std::path::PathBuf {
    let folder = config.sources.workspace_root.join("binder-lab");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("metadata.yaml"), METADATA).unwrap();
    for (path, contents) in files {
        let path = folder.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    folder
}

async fn build(
    pipeline: &Pipeline,
    folder: std::path::PathBuf,
    name: &str,
) -> (Result<BuildOutcome, PipelineError>, String) {
    let log = BuildLog::new();
    let spec = BuildSpec {
        source: Source::Workspace {
            root: folder.parent().unwrap().to_path_buf(),
            path: folder,
        },
        name: Some(name.to_owned()),
        kind: None,
        smoke_test: false,
        history: BuildHistory::Index,
    };
    let outcome = pipeline.build(&spec, &log, &CancellationToken::new()).await;
    let text = log
        .lines()
        .iter()
        .map(|line| format!("{} {}", line.phase, line.text))
        .collect::<Vec<_>>()
        .join("\n");
    (outcome, text)
}

/// Runs `command` in `image` (its default user and working folder) and returns its exit code and
/// output.
async fn run_in_image(docker: &Docker, image: &str, command: &str) -> (i64, String) {
    let container = docker
        .create_container(
            None::<CreateContainerOptions>,
            ContainerCreateBody {
                image: Some(image.to_owned()),
                cmd: Some(vec!["bash".into(), "-c".into(), command.into()]),
                ..ContainerCreateBody::default()
            },
        )
        .await
        .unwrap()
        .id;
    docker
        .start_container(&container, None::<StartContainerOptions>)
        .await
        .unwrap();
    let mut waited = docker.wait_container(&container, None::<WaitContainerOptions>);
    let mut code = -1;
    while let Some(answer) = waited.next().await {
        match answer {
            Ok(answer) => code = answer.status_code,
            Err(bollard::errors::Error::DockerContainerWaitError { code: exit, .. }) => {
                code = exit;
            }
            Err(error) => panic!("waiting for {image}: {error}"),
        }
    }
    let mut output = String::new();
    let mut logs = docker.logs(
        &container,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            ..LogsOptions::default()
        }),
    );
    while let Some(Ok(chunk)) = logs.next().await {
        output.push_str(&chunk.to_string());
    }
    docker
        .remove_container(
            &container,
            Some(RemoveContainerOptions {
                force: true,
                ..RemoveContainerOptions::default()
            }),
        )
        .await
        .unwrap();
    (code, output)
}

fn docker(pipeline: &Pipeline) -> &Docker {
    let labforge::buildkit::BuildEngine::Dockerd(engine) = pipeline.engine() else {
        panic!("the tests build with dockerd")
    };
    engine.docker()
}

#[tokio::test(flavor = "multi_thread")]
async fn apt_txt_packages_are_installed_into_the_image() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = lab(&config, &[("apt.txt", "# a small tool\njq\n")]);
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let (outcome, log) = build(&pipeline, lab, &common::unique_name("apt-lab")).await;
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}\n{log}"));
    assert!(outcome.lint.is_empty(), "{:?}", outcome.lint);
    let (code, output) = run_in_image(
        docker(&pipeline),
        &outcome.record.image,
        "jq --version && id -u && (ls /var/lib/apt/lists | grep -c _Packages || true)",
    )
    .await;
    assert_eq!(code, 0, "{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert!(lines[0].starts_with("jq-1."), "{output}");
    assert_eq!(lines[1], "1000", "the image runs as the datalab user again");
    assert_eq!(lines[2], "0", "package lists stay in the cache mount");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_binder_repository_builds_with_its_environment_apt_packages_and_post_build() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    // No requirements.txt: before Binder files were read, this built "successfully" with nothing
    // installed. The top-level files do not count next to binder/. The base's packaging tools may
    // be upgraded (its setuptools is 66).
    let lab = lab(
        &config,
        &[
            (
                "binder/environment.yml",
                "name: tutorial\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  \
                 - msgpack-python>=1.0\n  - libgcc-ng\n  - pip\n  - pip:\n    - tabulate>=0.9\n    - setuptools>=70\n",
            ),
            ("binder/apt.txt", "jq\n"),
            (
                "binder/postBuild",
                "#!/bin/bash -e\necho \"$(id -un) $(pwd) $(python -c 'import tabulate; print(1)')\" \
                 > postbuild-ran.txt\n",
            ),
            ("requirements.txt", "this is not read\n"),
            ("tutorial.ipynb", "{}"),
        ],
    );
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let name = common::unique_name("binder-lab");
    let (outcome, log) = build(&pipeline, lab, &name).await;
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}\n{log}"));
    assert!(outcome.lint.is_empty(), "{:?}", outcome.lint);
    assert!(
        log.contains("`msgpack-python` is PyPI's `msgpack`")
            && log.contains("binder/environment.yml:7: `libgcc-ng` is skipped")
            && log.contains("warning: requirements.txt at the top level is not used")
            && log.contains("shellcheck: 0 findings in binder/postBuild"),
        "{log}"
    );
    let (code, output) = run_in_image(
        docker(&pipeline),
        &outcome.record.image,
        "python -c 'import msgpack, tabulate; print(msgpack.version >= (1, 0))' \
         && jq --version && cat postbuild-ran.txt && jupyter lab --version",
    )
    .await;
    assert_eq!(code, 0, "{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[0], "True", "{output}");
    assert!(lines[1].starts_with("jq-1."), "{output}");
    assert_eq!(
        lines[2],
        format!("datalab /home/datalab/{name} 1"),
        "postBuild ran as the datalab user in the lab's folder, after the Python layers"
    );
    assert!(
        lines[3].starts_with("4."),
        "the base's JupyterLab: {output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requirement_that_would_replace_the_base_s_jupyterlab_fails_naming_both() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = lab(&config, &[("requirements.txt", "tabulate\njupyterlab<4\n")]);
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let (outcome, log) = build(&pipeline, lab, &common::unique_name("base-keeper")).await;
    let error = outcome.expect_err("jupyterlab<4 would downgrade the base's JupyterLab");
    let message = error.to_string();
    assert!(
        matches!(error, PipelineError::BaseConflict(_)),
        "{message}\n{log}"
    );
    assert!(
        message.starts_with(
            "requirements.txt line 2: `jupyterlab<4` conflicts with the base image jl_base, which \
             has jupyterlab 4."
        ) && message.contains("Remove the line or let it accept jupyterlab 4."),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_build_shellcheck_cannot_parse_fails_before_anything_is_installed() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = lab(
        &config,
        &[
            ("requirements.txt", "tabulate\n"),
            (
                "postBuild",
                "#!/bin/bash\ncd $HOME\nif [ -d data ]; then\n  echo ok\n",
            ),
        ],
    );
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let (outcome, log) = build(&pipeline, lab, &common::unique_name("post-build-lint")).await;
    let message = outcome
        .expect_err("an unterminated if cannot run")
        .to_string();
    assert!(
        message.starts_with("shellcheck cannot read postBuild as a bash script")
            && message.contains("postBuild:3 error SC1046"),
        "{message}\n{log}"
    );
    assert!(log.contains("postBuild:5 error SC1047"), "{log}");
    assert!(!log.contains("solve"), "nothing was built:\n{log}");
}
