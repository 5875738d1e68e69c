//! PEP 508 requirements (name, extras, version specifiers, marker) parsed and written back in
//! canonical form, and the paths and URLs pip accepts in place of a named requirement, told apart
//! so the reader can refuse or allow them.

use std::fmt::Write as _;

use super::cursor::Cursor;
use super::markers::parse_marker;

/// What a requirement line names.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Parsed {
    /// A package from the index, in canonical form.
    Named { name: String, line: String },
    /// `name @ url`.
    DirectUrl { name: String, url: String },
    /// A bare path or URL without a name.
    Location { local: bool },
}

pub(super) fn is_local_url(url: &str) -> bool {
    url.to_ascii_lowercase().starts_with("file:")
}

/// Has a URL scheme like `https:` or `git+ssh:` (a Windows drive letter is not one).
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, rest) = text.split_once(':')?;
    if !rest.starts_with("//") && !scheme.eq_ignore_ascii_case("file") {
        return None;
    }
    let mut characters = scheme.chars();
    let starts_with_letter = characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic());
    (starts_with_letter
        && scheme.len() > 1
        && characters
            .all(|character| character.is_ascii_alphanumeric() || "+.-".contains(character)))
    .then_some(scheme)
}

fn looks_like_path(text: &str) -> bool {
    text.starts_with(['.', '/', '~']) || text.contains(['/', '\\']) || looks_like_archive(text)
}

/// A file name pip would install as a local archive (`pkg-1.0.tar.gz`, `pkg-1.0-py3-none-any.whl`).
fn looks_like_archive(text: &str) -> bool {
    const ARCHIVES: [&str; 6] = [".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar"];
    let location = text
        .split([' ', ';'])
        .next()
        .unwrap_or(text)
        .to_ascii_lowercase();
    ARCHIVES.iter().any(|suffix| location.ends_with(suffix))
}

/// Parses one PEP 508 requirement (or recognises a path or URL).
pub(super) fn parse_requirement(text: &str) -> Result<Parsed, String> {
    if let Some(scheme) = url_scheme(text) {
        return Ok(Parsed::Location {
            local: scheme.eq_ignore_ascii_case("file"),
        });
    }
    if looks_like_archive(text) {
        return Ok(Parsed::Location { local: true });
    }
    let mut cursor = Cursor::new(text);
    let name = cursor
        .take_while(|character| character.is_ascii_alphanumeric() || "._-".contains(character));
    if !is_valid_name(name) {
        if looks_like_path(text) {
            return Ok(Parsed::Location { local: true });
        }
        return Err(if name.is_empty() {
            "it must start with a package name".to_owned()
        } else {
            format!(
                "`{name}` is not a valid package name (letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit)"
            )
        });
    }
    let name = normalise_name(name);
    cursor.skip_spaces();
    let mut extras = Vec::new();
    if cursor.eat('[') {
        loop {
            cursor.skip_spaces();
            if cursor.eat(']') {
                break;
            }
            let extra = cursor.take_while(|character| {
                character.is_ascii_alphanumeric() || "._-".contains(character)
            });
            if !is_valid_name(extra) {
                return Err("extras must be names separated by commas, like [plot,io]".to_owned());
            }
            extras.push(normalise_name(extra));
            cursor.skip_spaces();
            if cursor.eat(',') {
                continue;
            }
            if cursor.eat(']') {
                break;
            }
            return Err("extras must be names separated by commas and closed with ]".to_owned());
        }
        extras.sort();
        extras.dedup();
        cursor.skip_spaces();
    }
    if cursor.eat('@') {
        cursor.skip_spaces();
        let url = cursor.rest().split(" ;").next().unwrap_or_default().trim();
        if url_scheme(url).is_none() {
            return Err("after @ must come a URL".to_owned());
        }
        return Ok(Parsed::DirectUrl {
            name,
            url: url.to_owned(),
        });
    }
    let specifiers = parse_specifiers(&mut cursor)?;
    cursor.skip_spaces();
    let marker = if cursor.eat(';') {
        Some(parse_marker(cursor.rest())?)
    } else if cursor.rest().is_empty() {
        None
    } else {
        return Err(format!(
            "unexpected `{}` (a version needs an operator, like ==1.0 or >=1.0)",
            cursor.rest()
        ));
    };
    let mut line = name.clone();
    if !extras.is_empty() {
        let _ = write!(line, "[{}]", extras.join(","));
    }
    line.push_str(&specifiers.join(","));
    if let Some(marker) = marker {
        let _ = write!(line, "; {marker}");
    }
    Ok(Parsed::Named { name, line })
}

