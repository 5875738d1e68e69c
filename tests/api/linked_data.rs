//! The catalogue's JSON-LD checked against the official DCAT-AP 3.0.1 SHACL shapes with pyshacl
//! (PyPI `pyshacl`, installed by `scripts/lib.sh`). The shapes are reference data kept outside the
//! repository, in `../shared/dcat-ap-3.0.1` next to the checkout; without them, or without
//! pyshacl, these tests fail rather than pass unchecked.
//!
//! The mandatory shapes (`shacl_dcat-ap-SHACL.ttl` with `shacl_ranges.ttl`) must find nothing. The
//! recommended shapes (`html_shacl_shapes_recommended.ttl`, severity Warning) are reported and
//! compared with the list of recommendations labforge knowingly leaves open. The negative tests
//! break one thing each in a conforming catalogue and expect exactly that to be found, which shows
//! the check can fail.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use chrono::{TimeZone, Utc};
use labforge::catalog::linked_data::{
    BaseUrl, CatalogDescription, DatalabEntry, ServedVolume, catalog_document,
};
use labforge::metadata::{DatalabKind, parse_metadata};
use serde_json::{Value, json};
use url::Url;

use crate::common::{datalabs, service};
use crate::on_both_backends;

const SHACL: &str = "http://www.w3.org/ns/shacl#";
const MANDATORY_SHAPES: [&str; 2] = ["shacl_dcat-ap-SHACL.ttl", "shacl_ranges.ttl"];
const RECOMMENDED_SHAPES: [&str; 1] = ["html_shacl_shapes_recommended.ttl"];
const CATALOG: &str = "https://labs.example.org/catalog";

/// One finding of pyshacl, with IRIs shortened to the prefixes used in this file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    severity: String,
    /// The focus node's IRI, or `blank` for a blank node.
    focus: String,
    path: String,
    message: String,
}

struct Report {
    conforms: bool,
    findings: Vec<Finding>,
}

fn shapes_folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/dcat-ap-3.0.1")
}

/// Loads the shapes, drops the links to property shapes that are not defined anywhere (see
/// [`UNDEFINED_PROPERTY_SHAPES`]), validates the data without inference and prints
/// `{"dropped": [...], "conforms": bool, "report": <expanded JSON-LD>}`.
const PYSHACL_RUNNER: &str = r#"
import json, sys
import rdflib
from rdflib.namespace import SH
from pyshacl import validate

*shape_paths, data_path = sys.argv[1:]
shapes = rdflib.Graph()
for path in shape_paths:
    shapes.parse(path, format="turtle")
dropped = []
for shape, member in list(shapes.subject_objects(SH.property)):
    if (member, None, None) not in shapes:
        shapes.remove((shape, SH.property, member))
        dropped.append(str(member))
data = rdflib.Graph().parse(data_path, format="json-ld")
conforms, report, _ = validate(data, shacl_graph=shapes, inference="none")
print(json.dumps({
    "dropped": sorted(set(dropped)),
    "conforms": conforms,
    "report": json.loads(report.serialize(format="json-ld")),
}))
"#;

/// Property shapes the DCAT-AP 3.0.1 release links from its node shapes but defines in neither
/// file: no `sh:path`, no triple at all. pyshacl refuses such a shapes graph whole, so the runner
/// drops these links; they constrain nothing. Any other missing shape fails the test.
const UNDEFINED_PROPERTY_SHAPES: [&str; 5] = [
    "dcat:DatasetShape/4918ff7a6c1c4b0eea6403dca4b992b87ee1f4ab",
    "dcat:DatasetShape/95c69c99a1e3ade043911b51b942f206dea0e68d",
    "dcat:DistributionShape/653804840386e33525b3d39d205c174780be414b",
    "dcat:DistributionShape/a07d6e7a0a1790b89a1ce7ff602cbbd9ea835282",
    "dcat:RelationshipShape/b7aa98e1befa5130659568aa62e7f38575dc17c1",
];

