//! Validation of a located `metadata.yaml` document against `metadata-schema/metadata.schema.json`,
//! turning every schema error into a plain-words problem with a line and column.
//!
//! Each schema property carries an `x-expected` annotation (ignored by JSON Schema itself) that says
//! what a valid value looks like; messages use it so an author reads "expected a semantic version
//! like 1.2.3" rather than a regular expression.

use std::fmt::Write as _;
use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use jsonschema::{JsonType, ValidationError, Validator};
use serde_json::Value;

use super::error::MetadataProblem;
use super::yaml::{LocatedDocument, escape_pointer_segment};

const SCHEMA_TEXT: &str = include_str!("../../metadata-schema/metadata.schema.json");

/// The bundled schema; part of the binary, so failing to read it is a build defect.
pub(super) static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(SCHEMA_TEXT).expect("metadata-schema/metadata.schema.json is valid JSON")
});

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&SCHEMA)
        .expect("metadata-schema/metadata.schema.json is a valid JSON Schema")
});

/// Every way `document` breaks the schema, in document order.
pub fn validate(document: &LocatedDocument) -> Vec<MetadataProblem> {
    let mut problems: Vec<MetadataProblem> = VALIDATOR
        .iter_errors(&document.value)
        .flat_map(|error| describe(&error, document))
        .collect();
    problems.sort_by(|left, right| {
        (left.position, &left.field, &left.message).cmp(&(
            right.position,
            &right.field,
            &right.message,
        ))
    });
    problems.dedup();
    problems
}

fn describe(error: &ValidationError<'_>, document: &LocatedDocument) -> Vec<MetadataProblem> {
    let pointer = error.instance_path().as_str().to_owned();
    let field = field_name(error);
    let schema_path = error.schema_path().as_str();
    let schema_node = schema_path
        .rfind('/')
        .and_then(|index| SCHEMA.pointer(&schema_path[..index]));
    if schema_path.starts_with("/dependentSchemas/application/") {
        // `application` present with no `kind`, or another kind: one message for both.
        let kind = document.value.get("kind");
        return vec![MetadataProblem {
            field: Some("kind".to_owned()),
            position: if kind.is_some() {
                document.position_of("/kind")
            } else {
                document.key_position_of("/application")
            },
            message: format!(
                "`application` names the program of a desktop datalab, so `kind` must be desktop \
                 (found {}); set `kind: desktop` or remove `application`",
                kind.map_or_else(|| "no kind".to_owned(), describe_value)
            ),
        }];
    }
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let property = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            let message = if schema_path.starts_with("/then/") {
                "missing; it is required when `kind` is generic (the service contract says what \
                 to run and where it answers)"
                    .to_owned()
            } else {
                "missing; this field is mandatory".to_owned()
            };
            vec![MetadataProblem {
                field: Some(join_field(field.as_deref(), &property)),
                position: document.position_of(&pointer),
                message,
            }]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let known: Vec<&str> = schema_node
                .and_then(|node| node.get("properties"))
                .and_then(Value::as_object)
                .map(|properties| properties.keys().map(String::as_str).collect())
                .unwrap_or_default();
            unexpected
                .iter()
                .map(|key| MetadataProblem {
                    field: Some(join_field(field.as_deref(), key)),
                    position: document
                        .key_position_of(&format!("{pointer}/{}", escape_pointer_segment(key))),
                    message: unknown_field_message(key, &known),
                })
                .collect()
        }
        kind => {
            let expected = schema_node
                .and_then(|node| node.get("x-expected"))
                .and_then(Value::as_str)
                .map_or_else(|| expected_from_kind(kind), str::to_owned);
            vec![MetadataProblem {
                field,
                position: document.position_of(&pointer),
                message: format!(
                    "expected {expected}, found {}",
                    describe_value(error.instance())
                ),
            }]
        }
    }
}

/// `minimumResources.cpu`, `keywords[2]`; `None` for the document itself.
fn field_name(error: &ValidationError<'_>) -> Option<String> {
    let mut name = String::new();
    for segment in error.instance_path().segments() {
        match segment {
            LocationSegment::Property(property) => {
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(&property);
            }
            LocationSegment::Index(index) => {
                let _ = write!(name, "[{index}]");
            }
        }
    }
    (!name.is_empty()).then_some(name)
}

