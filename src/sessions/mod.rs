//! Sessions: a user's running datalab. A launch is checked here, before any runtime is called
//! (the caller sees the datalab, the version has a succeeded build, resources cover the datalab's
//! declared minimum and fit the caller's quota, the volumes and the datazone exist); the session
//! is then recorded `pending`, with where its datazone runs it, and the [`SessionRuntime`] takes it
//! through `pulling`, `creating`, `starting` and `waiting_for_health` to `ready`, or to `failed`
//! with the reason: on a Docker daemon ([`docker`]) or in a Kubernetes namespace ([`kubernetes`]).
//!
//! A session is reached only through labforge's [`proxy`] at `/sessions/{id}/`, by its owner:
//! the container trusts labforge for authentication (JupyterLab runs without a token of its own).
//! Nobody else learns that a session exists: another user's session is answered like one that
//! does not.
//!
//! What each kind of datalab sees of its prefix (the contract for authors is in
//! `docs/sessions.md`):
//!
//! | kind | the container receives | it is told |
//! |---|---|---|
//! | jupyterlab | the whole path, `/sessions/{id}/lab` | `--ServerApp.base_url=/sessions/{id}/` |
//! | desktop | the path below the prefix, `/vnc.html` | noVNC opens with `path=sessions/{id}/websockify` |
//! | generic | the path below the prefix, `/` | `DATALAB_BASE_URL=/sessions/{id}/` and the `X-Forwarded-Prefix` header |

pub mod docker;
pub mod kubernetes;
pub mod proxy;
pub mod routes;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::accounts::{Caller, User};
use crate::datalabs::states::{UnknownState, text_states};
use crate::datalabs::{DatalabError, DatalabService, Workspaces};
use crate::http::openapi::FieldRule;
use crate::launcher::Runtime;
use crate::metadata::{DatalabKind, MinimumResources, ServiceContract};
use crate::rules::{SAYS_SOMETHING, TextRule, is_blank, text_rule, trim_blank};
use crate::storage::sessions::{SessionRow, SessionUsage};
use crate::storage::{Database, StorageError, new_id};

use docker::SessionRuntime;

/// The datazone a launch runs in when it names none: the Docker daemon labforge builds with.
pub const LOCAL_DATAZONE: &str = "local";
/// Where every kind of datalab finds its owner's workspace, read-write.
pub const WORKSPACE_FOLDER: &str = "/home/datalab/work";
/// Longest session name accepted, in characters.
pub const MAX_NAME_CHARACTERS: usize = 100;
/// Largest CPU or GiB figure a request may carry: far beyond any machine, small enough to count.
pub const MAX_RESOURCE: f64 = 1_000_000.0;

/// A session's name says something.
pub static NAME: TextRule = text_rule!(SAYS_SOMETHING, 1, MAX_NAME_CHARACTERS);

/// The rules of the launch request, for the OpenAPI document.
pub static BODY_RULES: [FieldRule; 1] = [FieldRule::new("LaunchRequest", "name", &NAME)];

text_states! {
    /// Where a session stands, in the order a launch goes through them; it ends `ready` and then
    /// `ended`, or `failed` with its reason.
    pub enum SessionStatus ("session status") {
        Pending = "pending",
        Pulling = "pulling",
        Creating = "creating",
        Starting = "starting",
        WaitingForHealth = "waiting_for_health",
        Ready = "ready",
        Failed = "failed",
        Ended = "ended",
    }
}

impl SessionStatus {
    /// True once the session holds nothing any more.
    pub const fn has_ended(self) -> bool {
        matches!(self, Self::Failed | Self::Ended)
    }

    /// True once a launch has nothing more to report.
    pub const fn is_settled(self) -> bool {
        matches!(self, Self::Ready | Self::Failed | Self::Ended)
    }
}

