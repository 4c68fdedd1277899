//! Turning an already parsed expression into a field label.
//!
//! A declaration is parsed as an expression first; only when a `:` (or `?:`, `!:`, `~`) follows
//! is it known to be a label. The expression forms that are valid labels map one to one.

use super::Parser;
use crate::ast::{Expr, ExprKind, Ident, Label, LabelKind, ListElem, PostfixAlias, StringKind};
use crate::span::Span;
use crate::token::TokenKind;

impl Parser<'_> {
    /// Converts a parsed expression into a label, reporting forms that cannot be labels.
    pub(super) fn label_from_expr(&mut self, expr: Expr) -> Label {
        let span = expr.span;
        match expr.kind {
            ExprKind::Alias { name, expr } => {
                let kind = self.label_kind(*expr);
                Label { span, alias: Some(name), kind, postfix_alias: None }
            }
            kind => {
                let kind = self.label_kind(Expr { span, kind });
                Label { span, alias: None, kind, postfix_alias: None }
            }
        }
    }

    fn label_kind(&mut self, expr: Expr) -> LabelKind {
        let span = expr.span;
        match expr.kind {
            ExprKind::Ident(ident) => LabelKind::Ident(ident),
            ExprKind::Null => LabelKind::Ident(Ident { span, name: "null".into() }),
            ExprKind::Bool(b) => LabelKind::Ident(Ident { span, name: if b { "true" } else { "false" }.into() }),
            ExprKind::String(s) if s.kind == StringKind::String => LabelKind::String(s),
            ExprKind::Interpolation(i) if i.kind == StringKind::String => LabelKind::Interpolation(i),
            ExprKind::Paren(inner) => LabelKind::Dynamic(inner),
            ExprKind::List(mut elems) if elems.len() == 1 && !matches!(elems[0], ListElem::Ellipsis(_)) => {
                match elems.pop() {
                    Some(ListElem::Expr(e)) => LabelKind::Pattern(Box::new(e)),
                    Some(ListElem::Comprehension(c)) => LabelKind::Comprehension(Box::new(c)),
                    _ => LabelKind::Error(Box::new(Expr { span, kind: ExprKind::Error })),
                }
            }
            ExprKind::Error => LabelKind::Error(Box::new(Expr { span, kind: ExprKind::Error })),
            kind => {
                self.error(span, "invalid label: expected identifier, string, (expression) or [pattern]");
                LabelKind::Error(Box::new(Expr { span, kind }))
            }
        }
    }

    /// Parses `~V` or `~(K, V)` after a label (the `aliasv2` experiment).
    pub(super) fn postfix_alias(&mut self) -> PostfixAlias {
        let start = self.bump().span.start;
        let (label, value) = if self.eat(TokenKind::LParen) {
            let label = self.ident();
            let value = if self.eat(TokenKind::Comma) { Some(self.ident()) } else { None };
            self.expect(TokenKind::RParen);
            (Some(label), value)
        } else {
            (None, Some(self.ident()))
        };
        PostfixAlias { span: Span::new(start, self.prev_end()), label, value }
    }
}
