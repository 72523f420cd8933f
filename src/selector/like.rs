//! `LIKE` patterns: `%` any run of characters, `_` exactly one, and an
//! optional escape character that makes the next character literal.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Char(char),
    One,
    Many,
}

/// A compiled `LIKE` pattern. Matching is linear-memory and never
/// backtracks exponentially, whatever the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LikePattern {
    pieces: Vec<Piece>,
}

impl LikePattern {
    /// Compiles `pattern`; the error says what is wrong with the escape use.
    pub(crate) fn compile(pattern: &str, escape: Option<char>) -> Result<LikePattern, String> {
        let mut pieces = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let piece = if Some(c) == escape {
                match chars.next() {
                    Some(n) => Piece::Char(n),
                    None => {
                        return Err(format!(
                            "the pattern ends with the escape character {c:?}; escape '%', '_' or {c:?} itself"
                        ))
                    }
                }
            } else if c == '%' {
                if pieces.last() == Some(&Piece::Many) {
                    continue;
                }
                Piece::Many
            } else if c == '_' {
                Piece::One
            } else {
                Piece::Char(c)
            };
            pieces.push(piece);
        }
        Ok(LikePattern { pieces })
    }

    /// Whether the whole of `text` matches the pattern.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let p = &self.pieces;
        let t: Vec<char> = text.chars().collect();
        let (mut pi, mut ti) = (0usize, 0usize);
        // Where the last `%` was and the text position it is retried from.
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            match p.get(pi) {
                Some(Piece::Many) => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                Some(Piece::One) => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                Some(Piece::Char(c)) if *c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            }
        }
        p.get(pi..).unwrap_or(&[]).iter().all(|x| *x == Piece::Many)
    }
}
