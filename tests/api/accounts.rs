//! Accounts over HTTP, and the API's shared behaviour (error envelope, limits, OpenAPI, metrics),
//! on SQLite and on PostgreSQL.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use labforge::accounts::Role;
use serde_json::{Value, json};

use crate::common::service::{self, As, TestApp};
use crate::on_both_backends;

on_both_backends!(
    password_sign_in_sets_a_session_cookie_that_identifies_the_user,
    api_tokens_are_shown_once_listed_without_secret_and_revocable,
    administrators_manage_users_and_others_cannot,
    bad_bodies_get_one_envelope_naming_the_field,
    openapi_and_metrics_are_served,
);

async fn password_sign_in_sets_a_session_cookie_that_identifies_the_user(app: TestApp) {
    let alice = app.user("alice", Role::Author).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/session",
            As::Anonymous,
            Some(json!({"name": "alice", "password": "wrong-password-here"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthenticated");

    let request = Request::post("/api/session")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"name": "alice", "password": "alice-password-long-enough"}).to_string(),
        ))
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let pair = cookie.split(';').next().unwrap().to_owned();

    let me = |cookie: String| {
        Request::get("/api/me")
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap()
    };
    let response = app.send(me(pair.clone())).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(response).await;
    assert_eq!(body["name"], "alice");
    assert_eq!(body["role"], "author");
    assert!(body.get("password_hash").is_none());

    let sign_out = Request::delete("/api/session")
        .header(header::COOKIE, pair.clone())
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(sign_out).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.send(me(pair)).await.status(),
        StatusCode::UNAUTHORIZED,
        "the session ended"
    );
    // The token of the same user still works.
    let (status, _) = app
        .call(Method::GET, "/api/me", As::User(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn api_tokens_are_shown_once_listed_without_secret_and_revocable(app: TestApp) {
    let bob = app.user("bob", Role::Researcher).await;
    let (status, created) = app
        .call(
            Method::POST,
            "/api/tokens",
            As::User(&bob),
            Some(json!({"name": "laptop", "lifetime_days": 30})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("lfp_"));
    let (status, listed) = app
        .call(Method::GET, "/api/tokens", As::User(&bob), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(!listed.to_string().contains(&secret));

    let laptop = service::TestUser {
        token: secret,
        ..bob.clone()
    };
    let (status, _) = app
        .call(Method::GET, "/api/me", As::User(&laptop), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, duplicate) = app
        .call(
            Method::POST,
            "/api/tokens",
            As::User(&bob),
            Some(json!({"name": "laptop"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{duplicate}");

    let id = created["token"]["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/tokens/{id}"),
            As::User(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .call(Method::GET, "/api/me", As::User(&laptop), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/tokens/{id}"),
            As::User(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn administrators_manage_users_and_others_cannot(app: TestApp) {
    let admin = app.user("root", Role::Admin).await;
    let moderator = app.user("mona", Role::Moderator).await;
    let new_user = json!({"name": "carol", "role": "author", "affiliation_country": "fr"});
    let (status, _) = app
        .call(
            Method::POST,
            "/api/users",
            As::User(&moderator),
            Some(new_user.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/users",
            As::Anonymous,
            Some(new_user.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, created) = app
        .call(
            Method::POST,
            "/api/users",
            As::User(&admin),
            Some(new_user.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["user"]["affiliation_country"], "FR");
    let password = created["password"].as_str().unwrap();
    assert!(password.len() >= 20);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/session",
            As::Anonymous,
            Some(json!({"name": "carol", "password": password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the one-time password signs in");

    let (status, again) = app
        .call(Method::POST, "/api/users", As::User(&admin), Some(new_user))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");

    let (status, updated) = app
        .call(
            Method::PATCH,
            "/api/users/carol",
            As::User(&admin),
            Some(json!({"role": "moderator"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["role"], "moderator");
    let (status, users) = app
        .call(Method::GET, "/api/users", As::User(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["carol", "mona", "root"]);
    let (status, _) = app
        .call(Method::GET, "/api/users/nobody", As::User(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn bad_bodies_get_one_envelope_naming_the_field(app: TestApp) {
    let admin = app.user("root", Role::Admin).await;
    let cases = [
        ("{\"name\": ", StatusCode::BAD_REQUEST, "invalid_json", None),
        (
            r#"{"name": "dave", "role": "author", "colour": "blue"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("colour"),
        ),
        (
            r#"{"name": "dave", "role": 7}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("role"),
        ),
        (
            r#"{"name": "dave", "role": "emperor"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("role"),
        ),
        (
            r#"{"name": "Dave", "role": "author"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("name"),
        ),
        (
            r#"{"name": "dave", "role": "author", "password": "short"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("password"),
        ),
    ];
    for (body, status, code, field) in cases {
        let request = Request::post("/api/users")
            .header(header::AUTHORIZATION, format!("Bearer {}", admin.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        let response = app.send(request).await;
        assert_eq!(response.status(), status, "{body}");
        let answer = body_json(response).await;
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        assert_eq!(answer["error"]["field"].as_str(), field, "{body}: {answer}");
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
    }

    let oversized = format!(
        r#"{{"name": "dave", "role": "author", "email": "{}"}}"#,
        "x".repeat(2 << 20)
    );
    let request = Request::post("/api/users")
        .header(header::AUTHORIZATION, format!("Bearer {}", admin.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(oversized))
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        body_json(response).await["error"]["code"],
        "payload_too_large"
    );

    let request = Request::post("/api/users")
        .header(header::AUTHORIZATION, format!("Bearer {}", admin.token))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let request = Request::get("/api/me")
        .header(header::AUTHORIZATION, "Basic YWxpY2U6eA==")
        .body(Body::empty())
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    assert!(
        body_json(response).await["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Bearer lfp_")
    );
}

async fn openapi_and_metrics_are_served(app: TestApp) {
    let (status, document) = app
        .call(Method::GET, "/api/openapi.json", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/session",
        "/api/me",
        "/api/tokens",
        "/api/users/{name}",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(document["components"]["securitySchemes"]["api_token"].is_object());

    app.call(Method::GET, "/api/me", As::Anonymous, None).await;
    let (status, metrics) = app.call(Method::GET, "/metrics", As::Anonymous, None).await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("labforge_builds{status=\"queued\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("labforge_build_queue_length 0"));
    assert!(
        metrics.contains(
            "labforge_http_request_duration_seconds_count{method=\"GET\",route=\"/api/me\",status=\"401\"} 1"
        ),
        "{metrics}"
    );
}

async fn body_json(response: axum::response::Response) -> Value {
    use http_body_util::BodyExt as _;
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}
