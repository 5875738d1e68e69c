//! The checks before review on real builds: a JupyterLab datalab's notebooks executed inside its
//! image by nbclient, each with its outcome, cell and time, without network unless the operator
//! allows it; the page title of a generic datalab is in the generic pipeline test, the desktop's
//! screenshot in the desktop tests.

use std::path::Path;

use labforge::pipeline::Pipeline;
use labforge::pipeline::checks::{NotebookCheck, NotebookOutcome};
use serde_json::json;

use crate::common;
use crate::pipeline::{build_as, log_text};

/// A notebook of code cells (`code:` prefix) and markdown cells, as JupyterLab saves one.
fn write_notebook(path: &Path, cells: &[&str]) {
    let cells: Vec<_> = cells
        .iter()
        .map(|cell| match cell.strip_prefix("code:") {
            Some(source) => json!({"cell_type": "code", "execution_count": null, "metadata": {},
                                   "outputs": [], "source": source}),
            None => json!({"cell_type": "markdown", "metadata": {}, "source": cell}),
        })
        .collect();
    let notebook = json!({
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    });
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(&notebook).unwrap()).unwrap();
}

/// Passes only when the kernel sees no network interface but loopback.
const OFFLINE: &str = "code:import socket\n\
     names = [name for _, name in socket.if_nameindex()]\n\
     assert names == ['lo'], f'network interfaces: {names}'";

fn check<'a>(checks: &'a [NotebookCheck], path: &str) -> &'a NotebookCheck {
    checks
        .iter()
        .find(|check| check.path == path)
        .unwrap_or_else(|| panic!("{path} was not run: {checks:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn notebooks_run_in_the_image_and_each_reports_its_outcome_cell_and_time() {
    let folder = tempfile::tempdir().unwrap();
    let mut config = common::isolated_config(folder.path());
    config.checks.notebook_timeout_seconds = 30;
    let lab = common::copy_example(&config, "jl-photometry-demo");
    write_notebook(
        &lab.join("raises.ipynb"),
        &[
            "code:x = 2",
            "# Then divide",
            "code:x / 0",
            "code:print('never')",
        ],
    );
    write_notebook(
        &lab.join("checks/offline.ipynb"),
        &["# No network", OFFLINE],
    );
    write_notebook(
        &lab.join("slow.ipynb"),
        &["code:import time", "code:time.sleep(600)"],
    );
    // JupyterLab's autosaved copies are not the author's notebooks.
    write_notebook(
        &lab.join(".ipynb_checkpoints/raises-checkpoint.ipynb"),
        &["code:raise SystemExit('a checkpoint was run')"],
    );
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let name = common::unique_name("notebook-checks");
    let (outcome, log) = build_as(&pipeline, lab.clone(), Some(&name), true).await;
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    let log = log_text(&log);
    let checks = outcome.notebooks.expect("jupyterlab builds run notebooks");
    println!("{}\n{checks:#?}", checks.summary());

    let mut paths: Vec<&str> = checks
        .notebooks
        .iter()
        .map(|check| check.path.as_str())
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "checks/offline.ipynb",
            "photometry.ipynb",
            "raises.ipynb",
            "slow.ipynb"
        ]
    );
    assert!(!checks.network);
    assert_eq!(checks.timeout_seconds, 30);
    let photometry = check(&checks.notebooks, "photometry.ipynb");
    assert_eq!(
        photometry.outcome,
        NotebookOutcome::Passed,
        "{photometry:#?}"
    );
    assert!(photometry.seconds > 0.0);
    let offline = check(&checks.notebooks, "checks/offline.ipynb");
    assert_eq!(offline.outcome, NotebookOutcome::Passed, "{offline:#?}");

    let raises = check(&checks.notebooks, "raises.ipynb");
    assert_eq!(raises.outcome, NotebookOutcome::Failed, "{raises:#?}");
    assert_eq!(raises.cell, Some(3), "{raises:#?}");
    assert_eq!(
        raises.error.as_deref(),
        Some("ZeroDivisionError: division by zero")
    );
    assert!(
        raises
            .traceback
            .as_deref()
            .is_some_and(|traceback| traceback.contains("x / 0") && !traceback.contains('\x1b')),
        "{raises:#?}"
    );
    assert!(
        log.contains("raises.ipynb failed at cell 3: ZeroDivisionError: division by zero"),
        "{log}"
    );

    let slow = check(&checks.notebooks, "slow.ipynb");
    assert_eq!(slow.outcome, NotebookOutcome::TimedOut, "{slow:#?}");
    assert_eq!(slow.cell, Some(2), "{slow:#?}");
    assert!(
        (25.0..90.0).contains(&slow.seconds),
        "the notebook is stopped at its limit: {slow:#?}"
    );
    assert_eq!(checks.passed(), 2, "{}", checks.summary());
    Box::pin(only_listed_notebooks_run_with_the_operator_s_network(
        config, &lab, &name,
    ))
    .await;
}

/// Listed notebooks only, and the operator's network: the offline check now sees an interface.
async fn only_listed_notebooks_run_with_the_operator_s_network(
    mut config: labforge::config::Config,
    lab: &Path,
    name: &str,
) {
    std::fs::write(
        lab.join("metadata.yaml"),
        std::fs::read_to_string(lab.join("metadata.yaml")).unwrap()
            + "testing:\n  notebooks: [checks/offline.ipynb]\n",
    )
    .unwrap();
    config.checks.notebook_network = true;
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let (outcome, log) = build_as(&pipeline, lab.to_path_buf(), Some(name), true).await;
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}\n{}", log_text(&log)));
    let checks = outcome.notebooks.expect("jupyterlab builds run notebooks");
    assert!(checks.network);
    assert_eq!(checks.notebooks.len(), 1, "{checks:#?}");
    let offline = &checks.notebooks[0];
    assert_eq!(offline.path, "checks/offline.ipynb");
    assert_eq!(offline.outcome, NotebookOutcome::Failed, "{offline:#?}");
    assert_eq!(offline.cell, Some(2));
    assert!(
        offline
            .error
            .as_deref()
            .is_some_and(|error| error.starts_with("AssertionError: network interfaces:")),
        "{offline:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listed_notebook_outside_the_content_is_refused_before_building() {
    let folder = tempfile::tempdir().unwrap();
    let config = common::isolated_config(folder.path());
    let lab = common::copy_example(&config, "jl-photometry-demo");
    let pipeline = Pipeline::new(config.pipeline_settings()).await.unwrap();
    let metadata = std::fs::read_to_string(lab.join("metadata.yaml")).unwrap();
    for (listed, reason) in [
        ("missing.ipynb", "the content has no such file"),
        ("../photometry.ipynb", "the path leaves the content"),
    ] {
        std::fs::write(
            lab.join("metadata.yaml"),
            format!("{metadata}testing:\n  notebooks: [\"{listed}\"]\n"),
        )
        .unwrap();
        let (outcome, log) = build_as(&pipeline, lab.clone(), None, false).await;
        let error = outcome.expect_err("a wrong list is refused").to_string();
        assert!(
            error.contains(&format!("lists {listed} under testing.notebooks"))
                && error.contains(reason),
            "{error}"
        );
        assert!(
            !log_text(&log).contains("building "),
            "nothing is built: {}",
            log_text(&log)
        );
    }
}
