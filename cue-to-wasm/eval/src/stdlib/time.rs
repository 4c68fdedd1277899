//! The `time` package: RFC 3339 times, Unix conversions and Go durations.

use crate::builtins::{Fail, Func, f, i64_arg, int, s, str_arg, v};
use crate::value::{Kinds, Value};

/// Non-function members of `time`: layouts and duration units.
pub(crate) const PRELUDE: &str = r#"ANSIC: "Mon Jan _2 15:04:05 2006"
UnixDate: "Mon Jan _2 15:04:05 MST 2006"
RubyDate: "Mon Jan 02 15:04:05 -0700 2006"
RFC822: "02 Jan 06 15:04 MST"
RFC822Z: "02 Jan 06 15:04 -0700"
RFC850: "Monday, 02-Jan-06 15:04:05 MST"
RFC1123: "Mon, 02 Jan 2006 15:04:05 MST"
RFC1123Z: "Mon, 02 Jan 2006 15:04:05 -0700"
RFC3339: "2006-01-02T15:04:05Z07:00"
RFC3339Nano: "2006-01-02T15:04:05.999999999Z07:00"
RFC3339Date: "2006-01-02"
Kitchen: "3:04PM"
Kitchen24: "15:04"
Nanosecond: 1
Microsecond: 1000
Millisecond: 1000000
Second: 1000000000
Minute: 60000000000
Hour: 3600000000000
"#;

/// A parsed RFC 3339 time: seconds since the epoch (UTC), nanoseconds, and the zone offset in seconds.
struct Time {
    secs: i64,
    nanos: i64,
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

const LAYOUT: &str = "2006-01-02T15:04:05.999999999Z07:00";

fn parse_rfc3339(text: &str) -> Result<Time, String> {
    let err = |what: &str| format!("parsing time {text:?} as {LAYOUT:?}: cannot parse {what}");
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = text.get(from..from + len)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let year = num(0, 4).ok_or_else(|| err(&format!("{text:?} as \"2006\"")))?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !matches!(b.get(10), Some(b'T' | b't')) {
        return Err(err(&format!("{:?} as \"-\"", text.get(4..).unwrap_or(""))));
    }
    let (month, day) = (num(5, 2).ok_or_else(|| err("month"))?, num(8, 2).ok_or_else(|| err("day"))?);
    let (hour, min, sec) = (
        num(11, 2).ok_or_else(|| err("hour"))?,
        num(14, 2).ok_or_else(|| err("minute"))?,
        num(17, 2).ok_or_else(|| err("second"))?,
    );
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return Err(err("time"));
    }
    if !(1..=12).contains(&month) {
        return Err(format!("parsing time {text:?}: month out of range"));
    }
    if !(1..=31).contains(&day) {
        return Err(format!("parsing time {text:?}: day out of range"));
    }
    if hour > 23 {
        return Err(format!("parsing time {text:?}: hour out of range"));
    }
    if min > 59 {
        return Err(format!("parsing time {text:?}: minute out of range"));
    }
    if sec > 59 {
        return Err(format!("parsing time {text:?}: second out of range"));
    }
    let mut pos = 19;
    let mut nanos = 0i64;
    if b.get(pos) == Some(&b'.') {
        let start = pos + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let digits = &text[start..end];
        if digits.is_empty() {
            return Err(err("fraction"));
        }
        let padded = format!("{:0<9}", &digits[..digits.len().min(9)]);
        nanos = padded.parse().unwrap_or(0);
        pos = end;
    }
    let offset = match text.get(pos..) {
        Some("Z" | "z") => 0,
        Some(z) if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && &z[3..4] == ":" => {
            let h: i64 = z[1..3].parse().map_err(|_| err("zone"))?;
            let m: i64 = z[4..6].parse().map_err(|_| err("zone"))?;
            let o = h * 3600 + m * 60;
            if z.starts_with('-') { -o } else { o }
        }
        Some(rest) => return Err(format!("parsing time {text:?} as {LAYOUT:?}: cannot parse {rest:?} as \"Z07:00\"")),
        None => return Err(err("zone")),
    };
    let days = days_from_civil(year, month, day);
    Ok(Time { secs: days * 86_400 + hour * 3600 + min * 60 + sec - offset, nanos })
}

