//! The predicates of the selector grammar: comparisons, `IS [NOT] NULL`,
//! `[NOT] BETWEEN`, `[NOT] IN (...)` and `[NOT] LIKE ... [ESCAPE ...]`.
//! Kept apart from the recursive core so that its stack frames stay small.

use super::ast::{CmpOp, Expr, Lit};
use super::error::SelectorError;
use super::lexer::Tok;
use super::like::LikePattern;
use super::parser::{Kind, Node, Parser};

impl Parser<'_> {
    /// What follows the left operand of a predicate: a comparison,
    /// `IS [NOT] NULL`, `[NOT] BETWEEN`/`IN`/`LIKE`, or nothing.
    pub(super) fn predicate_tail(&mut self, left: Node) -> Result<Node, SelectorError> {
        let col = left.col;
        let op = match self.peek() {
            Tok::Eq => Some(CmpOp::Eq),
            Tok::Ne => Some(CmpOp::Ne),
            Tok::Lt => Some(CmpOp::Lt),
            Tok::Le => Some(CmpOp::Le),
            Tok::Gt => Some(CmpOp::Gt),
            Tok::Ge => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            let right = self.operand()?;
            let depth = left.depth.max(right.depth);
            let expr = Expr::Cmp(op, Box::new(left.expr), Box::new(right.expr));
            return self.node(expr, Kind::Bool, col, depth);
        }
        if self.eat(&Tok::Is) {
            let negated = self.eat(&Tok::Not);
            if !self.eat(&Tok::Null) {
                return Err(self.expected("NULL"));
            }
            let expr = Expr::IsNull {
                negated,
                value: Box::new(left.expr),
            };
            return self.node(expr, Kind::Bool, col, left.depth);
        }
        let negated = self.peek() == &Tok::Not;
        if negated {
            self.bump();
        }
        match self.peek() {
            Tok::Between => {
                self.bump();
                let low = self.operand()?;
                if !self.eat(&Tok::And) {
                    return Err(self.expected("AND of BETWEEN ... AND ..."));
                }
                let high = self.operand()?;
                let depth = left.depth.max(low.depth).max(high.depth);
                let expr = Expr::Between {
                    negated,
                    value: Box::new(left.expr),
                    low: Box::new(low.expr),
                    high: Box::new(high.expr),
                };
                self.node(expr, Kind::Bool, col, depth)
            }
            Tok::In => {
                self.bump();
                let list = self.in_list()?;
                let depth = left.depth;
                let expr = Expr::In {
                    negated,
                    value: Box::new(left.expr),
                    list,
                };
                self.node(expr, Kind::Bool, col, depth)
            }
            Tok::Like => {
                self.bump();
                let pattern = self.like_pattern()?;
                let depth = left.depth;
                let expr = Expr::Like {
                    negated,
                    value: Box::new(left.expr),
                    pattern,
                };
                self.node(expr, Kind::Bool, col, depth)
            }
            _ if negated => Err(self.expected("BETWEEN, IN or LIKE after NOT")),
            _ => Ok(left),
        }
    }

    fn in_list(&mut self) -> Result<Vec<Lit>, SelectorError> {
        if !self.eat(&Tok::LParen) {
            return Err(self.expected("'(' to start the IN list"));
        }
        let mut list = Vec::new();
        loop {
            let negative = self.eat(&Tok::Minus);
            let lit = match (self.peek().clone(), negative) {
                (Tok::Str(s), false) => Lit::Str(s),
                (Tok::Int(i), neg) => self.int_literal(i, neg)?,
                (Tok::Float(f), neg) => Lit::Float(if neg { -f } else { f }),
                _ => return Err(self.expected("a string or number in the IN list")),
            };
            self.bump();
            list.push(lit);
            if self.eat(&Tok::RParen) {
                return Ok(list);
            }
            if !self.eat(&Tok::Comma) {
                return Err(self.expected("',' or ')' in the IN list"));
            }
        }
    }

    fn like_pattern(&mut self) -> Result<LikePattern, SelectorError> {
        let col = self.col();
        let Tok::Str(pattern) = self.peek().clone() else {
            return Err(self.expected("a string pattern after LIKE"));
        };
        self.bump();
        let mut escape = None;
        if self.eat(&Tok::Escape) {
            let Tok::Str(e) = self.peek().clone() else {
                return Err(self.expected("a one-character string after ESCAPE"));
            };
            let mut chars = e.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => escape = Some(c),
                _ => {
                    return Err(self.err_here(format!(
                        "the ESCAPE string must be exactly one character, not {}",
                        self.describe(self.pos)
                    )))
                }
            }
            self.bump();
        }
        LikePattern::compile(&pattern, escape).map_err(|m| self.err_at(col, m))
    }
}
