//! What a licence expression allows: for a requested audience, whether it is allowed, with which
//! obligations, and why, in plain words. `AND` needs every side to allow the audience and adds up
//! their obligations; `OR` needs one side and takes the one that asks the least (the left one when
//! both ask the same), saying which.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::classification::{Category, Classification, Copyleft, classify};
use super::expression::{LicenceExpression, Node, Term};

/// Who may see and use a published datalab.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Everyone, signed in or not.
    Public,
    /// Signed-in users whose affiliation country is an ESA Member State.
    MemberStates,
    /// The owner, the users they list, moderators and administrators.
    Private,
}

/// The audience a datalab's visibility asks the licence for.
impl From<crate::datalabs::Visibility> for Audience {
    fn from(visibility: crate::datalabs::Visibility) -> Self {
        match visibility {
            crate::datalabs::Visibility::Public => Self::Public,
            crate::datalabs::Visibility::MemberStates => Self::MemberStates,
            crate::datalabs::Visibility::Private => Self::Private,
        }
    }
}

impl Audience {
    /// Widest first.
    pub const ALL: [Self; 3] = [Self::Public, Self::MemberStates, Self::Private];

    /// As the command line writes it.
    pub const fn as_argument(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::MemberStates => "member-states",
            Self::Private => "private",
        }
    }

    /// In words, for reasons.
    pub const fn in_words(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::MemberStates => "the ESA Member States",
            Self::Private => "private",
        }
    }
}

impl std::str::FromStr for Audience {
    type Err = String;

    /// `public`, `member-states` (or `member_states`, as the API writes it) or `private`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "public" => Ok(Self::Public),
            "member-states" | "member_states" => Ok(Self::MemberStates),
            "private" => Ok(Self::Private),
            other => Err(format!(
                "{other:?} is not an audience: write public, member-states or private"
            )),
        }
    }
}

/// Something publishing must do for the licences to be honoured.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Obligation {
    /// Copyleft: the source is reachable from the datalab's page (its source repository, or the
    /// exported archive offered with it).
    SourceReachable,
    /// Network copyleft: a public source URL is set before the datalab is public.
    PublicSourceUrl,
}

/// The engine's answer for one expression and one requested audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Decision {
    /// The expression as read (surrounding whitespace removed).
    pub expression: String,
    /// The audience asked about.
    pub audience: Audience,
    /// Whether the expression allows that audience.
    pub allowed: bool,
    /// Every audience the expression allows, widest first.
    pub audiences: Vec<Audience>,
    /// What publishing to the requested audience requires; empty when it is not allowed.
    pub obligations: Vec<Obligation>,
    /// The licences the decision relies on for the requested audience: after an `OR`, only the
    /// side taken (all of them when nothing is allowed).
    pub chosen: Vec<String>,
    /// Each licence of the expression as classified.
    pub licences: Vec<LicenceSummary>,
    /// Why, in plain words, in the order of the expression.
    pub reasons: Vec<String>,
}

/// A licence of an expression as labforge classifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LicenceSummary {
    /// As written, with its `+` and `WITH` exception.
    pub term: String,
    pub id: String,
    pub name: String,
    pub category: Category,
    pub copyleft: Copyleft,
    /// The audiences this licence alone allows, widest first.
    pub audiences: Vec<Audience>,
    /// Where its classification comes from.
    pub source: String,
}

/// The evaluation of a subexpression for one audience.
struct Verdict {
    allowed: bool,
    obligations: BTreeSet<Obligation>,
    chosen: Vec<String>,
    reasons: Vec<String>,
    /// The subexpression as text, for reasons about `OR`.
    text: String,
    /// Whether `text` is an `OR`, which needs parentheses inside an `AND`.
    is_or: bool,
}

impl Verdict {
    /// How much the verdict asks: the strongest obligation, then how many.
    fn burden(&self) -> (Option<Obligation>, usize) {
        (self.obligations.last().copied(), self.obligations.len())
    }

    fn grouped(&self) -> String {
        if self.is_or {
            format!("({})", self.text)
        } else {
            self.text.clone()
        }
    }
}

/// Decides what `expression` allows, for `audience`.
pub fn decide(expression: &LicenceExpression, audience: Audience) -> Decision {
    let verdict = evaluate(expression, audience);
    let audiences = Audience::ALL
        .into_iter()
        .filter(|candidate| evaluate(expression, *candidate).allowed)
        .collect();
    let licences = expression
        .terms()
        .iter()
        .map(|term| {
            let classification = classify(term.licence);
            LicenceSummary {
                term: term.to_string(),
                id: classification.id.to_owned(),
                name: classification.name.to_owned(),
                category: classification.category,
                copyleft: classification.copyleft,
                audiences: classification.category.audiences().to_vec(),
                source: classification.source.to_owned(),
            }
        })
        .collect();
    Decision {
        expression: expression.as_str().to_owned(),
        audience,
        allowed: verdict.allowed,
        audiences,
        obligations: if verdict.allowed {
            verdict.obligations.into_iter().collect()
        } else {
            Vec::new()
        },
        chosen: verdict.chosen,
        licences,
        reasons: verdict.reasons,
    }
}

/// Evaluates the postfix form with a stack: no recursion, whatever the expression's shape.
fn evaluate(expression: &LicenceExpression, audience: Audience) -> Verdict {
    let mut stack: Vec<Verdict> = Vec::new();
    for node in expression.postfix() {
        let verdict = match node {
            Node::Term(index) => term_verdict(&expression.terms()[*index], audience),
            Node::And | Node::Or => {
                let right = stack.pop().expect("an operator follows two operands");
                let left = stack.pop().expect("an operator follows two operands");
                if *node == Node::And {
                    both(left, right)
                } else {
                    either(left, right, audience)
                }
            }
        };
        stack.push(verdict);
    }
    stack.pop().expect("a parsed expression has a value")
}

