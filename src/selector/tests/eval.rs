//! Evaluation: every operator, types, the numeric-string rule, LIKE and
//! precedence.

use super::util::{eval, s};
use crate::selector::Value;

const T: Option<bool> = Some(true);
const F: Option<bool> = Some(false);
const U: Option<bool> = None;

fn n(text: &str) -> Option<bool> {
    eval(
        text,
        &[
            ("i", Value::Int(10)),
            ("f", Value::Float(2.5)),
            ("s", s("abc")),
            ("b", Value::Bool(true)),
            ("num", s("150")),
            ("dec", s("2.5")),
            ("neg", s("-3")),
            ("word", s("150x")),
            ("yes", s("TRUE")),
            ("zip", s("007")),
        ],
    )
}

#[test]
fn comparison_operators_on_integers() {
    for (text, want) in [
        ("i = 10", T),
        ("i = 11", F),
        ("i <> 10", F),
        ("i <> 11", T),
        ("i < 11", T),
        ("i < 10", F),
        ("i <= 10", T),
        ("i <= 9", F),
        ("i > 9", T),
        ("i > 10", F),
        ("i >= 10", T),
        ("i >= 11", F),
        ("10 = i", T),
    ] {
        assert_eq!(n(text), want, "{text}");
    }
}

#[test]
fn integers_and_floats_compare_by_value() {
    for (text, want) in [
        ("i = 10.0", T),
        ("i = 1e1", T),
        ("f = 2.5", T),
        ("f > 2", T),
        ("f < 3", T),
        ("f = 25e-1", T),
        ("f >= 2.50", T),
        ("i > f", T),
    ] {
        assert_eq!(n(text), want, "{text}");
    }
}

#[test]
fn strings_compare_as_strings() {
    for (text, want) in [
        ("s = 'abc'", T),
        ("s = 'ABC'", F),
        ("s <> 'abd'", T),
        ("s < 'abd'", T),
        ("s > 'ab'", T),
        ("'it''s' = 'it''s'", T),
        ("'10' < '9'", T),
        ("zip = '007'", T),
        ("zip = '7'", F),
    ] {
        assert_eq!(n(text), want, "{text}");
    }
}

#[test]
fn booleans_compare_with_equality_only() {
    for (text, want) in [
        ("b = TRUE", T),
        ("b = FALSE", F),
        ("b <> FALSE", T),
        ("b", T),
        ("NOT b", F),
        ("b > FALSE", U),
        ("b = 1", U),
        ("b = 'abc'", U),
        ("TRUE = TRUE", T),
        ("FALSE", F),
    ] {
        assert_eq!(n(text), want, "{text}");
    }
}

#[test]
fn incomparable_types_are_unknown() {
    for text in [
        "s = 1",
        "s > 1",
        "s <> 1",
        "i = 'abc'",
        "word = 150",
        "i = b",
        "f = TRUE",
    ] {
        assert_eq!(n(text), U, "{text}");
        assert_eq!(n(&format!("NOT ({text})")), U, "NOT ({text})");
    }
}

#[test]
fn numeric_strings_compare_with_numbers() {
    for (text, want) in [
        ("num > 100", T),
        ("num = 150", T),
        ("num = 150.0", T),
        ("num < 100", F),
        ("num BETWEEN 100 AND 200", T),
        ("num IN (150, 160)", T),
        ("num IN ('150')", T),
        ("num + 1 = 151", T),
        ("num * 2 > 299", T),
        ("-num = -150", T),
        ("dec > 2", T),
        ("dec = 2.5", T),
        ("neg < 0", T),
        ("zip = 7", T),
        ("'10' = 10", T),
        ("num = '150'", T),
        ("num = '150.0'", F),
        ("word > 100", U),
        ("word + 1 > 0", U),
        ("yes = TRUE", T),
        ("yes", T),
        ("s = TRUE", U),
    ] {
        assert_eq!(n(text), want, "{text}");
    }
}

#[test]
fn numeric_string_forms() {
    use crate::selector::value::{parse_numeric, Num};
    for (text, want) in [
        ("150", Some(Num::Int(150))),
        ("+7", Some(Num::Int(7))),
        ("-0", Some(Num::Int(0))),
        ("2.5", Some(Num::Float(2.5))),
        (".5", Some(Num::Float(0.5))),
        ("5.", Some(Num::Float(5.0))),
        ("1e3", Some(Num::Float(1000.0))),
        ("-1.5E-1", Some(Num::Float(-0.15))),
        (
            "9223372036854775808",
            Some(Num::Float(9.223372036854776e18)),
        ),
        ("", None),
        ("-", None),
        (".", None),
        (" 1", None),
        ("1 ", None),
        ("0x10", None),
        ("1e", None),
        ("1e+", None),
        ("NaN", None),
        ("inf", None),
        ("1_000", None),
        ("١٢", None),
    ] {
        assert_eq!(parse_numeric(text), want, "{text:?}");
    }
}

