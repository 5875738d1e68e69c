//! JSON-LD descriptions of the catalogue and its datalabs, for DCAT-AP 3.0.1 harvesters (data
//! portals) and schema.org readers (search engines).
//!
//! A datalab is one node typed both `dcat:DataService` (it serves data volumes through a launch
//! endpoint) and `schema:SoftwareApplication` (it is software with a version and requirements),
//! listed by `dcat:service` in a `dcat:Catalog`. Only the public view of its metadata is described
//! ([`crate::metadata::policy::public_view`]), whoever asks.
//!
//! Choices the DCAT-AP SHACL shapes force, since they are checked without inference and without the
//! vocabularies at hand:
//! - Each document carries its `@context` inline: reading it fetches nothing, and its meaning cannot
//!   change with a remote file.
//! - Every link is an IRI node (`@id`), never a string literal, and states the class the shapes ask
//!   for (`rdfs:Resource` for endpoints, `foaf:Document` for pages, `dct:Standard`,
//!   `dct:LicenseDocument`, `vcard:Kind`, `foaf:Agent`): a checker without inference cannot derive
//!   them.
//! - Dates are `xsd:dateTime` literals.
//! - Themes (`domain`, `mission`, `instrument`) are `skos:Concept`s with a `skos:prefLabel`, each in
//!   one concept scheme per facet that the catalogue lists as `dcat:themeTaxonomy`.
//!
//! IRIs labforge mints lie below the catalogue's [`BaseUrl`]: `catalog`, `datalabs/<id>`,
//! `volumes/<name>`, `agents/<name>`, `themes/<facet>` and `themes/<facet>/<label>`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use url::Url;

use crate::metadata::policy::public_view;
use crate::metadata::{Contact, Creator, DatalabKind, Metadata};

/// labforge's own terms, where no shared vocabulary has one (`labforge:kind`, `labforge:mountPath`).
const LABFORGE_VOCABULARY: &str = "https://w3id.org/labforge/vocabulary#";

/// The datalab metadata specification names an "ESA Datalabs ontology" (prefix `esado`) without
/// publishing its namespace; this one stands in, under labforge's, until it does.
const ESA_DATALABS_ONTOLOGY: &str = "https://w3id.org/labforge/esado#";

/// Where SPDX publishes each licence and exception, by identifier.
const SPDX_LICENCES: &str = "https://spdx.org/licenses/";

/// The catalogue itself, as its operator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogDescription {
    pub title: String,
    pub description: String,
    /// Who runs the marketplace; DCAT-AP requires a publisher on every catalogue.
    pub publisher_name: String,
    /// The publisher's website, when it has one.
    pub publisher_url: Option<Url>,
    /// The marketplace's front page.
    pub homepage: Url,
}

/// One published datalab, as the catalogue lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatalabEntry {
    /// The datalab's stable identifier; its IRI is built from it so that it survives a rename.
    pub id: String,
    pub kind: DatalabKind,
    /// Its published version's metadata. Fields the table marks private are left out whatever is
    /// passed here.
    pub metadata: Metadata,
    /// The datalab's page in the marketplace, which also says how to use its endpoint.
    pub page_url: Url,
    /// Where a launch starts.
    pub endpoint_url: Url,
    /// When it was first published in the catalogue.
    pub issued: DateTime<Utc>,
    /// When its published description last changed.
    pub modified: DateTime<Utc>,
    /// The data volumes a launch can mount; each is described as a `dcat:Dataset` it serves.
    pub volumes: Vec<ServedVolume>,
}

/// A data volume a datalab can mount at launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedVolume {
    /// Unique in the volume catalogue; the volume's IRI is built from it.
    pub name: String,
    pub description: String,
    pub mission: Option<String>,
    /// Where the data comes from, in words (an archive, a pipeline).
    pub source: String,
    /// Where a launch mounts it.
    pub mount_path: String,
}

/// The URL every IRI labforge mints starts with, checked once so that building documents cannot
/// fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(Url);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkedDataError {
    #[error(
        "the catalogue base URL {url} cannot start IRIs: it must be an http or https URL without \
         query or fragment"
    )]
    UnusableBaseUrl { url: Url },
}

