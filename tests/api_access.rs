//! Who may call what: every endpoint of the API called as anonymous, a researcher, the owner of
//! the datalabs involved, another author, a moderator and an administrator, on SQLite and on
//! PostgreSQL. Each row names the answer each of them must get.

#[path = "common/service.rs"]
mod service;

use axum::http::{Method, StatusCode};
use labforge::accounts::Role;
use serde_json::{Value, json};
use service::{As, TestApp, TestUser};

on_both_backends!(every_endpoint_answers_each_kind_of_caller_as_the_table_says);

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
            other_author: app.user("otto", Role::Author).await,
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
        row(Method::GET, "/api/openapi.json", None, [200; 6]),
        row(Method::GET, "/metrics", None, [200; 6]),
    ]
}

async fn every_endpoint_answers_each_kind_of_caller_as_the_table_says(app: TestApp) {
    let callers = Callers::create(&app).await;
    let mut mismatches = Vec::new();
    for row in accounts_rows() {
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
