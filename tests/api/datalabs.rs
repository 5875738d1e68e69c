//! Datalabs, versions, uploads, builds and build logs over HTTP, on SQLite and on PostgreSQL.

use std::io::Write as _;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use labforge::accounts::Role;
use labforge::config::Config;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::common::datalabs;
use crate::common::service::{As, TestApp, TestUser};
use crate::on_both_backends;

/// Uploads above this many bytes are refused by the test apps.
const UPLOAD_LIMIT: u64 = 64 * 1024;

/// JSON bodies are limited far below uploads, to show the two limits are separate.
const JSON_LIMIT: usize = 8 * 1024;

fn small_uploads(config: &mut Config) {
    config.datalabs.max_upload_bytes = UPLOAD_LIMIT;
    config.server.max_json_bytes = JSON_LIMIT;
}

/// Bytes that do not compress, so a zip of them is about as large.
fn incompressible(length: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(length + 32);
    let mut block = sha2::Sha256::digest(b"seed");
    while bytes.len() < length {
        bytes.extend_from_slice(&block);
        block = sha2::Sha256::digest(block);
    }
    bytes.truncate(length);
    bytes
}

on_both_backends!(
    config = small_uploads;
    authors_create_list_and_delete_draft_datalabs,
    private_and_draft_datalabs_are_404_to_those_who_may_not_see_them,
    versions_take_git_zip_and_workspace_sources,
    a_git_version_may_name_one_folder_of_the_repository,
    uploads_are_limited_and_must_be_zip_archives,
    builds_are_numbered_per_version_and_queued_ones_cancel_at_once,
    a_finished_build_log_is_served_as_json_text_and_replayed_as_events,
    the_openapi_document_describes_the_datalabs_endpoints,
    deleting_a_draft_removes_the_uploads_only_it_used,
    old_uploads_no_version_names_are_removed,
    versions_are_built_only_from_the_owners_own_workspace,
    a_version_exports_as_a_zip_of_its_staged_sources_with_a_manifest,
    an_uploaded_version_s_files_are_checked_as_a_build_checks_them_and_refusals_change_nothing,
    an_accepted_edit_becomes_a_new_upload_of_what_a_build_stages,
    the_members_list_follows_sharing,
    a_draft_version_takes_new_sources_and_a_published_one_refuses_them,
    a_workspace_version_s_file_is_written_in_place_and_git_sources_are_refused,
);

