//! What a launch can be given: data volumes to mount and datazones to run in. Administrators keep
//! both catalogues; every signed-in user reads them when launching.
//!
//! Launching is `sessions`' work; these catalogues are validated here so that a launch can trust
//! them: a mount path is absolute and stays where it says, an endpoint is a URL its runtime can
//! reach, a kubeconfig is an absolute path and a namespace a Kubernetes name. A docker datazone
//! names its daemon (by default the one labforge builds with); a kubernetes one its kubeconfig
//! (by default labforge's own: in-cluster or `$KUBECONFIG`) and namespace (by default the
//! kubeconfig's).

pub mod routes;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::http::openapi::FieldRule;
use crate::rules::{SAYS_SOMETHING, TextRule, is_blank, text_rule, trim_blank};
use crate::storage::launcher::{DataVolumeRow, DatazoneRow};
use crate::storage::{Database, StorageError, new_id};

/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARACTERS: usize = 2000;
/// Longest mission name accepted, in characters.
pub const MAX_MISSION_CHARACTERS: usize = 100;
/// Longest mount path, source or endpoint accepted, in characters.
pub const MAX_LOCATION_CHARACTERS: usize = 500;

/// Names of data volumes and datazones: slugs, like datalab names.
pub static NAME: TextRule = text_rule!("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", 2, 64);
pub static DESCRIPTION: TextRule = text_rule!(SAYS_SOMETHING, 1, MAX_DESCRIPTION_CHARACTERS);
/// Any text; a blank one means no mission.
pub static MISSION: TextRule = text_rule!("", 0, MAX_MISSION_CHARACTERS);
pub static SOURCE: TextRule = text_rule!(SAYS_SOMETHING, 1, MAX_LOCATION_CHARACTERS);
/// Absolute, below `/`, without empty, `.` or `..` segments or control characters (trailing
/// slashes are allowed), so that the mount means exactly the folder it names.
pub static MOUNT_PATH: TextRule = text_rule!(
    r"^(/([^/\x00-\x1f\x7f-\x9f]*[^/.\x00-\x1f\x7f-\x9f][^/\x00-\x1f\x7f-\x9f]*|[.]{3,}))+/*$",
    2,
    MAX_LOCATION_CHARACTERS,
);
/// A Docker daemon's endpoint: a unix socket path, or `tcp`/`http`/`https` to a host (a DNS name
/// whose labels start with a letter, or an IPv4 address), an optional port and path.
pub static DOCKER_ENDPOINT: TextRule = text_rule!(
    r"^(unix:///[A-Za-z0-9._~/-]+|(tcp|https?)://([a-z]([a-z0-9-]{0,61}[a-z0-9])?([.][a-z]([a-z0-9-]{0,61}[a-z0-9])?)*|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])[.]){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(/[A-Za-z0-9._~-]*)*)$",
    9,
    MAX_LOCATION_CHARACTERS,
);
/// A Kubernetes API server: `http` or `https` to a host, as for Docker.
pub static KUBERNETES_ENDPOINT: TextRule = text_rule!(
    r"^https?://([a-z]([a-z0-9-]{0,61}[a-z0-9])?([.][a-z]([a-z0-9-]{0,61}[a-z0-9])?)*|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])[.]){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(/[A-Za-z0-9._~-]*)*$",
    8,
    MAX_LOCATION_CHARACTERS,
);

/// A kubeconfig file on labforge's host: an absolute path without `.`, `..` or empty segments.
pub static KUBECONFIG: TextRule = text_rule!(
    r"^(/([^/\x00-\x1f\x7f-\x9f]*[^/.\x00-\x1f\x7f-\x9f][^/\x00-\x1f\x7f-\x9f]*|[.]{3,}))+$",
    2,
    MAX_LOCATION_CHARACTERS,
);
/// A Kubernetes namespace: an RFC 1123 label.
pub static NAMESPACE: TextRule = text_rule!("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", 1, 63);

