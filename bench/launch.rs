//! Launch-to-ready of sessions through a running `labforge serve`, side by side with the floor
//! measured in the same run: the same image, command and environment started directly on the
//! same dockerd, its health endpoint polled directly. Driven by `bench/launch.sh`, which starts
//! the service and publishes the examples.
//!
//! For each kind (a JupyterLab and a desktop datalab): one launch to pull the image (not counted),
//! then `--runs` launches one after another, each timed from `POST /api/sessions` to its `ready`
//! event on `/api/sessions/{id}/events`, and deleted (teardown timed from `DELETE` to its answer,
//! the container gone); the floor runs the launched container's configuration `--runs` times with
//! the same poll interval labforge uses. Then `--at-once` JupyterLab launches together: how many
//! became ready, how many were lost, and when the last was ready.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{RemoveContainerOptions, StartContainerOptions};
use clap::Parser;
use serde_json::{Value, json};

/// How often the floor polls the health endpoint: labforge's own interval (`HEALTH_POLL`).
const FLOOR_POLL: Duration = Duration::from_millis(50);
/// Longest a launch may take before the benchmark gives up on it.
const READY_LIMIT: Duration = Duration::from_mins(3);

#[derive(Parser)]
struct Arguments {
    /// The service, e.g. `http://127.0.0.1:5010`.
    #[arg(long)]
    url: String,
    /// The administrator's name and password, as `labforge serve` printed them.
    #[arg(long)]
    user: String,
    #[arg(long)]
    password: String,
    /// A published JupyterLab datalab; by default the marketplace's first.
    #[arg(long)]
    jupyterlab: Option<String>,
    /// A published desktop datalab; by default the marketplace's first.
    #[arg(long)]
    desktop: Option<String>,
    #[arg(long, default_value_t = 10)]
    runs: usize,
    #[arg(long, default_value_t = 8)]
    at_once: usize,
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    async fn sign_in(url: &str, user: &str, password: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let signed_in = http
            .post(format!("{url}/api/session"))
            .json(&json!({"name": user, "password": password}))
            .send()
            .await?;
        ensure!(
            signed_in.status().is_success(),
            "signing in as {user} failed: {}",
            signed_in.text().await?
        );
        let cookie = signed_in
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .context("no session cookie")?
            .to_owned();
        let token: Value = http
            .post(format!("{url}/api/tokens"))
            .header(reqwest::header::COOKIE, cookie)
            .json(&json!({"name": format!("launch benchmark {}", std::process::id())}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(Self {
            http,
            url: url.to_owned(),
            token: token["secret"]
                .as_str()
                .context("no token in the answer")?
                .to_owned(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// The name of the marketplace's first datalab of `kind`.
    async fn first_published(&self, kind: &str) -> anyhow::Result<String> {
        let (status, results) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/marketplace?kind={kind}&sort=name&per_page=1"),
                None,
            )
            .await?;
        ensure!(
            status == 200,
            "the marketplace answered {status}: {results}"
        );
        Ok(results["hits"][0]["name"]
            .as_str()
            .with_context(|| format!("no published {kind} datalab; run `labforge run` first"))?
            .to_owned())
    }

    async fn launch(&self, datalab: &str) -> anyhow::Result<String> {
        let (status, session) = self
            .call(
                reqwest::Method::POST,
                "/api/sessions",
                Some(json!({"datalab": datalab})),
            )
            .await?;
        ensure!(status == 202, "launching {datalab}: {status} {session}");
        Ok(session["id"].as_str().context("no session id")?.to_owned())
    }

    /// Follows the session's events until it settles; its last status.
    async fn settled(&self, id: &str) -> anyhow::Result<String> {
        let mut response = self
            .http
            .get(format!("{}/api/sessions/{id}/events", self.url))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?;
        let mut pending = String::new();
        let mut last = String::new();
        let deadline = Instant::now() + READY_LIMIT;
        while let Some(chunk) = tokio::time::timeout_at(deadline.into(), response.chunk())
            .await
            .context("the launch did not settle in time")??
        {
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some((event, rest)) = pending.split_once("\n\n") {
                if let Some(data) = event.lines().find_map(|line| line.strip_prefix("data: ")) {
                    let progress: Value = serde_json::from_str(data)?;
                    progress["status"]
                        .as_str()
                        .unwrap_or_default()
                        .clone_into(&mut last);
                    if ["ready", "failed", "ended"].contains(&last.as_str()) {
                        return Ok(last);
                    }
                }
                pending = rest.to_owned();
            }
        }
        Ok(last)
    }

    async fn delete(&self, id: &str) -> anyhow::Result<()> {
        let (status, body) = self
            .call(
                reqwest::Method::DELETE,
                &format!("/api/sessions/{id}"),
                None,
            )
            .await?;
        ensure!(
            (200..300).contains(&status),
            "deleting {id}: {status} {body}"
        );
        Ok(())
    }
}

/// Seconds of one launch to `ready` and of its teardown.
async fn labforge_launch(
    client: &Client,
    docker: &Docker,
    datalab: &str,
) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    let id = client.launch(datalab).await?;
    let status = client.settled(&id).await?;
    let ready = started.elapsed().as_secs_f64();
    ensure!(
        status == "ready",
        "session {id} of {datalab} ended {status}"
    );
    let started = Instant::now();
    client.delete(&id).await?;
    let teardown = started.elapsed().as_secs_f64();
    ensure!(
        docker
            .inspect_container(&format!("labforge-session-{id}"), None)
            .await
            .is_err(),
        "session {id}'s container outlived its deletion"
    );
    Ok((ready, teardown))
}

/// What the floor runs: the launched container's image, command and environment, its port and
/// the health path labforge polled.
struct FloorRecipe {
    body: ContainerCreateBody,
    port: String,
    health_path: String,
}

async fn floor_recipe(
    client: &Client,
    docker: &Docker,
    datalab: &str,
) -> anyhow::Result<FloorRecipe> {
    let id = client.launch(datalab).await?;
    let status = client.settled(&id).await?;
    ensure!(
        status == "ready",
        "the first session of {datalab} ended {status}"
    );
    let (_, session) = client
        .call(reqwest::Method::GET, &format!("/api/sessions/{id}"), None)
        .await?;
    let details = docker
        .inspect_container(&format!("labforge-session-{id}"), None)
        .await?;
    let config = details.config.context("no container configuration")?;
    let (port, health_path) = match session["kind"].as_str() {
        Some("jupyterlab") => ("8888/tcp", format!("/sessions/{id}/api/status")),
        Some("desktop") => ("6080/tcp", "/vnc.html".to_owned()),
        other => bail!("the benchmark launches JupyterLab and desktop datalabs, not {other:?}"),
    };
    client.delete(&id).await?;
    Ok(FloorRecipe {
        body: ContainerCreateBody {
            image: config.image,
            cmd: config.cmd,
            entrypoint: config.entrypoint,
            env: config.env,
            user: config.user,
            working_dir: config.working_dir,
            exposed_ports: Some(vec![port.to_owned()]),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    port.to_owned(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".to_owned()),
                        host_port: Some(String::new()),
                    }]),
                )])),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        },
        port: port.to_owned(),
        health_path,
    })
}

