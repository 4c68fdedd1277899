//! Expressions: precedence climbing over binary operators, unary prefixes, primary suffixes and
//! operands (literals, lists, structs, interpolations).

use super::Parser;
use crate::ast::{
    BinaryOp, Expr, ExprKind, Ident, InterpPart, Interpolation, ListElem, NumberLit, Radix, Selector, StringKind,
    StringLit, UnaryOp,
};
use crate::lexer::Quote;
use crate::literal;
use crate::span::Span;
use crate::token::TokenKind;

fn binary_op(kind: TokenKind) -> Option<BinaryOp> {
    use TokenKind::*;
    Some(match kind {
        Or => BinaryOp::Disjunction,
        And => BinaryOp::Unification,
        OrOr => BinaryOp::Or,
        AndAnd => BinaryOp::And,
        EqEq => BinaryOp::Eq,
        NotEq => BinaryOp::NotEq,
        Lt => BinaryOp::Lt,
        Le => BinaryOp::Le,
        Gt => BinaryOp::Gt,
        Ge => BinaryOp::Ge,
        Match => BinaryOp::Match,
        NotMatch => BinaryOp::NotMatch,
        Plus => BinaryOp::Add,
        Minus => BinaryOp::Sub,
        Star => BinaryOp::Mul,
        Slash => BinaryOp::Div,
        _ => return None,
    })
}

fn unary_op(kind: TokenKind) -> Option<UnaryOp> {
    use TokenKind::*;
    Some(match kind {
        Plus => UnaryOp::Plus,
        Minus => UnaryOp::Minus,
        Not => UnaryOp::Not,
        Star => UnaryOp::Default,
        EqEq => UnaryOp::Eq,
        NotEq => UnaryOp::NotEq,
        Lt => UnaryOp::Lt,
        Le => UnaryOp::Le,
        Gt => UnaryOp::Gt,
        Ge => UnaryOp::Ge,
        Match => UnaryOp::Match,
        NotMatch => UnaryOp::NotMatch,
        _ => return None,
    })
}

