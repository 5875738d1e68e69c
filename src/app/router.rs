//! The router and its OpenAPI document, gathered from the domains' routes: the JSON API under
//! `/api`, `/api/openapi.json`, `/metrics`, and (for the whole service) the OCI registry.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa::{Modify as _, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;

use super::AppState;
use crate::http::metrics;
use crate::http::openapi::{
    FieldRule, SecuritySchemes, SharedResponses, operations_mut, rule_keywords, state_field_rules,
};
use crate::registry::RegistryState;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "labforge",
        description = "Builds scientists' code into datalabs, publishes them and launches them."
    ),
    modifiers(&SecuritySchemes),
    // Named only by query or path parameters, which utoipa-axum does not collect.
    components(schemas(crate::storage::catalog::SearchOrder, crate::datalabs::SourceFile)),
    tags(
        (name = "accounts", description = "Users, sessions and API tokens"),
        (name = "datalabs", description = "Datalabs, their versions and sources, builds and build logs"),
        (name = "marketplace", description = "Searching the published datalabs, with facets; stars"),
        (name = "launcher", description = "Data volumes and datazones a launch can use"),
        (name = "sessions", description = "Launched datalabs: launch, progress, logs, delete; opened at /sessions/{id}/"),
        (name = "publishing", description = "Submissions, the moderators' review queue, decisions and each datalab's history"),
        (name = "catalog", description = "The catalogue as DCAT-AP / schema.org JSON-LD"),
        (name = "licences", description = "SPDX licences: the picker's list, and what an expression allows"),
    )
)]
struct ApiDocument;

/// Links from an answer of one operation to the operations that use what it returned, all with
/// the same parameters.
struct OperationLinks {
    from: &'static str,
    status: &'static str,
    /// `(parameter, runtime expression)`, in the OpenAPI runtime expression syntax.
    parameters: &'static [(&'static str, &'static str)],
    /// `(link name, operation)`.
    targets: &'static [(&'static str, &'static str)],
}

/// OpenAPI links from each operation that creates something to the operations that use it, so
/// that clients (and schemathesis' stateful phase) can follow a datalab from its creation to its
/// versions and builds.
const LINKS: &[OperationLinks] = &[
    OperationLinks {
        from: "create_datalab",
        status: "201",
        parameters: &[("name", "$response.body#/name")],
        targets: &[
            ("GetDatalab", "get_datalab"),
            ("DeleteDatalab", "delete_datalab"),
            ("ListVersions", "list_versions"),
            ("CreateVersion", "create_version"),
            ("ShareDatalab", "share_datalab"),
            ("UnshareDatalab", "unshare_datalab"),
            ("StarDatalab", "star"),
            ("UnstarDatalab", "unstar"),
        ],
    },
    OperationLinks {
        from: "create_version",
        status: "201",
        parameters: &[
            ("name", "$request.path.name"),
            ("version", "$response.body#/version"),
        ],
        targets: &[
            ("GetVersion", "get_version"),
            ("ListBuilds", "list_builds"),
            ("QueueBuild", "queue_build"),
        ],
    },
    OperationLinks {
        from: "queue_build",
        status: "202",
        parameters: &[
            ("name", "$request.path.name"),
            ("version", "$request.path.version"),
            ("number", "$response.body#/number"),
        ],
        targets: &[
            ("GetBuild", "get_build"),
            ("CancelBuild", "cancel_build"),
            ("BuildLog", "build_log"),
        ],
    },
    OperationLinks {
        from: "create_user",
        status: "201",
        parameters: &[("name", "$response.body#/user/name")],
        targets: &[("GetUser", "get_user"), ("UpdateUser", "update_user")],
    },
    OperationLinks {
        from: "create_token",
        status: "201",
        parameters: &[("id", "$response.body#/token/id")],
        targets: &[("RevokeToken", "revoke_token")],
    },
    OperationLinks {
        from: "create_data_volume",
        status: "201",
        parameters: &[("name", "$response.body#/name")],
        targets: &[
            ("UpdateDataVolume", "update_data_volume"),
            ("DeleteDataVolume", "delete_data_volume"),
        ],
    },
    OperationLinks {
        from: "create_datazone",
        status: "201",
        parameters: &[("name", "$response.body#/name")],
        targets: &[
            ("UpdateDatazone", "update_datazone"),
            ("DeleteDatazone", "delete_datazone"),
        ],
    },
    OperationLinks {
        from: "launch_session",
        status: "202",
        parameters: &[("id", "$response.body#/id")],
        targets: &[
            ("GetSession", "get_session"),
            ("DeleteSession", "delete_session"),
            ("SessionLogs", "session_logs"),
            ("SessionEvents", "session_events"),
        ],
    },
];