/// The rules of the launcher's request bodies, for the OpenAPI document.
pub static BODY_RULES: [FieldRule; 9] = [
    FieldRule::new("DataVolumeSpec", "name", &NAME),
    FieldRule::new("DataVolumeSpec", "description", &DESCRIPTION),
    FieldRule::new("DataVolumeSpec", "mission", &MISSION),
    FieldRule::new("DataVolumeSpec", "source", &SOURCE),
    FieldRule::new("DataVolumeSpec", "mount_path", &MOUNT_PATH),
    FieldRule::new("DatazoneSpec", "name", &NAME),
    FieldRule::new("DatazoneSpec", "description", &DESCRIPTION),
    FieldRule::new("DatazoneSpec", "kubeconfig", &KUBECONFIG),
    FieldRule::new("DatazoneSpec", "namespace", &NAMESPACE),
];

#[derive(Debug, thiserror::Error)]
pub enum LauncherError {
    /// A value of a data volume or datazone breaks a rule; `field` is its name in the request.
    #[error("`{field}` is not valid: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("there is no data volume {0:?}")]
    UnknownDataVolume(String),
    #[error("there is no datazone {0:?}")]
    UnknownDatazone(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A data volume a launch can mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DataVolume {
    pub name: String,
    pub description: String,
    /// The mission whose data it holds.
    pub mission: Option<String>,
    /// Where the data comes from, in words (an archive, a pipeline).
    pub source: String,
    /// Where a launch mounts it: absolute, without `.` or `..` segments.
    pub mount_path: String,
    pub read_only: bool,
    pub created_at: DateTime<Utc>,
}

impl From<DataVolumeRow> for DataVolume {
    fn from(row: DataVolumeRow) -> Self {
        Self {
            name: row.name,
            description: row.description,
            mission: row.mission,
            source: row.source,
            mount_path: row.mount_path,
            read_only: row.read_only,
            created_at: row.created_at,
        }
    }
}

/// A data volume as an administrator describes it, to create it or to replace its description.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataVolumeSpec {
    /// Lowercase letters, digits and hyphens; unique among data volumes.
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub mission: Option<String>,
    pub source: String,
    pub mount_path: String,
    /// Mounted read-only unless said otherwise: archives are shared by every launch.
    #[serde(default = "read_only_by_default")]
    pub read_only: bool,
}

const fn read_only_by_default() -> bool {
    true
}

/// How a datazone runs datalabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// A Docker daemon, reached at a `unix://`, `tcp://` or `http(s)://` endpoint.
    Docker,
    /// A Kubernetes cluster, reached through a kubeconfig (its API server's `https://` or
    /// `http://` endpoint may replace the kubeconfig's).
    Kubernetes,
}

impl Runtime {
    pub const ALL: [Self; 2] = [Self::Docker, Self::Kubernetes];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Kubernetes => "kubernetes",
        }
    }

    const fn schemes(self) -> &'static [&'static str] {
        match self {
            Self::Docker => &["unix", "tcp", "http", "https"],
            Self::Kubernetes => &["https", "http"],
        }
    }

    /// The rule of this runtime's endpoints.
    pub fn endpoint_rule(self) -> &'static TextRule {
        match self {
            Self::Docker => &DOCKER_ENDPOINT,
            Self::Kubernetes => &KUBERNETES_ENDPOINT,
        }
    }
}

