//! The Kubernetes runtime, for kubernetes datazones: per session a Pod, a Service in front of it
//! and a `PersistentVolumeClaim` for its workspace, all named after the session and labelled like
//! the Docker containers (`labforge.session`, `labforge.instance`, `labforge.user`,
//! `labforge.datalab`, `labforge.version`), in the datazone's namespace.
//!
//! The pod runs the image by digest as uid 1000, all capabilities dropped, no privilege
//! escalation, CPU and memory requested and limited at what the launch holds against its quota,
//! the catalogue's data volumes read-only (claims named `labforge-data-<name>` in the namespace,
//! which operators provide) and the workspace claim read-write at [`WORKSPACE_FOLDER`]. Its
//! readiness probe asks the health path, so the session is `ready` when the kubelet says the pod
//! is; the proxy then reaches the Service's cluster IP (labforge runs inside the cluster, or
//! routes to its service network).
//!
//! Reconciling lists the objects carrying this instance's label: a pod of a live session that is
//! not over is adopted, anything else of this instance is deleted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use kube::{Api, Client, Config};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::docker::{INSTANCE_LABEL, SESSION_LABEL, SessionRuntime, container_name};
use super::{
    MountedVolume, SessionError, SessionStatus, WORKSPACE_FOLDER, command_of, environment_of,
};
use crate::metadata::DatalabKind;
use crate::storage::sessions::SessionRow;

/// What a session's workspace claim asks for.
pub const WORKSPACE_CLAIM_SIZE: &str = "10Gi";
/// How often a launch reads its pod's readiness.
const READINESS_POLL: Duration = Duration::from_millis(500);
/// How many lines of a pod's output the logs endpoint shows.
const LOG_LINES: i64 = 200;

/// How labforge reaches a cluster: a kubeconfig (empty for labforge's own: in-cluster, or
/// `$KUBECONFIG`) and an API server replacing the kubeconfig's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterAccess {
    pub kubeconfig: String,
    pub api_server: Option<String>,
}

/// A client per [`ClusterAccess`], with the kubeconfig's namespace, made on first use.
pub type KubernetesClients = Arc<tokio::sync::Mutex<HashMap<ClusterAccess, (Client, String)>>>;

/// Where a session's objects live.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Zone {
    access: ClusterAccess,
    /// `None` for the kubeconfig's.
    namespace: Option<String>,
}

impl Zone {
    fn of(session: &SessionRow) -> Self {
        Self {
            access: ClusterAccess {
                kubeconfig: session.runtime_endpoint.clone(),
                api_server: session.api_server.clone(),
            },
            namespace: session.namespace.clone(),
        }
    }
}

/// A zone's typed APIs, in its namespace.
struct Namespaced {
    pods: Api<Pod>,
    services: Api<Service>,
    claims: Api<PersistentVolumeClaim>,
}

/// The workspace claim of session `id`.
pub fn workspace_claim_name(id: &str) -> String {
    format!("labforge-workspace-{id}")
}

impl SessionRuntime {
    async fn namespaced(&self, zone: &Zone) -> Result<Namespaced, String> {
        let (client, default_namespace) = self.client(&zone.access).await?;
        let namespace = zone.namespace.as_deref().unwrap_or(&default_namespace);
        Ok(Namespaced {
            pods: Api::namespaced(client.clone(), namespace),
            services: Api::namespaced(client.clone(), namespace),
            claims: Api::namespaced(client, namespace),
        })
    }

