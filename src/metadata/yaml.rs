//! A strict YAML reader for `metadata.yaml` (and the other YAML files labforge reads from a
//! source, such as Binder's `environment.yml`): it builds a JSON value and remembers where every value
//! and every key came from, so schema errors can point at a line and column.
//!
//! It refuses what a metadata file never needs and an attacker likes: anchors and aliases (alias
//! bombs), custom tags, several documents, deep nesting, duplicate keys.

use std::collections::{BTreeMap, HashMap};

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Tag};
use serde_json::{Map, Number, Value};

use super::error::{MetadataProblem, Position};

/// Deeper nesting than this is refused; real metadata is at most three levels deep.
pub const MAX_DEPTH: usize = 32;

const CORE_TAG_HANDLE: &str = "tag:yaml.org,2002:";

/// The document as JSON plus where each part of it was written.
#[derive(Debug)]
pub struct LocatedDocument {
    pub value: Value,
    /// JSON pointer (`/minimumResources/cpu`) -> where the value starts.
    pub value_positions: HashMap<String, Position>,
    /// JSON pointer of a mapping entry -> where its key starts.
    pub key_positions: HashMap<String, Position>,
}

impl LocatedDocument {
    /// Where the value at `pointer` starts, falling back to its nearest ancestor.
    pub fn position_of(&self, pointer: &str) -> Position {
        let mut current = pointer;
        loop {
            if let Some(position) = self.value_positions.get(current) {
                return *position;
            }
            match current.rfind('/') {
                Some(index) => current = &current[..index],
                None => return Position { line: 1, column: 1 },
            }
        }
    }

    /// Where the key of the entry at `pointer` starts, or the value when it has no key.
    pub fn key_position_of(&self, pointer: &str) -> Position {
        self.key_positions
            .get(pointer)
            .copied()
            .unwrap_or_else(|| self.position_of(pointer))
    }
}

/// Escapes one JSON pointer segment (RFC 6901).
pub fn escape_pointer_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

enum Frame {
    Sequence {
        pointer: String,
        items: Vec<Value>,
    },
    Mapping {
        pointer: String,
        entries: Map<String, Value>,
        /// The key waiting for its value.
        pending_key: Option<String>,
        /// Line of each key seen, to name both lines of a duplicate.
        key_lines: BTreeMap<String, usize>,
    },
}

/// Where the next node goes in its parent.
enum Slot {
    Root,
    Item(String),
    Value(String),
    Key,
}

struct Loader {
    stack: Vec<Frame>,
    root: Option<Value>,
    value_positions: HashMap<String, Position>,
    key_positions: HashMap<String, Position>,
    problems: Vec<MetadataProblem>,
}

fn position(marker: Marker) -> Position {
    Position {
        line: marker.line(),
        column: marker.col() + 1,
    }
}

fn problem(at: Position, message: impl Into<String>) -> MetadataProblem {
    MetadataProblem {
        field: None,
        position: at,
        message: message.into(),
    }
}

/// Reads `text` into a located JSON document, or says everything that is wrong with its YAML.
pub fn load(text: &str) -> Result<LocatedDocument, Vec<MetadataProblem>> {
    load_named(text, "metadata.yaml")
}

/// [`load`] for a YAML file of another name, which its messages use.
pub fn load_named(text: &str, file_name: &str) -> Result<LocatedDocument, Vec<MetadataProblem>> {
    let mut loader = Loader {
        stack: Vec::new(),
        root: None,
        value_positions: HashMap::new(),
        key_positions: HashMap::new(),
        problems: Vec::new(),
    };
    let mut documents = 0_usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(event) => event,
            Err(error) => {
                loader.problems.push(problem(
                    position(*error.marker()),
                    format!("this is not valid YAML: {}", error.info()),
                ));
                return Err(loader.problems);
            }
        };
        let at = position(span.start);
        let outcome = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    Err(problem(
                        at,
                        format!(
                            "{file_name} must hold a single YAML document; remove the second `---`"
                        ),
                    ))
                } else {
                    Ok(())
                }
            }
            Event::Alias(_) => Err(problem(at, anchor_refusal(file_name))),
            Event::Scalar(text, style, anchor, tag) => refuse_anchor(anchor, at, file_name)
                .and_then(|()| loader.scalar(&text, style, tag.as_deref(), at)),
            Event::SequenceStart(anchor, tag) => refuse_anchor(anchor, at, file_name)
                .and_then(|()| check_container_tag(tag.as_deref(), "seq", at))
                .and_then(|()| loader.open(at, false, file_name)),
            Event::MappingStart(anchor, tag) => refuse_anchor(anchor, at, file_name)
                .and_then(|()| check_container_tag(tag.as_deref(), "map", at))
                .and_then(|()| loader.open(at, true, file_name)),
            Event::SequenceEnd | Event::MappingEnd => loader.close(at),
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => Ok(()),
        };
        if let Err(fatal) = outcome {
            loader.problems.push(fatal);
            return Err(loader.problems);
        }
    }
    if !loader.problems.is_empty() {
        return Err(loader.problems);
    }
    Ok(LocatedDocument {
        value: loader.root.unwrap_or(Value::Null),
        value_positions: loader.value_positions,
        key_positions: loader.key_positions,
    })
}

