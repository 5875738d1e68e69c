//! The publishing workflow through the API, with two authors, a moderator and an administrator:
//! submitting (every unmet condition listed), the queue, requesting changes, resubmitting,
//! approving into the marketplace and the catalogue, updates held or published by what they
//! change, superseding, withdrawing, and the append-only history.

use axum::http::{Method, StatusCode};
use labforge::accounts::Role;
use serde_json::{Value, json};

use crate::common::datalabs::{self, DatalabFixture, insert_datalab, insert_finished_build};
use crate::common::service::{As, TestApp, TestUser};
use crate::on_both_backends;

on_both_backends!(
    a_submission_lists_every_unmet_condition_and_stores_nothing,
    changes_requested_then_resubmitted_then_approved_reaches_the_marketplace,
    no_one_reviews_their_own_datalab_and_authors_do_not_review,
    updates_are_held_only_for_sensitive_changes_and_newer_ones_supersede,
    the_licence_decides_the_audience_and_withdrawn_submissions_stay_in_the_history,
    the_history_refuses_changes_in_the_database,
    deprecated_datalabs_stay_readable_off_the_marketplace_and_archived_ones_vanish,
    a_community_licence_datalab_reaches_member_state_users_on_every_path,
);

struct Cast {
    alice: TestUser,
    bob: TestUser,
    mona: TestUser,
    ada: TestUser,
}

async fn cast(app: &TestApp) -> Cast {
    Cast {
        alice: app.user("alice", Role::Author).await,
        bob: app.user("bob", Role::Author).await,
        mona: app.user("mona", Role::Moderator).await,
        ada: app.user("ada", Role::Admin).await,
    }
}

/// A draft, private datalab of `owner` with version 1.0.0 licensed `licence`; returns its id.
async fn draft(app: &TestApp, owner: &TestUser, name: &str, licence: &str) -> String {
    let mut metadata = datalabs::metadata(name, &format!("{name} title"), "What it does.");
    metadata["license"] = json!(licence);
    insert_datalab(
        &app.state.database,
        &DatalabFixture {
            visibility: "private",
            state: "draft",
            metadata,
            ..DatalabFixture::published(name, &app.user_id(owner).await, "", "")
        },
    )
    .await
}

/// A draft as [`draft`] makes it, with a succeeded build 1 whose smoke test passed.
async fn ready_draft(app: &TestApp, owner: &TestUser, name: &str, licence: &str) -> String {
    let id = draft(app, owner, name, licence).await;
    insert_finished_build(
        &app.state.database,
        &id,
        "1.0.0",
        1,
        "succeeded",
        Some(true),
    )
    .await;
    id
}

async fn submit(
    app: &TestApp,
    user: &TestUser,
    name: &str,
    version: &str,
    audience: &str,
) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        &format!("/api/datalabs/{name}/versions/{version}/submission"),
        As::User(user),
        Some(json!({"audience": audience})),
    )
    .await
}

async fn decide(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    decision: &str,
    comment: Option<&str>,
) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        &format!("/api/submissions/{id}/decision"),
        As::User(user),
        Some(json!({"decision": decision, "comment": comment})),
    )
    .await
}

/// `(action, actor, comment)` of each history event, in order.
async fn history(app: &TestApp, user: &TestUser, name: &str) -> Vec<(String, String, String)> {
    let (status, events) = app
        .call(
            Method::GET,
            &format!("/api/datalabs/{name}/history"),
            As::User(user),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let events = events.as_array().unwrap();
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event["sequence"], json!(index + 1), "numbered in order");
    }
    events
        .iter()
        .map(|event| {
            let text = |key: &str| event[key].as_str().unwrap_or("-").to_owned();
            (text("action"), text("actor"), text("comment"))
        })
        .collect()
}

fn detail_fields(answer: &Value) -> Vec<&str> {
    answer["error"]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details in {answer}"))
        .iter()
        .map(|detail| detail["field"].as_str().unwrap())
        .collect()
}

