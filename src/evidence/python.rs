//! Installed Python distributions, from their `*.dist-info/METADATA` (core metadata: RFC 822-style
//! headers). The licence is taken, in this order, from `License-Expression` (PEP 639), from a
//! `License` field that is itself an SPDX expression or one of a few common spellings, then from
//! the `License ::` classifiers (several are read as alternatives, `OR`). Some classifiers do not
//! name one licence (`BSD License`, `Apache Software License`): they are read as the licence most
//! packages mean by them, and the basis says so.

use super::{InstalledPackage, PackageEcosystem, spdx_expression};

/// Classifiers (after `License :: `) and the SPDX expression they are read as; `true` when the
/// classifier does not say which version or variant, so the reading is an approximation.
const CLASSIFIERS: &[(&str, &str, bool)] = &[
    ("OSI Approved :: MIT License", "MIT", false),
    (
        "OSI Approved :: MIT No Attribution License (MIT-0)",
        "MIT-0",
        false,
    ),
    ("OSI Approved :: BSD License", "BSD-3-Clause", true),
    (
        "OSI Approved :: Apache Software License",
        "Apache-2.0",
        true,
    ),
    ("OSI Approved :: ISC License (ISCL)", "ISC", false),
    (
        "OSI Approved :: Python Software Foundation License",
        "PSF-2.0",
        false,
    ),
    (
        "OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)",
        "MPL-2.0",
        false,
    ),
    (
        "OSI Approved :: The Unlicense (Unlicense)",
        "Unlicense",
        false,
    ),
    (
        "OSI Approved :: Historical Permission Notice and Disclaimer (HPND)",
        "HPND",
        false,
    ),
    ("OSI Approved :: zlib/libpng License", "Zlib", false),
    (
        "OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)",
        "EPL-2.0",
        false,
    ),
    (
        "OSI Approved :: GNU General Public License v2 (GPLv2)",
        "GPL-2.0-only",
        false,
    ),
    (
        "OSI Approved :: GNU General Public License v2 or later (GPLv2+)",
        "GPL-2.0-or-later",
        false,
    ),
    (
        "OSI Approved :: GNU General Public License v3 (GPLv3)",
        "GPL-3.0-only",
        false,
    ),
    (
        "OSI Approved :: GNU General Public License v3 or later (GPLv3+)",
        "GPL-3.0-or-later",
        false,
    ),
    (
        "OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)",
        "LGPL-2.0-only",
        false,
    ),
    (
        "OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)",
        "LGPL-2.0-or-later",
        false,
    ),
    (
        "OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)",
        "LGPL-3.0-only",
        false,
    ),
    (
        "OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)",
        "LGPL-3.0-or-later",
        false,
    ),
    (
        "OSI Approved :: GNU Affero General Public License v3",
        "AGPL-3.0-only",
        false,
    ),
    (
        "OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)",
        "AGPL-3.0-or-later",
        false,
    ),
    (
        "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication",
        "CC0-1.0",
        false,
    ),
    ("Other/Proprietary License", "LicenseRef-proprietary", false),
];

/// Common `License` field values that are not SPDX ids, and the id they mean; the ones that do
/// not say which variant are approximations.
const SPELLINGS: &[(&str, &str, bool)] = &[
    ("mit license", "MIT", false),
    ("apache 2.0", "Apache-2.0", false),
    ("apache-2", "Apache-2.0", false),
    ("apache license 2.0", "Apache-2.0", false),
    ("apache license, version 2.0", "Apache-2.0", false),
    ("apache software license", "Apache-2.0", true),
    ("bsd", "BSD-3-Clause", true),
    ("bsd license", "BSD-3-Clause", true),
    ("new bsd", "BSD-3-Clause", false),
    ("3-clause bsd", "BSD-3-Clause", false),
    ("psf", "PSF-2.0", false),
    ("gplv2", "GPL-2.0-only", false),
    ("gplv3", "GPL-3.0-only", false),
];

/// A distribution as its `METADATA` at `path` describes it.
pub fn distribution(path: &str, metadata: &str) -> InstalledPackage {
    let mut name = None;
    let mut version = None;
    let mut expression = None;
    let mut license = None;
    let mut classifiers = Vec::new();
    let mut last: Option<&str> = None;
    for line in metadata.lines() {
        if line.is_empty() {
            break; // The body (the long description) follows the headers.
        }
        if line.starts_with([' ', '\t']) {
            // A continuation line: only `License` runs over several lines in practice.
            if last == Some("license")
                && let Some(text) = license.as_mut()
            {
                let text: &mut String = text;
                text.push('\n');
                text.push_str(line.trim());
            }
            continue;
        }
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_owned();
        let field = field.trim().to_ascii_lowercase();
        match field.as_str() {
            "name" => name = Some(value),
            "version" => version = Some(value),
            "license-expression" => expression = Some(value),
            "license" => license = Some(value),
            "classifier" => classifiers.push(value),
            _ => {}
        }
        last = Some(match field.as_str() {
            "license" => "license",
            _ => "other",
        });
    }
    let fallback_name = path
        .rsplit('/')
        .nth(1)
        .and_then(|folder| folder.strip_suffix(".dist-info"))
        .unwrap_or(path)
        .to_owned();
    let (read, basis) = licence_of(expression.as_deref(), license.as_deref(), &classifiers);
    InstalledPackage {
        ecosystem: PackageEcosystem::Python,
        name: name.unwrap_or(fallback_name),
        version: version.unwrap_or_default(),
        licence: read,
        basis,
        path: format!("/{path}"),
    }
}