    async fn client(&self, access: &ClusterAccess) -> Result<(Client, String), String> {
        let mut clients = self.clusters.lock().await;
        if let Some(client) = clients.get(access) {
            return Ok(client.clone());
        }
        crate::install_crypto_provider();
        let mut config = if access.kubeconfig.is_empty() {
            Config::infer().await.map_err(|error| {
                format!("labforge's own kubeconfig (in-cluster or $KUBECONFIG): {error}")
            })?
        } else {
            let kubeconfig = kube::config::Kubeconfig::read_from(&access.kubeconfig)
                .map_err(|error| format!("the kubeconfig {}: {error}", access.kubeconfig))?;
            Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|error| format!("the kubeconfig {}: {error}", access.kubeconfig))?
        };
        if let Some(server) = &access.api_server {
            config.cluster_url = server
                .parse()
                .map_err(|error| format!("the API server {server:?}: {error}"))?;
        }
        let namespace = config.default_namespace.clone();
        let client = Client::try_from(config)
            .map_err(|error| format!("cannot make a Kubernetes client: {error}"))?;
        clients.insert(access.clone(), (client.clone(), namespace.clone()));
        Ok((client, namespace))
    }

    /// Creates the session's claim, service and pod, records where the proxy reaches it, and
    /// waits for the pod's readiness; `Err` carries the reason shown to the owner.
    pub(super) async fn launch_on_kubernetes(
        &self,
        session: &SessionRow,
        owner: &str,
    ) -> Result<(), String> {
        let api = self.namespaced(&Zone::of(session)).await?;
        self.advance(session, SessionStatus::Creating).await?;
        let instance = &self.settings.instance;
        let refused = |what: &str, error: kube::Error| format!("cannot create the {what}: {error}");
        let post = PostParams::default();
        api.claims
            .create(&post, &object(workspace_claim(session, owner, instance))?)
            .await
            .map_err(|error| refused("workspace claim", error))?;
        let service = api
            .services
            .create(&post, &object(service(session, owner, instance))?)
            .await
            .map_err(|error| refused("service", error))?;
        let pod_name = container_name(&session.id);
        api.pods
            .create(&post, &object(pod(session, owner, instance)?)?)
            .await
            .map_err(|error| refused("pod", error))?;
        self.database
            .set_session_container(&session.id, &pod_name, None)
            .await
            .map_err(|error| error.to_string())?;
        self.advance(session, SessionStatus::Starting).await?;
        let address =
            service_address(&service, session.port).ok_or("the service was given no cluster IP")?;
        self.database
            .set_session_container(&session.id, &pod_name, Some(&address))
            .await
            .map_err(|error| error.to_string())?;
        self.advance(session, SessionStatus::WaitingForHealth)
            .await?;
        self.wait_for_readiness(&api.pods, session).await?;
        self.advance(session, SessionStatus::Ready).await
    }

    /// Waits again for the readiness of an adopted pod whose launch was interrupted.
    pub(super) async fn resume_on_kubernetes(&self, session: &SessionRow) -> Result<(), String> {
        let api = self.namespaced(&Zone::of(session)).await?;
        let service = api
            .services
            .get(&container_name(&session.id))
            .await
            .map_err(|error| format!("the session's service: {error}"))?;
        let address =
            service_address(&service, session.port).ok_or("the service has no cluster IP")?;
        self.database
            .set_session_container(&session.id, &container_name(&session.id), Some(&address))
            .await
            .map_err(|error| error.to_string())?;
        self.wait_for_readiness(&api.pods, session).await?;
        self.advance(session, SessionStatus::Ready).await
    }

    /// Reads the pod until its `Ready` condition holds (its readiness probe answered on the health
    /// path), it is over, it vanished, or the ready timeout passes.
    async fn wait_for_readiness(
        &self,
        pods: &Api<Pod>,
        session: &SessionRow,
    ) -> Result<(), String> {
        let name = container_name(&session.id);
        let timeout = Duration::from_secs(u64::from(self.settings.limits.ready_timeout_seconds));
        let started = Instant::now();
        let mut last = "no status yet".to_owned();
        while started.elapsed() < timeout {
            let pod = pods
                .get_opt(&name)
                .await
                .map_err(|error| format!("cannot read the pod: {error}"))?
                .ok_or("the pod was deleted before it became ready")?;
            match readiness(&pod) {
                Readiness::Ready => return Ok(()),
                Readiness::Over(why) => {
                    return Err(format!(
                        "the pod stopped before {} answered: {why}",
                        session.health_path
                    ));
                }
                Readiness::NotYet(why) => last = why,
            }
            tokio::time::sleep(READINESS_POLL).await;
        }
        Err(format!(
            "the pod was not ready ({} answering) within {} s: {last}",
            session.health_path,
            timeout.as_secs()
        ))
    }

    /// Deletes the session's pod, service and claim; gone already is fine.
    pub(super) async fn remove_from_kubernetes(&self, session: &SessionRow) {
        match self.namespaced(&Zone::of(session)).await {
            Ok(api) => remove_session_objects(&api, &session.id).await,
            Err(error) => tracing::warn!(
                session = %session.id,
                %error,
                "cannot reach the cluster to delete a session's objects"
            ),
        }
    }

    /// The pod's recent output; empty when the pod is gone or has not run.
    pub(super) async fn kubernetes_logs(&self, session: &SessionRow) -> String {
        let Ok(api) = self.namespaced(&Zone::of(session)).await else {
            return String::new();
        };
        let parameters = LogParams {
            tail_lines: Some(LOG_LINES),
            ..LogParams::default()
        };
        api.pods
            .logs(&container_name(&session.id), &parameters)
            .await
            .unwrap_or_default()
    }

    /// Kubernetes' part of [`Self::reconcile`], over every zone a live session runs in and every
    /// kubernetes datazone of the catalogue: the ids of the live sessions whose pod is adopted,
    /// and of those whose cluster could not be read (left as they are). Everything else carrying
    /// this instance's label is deleted.
    pub(super) async fn reconcile_kubernetes(
        &self,
        live: &[SessionRow],
    ) -> Result<(HashSet<String>, HashSet<String>), SessionError> {
        let mut zones: Vec<Zone> = live.iter().map(Zone::of).collect();
        for datazone in self.database.list_datazones().await? {
            if datazone.runtime == crate::launcher::Runtime::Kubernetes.as_str() {
                zones.push(Zone {
                    access: ClusterAccess {
                        kubeconfig: datazone.kubeconfig.unwrap_or_default(),
                        api_server: Some(datazone.endpoint).filter(|server| !server.is_empty()),
                    },
                    namespace: datazone.namespace,
                });
            }
        }
        let mut seen = HashSet::new();
        zones.retain(|zone| seen.insert(zone.clone()));
        let (mut adopted, mut unreachable) = (HashSet::new(), HashSet::new());
        for zone in zones {
            let in_zone: Vec<&SessionRow> = live
                .iter()
                .filter(|session| Zone::of(session) == zone)
                .collect();
            match self.reconcile_zone(&zone, &in_zone).await {
                Ok(ids) => adopted.extend(ids),
                Err(error) => {
                    tracing::warn!(?zone, %error, "cannot reconcile a Kubernetes datazone");
                    unreachable.extend(in_zone.iter().map(|session| session.id.clone()));
                }
            }
        }
        Ok((adopted, unreachable))
    }

    async fn reconcile_zone(
        &self,
        zone: &Zone,
        live: &[&SessionRow],
    ) -> Result<HashSet<String>, String> {
        let api = self.namespaced(zone).await?;
        let mine = ListParams::default().labels(&format!(
            "{INSTANCE_LABEL}={},{SESSION_LABEL}",
            label_value(&self.settings.instance)
        ));
        let failed = |error: kube::Error| error.to_string();
        let mut adopted = HashSet::new();
        for pod in api.pods.list(&mine).await.map_err(failed)? {
            let session = session_of(&pod.metadata);
            let adoptable = pod.metadata.deletion_timestamp.is_none()
                && !matches!(readiness(&pod), Readiness::Over(_))
                && live.iter().any(|row| Some(&row.id) == session.as_ref());
            match session {
                Some(session) if adoptable => {
                    adopted.insert(session);
                }
                _ => {
                    let name = pod.metadata.name.unwrap_or_default();
                    tracing::info!(pod = %name, "deleting an orphaned session pod");
                    delete(&api.pods, &name).await;
                }
            }
        }
        let orphaned = |metadata: &kube::api::ObjectMeta| {
            metadata.deletion_timestamp.is_none()
                && !session_of(metadata).is_some_and(|session| adopted.contains(&session))
        };
        for service in api.services.list(&mine).await.map_err(failed)? {
            if orphaned(&service.metadata) {
                delete(&api.services, &service.metadata.name.unwrap_or_default()).await;
            }
        }
        for claim in api.claims.list(&mine).await.map_err(failed)? {
            if orphaned(&claim.metadata) {
                delete(&api.claims, &claim.metadata.name.unwrap_or_default()).await;
            }
        }
        Ok(adopted)
    }
}

