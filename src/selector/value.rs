//! Values a selector works on, the [`Properties`] lookup the broker
//! implements, and the numeric-string rule.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// The value of one message property (a header or a JMS field). An absent
/// property is `None` from [`Properties::get`] and behaves as SQL `NULL`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
}

impl<'a> Value<'a> {
    /// A string value borrowing `s`.
    pub fn str(s: &'a str) -> Value<'a> {
        Value::Str(Cow::Borrowed(s))
    }

    /// Copies any borrowed string so that the value outlives its source.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Float(f) => Value::Float(f),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
        }
    }
}

impl From<bool> for Value<'static> {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value<'static> {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value<'static> {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::str(s)
    }
}

impl From<String> for Value<'static> {
    fn from(s: String) -> Self {
        Value::Str(Cow::Owned(s))
    }
}

/// Looks up the identifiers of a selector. Names are case-sensitive.
pub trait Properties {
    /// The property's value, or `None` when the message does not have it.
    fn get(&self, name: &str) -> Option<Value<'_>>;
}

impl Properties for HashMap<String, Value<'_>> {
    fn get(&self, name: &str) -> Option<Value<'_>> {
        HashMap::get(self, name).cloned()
    }
}

impl Properties for BTreeMap<String, Value<'_>> {
    fn get(&self, name: &str) -> Option<Value<'_>> {
        BTreeMap::get(self, name).cloned()
    }
}

/// A message with no properties at all: every identifier is `NULL`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProperties;

impl Properties for NoProperties {
    fn get(&self, _name: &str) -> Option<Value<'_>> {
        None
    }
}

/// A number read from a string by the numeric-string rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

/// Reads `s` as a number when the whole string is a decimal number: an
/// optional sign, digits with an optional fraction, an optional exponent
/// (`150`, `-3`, `2.5`, `.5`, `1e3`, `+1.5E-2`). No spaces, no hex, no
/// `NaN`/`inf`. Integers that fit in `i64` stay integers.
pub(crate) fn parse_numeric(s: &str) -> Option<Num> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    let mut is_float = false;
    if i < b.len() && b[i] == b'.' {
        is_float = true;
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        is_float = true;
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    if !is_float {
        if let Ok(v) = s.parse::<i64>() {
            return Some(Num::Int(v));
        }
    }
    s.parse::<f64>().ok().map(Num::Float)
}

/// Reads `s` as a boolean when it is `true` or `false` in any case.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}