async fn create_datalab(app: &TestApp, owner: &TestUser, name: &str) {
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs",
            As::User(owner),
            Some(json!({"name": name, "kind": "jupyterlab"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A folder of `owner`'s workspace with a metadata.yaml of `version`.
fn workspace_folder(app: &TestApp, owner: &TestUser, folder: &str, version: &str) {
    let path = app.workspace_of(owner).join(folder);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(
        path.join("metadata.yaml"),
        format!(
            "title: Demo\nalternateName: demo\nabstract: A demo.\ncontactPoint: a@example.org\n\
             creator: Tests\nversion: {version}\n"
        ),
    )
    .unwrap();
}

async fn create_workspace_version(app: &TestApp, owner: &TestUser, name: &str, version: &str) {
    let folder = format!("{name}-{version}");
    workspace_folder(app, owner, &folder, version);
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/datalabs/{name}/versions"),
            As::User(owner),
            Some(json!({"version": version, "source": {"kind": "workspace", "path": folder}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Publishes the datalab as the publishing workflow will: straight in the database.
async fn publish(app: &TestApp, name: &str, visibility: &str) {
    datalabs::set_state_of_named(&app.state.database, name, "published", visibility).await;
}

fn zip_archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, contents) in files {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(contents).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

async fn upload(app: &TestApp, user: &TestUser, body: Body) -> (StatusCode, Value) {
    let request = Request::post("/api/uploads")
        .header(header::AUTHORIZATION, format!("Bearer {}", user.token))
        .header(header::CONTENT_TYPE, "application/zip")
        .body(body)
        .unwrap();
    let response = app.send(request).await;
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// GET `path` with an `Accept` header (and optional extra header); returns status, content type
/// and the whole body as text.
async fn get_text(
    app: &TestApp,
    path: &str,
    user: &TestUser,
    accept: &str,
    extra: Option<(&str, &str)>,
) -> (StatusCode, String, String) {
    let mut request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", user.token))
        .header(header::ACCEPT, accept);
    if let Some((name, value)) = extra {
        request = request.header(name, value);
    }
    let response = app.send(request.body(Body::empty()).unwrap()).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = tokio::time::timeout(Duration::from_secs(30), response.into_body().collect())
        .await
        .expect("the log answer ends")
        .unwrap()
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, against one service"
)]
async fn authors_create_list_and_delete_draft_datalabs(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    let bob = app.user("bob", Role::Author).await;
    let rita = app.user("rita", Role::Researcher).await;
    let mona = app.user("mona", Role::Moderator).await;
    let root = app.user("root", Role::Admin).await;

    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs",
            As::User(&rita),
            Some(json!({"name": "jl-rita", "kind": "jupyterlab"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("author role")
    );

    let (status, created) = app
        .call(
            Method::POST,
            "/api/datalabs",
            As::User(&alice),
            Some(json!({"name": "jl-euclid-tools", "kind": "jupyterlab"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["owner"], "alice");
    assert_eq!(created["state"], "draft");
    assert_eq!(created["visibility"], "private");
    assert_eq!(created["kind"], "jupyterlab");

    for (name, fragment) in [
        ("Euclid", "other than a-z"),
        ("-x", "starts or ends"),
        ("x", "fewer than 2"),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/datalabs",
                As::User(&alice),
                Some(json!({"name": name, "kind": "desktop"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert_eq!(body["error"]["field"], "name");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(fragment),
            "{body}"
        );
    }
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs",
            As::User(&alice),
            Some(json!({"name": "x-viewer", "kind": "spreadsheet"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "kind");
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs",
            As::User(&bob),
            Some(json!({"name": "jl-euclid-tools", "kind": "generic"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    create_datalab(&app, &alice, "x-fits").await;
    create_datalab(&app, &bob, "bobs-lab").await;
    let (status, mine) = app
        .call(Method::GET, "/api/me/datalabs", As::User(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|datalab| datalab["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["jl-euclid-tools", "x-fits"]);
    let (status, _) = app
        .call(Method::GET, "/api/me/datalabs", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Others: hidden from a stranger, visible but not deletable for a moderator.
    let path = "/api/datalabs/jl-euclid-tools";
    let (status, _) = app.call(Method::DELETE, path, As::User(&bob), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.call(Method::DELETE, path, As::User(&mona), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app.call(Method::GET, path, As::User(&mona), None).await;
    assert_eq!(status, StatusCode::OK);

    create_workspace_version(&app, &alice, "jl-euclid-tools", "0.0.1").await;
    let (status, _) = app.call(Method::DELETE, path, As::User(&alice), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.call(Method::GET, path, As::User(&alice), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/datalabs/bobs-lab",
            As::User(&root),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "administrators may delete drafts"
    );

    publish(&app, "x-fits", "public").await;
    let (status, body) = app
        .call(
            Method::DELETE,
            "/api/datalabs/x-fits",
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("published"),
        "{body}"
    );
    let (status, _) = app
        .call(Method::GET, "/api/datalabs/x-fits", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::OK, "kept");
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, against one service"
)]
async fn private_and_draft_datalabs_are_404_to_those_who_may_not_see_them(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    let bob = app.user("bob", Role::Author).await;
    let mona = app.user("mona", Role::Moderator).await;
    create_datalab(&app, &alice, "jl-secret").await;
    create_workspace_version(&app, &alice, "jl-secret", "0.0.1").await;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/datalabs/jl-secret/versions/0.0.1/builds",
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let readable = [
        "/api/datalabs/jl-secret",
        "/api/datalabs/jl-secret/versions",
        "/api/datalabs/jl-secret/versions/0.0.1",
        "/api/datalabs/jl-secret/versions/0.0.1/builds",
        "/api/datalabs/jl-secret/versions/0.0.1/builds/0",
        "/api/datalabs/jl-secret/versions/0.0.1/builds/0/log",
    ];
    let (_, missing) = app
        .call(
            Method::GET,
            "/api/datalabs/jl-nothing",
            As::User(&bob),
            None,
        )
        .await;
    for path in readable {
        for caller in [As::Anonymous, As::User(&bob)] {
            let (status, body) = app.call(Method::GET, path, caller, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert_eq!(body["error"]["code"], missing["error"]["code"]);
        }
        let (status, body) = app.call(Method::GET, path, As::User(&mona), None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "moderators see everything: {path}: {body}"
        );
    }
    // Changing is refused the same way: no hint that the datalab exists.
    let (status, _) = app
        .call(
            Method::POST,
            "/api/datalabs/jl-secret/versions/0.0.1/builds",
            As::User(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/datalabs/jl-secret/versions/0.0.1/builds",
            As::Anonymous,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Shared with bob: he sees it but may not change it.
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/datalabs/jl-secret/members/bob",
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for path in readable {
        let (status, body) = app.call(Method::GET, path, As::User(&bob), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/api/datalabs/jl-secret/versions/0.0.1/builds",
            As::User(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/datalabs/jl-secret/members/bob",
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::GET, "/api/datalabs/jl-secret", As::User(&bob), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unshared again");

    // Published privately: still hidden; published publicly: everyone reads, nobody else edits.
    publish(&app, "jl-secret", "private").await;
    let (status, _) = app
        .call(Method::GET, "/api/datalabs/jl-secret", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    publish(&app, "jl-secret", "public").await;
    for path in readable {
        let (status, body) = app.call(Method::GET, path, As::Anonymous, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/api/datalabs/jl-secret/versions/0.0.1/builds/0/cancel",
            As::User(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn a_git_version_may_name_one_folder_of_the_repository(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    create_datalab(&app, &alice, "jl-fits-header").await;
    let versions = "/api/datalabs/jl-fits-header/versions";
    let git = json!({"kind": "git", "url": "https://github.com/astropy/astropy-tutorials.git",
        "reference": "main", "subfolder": "tutorials/FITS-header"});
    let (status, created) = app
        .call(
            Method::POST,
            versions,
            As::User(&alice),
            Some(json!({"version": "0.0.1", "source": git})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["source"], git);
    let (status, listed) = app
        .call(Method::GET, versions, As::User(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed[0]["source"], git, "{listed}");

    for subfolder in ["../astropy", "/tutorials", "tutorials/../../x", ".git"] {
        let source = json!({"kind": "git", "url": "https://github.com/astropy/astropy-tutorials.git",
            "subfolder": subfolder});
        let (status, body) = app
            .call(
                Method::POST,
                versions,
                As::User(&alice),
                Some(json!({"version": "0.0.2", "source": source})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{subfolder}: {body}"
        );
        assert_eq!(body["error"]["field"], "source.subfolder", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(subfolder), "{message}");
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, against one service"
)]
async fn versions_take_git_zip_and_workspace_sources(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    let bob = app.user("bob", Role::Author).await;
    create_datalab(&app, &alice, "jl-demo").await;
    let versions = "/api/datalabs/jl-demo/versions";

    let git =
        json!({"kind": "git", "url": "https://github.com/org/jl-demo.git", "reference": "v1"});
    let (status, created) = app
        .call(
            Method::POST,
            versions,
            As::User(&alice),
            Some(json!({"version": "0.0.1", "source": git})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["source"], git);
    assert_eq!(created["metadata"], Value::Null);

    for (source, fragment) in [
        (
            json!({"kind": "git", "url": "git@github.com:org/repo.git"}),
            "ssh",
        ),
        (
            json!({"kind": "git", "url": "http://example.org/repo.git"}),
            "http",
        ),
        (
            json!({"kind": "git", "url": "https://example.org/repo.git", "reference": "--upload-pack=x"}),
            "reference",
        ),
        (
            json!({"kind": "workspace", "path": "../outside"}),
            "workspace",
        ),
        (
            json!({"kind": "workspace", "path": "missing-folder"}),
            "missing-folder",
        ),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                versions,
                As::User(&alice),
                Some(json!({"version": "0.0.2", "source": source})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{source}: {body}");
        let field = if source["kind"] == "workspace" {
            "source.path"
        } else {
            "source"
        };
        assert_eq!(body["error"]["field"], field, "{body}");
        let message = body["error"]["message"].as_str().unwrap().to_lowercase();
        assert!(message.contains(fragment), "{source}: {message}");
    }
    let (status, body) = app
        .call(
            Method::POST,
            versions,
            As::User(&alice),
            Some(json!({"version": "0.0.2", "source": {"kind": "ftp", "url": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "source.kind", "{body}");
    let (status, body) = app
        .call(
            Method::POST,
            versions,
            As::User(&alice),
            Some(json!({"version": "0.0.2", "source": {"kind": "workspace", "path": "x", "branch": "y"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("branch"),
        "{body}"
    );

    workspace_folder(&app, &alice, "demo", "0.0.2");
    let (status, created) = app
        .call(
            Method::POST,
            versions,
            As::User(&alice),
            Some(json!({"version": "0.0.2", "source": {"kind": "workspace", "path": "demo"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["source"]["kind"], "workspace");

    let archive = zip_archive(&[("metadata.yaml", b"title: Demo\n")]);
    let (status, uploaded) = upload(&app, &alice, Body::from(archive.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    assert_eq!(uploaded["size_bytes"], archive.len());
    assert_eq!(
        uploaded["sha256"],
        hex::encode(sha2::Sha256::digest(&archive))
    );
    let upload_id = uploaded["id"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            versions,
            As::User(&bob),
            Some(json!({"version": "0.0.3", "source": {"kind": "zip", "upload": upload_id}})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "bob cannot see the datalab: {body}"
    );
    create_datalab(&app, &bob, "bobs-lab").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs/bobs-lab/versions",
            As::User(&bob),
            Some(json!({"version": "0.0.3", "source": {"kind": "zip", "upload": upload_id}})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "alice's upload is not bob's: {body}"
    );
    assert_eq!(body["error"]["field"], "source.upload");
    let (status, created) = app
        .call(
            Method::POST,
            versions,
            As::User(&alice),
            Some(json!({"version": "0.0.3", "source": {"kind": "zip", "upload": upload_id}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["source"],
        json!({"kind": "zip", "upload": upload_id})
    );

    let (status, body) = app
        .call(
            Method::POST,
            versions,
            As::User(&alice),
            Some(json!({"version": "0.0.3", "source": {"kind": "workspace", "path": "demo"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for version in ["1.0", "01.0.0", "v1.0.0"] {
        let (status, body) = app
            .call(
                Method::POST,
                versions,
                As::User(&alice),
                Some(json!({"version": version, "source": {"kind": "workspace", "path": "demo"}})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{version}: {body}"
        );
        assert_eq!(body["error"]["field"], "version");
    }

    let (status, listed) = app
        .call(Method::GET, versions, As::User(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|version| version["version"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["0.0.1", "0.0.2", "0.0.3"]);
    let (status, one) = app
        .call(
            Method::GET,
            &format!("{versions}/0.0.1"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["source"]["reference"], "v1");
    let (status, _) = app
        .call(
            Method::GET,
            &format!("{versions}/9.9.9"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn uploads_are_limited_and_must_be_zip_archives(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    let rita = app.user("rita", Role::Researcher).await;
    let too_large = vec![0_u8; usize::try_from(UPLOAD_LIMIT).unwrap() + 1];

    // Refused from the declared length, before the body is read.
    let (status, body) = upload(&app, &alice, Body::from(too_large.clone())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&UPLOAD_LIMIT.to_string()),
        "the limit is named: {body}"
    );
    // Refused while streaming, when no length is declared.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = too_large
        .chunks(8192)
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    let (status, body) = upload(
        &app,
        &alice,
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    let (status, body) = upload(&app, &alice, Body::from("definitely not a zip")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "not_a_zip");

    let (status, _) = upload(&app, &rita, Body::from(zip_archive(&[("a", b"a")]))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let request = Request::post("/api/uploads")
        .body(Body::from(zip_archive(&[("a", b"a")])))
        .unwrap();
    assert_eq!(app.send(request).await.status(), StatusCode::UNAUTHORIZED);

    let uploads = app.config.data_dir.join("uploads");
    let left: Vec<_> = std::fs::read_dir(&uploads)
        .map(|entries| entries.map(|entry| entry.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "refused uploads leave no file: {left:?}");
    let archive = zip_archive(&[("data.bin", &incompressible(4 * JSON_LIMIT))]);
    assert!(archive.len() > JSON_LIMIT && archive.len() < usize::try_from(UPLOAD_LIMIT).unwrap());
    let (status, body) = upload(&app, &alice, Body::from(archive.clone())).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the JSON limit does not apply: {body}"
    );
    assert_eq!(body["size_bytes"], archive.len());
    assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 1);
}

async fn builds_are_numbered_per_version_and_queued_ones_cancel_at_once(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    let bob = app.user("bob", Role::Author).await;
    let mona = app.user("mona", Role::Moderator).await;
    create_datalab(&app, &alice, "jl-demo").await;
    create_workspace_version(&app, &alice, "jl-demo", "0.0.1").await;
    create_workspace_version(&app, &alice, "jl-demo", "0.0.2").await;
    let builds = "/api/datalabs/jl-demo/versions/0.0.1/builds";

    for expected in 0..3 {
        let (status, build) = app.call(Method::POST, builds, As::User(&alice), None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{build}");
        assert_eq!(build["number"], expected);
        assert_eq!(build["status"], "queued");
        assert_eq!(build["version"], "0.0.1");
        assert_eq!(build["requested_by"], "alice");
    }
    let (status, other) = app
        .call(
            Method::POST,
            "/api/datalabs/jl-demo/versions/0.0.2/builds",
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(other["number"], 0, "numbers restart in each version");

    let (status, listed) = app.call(Method::GET, builds, As::User(&alice), None).await;
    assert_eq!(status, StatusCode::OK);
    let numbers: Vec<i64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|build| build["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1, 0], "newest first");

    let cancel = format!("{builds}/1/cancel");
    let (status, body) = app.call(Method::POST, &cancel, As::User(&mona), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app.call(Method::POST, &cancel, As::User(&bob), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, cancelled) = app
        .call(Method::POST, &cancel, As::User(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["finished_at"].is_string());
    assert!(
        cancelled["failure"]
            .as_str()
            .unwrap()
            .contains("cancelled by alice"),
        "{cancelled}"
    );
    let (status, body) = app
        .call(Method::POST, &cancel, As::User(&alice), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled")
    );

    let (status, build) = app
        .call(Method::GET, &format!("{builds}/2"), As::User(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(build["status"], "queued", "the others wait for a worker");
    assert_eq!(build["lint_findings"], json!([]));
    for missing in ["7", "x"] {
        let (status, body) = app
            .call(
                Method::GET,
                &format!("{builds}/{missing}"),
                As::User(&alice),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/api/datalabs/jl-demo/versions/9.9.9/builds",
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, against one service"
)]
async fn a_finished_build_log_is_served_as_json_text_and_replayed_as_events(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    create_datalab(&app, &alice, "jl-gone").await;
    create_workspace_version(&app, &alice, "jl-gone", "0.0.1").await;
    // The folder disappears after it was registered: the build fails while fetching.
    std::fs::remove_dir_all(app.workspace_of(&alice).join("jl-gone-0.0.1")).unwrap();

    let workers = app.start_workers();
    let build = "/api/datalabs/jl-gone/versions/0.0.1/builds/0";
    let (status, _) = app
        .call(
            Method::POST,
            "/api/datalabs/jl-gone/versions/0.0.1/builds",
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let failed = app
        .wait_for(build, As::User(&alice), Duration::from_mins(1), |build| {
            build["status"] == "failed"
        })
        .await;
    workers.stop().await;
    let failure = failed["failure"].as_str().unwrap();
    assert!(failure.contains("jl-gone-0.0.1"), "{failure}");
    assert!(failed["started_at"].is_string() && failed["finished_at"].is_string());
    assert_eq!(failed["digest"], Value::Null);

    let (status, lines) = app
        .call(Method::GET, &format!("{build}/log"), As::User(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{lines}");
    let lines = lines.as_array().unwrap();
    let numbers: Vec<i64> = lines
        .iter()
        .map(|line| line["line"].as_i64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        (0..i64::try_from(numbers.len()).unwrap()).collect::<Vec<_>>()
    );
    assert_eq!(lines[0]["phase"], "queue");
    assert!(
        lines[0]["text"]
            .as_str()
            .unwrap()
            .contains("0.0.1-0 of jl-gone started")
    );
    assert!(lines.iter().any(|line| line["phase"] == "fetch"));
    let last = lines.last().unwrap();
    assert!(
        last["text"].as_str().unwrap().starts_with("failed: "),
        "{last}"
    );

    let (status, _, tail) = get_text(
        &app,
        &format!("{build}/log?after=0&limit=1"),
        &alice,
        "application/json",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let tail: Value = serde_json::from_str(&tail).unwrap();
    assert_eq!(tail.as_array().unwrap().len(), 1);
    assert_eq!(tail[0]["line"], 1);
    let (status, body) = app
        .call(
            Method::GET,
            &format!("{build}/log?after=first"),
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "after");

    let (status, content_type, text) =
        get_text(&app, &format!("{build}/log"), &alice, "text/plain", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(text.lines().count(), lines.len());
    assert!(text.contains("queue"), "{text}");

    // Replayed after the end: every stored line as an event, then `end` with the status.
    let (status, content_type, events) = get_text(
        &app,
        &format!("{build}/log"),
        &alice,
        "text/event-stream",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    assert_eq!(
        events.matches("event: line").count(),
        lines.len(),
        "{events}"
    );
    assert!(events.contains("id: 0\n"), "{events}");
    let end = events.split("event: end\n").nth(1).expect("an end event");
    assert!(end.contains(r#""status":"failed""#), "{end}");
    let (_, _, resumed) = get_text(
        &app,
        &format!("{build}/log"),
        &alice,
        "text/event-stream",
        Some(("last-event-id", "1")),
    )
    .await;
    assert_eq!(
        resumed.matches("event: line").count(),
        lines.len() - 2,
        "{resumed}"
    );
    assert!(!resumed.contains("id: 1\n"));
    assert!(resumed.contains("event: end"));

    let (_, version) = app
        .call(
            Method::GET,
            "/api/datalabs/jl-gone/versions/0.0.1",
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(
        version["metadata"],
        Value::Null,
        "only succeeded builds set the metadata"
    );
}

async fn the_openapi_document_describes_the_datalabs_endpoints(app: TestApp) {
    let (status, document) = app
        .call(Method::GET, "/api/openapi.json", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let paths = document["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/datalabs", "post"),
        ("/api/me/datalabs", "get"),
        ("/api/datalabs/{name}", "delete"),
        ("/api/uploads", "post"),
        ("/api/datalabs/{name}/versions", "post"),
        ("/api/datalabs/{name}/versions/{version}/builds", "post"),
        (
            "/api/datalabs/{name}/versions/{version}/builds/{number}/cancel",
            "post",
        ),
        (
            "/api/datalabs/{name}/versions/{version}/builds/{number}/log",
            "get",
        ),
    ] {
        let operation = &paths[path][method];
        assert_eq!(
            operation["tags"][0], "datalabs",
            "{path} {method}: {operation}"
        );
    }
    let tags: Vec<&str> = document["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect();
    assert!(tags.contains(&"datalabs"), "{tags:?}");
    assert!(document["components"]["schemas"]["Build"].is_object());
}

async fn deleting_a_draft_removes_the_uploads_only_it_used(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    let uploads_folder = app.config.data_dir.join("uploads");
    let mut ids = Vec::new();
    for content in [b"first".as_slice(), b"second".as_slice()] {
        let archive = zip_archive(&[("metadata.yaml", content)]);
        let (status, uploaded) = upload(&app, &alice, Body::from(archive)).await;
        assert_eq!(status, StatusCode::CREATED, "{uploaded}");
        ids.push(uploaded["id"].as_str().unwrap().to_owned());
    }
    let (only_here, shared) = (&ids[0], &ids[1]);
    create_datalab(&app, &alice, "jl-doomed").await;
    create_datalab(&app, &alice, "jl-keeper").await;
    for (datalab, version, id) in [
        ("jl-doomed", "0.0.1", only_here),
        ("jl-doomed", "0.0.2", shared),
        ("jl-keeper", "0.0.1", shared),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                &format!("/api/datalabs/{datalab}/versions"),
                As::User(&alice),
                Some(json!({"version": version, "source": {"kind": "zip", "upload": id}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/datalabs/jl-doomed",
            As::User(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        !uploads_folder.join(format!("{only_here}.zip")).exists(),
        "the archive only the deleted datalab used is removed"
    );
    assert!(
        uploads_folder.join(format!("{shared}.zip")).exists(),
        "an archive another datalab's version names stays"
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs/jl-keeper/versions",
            As::User(&alice),
            Some(json!({"version": "0.0.2", "source": {"kind": "zip", "upload": only_here}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "source.upload", "{body}");
}

async fn old_uploads_no_version_names_are_removed(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    let uploads_folder = app.config.data_dir.join("uploads");
    let mut ids = Vec::new();
    for content in [
        b"used".as_slice(),
        b"forgotten".as_slice(),
        b"recent".as_slice(),
    ] {
        let archive = zip_archive(&[("metadata.yaml", content)]);
        let (status, uploaded) = upload(&app, &alice, Body::from(archive)).await;
        assert_eq!(status, StatusCode::CREATED, "{uploaded}");
        ids.push(uploaded["id"].as_str().unwrap().to_owned());
    }
    create_datalab(&app, &alice, "jl-uses-one").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs/jl-uses-one/versions",
            As::User(&alice),
            Some(json!({"version": "0.0.1", "source": {"kind": "zip", "upload": ids[0]}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let two_days_ago = chrono::Utc::now() - chrono::Duration::hours(48);
    for id in &ids[..2] {
        labforge::with_pool!(&app.state.database, write, |pool| {
            sqlx::query("UPDATE uploads SET created_at = $2 WHERE id = $1")
                .bind(id)
                .bind(two_days_ago)
                .execute(pool)
                .await
                .unwrap();
        });
    }
    let removed = app.state.datalabs.remove_stale_uploads().await.unwrap();
    assert_eq!(removed, 1, "only the old upload no version names");
    let exists = |id: &String| uploads_folder.join(format!("{id}.zip")).exists();
    assert!(exists(&ids[0]), "an old upload a version names stays");
    assert!(!exists(&ids[1]), "an old unused upload goes");
    assert!(exists(&ids[2]), "a recent unused upload stays");
}

/// A version's workspace folder is a folder of the owner's own workspace: another user's, reached
/// by `..`, an absolute path or a link, is refused exactly like a folder that does not exist.
async fn versions_are_built_only_from_the_owners_own_workspace(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    let bob = app.user("bob", Role::Author).await;
    workspace_folder(&app, &bob, "lab", "0.0.1");
    workspace_folder(&app, &alice, "mine", "0.0.1");
    workspace_folder(&app, &alice, "tutorials/second", "0.0.1");
    let bobs_lab = app.workspace_of(&bob).join("lab");
    std::os::unix::fs::symlink(&bobs_lab, app.workspace_of(&alice).join("borrowed")).unwrap();
    create_datalab(&app, &alice, "jl-alice").await;

    let bobs_lab = bobs_lab.display().to_string();
    let mut refusals = Vec::new();
    for path in [
        "../bob/lab",
        "../bob/missing",
        bobs_lab.as_str(),
        "borrowed",
        "missing",
        "..",
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/datalabs/jl-alice/versions",
                As::User(&alice),
                Some(json!({"version": "0.0.1", "source": {"kind": "workspace", "path": path}})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["error"]["field"], "source.path", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("your workspace"), "{message}");
        refusals.push(message.replace(&format!("{path:?}"), "PATH"));
    }
    assert!(
        refusals.windows(2).all(|pair| pair[0] == pair[1]),
        "the refusals do not tell another user's folder from a missing one: {refusals:#?}"
    );

    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs/jl-alice/versions",
            As::User(&alice),
            Some(json!({"version": "0.0.1", "source": {"kind": "workspace", "path": "mine"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The creator wizard lists what can be built: folders with a metadata.yaml, not links.
    let (status, listed) = app
        .call(Method::GET, "/api/me/workspace", As::User(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(
        listed,
        json!([{"path": "mine"}, {"path": "tutorials/second"}])
    );
    let (_, listed) = app
        .call(Method::GET, "/api/me/workspace", As::User(&bob), None)
        .await;
    assert_eq!(listed, json!([{"path": "lab"}]));
    let (status, _) = app
        .call(Method::GET, "/api/me/workspace", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn a_version_exports_as_a_zip_of_its_staged_sources_with_a_manifest(app: TestApp) {
    let owner = app.user("olga", Role::Author).await;
    let stranger = app.user("otto", Role::Author).await;
    create_datalab(&app, &owner, "export-lab").await;
    create_workspace_version(&app, &owner, "export-lab", "1.0.0").await;
    let folder = app.workspace_of(&owner).join("export-lab-1.0.0");
    std::fs::write(folder.join("requirements.txt"), "numpy\n").unwrap();
    std::fs::create_dir_all(folder.join("notebooks/.ipynb_checkpoints")).unwrap();
    std::fs::write(folder.join("notebooks/a.ipynb"), "{}").unwrap();
    std::fs::write(folder.join("notebooks/.ipynb_checkpoints/a.ipynb"), "{}").unwrap();
    std::fs::write(folder.join(".env"), "TOKEN=secret\n").unwrap();

    let path = "/api/datalabs/export-lab/versions/1.0.0/export";
    for caller in [As::Anonymous, As::User(&stranger)] {
        let (status, _) = app.call(Method::GET, path, caller, None).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "a draft is exported to those who see it"
        );
    }
    let mut request = Request::get(path);
    request = request.header(header::AUTHORIZATION, format!("Bearer {}", owner.token));
    let response = app.send(request.body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/zip");
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"export-lab-1.0.0.zip\""
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = archive
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "labforge-export.json",
            "metadata.yaml",
            "notebooks/a.ipynb",
            "requirements.txt"
        ],
        "checkpoints and secrets are left out as a build leaves them out"
    );
    let manifest: Value =
        serde_json::from_reader(archive.by_name("labforge-export.json").unwrap()).unwrap();
    assert_eq!(manifest["datalab"], "export-lab");
    assert_eq!(manifest["version"], "1.0.0");
    assert_eq!(
        manifest["source"],
        json!({"kind": "workspace", "path": "export-lab-1.0.0"})
    );
    assert_eq!(manifest["build"], Value::Null, "no green build yet");
    // Nothing is left behind in the service's folders.
    let exports = app.config.data_dir.join("exports");
    assert_eq!(std::fs::read_dir(exports).unwrap().count(), 0);
}

/// Sends `text` as the new `file` of `name`'s `version` with `content_type`.
async fn put_file(
    app: &TestApp,
    user: &TestUser,
    path: &str,
    content_type: &str,
    text: impl Into<Body>,
) -> (StatusCode, Value) {
    let request = Request::put(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", user.token))
        .header(header::CONTENT_TYPE, content_type)
        .body(text.into())
        .unwrap();
    let response = app.send(request).await;
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn version_upload(app: &TestApp, user: &TestUser, name: &str, version: &str) -> String {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/api/datalabs/{name}/versions/{version}"),
            As::User(user),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["source"]["upload"].as_str().unwrap().to_owned()
}

async fn an_uploaded_version_s_files_are_checked_as_a_build_checks_them_and_refusals_change_nothing(
    app: TestApp,
) {
    let owner = app.user("olga", Role::Author).await;
    let stranger = app.user("otto", Role::Author).await;
    let (metadata, first_upload) = uploaded_edit_lab(&app, &owner).await;
    let metadata_path = "/api/datalabs/edit-lab/versions/1.0.0/files/metadata.yaml";
    let requirements_path = "/api/datalabs/edit-lab/versions/1.0.0/files/requirements.txt";

    let (status, content_type, text) =
        get_text(&app, metadata_path, &owner, "text/plain", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(text, metadata, "the file as the author wrote it");
    let (_, _, text) = get_text(&app, requirements_path, &owner, "text/plain", None).await;
    assert_eq!(text, "numpy\n");
    let (status, _, _) = get_text(&app, metadata_path, &stranger, "text/plain", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a draft is the owner's");

    // What a build would refuse is refused here, every problem with its field, and nothing changes.
    let broken = metadata
        .replace("title: Demo\n", "")
        .replace("creator: Tests", "creator: []");
    let (status, answer) = put_file(&app, &owner, metadata_path, "text/plain", broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let fields: Vec<&str> = answer["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|detail| detail["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"title") && fields.contains(&"creator"),
        "{answer}"
    );
    assert!(
        answer["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("line "),
        "{answer}"
    );
    let (status, answer) = put_file(
        &app,
        &owner,
        requirements_path,
        "text/plain",
        "numpy\n--index-url https://packages.example.org/simple\n",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "requirements.txt");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("changes where packages are downloaded from"),
        "{answer}"
    );
    let (status, answer) = put_file(
        &app,
        &owner,
        requirements_path,
        "application/json",
        "\"numpy\"",
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    let (status, answer) = put_file(
        &app,
        &owner,
        requirements_path,
        "text/plain",
        "#".repeat(256 * 1024 + 1),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    let (status, _) = put_file(&app, &stranger, metadata_path, "text/plain", metadata).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        version_upload(&app, &owner, "edit-lab", "1.0.0").await,
        first_upload,
        "refused edits change nothing"
    );
}

async fn an_accepted_edit_becomes_a_new_upload_of_what_a_build_stages(app: TestApp) {
    let owner = app.user("olga", Role::Author).await;
    let (metadata, first_upload) = uploaded_edit_lab(&app, &owner).await;
    let metadata_path = "/api/datalabs/edit-lab/versions/1.0.0/files/metadata.yaml";
    let requirements_path = "/api/datalabs/edit-lab/versions/1.0.0/files/requirements.txt";
    // An accepted edit becomes a new upload, the version points at it, the other files stay.
    let edited = metadata.replace("title: Demo", "title: Edited demo");
    let (status, version) =
        put_file(&app, &owner, metadata_path, "text/plain", edited.clone()).await;
    assert_eq!(status, StatusCode::OK, "{version}");
    let second_upload = version["source"]["upload"].as_str().unwrap().to_owned();
    assert_ne!(second_upload, first_upload);
    let (status, version) = put_file(
        &app,
        &owner,
        requirements_path,
        "text/plain; charset=utf-8",
        "numpy\nastropy>=6\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{version}");
    let (_, _, text) = get_text(&app, metadata_path, &owner, "text/plain", None).await;
    assert_eq!(text, edited);
    let (_, _, text) = get_text(&app, requirements_path, &owner, "text/plain", None).await;
    assert_eq!(text, "numpy\nastropy>=6\n");
    let third_upload = version_upload(&app, &owner, "edit-lab", "1.0.0").await;
    let stored = app
        .config
        .data_dir
        .join("uploads")
        .join(format!("{third_upload}.zip"));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(stored).unwrap()).unwrap();
    let mut names: Vec<String> = archive
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["metadata.yaml", "notebooks/a.ipynb", "requirements.txt"],
        "what a build stages, and nothing it leaves out"
    );
    let mut kept = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("metadata.yaml").unwrap(), &mut kept)
        .unwrap();
    assert_eq!(kept, edited);
    // No staging copy is left behind.
    let edits = app.config.data_dir.join("edits");
    assert_eq!(std::fs::read_dir(edits).unwrap().count(), 0);

    // A published version's sources never change.
    let statement = "UPDATE versions SET state = 'published' WHERE version = '1.0.0'";
    labforge::with_pool!(&app.state.database, write, |pool| {
        sqlx::query(statement).execute(pool).await.unwrap();
    });
    let (status, answer) = put_file(&app, &owner, metadata_path, "text/plain", metadata).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "not_editable");
}

/// `owner`'s datalab `edit-lab` with a version 1.0.0 from an uploaded zip (one top folder, a
/// notebook, a secret-looking file); its metadata.yaml text and upload id.
async fn uploaded_edit_lab(app: &TestApp, owner: &TestUser) -> (&'static str, String) {
    create_datalab(app, owner, "edit-lab").await;
    let metadata = "# the author's comment stays\ntitle: Demo\nalternateName: edit-lab\n\
                    abstract: A demo.\ncontactPoint: a@example.org\ncreator: Tests\nversion: 1.0.0\n";
    let archive = zip_archive(&[
        ("lab/metadata.yaml", metadata.as_bytes()),
        ("lab/requirements.txt", b"numpy\n"),
        ("lab/notebooks/a.ipynb", b"{}"),
        ("lab/.env", b"TOKEN=secret\n"),
    ]);
    let (status, uploaded) = upload(app, owner, Body::from(archive)).await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs/edit-lab/versions",
            As::User(owner),
            Some(json!({"version": "1.0.0", "source": {"kind": "zip", "upload": uploaded["id"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first_upload = version_upload(app, owner, "edit-lab", "1.0.0").await;
    (metadata, first_upload)
}

async fn a_workspace_version_s_file_is_written_in_place_and_git_sources_are_refused(app: TestApp) {
    let owner = app.user("olga", Role::Author).await;
    create_datalab(&app, &owner, "ws-lab").await;
    create_workspace_version(&app, &owner, "ws-lab", "1.0.0").await;
    let folder = app.workspace_of(&owner).join("ws-lab-1.0.0");
    let path = "/api/datalabs/ws-lab/versions/1.0.0/files/requirements.txt";
    let (status, _, text) = get_text(&app, path, &owner, "text/plain", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "", "no requirements.txt yet: an empty one");

    // A link in the file's place is replaced, never written through.
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("elsewhere.txt");
    std::fs::write(&target, "untouched\n").unwrap();
    std::os::unix::fs::symlink(&target, folder.join("requirements.txt")).unwrap();
    let (status, _, text) = get_text(&app, path, &owner, "text/plain", None).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, ""),
        "a link is not read"
    );
    let (status, version) = put_file(&app, &owner, path, "text/plain", "scipy\n").await;
    assert_eq!(status, StatusCode::OK, "{version}");
    assert_eq!(
        version["source"],
        json!({"kind": "workspace", "path": "ws-lab-1.0.0"})
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
    let written = folder.join("requirements.txt");
    assert!(!written.is_symlink());
    assert_eq!(std::fs::read_to_string(&written).unwrap(), "scipy\n");
    assert!(
        std::fs::read_dir(&folder).unwrap().all(|entry| !entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".labforge-edit-")),
        "no temporary file is left"
    );

    // A git source is edited in its repository.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs/ws-lab/versions",
            As::User(&owner),
            Some(json!({"version": "2.0.0", "source": {"kind": "git", "url": "https://github.com/org/lab.git"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, answer) = put_file(
        &app,
        &owner,
        "/api/datalabs/ws-lab/versions/2.0.0/files/metadata.yaml",
        "text/plain",
        "title: x\n",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("git repository"),
        "{answer}"
    );
    let (status, _, _) = get_text(
        &app,
        "/api/datalabs/ws-lab/versions/1.0.0/files/setup.py",
        &owner,
        "text/plain",
        None,
    )
    .await;
    assert!(status.is_client_error(), "only the two files: {status}");
}

async fn members(app: &TestApp, owner: &TestUser, name: &str) -> Value {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/api/datalabs/{name}/members"),
            As::User(owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn the_members_list_follows_sharing(app: TestApp) {
    let owner = app.user("olga", Role::Author).await;
    let rita = app.user("rita", Role::Researcher).await;
    create_datalab(&app, &owner, "ws-lab").await;
    assert_eq!(members(&app, &owner, "ws-lab").await, json!([]));
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/datalabs/ws-lab/members/rita",
            As::User(&owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(members(&app, &owner, "ws-lab").await, json!(["rita"]));
    let (status, _) = app
        .call(
            Method::GET,
            "/api/datalabs/ws-lab/members",
            As::User(&rita),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a member sees the datalab, not who else does"
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/datalabs/ws-lab/members/rita",
            As::User(&owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(members(&app, &owner, "ws-lab").await, json!([]));
}

async fn a_draft_version_takes_new_sources_and_a_published_one_refuses_them(app: TestApp) {
    let owner = app.user("olga", Role::Author).await;
    let stranger = app.user("otto", Role::Author).await;
    create_datalab(&app, &owner, "new-sources").await;
    create_workspace_version(&app, &owner, "new-sources", "1.0.0").await;
    let path = "/api/datalabs/new-sources/versions/1.0.0/source";
    let archive = || {
        Body::from(zip_archive(&[(
            "metadata.yaml",
            b"title: Demo\nalternateName: demo\nabstract: A demo.\ncontactPoint: a@example.org\n\
              creator: Tests\nversion: 1.0.0\n",
        )]))
    };
    let (_, mine) = upload(&app, &owner, archive()).await;
    let (_, theirs) = upload(&app, &stranger, archive()).await;

    let (status, answer) = app
        .call(
            Method::PUT,
            path,
            As::User(&owner),
            Some(json!({"source": {"kind": "zip", "upload": theirs["id"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "source.upload", "{answer}");
    let (status, answer) = app
        .call(
            Method::PUT,
            path,
            As::User(&owner),
            Some(json!({"source": {"kind": "git", "url": "ftp://example.org/lab.git"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "source", "{answer}");
    let (status, _) = app
        .call(
            Method::PUT,
            path,
            As::User(&stranger),
            Some(json!({"source": {"kind": "zip", "upload": theirs["id"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a draft is its owner's");

    let (status, version) = app
        .call(
            Method::PUT,
            path,
            As::User(&owner),
            Some(json!({"source": {"kind": "zip", "upload": mine["id"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{version}");
    assert_eq!(
        version["source"],
        json!({"kind": "zip", "upload": mine["id"]})
    );
    let (_, again) = app
        .call(
            Method::GET,
            "/api/datalabs/new-sources/versions/1.0.0",
            As::User(&owner),
            None,
        )
        .await;
    assert_eq!(again["source"], version["source"]);

    let statement = "UPDATE versions SET state = 'published' WHERE version = '1.0.0'";
    labforge::with_pool!(&app.state.database, write, |pool| {
        sqlx::query(statement).execute(pool).await.unwrap();
    });
    let (status, answer) = app
        .call(
            Method::PUT,
            path,
            As::User(&owner),
            Some(json!({"source": {"kind": "workspace", "path": "new-sources-1.0.0"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sources never change"),
        "{answer}"
    );
}