async fn a_submission_lists_every_unmet_condition_and_stores_nothing(app: TestApp) {
    let cast = cast(&app).await;
    let id = draft(&app, &cast.alice, "jl-alice", "MIT").await;
    let database = &app.state.database;

    let (status, answer) = submit(&app, &cast.alice, "jl-alice", "1.0.0", "public").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "not_ready");
    assert_eq!(detail_fields(&answer), ["build"]);

    insert_finished_build(database, &id, "1.0.0", 1, "failed", None).await;
    let (_, answer) = submit(&app, &cast.alice, "jl-alice", "1.0.0", "public").await;
    assert!(
        answer["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("the latest build 1.0.0-1 is failed"),
        "{answer}"
    );

    insert_finished_build(database, &id, "1.0.0", 2, "succeeded", Some(false)).await;
    let (status, answer) = submit(&app, &cast.alice, "jl-alice", "1.0.0", "public").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(detail_fields(&answer), ["smoke_test"]);

    // Nothing was stored by the refused attempts.
    assert!(history(&app, &cast.alice, "jl-alice").await.is_empty());
    let (_, queue) = app
        .call(
            Method::GET,
            "/api/moderation/queue",
            As::User(&cast.mona),
            None,
        )
        .await;
    assert_eq!(queue, json!([]));

    // Someone who cannot see the draft does not learn it exists; unknown audiences are refused.
    let (status, _) = submit(&app, &cast.bob, "jl-alice", "1.0.0", "public").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, answer) = submit(&app, &cast.alice, "jl-alice", "1.0.0", "everyone").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "audience", "{answer}");
    // The author's note for the moderators has the same limit as theirs.
    let (status, answer) = app
        .call(
            Method::POST,
            "/api/datalabs/jl-alice/versions/1.0.0/submission",
            As::User(&cast.alice),
            Some(json!({"audience": "public", "comment": "x".repeat(10_001)})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "comment", "{answer}");
    assert!(history(&app, &cast.alice, "jl-alice").await.is_empty());
}

/// The queue is the moderators'; it shows the submission and filters by kind, state and age.
async fn queue_shows_and_filters(app: &TestApp, cast: &Cast, submission_id: &str) {
    let queue = |user, query: &'static str| async move {
        app.call(
            Method::GET,
            &format!("/api/moderation/queue{query}"),
            As::User(user),
            None,
        )
        .await
    };
    let (status, listed) = queue(&cast.mona, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed[0]["id"], submission_id);
    assert_eq!(queue(&cast.mona, "?kind=desktop").await.1, json!([]));
    assert_eq!(queue(&cast.mona, "?min_age_hours=1").await.1, json!([]));
    assert_eq!(queue(&cast.alice, "").await.0, StatusCode::FORBIDDEN);
    let (status, answer) = queue(&cast.mona, "?state=shipped").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["field"], "state");
}

