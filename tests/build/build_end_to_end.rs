//! A datalab built through the service's queue with the real dockerd, BuildKit and registry, on
//! SQLite and on PostgreSQL: queued over the API, built by an in-process worker, its log followed
//! live over Server-Sent Events, and a second build reusing the first image.

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use labforge::accounts::Role;
use labforge::images::{ImageReference, RegistryClient};
use serde_json::{Value, json};

use crate::common;
use crate::common::real_builds;
use crate::common::service::{As, TestApp, TestUser};
use crate::on_both_backends;

on_both_backends!(
    config = real_builds;
    a_workspace_datalab_builds_through_the_queue_with_its_log_streamed_live,
);

/// What a follower of the log saw.
struct Followed {
    /// Texts of the `line` events, in order.
    lines: Vec<String>,
    /// The build's status when the first BuildKit step arrived.
    status_at_first_step: Option<String>,
    /// The `end` event's data.
    end: Value,
}

/// Follows the log of `build` over Server-Sent Events until its `end` event.
async fn follow(app: &TestApp, user: &TestUser, build: &str) -> Followed {
    let request = Request::get(format!("{build}/log"))
        .header(header::AUTHORIZATION, format!("Bearer {}", user.token))
        .header(header::ACCEPT, "text/event-stream")
        .body(Body::empty())
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut pending = String::new();
    let mut followed = Followed {
        lines: Vec::new(),
        status_at_first_step: None,
        end: Value::Null,
    };
    loop {
        let frame = tokio::time::timeout(Duration::from_mins(10), body.frame())
            .await
            .expect("the log keeps moving")
            .expect("the stream ends only after the end event")
            .unwrap();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.push_str(std::str::from_utf8(&data).unwrap());
        while let Some((event, rest)) = pending.split_once("\n\n") {
            let event = event.to_owned();
            pending = rest.to_owned();
            let data: String = event
                .lines()
                .filter_map(|line| line.strip_prefix("data: "))
                .collect();
            if event.contains("event: end") {
                followed.end = serde_json::from_str(&data).unwrap();
                return followed;
            }
            if !event.contains("event: line") {
                continue;
            }
            let line: Value = serde_json::from_str(&data).unwrap();
            let text = line["text"].as_str().unwrap().to_owned();
            if text.starts_with('#') && followed.status_at_first_step.is_none() {
                let (_, now) = app.call(Method::GET, build, As::User(user), None).await;
                followed.status_at_first_step = now["status"].as_str().map(str::to_owned);
            }
            followed.lines.push(text);
        }
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, against one service"
)]
async fn a_workspace_datalab_builds_through_the_queue_with_its_log_streamed_live(app: TestApp) {
    // Its own repository: each run's fresh database numbers from 0, and the shared registry
    // refuses a build tag it already holds.
    let name = common::unique_name(
        &format!("web-catalog-{:?}", app.state.database.backend()).to_lowercase(),
    );
    let alice = app.user("alice", Role::Author).await;
    common::copy_folder(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/web-catalog-browser"),
        &app.workspace_of(&alice).join("web-catalog-browser"),
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs",
            As::User(&alice),
            Some(json!({"name": name, "kind": "generic"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let version = format!("/api/datalabs/{name}/versions/0.0.1");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/datalabs/{name}/versions"),
            As::User(&alice),
            Some(json!({
                "version": "0.0.1",
                "source": {"kind": "workspace", "path": "web-catalog-browser"}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let workers = app.start_workers();
    let (status, queued) = app
        .call(
            Method::POST,
            &format!("{version}/builds"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let first = format!("{version}/builds/0");
    let followed = follow(&app, &alice, &first).await;
    let log = followed.lines.join("\n");
    assert_eq!(
        followed.end["status"], "succeeded",
        "{}\n{log}",
        followed.end
    );
    assert!(
        followed
            .lines
            .iter()
            .filter(|line| line.starts_with('#'))
            .count()
            > 3,
        "BuildKit's steps are in the log:\n{log}"
    );
    assert_eq!(
        followed.status_at_first_step.as_deref(),
        Some("running"),
        "the steps arrived while the build ran"
    );
    assert!(
        log.contains("/health answered 200"),
        "the smoke test ran:\n{log}"
    );

    let (_, built) = app.call(Method::GET, &first, As::User(&alice), None).await;
    assert_eq!(built["status"], "succeeded", "{built}");
    assert_eq!(built["reused"], false);
    let image = built["image"].as_str().unwrap();
    assert!(
        image.ends_with(&format!("/datalabs/{name}:0.0.1-0")),
        "{image}"
    );
    let digest = built["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(built["smoke_test"]["passed"], true, "{built}");
    assert!(built["phase_timings"]["solve"].as_f64().unwrap() > 0.0);
    assert!(built["environment_hash"].is_string() && built["content_hash"].is_string());
    // The build keeps its evidence: the report in the build view and apart, the SBOM to download.
    assert!(built["phase_timings"]["evidence"].as_f64().unwrap() > 0.0);
    assert!(
        built["licence_report"]["debian_packages"].as_u64().unwrap() > 0,
        "{built}"
    );
    let (status, report) = app
        .call(
            Method::GET,
            &format!("{first}/licence-report"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report, built["licence_report"]);
    let (status, sbom) = app
        .call(
            Method::GET,
            &format!("{first}/sbom"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sbom}");
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    let (status, _) = app
        .call(Method::GET, &format!("{first}/sbom"), As::Anonymous, None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a draft's SBOM is its owner's"
    );
    let (repository, tag) = image.rsplit_once(':').unwrap();
    // Datalab images are private: the build account reads them back.
    let in_registry = RegistryClient::with_credentials(app.config.registry.credentials())
        .manifest_digest(&ImageReference::new(repository, tag))
        .await
        .unwrap();
    assert_eq!(in_registry.as_deref(), Some(digest));
    let (_, version_body) = app
        .call(Method::GET, &version, As::User(&alice), None)
        .await;
    assert_eq!(version_body["metadata"]["title"], "Catalogue browser");

    // Nothing changed: the next build of the version reuses the image the database recorded.
    // An administrator queues it, and it still reads alice's workspace (the administrator's own
    // has no such folder).
    let admin = app.user("root", Role::Admin).await;
    let (status, second) = app
        .call(
            Method::POST,
            &format!("{version}/builds"),
            As::User(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(second["number"], 1);
    let followed = follow(&app, &alice, &format!("{version}/builds/1")).await;
    assert_eq!(
        followed.end["status"],
        "succeeded",
        "{}",
        followed.lines.join("\n")
    );
    let (_, reused) = app
        .call(
            Method::GET,
            &format!("{version}/builds/1"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(reused["reused"], true, "{reused}");
    assert_eq!(reused["digest"], digest);
    assert_eq!(reused["image"], image);

    // Exported and uploaded as the source of another datalab, it builds the same environment.
    let copy = format!("{name}-copy");
    let archive = export(&app, &alice, &version).await;
    let manifest = manifest_of(&archive);
    assert_eq!(manifest["environment_hash"], built["environment_hash"]);
    assert_eq!(manifest["digest"], digest);
    let imported = import(&app, &alice, &copy, archive).await;
    let followed = follow(&app, &alice, &format!("{imported}/builds/0")).await;
    assert_eq!(
        followed.end["status"],
        "succeeded",
        "{}",
        followed.lines.join("\n")
    );
    let (_, rebuilt) = app
        .call(
            Method::GET,
            &format!("{imported}/builds/0"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(
        rebuilt["environment_hash"], built["environment_hash"],
        "{rebuilt}"
    );
    workers.stop().await;
}

/// `GET <version>/export` as `user`: the archive's bytes.
async fn export(app: &TestApp, user: &TestUser, version: &str) -> Vec<u8> {
    let request = Request::get(format!("{version}/export"))
        .header(header::AUTHORIZATION, format!("Bearer {}", user.token))
        .body(Body::empty())
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

fn manifest_of(archive: &[u8]) -> Value {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    serde_json::from_reader(zip.by_name(labforge::datalabs::MANIFEST_FILE).unwrap()).unwrap()
}

/// Uploads `archive` and makes it version 0.0.1 of a new generic datalab `name`, with a build
/// queued; returns the version's path.
async fn import(app: &TestApp, user: &TestUser, name: &str, archive: Vec<u8>) -> String {
    let request = Request::post("/api/uploads")
        .header(header::AUTHORIZATION, format!("Bearer {}", user.token))
        .header(header::CONTENT_TYPE, "application/zip")
        .body(Body::from(archive))
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let upload: Value = serde_json::from_slice(&bytes).unwrap();
    app.create_datalab_with_version(
        user,
        name,
        "generic",
        "0.0.1",
        json!({"kind": "zip", "upload": upload["id"]}),
    )
    .await;
    let version = format!("/api/datalabs/{name}/versions/0.0.1");
    let (status, body) = app
        .call(
            Method::POST,
            &format!("{version}/builds"),
            As::User(user),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    version
}
