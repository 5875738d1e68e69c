//! Reading an SPDX licence expression, strictly: the `spdx` crate parses it, and labforge refuses
//! what that crate lets through but an author should not write (lowercase operators, deprecated
//! exceptions, references to licences labforge cannot classify), and what would cost more than it
//! is worth (more than [`MAX_EXPRESSION_CHARACTERS`] characters, parentheses nested deeper than
//! [`MAX_NESTING`]): both limits are checked on the text before any parsing.

use std::collections::HashMap;
use std::sync::LazyLock;

use spdx::error::{ParseError, Reason};
use spdx::expression::{ExprNode, Operator};
use spdx::{AdditionItem, LicenseItem};

use super::LicenceError;
use super::classification::KNOWN_REFERENCES;

/// Longest expression accepted, in characters. Real expressions stay under 200; the limit leaves
/// room for long mixtures while refusing pasted licence texts.
pub const MAX_EXPRESSION_CHARACTERS: usize = 1000;
/// Deepest nesting of parentheses accepted. Real expressions use two or three levels.
pub const MAX_NESTING: usize = 8;

/// The value SPDX uses when the licence was not determined; it stands alone.
pub const NOASSERTION: &str = "NOASSERTION";

/// Deprecated ids and what replaces them (`spdx-licenses/deprecated.csv`).
const DEPRECATED_CSV: &str = include_str!("../../spdx-licenses/deprecated.csv");

/// A licence expression that parsed: its terms, and how they combine (postfix, as the spdx crate
/// gives it), for [`super::decision`] to evaluate.
#[derive(Debug, Clone)]
pub struct LicenceExpression {
    text: String,
    terms: Vec<Term>,
    postfix: Vec<Node>,
}

/// One licence of an expression, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub licence: Licence,
    /// `+`: this version or any later one.
    pub or_later: bool,
    /// The exception after `WITH`.
    pub exception: Option<spdx::ExceptionId>,
}

impl std::fmt::Display for Term {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.licence.id())?;
        if self.or_later {
            formatter.write_str("+")?;
        }
        if let Some(exception) = self.exception {
            write!(formatter, " WITH {}", exception.name)?;
        }
        Ok(())
    }
}

/// What a term names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Licence {
    Spdx(spdx::LicenseId),
    /// One of [`KNOWN_REFERENCES`].
    Reference(&'static str),
    /// [`NOASSERTION`].
    NoAssertion,
}

impl Licence {
    pub fn id(self) -> &'static str {
        match self {
            Self::Spdx(id) => id.name,
            Self::Reference(reference) => reference,
            Self::NoAssertion => NOASSERTION,
        }
    }
}

/// A postfix node: a term (by index) or an operator over the two values before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Node {
    Term(usize),
    And,
    Or,
}

impl LicenceExpression {
    /// Parses `text` (surrounding whitespace ignored), refusing anything labforge would not
    /// publish under as written.
    pub fn parse(text: &str) -> Result<Self, LicenceError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(LicenceError::Empty);
        }
        let length = text.chars().count();
        if length > MAX_EXPRESSION_CHARACTERS {
            return Err(LicenceError::TooLong { length });
        }
        check_characters(text)?;
        check_nesting(text)?;
        check_words(text)?;
        if text == NOASSERTION {
            return Ok(Self {
                text: text.to_owned(),
                terms: vec![Term {
                    licence: Licence::NoAssertion,
                    or_later: false,
                    exception: None,
                }],
                postfix: vec![Node::Term(0)],
            });
        }
        let parsed = spdx::Expression::parse(text).map_err(|error| parse_error(text, &error))?;
        let mut terms = Vec::new();
        let mut postfix = Vec::new();
        for node in parsed.iter() {
            match node {
                ExprNode::Op(Operator::And) => postfix.push(Node::And),
                ExprNode::Op(Operator::Or) => postfix.push(Node::Or),
                ExprNode::Req(requirement) => {
                    terms.push(term(&requirement.req)?);
                    postfix.push(Node::Term(terms.len() - 1));
                }
            }
        }
        Ok(Self {
            text: text.to_owned(),
            terms,
            postfix,
        })
    }

    /// The expression as parsed (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its licences, in the order written.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    pub(super) fn postfix(&self) -> &[Node] {
        &self.postfix
    }
}

impl std::fmt::Display for LicenceExpression {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.text)
    }
}

