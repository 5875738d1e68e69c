//! Sessions over HTTP on SQLite and on PostgreSQL: every check a launch goes through before a
//! runtime is called (each refusal naming its field), quotas answered 429 naming their limit, and
//! a session that is its owner's alone. No launch here passes its checks, so no container starts;
//! the containers are in `tests/build/sessions.rs`.

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use labforge::accounts::Role;
use labforge::config::Config;
use labforge::sessions::SessionStatus;
use labforge::storage::sessions::SessionRow;
use serde_json::{Value, json};

use crate::common::datalabs::{DatalabFixture, insert_datalab, insert_finished_build};
use crate::common::service::{As, TestApp, TestUser};
use crate::on_both_backends;

on_both_backends!(
    config = short_lifetimes;
    idle_and_old_sessions_are_stopped_with_the_reason_recorded,
);

on_both_backends!(
    a_launch_is_checked_field_by_field_before_anything_runs,
    a_datalab_the_caller_may_not_see_cannot_be_launched,
    quotas_refuse_with_429_naming_the_limit,
    a_datazone_s_totals_count_every_user_s_sessions,
    a_session_is_its_owner_s_alone,
);

/// A published public JupyterLab datalab `name` of `owner` needing 2 CPUs and 4 GiB, with a
/// succeeded build of its version 1.0.0 when `built`.
async fn published_lab(app: &TestApp, owner: &TestUser, name: &str, built: bool) -> String {
    let mut fixture = DatalabFixture::published(
        name,
        &app.user_id(owner).await,
        "Photometry",
        "Aperture photometry",
    );
    fixture.metadata["minimumResources"] = json!({"cpu": 2, "memoryGiB": 4});
    let id = insert_datalab(&app.state.database, &fixture).await;
    if built {
        insert_finished_build(
            &app.state.database,
            &id,
            "1.0.0",
            0,
            "succeeded",
            Some(true),
        )
        .await;
    }
    id
}

async fn launch(app: &TestApp, user: &TestUser, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, "/api/sessions", As::User(user), Some(body))
        .await
}

fn field_of(body: &Value) -> &str {
    body["error"]["field"].as_str().unwrap_or_default()
}