/// Runs pyshacl on `document` with the named shape files loaded together as one shapes graph (the
/// mandatory file alone is not well-formed).
fn validate(document: &Value, shape_files: &[&str]) -> Report {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().join("catalog.jsonld");
    fs::write(&data, serde_json::to_vec_pretty(document).unwrap()).unwrap();
    let shape_paths: Vec<PathBuf> = shape_files
        .iter()
        .map(|name| shapes_folder().join(name))
        .collect();
    for path in &shape_paths {
        assert!(
            path.is_file(),
            "{} is missing; the DCAT-AP 3.0.1 shapes are needed to check the JSON-LD",
            path.display()
        );
    }
    let output = Command::new("python3")
        .args(["-c", PYSHACL_RUNNER])
        .args(&shape_paths)
        .arg(&data)
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "pyshacl failed ({}); install it with `python3 -m pip install pyshacl`:\n{stderr}",
        output.status
    );
    let outcome: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("the runner's output is not JSON ({error}): {stderr}"));
    for dropped in outcome["dropped"].as_array().unwrap() {
        let dropped = dropped.as_str().unwrap();
        assert!(
            UNDEFINED_PROPERTY_SHAPES
                .iter()
                .any(|known| dropped.ends_with(&format!("#{known}"))),
            "the shapes link {dropped}, which they do not define"
        );
    }
    let conforms = outcome["conforms"].as_bool().unwrap();
    let nodes = outcome["report"]
        .as_array()
        .expect("an expanded JSON-LD report");
    let mut findings: Vec<Finding> = nodes
        .iter()
        .filter(|node| has_type(node, "ValidationResult"))
        .map(|node| {
            let first = |property: &str, key: &str| {
                node[format!("{SHACL}{property}")][0][key]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            let focus = first("focusNode", "@id");
            Finding {
                severity: shorten(&first("resultSeverity", "@id")),
                focus: if focus.starts_with("_:") {
                    "blank".to_owned()
                } else {
                    focus
                },
                path: shorten(&first("resultPath", "@id")),
                message: first("resultMessage", "@value"),
            }
        })
        .collect();
    findings.sort();
    Report { conforms, findings }
}

fn has_type(node: &Value, local_name: &str) -> bool {
    node["@type"]
        .as_array()
        .is_some_and(|types| types.contains(&json!(format!("{SHACL}{local_name}"))))
}

fn shorten(iri: &str) -> String {
    [
        ("http://www.w3.org/ns/shacl#", "sh:"),
        ("http://purl.org/dc/terms/", "dct:"),
        ("http://www.w3.org/ns/dcat#", "dcat:"),
    ]
    .iter()
    .find_map(|(namespace, prefix)| {
        iri.strip_prefix(namespace)
            .map(|local| format!("{prefix}{local}"))
    })
    .unwrap_or_else(|| iri.to_owned())
}