async fn remove_session_objects(api: &Namespaced, id: &str) {
    delete(&api.pods, &container_name(id)).await;
    delete(&api.services, &container_name(id)).await;
    delete(&api.claims, &workspace_claim_name(id)).await;
}

/// Deletes `name`; gone already is fine.
async fn delete<K>(api: &Api<K>, name: &str)
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(error) => tracing::warn!(%name, %error, "cannot delete a session's object"),
    }
}

/// A manifest as the typed object the API takes.
fn object<K: DeserializeOwned>(manifest: serde_json::Value) -> Result<K, String> {
    serde_json::from_value(manifest).map_err(|error| format!("a session manifest: {error}"))
}

/// The session id an object's `labforge.session` label names.
fn session_of(metadata: &kube::api::ObjectMeta) -> Option<String> {
    metadata.labels.as_ref()?.get(SESSION_LABEL).cloned()
}

/// `cluster-ip:port`, where the proxy reaches the session.
fn service_address(service: &Service, port: i32) -> Option<String> {
    let ip = service
        .spec
        .as_ref()?
        .cluster_ip
        .clone()
        .filter(|ip| !ip.is_empty() && ip != "None")?;
    Some(format!("{ip}:{port}"))
}

enum Readiness {
    Ready,
    /// Why not yet: the pod's phase and what its container waits for.
    NotYet(String),
    /// The pod failed or finished: it will never be ready.
    Over(String),
}