impl BaseUrl {
    pub fn new(url: Url) -> Result<Self, LinkedDataError> {
        let usable = matches!(url.scheme(), "http" | "https")
            && url.query().is_none()
            && url.fragment().is_none();
        if usable {
            Ok(Self(url))
        } else {
            Err(LinkedDataError::UnusableBaseUrl { url })
        }
    }

    /// The base URL with `segments` appended, each percent-encoded as one path segment.
    fn join(&self, segments: &[&str]) -> String {
        let mut url = self.0.clone();
        url.path_segments_mut()
            .expect("http and https URLs have a path")
            .pop_if_empty()
            .extend(segments);
        url.into()
    }
}

/// One datalab as a standalone JSON-LD document (for its page and its API resource).
pub fn datalab_document(entry: &DatalabEntry, base_url: &BaseUrl) -> Value {
    let mut node = datalab_node(entry, base_url);
    node.insert("@context".to_owned(), context());
    Value::Object(node)
}

/// The whole catalogue as one JSON-LD document: the `dcat:Catalog`, its publisher and theme
/// taxonomies, and every listed datalab in full.
pub fn catalog_document(
    description: &CatalogDescription,
    entries: &[DatalabEntry],
    base_url: &BaseUrl,
) -> Value {
    let mut publisher = json!({
        "@type": "foaf:Agent",
        "foaf:name": description.publisher_name,
    });
    if let Some(website) = &description.publisher_url {
        publisher["foaf:homepage"] = document_link(website);
    }
    let taxonomies: Vec<Value> = ThemeFacet::ALL
        .iter()
        .map(|facet| {
            json!({
                "@id": facet.scheme_iri(base_url),
                "@type": "skos:ConceptScheme",
                "dct:title": facet.title(),
            })
        })
        .collect();
    let services: Vec<Value> = entries
        .iter()
        .map(|entry| Value::Object(datalab_node(entry, base_url)))
        .collect();
    let mut catalog = json!({
        "@context": context(),
        "@id": base_url.join(&["catalog"]),
        "@type": "dcat:Catalog",
        "dct:title": description.title,
        "dct:description": description.description,
        "dct:publisher": publisher,
        "foaf:homepage": document_link(&description.homepage),
        "dcat:themeTaxonomy": taxonomies,
        "dcat:service": services,
    });
    if let Some(modified) = entries.iter().map(|entry| entry.modified).max() {
        catalog["dct:modified"] = date_time(modified);
    }
    catalog
}

fn context() -> Value {
    json!({
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
        // The namespace DCAT-AP's shapes and schema.org's own RDF use.
        "schema": "http://schema.org/",
        "skos": "http://www.w3.org/2004/02/skos/core#",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "esado": ESA_DATALABS_ONTOLOGY,
        "labforge": LABFORGE_VOCABULARY,
    })
}

