//! Who may call what: every endpoint of the API called as anonymous, a researcher, the owner of
//! the datalabs involved, another author, a moderator and an administrator, on SQLite and on
//! PostgreSQL. Each row names the answer each of them must get. The researcher is affiliated in
//! an ESA Member State (the Netherlands), the other author in the United States, so the rows of
//! Olga's datalab for the member states show both sides of that audience.

use axum::http::{Method, StatusCode};
use labforge::accounts::Role;
use serde_json::{Value, json};

use crate::common::datalabs;
use crate::common::service::{As, TestApp, TestUser};
use crate::on_both_backends;

on_both_backends!(
    every_endpoint_answers_each_kind_of_caller_as_the_table_says,
    private_metadata_fields_reach_only_the_owner_moderators_and_admins,
    datalabs_published_by_the_operator_reach_the_marketplace_and_the_catalog,
    a_full_search_rebuild_finds_what_changed_behind_the_index_s_back,
);

/// The callers, in the order of each row's expected statuses.
struct Callers {
    researcher: TestUser,
    owner: TestUser,
    other_author: TestUser,
    moderator: TestUser,
    admin: TestUser,
}

impl Callers {
    async fn create(app: &TestApp) -> Self {
        Self {
            researcher: app.user("rita", Role::Researcher).await,
            owner: app.user("olga", Role::Author).await,
            other_author: app.user_in("otto", Role::Author, Some("US")).await,
            moderator: app.user("mona", Role::Moderator).await,
            admin: app.user("adam", Role::Admin).await,
        }
    }

    fn all(&self) -> [(&'static str, As<'_>); 6] {
        [
            ("anonymous", As::Anonymous),
            ("researcher", As::User(&self.researcher)),
            ("owner", As::User(&self.owner)),
            ("other author", As::User(&self.other_author)),
            ("moderator", As::User(&self.moderator)),
            ("admin", As::User(&self.admin)),
        ]
    }
}

/// One endpoint call and the status each caller must get, in [`Callers::all`] order.
struct Row {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    expected: [u16; 6],
}

fn row(method: Method, path: &'static str, body: Option<Value>, expected: [u16; 6]) -> Row {
    Row {
        method,
        path,
        body,
        expected,
    }
}

