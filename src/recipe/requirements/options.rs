//! The pip options a requirements line may carry, and the policy on each: `--hash`, includes and
//! editable installs are handed to the reader (which decides whether an editable install is
//! allowed); index options pass only when
//! [`PackagingConfig::allow_index_options`](crate::recipe::PackagingConfig::allow_index_options)
//! says so; options pip knows but labforge does not support, and unknown ones, are refused by name.

use super::reader::LineContext;
use crate::recipe::error::RequirementsError;

pub(super) struct LineOption<'a> {
    pub(super) name: &'static str,
    pub(super) value: &'a str,
}

/// What an option on a requirements line does.
enum OptionKind {
    /// Handled by the reader; needs a value.
    Allowed(&'static str, &'static str),
    /// Changes the package source; the long name.
    Index {
        canonical: &'static str,
        takes_value: bool,
    },
    /// Installs local code.
    Editable,
    /// Known to pip, not supported here.
    Unsupported,
}

fn classify_option(name: &str) -> Option<OptionKind> {
    Some(match name {
        "--hash" => OptionKind::Allowed("--hash", "sha256:<64 hex digits>"),
        "-r" => OptionKind::Allowed("-r", "other-requirements.txt"),
        "--requirement" => OptionKind::Allowed("--requirement", "other-requirements.txt"),
        "-c" => OptionKind::Allowed("-c", "constraints.txt"),
        "--constraint" => OptionKind::Allowed("--constraint", "constraints.txt"),
        "-e" | "--editable" => OptionKind::Editable,
        "-i" | "--index-url" => OptionKind::Index {
            canonical: "--index-url",
            takes_value: true,
        },
        "--extra-index-url" => OptionKind::Index {
            canonical: "--extra-index-url",
            takes_value: true,
        },
        "--trusted-host" => OptionKind::Index {
            canonical: "--trusted-host",
            takes_value: true,
        },
        "-f" | "--find-links" => OptionKind::Index {
            canonical: "--find-links",
            takes_value: true,
        },
        "--no-index" => OptionKind::Index {
            canonical: "--no-index",
            takes_value: false,
        },
        "--pre" | "--prefer-binary" | "--only-binary" | "--no-binary" | "--require-hashes"
        | "--use-feature" | "--config-settings" | "--global-option" | "-Z" | "--always-unzip" => {
            OptionKind::Unsupported
        }
        _ => return None,
    })
}

/// Reads the options part of a line (`-r x`, `-rx`, `--requirement=x`, `--requirement x`).
pub(super) fn parse_options<'a>(
    tokens: &[&'a str],
    context: &LineContext<'_>,
    allow_index_options: bool,
) -> Result<Vec<LineOption<'a>>, RequirementsError> {
    let mut options = Vec::new();
    let mut remaining = tokens.iter();
    while let Some(token) = remaining.next() {
        let (name, attached) = if token.starts_with("--") {
            match token.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (*token, None),
            }
        } else if token.starts_with('-') && token.len() > 2 && token.is_char_boundary(2) {
            (&token[..2], Some(&token[2..]))
        } else {
            (*token, None)
        };
        match classify_option(name) {
            None => {
                return Err(RequirementsError::UnknownOption {
                    file: context.file(),
                    line: context.number,
                    option: (*token).to_owned(),
                });
            }
            Some(OptionKind::Unsupported) => {
                return Err(RequirementsError::UnsupportedOption {
                    file: context.file(),
                    line: context.number,
                    option: name.to_owned(),
                });
            }
            Some(OptionKind::Index {
                canonical,
                takes_value,
            }) => {
                if !allow_index_options {
                    return Err(RequirementsError::IndexOption {
                        file: context.file(),
                        line: context.number,
                        option: name.to_owned(),
                        text: context.text.to_owned(),
                    });
                }
                let value = if takes_value {
                    attached
                        .filter(|value| !value.is_empty())
                        .or_else(|| remaining.next().copied())
                        .ok_or_else(|| RequirementsError::MissingOptionValue {
                            file: context.file(),
                            line: context.number,
                            option: name.to_owned(),
                            example: "https://pypi.example.org/simple",
                        })?
                } else {
                    ""
                };
                options.push(LineOption {
                    name: canonical,
                    value,
                });
            }
            Some(OptionKind::Editable) => {
                let value = attached
                    .filter(|value| !value.is_empty())
                    .or_else(|| remaining.next().copied())
                    .ok_or_else(|| RequirementsError::MissingOptionValue {
                        file: context.file(),
                        line: context.number,
                        option: name.to_owned(),
                        example: "./my-package",
                    })?;
                options.push(LineOption { name: "-e", value });
            }
            Some(OptionKind::Allowed(canonical, example)) => {
                let value = attached
                    .filter(|value| !value.is_empty())
                    .or_else(|| remaining.next().copied())
                    .ok_or_else(|| RequirementsError::MissingOptionValue {
                        file: context.file(),
                        line: context.number,
                        option: name.to_owned(),
                        example,
                    })?;
                options.push(LineOption {
                    name: canonical,
                    value,
                });
            }
        }
    }
    Ok(options)
}

pub(super) fn check_hash(
    value: &str,
    context: &LineContext<'_>,
) -> Result<String, RequirementsError> {
    let valid = value.split_once(':').is_some_and(|(algorithm, digest)| {
        let length = match algorithm {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return false,
        };
        digest.len() == length
            && digest
                .chars()
                .all(|character| character.is_ascii_hexdigit())
    });
    if valid {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(RequirementsError::InvalidHash {
            file: context.file(),
            line: context.number,
            value: value.to_owned(),
        })
    }
}
