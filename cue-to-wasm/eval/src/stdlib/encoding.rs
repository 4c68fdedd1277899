//! `encoding/json`, `encoding/yaml`, `encoding/base64`, `encoding/hex`, `crypto/*` and `uuid`.

use std::rc::Rc;

use base64::Engine as _;
use num_bigint::{BigInt, Sign};
use num_traits::Signed;

use crate::builtins::{ANY, Fail, Func, Res, bytes_arg, concrete, f, i64_arg, int, int_arg, s, str_arg, v};
use crate::error::ErrorKind;
use crate::eval::Evaluator;
use crate::export::Data;
use crate::num::Num;
use crate::ops;
use crate::value::{Kinds, VId, Value};
use crate::vertex::{Conj, Src};

/// Formats a number with an upper-case exponent (`2.0E+400`), as Go's apd prints large floats.
pub(crate) fn upper_exponent(n: &Num) -> String {
    let d = n.to_decimal();
    let text = d.mantissa.abs().to_string();
    let adjusted = d.exponent + text.len() as i64 - 1;
    let (head, tail) = text.split_at(1);
    let tail = if tail.is_empty() { "0" } else { tail };
    let sign = if d.mantissa.is_negative() { "-" } else { "" };
    let esign = if adjusted >= 0 { "+" } else { "-" };
    format!("{sign}{head}.{tail}E{esign}{}", adjusted.abs())
}

// ---- values to data and back ------------------------------------------------------------------

/// Exports a value to data (defaults applied, concrete); the first error is the failure.
pub(crate) fn to_data(ev: &mut Evaluator<'_>, x: &Value, ctx: VId) -> Result<Data, Fail> {
    let x = ops::default_of(x);
    match &x {
        Value::Bottom(_) => return Err(Fail::Value(x)),
        v if !v.is_atom() && !matches!(v, Value::Struct(_) | Value::List(_)) => return Err(Fail::Incomplete(0)),
        _ => {}
    }
    let conj = Conj { src: Src::Value(x), env: None, groups: Rc::from([]), embed: None, via: None, explicit: false };
    let t = ev.temp_vertex(ctx, conj);
    let mut errors = Vec::new();
    match ev.export_node(t, &mut errors) {
        Some(d) if errors.is_empty() => Ok(d),
        _ => {
            let first = errors.into_iter().next();
            Err(Fail::Value(
                first.map_or_else(
                    || Value::error(ErrorKind::Incomplete, "incomplete value"),
                    |d| Value::Bottom(d.error),
                ),
            ))
        }
    }
}

/// Builds a value from data.
pub(crate) fn from_data(ev: &mut Evaluator<'_>, d: Data, ctx: VId) -> Value {
    match d {
        Data::Null => Value::Null,
        Data::Bool(b) => Value::Bool(b),
        Data::Num(n) => {
            let is_int = !n.contains(['.', 'e', 'E']);
            Num::parse(&n, is_int).map_or_else(|| Value::string(&n), Value::Num)
        }
        Data::Str(s) => Value::string(&s),
        Data::List(items) => {
            let values = items.into_iter().map(|i| from_data(ev, i, ctx)).collect();
            ev.make_list(ctx, values)
        }
        Data::Object(fields) => {
            let values = fields.into_iter().map(|(k, v)| (k, from_data(ev, v, ctx))).collect();
            ev.make_struct(ctx, values)
        }
    }
}

/// Writes data as compact JSON without HTML escaping.
pub(crate) fn compact_json(d: &Data, out: &mut String) {
    match d {
        Data::Null => out.push_str("null"),
        Data::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Data::Num(n) => out.push_str(n),
        Data::Str(s) => crate::export::json_string(s, out),
        Data::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                compact_json(item, out);
            }
            out.push(']');
        }
        Data::Object(fields) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                crate::export::json_string(k, out);
                out.push(':');
                compact_json(v, out);
            }
            out.push('}');
        }
    }
}

// ---- a JSON reader keeping exact numbers ------------------------------------------------------

