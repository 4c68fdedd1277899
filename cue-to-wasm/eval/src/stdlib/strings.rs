//! `strings`, `strconv`, `regexp` and `path`.

use std::rc::Rc;

use num_bigint::BigInt;
use num_traits::Zero;

use crate::builtins::{ANY, Fail, Func, Res, bool_arg, f, fo, i64_arg, int, int_arg, num_arg, s, str_arg, str_list, v};
use crate::eval::Evaluator;
use crate::num::Num;
use crate::ops;
use crate::value::{Kinds, VId, Value};

fn b(x: bool) -> Res {
    Ok(Value::Bool(x))
}

fn list_of_strings<I: IntoIterator<Item = String>>(ev: &mut Evaluator<'_>, ctx: VId, items: I) -> Res {
    let values = items.into_iter().map(|x| Value::Str(Rc::from(x))).collect();
    Ok(ev.make_list(ctx, values))
}

fn idx(i: Option<usize>) -> Res {
    int(i.map_or(-1, |i| i as i64))
}

/// The `strings` package.
pub(crate) static STRINGS: &[Func] = &[
    f("strings.Compare", 2, |_, a, _| int(str_arg(&a[0], 0)?.cmp(&str_arg(&a[1], 1)?) as i64)),
    v("strings.Contains", 2, Kinds::STRING, |_, a, _| b(str_arg(&a[0], 0)?.contains(&*str_arg(&a[1], 1)?))),
    v("strings.ContainsAny", 2, Kinds::STRING, |_, a, _| {
        let chars = str_arg(&a[1], 1)?;
        b(str_arg(&a[0], 0)?.chars().any(|c| chars.contains(c)))
    }),
    f("strings.Count", 2, |_, a, _| {
        let (x, sep) = (str_arg(&a[0], 0)?, str_arg(&a[1], 1)?);
        int(if sep.is_empty() { x.chars().count() as i64 + 1 } else { x.matches(&*sep).count() as i64 })
    }),
    v("strings.EqualFold", 2, Kinds::STRING, |_, a, _| {
        b(str_arg(&a[0], 0)?.to_lowercase() == str_arg(&a[1], 1)?.to_lowercase())
    }),
    f("strings.Fields", 1, |ev, a, ctx| {
        let x = str_arg(&a[0], 0)?;
        list_of_strings(ev, ctx, x.split_whitespace().map(String::from))
    }),
    v("strings.HasPrefix", 2, Kinds::STRING, |_, a, _| b(str_arg(&a[0], 0)?.starts_with(&*str_arg(&a[1], 1)?))),
    v("strings.HasSuffix", 2, Kinds::STRING, |_, a, _| b(str_arg(&a[0], 0)?.ends_with(&*str_arg(&a[1], 1)?))),
    f("strings.Index", 2, |_, a, _| idx(str_arg(&a[0], 0)?.find(&*str_arg(&a[1], 1)?))),
    f("strings.IndexAny", 2, |_, a, _| {
        let chars = str_arg(&a[1], 1)?;
        idx(str_arg(&a[0], 0)?.find(|c| chars.contains(c)))
    }),
    f("strings.LastIndex", 2, |_, a, _| idx(str_arg(&a[0], 0)?.rfind(&*str_arg(&a[1], 1)?))),
    f("strings.LastIndexAny", 2, |_, a, _| {
        let chars = str_arg(&a[1], 1)?;
        idx(str_arg(&a[0], 0)?.rfind(|c| chars.contains(c)))
    }),
    f("strings.Join", 2, |ev, a, _| {
        let items = str_list(ev, &a[0], 0)?;
        let sep = str_arg(&a[1], 1)?;
        s(items.iter().map(|x| &**x).collect::<Vec<_>>().join(&sep))
    }),
    v("strings.MaxRunes", 2, Kinds::STRING, |_, a, _| {
        b(str_arg(&a[0], 0)?.chars().count() as i64 <= i64_arg(&a[1], 1)?)
    }),
    v("strings.MinRunes", 2, Kinds::STRING, |_, a, _| {
        b(str_arg(&a[0], 0)?.chars().count() as i64 >= i64_arg(&a[1], 1)?)
    }),
    f("strings.Repeat", 2, |_, a, _| {
        let (x, n) = (str_arg(&a[0], 0)?, i64_arg(&a[1], 1)?);
        if n < 0 {
            return Err("strings: negative Repeat count".into());
        }
        if n.saturating_mul(x.len() as i64) > 1_000_000 {
            return Err(Fail::Msg(format!("count {n} exceeds limit of 1000000")));
        }
        s(x.repeat(n as usize))
    }),
    f("strings.Replace", 4, |_, a, _| {
        let (x, old, new, n) = (str_arg(&a[0], 0)?, str_arg(&a[1], 1)?, str_arg(&a[2], 2)?, i64_arg(&a[3], 3)?);
        s(if n < 0 { x.replace(&*old, &new) } else { x.replacen(&*old, &new, n as usize) })
    }),
    f("strings.Split", 2, |ev, a, ctx| {
        let (x, sep) = (str_arg(&a[0], 0)?, str_arg(&a[1], 1)?);
        list_of_strings(ev, ctx, split(&x, &sep, -1, false))
    }),
    f("strings.SplitN", 3, |ev, a, ctx| {
        let (x, sep, n) = (str_arg(&a[0], 0)?, str_arg(&a[1], 1)?, i64_arg(&a[2], 2)?);
        list_of_strings(ev, ctx, split(&x, &sep, n, false))
    }),
    f("strings.SplitAfter", 2, |ev, a, ctx| {
        let (x, sep) = (str_arg(&a[0], 0)?, str_arg(&a[1], 1)?);
        list_of_strings(ev, ctx, split(&x, &sep, -1, true))
    }),
    f("strings.SplitAfterN", 3, |ev, a, ctx| {
        let (x, sep, n) = (str_arg(&a[0], 0)?, str_arg(&a[1], 1)?, i64_arg(&a[2], 2)?);
        list_of_strings(ev, ctx, split(&x, &sep, n, true))
    }),
    f("strings.Title", 1, |_, a, _| s(map_words(&str_arg(&a[0], 0)?, true))),
    f("strings.ToTitle", 1, |_, a, _| s(map_words(&str_arg(&a[0], 0)?, true))),
    f("strings.ToCamel", 1, |_, a, _| s(map_words(&str_arg(&a[0], 0)?, false))),
    f("strings.ToLower", 1, |_, a, _| s(str_arg(&a[0], 0)?.to_lowercase())),
    f("strings.ToUpper", 1, |_, a, _| s(str_arg(&a[0], 0)?.to_uppercase())),
    f("strings.Trim", 2, |_, a, _| {
        let cut = str_arg(&a[1], 1)?;
        s(str_arg(&a[0], 0)?.trim_matches(|c| cut.contains(c)))
    }),
    f("strings.TrimLeft", 2, |_, a, _| {
        let cut = str_arg(&a[1], 1)?;
        s(str_arg(&a[0], 0)?.trim_start_matches(|c| cut.contains(c)))
    }),
    f("strings.TrimRight", 2, |_, a, _| {
        let cut = str_arg(&a[1], 1)?;
        s(str_arg(&a[0], 0)?.trim_end_matches(|c| cut.contains(c)))
    }),
    f("strings.TrimPrefix", 2, |_, a, _| {
        let (x, p) = (str_arg(&a[0], 0)?, str_arg(&a[1], 1)?);
        s(x.strip_prefix(&*p).unwrap_or(&x))
    }),
    f("strings.TrimSuffix", 2, |_, a, _| {
        let (x, p) = (str_arg(&a[0], 0)?, str_arg(&a[1], 1)?);
        s(x.strip_suffix(&*p).unwrap_or(&x))
    }),
    f("strings.TrimSpace", 1, |_, a, _| s(str_arg(&a[0], 0)?.trim())),
    f("strings.ByteAt", 2, |_, a, _| {
        let (x, i) = (crate::builtins::bytes_arg(&a[0], 0)?, i64_arg(&a[1], 1)?);
        match usize::try_from(i).ok().and_then(|i| x.get(i)) {
            Some(byte) => int(*byte),
            None => Err("index out of range".into()),
        }
    }),
    f("strings.ByteSlice", 3, |_, a, _| {
        let x = crate::builtins::bytes_arg(&a[0], 0)?;
        let (lo, hi) = (i64_arg(&a[1], 1)?, i64_arg(&a[2], 2)?);
        if lo < 0 || hi < lo || hi as usize > x.len() {
            return Err("slice bounds out of range".into());
        }
        Ok(Value::Bytes(Rc::from(&x[lo as usize..hi as usize])))
    }),
    f("strings.Runes", 1, |ev, a, ctx| {
        let values = str_arg(&a[0], 0)?.chars().map(|c| Value::int(c as i64)).collect();
        Ok(ev.make_list(ctx, values))
    }),
    f("strings.SliceRunes", 3, |_, a, _| {
        let x: Vec<char> = str_arg(&a[0], 0)?.chars().collect();
        let (lo, hi) = (i64_arg(&a[1], 1)?, i64_arg(&a[2], 2)?);
        if lo < 0 || hi < lo || hi as usize > x.len() {
            return Err("slice bounds out of range".into());
        }
        s(x[lo as usize..hi as usize].iter().collect::<String>())
    }),
    f("strings.IndexRune", 2, |_, a, _| {
        let r = i64_arg(&a[1], 1)?;
        let c = char::from_u32(r as u32).unwrap_or('\u{FFFD}');
        idx(str_arg(&a[0], 0)?.find(c))
    }),
    f("strings.Reverse", 1, |_, a, _| s(str_arg(&a[0], 0)?.chars().rev().collect::<String>())),
];

