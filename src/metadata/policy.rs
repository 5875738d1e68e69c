//! Who may see and who may write each metadata field, decided by the field table
//! (`metadata-schema/fields.json`) rather than by code, so that moderation, the public API and the
//! JSON-LD output cannot disagree about a field.
//!
//! Metadata is handled here as JSON (`serde_json::Value`), the way it is stored: the author's
//! `metadata.yaml` plus what a moderator or labforge added. Nested fields are named by dotted keys,
//! as in the table (`datalabImage.id`). A field the table does not know is never shown and never
//! accepted: unknown means no one granted access.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::fields::{FieldDefinition, ReadAccess, WriteAccess, field_table};

/// Who is changing a datalab's metadata; compared with a field's `write` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// The datalab's author, through `metadata.yaml`.
    Author,
    /// A moderator, during review.
    Moderator,
    /// labforge itself, after a build or on publication.
    Application,
}

impl Writer {
    /// Each writer owns exactly the fields of one `write` class: a moderator approves what an
    /// author wrote but does not rewrite it, and neither may forge what labforge records.
    const fn may_write(self, field: &FieldDefinition) -> bool {
        matches!(
            (self, field.write),
            (Self::Author, WriteAccess::Developer)
                | (Self::Moderator, WriteAccess::Moderator)
                | (Self::Application, WriteAccess::Application)
        )
    }
}

impl fmt::Display for Writer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Author => "an author",
            Self::Moderator => "a moderator",
            Self::Application => "labforge",
        })
    }
}

/// A change to metadata that its writer may not make. Only the first such change is reported:
/// it names the field, which is all the writer needs to undo it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldWriteError {
    #[error("`{field}` {}; {writer} may not set or change it", who_writes(*.allowed))]
    NotAllowed {
        /// Dotted key, like `datalabImage.id`.
        field: String,
        writer: Writer,
        /// Who the field table lets write it.
        allowed: WriteAccess,
    },
    #[error("`{field}` is not a metadata field; remove it")]
    UnknownField { field: String },
}

fn who_writes(access: WriteAccess) -> &'static str {
    match access {
        WriteAccess::Developer => "is written by the author, in metadata.yaml",
        WriteAccess::Moderator => "may be set only by a moderator, during review",
        WriteAccess::Application => "is set by labforge itself",
    }
}

/// What labforge records about a version once its image is pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationStamp {
    /// The pushed image by digest (`registry.example/datalabs/jl-x@sha256:...`), so the record
    /// names exactly the bytes that were built, tested and reviewed.
    pub image_id: String,
    /// The image's platform, like `linux/amd64`.
    pub platform: String,
    pub at: DateTime<Utc>,
}

/// The metadata as anyone may see it who is not the datalab's owner, a moderator or an admin:
/// every field the table marks private is dropped, nested ones too, and so is every field the
/// table does not know.
pub fn public_view(metadata: &Value) -> Value {
    public_view_by(field_table(), metadata)
}

/// Checks that `writer` changes only fields the table lets it write. `previous` is the stored
/// metadata (`None` for a first version): a field is changed when its value differs from
/// `previous`, so an unchanged value is fine whoever wrote it, and setting or removing a field is a
/// change. A mapping's own value is compared without its nested fields that have their own row.
pub fn check_write(
    previous: Option<&Value>,
    proposed: &Value,
    writer: Writer,
) -> Result<(), FieldWriteError> {
    check_write_by(field_table(), previous, proposed, writer)
}

/// Copies from `previous` into `proposed` every field that `writer` may not write and `proposed`
/// leaves out. An author's new `metadata.yaml` never repeats `ESAOfficial` or what labforge
/// stamped, and a moderator sends only what they decide; without this, each would read as a
/// removal and [`check_write`] would refuse it.
pub fn carry_over_fields_not_writable(previous: &Value, proposed: &mut Value, writer: Writer) {
    for field in field_table() {
        if writer.may_write(field) || lookup(proposed, &field.key).is_some() {
            continue;
        }
        if let Some(value) = lookup(previous, &field.key) {
            insert_at(proposed, &field.key, value.clone());
        }
    }
}