struct JsonReader<'t> {
    text: &'t [u8],
    pos: usize,
}

impl JsonReader<'_> {
    fn ws(&mut self) {
        while self.pos < self.text.len() && matches!(self.text[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<Data> {
        if depth > 1000 {
            return None;
        }
        self.ws();
        let c = *self.text.get(self.pos)?;
        match c {
            b'{' => {
                self.pos += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.text.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    return Some(Data::Object(fields));
                }
                loop {
                    self.ws();
                    let Data::Str(key) = self.string()? else { return None };
                    self.ws();
                    if self.text.get(self.pos) != Some(&b':') {
                        return None;
                    }
                    self.pos += 1;
                    let value = self.value(depth + 1)?;
                    fields.push((key, value));
                    self.ws();
                    match self.text.get(self.pos)? {
                        b',' => self.pos += 1,
                        b'}' => {
                            self.pos += 1;
                            return Some(Data::Object(fields));
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.text.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    return Some(Data::List(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.text.get(self.pos)? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Some(Data::List(items));
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string(),
            b't' => self.word("true", Data::Bool(true)),
            b'f' => self.word("false", Data::Bool(false)),
            b'n' => self.word("null", Data::Null),
            _ => self.number(),
        }
    }

    fn word(&mut self, w: &str, d: Data) -> Option<Data> {
        if self.text[self.pos..].starts_with(w.as_bytes()) {
            self.pos += w.len();
            Some(d)
        } else {
            None
        }
    }

    fn number(&mut self) -> Option<Data> {
        let start = self.pos;
        while self.pos < self.text.len()
            && matches!(self.text[self.pos], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
        {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.text[start..self.pos]).ok()?;
        let body = text.strip_prefix('-').unwrap_or(text);
        let valid = !body.is_empty()
            && body.as_bytes()[0].is_ascii_digit()
            && !(body.len() > 1 && body.starts_with('0') && body.as_bytes()[1].is_ascii_digit())
            && Num::parse(text, !text.contains(['.', 'e', 'E'])).is_some();
        valid.then(|| Data::Num(text.to_string()))
    }

    fn string(&mut self) -> Option<Data> {
        if self.text.get(self.pos) != Some(&b'"') {
            return None;
        }
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = *self.text.get(self.pos)?;
            self.pos += 1;
            match c {
                b'"' => return String::from_utf8(out).ok().map(Data::Str),
                b'\\' => {
                    let e = *self.text.get(self.pos)?;
                    self.pos += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = std::str::from_utf8(self.text.get(self.pos..self.pos + 4)?).ok()?;
                            self.pos += 4;
                            let mut code = u32::from_str_radix(hex, 16).ok()?;
                            if (0xD800..0xDC00).contains(&code) && self.text[self.pos..].starts_with(b"\\u") {
                                let low = std::str::from_utf8(self.text.get(self.pos + 2..self.pos + 6)?).ok()?;
                                let low = u32::from_str_radix(low, 16).ok()?;
                                self.pos += 6;
                                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                            }
                            let ch = char::from_u32(code).unwrap_or('\u{FFFD}');
                            out.extend_from_slice(ch.to_string().as_bytes());
                        }
                        _ => return None,
                    }
                }
                c if c < 0x20 => return None,
                c => out.push(c),
            }
        }
    }
}

/// Parses one JSON value (the whole text).
pub(crate) fn parse_json(text: &str) -> Option<Data> {
    let mut r = JsonReader { text: text.as_bytes(), pos: 0 };
    let d = r.value(0)?;
    r.ws();
    (r.pos == text.len()).then_some(d)
}

/// Parses a stream of JSON values.
pub(crate) fn parse_json_stream(text: &str) -> Option<Vec<Data>> {
    let mut r = JsonReader { text: text.as_bytes(), pos: 0 };
    let mut out = Vec::new();
    loop {
        r.ws();
        if r.pos == text.len() {
            return Some(out);
        }
        out.push(r.value(0)?);
    }
}

fn text_arg(a: &Value, i: usize) -> Result<String, Fail> {
    let bytes = bytes_arg(a, i)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn json_invalid() -> Fail {
    Fail::Msg("json: invalid JSON".into())
}

/// Unifies decoded data with a schema; returns true or the first error.
fn validate_data(ev: &mut Evaluator<'_>, d: Data, schema: &Value, ctx: VId, concrete_only: bool) -> Res {
    let x = from_data(ev, d, ctx);
    let unified = ev.unify_values(x, schema.clone(), ctx);
    if let Value::Bottom(e) = &unified {
        return Err(Fail::Msg(e.message.clone()));
    }
    let conj =
        Conj { src: Src::Value(unified), env: None, groups: Rc::from([]), embed: None, via: None, explicit: false };
    let t = ev.temp_vertex(ctx, conj);
    if let Some(Value::Bottom(e)) = ev.permanent_error(t, 64) {
        return Err(Fail::Msg(e.message.clone()));
    }
    if concrete_only {
        let mut errors = Vec::new();
        ev.export_node(t, &mut errors);
        if let Some(d) = errors.into_iter().next() {
            return Err(Fail::Msg(d.error.message.clone()));
        }
    }
    Ok(Value::Bool(true))
}

/// `encoding/json`.
pub(crate) static JSON: &[Func] = &[
    f("encoding/json.Marshal", 1, |ev, a, ctx| {
        let d = to_data(ev, &a[0], ctx)?;
        let mut out = String::new();
        compact_json(&d, &mut out);
        s(out)
    }),
    f("encoding/json.MarshalStream", 1, |ev, a, ctx| {
        let items = crate::builtins::list_arg(ev, &a[0], 0)?;
        let mut out = String::new();
        for item in items {
            let d = to_data(ev, &item, ctx)?;
            compact_json(&d, &mut out);
            out.push('\n');
        }
        s(out)
    }),
    f("encoding/json.Unmarshal", 1, |ev, a, ctx| {
        let text = text_arg(&a[0], 0)?;
        let d = parse_json(&text).ok_or_else(json_invalid)?;
        Ok(from_data(ev, d, ctx))
    }),
    f("encoding/json.UnmarshalStream", 1, |ev, a, ctx| {
        let text = text_arg(&a[0], 0)?;
        let docs = parse_json_stream(&text).ok_or_else(json_invalid)?;
        let values = docs.into_iter().map(|d| from_data(ev, d, ctx)).collect();
        Ok(ev.make_list(ctx, values))
    }),
    v("encoding/json.Valid", 1, ANY, |_, a, _| Ok(Value::Bool(parse_json(&text_arg(&a[0], 0)?).is_some()))),
    v("encoding/json.Validate", 2, ANY, |ev, a, ctx| {
        let text = text_arg(&a[0], 0)?;
        let d = parse_json(&text).ok_or_else(json_invalid)?;
        validate_data(ev, d, &a[1], ctx, false)
    }),
    f("encoding/json.Compact", 1, |_, a, _| {
        let text = text_arg(&a[0], 0)?;
        let d = parse_json(&text).ok_or_else(json_invalid)?;
        let mut out = String::new();
        compact_json(&d, &mut out);
        s(out)
    }),
    f("encoding/json.Indent", 3, |_, a, _| {
        let text = text_arg(&a[0], 0)?;
        let (prefix, indent) = (str_arg(&a[1], 1)?, str_arg(&a[2], 2)?);
        let d = parse_json(&text).ok_or_else(json_invalid)?;
        let mut out = String::new();
        indent_json(&d, &prefix, &indent, 0, &mut out);
        s(out)
    }),
    f("encoding/json.HTMLEscape", 1, |_, a, _| {
        let text = text_arg(&a[0], 0)?;
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '<' => out.push_str("\\u003c"),
                '>' => out.push_str("\\u003e"),
                '&' => out.push_str("\\u0026"),
                '\u{2028}' => out.push_str("\\u2028"),
                '\u{2029}' => out.push_str("\\u2029"),
                c => out.push(c),
            }
        }
        s(out)
    }),
];

fn indent_json(d: &Data, prefix: &str, indent: &str, level: usize, out: &mut String) {
    let newline = |out: &mut String, level: usize| {
        out.push('\n');
        out.push_str(prefix);
        out.push_str(&indent.repeat(level));
    };
    match d {
        Data::List(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                indent_json(item, prefix, indent, level + 1, out);
            }
            newline(out, level);
            out.push(']');
        }
        Data::Object(fields) if !fields.is_empty() => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                crate::export::json_string(k, out);
                out.push_str(": ");
                indent_json(v, prefix, indent, level + 1, out);
            }
            newline(out, level);
            out.push('}');
        }
        other => compact_json(other, out),
    }
}

// ---- YAML -------------------------------------------------------------------------------------

fn yaml_to_data(v: serde_yaml::Value) -> Result<Data, String> {
    Ok(match v {
        serde_yaml::Value::Null => Data::Null,
        serde_yaml::Value::Bool(b) => Data::Bool(b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Data::Num(i.to_string())
            } else if let Some(u) = n.as_u64() {
                Data::Num(u.to_string())
            } else {
                let x = n.as_f64().unwrap_or(0.0);
                if !x.is_finite() {
                    return Err(format!("invalid number {x}"));
                }
                Data::Num(format!("{x:?}"))
            }
        }
        serde_yaml::Value::String(s) => Data::Str(s),
        serde_yaml::Value::Sequence(items) => {
            Data::List(items.into_iter().map(yaml_to_data).collect::<Result<_, _>>()?)
        }
        serde_yaml::Value::Mapping(m) => {
            let mut fields = Vec::new();
            for (k, v) in m {
                let key = match k {
                    serde_yaml::Value::String(s) => s,
                    serde_yaml::Value::Number(n) => n.to_string(),
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    serde_yaml::Value::Null => "null".into(),
                    _ => return Err("invalid map key".into()),
                };
                if key == "<<" {
                    if let Data::Object(inner) = yaml_to_data(v)? {
                        fields.extend(inner);
                    }
                    continue;
                }
                fields.push((key, yaml_to_data(v)?));
            }
            Data::Object(fields)
        }
        serde_yaml::Value::Tagged(t) => yaml_to_data(t.value)?,
    })
}

