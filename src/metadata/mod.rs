//! Datalab metadata: `metadata.yaml` parsed with positions, validated against the JSON Schema in
//! `metadata-schema/`, and turned into a typed [`Metadata`].
//!
//! The flow is [`yaml`] (strict YAML to JSON with positions) -> [`authoring`] (the forms authors
//! write rewritten to the schema's, with notes) -> [`validation`] (every schema error as a
//! plain-words problem, and licences that are not SPDX expressions) -> serde into [`Metadata`]. The schema, not the Rust types, is the
//! contract for what an author may write; the types only carry what passed it. [`policy`] applies
//! the field table's read and write columns to stored metadata.

mod authoring;
pub mod error;
pub mod fields;
mod people;
pub mod policy;
mod validation;
pub mod yaml;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use authoring::MetadataNote;
pub use error::{MetadataError, MetadataProblem, Position};
pub use fields::{FieldDefinition, Obligation, ReadAccess, WriteAccess, field_table};
pub use people::{Contact, Creator};

/// Larger files are refused before parsing; real metadata is a few KiB.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

/// The validated content of `metadata.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub title: String,
    /// The datalab slug, used in image names and URLs.
    pub alternate_name: String,
    pub r#abstract: String,
    /// Who to write to about the datalab; at least one.
    #[serde(deserialize_with = "people::contacts")]
    pub contact_point: Vec<Contact>,
    /// The organisations or people credited with the datalab; at least one, the first is the
    /// publisher in the catalogue.
    #[serde(deserialize_with = "people::creators")]
    pub creator: Vec<Creator>,
    /// Semantic version; builds are numbered within it.
    pub version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associated_file_type: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audience_type: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citation: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domain: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mission: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instrument: Vec<String>,
    /// SPDX expression of current ids (checked when read); which licences allow which
    /// visibility is the publishing domain's decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Only a moderator may change it; the publishing domain enforces that.
    #[serde(
        rename = "ESAOfficial",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub esa_official: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DatalabKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_resources: Option<MinimumResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datalab_image: Option<DatalabImage>,
    /// Present when `kind` is `generic` (the schema requires it then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceContract>,
    /// The program a desktop datalab opens (the schema allows it only with `kind: desktop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<DesktopApplication>,
    /// How the checks before review test a JupyterLab datalab (the schema allows it only with
    /// `kind: jupyterlab`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testing: Option<Testing>,
}

/// What the checks before review run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Testing {
    /// The notebooks executed in the built image, relative to the top of the content; without the
    /// list, every notebook outside hidden folders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notebooks: Option<Vec<String>>,
}

/// Which base a datalab builds on and how it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatalabKind {
    /// On `jl_base`: a notebook server on port 8888.
    JupyterLab,
    /// On `x_base`, a remote desktop in the browser.
    Desktop,
    /// On `datalab_base`, any web tool described by a [`ServiceContract`].
    Generic,
}

impl DatalabKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::JupyterLab => "jupyterlab",
            Self::Desktop => "desktop",
            Self::Generic => "generic",
        }
    }
}

impl fmt::Display for DatalabKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown datalab kind \"{0}\"; expected jupyterlab, desktop or generic")]
pub struct UnknownDatalabKind(pub String);

impl FromStr for DatalabKind {
    type Err = UnknownDatalabKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "jupyterlab" => Ok(Self::JupyterLab),
            "desktop" => Ok(Self::Desktop),
            "generic" => Ok(Self::Generic),
            other => Err(UnknownDatalabKind(other.to_owned())),
        }
    }
}

/// The least a launch must request.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MinimumResources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    #[serde(rename = "memoryGiB", default, skip_serializing_if = "Option::is_none")]
    pub memory_gib: Option<f64>,
}

/// Image details an author may set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatalabImage {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keyword: Vec<String>,
}

/// Entrypoint contract of a generic datalab: the command to run and where it answers, so the smoke
/// test and the launcher know what to wait for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceContract {
    pub port: u16,
    /// Starts with `/`.
    pub health_path: String,
    pub command: Vec<String>,
}

