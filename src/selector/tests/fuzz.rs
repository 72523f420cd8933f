//! Randomised robustness: no input makes parsing or evaluation panic, and
//! every error points inside (or just past) the text.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::util::{props, s};
use crate::selector::{Selector, Value, MAX_SELECTOR_CHARS};

const SEEDS: [&str; 12] = [
    "JMSType = 'car' AND color = 'blue' AND weight > 2500",
    "a BETWEEN -1.5e3 AND 10 OR NOT (b IN ('x', 'it''s', 3))",
    "v NOT LIKE '100!%_' ESCAPE '!' AND w IS NOT NULL",
    "(price * 2 + -tax / 3) >= 100 AND flag = TRUE",
    "\"correlation-id\" <> 'c' OR x IS NULL",
    "NOT NOT (a = 1 OR (b = 2 AND (c = 3 OR d = 4)))",
    "num > 100 AND zip = '007' AND yes",
    "i / 0 = 1 OR f / 0 > 1",
    "a IN (-9223372036854775808, 9223372036854775807)",
    "s LIKE '%a%b%c%' AND s < 'zzz'",
    "convert_string_expressions:num = 150",
    "x = 1",
];

const PIECES: [&str; 42] = [
    " ",
    "(",
    ")",
    "'",
    "''",
    "\"",
    ",",
    "=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "AND",
    "OR",
    "NOT",
    "BETWEEN",
    "IN",
    "LIKE",
    "ESCAPE",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "1",
    "9223372036854775808",
    "1.5e3",
    "1e",
    ".",
    "%",
    "_",
    "!",
    "a",
    "num",
    "\u{e9}",
    "\n",
    "\0",
    "é'",
];

/// Properties every parsed selector is evaluated against.
fn sample_props() -> std::collections::HashMap<String, Value<'static>> {
    props(&[
        ("a", Value::Int(1)),
        ("b", Value::Float(f64::NAN)),
        ("c", Value::Int(i64::MIN)),
        ("d", Value::Int(i64::MAX)),
        ("s", s("abc")),
        ("num", s("150")),
        ("yes", s("true")),
        ("flag", Value::Bool(false)),
        ("x", Value::Float(-0.0)),
    ])
}

fn mutate(rng: &mut StdRng, base: &str) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=chars.len());
        match rng.random_range(0..4) {
            0 if at < chars.len() => {
                chars.remove(at);
            }
            1 => {
                let piece = PIECES[rng.random_range(0..PIECES.len())];
                chars.splice(at..at, piece.chars());
            }
            2 if at < chars.len() => {
                chars[at] = char::from(rng.random_range(0x20u8..0x7f));
            }
            _ => {
                let end = rng.random_range(at..=chars.len());
                chars.truncate(end.max(at));
            }
        }
    }
    chars.into_iter().collect()
}

fn random_pieces(rng: &mut StdRng) -> String {
    (0..rng.random_range(0..30))
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect::<Vec<_>>()
        .join(if rng.random_bool(0.5) { " " } else { "" })
}

fn random_bytes(rng: &mut StdRng) -> String {
    let bytes: Vec<u8> = (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Parses and evaluates `text`; false if anything panicked or an error
/// column is out of range.
fn survives(text: &str, p: &std::collections::HashMap<String, Value<'static>>) -> bool {
    catch_unwind(AssertUnwindSafe(|| match Selector::parse(text) {
        Ok(sel) => {
            let _ = sel.evaluate(p);
            let _ = sel.evaluate(&crate::selector::NoProperties);
            true
        }
        Err(e) => {
            let len = text.chars().count();
            let _ = e.to_string();
            e.column >= 1 && e.column <= len + 1
        }
    }))
    .unwrap_or(false)
}

#[test]
fn random_input_never_panics() {
    let mut rng = StdRng::seed_from_u64(0x5e1ec7);
    let p = sample_props();
    let mut parsed = 0;
    for case in 0..20_000 {
        let text = match case % 4 {
            0 => random_bytes(&mut rng),
            1 => random_pieces(&mut rng),
            _ => {
                let base = SEEDS[rng.random_range(0..SEEDS.len())];
                mutate(&mut rng, base)
            }
        };
        assert!(survives(&text, &p), "case {case}: {text:?}");
        if Selector::parse(&text).is_ok() {
            parsed += 1;
        }
    }
    // The mutations must reach the evaluator, not only the error paths.
    assert!(parsed > 1_000, "only {parsed} inputs parsed");
}

#[test]
fn hostile_shapes_never_panic() {
    let p = sample_props();
    let n = MAX_SELECTOR_CHARS;
    for text in [
        "(".repeat(n),
        ")".repeat(n),
        "NOT ".repeat(n / 4),
        "-".repeat(n),
        "'".repeat(n),
        "\"".repeat(n + 1),
        "a = 1 AND ".repeat(n / 10),
        format!("a LIKE '{}'", "%_".repeat(n / 2 - 6)),
        "9".repeat(n),
        format!("a = {}", "9".repeat(400)),
        "\u{10ffff}".repeat(n),
        "x".repeat(n * 10),
    ] {
        assert!(
            survives(&text, &p),
            "{:?}...",
            &text.chars().take(40).collect::<String>()
        );
    }
}