/// Parses a stream of YAML documents.
pub(crate) fn parse_yaml_stream(text: &str) -> Result<Vec<Data>, String> {
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value: serde_yaml::Value = serde::Deserialize::deserialize(doc).map_err(|e| e.to_string())?;
        docs.push(yaml_to_data(value)?);
    }
    Ok(docs)
}

fn yaml_one(text: &str) -> Result<Data, Fail> {
    let docs = parse_yaml_stream(text).map_err(Fail::Msg)?;
    match docs.len() {
        0 => Ok(Data::Null),
        1 => Ok(docs.into_iter().next().unwrap_or(Data::Null)),
        _ => {
            let line = text.lines().position(|l| l.starts_with("---")).map_or(1, |i| i + 2);
            Err(Fail::Msg(format!("{line}:1: expected a single YAML document")))
        }
    }
}

fn yaml_validate(ev: &mut Evaluator<'_>, a: &[Value], ctx: VId, concrete_only: bool) -> Res {
    let text = text_arg(&a[0], 0)?;
    let docs = parse_yaml_stream(&text).map_err(Fail::Msg)?;
    for d in docs {
        validate_data(ev, d, &a[1], ctx, concrete_only)?;
    }
    Ok(Value::Bool(true))
}

/// `encoding/yaml`.
pub(crate) static YAML: &[Func] = &[
    f("encoding/yaml.Marshal", 1, |ev, a, ctx| {
        let d = to_data(ev, &a[0], ctx)?;
        s(crate::export::to_yaml_marshal(&d))
    }),
    f("encoding/yaml.MarshalStream", 1, |ev, a, ctx| {
        let items = crate::builtins::list_arg(ev, &a[0], 0)?;
        let mut docs = Vec::new();
        for item in items {
            let d = to_data(ev, &item, ctx)?;
            docs.push(crate::export::to_yaml_marshal(&d));
        }
        s(docs.join("---\n"))
    }),
    f("encoding/yaml.Unmarshal", 1, |ev, a, ctx| {
        let text = text_arg(&a[0], 0)?;
        let d = yaml_one(&text)?;
        Ok(from_data(ev, d, ctx))
    }),
    f("encoding/yaml.UnmarshalStream", 1, |ev, a, ctx| {
        let text = text_arg(&a[0], 0)?;
        let docs = parse_yaml_stream(&text).map_err(Fail::Msg)?;
        let values = docs.into_iter().map(|d| from_data(ev, d, ctx)).collect();
        Ok(ev.make_list(ctx, values))
    }),
    v("encoding/yaml.Validate", 2, ANY, |ev, a, ctx| yaml_validate(ev, a, ctx, true)),
    v("encoding/yaml.ValidatePartial", 2, ANY, |ev, a, ctx| yaml_validate(ev, a, ctx, false)),
];

