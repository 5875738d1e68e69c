//! Kubernetes datazones against a real kube-apiserver (with etcd; `scripts/test.sh` starts both
//! and exports `LABFORGE_TEST_KUBECONFIG`), on SQLite and on PostgreSQL. There is no kubelet, no
//! scheduler and no controller manager: pods are stored, never run. The tests play the kubelet's
//! part as kwok does, setting a pod's status through the status subresource, and check what
//! labforge created, how it reconciles and what it deletes. Each test works in a namespace of its
//! own, with the `default` service account the controller manager would have made.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod, Service, ServiceAccount};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use labforge::accounts::Role;
use serde_json::{Value, json};

use crate::common;
use crate::common::datalabs::{DatalabFixture, insert_datalab, insert_finished_build};
use crate::common::service::{As, TestApp, TestUser};
use crate::on_both_backends;

on_both_backends!(
    a_kubernetes_launch_creates_a_locked_down_pod_a_service_and_a_workspace_claim,
    a_kubernetes_launch_interrupted_by_a_restart_is_adopted_and_waits_for_readiness,
    reconciling_adopts_pods_ends_vanished_sessions_and_deletes_orphans,
);

/// The kubeconfig of the test API server; `None` (the test is skipped, saying so) when
/// `LABFORGE_TEST_KUBECONFIG` is unset.
fn kubeconfig() -> Option<String> {
    let path = std::env::var("LABFORGE_TEST_KUBECONFIG").ok();
    if path.is_none() {
        eprintln!(
            "skipped: LABFORGE_TEST_KUBECONFIG is not set; `bash scripts/test.sh` builds and \
             starts kube-apiserver and etcd and sets it"
        );
    }
    path
}

/// A fresh namespace of the test API server, with its `default` service account; a client.
async fn namespace(kubeconfig: &str) -> (Client, String) {
    labforge::install_crypto_provider();
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = Client::try_from(config).unwrap();
    let name = common::unique_name("labforge-test");
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap();
    Api::<ServiceAccount>::namespaced(client.clone(), &name)
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    (client, name)
}

