//! Sessions with real containers: the generic example built through the queue (real dockerd,
//! BuildKit and registry), launched, followed over Server-Sent Events to `ready`, reached through
//! the proxy by its owner only, locked down as promised, and gone once deleted; then a launch
//! interrupted by a restart is adopted and an orphaned container removed.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};
use futures_util::StreamExt;
use http_body_util::BodyExt as _;
use labforge::accounts::Role;
use labforge::storage::Backend;
use serde_json::{Value, json};

use crate::common;
use crate::common::service::{As, TestApp, TestUser};

/// Removes every container this test app's instance started, even when the test fails.
pub(crate) struct Containers {
    pub(crate) docker: Docker,
    pub(crate) instance: String,
}

impl Containers {
    pub(crate) async fn of_instance(&self) -> Vec<bollard::models::ContainerSummary> {
        self.docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(HashMap::from([(
                    "label".to_owned(),
                    vec![format!("labforge.instance={}", self.instance)],
                )])),
                ..ListContainersOptions::default()
            }))
            .await
            .unwrap()
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        // Synchronous, so that it runs whatever state the runtime is in.
        let listed = std::process::Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=labforge.instance={}", self.instance),
            ])
            .output();
        if let Ok(output) = listed {
            for id in String::from_utf8_lossy(&output.stdout).split_whitespace() {
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f", id])
                    .output();
            }
        }
    }
}

pub(crate) async fn docker() -> Docker {
    Docker::connect_with_local_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
}

/// Builds `examples/<example>` as `user`'s draft datalab `name` of `kind`, version 0.0.1.
/// Alice's build of an example, launched (202), and Bob, who must not reach it.
struct Launched {
    app: TestApp,
    /// Removes the session's containers when the test ends, however it ends.
    containers: Containers,
    alice: TestUser,
    bob: TestUser,
    session: Value,
}