// ---- base64, hex, hashes ----------------------------------------------------------------------

fn null_encoding(a: &Value) -> Result<(), Fail> {
    match concrete(a, 0)? {
        Value::Null => Ok(()),
        other => Err(Fail::Msg(format!(
            "base64: unsupported encoding: cannot use value {other} (type {}) as null",
            other.kinds().name()
        ))),
    }
}

/// `encoding/base64`.
pub(crate) static BASE64: &[Func] = &[
    f("encoding/base64.Encode", 2, |_, a, _| {
        null_encoding(&a[0])?;
        s(base64::engine::general_purpose::STANDARD.encode(bytes_arg(&a[1], 1)?))
    }),
    f("encoding/base64.Decode", 2, |_, a, _| {
        null_encoding(&a[0])?;
        let text = bytes_arg(&a[1], 1)?;
        match base64::engine::general_purpose::STANDARD.decode(&text) {
            Ok(b) => Ok(Value::Bytes(Rc::from(b))),
            Err(_) => {
                let at = text.len() - text.len() % 4;
                Err(Fail::Msg(format!("illegal base64 data at input byte {at}")))
            }
        }
    }),
    f("encoding/base64.EncodedLen", 2, |_, a, _| {
        null_encoding(&a[0])?;
        int(i64_arg(&a[1], 1)?.div_euclid(3) * 4 + if i64_arg(&a[1], 1)? % 3 == 0 { 0 } else { 4 })
    }),
    f("encoding/base64.DecodedLen", 2, |_, a, _| {
        null_encoding(&a[0])?;
        int(i64_arg(&a[1], 1)? / 4 * 3)
    }),
];