/// An administrator's kubernetes datazone `zone` in `namespace`, the data volume `euclid-q1`, and
/// a published JupyterLab datalab `photometry` with a succeeded build; the datalab's id.
async fn catalogue(app: &TestApp, kubeconfig: &str, namespace: &str) -> String {
    let admin = app.user("administrator", Role::Admin).await;
    for (path, body) in [
        (
            "/api/datazones",
            json!({"name": "zone", "description": "The test cluster", "runtime": "kubernetes",
                   "kubeconfig": kubeconfig, "namespace": namespace}),
        ),
        (
            "/api/data-volumes",
            json!({"name": "euclid-q1", "description": "Euclid Q1", "source": "archive",
                   "mount_path": "/data/euclid"}),
        ),
    ] {
        let (status, body) = app
            .call(Method::POST, path, As::User(&admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, zones) = app
        .call(Method::GET, "/api/datazones", As::User(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(zones[0]["kubeconfig"], kubeconfig, "{zones}");
    assert_eq!(zones[0]["namespace"], namespace, "{zones}");
    assert_eq!(zones[0]["endpoint"], Value::Null, "{zones}");
    let author = app.user("olga", Role::Author).await;
    let fixture = DatalabFixture::published(
        "photometry",
        &app.user_id(&author).await,
        "Photometry",
        "Aperture photometry",
    );
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
    id
}

async fn launch(app: &TestApp, user: &TestUser, body: Value) -> String {
    let (status, session) = app
        .call(Method::POST, "/api/sessions", As::User(user), Some(body))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{session}");
    session["id"].as_str().unwrap().to_owned()
}

/// Reads session `id` until its status is `status` (within 30 s); the session.
async fn session_reaching(app: &TestApp, user: &TestUser, id: &str, status: &str) -> Value {
    let mut session = Value::Null;
    for _ in 0..150 {
        (_, session) = app
            .call(
                Method::GET,
                &format!("/api/sessions/{id}"),
                As::User(user),
                None,
            )
            .await;
        if session["status"] == status {
            return session;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("session {id} did not become {status}: {session}");
}

/// Plays the kubelet: the pod is running and its readiness probe answered.
async fn mark_ready(pods: &Api<Pod>, name: &str) {
    let status = json!({"status": {
        "phase": "Running",
        "podIP": "10.244.0.7",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "ContainersReady", "status": "True"},
            {"type": "Ready", "status": "True"},
        ],
    }});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

fn labels_of(metadata: &kube::api::ObjectMeta) -> BTreeMap<String, String> {
    metadata.labels.clone().unwrap_or_default()
}

/// What the pod of rita's JupyterLab session `id`, launched with 1.5 CPUs, 3 GiB and the data
/// volume `euclid-q1`, must be.
fn check_pod(pod: &Pod, id: &str, instance: &str) {
    let labels = labels_of(&pod.metadata);
    assert_eq!(labels["labforge.session"], id);
    assert_eq!(labels["labforge.instance"], instance);
    assert_eq!(labels["labforge.user"], "rita");
    assert_eq!(labels["labforge.datalab"], "photometry");
    assert_eq!(labels["labforge.version"], "1.0.0");
    let spec = pod.spec.clone().unwrap();
    assert_eq!(spec.automount_service_account_token, Some(false));
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    let container = &spec.containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("registry/datalabs/x@sha256:0000"),
        "by digest"
    );
    let resources = container.resources.clone().unwrap();
    for quantities in [resources.limits.unwrap(), resources.requests.unwrap()] {
        assert_eq!(quantities["cpu"].0, "1500m");
        // The API server stores quantities in canonical form: 3072Mi is 3Gi.
        assert_eq!(quantities["memory"].0, "3Gi");
    }
    let security = container.security_context.clone().unwrap();
    assert_eq!(security.run_as_user, Some(1000));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(
        security.capabilities.unwrap().drop.unwrap(),
        ["ALL".to_owned()]
    );
    let probe = container.readiness_probe.clone().unwrap().http_get.unwrap();
    assert_eq!(
        probe.path.as_deref(),
        Some(format!("/sessions/{id}/api/status").as_str()),
        "JupyterLab answers its health path below the session's prefix"
    );
    assert_eq!(
        probe.port,
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8888)
    );
    let command = container.command.clone().unwrap();
    assert!(
        command.contains(&format!("--ServerApp.base_url=/sessions/{id}/")),
        "{command:?}"
    );
    let mounts: Vec<(String, Option<bool>)> = container
        .volume_mounts
        .iter()
        .flatten()
        .map(|mount| (mount.mount_path.clone(), mount.read_only))
        .collect();
    assert_eq!(
        mounts,
        [
            ("/home/datalab/work".to_owned(), None),
            ("/data/euclid".to_owned(), Some(true)),
        ]
    );
    let claims_mounted: Vec<(String, Option<bool>)> = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|volume| volume.persistent_volume_claim.clone())
        .map(|claim| (claim.claim_name, claim.read_only))
        .collect();
    assert_eq!(
        claims_mounted,
        [
            (format!("labforge-workspace-{id}"), None),
            ("labforge-data-euclid-q1".to_owned(), Some(true)),
        ]
    );
}

async fn a_kubernetes_launch_creates_a_locked_down_pod_a_service_and_a_workspace_claim(
    app: TestApp,
) {
    let Some(kubeconfig) = kubeconfig() else {
        return;
    };
    let (client, namespace) = namespace(&kubeconfig).await;
    catalogue(&app, &kubeconfig, &namespace).await;
    let rita = app.user("rita", Role::Researcher).await;
    let id = launch(
        &app,
        &rita,
        json!({"datalab": "photometry", "datazone": "zone", "cpu": 1.5, "memory_gib": 3,
               "data_volumes": ["euclid-q1"]}),
    )
    .await;
    let session = session_reaching(&app, &rita, &id, "waiting_for_health").await;
    assert_eq!(session["datazone"], "zone");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
    let name = format!("labforge-session-{id}");
    let claim_name = format!("labforge-workspace-{id}");

    check_pod(&pods.get(&name).await.unwrap(), &id, &app.config.instance());
    let service = services.get(&name).await.unwrap();
    assert_eq!(labels_of(&service.metadata)["labforge.session"], id);
    let service_spec = service.spec.unwrap();
    let selector = service_spec.selector.unwrap();
    assert_eq!(selector["labforge.session"], id);
    assert_eq!(service_spec.ports.unwrap()[0].port, 8888);
    let cluster_ip = service_spec.cluster_ip.unwrap();
    assert!(cluster_ip.starts_with("10.96."), "{cluster_ip}");
    let claim = claims.get(&claim_name).await.unwrap();
    assert_eq!(labels_of(&claim.metadata)["labforge.session"], id);
    assert_eq!(
        claim.spec.unwrap().access_modes.unwrap(),
        ["ReadWriteOnce".to_owned()]
    );

    mark_ready(&pods, &name).await;
    let session = session_reaching(&app, &rita, &id, "ready").await;
    assert!(session["ready_at"].is_string(), "{session}");
    let row = app
        .state
        .database
        .datalab_session(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.address.as_deref(),
        Some(format!("{cluster_ip}:8888").as_str()),
        "the proxy reaches the session's Service"
    );

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/sessions/{id}"),
            As::User(&rita),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(pods.get_opt(&name).await.unwrap().is_none(), "pod deleted");
    assert!(
        services.get_opt(&name).await.unwrap().is_none(),
        "service deleted"
    );
    // Without a controller manager the claim keeps its protection finalizer: it is being deleted.
    if let Some(claim) = claims.get_opt(&claim_name).await.unwrap() {
        assert!(claim.metadata.deletion_timestamp.is_some(), "claim deleted");
    }
    let session = session_reaching(&app, &rita, &id, "ended").await;
    assert_eq!(session["reason"], "deleted by its owner");
}

/// An orphan of this instance (a session the database does not know) and a pod of another
/// labforge sharing the namespace, each with a service.
async fn create_strays(pods: &Api<Pod>, services: &Api<Service>, instance: &str) {
    for (name, owner) in [("orphan", instance), ("neighbour", "another-instance")] {
        let labels = json!({"labforge.session": name, "labforge.instance": owner});
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "x", "image": "registry/x@sha256:0000"}]},
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
        let service: Service = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"ports": [{"port": 80}]},
        }))
        .unwrap();
        services
            .create(&PostParams::default(), &service)
            .await
            .unwrap();
    }
}

