//! Repository names and tags, validated by the grammar of the OCI Distribution Spec. A
//! [`RepositoryName`] can only be built by validation, which is what makes it safe to turn into a
//! storage path: no component is empty, `.` or `..`, or starts with `_` (used by the store's own
//! folders).

use std::fmt;
use std::str::FromStr;

use super::error::RegistryError;

const MAX_NAME_LENGTH: usize = 255;
const MAX_TAG_LENGTH: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl FromStr for RepositoryName {
    type Err = RegistryError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| RegistryError::NameInvalid {
            name: name.to_owned(),
            reason,
        };
        if name.len() > MAX_NAME_LENGTH {
            return Err(invalid("longer than 255 characters"));
        }
        for component in name.split('/') {
            check_component(component).map_err(invalid)?;
        }
        Ok(Self(name.to_owned()))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn check_component(component: &str) -> Result<(), &'static str> {
    let bytes = component.as_bytes();
    let alphanumeric = |byte: u8| byte.is_ascii_lowercase() || byte.is_ascii_digit();
    if !bytes.first().copied().is_some_and(alphanumeric)
        || !bytes.last().copied().is_some_and(alphanumeric)
    {
        return Err("each path component must start and end with [a-z0-9]");
    }
    let mut index = 0;
    while index < bytes.len() {
        if alphanumeric(bytes[index]) {
            index += 1;
            continue;
        }
        let start = index;
        while index < bytes.len() && !alphanumeric(bytes[index]) {
            index += 1;
        }
        match &component[start..index] {
            "." | "_" | "__" => {}
            separator if separator.bytes().all(|byte| byte == b'-') => {}
            _ => return Err("components are [a-z0-9] separated by one '.', '_', '__' or dashes"),
        }
    }
    Ok(())
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = RegistryError;

    fn from_str(tag: &str) -> Result<Self, Self::Err> {
        let valid = !tag.is_empty()
            && tag.len() <= MAX_TAG_LENGTH
            && tag
                .bytes()
                .next()
                .is_some_and(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
            && tag
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-'));
        if valid {
            Ok(Self(tag.to_owned()))
        } else {
            Err(RegistryError::TagInvalid {
                tag: tag.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_grammar() {
        for good in [
            "a",
            "datalabs/jl-euclid",
            "a.b_c__d---e/f0",
            "library/debian",
        ] {
            assert!(good.parse::<RepositoryName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "..",
            "a/../b",
            "a/..",
            "../etc",
            "A",
            "a//b",
            "/a",
            "a/",
            "a.",
            "_a",
            "a..b",
            "a___b",
            "a._b",
            "a/_manifests",
        ] {
            assert!(bad.parse::<RepositoryName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_follow_the_spec_grammar() {
        for good in ["latest", "0.0.1-0", "_x", "V1.2"] {
            assert!(good.parse::<Tag>().is_ok(), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(bad.parse::<Tag>().is_err(), "{bad}");
        }
    }
}