impl Parser<'_> {
    /// Parses `name=expr` where an alias is allowed, or a plain expression.
    pub(super) fn parse_alias_expr(&mut self) -> Expr {
        if self.at(TokenKind::Ident) && self.nth(1) == TokenKind::Assign {
            let name = self.ident();
            self.bump();
            let expr = self.parse_expr();
            let span = name.span.to(expr.span);
            return Expr { span, kind: ExprKind::Alias { name, expr: Box::new(expr) } };
        }
        self.parse_expr()
    }

    /// Parses an expression.
    pub(super) fn parse_expr(&mut self) -> Expr {
        let start = self.span().start;
        if !self.enter() {
            self.leave();
            self.skip_stuck(self.pos);
            return Expr { span: Span::new(start, self.prev_end().max(start)), kind: ExprKind::Error };
        }
        let expr = self.binary(1);
        self.leave();
        expr
    }

    /// Returns true if the current token can start an expression.
    pub(super) fn starts_expr(&self) -> bool {
        use TokenKind::*;
        unary_op(self.kind()).is_some()
            || self.kind().is_keyword()
            || matches!(self.kind(), Ident | Bottom | Int | Float | String | InterpStart | LParen | LBrack | LBrace)
    }

    fn binary(&mut self, min_precedence: u8) -> Expr {
        let mut lhs = self.unary();
        while let Some(op) = binary_op(self.kind()) {
            if op.precedence() < min_precedence {
                break;
            }
            self.bump();
            let rhs = self.binary(op.precedence() + 1);
            let span = lhs.span.to(rhs.span);
            lhs = Expr { span, kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) } };
        }
        lhs
    }

    fn unary(&mut self) -> Expr {
        let Some(op) = unary_op(self.kind()) else {
            return self.primary();
        };
        let start = self.bump().span.start;
        if !self.enter() {
            self.leave();
            return Expr { span: Span::new(start, self.prev_end()), kind: ExprKind::Error };
        }
        let operand = self.unary();
        self.leave();
        Expr {
            span: Span::new(start, operand.span.end.max(start)),
            kind: ExprKind::Unary { op, operand: Box::new(operand) },
        }
    }

    fn primary(&mut self) -> Expr {
        let mut expr = self.operand();
        loop {
            let start = expr.span.start;
            let kind = match self.kind() {
                TokenKind::Period => self.selector(expr),
                TokenKind::LBrack => self.index(expr),
                TokenKind::LParen => self.call(expr),
                TokenKind::Question if !matches!(self.nth(1), TokenKind::Colon | TokenKind::Not) => {
                    self.bump();
                    ExprKind::Optional(Box::new(expr))
                }
                TokenKind::Ellipsis => {
                    self.bump();
                    ExprKind::Spread(Box::new(expr))
                }
                _ => return expr,
            };
            expr = Expr { span: Span::new(start, self.prev_end()), kind };
        }
    }

    fn selector(&mut self, base: Expr) -> ExprKind {
        self.bump();
        let selector = if self.at(TokenKind::Ident) || self.kind().is_keyword() {
            let token = self.bump();
            Selector::Ident(Ident { span: token.span, name: self.src[token.span.range()].into() })
        } else if self.at(TokenKind::String) {
            Selector::String(self.string_lit())
        } else {
            self.expected("selector");
            return ExprKind::Error;
        };
        ExprKind::Selector { base: Box::new(base), selector }
    }

    fn index(&mut self, base: Expr) -> ExprKind {
        self.bump();
        let low = if self.at(TokenKind::Colon) { None } else { Some(Box::new(self.parse_expr())) };
        let kind = if self.eat(TokenKind::Colon) {
            let high = if self.at(TokenKind::RBrack) { None } else { Some(Box::new(self.parse_expr())) };
            ExprKind::Slice { base: Box::new(base), low, high }
        } else {
            let index = low.unwrap_or_else(|| Box::new(Expr { span: self.span(), kind: ExprKind::Error }));
            ExprKind::Index { base: Box::new(base), index }
        };
        self.eat(TokenKind::Comma);
        self.expect(TokenKind::RBrack);
        kind
    }

    fn call(&mut self, func: Expr) -> ExprKind {
        self.bump();
        let mut args = Vec::new();
        loop {
            if self.at(TokenKind::RParen) || self.at_hard_stop() || self.at_foreign_closer(TokenKind::RParen) {
                break;
            }
            let before = self.pos;
            let arg = self.parse_expr();
            if self.pos == before {
                self.skip_stuck(before);
                continue;
            }
            args.push(arg);
            if self.kind().is_comma() {
                self.bump();
            } else if !self.at(TokenKind::RParen) {
                self.error(self.span(), "missing ',' in argument list");
            }
        }
        self.expect(TokenKind::RParen);
        ExprKind::Call { func: Box::new(func), args }
    }

    fn operand(&mut self) -> Expr {
        use TokenKind::*;
        let span = self.span();
        let kind = match self.kind() {
            Ident | Package | Import | For | In | If | Let => ExprKind::Ident(self.ident()),
            Int | Float => self.number(),
            String => ExprKind::String(self.string_lit()),
            InterpStart => return self.interpolation(),
            True | False => ExprKind::Bool(self.bump().kind == True),
            Null => {
                self.bump();
                ExprKind::Null
            }
            Bottom => {
                self.bump();
                ExprKind::Bottom
            }
            LParen => return self.paren(),
            LBrack => return self.list(),
            LBrace => return self.struct_lit(),
            _ => {
                self.expected("operand");
                return Expr { span: Span::empty(span.start), kind: ExprKind::Error };
            }
        };
        Expr { span: Span::new(span.start, self.prev_end()), kind }
    }

    fn number(&mut self) -> ExprKind {
        let token = self.bump();
        let text = &self.src[token.span.range()];
        let radix = match text.as_bytes().get(1) {
            _ if !text.starts_with('0') => Radix::Decimal,
            Some(b'x' | b'X') => Radix::Hex,
            Some(b'o') => Radix::Octal,
            Some(b'b') => Radix::Binary,
            _ => Radix::Decimal,
        };
        ExprKind::Number(NumberLit { is_int: token.kind == TokenKind::Int, radix, text: text.into() })
    }

    fn paren(&mut self) -> Expr {
        let start = self.bump().span.start;
        if !self.enter() {
            self.leave();
            return Expr { span: Span::new(start, self.prev_end()), kind: ExprKind::Error };
        }
        let inner = self.parse_alias_expr();
        self.expect(TokenKind::RParen);
        self.leave();
        Expr { span: Span::new(start, self.prev_end()), kind: ExprKind::Paren(Box::new(inner)) }
    }

    fn list(&mut self) -> Expr {
        let start = self.bump().span.start;
        if !self.enter() {
            self.leave();
            return Expr { span: Span::new(start, self.prev_end()), kind: ExprKind::Error };
        }
        let mut elems = Vec::new();
        loop {
            if self.at(TokenKind::RBrack) || self.at_hard_stop() || self.at_foreign_closer(TokenKind::RBrack) {
                break;
            }
            let before = self.pos;
            let elem = match self.kind() {
                TokenKind::Ellipsis => ListElem::Ellipsis(self.list_ellipsis()),
                TokenKind::For | TokenKind::If => ListElem::Comprehension(self.comprehension()),
                TokenKind::Ident if self.at_try_clause() => ListElem::Comprehension(self.comprehension()),
                _ => ListElem::Expr(self.parse_alias_expr()),
            };
            if self.pos == before {
                self.skip_stuck(before);
                continue;
            }
            elems.push(elem);
            if self.kind().is_comma() {
                self.bump();
            } else if !self.at(TokenKind::RBrack) {
                self.error(self.span(), "missing ',' in list literal");
            }
        }
        self.expect(TokenKind::RBrack);
        self.leave();
        Expr { span: Span::new(start, self.prev_end()), kind: ExprKind::List(elems) }
    }

    /// Parses a literal without interpolation.
    pub(super) fn string_lit(&mut self) -> StringLit {
        let token = self.bump();
        let quote = Quote::parse_opening(&self.src[token.span.range()]).unwrap_or(DEFAULT_QUOTE);
        let mut texts = literal::decode(self.src, quote, &[token], &mut self.errors);
        let value = texts.pop().unwrap_or_default().into_boxed_slice();
        StringLit { span: token.span, kind: string_kind(quote), multiline: quote.multiline, value }
    }

    /// Parses an interpolated literal: fragments alternating with expressions.
    fn interpolation(&mut self) -> Expr {
        let first = self.bump();
        if !self.enter() {
            self.leave();
            self.skip_to_interpolation_text();
            self.bump();
            return Expr { span: Span::new(first.span.start, self.prev_end()), kind: ExprKind::Error };
        }
        let expr = self.interpolation_rest(first);
        self.leave();
        expr
    }

    fn interpolation_rest(&mut self, first: crate::token::Token) -> Expr {
        let quote = Quote::parse_opening(&self.src[first.span.range()]).unwrap_or(DEFAULT_QUOTE);
        let mut fragments = vec![first];
        let mut exprs = Vec::new();
        loop {
            exprs.push(self.parse_expr());
            if !matches!(self.kind(), TokenKind::InterpMid | TokenKind::InterpEnd) {
                self.expected("')' closing the interpolation");
                self.skip_to_interpolation_text();
            }
            match self.kind() {
                TokenKind::InterpMid => fragments.push(self.bump()),
                TokenKind::InterpEnd => {
                    fragments.push(self.bump());
                    break;
                }
                _ => break,
            }
        }
        let texts = literal::decode(self.src, quote, &fragments, &mut self.errors);
        let mut parts = Vec::with_capacity(texts.len() + exprs.len());
        let mut exprs = exprs.into_iter();
        for text in texts {
            parts.push(InterpPart::Text(text.into_boxed_slice()));
            if let Some(expr) = exprs.next() {
                parts.push(InterpPart::Expr(expr));
            }
        }
        let span = Span::new(first.span.start, self.prev_end());
        let kind = Interpolation { kind: string_kind(quote), multiline: quote.multiline, parts };
        Expr { span, kind: ExprKind::Interpolation(kind) }
    }

    /// Skips tokens up to the literal text that resumes the current interpolation.
    fn skip_to_interpolation_text(&mut self) {
        let mut nested = 0u32;
        loop {
            match self.kind() {
                TokenKind::Eof => return,
                TokenKind::InterpStart => nested += 1,
                TokenKind::InterpEnd if nested > 0 => nested -= 1,
                TokenKind::InterpMid | TokenKind::InterpEnd if nested == 0 => return,
                _ => {}
            }
            self.bump();
        }
    }
}

const DEFAULT_QUOTE: Quote = Quote { byte: b'"', multiline: false, hashes: 0 };

fn string_kind(quote: Quote) -> StringKind {
    if quote.byte == b'\'' { StringKind::Bytes } else { StringKind::String }
}
