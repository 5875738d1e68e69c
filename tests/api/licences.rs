//! The licence engine over HTTP: the picker's list and the evaluation of an expression. Neither
//! touches storage, so they run on SQLite only.

use axum::http::{Method, StatusCode};
use labforge::licences::{MAX_EXPRESSION_CHARACTERS, MemberStates};
use labforge::storage::Backend;
use serde_json::{Value, json};

use crate::common::service::{As, TestApp};

async fn evaluate(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/licences/evaluate",
        As::Anonymous,
        Some(body),
    )
    .await
}

#[tokio::test]
async fn the_picker_lists_popular_licences_first_then_the_esa_licences_then_all_others() {
    let app = TestApp::new(Backend::Sqlite).await;
    let (status, body) = app
        .call(Method::GET, "/api/licences", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["spdx_list_version"], "3.29.0");
    let licences = body["licences"].as_array().unwrap();
    let ids: Vec<&str> = licences
        .iter()
        .map(|licence| licence["id"].as_str().unwrap())
        .collect();
    let groups: Vec<&str> = licences
        .iter()
        .map(|licence| licence["group"].as_str().unwrap())
        .collect();
    assert_eq!(
        &ids[..4],
        ["MIT", "Apache-2.0", "BSD-3-Clause", "GPL-3.0-or-later"]
    );
    let esa_start = groups.iter().position(|group| *group == "esa").unwrap();
    assert!(groups[..esa_start].iter().all(|group| *group == "popular"));
    assert_eq!(
        &ids[esa_start..esa_start + 6],
        [
            "ESA-PL-permissive-2.4",
            "ESA-PL-weak-copyleft-2.4",
            "ESA-PL-strong-copyleft-2.4",
            "LicenseRef-ESA-CL-permissive-2.4",
            "LicenseRef-ESA-CL-weak-copyleft-2.4",
            "LicenseRef-ESA-CL-strong-copyleft-2.4",
        ]
    );
    assert!(
        groups[esa_start + 6..]
            .iter()
            .all(|group| *group == "other")
    );
    let others = &ids[esa_start + 6..];
    let mut sorted = others.to_vec();
    sorted.sort_by_key(|id| id.to_ascii_lowercase());
    assert_eq!(
        others,
        sorted.as_slice(),
        "the others are in the order of their ids"
    );
    assert!(ids.len() > 600, "every current SPDX id: {}", ids.len());

    let entry = |id: &str| {
        licences
            .iter()
            .find(|licence| licence["id"] == id)
            .unwrap_or_else(|| panic!("{id} is not listed"))
    };
    assert_eq!(
        entry("ESA-PL-strong-copyleft-2.4")["category"],
        "network_copyleft"
    );
    assert_eq!(
        entry("ESA-PL-strong-copyleft-2.4")["name"],
        "European Space Agency Public License (ESA-PL) - V2.4 - Strong Copyleft (Type 1)"
    );
    assert_eq!(
        entry("LicenseRef-ESA-CL-weak-copyleft-2.4")["audiences"],
        json!(["member_states", "private"])
    );
    assert_eq!(entry("CC-BY-NC-4.0")["audiences"], json!(["private"]));
    assert_eq!(
        entry("MIT")["audiences"],
        json!(["public", "member_states", "private"])
    );
    assert_eq!(
        body["member_states"]["countries"].as_array().unwrap().len(),
        23
    );
    assert_eq!(body["member_states"]["taken"], "2025-01-13");
}

