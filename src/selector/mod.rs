//! JMS message selectors (the `selector` header of SUBSCRIBE).
//!
//! The language is the SQL-92 subset of JMS 1.1/2.0 section 3.8 "Message
//! selection", as Apache ActiveMQ implements it:
//!
//! - literals: strings `'it''s'`, exact (`42`, `-7`, `10L`) and approximate
//!   (`1.5`, `.5`, `1.5e3`) numbers, `TRUE`, `FALSE`, `NULL`;
//! - identifiers: a letter, `_` or `$` followed by letters, digits, `_`, `$`
//!   or `.` (ActiveMQ allows the dot); `"quoted-name"` (with `""` for a
//!   quote) names a property that is not a plain identifier, such as a
//!   STOMP header with a `-`. Identifiers are case-sensitive, keywords are not;
//! - `=  <>  <  <=  >  >=`, `+ - * /` and unary `+ -`, `AND OR NOT`,
//!   `[NOT] BETWEEN a AND b`, `[NOT] IN ('a', 'b', 3)`,
//!   `[NOT] LIKE 'pat%_' [ESCAPE '\']`, `IS [NOT] NULL`, parentheses;
//! - precedence, loosest first: `OR`, `AND`, `NOT`, comparisons and the
//!   predicates, `+ -`, `* /`, unary `+ -`.
//!
//! Semantics:
//!
//! - Three-valued logic: an absent property is NULL; any comparison or
//!   arithmetic with NULL is *unknown*; `NOT unknown` is unknown; `FALSE AND
//!   unknown` is false, `TRUE OR unknown` is true. A message is selected only
//!   when the selector is *true*.
//! - Integers are 64-bit; integer with float promotes to float; integer
//!   division truncates; overflow falls back to float; integer division by
//!   zero is unknown.
//! - Values of different types that cannot be compared (a boolean with a
//!   number, a non-numeric string with a number) give unknown, as in JMS.
//!   Two strings compare by code point (so `<` works on strings, as in ActiveMQ).
//! - **Numeric strings.** STOMP headers are all strings, and users write
//!   `price > 100` for a header sent as `price:150`. So when a string meets a
//!   number (in a comparison, `BETWEEN`, `IN` or arithmetic), a string that is
//!   entirely a decimal number (`150`, `-2`, `2.5`, `1e3`; no spaces, no hex)
//!   is used as that number; any other string makes the result unknown.
//!   Likewise `'true'`/`'false'` (any case) compare with booleans and act as
//!   conditions. Two strings always compare as strings: `price = '150'` is a
//!   string comparison, and `'10' < '9'` is true. This is ActiveMQ's
//!   `convert_string_expressions:` mode, always on (the prefix is accepted
//!   and ignored).
//! - `LIKE` on a value that is not a string is unknown.
//! - Checked when parsing: the selector and the operands of `AND`/`OR`/`NOT`
//!   must be conditions (not `1 + 2` or `'x'`), and arithmetic does not take
//!   string or boolean literals.
//! - An empty or blank selector selects every message (JMS: "treated as null").
//!
//! Identifiers are looked up through [`Properties`]. For the broker,
//! [`MessageProperties`] maps a message's headers and fields the way
//! ActiveMQ does (the table is on [`MessageProperties`]): a JMS property
//! keeps its type (an `int` is a number, a `boolean` a boolean), a STOMP
//! header is a string read by the numeric-string rule above, and the JMS
//! header names (`JMSPriority`, `JMSXDeliveryCount`, ...) read the
//! message's fields. [`StompProperties`] does the same over bare STOMP
//! headers, so SUBSCRIBE can do:
//!
//! ```
//! use baton::selector::{KnownFields, Selector, StompProperties};
//! let sel = Selector::parse("JMSPriority > 5 AND price > 100").unwrap();
//! let headers = [("priority", "7"), ("price", "150")];
//! let lookup = |name: &str| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
//! assert!(sel.matches(&StompProperties::new(lookup, KnownFields::default())));
//! ```
//!
//! Limits: at most [`MAX_SELECTOR_CHARS`] characters and [`MAX_DEPTH`]
//! levels of nesting, so a hostile selector cannot exhaust memory or the
//! stack. Parsing and evaluation never panic.

mod ast;
mod error;
mod eval;
mod lexer;
mod like;
mod parser;
mod predicate;
mod stomp;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

pub use error::SelectorError;
pub use stomp::{KnownFields, MessageProperties, StompProperties};
pub use value::{NoProperties, Properties, Value};

/// Longest selector accepted, in characters.
pub const MAX_SELECTOR_CHARS: usize = 4096;

/// Deepest nesting accepted (parentheses, `NOT`, unary minus and the
/// operator tree all count).
pub const MAX_DEPTH: usize = 32;

/// ActiveMQ's prefix that turns on string conversion; accepted and ignored
/// since Baton always converts.
const CONVERT_PREFIX: &str = "convert_string_expressions:";

/// A parsed selector: cheap to clone and to evaluate many times.
#[derive(Clone)]
pub struct Selector {
    text: Arc<str>,
    expr: Option<Arc<ast::Expr>>,
}

impl Selector {
    /// Parses `text`; the error tells where and why it does not parse.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let chars = text.chars().count();
        if chars > MAX_SELECTOR_CHARS {
            return Err(SelectorError::new(
                text,
                MAX_SELECTOR_CHARS + 1,
                format!("the selector is {chars} characters long; at most {MAX_SELECTOR_CHARS} are allowed"),
            ));
        }
        let body = text.strip_prefix(CONVERT_PREFIX).unwrap_or(text);
        let expr = if body.trim().is_empty() {
            None
        } else {
            let offset = text.len() - body.len();
            let expr = parser::parse(body).map_err(|e| {
                let shift = text[..offset].chars().count();
                SelectorError::new(text, e.column + shift, e.message)
            })?;
            Some(Arc::new(expr))
        };
        Ok(Selector {
            text: Arc::from(text),
            expr,
        })
    }

    /// Whether the message with these properties is selected (the selector
    /// is true; unknown and false are not selected).
    pub fn matches(&self, props: &dyn Properties) -> bool {
        self.evaluate(props) == Some(true)
    }

    /// The selector's three-valued result: `None` is unknown.
    pub fn evaluate(&self, props: &dyn Properties) -> Option<bool> {
        match &self.expr {
            Some(e) => eval::truth(e, props),
            None => Some(true),
        }
    }

    /// The selector as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True for an empty or blank selector, which selects everything.
    pub fn is_match_all(&self) -> bool {
        self.expr.is_none()
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Selector").field(&self.text).finish()
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Selector {}
