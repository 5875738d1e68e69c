//! The sessions' lifecycle ([`SessionRuntime`]: launch, stop, reconcile, cull), and the Docker
//! runtime it drives for docker datazones ([`super::kubernetes`] is the other): one container per
//! session, named `labforge-session-<id>` and labelled with its session, user, datalab and
//! version, so that [`SessionRuntime::reconcile`] can match the daemon's containers with the
//! database when labforge starts.
//!
//! Every container runs the image by digest, as uid 1000, with all capabilities dropped,
//! `no-new-privileges`, hard CPU and memory limits (no swap beyond the memory), the data volumes
//! read-only at their catalogue mount paths (Docker volumes named `labforge-data-<name>`, which
//! operators fill), and its owner's workspace read-write at [`WORKSPACE_FOLDER`]. Its service
//! port is published on 127.0.0.1 only, on a port the daemon picks: the proxy is the one way in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountBindOptions, MountType, NetworkCreateRequest,
    PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, ListNetworksOptions,
    LogsOptions, RemoveContainerOptions, StartContainerOptions,
};
use chrono::Utc;
use futures_util::StreamExt;

use tokio::sync::broadcast;

use super::kubernetes::KubernetesClients;
use super::{
    MountedVolume, SessionError, SessionProgress, SessionSettings, SessionStatus, WORKSPACE_FOLDER,
    command_of, environment_of, prefix_of,
};
use crate::metadata::DatalabKind;
use crate::storage::Database;
use crate::storage::sessions::SessionRow;

/// Seconds one call to a daemon may take; pulls stream, so this bounds silence.
const DAEMON_TIMEOUT_SECONDS: u64 = 600;
/// How often a launch probes the health endpoint.
const HEALTH_POLL: Duration = Duration::from_millis(50);
/// How many lines of a container's output the logs endpoint and a failure's reason show.
const LOG_LINES: &str = "200";
/// The label every session container carries, with the session's id.
pub const SESSION_LABEL: &str = "labforge.session";
/// The label naming the labforge instance that launched it.
pub const INSTANCE_LABEL: &str = "labforge.instance";

/// A session's runtime, as its row records it.
const KUBERNETES: &str = "kubernetes";

#[derive(Clone)]
pub struct SessionRuntime {
    pub(super) database: Database,
    pub(super) settings: Arc<SessionSettings>,
    /// One client per daemon endpoint, made on first use.
    daemons: Arc<Mutex<HashMap<String, Docker>>>,
    /// One client per kubeconfig and API server, made on first use.
    pub(super) clusters: KubernetesClients,
    /// Every status change of this process's sessions, as it is recorded.
    progress: broadcast::Sender<(String, SessionProgress)>,
}

/// How many status changes a slow follower may fall behind before it reads the database again.
const PROGRESS_BACKLOG: usize = 256;

/// The container of session `id`.
pub fn container_name(id: &str) -> String {
    format!("labforge-session-{id}")
}

impl SessionRuntime {
    pub fn new(database: Database, settings: Arc<SessionSettings>) -> Self {
        Self {
            database,
            settings,
            daemons: Arc::default(),
            clusters: KubernetesClients::default(),
            progress: broadcast::channel(PROGRESS_BACKLOG).0,
        }
    }

    /// Status changes as they are recorded, for progress streams.
    pub fn subscribe(&self) -> broadcast::Receiver<(String, SessionProgress)> {
        self.progress.subscribe()
    }

    /// Records a live session's new status and tells the followers; false when the session had
    /// already failed or ended.
    pub(super) async fn record(
        &self,
        id: &str,
        status: SessionStatus,
        reason: Option<&str>,
    ) -> Result<bool, crate::storage::StorageError> {
        let moved = self.database.set_session_status(id, status, reason).await?;
        if moved {
            // Nobody following is fine.
            let _ = self.progress.send((
                id.to_owned(),
                SessionProgress {
                    status,
                    reason: reason.map(str::to_owned),
                },
            ));
        }
        Ok(moved)
    }