/// Adds [`LINKS`] to the document; a link naming an operation or status the document lacks is a
/// programming error, caught by the OpenAPI tests at start.
struct Links;

impl utoipa::Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for &OperationLinks {
            from,
            status,
            parameters,
            targets,
        } in LINKS
        {
            let operation = openapi
                .paths
                .paths
                .values_mut()
                .flat_map(operations_mut)
                .find(|operation| operation.operation_id.as_deref() == Some(from))
                .unwrap_or_else(|| panic!("links of {from}: no such operation"));
            let Some(utoipa::openapi::RefOr::T(response)) =
                operation.responses.responses.get_mut(status)
            else {
                panic!("links of {from}: it documents no {status} answer");
            };
            for (name, to) in targets {
                let link = parameters.iter().fold(
                    utoipa::openapi::link::LinkBuilder::new().operation_id(*to),
                    |link, (parameter, expression)| link.parameter(*parameter, *expression),
                );
                response
                    .links
                    .insert((*name).to_owned(), link.build().into());
            }
        }
    }
}

/// The JSON API and its OpenAPI document, gathered from the domains' routes.
pub fn api(state: AppState) -> (Router, serde_json::Value) {
    let (router, document) = split(domain_routes());
    // Serialised once: the document is fixed for the life of the process.
    let document_json = axum::body::Bytes::from(
        serde_json::to_vec(&document).expect("the OpenAPI document serialises"),
    );
    let router = router
        .route(
            "/api/openapi.json",
            get(move || {
                let body = document_json.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                }
            }),
        )
        .route("/metrics", get(metrics::render))
        // Outside the API and its document: the sessions' own pages and WebSockets.
        .merge(crate::sessions::proxy::router())
        .layer(DefaultBodyLimit::max(state.server.max_json_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::observe_requests,
        ))
        .with_state(state);
    (router, document)
}

/// Every domain's routes with the OpenAPI document they describe.
fn domain_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDocument::openapi())
        .merge(crate::accounts::routes::routes())
        .merge(crate::datalabs::routes::routes())
        .merge(crate::catalog::routes::routes())
        .merge(crate::launcher::routes::routes())
        .merge(crate::publishing::routes::routes())
        .merge(crate::licences::routes::routes())
        .merge(crate::sessions::routes::routes())
}

/// The router and the finished document: the shared error answers and the links are added once
/// every domain's operations are in it.
fn split(gathered: OpenApiRouter<AppState>) -> (Router<AppState>, serde_json::Value) {
    let (router, mut assembled) = gathered.split_for_parts();
    SharedResponses.modify(&mut assembled);
    Links.modify(&mut assembled);
    let mut document = serde_json::to_value(assembled).expect("the OpenAPI document serialises");
    let rules: Vec<&FieldRule> = crate::accounts::BODY_RULES
        .iter()
        .chain(&crate::datalabs::names::BODY_RULES)
        .chain(&crate::launcher::BODY_RULES)
        .chain(&crate::sessions::BODY_RULES)
        .collect();
    state_field_rules(&mut document, &rules);
    state_endpoint_rules(&mut document);
    (router, document)
}

