//! PEP 508 environment markers (`; python_version >= "3.10" and ...`): tokenised, parsed with a
//! depth limit, and written back with single spaces and double quotes so equal markers hash equal.

use std::fmt::Write as _;

use super::cursor::Cursor;

/// Parentheses nested deeper than this in a marker are refused (no real marker comes close).
const MAX_MARKER_DEPTH: usize = 16;

const MARKER_VARIABLES: [&str; 12] = [
    "python_version",
    "python_full_version",
    "os_name",
    "sys_platform",
    "platform_release",
    "platform_system",
    "platform_version",
    "platform_machine",
    "platform_python_implementation",
    "implementation_name",
    "implementation_version",
    "extra",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum MarkerToken {
    Open,
    Close,
    Variable(String),
    Text(String),
    Operator(&'static str),
    And,
    Or,
}

fn tokenise_marker(text: &str) -> Result<Vec<MarkerToken>, String> {
    const OPERATORS: [&str; 8] = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"];
    let mut cursor = Cursor::new(text);
    let mut tokens = Vec::new();
    loop {
        cursor.skip_spaces();
        let rest = cursor.rest();
        let Some(first) = rest.chars().next() else {
            return Ok(tokens);
        };
        if cursor.eat('(') {
            tokens.push(MarkerToken::Open);
        } else if cursor.eat(')') {
            tokens.push(MarkerToken::Close);
        } else if first == '"' || first == '\'' {
            cursor.advance(1);
            let content = cursor.take_while(|character| character != first);
            if !cursor.eat(first) {
                return Err(format!("the marker has an unclosed quote {first}"));
            }
            tokens.push(MarkerToken::Text(content.to_owned()));
        } else if let Some(operator) = OPERATORS
            .iter()
            .find(|operator| rest.starts_with(**operator))
        {
            cursor.advance(operator.len());
            tokens.push(MarkerToken::Operator(operator));
        } else if first.is_ascii_alphabetic() || first == '_' {
            let word = cursor.take_while(|character| {
                character.is_ascii_alphanumeric() || "_.".contains(character)
            });
            tokens.push(match word {
                "and" => MarkerToken::And,
                "or" => MarkerToken::Or,
                "in" => MarkerToken::Operator("in"),
                "not" => {
                    cursor.skip_spaces();
                    let next = cursor.take_while(|character| character.is_ascii_alphabetic());
                    if next != "in" {
                        return Err("`not` in a marker must be followed by `in`".to_owned());
                    }
                    MarkerToken::Operator("not in")
                }
                variable if MARKER_VARIABLES.contains(&variable) => {
                    MarkerToken::Variable(variable.to_owned())
                }
                other => {
                    return Err(format!(
                        "`{other}` is not a marker variable (like python_version or sys_platform)"
                    ));
                }
            });
        } else {
            return Err(format!("unexpected `{first}` in the marker"));
        }
    }
}

/// Parses a PEP 508 marker and writes it back with single spaces and double quotes.
pub(super) fn parse_marker(text: &str) -> Result<String, String> {
    let tokens = tokenise_marker(text)?;
    if tokens.is_empty() {
        return Err("a ; must be followed by a marker, like python_version >= \"3.10\"".to_owned());
    }
    let mut parser = MarkerParser {
        tokens: &tokens,
        position: 0,
    };
    let rendered = parser.or_expression(0)?;
    if parser.position != tokens.len() {
        return Err("the marker has extra text at its end".to_owned());
    }
    Ok(rendered)
}

struct MarkerParser<'a> {
    tokens: &'a [MarkerToken],
    position: usize,
}

impl MarkerParser<'_> {
    fn next(&mut self) -> Option<&MarkerToken> {
        let token = self.tokens.get(self.position);
        self.position += 1;
        token
    }

    fn peek(&self) -> Option<&MarkerToken> {
        self.tokens.get(self.position)
    }

    fn or_expression(&mut self, depth: usize) -> Result<String, String> {
        let mut rendered = self.and_expression(depth)?;
        while self.peek() == Some(&MarkerToken::Or) {
            self.position += 1;
            let right = self.and_expression(depth)?;
            let _ = write!(rendered, " or {right}");
        }
        Ok(rendered)
    }

    fn and_expression(&mut self, depth: usize) -> Result<String, String> {
        let mut rendered = self.comparison(depth)?;
        while self.peek() == Some(&MarkerToken::And) {
            self.position += 1;
            let right = self.comparison(depth)?;
            let _ = write!(rendered, " and {right}");
        }
        Ok(rendered)
    }

    fn comparison(&mut self, depth: usize) -> Result<String, String> {
        if self.peek() == Some(&MarkerToken::Open) {
            if depth >= MAX_MARKER_DEPTH {
                return Err(format!(
                    "the marker nests parentheses more than {MAX_MARKER_DEPTH} deep"
                ));
            }
            self.position += 1;
            let inner = self.or_expression(depth + 1)?;
            if self.next() != Some(&MarkerToken::Close) {
                return Err("the marker has a ( without its )".to_owned());
            }
            return Ok(format!("({inner})"));
        }
        let left = self.value()?;
        let Some(MarkerToken::Operator(operator)) = self.next() else {
            return Err(
                "a marker compares a variable with a value, like python_version >= \"3.10\""
                    .to_owned(),
            );
        };
        let operator = *operator;
        let right = self.value()?;
        Ok(format!("{left} {operator} {right}"))
    }

    fn value(&mut self) -> Result<String, String> {
        match self.next() {
            Some(MarkerToken::Variable(variable)) => Ok(variable.clone()),
            Some(MarkerToken::Text(text)) if text.contains('"') => Ok(format!("'{text}'")),
            Some(MarkerToken::Text(text)) => Ok(format!("\"{text}\"")),
            _ => Err(
                "a marker compares a variable with a value, like python_version >= \"3.10\""
                    .to_owned(),
            ),
        }
    }
}