fn join_field(parent: Option<&str>, key: &str) -> String {
    match parent {
        Some(parent) => format!("{parent}.{key}"),
        None => key.to_owned(),
    }
}

fn unknown_field_message(key: &str, known: &[&str]) -> String {
    let suggestion = known
        .iter()
        .map(|candidate| {
            (
                edit_distance(&key.to_lowercase(), &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, _)| *distance <= 2)
        .min();
    let mut message = "unknown field".to_owned();
    if let Some((_, candidate)) = suggestion {
        let _ = write!(message, " (did you mean `{candidate}`?)");
    }
    if !known.is_empty() {
        let _ = write!(
            message,
            "; the fields allowed here are {}",
            known.join(", ")
        );
    }
    message
}

/// Levenshtein distance, to suggest the field an author probably meant.
fn edit_distance(left: &str, right: &str) -> usize {
    let right: Vec<char> = right.chars().collect();
    let mut previous: Vec<usize> = (0..=right.len()).collect();
    for (row, left_char) in left.chars().enumerate() {
        let mut current = vec![row + 1];
        for (column, right_char) in right.iter().enumerate() {
            let substitution = previous[column] + usize::from(left_char != *right_char);
            current.push(
                substitution
                    .min(previous[column + 1] + 1)
                    .min(current[column] + 1),
            );
        }
        previous = current;
    }
    previous[right.len()]
}

fn type_words(json_type: JsonType) -> &'static str {
    match json_type {
        JsonType::Array => "a list",
        JsonType::Boolean => "true or false",
        JsonType::Integer => "a whole number",
        JsonType::Null => "nothing",
        JsonType::Number => "a number",
        JsonType::Object => "a mapping",
        JsonType::String => "text",
    }
}

/// Plain words for a schema rule that has no `x-expected` annotation.
fn expected_from_kind(kind: &ValidationErrorKind) -> String {
    match kind {
        ValidationErrorKind::Type {
            kind: jsonschema::error::TypeKind::Single(json_type),
        } => type_words(*json_type).to_owned(),
        ValidationErrorKind::Type {
            kind: jsonschema::error::TypeKind::Multiple(types),
        } => types
            .iter()
            .map(type_words)
            .collect::<Vec<_>>()
            .join(" or "),
        ValidationErrorKind::Enum { options } => match options.as_array() {
            Some(options) => format!(
                "one of {}",
                options
                    .iter()
                    .map(describe_value)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => format!("one of {options}"),
        },
        ValidationErrorKind::Pattern { pattern } => format!("text matching {pattern}"),
        ValidationErrorKind::Format { format } => format!("a valid {format}"),
        ValidationErrorKind::MinLength { limit } => format!("at least {limit} characters"),
        ValidationErrorKind::MaxLength { limit } => format!("at most {limit} characters"),
        ValidationErrorKind::MinItems { limit } => format!("at least {limit} items"),
        ValidationErrorKind::MaxItems { limit } => format!("at most {limit} items"),
        ValidationErrorKind::Minimum { limit } => format!("a number of at least {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("a number of at most {limit}"),
        ValidationErrorKind::ExclusiveMinimum { limit } => format!("a number greater than {limit}"),
        ValidationErrorKind::ExclusiveMaximum { limit } => format!("a number less than {limit}"),
        ValidationErrorKind::Constant { expected_value } => describe_value(expected_value),
        other => format!("a value that satisfies the rule {other:?}"),
    }
}

/// A short rendering of what the author wrote.
fn describe_value(value: &Value) -> String {
    const LONGEST: usize = 60;
    match value {
        Value::String(text) if text.chars().count() > LONGEST => {
            let shortened: String = text.chars().take(LONGEST).collect();
            format!("{}…", Value::String(shortened))
        }
        Value::Null => "nothing (an empty value)".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_field() {
        let message = unknown_field_message("memoryGib", &["cpu", "memoryGiB"]);
        assert!(message.contains("did you mean `memoryGiB`?"), "{message}");
        assert!(
            message.contains("allowed here are cpu, memoryGiB"),
            "{message}"
        );
        let message = unknown_field_message("colour", &["cpu", "memoryGiB"]);
        assert!(!message.contains("did you mean"), "{message}");
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn shortens_long_values() {
        let long = Value::String("x".repeat(100));
        assert_eq!(describe_value(&long).chars().count(), 63);
        assert_eq!(describe_value(&Value::Null), "nothing (an empty value)");
    }
}
