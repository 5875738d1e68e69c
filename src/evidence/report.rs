//! The licence report: every installed package's licence through the licence engine, as if the
//! datalab were public, and a flag for each package whose licence a moderator must look at.

use serde::{Deserialize, Serialize};

use super::{InstalledPackage, PackageEcosystem};
use crate::licences::{Audience, Category, evaluate};

/// What a moderator must look at in the image's dependencies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LicenceReport {
    /// Python distributions found in the image.
    pub python_distributions: usize,
    /// Debian packages dpkg lists as installed.
    pub debian_packages: usize,
    /// The labforge base the image is built on (`jl_base 1.1.0`), when it could be read.
    #[serde(default)]
    pub base: Option<String>,
    /// Packages the base itself installs (same name and version): the operator chose them, so
    /// they are in the SBOM but not flagged here.
    #[serde(default)]
    pub from_base: usize,
    /// How many flags of each concern, the most flagged first: what the review looks at first.
    #[serde(default)]
    pub by_concern: Vec<ConcernCount>,
    /// One entry per package and concern the datalab adds, Python first.
    pub flags: Vec<LicenceFlag>,
}

/// The number of flags of one concern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConcernCount {
    pub concern: LicenceConcern,
    pub flags: usize,
}

/// The packages of the base an image is built on, which its report does not flag.
#[derive(Debug, Clone, Default)]
pub struct BasePackages {
    /// `jl_base 1.1.0`.
    pub name: String,
    pub packages: std::collections::HashSet<(PackageEcosystem, String, String)>,
}

impl BasePackages {
    pub fn new(name: String, packages: &[InstalledPackage]) -> Self {
        Self {
            name,
            packages: packages
                .iter()
                .map(|package| {
                    (
                        package.ecosystem,
                        package.name.clone(),
                        package.version.clone(),
                    )
                })
                .collect(),
        }
    }

    fn contains(&self, package: &InstalledPackage) -> bool {
        self.packages.contains(&(
            package.ecosystem,
            package.name.clone(),
            package.version.clone(),
        ))
    }
}

/// One package whose licence needs a look, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LicenceFlag {
    pub ecosystem: PackageEcosystem,
    pub package: String,
    pub version: String,
    /// The SPDX expression read, when there is one.
    pub licence: Option<String>,
    pub concern: LicenceConcern,
    /// Why, in plain words: where the licence was read and what the engine says of it.
    pub reason: String,
    /// The file the licence was read from.
    pub path: String,
}

/// Why a dependency's licence is flagged.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LicenceConcern {
    /// No licence could be read, or the engine cannot classify it.
    Unknown,
    /// Forbids commercial use.
    NonCommercial,
    /// Copyleft covering use over a network (AGPL).
    NetworkCopyleft,
    /// Copyleft covering the whole work when distributed (GPL).
    StrongCopyleft,
    /// Limited to the ESA Member States.
    MemberStatesOnly,
    Proprietary,
}

impl LicenceConcern {
    fn of(category: Category) -> Option<Self> {
        match category {
            Category::NonCommercial => Some(Self::NonCommercial),
            Category::NetworkCopyleft => Some(Self::NetworkCopyleft),
            Category::StrongCopyleft => Some(Self::StrongCopyleft),
            Category::MemberStatesOnly => Some(Self::MemberStatesOnly),
            Category::Proprietary => Some(Self::Proprietary),
            Category::NotClassified | Category::NoAssertion => Some(Self::Unknown),
            Category::Permissive | Category::WeakCopyleft | Category::OsiOrFsfApproved => None,
        }
    }
}