/// Sets the fields only labforge writes: the image and its platform, `dateModified` to now, and
/// `dateCreated` to now for a first version or else as `previous` had it, so it keeps meaning when
/// the datalab was first recorded.
pub fn stamp_application_fields(
    previous: Option<&Value>,
    metadata: &mut Value,
    stamp: &ApplicationStamp,
) {
    let now = Value::String(stamp.at.to_rfc3339_opts(SecondsFormat::Secs, true));
    let created = previous
        .and_then(|previous| lookup(previous, "dateCreated"))
        .cloned()
        .unwrap_or_else(|| now.clone());
    insert_at(
        metadata,
        "datalabImage.id",
        Value::String(stamp.image_id.clone()),
    );
    insert_at(
        metadata,
        "datalabImage.platform",
        Value::String(stamp.platform.clone()),
    );
    insert_at(metadata, "dateCreated", created);
    insert_at(metadata, "dateModified", now);
}

fn public_view_by(fields: &[FieldDefinition], metadata: &Value) -> Value {
    match metadata {
        Value::Object(members) => Value::Object(public_members(fields, members, None)),
        _ => Value::Object(Map::new()),
    }
}

fn public_members(
    fields: &[FieldDefinition],
    members: &Map<String, Value>,
    parent: Option<&str>,
) -> Map<String, Value> {
    let mut public = Map::new();
    for (name, value) in members {
        let key = parent.map_or_else(|| name.clone(), |parent| format!("{parent}.{name}"));
        let Some(field) = find(fields, &key) else {
            continue;
        };
        if field.read == ReadAccess::Private {
            continue;
        }
        match value {
            Value::Object(nested) if has_nested_rows(fields, &key) => {
                let nested_public = public_members(fields, nested, Some(&key));
                // A mapping emptied by the filter would only hint that something was hidden.
                if nested_public.is_empty() && !nested.is_empty() {
                    continue;
                }
                public.insert(name.clone(), Value::Object(nested_public));
            }
            _ => {
                public.insert(name.clone(), value.clone());
            }
        }
    }
    public
}

fn check_write_by(
    fields: &[FieldDefinition],
    previous: Option<&Value>,
    proposed: &Value,
    writer: Writer,
) -> Result<(), FieldWriteError> {
    for field in fields {
        let before = previous.and_then(|previous| governed_value(fields, previous, &field.key));
        let after = governed_value(fields, proposed, &field.key);
        if before != after && !writer.may_write(field) {
            return Err(FieldWriteError::NotAllowed {
                field: field.key.clone(),
                writer,
                allowed: field.write,
            });
        }
    }
    let top_level_keys = [Some(proposed), previous]
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(Map::keys);
    for key in top_level_keys {
        let before = previous.and_then(|previous| previous.get(key));
        if find(fields, key).is_none() && before != proposed.get(key) {
            return Err(FieldWriteError::UnknownField { field: key.clone() });
        }
    }
    Ok(())
}

/// The value at `key` that the row for `key` governs: a mapping without its members that have a
/// row of their own. An empty mapping counts as absent, so that a mapping holding only such
/// members does not read as a change of the mapping itself.
fn governed_value(fields: &[FieldDefinition], document: &Value, key: &str) -> Option<Value> {
    match lookup(document, key)? {
        Value::Object(members) => {
            let governed: Map<String, Value> = members
                .iter()
                .filter(|(name, _)| find(fields, &format!("{key}.{name}")).is_none())
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            (!governed.is_empty()).then_some(Value::Object(governed))
        }
        value => Some(value.clone()),
    }
}

fn find<'table>(fields: &'table [FieldDefinition], key: &str) -> Option<&'table FieldDefinition> {
    fields.iter().find(|field| field.key == key)
}