/// ASCII letters, digits, `-.:+()` and ASCII whitespace only. The spdx crate accepts any Unicode
/// whitespace; labforge stores and shows expressions, so it accepts what reads the same
/// everywhere.
fn check_characters(text: &str) -> Result<(), LicenceError> {
    let Some((index, character)) = text.char_indices().find(|(_, character)| {
        !(character.is_ascii_alphanumeric()
            || matches!(
                character,
                '-' | '.' | ':' | '+' | '(' | ')' | ' ' | '\t' | '\n' | '\r'
            ))
    }) else {
        return Ok(());
    };
    Err(LicenceError::Syntax {
        written: character.escape_default().to_string(),
        column: text[..index].chars().count() + 1,
        problem: "this character cannot appear in an SPDX expression".to_owned(),
        expected: "write licence ids, `AND`, `OR`, `WITH`, parentheses and spaces".to_owned(),
    })
}

fn check_nesting(text: &str) -> Result<(), LicenceError> {
    let mut depth = 0_usize;
    let mut deepest = 0_usize;
    for character in text.chars() {
        match character {
            '(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_NESTING {
        return Err(LicenceError::TooDeep { depth: deepest });
    }
    Ok(())
}

/// The words of `text` (split at whitespace and parentheses) with their byte offsets.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(|character: char| character.is_ascii_whitespace() || matches!(character, '(' | ')'))
        .filter(|word| !word.is_empty())
        .map(move |word| (word.as_ptr() as usize - text.as_ptr() as usize, word))
}

/// Operators in capitals (SPDX matches them case-sensitively; the spdx crate also takes
/// lowercase), and [`NOASSERTION`] only alone.
fn check_words(text: &str) -> Result<(), LicenceError> {
    for (_, word) in words(text) {
        let operator = word.to_ascii_uppercase();
        if matches!(operator.as_str(), "AND" | "OR" | "WITH") && word != operator {
            return Err(LicenceError::LowercaseOperator {
                written: text.to_owned(),
                operator_written: word.to_owned(),
                operator,
            });
        }
        if word == NOASSERTION && text != NOASSERTION {
            return Err(LicenceError::NotAlone {
                value: NOASSERTION.to_owned(),
            });
        }
    }
    Ok(())
}

/// One requirement of the parsed expression as a [`Term`], refusing unknown references and
/// deprecated exceptions.
fn term(requirement: &spdx::LicenseReq) -> Result<Term, LicenceError> {
    let licence = match &requirement.license {
        LicenseItem::Spdx { id, .. } => Licence::Spdx(*id),
        LicenseItem::Other(reference) => {
            let written = reference.to_string();
            match KNOWN_REFERENCES.iter().find(|known| **known == written) {
                Some(known) => Licence::Reference(known),
                None => return Err(unknown_reference(&written)),
            }
        }
    };
    let or_later = matches!(
        requirement.license,
        LicenseItem::Spdx { or_later: true, .. }
    );
    let exception = match &requirement.addition {
        None => None,
        Some(AdditionItem::Spdx(exception)) => {
            if exception.is_deprecated() {
                return Err(LicenceError::Deprecated {
                    id: exception.name.to_owned(),
                    replacements: deprecated_replacements(exception.name),
                });
            }
            Some(*exception)
        }
        Some(AdditionItem::Other(addition)) => {
            return Err(LicenceError::UnknownException {
                id: addition.to_string(),
                suggestions: Vec::new(),
            });
        }
    };
    Ok(Term {
        licence,
        or_later,
        exception,
    })
}

fn unknown_reference(written: &str) -> LicenceError {
    let wanted = comparable(written);
    let mut suggestions: Vec<String> = KNOWN_REFERENCES
        .iter()
        .filter(|known| comparable(known) == wanted)
        .map(|known| (*known).to_owned())
        .collect();
    // The ESA licences are often named by type: Type 1 strong copyleft, 2 weak, 3 permissive.
    if suggestions.is_empty() && written.contains("ESA-CL") {
        let by_type = [
            ("type-1", "strong-copyleft"),
            ("type-2", "weak-copyleft"),
            ("type-3", "permissive"),
        ];
        let lowercase = written.to_ascii_lowercase();
        suggestions.extend(
            by_type
                .iter()
                .filter(|(number, _)| lowercase.contains(number))
                .map(|(_, kind)| format!("LicenseRef-ESA-CL-{kind}-2.4")),
        );
    }
    LicenceError::UnknownReference {
        reference: written.to_owned(),
        known: KNOWN_REFERENCES
            .iter()
            .map(|known| (*known).to_owned())
            .collect(),
        suggestions,
    }
}

