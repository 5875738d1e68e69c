//! The people and organisations of a datalab: who to write to (`contactPoint`) and who made it
//! (`creator`).
//!
//! Authors write them as they would in an email header or a `setup.py`: one text or a list,
//! each entry an address (`someone@example.org`), a name (`European Space Agency`), or both in
//! the mailbox form `Jane Doe <jane@example.org>`, or already as a `{name, email}` mapping.
//! [`normalise`] rewrites every form to a list of mappings before the schema judges the values,
//! so a wrong address is reported at the line it was written on. Metadata stored before the lists
//! existed (one text) still reads: the types accept both shapes.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::yaml::LocatedDocument;

/// Someone to write to about the datalab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub email: String,
}

/// An organisation or a person credited with the datalab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Creator {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Which field an entry belongs to decides what a bare text is: an address for a contact, a name
/// for a creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BareText {
    Email,
    Name,
}

const PEOPLE_FIELDS: [(&str, BareText); 2] = [
    ("/contactPoint", BareText::Email),
    ("/creator", BareText::Name),
];

/// Rewrites `contactPoint` and `creator` into lists of `{name, email}` mappings. Values of other
/// shapes (numbers, nested lists) are left for the schema to refuse.
pub(super) fn normalise(document: &mut LocatedDocument) {
    for (pointer, bare) in PEOPLE_FIELDS {
        let Some(value) = document.value.pointer_mut(pointer) else {
            continue;
        };
        if value.is_string() || value.is_object() {
            *value = Value::Array(vec![value.take()]);
            let position = document.position_of(pointer);
            document
                .value_positions
                .insert(format!("{pointer}/0"), position);
        }
        if let Some(Value::Array(entries)) = document.value.pointer_mut(pointer) {
            for entry in entries.iter_mut() {
                if let Value::String(text) = entry {
                    *entry = Value::Object(entry_from_text(text, bare));
                }
            }
        }
    }
}

fn entry_from_text(text: &str, bare: BareText) -> Map<String, Value> {
    let (name, email) = match (mailbox(text), bare) {
        (Some((name, email)), _) => (name, Some(email)),
        (None, BareText::Email) => (None, Some(strip_mailto(text.trim()).to_owned())),
        (None, BareText::Name) => (Some(text.trim().to_owned()), None),
    };
    let mut entry = Map::new();
    if let Some(name) = name {
        entry.insert("name".to_owned(), Value::String(name));
    }
    if let Some(email) = email {
        entry.insert("email".to_owned(), Value::String(email));
    }
    entry
}

/// `Jane Doe <jane@example.org>` (the name optional, possibly quoted) as a name and an address;
/// `None` when the text does not end in an address between angle brackets.
fn mailbox(text: &str) -> Option<(Option<String>, String)> {
    let text = text.trim();
    let inner = text.strip_suffix('>')?;
    let open = inner.rfind('<')?;
    let email = strip_mailto(inner[open + 1..].trim()).to_owned();
    let name = inner[..open].trim().trim_matches('"').trim();
    Some(((!name.is_empty()).then(|| name.to_owned()), email))
}

fn strip_mailto(address: &str) -> &str {
    address.strip_prefix("mailto:").unwrap_or(address)
}

/// A list of entries, or (as stored before lists) one entry.
fn one_or_many<'de, D, T>(deserializer: D, bare: BareText) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: for<'a> Deserialize<'a>,
{
    let value = Value::deserialize(deserializer)?;
    let entries = match value {
        Value::Array(entries) => entries,
        one => vec![one],
    };
    entries
        .into_iter()
        .map(|entry| {
            let entry = match entry {
                Value::String(text) => Value::Object(entry_from_text(&text, bare)),
                other => other,
            };
            serde_json::from_value(entry).map_err(serde::de::Error::custom)
        })
        .collect()
}

pub(super) fn contacts<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Contact>, D::Error> {
    one_or_many(deserializer, BareText::Email)
}

pub(super) fn creators<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Creator>, D::Error> {
    one_or_many(deserializer, BareText::Name)
}

/// The mapping forms, as the schema has them after [`normalise`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactEntry {
    name: Option<String>,
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatorEntry {
    name: String,
    email: Option<String>,
}