/// A datazone's endpoint follows its runtime's rule: the schema says so with one variant per
/// runtime.
fn state_endpoint_rules(document: &mut serde_json::Value) {
    let variants: Vec<serde_json::Value> = crate::launcher::Runtime::ALL
        .iter()
        .map(|runtime| {
            serde_json::json!({
                "properties": {
                    "runtime": { "const": runtime.as_str() },
                    "endpoint": rule_keywords(runtime.endpoint_rule()),
                }
            })
        })
        .collect();
    let schema = document
        .pointer_mut("/components/schemas/DatazoneSpec")
        .expect("the document describes DatazoneSpec");
    let plain = schema.take();
    *schema = serde_json::json!({ "allOf": [plain, { "oneOf": variants }] });
}

/// The whole service: the API and the registry on one listener.
pub fn app(state: AppState, registry: RegistryState) -> Router {
    let (api, _) = api(state);
    api.merge(crate::registry::router(registry))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::catalog::search::{
        MAX_PAGE, MAX_PER_PAGE, MAX_QUERY_CHARACTERS, MAX_VALUES_PER_FACET,
    };

    fn document() -> Value {
        split(domain_routes()).1
    }

    /// The marketplace's limits are written as literals in its `#[utoipa::path]` (the macro takes
    /// no constants); this holds them to the constants the server checks with.
    #[test]
    fn the_marketplace_parameters_state_the_limits_the_server_enforces() {
        let document = document();
        let parameters = document["paths"]["/api/marketplace"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let schema = |name: &str| {
            parameters
                .iter()
                .find(|parameter| parameter["name"] == name)
                .unwrap_or_else(|| panic!("no parameter {name}"))["schema"]
                .clone()
        };
        assert_eq!(schema("q")["maxLength"], MAX_QUERY_CHARACTERS);
        assert_eq!(schema("page")["minimum"], 1);
        assert_eq!(schema("page")["maximum"], MAX_PAGE);
        assert_eq!(schema("per_page")["minimum"], 1);
        assert_eq!(schema("per_page")["maximum"], MAX_PER_PAGE);
        for facet in crate::catalog::facet::Facet::ALL {
            if facet == crate::catalog::facet::Facet::EsaOfficial {
                continue;
            }
            assert_eq!(
                schema(facet.as_str())["maxItems"],
                MAX_VALUES_PER_FACET,
                "{facet:?}"
            );
        }
    }

    #[test]
    fn every_json_body_and_every_signed_in_operation_documents_the_shared_errors() {
        let document = document();
        let mut checked = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = &operation["responses"];
                let documents = |status: &str| responses.get(status).is_some();
                if operation["requestBody"]["content"]
                    .get("application/json")
                    .is_some()
                {
                    for status in ["400", "413", "415", "422"] {
                        assert!(documents(status), "{method} {path} lacks {status}");
                    }
                    checked += 1;
                }
                if operation["security"]
                    .as_array()
                    .is_some_and(|requirements| !requirements.is_empty())
                {
                    assert!(documents("401"), "{method} {path} lacks 401");
                }
            }
        }
        assert!(checked > 5, "only {checked} operations take JSON");
    }

    #[test]
    fn links_lead_from_a_new_datalab_to_its_versions_and_builds() {
        let document = document();
        let created = &document["paths"]["/api/datalabs"]["post"]["responses"]["201"]["links"];
        assert_eq!(created["GetDatalab"]["operationId"], "get_datalab");
        assert_eq!(
            created["GetDatalab"]["parameters"]["name"],
            "$response.body#/name"
        );
        let queued = &document["paths"]["/api/datalabs/{name}/versions/{version}/builds"]["post"]["responses"]
            ["202"]["links"];
        assert_eq!(
            queued["GetBuild"]["parameters"]["number"],
            "$response.body#/number"
        );
    }
}