/// The `launcher` section of the configuration: per-user quotas and the session lifetimes.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LauncherConfig {
    /// Sessions a user may have that have neither failed nor ended.
    pub max_sessions_per_user: u32,
    /// CPUs all of a user's live sessions may hold together.
    pub max_cpu_per_user: u32,
    /// Memory all of a user's live sessions may hold together, in GiB.
    pub max_memory_gib_per_user: u32,
    /// A session without proxied traffic for this long is stopped.
    pub idle_minutes: u32,
    /// A session is stopped this long after its launch, busy or not.
    pub max_age_hours: u32,
    /// How long a launch may take from the container's start to its health endpoint answering.
    pub ready_timeout_seconds: u32,
    /// Live sessions of all users the `local` datazone takes together; unset, no limit (other
    /// datazones keep theirs in the catalogue).
    pub local_max_sessions: Option<u32>,
    /// CPUs all live sessions in the `local` datazone may hold together; unset, no limit.
    pub local_max_cpu: Option<u32>,
    /// Memory all live sessions in the `local` datazone may hold together, in GiB; unset, no
    /// limit.
    pub local_max_memory_gib: Option<u32>,
}

impl Default for LauncherConfig {
    fn default() -> Self {
        Self {
            max_sessions_per_user: 2,
            max_cpu_per_user: 8,
            max_memory_gib_per_user: 32,
            idle_minutes: 60,
            max_age_hours: 24,
            ready_timeout_seconds: 180,
            local_max_sessions: None,
            local_max_cpu: None,
            local_max_memory_gib: None,
        }
    }
}

