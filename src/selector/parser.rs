//! Recursive-descent parser: tokens to [`Expr`], with the SQL-92 precedence
//! `OR` < `AND` < `NOT` < comparisons/`BETWEEN`/`IN`/`LIKE`/`IS NULL` <
//! `+ -` < `* /` < unary `+ -`.

use super::ast::{ArithOp, Expr, Lit};
use super::error::SelectorError;
use super::lexer::{tokenize, Tok, Token};
use super::MAX_DEPTH;

/// What an expression yields, as far as the parser can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Bool,
    Num,
    Str,
    /// An identifier, `NULL` or a parenthesised one of those: known only
    /// when the message is there.
    Any,
}

/// A parsed subexpression with what the checks need.
pub(super) struct Node {
    pub(super) expr: Expr,
    pub(super) kind: Kind,
    pub(super) depth: usize,
    pub(super) col: usize,
}

pub(super) struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    pub(super) pos: usize,
    nesting: usize,
}

/// Parses a whole selector into an expression.
pub(crate) fn parse(src: &str) -> Result<Expr, SelectorError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        nesting: 0,
    };
    let node = p.or()?;
    if p.peek() != &Tok::Eof {
        return Err(p.err_here(format!("unexpected {}", p.describe(p.pos))));
    }
    p.condition(&node, "the selector")?;
    Ok(node.expr)
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::Eof, |t| &t.tok)
    }

    pub(super) fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(1, |t| t.col)
    }

    pub(super) fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    pub(super) fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }

    /// The source text of token `i`, quoted, or "the end of the selector".
    pub(super) fn describe(&self, i: usize) -> String {
        match self.toks.get(i) {
            Some(t) if t.tok != Tok::Eof => {
                format!("'{}'", self.src.get(t.start..t.end).unwrap_or("?"))
            }
            _ => "the end of the selector".to_string(),
        }
    }

    pub(super) fn err_at(&self, col: usize, msg: impl Into<String>) -> SelectorError {
        SelectorError::new(self.src, col, msg)
    }

    pub(super) fn err_here(&self, msg: impl Into<String>) -> SelectorError {
        self.err_at(self.col(), msg)
    }

    /// "expected X after 'prev', found 'this'".
    pub(super) fn expected(&self, what: &str) -> SelectorError {
        let after = if self.pos > 0 {
            format!(" after {}", self.describe(self.pos - 1))
        } else {
            String::new()
        };
        self.err_here(format!(
            "expected {what}{after}, found {}",
            self.describe(self.pos)
        ))
    }

    fn enter(&mut self) -> Result<(), SelectorError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(self.err_here(format!(
                "the selector is nested too deeply (at most {MAX_DEPTH} levels)"
            )));
        }
        Ok(())
    }

    /// Builds a node one level above children at most `child_depth` deep.
    pub(super) fn node(
        &self,
        expr: Expr,
        kind: Kind,
        col: usize,
        child_depth: usize,
    ) -> Result<Node, SelectorError> {
        let depth = child_depth + 1;
        if depth > MAX_DEPTH {
            return Err(self.err_at(
                col,
                format!("the selector is nested too deeply (at most {MAX_DEPTH} levels)"),
            ));
        }
        Ok(Node {
            expr,
            kind,
            depth,
            col,
        })
    }

    /// Rejects operands that can never be true or false.
    fn condition(&self, n: &Node, place: &str) -> Result<(), SelectorError> {
        match n.kind {
            Kind::Bool | Kind::Any => Ok(()),
            Kind::Num | Kind::Str => Err(self.err_at(
                n.col,
                format!(
                    "{place} must be a condition (true or false), not a {}",
                    kind_name(n.kind)
                ),
            )),
        }
    }

    /// Rejects operands arithmetic cannot use.
    fn numeric(&self, n: &Node, op: &str) -> Result<(), SelectorError> {
        match n.kind {
            Kind::Num | Kind::Any => Ok(()),
            Kind::Bool | Kind::Str => Err(self.err_at(
                n.col,
                format!("'{op}' needs numbers, not a {}", kind_name(n.kind)),
            )),
        }
    }

    fn list(
        &mut self,
        sep: Tok,
        make: fn(Vec<Expr>) -> Expr,
        next: fn(&mut Self) -> Result<Node, SelectorError>,
    ) -> Result<Node, SelectorError> {
        let first = next(self)?;
        if self.peek() != &sep {
            return Ok(first);
        }
        let name = if sep == Tok::And {
            "an operand of AND"
        } else {
            "an operand of OR"
        };
        let col = first.col;
        self.condition(&first, name)?;
        let mut depth = first.depth;
        let mut items = vec![first.expr];
        while self.eat(&sep) {
            let n = next(self)?;
            self.condition(&n, name)?;
            depth = depth.max(n.depth);
            items.push(n.expr);
        }
        self.node(make(items), Kind::Bool, col, depth)
    }

    fn or(&mut self) -> Result<Node, SelectorError> {
        self.list(Tok::Or, Expr::Or, Self::and)
    }

    fn and(&mut self) -> Result<Node, SelectorError> {
        self.list(Tok::And, Expr::And, Self::not)
    }

    fn not(&mut self) -> Result<Node, SelectorError> {
        let col = self.col();
        if !self.eat(&Tok::Not) {
            return self.predicate();
        }
        self.enter()?;
        let inner = self.not()?;
        self.nesting -= 1;
        self.condition(&inner, "the operand of NOT")?;
        self.node(
            Expr::Not(Box::new(inner.expr)),
            Kind::Bool,
            col,
            inner.depth,
        )
    }

    fn predicate(&mut self) -> Result<Node, SelectorError> {
        let left = self.additive()?;
        self.predicate_tail(left)
    }

    /// The right-hand side of a comparison or a bound of BETWEEN.
    pub(super) fn operand(&mut self) -> Result<Node, SelectorError> {
        if self.starts_value() {
            self.additive()
        } else {
            Err(self.expected("a value"))
        }
    }

    pub(super) fn starts_value(&self) -> bool {
        matches!(
            self.peek(),
            Tok::Ident(_)
                | Tok::Str(_)
                | Tok::Int(_)
                | Tok::Float(_)
                | Tok::True
                | Tok::False
                | Tok::Null
                | Tok::Plus
                | Tok::Minus
                | Tok::LParen
        )
    }

    /// The integer literal at the current token, negated if `negative`.
    pub(super) fn int_literal(&self, magnitude: u64, negative: bool) -> Result<Lit, SelectorError> {
        let v = if negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        };
        v.map(Lit::Int)
            .ok_or_else(|| self.err_here("integer is too large (at most 9223372036854775807)"))
    }

    fn arith_chain(
        &mut self,
        ops: fn(&Tok) -> Option<ArithOp>,
        next: fn(&mut Self) -> Result<Node, SelectorError>,
    ) -> Result<Node, SelectorError> {
        let mut left = next(self)?;
        while let Some(op) = ops(self.peek()) {
            let sym = self.describe(self.pos);
            self.bump();
            if !self.starts_value() {
                return Err(self.expected("a value"));
            }
            let right = next(self)?;
            let sym = sym.trim_matches('\'');
            self.numeric(&left, sym)?;
            self.numeric(&right, sym)?;
            let (col, depth) = (left.col, left.depth.max(right.depth));
            let expr = Expr::Arith(op, Box::new(left.expr), Box::new(right.expr));
            left = self.node(expr, Kind::Num, col, depth)?;
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Node, SelectorError> {
        self.arith_chain(
            |t| match t {
                Tok::Plus => Some(ArithOp::Add),
                Tok::Minus => Some(ArithOp::Sub),
                _ => None,
            },
            Self::multiplicative,
        )
    }

    fn multiplicative(&mut self) -> Result<Node, SelectorError> {
        self.arith_chain(
            |t| match t {
                Tok::Star => Some(ArithOp::Mul),
                Tok::Slash => Some(ArithOp::Div),
                _ => None,
            },
            Self::unary,
        )
    }

    fn unary(&mut self) -> Result<Node, SelectorError> {
        let col = self.col();
        let negative = match self.peek() {
            Tok::Minus => true,
            Tok::Plus => false,
            _ => return self.primary(),
        };
        self.bump();
        match self.peek().clone() {
            Tok::Int(i) => {
                let lit = self.int_literal(i, negative)?;
                self.bump();
                return self.node(Expr::Lit(lit), Kind::Num, col, 0);
            }
            Tok::Float(f) => {
                self.bump();
                let lit = Lit::Float(if negative { -f } else { f });
                return self.node(Expr::Lit(lit), Kind::Num, col, 0);
            }
            _ => {}
        }
        if !self.starts_value() {
            return Err(self.expected("a value"));
        }
        self.enter()?;
        let inner = self.unary()?;
        self.nesting -= 1;
        self.numeric(&inner, if negative { "-" } else { "+" })?;
        if !negative {
            return Ok(inner);
        }
        self.node(Expr::Neg(Box::new(inner.expr)), Kind::Num, col, inner.depth)
    }

    /// `( expression )`, with the column of the `(`.
    fn paren(&mut self, col: usize) -> Result<Node, SelectorError> {
        self.bump();
        self.enter()?;
        let mut inner = self.or()?;
        self.nesting -= 1;
        if !self.eat(&Tok::RParen) {
            return Err(self.expected("')'"));
        }
        inner.col = col;
        Ok(inner)
    }

    fn primary(&mut self) -> Result<Node, SelectorError> {
        let col = self.col();
        let (expr, kind) = match self.peek().clone() {
            Tok::Ident(name) => (Expr::Ident(name), Kind::Any),
            Tok::Str(s) => (Expr::Lit(Lit::Str(s)), Kind::Str),
            Tok::Int(i) => (Expr::Lit(self.int_literal(i, false)?), Kind::Num),
            Tok::Float(f) => (Expr::Lit(Lit::Float(f)), Kind::Num),
            Tok::True => (Expr::Lit(Lit::Bool(true)), Kind::Bool),
            Tok::False => (Expr::Lit(Lit::Bool(false)), Kind::Bool),
            Tok::Null => (Expr::Lit(Lit::Null), Kind::Any),
            Tok::LParen => return self.paren(col),
            _ => return Err(self.expected("a value")),
        };
        self.bump();
        self.node(expr, kind, col, 0)
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Bool => "condition",
        Kind::Num => "number",
        Kind::Str => "string",
        Kind::Any => "value",
    }
}
