//! Why a licence expression is refused. Every variant says what was written and what would be
//! accepted instead, because authors read these messages in the creator wizard, the API and the
//! command line.

use super::expression::{MAX_EXPRESSION_CHARACTERS, MAX_NESTING};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenceError {
    #[error(
        "the licence expression is empty: write an SPDX expression like `MIT` or \
         `Apache-2.0 OR MIT`"
    )]
    Empty,
    /// Refused before any parsing, so that an absurd input costs nothing.
    #[error(
        "the licence expression has {length} characters; at most {MAX_EXPRESSION_CHARACTERS} \
         are accepted"
    )]
    TooLong { length: usize },
    #[error(
        "the licence expression nests parentheses {depth} deep; at most {MAX_NESTING} levels \
         are accepted"
    )]
    TooDeep { depth: usize },
    /// The expression does not follow the SPDX grammar; `column` counts characters from 1.
    #[error("`{written}` at character {column}: {problem}; {expected}")]
    Syntax {
        written: String,
        column: usize,
        problem: String,
        expected: String,
    },
    #[error("`{written}` uses the operator `{operator_written}` in lowercase: write `{operator}`")]
    LowercaseOperator {
        written: String,
        operator_written: String,
        operator: String,
    },
    #[error("`{id}` is not an id of the SPDX licence list{}", did_you_mean(.suggestions))]
    UnknownLicence {
        id: String,
        suggestions: Vec<String>,
    },
    #[error("`{id}` is not an exception id of the SPDX licence list{}", did_you_mean(.suggestions))]
    UnknownException {
        id: String,
        suggestions: Vec<String>,
    },
    /// A `LicenseRef-`, `DocumentRef-` or `AdditionRef-` labforge has no classification for.
    #[error(
        "`{reference}` is not a licence labforge knows; the licences outside the SPDX list it \
         knows are {}{}",
        quoted(.known),
        did_you_mean(.suggestions)
    )]
    UnknownReference {
        reference: String,
        known: Vec<String>,
        suggestions: Vec<String>,
    },
    #[error("`{id}` is a deprecated SPDX id{}", did_you_mean_or_see_list(.replacements))]
    Deprecated {
        id: String,
        replacements: Vec<String>,
    },
    /// GNU licences say "or later" in their id, never with `+`.
    #[error("`{written}`: GNU licence ids take no `+`; did you mean `{replacement}`?")]
    GnuPlus {
        written: String,
        replacement: String,
    },
    #[error(
        "`{value}` stands alone: it cannot be combined with licences; write `{value}` by itself, \
         or the licences without it"
    )]
    NotAlone { value: String },
}

fn quoted(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        " (see https://spdx.org/licenses/ for the ids)".to_owned()
    } else {
        format!(
            "; did you mean {}?",
            suggestions
                .iter()
                .map(|id| format!("`{id}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    }
}

fn did_you_mean_or_see_list(replacements: &[String]) -> String {
    if replacements.is_empty() {
        "; SPDX names no single replacement: pick the current id that matches the licence text at \
         https://spdx.org/licenses/"
            .to_owned()
    } else {
        did_you_mean(replacements)
    }
}