/// The application of a desktop datalab: `x_base` starts it with the desktop and again from the
/// desktop's menu or launcher, and the smoke test waits for its window.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DesktopApplication {
    /// Display name: the label of its menu entry and launcher.
    pub name: String,
    /// The program and its arguments, run word by word without a shell.
    pub command: Vec<String>,
    /// Text in its main window's title, when that is not the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maximised: bool,
}

impl DesktopApplication {
    /// What the title of the application's main window contains.
    pub fn window_title(&self) -> &str {
        self.window.as_deref().unwrap_or(&self.name)
    }
}

/// Parses and validates `metadata.yaml`, for callers with no one to tell how it was read.
pub fn parse_metadata(text: &str, file_name: &str) -> Result<Metadata, MetadataError> {
    read_metadata(text, file_name).map(|read| read.metadata)
}

/// `metadata.yaml` as validated, and the values read differently from how they were written.
#[derive(Debug, Clone)]
pub struct ReadMetadata {
    pub metadata: Metadata,
    /// In document order.
    pub notes: Vec<MetadataNote>,
}

/// Parses and validates `metadata.yaml`. `file_name` is only used in messages. On failure every
/// problem found is returned, each with its line and column.
pub fn read_metadata(text: &str, file_name: &str) -> Result<ReadMetadata, MetadataError> {
    if text.len() > MAX_METADATA_BYTES {
        return Err(MetadataError::TooLarge {
            file: file_name.to_owned(),
            size: text.len(),
            limit: MAX_METADATA_BYTES,
        });
    }
    let invalid = |problems| MetadataError::Invalid {
        file: file_name.to_owned(),
        problems,
    };
    let mut document = yaml::load(text).map_err(invalid)?;
    let notes = authoring::normalise(&mut document, text);
    let mut problems = validation::validate(&document);
    problems.extend(authoring::license_problem(&document));
    if !problems.is_empty() {
        problems.sort_by_key(|problem| problem.position);
        return Err(invalid(problems));
    }
    let metadata = serde_json::from_value(document.value).map_err(|error| {
        invalid(vec![MetadataProblem {
            field: None,
            position: Position { line: 1, column: 1 },
            message: format!("the metadata passed the schema but could not be read: {error}"),
        }])
    })?;
    Ok(ReadMetadata { metadata, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/metadata/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    fn problems_of(text: &str) -> Vec<String> {
        parse_metadata(text, "metadata.yaml")
            .expect_err("expected the metadata to be refused")
            .problems()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn problems(name: &str) -> Vec<String> {
        parse_metadata(&fixture(name), name)
            .expect_err("expected the metadata to be refused")
            .problems()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn reads_a_full_valid_file() {
        let metadata = parse_metadata(&fixture("valid-full.yaml"), "metadata.yaml").unwrap();
        assert_eq!(metadata.title, "Euclid VIS tools");
        assert_eq!(metadata.alternate_name, "jl-euclid-tools");
        assert_eq!(
            metadata.r#abstract,
            "JupyterLab with astropy and the Euclid VIS quick-look notebooks.\n"
        );
        assert_eq!(metadata.version, "1.2.3-rc.1");
        assert_eq!(metadata.keywords, ["euclid", "vis", "quick-look"]);
        assert_eq!(metadata.associated_file_type, ["FITS", "VOTable"]);
        assert_eq!(metadata.citation.as_deref(), Some("10.5281/zenodo.1234567"));
        assert_eq!(metadata.license.as_deref(), Some("Apache-2.0"));
        assert_eq!(metadata.esa_official, Some(false));
        assert_eq!(metadata.kind, Some(DatalabKind::Generic));
        assert_eq!(
            metadata.minimum_resources,
            Some(MinimumResources {
                cpu: Some(0.5),
                memory_gib: Some(4.0)
            })
        );
        assert_eq!(metadata.datalab_image.unwrap().keyword, ["latest"]);
        assert_eq!(
            metadata.service,
            Some(ServiceContract {
                port: 8080,
                health_path: "/health".to_owned(),
                command: vec!["python".into(), "-m".into(), "quicklook".into()],
            })
        );
    }

    #[test]
    fn reads_a_minimal_file_and_serialises_back_to_the_same_keys() {
        let metadata = parse_metadata(&fixture("valid-minimal.yaml"), "metadata.yaml").unwrap();
        assert_eq!(metadata.kind, None);
        assert!(metadata.keywords.is_empty());
        let json = serde_json::to_value(&metadata).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "abstract",
                "alternateName",
                "contactPoint",
                "creator",
                "title",
                "version"
            ]
        );
    }

    #[test]
    fn contacts_and_creators_are_read_as_authors_write_them() {
        let read = read_metadata(
            "title: T\nalternateName: jl-t\nabstract: A\nversion: 1.0.0\n\
             contactPoint:\n  - Jane Doe <jane@example.org>\n  - archive@example.org\n\
             creator: European Space Agency\n",
            "metadata.yaml",
        )
        .unwrap();
        assert_eq!(
            read.metadata.contact_point,
            [
                Contact {
                    name: Some("Jane Doe".to_owned()),
                    email: "jane@example.org".to_owned()
                },
                Contact {
                    name: None,
                    email: "archive@example.org".to_owned()
                }
            ]
        );
        assert_eq!(
            read.metadata.creator,
            [Creator {
                name: "European Space Agency".to_owned(),
                email: None
            }]
        );
    }

    #[test]
    fn a_wrong_contact_in_a_list_is_named_by_its_place_and_line() {
        let error = read_metadata(
            "title: T\nalternateName: jl-t\nabstract: A\nversion: 1.0.0\n\
             contactPoint:\n  - jane@example.org\n  - Jane Doe\n\
             creator:\n  - {name: ESA, phone: 123}\n  - []\n",
            "metadata.yaml",
        )
        .unwrap_err();
        let found: Vec<String> = error.problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "`contactPoint[1].email` at line 7, column 5: expected an email address like \
                 someone@example.org (or write the entry as Jane Doe <someone@example.org>), \
                 found \"Jane Doe\"",
                "`creator[0].phone` at line 9, column 17: unknown field; the fields allowed here \
                 are email, name",
                "`creator[1]` at line 10, column 5: expected a name, Name <email>, or a mapping \
                 with name and email, found a list",
            ]
        );
    }

    #[test]
    fn refuses_the_alias_bomb_at_its_first_anchor() {
        let found = problems("alias-bomb.yaml");
        assert_eq!(
            found,
            [
                "line 2, column 4: metadata.yaml may not use anchors (&) or aliases (*); write each \
              value out in full"
            ]
        );
    }

    #[test]
    fn reports_every_wrong_value_with_field_position_and_expectation() {
        let found = problems("invalid-values.yaml");
        let expected = [
            "`alternateName` at line 2, column 16: expected a slug of 2 to 63 lowercase letters, \
             digits and hyphens, starting with a letter or digit, like jl-euclid-tools, found \
             \"Bad_Name\"",
            "`contactPoint[0].email` at line 4, column 15: expected an email address like \
             someone@example.org (or write the entry as Jane Doe <someone@example.org>), found \
             \"not-an-email\"",
            "`version` at line 6, column 10: expected a semantic version like 1.2.3 or 1.2.3-rc.1 \
             (quote it if YAML reads it as a number), found \"v1\"",
            "`keywords` at line 7, column 11: expected a list of text values, like [a, b], found \
             42",
            "`kind` at line 8, column 7: expected one of jupyterlab, desktop, generic, found \
             \"notebook\"",
            "`minimumResources.cpu` at line 10, column 8: expected a number of CPUs greater than \
             0, like 2 or 0.5, found 0",
            "`minimumResources.memoryGib` at line 11, column 3: unknown field (did you mean \
             `memoryGiB`?); the fields allowed here are cpu, memoryGiB",
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn points_missing_mandatory_fields_at_the_parent_mapping() {
        let found = problems("missing-mandatory.yaml");
        for field in ["alternateName", "abstract", "contactPoint", "creator"] {
            let line = format!("`{field}` at line 1, column 1: missing; this field is mandatory");
            assert!(found.contains(&line), "{line} not in {found:#?}");
        }
        assert!(
            found.contains(
                &"`service` at line 1, column 1: missing; it is required when `kind` is generic \
                  (the service contract says what to run and where it answers)"
                    .to_owned()
            ),
            "{found:#?}"
        );
        assert_eq!(found.len(), 5);
    }

    #[test]
    fn checks_the_service_contract() {
        let found = problems("invalid-service.yaml");
        assert_eq!(
            found,
            [
                "`service.port` at line 9, column 9: expected a TCP port number from 1 to 65535, \
                 found 70000",
                "`service.healthPath` at line 10, column 15: expected a URL path starting with /, \
                 like /health, found \"health\"",
                "`service.command` at line 11, column 12: expected a non-empty list of command \
                 words, like [\"python\", \"-m\", \"app\"], found a list",
            ]
        );
    }

    #[test]
    fn reads_the_application_of_a_desktop_datalab() {
        let text = fixture("valid-minimal.yaml")
            + "kind: desktop\napplication:\n  name: SAOImage DS9\n  command: [ds9, -zoom, to fit, \
               m31.fits]\n  window: SAOImage ds9\n  maximised: true\n";
        let metadata = parse_metadata(&text, "metadata.yaml").unwrap();
        let application = metadata.application.unwrap();
        assert_eq!(application.name, "SAOImage DS9");
        assert_eq!(application.command, ["ds9", "-zoom", "to fit", "m31.fits"]);
        assert_eq!(application.window_title(), "SAOImage ds9");
        assert!(application.maximised);

        let text = fixture("valid-minimal.yaml")
            + "kind: desktop\napplication:\n  name: TOPCAT\n  command: [topcat]\n";
        let application = parse_metadata(&text, "metadata.yaml")
            .unwrap()
            .application
            .unwrap();
        assert_eq!(application.window_title(), "TOPCAT");
        assert!(!application.maximised);
    }

    #[test]
    fn an_application_is_refused_outside_a_desktop_datalab() {
        let base = fixture("valid-minimal.yaml");
        let line = base.lines().count() + 1;
        let application = "application:\n  name: TOPCAT\n  command: [topcat]\n";
        let found = problems_of(&format!("{base}kind: jupyterlab\n{application}"));
        assert_eq!(
            found,
            [format!(
                "`kind` at line {line}, column 7: `application` names the program of a desktop \
                 datalab, so `kind` must be desktop (found \"jupyterlab\"); set `kind: desktop` \
                 or remove `application`"
            )]
        );
        let found = problems_of(&format!("{base}{application}"));
        assert_eq!(
            found,
            [format!(
                "`kind` at line {line}, column 1: `application` names the program of a desktop \
                 datalab, so `kind` must be desktop (found no kind); set `kind: desktop` or \
                 remove `application`"
            )]
        );
    }

    #[test]
    fn checks_the_application_fields() {
        let base = fixture("valid-minimal.yaml") + "kind: desktop\n";
        let line = base.lines().count() + 1;
        let found = problems_of(&format!(
            "{base}application:\n  name: \"two\\nlines\"\n  command: ds9 -zoom 2 m31.fits\n  \
             maximised: yes please\n  windowTitle: DS9\n"
        ));
        let expected = [
            format!(
                "`application.name` at line {}, column 9: expected a display name of 1 to 80 \
                 characters on one line, like SAOImage DS9, found \"two\\nlines\"",
                line + 1
            ),
            format!(
                "`application.command` at line {}, column 12: expected a non-empty list of \
                 command words, like [ds9, /home/datalab/x-ds9/m31.fits] (no shell runs it, so \
                 write one item per word), found \"ds9 -zoom 2 m31.fits\"",
                line + 2
            ),
            format!(
                "`application.maximised` at line {}, column 14: expected true or false, found \
                 \"yes please\"",
                line + 3
            ),
            format!(
                "`application.windowTitle` at line {}, column 3: unknown field; the fields \
                 allowed here are command, maximised, name, window",
                line + 4
            ),
        ];
        assert_eq!(found, expected);

        let found = problems_of(&format!("{base}application:\n  command: []\n"));
        assert_eq!(
            found,
            [
                format!(
                    "`application.name` at line {}, column 3: missing; this field is mandatory",
                    line + 1
                ),
                format!(
                    "`application.command` at line {}, column 12: expected a non-empty list of \
                     command words, like [ds9, /home/datalab/x-ds9/m31.fits] (no shell runs it, \
                     so write one item per word), found a list",
                    line + 1
                ),
            ]
        );
    }

    #[test]
    fn names_both_lines_of_a_duplicate_key() {
        let found = problems("duplicate-key.yaml");
        assert_eq!(
            found,
            [
                "line 7, column 1: duplicate key `title` at line 7 (first given at line 1); keep \
              only one"
            ]
        );
    }

    #[test]
    fn error_display_prefixes_each_problem_with_file_line_and_column() {
        let error = parse_metadata("title: x\nversion: v1\n", "lab/metadata.yaml").unwrap_err();
        let text = error.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 1, "{text}");
        assert!(
            lines
                .iter()
                .all(|line| line.starts_with("lab/metadata.yaml:")),
            "{text}"
        );
        assert!(
            text.contains("lab/metadata.yaml:2:10: `version`: expected a semantic version"),
            "{text}"
        );
    }

    #[test]
    fn refuses_files_over_the_size_limit_before_parsing() {
        let text = format!(
            "title: x\nabstract: \"{}\"\n",
            "a".repeat(MAX_METADATA_BYTES)
        );
        let error = parse_metadata(&text, "metadata.yaml").unwrap_err();
        assert!(matches!(error, MetadataError::TooLarge { .. }));
        assert!(
            error.to_string().contains("at most 262144 bytes"),
            "{error}"
        );
    }

    #[test]
    fn a_number_where_text_is_expected_is_refused_with_a_hint() {
        // `1.0` is read as 1.0.0 (see the next test); a number that is no short version is not.
        let text = fixture("valid-minimal.yaml").replace("version: 0.0.1", "version: 1.5e3");
        let error = parse_metadata(&text, "metadata.yaml").unwrap_err();
        assert!(
            error.to_string().contains(
                "`version`: expected a semantic version like 1.2.3 or 1.2.3-rc.1 (quote it if \
                 YAML reads it as a number), found 1500.0"
            ),
            "{error}"
        );
    }

    #[test]
    fn metadata_as_authors_write_it_is_read_with_notes_and_wrong_licences_are_refused() {
        let text = fixture("valid-minimal.yaml").replace("version: 0.0.1", "version: 1.0")
            + "keywords: FITS\naudienceType: researchers\nkind: JupyterLab\n";
        let read = read_metadata(&text, "metadata.yaml").unwrap();
        assert_eq!(read.metadata.version, "1.0.0");
        assert_eq!(read.metadata.keywords, ["FITS"]);
        assert_eq!(read.metadata.audience_type, ["researchers"]);
        assert_eq!(read.metadata.kind, Some(DatalabKind::JupyterLab));
        assert_eq!(read.notes.len(), 1);
        assert_eq!(read.notes[0].field, "version");

        let text = fixture("valid-minimal.yaml") + "license: BSD 3-Clause\n";
        let line = text.lines().count();
        let error = read_metadata(&text, "metadata.yaml").unwrap_err();
        assert!(
            error.to_string().starts_with(&format!(
                "metadata.yaml:{line}:10: `license`: `BSD 3-Clause` is not an SPDX licence \
                 expression"
            )),
            "{error}"
        );
        assert!(
            error.to_string().contains("did you mean `BSD-3-Clause`?"),
            "{error}"
        );
    }

    #[test]
    fn a_document_that_is_not_a_mapping_is_refused() {
        let error = parse_metadata("- a\n- b\n", "metadata.yaml").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("metadata.yaml:1:1: expected a mapping of metadata fields"),
            "{error}"
        );
    }

    #[test]
    fn kind_round_trips_through_text() {
        for kind in [
            DatalabKind::JupyterLab,
            DatalabKind::Desktop,
            DatalabKind::Generic,
        ] {
            assert_eq!(kind.to_string().parse::<DatalabKind>(), Ok(kind));
        }
        assert_eq!(
            "notebook".parse::<DatalabKind>().unwrap_err().to_string(),
            "unknown datalab kind \"notebook\"; expected jupyterlab, desktop or generic"
        );
    }
}