/// The sessions the objects' labels name, sorted.
fn remaining(list: Vec<BTreeMap<String, String>>) -> Vec<String> {
    let mut sessions: Vec<String> = list
        .into_iter()
        .map(|labels| labels["labforge.session"].clone())
        .collect();
    sessions.sort();
    sessions
}

async fn reconciling_adopts_pods_ends_vanished_sessions_and_deletes_orphans(app: TestApp) {
    let Some(kubeconfig) = kubeconfig() else {
        return;
    };
    let (client, namespace) = namespace(&kubeconfig).await;
    catalogue(&app, &kubeconfig, &namespace).await;
    let rita = app.user("rita", Role::Researcher).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = launch(
            &app,
            &rita,
            json!({"datalab": "photometry", "datazone": "zone"}),
        )
        .await;
        session_reaching(&app, &rita, &id, "waiting_for_health").await;
        mark_ready(&pods, &format!("labforge-session-{id}")).await;
        session_reaching(&app, &rita, &id, "ready").await;
        ids.push(id);
    }
    let [adopted, vanishing] = [&ids[0], &ids[1]];
    pods.delete(
        &format!("labforge-session-{vanishing}"),
        &kube::api::DeleteParams::default(),
    )
    .await
    .unwrap();
    create_strays(&pods, &services, &app.config.instance()).await;
    app.state.sessions.runtime().reconcile().await.unwrap();

    let mut expected = vec![adopted.clone(), "neighbour".to_owned()];
    expected.sort();
    let listed = pods.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        remaining(
            listed
                .into_iter()
                .map(|pod| labels_of(&pod.metadata))
                .collect()
        ),
        expected,
        "the orphan pod is deleted; the adopted one and the other instance's stay"
    );
    let listed = services.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        remaining(
            listed
                .into_iter()
                .map(|service| labels_of(&service.metadata))
                .collect()
        ),
        expected,
        "the services of the vanished session and of the orphan are deleted"
    );
    // The claims keep their protection finalizer (no controller manager): deleted is "being
    // deleted" here.
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
    let kept: Vec<String> = claims
        .list(&ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|claim| claim.metadata.deletion_timestamp.is_none())
        .map(|claim| labels_of(&claim.metadata)["labforge.session"].clone())
        .collect();
    assert_eq!(
        kept,
        std::slice::from_ref(adopted),
        "the vanished session's claim is deleted"
    );
    let (_, session) = app
        .call(
            Method::GET,
            &format!("/api/sessions/{adopted}"),
            As::User(&rita),
            None,
        )
        .await;
    assert_eq!(session["status"], "ready", "{session}");
    let (_, session) = app
        .call(
            Method::GET,
            &format!("/api/sessions/{vanishing}"),
            As::User(&rita),
            None,
        )
        .await;
    assert_eq!(session["status"], "ended", "{session}");
    assert!(
        session["reason"].as_str().unwrap().contains("vanished"),
        "{session}"
    );
}

