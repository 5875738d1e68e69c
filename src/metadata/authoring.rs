//! Metadata as authors write it. Between reading the YAML and checking the schema, the forms that
//! say the same thing as the schema in other words are rewritten to the schema's form, and a
//! rewrite that changes what was written is reported as a [`MetadataNote`]:
//!
//! - one text where a list is expected (`keywords: FITS`) is a list of that one text;
//! - `contactPoint` and `creator` entries written as `Name <email>` are a name and an address
//!   ([`people`]);
//! - `kind` is read without regard to case (`JupyterLab`);
//! - a `version` of one or two numbers (`1`, `1.0`, which YAML reads as a number) is padded to
//!   `MAJOR.MINOR.PATCH` from the text as written (`1.10` is `1.10.0`, not `1.1.0`), with a note.
//!
//! After the schema, values that have the right shape but mean nothing are refused: a `license`
//! must be an SPDX expression the licence engine accepts ([`license_problem`]), and the problem
//! names the id that was probably meant.

use serde_json::Value;

use super::error::{MetadataProblem, Position};
use super::people;
use super::yaml::LocatedDocument;
use crate::licences::LicenceExpression;

/// Fields whose value is a list of texts, as JSON pointers.
const LIST_FIELDS: [&str; 7] = [
    "/keywords",
    "/associatedFileType",
    "/audienceType",
    "/domain",
    "/mission",
    "/instrument",
    "/datalabImage/keyword",
];

const KINDS: [&str; 3] = ["jupyterlab", "desktop", "generic"];

/// A value of `metadata.yaml` read differently from how it was written, so the author can write
/// it as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataNote {
    pub field: String,
    pub position: Position,
    pub message: String,
}

/// Rewrites `document` into the schema's forms; `text` is the file as written, for the numbers
/// YAML has already turned into floating-point values.
pub(super) fn normalise(document: &mut LocatedDocument, text: &str) -> Vec<MetadataNote> {
    let mut notes = Vec::new();
    people::normalise(document);
    for pointer in LIST_FIELDS {
        if let Some(value) = document.value.pointer_mut(pointer)
            && value.is_string()
        {
            *value = Value::Array(vec![value.take()]);
            let position = document.position_of(pointer);
            document
                .value_positions
                .insert(format!("{pointer}/0"), position);
        }
    }
    if let Some(Value::String(kind)) = document.value.pointer_mut("/kind") {
        let lowercase = kind.to_lowercase();
        if KINDS.contains(&lowercase.as_str()) {
            *kind = lowercase;
        }
    }
    let version_position = document.position_of("/version");
    if let Some(version) = document.value.pointer_mut("/version") {
        let written = match version {
            Value::String(written) => Some(written.clone()),
            Value::Number(_) => scalar_text(text, version_position),
            _ => None,
        };
        if let Some(padded) = written.as_deref().and_then(pad_version) {
            notes.push(MetadataNote {
                field: "version".to_owned(),
                position: version_position,
                message: format!(
                    "read `{}` as `{padded}`; write `version: {padded}` to say so",
                    written.unwrap_or_default()
                ),
            });
            *version = Value::String(padded);
        }
    }
    notes
}

/// `MAJOR` or `MAJOR.MINOR` (numbers without leading zeros) padded with `.0` to three numbers;
/// `None` for anything else, which the schema judges.
fn pad_version(written: &str) -> Option<String> {
    let parts: Vec<&str> = written.split('.').collect();
    let numbers = parts.iter().all(|part| {
        !part.is_empty()
            && part.chars().all(|character| character.is_ascii_digit())
            && (*part == "0" || !part.starts_with('0'))
    });
    if !numbers || parts.len() > 2 {
        return None;
    }
    let mut padded = parts.join(".");
    for _ in parts.len()..3 {
        padded.push_str(".0");
    }
    Some(padded)
}

/// The plain scalar written at `position`: up to a comment, a flow separator or the line's end.
fn scalar_text(text: &str, position: Position) -> Option<String> {
    let line = text.lines().nth(position.line.checked_sub(1)?)?;
    let start: String = line.chars().skip(position.column.checked_sub(1)?).collect();
    let end = start
        .find([',', ']', '}'])
        .into_iter()
        .chain(start.find(" #"))
        .min()
        .unwrap_or(start.len());
    let scalar = start[..end].trim();
    (!scalar.is_empty()).then(|| scalar.to_owned())
}