fn readiness(pod: &Pod) -> Readiness {
    let Some(status) = &pod.status else {
        return Readiness::NotYet("the pod has no status yet".to_owned());
    };
    let phase = status.phase.clone().unwrap_or_else(|| "Pending".to_owned());
    let waiting = status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|container| container.state.as_ref())
        .find_map(|state| {
            state.waiting.as_ref().map(|waiting| {
                let reason = waiting.reason.clone().unwrap_or_default();
                let message = waiting.message.clone().unwrap_or_default();
                format!("{reason} {message}").trim().to_owned()
            })
        });
    let conditions = status.conditions.iter().flatten();
    if phase == "Failed" || phase == "Succeeded" {
        let why = [status.reason.clone(), status.message.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        return Readiness::Over(format!("phase {phase} {why}").trim().to_owned());
    }
    if conditions
        .clone()
        .any(|condition| condition.type_ == "Ready" && condition.status == "True")
    {
        return Readiness::Ready;
    }
    let unscheduled = conditions
        .filter(|condition| condition.type_ == "PodScheduled" && condition.status == "False")
        .find_map(|condition| condition.message.clone());
    Readiness::NotYet(
        [Some(format!("phase {phase}")), unscheduled, waiting]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// A label value from any text: at most 63 letters, digits, `-`, `_` and `.`, starting and
/// ending with a letter or digit (the exact text goes into an annotation beside it).
pub fn label_value(text: &str) -> String {
    let replaced: String = text
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.') {
                character
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    replaced
        .trim_matches(|character: char| !character.is_ascii_alphanumeric())
        .to_owned()
}

/// The labels every object of a session carries, and the exact texts behind them.
fn metadata(session: &SessionRow, owner: &str, instance: &str, name: &str) -> serde_json::Value {
    let labels: BTreeMap<&str, String> = BTreeMap::from([
        (SESSION_LABEL, label_value(&session.id)),
        (INSTANCE_LABEL, label_value(instance)),
        ("labforge.user", label_value(owner)),
        ("labforge.datalab", label_value(&session.datalab)),
        ("labforge.version", label_value(&session.version)),
    ]);
    json!({
        "name": name,
        "labels": labels,
        "annotations": {
            "labforge.user": owner,
            "labforge.datalab": session.datalab,
            "labforge.version": session.version,
        },
    })
}

/// The selector of a session's pod: its session and instance labels.
fn selector(session: &SessionRow, instance: &str) -> serde_json::Value {
    json!({
        SESSION_LABEL: label_value(&session.id),
        INSTANCE_LABEL: label_value(instance),
    })
}

fn workspace_claim(session: &SessionRow, owner: &str, instance: &str) -> serde_json::Value {
    json!({
        "metadata": metadata(session, owner, instance, &workspace_claim_name(&session.id)),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": WORKSPACE_CLAIM_SIZE}},
        },
    })
}

fn service(session: &SessionRow, owner: &str, instance: &str) -> serde_json::Value {
    json!({
        "metadata": metadata(session, owner, instance, &container_name(&session.id)),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(session, instance),
            "ports": [{"name": "datalab", "port": session.port, "targetPort": session.port}],
        },
    })
}