/// `>=1.0, <2` or `(>=1.0,<2)`, each specifier without spaces, sorted like `packaging` does.
fn parse_specifiers(cursor: &mut Cursor<'_>) -> Result<Vec<String>, String> {
    const OPERATORS: [&str; 8] = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"];
    let parenthesised = cursor.eat('(');
    let mut specifiers = Vec::new();
    loop {
        cursor.skip_spaces();
        let Some(operator) = OPERATORS
            .iter()
            .find(|operator| cursor.rest().starts_with(**operator))
        else {
            break;
        };
        cursor.advance(operator.len());
        cursor.skip_spaces();
        let version = if *operator == "===" {
            cursor.take_while(|character| !character.is_whitespace() && !",;)".contains(character))
        } else {
            cursor.take_while(|character| {
                character.is_ascii_alphanumeric() || "._*+!-".contains(character)
            })
        };
        check_version(operator, version)?;
        specifiers.push(format!("{operator}{version}"));
        cursor.skip_spaces();
        if !cursor.eat(',') {
            break;
        }
    }
    if parenthesised {
        cursor.skip_spaces();
        if !cursor.eat(')') {
            return Err("a ( before the versions needs a closing )".to_owned());
        }
    }
    specifiers.sort();
    specifiers.dedup();
    Ok(specifiers)
}

fn check_version(operator: &str, version: &str) -> Result<(), String> {
    if version.is_empty() {
        return Err(format!("`{operator}` must be followed by a version"));
    }
    if operator == "===" {
        return Ok(());
    }
    let wildcard = version.find('*');
    if let Some(position) = wildcard {
        let prefix_match = matches!(operator, "==" | "!=")
            && version.ends_with(".*")
            && position == version.len() - 1;
        if !prefix_match {
            return Err(format!(
                "`{operator}{version}`: a * is only allowed at the end, as .*, after == or !="
            ));
        }
    }
    if version.contains('+') && !matches!(operator, "==" | "!=") {
        return Err(format!(
            "`{operator}{version}`: a local version (+...) is only allowed after == or !="
        ));
    }
    if operator == "~=" && !version.contains('.') {
        return Err(format!(
            "`~={version}` needs at least two version parts, like ~=1.4"
        ));
    }
    if !version.starts_with(|character: char| character.is_ascii_digit() || character == 'v') {
        return Err(format!("`{version}` is not a version"));
    }
    Ok(())
}

/// PEP 508 names: letters and digits, with `.`, `_`, `-` inside.
pub(super) fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(byte))
}

/// PEP 503: lowercase, each run of `-`, `_`, `.` becomes one `-`.
pub fn normalise_name(name: &str) -> String {
    let mut normalised = String::with_capacity(name.len());
    let mut in_separator_run = false;
    for character in name.chars() {
        if "-_.".contains(character) {
            if !in_separator_run {
                normalised.push('-');
            }
            in_separator_run = true;
        } else {
            normalised.push(character.to_ascii_lowercase());
            in_separator_run = false;
        }
    }
    normalised
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_per_pep_503() {
        assert_eq!(normalise_name("Zope.Interface"), "zope-interface");
        assert_eq!(normalise_name("a__b-.-c"), "a-b-c");
        assert_eq!(normalise_name("NumPy"), "numpy");
    }
}
