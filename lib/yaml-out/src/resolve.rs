//! Which strings a YAML reader would take for something else (a number, a boolean, null, a date), so the
//! writer must quote them. The official encoder quotes more than YAML 1.2 requires: the YAML 1.1 words
//! (`yes`, `off`, `y`), anything shaped like a date or a sexagesimal number, and numbers followed by spaces.

/// Words that read as booleans or null in YAML 1.1 or 1.2, plus the document marker.
const WORDS: &[&str] = &[
    "y", "Y", "n", "N", "t", "T", "f", "F", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF", "true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL", "~", ".Nan", "---",
];

/// YAML 1.2 core words: booleans, null, infinities and NaN.
const CORE_WORDS: &[&str] =
    &["true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL", "~", ".nan", ".NaN", ".NAN"];

/// Reports whether `s`, written as a plain scalar, would read back as something other than this string.
pub(crate) fn reads_as_non_string(s: &str) -> bool {
    if WORDS.contains(&s) || is_infinity(s) || CORE_WORDS.contains(&s) {
        return true;
    }
    if number_shaped(s) || date_shaped(s) {
        return true;
    }
    let trimmed = s.trim_end_matches(' ');
    trimmed.len() < s.len() && (CORE_WORDS.contains(&trimmed) || is_infinity(trimmed) || number_in_range(trimmed))
}

fn is_infinity(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    matches!(body, ".inf" | ".Inf" | ".INF")
}

/// The sign and the digits of a number-like string: underscores dropped (not a leading one).
fn digits_of(s: &str) -> Option<(Sign, String)> {
    if s.starts_with('_') {
        return None;
    }
    let text: String = s.chars().filter(|&c| c != '_').collect();
    let (sign, body) = match text.as_bytes().first() {
        Some(b'-') => (Sign::Minus, text[1..].to_string()),
        Some(b'+') => (Sign::Plus, text[1..].to_string()),
        _ => (Sign::None, text),
    };
    Some((sign, body))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sign {
    None,
    Plus,
    Minus,
}

/// The base-prefixed integer forms: `0x1F`, `0o17`, `0b101` (lower-case prefixes only).
fn prefixed(body: &str) -> Option<(u32, &str)> {
    [("0x", 16), ("0o", 8), ("0b", 2)].into_iter().find_map(|(p, radix)| body.strip_prefix(p).map(|d| (radix, d)))
}

/// Number syntax, whatever its size: integers (decimal, `0x`, `0o`, `0b`) and floats (`1.`, `.5`, `1e3`).
fn number_shaped(s: &str) -> bool {
    let Some((_, body)) = digits_of(s) else { return false };
    match prefixed(&body) {
        Some((radix, digits)) => !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix)),
        None => float_syntax(&body),
    }
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, without a sign.
fn float_syntax(body: &str) -> bool {
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let all_digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => !frac.is_empty() && all_digits(frac),
        Some((int, frac)) => all_digits(int) && all_digits(frac),
        None => !mantissa.is_empty() && all_digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok
}

/// A number a 64-bit reader accepts: a float only with a decimal point (and finite), an integer that fits
/// in `i64` (or `u64` without a sign), `0x`/`0o`/`0b` prefixes and a leading `0` for octal.
fn number_in_range(s: &str) -> bool {
    let Some((sign, body)) = digits_of(s) else { return false };
    if body.contains('.') {
        return float_syntax(&body) && body.parse::<f64>().is_ok_and(f64::is_finite);
    }
    let (radix, digits) = match prefixed(&body) {
        Some(p) => p,
        None if body.len() > 1 && body.starts_with('0') => (8, &body[1..]),
        None => (10, body.as_str()),
    };
    let Ok(magnitude) = u64::from_str_radix(digits, radix) else { return false };
    !digits.starts_with(['+', '-'])
        && (sign == Sign::None || magnitude <= i64::MAX as u64 + u64::from(sign == Sign::Minus))
}

/// Dates, times and sexagesimal numbers: `2021-01-01`, `12:30`, `2001-12-14t21:59:43.10-05:00`, `1-2`.
/// Digits, signs, dots, colons, spaces and tabs around one separator (`-`, `:`, `t` or `T`), optionally
/// followed by `z` or `Z`.
fn date_shaped(s: &str) -> bool {
    let body = s.strip_suffix(['z', 'Z']).unwrap_or(s);
    let chars: Vec<char> = body.chars().collect();
    let plain = |c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | ':' | '.' | ' ' | '\t');
    let letters: Vec<usize> = (0..chars.len()).filter(|&i| matches!(chars[i], 't' | 'T')).collect();
    if chars.iter().any(|&c| !plain(c) && !matches!(c, 't' | 'T')) || letters.len() > 1 {
        return false;
    }
    let inner = |i: usize| i > 0 && i + 1 < chars.len();
    match letters.first() {
        Some(&i) => inner(i),
        None => (0..chars.len()).any(|i| inner(i) && matches!(chars[i], '-' | ':')),
    }
}

#[cfg(test)]
mod tests {
    use super::reads_as_non_string;

    #[test]
    fn words_numbers_and_dates_read_as_something_else() {
        let quoted = [
            "y",
            "N",
            "yes",
            "Off",
            "TRUE",
            "null",
            "~",
            "t",
            "F",
            ".Nan",
            "---",
            "1",
            "-0",
            "+1",
            "017",
            "08",
            "1.",
            ".5",
            "1e3",
            "1.5E-3",
            "1_000",
            "1_",
            "0x1F",
            "0xFFFFFFFFFFFFFFFFFF",
            "0o17",
            "0b101",
            "-0b1",
            ".inf",
            "-.INF",
            ".NaN",
            "2021-01-01",
            "12:30",
            "1:20:30",
            "1-2",
            "1 - 2",
            "1t2",
            "--1",
            "1-2z",
            "1 ",
            "1.5 ",
            "true ",
            "null ",
            "0x1F ",
            "9223372036854775808 ",
            "1.e3 ",
        ];
        for s in quoted {
            assert!(reads_as_non_string(s), "{s:?} should be quoted");
        }
    }

    #[test]
    fn other_strings_stay_strings() {
        let strings = [
            "",
            "a",
            "nUll",
            "yEs",
            ".nAn",
            "NaN",
            "inf",
            "Infinity",
            "1e",
            "e3",
            "0x",
            "0xG",
            "0X1F",
            "0O17",
            "0o8",
            "_1",
            "1.2.3",
            "1-",
            "-1-",
            "1:a",
            "t1",
            "1t",
            "1-2zz",
            "12 30",
            "1,000",
            "1e3 ",
            "1E3 ",
            "yes ",
            "y ",
            "99999999999999999999 ",
            "1.5e400 ",
            "NaN ",
            "...",
            "--",
        ];
        for s in strings {
            assert!(!reads_as_non_string(s), "{s:?} should stay plain or be quoted for another reason");
        }
    }
}
