//! Installed Debian packages, from dpkg's status database, with the licences their
//! machine-readable copyright files (DEP-5) name. Approximations: every `License:` short name of
//! the copyright file counts (they are joined with `AND`, an `or` inside one field becomes `OR`),
//! `with <exception>` is dropped, Debian's short names are mapped to SPDX ids by a small table
//! (else used when they already are SPDX ids), and a copyright file that is not machine-readable,
//! or a documentation folder that is a link to another package's, gives no licence.

use std::collections::BTreeSet;

use super::layers::ImageFiles;
use super::{InstalledPackage, PackageEcosystem, spdx_expression};

/// Debian short names (lowercase) that are not SPDX ids, and the id they mean.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("expat", "MIT"),
    ("bsd-2-clause", "BSD-2-Clause"),
    ("bsd-3-clause", "BSD-3-Clause"),
    ("bsd-4-clause", "BSD-4-Clause"),
    ("artistic", "Artistic-1.0-Perl"),
    ("psf-2", "PSF-2.0"),
    ("python", "Python-2.0"),
    ("zlib", "Zlib"),
    ("cc0", "CC0-1.0"),
    ("mpl-1.1", "MPL-1.1"),
    ("mpl-2.0", "MPL-2.0"),
    ("apache-2", "Apache-2.0"),
];

/// The GNU families, whose Debian names (`GPL-2+`) carry a short version.
const GNU_FAMILIES: &[&str] = &["gpl", "lgpl", "agpl", "gfdl"];

/// Packages dpkg lists as installed in `files`, with their licences.
pub fn packages(files: &ImageFiles) -> Vec<InstalledPackage> {
    let Some(status) = files.get("var/lib/dpkg/status") else {
        return Vec::new();
    };
    let status = String::from_utf8_lossy(status);
    let mut packages = Vec::new();
    for paragraph in status.split("\n\n") {
        let field = |name: &str| {
            paragraph.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        let (Some(name), Some(state)) = (field("Package"), field("Status")) else {
            continue;
        };
        if !state.ends_with(" installed") {
            continue;
        }
        let copyright = format!("usr/share/doc/{name}/copyright");
        let (licence, basis) = match files.get(&copyright) {
            Some(text) => licence_of(&String::from_utf8_lossy(text)),
            None => (
                None,
                format!("no /{copyright} (missing, or its folder is a link)"),
            ),
        };
        packages.push(InstalledPackage {
            ecosystem: PackageEcosystem::Debian,
            name,
            version: field("Version").unwrap_or_default(),
            licence,
            basis,
            path: format!("/{copyright}"),
        });
    }
    packages
}

/// The licence a DEP-5 copyright file states, and where it comes from or why there is none.
fn licence_of(copyright: &str) -> (Option<String>, String) {
    let machine_readable = copyright
        .lines()
        .next()
        .is_some_and(|line| line.starts_with("Format:") && line.contains("copyright-format"));
    if !machine_readable {
        return (
            None,
            "the copyright file is not machine-readable (DEP-5)".to_owned(),
        );
    }
    let mut alternatives = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for line in copyright.lines() {
        let Some(value) = line.strip_prefix("License:") else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let mut sides = Vec::new();
        for side in split_words(value, " or ") {
            let side = split_words(&side, " with ")
                .into_iter()
                .next()
                .unwrap_or_default();
            let all: Vec<String> = split_words(&side, " and ")
                .into_iter()
                .filter_map(|name| {
                    let id = spdx_id(name.trim().trim_end_matches(','));
                    if id.is_none() {
                        unknown.insert(name.trim().to_owned());
                    }
                    id
                })
                .collect();
            if !all.is_empty() {
                sides.push(all.join(" AND "));
            }
        }
        match sides.len() {
            0 => {}
            1 => {
                alternatives.insert(sides.remove(0));
            }
            _ => {
                alternatives.insert(format!("({})", sides.join(" OR ")));
            }
        }
    }
    if !unknown.is_empty() {
        return (
            None,
            format!(
                "the copyright file names licences without an SPDX id labforge knows: {}",
                unknown.into_iter().collect::<Vec<_>>().join(", ")
            ),
        );
    }
    if alternatives.is_empty() {
        return (None, "the copyright file names no licence".to_owned());
    }
    let joined = alternatives.into_iter().collect::<Vec<_>>().join(" AND ");
    match spdx_expression(&joined) {
        Some(expression) => (Some(expression), "copyright file (DEP-5)".to_owned()),
        None => (
            None,
            format!("the copyright file's licences do not make an SPDX expression: {joined}"),
        ),
    }
}

/// Splits on `separator` ignoring case.
fn split_words(text: &str, separator: &str) -> Vec<String> {
    let lowered = text.to_ascii_lowercase();
    let mut parts = Vec::new();
    let mut start = 0;
    while let Some(found) = lowered[start..].find(separator) {
        parts.push(text[start..start + found].to_owned());
        start += found + separator.len();
    }
    parts.push(text[start..].to_owned());
    parts
}

/// The SPDX id of a Debian short name.
fn spdx_id(name: &str) -> Option<String> {
    let lowered = name.to_ascii_lowercase();
    if let Some((_, id)) = SHORT_NAMES.iter().find(|(short, _)| *short == lowered) {
        return Some((*id).to_owned());
    }
    let or_later = lowered.ends_with('+');
    let bare = lowered.trim_end_matches('+');
    if let Some((family, version)) = bare.split_once('-')
        && GNU_FAMILIES.contains(&family)
    {
        let version = if version.contains('.') {
            version.to_owned()
        } else {
            format!("{version}.0")
        };
        let suffix = if or_later { "or-later" } else { "only" };
        let id = format!("{}-{version}-{suffix}", family.to_ascii_uppercase());
        return spdx_expression(&id);
    }
    spdx_expression(name).filter(|id| !id.contains(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: bash\nStatus: install ok installed\nVersion: 5.2-1\n\n\
        Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
        Package: libfoo\nStatus: install ok installed\nVersion: 2\n";

    fn files(entries: &[(&str, &str)]) -> ImageFiles {
        entries
            .iter()
            .map(|(path, text)| ((*path).to_owned(), text.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn installed_packages_get_the_licences_of_their_dep5_copyright_file() {
        let packages = packages(&files(&[
            ("var/lib/dpkg/status", STATUS),
            (
                "usr/share/doc/bash/copyright",
                "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
                 Files: *\nLicense: GPL-3+\n\nFiles: lib/*\nLicense: GPL-2+ or Artistic\n\n\
                 License: GPL-3+\n On Debian systems...\n",
            ),
        ]));
        assert_eq!(packages.len(), 2, "{packages:?}");
        assert_eq!(packages[0].name, "bash");
        assert_eq!(packages[0].version, "5.2-1");
        assert_eq!(
            packages[0].licence.as_deref(),
            Some("(GPL-2.0-or-later OR Artistic-1.0-Perl) AND GPL-3.0-or-later")
        );
        assert_eq!(packages[1].licence, None);
        assert!(
            packages[1]
                .basis
                .contains("no /usr/share/doc/libfoo/copyright")
        );
    }

    #[test]
    fn a_free_form_copyright_file_or_an_unmapped_name_gives_no_licence_and_says_why() {
        let (licence, basis) = licence_of("This package was debianized by ...\n");
        assert_eq!(licence, None);
        assert!(basis.contains("not machine-readable"), "{basis}");
        let (licence, basis) = licence_of(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
             Files: *\nLicense: public-domain\n",
        );
        assert_eq!(licence, None);
        assert!(basis.contains("public-domain"), "{basis}");
    }
}