/// What the sessions service needs of the configuration.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub limits: LauncherConfig,
    pub workspaces: Workspaces,
    /// The Docker daemon of the [`LOCAL_DATAZONE`].
    pub local_docker_host: String,
    /// The registry images are pulled from, and the build account's credentials there.
    pub registry: Option<(String, crate::images::Credentials)>,
    /// Names this labforge among others sharing a daemon (tests, a staging service): it adopts
    /// and removes only the containers labelled with it.
    pub instance: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A value of the launch request breaks a rule; `field` is its path in the request.
    #[error("`{field}` is not valid: {reason}")]
    InvalidField { field: String, reason: String },
    /// The request names something that does not exist (a data volume, a datazone); `field` is
    /// its path in the request.
    #[error("`{field}`: {reason}")]
    UnknownReference { field: String, reason: String },
    /// The version exists but has no succeeded build to run.
    #[error("{0}")]
    NotBuilt(String),
    /// The launch would exceed one of the caller's quotas; `limit` is its configuration key.
    #[error("quota `launcher.{limit}` would be exceeded: {detail}")]
    QuotaExceeded { limit: &'static str, detail: String },
    /// The datazone's sessions together would exceed one of its totals (`limit`, a field of the
    /// datazone).
    #[error("the datazone {datazone:?} is full: its `{limit}` would be exceeded: {detail}")]
    DatazoneFull {
        datazone: String,
        limit: &'static str,
        detail: String,
    },
    /// No such session, or someone else's: the two are not told apart.
    #[error("there is no session {0:?}")]
    UnknownSession(String),
    #[error(transparent)]
    Datalab(#[from] DatalabError),
    #[error("the container runtime failed: {0}")]
    Runtime(#[from] bollard::errors::Error),
    /// A Kubernetes datazone's cluster could not be reached or refused a request.
    #[error("the Kubernetes cluster failed: {0}")]
    Kubernetes(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> SessionError {
    SessionError::InvalidField {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A launch, as the Launch dialog sends it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchRequest {
    /// The datalab's name.
    pub datalab: String,
    /// By default the newest version the caller may run that has a succeeded build.
    #[serde(default)]
    pub version: Option<String>,
    /// CPUs; by default the datalab's declared minimum, or 1.
    #[serde(default)]
    #[schema(exclusive_minimum = 0.0, maximum = 1_000_000.0)]
    pub cpu: Option<f64>,
    /// Memory in GiB; by default the datalab's declared minimum, or 2.
    #[serde(default)]
    #[schema(exclusive_minimum = 0.0, maximum = 1_000_000.0)]
    pub memory_gib: Option<f64>,
    /// Names of data volumes of the catalogue, mounted read-only at their mount paths.
    #[serde(default)]
    pub data_volumes: Vec<String>,
    /// A datazone of the catalogue (docker or kubernetes); by default `local`, the daemon
    /// labforge builds with.
    #[serde(default)]
    pub datazone: Option<String>,
    /// A name for the session list; the datalab's name by default.
    #[serde(default)]
    pub name: Option<String>,
}

/// A data volume as mounted into a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MountedVolume {
    pub name: String,
    pub mount_path: String,
}

/// A session as its owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub id: String,
    pub name: String,
    pub datalab: String,
    pub version: String,
    pub kind: DatalabKind,
    pub status: SessionStatus,
    /// Why it failed or ended.
    pub reason: Option<String>,
    pub cpu: f64,
    pub memory_gib: f64,
    pub data_volumes: Vec<MountedVolume>,
    pub datazone: String,
    /// Where its owner opens it, through labforge's proxy.
    pub url: String,
    pub created_at: DateTime<Utc>,
    pub ready_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub last_activity_at: DateTime<Utc>,
}

/// The command a session's container runs instead of its image's: JupyterLab without a token of
/// its own (labforge's proxy lets only the owner in), serving below the session's prefix.
fn command_of(kind: DatalabKind, id: &str) -> Option<Vec<String>> {
    (kind == DatalabKind::JupyterLab).then(|| {
        [
            "jupyter",
            "lab",
            "--ip=0.0.0.0",
            "--port=8888",
            "--no-browser",
            "--IdentityProvider.token=",
            "--PasswordIdentityProvider.hashed_password=",
            "--ServerApp.root_dir=/home/datalab",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([format!("--ServerApp.base_url={}", prefix_of(id))])
        .collect()
    })
}

/// The environment every session's container gets, whatever runs it.
fn environment_of(id: &str) -> [(&'static str, String); 3] {
    [
        ("DATALAB_BASE_URL", prefix_of(id)),
        ("DATALAB_SESSION", id.to_owned()),
        ("DATALAB_WORKSPACE", WORKSPACE_FOLDER.to_owned()),
    ]
}

/// The path below which the proxy serves session `id`, with its trailing slash.
pub fn prefix_of(id: &str) -> String {
    format!("/sessions/{id}/")
}

impl TryFrom<SessionRow> for Session {
    type Error = StorageError;

    fn try_from(row: SessionRow) -> Result<Self, Self::Error> {
        let corrupt = |what: &'static str, detail: String| StorageError::Corrupt { what, detail };
        let kind: DatalabKind =
            row.kind
                .parse()
                .map_err(|error: crate::metadata::UnknownDatalabKind| {
                    corrupt("session kind", error.0)
                })?;
        let data_volumes: Vec<MountedVolume> = serde_json::from_str(&row.data_volumes)
            .map_err(|error| corrupt("session data volumes", error.to_string()))?;
        let prefix = prefix_of(&row.id);
        let url = match kind {
            DatalabKind::JupyterLab => format!("{prefix}lab"),
            DatalabKind::Desktop => format!(
                "{prefix}vnc.html?path={}websockify&autoconnect=1&resize=remote",
                prefix.trim_start_matches('/')
            ),
            DatalabKind::Generic => prefix,
        };
        #[expect(
            clippy::cast_precision_loss,
            reason = "thousandths of a CPU and MiB are far below 2^52"
        )]
        let (cpu, memory_gib) = (
            row.cpu_millis as f64 / 1000.0,
            row.memory_mib as f64 / 1024.0,
        );
        Ok(Self {
            id: row.id,
            name: row.name,
            datalab: row.datalab,
            version: row.version,
            kind,
            status: row.status,
            reason: row.reason,
            cpu,
            memory_gib,
            data_volumes,
            datazone: row.datazone,
            url,
            created_at: row.created_at,
            ready_at: row.ready_at,
            ended_at: row.ended_at,
            last_activity_at: row.last_activity_at,
        })
    }
}

/// Where a session runs, from its datazone: a Docker daemon's endpoint, or a kubeconfig (empty
/// for labforge's own), an API server replacing the kubeconfig's, and a namespace (`None` for the
/// kubeconfig's).
struct Placement {
    datazone: String,
    runtime: Runtime,
    endpoint: String,
    api_server: Option<String>,
    namespace: Option<String>,
    totals: Totals,
}

/// What live sessions may hold together (a user's, or a datazone's); `None` is no limit.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    sessions: Option<i64>,
    cpu: Option<i64>,
    memory_gib: Option<i64>,
}

/// The total a launch would pass, with its most.
enum Passed {
    Sessions(i64),
    Cpu(i64),
    MemoryGib(i64),
}

impl Totals {
    const fn is_unlimited(self) -> bool {
        self.sessions.is_none() && self.cpu.is_none() && self.memory_gib.is_none()
    }

    /// The first total that one more session of `cpu_millis` and `memory_mib` beside `usage`
    /// would pass.
    fn passed_by(self, usage: &SessionUsage, cpu_millis: i64, memory_mib: i64) -> Option<Passed> {
        if let Some(most) = self.sessions
            && usage.sessions >= most
        {
            return Some(Passed::Sessions(most));
        }
        if let Some(most) = self.cpu
            && usage.cpu_millis + cpu_millis > most * 1000
        {
            return Some(Passed::Cpu(most));
        }
        if let Some(most) = self.memory_gib
            && usage.memory_mib + memory_mib > most * 1024
        {
            return Some(Passed::MemoryGib(most));
        }
        None
    }
}

/// A progress report of a launch, as Server-Sent Events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SessionProgress {
    pub status: SessionStatus,
    pub reason: Option<String>,
}

#[derive(Clone)]
pub struct SessionService {
    database: Database,
    datalabs: DatalabService,
    settings: Arc<SessionSettings>,
    runtime: SessionRuntime,
    /// When each session's activity was last recorded, so that busy sessions do not write on
    /// every proxied request.
    activity: Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
    /// Held from a launch's quota check to its session's insertion.
    launches: Arc<tokio::sync::Mutex<()>>,
}

/// How often proxied traffic to one session is recorded at most.
const ACTIVITY_RESOLUTION: std::time::Duration = std::time::Duration::from_secs(30);

impl std::fmt::Debug for SessionService {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SessionService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SessionService {
    pub fn new(database: Database, datalabs: DatalabService, settings: SessionSettings) -> Self {
        let settings = Arc::new(settings);
        let runtime = SessionRuntime::new(database.clone(), settings.clone());
        Self {
            database,
            datalabs,
            settings,
            runtime,
            activity: Arc::default(),
            launches: Arc::default(),
        }
    }

    /// Notes proxied traffic to session `id` (at most every [`ACTIVITY_RESOLUTION`]), which
    /// keeps it from being culled as idle.
    pub async fn note_activity(&self, id: &str) {
        let now = std::time::Instant::now();
        {
            let mut activity = self
                .activity
                .lock()
                .expect("the activity table is never poisoned");
            if activity
                .get(id)
                .is_some_and(|last| now.duration_since(*last) < ACTIVITY_RESOLUTION)
            {
                return;
            }
            activity.insert(id.to_owned(), now);
        }
        if let Err(error) = self.database.touch_session(id, Utc::now()).await {
            tracing::warn!(session = %id, %error, "cannot record a session's activity");
        }
    }

    pub fn runtime(&self) -> &SessionRuntime {
        &self.runtime
    }

    /// Checks the launch, records the session `pending` and hands it to the runtime.
    pub async fn launch(
        &self,
        user: &User,
        request: LaunchRequest,
    ) -> Result<Session, SessionError> {
        let name = match &request.name {
            Some(name) => check_name(name)?,
            None => request.datalab.clone(),
        };
        let caller = Caller::User(user.clone());
        let launchable = self
            .datalabs
            .launchable(&caller, &request.datalab, request.version.as_deref())
            .await?;
        let Some((image, digest)) = &launchable.image else {
            let which = request.version.as_deref().map_or_else(
                || "no version".to_owned(),
                |version| format!("version {version}"),
            );
            return Err(SessionError::NotBuilt(format!(
                "{which} of {:?} has a succeeded build to launch: build it first",
                launchable.datalab
            )));
        };
        let image = by_digest(image, digest);
        let kind: DatalabKind =
            launchable
                .kind
                .parse()
                .map_err(
                    |error: crate::metadata::UnknownDatalabKind| StorageError::Corrupt {
                        what: "datalab kind",
                        detail: error.0,
                    },
                )?;
        let metadata = launchable.metadata.as_ref();
        let (cpu_millis, memory_mib) = resources(&request, &launchable.datalab, metadata)?;
        let (port, health_path) = service_of(kind, metadata)?;
        let data_volumes = self.data_volumes(&request.data_volumes).await?;
        let placement = self.datazone(request.datazone.as_deref()).await?;
        // Checked and recorded under one lock, so that launches at once cannot both pass a quota
        // only one of them fits in (within this process; the API runs in one).
        let quota_guard = self.launches.lock().await;
        self.check_quota(user, cpu_millis, memory_mib).await?;
        self.check_datazone_totals(&placement, cpu_millis, memory_mib)
            .await?;
        let now = Utc::now();
        let row = SessionRow {
            id: new_id(),
            user_id: user.id.clone(),
            name,
            datalab_id: launchable.datalab_id,
            datalab: launchable.datalab,
            version: launchable.version,
            kind: kind.as_str().to_owned(),
            image,
            port: i32::from(port),
            health_path,
            cpu_millis,
            memory_mib,
            data_volumes: serde_json::to_string(&data_volumes).expect("mounted volumes serialise"),
            datazone: placement.datazone,
            runtime: placement.runtime.as_str().to_owned(),
            runtime_endpoint: placement.endpoint,
            api_server: placement.api_server,
            namespace: placement.namespace,
            status: SessionStatus::Pending,
            reason: None,
            container_id: None,
            address: None,
            created_at: now,
            ready_at: None,
            ended_at: None,
            last_activity_at: now,
        };
        self.database.insert_datalab_session(&row).await?;
        drop(quota_guard);
        let session = Session::try_from(row.clone())?;
        let runtime = self.runtime.clone();
        let owner = user.name.clone();
        tokio::spawn(async move { runtime.launch(row, owner).await });
        Ok(session)
    }

    /// The caller's sessions, newest first.
    pub async fn sessions_of(&self, user: &User) -> Result<Vec<Session>, SessionError> {
        Ok(self
            .database
            .datalab_sessions_of(&user.id)
            .await?
            .into_iter()
            .map(Session::try_from)
            .collect::<Result<_, _>>()?)
    }

    pub async fn session(&self, user: &User, id: &str) -> Result<Session, SessionError> {
        Ok(Session::try_from(self.owned(user, id).await?)?)
    }

    /// The row of `user`'s session `id`; someone else's is unknown.
    pub async fn owned(&self, user: &User, id: &str) -> Result<SessionRow, SessionError> {
        self.database
            .datalab_session(id)
            .await?
            .filter(|row| row.user_id == user.id)
            .ok_or_else(|| SessionError::UnknownSession(id.to_owned()))
    }

    /// Ends the session and removes its container.
    pub async fn delete(&self, user: &User, id: &str) -> Result<(), SessionError> {
        let row = self.owned(user, id).await?;
        self.runtime
            .stop(&row, SessionStatus::Ended, "deleted by its owner")
            .await?;
        Ok(())
    }

    /// The container's recent output, stdout and stderr interleaved.
    pub async fn logs(&self, user: &User, id: &str) -> Result<String, SessionError> {
        let row = self.owned(user, id).await?;
        self.runtime.logs(&row).await
    }

    /// The session's status now, for progress reports.
    pub async fn progress(&self, id: &str) -> Result<Option<SessionProgress>, SessionError> {
        Ok(self
            .database
            .datalab_session(id)
            .await?
            .map(|row| SessionProgress {
                status: row.status,
                reason: row.reason,
            }))
    }

    async fn data_volumes(&self, names: &[String]) -> Result<Vec<MountedVolume>, SessionError> {
        let catalogue = self.database.list_data_volumes().await?;
        let mut mounted: Vec<MountedVolume> = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let field = format!("data_volumes[{index}]");
            let volume = catalogue
                .iter()
                .find(|volume| &volume.name == name)
                .ok_or_else(|| SessionError::UnknownReference {
                    field: field.clone(),
                    reason: format!("there is no data volume {name:?}"),
                })?;
            if mounted.iter().any(|other| other.name == volume.name) {
                return Err(invalid(&field, format!("{name:?} is named twice")));
            }
            let path = volume.mount_path.trim_end_matches('/');
            if let Some(other) = mounted.iter().find(|other| other.mount_path == path) {
                return Err(invalid(
                    &field,
                    format!("{name:?} mounts at {path}, like {:?}", other.name),
                ));
            }
            if path == WORKSPACE_FOLDER {
                return Err(invalid(
                    &field,
                    format!("{name:?} mounts at {path}, where the workspace is"),
                ));
            }
            mounted.push(MountedVolume {
                name: volume.name.clone(),
                mount_path: path.to_owned(),
            });
        }
        Ok(mounted)
    }

    /// Where a launch into the datazone `name` runs.
    async fn datazone(&self, name: Option<&str>) -> Result<Placement, SessionError> {
        let Some(name) = name.filter(|name| *name != LOCAL_DATAZONE) else {
            let limits = &self.settings.limits;
            return Ok(Placement {
                datazone: LOCAL_DATAZONE.to_owned(),
                runtime: Runtime::Docker,
                endpoint: self.settings.local_docker_host.clone(),
                api_server: None,
                namespace: None,
                totals: Totals {
                    sessions: limits.local_max_sessions.map(i64::from),
                    cpu: limits.local_max_cpu.map(i64::from),
                    memory_gib: limits.local_max_memory_gib.map(i64::from),
                },
            });
        };
        let datazone = self
            .database
            .list_datazones()
            .await?
            .into_iter()
            .find(|datazone| datazone.name == name)
            .ok_or_else(|| SessionError::UnknownReference {
                field: "datazone".to_owned(),
                reason: format!("there is no datazone {name:?}"),
            })?;
        let endpoint = Some(datazone.endpoint).filter(|endpoint| !endpoint.is_empty());
        let totals = Totals {
            sessions: datazone.max_sessions,
            cpu: datazone.max_cpu,
            memory_gib: datazone.max_memory_gib,
        };
        Ok(if datazone.runtime == Runtime::Kubernetes.as_str() {
            Placement {
                datazone: datazone.name,
                runtime: Runtime::Kubernetes,
                // Empty: labforge's own kubeconfig (in-cluster, or `$KUBECONFIG`).
                endpoint: datazone.kubeconfig.unwrap_or_default(),
                api_server: endpoint,
                namespace: datazone.namespace,
                totals,
            }
        } else {
            Placement {
                datazone: datazone.name,
                runtime: Runtime::Docker,
                endpoint: endpoint.unwrap_or_else(|| self.settings.local_docker_host.clone()),
                api_server: None,
                namespace: None,
                totals,
            }
        })
    }

    /// The datazone's totals, counted over every user's live sessions in it.
    async fn check_datazone_totals(
        &self,
        placement: &Placement,
        cpu_millis: i64,
        memory_mib: i64,
    ) -> Result<(), SessionError> {
        if placement.totals.is_unlimited() {
            return Ok(());
        }
        let usage = self.database.session_usage_in(&placement.datazone).await?;
        let Some(passed) = placement.totals.passed_by(&usage, cpu_millis, memory_mib) else {
            return Ok(());
        };
        let (limit, detail) = match passed {
            Passed::Sessions(most) => (
                "max_sessions",
                format!(
                    "{} sessions run there, at most {most} are allowed; try again later or \
                     choose another datazone",
                    usage.sessions
                ),
            ),
            Passed::Cpu(most) => (
                "max_cpu",
                format!(
                    "its sessions hold {} CPUs; {} more would pass the {most} it has",
                    units(usage.cpu_millis, 1000.0),
                    units(cpu_millis, 1000.0)
                ),
            ),
            Passed::MemoryGib(most) => (
                "max_memory_gib",
                format!(
                    "its sessions hold {} GiB; {} GiB more would pass the {most} GiB it has",
                    units(usage.memory_mib, 1024.0),
                    units(memory_mib, 1024.0)
                ),
            ),
        };
        Err(SessionError::DatazoneFull {
            datazone: placement.datazone.clone(),
            limit,
            detail,
        })
    }

    async fn check_quota(
        &self,
        user: &User,
        cpu_millis: i64,
        memory_mib: i64,
    ) -> Result<(), SessionError> {
        let limits = &self.settings.limits;
        let totals = Totals {
            sessions: Some(i64::from(limits.max_sessions_per_user)),
            cpu: Some(i64::from(limits.max_cpu_per_user)),
            memory_gib: Some(i64::from(limits.max_memory_gib_per_user)),
        };
        let usage = self.database.session_usage_of(&user.id).await?;
        let Some(passed) = totals.passed_by(&usage, cpu_millis, memory_mib) else {
            return Ok(());
        };
        let (limit, detail) = match passed {
            Passed::Sessions(most) => (
                "max_sessions_per_user",
                format!(
                    "you have {} sessions running, at most {most} are allowed; delete one first",
                    usage.sessions
                ),
            ),
            Passed::Cpu(most) => (
                "max_cpu_per_user",
                format!(
                    "your sessions hold {} CPUs; {} more would pass the {most} allowed",
                    units(usage.cpu_millis, 1000.0),
                    units(cpu_millis, 1000.0)
                ),
            ),
            Passed::MemoryGib(most) => (
                "max_memory_gib_per_user",
                format!(
                    "your sessions hold {} GiB; {} GiB more would pass the {most} GiB allowed",
                    units(usage.memory_mib, 1024.0),
                    units(memory_mib, 1024.0)
                ),
            ),
        };
        Err(SessionError::QuotaExceeded { limit, detail })
    }
}

/// The CPU (in thousandths) and memory (in MiB) a launch asks for, by default the datalab's
/// declared minimum, and never less than it.
fn resources(
    request: &LaunchRequest,
    datalab: &str,
    metadata: Option<&serde_json::Value>,
) -> Result<(i64, i64), SessionError> {
    let cpu_millis = request
        .cpu
        .map(|cpu| whole_units("cpu", cpu, 1000.0))
        .transpose()?;
    let memory_mib = request
        .memory_gib
        .map(|gib| whole_units("memory_gib", gib, 1024.0))
        .transpose()?;
    let minimum: Option<MinimumResources> = metadata
        .and_then(|metadata| metadata.get("minimumResources"))
        .and_then(|value| serde_json::from_value(value.clone()).ok());
    let minimum_cpu = minimum
        .as_ref()
        .and_then(|minimum| minimum.cpu)
        .map(|cpu| ceil_units(cpu, 1000.0));
    let minimum_memory = minimum
        .as_ref()
        .and_then(|minimum| minimum.memory_gib)
        .map(|gib| ceil_units(gib, 1024.0));
    let cpu_millis = cpu_millis.unwrap_or_else(|| minimum_cpu.unwrap_or(1000).max(1));
    let memory_mib = memory_mib.unwrap_or_else(|| minimum_memory.unwrap_or(2048).max(1));
    if let Some(minimum) = minimum_cpu.filter(|minimum| cpu_millis < *minimum) {
        return Err(invalid(
            "cpu",
            format!(
                "{} declares at least {} CPUs (minimumResources.cpu)",
                datalab,
                units(minimum, 1000.0)
            ),
        ));
    }
    if let Some(minimum) = minimum_memory.filter(|minimum| memory_mib < *minimum) {
        return Err(invalid(
            "memory_gib",
            format!(
                "{} declares at least {} GiB of memory (minimumResources.memoryGiB)",
                datalab,
                units(minimum, 1024.0)
            ),
        ));
    }
    Ok((cpu_millis, memory_mib))
}

/// `repository@digest` for a build's `repository:tag` image: a session never runs a moving tag.
fn by_digest(image: &str, digest: &str) -> String {
    let (head, last) = image.rsplit_once('/').unwrap_or(("", image));
    let name = last.split_once(':').map_or(last, |(name, _)| name);
    if head.is_empty() {
        format!("{name}@{digest}")
    } else {
        format!("{head}/{name}@{digest}")
    }
}

/// The port the datalab serves on and the path that answers once it is up.
fn service_of(
    kind: DatalabKind,
    metadata: Option<&serde_json::Value>,
) -> Result<(u16, String), SessionError> {
    match kind {
        DatalabKind::JupyterLab => Ok((8888, "/api/status".to_owned())),
        DatalabKind::Desktop => Ok((6080, "/vnc.html".to_owned())),
        DatalabKind::Generic => metadata
            .and_then(|metadata| metadata.get("service"))
            .and_then(|value| serde_json::from_value::<ServiceContract>(value.clone()).ok())
            .map(|service| (service.port, service.health_path))
            .ok_or_else(|| {
                invalid(
                    "version",
                    "this generic datalab's metadata declares no service (port and healthPath)",
                )
            }),
    }
}

fn check_name(name: &str) -> Result<String, SessionError> {
    if NAME.allows(name) {
        return Ok(trim_blank(name).to_owned());
    }
    if is_blank(name) {
        return Err(invalid("name", "it must not be empty"));
    }
    Err(invalid(
        "name",
        format!("it must have at most {MAX_NAME_CHARACTERS} characters"),
    ))
}

/// `value` in whole `per_unit`ths (thousandths of a CPU, MiB), at least one.
fn whole_units(field: &'static str, value: f64, per_unit: f64) -> Result<i64, SessionError> {
    if !value.is_finite() || value <= 0.0 {
        return Err(invalid(field, format!("{value} must be a number above 0")));
    }
    if value > MAX_RESOURCE {
        return Err(invalid(
            field,
            format!("{value} is more than any machine has"),
        ));
    }
    Ok(ceil_units(value, per_unit).max(1))
}

fn ceil_units(value: f64, per_unit: f64) -> i64 {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "bounded by MAX_RESOURCE, or by the metadata schema, well within i64"
    )]
    let units = (value.clamp(0.0, MAX_RESOURCE) * per_unit).ceil() as i64;
    units
}