fn datalab_node(entry: &DatalabEntry, base_url: &BaseUrl) -> Map<String, Value> {
    let metadata = public_metadata(&entry.metadata);
    let creators: Vec<Value> = metadata
        .creator
        .iter()
        .map(|creator| agent_node(creator, base_url))
        .collect();
    // The first creator decides to publish; labforge's operator publishes the catalogue.
    let publisher = creators.first().cloned().unwrap_or(Value::Null);
    let contacts: Vec<Value> = metadata.contact_point.iter().map(contact_node).collect();
    let page = entry.page_url.as_str();
    let Value::Object(mut node) = json!({
        "@id": base_url.join(&["datalabs", &entry.id]),
        "@type": ["dcat:DataService", "schema:SoftwareApplication"],
        "dct:identifier": entry.id,
        "dct:title": metadata.title,
        "schema:name": metadata.title,
        "schema:alternateName": metadata.alternate_name,
        "dct:description": metadata.r#abstract,
        "schema:abstract": metadata.r#abstract,
        "dcat:contactPoint": contacts,
        "dct:creator": creators,
        "dct:publisher": publisher,
        "dcat:version": metadata.version,
        "schema:softwareVersion": metadata.version,
        "schema:applicationCategory": application_category(entry.kind),
        "labforge:kind": entry.kind.as_str(),
        "dcat:endpointURL": {"@id": entry.endpoint_url.as_str(), "@type": "rdfs:Resource"},
        // The datalab's page says what its endpoint serves and how to launch it.
        "dcat:endpointDescription": {"@id": page, "@type": ["rdfs:Resource", "foaf:Document"]},
        "dcat:landingPage": document_link(&entry.page_url),
        "schema:url": {"@id": page},
        "dct:conformsTo": standard_node(entry.kind),
        "dct:issued": date_time(entry.issued),
        "dct:modified": date_time(entry.modified),
    }) else {
        unreachable!("a JSON object literal")
    };
    insert_unless_empty(&mut node, "dcat:keyword", literals(&metadata.keywords));
    let themes = ThemeFacet::ALL
        .iter()
        .flat_map(|facet| {
            facet
                .labels(&metadata)
                .iter()
                .map(|label| facet.concept_node(label, base_url))
        })
        .collect();
    insert_unless_empty(&mut node, "dcat:theme", themes);
    if let Some(licence) = metadata.license.as_deref().and_then(licence_node) {
        node.insert("dct:license".to_owned(), licence);
    }
    if let Some(resources) = &metadata.minimum_resources {
        if let Some(cpu) = resources.cpu {
            node.insert(
                "schema:processorRequirements".to_owned(),
                Value::String(format!("at least {cpu} CPU")),
            );
        }
        if let Some(memory) = resources.memory_gib {
            node.insert(
                "schema:memoryRequirements".to_owned(),
                Value::String(format!("at least {memory} GiB of memory")),
            );
        }
    }
    let audiences = metadata
        .audience_type
        .iter()
        .map(|audience| json!({"@type": "schema:Audience", "schema:audienceType": audience}))
        .collect();
    insert_unless_empty(&mut node, "schema:audience", audiences);
    if let Some(citation) = &metadata.citation {
        node.insert("schema:citation".to_owned(), citation_value(citation));
    }
    insert_unless_empty(
        &mut node,
        "esado:associatedFileType",
        literals(&metadata.associated_file_type),
    );
    if let Some(official) = metadata.esa_official {
        node.insert("esado:ESAOfficial".to_owned(), Value::Bool(official));
    }
    let datasets = entry
        .volumes
        .iter()
        .map(|volume| volume_node(volume, base_url))
        .collect();
    insert_unless_empty(&mut node, "dcat:servesDataset", datasets);
    node
}

/// The metadata with what the field table marks private removed, so that nothing private reaches
/// a public document whatever a caller passes.
fn public_metadata(metadata: &Metadata) -> Metadata {
    let document = serde_json::to_value(metadata).expect("Metadata serialises to JSON");
    serde_json::from_value(public_view(&document))
        .expect("every mandatory field is public (a test of the field table checks it)")
}

fn volume_node(volume: &ServedVolume, base_url: &BaseUrl) -> Value {
    let mut node = json!({
        "@id": base_url.join(&["volumes", &volume.name]),
        "@type": "dcat:Dataset",
        "dct:title": volume.name,
        "dct:description": volume.description,
        "dct:provenance": {"@type": "dct:ProvenanceStatement", "rdfs:label": volume.source},
        "labforge:mountPath": volume.mount_path,
    });
    if let Some(mission) = &volume.mission {
        node["dcat:theme"] = ThemeFacet::Mission.concept_node(mission, base_url);
    }
    node
}

/// Organisations are named, not identified, in metadata; one IRI per name lets every datalab of
/// the same organisation point at the same node.
/// An organisation or a person: metadata does not say which, so only `foaf:Agent`, the class
/// DCAT-AP asks of creators and publishers.
fn agent_node(creator: &Creator, base_url: &BaseUrl) -> Value {
    let mut node = json!({
        "@id": base_url.join(&["agents", &creator.name]),
        "@type": "foaf:Agent",
        "foaf:name": creator.name,
        "schema:name": creator.name,
    });
    if let Some(email) = &creator.email {
        node["foaf:mbox"] = json!({"@id": format!("mailto:{email}")});
    }
    node
}