fn describe(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|finding| {
            format!(
                "{} {} {}: {}",
                finding.severity, finding.focus, finding.path, finding.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn base_url() -> BaseUrl {
    BaseUrl::new(Url::parse("https://labs.example.org/").unwrap()).unwrap()
}

/// A datalab whose metadata is `tests/fixtures/catalog/<slug>.yaml`.
fn entry(id: &str, kind: DatalabKind, slug: &str, volumes: Vec<ServedVolume>) -> DatalabEntry {
    let path = format!(
        "{}/tests/fixtures/catalog/{slug}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    DatalabEntry {
        id: id.to_owned(),
        kind,
        metadata: parse_metadata(&text, &path).unwrap(),
        page_url: Url::parse(&format!("https://labs.example.org/marketplace/{slug}")).unwrap(),
        endpoint_url: Url::parse(&format!("https://labs.example.org/launch/{id}")).unwrap(),
        issued: Utc.with_ymd_and_hms(2025, 1, 15, 9, 30, 0).unwrap(),
        modified: Utc.with_ymd_and_hms(2025, 5, 2, 16, 45, 12).unwrap(),
        volumes,
    }
}

fn volume(name: &str, description: &str, mission: Option<&str>, source: &str) -> ServedVolume {
    ServedVolume {
        name: name.to_owned(),
        description: description.to_owned(),
        mission: mission.map(str::to_owned),
        source: source.to_owned(),
        mount_path: format!("/data/{name}"),
    }
}

/// Four datalabs: one of each kind, licences as a compound expression, an ESA Public Licence, a
/// `LicenseRef-` and none at all, with two volumes, one volume and none.
fn catalog() -> Value {
    let entries = [
        entry(
            "d-1",
            DatalabKind::JupyterLab,
            "jl-euclid-tools",
            vec![
                volume(
                    "euclid-q1",
                    "Euclid Quick Release 1 images and catalogues",
                    Some("Euclid"),
                    "ESA Euclid Science Archive",
                ),
                volume(
                    "gaia-dr3",
                    "Gaia Data Release 3 source catalogue",
                    Some("Gaia"),
                    "ESA Gaia Archive",
                ),
            ],
        ),
        entry("d-2", DatalabKind::Desktop, "vnc-ds9", Vec::new()),
        entry(
            "d-3",
            DatalabKind::Generic,
            "gen-sentinel-viewer",
            vec![volume(
                "s2-l2a-sample",
                "A sample of Sentinel-2 Level-2A tiles",
                None,
                "Copernicus Data Space Ecosystem",
            )],
        ),
        entry("d-4", DatalabKind::JupyterLab, "jl-minimal", Vec::new()),
    ];
    let description = CatalogDescription {
        title: "labforge datalabs".to_owned(),
        description: "Ready-to-run analysis environments, launched next to the data.".to_owned(),
        publisher_name: "ESAC Science Data Centre".to_owned(),
        publisher_url: Some(Url::parse("https://www.cosmos.esa.int/web/esdc").unwrap()),
        homepage: Url::parse("https://labs.example.org/marketplace").unwrap(),
    };
    catalog_document(&description, &entries, &base_url())
}

fn service_mut<'catalog>(catalog: &'catalog mut Value, id: &str) -> &'catalog mut Value {
    let iri = format!("https://labs.example.org/datalabs/{id}");
    catalog["dcat:service"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|service| service["@id"] == iri.as_str())
        .unwrap()
}

/// Expects `report` to find violations, all of them at `path` of `focus`.
fn assert_only_violations_at(report: &Report, focus: &str, path: &str) {
    assert!(!report.conforms, "expected a violation at {path}");
    let elsewhere: Vec<Finding> = report
        .findings
        .iter()
        .filter(|finding| {
            finding.severity != "sh:Violation" || finding.focus != focus || finding.path != path
        })
        .cloned()
        .collect();
    assert!(
        elsewhere.is_empty(),
        "unexpected findings:\n{}",
        describe(&elsewhere)
    );
}

#[test]
fn the_catalog_conforms_to_the_mandatory_shapes() {
    let report = validate(&catalog(), &MANDATORY_SHAPES);
    assert!(
        report.conforms && report.findings.is_empty(),
        "{}",
        describe(&report.findings)
    );
}

/// What the recommended shapes still ask for, each left open on purpose: the catalogue's
/// language, licence, coverage and issue date are the operator's to state; agents and licences
/// have no agreed type vocabulary in labforge yet; a data volume is described only as far as the
/// volume catalogue knows it; and a datalab without volumes serves no dataset.
#[test]
fn the_recommended_shapes_ask_only_for_what_labforge_leaves_open() {
    let report = validate(&catalog(), &RECOMMENDED_SHAPES);
    println!(
        "DCAT-AP 3.0.1 recommended shapes, {} warnings:\n{}",
        report.findings.len(),
        describe(&report.findings)
    );
    let mut expected = BTreeSet::new();
    for path in ["dct:issued", "dct:language", "dct:license", "dct:spatial"] {
        expected.insert((CATALOG.to_owned(), path.to_owned()));
    }
    let volumes = ["euclid-q1", "gaia-dr3", "s2-l2a-sample"];
    for volume in volumes {
        for path in [
            "dcat:contactPoint",
            "dcat:distribution",
            "dcat:keyword",
            "dct:publisher",
            "dct:spatial",
            "dct:temporal",
        ] {
            expected.insert((
                format!("https://labs.example.org/volumes/{volume}"),
                path.to_owned(),
            ));
        }
    }
    expected.insert((
        "https://labs.example.org/volumes/s2-l2a-sample".to_owned(),
        "dcat:theme".to_owned(),
    ));
    for id in ["d-2", "d-4"] {
        expected.insert((
            format!("https://labs.example.org/datalabs/{id}"),
            "dcat:servesDataset".to_owned(),
        ));
    }
    for path in ["dcat:keyword", "dcat:theme"] {
        expected.insert((
            "https://labs.example.org/datalabs/d-4".to_owned(),
            path.to_owned(),
        ));
    }
    for organisation in [
        "European%20Space%20Agency",
        "ESAC%20Science%20Data%20Centre",
        "Earth%20Observation%20Lab",
    ] {
        expected.insert((
            format!("https://labs.example.org/agents/{organisation}"),
            "dct:type".to_owned(),
        ));
    }
    expected.insert((
        "https://spdx.org/licenses/ESA-PL-permissive-2.4".to_owned(),
        "dct:type".to_owned(),
    ));
    // The catalogue's publisher and the two licences without an SPDX IRI.
    expected.insert(("blank".to_owned(), "dct:type".to_owned()));
    let found: BTreeSet<(String, String)> = report
        .findings
        .iter()
        .inspect(|finding| assert_eq!(finding.severity, "sh:Warning", "{finding:?}"))
        .map(|finding| (finding.focus.clone(), finding.path.clone()))
        .collect();
    assert_eq!(found, expected, "{}", describe(&report.findings));
}

#[test]
fn a_licence_written_as_a_plain_literal_is_a_violation() {
    let mut catalog = catalog();
    service_mut(&mut catalog, "d-2")["dct:license"] = json!("ESA-PL-permissive-2.4");
    let report = validate(&catalog, &MANDATORY_SHAPES);
    assert_only_violations_at(
        &report,
        "https://labs.example.org/datalabs/d-2",
        "dct:license",
    );
}

#[test]
fn an_endpoint_url_written_as_an_untyped_string_is_a_violation() {
    let mut catalog = catalog();
    service_mut(&mut catalog, "d-1")["dcat:endpointURL"] =
        json!("https://labs.example.org/launch/d-1");
    let report = validate(&catalog, &MANDATORY_SHAPES);
    assert_only_violations_at(
        &report,
        "https://labs.example.org/datalabs/d-1",
        "dcat:endpointURL",
    );
}

/// Why the endpoint states `rdfs:Resource`: the shapes check its class without inference.
#[test]
fn an_endpoint_iri_without_its_class_is_a_violation() {
    let mut catalog = catalog();
    service_mut(&mut catalog, "d-3")["dcat:endpointURL"] =
        json!({"@id": "https://labs.example.org/launch/d-3"});
    let report = validate(&catalog, &MANDATORY_SHAPES);
    assert_only_violations_at(
        &report,
        "https://labs.example.org/datalabs/d-3",
        "dcat:endpointURL",
    );
}

#[test]
fn a_catalog_without_publisher_is_a_violation() {
    let mut catalog = catalog();
    catalog.as_object_mut().unwrap().remove("dct:publisher");
    let report = validate(&catalog, &MANDATORY_SHAPES);
    assert_only_violations_at(&report, CATALOG, "dct:publisher");
}

on_both_backends!(the_catalog_the_service_serves_conforms_to_the_mandatory_shapes);

/// The document `GET /catalog.jsonld` answers, not only [`catalog_document`]'s: datalabs
/// published through the service, with metadata from the fixtures, read back over HTTP.
async fn the_catalog_the_service_serves_conforms_to_the_mandatory_shapes(app: service::TestApp) {
    use axum::http::{Method, StatusCode};
    let author = app.user("olga", labforge::accounts::Role::Author).await;
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/catalog");
    let mut names = Vec::new();
    for entry in fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        let metadata = parse_metadata(&text, &path.display().to_string()).unwrap();
        let name = metadata.alternate_name.clone();
        let kind = metadata.kind.unwrap_or(DatalabKind::JupyterLab);
        let (status, body) = app
            .call(
                Method::POST,
                "/api/datalabs",
                service::As::User(&author),
                Some(json!({"name": name, "kind": kind.as_str()})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let source = json!({"kind": "git", "url": "https://github.com/org/lab.git"});
        let (status, body) = app
            .call(
                Method::POST,
                &format!("/api/datalabs/{name}/versions"),
                service::As::User(&author),
                Some(json!({"version": metadata.version, "source": source})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let stored = serde_json::to_value(&metadata).unwrap();
        datalabs::set_metadata_of_named(&app.state.database, &name, &metadata.version, &stored)
            .await;
        app.state
            .datalabs
            .publish_as_operator(&name, &metadata.version)
            .await
            .unwrap();
        names.push(name);
    }
    let (status, document) = app
        .call(Method::GET, "/catalog.jsonld", service::As::Anonymous, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for name in &names {
        assert!(
            document.to_string().contains(name.as_str()),
            "{name} missing"
        );
    }
    let report = tokio::task::spawn_blocking(move || validate(&document, &MANDATORY_SHAPES))
        .await
        .unwrap();
    assert!(
        report.conforms && report.findings.is_empty(),
        "{}",
        describe(&report.findings)
    );
}