/// `encoding/hex`.
pub(crate) static HEX: &[Func] = &[
    f("encoding/hex.Encode", 1, |_, a, _| s(hex::encode(bytes_arg(&a[0], 0)?))),
    f("encoding/hex.Decode", 1, |_, a, _| {
        let text = str_arg(&a[0], 0)?;
        match hex::decode(&*text) {
            Ok(b) => Ok(Value::Bytes(Rc::from(b))),
            Err(hex::FromHexError::InvalidHexCharacter { c, .. }) => {
                Err(Fail::Msg(format!("encoding/hex: invalid byte: U+{:04X} {:?}", c as u32, c)))
            }
            Err(_) => Err("encoding/hex: odd length hex string".into()),
        }
    }),
    f("encoding/hex.Dump", 1, |_, a, _| s(hex_dump(&bytes_arg(&a[0], 0)?))),
    f("encoding/hex.EncodedLen", 1, |_, a, _| int(i64_arg(&a[0], 0)? * 2)),
    f("encoding/hex.DecodedLen", 1, |_, a, _| int(i64_arg(&a[0], 0)? / 2)),
];

fn hex_dump(data: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in data.chunks(16).enumerate() {
        out.push_str(&format!("{:08x}  ", i * 16));
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
            if j == 7 {
                out.push(' ');
            }
        }
        out.push_str(" |");
        for b in chunk {
            out.push(if (0x20..0x7f).contains(b) { *b as char } else { '.' });
        }
        out.push_str("|\n");
    }
    out
}