fn split(x: &str, sep: &str, n: i64, after: bool) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let mut parts: Vec<String> = if sep.is_empty() {
        x.chars().map(String::from).collect()
    } else if after {
        x.split_inclusive(sep).map(String::from).collect()
    } else {
        x.split(sep).map(String::from).collect()
    };
    if after && !sep.is_empty() && (x.is_empty() || x.ends_with(sep)) {
        parts.push(String::new());
    }
    if n > 0 && parts.len() > n as usize {
        let n = n as usize;
        let head: Vec<String> = parts[..n - 1].to_vec();
        let consumed: usize = head.iter().map(|p| p.len() + if after || sep.is_empty() { 0 } else { sep.len() }).sum();
        let mut out = head;
        out.push(x[consumed..].to_string());
        return out;
    }
    parts
}

/// Upper-cases (`upper`) or lower-cases the first letter of every word.
fn map_words(x: &str, upper: bool) -> String {
    let mut out = String::new();
    let mut start = true;
    for c in x.chars() {
        if start && c.is_alphanumeric() {
            if upper {
                out.extend(c.to_uppercase());
            } else {
                out.extend(c.to_lowercase());
            }
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    out
}

// ---- strconv ----------------------------------------------------------------------------------

/// Non-function members of `strconv`.
pub(crate) const STRCONV_PRELUDE: &str = "IntSize: 64\n";

fn parse_err(func: &str, text: &str, what: &str) -> Fail {
    Fail::Msg(format!("strconv.{func}: parsing {}: {what}", crate::value::quote(text)))
}

fn parse_int_text(func: &str, text: &str, base: i64, bits: i64, signed: bool) -> Result<BigInt, Fail> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) if signed => (true, rest),
        _ => (false, text.strip_prefix('+').filter(|_| signed).unwrap_or(text)),
    };
    let (radix, digits) = if base == 0 {
        let lower = body.to_ascii_lowercase();
        if lower.starts_with("0x") {
            (16, &body[2..])
        } else if lower.starts_with("0b") {
            (2, &body[2..])
        } else if lower.starts_with("0o") {
            (8, &body[2..])
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        }
    } else {
        (base as u32, body)
    };
    let digits: String = if base == 0 { digits.replace('_', "") } else { digits.to_string() };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return Err(parse_err(func, text, "invalid syntax"));
    }
    let Some(mut n) = BigInt::parse_bytes(digits.as_bytes(), radix) else {
        return Err(parse_err(func, text, "invalid syntax"));
    };
    if neg {
        n = -n;
    }
    if !(0..=4096).contains(&bits) {
        return Err(parse_err(func, text, "value out of range"));
    }
    if bits == 0 {
        if !signed && n < BigInt::zero() {
            return Err(parse_err(func, text, "value out of range"));
        }
        return Ok(n);
    }
    let (lo, hi) = if signed {
        let half = num_traits::pow(BigInt::from(2), bits as usize - 1);
        (-half.clone(), half - 1)
    } else {
        (BigInt::zero(), num_traits::pow(BigInt::from(2), bits as usize) - 1)
    };
    if n < lo || n > hi {
        return Err(parse_err(func, text, "value out of range"));
    }
    Ok(n)
}

