//! The build queue on SQLite and PostgreSQL: claim order, one running build per datalab, the
//! workers' concurrency bound, leases, cancelling running builds, stopping, and recovery of
//! builds whose worker disappeared. Builds run the real pipeline against a git server that never
//! answers, so they stay running until they are cancelled; no BuildKit work is involved.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::Utc;
use labforge::accounts::Role;
use labforge::config::Config;
use labforge::datalabs::BuildStatus;
use labforge::storage::builds::BuildResult;
use serde_json::{Value, json};

use crate::common::git_server;
use crate::common::service::{As, TestApp, TestUser};
use crate::on_both_backends;

on_both_backends!(
    claims_take_the_oldest_build_of_a_datalab_with_none_running,
    concurrent_claims_start_one_build_per_datalab,
    expired_leases_are_failed_at_start_and_live_ones_are_kept,
);

on_both_backends!(
    config = quick_leases_and_local_git;
    workers_run_at_most_their_concurrency_and_stop_builds_on_cancel_and_shutdown,
);

/// Two workers, a two-second lease (so recovery sweeps run during the test), and git URLs on
/// loopback over plain HTTP for the silent server.
fn quick_leases_and_local_git(config: &mut Config) {
    config.build_queue.concurrency = 2;
    config.build_queue.lease_seconds = 2;
    config.build_queue.poll_milliseconds = 100;
    config.build_queue.shutdown_grace_seconds = 10;
    config.sources.allow_http = true;
    config.sources.allowed_hosts = vec!["127.0.0.1".to_owned()];
}

/// A datalab whose version comes from a workspace folder.
async fn workspace_datalab(app: &TestApp, owner: &TestUser, name: &str) {
    std::fs::create_dir_all(app.workspace_of(owner).join(name)).unwrap();
    app.create_datalab_with_version(
        owner,
        name,
        "jupyterlab",
        "0.0.1",
        json!({"kind": "workspace", "path": name}),
    )
    .await;
}