#[tokio::test]
async fn an_expression_is_evaluated_for_the_audience_asked_for() {
    let app = TestApp::new(Backend::Sqlite).await;
    let (status, decision) = evaluate(
        &app,
        json!({"expression": "GPL-3.0-only OR MIT", "audience": "public"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decision}");
    assert_eq!(decision["allowed"], true);
    assert_eq!(decision["obligations"], json!([]));
    assert_eq!(decision["chosen"], json!(["MIT"]));
    assert_eq!(decision["licences"][0]["category"], "strong_copyleft");
    let reasons = decision["reasons"].to_string();
    assert!(reasons.contains("labforge takes `MIT`"), "{reasons}");

    let (status, decision) = evaluate(&app, json!({"expression": "AGPL-3.0-or-later"})).await;
    assert_eq!(status, StatusCode::OK, "{decision}");
    assert_eq!(decision["audience"], "public", "public when left out");
    assert_eq!(
        decision["obligations"],
        json!(["source_reachable", "public_source_url"])
    );

    let (status, decision) = evaluate(
        &app,
        json!({"expression": "LicenseRef-ESA-CL-weak-copyleft-2.4", "audience": "public"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decision}");
    assert_eq!(decision["allowed"], false);
    assert_eq!(decision["audiences"], json!(["member_states", "private"]));
    assert_eq!(decision["obligations"], json!([]));
    let last = decision["reasons"].as_array().unwrap().last().unwrap();
    assert!(
        last.as_str()
            .unwrap()
            .starts_with("The ESA Member States, as listed on 2025-01-13: AT, BE, CH,"),
        "{last}"
    );
}

#[tokio::test]
async fn a_malformed_expression_or_audience_is_a_422_naming_the_field() {
    let app = TestApp::new(Backend::Sqlite).await;
    for (expression, says) in [
        (
            "GPL-2.0".to_owned(),
            "did you mean `GPL-2.0-only` or `GPL-2.0-or-later`?".to_owned(),
        ),
        ("MIT OR".to_owned(), "expected a licence id".to_owned()),
        (
            "MIT OR ".repeat(1428) + "Zlib",
            format!("10000 characters; at most {MAX_EXPRESSION_CHARACTERS}"),
        ),
        (
            format!("{}MIT{}", "(".repeat(50), ")".repeat(50)),
            "50 deep; at most 8".to_owned(),
        ),
        (
            "LicenseRef-mine".to_owned(),
            "`LicenseRef-proprietary`".to_owned(),
        ),
    ] {
        let (status, body) = evaluate(&app, json!({"expression": expression})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "invalid_field");
        assert_eq!(body["error"]["field"], "expression");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&says), "{message}");
    }
    let (status, body) = evaluate(&app, json!({"expression": "MIT", "audience": "everyone"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "audience");
}

#[tokio::test]
async fn the_document_states_the_expression_s_limit() {
    let app = TestApp::new(Backend::Sqlite).await;
    let (_, document) = app
        .call(Method::GET, "/api/openapi.json", As::Anonymous, None)
        .await;
    let expression =
        &document["components"]["schemas"]["EvaluationRequest"]["properties"]["expression"];
    assert_eq!(expression["maxLength"], MAX_EXPRESSION_CHARACTERS);
    assert_eq!(expression["minLength"], 1);
}

#[tokio::test]
async fn the_member_states_come_from_the_configuration_when_it_names_them() {
    let app = TestApp::with_config(Backend::Sqlite, |config| {
        config.licences.member_states = toml::from_str::<MemberStates>(
            "taken = \"2031-06-01\"\nsource = \"an ESA Council decision\"\n\
             countries = [\"DE\", \"FR\", \"UA\"]",
        )
        .unwrap();
    })
    .await;
    let (status, body) = app
        .call(Method::GET, "/api/licences", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["member_states"],
        json!({"countries": ["DE", "FR", "UA"], "taken": "2031-06-01",
               "source": "an ESA Council decision"})
    );
    let (_, decision) = evaluate(
        &app,
        json!({"expression": "LicenseRef-ESA-CL-permissive-2.4", "audience": "member_states"}),
    )
    .await;
    assert_eq!(decision["allowed"], true);
    let last = decision["reasons"].as_array().unwrap().last().unwrap();
    assert_eq!(
        last,
        "The ESA Member States, as listed on 2031-06-01: DE, FR, UA."
    );
}