fn digest<D: sha2::Digest>(a: &[Value]) -> Res {
    let data = bytes_arg(&a[0], 0)?;
    Ok(Value::Bytes(Rc::from(D::digest(&data).to_vec())))
}

/// Non-function members of `crypto/sha256`.
pub(crate) const SHA256_PRELUDE: &str = "Size: 32\nSize224: 28\nBlockSize: 64\n";
/// Non-function members of `crypto/sha1`.
pub(crate) const SHA1_PRELUDE: &str = "Size: 20\nBlockSize: 64\n";
/// Non-function members of `crypto/sha512`.
pub(crate) const SHA512_PRELUDE: &str = "Size: 64\nSize224: 28\nSize256: 32\nSize384: 48\nBlockSize: 128\n";

/// `crypto/sha256`.
pub(crate) static SHA256: &[Func] = &[
    f("crypto/sha256.Sum256", 1, |_, a, _| digest::<sha2::Sha256>(a)),
    f("crypto/sha256.Sum224", 1, |_, a, _| digest::<sha2::Sha224>(a)),
];

/// `crypto/sha512`.
pub(crate) static SHA512: &[Func] = &[
    f("crypto/sha512.Sum512", 1, |_, a, _| digest::<sha2::Sha512>(a)),
    f("crypto/sha512.Sum384", 1, |_, a, _| digest::<sha2::Sha384>(a)),
    f("crypto/sha512.Sum512_224", 1, |_, a, _| digest::<sha2::Sha512_224>(a)),
    f("crypto/sha512.Sum512_256", 1, |_, a, _| digest::<sha2::Sha512_256>(a)),
];

fn sha1_bytes(data: &[u8]) -> Vec<u8> {
    use sha1::Digest as _;
    sha1::Sha1::digest(data).to_vec()
}

/// `crypto/sha1`.
pub(crate) static SHA1: &[Func] =
    &[f("crypto/sha1.Sum", 1, |_, a, _| Ok(Value::Bytes(Rc::from(sha1_bytes(&bytes_arg(&a[0], 0)?)))))];

/// Non-function members of `crypto/md5`.
pub(crate) const MD5_PRELUDE: &str = "Size: 16\nBlockSize: 64\n";

/// `crypto/md5`.
pub(crate) static MD5: &[Func] =
    &[f("crypto/md5.Sum", 1, |_, a, _| Ok(Value::Bytes(Rc::from(md5(&bytes_arg(&a[0], 0)?)))))];

// ---- uuid -------------------------------------------------------------------------------------

/// Non-function members of `uuid`.
pub(crate) const UUID_PRELUDE: &str = "ns: {\n\tDNS: \"6ba7b810-9dad-11d1-80b4-00c04fd430c8\"\n\
\tURL: \"6ba7b811-9dad-11d1-80b4-00c04fd430c8\"\n\tOID: \"6ba7b812-9dad-11d1-80b4-00c04fd430c8\"\n\
\tX500: \"6ba7b814-9dad-11d1-80b4-00c04fd430c8\"\n\tNil: \"00000000-0000-0000-0000-000000000000\"\n}\n";

/// Parses a UUID in the forms Go's `github.com/google/uuid` accepts.
fn parse_uuid(text: &str) -> Result<[u8; 16], Fail> {
    let body = match text.len() {
        36 => text,
        45 if text.to_ascii_lowercase().starts_with("urn:uuid:") => &text[9..],
        38 if text.starts_with('{') && text.ends_with('}') => &text[1..37],
        32 => {
            let mut out = [0u8; 16];
            hex::decode_to_slice(text, &mut out).map_err(|_| Fail::Msg("invalid UUID format".into()))?;
            return Ok(out);
        }
        n => return Err(Fail::Msg(format!("invalid UUID length: {n}"))),
    };
    let b = body.as_bytes();
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return Err("invalid UUID format".into());
    }
    let digits: String = body.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    hex::decode_to_slice(&digits, &mut out).map_err(|_| Fail::Msg("invalid UUID format".into()))?;
    Ok(out)
}