/// Queues a build of `name`'s version 0.0.1 as `owner`; its number.
pub(crate) async fn queue(app: &TestApp, owner: &TestUser, name: &str) -> i64 {
    let (status, build) = app
        .call(
            Method::POST,
            &format!("/api/datalabs/{name}/versions/0.0.1/builds"),
            As::User(owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{build}");
    build["number"].as_i64().unwrap()
}

/// Claims a build as `worker`; returns `(datalab name, build number)`.
async fn claim(app: &TestApp, worker: &str) -> Option<(String, i64)> {
    let database = &app.state.database;
    let lease = Utc::now() + chrono::Duration::minutes(5);
    let id = database
        .claim_next_build(worker, Utc::now(), lease)
        .await
        .unwrap()?;
    let build = database.build_by_id(&id).await.unwrap().unwrap();
    assert_eq!(build.status, BuildStatus::Running);
    assert_eq!(build.worker.as_deref(), Some(worker));
    let datalab = database
        .datalab_by_id(&build.datalab_id)
        .await
        .unwrap()
        .unwrap();
    Some((datalab.name, build.number))
}

async fn build_id(app: &TestApp, name: &str, number: i64) -> String {
    let database = &app.state.database;
    let datalab = database.datalab_by_name(name).await.unwrap().unwrap();
    let version = database
        .version_of(&datalab.id, "0.0.1")
        .await
        .unwrap()
        .unwrap();
    database
        .build_by_number(&version.id, number)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn claims_take_the_oldest_build_of_a_datalab_with_none_running(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    workspace_datalab(&app, &alice, "lab-a").await;
    workspace_datalab(&app, &alice, "lab-b").await;
    assert_eq!(queue(&app, &alice, "lab-a").await, 0);
    assert_eq!(queue(&app, &alice, "lab-a").await, 1);
    assert_eq!(queue(&app, &alice, "lab-b").await, 0);

    assert_eq!(claim(&app, "w1").await, Some(("lab-a".to_owned(), 0)));
    assert_eq!(
        claim(&app, "w2").await,
        Some(("lab-b".to_owned(), 0)),
        "lab-a's next build waits for its first"
    );
    assert_eq!(claim(&app, "w3").await, None);

    let first = build_id(&app, "lab-a", 0).await;
    let finished = app
        .state
        .database
        .finish_build(
            &first,
            "w1",
            Utc::now(),
            &BuildResult {
                failure: Some("test".to_owned()),
                ..BuildResult::ended(BuildStatus::Failed)
            },
        )
        .await
        .unwrap();
    assert!(finished.is_some());
    assert!(
        app.state
            .database
            .finish_build(
                &first,
                "w1",
                Utc::now(),
                &BuildResult::ended(BuildStatus::Failed),
            )
            .await
            .unwrap()
            .is_none(),
        "a build is finished once"
    );
    assert_eq!(claim(&app, "w3").await, Some(("lab-a".to_owned(), 1)));
    assert_eq!(claim(&app, "w4").await, None);
}

async fn concurrent_claims_start_one_build_per_datalab(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    workspace_datalab(&app, &alice, "lab-a").await;
    workspace_datalab(&app, &alice, "lab-b").await;
    for _ in 0..6 {
        queue(&app, &alice, "lab-a").await;
    }
    queue(&app, &alice, "lab-b").await;

    let app = Arc::new(app);
    let claims: Vec<_> = (0..8)
        .map(|index| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { claim(&app, &format!("w{index}")).await })
        })
        .collect();
    let mut claimed = Vec::new();
    for handle in claims {
        claimed.extend(handle.await.unwrap());
    }
    claimed.sort();
    assert_eq!(
        claimed,
        [("lab-a".to_owned(), 0), ("lab-b".to_owned(), 0)],
        "racing workers start exactly the first build of each datalab"
    );
}

async fn expired_leases_are_failed_at_start_and_live_ones_are_kept(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    workspace_datalab(&app, &alice, "lab-a").await;
    workspace_datalab(&app, &alice, "lab-b").await;
    queue(&app, &alice, "lab-a").await;
    queue(&app, &alice, "lab-b").await;
    let database = &app.state.database;
    let now = Utc::now();
    database
        .claim_next_build("gone", now, now - chrono::Duration::seconds(1))
        .await
        .unwrap()
        .unwrap();
    database
        .claim_next_build("alive", now, now + chrono::Duration::minutes(10))
        .await
        .unwrap()
        .unwrap();

    // A process starts: no workers of its own, only the recovery every start does.
    let mut settings = app.config.worker_settings();
    settings.queue.concurrency = 0;
    labforge::jobs::run_workers(
        settings,
        database.clone(),
        app.state.datalabs.events().clone(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();

    let (_, abandoned) = app
        .call(
            Method::GET,
            "/api/datalabs/lab-a/versions/0.0.1/builds/0",
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(abandoned["status"], "failed", "{abandoned}");
    let failure = abandoned["failure"].as_str().unwrap();
    assert!(
        failure.contains("the worker gone stopped while building"),
        "{failure}"
    );
    let (_, log) = app
        .call(
            Method::GET,
            "/api/datalabs/lab-a/versions/0.0.1/builds/0/log",
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(log.as_array().unwrap().last().unwrap()["text"], failure);

    let (_, live_build) = app
        .call(
            Method::GET,
            "/api/datalabs/lab-b/versions/0.0.1/builds/0",
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(
        live_build["status"], "running",
        "a build whose lease runs is left to its worker: {live_build}"
    );
}

/// Statuses of build 0 of each datalab.
async fn statuses(app: &TestApp, owner: &TestUser, names: &[&str]) -> BTreeMap<String, Value> {
    let mut statuses = BTreeMap::new();
    for name in names {
        let (_, build) = app
            .call(
                Method::GET,
                &format!("/api/datalabs/{name}/versions/0.0.1/builds/0"),
                As::User(owner),
                None,
            )
            .await;
        statuses.insert((*name).to_owned(), build);
    }
    statuses
}

fn count(statuses: &BTreeMap<String, Value>, status: &str) -> usize {
    statuses
        .values()
        .filter(|build| build["status"] == status)
        .count()
}

async fn workers_run_at_most_their_concurrency_and_stop_builds_on_cancel_and_shutdown(
    app: TestApp,
) {
    let silent = git_server::SilentServer::start();
    let alice = app.user("alice", Role::Author).await;
    let names = ["lab-a", "lab-b", "lab-c"];
    for name in names {
        let url = format!("{}/{name}.git", silent.base_url);
        app.create_datalab_with_version(
            &alice,
            name,
            "jupyterlab",
            "0.0.1",
            json!({"kind": "git", "url": url}),
        )
        .await;
        queue(&app, &alice, name).await;
    }
    let workers = app.start_workers();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut current = statuses(&app, &alice, &names).await;
    while count(&current, "running") < 2 {
        assert!(tokio::time::Instant::now() < deadline, "{current:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        current = statuses(&app, &alice, &names).await;
    }
    // Longer than a lease: heartbeats keep both builds, recovery sweeps leave them alone, and
    // the third waits for a free worker.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let current = statuses(&app, &alice, &names).await;
    assert_eq!(count(&current, "running"), 2, "{current:?}");
    assert_eq!(count(&current, "queued"), 1, "{current:?}");
    let waiting = current
        .iter()
        .find(|(_, build)| build["status"] == "queued")
        .map(|(name, _)| name.clone())
        .unwrap();
    let victim = current
        .iter()
        .find(|(_, build)| build["status"] == "running")
        .map(|(name, _)| name.clone())
        .unwrap();

    let build = format!("/api/datalabs/{victim}/versions/0.0.1/builds/0");
    let (status, requested) = app
        .call(
            Method::POST,
            &format!("{build}/cancel"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{requested}");
    assert_eq!(requested["status"], "running");
    assert_eq!(requested["cancel_requested"], true);
    let cancelled = app
        .wait_for(&build, As::User(&alice), Duration::from_secs(20), |build| {
            build["status"] == "cancelled"
        })
        .await;
    assert!(
        cancelled["failure"]
            .as_str()
            .unwrap()
            .contains("cancelled while running"),
        "{cancelled}"
    );
    let (_, log) = app
        .call(Method::GET, &format!("{build}/log"), As::User(&alice), None)
        .await;
    let texts: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.iter().any(|text| text.contains("staging git")),
        "{texts:?}"
    );
    assert!(
        texts.last().unwrap().starts_with("cancelled: "),
        "{texts:?}"
    );

    // The freed worker takes the waiting build.
    app.wait_for(
        &format!("/api/datalabs/{waiting}/versions/0.0.1/builds/0"),
        As::User(&alice),
        Duration::from_secs(20),
        |build| build["status"] == "running",
    )
    .await;

    // Stopping the process cancels what runs and says why.
    workers.stop().await;
    let current = statuses(&app, &alice, &names).await;
    assert_eq!(count(&current, "cancelled"), 3, "{current:?}");
    for (name, build) in &current {
        if *name != victim {
            let failure = build["failure"].as_str().unwrap();
            assert!(
                failure.contains("labforge stopped while building"),
                "{failure}"
            );
        }
    }
}