/// A runtime target launches can be sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Datazone {
    pub name: String,
    pub description: String,
    pub runtime: Runtime,
    /// Docker: the daemon's endpoint, `null` for the daemon labforge builds with. Kubernetes: the
    /// API server, `null` for the kubeconfig's.
    pub endpoint: Option<String>,
    /// Kubernetes only: the kubeconfig file on labforge's host, `null` for labforge's own
    /// (in-cluster, or `$KUBECONFIG`).
    pub kubeconfig: Option<String>,
    /// Kubernetes only: where sessions' pods go, `null` for the kubeconfig's namespace.
    pub namespace: Option<String>,
    /// Live sessions all users may have here together; `null` is no limit.
    pub max_sessions: Option<u32>,
    /// CPUs all live sessions here may hold together; `null` is no limit.
    pub max_cpu: Option<u32>,
    /// Memory all live sessions here may hold together, in GiB; `null` is no limit.
    pub max_memory_gib: Option<u32>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<DatazoneRow> for Datazone {
    type Error = StorageError;

    fn try_from(row: DatazoneRow) -> Result<Self, Self::Error> {
        let runtime = match row.runtime.as_str() {
            "docker" => Runtime::Docker,
            "kubernetes" => Runtime::Kubernetes,
            other => {
                return Err(StorageError::Corrupt {
                    what: "datazone runtime",
                    detail: other.to_owned(),
                });
            }
        };
        Ok(Self {
            name: row.name,
            description: row.description,
            runtime,
            endpoint: Some(row.endpoint).filter(|endpoint| !endpoint.is_empty()),
            kubeconfig: row.kubeconfig,
            namespace: row.namespace,
            max_sessions: total(row.max_sessions)?,
            max_cpu: total(row.max_cpu)?,
            max_memory_gib: total(row.max_memory_gib)?,
            created_at: row.created_at,
        })
    }
}

/// A datazone as an administrator describes it, to create it or to replace its description.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatazoneSpec {
    /// Lowercase letters, digits and hyphens; unique among datazones.
    pub name: String,
    pub description: String,
    pub runtime: Runtime,
    /// Docker: the daemon (`unix://`, `tcp://`, `http(s)://`), by default the one labforge
    /// builds with. Kubernetes: the API server (`https://`), by default the kubeconfig's.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Kubernetes only: an absolute path to a kubeconfig on labforge's host; by default
    /// labforge's own (in-cluster, or `$KUBECONFIG`).
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// Kubernetes only: the namespace sessions run in; by default the kubeconfig's.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Live sessions all users may have here together; left out, no limit.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_sessions: Option<u32>,
    /// CPUs all live sessions here may hold together; left out, no limit.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_cpu: Option<u32>,
    /// Memory all live sessions here may hold together, in GiB; left out, no limit.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_memory_gib: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct LauncherService {
    database: Database,
}

impl LauncherService {
    pub fn new(database: Database) -> Self {
        Self { database }
    }

    pub async fn data_volumes(&self) -> Result<Vec<DataVolume>, LauncherError> {
        Ok(self
            .database
            .list_data_volumes()
            .await?
            .into_iter()
            .map(DataVolume::from)
            .collect())
    }

    pub async fn create_data_volume(
        &self,
        spec: DataVolumeSpec,
    ) -> Result<DataVolume, LauncherError> {
        let row = data_volume_row(spec)?;
        self.database.insert_data_volume(&row).await?;
        Ok(DataVolume::from(row))
    }

    /// Replaces the description of the volume `name`; the spec's name renames it.
    pub async fn update_data_volume(
        &self,
        name: &str,
        spec: DataVolumeSpec,
    ) -> Result<DataVolume, LauncherError> {
        let row = data_volume_row(spec)?;
        let updated = self
            .database
            .update_data_volume(name, &row)
            .await?
            .ok_or_else(|| LauncherError::UnknownDataVolume(name.to_owned()))?;
        Ok(DataVolume::from(updated))
    }

    pub async fn delete_data_volume(&self, name: &str) -> Result<(), LauncherError> {
        if self.database.delete_data_volume(name).await? {
            Ok(())
        } else {
            Err(LauncherError::UnknownDataVolume(name.to_owned()))
        }
    }

