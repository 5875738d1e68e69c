//! The engine's table of cases: each expression, the audience asked for, and what must come out:
//! the audiences allowed and the obligations, or the kind of refusal; with words the reasons or
//! the message must contain.

use super::*;

const PUBLIC: Audience = Audience::Public;
const MEMBERS: Audience = Audience::MemberStates;
const PRIVATE: Audience = Audience::Private;

const EVERYONE: &[Audience] = &[PUBLIC, MEMBERS, PRIVATE];
const ESA_ONLY: &[Audience] = &[MEMBERS, PRIVATE];
const PRIVATE_ONLY: &[Audience] = &[PRIVATE];

const NONE: &[Obligation] = &[];
const SOURCE: &[Obligation] = &[Obligation::SourceReachable];
const SOURCE_AND_URL: &[Obligation] = &[Obligation::SourceReachable, Obligation::PublicSourceUrl];

/// The kinds of [`LicenceError`], without their details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Empty,
    TooLong,
    TooDeep,
    Syntax,
    LowercaseOperator,
    UnknownLicence,
    UnknownException,
    UnknownReference,
    Deprecated,
    GnuPlus,
    NotAlone,
}

fn refusal(error: &LicenceError) -> Refusal {
    match error {
        LicenceError::Empty => Refusal::Empty,
        LicenceError::TooLong { .. } => Refusal::TooLong,
        LicenceError::TooDeep { .. } => Refusal::TooDeep,
        LicenceError::Syntax { .. } => Refusal::Syntax,
        LicenceError::LowercaseOperator { .. } => Refusal::LowercaseOperator,
        LicenceError::UnknownLicence { .. } => Refusal::UnknownLicence,
        LicenceError::UnknownException { .. } => Refusal::UnknownException,
        LicenceError::UnknownReference { .. } => Refusal::UnknownReference,
        LicenceError::Deprecated { .. } => Refusal::Deprecated,
        LicenceError::GnuPlus { .. } => Refusal::GnuPlus,
        LicenceError::NotAlone { .. } => Refusal::NotAlone,
    }
}

enum Expected {
    /// The audiences the expression allows, and the obligations for the audience asked for.
    Decides(&'static [Audience], &'static [Obligation]),
    Refuses(Refusal),
}

use Expected::{Decides, Refuses};

struct Case {
    expression: String,
    audience: Audience,
    expected: Expected,
    /// Words the reasons (or the refusal's message) must contain.
    mentions: &'static [&'static str],
}