    fn daemon(&self, endpoint: &str) -> Result<Docker, bollard::errors::Error> {
        let mut daemons = self
            .daemons
            .lock()
            .expect("the daemon table is never poisoned");
        if let Some(docker) = daemons.get(endpoint) {
            return Ok(docker.clone());
        }
        let docker = if let Some(path) = endpoint.strip_prefix("unix://") {
            Docker::connect_with_unix(path, DAEMON_TIMEOUT_SECONDS, bollard::API_DEFAULT_VERSION)
        } else {
            Docker::connect_with_http(
                endpoint,
                DAEMON_TIMEOUT_SECONDS,
                bollard::API_DEFAULT_VERSION,
            )
        }?;
        daemons.insert(endpoint.to_owned(), docker.clone());
        Ok(docker)
    }

    /// The daemon of `endpoint`, its API version negotiated (dockerd 20.10 speaks 1.41 at most).
    async fn negotiated(&self, endpoint: &str) -> Result<Docker, bollard::errors::Error> {
        let docker = self.daemon(endpoint)?;
        let docker = docker.negotiate_version().await?;
        self.daemons
            .lock()
            .expect("the daemon table is never poisoned")
            .insert(endpoint.to_owned(), docker.clone());
        Ok(docker)
    }

    /// Takes a pending session to `ready`, or to `failed` with the reason; a session deleted
    /// meanwhile has its container removed.
    pub async fn launch(self, session: SessionRow, owner: String) {
        let id = session.id.clone();
        let outcome = self.try_launch(&session, &owner).await;
        let reason = match outcome {
            Ok(()) => return,
            Err(reason) => reason,
        };
        tracing::info!(session = %id, %reason, "launch failed");
        if let Err(error) = self.record(&id, SessionStatus::Failed, Some(&reason)).await {
            tracing::warn!(session = %id, %error, "cannot record a failed launch");
        }
        self.remove_objects(&session).await;
    }

    /// Removes what runs session `session`, wherever it runs; gone already is fine, and a
    /// runtime out of reach keeps it until reconciling removes it (it belongs to no live session
    /// any more).
    async fn remove_objects(&self, session: &SessionRow) {
        if session.runtime == KUBERNETES {
            self.remove_from_kubernetes(session).await;
            return;
        }
        match self.daemon(&session.runtime_endpoint) {
            Ok(docker) => remove(&docker, &container_name(&session.id)).await,
            Err(error) => {
                tracing::warn!(
                    session = %session.id,
                    %error,
                    "cannot reach the daemon to remove a session's container"
                );
            }
        }
    }

