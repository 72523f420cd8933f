//! Splits selector text into tokens, each with its 1-based column.

use super::error::SelectorError;

/// A token's kind. Keywords are recognised case-insensitively.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    /// An exact numeric literal's magnitude; `i64::MAX + 1` is kept so that
    /// `-9223372036854775808` can be written.
    Int(u64),
    Float(f64),
    And,
    Or,
    Not,
    Between,
    In,
    Like,
    Escape,
    Is,
    Null,
    True,
    False,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    LParen,
    RParen,
    Comma,
    Eof,
}

/// One token: its kind, 1-based character column and byte span in the text.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub col: usize,
    pub start: usize,
    pub end: usize,
}

fn keyword(word: &str) -> Option<Tok> {
    const KEYWORDS: [(&str, Tok); 11] = [
        ("AND", Tok::And),
        ("OR", Tok::Or),
        ("NOT", Tok::Not),
        ("BETWEEN", Tok::Between),
        ("IN", Tok::In),
        ("LIKE", Tok::Like),
        ("ESCAPE", Tok::Escape),
        ("IS", Tok::Is),
        ("NULL", Tok::Null),
        ("TRUE", Tok::True),
        ("FALSE", Tok::False),
    ];
    KEYWORDS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(word))
        .map(|(_, t)| t.clone())
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

fn is_ident_part(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || c == '.'
}

struct Lexer<'s> {
    src: &'s str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).map(|&(_, c)| c)
    }

    fn byte_at(&self, pos: usize) -> usize {
        self.chars.get(pos).map_or(self.src.len(), |&(b, _)| b)
    }

    fn err(&self, col: usize, msg: impl Into<String>) -> SelectorError {
        SelectorError::new(self.src, col, msg)
    }

    /// Reads `'...'` with `''` standing for one quote, or `"..."` with `""`.
    fn quoted(&mut self, quote: char, what: &str) -> Result<String, SelectorError> {
        let col = self.pos + 1;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek(0) {
                None => return Err(self.err(col, format!("{what} is not closed with {quote}"))),
                Some(c) if c == quote => {
                    if self.peek(1) == Some(quote) {
                        out.push(quote);
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                        return Ok(out);
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn digits(&mut self) -> usize {
        let from = self.pos;
        while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - from
    }

    fn number(&mut self) -> Result<Tok, SelectorError> {
        let col = self.pos + 1;
        let start = self.pos;
        let int_digits = self.digits();
        let mut float = false;
        if self.peek(0) == Some('.') {
            float = true;
            self.pos += 1;
            if self.digits() == 0 && int_digits == 0 {
                return Err(self.err(col, "'.' is not a number"));
            }
        }
        if matches!(self.peek(0), Some('e' | 'E')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek(0), Some('+' | '-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                self.pos = save;
                return Err(self.err(col, "the exponent of this number has no digits"));
            }
            float = true;
        }
        let text = &self.src[self.byte_at(start)..self.byte_at(self.pos)];
        let tok = if float {
            let v: f64 = text
                .parse()
                .map_err(|_| self.err(col, format!("'{text}' is not a number")))?;
            if !v.is_finite() {
                return Err(self.err(col, format!("number '{text}' is too large")));
            }
            Tok::Float(v)
        } else {
            let v: u64 = text
                .parse()
                .ok()
                .filter(|&v| v <= i64::MAX as u64 + 1)
                .ok_or_else(|| {
                    self.err(
                        col,
                        format!("integer '{text}' is too large (at most 9223372036854775807)"),
                    )
                })?;
            if matches!(self.peek(0), Some('l' | 'L')) {
                self.pos += 1;
            }
            Tok::Int(v)
        };
        Ok(tok)
    }

    fn next(&mut self) -> Result<Tok, SelectorError> {
        let col = self.pos + 1;
        let Some(c) = self.peek(0) else {
            return Ok(Tok::Eof);
        };
        let two = |l: &mut Self, t: Tok| {
            l.pos += 2;
            Ok(t)
        };
        let one = |l: &mut Self, t: Tok| {
            l.pos += 1;
            Ok(t)
        };
        match c {
            '\'' => self.quoted('\'', "string").map(Tok::Str),
            '"' => {
                let name = self.quoted('"', "quoted identifier")?;
                if name.is_empty() {
                    return Err(self.err(col, "empty quoted identifier \"\""));
                }
                Ok(Tok::Ident(name))
            }
            '0'..='9' => self.number(),
            '.' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => self.number(),
            '=' => one(self, Tok::Eq),
            '<' if self.peek(1) == Some('>') => two(self, Tok::Ne),
            '<' if self.peek(1) == Some('=') => two(self, Tok::Le),
            '<' => one(self, Tok::Lt),
            '>' if self.peek(1) == Some('=') => two(self, Tok::Ge),
            '>' => one(self, Tok::Gt),
            '!' if self.peek(1) == Some('=') => {
                Err(self.err(col, "'!=' is not an operator; use '<>' for not equal"))
            }
            '+' => one(self, Tok::Plus),
            '-' => one(self, Tok::Minus),
            '*' => one(self, Tok::Star),
            '/' => one(self, Tok::Slash),
            '(' => one(self, Tok::LParen),
            ')' => one(self, Tok::RParen),
            ',' => one(self, Tok::Comma),
            c if is_ident_start(c) => {
                let start = self.pos;
                while self.peek(0).is_some_and(is_ident_part) {
                    self.pos += 1;
                }
                let word = &self.src[self.byte_at(start)..self.byte_at(self.pos)];
                Ok(keyword(word).unwrap_or_else(|| Tok::Ident(word.to_string())))
            }
            c => Err(self.err(col, format!("unexpected character {c:?}"))),
        }
    }
}

/// Tokenises `src`; the last token is always [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, SelectorError> {
    let mut lx = Lexer {
        src,
        chars: src.char_indices().collect(),
        pos: 0,
    };
    let mut out = Vec::new();
    loop {
        while lx.peek(0).is_some_and(char::is_whitespace) {
            lx.pos += 1;
        }
        let from = lx.pos;
        let tok = lx.next()?;
        let done = tok == Tok::Eof;
        out.push(Token {
            tok,
            col: from + 1,
            start: lx.byte_at(from),
            end: lx.byte_at(lx.pos),
        });
        if done {
            return Ok(out);
        }
    }
}