fn format_uuid(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn uuid_arg(a: &Value, i: usize) -> Result<[u8; 16], Fail> {
    parse_uuid(&str_arg(a, i)?)
}

fn name_based(ns: &[u8; 16], name: &[u8], version: u8, hash: fn(&[u8]) -> Vec<u8>) -> String {
    let mut data = ns.to_vec();
    data.extend_from_slice(name);
    let h = hash(&data);
    let mut out = [0u8; 16];
    out.copy_from_slice(&h[..16]);
    out[6] = (out[6] & 0x0f) | (version << 4);
    out[8] = (out[8] & 0x3f) | 0x80;
    format_uuid(&out)
}

/// `uuid`.
pub(crate) static UUID: &[Func] = &[
    f("uuid.SHA1", 2, |_, a, _| s(name_based(&uuid_arg(&a[0], 0)?, &bytes_arg(&a[1], 1)?, 5, sha1_bytes))),
    f("uuid.MD5", 2, |_, a, _| s(name_based(&uuid_arg(&a[0], 0)?, &bytes_arg(&a[1], 1)?, 3, md5))),
    v("uuid.Valid", 1, Kinds::STRING, |_, a, _| uuid_arg(&a[0], 0).map(|_| Value::Bool(true))),
    f("uuid.Parse", 1, |_, a, _| s(format_uuid(&uuid_arg(&a[0], 0)?))),
    f("uuid.URN", 1, |_, a, _| s(format!("urn:uuid:{}", format_uuid(&uuid_arg(&a[0], 0)?)))),
    f("uuid.ToInt", 1, |_, a, _| int(BigInt::from_bytes_be(Sign::Plus, str_arg(&a[0], 0)?.as_bytes()))),
    f("uuid.FromInt", 1, |_, a, _| {
        let n = int_arg(&a[0], 0)?;
        let (sign, bytes) = n.to_bytes_be();
        if sign == Sign::Minus || bytes.len() > 16 {
            return Err("UUID from int: value out of range".into());
        }
        let mut out = [0u8; 16];
        out[16 - bytes.len()..].copy_from_slice(&bytes);
        s(format_uuid(&out))
    }),
    f("uuid.Variant", 1, |_, a, _| {
        let b = uuid_arg(&a[0], 0)?;
        int(match b[8] {
            x if x & 0xc0 == 0x80 => 1,
            x if x & 0xe0 == 0xc0 => 2,
            x if x & 0xe0 == 0xe0 => 3,
            _ => 0,
        })
    }),
    f("uuid.Version", 1, |_, a, _| int(i64::from(uuid_arg(&a[0], 0)?[6] >> 4))),
];

/// MD5 (RFC 1321), for version-3 UUIDs.
fn md5(data: &[u8]) -> Vec<u8> {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14,
        20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6,
        10, 15, 21,
    ];
    let k: Vec<u32> = (0..64).map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32).collect();
    let (mut a0, mut b0, mut c0, mut d0) = (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = (0..16)
            .map(|i| u32::from_le_bytes([chunk[4 * i], chunk[4 * i + 1], chunk[4 * i + 2], chunk[4 * i + 3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    [a0, b0, c0, d0].iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_the_rfc_examples() {
        assert_eq!(hex::encode(md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex::encode(md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn json_reader_keeps_numbers_exact() {
        let d = parse_json(r#"{"a": [1, 2.50, -3e2], "b": "x\u00e9"}"#).expect("parses");
        let mut out = String::new();
        compact_json(&d, &mut out);
        assert_eq!(out, r#"{"a":[1,2.50,-3e2],"b":"xé"}"#);
        assert!(parse_json("{} x").is_none());
    }
}