fn units(value: i64, per_unit: f64) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "resource figures are far below 2^52"
    )]
    let value = value as f64;
    value / per_unit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_run_images_by_digest() {
        assert_eq!(
            by_digest("127.0.0.1:5005/datalabs/lab:1.0.0-2", "sha256:ab"),
            "127.0.0.1:5005/datalabs/lab@sha256:ab"
        );
        assert_eq!(by_digest("lab:1", "sha256:ab"), "lab@sha256:ab");
        assert_eq!(
            by_digest("host:5000/lab", "sha256:ab"),
            "host:5000/lab@sha256:ab"
        );
    }

    #[test]
    fn resources_are_positive_and_counted_in_whole_units() {
        assert_eq!(whole_units("cpu", 0.5, 1000.0).unwrap(), 500);
        assert_eq!(whole_units("memory_gib", 1.5, 1024.0).unwrap(), 1536);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e12] {
            assert!(whole_units("cpu", bad, 1000.0).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_settle_at_ready_failed_or_ended() {
        let settled: Vec<_> = SessionStatus::ALL
            .iter()
            .filter(|status| status.is_settled())
            .collect();
        assert_eq!(
            settled,
            [
                &SessionStatus::Ready,
                &SessionStatus::Failed,
                &SessionStatus::Ended
            ]
        );
        let _: Result<SessionStatus, UnknownState> = "ready".parse();
    }
}