fn has_nested_rows(fields: &[FieldDefinition], key: &str) -> bool {
    fields.iter().any(|field| {
        field
            .key
            .strip_prefix(key)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

fn lookup<'document>(document: &'document Value, key: &str) -> Option<&'document Value> {
    key.split('.')
        .try_fold(document, |node, segment| node.as_object()?.get(segment))
}

/// Sets the value at a dotted key, creating the mappings on the way; anything that is not a
/// mapping where one is needed is replaced, since the table says a mapping belongs there.
fn insert_at(document: &mut Value, key: &str, value: Value) {
    let mut node = document;
    let mut segments = key.split('.').peekable();
    while let Some(segment) = segments.next() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(members) = node else {
            unreachable!("made a mapping just above");
        };
        if segments.peek().is_none() {
            members.insert(segment.to_owned(), value);
            return;
        }
        node = members
            .entry(segment)
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::metadata::Obligation;

    fn full_stored_metadata() -> Value {
        json!({
            "title": "Euclid VIS tools",
            "alternateName": "jl-euclid-tools",
            "abstract": "Quick-look notebooks.",
            "contactPoint": "datalabs@example.org",
            "creator": "European Space Agency",
            "version": "1.2.3",
            "keywords": ["euclid"],
            "license": "Apache-2.0",
            "ESAOfficial": true,
            "minimumResources": {"cpu": 0.5, "memoryGiB": 4},
            "datalabImage": {
                "id": "registry.example/datalabs/jl-euclid-tools@sha256:abc",
                "platform": "linux/amd64",
                "keyword": ["latest"]
            },
            "service": {"port": 8080, "healthPath": "/health", "command": ["app"]},
            "dateCreated": "2025-01-01T00:00:00Z",
            "dateModified": "2025-02-01T00:00:00Z"
        })
    }

    #[test]
    fn public_view_drops_private_fields_and_keeps_public_ones() {
        let view = public_view(&full_stored_metadata());
        let mut expected = full_stored_metadata();
        let members = expected.as_object_mut().unwrap();
        for private in ["datalabImage", "dateCreated", "dateModified"] {
            members.remove(private);
        }
        assert_eq!(view, expected);
    }

    #[test]
    fn public_view_drops_fields_the_table_does_not_know_at_any_depth() {
        let view = public_view(&json!({
            "title": "t",
            "internalNote": "x",
            "minimumResources": {"cpu": 1, "gpu": 1}
        }));
        assert_eq!(view, json!({"title": "t", "minimumResources": {"cpu": 1}}));
    }

    /// The shipped table makes `datalabImage` private as a whole; a table where a public mapping
    /// has a private member shows that members are filtered one by one.
    #[test]
    fn public_view_drops_a_private_member_of_a_public_mapping() {
        let mut fields = field_table().to_vec();
        fields
            .iter_mut()
            .filter(|field| field.key.starts_with("datalabImage"))
            .for_each(|field| field.read = ReadAccess::Public);
        fields
            .iter_mut()
            .filter(|field| field.key == "datalabImage.id")
            .for_each(|field| field.read = ReadAccess::Private);
        let view = public_view_by(&fields, &full_stored_metadata());
        assert_eq!(
            view["datalabImage"],
            json!({"platform": "linux/amd64", "keyword": ["latest"]})
        );
        let only_private = json!({"datalabImage": {"id": "x"}});
        assert_eq!(public_view_by(&fields, &only_private), json!({}));
    }

    #[test]
    fn every_mandatory_field_is_public() {
        // The catalogue reads the public view back into `Metadata`, which needs these.
        for field in field_table() {
            if field.obligation == Obligation::Mandatory {
                assert_eq!(field.read, ReadAccess::Public, "{}", field.key);
            }
        }
    }

    #[test]
    fn an_author_may_change_author_fields() {
        let previous = full_stored_metadata();
        let mut proposed = previous.clone();
        proposed["title"] = json!("Euclid VIS tools 2");
        proposed["datalabImage"]["keyword"] = json!(["stable"]);
        proposed["minimumResources"]["cpu"] = json!(2);
        assert_eq!(
            check_write(Some(&previous), &proposed, Writer::Author),
            Ok(())
        );
    }

    #[test]
    fn an_author_may_not_set_or_change_esa_official() {
        let error = check_write(
            None,
            &json!({"title": "t", "ESAOfficial": false}),
            Writer::Author,
        )
        .unwrap_err();
        assert_eq!(
            error,
            FieldWriteError::NotAllowed {
                field: "ESAOfficial".to_owned(),
                writer: Writer::Author,
                allowed: WriteAccess::Moderator,
            }
        );
        assert_eq!(
            error.to_string(),
            "`ESAOfficial` may be set only by a moderator, during review; an author may not set \
             or change it"
        );
        let previous = full_stored_metadata();
        let mut proposed = previous.clone();
        proposed["ESAOfficial"] = json!(false);
        assert!(check_write(Some(&previous), &proposed, Writer::Author).is_err());
        proposed.as_object_mut().unwrap().remove("ESAOfficial");
        assert!(check_write(Some(&previous), &proposed, Writer::Author).is_err());
    }

    #[test]
    fn an_author_may_not_write_fields_labforge_sets() {
        let previous = full_stored_metadata();
        let mut proposed = previous.clone();
        proposed["datalabImage"]["id"] = json!("elsewhere/evil@sha256:def");
        let error = check_write(Some(&previous), &proposed, Writer::Author).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`datalabImage.id` is set by labforge itself; an author may not set or change it"
        );
        let first = json!({"title": "t", "dateCreated": "2020-01-01T00:00:00Z"});
        let error = check_write(None, &first, Writer::Author).unwrap_err();
        assert!(
            matches!(&error, FieldWriteError::NotAllowed { field, .. } if field == "dateCreated"),
            "{error}"
        );
    }

    #[test]
    fn unchanged_fields_are_fine_whoever_writes() {
        let previous = full_stored_metadata();
        for writer in [Writer::Author, Writer::Moderator, Writer::Application] {
            assert_eq!(check_write(Some(&previous), &previous, writer), Ok(()));
        }
    }

    #[test]
    fn a_moderator_may_set_esa_official_but_not_rewrite_the_author_s_fields() {
        let previous = full_stored_metadata();
        let mut proposed = previous.clone();
        proposed["ESAOfficial"] = json!(false);
        assert_eq!(
            check_write(Some(&previous), &proposed, Writer::Moderator),
            Ok(())
        );
        proposed["abstract"] = json!("Better words.");
        let error = check_write(Some(&previous), &proposed, Writer::Moderator).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`abstract` is written by the author, in metadata.yaml; a moderator may not set or \
             change it"
        );
    }

    #[test]
    fn fields_the_table_does_not_know_are_refused_when_changed() {
        let error =
            check_write(None, &json!({"title": "t", "owner": "me"}), Writer::Author).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`owner` is not a metadata field; remove it"
        );
    }

    #[test]
    fn carried_over_fields_let_an_author_replace_the_file() {
        let previous = full_stored_metadata();
        // A new metadata.yaml: only what the author writes.
        let mut proposed = json!({
            "title": "Euclid VIS tools",
            "alternateName": "jl-euclid-tools",
            "abstract": "Quick-look notebooks, faster.",
            "contactPoint": "datalabs@example.org",
            "creator": "European Space Agency",
            "version": "1.3.0",
            "datalabImage": {"keyword": ["latest"]}
        });
        assert!(check_write(Some(&previous), &proposed, Writer::Author).is_err());
        carry_over_fields_not_writable(&previous, &mut proposed, Writer::Author);
        assert_eq!(proposed["ESAOfficial"], json!(true));
        assert_eq!(proposed["datalabImage"]["platform"], json!("linux/amd64"));
        assert_eq!(proposed["datalabImage"]["keyword"], json!(["latest"]));
        assert_eq!(proposed["dateCreated"], previous["dateCreated"]);
        assert!(proposed.get("license").is_none(), "the author removed it");
        assert_eq!(
            check_write(Some(&previous), &proposed, Writer::Author),
            Ok(())
        );
    }

    #[test]
    fn stamping_sets_every_field_only_labforge_writes() {
        let at = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap();
        let stamp = ApplicationStamp {
            image_id: "registry.example/datalabs/jl-x@sha256:0123".to_owned(),
            platform: "linux/amd64".to_owned(),
            at,
        };
        let authored = json!({"title": "t", "datalabImage": {"keyword": ["latest"]}});
        let mut first = authored.clone();
        stamp_application_fields(None, &mut first, &stamp);
        assert_eq!(
            first,
            json!({
                "title": "t",
                "datalabImage": {
                    "keyword": ["latest"],
                    "id": "registry.example/datalabs/jl-x@sha256:0123",
                    "platform": "linux/amd64"
                },
                "dateCreated": "2025-03-04T05:06:07Z",
                "dateModified": "2025-03-04T05:06:07Z"
            })
        );
        for field in field_table() {
            if field.write == WriteAccess::Application {
                assert!(
                    lookup(&first, &field.key).is_some(),
                    "{} not stamped",
                    field.key
                );
            }
        }
        let previous = full_stored_metadata();
        let mut next = json!({"title": "t"});
        stamp_application_fields(Some(&previous), &mut next, &stamp);
        assert_eq!(next["dateCreated"], json!("2025-01-01T00:00:00Z"));
        assert_eq!(next["dateModified"], json!("2025-03-04T05:06:07Z"));
        assert_eq!(
            check_write(Some(&authored), &first, Writer::Application),
            Ok(())
        );
        assert_eq!(
            check_write(Some(&authored), &first, Writer::Author),
            Err(FieldWriteError::NotAllowed {
                field: "datalabImage.id".to_owned(),
                writer: Writer::Author,
                allowed: WriteAccess::Application,
            }),
            "a stamp is labforge's to write"
        );
    }
}