fn case(
    expression: impl Into<String>,
    audience: Audience,
    expected: Expected,
    mentions: &'static [&'static str],
) -> Case {
    Case {
        expression: expression.into(),
        audience,
        expected,
        mentions,
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one table, grouped by what it covers, reads better than split across functions"
)]
fn cases() -> Vec<Case> {
    let or_chain = |count: usize| format!("{}MIT", "MIT OR ".repeat(count));
    let nested = |depth: usize| format!("{}MIT{}", "(".repeat(depth), ")".repeat(depth));
    vec![
        // The ESA Public Licences: open source, three copyleft strengths.
        case(
            "ESA-PL-permissive-2.4",
            PUBLIC,
            Decides(EVERYONE, NONE),
            &["permissive"],
        ),
        case(
            "ESA-PL-weak-copyleft-2.4",
            PUBLIC,
            Decides(EVERYONE, SOURCE),
            &["weak copyleft"],
        ),
        case(
            "ESA-PL-strong-copyleft-2.4",
            PUBLIC,
            Decides(EVERYONE, SOURCE_AND_URL),
            &["over a network"],
        ),
        case(
            "ESA-PL-strong-copyleft-2.4",
            MEMBERS,
            Decides(EVERYONE, SOURCE),
            &[],
        ),
        // The ESA Software Community Licences: ESA Member States only.
        case(
            "LicenseRef-ESA-CL-permissive-2.4",
            PUBLIC,
            Decides(ESA_ONLY, NONE),
            &["never public", "not allowed"],
        ),
        case(
            "LicenseRef-ESA-CL-permissive-2.4",
            MEMBERS,
            Decides(ESA_ONLY, NONE),
            &["ESA Member States"],
        ),
        case(
            "LicenseRef-ESA-CL-weak-copyleft-2.4",
            MEMBERS,
            Decides(ESA_ONLY, SOURCE),
            &[],
        ),
        case(
            "LicenseRef-ESA-CL-weak-copyleft-2.4",
            PRIVATE,
            Decides(ESA_ONLY, SOURCE),
            &[],
        ),
        case(
            "LicenseRef-ESA-CL-strong-copyleft-2.4",
            MEMBERS,
            Decides(ESA_ONLY, SOURCE),
            &[],
        ),
        case(
            "LicenseRef-ESA-CL-strong-copyleft-2.4",
            PUBLIC,
            Decides(ESA_ONLY, NONE),
            &["not allowed"],
        ),
        case(
            "LicenseRef-ESA-CL-type-3-2.4",
            MEMBERS,
            Refuses(Refusal::UnknownReference),
            &["did you mean `LicenseRef-ESA-CL-permissive-2.4`?"],
        ),
        case(
            "LicenseRef-ESA-CL-permissive-2.3",
            MEMBERS,
            Refuses(Refusal::UnknownReference),
            &["LicenseRef-ESA-CL-weak-copyleft-2.4"],
        ),
        // The GPL family, current and deprecated ids.
        case(
            "GPL-3.0-only",
            PUBLIC,
            Decides(EVERYONE, SOURCE),
            &["whole source"],
        ),
        case("GPL-3.0-or-later", PUBLIC, Decides(EVERYONE, SOURCE), &[]),
        case("GPL-2.0-only", PUBLIC, Decides(EVERYONE, SOURCE), &[]),
        case("GPL-2.0-or-later", PRIVATE, Decides(EVERYONE, SOURCE), &[]),
        case(
            "GPL-2.0",
            PUBLIC,
            Refuses(Refusal::Deprecated),
            &["did you mean `GPL-2.0-only` or `GPL-2.0-or-later`?"],
        ),
        case(
            "GPL-2.0+",
            PUBLIC,
            Refuses(Refusal::Deprecated),
            &[
                "`GPL-2.0+` is a deprecated",
                "did you mean `GPL-2.0-or-later`?",
            ],
        ),
        case(
            "GPL-3.0",
            PUBLIC,
            Refuses(Refusal::Deprecated),
            &["`GPL-3.0-only` or `GPL-3.0-or-later`"],
        ),
        case(
            "MIT AND GPL-3.0+",
            PUBLIC,
            Refuses(Refusal::Deprecated),
            &["did you mean `GPL-3.0-or-later`?"],
        ),
        case(
            "GPL-3.0-only+",
            PUBLIC,
            Refuses(Refusal::GnuPlus),
            &["did you mean `GPL-3.0-or-later`?"],
        ),
        case(
            "GPL-2.0-or-later+",
            PUBLIC,
            Refuses(Refusal::GnuPlus),
            &["`GPL-2.0-or-later`?"],
        ),
        case(
            "LGPL-2.1",
            PUBLIC,
            Refuses(Refusal::Deprecated),
            &["`LGPL-2.1-only` or `LGPL-2.1-or-later`"],
        ),
        case(
            "LGPL-2.1+",
            PUBLIC,
            Refuses(Refusal::Deprecated),
            &["`LGPL-2.1-or-later`"],
        ),
        case(
            "GPL-2.0-with-classpath-exception",
            PUBLIC,
            Refuses(Refusal::Deprecated),
            &["`GPL-2.0-only WITH Classpath-exception-2.0`"],
        ),
        case(
            "AGPL-3.0",
            PUBLIC,
            Refuses(Refusal::Deprecated),
            &["`AGPL-3.0-only` or `AGPL-3.0-or-later`"],
        ),
        case(
            "gpl-3.0-only",
            PUBLIC,
            Refuses(Refusal::UnknownLicence),
            &["did you mean `GPL-3.0-only`?"],
        ),
        // AGPL: network copyleft.
        case(
            "AGPL-3.0-only",
            PUBLIC,
            Decides(EVERYONE, SOURCE_AND_URL),
            &["public source URL"],
        ),
        case("AGPL-3.0-or-later", PRIVATE, Decides(EVERYONE, SOURCE), &[]),
        case("AGPL-3.0-only", MEMBERS, Decides(EVERYONE, SOURCE), &[]),
        // Exceptions.
        case(
            "LGPL-2.1-or-later WITH OCaml-LGPL-linking-exception",
            PUBLIC,
            Decides(EVERYONE, SOURCE),
            &["`OCaml-LGPL-linking-exception`"],
        ),
        case(
            "GPL-2.0-or-later WITH Classpath-exception-2.0",
            PUBLIC,
            Decides(EVERYONE, SOURCE),
            &["does not count on"],
        ),
        case(
            "Apache-2.0 WITH LLVM-exception",
            PUBLIC,
            Decides(EVERYONE, NONE),
            &[],
        ),
        case(
            "GPL-2.0-only WITH Nokia-Qt-exception-1.1",
            PUBLIC,
            Refuses(Refusal::Deprecated),
            &["did you mean `Qt-LGPL-exception-1.1`?"],
        ),
        case(
            "GPL-2.0-only WITH Classpath-exception",
            PUBLIC,
            Refuses(Refusal::UnknownException),
            &["`Classpath-exception`"],
        ),
        case(
            "GPL-3.0-only WITH AdditionRef-mine",
            PUBLIC,
            Refuses(Refusal::UnknownException),
            &[],
        ),
        case(
            "MIT WITH",
            PUBLIC,
            Refuses(Refusal::Syntax),
            &["an exception id"],
        ),
        // Creative Commons, non-commercial and not.
        case(
            "CC-BY-NC-4.0",
            PUBLIC,
            Decides(PRIVATE_ONLY, NONE),
            &["forbids commercial use"],
        ),
        case("CC-BY-NC-4.0", PRIVATE, Decides(PRIVATE_ONLY, NONE), &[]),
        case(
            "CC-BY-NC-SA-4.0",
            PRIVATE,
            Decides(PRIVATE_ONLY, SOURCE),
            &[],
        ),
        case(
            "CC-BY-NC-ND-4.0",
            MEMBERS,
            Decides(PRIVATE_ONLY, NONE),
            &["not allowed"],
        ),
        case("CC-BY-4.0", PUBLIC, Decides(EVERYONE, NONE), &[]),
        case("CC-BY-SA-4.0", PUBLIC, Decides(EVERYONE, SOURCE), &[]),
        // Mixtures: OR takes the side that asks the least, AND needs all.
        case(
            "MIT OR GPL-3.0-only",
            PUBLIC,
            Decides(EVERYONE, NONE),
            &["labforge takes `MIT`"],
        ),
        case(
            "GPL-3.0-only OR MIT",
            PUBLIC,
            Decides(EVERYONE, NONE),
            &["labforge takes `MIT`, because it asks less"],
        ),
        case(
            "MIT AND GPL-3.0-only",
            PUBLIC,
            Decides(EVERYONE, SOURCE),
            &[],
        ),
        case(
            "(Apache-2.0 OR MIT) AND BSD-3-Clause",
            PUBLIC,
            Decides(EVERYONE, NONE),
            &["labforge takes `Apache-2.0`"],
        ),
        case(
            "MIT AND LicenseRef-proprietary",
            PUBLIC,
            Decides(PRIVATE_ONLY, NONE),
            &["kept private"],
        ),
        case(
            "MIT OR LicenseRef-proprietary",
            PUBLIC,
            Decides(EVERYONE, NONE),
            &["the other does not allow this audience"],
        ),
        case(
            "LicenseRef-ESA-CL-permissive-2.4 OR ESA-PL-permissive-2.4",
            PUBLIC,
            Decides(EVERYONE, NONE),
            &["labforge takes `ESA-PL-permissive-2.4`"],
        ),
        case(
            "LicenseRef-ESA-CL-permissive-2.4 AND MIT",
            PUBLIC,
            Decides(ESA_ONLY, NONE),
            &[],
        ),
        case(
            "LicenseRef-ESA-CL-permissive-2.4 AND MIT",
            MEMBERS,
            Decides(ESA_ONLY, NONE),
            &[],
        ),
        case(
            "CC-BY-NC-4.0 OR AGPL-3.0-only",
            PUBLIC,
            Decides(EVERYONE, SOURCE_AND_URL),
            &["labforge takes `AGPL-3.0-only`"],
        ),
        case(
            "CC-BY-NC-4.0 OR AGPL-3.0-only",
            PRIVATE,
            Decides(EVERYONE, NONE),
            &["labforge takes `CC-BY-NC-4.0`"],
        ),
        case(
            "AGPL-3.0-only AND (MIT OR GPL-2.0-only)",
            PUBLIC,
            Decides(EVERYONE, SOURCE_AND_URL),
            &[],
        ),
        case(
            "LGPL-3.0-only AND GPL-3.0-only AND MIT",
            PUBLIC,
            Decides(EVERYONE, SOURCE),
            &[],
        ),
        case(
            "CC-BY-NC-4.0 AND LicenseRef-ESA-CL-permissive-2.4",
            MEMBERS,
            Decides(PRIVATE_ONLY, NONE),
            &[],
        ),
        case(
            "CC-BY-NC-4.0 OR LicenseRef-proprietary",
            PUBLIC,
            Decides(PRIVATE_ONLY, NONE),
            &["neither `CC-BY-NC-4.0` nor `LicenseRef-proprietary` allows public"],
        ),
        // Outside the table: the SPDX list's flags decide.
        case(
            "Beerware",
            PUBLIC,
            Decides(PRIVATE_ONLY, NONE),
            &["neither OSI-approved nor FSF-libre"],
        ),
        case(
            "GFDL-1.3-or-later",
            PUBLIC,
            Decides(EVERYONE, SOURCE),
            &["SPDX list's flags"],
        ),
        case(
            "Apache-2.0+",
            PUBLIC,
            Decides(EVERYONE, NONE),
            &["later versions"],
        ),
        // Unknown ids, and ids in the wrong case.
        case(
            "Foo-1.0",
            PUBLIC,
            Refuses(Refusal::UnknownLicence),
            &["`Foo-1.0` is not an id"],
        ),
        case(
            "Apache 2.0",
            PUBLIC,
            Refuses(Refusal::UnknownLicence),
            &["did you mean `Apache-2.0`?"],
        ),
        case(
            "MIT License",
            PUBLIC,
            Refuses(Refusal::UnknownLicence),
            &["did you mean `MIT`?"],
        ),
        case(
            "mit",
            PUBLIC,
            Refuses(Refusal::UnknownLicence),
            &["did you mean `MIT`?"],
        ),
        case(
            "apache-2.0 OR mit",
            PUBLIC,
            Refuses(Refusal::UnknownLicence),
            &["did you mean `Apache-2.0`?"],
        ),
        case(
            "LicenseRef-mine",
            PUBLIC,
            Refuses(Refusal::UnknownReference),
            &["`LicenseRef-proprietary`"],
        ),
        case(
            "DocumentRef-spdx:LicenseRef-proprietary",
            PUBLIC,
            Refuses(Refusal::UnknownReference),
            &[],
        ),
        // Syntax.
        case(
            "MIT OR",
            PUBLIC,
            Refuses(Refusal::Syntax),
            &["ends too early", "a licence id"],
        ),
        case("(MIT", PUBLIC, Refuses(Refusal::Syntax), &["never closed"]),
        case(
            "MIT)",
            PUBLIC,
            Refuses(Refusal::Syntax),
            &["closes nothing"],
        ),
        case(
            "MIT Apache-2.0",
            PUBLIC,
            Refuses(Refusal::Syntax),
            &["character 5", "`AND` or `OR`"],
        ),
        case(
            "MIT / Apache-2.0",
            PUBLIC,
            Refuses(Refusal::Syntax),
            &["`/` at character 5"],
        ),
        case(
            "MIT, Apache-2.0",
            PUBLIC,
            Refuses(Refusal::Syntax),
            &["`,` at character 4"],
        ),
        case(
            "Apache-2.0 +",
            PUBLIC,
            Refuses(Refusal::Syntax),
            &["separated"],
        ),
        case(
            "MIT\u{2003}OR Apache-2.0",
            PUBLIC,
            Refuses(Refusal::Syntax),
            &["cannot appear"],
        ),
        case("", PUBLIC, Refuses(Refusal::Empty), &[]),
        case("   ", PUBLIC, Refuses(Refusal::Empty), &[]),
        case(
            "MIT or Apache-2.0",
            PUBLIC,
            Refuses(Refusal::LowercaseOperator),
            &["write `OR`"],
        ),
        case(
            "MIT And Apache-2.0",
            PUBLIC,
            Refuses(Refusal::LowercaseOperator),
            &["write `AND`"],
        ),
        // NOASSERTION and proprietary: private only.
        case(
            "NOASSERTION",
            PUBLIC,
            Decides(PRIVATE_ONLY, NONE),
            &["not determined"],
        ),
        case("NOASSERTION", PRIVATE, Decides(PRIVATE_ONLY, NONE), &[]),
        case(
            "NOASSERTION OR MIT",
            PUBLIC,
            Refuses(Refusal::NotAlone),
            &["stands alone"],
        ),
        case(
            "noassertion",
            PUBLIC,
            Refuses(Refusal::UnknownLicence),
            &["did you mean `NOASSERTION`?"],
        ),
        case(
            "NONE",
            PUBLIC,
            Refuses(Refusal::UnknownLicence),
            &["did you mean `LicenseRef-proprietary`?"],
        ),
        case(
            "LicenseRef-proprietary",
            PRIVATE,
            Decides(PRIVATE_ONLY, NONE),
            &[],
        ),
        case(
            "LicenseRef-proprietary",
            MEMBERS,
            Decides(PRIVATE_ONLY, NONE),
            &["not allowed"],
        ),
        // Limits: checked before parsing.
        case(or_chain(142), PUBLIC, Decides(EVERYONE, NONE), &[]),
        case(
            or_chain(143),
            PUBLIC,
            Refuses(Refusal::TooLong),
            &["1004 characters; at most 1000"],
        ),
        case(
            "MIT OR ".repeat(1428) + "Zlib",
            PUBLIC,
            Refuses(Refusal::TooLong),
            &["10000 characters"],
        ),
        case("(".repeat(10_000), PUBLIC, Refuses(Refusal::TooLong), &[]),
        case(nested(MAX_NESTING), PUBLIC, Decides(EVERYONE, NONE), &[]),
        case(
            nested(MAX_NESTING + 1),
            PUBLIC,
            Refuses(Refusal::TooDeep),
            &["9 deep; at most 8"],
        ),
        case(nested(400), PUBLIC, Refuses(Refusal::TooDeep), &[]),
    ]
}