fn format_utc(secs: i64, nanos: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let frac = if nanos == 0 {
        String::new()
    } else {
        let text = format!("{nanos:09}");
        format!(".{}", text.trim_end_matches('0'))
    };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn parse_duration(text: &str) -> Result<i128, String> {
    let bad = || format!("time: invalid duration {text:?}");
    let (neg, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(bad)?;
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * unit;
        rest = &rest[u..];
    }
    Ok(if neg { -(total.round() as i128) } else { total.round() as i128 })
}

fn format_duration(d: i128) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (div, unit) = if u < 1000 {
            (1, "ns")
        } else if u < 1_000_000 {
            (1000, "µs")
        } else {
            (1_000_000, "ms")
        };
        out.push_str(&frac(u, div));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let m = u / 60_000_000_000 % 60;
        let secs = u % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(secs, 1_000_000_000));
        out.push('s');
    }
    if neg { format!("-{out}") } else { out }
}

fn frac(x: u128, div: u128) -> String {
    let whole = x / div;
    let rest = x % div;
    if rest == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// The `time` package.
pub(crate) static TIME: &[Func] = &[
    v("time.Time", 1, Kinds::STRING, |_, a, _| {
        let text = str_arg(&a[0], 0)?;
        match parse_rfc3339(&text) {
            Ok(_) => Ok(Value::Bool(true)),
            Err(_) => Err(Fail::Msg(format!("invalid time {text:?}"))),
        }
    }),
    v("time.Duration", 1, Kinds::STRING, |_, a, _| {
        let text = str_arg(&a[0], 0)?;
        parse_duration(&text).map(|_| Value::Bool(true)).map_err(Fail::Msg)
    }),
    f("time.ParseDuration", 1, |_, a, _| {
        let text = str_arg(&a[0], 0)?;
        int(parse_duration(&text).map_err(Fail::Msg)?)
    }),
    f("time.FormatDuration", 1, |_, a, _| {
        let n = crate::builtins::int_arg(&a[0], 0)?;
        let d = num_traits::ToPrimitive::to_i128(&n).ok_or_else(|| Fail::Msg("duration out of range".into()))?;
        s(format_duration(d))
    }),
    f("time.Unix", 2, |_, a, _| {
        let (secs, nanos) = (i64_arg(&a[0], 0)?, i64_arg(&a[1], 1)?);
        let total = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        s(format_utc(total.div_euclid(1_000_000_000) as i64, total.rem_euclid(1_000_000_000) as i64))
    }),
    f("time.ToUnix", 1, |_, a, _| {
        let t = parse_rfc3339(&str_arg(&a[0], 0)?).map_err(Fail::Msg)?;
        int(t.secs)
    }),
    f("time.ToUnixNano", 1, |_, a, _| {
        let t = parse_rfc3339(&str_arg(&a[0], 0)?).map_err(Fail::Msg)?;
        int(i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos))
    }),
    f("time.Split", 1, |ev, a, ctx| {
        let t = parse_rfc3339(&str_arg(&a[0], 0)?).map_err(Fail::Msg)?;
        let (y, m, d) = civil_from_days(t.secs.div_euclid(86_400));
        let rem = t.secs.rem_euclid(86_400);
        let fields = vec![
            ("year".to_string(), Value::int(y)),
            ("month".to_string(), Value::int(m)),
            ("day".to_string(), Value::int(d)),
            ("hour".to_string(), Value::int(rem / 3600)),
            ("minute".to_string(), Value::int(rem % 3600 / 60)),
            ("second".to_string(), Value::int(rem % 60)),
            ("nanosecond".to_string(), Value::int(t.nanos)),
        ];
        Ok(ev.make_struct(ctx, fields))
    }),
    f("time.Format", 2, |_, a, _| {
        let (value, layout) = (str_arg(&a[0], 0)?, str_arg(&a[1], 1)?);
        let t = parse_rfc3339(&value).map_err(Fail::Msg)?;
        if &*layout == "2006-01-02T15:04:05Z07:00" || &*layout == LAYOUT {
            return s(format_utc(t.secs, if &*layout == LAYOUT { t.nanos } else { 0 }));
        }
        Err(Fail::Msg(format!("unsupported feature: time layout {layout:?}")))
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_unix_times() {
        assert_eq!(format_utc(1_500_000_000, 123_456), "2017-07-14T02:40:00.000123456Z");
        let t = parse_rfc3339("2019-01-02T15:04:05-08:00").expect("parses");
        assert_eq!(t.secs, 1_546_470_245);
        assert_eq!(format_duration(10_920_000_000_000), "3h2m0s");
        assert_eq!(format_duration(600_000_000), "600ms");
    }
}