/// The report over `packages`; those `base` installs are counted, not flagged.
pub fn licence_report(packages: &[InstalledPackage], base: Option<&BasePackages>) -> LicenceReport {
    let mut flags = Vec::new();
    let mut from_base = 0;
    for package in packages {
        if base.is_some_and(|base| base.contains(package)) {
            from_base += 1;
            continue;
        }
        let flag = |concern, reason: String| LicenceFlag {
            ecosystem: package.ecosystem,
            package: package.name.clone(),
            version: package.version.clone(),
            licence: package.licence.clone(),
            concern,
            reason,
            path: package.path.clone(),
        };
        let Some(expression) = &package.licence else {
            flags.push(flag(LicenceConcern::Unknown, package.basis.clone()));
            continue;
        };
        let decision = match evaluate(expression, Audience::Public) {
            Ok(decision) => decision,
            Err(error) => {
                flags.push(flag(
                    LicenceConcern::Unknown,
                    format!("{}: {error}", package.basis),
                ));
                continue;
            }
        };
        // After an `OR`, only the side the engine takes counts.
        let mut concerns: Vec<(LicenceConcern, Vec<String>)> = Vec::new();
        for licence in decision
            .licences
            .iter()
            .filter(|licence| decision.chosen.contains(&licence.term))
        {
            let Some(concern) = LicenceConcern::of(licence.category) else {
                continue;
            };
            let words = format!("{} is {}", licence.term, licence.category.in_words());
            match concerns.iter_mut().find(|(known, _)| *known == concern) {
                Some((_, reasons)) => reasons.push(words),
                None => concerns.push((concern, vec![words])),
            }
        }
        for (concern, reasons) in concerns {
            flags.push(flag(
                concern,
                format!(
                    "{} (read from {}). {}",
                    reasons.join("; "),
                    package.basis,
                    decision.reasons.join(" ")
                ),
            ));
        }
    }
    flags.sort_by(|a, b| {
        (a.ecosystem, &a.package, &a.version).cmp(&(b.ecosystem, &b.package, &b.version))
    });
    let mut by_concern: Vec<ConcernCount> = Vec::new();
    for flag in &flags {
        match by_concern
            .iter_mut()
            .find(|count| count.concern == flag.concern)
        {
            Some(count) => count.flags += 1,
            None => by_concern.push(ConcernCount {
                concern: flag.concern,
                flags: 1,
            }),
        }
    }
    by_concern.sort_by(|a, b| b.flags.cmp(&a.flags).then(a.concern.cmp(&b.concern)));
    LicenceReport {
        base: base.map(|base| base.name.clone()),
        from_base,
        by_concern,
        python_distributions: packages
            .iter()
            .filter(|package| package.ecosystem == PackageEcosystem::Python)
            .count(),
        debian_packages: packages
            .iter()
            .filter(|package| package.ecosystem == PackageEcosystem::Debian)
            .count(),
        flags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, licence: Option<&str>) -> InstalledPackage {
        InstalledPackage {
            ecosystem: PackageEcosystem::Python,
            name: name.to_owned(),
            version: "1.0".to_owned(),
            licence: licence.map(str::to_owned),
            basis: "License-Expression".to_owned(),
            path: format!("/site/{name}-1.0.dist-info/METADATA"),
        }
    }

    #[test]
    fn gpl_non_commercial_network_copyleft_member_states_and_unknown_are_flagged() {
        let report = licence_report(
            &[
                package("fine", Some("MIT")),
                package("gpl", Some("GPL-3.0-only")),
                package("nc", Some("CC-BY-NC-4.0")),
                package("agpl", Some("AGPL-3.0-or-later")),
                package("esa", Some("LicenseRef-ESA-CL-permissive-2.4")),
                package("nothing", None),
                package("either", Some("MIT OR GPL-3.0-only")),
            ],
            None,
        );
        let concerns: Vec<(&str, LicenceConcern)> = report
            .flags
            .iter()
            .map(|flag| (flag.package.as_str(), flag.concern))
            .collect();
        assert_eq!(
            concerns,
            vec![
                ("agpl", LicenceConcern::NetworkCopyleft),
                ("esa", LicenceConcern::MemberStatesOnly),
                ("gpl", LicenceConcern::StrongCopyleft),
                ("nc", LicenceConcern::NonCommercial),
                ("nothing", LicenceConcern::Unknown),
            ]
        );
        assert_eq!(report.python_distributions, 7);
        let nc = &report.flags[3];
        assert!(
            nc.reason.contains("CC-BY-NC-4.0 is non-commercial"),
            "{}",
            nc.reason
        );
    }

    #[test]
    fn the_base_s_own_packages_are_counted_not_flagged_and_flags_are_grouped() {
        let base = BasePackages::new(
            "jl_base 1.1.0".to_owned(),
            &[
                package("base-gpl", Some("GPL-2.0-only")),
                package("base-unknown", None),
            ],
        );
        let mut newer = package("base-unknown", None);
        newer.version = "2.0".to_owned();
        let report = licence_report(
            &[
                package("base-gpl", Some("GPL-2.0-only")),
                package("base-unknown", None),
                newer,
                package("own-gpl", Some("GPL-3.0-only")),
                package("own-unknown", None),
                package("own-mystery", Some("LicenseRef-mystery")),
            ],
            Some(&base),
        );
        assert_eq!(report.base.as_deref(), Some("jl_base 1.1.0"));
        assert_eq!(report.from_base, 2);
        assert_eq!(report.python_distributions, 6, "every package is counted");
        let flagged: Vec<(&str, &str)> = report
            .flags
            .iter()
            .map(|flag| (flag.package.as_str(), flag.version.as_str()))
            .collect();
        assert_eq!(
            flagged,
            [
                ("base-unknown", "2.0"),
                ("own-gpl", "1.0"),
                ("own-mystery", "1.0"),
                ("own-unknown", "1.0")
            ],
            "a base package in another version is the datalab's own"
        );
        assert_eq!(
            report.by_concern,
            [
                ConcernCount {
                    concern: LicenceConcern::Unknown,
                    flags: 3
                },
                ConcernCount {
                    concern: LicenceConcern::StrongCopyleft,
                    flags: 1
                },
            ]
        );
    }
}
