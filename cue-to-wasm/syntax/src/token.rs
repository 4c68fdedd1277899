//! Tokens produced by the lexer.

use crate::span::Span;

/// The kind of a token; its text is the source slice under its span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An identifier such as `a`, `#Def`, `_hidden`, `_#hiddenDef` or `$x`.
    Ident,
    /// The keyword `package`.
    Package,
    /// The keyword `import`.
    Import,
    /// The keyword `for`.
    For,
    /// The keyword `in`.
    In,
    /// The keyword `if`.
    If,
    /// The keyword `let`.
    Let,
    /// The keyword `true`.
    True,
    /// The keyword `false`.
    False,
    /// The keyword `null`.
    Null,
    /// The bottom literal `_|_`.
    Bottom,
    /// An integer literal, including the `0x`, `0o`, `0b` and multiplier forms.
    Int,
    /// A decimal floating-point literal.
    Float,
    /// A complete string or bytes literal without interpolation.
    String,
    /// The start of an interpolated literal, up to and including the first `\(`.
    InterpStart,
    /// The text between two interpolations, from `)` up to and including the next `\(`.
    InterpMid,
    /// The end of an interpolated literal, from `)` up to and including the closing quote.
    InterpEnd,
    /// An attribute `@name(tokens)`, kept whole.
    Attribute,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `&`
    And,
    /// `|`
    Or,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    /// `==`
    EqEq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=~`
    Match,
    /// `!~`
    NotMatch,
    /// `!`
    Not,
    /// `=`
    Assign,
    /// `?`
    Question,
    /// `:`
    Colon,
    /// `~`, used only by the `aliasv2` experiment.
    Tilde,
    /// An explicit `,`.
    Comma,
    /// A comma inserted automatically at a newline or at the end of the input.
    Newline,
    /// `.`
    Period,
    /// `...`
    Ellipsis,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBrack,
    /// `]`
    RBrack,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// A character that starts no token; the lexer has reported it.
    Illegal,
    /// The end of the input.
    Eof,
}

impl TokenKind {
    /// Returns the keyword for an identifier-like word, or `Ident`.
    pub fn keyword_or_ident(word: &str) -> TokenKind {
        match word {
            "package" => TokenKind::Package,
            "import" => TokenKind::Import,
            "for" => TokenKind::For,
            "in" => TokenKind::In,
            "if" => TokenKind::If,
            "let" => TokenKind::Let,
            "true" => TokenKind::True,
            "false" => TokenKind::False,
            "null" => TokenKind::Null,
            _ => TokenKind::Ident,
        }
    }

    /// Returns true for the keywords, which may all be used as labels.
    pub fn is_keyword(self) -> bool {
        use TokenKind::*;
        matches!(self, Package | Import | For | In | If | Let | True | False | Null)
    }

    /// Returns true for both explicit and inserted commas.
    pub fn is_comma(self) -> bool {
        matches!(self, TokenKind::Comma | TokenKind::Newline)
    }

    /// Returns true if a newline after a token of this kind inserts a comma (the spec's rule).
    pub fn ends_line(self) -> bool {
        use TokenKind::*;
        self.is_keyword()
            || matches!(
                self,
                Ident
                    | Bottom
                    | Int
                    | Float
                    | String
                    | InterpEnd
                    | Attribute
                    | RParen
                    | RBrack
                    | RBrace
                    | Question
                    | Ellipsis
            )
    }

    /// Returns how the official tool names this kind in messages (`'}'`, `'EOF'`, `'IDENT'`).
    pub fn describe(self) -> &'static str {
        use TokenKind::*;
        match self {
            Ident => "IDENT",
            Package => "package",
            Import => "import",
            For => "for",
            In => "in",
            If => "if",
            Let => "let",
            True => "true",
            False => "false",
            Null => "null",
            Bottom => "_|_",
            Int => "INT",
            Float => "FLOAT",
            String | InterpEnd => "STRING",
            InterpStart | InterpMid => "INTERPOLATION",
            Attribute => "ATTRIBUTE",
            Plus => "+",
            Minus => "-",
            Star => "*",
            Slash => "/",
            And => "&",
            Or => "|",
            AndAnd => "&&",
            OrOr => "||",
            EqEq => "==",
            NotEq => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            Match => "=~",
            NotMatch => "!~",
            Not => "!",
            Assign => "=",
            Question => "?",
            Colon => ":",
            Tilde => "~",
            Comma | Newline => ",",
            Period => ".",
            Ellipsis => "...",
            LParen => "(",
            RParen => ")",
            LBrack => "[",
            RBrack => "]",
            LBrace => "{",
            RBrace => "}",
            Illegal => "ILLEGAL",
            Eof => "EOF",
        }
    }

    /// Returns true for kinds whose message includes the literal text after the kind.
    pub fn is_literal(self) -> bool {
        use TokenKind::*;
        matches!(self, Ident | Int | Float | String | InterpStart | InterpMid | InterpEnd | Attribute | Illegal)
    }
}

/// One token: its kind and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Where the token is; inserted commas have an empty span at the newline or end of input.
    pub span: Span,
}