    pub async fn datazones(&self) -> Result<Vec<Datazone>, LauncherError> {
        Ok(self
            .database
            .list_datazones()
            .await?
            .into_iter()
            .map(Datazone::try_from)
            .collect::<Result<_, _>>()?)
    }

    pub async fn create_datazone(&self, spec: DatazoneSpec) -> Result<Datazone, LauncherError> {
        let row = datazone_row(spec)?;
        self.database.insert_datazone(&row).await?;
        Ok(Datazone::try_from(row)?)
    }

    /// Replaces the description of the datazone `name`; the spec's name renames it.
    pub async fn update_datazone(
        &self,
        name: &str,
        spec: DatazoneSpec,
    ) -> Result<Datazone, LauncherError> {
        let row = datazone_row(spec)?;
        let updated = self
            .database
            .update_datazone(name, &row)
            .await?
            .ok_or_else(|| LauncherError::UnknownDatazone(name.to_owned()))?;
        Ok(Datazone::try_from(updated)?)
    }

    pub async fn delete_datazone(&self, name: &str) -> Result<(), LauncherError> {
        if self.database.delete_datazone(name).await? {
            Ok(())
        } else {
            Err(LauncherError::UnknownDatazone(name.to_owned()))
        }
    }
}

/// The validated row for `spec`, with a fresh id and creation time (an update keeps the stored
/// ones).
fn data_volume_row(spec: DataVolumeSpec) -> Result<DataVolumeRow, LauncherError> {
    check_name(&spec.name)?;
    // An empty mission is no mission, as a form without one sends it.
    let mission = spec
        .mission
        .map(|mission| check_text("mission", &mission, &MISSION))
        .transpose()?
        .filter(|mission| !mission.is_empty());
    check_mount_path(&spec.mount_path)?;
    Ok(DataVolumeRow {
        id: new_id(),
        name: spec.name,
        description: check_text("description", &spec.description, &DESCRIPTION)?,
        mission,
        source: check_text("source", &spec.source, &SOURCE)?,
        mount_path: spec.mount_path,
        read_only: spec.read_only,
        created_at: Utc::now(),
    })
}

fn datazone_row(spec: DatazoneSpec) -> Result<DatazoneRow, LauncherError> {
    check_name(&spec.name)?;
    if let Some(endpoint) = &spec.endpoint {
        check_endpoint(spec.runtime, endpoint)?;
    }
    if spec.runtime == Runtime::Docker {
        for (field, value) in [
            ("kubeconfig", &spec.kubeconfig),
            ("namespace", &spec.namespace),
        ] {
            if value.is_some() {
                return Err(invalid(
                    field,
                    format!(
                        "a docker datazone has no {field}: leave it out, or choose runtime kubernetes"
                    ),
                ));
            }
        }
    }
    if let Some(path) = &spec.kubeconfig {
        check_kubeconfig(path)?;
    }
    if let Some(namespace) = &spec.namespace
        && !NAMESPACE.allows(namespace)
    {
        return Err(invalid(
            "namespace",
            format!(
                "{namespace:?} must be 1 to 63 lowercase letters, digits and hyphens, not \
                 starting or ending with a hyphen (a Kubernetes namespace name)"
            ),
        ));
    }
    for (field, value) in [
        ("max_sessions", spec.max_sessions),
        ("max_cpu", spec.max_cpu),
        ("max_memory_gib", spec.max_memory_gib),
    ] {
        if value == Some(0) {
            return Err(invalid(
                field,
                "must be at least 1; leave it out for no limit",
            ));
        }
    }
    Ok(DatazoneRow {
        id: new_id(),
        name: spec.name,
        description: check_text("description", &spec.description, &DESCRIPTION)?,
        runtime: spec.runtime.as_str().to_owned(),
        endpoint: spec.endpoint.unwrap_or_default(),
        kubeconfig: spec.kubeconfig,
        namespace: spec.namespace,
        max_sessions: spec.max_sessions.map(i64::from),
        max_cpu: spec.max_cpu.map(i64::from),
        max_memory_gib: spec.max_memory_gib.map(i64::from),
        created_at: Utc::now(),
    })
}