#[test]
fn every_case_decides_or_refuses_as_the_table_says() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut failures = Vec::new();
    for Case {
        expression,
        audience,
        expected,
        mentions,
    } in &cases
    {
        let shown: String = expression.chars().take(60).collect();
        let result = evaluate(expression, *audience);
        let text = match (&result, expected) {
            (Ok(decision), Decides(audiences, obligations)) => {
                let allowed = audiences.contains(audience);
                if decision.audiences != *audiences
                    || decision.allowed != allowed
                    || decision.obligations != *obligations
                {
                    failures.push(format!(
                        "{shown:?} for {audience:?}: allowed {} {:?} with {:?}, expected {allowed} {audiences:?} with {obligations:?}",
                        decision.allowed, decision.audiences, decision.obligations
                    ));
                }
                decision.reasons.join("\n")
            }
            (Err(error), Refuses(kind)) => {
                if refusal(error) != *kind {
                    failures.push(format!(
                        "{shown:?}: refused as {error:?}, expected {kind:?}"
                    ));
                }
                error.to_string()
            }
            (Ok(decision), Refuses(kind)) => {
                failures.push(format!(
                    "{shown:?}: decided {decision:?}, expected {kind:?}"
                ));
                continue;
            }
            (Err(error), Decides(..)) => {
                failures.push(format!("{shown:?}: refused: {error}"));
                continue;
            }
        };
        for words in *mentions {
            if !text.contains(words) {
                failures.push(format!("{shown:?}: {words:?} missing from:\n{text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