/// The spdx crate's refusal as labforge's, naming the replacement or the probable id.
fn parse_error(text: &str, error: &ParseError) -> LicenceError {
    let span = error.span.start.min(text.len())..error.span.end.min(text.len());
    let written = text.get(span.clone()).unwrap_or(text).to_owned();
    let column = text[..span.start].chars().count() + 1;
    let syntax = |problem: &str, expected: &str| LicenceError::Syntax {
        written: written.clone(),
        column,
        problem: problem.to_owned(),
        expected: expected.to_owned(),
    };
    match &error.reason {
        Reason::DeprecatedLicenseId => {
            let id = if text[span.end..].starts_with('+') {
                format!("{written}+")
            } else {
                written.clone()
            };
            LicenceError::Deprecated {
                replacements: deprecated_replacements(&id),
                id,
            }
        }
        Reason::GnuNoPlus | Reason::GnuPlusWithSuffix => {
            let id = words(text)
                .filter(|(offset, _)| *offset < span.start)
                .last()
                .map_or("", |(_, word)| word.trim_end_matches('+'));
            let base = id
                .strip_suffix("-only")
                .or_else(|| id.strip_suffix("-or-later"))
                .unwrap_or(id);
            LicenceError::GnuPlus {
                written: format!("{id}+"),
                replacement: format!("{base}-or-later"),
            }
        }
        Reason::UnknownTerm | Reason::UnknownLicense | Reason::UnknownException => {
            let after_with = words(text)
                .filter(|(offset, _)| *offset < span.start)
                .last()
                .is_some_and(|(_, word)| word == "WITH");
            if after_with {
                LicenceError::UnknownException {
                    suggestions: suggest_exception_ids(&written),
                    id: written,
                }
            } else {
                LicenceError::UnknownLicence {
                    suggestions: suggest_licence_ids(text, &written),
                    id: written,
                }
            }
        }
        Reason::Unexpected(expected) => {
            let expected: Vec<String> = expected
                .iter()
                .map(|term| match *term {
                    "<license>" => "a licence id".to_owned(),
                    "<addition>" => "an exception id".to_owned(),
                    other => format!("`{other}`"),
                })
                .collect();
            let problem = if written.is_empty() {
                "the expression ends too early"
            } else {
                "this is not expected here"
            };
            syntax(problem, &format!("expected {}", expected.join(" or ")))
        }
        Reason::UnclosedParens => syntax(
            "this `(` is never closed",
            "close it with `)` after the licences it groups",
        ),
        Reason::UnopenedParens => syntax(
            "this `)` closes nothing",
            "remove it or open the group with `(`",
        ),
        Reason::SeparatedPlus => syntax(
            "`+` is separated from its licence id",
            "write it right after the id, like `Apache-2.0+`",
        ),
        Reason::Empty => LicenceError::Empty,
        Reason::InvalidCharacters => syntax(
            "this cannot appear in an SPDX expression",
            "write licence ids, `AND`, `OR`, `WITH`, parentheses and spaces",
        ),
    }
}

/// `deprecated.csv` as a map from the deprecated id to its replacements.
static DEPRECATED: LazyLock<HashMap<&'static str, Vec<&'static str>>> = LazyLock::new(|| {
    DEPRECATED_CSV
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .skip(1)
        .map(|line| {
            let (id, replacements) = line
                .split_once(',')
                .unwrap_or_else(|| panic!("deprecated.csv: `{line}` has no comma"));
            let replacements = replacements
                .split('|')
                .map(str::trim)
                .filter(|replacement| !replacement.is_empty())
                .collect();
            (id, replacements)
        })
        .collect()
});

/// What to write instead of the deprecated `id` (with a trailing `+` if it was written so).
fn deprecated_replacements(id: &str) -> Vec<String> {
    if let Some(replacements) = DEPRECATED.get(id) {
        return replacements.iter().map(|&text| text.to_owned()).collect();
    }
    current_ids_extending(id)
}

fn current_licences() -> impl Iterator<Item = &'static spdx::License> {
    spdx::identifiers::LICENSES
        .iter()
        .filter(|known| spdx::license_id(known.name).is_some_and(|id| !id.is_deprecated()))
}

/// Current ids that extend `id` (`GPL-2.0` -> `GPL-2.0-only`, `GPL-2.0-or-later`).
fn current_ids_extending(id: &str) -> Vec<String> {
    let prefix = format!("{id}-");
    current_licences()
        .filter(|known| known.name.starts_with(&prefix))
        .map(|known| known.name.to_owned())
        .collect()
}

