//! Parsing: what is accepted, and errors with their positions.

use super::util::{eval, parse_err, sel};
use crate::selector::{Selector, Value, MAX_DEPTH, MAX_SELECTOR_CHARS};

#[test]
fn accepts_every_construct() {
    for text in [
        "a = 1",
        "a <> 'x'",
        "a < 1.5 AND b <= -2 OR c > 1e3 AND d >= .5",
        "NOT a = 1",
        "a BETWEEN 1 AND 10",
        "a NOT BETWEEN -1 AND 1",
        "a IN ('x', 'y')",
        "a NOT IN ('x')",
        "a IN (1, -2, 3.5)",
        "a LIKE 'x%'",
        "a NOT LIKE 'x\\_%' ESCAPE '\\'",
        "a IS NULL",
        "a IS NOT NULL",
        "(a + b) * c / d - -e > 0",
        "flag",
        "flag = TRUE",
        "TRUE",
        "\"correlation-id\" = 'x'",
        "JMSType = 'car' AND color = 'blue' AND weight > 2500",
        "x.y = 1",
        "$a = 1 AND _b = 2",
        "a = 10L",
        "a = -9223372036854775808",
        "a = 9223372036854775807",
        "a IN (-9223372036854775808)",
        "\u{e9}t\u{e9} = 'oui'",
    ] {
        sel(text);
    }
}

#[test]
fn keywords_are_case_insensitive() {
    let pairs = [("a", Value::Int(5))];
    assert_eq!(eval("a between 1 and 10", &pairs), Some(true));
    assert_eq!(eval("a Not In ('x') oR a iS nUlL", &pairs), None);
    assert_eq!(eval("not a > 1 AnD true", &pairs), Some(false));
    assert_eq!(eval("a > 1 and TrUe", &pairs), Some(true));
}

#[test]
fn identifiers_are_case_sensitive() {
    let pairs = [("Color", Value::from("red"))];
    assert_eq!(eval("Color = 'red'", &pairs), Some(true));
    assert_eq!(eval("color = 'red'", &pairs), None);
    assert_eq!(eval("COLOR IS NULL", &pairs), Some(true));
}

#[test]
fn blank_selector_selects_everything() {
    for text in ["", "   ", "\t\n", "convert_string_expressions:"] {
        let s = sel(text);
        assert!(s.is_match_all(), "{text:?}");
        assert!(s.matches(&crate::selector::NoProperties));
        assert_eq!(s.text(), text);
    }
}

#[test]
fn activemq_convert_prefix_is_accepted() {
    let s = sel("convert_string_expressions:a > 1");
    assert_eq!(
        s.evaluate(&super::util::props(&[("a", Value::from("5"))])),
        Some(true)
    );
    let e = parse_err("convert_string_expressions:a >");
    assert_eq!(e.column, 31);
}

#[test]
fn error_shows_column_and_text() {
    let e = parse_err("price > AND x");
    assert_eq!(e.column, 9);
    assert_eq!(
        e.to_string(),
        "selector error at column 9: expected a value after '>', found 'AND' in `price > AND x`"
    );
}

/// (selector, column, part of the message)
const ERRORS: &[(&str, usize, &str)] = &[
    (
        "a =",
        4,
        "expected a value after '=', found the end of the selector",
    ),
    ("a = 'abc", 5, "string is not closed"),
    ("\"abc = 1", 1, "quoted identifier is not closed"),
    ("\"\" = 1", 1, "empty quoted identifier"),
    ("a = 1 b", 7, "unexpected 'b'"),
    ("(a = 1", 7, "expected ')'"),
    ("a = 1)", 6, "unexpected ')'"),
    ("a != 1", 3, "use '<>'"),
    ("a = #", 5, "unexpected character '#'"),
    ("a BETWEEN 1 OR 2", 13, "expected AND of BETWEEN"),
    ("a NOT = 1", 7, "expected BETWEEN, IN or LIKE after NOT"),
    ("a IS 1", 6, "expected NULL after 'IS'"),
    ("a IS NOT 'x'", 10, "expected NULL"),
    ("a IN 'x'", 6, "expected '(' to start the IN list"),
    ("a IN ()", 7, "expected a string or number in the IN list"),
    ("a IN ('x' 'y')", 11, "expected ',' or ')' in the IN list"),
    ("a IN ('x', b)", 12, "expected a string or number"),
    ("a IN (-'x')", 8, "expected a string or number"),
    ("a LIKE b", 8, "expected a string pattern after LIKE"),
    ("a LIKE 'x' ESCAPE 'ab'", 19, "exactly one character"),
    ("a LIKE 'x' ESCAPE ''", 19, "exactly one character"),
    (
        "a LIKE 'x!' ESCAPE '!'",
        8,
        "ends with the escape character",
    ),
    (
        "a LIKE 'x' ESCAPE",
        18,
        "expected a one-character string after ESCAPE",
    ),
    ("1 + 2", 1, "the selector must be a condition"),
    ("'x'", 1, "must be a condition"),
    ("a = 1 AND 5", 11, "an operand of AND must be a condition"),
    ("5 OR a = 1", 1, "an operand of OR must be a condition"),
    ("NOT 'x'", 5, "the operand of NOT must be a condition"),
    ("a + 'x' > 1", 5, "'+' needs numbers, not a string"),
    ("TRUE * 2 > 1", 1, "'*' needs numbers, not a condition"),
    ("-'x' = 1", 2, "'-' needs numbers"),
    ("a = 99999999999999999999", 5, "too large"),
    ("a = 9223372036854775808", 5, "too large"),
    ("a = 1e999", 5, "too large"),
    ("a = 1e", 5, "exponent of this number has no digits"),
    ("a = 12abc", 7, "unexpected 'abc'"),
    ("a = .", 5, "unexpected character '.'"),
    ("a *", 4, "expected a value after '*'"),
    ("a = - ", 7, "expected a value after '-'"),
    ("", 0, ""),
];