/// A stored datazone total, as the API shows it.
fn total(value: Option<i64>) -> Result<Option<u32>, StorageError> {
    value
        .map(|value| {
            u32::try_from(value).map_err(|_| StorageError::Corrupt {
                what: "datazone total",
                detail: value.to_string(),
            })
        })
        .transpose()
}

/// A kubeconfig is read from labforge's host: an absolute path that means exactly the file it
/// names.
fn check_kubeconfig(path: &str) -> Result<(), LauncherError> {
    if KUBECONFIG.allows(path) {
        return Ok(());
    }
    let reason = if !path.starts_with('/') {
        "it must be an absolute path, starting with /".to_owned()
    } else if path.chars().count() > MAX_LOCATION_CHARACTERS {
        format!("it must have at most {MAX_LOCATION_CHARACTERS} characters")
    } else {
        "it must be / followed by folder names and the file's, like /etc/labforge/esac.kubeconfig, \
         without `.`, `..` or empty segments, control characters or a trailing /"
            .to_owned()
    };
    Err(invalid("kubeconfig", format!("{path:?}: {reason}")))
}

fn invalid(field: &'static str, reason: impl Into<String>) -> LauncherError {
    LauncherError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// Names appear in URLs and in launch requests: a slug, like datalab names.
fn check_name(name: &str) -> Result<(), LauncherError> {
    if NAME.allows(name) {
        return Ok(());
    }
    Err(invalid(
        "name",
        format!(
            "{name:?} must be 2 to 64 lowercase letters, digits and hyphens, not starting or \
             ending with a hyphen"
        ),
    ))
}

/// `text` without its leading and trailing blanks, when it follows `rule`.
fn check_text(field: &'static str, text: &str, rule: &TextRule) -> Result<String, LauncherError> {
    if rule.allows(text) {
        return Ok(trim_blank(text).to_owned());
    }
    let length = text.chars().count();
    Err(invalid(
        field,
        if length > rule.max_characters {
            format!(
                "it has {length} characters; at most {} are allowed",
                rule.max_characters
            )
        } else if is_blank(text) {
            "it must not be empty".to_owned()
        } else {
            format!("it must match {}", rule.pattern)
        },
    ))
}

/// A mount path is handed to a container runtime as is: absolute, and without `.`, `..` or empty
/// segments, so that it means exactly the folder it names.
fn check_mount_path(path: &str) -> Result<(), LauncherError> {
    if MOUNT_PATH.allows(path) {
        return Ok(());
    }
    let reason = if !path.starts_with('/') {
        Some("it must be an absolute path, starting with /".to_owned())
    } else if path == "/" {
        Some("it must name a folder below /, not / itself".to_owned())
    } else if path.chars().count() > MAX_LOCATION_CHARACTERS {
        Some(format!(
            "it must have at most {MAX_LOCATION_CHARACTERS} characters"
        ))
    } else if path.chars().any(char::is_control) {
        Some("it must not contain control characters".to_owned())
    } else {
        path.trim_end_matches('/')
            .split('/')
            .skip(1)
            .find_map(|segment| match segment {
                ".." => {
                    Some("it must not contain `..`: the mount must stay where it says".to_owned())
                }
                "." => Some("it must not contain `.` segments".to_owned()),
                "" => Some("it must not contain empty segments (`//`)".to_owned()),
                _ => None,
            })
    };
    let reason = reason
        .unwrap_or_else(|| "it must be / followed by folder names, like /data/euclid".to_owned());
    Err(invalid("mount_path", format!("{path:?}: {reason}")))
}

/// The endpoint must be a URL of a scheme its runtime speaks, naming a host (or, for `unix://`, a
/// socket path).
fn check_endpoint(runtime: Runtime, endpoint: &str) -> Result<(), LauncherError> {
    if runtime.endpoint_rule().allows(endpoint) {
        return Ok(());
    }
    let url = Url::parse(endpoint).map_err(|error| {
        invalid(
            "endpoint",
            format!("{endpoint:?} is not a URL ({error}), like https://cluster.example.org:6443"),
        )
    })?;
    let schemes = runtime.schemes();
    if !schemes.contains(&url.scheme()) {
        return Err(invalid(
            "endpoint",
            format!(
                "a {} datazone is reached by {} URLs, not {}://",
                runtime.as_str(),
                schemes
                    .iter()
                    .map(|scheme| format!("{scheme}://"))
                    .collect::<Vec<_>>()
                    .join(", "),
                url.scheme()
            ),
        ));
    }
    let reachable = if url.scheme() == "unix" {
        url.path().len() > 1
    } else {
        url.host_str().is_some_and(|host| !host.is_empty())
    };
    Err(invalid(
        "endpoint",
        if reachable {
            format!(
                "{endpoint:?} must be scheme://host[:port][/path] in at most \
                 {MAX_LOCATION_CHARACTERS} characters, the host a DNS name whose labels start \
                 with a letter or an IPv4 address (unix:///path for a socket)"
            )
        } else {
            format!("{endpoint:?} must name a host (a socket path for unix://)")
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: Result<(), LauncherError>) -> &'static str {
        match result {
            Err(LauncherError::InvalidField { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn mount_paths_are_absolute_and_stay_where_they_say() {
        for good in [
            "/data/euclid",
            "/data/euclid-q1/",
            "/mnt/a.b/c..d",
            "/x//",
            "/x/...",
        ] {
            check_mount_path(good).unwrap();
        }
        for bad in [
            "data/euclid",
            "/",
            "/data/../etc",
            "/data/..",
            "/data/./x",
            "/data//x",
            "/data/x\n",
            "",
            "//",
            "/data/\u{85}x",
        ] {
            assert_eq!(field_of(check_mount_path(bad)), "mount_path", "{bad:?}");
        }
    }

    #[test]
    fn endpoints_speak_their_runtime() {
        check_endpoint(Runtime::Docker, "unix:///var/run/docker.sock").unwrap();
        check_endpoint(Runtime::Docker, "tcp://10.0.0.5:2376").unwrap();
        check_endpoint(Runtime::Kubernetes, "https://k8s.example.org:6443").unwrap();
        check_endpoint(Runtime::Kubernetes, "http://127.0.0.1:8080/api").unwrap();
        for (runtime, bad) in [
            (Runtime::Kubernetes, "unix:///var/run/docker.sock"),
            (Runtime::Kubernetes, "k8s.example.org"),
            (Runtime::Docker, "ftp://host/x"),
            (Runtime::Docker, "unix://"),
            (Runtime::Docker, "tcp://1.2.3.999:2376"),
            (Runtime::Docker, "tcp://host:65536"),
            (Runtime::Kubernetes, "https://Example.org"),
            (Runtime::Kubernetes, "https://[::1]:6443"),
        ] {
            assert_eq!(field_of(check_endpoint(runtime, bad)), "endpoint", "{bad}");
        }
    }

    #[test]
    fn kubeconfigs_are_absolute_file_paths() {
        check_kubeconfig("/etc/labforge/esac.kubeconfig").unwrap();
        for bad in ["kubeconfig", "/etc/../x", "/etc/", "/etc//x", "/x\n", ""] {
            assert_eq!(field_of(check_kubeconfig(bad)), "kubeconfig", "{bad:?}");
        }
    }

    #[test]
    fn names_are_slugs() {
        check_name("euclid-q1").unwrap();
        for bad in ["E", "Euclid", "-x", "x-", "a b", "a/b", &"x".repeat(65)] {
            assert_eq!(field_of(check_name(bad)), "name", "{bad}");
        }
    }
}