    /// `Err` carries the reason shown to the owner.
    async fn try_launch(&self, session: &SessionRow, owner: &str) -> Result<(), String> {
        if session.runtime == KUBERNETES {
            return self.launch_on_kubernetes(session, owner).await;
        }
        let daemon_error =
            |action: &str, error: bollard::errors::Error| format!("{action}: {error}");
        let docker = self
            .negotiated(&session.runtime_endpoint)
            .await
            .map_err(|error| daemon_error("the Docker daemon cannot be reached", error))?;
        self.advance(session, SessionStatus::Pulling).await?;
        if docker.inspect_image(&session.image).await.is_err() {
            self.pull(&docker, &session.image)
                .await
                .map_err(|error| daemon_error(&format!("cannot pull {}", session.image), error))?;
        }
        self.advance(session, SessionStatus::Creating).await?;
        let workspace = self
            .settings
            .workspaces
            .of(owner)
            .map_err(|error| format!("the workspace cannot be prepared: {error}"))?;
        let body = container_body(
            session,
            owner,
            &self.settings.instance,
            &workspace.display().to_string(),
        )?;
        docker
            .create_network(NetworkCreateRequest {
                name: container_name(&session.id),
                driver: Some("bridge".to_owned()),
                labels: Some(HashMap::from([
                    (SESSION_LABEL.to_owned(), session.id.clone()),
                    (INSTANCE_LABEL.to_owned(), self.settings.instance.clone()),
                ])),
                ..NetworkCreateRequest::default()
            })
            .await
            .map_err(|error| daemon_error("cannot create the session's network", error))?;
        let container = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(container_name(&session.id)),
                    ..CreateContainerOptions::default()
                }),
                body,
            )
            .await
            .map_err(|error| daemon_error("cannot create the container", error))?
            .id;
        self.database
            .set_session_container(&session.id, &container, None)
            .await
            .map_err(|error| error.to_string())?;
        self.advance(session, SessionStatus::Starting).await?;
        docker
            .start_container(&container, None::<StartContainerOptions>)
            .await
            .map_err(|error| daemon_error("cannot start the container", error))?;
        let address = published_address(&docker, &container, session.port)
            .await
            .ok_or("the container's port was not published")?;
        self.database
            .set_session_container(&session.id, &container, Some(&address))
            .await
            .map_err(|error| error.to_string())?;
        self.advance(session, SessionStatus::WaitingForHealth)
            .await?;
        self.wait_for_health(&docker, session, &container, &address)
            .await?;
        self.advance(session, SessionStatus::Ready).await
    }

    /// Records `status`; a session that ended meanwhile (deleted by its owner) stops the launch.
    pub(super) async fn advance(
        &self,
        session: &SessionRow,
        status: SessionStatus,
    ) -> Result<(), String> {
        match self.record(&session.id, status, None).await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the session ended during its launch".to_owned()),
            Err(error) => Err(error.to_string()),
        }
    }

    async fn pull(&self, docker: &Docker, image: &str) -> Result<(), bollard::errors::Error> {
        let credentials = self
            .settings
            .registry
            .as_ref()
            .filter(|(registry, _)| image.starts_with(&format!("{registry}/")))
            .map(|(registry, credentials)| {
                crate::buildkit::docker_credentials(registry, credentials)
            });
        let mut progress = docker.create_image(
            Some(CreateImageOptions {
                from_image: Some(image.to_owned()),
                ..CreateImageOptions::default()
            }),
            None,
            credentials,
        );
        while let Some(step) = progress.next().await {
            step?;
        }
        Ok(())
    }

    /// Polls the health endpoint at the path the proxy would send it to, until it answers 200,
    /// the container stops, or the ready timeout passes.
    async fn wait_for_health(
        &self,
        docker: &Docker,
        session: &SessionRow,
        container: &str,
        address: &str,
    ) -> Result<(), String> {
        let kind: DatalabKind = session.kind.parse().map_err(|_| "unknown kind")?;
        let path = super::proxy::upstream_path(kind, &session.id, &session.health_path);
        let url = format!("http://{address}{path}");
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|error| error.to_string())?;
        let timeout = Duration::from_secs(u64::from(self.settings.limits.ready_timeout_seconds));
        let started = Instant::now();
        let mut last = "no answer yet".to_owned();
        let mut polls = 0_u32;
        while started.elapsed() < timeout {
            match client.get(&url).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => last = format!("it answered {}", response.status()),
                Err(error) => last = format!("no answer ({error})"),
            }
            polls += 1;
            if polls.is_multiple_of(10) {
                let state = docker
                    .inspect_container(container, None)
                    .await
                    .ok()
                    .and_then(|details| details.state);
                if state.as_ref().and_then(|state| state.running) != Some(true) {
                    let code = state.and_then(|state| state.exit_code).unwrap_or_default();
                    let output = tail(docker, container, "20").await;
                    return Err(format!(
                        "the container stopped (exit code {code}) before {} answered; its last \
                         output:\n{output}",
                        session.health_path
                    ));
                }
            }
            tokio::time::sleep(HEALTH_POLL).await;
        }
        Err(format!(
            "{} did not answer 200 within {} s: {last}",
            session.health_path,
            timeout.as_secs()
        ))
    }

    /// Records the end of `session` and removes its container.
    pub async fn stop(
        &self,
        session: &SessionRow,
        status: SessionStatus,
        reason: &str,
    ) -> Result<(), SessionError> {
        self.record(&session.id, status, Some(reason)).await?;
        self.remove_objects(session).await;
        Ok(())
    }

    /// The container's recent output; empty before it exists or once it is gone.
    pub async fn logs(&self, session: &SessionRow) -> Result<String, SessionError> {
        if session.runtime == KUBERNETES {
            return Ok(self.kubernetes_logs(session).await);
        }
        let docker = self.daemon(&session.runtime_endpoint)?;
        Ok(tail(&docker, &container_name(&session.id), LOG_LINES).await)
    }

    /// Matches the runtimes' session containers and pods with the database: live sessions whose
    /// container runs (or whose pod is not over) are adopted (a launch interrupted before `ready`
    /// is checked again), those whose container or pod vanished end with the reason, and what
    /// belongs to no live session is removed. Sessions of a cluster out of reach are left as
    /// they are, for the next start.
    pub async fn reconcile(&self) -> Result<(), SessionError> {
        let live = self.database.live_datalab_sessions().await?;
        let (on_kubernetes, on_docker): (Vec<SessionRow>, Vec<SessionRow>) = live
            .iter()
            .cloned()
            .partition(|session| session.runtime == KUBERNETES);
        let (mut adopted, stopped) = self.reconcile_docker(&on_docker).await?;
        let (adopted_pods, unreachable) = self.reconcile_kubernetes(&on_kubernetes).await?;
        adopted.extend(adopted_pods);
        for session in live {
            if adopted.contains(&session.id) {
                if session.status != SessionStatus::Ready {
                    self.resume(session);
                }
                continue;
            }
            if unreachable.contains(&session.id) {
                continue;
            }
            let reason = match (
                session.runtime == KUBERNETES,
                session.container_id.is_some(),
            ) {
                (false, _) if stopped.contains(&session.id) => {
                    "its container stopped while labforge was not watching"
                }
                (false, true) => "its container vanished while labforge was not watching",
                (false, false) => "labforge stopped before the launch created its container",
                (true, true) => "its pod vanished or stopped while labforge was not watching",
                (true, false) => "labforge stopped before the launch created its pod",
            };
            self.record(&session.id, SessionStatus::Ended, Some(reason))
                .await?;
        }
        Ok(())
    }

    /// Docker's part of [`Self::reconcile`]: the ids of the live sessions whose container runs
    /// (a launch interrupted before starting its container starts it), and of those whose
    /// container had stopped; other session containers of this instance, and their networks, are
    /// removed.
    async fn reconcile_docker(
        &self,
        live: &[SessionRow],
    ) -> Result<(std::collections::HashSet<String>, Vec<String>), SessionError> {
        let mut endpoints: Vec<String> = live
            .iter()
            .map(|session| session.runtime_endpoint.clone())
            .collect();
        endpoints.push(self.settings.local_docker_host.clone());
        endpoints.sort();
        endpoints.dedup();
        let mut running: HashMap<String, (String, String)> = HashMap::new();
        // Sessions whose container was there but had stopped, so was removed.
        let mut stopped: Vec<String> = Vec::new();
        for endpoint in &endpoints {
            let docker = self.negotiated(endpoint).await?;
            let containers = docker
                .list_containers(Some(ListContainersOptions {
                    all: true,
                    filters: Some(HashMap::from([(
                        "label".to_owned(),
                        vec![
                            SESSION_LABEL.to_owned(),
                            format!("{INSTANCE_LABEL}={}", self.settings.instance),
                        ],
                    )])),
                    ..ListContainersOptions::default()
                }))
                .await?;
            for container in containers {
                let (Some(id), Some(session)) = (
                    container.id,
                    container
                        .labels
                        .and_then(|labels| labels.get(SESSION_LABEL).cloned()),
                ) else {
                    continue;
                };
                let state = container.state.map(|state| state.to_string());
                let is_live = live
                    .iter()
                    .any(|row| row.id == session && &row.runtime_endpoint == endpoint);
                // A launch interrupted between creating its container and starting it goes on.
                let started = match state.as_deref() {
                    Some("running") => true,
                    Some("created") if is_live => docker
                        .start_container(&id, None::<StartContainerOptions>)
                        .await
                        .inspect_err(|error| {
                            tracing::warn!(container = %id, %error, "cannot start an interrupted launch's container");
                        })
                        .is_ok(),
                    _ => false,
                };
                if is_live && started {
                    running.insert(session, (endpoint.clone(), id));
                } else {
                    tracing::info!(container = %id, %session, ?state, "removing an orphaned session container");
                    remove_container(&docker, &id).await;
                    if is_live {
                        stopped.push(session);
                    }
                }
            }
            remove_orphaned_networks(&docker, &self.settings.instance, &running).await?;
        }
        Ok((running.into_keys().collect(), stopped))
    }

    /// Waits again for the health of an adopted container or pod whose launch was interrupted.
    fn resume(&self, session: SessionRow) {
        let runtime = self.clone();
        tokio::spawn(async move {
            let result = async {
                if session.runtime == KUBERNETES {
                    return runtime.resume_on_kubernetes(&session).await;
                }
                let docker = runtime
                    .daemon(&session.runtime_endpoint)
                    .map_err(|error| error.to_string())?;
                let container = container_name(&session.id);
                let address = published_address(&docker, &container, session.port)
                    .await
                    .ok_or("the container's port is not published")?;
                runtime
                    .database
                    .set_session_container(&session.id, &container, Some(&address))
                    .await
                    .map_err(|error| error.to_string())?;
                runtime
                    .wait_for_health(&docker, &session, &container, &address)
                    .await?;
                runtime.advance(&session, SessionStatus::Ready).await
            }
            .await;
            if let Err(reason) = result {
                let _ = runtime.stop(&session, SessionStatus::Failed, &reason).await;
            }
        });
    }

    /// Stops sessions idle for longer than `launcher.idle_minutes` or older than
    /// `launcher.max_age_hours`; returns how many.
    pub async fn cull(&self) -> Result<usize, SessionError> {
        let limits = &self.settings.limits;
        let now = Utc::now();
        let idle = chrono::Duration::minutes(i64::from(limits.idle_minutes));
        let max_age = chrono::Duration::hours(i64::from(limits.max_age_hours));
        let mut stopped = 0;
        for session in self.database.live_datalab_sessions().await? {
            let mut last_activity = session.last_activity_at;
            if session.status == SessionStatus::Ready
                && now - last_activity > idle
                && let Some(kernels) = self.kernel_activity(&session).await
                && kernels > last_activity
            {
                self.database.touch_session(&session.id, kernels).await?;
                last_activity = kernels;
            }
            let reason = if session.status == SessionStatus::Ready && now - last_activity > idle {
                format!("stopped after {} minutes without use", limits.idle_minutes)
            } else if now - session.created_at > max_age {
                format!(
                    "stopped at its maximum age of {} hours",
                    limits.max_age_hours
                )
            } else {
                continue;
            };
            self.stop(&session, SessionStatus::Ended, &reason).await?;
            stopped += 1;
        }
        Ok(stopped)
    }
}

