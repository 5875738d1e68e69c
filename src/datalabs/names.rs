//! The rules for datalab names and version numbers, which become URL segments, image repository
//! names and image tags.

use super::DatalabError;
use crate::http::openapi::FieldRule;
use crate::rules::{TextRule, text_rule};

/// Longest version text: with `-<build number>` it must stay a valid image tag (128 characters).
pub(super) const MAX_VERSION_CHARACTERS: usize = 100;

/// 2 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit.
pub static NAME: TextRule = text_rule!("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", 2, 63);

/// Semantic versions as metadata.yaml's schema accepts them: `MAJOR.MINOR.PATCH` without leading
/// zeros, optionally `-` and dot-separated pre-release identifiers (numeric ones without leading
/// zeros).
pub static VERSION: TextRule = text_rule!(
    r"^(0|[1-9][0-9]*)[.](0|[1-9][0-9]*)[.](0|[1-9][0-9]*)(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)([.](0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?$",
    5,
    MAX_VERSION_CHARACTERS,
);

/// The rules of the datalabs' request bodies, for the OpenAPI document.
pub static BODY_RULES: [FieldRule; 2] = [
    FieldRule::new("NewDatalab", "name", &NAME),
    FieldRule::new("NewVersion", "version", &VERSION),
];

/// Datalab names become URL segments and image repository names (`datalabs/<name>`).
pub(super) fn check_name(name: &str) -> Result<(), DatalabError> {
    if NAME.allows(name) {
        return Ok(());
    }
    let invalid = |reason| DatalabError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if !(2..=63).contains(&name.len()) {
        return Err(invalid("it has fewer than 2 or more than 63 characters"));
    }
    if !name.chars().all(|character| {
        character.is_ascii_lowercase() || character.is_ascii_digit() || character == '-'
    }) {
        return Err(invalid("it has a character other than a-z, 0-9 and '-'"));
    }
    Err(invalid("it starts or ends with '-'"))
}

/// A version that follows [`VERSION`].
pub(super) fn check_version(version: &str) -> Result<(), DatalabError> {
    if VERSION.allows(version) {
        Ok(())
    } else {
        Err(DatalabError::InvalidVersion {
            version: version.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_slug_rule_and_say_what_is_wrong() {
        for good in ["jl-euclid-tools", "x1", "web-catalog-browser"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for (bad, reason) in [
            ("a", "fewer than 2"),
            ("Upper", "other than a-z"),
            ("under_score", "other than a-z"),
            ("-lead", "starts or ends"),
            ("trail-", "starts or ends"),
        ] {
            let message = check_name(bad).unwrap_err().to_string();
            assert!(message.contains(reason), "{bad}: {message}");
        }
        assert!(check_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn versions_are_semantic() {
        for good in ["0.0.1", "1.20.3", "1.2.3-rc.1", "1.2.3-alpha-2.0"] {
            assert!(check_version(good).is_ok(), "{good}");
        }
        for bad in [
            "1.2",
            "01.2.3",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3+build",
            "v1.2.3",
            "1.2.3-a..b",
        ] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }
}