fn format_radix(n: &BigInt, base: i64) -> Result<String, Fail> {
    if !(2..=62).contains(&base) {
        return Err(Fail::Msg(format!("strconv: illegal AppendInt/FormatInt base {base}")));
    }
    if base <= 36 {
        return Ok(n.to_str_radix(base as u32));
    }
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let (sign, digits) = n.to_radix_be(base as u32);
    let text: String = digits.iter().map(|d| DIGITS[*d as usize] as char).collect();
    Ok(if sign == num_bigint::Sign::Minus { format!("-{text}") } else { text })
}

/// The `strconv` package.
pub(crate) static STRCONV: &[Func] = &[
    f("strconv.Atoi", 1, |_, a, _| {
        let text = str_arg(&a[0], 0)?;
        let n = parse_int_text("Atoi", &text, 10, 0, true)?;
        int(n)
    }),
    f("strconv.Itoa", 1, |_, a, _| s(int_arg(&a[0], 0)?.to_string())),
    f("strconv.FormatInt", 2, |_, a, _| s(format_radix(&int_arg(&a[0], 0)?, i64_arg(&a[1], 1)?)?)),
    f("strconv.FormatUint", 2, |_, a, _| s(format_radix(&int_arg(&a[0], 0)?, i64_arg(&a[1], 1)?)?)),
    f("strconv.FormatBool", 1, |_, a, _| s(bool_arg(&a[0], 0)?.to_string())),
    f("strconv.ParseBool", 1, |_, a, _| {
        let text = str_arg(&a[0], 0)?;
        match &*text {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => b(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => b(false),
            _ => Err(parse_err("ParseBool", &text, "invalid syntax")),
        }
    }),
    f("strconv.ParseInt", 3, |_, a, _| {
        let text = str_arg(&a[0], 0)?;
        int(parse_int_text("ParseInt", &text, i64_arg(&a[1], 1)?, i64_arg(&a[2], 2)?, true)?)
    }),
    f("strconv.ParseUint", 3, |_, a, _| {
        let text = str_arg(&a[0], 0)?;
        int(parse_int_text("ParseUint", &text, i64_arg(&a[1], 1)?, i64_arg(&a[2], 2)?, false)?)
    }),
    f("strconv.ParseFloat", 2, |_, a, _| {
        let text = str_arg(&a[0], 0)?;
        match Num::parse(&text, false) {
            Some(n) if !text.contains('_') => Ok(Value::Num(Num::Float(n.to_decimal()))),
            _ => Err(parse_err("ParseFloat", &text, "invalid syntax")),
        }
    }),
    f("strconv.ParseNumber", 1, |_, a, _| {
        let text = str_arg(&a[0], 0)?;
        parse_number(&text)
    }),
    f("strconv.FormatFloat", 4, |_, a, _| {
        let x = num_arg(&a[0], 0)?;
        let fmt = match crate::builtins::concrete(&a[1], 1)? {
            Value::Str(t) if t.len() == 1 => i64::from(t.as_bytes()[0]),
            Value::Num(Num::Int(n)) => num_traits::ToPrimitive::to_i64(&n).unwrap_or(-1),
            other => return Err(Fail::Msg(format!("unexpected kind {}", other.kinds().name()))),
        };
        if !(0..=255).contains(&fmt) {
            return Err(Fail::Msg(format!("format value {fmt} out of range [0, 255]")));
        }
        let prec = i64_arg(&a[2], 2)?;
        let bits = i64_arg(&a[3], 3)?;
        s(format_float(&x, fmt as u8 as char, prec, bits))
    }),
    f("strconv.Quote", 1, |_, a, _| s(go_quote(&str_arg(&a[0], 0)?, false))),
    f("strconv.QuoteToASCII", 1, |_, a, _| s(go_quote(&str_arg(&a[0], 0)?, true))),
    f("strconv.Unquote", 1, |_, a, _| {
        let text = str_arg(&a[0], 0)?;
        let (file, errors) = cue_syntax::parse(&text);
        match file.decls.as_slice() {
            [cue_syntax::ast::Decl::Embed(e)] if errors.is_empty() => match &e.kind {
                cue_syntax::ast::ExprKind::String(lit) => s(lit.as_str()),
                _ => Err("invalid syntax".into()),
            },
            _ => Err("invalid syntax".into()),
        }
    }),
];

fn parse_number(text: &str) -> Res {
    let bad = |why: String| Fail::Msg(format!("strconv.ParseNumber: parsing {}: {why}", crate::value::quote(text)));
    if text.ends_with('_') || text.contains("__") {
        return Err(bad("illegal '_' in number".into()));
    }
    let (file, errors) = cue_syntax::parse(text);
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("0x") && !text[2..].chars().all(|c| c.is_ascii_hexdigit() || c == '_') {
        return Err(bad(format!("illegal hexadecimal number {}", crate::value::quote(text))));
    }
    let lit = match file.decls.as_slice() {
        [cue_syntax::ast::Decl::Embed(e)] if errors.is_empty() => match &e.kind {
            cue_syntax::ast::ExprKind::Number(n) => Num::parse(&n.text, n.is_int),
            cue_syntax::ast::ExprKind::Unary { op: cue_syntax::ast::UnaryOp::Minus, operand } => match &operand.kind {
                cue_syntax::ast::ExprKind::Number(n) => Num::parse(&n.text, n.is_int).map(|n| n.neg()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    lit.map(Value::Num).ok_or_else(|| bad("invalid syntax".into()))
}

/// Formats a float like Go's `strconv.FormatFloat` for the common formats.
fn format_float(x: &Num, fmt: char, prec: i64, bits: i64) -> String {
    let value = x.to_decimal().to_string().parse::<f64>().unwrap_or(0.0);
    let value = if bits == 32 { f64::from(value as f32) } else { value };
    match fmt {
        'f' if prec < 0 => {
            let text = format!("{value}");
            text
        }
        'f' => format!("{value:.*}", prec as usize),
        'e' | 'E' => {
            let text = if prec < 0 { format!("{value:e}") } else { format!("{value:.*e}", prec as usize) };
            let text = go_exponent(&text);
            if fmt == 'E' { text.to_uppercase() } else { text }
        }
        'g' | 'G' => {
            let text = if prec < 0 {
                let plain = format!("{value}");
                let exp = if value == 0.0 { 0 } else { value.abs().log10().floor() as i64 };
                if !(-4..21).contains(&exp) { go_exponent(&format!("{value:e}")) } else { plain }
            } else {
                let p = if prec == 0 { 1 } else { prec as usize };
                let exp = if value == 0.0 { 0 } else { value.abs().log10().floor() as i64 };
                if exp < -4 || exp >= p as i64 {
                    let t = format!("{value:.*e}", p - 1);
                    go_exponent(&trim_mantissa(&t))
                } else {
                    let decimals = (p as i64 - 1 - exp).max(0) as usize;
                    trim_zeros(&format!("{value:.decimals$}"))
                }
            };
            if fmt == 'G' { text.to_uppercase() } else { text }
        }
        _ => format!("%{fmt}"),
    }
}

fn trim_zeros(t: &str) -> String {
    if t.contains('.') { t.trim_end_matches('0').trim_end_matches('.').to_string() } else { t.to_string() }
}

fn trim_mantissa(t: &str) -> String {
    match t.split_once('e') {
        Some((m, e)) => format!("{}e{e}", trim_zeros(m)),
        None => t.to_string(),
    }
}

/// Rewrites Rust's `1.5e3` exponent form as Go's `1.5e+03`.
fn go_exponent(text: &str) -> String {
    let Some((mantissa, exp)) = text.split_once('e') else { return text.to_string() };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// Quotes a string like Go's `strconv.Quote`.
pub(crate) fn go_quote(x: &str, ascii: bool) -> String {
    let mut out = String::from("\"");
    for c in x.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if ascii && (c as u32) > 0x7f => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---- regexp -----------------------------------------------------------------------------------

fn re(a: &Value, i: usize) -> Result<regex::Regex, Fail> {
    let pattern = str_arg(a, i)?;
    ops::regex(&pattern).map_err(|e| Fail::Msg(format!("error parsing regexp: {}", first_line(&e))))
}

fn first_line(e: &str) -> String {
    e.lines().last().unwrap_or(e).trim().to_string()
}

fn no_match() -> Fail {
    Fail::Msg("no match".into())
}

fn limit(n: i64) -> usize {
    if n < 0 { usize::MAX } else { n as usize }
}

/// The `regexp` package.
pub(crate) static REGEXP: &[Func] = &[
    f("regexp.Find", 2, |_, a, _| {
        let r = re(&a[0], 0)?;
        let x = str_arg(&a[1], 1)?;
        r.find(&x).map(|m| s(m.as_str())).unwrap_or(Err(no_match()))
    }),
    f("regexp.FindAll", 3, |ev, a, ctx| {
        let r = re(&a[0], 0)?;
        let x = str_arg(&a[1], 1)?;
        let n = limit(i64_arg(&a[2], 2)?);
        let found: Vec<String> = r.find_iter(&x).take(n).map(|m| m.as_str().to_string()).collect();
        if found.is_empty() {
            return Err(no_match());
        }
        list_of_strings(ev, ctx, found)
    }),
    f("regexp.FindSubmatch", 2, |ev, a, ctx| {
        let r = re(&a[0], 0)?;
        let x = str_arg(&a[1], 1)?;
        let caps = r.captures(&x).ok_or_else(no_match)?;
        list_of_strings(ev, ctx, caps.iter().map(|m| m.map_or(String::new(), |m| m.as_str().to_string())))
    }),
    f("regexp.FindAllSubmatch", 3, |ev, a, ctx| {
        let r = re(&a[0], 0)?;
        let x = str_arg(&a[1], 1)?;
        let n = limit(i64_arg(&a[2], 2)?);
        let mut lists = Vec::new();
        for caps in r.captures_iter(&x).take(n) {
            let items: Vec<String> = caps.iter().map(|m| m.map_or(String::new(), |m| m.as_str().to_string())).collect();
            lists.push(list_of_strings(ev, ctx, items)?);
        }
        if lists.is_empty() {
            return Err(no_match());
        }
        Ok(ev.make_list(ctx, lists))
    }),
    f("regexp.FindNamedSubmatch", 2, |ev, a, ctx| {
        let r = re(&a[0], 0)?;
        let x = str_arg(&a[1], 1)?;
        let caps = r.captures(&x).ok_or_else(no_match)?;
        let fields = named(&r, &caps);
        Ok(ev.make_struct(ctx, fields))
    }),
    f("regexp.FindAllNamedSubmatch", 3, |ev, a, ctx| {
        let r = re(&a[0], 0)?;
        let x = str_arg(&a[1], 1)?;
        let n = limit(i64_arg(&a[2], 2)?);
        let mut items = Vec::new();
        for caps in r.captures_iter(&x).take(n) {
            let fields = named(&r, &caps);
            items.push(ev.make_struct(ctx, fields));
        }
        if items.is_empty() {
            return Err(no_match());
        }
        Ok(ev.make_list(ctx, items))
    }),
    v("regexp.Match", 2, ANY, |_, a, _| {
        let r = re(&a[0], 0)?;
        b(r.is_match(&str_arg(&a[1], 1)?))
    }),
    f("regexp.ReplaceAll", 3, |_, a, _| {
        let r = re(&a[0], 0)?;
        let (x, repl) = (str_arg(&a[1], 1)?, str_arg(&a[2], 2)?);
        s(r.replace_all(&x, go_template(&repl).as_str()))
    }),
    f("regexp.ReplaceAllLiteral", 3, |_, a, _| {
        let r = re(&a[0], 0)?;
        let (x, repl) = (str_arg(&a[1], 1)?, str_arg(&a[2], 2)?);
        s(r.replace_all(&x, regex::NoExpand(&repl)))
    }),
    v("regexp.Valid", 1, Kinds::STRING, |_, a, _| {
        re(&a[0], 0)?;
        b(true)
    }),
    f("regexp.QuoteMeta", 1, |_, a, _| s(regex::escape(&str_arg(&a[0], 0)?))),
];

fn named(r: &regex::Regex, caps: &regex::Captures<'_>) -> Vec<(String, Value)> {
    r.capture_names()
        .enumerate()
        .filter_map(|(i, name)| {
            let name = name?;
            let text = caps.get(i).map_or("", |m| m.as_str());
            Some((name.to_string(), Value::string(text)))
        })
        .collect()
}

/// Go's `$1`/`${name}` templates mean the same to the regex crate, except that Go takes the longest
/// name after `$`; braces make the two agree.
fn go_template(repl: &str) -> String {
    let mut out = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') | Some('{') => out.push('$'),
            Some(c) if c.is_alphanumeric() || *c == '_' => {
                let mut name = String::new();
                while let Some(c) = chars.peek().filter(|c| c.is_alphanumeric() || **c == '_') {
                    name.push(*c);
                    chars.next();
                }
                out.push_str(&format!("${{{name}}}"));
            }
            _ => out.push_str("$$"),
        }
    }
    out
}

// ---- path -------------------------------------------------------------------------------------

/// Non-function members of `path`.
pub(crate) const PATH_PRELUDE: &str = "Unix: \"unix\"\nWindows: \"windows\"\nPlan9: \"plan9\"\n";

fn os_arg(a: &[Value], i: usize) -> Result<bool, Fail> {
    let Some(v) = a.get(i) else { return Ok(false) };
    match &*str_arg(v, i)? {
        "windows" => Ok(true),
        "unix" | "plan9" | "aix" | "android" | "darwin" | "dragonfly" | "freebsd" | "hurd" | "illumos" | "ios"
        | "js" | "linux" | "nacl" | "netbsd" | "openbsd" | "solaris" | "wasip1" | "zos" => Ok(false),
        other => Err(Fail::Msg(format!("unsupported OS {other:?}"))),
    }
}

/// Lexically cleans a slash-separated path like Go's `path.Clean`.
pub(crate) fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// The `path` package (slash-separated paths; the `os` argument is accepted and checked).
pub(crate) static PATH: &[Func] = &[
    fo("path.Join", 2, 1, |ev, a, _| {
        os_arg(a, 1)?;
        let parts = str_list(ev, &a[0], 0)?;
        let joined: Vec<&str> = parts.iter().map(|p| &**p).filter(|p| !p.is_empty()).collect();
        if joined.is_empty() {
            return s("");
        }
        s(clean(&joined.join("/")))
    }),
    fo("path.Clean", 2, 1, |_, a, _| {
        os_arg(a, 1)?;
        s(clean(&str_arg(&a[0], 0)?))
    }),
    fo("path.Base", 2, 1, |_, a, _| {
        os_arg(a, 1)?;
        let p = str_arg(&a[0], 0)?;
        let t = p.trim_end_matches('/');
        if p.is_empty() {
            return s(".");
        }
        if t.is_empty() {
            return s("/");
        }
        s(t.rsplit('/').next().unwrap_or(t))
    }),
    fo("path.Dir", 2, 1, |_, a, _| {
        os_arg(a, 1)?;
        let p = str_arg(&a[0], 0)?;
        let dir = match p.rfind('/') {
            Some(i) => &p[..=i],
            None => "",
        };
        s(clean(dir))
    }),
    fo("path.Ext", 2, 1, |_, a, _| {
        os_arg(a, 1)?;
        let p = str_arg(&a[0], 0)?;
        let base = p.rsplit('/').next().unwrap_or("");
        s(base.rfind('.').map_or("", |i| &base[i..]))
    }),
    v("path.IsAbs", 2, Kinds::STRING, |_, a, _| {
        os_arg(a, 1)?;
        b(str_arg(&a[0], 0)?.starts_with('/'))
    }),
    fo("path.Split", 2, 1, |ev, a, ctx| {
        os_arg(a, 1)?;
        let p = str_arg(&a[0], 0)?;
        let i = p.rfind('/').map_or(0, |i| i + 1);
        list_of_strings(ev, ctx, [p[..i].to_string(), p[i..].to_string()])
    }),
    fo("path.ToSlash", 2, 1, |_, a, _| s(str_arg(&a[0], 0)?)),
    fo("path.FromSlash", 2, 1, |_, a, _| s(str_arg(&a[0], 0)?)),
];
