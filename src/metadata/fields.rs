//! The metadata field table (`metadata-schema/fields.json`): for each field its vocabulary term and
//! who may read and write it. Kept as data so moderation, the public API and the JSON-LD output
//! read the same rules the schema was written from.

use std::sync::LazyLock;

use serde::Deserialize;

const FIELDS_TEXT: &str = include_str!("../../metadata-schema/fields.json");

/// Who may see a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadAccess {
    /// Everyone who may see the datalab.
    Public,
    /// The owner, moderators and labforge.
    Private,
}

/// Who may set a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteAccess {
    /// The author, in `metadata.yaml`.
    Developer,
    /// Only a moderator, during review.
    Moderator,
    /// labforge itself; never accepted from `metadata.yaml`.
    Application,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Obligation {
    Mandatory,
    Recommended,
    Optional,
}

/// One row of the field table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldDefinition {
    /// JSON key in `metadata.yaml`; nested keys are dotted (`minimumResources.cpu`).
    pub key: String,
    /// Vocabulary term, like `dct:title`.
    pub term: String,
    /// A second term for the same field, like `schema:name` for `dct:title`.
    pub also_term: Option<String>,
    pub vocabulary: String,
    pub read: ReadAccess,
    pub write: WriteAccess,
    /// The value's type in plain words.
    #[serde(rename = "type")]
    pub value_type: String,
    pub obligation: Obligation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldTable {
    #[serde(rename = "description")]
    _description: String,
    fields: Vec<FieldDefinition>,
}

static FIELDS: LazyLock<Vec<FieldDefinition>> = LazyLock::new(|| {
    serde_json::from_str::<FieldTable>(FIELDS_TEXT)
        .expect("metadata-schema/fields.json matches FieldDefinition")
        .fields
});

/// Every metadata field, in the order of the specification.
pub fn field_table() -> &'static [FieldDefinition] {
    &FIELDS
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::metadata::validation::SCHEMA;

    /// Dotted keys of every property the schema accepts, nested ones included.
    fn schema_keys(node: &Value, prefix: &str, keys: &mut BTreeSet<String>) {
        let Some(properties) = node.get("properties").and_then(Value::as_object) else {
            return;
        };
        for (name, property) in properties {
            let key = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            schema_keys(property, &key, keys);
            keys.insert(key);
        }
    }

    #[test]
    fn every_schema_property_is_in_the_field_table_and_back() {
        let mut in_schema = BTreeSet::new();
        schema_keys(&SCHEMA, "", &mut in_schema);
        let authored: BTreeSet<String> = field_table()
            .iter()
            .filter(|field| field.write != WriteAccess::Application)
            .map(|field| field.key.clone())
            .collect();
        assert_eq!(in_schema, authored);
    }

    #[test]
    fn fields_written_by_labforge_are_not_accepted_from_authors() {
        let mut in_schema = BTreeSet::new();
        schema_keys(&SCHEMA, "", &mut in_schema);
        let by_application: Vec<&str> = field_table()
            .iter()
            .filter(|field| field.write == WriteAccess::Application)
            .map(|field| field.key.as_str())
            .collect();
        assert!(by_application.contains(&"dateCreated"));
        for key in by_application {
            assert!(
                !in_schema.contains(key),
                "{key} is written by labforge only"
            );
        }
    }

    #[test]
    fn mandatory_fields_match_the_schema_required_list() {
        let required: BTreeSet<&str> = SCHEMA["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key.as_str().unwrap())
            .collect();
        let mandatory: BTreeSet<&str> = field_table()
            .iter()
            .filter(|field| field.obligation == Obligation::Mandatory)
            .map(|field| field.key.as_str())
            .collect();
        assert_eq!(required, mandatory);
        assert_eq!(mandatory.len(), 6);
    }

    #[test]
    fn keys_are_unique_and_esa_official_is_for_moderators() {
        let keys: BTreeSet<&str> = field_table()
            .iter()
            .map(|field| field.key.as_str())
            .collect();
        assert_eq!(keys.len(), field_table().len());
        let esa_official = field_table()
            .iter()
            .find(|field| field.key == "ESAOfficial")
            .unwrap();
        assert_eq!(esa_official.write, WriteAccess::Moderator);
        assert_eq!(esa_official.read, ReadAccess::Public);
    }
}
