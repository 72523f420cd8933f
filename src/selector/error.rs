//! The error a selector that does not parse gets.

/// How many characters of the selector an error message shows at most.
const SNIPPET_CHARS: usize = 80;

/// A selector that could not be parsed: where (1-based character column)
/// and why. `Display` gives one line fit for a STOMP ERROR frame, e.g.
/// ``selector error at column 9: expected a value after '>', found 'AND' in `price > AND x` ``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("selector error at column {column}: {message} in `{snippet}`")]
pub struct SelectorError {
    /// 1-based character (not byte) position in the selector text.
    pub column: usize,
    /// What is wrong, without the position.
    pub message: String,
    /// The selector text (shortened around `column` when long), with
    /// control characters replaced by spaces.
    pub snippet: String,
}

impl SelectorError {
    pub(crate) fn new(src: &str, column: usize, message: impl Into<String>) -> SelectorError {
        SelectorError {
            column,
            message: message.into(),
            snippet: snippet(src, column),
        }
    }
}

/// At most [`SNIPPET_CHARS`] characters of `src` around `column`, marked
/// with `...` where cut.
fn snippet(src: &str, column: usize) -> String {
    let total = src.chars().count();
    let (from, to) = if total <= SNIPPET_CHARS {
        (0, total)
    } else {
        let from = column
            .saturating_sub(SNIPPET_CHARS / 2)
            .min(total - SNIPPET_CHARS);
        (from, from + SNIPPET_CHARS)
    };
    let mut out = String::new();
    if from > 0 {
        out.push_str("...");
    }
    out.extend(
        src.chars()
            .skip(from)
            .take(to - from)
            .map(|c| if c.is_control() { ' ' } else { c }),
    );
    if to < total {
        out.push_str("...");
    }
    out
}
