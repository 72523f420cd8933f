//! Three-valued logic: truth tables and NULL through every predicate.

use super::util::eval;
use crate::selector::Value;

type Tri = Option<bool>;
const T: Tri = Some(true);
const F: Tri = Some(false);
const U: Tri = None;

/// Properties `t` = TRUE, `f` = FALSE; `u` is absent (NULL).
fn tri(text: &str) -> Tri {
    eval(text, &[("t", Value::Bool(true)), ("f", Value::Bool(false))])
}

fn name(v: Tri) -> &'static str {
    match v {
        T => "t",
        F => "f",
        U => "u",
    }
}

/// The same operands written as comparisons instead of boolean properties.
fn cmp_name(v: Tri) -> &'static str {
    match v {
        T => "(1 = 1)",
        F => "(1 = 2)",
        U => "(u = 1)",
    }
}

const ALL: [Tri; 3] = [T, F, U];

#[test]
fn and_truth_table() {
    let expect = |a: Tri, b: Tri| match (a, b) {
        (F, _) | (_, F) => F,
        (T, T) => T,
        _ => U,
    };
    for a in ALL {
        for b in ALL {
            for n in [name, cmp_name] {
                let text = format!("{} AND {}", n(a), n(b));
                assert_eq!(tri(&text), expect(a, b), "{text}");
            }
        }
    }
}

#[test]
fn or_truth_table() {
    let expect = |a: Tri, b: Tri| match (a, b) {
        (T, _) | (_, T) => T,
        (F, F) => F,
        _ => U,
    };
    for a in ALL {
        for b in ALL {
            for n in [name, cmp_name] {
                let text = format!("{} OR {}", n(a), n(b));
                assert_eq!(tri(&text), expect(a, b), "{text}");
            }
        }
    }
}

#[test]
fn not_truth_table() {
    for (a, want) in [(T, F), (F, T), (U, U)] {
        for n in [name, cmp_name] {
            let text = format!("NOT {}", n(a));
            assert_eq!(tri(&text), want, "{text}");
        }
    }
    assert_eq!(tri("NOT NOT t"), T);
    assert_eq!(tri("NOT NOT u"), U);
}

#[test]
fn three_operand_chains() {
    assert_eq!(tri("u AND t AND f"), F);
    assert_eq!(tri("u OR f OR t"), T);
    assert_eq!(tri("u OR f OR f"), U);
    assert_eq!(tri("t AND t AND u"), U);
}

#[test]
fn unknown_is_not_selected() {
    let s = super::util::sel("u = 1");
    assert!(!s.matches(&crate::selector::NoProperties));
    assert_eq!(s.evaluate(&crate::selector::NoProperties), U);
    let s = super::util::sel("NOT (u = 1)");
    assert!(!s.matches(&crate::selector::NoProperties));
}

#[test]
fn null_through_every_predicate() {
    for text in [
        "u = 1",
        "u <> 1",
        "u < 1",
        "u <= 1",
        "u > 1",
        "u >= 1",
        "1 = u",
        "u = u",
        "u = NULL",
        "NULL = NULL",
        "u + 1 = 1",
        "-u = 1",
        "u * 0 = 0",
        "u BETWEEN 1 AND 2",
        "u NOT BETWEEN 1 AND 2",
        "u IN ('a')",
        "u NOT IN ('a')",
        "u LIKE '%'",
        "u NOT LIKE '%'",
        "u",
        "NOT u",
    ] {
        assert_eq!(tri(text), U, "{text}");
    }
    assert_eq!(tri("u IS NULL"), T);
    assert_eq!(tri("u IS NOT NULL"), F);
    assert_eq!(tri("t IS NULL"), F);
    assert_eq!(tri("t IS NOT NULL"), T);
    assert_eq!(tri("NULL IS NULL"), T);
    assert_eq!(tri("(u + 1) IS NULL"), T);
    assert_eq!(tri("(u = 1) IS NULL"), T);
}

#[test]
fn between_with_null_bound() {
    let p = [("a", Value::Int(5))];
    assert_eq!(eval("a BETWEEN u AND 10", &p), U);
    assert_eq!(eval("a BETWEEN u AND 1", &p), F);
    assert_eq!(eval("a BETWEEN 10 AND u", &p), F);
    assert_eq!(eval("a NOT BETWEEN u AND 1", &p), T);
    assert_eq!(eval("a NOT BETWEEN u AND 10", &p), U);
}

#[test]
fn in_with_incomparable_member_is_unknown_unless_found() {
    let p = [("a", Value::from("x"))];
    assert_eq!(eval("a IN (1, 'x')", &p), T);
    assert_eq!(eval("a IN (1, 'y')", &p), U);
    assert_eq!(eval("a NOT IN (1, 'y')", &p), U);
    assert_eq!(eval("a NOT IN ('y', 'z')", &p), T);
}