async fn launched_example(prefix: &str, example: &str, kind: &str) -> Launched {
    let app = TestApp::with_config(Backend::Sqlite, common::real_builds).await;
    let containers = Containers {
        docker: docker().await,
        instance: app.config.instance(),
    };
    let name = common::unique_name(prefix);
    let alice = app.user("alice", Role::Author).await;
    let bob = app.user("bob", Role::Researcher).await;
    build_example(&app, &alice, &name, example, kind).await;
    let (status, session) = app
        .call(
            Method::POST,
            "/api/sessions",
            As::User(&alice),
            Some(json!({"datalab": name})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{session}");
    Launched {
        app,
        containers,
        alice,
        bob,
        session,
    }
}

async fn build_example(app: &TestApp, user: &TestUser, name: &str, example: &str, kind: &str) {
    common::copy_folder(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(example),
        &app.workspace_of(user).join(example),
    );
    app.create_datalab_with_version(
        user,
        name,
        kind,
        "0.0.1",
        json!({"kind": "workspace", "path": example}),
    )
    .await;
    let workers = app.start_workers();
    let build = format!("/api/datalabs/{name}/versions/0.0.1/builds");
    let (status, body) = app.call(Method::POST, &build, As::User(user), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let mut answer = Value::Null;
    for _ in 0..600 {
        (_, answer) = app
            .call(Method::GET, &format!("{build}/0"), As::User(user), None)
            .await;
        if answer["status"] != "queued" && answer["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(answer["status"], "succeeded", "{answer}");
    workers.stop().await;
}

/// Follows the session's progress until it settles; the statuses seen, in order.
async fn follow(app: &TestApp, user: &TestUser, id: &str) -> Vec<Value> {
    let request = Request::get(format!("/api/sessions/{id}/events"))
        .header(header::AUTHORIZATION, format!("Bearer {}", user.token))
        .body(Body::empty())
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut pending = String::new();
    let mut seen = Vec::new();
    loop {
        let Some(frame) = tokio::time::timeout(Duration::from_mins(3), body.frame())
            .await
            .expect("the launch keeps moving")
        else {
            return seen;
        };
        let Ok(data) = frame.unwrap().into_data() else {
            continue;
        };
        pending.push_str(std::str::from_utf8(&data).unwrap());
        while let Some((event, rest)) = pending.split_once("\n\n") {
            let event = event.to_owned();
            pending = rest.to_owned();
            if let Some(data) = event.lines().find_map(|line| line.strip_prefix("data: ")) {
                seen.push(serde_json::from_str(data).unwrap());
            }
        }
    }
}

/// Runs `command` in the container as its user; the exit code and output.
async fn exec(docker: &Docker, container: &str, command: &[&str]) -> (i64, String) {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(command.iter().map(|part| (*part).to_owned()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..CreateExecOptions::default()
            },
        )
        .await
        .unwrap()
        .id;
    let mut output = String::new();
    if let StartExecResults::Attached {
        output: mut stream, ..
    } = docker.start_exec(&exec, None).await.unwrap()
    {
        while let Some(Ok(chunk)) = stream.next().await {
            output.push_str(&chunk.to_string());
        }
    }
    let code = docker
        .inspect_exec(&exec)
        .await
        .unwrap()
        .exit_code
        .unwrap_or(-1);
    (code, output)
}

async fn proxied(app: &TestApp, user: &TestUser, path: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", user.token))
        .body(Body::empty())
        .unwrap();
    let response = app.send(request).await;
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, against one running container"
)]
async fn a_generic_datalab_runs_locked_down_behind_the_proxy_for_its_owner_only() {
    let app = TestApp::with_config(Backend::Sqlite, common::real_builds).await;
    let docker = docker().await;
    let containers = Containers {
        docker: docker.clone(),
        instance: app.config.instance(),
    };
    let name = common::unique_name("session-catalogue");
    let alice = app.user("alice", Role::Author).await;
    let bob = app.user("bob", Role::Researcher).await;
    let admin = app.user("root", Role::Admin).await;
    build_example(&app, &alice, &name, "web-catalog-browser", "generic").await;
    let volume = common::unique_name("archive");
    let (status, body) = app
        .call(
            Method::POST,
            "/api/data-volumes",
            As::User(&admin),
            Some(
                json!({"name": volume, "description": "An archive", "source": "tests",
                        "mount_path": "/data/archive"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Bob cannot see alice's draft, so cannot launch it.
    let launch = json!({"datalab": name, "cpu": 0.5, "memory_gib": 0.5,
                        "data_volumes": [volume], "name": "My catalogue"});
    let (status, _) = app
        .call(
            Method::POST,
            "/api/sessions",
            As::User(&bob),
            Some(launch.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, session) = app
        .call(
            Method::POST,
            "/api/sessions",
            As::User(&alice),
            Some(launch),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{session}");
    assert_eq!(session["status"], "pending");
    assert_eq!(session["name"], "My catalogue");
    let id = session["id"].as_str().unwrap().to_owned();
    let seen = follow(&app, &alice, &id).await;
    let statuses: Vec<&str> = seen
        .iter()
        .map(|progress| progress["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.last(), Some(&"ready"), "{seen:?}");
    assert!(statuses.contains(&"waiting_for_health"), "{statuses:?}");
    let (_, session) = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(session["status"], "ready", "{session}");
    assert_eq!(session["url"], format!("/sessions/{id}/"));

    // Its page through the proxy, for alice only.
    let (status, page) = proxied(&app, &alice, &format!("/sessions/{id}/")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<h1>Catalogue</h1>"), "{page}");
    let (status, _) = proxied(&app, &bob, &format!("/sessions/{id}/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = proxied(&app, &admin, &format!("/sessions/{id}/health")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The container as promised.
    let container = format!("labforge-session-{id}");
    let details = docker.inspect_container(&container, None).await.unwrap();
    let config = details.config.unwrap();
    assert_eq!(config.user.as_deref(), Some("1000:1000"));
    assert!(config.image.unwrap().contains("@sha256:"), "run by digest");
    let labels = config.labels.unwrap();
    assert_eq!(labels["labforge.session"], id);
    assert_eq!(labels["labforge.user"], "alice");
    assert_eq!(labels["labforge.datalab"], name);
    assert_eq!(labels["labforge.version"], "0.0.1");
    assert!(
        config
            .env
            .unwrap()
            .contains(&format!("DATALAB_BASE_URL=/sessions/{id}/"))
    );
    let host = details.host_config.unwrap();
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(host.network_mode, Some(container.clone()));
    assert_eq!(
        host.security_opt,
        Some(vec!["no-new-privileges".to_owned()])
    );
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.memory, Some(512 * 1024 * 1024));
    for bindings in host
        .port_bindings
        .unwrap()
        .into_values()
        .flatten()
        .flatten()
    {
        assert_eq!(bindings.host_ip.as_deref(), Some("127.0.0.1"));
    }
    let (code, output) = exec(&docker, &container, &["id", "-u"]).await;
    assert_eq!((code, output.trim()), (0, "1000"));
    let (code, output) = exec(&docker, &container, &["touch", "/data/archive/written"]).await;
    assert_ne!(code, 0, "the data volume is read-only: {output}");
    assert!(output.contains("Read-only file system"), "{output}");
    let (code, output) = exec(
        &docker,
        &container,
        &["touch", "/home/datalab/work/notes.txt"],
    )
    .await;
    assert_eq!(code, 0, "the workspace is writable: {output}");
    assert!(app.workspace_of(&alice).join("notes.txt").is_file());

    // Its output, then deleted: the container is gone and the session stays, ended.
    let (status, logs) = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}/logs"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs.as_str().unwrap().contains("GET /health"), "{logs}");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/sessions/{id}"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(docker.inspect_container(&container, None).await.is_err());
    assert!(
        docker
            .inspect_network(
                &container,
                None::<bollard::query_parameters::InspectNetworkOptions>
            )
            .await
            .is_err(),
        "its network is gone too"
    );
    let (_, session) = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(session["status"], "ended");
    let (status, _) = proxied(&app, &alice, &format!("/sessions/{id}/")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // A restart: a running session is adopted, an orphaned container removed, a session whose
    // container vanished ends with the reason.
    let (status, adopted) = app
        .call(
            Method::POST,
            "/api/sessions",
            As::User(&alice),
            Some(json!({"datalab": name, "cpu": 0.5, "memory_gib": 0.5})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{adopted}");
    let adopted = adopted["id"].as_str().unwrap().to_owned();
    let (_, vanishing) = app
        .call(
            Method::POST,
            "/api/sessions",
            As::User(&alice),
            Some(json!({"datalab": name, "cpu": 0.5, "memory_gib": 0.5})),
        )
        .await;
    let vanishing = vanishing["id"].as_str().unwrap().to_owned();
    for session in [&adopted, &vanishing] {
        let seen = follow(&app, &alice, session).await;
        assert_eq!(seen.last().unwrap()["status"], "ready", "{seen:?}");
    }
    // Each on its own network: one session cannot reach another's container.
    let neighbour = docker
        .inspect_container(&format!("labforge-session-{vanishing}"), None)
        .await
        .unwrap();
    let neighbour_ip = neighbour.network_settings.unwrap().networks.unwrap()
        [&format!("labforge-session-{vanishing}")]
        .ip_address
        .clone()
        .unwrap();
    assert!(!neighbour_ip.is_empty());
    let reach = format!(
        "import socket; socket.create_connection(('{neighbour_ip}', 8050), timeout=3); print('reached')"
    );
    let (code, output) = exec(
        &docker,
        &format!("labforge-session-{adopted}"),
        &["python", "-c", &reach],
    )
    .await;
    assert_ne!(code, 0, "{output}");
    assert!(!output.contains("reached"), "{output}");
    let (code, output) = exec(
        &docker,
        &format!("labforge-session-{vanishing}"),
        &["python", "-c", &reach],
    )
    .await;
    assert_eq!(
        (code, output.trim()),
        (0, "reached"),
        "the probe itself works"
    );
    docker
        .remove_container(
            &format!("labforge-session-{vanishing}"),
            Some(RemoveContainerOptions {
                force: true,
                ..RemoveContainerOptions::default()
            }),
        )
        .await
        .unwrap();
    let orphan_session = "orphan-session";
    std::process::Command::new("docker")
        .args([
            "create",
            "--label",
            &format!("labforge.session={orphan_session}"),
            "--label",
            &format!("labforge.instance={}", app.config.instance()),
            "--name",
            &format!("labforge-session-{}", common::unique_name("orphan")),
            &docker
                .inspect_container(&format!("labforge-session-{adopted}"), None)
                .await
                .unwrap()
                .config
                .unwrap()
                .image
                .unwrap(),
        ])
        .output()
        .unwrap();
    app.state.sessions.runtime().reconcile().await.unwrap();
    let remaining: Vec<String> = containers
        .of_instance()
        .await
        .into_iter()
        .filter_map(|container| container.labels?.get("labforge.session").cloned())
        .collect();
    assert_eq!(remaining, std::slice::from_ref(&adopted));
    let (_, session) = app
        .call(
            Method::GET,
            &format!("/api/sessions/{adopted}"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(session["status"], "ready");
    let (_, session) = app
        .call(
            Method::GET,
            &format!("/api/sessions/{vanishing}"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(session["status"], "ended");
    assert!(
        session["reason"].as_str().unwrap().contains("vanished"),
        "{session}"
    );
    let (status, page) = proxied(&app, &alice, &format!("/sessions/{adopted}/")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/sessions/{adopted}"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(containers.of_instance().await.is_empty());
    let _ = docker
        .remove_volume(
            &format!("labforge-data-{volume}"),
            None::<bollard::query_parameters::RemoveVolumeOptions>,
        )
        .await;
}

/// The value of cookie `name` among a response's `Set-Cookie` headers.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| {
            let (pair, _) = value.split_once(';').unwrap_or((value, ""));
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jupyterlab_answers_below_its_prefix_and_runs_a_cell_over_the_kernel_websocket() {
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    let Launched {
        app,
        containers: _containers,
        alice,
        bob,
        session,
    } = launched_example("session-jupyterlab", "jl-photometry-demo", "jupyterlab").await;
    assert_eq!(session["cpu"], 1.0, "the declared minimum by default");
    assert_eq!(session["memory_gib"], 2.0);
    let id = session["id"].as_str().unwrap().to_owned();
    let seen = follow(&app, &alice, &id).await;
    assert_eq!(seen.last().unwrap()["status"], "ready", "{seen:?}");

    let (status, body) = proxied(&app, &alice, &format!("/sessions/{id}/api/status")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let status_body: Value = serde_json::from_str(&body).unwrap();
    assert!(status_body.get("kernels").is_some(), "{body}");
    let (status, _) = proxied(&app, &bob, &format!("/sessions/{id}/api/status")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Through a real listener, as a browser would: the XSRF cookie from the lab page, a kernel,
    // then its WebSocket.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app.router.clone()).into_future());
    let base = format!("http://{address}/sessions/{id}");
    let client = reqwest::Client::new();
    let bearer = format!("Bearer {}", alice.token);
    let lab = client
        .get(format!("{base}/lab"))
        .header(reqwest::header::AUTHORIZATION, &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(
        lab.status(),
        reqwest::StatusCode::OK,
        "{:?}",
        lab.headers().clone()
    );
    let xsrf = cookie(&lab, "_xsrf").expect("JupyterLab sets its XSRF cookie");
    let kernel: Value = client
        .post(format!("{base}/api/kernels"))
        .header(reqwest::header::AUTHORIZATION, &bearer)
        .header(reqwest::header::COOKIE, format!("_xsrf={xsrf}"))
        .header("X-XSRFToken", &xsrf)
        .json(&json!({"name": "python3"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kernel = kernel["id"].as_str().expect("a kernel started").to_owned();
    let mut request = format!("ws://{address}/sessions/{id}/api/kernels/{kernel}/channels")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let execute = json!({
        "header": {"msg_id": "cell-1", "username": "alice", "session": "test",
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": "6 * 7", "silent": false, "store_history": false,
                    "user_expressions": {}, "allow_stdin": false, "stop_on_error": true}
    });
    futures_util::SinkExt::send(&mut socket, Message::text(execute.to_string()))
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_mins(1), async {
        while let Some(message) = socket.next().await {
            let Ok(Message::Text(text)) = message else {
                continue;
            };
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["msg_type"] == "execute_result" {
                return message["content"]["data"]["text/plain"].clone();
            }
        }
        Value::Null
    })
    .await
    .expect("the cell runs within a minute");
    assert_eq!(result, "42");
    server.abort();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/sessions/{id}"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_desktop_session_opens_novnc_on_its_own_websocket_path() {
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    let Launched {
        app,
        containers: _containers,
        alice,
        bob,
        session,
    } = launched_example("session-desktop", "x-ds9", "desktop").await;
    let id = session["id"].as_str().unwrap().to_owned();
    assert_eq!(
        session["url"],
        format!(
            "/sessions/{id}/vnc.html?path=sessions/{id}/websockify&autoconnect=1&resize=remote"
        )
    );
    let seen = follow(&app, &alice, &id).await;
    assert_eq!(seen.last().unwrap()["status"], "ready", "{seen:?}");
    let (status, page) = proxied(&app, &alice, &format!("/sessions/{id}/vnc.html")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("noVNC"), "{page}");
    let (status, _) = proxied(&app, &bob, &format!("/sessions/{id}/vnc.html")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // noVNC's WebSocket, through a real listener: the VNC server's RFB banner.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app.router.clone()).into_future());
    let connect = |user: &TestUser| {
        let mut request = format!("ws://{address}/sessions/{id}/websockify")
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", user.token).parse().unwrap(),
        );
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "binary".parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    assert!(connect(&bob).await.is_err(), "bob's handshake is refused");
    let (mut socket, _) = connect(&alice).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while received.len() < 12 {
            match socket.next().await {
                Some(Ok(Message::Binary(bytes))) => received.extend_from_slice(&bytes),
                Some(Ok(_)) => {}
                other => panic!("no banner: {other:?}"),
            }
        }
    })
    .await
    .expect("the banner arrives");
    let banner = String::from_utf8_lossy(&received[..12]).into_owned();
    assert!(banner.starts_with("RFB 003."), "{banner:?}");
    server.abort();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/sessions/{id}"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_whose_image_cannot_be_pulled_fails_with_the_reason() {
    use crate::common::datalabs::{DatalabFixture, insert_datalab};

    let app = TestApp::with_config(Backend::Sqlite, common::real_builds).await;
    let _containers = Containers {
        docker: docker().await,
        instance: app.config.instance(),
    };
    let alice = app.user("alice", Role::Author).await;
    let mut fixture = DatalabFixture::published(
        "vanished-image",
        &app.user_id(&alice).await,
        "Vanished",
        "Its image is not in the registry",
    );
    fixture.kind = "generic";
    fixture.metadata["service"] =
        json!({"port": 8050, "healthPath": "/health", "command": ["python", "app.py"]});
    let datalab = insert_datalab(&app.state.database, &fixture).await;
    let missing = format!(
        "{}/datalabs/{}",
        common::registry_address(),
        common::unique_name("never-pushed")
    );
    labforge::with_pool!(&app.state.database, write, |pool| {
        sqlx::query(
            "INSERT INTO builds (id, datalab_id, version_id, number, status, queued_at, image, \
             digest) SELECT $1, $2, v.id, 0, 'succeeded', $3, $4, $5 FROM versions v \
             WHERE v.datalab_id = $2",
        )
        .bind(labforge::storage::new_id())
        .bind(&datalab)
        .bind(chrono::Utc::now())
        .bind(format!("{missing}:0.0.1-0"))
        .bind(format!("sha256:{}", "0".repeat(64)))
        .execute(pool)
        .await
        .unwrap();
    });
    let (status, session) = app
        .call(
            Method::POST,
            "/api/sessions",
            As::User(&alice),
            Some(json!({"datalab": "vanished-image"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{session}");
    let id = session["id"].as_str().unwrap().to_owned();
    let seen = follow(&app, &alice, &id).await;
    let last = seen.last().unwrap();
    assert_eq!(last["status"], "failed", "{seen:?}");
    let reason = last["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("cannot pull {missing}@sha256:")),
        "{reason}"
    );
    let (_, session) = app
        .call(
            Method::GET,
            &format!("/api/sessions/{id}"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(session["status"], "failed");
    assert!(session["ended_at"].is_string(), "{session}");
}

/// `labforge serve` as its own process on the test app's data folder, database and registry, so
/// that it can be killed with SIGKILL and started again.
struct Server {
    child: std::process::Child,
    url: String,
    log: std::path::PathBuf,
}

impl Server {
    async fn start(config: &labforge::config::Config) -> Self {
        let port = common::registry_peers::free_port();
        let log = config.data_dir.join(format!("serve-{port}.log"));
        std::fs::create_dir_all(&config.data_dir).unwrap();
        let output = std::fs::File::create(&log).unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_labforge"));
        command
            .arg("serve")
            .env("LABFORGE_LISTEN", format!("127.0.0.1:{port}"))
            .env("LABFORGE_DATA_DIR", &config.data_dir)
            .env(
                "LABFORGE_DATABASE_URL",
                config.database.url.as_ref().unwrap(),
            )
            .env(
                "LABFORGE_WORKSPACES_DIR",
                config.datalabs.workspaces_dir.as_ref().unwrap(),
            )
            .env("LABFORGE_REGISTRY", &config.registry.address)
            .env("LABFORGE_BUILD_CONCURRENCY", "0")
            .stdout(output.try_clone().unwrap())
            .stderr(output);
        if let Some(account) = config.registry.credentials() {
            command
                .env("LABFORGE_REGISTRY_USERNAME", account.username)
                .env("LABFORGE_REGISTRY_PASSWORD", account.password);
        }
        let server = Self {
            child: command.spawn().expect("the binary starts"),
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        for _ in 0..240 {
            if reqwest::get(format!("{}/api/openapi.json", server.url))
                .await
                .is_ok_and(|response| response.status().is_success())
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("labforge serve did not answer:\n{}", server.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        user: &TestUser,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let client = reqwest::Client::new();
        let mut request = client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&user.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Polls the session until its status settles.
    async fn settled(&self, user: &TestUser, id: &str) -> Value {
        for _ in 0..360 {
            let (status, session) = self
                .call(Method::GET, &format!("/api/sessions/{id}"), user, None)
                .await;
            assert_eq!(status, StatusCode::OK, "{session}");
            if ["ready", "failed", "ended"].contains(&session["status"].as_str().unwrap()) {
                return session;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("session {id} never settled:\n{}", self.log_text());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ids of the containers and networks labelled with `session`.
async fn owned_by(containers: &Containers, session: &str) -> Vec<String> {
    containers
        .of_instance()
        .await
        .into_iter()
        .filter(|container| {
            container
                .labels
                .as_ref()
                .and_then(|labels| labels.get("labforge.session"))
                .is_some_and(|label| label == session)
        })
        .filter_map(|container| container.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_outlive_a_killed_server_and_are_adopted_once_on_restart() {
    let app = TestApp::with_config(Backend::Sqlite, common::real_builds).await;
    let containers = Containers {
        docker: docker().await,
        instance: app.config.instance(),
    };
    let name = common::unique_name("session-restart");
    let alice = app.user("alice", Role::Author).await;
    build_example(&app, &alice, &name, "web-catalog-browser", "generic").await;

    let mut server = Server::start(&app.config).await;
    let launch = json!({"datalab": name, "cpu": 0.5, "memory_gib": 0.5});
    let (status, ready) = server
        .call(Method::POST, "/api/sessions", &alice, Some(launch.clone()))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{ready}");
    let ready_id = ready["id"].as_str().unwrap().to_owned();
    let ready = server.settled(&alice, &ready_id).await;
    assert_eq!(ready["status"], "ready", "{ready}\n{}", server.log_text());
    let ready_container = owned_by(&containers, &ready_id).await;
    assert_eq!(ready_container.len(), 1);
    // The second launch is killed in flight, wherever it is.
    let (status, in_flight) = server
        .call(Method::POST, "/api/sessions", &alice, Some(launch))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{in_flight}");
    let in_flight_id = in_flight["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();

    let server = Server::start(&app.config).await;
    // Reconciled before the API answered: the ready one is adopted as it was.
    let (status, listed) = server
        .call(Method::GET, "/api/sessions", &alice, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let mut ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|session| session["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut expected = vec![ready_id.as_str(), in_flight_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "none lost, none duplicated: {listed}");
    let adopted = server.settled(&alice, &ready_id).await;
    assert_eq!(adopted["status"], "ready", "{adopted}");
    assert_eq!(owned_by(&containers, &ready_id).await, ready_container);
    let (status, page) = server
        .call(Method::GET, &format!("/sessions/{ready_id}/"), &alice, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");

    // The interrupted launch either resumed to ready in its one container, or ended saying why
    // with nothing of it left behind.
    let interrupted = server.settled(&alice, &in_flight_id).await;
    let left = owned_by(&containers, &in_flight_id).await;
    println!(
        "the launch killed in flight: {} ({})",
        interrupted["status"], interrupted["reason"]
    );
    match interrupted["status"].as_str().unwrap() {
        "ready" => assert_eq!(left.len(), 1, "{interrupted}"),
        "ended" | "failed" => {
            assert!(left.is_empty(), "{interrupted}: {left:?}");
            assert!(
                interrupted["reason"]
                    .as_str()
                    .is_some_and(|reason| !reason.is_empty()),
                "{interrupted}"
            );
        }
        other => panic!("unexpected status {other}: {interrupted}"),
    }

    for id in [&ready_id, &in_flight_id] {
        let (status, body) = server
            .call(Method::DELETE, &format!("/api/sessions/{id}"), &alice, None)
            .await;
        assert!(status.is_success(), "{status}: {body}");
    }
    for _ in 0..60 {
        if containers.of_instance().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        containers.of_instance().await.is_empty(),
        "deleted sessions leave no container"
    );
}