impl<'de> Deserialize<'de> for Contact {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ContactEntry { name, email } = ContactEntry::deserialize(deserializer)?;
        Ok(Self { name, email })
    }
}

impl<'de> Deserialize<'de> for Creator {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let CreatorEntry { name, email } = CreatorEntry::deserialize(deserializer)?;
        Ok(Self { name, email })
    }
}

impl Contact {
    /// `Jane Doe <jane@example.org>`, or the address alone.
    pub fn mailbox(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} <{}>", self.email),
            None => self.email.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::metadata::yaml;

    fn normalised(text: &str) -> Value {
        let mut document = yaml::load(text).unwrap();
        normalise(&mut document);
        document.value
    }

    #[test]
    fn one_address_or_name_is_a_list_of_one_mapping() {
        let value = normalised("contactPoint: a@example.org\ncreator: European Space Agency\n");
        assert_eq!(value["contactPoint"], json!([{"email": "a@example.org"}]));
        assert_eq!(value["creator"], json!([{"name": "European Space Agency"}]));
    }

    #[test]
    fn mailboxes_are_split_into_name_and_address() {
        let value = normalised(
            "contactPoint:\n  - Jane Doe <jane@example.org>\n  - '\"Archive, Team\" <mailto:archive@example.org>'\n  - <bare@example.org>\n\
             creator: [ESA <esa@example.org>, Jane Doe]\n",
        );
        assert_eq!(
            value["contactPoint"],
            json!([
                {"name": "Jane Doe", "email": "jane@example.org"},
                {"name": "Archive, Team", "email": "archive@example.org"},
                {"email": "bare@example.org"},
            ])
        );
        assert_eq!(
            value["creator"],
            json!([{"name": "ESA", "email": "esa@example.org"}, {"name": "Jane Doe"}])
        );
    }

    #[test]
    fn mappings_are_kept_and_other_shapes_left_for_the_schema() {
        let value = normalised(
            "contactPoint: {name: Jane, email: jane@example.org}\ncreator: [[nested]]\n",
        );
        assert_eq!(
            value["contactPoint"],
            json!([{"name": "Jane", "email": "jane@example.org"}])
        );
        assert_eq!(value["creator"], json!([["nested"]]));
    }

    #[test]
    fn a_text_that_is_not_a_mailbox_stays_whole() {
        assert_eq!(mailbox("Jane Doe"), None);
        assert_eq!(mailbox("a < b"), None);
        assert_eq!(
            mailbox("  Jane <j@example.org>  "),
            Some((Some("Jane".to_owned()), "j@example.org".to_owned()))
        );
    }

    #[derive(Deserialize)]
    struct Stored {
        #[serde(deserialize_with = "contacts")]
        contacts: Vec<Contact>,
        #[serde(deserialize_with = "creators")]
        creators: Vec<Creator>,
    }

    #[test]
    fn metadata_stored_as_one_text_still_reads() {
        let stored: Stored = serde_json::from_value(json!({
            "contacts": "datalabs@example.org",
            "creators": "European Space Agency",
        }))
        .unwrap();
        assert_eq!(
            stored.contacts,
            [Contact {
                name: None,
                email: "datalabs@example.org".to_owned()
            }]
        );
        assert_eq!(
            stored.creators,
            [Creator {
                name: "European Space Agency".to_owned(),
                email: None
            }]
        );
        assert_eq!(stored.contacts[0].mailbox(), "datalabs@example.org");
    }

    #[test]
    fn stored_lists_read_and_unknown_keys_are_refused() {
        let stored: Stored = serde_json::from_value(json!({
            "contacts": [{"name": "Jane", "email": "j@example.org"}],
            "creators": ["ESA <esa@example.org>"],
        }))
        .unwrap();
        assert_eq!(stored.contacts[0].mailbox(), "Jane <j@example.org>");
        assert_eq!(stored.creators[0].email.as_deref(), Some("esa@example.org"));
        let refused = serde_json::from_value::<Stored>(json!({
            "contacts": [{"mail": "j@example.org"}],
            "creators": [],
        }));
        assert!(refused.is_err());
    }
}