/// The problem with `license`, when it is text the licence engine does not accept as an SPDX
/// expression (unknown or deprecated ids, bad syntax, beyond its limits): its message names the
/// id that was probably meant.
pub(super) fn license_problem(document: &LocatedDocument) -> Option<MetadataProblem> {
    let Some(Value::String(license)) = document.value.get("license") else {
        return None;
    };
    let error = LicenceExpression::parse(license).err()?;
    Some(MetadataProblem {
        field: Some("license".to_owned()),
        position: document.position_of("/license"),
        message: format!("`{license}` is not an SPDX licence expression labforge accepts: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::yaml;

    fn normalised(text: &str) -> (Value, Vec<MetadataNote>) {
        let mut document = yaml::load(text).unwrap();
        let notes = normalise(&mut document, text);
        (document.value, notes)
    }

    #[test]
    fn one_text_where_a_list_is_expected_is_a_list_of_one() {
        let (value, notes) = normalised(
            "keywords: FITS\naudienceType: researchers\nmission: [Euclid]\n\
             datalabImage:\n  keyword: latest\n",
        );
        assert_eq!(value["keywords"], serde_json::json!(["FITS"]));
        assert_eq!(value["audienceType"], serde_json::json!(["researchers"]));
        assert_eq!(value["mission"], serde_json::json!(["Euclid"]));
        assert_eq!(
            value["datalabImage"]["keyword"],
            serde_json::json!(["latest"])
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn kind_is_read_without_regard_to_case() {
        assert_eq!(normalised("kind: JupyterLab\n").0["kind"], "jupyterlab");
        assert_eq!(normalised("kind: Notebook\n").0["kind"], "Notebook");
    }

    #[test]
    fn short_versions_are_padded_from_the_text_as_written() {
        for (written, read) in [
            ("1.0", "1.0.0"),
            ("1.10", "1.10.0"),
            ("2", "2.0.0"),
            ("\"0.3\"", "0.3.0"),
            ("1.0 # first", "1.0.0"),
        ] {
            let (value, notes) = normalised(&format!("title: Lab\nversion: {written}\n"));
            assert_eq!(value["version"], read, "{written}");
            assert_eq!(notes.len(), 1);
            assert_eq!(
                notes[0].position,
                Position {
                    line: 2,
                    column: 10
                }
            );
            assert!(
                notes[0].message.contains(&format!("as `{read}`")),
                "{notes:?}"
            );
        }
        for written in ["1.0.0", "01.2", "1.0e3", "v1"] {
            let (_, notes) = normalised(&format!("version: {written}\n"));
            assert!(notes.is_empty(), "{written}: {notes:?}");
        }
    }

    fn license_message(license: &str) -> Option<String> {
        let document = yaml::load(&format!("title: Lab\nlicense: {license}\n")).unwrap();
        license_problem(&document).map(|problem| {
            assert_eq!(
                problem.position,
                Position {
                    line: 2,
                    column: 10
                }
            );
            problem.message
        })
    }

    #[test]
    fn licences_must_be_spdx_expressions_and_the_meant_id_is_named() {
        for valid in [
            "Apache-2.0",
            "MIT OR Apache-2.0",
            "ESA-PL-permissive-2.4",
            "LicenseRef-proprietary",
        ] {
            assert_eq!(license_message(valid), None, "{valid}");
        }
        for (written, meant) in [
            ("BSD 3-Clause", "did you mean `BSD-3-Clause`?"),
            ("Apache 2.0", "did you mean `Apache-2.0`?"),
            ("mit", "did you mean `MIT`?"),
            ("MIT License", "did you mean `MIT`?"),
            (
                "GPL-2.0",
                "did you mean `GPL-2.0-only` or `GPL-2.0-or-later`?",
            ),
        ] {
            let message = license_message(written).unwrap();
            assert!(
                message.starts_with(&format!("`{written}` is not an SPDX")),
                "{message}"
            );
            assert!(message.contains(meant), "{written}: {message}");
        }
        assert!(
            !license_message("Do what you like")
                .unwrap()
                .contains("did you mean")
        );
    }
}
