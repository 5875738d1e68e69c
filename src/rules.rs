//! Rules for the text a client sends (names, versions, paths, URLs), each written once as a
//! pattern and bounds that the server checks and the OpenAPI document states: a client that
//! follows the document is never refused, and the two cannot drift apart.
//!
//! Patterns use only the part of regular-expression syntax that Rust's `regex`, ECMAScript (JSON
//! Schema) and Python's `re` (which generates test data from the document) read alike: character
//! classes spelt out, groups, alternation and counted repetition; no `\s`, `\w`, `\d` or
//! look-around, whose meaning differs between them. Lengths count Unicode code points, as JSON
//! Schema does.

use std::sync::LazyLock;

use regex::Regex;

/// A rule for one kind of text: a pattern (anchored) and inclusive bounds on its length.
pub struct TextRule {
    pub pattern: &'static str,
    pub min_characters: usize,
    pub max_characters: usize,
    regex: LazyLock<Regex>,
}

/// A [`TextRule`] from a pattern (a literal or a constant) and its bounds.
macro_rules! text_rule {
    ($pattern:expr, $min:expr, $max:expr $(,)?) => {
        $crate::rules::TextRule::new($pattern, $min, $max, || {
            regex::Regex::new($pattern).expect("rule patterns are valid")
        })
    };
}
pub(crate) use text_rule;

impl TextRule {
    /// Use [`text_rule!`], which compiles `pattern` itself.
    pub const fn new(
        pattern: &'static str,
        min_characters: usize,
        max_characters: usize,
        compile: fn() -> Regex,
    ) -> Self {
        Self {
            pattern,
            min_characters,
            max_characters,
            regex: LazyLock::new(compile),
        }
    }

    /// Whether `text` follows the rule.
    pub fn allows(&self, text: &str) -> bool {
        let characters = text.chars().count();
        (self.min_characters..=self.max_characters).contains(&characters)
            && self.regex.is_match(text)
    }
}

/// Free text that must say something: at least one character other than a space, a tab or a line
/// break.
pub const SAYS_SOMETHING: &str = "[^ \t\r\n]";

/// Whether `text` is only spaces, tabs and line breaks (the complement of [`SAYS_SOMETHING`]).
pub fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|character| matches!(character, ' ' | '\t' | '\r' | '\n'))
}

/// `text` without the leading and trailing spaces, tabs and line breaks of [`is_blank`].
pub fn trim_blank(text: &str) -> &str {
    text.trim_matches(|character| matches!(character, ' ' | '\t' | '\r' | '\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    static SLUG: TextRule = text_rule!("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", 2, 5);

    #[test]
    fn a_rule_checks_the_pattern_and_counts_characters_not_bytes() {
        assert!(SLUG.allows("ab-1"));
        assert!(!SLUG.allows("a"), "too short");
        assert!(!SLUG.allows("abcdef"), "too long");
        assert!(!SLUG.allows("-ab"));
        let two_letters = text_rule!("^.+$", 2, 2);
        assert!(two_letters.allows("éé"), "two characters, four bytes");
    }

    #[test]
    fn blank_is_only_spaces_tabs_and_line_breaks() {
        assert!(is_blank(" \t\r\n"));
        assert!(!is_blank(" \u{2003} "));
        assert_eq!(trim_blank("\n a b \t"), "a b");
        let says_something = Regex::new(SAYS_SOMETHING).unwrap();
        assert!(!says_something.is_match(" \t\r\n"));
        assert!(says_something.is_match(" \u{2003} "));
    }
}