#[test]
fn arithmetic() {
    for (text, want) in [
        ("i + 5 = 15", T),
        ("i - 15 = -5", T),
        ("i * 3 = 30", T),
        ("i / 3 = 3", T),
        ("-i / 3 = -3", T),
        ("i / 4.0 = 2.5", T),
        ("f * 2 = 5", T),
        ("f + i = 12.5", T),
        ("1 + 2 * 3 = 7", T),
        ("(1 + 2) * 3 = 9", T),
        ("10 - 4 - 3 = 3", T),
        ("100 / 10 / 5 = 2", T),
        ("- - i = 10", T),
        ("+i = 10", T),
        ("-(i) = -10", T),
        ("2 * -i = -20", T),
        ("i / 0 = 1", U),
        ("i / 0 IS NULL", T),
        ("f / 0 > 1e300", T),
        ("s + 1 = 1", U),
        ("b + 1 = 2", U),
    ] {
        assert_eq!(n(text), want, "{text}");
    }
}

#[test]
fn integer_overflow_falls_back_to_float() {
    let p = [("max", Value::Int(i64::MAX)), ("min", Value::Int(i64::MIN))];
    assert_eq!(eval("max + max > 1.8e19", &p), T);
    assert_eq!(eval("max * 2 > 1e19", &p), T);
    assert_eq!(eval("min - max < -1.8e19", &p), T);
    assert_eq!(eval("-min > 9e18", &p), T);
    assert_eq!(eval("min / -1 > 9e18", &p), T);
    assert_eq!(eval("min = -9223372036854775808", &p), T);
    assert_eq!(eval("max = 9223372036854775807", &p), T);
}

#[test]
fn nan_only_differs() {
    let p = [("x", Value::Float(f64::NAN))];
    assert_eq!(eval("x = x", &p), F);
    assert_eq!(eval("x <> 1", &p), T);
    assert_eq!(eval("x < 1 OR x >= 1", &p), F);
}

#[test]
fn between() {
    for (text, want) in [
        ("i BETWEEN 10 AND 20", T),
        ("i BETWEEN 1 AND 10", T),
        ("i BETWEEN 11 AND 20", F),
        ("i BETWEEN 20 AND 1", F),
        ("i NOT BETWEEN 11 AND 20", T),
        ("i NOT BETWEEN 5 AND 15", F),
        ("f BETWEEN 2 AND 3", T),
        ("i BETWEEN 5 + 5 AND i * 2", T),
        ("s BETWEEN 'abb' AND 'abd'", T),
        ("s BETWEEN 1 AND 2", U),
        ("i BETWEEN 1 AND 20 AND s = 'abc'", T),
    ] {
        assert_eq!(n(text), want, "{text}");
    }
}

#[test]
fn in_lists() {
    for (text, want) in [
        ("s IN ('abc')", T),
        ("s IN ('x', 'abc', 'y')", T),
        ("s IN ('x', 'y')", F),
        ("s NOT IN ('x', 'y')", T),
        ("s NOT IN ('abc')", F),
        ("i IN (1, 10)", T),
        ("i IN (10.0)", T),
        ("i NOT IN (-10, 1)", T),
        ("f IN (2.5)", T),
        ("s IN ('ABC')", F),
    ] {
        assert_eq!(n(text), want, "{text}");
    }
}

#[test]
fn like_wildcards() {
    for (value, pattern, want) in [
        ("abc", "abc", true),
        ("abc", "ab", false),
        ("abc", "a%", true),
        ("abc", "%c", true),
        ("abc", "%b%", true),
        ("abc", "%", true),
        ("", "%", true),
        ("", "_", false),
        ("abc", "___", true),
        ("abc", "__", false),
        ("abc", "a_c", true),
        ("abc", "_%_", true),
        ("a", "_%_", false),
        ("abcabc", "%abc", true),
        ("abcab", "%abc", false),
        ("aaa", "%a%a%a%", true),
        ("aa", "%a%a%a%", false),
        ("mississippi", "m%iss%pi", true),
        ("ABC", "abc", false),
        ("h\u{e9}llo", "h_llo", true),
        ("line\nbreak", "line%break", true),
        ("a.c", "a.c", true),
        ("abc", "a.c", false),
        ("a*c", "a*c", true),
        ("abc", "a[b]c", false),
    ] {
        let p = [("v", s(value))];
        let text = format!("v LIKE '{pattern}'");
        assert_eq!(eval(&text, &p), Some(want), "{value:?} {text}");
        let text = format!("v NOT LIKE '{pattern}'");
        assert_eq!(eval(&text, &p), Some(!want), "{value:?} {text}");
    }
}