/// A launch labforge stopped during (its row `waiting_for_health`, its pod and service created)
/// is adopted at the next start: labforge finds the service again and waits for the pod's
/// readiness.
async fn a_kubernetes_launch_interrupted_by_a_restart_is_adopted_and_waits_for_readiness(
    app: TestApp,
) {
    let Some(kubeconfig) = kubeconfig() else {
        return;
    };
    let (client, namespace) = namespace(&kubeconfig).await;
    let datalab_id = catalogue(&app, &kubeconfig, &namespace).await;
    let rita = app.user("rita", Role::Researcher).await;
    let id = labforge::storage::new_id();
    let name = format!("labforge-session-{id}");
    let now = chrono::Utc::now();
    let row = labforge::storage::sessions::SessionRow {
        id: id.clone(),
        user_id: app.user_id(&rita).await,
        name: "photometry".to_owned(),
        datalab_id,
        datalab: "photometry".to_owned(),
        version: "1.0.0".to_owned(),
        kind: "jupyterlab".to_owned(),
        image: "registry/datalabs/x@sha256:0000".to_owned(),
        port: 8888,
        health_path: "/api/status".to_owned(),
        cpu_millis: 1000,
        memory_mib: 2048,
        data_volumes: "[]".to_owned(),
        datazone: "zone".to_owned(),
        runtime: "kubernetes".to_owned(),
        runtime_endpoint: kubeconfig.clone(),
        api_server: None,
        namespace: Some(namespace.clone()),
        status: labforge::sessions::SessionStatus::WaitingForHealth,
        reason: None,
        container_id: Some(name.clone()),
        address: None,
        created_at: now,
        ready_at: None,
        ended_at: None,
        last_activity_at: now,
    };
    app.state
        .database
        .insert_datalab_session(&row)
        .await
        .unwrap();
    // What the interrupted launch had created, as it would have.
    let labels = json!({"labforge.session": id, "labforge.instance": app.config.instance()});
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "datalab", "image": row.image}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"selector": labels, "ports": [{"port": 8888}]},
    }))
    .unwrap();
    let cluster_ip = services
        .create(&PostParams::default(), &service)
        .await
        .unwrap()
        .spec
        .unwrap()
        .cluster_ip
        .unwrap();

    app.state.sessions.runtime().reconcile().await.unwrap();
    assert!(
        pods.get_opt(&name).await.unwrap().is_some(),
        "adopted, not deleted"
    );
    mark_ready(&pods, &name).await;
    session_reaching(&app, &rita, &id, "ready").await;
    let row = app
        .state
        .database
        .datalab_session(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.address, Some(format!("{cluster_ip}:8888")));
}