fn both(left: Verdict, right: Verdict) -> Verdict {
    let text = format!("{} AND {}", left.grouped(), right.grouped());
    Verdict {
        allowed: left.allowed && right.allowed,
        obligations: left
            .obligations
            .union(&right.obligations)
            .copied()
            .collect(),
        chosen: [left.chosen, right.chosen].concat(),
        reasons: [left.reasons, right.reasons].concat(),
        text,
        is_or: false,
    }
}

fn either(left: Verdict, right: Verdict, audience: Audience) -> Verdict {
    let text = format!("{} OR {}", left.text, right.text);
    let audience_words = audience.in_words();
    let (mut taken, other, why) = match (left.allowed, right.allowed) {
        (true, true) if right.burden() < left.burden() => (right, left, "it asks less"),
        (true, true) => (left, right, "it asks no more than the other"),
        (true, false) => (left, right, "the other does not allow this audience"),
        (false, true) => (right, left, "the other does not allow this audience"),
        (false, false) => {
            let mut reasons = [left.reasons, right.reasons].concat();
            reasons.push(format!(
                "`{text}`: neither `{}` nor `{}` allows {audience_words}.",
                left.text, right.text
            ));
            return Verdict {
                allowed: false,
                obligations: BTreeSet::new(),
                chosen: [left.chosen, right.chosen].concat(),
                reasons,
                text,
                is_or: true,
            };
        }
    };
    taken.reasons.push(format!(
        "`{text}`: one of them is enough; for {audience_words} labforge takes `{}`, because {why} \
         (`{}` is not relied on).",
        taken.text, other.text
    ));
    Verdict {
        text,
        is_or: true,
        ..taken
    }
}

fn term_verdict(term: &Term, audience: Audience) -> Verdict {
    let classification = classify(term.licence);
    let allowed = classification.category.allows(audience);
    let obligations = if allowed {
        obligations(classification.copyleft, audience)
    } else {
        BTreeSet::new()
    };
    Verdict {
        allowed,
        obligations,
        chosen: vec![term.to_string()],
        reasons: vec![term_reason(term, &classification, audience, allowed)],
        text: term.to_string(),
        is_or: false,
    }
}

/// Copyleft asks for the source whoever receives the datalab; network copyleft also counts
/// everyone who uses it over the network, so a public datalab needs a public source URL first.
fn obligations(copyleft: Copyleft, audience: Audience) -> BTreeSet<Obligation> {
    let mut obligations = BTreeSet::new();
    if copyleft >= Copyleft::Weak {
        obligations.insert(Obligation::SourceReachable);
    }
    if copyleft == Copyleft::Network && audience == Audience::Public {
        obligations.insert(Obligation::PublicSourceUrl);
    }
    obligations
}

/// Writing to a String cannot fail, hence the ignored results of `write!`.
fn term_reason(
    term: &Term,
    classification: &Classification,
    audience: Audience,
    allowed: bool,
) -> String {
    let mut reason = format!(
        "`{term}` ({}) is {}",
        classification.name,
        classification.category.in_words()
    );
    reason.push_str(match classification.category {
        Category::Permissive => ": it allows any audience and asks only for its notices to be kept",
        Category::WeakCopyleft | Category::StrongCopyleft | Category::NetworkCopyleft => {
            ": it allows any audience"
        }
        Category::OsiOrFsfApproved => {
            ", so it allows redistribution and any audience (decided from the SPDX list's flags)"
        }
        Category::NonCommercial => {
            ": it forbids commercial use, which labforge cannot rule out for whoever launches the \
             datalab, so it is kept private (the owner and the users they list)"
        }
        Category::MemberStatesOnly => {
            ": its use and distribution are limited to the ESA Member States, so it can be \
             published to users whose affiliation is in an ESA Member State, or kept private, \
             never public"
        }
        Category::Proprietary => {
            ": it grants nothing beyond what its owner allows, so it is kept private"
        }
        Category::NotClassified => {
            " and SPDX marks it neither OSI-approved nor FSF-libre, so labforge cannot tell that \
             it allows redistribution: it is kept private"
        }
        Category::NoAssertion => {
            ": the licence was not determined, so the datalab is kept private until one is stated"
        }
    });
    match classification.copyleft {
        Copyleft::None => {}
        Copyleft::Weak => reason.push_str(
            "; changes to its files must stay open, so the source must be reachable from the \
             datalab's page",
        ),
        Copyleft::Strong => reason.push_str(
            "; whoever receives the datalab may ask for its whole source, so the source must be \
             reachable from the datalab's page",
        ),
        Copyleft::Network => reason.push_str(
            "; its copyleft also covers use over a network, so the source must be reachable from \
             the datalab's page, and a public source URL must be set before the datalab is public",
        ),
    }
    if term.or_later {
        reason.push_str(
            "; `+` allows later versions too, and labforge judges it by the version written",
        );
    }
    if let Some(exception) = term.exception {
        let _ = write!(
            reason,
            "; the exception `{}` adds permissions for works combined with it, which labforge \
             does not count on: the licence's own conditions stay",
            exception.name
        );
    }
    let _ = write!(
        reason,
        ". For {}: {}.",
        audience.in_words(),
        if allowed { "allowed" } else { "not allowed" }
    );
    reason
}