async fn marketplace_names(app: &TestApp) -> Vec<String> {
    let (_, page) = app
        .call(Method::GET, "/api/marketplace", As::Anonymous, None)
        .await;
    page["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Anonymous callers find `name` in the marketplace, read it, and see it in the catalogue.
async fn assert_public_everywhere(app: &TestApp, name: &str) {
    assert_eq!(marketplace_names(app).await, [name]);
    let (status, datalab) = app
        .call(
            Method::GET,
            &format!("/api/datalabs/{name}"),
            As::Anonymous,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(datalab["state"], "published");
    assert_eq!(datalab["visibility"], "public");
    let (status, catalog) = app
        .call(Method::GET, "/catalog.jsonld", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(catalog.to_string().contains(name), "{catalog}");
}

#[expect(
    clippy::too_many_lines,
    reason = "one submission's whole journey, step by step, reads best in one place"
)]
async fn changes_requested_then_resubmitted_then_approved_reaches_the_marketplace(app: TestApp) {
    let cast = cast(&app).await;
    let id = draft(&app, &cast.alice, "jl-alice", "MIT").await;
    let database = &app.state.database;
    insert_finished_build(database, &id, "1.0.0", 1, "succeeded", Some(true)).await;

    let (status, submission) = submit(&app, &cast.alice, "jl-alice", "1.0.0", "public").await;
    assert_eq!(status, StatusCode::CREATED, "{submission}");
    assert_eq!(submission["state"], "awaiting_review");
    assert_eq!(submission["build"], "1.0.0-1");
    assert_eq!(submission["changes"], json!([]), "a first publication");
    let submission_id = submission["id"].as_str().unwrap().to_owned();
    let (status, _) = submit(&app, &cast.alice, "jl-alice", "1.0.0", "public").await;
    assert_eq!(status, StatusCode::CONFLICT, "already awaiting review");

    queue_shows_and_filters(&app, &cast, &submission_id).await;

    // The review view has the build, its log, the metadata and the licence.
    let (status, review) = app
        .call(
            Method::GET,
            &format!("/api/submissions/{submission_id}"),
            As::User(&cast.mona),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{review}");
    assert_eq!(review["build"]["number"], 1);
    assert_eq!(review["build"]["smoke_test"]["passed"], true);
    assert_eq!(
        review["build_log"],
        "/api/datalabs/jl-alice/versions/1.0.0/builds/1/log"
    );
    assert_eq!(review["metadata"]["license"], "MIT");
    assert_eq!(review["licence"]["allows_audience"], true);

    // Requesting changes needs a comment, which the author then reads in the history.
    let (status, answer) = decide(
        &app,
        &cast.mona,
        &submission_id,
        "request_changes",
        Some(" "),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["field"], "comment");
    let (status, decided) = decide(
        &app,
        &cast.mona,
        &submission_id,
        "request_changes",
        Some("Add a citation."),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["state"], "changes_requested");
    let (status, _) = decide(&app, &cast.mona, &submission_id, "approve", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "not awaiting review any more");

    // Back to review only with a green latest build: a failed rebuild keeps it sent back.
    insert_finished_build(database, &id, "1.0.0", 2, "failed", None).await;
    let (status, _) = submit(&app, &cast.alice, "jl-alice", "1.0.0", "public").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    insert_finished_build(database, &id, "1.0.0", 3, "succeeded", Some(true)).await;
    let (status, resubmitted) = submit(&app, &cast.alice, "jl-alice", "1.0.0", "public").await;
    assert_eq!(status, StatusCode::OK, "{resubmitted}");
    assert_eq!(
        resubmitted["id"],
        submission_id.as_str(),
        "the same submission"
    );
    assert_eq!(resubmitted["state"], "awaiting_review");
    assert_eq!(resubmitted["build"], "1.0.0-3");

    // Not in the marketplace nor pullable before approval; in both, the catalogue and public
    // reads after.
    let directory = labforge::datalabs::registry_access::DatalabDirectory::new(
        app.state.accounts.clone(),
        app.state.datalabs.clone(),
    );
    let anonymous_pull = || {
        use labforge::registry::access::Directory as _;
        directory.allowed_actions(None, "datalabs/jl-alice")
    };
    assert!(anonymous_pull().await.unwrap().is_empty());
    assert!(marketplace_names(&app).await.is_empty());
    let (status, approved) = decide(&app, &cast.mona, &submission_id, "approve", None).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["state"], "published");
    assert_public_everywhere(&app, "jl-alice").await;
    assert_eq!(
        anonymous_pull().await.unwrap(),
        [labforge::registry::access::Action::Pull]
    );
    assert_eq!(
        history(&app, &cast.alice, "jl-alice").await,
        [
            ("submitted".into(), "alice".into(), "-".into()),
            (
                "changes_requested".into(),
                "mona".into(),
                "Add a citation.".into()
            ),
            ("resubmitted".into(), "alice".into(), "-".into()),
            ("approved".into(), "mona".into(), "-".into()),
            ("published".into(), "-".into(), "-".into()),
        ]
    );
    // The history is for the owner and the moderators, not for every reader.
    let (status, _) = app
        .call(
            Method::GET,
            "/api/datalabs/jl-alice/history",
            As::User(&cast.bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn no_one_reviews_their_own_datalab_and_authors_do_not_review(app: TestApp) {
    let cast = cast(&app).await;
    ready_draft(&app, &cast.mona, "jl-mona", "Apache-2.0").await;
    let (status, submission) = submit(&app, &cast.mona, "jl-mona", "1.0.0", "public").await;
    assert_eq!(status, StatusCode::CREATED, "{submission}");
    let submission_id = submission["id"].as_str().unwrap();

    let (status, answer) = decide(&app, &cast.mona, submission_id, "approve", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("own datalab")
    );
    let (status, _) = decide(&app, &cast.bob, submission_id, "approve", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "authors do not review");
    let (status, answer) = decide(&app, &cast.ada, submission_id, "reject", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let long = "x".repeat(10_001);
    let (status, answer) = decide(&app, &cast.ada, submission_id, "reject", Some(&long)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["field"], "comment");
    let (status, rejected) = decide(
        &app,
        &cast.ada,
        submission_id,
        "reject",
        Some("Out of scope."),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["state"], "rejected");
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/submissions/{submission_id}"),
            As::User(&cast.bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not bob's to read");
    let (status, _) = app
        .call(
            Method::GET,
            "/api/submissions/no-such-submission",
            As::User(&cast.ada),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Publishes `name` 1.0.0 through review; returns the datalab's id.
async fn published(app: &TestApp, cast: &Cast, name: &str) -> String {
    let id = ready_draft(app, &cast.alice, name, "MIT").await;
    let (_, submission) = submit(app, &cast.alice, name, "1.0.0", "public").await;
    let (status, _) = decide(
        app,
        &cast.mona,
        submission["id"].as_str().unwrap(),
        "approve",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    id
}

async fn new_version(app: &TestApp, id: &str, name: &str, version: &str, change: Value) {
    let mut metadata = datalabs::metadata(name, &format!("{name} title"), "What it does.");
    metadata["license"] = json!("MIT");
    metadata["version"] = json!(version);
    for (key, value) in change.as_object().unwrap() {
        metadata[key] = value.clone();
    }
    datalabs::insert_version(&app.state.database, id, version, "draft", &metadata).await;
    insert_finished_build(&app.state.database, id, version, 1, "succeeded", Some(true)).await;
}

async fn updates_are_held_only_for_sensitive_changes_and_newer_ones_supersede(app: TestApp) {
    let cast = cast(&app).await;
    let id = published(&app, &cast, "jl-alice").await;

    new_version(
        &app,
        &id,
        "jl-alice",
        "1.1.0",
        json!({"abstract": "Better words."}),
    )
    .await;
    let (status, update) = submit(&app, &cast.alice, "jl-alice", "1.1.0", "public").await;
    assert_eq!(status, StatusCode::CREATED, "{update}");
    assert_eq!(update["state"], "published", "nothing sensitive changed");
    assert_eq!(update["changes"][0]["field"], "abstract");
    assert_eq!(update["changes"][0]["sensitive"], false);

    new_version(
        &app,
        &id,
        "jl-alice",
        "1.2.0",
        json!({"abstract": "Better words.", "license": "GPL-3.0-only"}),
    )
    .await;
    let (status, held) = submit(&app, &cast.alice, "jl-alice", "1.2.0", "public").await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    assert_eq!(held["state"], "awaiting_review");
    assert_eq!(
        held["changes"],
        json!([{"field": "license", "before": "MIT", "after": "GPL-3.0-only", "sensitive": true}])
    );
    let (_, review) = app
        .call(
            Method::GET,
            &format!("/api/submissions/{}", held["id"].as_str().unwrap()),
            As::User(&cast.mona),
            None,
        )
        .await;
    assert_eq!(review["changes"][0]["field"], "license", "{review}");

    // Asking for a new audience is sensitive too; the newer submission supersedes 1.2.0.
    new_version(
        &app,
        &id,
        "jl-alice",
        "1.3.0",
        json!({"abstract": "Better words."}),
    )
    .await;
    let (status, private) = submit(&app, &cast.alice, "jl-alice", "1.3.0", "private").await;
    assert_eq!(status, StatusCode::CREATED, "{private}");
    assert_eq!(private["state"], "awaiting_review");
    assert_eq!(private["changes"][0]["field"], "audience");
    let (_, submissions) = app
        .call(
            Method::GET,
            "/api/datalabs/jl-alice/submissions",
            As::User(&cast.alice),
            None,
        )
        .await;
    let by_version: Vec<(&str, &str)> = submissions
        .as_array()
        .unwrap()
        .iter()
        .map(|submission| {
            (
                submission["version"].as_str().unwrap(),
                submission["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_version,
        [
            ("1.0.0", "published"),
            ("1.1.0", "published"),
            ("1.2.0", "superseded"),
            ("1.3.0", "awaiting_review"),
        ]
    );
    let actions: Vec<String> = history(&app, &cast.mona, "jl-alice")
        .await
        .into_iter()
        .map(|(action, _, _)| action)
        .collect();
    assert_eq!(
        actions,
        [
            "submitted",
            "approved",
            "published",
            "submitted_without_review",
            "published",
            "submitted",
            "superseded",
            "submitted",
        ]
    );
}

async fn the_licence_decides_the_audience_and_withdrawn_submissions_stay_in_the_history(
    app: TestApp,
) {
    let cast = cast(&app).await;
    ready_draft(&app, &cast.alice, "jl-closed", "LicenseRef-proprietary").await;
    let (status, answer) = submit(&app, &cast.alice, "jl-closed", "1.0.0", "public").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(detail_fields(&answer), ["licence"]);
    let (status, submission) = submit(&app, &cast.alice, "jl-closed", "1.0.0", "private").await;
    assert_eq!(status, StatusCode::CREATED, "{submission}");
    let submission_id = submission["id"].as_str().unwrap();

    let withdraw = |user| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                &format!("/api/submissions/{submission_id}/withdraw"),
                As::User(user),
                None,
            )
            .await
        }
    };
    assert_eq!(withdraw(&cast.bob).await.0, StatusCode::NOT_FOUND);
    let (status, withdrawn) = withdraw(&cast.alice).await;
    assert_eq!(status, StatusCode::OK, "{withdrawn}");
    assert_eq!(withdrawn["state"], "withdrawn");
    assert_eq!(withdraw(&cast.alice).await.0, StatusCode::CONFLICT);
    let (status, _) = decide(&app, &cast.mona, submission_id, "approve", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        history(&app, &cast.alice, "jl-closed").await,
        [
            ("submitted".into(), "alice".into(), "-".into()),
            ("withdrawn".into(), "alice".into(), "-".into()),
        ]
    );
    // Withdrawn, it can be submitted again.
    let (status, again) = submit(&app, &cast.alice, "jl-closed", "1.0.0", "private").await;
    assert_eq!(status, StatusCode::CREATED, "{again}");

    // Network copyleft goes public only with a public source URL (a git source).
    for (name, source_kind, expected) in [
        ("jl-agpl-git", "git", StatusCode::CREATED),
        ("jl-agpl-zip", "zip", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let id = draft(&app, &cast.alice, name, "AGPL-3.0-only").await;
        let database = &app.state.database;
        labforge::with_pool!(database, write, |pool| {
            sqlx::query("UPDATE versions SET source_kind = $2 WHERE datalab_id = $1")
                .bind(&id)
                .bind(source_kind)
                .execute(pool)
                .await
                .map(|_| ())
        })
        .unwrap();
        insert_finished_build(database, &id, "1.0.0", 1, "succeeded", Some(true)).await;
        let (status, answer) = submit(&app, &cast.alice, name, "1.0.0", "public").await;
        assert_eq!(status, expected, "{answer}");
        if expected == StatusCode::CREATED {
            let (_, review) = app
                .call(
                    Method::GET,
                    &format!("/api/submissions/{}", answer["id"].as_str().unwrap()),
                    As::User(&cast.mona),
                    None,
                )
                .await;
            assert_eq!(
                review["licence"]["decision"]["obligations"],
                json!(["source_reachable", "public_source_url"]),
                "{review}"
            );
        } else {
            assert_eq!(detail_fields(&answer), ["licence"]);
            assert!(answer.to_string().contains("network copyleft"), "{answer}");
        }
    }
}

async fn the_history_refuses_changes_in_the_database(app: TestApp) {
    let cast = cast(&app).await;
    published(&app, &cast, "jl-alice").await;
    let database = &app.state.database;
    let update = labforge::with_pool!(database, write, |pool| {
        sqlx::query("UPDATE history SET comment = 'rewritten'")
            .execute(pool)
            .await
            .map(|_| ())
    });
    let error = update.expect_err("the history is append-only").to_string();
    assert!(error.contains("append-only"), "{error}");
    let delete = labforge::with_pool!(database, write, |pool| {
        sqlx::query("DELETE FROM history")
            .execute(pool)
            .await
            .map(|_| ())
    });
    assert!(delete.is_err());
    assert_eq!(history(&app, &cast.alice, "jl-alice").await.len(), 3);
}

async fn deprecated_datalabs_stay_readable_off_the_marketplace_and_archived_ones_vanish(
    app: TestApp,
) {
    let cast = cast(&app).await;
    published(&app, &cast, "jl-alice").await;
    let retire = |user, action: &'static str, body: Value| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                &format!("/api/datalabs/jl-alice/{action}"),
                As::User(user),
                Some(body),
            )
            .await
        }
    };
    assert_eq!(
        retire(&cast.bob, "deprecate", json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, datalab) = retire(
        &cast.alice,
        "deprecate",
        json!({"comment": "Use jl-alice-2 instead."}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{datalab}");
    assert_eq!(datalab["state"], "deprecated");
    let (status, _) = app
        .call(Method::GET, "/api/datalabs/jl-alice", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::OK, "still readable by everyone");
    assert!(marketplace_names(&app).await.is_empty(), "but not listed");
    assert_eq!(
        retire(&cast.alice, "deprecate", json!({})).await.0,
        StatusCode::CONFLICT
    );

    let (status, datalab) = retire(&cast.mona, "archive", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{datalab}");
    assert_eq!(datalab["state"], "archived");
    let (status, _) = app
        .call(Method::GET, "/api/datalabs/jl-alice", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        retire(&cast.alice, "archive", json!({})).await.0,
        StatusCode::CONFLICT
    );
    let (status, answer) = submit(&app, &cast.alice, "jl-alice", "1.0.0", "public").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let tail: Vec<(String, String, String)> = history(&app, &cast.alice, "jl-alice")
        .await
        .into_iter()
        .skip(3)
        .collect();
    assert_eq!(
        tail,
        [
            (
                "deprecated".into(),
                "alice".into(),
                "Use jl-alice-2 instead.".into()
            ),
            ("archived".into(), "mona".into(), "-".into()),
        ]
    );
}

async fn a_community_licence_datalab_reaches_member_state_users_on_every_path(app: TestApp) {
    use labforge::registry::access::Directory as _;

    let cast = cast(&app).await;
    let dutch = app.user_in("noor", Role::Researcher, Some("NL")).await;
    let american = app.user_in("sam", Role::Researcher, Some("US")).await;
    let stateless = app.user_in("kim", Role::Researcher, None).await;
    ready_draft(
        &app,
        &cast.alice,
        "jl-esa-cl",
        "LicenseRef-ESA-CL-permissive-2.4",
    )
    .await;

    let (status, answer) = submit(&app, &cast.alice, "jl-esa-cl", "1.0.0", "public").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(detail_fields(&answer), ["licence"]);
    let (status, submission) =
        submit(&app, &cast.alice, "jl-esa-cl", "1.0.0", "member_states").await;
    assert_eq!(status, StatusCode::CREATED, "{submission}");
    let (status, approved) = decide(
        &app,
        &cast.mona,
        submission["id"].as_str().unwrap(),
        "approve",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{approved}");

    let directory = labforge::datalabs::registry_access::DatalabDirectory::new(
        app.state.accounts.clone(),
        app.state.datalabs.clone(),
    );
    for (caller, user, sees) in [
        (As::Anonymous, None, false),
        (As::User(&american), Some("sam"), false),
        (As::User(&stateless), Some("kim"), false),
        (As::User(&dutch), Some("noor"), true),
        (As::User(&cast.mona), Some("mona"), true),
    ] {
        let who = user.unwrap_or("anonymous");
        let (status, datalab) = app
            .call(Method::GET, "/api/datalabs/jl-esa-cl", caller, None)
            .await;
        let expected = if sees {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(status, expected, "{who}: {datalab}");
        let (status, _) = app
            .call(Method::GET, "/api/datalabs/jl-esa-cl/jsonld", caller, None)
            .await;
        assert_eq!(status, expected, "{who}: JSON-LD");
        let (_, page) = app
            .call(Method::GET, "/api/marketplace", caller, None)
            .await;
        let listed = page.to_string().contains("jl-esa-cl");
        assert_eq!(listed, sees, "{who}: marketplace {page}");
        let kind_count = page["facets"]["kind"]
            .as_array()
            .unwrap()
            .iter()
            .find(|count| count["value"] == "jupyterlab")
            .map_or(0, |count| count["count"].as_i64().unwrap());
        assert_eq!(kind_count, i64::from(sees), "{who}: facet counts");
        let actions = directory
            .allowed_actions(user, "datalabs/jl-esa-cl")
            .await
            .unwrap();
        assert_eq!(!actions.is_empty(), sees, "{who}: registry pull");
    }
    // The public catalogue lists public datalabs only.
    let (_, catalog) = app
        .call(Method::GET, "/catalog.jsonld", As::Anonymous, None)
        .await;
    assert!(!catalog.to_string().contains("jl-esa-cl"), "{catalog}");
}