/// Seconds of `docker run` of the recipe to its health endpoint answering 200, and of its removal.
async fn floor_launch(docker: &Docker, recipe: &FloorRecipe) -> anyhow::Result<(f64, f64)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let started = Instant::now();
    let container = docker.create_container(None, recipe.body.clone()).await?.id;
    docker
        .start_container(&container, None::<StartContainerOptions>)
        .await?;
    let port = docker
        .inspect_container(&container, None)
        .await?
        .network_settings
        .and_then(|settings| settings.ports)
        .and_then(|ports| ports.get(&recipe.port).cloned().flatten())
        .and_then(|bindings| bindings.into_iter().find_map(|binding| binding.host_port))
        .context("the floor's port is not published")?;
    let url = format!("http://127.0.0.1:{port}{}", recipe.health_path);
    loop {
        if http
            .get(&url)
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
        {
            break;
        }
        ensure!(started.elapsed() < READY_LIMIT, "{url} never answered");
        tokio::time::sleep(FLOOR_POLL).await;
    }
    let ready = started.elapsed().as_secs_f64();
    let started = Instant::now();
    docker
        .remove_container(
            &container,
            Some(RemoveContainerOptions {
                force: true,
                ..RemoveContainerOptions::default()
            }),
        )
        .await?;
    Ok((ready, started.elapsed().as_secs_f64()))
}

