//! The rules for datalab names and version numbers, which become URL segments, image repository
//! names and image tags.

use super::DatalabError;

/// Longest version text: with `-<build number>` it must stay a valid image tag (128 characters).
pub(super) const MAX_VERSION_CHARACTERS: usize = 100;

/// Datalab names become URL segments and image repository names (`datalabs/<name>`).
pub(super) fn check_name(name: &str) -> Result<(), DatalabError> {
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
    if name.starts_with('-') || name.ends_with('-') {
        return Err(invalid("it starts or ends with '-'"));
    }
    Ok(())
}

/// Semantic versions as metadata.yaml's schema accepts them: `MAJOR.MINOR.PATCH` without leading
/// zeros, optionally `-` and dot-separated pre-release identifiers.
pub(super) fn check_version(version: &str) -> Result<(), DatalabError> {
    let numeric = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|byte| byte.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
    };
    let identifier = |part: &str| {
        numeric(part)
            || (!part.is_empty()
                && part
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
                && !part.bytes().all(|byte| byte.is_ascii_digit()))
    };
    let (core, pre_release) = match version.split_once('-') {
        Some((core, pre_release)) => (core, Some(pre_release)),
        None => (version, None),
    };
    let core_parts: Vec<&str> = core.split('.').collect();
    let valid = version.len() <= MAX_VERSION_CHARACTERS
        && core_parts.len() == 3
        && core_parts.iter().all(|part| numeric(part))
        && pre_release.is_none_or(|pre_release| pre_release.split('.').all(identifier));
    if valid {
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