fn anchor_refusal(file_name: &str) -> String {
    format!("{file_name} may not use anchors (&) or aliases (*); write each value out in full")
}

fn refuse_anchor(anchor: usize, at: Position, file_name: &str) -> Result<(), MetadataProblem> {
    if anchor == 0 {
        Ok(())
    } else {
        Err(problem(at, anchor_refusal(file_name)))
    }
}

fn describe_tag(tag: &Tag) -> String {
    if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else {
        tag.to_string()
    }
}

fn refuse_tag(tag: &Tag, at: Position) -> MetadataProblem {
    problem(
        at,
        format!(
            "the tag {} is not allowed; only the core tags !!str, !!int, !!float, !!bool, !!null, \
             !!seq and !!map may be used",
            describe_tag(tag)
        ),
    )
}

fn check_container_tag(
    tag: Option<&Tag>,
    expected: &str,
    at: Position,
) -> Result<(), MetadataProblem> {
    match tag {
        None => Ok(()),
        Some(tag) if tag.is_yaml_core_schema() && tag.suffix == expected => Ok(()),
        Some(tag) => Err(refuse_tag(tag, at)),
    }
}

impl Loader {
    fn slot(&self) -> Slot {
        match self.stack.last() {
            None => Slot::Root,
            Some(Frame::Sequence { pointer, items }) => {
                Slot::Item(format!("{pointer}/{}", items.len()))
            }
            Some(Frame::Mapping {
                pointer,
                pending_key: Some(key),
                ..
            }) => Slot::Value(format!("{pointer}/{}", escape_pointer_segment(key))),
            Some(Frame::Mapping {
                pending_key: None, ..
            }) => Slot::Key,
        }
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        at: Position,
    ) -> Result<(), MetadataProblem> {
        let value = resolve_scalar(text, style, tag, at)?;
        match self.slot() {
            Slot::Key => {
                let key = match value {
                    Value::String(key) => key,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                self.add_key(key, at);
                Ok(())
            }
            Slot::Root => {
                self.value_positions.insert(String::new(), at);
                self.root = Some(value);
                Ok(())
            }
            Slot::Item(pointer) | Slot::Value(pointer) => {
                self.value_positions.insert(pointer, at);
                self.attach(value);
                Ok(())
            }
        }
    }

    fn add_key(&mut self, key: String, at: Position) {
        let Some(Frame::Mapping {
            pointer,
            pending_key,
            key_lines,
            ..
        }) = self.stack.last_mut()
        else {
            unreachable!("a key slot is always inside a mapping");
        };
        if let Some(first_line) = key_lines.get(&key) {
            self.problems.push(problem(
                at,
                format!(
                    "duplicate key `{key}` at line {} (first given at line {first_line}); keep only one",
                    at.line
                ),
            ));
        } else {
            key_lines.insert(key.clone(), at.line);
        }
        self.key_positions
            .insert(format!("{pointer}/{}", escape_pointer_segment(&key)), at);
        *pending_key = Some(key);
    }

    fn open(
        &mut self,
        at: Position,
        mapping: bool,
        file_name: &str,
    ) -> Result<(), MetadataProblem> {
        let pointer = match self.slot() {
            Slot::Key => {
                return Err(problem(
                    at,
                    "a mapping key must be plain text, not a list or a mapping",
                ));
            }
            Slot::Root => String::new(),
            Slot::Item(pointer) | Slot::Value(pointer) => pointer,
        };
        if self.stack.len() >= MAX_DEPTH {
            return Err(problem(
                at,
                format!("{file_name} may nest lists and mappings at most {MAX_DEPTH} levels deep"),
            ));
        }
        self.value_positions.insert(pointer.clone(), at);
        self.stack.push(if mapping {
            Frame::Mapping {
                pointer,
                entries: Map::new(),
                pending_key: None,
                key_lines: BTreeMap::new(),
            }
        } else {
            Frame::Sequence {
                pointer,
                items: Vec::new(),
            }
        });
        Ok(())
    }

    fn close(&mut self, at: Position) -> Result<(), MetadataProblem> {
        let value = match self.stack.pop() {
            Some(Frame::Sequence { items, .. }) => Value::Array(items),
            Some(Frame::Mapping { entries, .. }) => Value::Object(entries),
            None => return Err(problem(at, "unbalanced end of a list or mapping")),
        };
        if self.stack.is_empty() {
            self.root = Some(value);
        } else {
            self.attach(value);
        }
        Ok(())
    }

    /// Puts a finished value into the innermost open container.
    fn attach(&mut self, value: Value) {
        match self.stack.last_mut() {
            Some(Frame::Sequence { items, .. }) => items.push(value),
            Some(Frame::Mapping {
                entries,
                pending_key,
                ..
            }) => {
                if let Some(key) = pending_key.take() {
                    entries.insert(key, value);
                }
            }
            None => self.root = Some(value),
        }
    }
}

/// Resolves a scalar with the YAML 1.2 core schema: plain scalars may be null, booleans or
/// numbers; quoted ones are always text. A core tag forces the type.
fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    at: Position,
) -> Result<Value, MetadataProblem> {
    let forced = match tag {
        None => None,
        Some(tag) if tag.handle == "!" && tag.suffix.is_empty() => Some("str"),
        Some(tag) if tag.is_yaml_core_schema() => Some(tag.suffix.as_str()),
        Some(tag) => return Err(refuse_tag(tag, at)),
    };
    let not_a = |what: &str| {
        problem(
            at,
            format!("the value \"{text}\" is tagged as {what} but is not one"),
        )
    };
    match forced {
        Some("str") => Ok(Value::String(text.to_owned())),
        Some("null") => resolve_null(text).ok_or_else(|| not_a("null")),
        Some("bool") => resolve_bool(text).ok_or_else(|| not_a("a boolean")),
        Some("int") => resolve_integer(text).ok_or_else(|| not_a("an integer")),
        Some("float") => match resolve_integer(text) {
            Some(value) => Ok(value),
            None => resolve_float(text, at)?.ok_or_else(|| not_a("a number")),
        },
        Some(other) => Err(refuse_tag(
            &Tag {
                handle: CORE_TAG_HANDLE.to_owned(),
                suffix: other.to_owned(),
            },
            at,
        )),
        None if style != ScalarStyle::Plain => Ok(Value::String(text.to_owned())),
        None => {
            if let Some(value) = resolve_null(text)
                .or_else(|| resolve_bool(text))
                .or_else(|| resolve_integer(text))
            {
                return Ok(value);
            }
            Ok(resolve_float(text, at)?.unwrap_or_else(|| Value::String(text.to_owned())))
        }
    }
}

