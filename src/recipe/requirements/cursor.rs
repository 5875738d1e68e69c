//! A position in one line of text, shared by the requirement and marker grammars so both read
//! characters the same way.

pub(super) struct Cursor<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self { text, position: 0 }
    }

    pub(super) fn rest(&self) -> &'a str {
        &self.text[self.position..]
    }

    pub(super) fn advance(&mut self, bytes: usize) {
        self.position += bytes;
    }

    pub(super) fn eat(&mut self, expected: char) -> bool {
        if self.rest().starts_with(expected) {
            self.position += expected.len_utf8();
            true
        } else {
            false
        }
    }

    pub(super) fn skip_spaces(&mut self) {
        self.take_while(char::is_whitespace);
    }

    pub(super) fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let length = rest
            .find(|character| !keep(character))
            .unwrap_or(rest.len());
        self.position += length;
        &rest[..length]
    }
}