#[test]
fn like_escapes() {
    for (value, like, want) in [
        ("100%", "'100!%' ESCAPE '!'", true),
        ("1000", "'100!%' ESCAPE '!'", false),
        ("a_b", "'a\\_b' ESCAPE '\\'", true),
        ("axb", "'a\\_b' ESCAPE '\\'", false),
        ("a\\b", "'a\\\\b' ESCAPE '\\'", true),
        ("a!b", "'a!!b' ESCAPE '!'", true),
        ("abc", "'!abc' ESCAPE '!'", true),
        ("50% off", "'%!%%' ESCAPE '!'", true),
        ("50 off", "'%!%%' ESCAPE '!'", false),
        ("it's", "'it''s'", true),
        ("x'y", "'x''''y' ESCAPE ''''", true),
        ("a%b", "'a%b'", true),
        ("a\\b", "'a\\b'", true),
        ("a%b", "'a%%b' ESCAPE '%'", true),
        ("axb", "'a%%b' ESCAPE '%'", false),
    ] {
        let p = [("v", s(value))];
        let text = format!("v LIKE {like}");
        assert_eq!(eval(&text, &p), Some(want), "{value:?} {text}");
    }
}

#[test]
fn like_on_non_strings_is_unknown() {
    assert_eq!(n("i LIKE '1%'"), U);
    assert_eq!(n("b NOT LIKE '%'"), U);
    assert_eq!(n("num LIKE '1_0'"), T);
}

#[test]
fn like_has_no_exponential_blowup() {
    let value = "a".repeat(2000);
    let pattern = format!("'{}b'", "%a".repeat(100));
    let p = [("v", s(&value))];
    assert_eq!(eval(&format!("v LIKE {pattern}"), &p), F);
}

#[test]
fn precedence() {
    for (text, want) in [
        // AND binds tighter than OR.
        ("i = 10 OR i = 1 AND s = 'zzz'", T),
        ("(i = 10 OR i = 1) AND s = 'zzz'", F),
        // NOT binds tighter than AND but looser than comparisons.
        ("NOT i = 1 AND s = 'abc'", T),
        ("NOT (i = 10 AND s = 'zzz')", T),
        ("NOT i = 10 OR TRUE", T),
        ("NOT i = 10 AND TRUE", F),
        // * / before + -; unary minus first.
        ("2 + 3 * 4 = 14", T),
        ("2 * 3 + 4 = 10", T),
        ("12 / 2 * 3 = 18", T),
        ("-2 * -3 = 6", T),
        ("1 - -1 = 2", T),
        // arithmetic inside predicates
        ("i + 1 BETWEEN 11 AND 11", T),
        ("i * 2 IN (20)", T),
    ] {
        assert_eq!(n(text), want, "{text}");
    }
}

#[test]
fn quoted_identifiers_name_any_property() {
    let p = [("correlation-id", s("c1")), ("a\"b", Value::Int(1))];
    assert_eq!(eval("\"correlation-id\" = 'c1'", &p), T);
    assert_eq!(eval("\"a\"\"b\" = 1", &p), T);
}

#[test]
fn jms_spec_examples() {
    let p = [
        ("JMSType", s("car")),
        ("color", s("blue")),
        ("weight", Value::Int(3000)),
        ("NoSuchProp", s("x")),
        ("age", Value::Int(20)),
        ("Country", s("UK")),
        ("underscored", s("abc")),
        ("phone", s("12-34")),
    ];
    assert_eq!(
        eval("JMSType = 'car' AND color = 'blue' AND weight > 2500", &p),
        T
    );
    assert_eq!(eval("age BETWEEN 15 AND 19", &p), F);
    assert_eq!(eval("age NOT BETWEEN 15 AND 19", &p), T);
    assert_eq!(eval("Country IN (' UK', 'US', 'France')", &p), F);
    assert_eq!(eval("Country IN ('UK', 'US', 'France')", &p), T);
    assert_eq!(eval("phone LIKE '12%3'", &p), F);
    assert_eq!(eval("phone LIKE '12%4'", &p), T);
    assert_eq!(eval("underscored LIKE '\\_%' ESCAPE '\\'", &p), F);
    assert_eq!(eval("prop_name IS NULL", &p), T);
}
