//! Evaluates a parsed selector against one message's properties, with SQL
//! three-valued logic: `None` is *unknown*.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::ast::{ArithOp, CmpOp, Expr, Lit};
use super::value::{parse_bool, parse_numeric, Num, Properties, Value};

/// A value during evaluation; `Null` is SQL NULL (absent or unknown).
#[derive(Debug, Clone, PartialEq)]
enum V<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
}

impl<'a> V<'a> {
    fn from_value(v: Value<'a>) -> V<'a> {
        match v {
            Value::Bool(b) => V::Bool(b),
            Value::Int(i) => V::Int(i),
            Value::Float(f) => V::Float(f),
            Value::Str(s) => V::Str(s),
        }
    }

    fn from_lit(l: &'a Lit) -> V<'a> {
        match l {
            Lit::Null => V::Null,
            Lit::Bool(b) => V::Bool(*b),
            Lit::Int(i) => V::Int(*i),
            Lit::Float(f) => V::Float(*f),
            Lit::Str(s) => V::Str(Cow::Borrowed(s)),
        }
    }

    /// The value as a number: numbers as they are, strings by the
    /// numeric-string rule, anything else `None`.
    fn num(&self) -> Option<Num> {
        match self {
            V::Int(i) => Some(Num::Int(*i)),
            V::Float(f) => Some(Num::Float(*f)),
            V::Str(s) => parse_numeric(s),
            V::Null | V::Bool(_) => None,
        }
    }

    /// The value as a condition: booleans, and the strings `true`/`false`.
    fn truth(&self) -> Option<bool> {
        match self {
            V::Bool(b) => Some(*b),
            V::Str(s) => parse_bool(s),
            _ => None,
        }
    }
}

/// The result of `e` as a condition (`None` = unknown).
pub(crate) fn truth(e: &Expr, p: &dyn Properties) -> Option<bool> {
    match e {
        Expr::Not(inner) => truth(inner, p).map(|b| !b),
        Expr::And(items) => {
            let mut unknown = false;
            for it in items {
                match truth(it, p) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            (!unknown).then_some(true)
        }
        Expr::Or(items) => {
            let mut unknown = false;
            for it in items {
                match truth(it, p) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            (!unknown).then_some(false)
        }
        Expr::Cmp(op, l, r) => compare(*op, &value(l, p), &value(r, p)),
        Expr::Between {
            negated,
            value: v,
            low,
            high,
        } => {
            let v = value(v, p);
            let ge = compare(CmpOp::Ge, &v, &value(low, p));
            let le = compare(CmpOp::Le, &v, &value(high, p));
            let within = match (ge, le) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            };
            within.map(|b| b != *negated)
        }
        Expr::In {
            negated,
            value: v,
            list,
        } => {
            let v = value(v, p);
            if v == V::Null {
                return None;
            }
            let mut unknown = false;
            for lit in list {
                match compare(CmpOp::Eq, &v, &V::from_lit(lit)) {
                    Some(true) => return Some(!*negated),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            (!unknown).then_some(*negated)
        }
        Expr::Like {
            negated,
            value: v,
            pattern,
        } => match value(v, p) {
            V::Str(s) => Some(pattern.matches(&s) != *negated),
            _ => None,
        },
        Expr::IsNull { negated, value: v } => Some((value(v, p) == V::Null) != *negated),
        Expr::Lit(_) | Expr::Ident(_) | Expr::Arith(..) | Expr::Neg(_) => value(e, p).truth(),
    }
}

fn value<'a>(e: &'a Expr, p: &'a dyn Properties) -> V<'a> {
    match e {
        Expr::Lit(l) => V::from_lit(l),
        Expr::Ident(name) => p.get(name).map_or(V::Null, V::from_value),
        Expr::Arith(op, l, r) => arith(*op, value(l, p).num(), value(r, p).num()),
        Expr::Neg(inner) => match value(inner, p).num() {
            Some(Num::Int(i)) => i.checked_neg().map_or(V::Float(-(i as f64)), V::Int),
            Some(Num::Float(f)) => V::Float(-f),
            None => V::Null,
        },
        _ => truth(e, p).map_or(V::Null, V::Bool),
    }
}

fn as_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

/// Integer arithmetic stays integer (division truncates, as in Java) and
/// falls back to floating point on overflow; integer division by zero is
/// unknown.
fn arith(op: ArithOp, l: Option<Num>, r: Option<Num>) -> V<'static> {
    let (Some(l), Some(r)) = (l, r) else {
        return V::Null;
    };
    if let (Num::Int(a), Num::Int(b)) = (l, r) {
        let exact = match op {
            ArithOp::Add => a.checked_add(b),
            ArithOp::Sub => a.checked_sub(b),
            ArithOp::Mul => a.checked_mul(b),
            ArithOp::Div if b == 0 => return V::Null,
            ArithOp::Div => a.checked_div(b),
        };
        if let Some(v) = exact {
            return V::Int(v);
        }
    }
    let (a, b) = (as_f64(l), as_f64(r));
    V::Float(match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => a / b,
    })
}

fn holds(op: CmpOp, ord: Option<Ordering>) -> bool {
    match ord {
        // NaN: only `<>` holds.
        None => op == CmpOp::Ne,
        Some(o) => match op {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        },
    }
}

fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        _ => as_f64(a).partial_cmp(&as_f64(b)),
    }
}

/// Compares two values; `None` when either is NULL or they cannot be
/// compared (a string that is not a number against a number, a boolean
/// against a number, booleans with `<`...).
fn compare(op: CmpOp, l: &V, r: &V) -> Option<bool> {
    let ord = match (l, r) {
        (V::Null, _) | (_, V::Null) => return None,
        (V::Str(a), V::Str(b)) => Some(a.as_ref().cmp(b.as_ref())),
        (V::Bool(_), _) | (_, V::Bool(_)) => {
            if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return None;
            }
            Some(l.truth()?.cmp(&r.truth()?))
        }
        _ => cmp_num(l.num()?, r.num()?),
    };
    Some(holds(op, ord))
}
