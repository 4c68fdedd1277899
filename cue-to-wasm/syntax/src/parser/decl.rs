//! Files, declarations, fields, comprehensions and imports.

use super::Parser;
use crate::ast::{
    Clause, Comprehension, Constraint, Decl, Ellipsis, Expr, ExprKind, Field, File, ImportDecl, ImportSpec, LetClause,
    PackageClause, StringKind, StringLit, StructLit,
};
use crate::span::Span;
use crate::token::TokenKind;

impl Parser<'_> {
    /// Parses a whole file: attributes, package clause, imports and declarations.
    pub(crate) fn parse_file(&mut self, comments: Vec<Span>) -> File {
        let mut attributes = Vec::new();
        while self.at(TokenKind::Attribute) {
            attributes.push(self.attribute());
            self.separator(TokenKind::Eof);
        }
        let package = if self.at(TokenKind::Package) && !self.label_end_at(1) {
            let clause = self.package_clause();
            self.separator(TokenKind::Eof);
            Some(clause)
        } else {
            None
        };
        let mut imports = Vec::new();
        while self.at(TokenKind::Import) && !self.label_end_at(1) {
            imports.push(self.import_decl());
            self.separator(TokenKind::Eof);
        }
        let decls = self.decl_list(TokenKind::Eof);
        let span = Span::new(0, self.src.len() as u32);
        File { span, attributes, package, imports, decls, comments }
    }

    fn package_clause(&mut self) -> PackageClause {
        let start = self.bump().span.start;
        let name = self.ident();
        PackageClause { span: Span::new(start, self.prev_end()), name }
    }

    /// Consumes the comma after a declaration, or reports it missing.
    fn separator(&mut self, close: TokenKind) {
        if self.kind().is_comma() {
            self.bump();
        } else if !self.at(close) && !self.at_hard_stop() {
            self.error(self.span(), "missing ',' in struct literal");
        }
    }

    /// Parses declarations up to `close` (`}` or the end of the file), which is not consumed.
    pub(super) fn decl_list(&mut self, close: TokenKind) -> Vec<Decl> {
        let mut decls = Vec::new();
        loop {
            while self.at(TokenKind::Newline) {
                self.bump();
            }
            if self.at(close) || self.at_hard_stop() || (close != TokenKind::Eof && self.at_foreign_closer(close)) {
                return decls;
            }
            let before = self.pos;
            if self.at(TokenKind::Comma) {
                self.expected("declaration");
                self.bump();
                continue;
            }
            let decl = self.decl();
            if self.pos == before {
                self.skip_stuck(before);
                continue;
            }
            decls.push(decl);
            self.separator(close);
        }
    }

    fn decl(&mut self) -> Decl {
        use TokenKind::*;
        let label_next = self.label_end_at(1);
        match self.kind() {
            Attribute => Decl::Attribute(self.attribute()),
            Let if !label_next => Decl::Let(self.let_clause()),
            For | If if !label_next => Decl::Comprehension(self.comprehension()),
            Ident if self.at_try_clause() => Decl::Comprehension(self.comprehension()),
            Ellipsis => {
                let span = self.bump().span;
                Decl::Ellipsis(crate::ast::Ellipsis { span, ty: None })
            }
            Import if !label_next => {
                let decl = self.import_decl();
                self.error(decl.span, "imports must appear before other declarations");
                Decl::Import(decl)
            }
            Package if !label_next => {
                let clause = self.package_clause();
                self.error(clause.span, "unexpected package clause: it must come first");
                Decl::Error(clause.span)
            }
            _ => self.field_or_embedding(),
        }
    }

    /// Returns true at `try {`, `try name =` or `try` before another clause (the `try` experiment).
    pub(super) fn at_try_clause(&self) -> bool {
        use TokenKind::*;
        self.at_word("try")
            && match self.nth(1) {
                LBrace | For | If | Let => true,
                Ident => self.nth(2) == Assign || &self.src[self.tokens[self.pos + 1].span.range()] == "try",
                _ => false,
            }
    }

    fn field_or_embedding(&mut self) -> Decl {
        let expr = self.parse_alias_expr();
        if self.label_end_at(0) { Decl::Field(self.field(expr)) } else { Decl::Embed(expr) }
    }

    /// Parses the rest of a field whose label was parsed as the expression `label_expr`.
    fn field(&mut self, label_expr: Expr) -> Field {
        let start = label_expr.span.start;
        let mut label = self.label_from_expr(label_expr);
        if self.at(TokenKind::Tilde) {
            label.postfix_alias = Some(self.postfix_alias());
            label.span.end = self.prev_end();
        }
        let constraint = if self.eat(TokenKind::Question) {
            Constraint::Optional
        } else if self.eat(TokenKind::Not) {
            Constraint::Required
        } else {
            Constraint::None
        };
        self.expect(TokenKind::Colon);
        let value = self.field_value();
        let mut attributes = Vec::new();
        while self.at(TokenKind::Attribute) {
            attributes.push(self.attribute());
        }
        Field { span: Span::new(start, self.prev_end()), label, constraint, value, attributes }
    }

    /// Parses a field's value, turning `a: b: c` into a shorthand struct.
    fn field_value(&mut self) -> Expr {
        if !self.enter() {
            self.leave();
            let span = self.bump().span;
            return Expr { span, kind: ExprKind::Error };
        }
        let value = self.parse_alias_expr();
        let result = if self.label_end_at(0) {
            let inner = self.field(value);
            let span = inner.span;
            Expr { span, kind: ExprKind::Struct(StructLit { decls: vec![Decl::Field(inner)], shorthand: true }) }
        } else {
            value
        };
        self.leave();
        result
    }

    /// Parses `{ decls }`.
    pub(super) fn struct_lit(&mut self) -> Expr {
        let start = self.bump().span.start;
        if !self.enter() {
            self.leave();
            return Expr { span: Span::new(start, self.prev_end()), kind: ExprKind::Error };
        }
        let decls = self.decl_list(TokenKind::RBrace);
        self.expect(TokenKind::RBrace);
        self.leave();
        Expr { span: Span::new(start, self.prev_end()), kind: ExprKind::Struct(StructLit { decls, shorthand: false }) }
    }

    /// Parses `let name = value`.
    pub(super) fn let_clause(&mut self) -> LetClause {
        let start = self.bump().span.start;
        let name = self.ident();
        self.expect(TokenKind::Assign);
        let value = self.parse_expr();
        LetClause { span: Span::new(start, self.prev_end()), name, value }
    }

    /// Returns true at the start of a comprehension clause.
    fn at_clause(&self) -> bool {
        match self.kind() {
            TokenKind::For | TokenKind::If => true,
            TokenKind::Let => self.nth(1) == TokenKind::Ident && self.nth(2) == TokenKind::Assign,
            _ => self.at_try_clause(),
        }
    }

    /// Parses clauses, the yielded struct and an optional `else` struct.
    pub(super) fn comprehension(&mut self) -> Comprehension {
        let start = self.span().start;
        let mut clauses = Vec::new();
        loop {
            clauses.push(self.clause());
            if self.kind().is_comma() && self.nth(1) != TokenKind::LBrace {
                let save = self.pos;
                self.bump();
                if !self.at_clause() {
                    self.pos = save;
                }
            }
            if !self.at_clause() {
                break;
            }
        }
        let body = if self.at(TokenKind::LBrace) {
            self.struct_lit()
        } else {
            self.expected("'{'");
            Expr { span: Span::empty(self.span().start), kind: ExprKind::Error }
        };
        let fallback = if (self.at_word("else") || self.at_word("fallback")) && self.nth(1) == TokenKind::LBrace {
            self.bump();
            Some(Box::new(self.struct_lit()))
        } else {
            None
        };
        Comprehension { span: Span::new(start, self.prev_end()), clauses, body: Box::new(body), fallback }
    }

    fn clause(&mut self) -> Clause {
        let start = self.span().start;
        match self.kind() {
            TokenKind::For => {
                self.bump();
                let first = self.ident();
                let (key, value) = if self.eat(TokenKind::Comma) { (Some(first), self.ident()) } else { (None, first) };
                self.expect(TokenKind::In);
                let source = self.parse_expr();
                Clause::For { span: Span::new(start, self.prev_end()), key, value, source }
            }
            TokenKind::If => {
                self.bump();
                let condition = self.parse_expr();
                Clause::If { span: Span::new(start, self.prev_end()), condition }
            }
            TokenKind::Let => Clause::Let(self.let_clause()),
            _ => {
                self.bump();
                let binding = if self.at(TokenKind::Ident) {
                    let name = self.ident();
                    self.expect(TokenKind::Assign);
                    Some((name, self.parse_expr()))
                } else {
                    None
                };
                Clause::Try { span: Span::new(start, self.prev_end()), binding }
            }
        }
    }

    /// Parses `import spec` or `import ( specs )`.
    fn import_decl(&mut self) -> ImportDecl {
        let start = self.bump().span.start;
        let mut specs = Vec::new();
        if self.eat(TokenKind::LParen) {
            loop {
                while self.kind().is_comma() {
                    self.bump();
                }
                if self.at(TokenKind::RParen) || self.at_hard_stop() {
                    break;
                }
                let before = self.pos;
                specs.push(self.import_spec());
                self.skip_stuck(before);
                if !self.kind().is_comma() && !self.at(TokenKind::RParen) {
                    self.error(self.span(), "missing ',' in import list");
                }
            }
            self.expect(TokenKind::RParen);
        } else {
            specs.push(self.import_spec());
        }
        ImportDecl { span: Span::new(start, self.prev_end()), specs }
    }

    fn import_spec(&mut self) -> ImportSpec {
        let start = self.span().start;
        let name = if self.at(TokenKind::Ident) { Some(self.ident()) } else { None };
        let path = if self.at(TokenKind::String) {
            self.string_lit()
        } else {
            self.expected("import path");
            StringLit {
                span: Span::empty(self.span().start),
                kind: StringKind::String,
                multiline: false,
                value: Box::new([]),
            }
        };
        ImportSpec { span: Span::new(start, self.prev_end()), name, path }
    }

    /// Parses `...` or `...T` in a list.
    pub(super) fn list_ellipsis(&mut self) -> Ellipsis {
        let start = self.bump().span.start;
        let ty = if self.starts_expr() { Some(Box::new(self.parse_expr())) } else { None };
        Ellipsis { span: Span::new(start, self.prev_end()), ty }
    }
}
