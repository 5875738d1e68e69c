//! The marketplace over HTTP on SQLite and on PostgreSQL: search and ranking, facets, filters,
//! sorting and paging, visibility, stars, and the catalogue's JSON-LD.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{Duration, Utc};
use http_body_util::BodyExt as _;
use labforge::accounts::Role;
use serde_json::{Value, json};

use crate::common::datalabs::{self, DatalabFixture, insert_datalab};
use crate::common::service::{As, TestApp};
use crate::on_both_backends;

on_both_backends!(
    words_match_stemmed_and_as_prefix_and_title_matches_rank_first,
    facets_count_the_matching_set_each_without_its_own_filter,
    filters_combine_across_facets_and_any_value_within_one,
    sorts_and_pages_with_a_total_and_refuse_bad_parameters_by_name,
    listings_show_published_datalabs_by_the_visibility_rule,
    the_index_follows_publication_and_metadata_changes,
    stars_are_one_per_user_idempotent_and_only_on_visible_datalabs,
    the_catalog_lists_published_public_datalabs_as_json_ld_without_private_fields,
    a_datalab_is_json_ld_for_those_who_may_see_it,
    the_openapi_document_tags_the_marketplace_catalog_and_launcher_paths,
);

/// The names of the hits of `GET /api/marketplace?<query>`, after checking it answered 200.
async fn names(app: &TestApp, query: &str, caller: As<'_>) -> Vec<String> {
    let body = search(app, query, caller).await;
    body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn search(app: &TestApp, query: &str, caller: As<'_>) -> Value {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/api/marketplace?{query}"),
            caller,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

/// `facet`'s counts in `body` as `value=count` strings, in the order served.
fn counts(body: &Value, facet: &str) -> Vec<String> {
    body["facets"][facet]
        .as_array()
        .unwrap_or_else(|| panic!("no facet {facet} in {body}"))
        .iter()
        .map(|count| format!("{}={}", count["value"].as_str().unwrap(), count["count"]))
        .collect()
}

async fn words_match_stemmed_and_as_prefix_and_title_matches_rank_first(app: TestApp) {
    let owner = app.user("owner", Role::Author).await;
    let owner_id = app.user_id(&owner).await;
    let database = &app.state.database;
    let mut in_abstract = DatalabFixture::published(
        "jl-sky-tools",
        &owner_id,
        "Sky survey tools",
        "Notebooks to measure galaxies and their spectroscopy in survey images.",
    );
    in_abstract.metadata["keywords"] = json!(["photometry"]);
    insert_datalab(database, &in_abstract).await;
    let mut in_title = DatalabFixture::published(
        "jl-galaxy-clusters",
        &owner_id,
        "Galaxy cluster explorer",
        "Interactive cluster catalogues.",
    );
    in_title.metadata["keywords"] = json!(["lensing"]);
    insert_datalab(database, &in_title).await;
    insert_datalab(
        database,
        &DatalabFixture::published(
            "jl-solar-wind",
            &owner_id,
            "Solar wind monitor",
            "Plasma measurements near the Sun.",
        ),
    )
    .await;

    // "galaxies" and "galaxy" share a stem; the title match outranks the abstract match.
    assert_eq!(
        names(&app, "q=galaxies", As::Anonymous).await,
        ["jl-galaxy-clusters", "jl-sky-tools"]
    );
    assert_eq!(
        names(&app, "q=Galaxy", As::Anonymous).await,
        ["jl-galaxy-clusters", "jl-sky-tools"]
    );
    // The last word is also a prefix, for search as you type.
    assert_eq!(
        names(&app, "q=spectro", As::Anonymous).await,
        ["jl-sky-tools"]
    );
    // Every word must match.
    assert_eq!(
        names(&app, "q=galaxy+catalogues", As::Anonymous).await,
        ["jl-galaxy-clusters"]
    );
    // Keywords and the slug are searched too.
    assert_eq!(
        names(&app, "q=photometry", As::Anonymous).await,
        ["jl-sky-tools"]
    );
    assert_eq!(
        names(&app, "q=lensing", As::Anonymous).await,
        ["jl-galaxy-clusters"]
    );
    assert_eq!(
        names(&app, "q=wind", As::Anonymous).await,
        ["jl-solar-wind"]
    );
    assert!(names(&app, "q=quasar", As::Anonymous).await.is_empty());
    // Query syntax is only ever words.
    assert_eq!(
        names(&app, "q=%22galaxy%22+OR+*+NEAR(", As::Anonymous)
            .await
            .len(),
        0,
        "OR and NEAR are words to find, not operators"
    );
    let body = search(&app, "q=galaxy", As::Anonymous).await;
    let hit = &body["hits"][0];
    assert_eq!(hit["title"], "Galaxy cluster explorer");
    assert_eq!(hit["abstract"], "Interactive cluster catalogues.");
    assert_eq!(hit["keywords"], json!(["lensing"]));
    assert_eq!(hit["kind"], "jupyterlab");
    assert_eq!(hit["stars"], 0);
    assert_eq!(hit["esa_official"], false);
    assert!(hit["created_at"].is_string() && hit["updated_at"].is_string());
}

/// Four datalabs with different facet values, for the facet and filter tests.
async fn faceted_catalogue(app: &TestApp) {
    let owner = app.user("owner", Role::Author).await;
    let owner_id = app.user_id(&owner).await;
    let labs = [
        (
            "jl-gaia-astrometry",
            "jupyterlab",
            json!({"domain": ["astronomy"], "mission": ["Gaia"], "instrument": ["ASTRO"],
                   "audienceType": ["researchers"], "license": "Apache-2.0", "ESAOfficial": true}),
        ),
        (
            "jl-euclid-vis",
            "jupyterlab",
            json!({"domain": ["astronomy", "cosmology"], "mission": ["Euclid"],
                   "instrument": ["VIS", "NISP"], "audienceType": ["researchers", "students"],
                   "license": "MIT"}),
        ),
        (
            "dt-solar-orbiter",
            "desktop",
            json!({"domain": ["heliophysics"], "mission": ["Solar Orbiter"], "instrument": ["EUI"],
                   "audienceType": ["students"], "license": "Apache-2.0", "ESAOfficial": true}),
        ),
        (
            "gn-euclid-cosmology",
            "generic",
            json!({"domain": ["cosmology"], "mission": ["Euclid"], "instrument": ["NISP"],
                   "license": "GPL-3.0-or-later", "ESAOfficial": false}),
        ),
    ];
    for (name, kind, facets) in labs {
        let mut fixture = DatalabFixture::published(
            name,
            &owner_id,
            &format!("Lab {name}"),
            "Tools for science.",
        );
        fixture.kind = kind;
        for (key, value) in facets.as_object().unwrap() {
            fixture.metadata[key] = value.clone();
        }
        insert_datalab(&app.state.database, &fixture).await;
    }
}

async fn facets_count_the_matching_set_each_without_its_own_filter(app: TestApp) {
    faceted_catalogue(&app).await;
    let all = search(&app, "", As::Anonymous).await;
    assert_eq!(all["total"], 4);
    assert_eq!(
        counts(&all, "kind"),
        ["jupyterlab=2", "desktop=1", "generic=1"]
    );
    assert_eq!(
        counts(&all, "domain"),
        ["astronomy=2", "cosmology=2", "heliophysics=1"]
    );
    assert_eq!(
        counts(&all, "mission"),
        ["Euclid=2", "Gaia=1", "Solar Orbiter=1"]
    );
    assert_eq!(
        counts(&all, "instrument"),
        ["NISP=2", "ASTRO=1", "EUI=1", "VIS=1"]
    );
    assert_eq!(counts(&all, "audience"), ["researchers=2", "students=2"]);
    assert_eq!(
        counts(&all, "licence"),
        ["Apache-2.0=2", "GPL-3.0-or-later=1", "MIT=1"]
    );
    assert_eq!(counts(&all, "esa_official"), ["false=2", "true=2"]);

    // Counts follow the words...
    let euclid = search(&app, "q=euclid", As::Anonymous).await;
    assert_eq!(euclid["total"], 2);
    assert_eq!(counts(&euclid, "kind"), ["generic=1", "jupyterlab=1"]);
    // ...and each facet is counted under the other facets' filters but not its own, so the
    // alternatives to a chosen value stay visible.
    let filtered = search(&app, "domain=cosmology&kind=jupyterlab", As::Anonymous).await;
    assert_eq!(filtered["total"], 1);
    assert_eq!(
        counts(&filtered, "domain"),
        ["astronomy=2", "cosmology=1"],
        "domains among the JupyterLab datalabs"
    );
    assert_eq!(
        counts(&filtered, "kind"),
        ["generic=1", "jupyterlab=1"],
        "kinds among the cosmology datalabs"
    );
    assert_eq!(
        counts(&filtered, "mission"),
        ["Euclid=1"],
        "other facets among the results"
    );
    assert_eq!(counts(&filtered, "esa_official"), ["false=1"]);
}

async fn filters_combine_across_facets_and_any_value_within_one(app: TestApp) {
    faceted_catalogue(&app).await;
    let sorted = |mut names: Vec<String>| {
        names.sort();
        names
    };
    assert_eq!(
        sorted(names(&app, "mission=Euclid", As::Anonymous).await),
        ["gn-euclid-cosmology", "jl-euclid-vis"]
    );
    assert_eq!(
        sorted(names(&app, "mission=Euclid&mission=Gaia", As::Anonymous).await),
        ["gn-euclid-cosmology", "jl-euclid-vis", "jl-gaia-astrometry"],
        "values of one facet: any"
    );
    assert_eq!(
        names(&app, "mission=Euclid&kind=generic", As::Anonymous).await,
        ["gn-euclid-cosmology"],
        "facets: all"
    );
    assert_eq!(
        sorted(names(&app, "esa_official=true", As::Anonymous).await),
        ["dt-solar-orbiter", "jl-gaia-astrometry"]
    );
    assert_eq!(
        names(&app, "esa_official=false&licence=MIT", As::Anonymous).await,
        ["jl-euclid-vis"],
        "no ESAOfficial counts as not official"
    );
    assert_eq!(
        names(&app, "instrument=VIS&audience=students", As::Anonymous).await,
        ["jl-euclid-vis"]
    );
    assert_eq!(
        names(&app, "q=lab+tools&domain=heliophysics", As::Anonymous).await,
        ["dt-solar-orbiter"]
    );
    let unknown = search(&app, "mission=Rosetta", As::Anonymous).await;
    assert_eq!(unknown["total"], 0);
    assert_eq!(unknown["hits"], json!([]));
    assert_eq!(
        counts(&unknown, "mission"),
        ["Euclid=2", "Gaia=1", "Solar Orbiter=1"],
        "the missions one could choose instead"
    );
    // An empty value of an open facet, as an unset select box sends it, filters nothing; the
    // closed ones name their values instead.
    assert_eq!(names(&app, "domain=&q=", As::Anonymous).await.len(), 4);
    let (status, body) = app
        .call(Method::GET, "/api/marketplace?kind=", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "kind", "{body}");
}

async fn sorts_and_pages_with_a_total_and_refuse_bad_parameters_by_name(app: TestApp) {
    let owner = app.user("owner", Role::Author).await;
    let owner_id = app.user_id(&owner).await;
    let mut fans = Vec::new();
    for number in 0..3 {
        let fan = app.user(&format!("fan{number}"), Role::Researcher).await;
        fans.push(app.user_id(&fan).await);
    }
    let now = Utc::now();
    // name, age in days, stars
    for (name, days, stars) in [
        ("lab-b", 3, 1),
        ("lab-a", 1, 0),
        ("lab-d", 2, 3),
        ("lab-c", 4, 2),
    ] {
        let mut fixture = DatalabFixture::published(name, &owner_id, "Telescope lab", "Tools.");
        fixture.created_at = now - Duration::days(days);
        fixture.starred_by = fans[..stars].to_vec();
        insert_datalab(&app.state.database, &fixture).await;
    }
    assert_eq!(
        names(&app, "sort=stars", As::Anonymous).await,
        ["lab-d", "lab-c", "lab-b", "lab-a"]
    );
    assert_eq!(
        names(&app, "", As::Anonymous).await,
        ["lab-d", "lab-c", "lab-b", "lab-a"],
        "relevance without words is popularity"
    );
    assert_eq!(
        names(&app, "sort=newest", As::Anonymous).await,
        ["lab-a", "lab-d", "lab-b", "lab-c"]
    );
    assert_eq!(
        names(&app, "sort=name", As::Anonymous).await,
        ["lab-a", "lab-b", "lab-c", "lab-d"]
    );
    assert_eq!(
        names(&app, "q=telescope&sort=name", As::Anonymous).await,
        ["lab-a", "lab-b", "lab-c", "lab-d"]
    );
    let stars: Vec<Value> = search(&app, "sort=stars", As::Anonymous).await["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["stars"].clone())
        .collect();
    assert_eq!(stars, [json!(3), json!(2), json!(1), json!(0)]);

    let second = search(&app, "sort=name&per_page=3&page=2", As::Anonymous).await;
    assert_eq!(second["total"], 4);
    assert_eq!(second["page"], 2);
    assert_eq!(second["per_page"], 3);
    assert_eq!(second["hits"].as_array().unwrap().len(), 1);
    assert_eq!(second["hits"][0]["name"], "lab-d");
    let beyond = search(&app, "per_page=3&page=9", As::Anonymous).await;
    assert_eq!(beyond["total"], 4);
    assert_eq!(beyond["hits"], json!([]));
    assert_eq!(search(&app, "", As::Anonymous).await["per_page"], 20);

    for (query, field) in [
        ("sort=popular", "sort"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=x", "page"),
        ("per_page=1000", "per_page"),
        ("sort=name&sort=stars", "sort"),
        ("license=MIT", "license"),
        ("kind=notebook", "kind"),
        ("esa_official=maybe", "esa_official"),
    ] {
        let (status, body) = app
            .call(
                Method::GET,
                &format!("/api/marketplace?{query}"),
                As::Anonymous,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_field", "{query}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
}

async fn listings_show_published_datalabs_by_the_visibility_rule(app: TestApp) {
    let owner = app.user("owner", Role::Author).await;
    let member = app.user("member", Role::Researcher).await;
    let stranger = app.user("stranger", Role::Researcher).await;
    let moderator = app.user("moderator", Role::Moderator).await;
    let admin = app.user("administrator", Role::Admin).await;
    let owner_id = app.user_id(&owner).await;
    let database = &app.state.database;
    insert_datalab(
        database,
        &DatalabFixture::published("lab-public", &owner_id, "Public lab", "Open."),
    )
    .await;
    let mut private = DatalabFixture::published("lab-private", &owner_id, "Private lab", "Shared.");
    private.visibility = "private";
    let private_id = insert_datalab(database, &private).await;
    datalabs::add_member(database, &private_id, &app.user_id(&member).await).await;
    let mut draft = DatalabFixture::published("lab-draft", &owner_id, "Draft lab", "Unfinished.");
    draft.state = "draft";
    insert_datalab(database, &draft).await;
    let mut other_private =
        DatalabFixture::published("lab-other", &app.user_id(&stranger).await, "Other", "Mine.");
    other_private.visibility = "private";
    insert_datalab(database, &other_private).await;

    let sorted = |mut names: Vec<String>| {
        names.sort();
        names
    };
    let public = ["lab-public"];
    assert_eq!(sorted(names(&app, "", As::Anonymous).await), public);
    assert_eq!(
        sorted(names(&app, "", As::User(&stranger)).await),
        ["lab-other", "lab-public"],
        "their own private datalab and the public one"
    );
    assert_eq!(
        sorted(names(&app, "", As::User(&member)).await),
        ["lab-private", "lab-public"]
    );
    assert_eq!(
        sorted(names(&app, "", As::User(&owner)).await),
        ["lab-private", "lab-public"],
        "drafts are not listed, even to their owner"
    );
    for everyone in [&moderator, &admin] {
        assert_eq!(
            sorted(names(&app, "", As::User(everyone)).await),
            ["lab-other", "lab-private", "lab-public"]
        );
    }
    // Counts and totals follow the same rule.
    let anonymous = search(&app, "q=lab", As::Anonymous).await;
    assert_eq!(anonymous["total"], 1);
    assert_eq!(counts(&anonymous, "kind"), ["jupyterlab=1"]);
    let seen_by_member = search(&app, "q=lab", As::User(&member)).await;
    assert_eq!(seen_by_member["total"], 2);
    assert_eq!(counts(&seen_by_member, "kind"), ["jupyterlab=2"]);
}

async fn the_index_follows_publication_and_metadata_changes(app: TestApp) {
    let owner = app.user("owner", Role::Author).await;
    let owner_id = app.user_id(&owner).await;
    let database = &app.state.database;
    let mut fixture = DatalabFixture::published("lab-x", &owner_id, "Comet tracker", "Orbits.");
    fixture.state = "draft";
    let id = insert_datalab(database, &fixture).await;
    assert!(names(&app, "", As::Anonymous).await.is_empty());

    datalabs::set_datalab_state(database, &id, "published", "public").await;
    // Listings read the index only: nothing changes until the refresh.
    assert!(names(&app, "", As::Anonymous).await.is_empty());
    database.refresh_datalab_search(&id).await.unwrap();
    assert_eq!(names(&app, "q=comet", As::Anonymous).await, ["lab-x"]);

    // A newer published version replaces the text and the facets.
    let mut newer = datalabs::metadata("lab-x", "Asteroid tracker", "Orbits of rocks.");
    newer["mission"] = json!(["Hera"]);
    datalabs::insert_version(database, &id, "2.0.0", "published", &newer).await;
    database.refresh_datalab_search(&id).await.unwrap();
    assert!(names(&app, "q=comet", As::Anonymous).await.is_empty());
    let body = search(&app, "q=asteroid", As::Anonymous).await;
    assert_eq!(body["hits"][0]["title"], "Asteroid tracker");
    assert_eq!(counts(&body, "mission"), ["Hera=1"]);

    // A draft version does not replace the published one.
    let draft = datalabs::metadata("lab-x", "Unreviewed title", "Not yet.");
    datalabs::insert_version(database, &id, "3.0.0", "draft", &draft).await;
    database.refresh_datalab_search(&id).await.unwrap();
    assert_eq!(names(&app, "q=asteroid", As::Anonymous).await, ["lab-x"]);

    datalabs::set_datalab_state(database, &id, "published", "private").await;
    database.refresh_datalab_search(&id).await.unwrap();
    assert!(names(&app, "", As::Anonymous).await.is_empty());
    assert_eq!(names(&app, "", As::User(&owner)).await, ["lab-x"]);

    datalabs::set_datalab_state(database, &id, "deprecated", "public").await;
    database.refresh_datalab_search(&id).await.unwrap();
    assert!(names(&app, "", As::User(&owner)).await.is_empty());
    database
        .refresh_datalab_search("no-such-datalab")
        .await
        .unwrap();
}

async fn stars_are_one_per_user_idempotent_and_only_on_visible_datalabs(app: TestApp) {
    let owner = app.user("owner", Role::Author).await;
    let alice = app.user("alice", Role::Researcher).await;
    let bob = app.user("bob", Role::Researcher).await;
    let owner_id = app.user_id(&owner).await;
    insert_datalab(
        &app.state.database,
        &DatalabFixture::published("lab-starred", &owner_id, "Starred", "Popular."),
    )
    .await;
    let mut private = DatalabFixture::published("lab-hidden", &owner_id, "Hidden", "Private.");
    private.visibility = "private";
    insert_datalab(&app.state.database, &private).await;

    let star = |method: Method, caller| {
        let app = &app;
        async move {
            app.call(method, "/api/datalabs/lab-starred/star", caller, None)
                .await
        }
    };
    let (status, body) = star(Method::PUT, As::User(&alice)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"starred": true, "stars": 1}));
    let (_, body) = star(Method::PUT, As::User(&alice)).await;
    assert_eq!(body, json!({"starred": true, "stars": 1}), "once per user");
    let (_, body) = star(Method::PUT, As::User(&bob)).await;
    assert_eq!(body["stars"], 2);
    assert_eq!(search(&app, "", As::Anonymous).await["hits"][0]["stars"], 2);

    let (_, body) = star(Method::DELETE, As::User(&alice)).await;
    assert_eq!(body, json!({"starred": false, "stars": 1}));
    let (status, body) = star(Method::DELETE, As::User(&alice)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"starred": false, "stars": 1}),
        "unstarring twice"
    );
    assert_eq!(search(&app, "", As::Anonymous).await["hits"][0]["stars"], 1);

    let (status, _) = star(Method::PUT, As::Anonymous).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for path in [
        "/api/datalabs/lab-hidden/star",
        "/api/datalabs/no-such-lab/star",
    ] {
        let (status, body) = app.call(Method::PUT, path, As::User(&alice), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/datalabs/lab-hidden/star",
            As::User(&owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the owner sees it: {body}");
}

async fn get_json_ld(app: &TestApp, path: &str, caller: As<'_>) -> (StatusCode, String, Value) {
    let mut request = Request::get(path);
    if let As::User(user) = caller {
        request = request.header(header::AUTHORIZATION, format!("Bearer {}", user.token));
    }
    let response = app.send(request.body(Body::empty()).unwrap()).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        serde_json::from_slice(&bytes).unwrap(),
    )
}

/// Fails if any private value of [`datalabs::metadata`] appears anywhere in `document`.
fn assert_no_private_field(document: &Value) {
    let text = document.to_string();
    for private in [
        "private-digest",
        "private-image-tag",
        "linux/amd64",
        "2025-01-02T03:04:05Z",
        "datalabImage",
        "dateCreated",
    ] {
        assert!(!text.contains(private), "{private} leaked: {text}");
    }
}

async fn the_catalog_lists_published_public_datalabs_as_json_ld_without_private_fields(
    app: TestApp,
) {
    let owner = app.user("owner", Role::Author).await;
    let owner_id = app.user_id(&owner).await;
    let database = &app.state.database;
    let mut public = DatalabFixture::published("lab-open", &owner_id, "Open lab", "For all.");
    public.metadata["keywords"] = json!(["euclid"]);
    public.metadata["license"] = json!("Apache-2.0");
    let public_id = insert_datalab(database, &public).await;
    let mut private = DatalabFixture::published("lab-closed", &owner_id, "Closed lab", "Few.");
    private.visibility = "private";
    insert_datalab(database, &private).await;
    let mut draft = DatalabFixture::published("lab-draft", &owner_id, "Draft lab", "Soon.");
    draft.state = "draft";
    insert_datalab(database, &draft).await;

    // Signed in as the owner or not, the catalogue is the public one.
    for caller in [As::Anonymous, As::User(&owner)] {
        let (status, content_type, catalog) = get_json_ld(&app, "/catalog.jsonld", caller).await;
        assert_eq!(status, StatusCode::OK, "{catalog}");
        assert_eq!(content_type, "application/ld+json");
        assert_eq!(catalog["@type"], "dcat:Catalog");
        assert_eq!(catalog["dct:title"], "labforge datalabs");
        assert_eq!(catalog["dct:publisher"]["foaf:name"], "labforge");
        assert!(catalog["@context"].is_object());
        let services = catalog["dcat:service"].as_array().unwrap();
        assert_eq!(services.len(), 1, "{catalog}");
        let service = &services[0];
        assert_eq!(service["dct:identifier"], public_id);
        assert_eq!(service["dct:title"], "Open lab");
        assert_eq!(service["dcat:keyword"], json!(["euclid"]));
        assert_eq!(
            service["dct:license"]["@id"],
            "https://spdx.org/licenses/Apache-2.0"
        );
        let public_url = app.config.server.public_url();
        assert_eq!(
            service["dcat:landingPage"]["@id"],
            format!("{public_url}/marketplace/lab-open")
        );
        assert!(
            service.get("dcat:servesDataset").is_none(),
            "no volumes yet"
        );
        assert_no_private_field(&catalog);
    }
}

async fn a_datalab_is_json_ld_for_those_who_may_see_it(app: TestApp) {
    let owner = app.user("owner", Role::Author).await;
    let stranger = app.user("stranger", Role::Researcher).await;
    let moderator = app.user("moderator", Role::Moderator).await;
    let owner_id = app.user_id(&owner).await;
    let mut private = DatalabFixture::published("lab-closed", &owner_id, "Closed lab", "Few.");
    private.visibility = "private";
    private.metadata["mission"] = json!(["Gaia"]);
    private.metadata["ESAOfficial"] = json!(true);
    let id = insert_datalab(&app.state.database, &private).await;
    for caller in [As::User(&owner), As::User(&moderator)] {
        let (status, content_type, document) =
            get_json_ld(&app, "/api/datalabs/lab-closed/jsonld", caller).await;
        assert_eq!(status, StatusCode::OK, "{document}");
        assert_eq!(content_type, "application/ld+json");
        assert_eq!(
            document["@type"],
            json!(["dcat:DataService", "schema:SoftwareApplication"])
        );
        assert_eq!(document["dct:identifier"], id);
        assert_eq!(document["esado:ESAOfficial"], true);
        assert!(document["@context"].is_object());
        assert_no_private_field(&document);
    }
    for caller in [As::Anonymous, As::User(&stranger)] {
        let (status, _, body) = get_json_ld(&app, "/api/datalabs/lab-closed/jsonld", caller).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let (status, _, _) = get_json_ld(&app, "/api/datalabs/nothing/jsonld", As::User(&owner)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn the_openapi_document_tags_the_marketplace_catalog_and_launcher_paths(app: TestApp) {
    let (status, document) = app
        .call(Method::GET, "/api/openapi.json", As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for (path, method, tag) in [
        ("/api/marketplace", "get", "marketplace"),
        ("/api/datalabs/{name}/star", "put", "marketplace"),
        ("/api/datalabs/{name}/star", "delete", "marketplace"),
        ("/api/datalabs/{name}/jsonld", "get", "catalog"),
        ("/catalog.jsonld", "get", "catalog"),
        ("/api/data-volumes", "post", "launcher"),
        ("/api/data-volumes/{name}", "put", "launcher"),
        ("/api/datazones", "get", "launcher"),
        ("/api/datazones/{name}", "delete", "launcher"),
    ] {
        let operation = &document["paths"][path][method];
        assert_eq!(
            operation["tags"],
            json!([tag]),
            "{method} {path}: {operation}"
        );
    }
    let tags: Vec<&str> = document["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect();
    for tag in ["marketplace", "catalog", "launcher"] {
        assert!(tags.contains(&tag), "{tags:?}");
    }
}
