//! Helpers shared by the selector tests.

use std::collections::HashMap;

use crate::selector::{Selector, Value};

/// Properties from name/value pairs.
pub(super) fn props(pairs: &[(&str, Value<'static>)]) -> HashMap<String, Value<'static>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Parses `text`, failing the test with the error if it does not parse.
pub(super) fn sel(text: &str) -> Selector {
    match Selector::parse(text) {
        Ok(s) => s,
        Err(e) => panic!("{text:?} should parse: {e}"),
    }
}

/// The three-valued result of `text` over the properties.
pub(super) fn eval(text: &str, pairs: &[(&str, Value<'static>)]) -> Option<bool> {
    sel(text).evaluate(&props(pairs))
}

/// The parse error of `text`, failing the test if it parses.
pub(super) fn parse_err(text: &str) -> crate::selector::SelectorError {
    match Selector::parse(text) {
        Ok(s) => panic!("{text:?} should not parse, got {s:?}"),
        Err(e) => e,
    }
}

pub(super) fn s(v: &str) -> Value<'static> {
    Value::from(v.to_string())
}