/// Current SPDX ids the author probably meant: those equal to the whole text or the failing term
/// once case, spaces and punctuation are ignored (by id or by full name), else SPDX's special
/// values, else the replacements of a deprecated id written in another case, else the current ids
/// that extend the term.
fn suggest_licence_ids(text: &str, term: &str) -> Vec<String> {
    for written in [text, term] {
        let wanted = comparable(written);
        let matches: Vec<String> = current_licences()
            .filter(|known| {
                comparable(known.name) == wanted || comparable(known.full_name) == wanted
            })
            .map(|known| known.name.to_owned())
            .collect();
        if !matches.is_empty() {
            return matches;
        }
    }
    // SPDX's special values: NOASSERTION is accepted alone; NONE (no licence granted) is what
    // labforge calls proprietary.
    match comparable(term).as_str() {
        "noassertion" => return vec![NOASSERTION.to_owned()],
        "none" => return vec!["LicenseRef-proprietary".to_owned()],
        _ => {}
    }
    if let Some((_, replacements)) = DEPRECATED
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(term))
    {
        return replacements.iter().map(|&text| text.to_owned()).collect();
    }
    current_ids_extending(term)
}

fn suggest_exception_ids(term: &str) -> Vec<String> {
    let wanted = comparable(term);
    spdx::identifiers::EXCEPTIONS
        .iter()
        .filter(|known| {
            spdx::exception_id(known.name).is_some_and(|id| !id.is_deprecated())
                && comparable(known.name) == wanted
        })
        .map(|known| known.name.to_owned())
        .collect()
}

/// Lowercase letters and digits only.
fn comparable(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|character| character.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_deprecated_id_of_the_list_has_a_row_whose_replacements_parse() {
        let deprecated_licences = spdx::identifiers::LICENSES
            .iter()
            .filter(|known| known.flags & spdx::flags::IS_DEPRECATED != 0)
            .map(|known| known.name);
        for id in deprecated_licences {
            let replacements = DEPRECATED
                .get(id)
                .unwrap_or_else(|| panic!("deprecated.csv has no row for {id}"));
            for replacement in replacements {
                LicenceExpression::parse(replacement)
                    .unwrap_or_else(|error| panic!("{id} -> {replacement}: {error}"));
            }
        }
        let deprecated_exceptions = spdx::identifiers::EXCEPTIONS
            .iter()
            .filter(|known| known.flags & spdx::flags::IS_DEPRECATED != 0)
            .map(|known| known.name);
        for id in deprecated_exceptions {
            let replacements = DEPRECATED
                .get(id)
                .unwrap_or_else(|| panic!("deprecated.csv has no row for {id}"));
            for replacement in replacements {
                let current = spdx::exception_id(replacement)
                    .unwrap_or_else(|| panic!("{id} -> {replacement}: not an exception id"));
                assert!(!current.is_deprecated(), "{id} -> {replacement}");
            }
        }
        for id in DEPRECATED.keys() {
            let listed = spdx::license_id(id.trim_end_matches('+'))
                .map(spdx::LicenseId::is_deprecated)
                .or_else(|| spdx::exception_id(id).map(spdx::ExceptionId::is_deprecated));
            assert_eq!(
                listed,
                Some(true),
                "{id} is not a deprecated id of the list"
            );
        }
    }

    #[test]
    fn limits_are_checked_on_the_text_before_parsing() {
        let long = "MIT AND ".repeat(200) + "MIT";
        assert!(matches!(
            LicenceExpression::parse(&long),
            Err(LicenceError::TooLong { length: 1603 })
        ));
        let deep = format!("{}MIT{}", "(".repeat(9), ")".repeat(9));
        assert!(matches!(
            LicenceExpression::parse(&deep),
            Err(LicenceError::TooDeep { depth: 9 })
        ));
        let deep_enough = format!("{}MIT{}", "(".repeat(8), ")".repeat(8));
        LicenceExpression::parse(&deep_enough).unwrap();
    }

    #[test]
    fn terms_are_read_with_their_plus_and_exception() {
        let expression = LicenceExpression::parse(
            "  (MIT OR Apache-2.0+) AND GPL-2.0-or-later WITH Classpath-exception-2.0 ",
        )
        .unwrap();
        assert_eq!(
            expression.as_str(),
            "(MIT OR Apache-2.0+) AND GPL-2.0-or-later WITH Classpath-exception-2.0"
        );
        let written: Vec<String> = expression.terms().iter().map(Term::to_string).collect();
        assert_eq!(
            written,
            [
                "MIT",
                "Apache-2.0+",
                "GPL-2.0-or-later WITH Classpath-exception-2.0"
            ]
        );
        assert!(expression.terms()[1].or_later);
        assert_eq!(
            expression.postfix(),
            [
                Node::Term(0),
                Node::Term(1),
                Node::Or,
                Node::Term(2),
                Node::And
            ]
        );
    }
}
