//! The launcher's catalogues over HTTP on SQLite and on PostgreSQL: data volumes and datazones,
//! listed by signed-in users, kept by administrators, validated field by field.

use axum::http::{Method, StatusCode};
use labforge::accounts::Role;
use serde_json::{Value, json};

use crate::common::service::{As, TestApp};
use crate::on_both_backends;

on_both_backends!(
    administrators_keep_data_volumes_and_signed_in_users_list_them,
    only_administrators_change_data_volumes,
    data_volumes_are_validated_field_by_field,
    administrators_keep_datazones_and_signed_in_users_list_them,
    datazones_are_validated_field_by_field,
    docker_datazones_default_to_the_local_daemon_and_take_no_kubernetes_fields,
);

fn euclid_volume() -> Value {
    json!({
        "name": "euclid-q1",
        "description": "Euclid Quick Release 1",
        "mission": "Euclid",
        "source": "ESA Euclid Science Archive",
        "mount_path": "/data/euclid-q1"
    })
}

async fn administrators_keep_data_volumes_and_signed_in_users_list_them(app: TestApp) {
    let admin = app.user("administrator", Role::Admin).await;
    let researcher = app.user("researcher", Role::Researcher).await;

    let (status, body) = app
        .call(
            Method::POST,
            "/api/data-volumes",
            As::User(&admin),
            Some(euclid_volume()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "euclid-q1");
    assert_eq!(body["read_only"], true, "read-only unless said otherwise");
    assert!(body.get("id").is_none());

    let (status, body) = app
        .call(
            Method::POST,
            "/api/data-volumes",
            As::User(&admin),
            Some(euclid_volume()),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, list) = app
        .call(
            Method::GET,
            "/api/data-volumes",
            As::User(&researcher),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["mount_path"], "/data/euclid-q1");
    assert_eq!(list[0]["mission"], "Euclid");
    let (status, _) = app
        .call(Method::GET, "/api/data-volumes", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Replacing renames and changes every field; the old name is gone.
    let mut replacement = euclid_volume();
    replacement["name"] = json!("euclid-q2");
    replacement["mount_path"] = json!("/data/euclid-q2");
    replacement["read_only"] = json!(false);
    replacement["mission"] = json!("");
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/data-volumes/euclid-q1",
            As::User(&admin),
            Some(replacement),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "euclid-q2");
    assert_eq!(body["read_only"], false);
    assert_eq!(body["mission"], Value::Null, "an empty mission is none");
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/data-volumes/euclid-q1",
            As::User(&admin),
            Some(euclid_volume()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/data-volumes/euclid-q2",
            As::User(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .call(
            Method::DELETE,
            "/api/data-volumes/euclid-q2",
            As::User(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, list) = app
        .call(Method::GET, "/api/data-volumes", As::User(&admin), None)
        .await;
    assert_eq!(list, json!([]));
}

async fn only_administrators_change_data_volumes(app: TestApp) {
    let moderator = app.user("moderator", Role::Moderator).await;
    let researcher = app.user("researcher", Role::Researcher).await;
    for (method, path, body) in [
        (Method::POST, "/api/data-volumes", Some(euclid_volume())),
        (
            Method::PUT,
            "/api/data-volumes/euclid-q1",
            Some(euclid_volume()),
        ),
        (Method::DELETE, "/api/data-volumes/euclid-q1", None),
    ] {
        for caller in [&moderator, &researcher] {
            let (status, answer) = app
                .call(method.clone(), path, As::User(caller), body.clone())
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        }
        let (status, _) = app.call(method.clone(), path, As::Anonymous, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

async fn data_volumes_are_validated_field_by_field(app: TestApp) {
    let admin = app.user("administrator", Role::Admin).await;
    for (field, value) in [
        ("name", json!("Euclid Q1")),
        ("name", json!("x")),
        ("description", json!("   ")),
        ("source", json!("")),
        ("mount_path", json!("data/euclid")),
        ("mount_path", json!("/data/../etc")),
        ("mount_path", json!("/")),
        ("mount_path", json!("/data//x")),
        ("mission", json!("m".repeat(101))),
        ("read_only", json!("yes")),
        ("mount_path", json!(42)),
    ] {
        let mut volume = euclid_volume();
        volume[field] = value.clone();
        let (status, body) = app
            .call(
                Method::POST,
                "/api/data-volumes",
                As::User(&admin),
                Some(volume),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}: {body}"
        );
        assert_eq!(body["error"]["field"], field, "{field}={value}: {body}");
    }
    let mut volume = euclid_volume();
    volume.as_object_mut().unwrap().remove("mount_path");
    let (status, body) = app
        .call(
            Method::POST,
            "/api/data-volumes",
            As::User(&admin),
            Some(volume),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mount_path"),
        "{body}"
    );
    let (_, list) = app
        .call(Method::GET, "/api/data-volumes", As::User(&admin), None)
        .await;
    assert_eq!(list, json!([]), "nothing invalid was stored");
}

fn cluster() -> Value {
    json!({
        "name": "esac-k8s",
        "description": "The ESAC Kubernetes cluster",
        "runtime": "kubernetes",
        "endpoint": "https://k8s.esac.example.org:6443",
        "kubeconfig": "/etc/labforge/esac.kubeconfig",
        "namespace": "datalabs"
    })
}

async fn administrators_keep_datazones_and_signed_in_users_list_them(app: TestApp) {
    let admin = app.user("administrator", Role::Admin).await;
    let researcher = app.user("researcher", Role::Researcher).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datazones",
            As::User(&admin),
            Some(cluster()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["runtime"], "kubernetes");
    assert_eq!(body["kubeconfig"], "/etc/labforge/esac.kubeconfig");
    assert_eq!(body["namespace"], "datalabs");
    let (status, _) = app
        .call(
            Method::POST,
            "/api/datazones",
            As::User(&admin),
            Some(cluster()),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/datazones",
            As::User(&researcher),
            Some(cluster()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let local = json!({
        "name": "local-docker",
        "description": "The docker daemon next to labforge",
        "runtime": "docker",
        "endpoint": "unix:///var/run/docker.sock"
    });
    let (status, _) = app
        .call(
            Method::POST,
            "/api/datazones",
            As::User(&admin),
            Some(local),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, list) = app
        .call(Method::GET, "/api/datazones", As::User(&researcher), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|zone| zone["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["esac-k8s", "local-docker"]);
    let (status, _) = app
        .call(Method::GET, "/api/datazones", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let mut moved = cluster();
    moved["endpoint"] = json!("https://k8s2.esac.example.org");
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/datazones/esac-k8s",
            As::User(&admin),
            Some(moved),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["endpoint"], "https://k8s2.esac.example.org");
    let mut clash = cluster();
    clash["name"] = json!("local-docker");
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/datazones/esac-k8s",
            As::User(&admin),
            Some(clash),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "renaming onto another name");
    for (method, expected) in [
        (Method::DELETE, StatusCode::NO_CONTENT),
        (Method::DELETE, StatusCode::NOT_FOUND),
    ] {
        let (status, _) = app
            .call(method, "/api/datazones/esac-k8s", As::User(&admin), None)
            .await;
        assert_eq!(status, expected);
    }
}

async fn datazones_are_validated_field_by_field(app: TestApp) {
    let admin = app.user("administrator", Role::Admin).await;
    for (field, value) in [
        ("name", json!("ESAC")),
        ("description", json!("")),
        ("runtime", json!("nomad")),
        ("endpoint", json!("k8s.example.org")),
        ("endpoint", json!("unix:///var/run/docker.sock")),
        ("endpoint", json!("ftp://k8s.example.org")),
        ("kubeconfig", json!("etc/esac.kubeconfig")),
        ("kubeconfig", json!("/etc/../esac.kubeconfig")),
        ("namespace", json!("Data_Labs")),
        ("namespace", json!("x".repeat(64))),
    ] {
        let mut zone = cluster();
        zone[field] = value.clone();
        let (status, body) = app
            .call(Method::POST, "/api/datazones", As::User(&admin), Some(zone))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}: {body}"
        );
        assert_eq!(body["error"]["field"], field, "{field}={value}: {body}");
    }
}

/// Which fields a datazone takes depends on its runtime: a docker one names at most its daemon
/// (by default the one labforge builds with), and has no kubeconfig or namespace.
async fn docker_datazones_default_to_the_local_daemon_and_take_no_kubernetes_fields(app: TestApp) {
    let admin = app.user("administrator", Role::Admin).await;
    // A docker datazone naming no endpoint runs on the daemon labforge builds with.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datazones",
            As::User(&admin),
            Some(
                json!({"name": "next-door", "description": "The local daemon",
                        "runtime": "docker"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["endpoint"], Value::Null, "{body}");
    assert_eq!(body["kubeconfig"], Value::Null, "{body}");
    for field in ["kubeconfig", "namespace"] {
        let mut zone = json!({"name": "daemon", "description": "A daemon", "runtime": "docker"});
        zone[field] = cluster()[field].clone();
        let (status, body) = app
            .call(Method::POST, "/api/datazones", As::User(&admin), Some(zone))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert_eq!(body["error"]["field"], field, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("runtime kubernetes"),
            "{body}"
        );
    }
}