/// The session's pod: image by digest, limits, security, mounts, labels, the readiness probe on
/// the health path as the proxy would send it, and what its kind needs to serve below the
/// session's prefix.
fn pod(session: &SessionRow, owner: &str, instance: &str) -> Result<serde_json::Value, String> {
    let kind: DatalabKind = session.kind.parse().map_err(|_| "unknown kind")?;
    let volumes: Vec<MountedVolume> = serde_json::from_str(&session.data_volumes)
        .map_err(|error| format!("stored data volumes: {error}"))?;
    let health = super::proxy::upstream_path(kind, &session.id, &session.health_path);
    let resources = json!({
        "cpu": format!("{}m", session.cpu_millis),
        "memory": format!("{}Mi", session.memory_mib),
    });
    let mut mounts = vec![json!({"name": "workspace", "mountPath": WORKSPACE_FOLDER})];
    let mut pod_volumes = vec![json!({
        "name": "workspace",
        "persistentVolumeClaim": {"claimName": workspace_claim_name(&session.id)},
    })];
    for (index, volume) in volumes.iter().enumerate() {
        let name = format!("data-{index}");
        mounts.push(json!({"name": name, "mountPath": volume.mount_path, "readOnly": true}));
        pod_volumes.push(json!({
            "name": name,
            "persistentVolumeClaim": {
                "claimName": format!("labforge-data-{}", volume.name),
                "readOnly": true,
            },
        }));
    }
    let environment: Vec<serde_json::Value> = environment_of(&session.id)
        .into_iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    let mut container = json!({
        "name": "datalab",
        "image": session.image,
        "env": environment,
        "ports": [{"name": "datalab", "containerPort": session.port}],
        "resources": {"requests": resources, "limits": resources},
        "securityContext": {
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "runAsNonRoot": true,
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "readinessProbe": {
            "httpGet": {"path": health, "port": session.port},
            "periodSeconds": 2,
            "failureThreshold": 3,
        },
        "volumeMounts": mounts,
    });
    if let Some(command) = command_of(kind, &session.id) {
        container["command"] = json!(command);
    }
    Ok(json!({
        "metadata": metadata(session, owner, instance, &container_name(&session.id)),
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000},
            "containers": [container],
            "volumes": pod_volumes,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_with(status: &serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status})).unwrap()
    }

    #[test]
    fn a_pod_is_ready_by_its_condition_and_over_once_failed_or_finished() {
        let ready = pod_with(&json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}]}));
        assert!(matches!(readiness(&ready), Readiness::Ready));
        let failed = pod_with(&json!({"phase": "Failed", "reason": "Evicted"}));
        assert!(matches!(readiness(&failed), Readiness::Over(why) if why.contains("Evicted")));
        let waiting = pod_with(&json!({"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False",
                            "message": "0/3 nodes are available"}],
            "containerStatuses": [{"name": "datalab", "image": "x", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}));
        let Readiness::NotYet(why) = readiness(&waiting) else {
            panic!("a pending pod is not ready yet");
        };
        assert!(
            why.contains("0/3 nodes") && why.contains("ImagePullBackOff"),
            "{why}"
        );
        assert!(matches!(
            readiness(&pod_with(&json!({}))),
            Readiness::NotYet(_)
        ));
    }

    #[test]
    fn label_values_keep_what_kubernetes_allows() {
        assert_eq!(label_value("ada.lovelace_1"), "ada.lovelace_1");
        assert_eq!(label_value("ada@esa.int"), "ada-esa.int");
        assert_eq!(label_value("-x-"), "x");
        assert_eq!(label_value(&"a".repeat(70)).len(), 63);
    }
}