#[test]
fn errors_point_at_the_problem() {
    for &(text, column, part) in ERRORS {
        if text.is_empty() {
            continue;
        }
        let e = parse_err(text);
        assert_eq!(e.column, column, "{text:?}: {e}");
        assert!(e.message.contains(part), "{text:?}: {e} lacks {part:?}");
        assert!(e.to_string().contains(&format!("in `{text}`")), "{e}");
    }
}

#[test]
fn error_columns_count_characters_not_bytes() {
    let e = parse_err("\u{e9}\u{e9} = 'x' AND");
    assert_eq!(e.column, 13, "{e}");
}

#[test]
fn error_snippet_of_long_selector_is_cut_around_the_column() {
    let text = format!("{} AND b = #", vec!["a = 1"; 100].join(" AND "));
    let e = parse_err(&text);
    assert_eq!(e.column, text.chars().count());
    assert!(
        e.snippet.starts_with("...") && e.snippet.ends_with('#'),
        "{e}"
    );
    assert!(e.snippet.chars().count() <= 83);
}

#[test]
fn error_snippet_has_no_control_characters() {
    let e = parse_err("a = 1\nAND\r\n");
    assert_eq!(e.snippet, "a = 1 AND  ");
    assert!(!e.to_string().contains('\n'));
}

#[test]
fn selector_length_is_bounded() {
    let ok = format!("a = '{}'", "x".repeat(MAX_SELECTOR_CHARS - 6));
    assert_eq!(ok.chars().count(), MAX_SELECTOR_CHARS);
    sel(&ok);
    let long = format!("a = '{}'", "x".repeat(MAX_SELECTOR_CHARS - 5));
    let e = parse_err(&long);
    assert_eq!(e.column, MAX_SELECTOR_CHARS + 1);
    assert!(e.message.contains("at most 4096"), "{e}");
}

#[test]
fn nesting_is_bounded() {
    let deep = |n: usize| format!("{}a = 1{}", "(".repeat(n), ")".repeat(n));
    sel(&deep(MAX_DEPTH - 2));
    let e = parse_err(&deep(MAX_DEPTH + 1));
    assert!(e.message.contains("nested too deeply"), "{e}");
    let e = parse_err(&deep(2000));
    assert!(e.message.contains("nested too deeply"), "{e}");

    let nots = |n: usize| format!("{}a = 1", "NOT ".repeat(n));
    sel(&nots(MAX_DEPTH - 2));
    assert!(parse_err(&nots(1000)).message.contains("nested too deeply"));

    let minus = |n: usize| format!("{}a = 1", "- ".repeat(n));
    assert!(parse_err(&minus(1000))
        .message
        .contains("nested too deeply"));

    let sum = |n: usize| format!("{} > 1", vec!["a"; n].join(" + "));
    sel(&sum(MAX_DEPTH - 2));
    assert!(parse_err(&sum(1000)).message.contains("nested too deeply"));
}

#[test]
fn long_and_or_chains_are_flat_not_deep() {
    let text = (0..300)
        .map(|i| format!("a = {i}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    assert!(text.len() < MAX_SELECTOR_CHARS);
    assert_eq!(eval(&text, &[("a", Value::Int(299))]), Some(true));
    assert_eq!(eval(&text, &[("a", Value::Int(300))]), Some(false));
}

#[test]
fn selector_is_clone_send_sync_and_shows_its_text() {
    fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug>() {}
    assert_traits::<Selector>();
    let s = sel("a = 'x'");
    assert_eq!(s.clone(), s);
    assert_eq!(format!("{s:?}"), "Selector(\"a = 'x'\")");
    assert_eq!(s.to_string(), "a = 'x'");
}

/// The deepest selectors accepted parse and evaluate within 1 MiB of stack
/// even in a debug build (about half of it is used), so the depth limit
/// protects the broker's threads (tokio workers have 2 MiB).
#[test]
fn deepest_selectors_fit_a_small_stack() {
    let d = MAX_DEPTH - 2;
    let texts = [
        format!("{}a = 1{}", "(".repeat(d), ")".repeat(d)),
        format!("{}a = 1", "NOT (".repeat(d / 2)) + &")".repeat(d / 2),
        format!("{}a > 1", "-".repeat(d)),
        format!("{} > 1", vec!["a"; d].join(" * ")),
    ];
    let worker = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let p = super::util::props(&[("a", Value::Int(2))]);
            texts
                .iter()
                .map(|t| Selector::parse(t).map(|s| s.evaluate(&p)))
                .collect::<Vec<_>>()
        })
        .expect("spawn");
    let results = worker.join().expect("no stack overflow");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}

#[test]
fn spacing_does_not_matter() {
    let pairs = [("a", Value::Int(5)), ("s", Value::from("x"))];
    for text in [
        "a=5",
        "a>=5AND a<=5",
        "a<>4",
        "(a=5)AND(s='x')",
        "a\t=\n5\r\nAND s IN('x','y')",
        "  a  BETWEEN  1  AND  9  ",
        "s LIKE'x'",
        "-a=-5",
        "a*2=10",
    ] {
        assert_eq!(eval(text, &pairs), Some(true), "{text:?}");
    }
}