fn resolve_null(text: &str) -> Option<Value> {
    matches!(text, "" | "~" | "null" | "Null" | "NULL").then_some(Value::Null)
}

fn resolve_bool(text: &str) -> Option<Value> {
    match text {
        "true" | "True" | "TRUE" => Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => Some(Value::Bool(false)),
        _ => None,
    }
}

fn resolve_integer(text: &str) -> Option<Value> {
    let (digits, radix) = if let Some(octal) = text.strip_prefix("0o") {
        (octal, 8)
    } else if let Some(hex) = text.strip_prefix("0x") {
        (hex, 16)
    } else {
        (text, 10)
    };
    let unsigned = if radix == 10 {
        digits.strip_prefix(['-', '+']).unwrap_or(digits)
    } else {
        digits
    };
    if unsigned.is_empty() || !unsigned.chars().all(|character| character.is_digit(radix)) {
        return None;
    }
    if let Ok(number) = i64::from_str_radix(digits, radix) {
        return Some(Value::Number(number.into()));
    }
    u64::from_str_radix(digits.strip_prefix('+').unwrap_or(digits), radix)
        .ok()
        .map(|number| Value::Number(number.into()))
}

/// A YAML 1.2 core float; infinities and NaN have no JSON form and are refused.
fn resolve_float(text: &str, at: Position) -> Result<Option<Value>, MetadataProblem> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if matches!(
        unsigned,
        ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN"
    ) {
        return Err(problem(
            at,
            format!("{text} (infinity or not-a-number) cannot be used here"),
        ));
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(index) => (&unsigned[..index], Some(&unsigned[index + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let all_digits = |part: &str| part.chars().all(|character| character.is_ascii_digit());
    let mantissa_valid = all_digits(whole)
        && fraction.is_none_or(all_digits)
        && (!whole.is_empty() || fraction.is_some_and(|fraction| !fraction.is_empty()));
    let exponent_valid = exponent.is_none_or(|exponent| {
        let digits = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
        !digits.is_empty() && all_digits(digits)
    });
    if !(mantissa_valid && exponent_valid) {
        return Ok(None);
    }
    Ok(text
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(text: &str) -> Vec<String> {
        load(text)
            .expect_err("expected the YAML to be refused")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn builds_json_with_core_schema_types() {
        let document = load(
            "title: Euclid tools\nversion: '1.0'\ncount: 3\nratio: 0.5\nflag: true\nnothing: ~\nlist: [a, 2]\n",
        )
        .unwrap();
        assert_eq!(
            document.value,
            json!({"title": "Euclid tools", "version": "1.0", "count": 3, "ratio": 0.5,
                   "flag": true, "nothing": null, "list": ["a", 2]})
        );
    }

    #[test]
    fn records_positions_of_values_and_keys() {
        let document =
            load("title: x\nminimumResources:\n  cpu: 2\nkeywords:\n  - a\n  - b\n").unwrap();
        assert_eq!(
            document.value_positions["/title"],
            Position { line: 1, column: 8 }
        );
        assert_eq!(
            document.value_positions["/minimumResources/cpu"],
            Position { line: 3, column: 8 }
        );
        assert_eq!(
            document.key_positions["/minimumResources/cpu"],
            Position { line: 3, column: 3 }
        );
        assert_eq!(
            document.value_positions["/keywords/1"],
            Position { line: 6, column: 5 }
        );
        assert_eq!(
            document.position_of("/minimumResources/absent"),
            Position { line: 3, column: 3 }
        );
    }

    #[test]
    fn refuses_anchors_and_aliases() {
        let refused = messages("a: &x 1\nb: *x\n");
        assert_eq!(refused.len(), 1);
        assert!(refused[0].contains("may not use anchors (&) or aliases (*)"));
        assert!(refused[0].starts_with("line 1, column 4"), "{}", refused[0]);
    }

    #[test]
    fn refuses_custom_tags_but_accepts_core_ones() {
        let refused = messages("title: !python/object x\n");
        assert!(
            refused[0].contains("the tag !python/object is not allowed"),
            "{}",
            refused[0]
        );
        let document = load("version: !!str 1.0\ncpu: !!float 2\n").unwrap();
        assert_eq!(document.value, json!({"version": "1.0", "cpu": 2}));
        let refused = messages("cpu: !!int two\n");
        assert!(
            refused[0].contains("tagged as an integer"),
            "{}",
            refused[0]
        );
        let refused = messages("cpu: !!binary aGVsbG8=\n");
        assert!(
            refused[0].contains("the tag !!binary is not allowed"),
            "{}",
            refused[0]
        );
    }

    #[test]
    fn refuses_duplicate_keys_naming_both_lines() {
        let refused = messages("title: a\nabstract: b\ntitle: c\n");
        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].contains("duplicate key `title` at line 3 (first given at line 1)"),
            "{}",
            refused[0]
        );
    }

    #[test]
    fn refuses_several_documents() {
        let refused = messages("title: a\n---\ntitle: b\n");
        assert!(
            refused[0].contains("single YAML document"),
            "{}",
            refused[0]
        );
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        let refused = messages(&deep);
        assert!(
            refused[0].contains("at most 32 levels deep"),
            "{}",
            refused[0]
        );
        let allowed = format!("{}{}", "[".repeat(32), "]".repeat(32));
        assert!(load(&allowed).is_ok());
    }

    #[test]
    fn refuses_complex_keys_and_reports_syntax_errors() {
        let refused = messages("? [a, b]\n: c\n");
        assert!(refused[0].contains("must be plain text"), "{}", refused[0]);
        let refused = messages("title: [unclosed\n");
        assert!(refused[0].contains("not valid YAML"), "{}", refused[0]);
    }

    #[test]
    fn refuses_infinity() {
        let refused = messages("cpu: .inf\n");
        assert!(refused[0].contains("infinity"), "{}", refused[0]);
    }

    #[test]
    fn resolves_numbers_like_yaml_core_schema() {
        let document = load("a: 0x1F\nb: 0o17\nc: -3\nd: 1e3\ne: .5\nf: 1.2.3\ng: +7\n").unwrap();
        assert_eq!(
            document.value,
            json!({"a": 31, "b": 15, "c": -3, "d": 1000.0, "e": 0.5, "f": "1.2.3", "g": 7})
        );
    }
}