async fn a_launch_is_checked_field_by_field_before_anything_runs(app: TestApp) {
    let admin = app.user("administrator", Role::Admin).await;
    let author = app.user("olga", Role::Author).await;
    let researcher = app.user("rita", Role::Researcher).await;
    published_lab(&app, &author, "unbuilt-lab", false).await;
    published_lab(&app, &author, "photometry", true).await;
    let volume = json!({"name": "euclid-q1", "description": "Euclid Q1", "source": "archive",
                        "mount_path": "/data/euclid"});
    let (status, body) = app
        .call(
            Method::POST,
            "/api/data-volumes",
            As::User(&admin),
            Some(volume),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, body) = launch(&app, &researcher, json!({"datalab": "unbuilt-lab"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(field_of(&body), "version");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("build it first"),
        "{body}"
    );

    for (request, field) in [
        (
            json!({"datalab": "photometry", "version": "9.9.9"}),
            "version",
        ),
        (
            json!({"datalab": "photometry", "data_volumes": ["euclid-q1", "nowhere"]}),
            "data_volumes[1]",
        ),
        (
            json!({"datalab": "photometry", "datazone": "nowhere"}),
            "datazone",
        ),
    ] {
        let (status, body) = launch(&app, &researcher, request.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{request}: {body}");
        assert_eq!(field_of(&body), field, "{request}: {body}");
    }
    let cases = [
        (json!({"datalab": "photometry", "cpu": 1}), "cpu"),
        (json!({"datalab": "photometry", "cpu": 0}), "cpu"),
        (json!({"datalab": "photometry", "cpu": -2}), "cpu"),
        (
            json!({"datalab": "photometry", "cpu": 2, "memory_gib": 3.5}),
            "memory_gib",
        ),
        (
            json!({"datalab": "photometry", "data_volumes": ["euclid-q1", "euclid-q1"]}),
            "data_volumes[1]",
        ),
        (json!({"datalab": "photometry", "name": "  "}), "name"),
        (json!({"datalab": "photometry", "colour": "blue"}), "colour"),
    ];
    for (request, field) in cases {
        let (status, body) = launch(&app, &researcher, request.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{request}: {body}"
        );
        assert_eq!(field_of(&body), field, "{request}: {body}");
    }

    let (status, list) = app
        .call(Method::GET, "/api/sessions", As::User(&researcher), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]), "no refused launch left a session");
    let (status, _) = app
        .call(
            Method::POST,
            "/api/sessions",
            As::Anonymous,
            Some(json!({"datalab": "photometry"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn a_datalab_the_caller_may_not_see_cannot_be_launched(app: TestApp) {
    let author = app.user("olga", Role::Author).await;
    let researcher = app.user("rita", Role::Researcher).await;
    let mut fixture = DatalabFixture::published(
        "private-lab",
        &app.user_id(&author).await,
        "Private",
        "Not for everyone",
    );
    fixture.visibility = "private";
    let id = insert_datalab(&app.state.database, &fixture).await;
    insert_finished_build(
        &app.state.database,
        &id,
        "1.0.0",
        0,
        "succeeded",
        Some(true),
    )
    .await;

    for name in ["private-lab", "no-such-lab"] {
        let (status, body) = launch(&app, &researcher, json!({"datalab": name})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}: {body}");
        assert_eq!(field_of(&body), "datalab");
    }
    // Its owner gets past visibility to the next check.
    let (status, body) = launch(
        &app,
        &author,
        json!({"datalab": "private-lab", "datazone": "nowhere"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(field_of(&body), "datazone");
}

/// A session of `user_id` holding 2 CPUs and 4 GiB, as a launch leaves it, with no container (the
/// runtime is not involved: its daemon endpoint leads nowhere).
fn session_row(datalab_id: &str, user_id: String, status: SessionStatus) -> SessionRow {
    let now = Utc::now();
    SessionRow {
        id: labforge::storage::new_id(),
        user_id,
        name: "photometry".to_owned(),
        datalab_id: datalab_id.to_owned(),
        datalab: "photometry".to_owned(),
        version: "1.0.0".to_owned(),
        kind: "jupyterlab".to_owned(),
        image: "registry/datalabs/x@sha256:0000".to_owned(),
        port: 8888,
        health_path: "/api/status".to_owned(),
        cpu_millis: 2000,
        memory_mib: 4096,
        data_volumes: "[]".to_owned(),
        datazone: "local".to_owned(),
        runtime: "docker".to_owned(),
        runtime_endpoint: "unix:///nonexistent/docker.sock".to_owned(),
        api_server: None,
        namespace: None,
        status,
        reason: None,
        container_id: None,
        address: None,
        created_at: now,
        ready_at: None,
        ended_at: None,
        last_activity_at: now,
    }
}

/// Writes a session of `user` straight into the database; its id.
async fn live_session(
    app: &TestApp,
    datalab_id: &str,
    user: &TestUser,
    status: SessionStatus,
) -> String {
    let row = session_row(datalab_id, app.user_id(user).await, status);
    app.state
        .database
        .insert_datalab_session(&row)
        .await
        .unwrap();
    row.id
}

async fn quotas_refuse_with_429_naming_the_limit(app: TestApp) {
    let author = app.user("olga", Role::Author).await;
    let researcher = app.user("rita", Role::Researcher).await;
    let lab = published_lab(&app, &author, "photometry", true).await;

    // Beyond the CPU or memory a user may hold at all.
    let (status, body) = launch(
        &app,
        &researcher,
        json!({"datalab": "photometry", "cpu": 9}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(field_of(&body), "launcher.max_cpu_per_user");
    let (status, body) = launch(
        &app,
        &researcher,
        json!({"datalab": "photometry", "memory_gib": 33}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(field_of(&body), "launcher.max_memory_gib_per_user");

    // Two live sessions are the default most; ended and failed ones do not count.
    live_session(&app, &lab, &researcher, SessionStatus::Ended).await;
    live_session(&app, &lab, &researcher, SessionStatus::Failed).await;
    live_session(&app, &lab, &researcher, SessionStatus::Ready).await;
    live_session(&app, &lab, &researcher, SessionStatus::Pulling).await;
    let (status, body) = launch(&app, &researcher, json!({"datalab": "photometry"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(field_of(&body), "launcher.max_sessions_per_user");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("you have 2 sessions"),
        "{body}"
    );
    // Another user's quota is their own: their launch is refused for its datazone, not a quota.
    let (status, body) = launch(
        &app,
        &author,
        json!({"datalab": "photometry", "datazone": "nowhere"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(field_of(&body), "datazone");
}

async fn a_datazone_s_totals_count_every_user_s_sessions(app: TestApp) {
    let author = app.user("olga", Role::Author).await;
    let researcher = app.user("rita", Role::Researcher).await;
    let admin = app.user("adam", Role::Admin).await;
    let lab = published_lab(&app, &author, "photometry", true).await;
    let zone = |max_sessions: u32| {
        json!({"name": "small", "description": "A small cluster", "runtime": "docker",
               "endpoint": "unix:///nonexistent/docker.sock", "max_sessions": max_sessions,
               "max_cpu": 4, "max_memory_gib": 8})
    };
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datazones",
            As::User(&admin),
            Some(zone(0)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field_of(&body), "max_sessions");
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datazones",
            As::User(&admin),
            Some(zone(1)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["max_sessions"], 1, "{body}");
    assert_eq!(body["max_memory_gib"], 8, "{body}");

    // Beyond what the datazone has at all.
    let (status, body) = launch(
        &app,
        &researcher,
        json!({"datalab": "photometry", "datazone": "small", "cpu": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(field_of(&body), "datazone.max_cpu");
    let (status, body) = launch(
        &app,
        &researcher,
        json!({"datalab": "photometry", "datazone": "small", "memory_gib": 9}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(field_of(&body), "datazone.max_memory_gib");

    // Another user's live session there fills it for everyone; one in `local` does not count.
    let mut there = session_row(&lab, app.user_id(&author).await, SessionStatus::Ready);
    "small".clone_into(&mut there.datazone);
    app.state
        .database
        .insert_datalab_session(&there)
        .await
        .unwrap();
    live_session(&app, &lab, &researcher, SessionStatus::Ready).await;
    let (status, body) = launch(
        &app,
        &researcher,
        json!({"datalab": "photometry", "datazone": "small"}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(field_of(&body), "datazone.max_sessions");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"small\" is full") && message.contains("1 sessions run there"),
        "{body}"
    );
}

async fn a_session_is_its_owner_s_alone(app: TestApp) {
    let author = app.user("olga", Role::Author).await;
    let researcher = app.user("rita", Role::Researcher).await;
    let admin = app.user("adam", Role::Admin).await;
    let lab = published_lab(&app, &author, "photometry", true).await;
    let id = live_session(&app, &lab, &researcher, SessionStatus::Ready).await;

    let (status, body) = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}"),
            As::User(&researcher),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["kind"], "jupyterlab");
    assert_eq!(body["cpu"], 2.0);
    assert_eq!(body["memory_gib"], 4.0);
    assert_eq!(body["url"], format!("/sessions/{id}/lab"));
    let (_, list) = app
        .call(Method::GET, "/api/sessions", As::User(&researcher), None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    for other in [&author, &admin] {
        let (_, list) = app
            .call(Method::GET, "/api/sessions", As::User(other), None)
            .await;
        assert_eq!(list, json!([]), "{}", other.name);
        for (method, path) in [
            (Method::GET, format!("/api/sessions/{id}")),
            (Method::GET, format!("/api/sessions/{id}/logs")),
            (Method::GET, format!("/api/sessions/{id}/events")),
            (Method::DELETE, format!("/api/sessions/{id}")),
            (Method::GET, format!("/sessions/{id}/")),
            (Method::GET, format!("/sessions/{id}/api/status")),
        ] {
            let (status, body) = app.call(method.clone(), &path, As::User(other), None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        }
    }
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/sessions/{id}/"),
            As::Anonymous,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The owner ends it; it stays listed, ended, and frees the quota.
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/sessions/{id}"),
            As::User(&researcher),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}"),
            As::User(&researcher),
            None,
        )
        .await;
    assert_eq!(body["status"], "ended");
    assert_eq!(body["reason"], "deleted by its owner");
    assert!(body["ended_at"].is_string(), "{body}");
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/sessions/{id}/"),
            As::User(&researcher),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

fn short_lifetimes(config: &mut Config) {
    config.launcher.idle_minutes = 1;
    config.launcher.max_age_hours = 1;
}

async fn idle_and_old_sessions_are_stopped_with_the_reason_recorded(app: TestApp) {
    let author = app.user("olga", Role::Author).await;
    let researcher = app.user("rita", Role::Researcher).await;
    let lab = published_lab(&app, &author, "photometry", true).await;
    let user_id = app.user_id(&researcher).await;
    let now = Utc::now();
    let mut idle = session_row(&lab, user_id.clone(), SessionStatus::Ready);
    idle.created_at = now - Duration::minutes(10);
    idle.last_activity_at = now - Duration::minutes(2);
    let mut old = session_row(&lab, user_id.clone(), SessionStatus::Ready);
    old.created_at = now - Duration::minutes(61);
    let mut launching = session_row(&lab, user_id.clone(), SessionStatus::Pulling);
    launching.last_activity_at = now - Duration::minutes(5);
    let busy = session_row(&lab, user_id, SessionStatus::Ready);
    for row in [&idle, &old, &launching, &busy] {
        app.state
            .database
            .insert_datalab_session(row)
            .await
            .unwrap();
    }

    assert_eq!(app.state.sessions.runtime().cull().await.unwrap(), 2);
    let status_of = |id: String| {
        let app = &app;
        let researcher = &researcher;
        async move {
            let (status, body) = app
                .call(
                    Method::GET,
                    &format!("/api/sessions/{id}"),
                    As::User(researcher),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            (body["status"].clone(), body["reason"].clone())
        }
    };
    assert_eq!(
        status_of(idle.id).await,
        (json!("ended"), json!("stopped after 1 minutes without use"))
    );
    assert_eq!(
        status_of(old.id).await,
        (
            json!("ended"),
            json!("stopped at its maximum age of 1 hours")
        )
    );
    // A launch still under way is not idle: nobody could use it yet.
    assert_eq!(
        status_of(launching.id).await,
        (json!("pulling"), Value::Null)
    );
    assert_eq!(status_of(busy.id).await, (json!("ready"), Value::Null));
}