fn accounts_rows() -> Vec<Row> {
    vec![
        row(Method::GET, "/api/me", None, [401, 200, 200, 200, 200, 200]),
        row(
            Method::GET,
            "/api/tokens",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        row(
            Method::PUT,
            "/api/me/password",
            Some(
                json!({"current_password": "not-the-password", "new_password": "a-new-long-password"}),
            ),
            [401, 401, 401, 401, 401, 401],
        ),
        row(
            Method::GET,
            "/api/users",
            None,
            [401, 403, 403, 403, 403, 200],
        ),
        row(
            Method::GET,
            "/api/users/olga",
            None,
            [401, 403, 403, 403, 403, 200],
        ),
        row(
            Method::POST,
            "/api/users",
            Some(json!({"name": "newcomer", "role": "researcher"})),
            [401, 403, 403, 403, 403, 201],
        ),
        row(
            Method::PATCH,
            "/api/users/rita",
            Some(json!({"email": "rita@example.org"})),
            [401, 403, 403, 403, 403, 200],
        ),
        row(
            Method::DELETE,
            "/api/tokens/unknown-token",
            None,
            [401, 404, 404, 404, 404, 404],
        ),
        row(
            Method::POST,
            "/api/session",
            Some(json!({"name": "olga", "password": "not-olga-s-password"})),
            [401; 6],
        ),
        row(Method::DELETE, "/api/session", None, [204; 6]),
        row(
            Method::POST,
            "/api/tokens",
            Some(json!({"name": "table"})),
            [401, 201, 201, 201, 201, 201],
        ),
        row(Method::GET, "/api/openapi.json", None, [200; 6]),
        row(Method::GET, "/metrics", None, [200; 6]),
    ]
}

#[expect(
    clippy::too_many_lines,
    reason = "one table, in the order the rows run, reads better than split across functions"
)]
fn datalabs_rows() -> Vec<Row> {
    let git = json!({"kind": "git", "url": "https://github.com/org/lab.git", "reference": "v1"});
    let hidden_draft = [404, 404, 200, 404, 200, 200];
    vec![
        row(Method::GET, "/api/datalabs/olga-draft", None, hidden_draft),
        row(Method::GET, "/api/datalabs/olga-public", None, [200; 6]),
        row(
            Method::GET,
            "/api/me/datalabs",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        row(
            Method::GET,
            "/api/me/workspace",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        row(
            Method::POST,
            "/api/datalabs",
            Some(json!({"name": "fresh-lab", "kind": "desktop"})),
            // The name is taken once the owner created it.
            [401, 403, 201, 409, 409, 409],
        ),
        row(
            Method::GET,
            "/api/datalabs/olga-draft/versions",
            None,
            hidden_draft,
        ),
        row(
            Method::GET,
            "/api/datalabs/olga-draft/versions/0.0.1",
            None,
            hidden_draft,
        ),
        row(
            Method::POST,
            "/api/datalabs/olga-draft/versions",
            Some(json!({"version": "0.0.2", "source": git})),
            [401, 404, 201, 404, 403, 409],
        ),
        row(
            Method::GET,
            "/api/datalabs/olga-draft/versions/0.0.1/builds",
            None,
            hidden_draft,
        ),
        // Its git source lies on a host this machine cannot reach: those who see the draft learn
        // that the source cannot be staged; the others, nothing.
        row(
            Method::GET,
            "/api/datalabs/olga-draft/versions/0.0.1/export",
            None,
            [404, 404, 422, 404, 422, 422],
        ),
        row(
            Method::GET,
            "/api/datalabs/olga-draft/versions/0.0.1/builds/0",
            None,
            hidden_draft,
        ),
        row(
            Method::GET,
            "/api/datalabs/olga-draft/versions/0.0.1/builds/0/log",
            None,
            hidden_draft,
        ),
        // The queued build kept no evidence yet: who may see the draft learns that, the others
        // that there is no such datalab (a finished build's evidence by visibility is tested in
        // tests/build/build_end_to_end.rs).
        row(
            Method::GET,
            "/api/datalabs/olga-draft/versions/0.0.1/builds/0/sbom",
            None,
            [404; 6],
        ),
        row(
            Method::GET,
            "/api/datalabs/olga-draft/versions/0.0.1/builds/0/licence-report",
            None,
            [404; 6],
        ),
        row(
            Method::GET,
            "/api/datalabs/olga-draft/versions/0.0.1/builds/0/screenshot",
            None,
            [404; 6],
        ),
        row(
            Method::POST,
            "/api/datalabs/olga-draft/versions/0.0.1/builds",
            None,
            [401, 404, 202, 404, 403, 202],
        ),
        row(
            Method::POST,
            "/api/datalabs/olga-draft/versions/0.0.1/builds/0/cancel",
            None,
            // The owner's cancel ends the queued build; there is nothing left to cancel after.
            [401, 404, 200, 404, 403, 409],
        ),
        row(
            Method::GET,
            "/api/datalabs/olga-draft/members",
            None,
            [401, 404, 200, 404, 403, 200],
        ),
        row(
            Method::PUT,
            "/api/datalabs/olga-draft/versions/0.0.1/source",
            Some(json!({"source": git})),
            [401, 404, 200, 404, 403, 200],
        ),
        // Its source is git: those who may change it learn that the file is edited there.
        row(
            Method::GET,
            "/api/datalabs/olga-draft/versions/0.0.1/files/metadata.yaml",
            None,
            [401, 404, 409, 404, 403, 409],
        ),
        row(
            Method::PUT,
            "/api/datalabs/olga-draft/versions/0.0.1/files/requirements.txt",
            None,
            [401, 404, 409, 404, 403, 409],
        ),
        row(
            Method::PUT,
            "/api/datalabs/olga-draft/members/rita",
            None,
            [401, 404, 204, 404, 403, 204],
        ),
        row(
            Method::GET,
            "/api/datalabs/olga-public/versions",
            None,
            [200; 6],
        ),
        row(
            Method::POST,
            "/api/uploads",
            Some(json!({"not": "a zip"})),
            // Uploads are sources of datalabs: authors and above.
            [401, 403, 422, 422, 422, 422],
        ),
        // Rita stays a member for the rows below until the owner removes her here.
        row(
            Method::DELETE,
            "/api/datalabs/olga-draft/members/rita",
            None,
            [401, 403, 204, 404, 403, 204],
        ),
        row(
            Method::DELETE,
            "/api/datalabs/olga-public",
            None,
            [401, 403, 409, 403, 403, 409],
        ),
        // Last: the owner's delete removes the fixture, so later callers find nothing. Rita is no
        // longer a member: the draft is hidden from her again.
        row(
            Method::DELETE,
            "/api/datalabs/olga-draft",
            None,
            [401, 404, 204, 404, 404, 404],
        ),
    ]
}

fn marketplace_launcher_and_licence_rows() -> Vec<Row> {
    let volume = json!({"name": "gaia-dr3", "description": "Gaia DR3", "mission": "Gaia",
        "source": "/archive/gaia/dr3", "mount_path": "/data/gaia"});
    let zone = json!({"name": "local", "description": "This machine's docker",
        "runtime": "docker", "endpoint": "unix:///var/run/docker.sock"});
    let signed_in = [401, 200, 200, 200, 200, 200];
    vec![
        row(Method::GET, "/api/marketplace", None, [200; 6]),
        row(
            Method::GET,
            "/api/marketplace?sort=sideways",
            None,
            [422; 6],
        ),
        row(Method::GET, "/catalog.jsonld", None, [200; 6]),
        // Who sees the draft learns it has no description yet (409); the others, nothing.
        row(
            Method::GET,
            "/api/datalabs/olga-draft/jsonld",
            None,
            [404, 404, 409, 404, 409, 409],
        ),
        row(
            Method::PUT,
            "/api/datalabs/olga-public/star",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        row(
            Method::PUT,
            "/api/datalabs/olga-draft/star",
            None,
            [401, 404, 200, 404, 200, 200],
        ),
        row(
            Method::DELETE,
            "/api/datalabs/olga-public/star",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        row(Method::GET, "/api/data-volumes", None, signed_in),
        row(
            Method::POST,
            "/api/data-volumes",
            Some(volume.clone()),
            [401, 403, 403, 403, 403, 201],
        ),
        row(
            Method::PUT,
            "/api/data-volumes/gaia-dr3",
            Some(volume),
            [401, 403, 403, 403, 403, 200],
        ),
        row(
            Method::DELETE,
            "/api/data-volumes/gaia-dr3",
            None,
            [401, 403, 403, 403, 403, 204],
        ),
        row(Method::GET, "/api/licences", None, [200; 6]),
        row(
            Method::POST,
            "/api/licences/evaluate",
            Some(json!({"expression": "MIT OR GPL-3.0-only", "audience": "member_states"})),
            [200; 6],
        ),
        row(Method::GET, "/api/datazones", None, signed_in),
        row(
            Method::POST,
            "/api/datazones",
            Some(zone.clone()),
            [401, 403, 403, 403, 403, 201],
        ),
        row(
            Method::PUT,
            "/api/datazones/local",
            Some(zone),
            [401, 403, 403, 403, 403, 200],
        ),
        row(
            Method::DELETE,
            "/api/datazones/local",
            None,
            [401, 403, 403, 403, 403, 204],
        ),
    ]
}

/// Olga's draft has only a queued build, so her submission is refused for its conditions (422);
/// unknown submissions are 404 to everyone who may act on submissions at all.
fn publishing_rows() -> Vec<Row> {
    let audience = json!({"audience": "public"});
    vec![
        row(
            Method::POST,
            "/api/datalabs/olga-draft/versions/0.0.1/submission",
            Some(audience),
            [401, 404, 422, 404, 403, 422],
        ),
        row(
            Method::GET,
            "/api/datalabs/olga-draft/submissions",
            None,
            [401, 404, 200, 404, 200, 200],
        ),
        row(
            Method::GET,
            "/api/datalabs/olga-public/history",
            None,
            [401, 403, 200, 403, 200, 200],
        ),
        row(
            Method::GET,
            "/api/moderation/queue",
            None,
            [401, 403, 403, 403, 200, 200],
        ),
        row(
            Method::GET,
            "/api/submissions/unknown-submission",
            None,
            [401, 404, 404, 404, 404, 404],
        ),
        row(
            Method::POST,
            "/api/submissions/unknown-submission/decision",
            Some(json!({"decision": "approve"})),
            [401, 403, 403, 403, 404, 404],
        ),
        row(
            Method::POST,
            "/api/submissions/unknown-submission/withdraw",
            None,
            [401, 404, 404, 404, 404, 404],
        ),
    ]
}

/// Launches are refused before any container starts: the draft is hidden from those who may not
/// see it, and has no succeeded build for those who may.
fn sessions_rows() -> Vec<Row> {
    let unknown = [401, 404, 404, 404, 404, 404];
    vec![
        row(
            Method::GET,
            "/api/sessions",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        row(
            Method::POST,
            "/api/sessions",
            Some(json!({"datalab": "olga-draft"})),
            [401, 404, 409, 404, 409, 409],
        ),
        row(Method::GET, "/api/sessions/unknown-session", None, unknown),
        row(
            Method::DELETE,
            "/api/sessions/unknown-session",
            None,
            unknown,
        ),
        row(
            Method::GET,
            "/api/sessions/unknown-session/logs",
            None,
            unknown,
        ),
        row(
            Method::GET,
            "/api/sessions/unknown-session/events",
            None,
            unknown,
        ),
    ]
}

/// Run last: they deprecate, then archive, Olga's published datalab.
fn lifecycle_rows() -> Vec<Row> {
    vec![
        row(
            Method::POST,
            "/api/datalabs/olga-public/deprecate",
            Some(json!({"comment": "Superseded by a newer lab."})),
            [401, 403, 200, 403, 403, 409],
        ),
        row(
            Method::POST,
            "/api/datalabs/olga-public/archive",
            Some(json!({})),
            // Archived, it is hidden again from those who only saw it because it was public.
            [401, 403, 200, 404, 409, 409],
        ),
    ]
}

/// Whether the concrete `path` (query ignored) is an instance of the OpenAPI `template`.
fn instance_of(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let template: Vec<&str> = template.split('/').collect();
    let concrete: Vec<&str> = path.split('/').collect();
    template.len() == concrete.len()
        && template
            .iter()
            .zip(&concrete)
            .all(|(expected, actual)| expected.starts_with('{') || expected == actual)
}

/// Fails naming each operation of the OpenAPI document that no row calls, so an endpoint added
/// later cannot escape the table.
async fn assert_every_documented_endpoint_has_a_row(app: &TestApp, rows: &[Row]) {
    let (_, document) = app
        .call(Method::GET, "/api/openapi.json", As::Anonymous, None)
        .await;
    let mut missing = Vec::new();
    for (template, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let covered = rows.iter().any(|row| {
                row.method.as_str().eq_ignore_ascii_case(method) && instance_of(template, row.path)
            });
            if !covered {
                missing.push(format!("{} {template}", method.to_uppercase()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "endpoints without a row: {}",
        missing.join(", ")
    );
}

/// Olga's private draft `olga-draft` (version 0.0.1, build 0 queued) and her published public
/// `olga-public` (version 0.0.1).
async fn datalab_fixtures(app: &TestApp, owner: &TestUser) {
    let git = json!({"kind": "git", "url": "https://github.com/org/lab.git", "reference": "v1"});
    for name in ["olga-draft", "olga-public"] {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/datalabs",
                As::User(owner),
                Some(json!({"name": name, "kind": "jupyterlab"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .call(
                Method::POST,
                &format!("/api/datalabs/{name}/versions"),
                As::User(owner),
                Some(json!({"version": "0.0.1", "source": git})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = app
        .call(
            Method::POST,
            "/api/datalabs/olga-draft/versions/0.0.1/builds",
            As::User(owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    app.state
        .datalabs
        .publish_as_operator("olga-public", "0.0.1")
        .await
        .unwrap();
    // `olga-members`: published for the ESA Member States.
    app.create_datalab_with_version(owner, "olga-members", "jupyterlab", "0.0.1", git)
        .await;
    let database = &app.state.database;
    datalabs::set_state_of_named(database, "olga-members", "published", "member_states").await;
    let id = database
        .datalab_by_name("olga-members")
        .await
        .unwrap()
        .unwrap()
        .id;
    database.refresh_datalab_search(&id).await.unwrap();
}

/// Olga's datalab for the ESA Member States: seen by the researcher from the Netherlands, not by
/// the author from the United States nor anonymously.
fn member_states_rows() -> Vec<Row> {
    let members = [404, 200, 200, 404, 200, 200];
    vec![
        row(Method::GET, "/api/datalabs/olga-members", None, members),
        row(
            Method::GET,
            "/api/datalabs/olga-members/versions",
            None,
            members,
        ),
        row(
            Method::PUT,
            "/api/datalabs/olga-members/star",
            None,
            [401, 200, 200, 404, 200, 200],
        ),
    ]
}

async fn every_endpoint_answers_each_kind_of_caller_as_the_table_says(app: TestApp) {
    let callers = Callers::create(&app).await;
    datalab_fixtures(&app, &callers.owner).await;
    let mut mismatches = Vec::new();
    let rows: Vec<Row> = accounts_rows()
        .into_iter()
        .chain(marketplace_launcher_and_licence_rows())
        .chain(publishing_rows())
        .chain(sessions_rows())
        .chain(member_states_rows())
        .chain(datalabs_rows())
        .chain(lifecycle_rows())
        .collect();
    assert_every_documented_endpoint_has_a_row(&app, &rows).await;
    for row in rows {
        for ((who, caller), expected) in callers.all().into_iter().zip(row.expected) {
            let (status, body) = app
                .call(row.method.clone(), row.path, caller, row.body.clone())
                .await;
            if status != StatusCode::from_u16(expected).unwrap() {
                mismatches.push(format!(
                    "{} {} as {who}: expected {expected}, got {status}: {body}",
                    row.method, row.path
                ));
            }
            if status.is_client_error() {
                assert!(
                    body["error"]["message"].is_string(),
                    "{} {} as {who}: a 4xx without the error envelope: {body}",
                    row.method,
                    row.path
                );
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

async fn private_metadata_fields_reach_only_the_owner_moderators_and_admins(app: TestApp) {
    let callers = Callers::create(&app).await;
    datalab_fixtures(&app, &callers.owner).await;
    let metadata = json!({
        "title": "Public lab",
        "ESAOfficial": false,
        "datalabImage": {"id": "127.0.0.1:5000/datalabs/olga-public@sha256:abc", "keyword": ["x"]},
        "dateCreated": "2026-11-21T00:00:00Z",
    });
    datalabs::set_metadata_of_named(&app.state.database, "olga-public", "0.0.1", &metadata).await;
    let expected_private = [false, false, true, false, true, true];
    for ((who, caller), private) in callers.all().into_iter().zip(expected_private) {
        for path in [
            "/api/datalabs/olga-public/versions/0.0.1",
            "/api/datalabs/olga-public/versions",
        ] {
            let (status, body) = app.call(Method::GET, path, caller, None).await;
            assert_eq!(status, StatusCode::OK, "{who} {path}: {body}");
            let version = if body.is_array() { &body[0] } else { &body };
            let shown = &version["metadata"];
            assert_eq!(shown["title"], "Public lab", "{who} {path}: {body}");
            assert_eq!(
                shown.get("dateCreated").is_some(),
                private,
                "{who} {path}: {body}"
            );
            assert_eq!(
                shown["datalabImage"].get("id").is_some(),
                private,
                "{who} {path}: {body}"
            );
        }
    }
}

async fn datalabs_published_by_the_operator_reach_the_marketplace_and_the_catalog(app: TestApp) {
    let callers = Callers::create(&app).await;
    datalab_fixtures(&app, &callers.owner).await;
    let (_, before) = app
        .call(
            Method::GET,
            "/api/marketplace?q=spectra",
            As::Anonymous,
            None,
        )
        .await;
    assert_eq!(before["total"], 0, "{before}");
    let metadata = json!({
        "title": "Stellar spectra explorer",
        "alternateName": "olga-public",
        "abstract": "Explore stellar spectra.",
        "contactPoint": "olga@example.org",
        "creator": "ESA",
        "version": "0.0.1",
        "keywords": ["spectra"],
        "license": "MIT",
    });
    datalabs::set_metadata_of_named(&app.state.database, "olga-public", "0.0.1", &metadata).await;
    app.state
        .datalabs
        .publish_as_operator("olga-public", "0.0.1")
        .await
        .unwrap();
    let (status, found) = app
        .call(
            Method::GET,
            "/api/marketplace?q=spectra",
            As::Anonymous,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["total"], 1, "{found}");
    let (status, catalog) = app
        .call(Method::GET, "/catalog.jsonld", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        catalog.to_string().contains("Stellar spectra explorer"),
        "{catalog}"
    );
    assert!(
        !catalog.to_string().contains("olga-draft"),
        "a private draft reached the public catalog"
    );

    let request = axum::http::Request::get("/api/datalabs/olga-public")
        .header(axum::http::header::ACCEPT, "application/ld+json")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[axum::http::header::CONTENT_TYPE],
        "application/ld+json"
    );
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let document: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        document.to_string().contains("dcat:DataService"),
        "{document}"
    );
    let (_, plain) = app
        .call(
            Method::GET,
            "/api/datalabs/olga-public",
            As::Anonymous,
            None,
        )
        .await;
    assert_eq!(
        plain["name"], "olga-public",
        "JSON stays the default: {plain}"
    );
}

async fn a_full_search_rebuild_finds_what_changed_behind_the_index_s_back(app: TestApp) {
    let callers = Callers::create(&app).await;
    datalab_fixtures(&app, &callers.owner).await;
    // Published by hand-written statements, as a restore from backup would: no index refresh.
    let metadata = json!({"title": "Restored lab", "alternateName": "olga-draft",
        "abstract": "Back from a backup.", "contactPoint": "olga@example.org",
        "creator": "ESA", "version": "0.0.1"});
    let database = &app.state.database;
    datalabs::set_state_of_named(database, "olga-draft", "published", "public").await;
    datalabs::set_metadata_of_named(database, "olga-draft", "0.0.1", &metadata).await;
    let listed = |body: &Value| {
        body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| hit["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (_, before) = app
        .call(Method::GET, "/api/marketplace", As::Anonymous, None)
        .await;
    assert!(
        !listed(&before).contains(&"olga-draft".to_owned()),
        "{before}"
    );
    let visited = app
        .state
        .database
        .refresh_all_datalab_search()
        .await
        .unwrap();
    assert_eq!(visited, 3, "olga-draft, olga-public and olga-members");
    let (_, after) = app
        .call(Method::GET, "/api/marketplace", As::Anonymous, None)
        .await;
    assert!(listed(&after).contains(&"olga-draft".to_owned()), "{after}");
}