fn contact_node(contact: &Contact) -> Value {
    let mut node = json!({
        "@type": "vcard:Kind",
        "vcard:hasEmail": {"@id": format!("mailto:{}", contact.email)},
    });
    if let Some(name) = &contact.name {
        node["vcard:fn"] = json!(name);
    }
    node
}

/// The protocol a datalab's endpoint speaks, by kind.
fn standard_node(kind: DatalabKind) -> Value {
    let (iri, title) = match kind {
        DatalabKind::JupyterLab => (
            "https://jupyter-server.readthedocs.io/en/latest/developers/rest-api.html",
            "Jupyter Server REST API",
        ),
        DatalabKind::Desktop => (
            "https://www.rfc-editor.org/rfc/rfc6143",
            "The Remote Framebuffer Protocol (RFC 6143), in the browser through noVNC",
        ),
        DatalabKind::Generic => (
            "https://www.rfc-editor.org/rfc/rfc9110",
            "HTTP Semantics (RFC 9110)",
        ),
    };
    json!({"@id": iri, "@type": "dct:Standard", "dct:title": title})
}

const fn application_category(kind: DatalabKind) -> &'static str {
    match kind {
        DatalabKind::JupyterLab => "Notebook environment (JupyterLab)",
        DatalabKind::Desktop => "Remote desktop",
        DatalabKind::Generic => "Web application",
    }
}

/// A licence as DCAT-AP wants it: a node typed `dct:LicenseDocument`. A single SPDX identifier is
/// the licence's SPDX IRI. A compound expression or a `LicenseRef-` (a licence SPDX does not list)
/// has no IRI of its own: a blank node labelled with the expression, pointing at the SPDX IRIs of
/// the listed licences it names. `NONE` and `NOASSERTION` name no licence document, so there is
/// none.
fn licence_node(expression: &str) -> Option<Value> {
    let expression = expression.trim();
    if matches!(expression, "NONE" | "NOASSERTION") {
        return None;
    }
    if is_listed_identifier(expression) {
        return Some(json!({
            "@id": format!("{SPDX_LICENCES}{expression}"),
            "@type": "dct:LicenseDocument",
            "rdfs:label": expression,
        }));
    }
    let mut node = json!({"@type": "dct:LicenseDocument", "rdfs:label": expression});
    let listed: Vec<Value> = expression
        .split(|character: char| character.is_whitespace() || matches!(character, '(' | ')'))
        .map(|token| token.trim_end_matches('+'))
        .filter(|token| is_listed_identifier(token))
        .map(|identifier| json!({"@id": format!("{SPDX_LICENCES}{identifier}")}))
        .collect();
    if !listed.is_empty() {
        node["rdfs:seeAlso"] = Value::Array(listed);
    }
    Some(node)
}

/// An identifier SPDX lists (licence or exception), by its syntax: the licence list itself is the
/// licences domain's to check.
fn is_listed_identifier(token: &str) -> bool {
    let operator_or_special = ["AND", "OR", "WITH", "NONE", "NOASSERTION"]
        .iter()
        .any(|word| token.eq_ignore_ascii_case(word));
    !token.is_empty()
        && !operator_or_special
        && !token.starts_with("LicenseRef-")
        && !token.starts_with("DocumentRef-")
        && token
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '.'))
}

/// A citation that is a link, or a DOI (which is one), becomes an IRI; anything else stays text.
fn citation_value(citation: &str) -> Value {
    if let Ok(url) = Url::parse(citation)
        && matches!(url.scheme(), "http" | "https")
    {
        return json!({"@id": url.as_str()});
    }
    let doi = citation.strip_prefix("doi:").unwrap_or(citation);
    if doi.starts_with("10.") && doi.contains('/') {
        let mut url = Url::parse("https://doi.org/").expect("a valid URL");
        url.set_path(doi);
        return json!({"@id": url.as_str()});
    }
    Value::String(citation.to_owned())
}

