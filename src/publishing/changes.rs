//! What an update changes against the last approved version, field by field, and which of those
//! changes a moderator must see before the update is published.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::datalabs::Visibility;

/// Metadata fields whose change holds an update for review: what the licence allows, who may see
/// it, what a launch must request, what ESA vouches for, and what the datalab is called and is.
/// The kind decides the base image, so a change of base is a change of `kind`.
pub const SENSITIVE_FIELDS: [&str; 6] = [
    "license",
    "minimumResources",
    "ESAOfficial",
    "title",
    "alternateName",
    "kind",
];

/// Fields that differ between any two versions and say nothing a moderator judges.
const IGNORED_FIELDS: [&str; 3] = ["version", "dateCreated", "dateModified"];

/// The audience is not metadata but is as sensitive as the licence.
pub const AUDIENCE_FIELD: &str = "audience";

/// One field that differs; `None` where the field is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// A change of this field needs a moderator.
    pub sensitive: bool,
}

/// Every top-level field that differs between `approved` and `submitted` metadata (nested
/// mappings such as `minimumResources` compare whole), plus the audience, in field-name order.
pub fn changes(
    approved: &Value,
    approved_audience: Visibility,
    submitted: &Value,
    submitted_audience: Visibility,
) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let before = approved.as_object().unwrap_or(&empty);
    let after = submitted.as_object().unwrap_or(&empty);
    let mut fields: Vec<&String> = before.keys().chain(after.keys()).collect();
    fields.sort();
    fields.dedup();
    let mut found: Vec<FieldChange> = fields
        .into_iter()
        .filter(|field| !IGNORED_FIELDS.contains(&field.as_str()))
        .filter(|field| before.get(*field) != after.get(*field))
        .map(|field| FieldChange {
            field: field.clone(),
            before: before.get(field).cloned(),
            after: after.get(field).cloned(),
            sensitive: SENSITIVE_FIELDS.contains(&field.as_str()),
        })
        .collect();
    if approved_audience != submitted_audience {
        found.push(FieldChange {
            field: AUDIENCE_FIELD.to_owned(),
            before: Some(Value::String(approved_audience.to_string())),
            after: Some(Value::String(submitted_audience.to_string())),
            sensitive: true,
        });
    }
    found
}

/// True when a moderator must review the changes.
pub fn needs_review(changes: &[FieldChange]) -> bool {
    changes.iter().any(|change| change.sensitive)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn base() -> Value {
        json!({
            "title": "Euclid tools", "alternateName": "jl-euclid", "abstract": "Old text.",
            "version": "1.0.0", "license": "MIT", "keywords": ["euclid"],
            "minimumResources": {"cpu": 1}
        })
    }

    #[test]
    fn a_new_abstract_and_keyword_are_changes_that_need_no_review() {
        let mut update = base();
        update["version"] = json!("1.0.1");
        update["abstract"] = json!("New text.");
        update["keywords"] = json!(["euclid", "vis"]);
        let found = changes(&base(), Visibility::Public, &update, Visibility::Public);
        let fields: Vec<(&str, bool)> = found
            .iter()
            .map(|change| (change.field.as_str(), change.sensitive))
            .collect();
        assert_eq!(fields, [("abstract", false), ("keywords", false)]);
        assert_eq!(found[0].before, Some(json!("Old text.")));
        assert!(!needs_review(&found));
    }

    #[test]
    fn licence_resources_and_a_removed_title_are_held() {
        let mut update = base();
        update["license"] = json!("GPL-3.0-only");
        update["minimumResources"]["cpu"] = json!(4);
        update.as_object_mut().unwrap().remove("title");
        update["ESAOfficial"] = json!(true);
        let found = changes(&base(), Visibility::Public, &update, Visibility::Public);
        let fields: Vec<&str> = found.iter().map(|change| change.field.as_str()).collect();
        assert_eq!(
            fields,
            ["ESAOfficial", "license", "minimumResources", "title"]
        );
        assert!(found.iter().all(|change| change.sensitive));
        assert_eq!(found[3].after, None);
        assert!(needs_review(&found));
    }

    #[test]
    fn a_new_audience_is_a_sensitive_change() {
        let found = changes(&base(), Visibility::Private, &base(), Visibility::Public);
        assert_eq!(
            found,
            [FieldChange {
                field: "audience".to_owned(),
                before: Some(json!("private")),
                after: Some(json!("public")),
                sensitive: true,
            }]
        );
    }
}