fn licence_of(
    expression: Option<&str>,
    license: Option<&str>,
    classifiers: &[String],
) -> (Option<String>, String) {
    if let Some(expression) = expression.filter(|text| !text.is_empty()) {
        return match spdx_expression(expression) {
            Some(valid) => (Some(valid), "License-Expression".to_owned()),
            None => (
                None,
                format!(
                    "License-Expression {expression:?} is not an SPDX expression labforge can \
                     classify"
                ),
            ),
        };
    }
    let license = license.map(str::trim).filter(|text| !text.is_empty());
    if let Some(text) = license.filter(|text| !text.contains('\n')) {
        if let Some(valid) = spdx_expression(text) {
            return (Some(valid), "License field".to_owned());
        }
        let lowered = text.to_ascii_lowercase();
        if let Some((_, id, approximate)) = SPELLINGS
            .iter()
            .find(|(spelling, _, _)| *spelling == lowered)
        {
            let note = if *approximate {
                " (which does not say which variant)"
            } else {
                ""
            };
            return (
                Some((*id).to_owned()),
                format!("License field {text:?}{note}, read as {id}"),
            );
        }
    }
    let mut read = Vec::new();
    let mut approximate = Vec::new();
    for classifier in classifiers {
        let Some(tail) = classifier.strip_prefix("License :: ") else {
            continue;
        };
        if let Some((_, id, vague)) = CLASSIFIERS.iter().find(|(known, _, _)| *known == tail) {
            if !read.contains(id) {
                read.push(id);
            }
            if *vague {
                approximate.push(format!("{tail:?} read as {id}"));
            }
        }
    }
    if !read.is_empty() {
        let expression = read
            .iter()
            .map(|id| (**id).to_owned())
            .collect::<Vec<_>>()
            .join(" OR ");
        let mut basis = "License classifiers".to_owned();
        if !approximate.is_empty() {
            basis = format!("{basis} ({})", approximate.join("; "));
        }
        return (Some(expression), basis);
    }
    let stated = match license {
        Some(text) => format!(
            "a License field that is no SPDX expression ({:?})",
            text.lines().next().unwrap_or_default()
        ),
        None => "no License field".to_owned(),
    };
    (
        None,
        format!("no License-Expression, no licence classifier labforge knows, and {stated}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_expression_wins_over_the_older_fields() {
        let package = distribution(
            "site/pkg-1.0.dist-info/METADATA",
            "Metadata-Version: 2.4\nName: pkg\nVersion: 1.0\nLicense-Expression: MIT OR \
             Apache-2.0\nLicense: GPL\nClassifier: License :: OSI Approved :: GNU General Public \
             License v3 (GPLv3)\n\nLicense: not a header\n",
        );
        assert_eq!(package.name, "pkg");
        assert_eq!(package.version, "1.0");
        assert_eq!(package.licence.as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(package.path, "/site/pkg-1.0.dist-info/METADATA");
    }

    #[test]
    fn classifiers_are_read_when_the_license_field_is_a_licence_text() {
        let package = distribution(
            "x/numpy-2.0.dist-info/METADATA",
            "Name: numpy\nVersion: 2.0\nLicense: Copyright (c) 2005, NumPy Developers.\n        \
             All rights reserved.\nClassifier: Programming Language :: C\nClassifier: License :: \
             OSI Approved :: BSD License\n",
        );
        assert_eq!(package.licence.as_deref(), Some("BSD-3-Clause"));
        assert!(package.basis.contains("BSD License"), "{}", package.basis);
    }

    #[test]
    fn an_unknown_licence_says_what_was_found() {
        let package = distribution(
            "x/mystery-0.1.dist-info/METADATA",
            "Name: mystery\nVersion: 0.1\nLicense: Ask the author\n",
        );
        assert_eq!(package.licence, None);
        assert!(
            package.basis.contains("Ask the author"),
            "{}",
            package.basis
        );
        let package = distribution(
            "x/odd-0.1.dist-info/METADATA",
            "Name: odd\nVersion: 0.1\nLicense-Expression: LicenseRef-Mine\n",
        );
        assert_eq!(package.licence, None);
        assert!(
            package.basis.contains("LicenseRef-Mine"),
            "{}",
            package.basis
        );
    }

    #[test]
    fn a_license_field_with_an_spdx_id_or_a_common_spelling_is_read() {
        let spdx = distribution(
            "x/a-1.dist-info/METADATA",
            "Name: a\nLicense: CC-BY-NC-4.0\n",
        );
        assert_eq!(spdx.licence.as_deref(), Some("CC-BY-NC-4.0"));
        let spelled = distribution("x/b-1.dist-info/METADATA", "Name: b\nLicense: Apache 2.0\n");
        assert_eq!(spelled.licence.as_deref(), Some("Apache-2.0"));
    }
}