/// The median and the 95th percentile (nearest rank) of `values`.
fn median_p95(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let rank = |percent: usize| {
        let index = (percent * values.len()).div_ceil(100);
        values[index.clamp(1, values.len()) - 1]
    };
    (rank(50), rank(95))
}

struct Row {
    label: String,
    labforge: (f64, f64),
    floor: (f64, f64),
}

fn print_rows(rows: &[Row]) {
    println!(
        "{:<34} {:>14} {:>14} {:>14} {:>14} {:>9}",
        "", "labforge p50 s", "labforge p95 s", "floor p50 s", "floor p95 s", "p50 ratio"
    );
    for row in rows {
        println!(
            "{:<34} {:>14.3} {:>14.3} {:>14.3} {:>14.3} {:>8.2}x",
            row.label,
            row.labforge.0,
            row.labforge.1,
            row.floor.0,
            row.floor.1,
            row.labforge.0 / row.floor.0
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    labforge::install_crypto_provider();
    let arguments = Arguments::parse();
    let client = Client::sign_in(&arguments.url, &arguments.user, &arguments.password).await?;
    let docker = Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?;
    let jupyterlab = match arguments.jupyterlab {
        Some(name) => name,
        None => client.first_published("jupyterlab").await?,
    };
    let desktop = match arguments.desktop {
        Some(name) => name,
        None => client.first_published("desktop").await?,
    };
    let mut rows = Vec::new();
    for (label, datalab) in [("jupyterlab", &jupyterlab), ("desktop", &desktop)] {
        eprintln!(
            "{label}: {datalab}, one launch to pull, then {} of each",
            arguments.runs
        );
        let recipe = floor_recipe(&client, &docker, datalab).await?;
        let (mut ready, mut teardown, mut floor_ready, mut floor_teardown) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..arguments.runs {
            let (up, down) = labforge_launch(&client, &docker, datalab).await?;
            ready.push(up);
            teardown.push(down);
            let (up, down) = floor_launch(&docker, &recipe).await?;
            floor_ready.push(up);
            floor_teardown.push(down);
        }
        rows.push(Row {
            label: format!("{label} launch to ready"),
            labforge: median_p95(&mut ready),
            floor: median_p95(&mut floor_ready),
        });
        rows.push(Row {
            label: format!("{label} teardown"),
            labforge: median_p95(&mut teardown),
            floor: median_p95(&mut floor_teardown),
        });
    }
    println!(
        "\nlaunch-to-ready and teardown, image present, {} runs each; floor: the same container \
         run directly on the same dockerd, health polled every {} ms\n",
        arguments.runs,
        FLOOR_POLL.as_millis()
    );
    print_rows(&rows);

    eprintln!("{} JupyterLab launches at once", arguments.at_once);
    let started = Instant::now();
    let launches = (0..arguments.at_once).map(|_| async {
        let id = client.launch(&jupyterlab).await?;
        let status = client.settled(&id).await?;
        anyhow::Ok((id, status, started.elapsed().as_secs_f64()))
    });
    let outcomes = futures_util::future::join_all(launches).await;
    let mut ready = 0;
    let mut slowest = 0.0_f64;
    for outcome in &outcomes {
        match outcome {
            Ok((id, status, seconds)) => {
                if status == "ready" {
                    ready += 1;
                    slowest = slowest.max(*seconds);
                } else {
                    eprintln!("session {id} ended {status}");
                }
                client.delete(id).await?;
            }
            Err(error) => eprintln!("a launch was lost: {error:#}"),
        }
    }
    println!(
        "\n{} JupyterLab launches at once: {ready} ready, {} not, the last ready after {slowest:.2} s",
        arguments.at_once,
        arguments.at_once - ready
    );
    Ok(())
}
