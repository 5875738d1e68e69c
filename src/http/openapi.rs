//! The parts of the OpenAPI document that come from what every domain shares rather than from one
//! handler: how callers authenticate, and the error answers the shared extractors give. Written
//! once here, so an operation cannot forget to document them:
//!
//! - an operation that takes a JSON body ([`super::ApiJson`]) may answer 400 (malformed JSON), 413
//!   (too large), 415 (not JSON) and 422 (a field of the wrong type, missing or unknown);
//! - an operation that accepts a caller (its `security` names the API token or the session cookie,
//!   even optionally) may answer 401: a bearer token that is unknown, revoked or expired is
//!   refused on every such operation, not treated as anonymous.

use utoipa::Modify;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};

use crate::accounts::SESSION_COOKIE;
use crate::rules::TextRule;

/// The two ways to authenticate: `Authorization: Bearer lfp_...` and the session cookie.
pub struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
    }
}

/// Adds the shared extractors' error answers (see the module documentation) to every operation.
pub struct SharedResponses;

const JSON_BODY_ERRORS: [(&str, &str); 4] = [
    (
        "400",
        "The body is not valid JSON; the message gives the line and column",
    ),
    ("413", "The body is larger than the service accepts"),
    (
        "415",
        "The body is not sent as `Content-Type: application/json`",
    ),
    (
        "422",
        "A field has the wrong type or value, is missing or unknown; `field` names it",
    ),
];

const UNAUTHENTICATED: (&str, &str) = (
    "401",
    "Signing in is needed, or the API token is unknown, revoked or expired",
);

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let takes_json = operation
                    .request_body
                    .as_ref()
                    .is_some_and(|body| match body {
                        utoipa::openapi::RefOr::T(body) => {
                            body.content.contains_key("application/json")
                        }
                        utoipa::openapi::RefOr::Ref(_) => false,
                    });
                if takes_json {
                    for (status, description) in JSON_BODY_ERRORS {
                        add_error_response(operation, status, description);
                    }
                }
                if operation
                    .security
                    .as_ref()
                    .is_some_and(|requirements| !requirements.is_empty())
                {
                    add_error_response(operation, UNAUTHENTICATED.0, UNAUTHENTICATED.1);
                }
            }
        }
    }
}

/// Every operation of a path.
pub fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
        item.options.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Documents `status` with the error envelope, unless the operation already says more about it.
fn add_error_response(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                        .build(),
                )
                .build()
                .into()
        });
}

/// A rule the server checks on a string field of a request body, to be stated on that field in
/// the OpenAPI document.
pub struct FieldRule {
    /// The component schema of the body (`NewDatalab`).
    pub schema: &'static str,
    pub field: &'static str,
    pub rule: &'static TextRule,
}

impl FieldRule {
    pub const fn new(schema: &'static str, field: &'static str, rule: &'static TextRule) -> Self {
        Self {
            schema,
            field,
            rule,
        }
    }
}

/// The JSON Schema keywords that state `rule`.
pub fn rule_keywords(rule: &TextRule) -> serde_json::Map<String, serde_json::Value> {
    let mut keywords = serde_json::Map::new();
    if !rule.pattern.is_empty() {
        keywords.insert("pattern".to_owned(), rule.pattern.into());
    }
    if rule.min_characters > 0 {
        keywords.insert("minLength".to_owned(), rule.min_characters.into());
    }
    keywords.insert("maxLength".to_owned(), rule.max_characters.into());
    keywords
}

/// States each rule on its field of the serialised document. A rule naming a schema or field the
/// document lacks is a programming error: the OpenAPI tests build the document and fail on it.
pub fn state_field_rules(document: &mut serde_json::Value, rules: &[&FieldRule]) {
    for FieldRule {
        schema,
        field,
        rule,
    } in rules.iter().copied()
    {
        let property = document
            .pointer_mut(&format!("/components/schemas/{schema}/properties/{field}"))
            .and_then(serde_json::Value::as_object_mut)
            .unwrap_or_else(|| panic!("no field {field} in schema {schema}"));
        property.extend(rule_keywords(rule));
    }
}