impl SessionRuntime {
    /// When a JupyterLab session's kernels (or its own API) last worked, from its `/api/status`:
    /// a notebook busy computing gets no proxied traffic but is not idle.
    async fn kernel_activity(&self, session: &SessionRow) -> Option<chrono::DateTime<Utc>> {
        if session.kind != DatalabKind::JupyterLab.as_str() {
            return None;
        }
        let address = session.address.as_deref()?;
        let url = format!("http://{address}{}api/status", prefix_of(&session.id));
        crate::install_crypto_provider();
        let status: serde_json::Value = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?
            .get(url)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        status["last_activity"]
            .as_str()?
            .parse::<chrono::DateTime<Utc>>()
            .ok()
    }
}

/// The container of `session`: image by digest, limits, security, mounts, labels, and what its
/// kind needs to serve below the session's prefix.
fn container_body(
    session: &SessionRow,
    owner: &str,
    instance: &str,
    workspace: &str,
) -> Result<ContainerCreateBody, String> {
    let kind: DatalabKind = session.kind.parse().map_err(|_| "unknown kind")?;
    let volumes: Vec<MountedVolume> = serde_json::from_str(&session.data_volumes)
        .map_err(|error| format!("stored data volumes: {error}"))?;
    let container_port = format!("{}/tcp", session.port);
    let mut mounts = vec![Mount {
        target: Some(WORKSPACE_FOLDER.to_owned()),
        source: Some(workspace.to_owned()),
        typ: Some(MountType::BIND),
        read_only: Some(false),
        bind_options: Some(MountBindOptions {
            create_mountpoint: Some(true),
            ..MountBindOptions::default()
        }),
        ..Mount::default()
    }];
    mounts.extend(volumes.iter().map(|volume| Mount {
        target: Some(volume.mount_path.clone()),
        source: Some(format!("labforge-data-{}", volume.name)),
        typ: Some(MountType::VOLUME),
        read_only: Some(true),
        ..Mount::default()
    }));
    let command = command_of(kind, &session.id);
    let memory_bytes = session.memory_mib * 1024 * 1024;
    Ok(ContainerCreateBody {
        image: Some(session.image.clone()),
        user: Some("1000:1000".to_owned()),
        cmd: command,
        env: Some(
            environment_of(&session.id)
                .into_iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
        ),
        labels: Some(HashMap::from([
            (SESSION_LABEL.to_owned(), session.id.clone()),
            (INSTANCE_LABEL.to_owned(), instance.to_owned()),
            ("labforge.user".to_owned(), owner.to_owned()),
            ("labforge.datalab".to_owned(), session.datalab.clone()),
            ("labforge.version".to_owned(), session.version.clone()),
        ])),
        exposed_ports: Some(vec![container_port.clone()]),
        host_config: Some(HostConfig {
            nano_cpus: Some(session.cpu_millis * 1_000_000),
            memory: Some(memory_bytes),
            memory_swap: Some(memory_bytes),
            pids_limit: Some(4096),
            // Its own bridge: no other session's container can reach it, nor it them.
            network_mode: Some(container_name(&session.id)),
            cap_drop: Some(vec!["ALL".to_owned()]),
            security_opt: Some(vec!["no-new-privileges".to_owned()]),
            mounts: Some(mounts),
            port_bindings: Some(HashMap::from([(
                container_port,
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".to_owned()),
                    host_port: Some(String::new()),
                }]),
            )])),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    })
}