fn document_link(url: &Url) -> Value {
    json!({"@id": url.as_str(), "@type": "foaf:Document"})
}

fn date_time(at: DateTime<Utc>) -> Value {
    json!({"@value": at.to_rfc3339_opts(SecondsFormat::Secs, true), "@type": "xsd:dateTime"})
}

fn literals(values: &[String]) -> Vec<Value> {
    values.iter().cloned().map(Value::String).collect()
}

/// Leaves out a property with no values rather than writing an empty list, which says nothing.
fn insert_unless_empty(node: &mut Map<String, Value>, property: &str, values: Vec<Value>) {
    if !values.is_empty() {
        node.insert(property.to_owned(), Value::Array(values));
    }
}

/// The metadata fields whose values are `dcat:theme`s, each with its own concept scheme.
#[derive(Debug, Clone, Copy)]
enum ThemeFacet {
    Domain,
    Mission,
    Instrument,
}

impl ThemeFacet {
    const ALL: [Self; 3] = [Self::Domain, Self::Mission, Self::Instrument];

    /// The metadata key, also the facet's IRI segment.
    const fn key(self) -> &'static str {
        match self {
            Self::Domain => "domain",
            Self::Mission => "mission",
            Self::Instrument => "instrument",
        }
    }

    const fn title(self) -> &'static str {
        match self {
            Self::Domain => "Scientific domains",
            Self::Mission => "Missions",
            Self::Instrument => "Instruments",
        }
    }

    fn labels(self, metadata: &Metadata) -> &[String] {
        match self {
            Self::Domain => &metadata.domain,
            Self::Mission => &metadata.mission,
            Self::Instrument => &metadata.instrument,
        }
    }

    fn scheme_iri(self, base_url: &BaseUrl) -> String {
        base_url.join(&["themes", self.key()])
    }

    fn concept_node(self, label: &str, base_url: &BaseUrl) -> Value {
        json!({
            "@id": base_url.join(&["themes", self.key(), label]),
            "@type": "skos:Concept",
            "skos:prefLabel": label,
            "skos:inScheme": {"@id": self.scheme_iri(base_url)},
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::TimeZone;

    use super::*;
    use crate::metadata::{
        DatalabImage, MinimumResources, ReadAccess, ServiceContract, field_table,
    };

    fn base() -> BaseUrl {
        BaseUrl::new(Url::parse("https://labs.example.org/").unwrap()).unwrap()
    }

    fn full_metadata() -> Metadata {
        Metadata {
            title: "Euclid VIS tools".to_owned(),
            alternate_name: "jl-euclid-tools".to_owned(),
            r#abstract: "Quick-look notebooks.".to_owned(),
            contact_point: vec![
                Contact {
                    name: None,
                    email: "datalabs@example.org".to_owned(),
                },
                Contact {
                    name: Some("Archive team".to_owned()),
                    email: "archive@example.org".to_owned(),
                },
            ],
            creator: vec![
                Creator {
                    name: "European Space Agency".to_owned(),
                    email: None,
                },
                Creator {
                    name: "Jane Doe".to_owned(),
                    email: Some("jane@example.org".to_owned()),
                },
            ],
            version: "1.2.3".to_owned(),
            keywords: vec!["euclid".to_owned(), "vis".to_owned()],
            associated_file_type: vec!["FITS".to_owned()],
            audience_type: vec!["researchers".to_owned()],
            citation: Some("10.5281/zenodo.1234567".to_owned()),
            domain: vec!["astronomy".to_owned()],
            mission: vec!["Euclid".to_owned()],
            instrument: vec!["VIS/NISP".to_owned()],
            license: Some("Apache-2.0".to_owned()),
            esa_official: Some(true),
            kind: Some(DatalabKind::JupyterLab),
            minimum_resources: Some(MinimumResources {
                cpu: Some(0.5),
                memory_gib: Some(4.0),
            }),
            datalab_image: Some(DatalabImage {
                keyword: vec!["private-image-tag".to_owned()],
            }),
            service: Some(ServiceContract {
                port: 8888,
                health_path: "/api/status".to_owned(),
                command: vec!["jupyter".to_owned(), "lab".to_owned()],
            }),
            application: None,
            testing: Some(crate::metadata::Testing {
                notebooks: Some(vec!["private.ipynb".to_owned()]),
            }),
        }
    }

    fn entry(volumes: Vec<ServedVolume>) -> DatalabEntry {
        DatalabEntry {
            id: "d-42".to_owned(),
            kind: DatalabKind::JupyterLab,
            metadata: full_metadata(),
            page_url: Url::parse("https://labs.example.org/marketplace/jl-euclid-tools").unwrap(),
            endpoint_url: Url::parse("https://labs.example.org/launch/d-42").unwrap(),
            issued: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap(),
            modified: Utc.with_ymd_and_hms(2025, 6, 7, 8, 9, 10).unwrap(),
            volumes,
        }
    }

    fn volume() -> ServedVolume {
        ServedVolume {
            name: "euclid-q1".to_owned(),
            description: "Euclid Quick Release 1".to_owned(),
            mission: Some("Euclid".to_owned()),
            source: "ESA Euclid Science Archive".to_owned(),
            mount_path: "/data/euclid-q1".to_owned(),
        }
    }

    /// Every key used anywhere in a JSON document.
    fn keys(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(members) => {
                for (key, member) in members {
                    found.insert(key.clone());
                    keys(member, found);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| keys(item, found)),
            _ => {}
        }
    }

    #[test]
    fn a_datalab_is_a_data_service_and_a_software_application_with_typed_links() {
        let document = datalab_document(&entry(vec![volume()]), &base());
        assert_eq!(document["@id"], "https://labs.example.org/datalabs/d-42");
        assert_eq!(
            document["@type"],
            json!(["dcat:DataService", "schema:SoftwareApplication"])
        );
        assert_eq!(document["dct:title"], "Euclid VIS tools");
        assert_eq!(document["schema:name"], "Euclid VIS tools");
        assert_eq!(
            document["dcat:endpointURL"],
            json!({"@id": "https://labs.example.org/launch/d-42", "@type": "rdfs:Resource"})
        );
        assert_eq!(
            document["dcat:endpointDescription"]["@id"],
            "https://labs.example.org/marketplace/jl-euclid-tools"
        );
        assert_eq!(
            document["dcat:contactPoint"],
            json!([
                {"@type": "vcard:Kind", "vcard:hasEmail": {"@id": "mailto:datalabs@example.org"}},
                {
                    "@type": "vcard:Kind",
                    "vcard:hasEmail": {"@id": "mailto:archive@example.org"},
                    "vcard:fn": "Archive team"
                }
            ])
        );
        assert_eq!(
            document["dct:license"],
            json!({
                "@id": "https://spdx.org/licenses/Apache-2.0",
                "@type": "dct:LicenseDocument",
                "rdfs:label": "Apache-2.0"
            })
        );
        assert_eq!(
            document["dct:issued"],
            json!({"@value": "2025-01-02T03:04:05Z", "@type": "xsd:dateTime"})
        );
        assert_eq!(document["dct:conformsTo"]["@type"], "dct:Standard");
        assert_eq!(
            document["dct:creator"][0]["@id"],
            "https://labs.example.org/agents/European%20Space%20Agency"
        );
        assert_eq!(
            document["dct:creator"][1]["foaf:mbox"],
            json!({"@id": "mailto:jane@example.org"})
        );
        assert_eq!(document["dct:publisher"], document["dct:creator"][0]);
        assert_eq!(document["schema:softwareVersion"], "1.2.3");
        assert_eq!(document["schema:processorRequirements"], "at least 0.5 CPU");
        assert_eq!(
            document["schema:memoryRequirements"],
            "at least 4 GiB of memory"
        );
        assert_eq!(document["esado:ESAOfficial"], true);
        assert_eq!(
            document["schema:citation"],
            json!({"@id": "https://doi.org/10.5281/zenodo.1234567"})
        );
    }

    #[test]
    fn themes_are_concepts_in_one_scheme_per_facet() {
        let document = datalab_document(&entry(Vec::new()), &base());
        assert_eq!(
            document["dcat:theme"],
            json!([
                {
                    "@id": "https://labs.example.org/themes/domain/astronomy",
                    "@type": "skos:Concept",
                    "skos:prefLabel": "astronomy",
                    "skos:inScheme": {"@id": "https://labs.example.org/themes/domain"}
                },
                {
                    "@id": "https://labs.example.org/themes/mission/Euclid",
                    "@type": "skos:Concept",
                    "skos:prefLabel": "Euclid",
                    "skos:inScheme": {"@id": "https://labs.example.org/themes/mission"}
                },
                {
                    "@id": "https://labs.example.org/themes/instrument/VIS%2FNISP",
                    "@type": "skos:Concept",
                    "skos:prefLabel": "VIS/NISP",
                    "skos:inScheme": {"@id": "https://labs.example.org/themes/instrument"}
                }
            ])
        );
    }

    #[test]
    fn volumes_are_served_datasets_and_none_means_no_property() {
        let document = datalab_document(&entry(vec![volume()]), &base());
        assert_eq!(
            document["dcat:servesDataset"],
            json!([{
                "@id": "https://labs.example.org/volumes/euclid-q1",
                "@type": "dcat:Dataset",
                "dct:title": "euclid-q1",
                "dct:description": "Euclid Quick Release 1",
                "dct:provenance": {
                    "@type": "dct:ProvenanceStatement",
                    "rdfs:label": "ESA Euclid Science Archive"
                },
                "labforge:mountPath": "/data/euclid-q1",
                "dcat:theme": {
                    "@id": "https://labs.example.org/themes/mission/Euclid",
                    "@type": "skos:Concept",
                    "skos:prefLabel": "Euclid",
                    "skos:inScheme": {"@id": "https://labs.example.org/themes/mission"}
                }
            }])
        );
        let without = datalab_document(&entry(Vec::new()), &base());
        assert!(without.get("dcat:servesDataset").is_none());
    }

    #[test]
    fn the_context_is_inline_and_names_every_prefix_used() {
        let document = datalab_document(&entry(vec![volume()]), &base());
        let context = document["@context"].as_object().expect("an inline object");
        assert!(context.values().all(|namespace| {
            namespace
                .as_str()
                .is_some_and(|iri| iri.ends_with(['#', '/']))
        }));
        assert_eq!(context["schema"], "http://schema.org/");
        let mut used = BTreeSet::new();
        keys(&document, &mut used);
        for key in used.iter().filter(|key| !key.starts_with('@')) {
            let prefix = key.split(':').next().unwrap();
            assert!(context.contains_key(prefix), "{key}: no prefix {prefix}");
        }
    }

    #[test]
    fn every_public_field_appears_under_its_terms_and_no_private_value_does() {
        let document = datalab_document(&entry(Vec::new()), &base());
        let mut used = BTreeSet::new();
        keys(&document, &mut used);
        let described = field_table().iter().filter(|field| {
            field.read == ReadAccess::Public
                && field.value_type != "mapping"
                // The service contract and a desktop's application tell the image how to start;
                // they describe nothing a catalogue reader chooses by.
                && !field.key.starts_with("service.")
                && !field.key.starts_with("application.")
        });
        for field in described {
            for term in std::iter::once(&field.term).chain(&field.also_term) {
                assert!(
                    used.contains(term),
                    "{} is not written as {term}",
                    field.key
                );
            }
        }
        let text = document.to_string();
        assert!(!text.contains("private-image-tag"), "{text}");
    }

    #[test]
    fn licences_are_licence_documents_whatever_the_expression() {
        assert_eq!(
            licence_node("ESA-PL-weak-copyleft-2.4").unwrap()["@id"],
            "https://spdx.org/licenses/ESA-PL-weak-copyleft-2.4"
        );
        assert_eq!(
            licence_node("(MIT OR Apache-2.0) AND GPL-2.0-or-later WITH Classpath-exception-2.0"),
            Some(json!({
                "@type": "dct:LicenseDocument",
                "rdfs:label": "(MIT OR Apache-2.0) AND GPL-2.0-or-later WITH \
                               Classpath-exception-2.0",
                "rdfs:seeAlso": [
                    {"@id": "https://spdx.org/licenses/MIT"},
                    {"@id": "https://spdx.org/licenses/Apache-2.0"},
                    {"@id": "https://spdx.org/licenses/GPL-2.0-or-later"},
                    {"@id": "https://spdx.org/licenses/Classpath-exception-2.0"}
                ]
            }))
        );
        assert_eq!(
            licence_node("LicenseRef-ESA-CL-strong-copyleft-2.4"),
            Some(json!({
                "@type": "dct:LicenseDocument",
                "rdfs:label": "LicenseRef-ESA-CL-strong-copyleft-2.4"
            }))
        );
        assert_eq!(
            licence_node("GPL-2.0+").unwrap()["rdfs:seeAlso"],
            json!([{"@id": "https://spdx.org/licenses/GPL-2.0"}])
        );
        assert_eq!(licence_node("NOASSERTION"), None);
        assert_eq!(licence_node("NONE"), None);
    }

    #[test]
    fn citations_that_are_links_or_dois_become_iris() {
        assert_eq!(
            citation_value("https://example.org/paper"),
            json!({"@id": "https://example.org/paper"})
        );
        assert_eq!(
            citation_value("doi:10.1000/a b"),
            json!({"@id": "https://doi.org/10.1000/a%20b"})
        );
        assert_eq!(
            citation_value("Doe et al. 2024, A&A 1, 2"),
            json!("Doe et al. 2024, A&A 1, 2")
        );
    }

    #[test]
    fn the_catalog_has_a_publisher_homepage_taxonomies_and_its_datalabs() {
        let description = CatalogDescription {
            title: "Datalabs".to_owned(),
            description: "Analysis environments next to the data.".to_owned(),
            publisher_name: "ESAC Science Data Centre".to_owned(),
            publisher_url: Some(Url::parse("https://www.cosmos.esa.int/web/esdc").unwrap()),
            homepage: Url::parse("https://labs.example.org/marketplace").unwrap(),
        };
        let mut later = entry(Vec::new());
        later.id = "d-43".to_owned();
        later.modified = Utc.with_ymd_and_hms(2025, 9, 1, 0, 0, 0).unwrap();
        let document = catalog_document(&description, &[entry(Vec::new()), later], &base());
        assert_eq!(document["@type"], "dcat:Catalog");
        assert_eq!(document["@id"], "https://labs.example.org/catalog");
        assert_eq!(
            document["dct:publisher"],
            json!({
                "@type": "foaf:Agent",
                "foaf:name": "ESAC Science Data Centre",
                "foaf:homepage": {
                    "@id": "https://www.cosmos.esa.int/web/esdc",
                    "@type": "foaf:Document"
                }
            })
        );
        assert_eq!(
            document["foaf:homepage"],
            json!({"@id": "https://labs.example.org/marketplace", "@type": "foaf:Document"})
        );
        assert_eq!(document["dcat:themeTaxonomy"].as_array().unwrap().len(), 3);
        let services = document["dcat:service"].as_array().unwrap();
        assert_eq!(services.len(), 2);
        assert!(
            services
                .iter()
                .all(|service| service.get("@context").is_none())
        );
        assert_eq!(
            document["dct:modified"],
            json!({"@value": "2025-09-01T00:00:00Z", "@type": "xsd:dateTime"})
        );
        let empty = catalog_document(&description, &[], &base());
        assert!(empty.get("dct:modified").is_none());
    }

    #[test]
    fn the_base_url_must_be_able_to_start_iris() {
        let with_path = BaseUrl::new(Url::parse("https://example.org/labforge").unwrap()).unwrap();
        assert_eq!(
            with_path.join(&["datalabs", "a b"]),
            "https://example.org/labforge/datalabs/a%20b"
        );
        for unusable in ["mailto:someone@example.org", "https://example.org/?q=1"] {
            let url = Url::parse(unusable).unwrap();
            assert_eq!(
                BaseUrl::new(url.clone()),
                Err(LinkedDataError::UnusableBaseUrl { url })
            );
        }
    }
}