/// `127.0.0.1:<port>` where the daemon published the container's `port`.
async fn published_address(docker: &Docker, container: &str, port: i32) -> Option<String> {
    let details = docker.inspect_container(container, None).await.ok()?;
    let host_port = details
        .network_settings?
        .ports?
        .get(&format!("{port}/tcp"))
        .cloned()
        .flatten()?
        .into_iter()
        .find_map(|binding| binding.host_port.filter(|port| !port.is_empty()))?;
    Some(format!("127.0.0.1:{host_port}"))
}

async fn tail(docker: &Docker, container: &str, lines: &str) -> String {
    let mut output = String::new();
    let mut logs = docker.logs(
        container,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_owned(),
            ..LogsOptions::default()
        }),
    );
    while let Some(Ok(chunk)) = logs.next().await {
        output.push_str(&chunk.to_string());
    }
    output
}

/// Removes a session's container, running or not, and its network; gone already is fine.
async fn remove(docker: &Docker, container: &str) {
    remove_container(docker, container).await;
    if let Err(error) = docker.remove_network(container).await
        && !is_not_found(&error)
    {
        tracing::warn!(network = %container, %error, "cannot remove a session's network");
    }
}

fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Removes `instance`'s session networks whose session has no running container.
async fn remove_orphaned_networks(
    docker: &Docker,
    instance: &str,
    running: &HashMap<String, (String, String)>,
) -> Result<(), SessionError> {
    // Networks of sessions whose container is gone (or never came).
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![format!("{INSTANCE_LABEL}={instance}")],
            )])),
        }))
        .await?;
    for network in networks {
        let session = network
            .labels
            .as_ref()
            .and_then(|labels| labels.get(SESSION_LABEL));
        if let (Some(name), Some(session)) = (network.name, session)
            && !running.contains_key(session)
            && let Err(error) = docker.remove_network(&name).await
            && !is_not_found(&error)
        {
            tracing::warn!(network = %name, %error, "cannot remove an orphaned network");
        }
    }
    Ok(())
}

async fn remove_container(docker: &Docker, container: &str) {
    if let Err(error) = docker
        .remove_container(
            container,
            Some(RemoveContainerOptions {
                force: true,
                v: false,
                ..RemoveContainerOptions::default()
            }),
        )
        .await
        && !is_not_found(&error)
    {
        tracing::warn!(%container, %error, "cannot remove a session container");
    }
}
