//! The `net` package: IP addresses and CIDR prefixes (as strings or byte lists), host names, URLs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::builtins::{ANY, Fail, Func, Res, concrete, f, i64_arg, int, s, str_arg, v};
use crate::eval::Evaluator;
use crate::num::Num;
use crate::ops;
use crate::value::{Kinds, VId, Value};

/// Non-function members of `net`.
pub(crate) const PRELUDE: &str = "IPv4len: 4\nIPv6len: 16\n";

fn parse_addr(text: &str) -> Result<IpAddr, Fail> {
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Ok(IpAddr::V4(ip));
    }
    if let Ok(ip) = text.parse::<Ipv6Addr>() {
        return Ok(IpAddr::V6(ip));
    }
    let why = if text.contains(':') {
        match text.split(':').find(|g| g.len() > 4 && !g.contains('.')) {
            Some(g) => format!("each group must have 4 or less digits (at {:?})", g),
            None => "unable to parse IP".into(),
        }
    } else if text.split('.').count() == 4 && text.split('.').any(|p| p.parse::<u32>().is_ok_and(|n| n > 255)) {
        "IPv4 field has value >255".into()
    } else {
        "unable to parse IP".into()
    };
    Err(Fail::Msg(format!("ParseAddr({text:?}): {why}")))
}

/// An IP address argument: a string or a list of 4 or 16 bytes.
fn ip_of(ev: &mut Evaluator<'_>, x: &Value, i: usize) -> Result<IpAddr, Fail> {
    match concrete(x, i)? {
        Value::Str(text) => parse_addr(&text),
        Value::List(t) => {
            let items = crate::builtins::list_values(ev, t).map_err(Fail::Value)?;
            let bytes: Option<Vec<u8>> = items
                .iter()
                .map(|v| match ops::default_of(v) {
                    Value::Num(n) => n.to_i64().and_then(|n| u8::try_from(n).ok()),
                    _ => None,
                })
                .collect();
            match bytes.as_deref() {
                Some([a, b, c, d]) => Ok(IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d))),
                Some(b) if b.len() == 16 => {
                    let mut arr = [0u8; 16];
                    arr.copy_from_slice(b);
                    Ok(IpAddr::V6(Ipv6Addr::from(arr)))
                }
                _ => Err(Fail::Msg(format!("invalid IP {}", list_text(&items)))),
            }
        }
        other => Err(Fail::Msg(format!("invalid type {} for IP address", other.kinds().name()))),
    }
}

fn list_text(items: &[Value]) -> String {
    let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

fn parse_prefix(text: &str) -> Result<(IpAddr, u8), Fail> {
    let Some((addr, len)) = text.split_once('/') else {
        return Err(Fail::Msg(format!("netip.ParsePrefix({text:?}): no '/'")));
    };
    let ip = parse_addr(addr).map_err(|_| Fail::Msg(format!("netip.ParsePrefix({text:?}): bad address")))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match len.parse::<u8>() {
        Ok(n) if n <= max && !len.starts_with('+') && (len == "0" || !len.starts_with('0')) => Ok((ip, n)),
        _ => Err(Fail::Msg(format!("netip.ParsePrefix({text:?}): bad bits after slash: {len:?}"))),
    }
}

fn prefix_arg(x: &Value, i: usize) -> Result<(IpAddr, u8), Fail> {
    match concrete(x, i)? {
        Value::Str(text) => parse_prefix(&text),
        other => Err(Fail::Msg(format!("invalid type {} for IP CIDR", other.kinds().name()))),
    }
}

fn to_u128(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), true),
        IpAddr::V6(v6) => (u128::from(v6), false),
    }
}

fn from_u128(x: u128, v4: bool) -> IpAddr {
    if v4 { IpAddr::V4(Ipv4Addr::from(x as u32)) } else { IpAddr::V6(Ipv6Addr::from(x)) }
}

fn mask(len: u8, v4: bool) -> u128 {
    let bits = if v4 { 32 } else { 128 };
    if len == 0 {
        return 0;
    }
    let all = if v4 { u128::from(u32::MAX) } else { u128::MAX };
    all & !((1u128 << (bits - u32::from(len))) - 1).min(all)
}

fn add(ip: IpAddr, n: i64) -> Result<IpAddr, Fail> {
    let (x, v4) = to_u128(ip);
    let max = if v4 { u128::from(u32::MAX) } else { u128::MAX };
    let result = if n < 0 { x.checked_sub(n.unsigned_abs() as u128) } else { x.checked_add(n as u128) };
    match result {
        Some(r) if r <= max => Ok(from_u128(r, v4)),
        _ => {
            let which = if n < 0 { "underflow" } else { "overflow" };
            Err(Fail::Msg(format!("IP address arithmetic resulted in out-of-range address ({which})")))
        }
    }
}

fn show(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
            let v4 = v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED);
            format!("::ffff:{v4}")
        }
        other => other.to_string(),
    }
}

fn bytes_list(ev: &mut Evaluator<'_>, ctx: VId, bytes: &[u8]) -> Res {
    let items = bytes.iter().map(|b| Value::int(i64::from(*b))).collect();
    Ok(ev.make_list(ctx, items))
}

fn is_fqdn(text: &str) -> bool {
    let body = text.strip_suffix('.').unwrap_or(text);
    if body.is_empty() || text.len() > 254 {
        return false;
    }
    body.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// Percent-escapes like Go's `url.PathEscape` (`query` false) or `url.QueryEscape`.
fn escape(text: &str, query: bool) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (!query && matches!(b, b'$' | b'&' | b'+' | b',' | b':' | b';' | b'=' | b'@'));
        if keep {
            out.push(b as char);
        } else if query && b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape(text: &str, query: bool) -> Result<String, Fail> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3).filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
                let Some(hex) = hex else {
                    let bad = text.get(i..(i + 3).min(text.len())).unwrap_or("%");
                    return Err(Fail::Msg(format!("invalid URL escape {bad:?}")));
                };
                out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                i += 3;
            }
            b'+' if query => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn check_url(text: &str) -> Result<bool, Fail> {
    for (i, _) in text.match_indices('%') {
        let hex = text.get(i + 1..i + 3).filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
        if hex.is_none() {
            let bad = text.get(i..(i + 3).min(text.len())).unwrap_or("%");
            return Err(Fail::Msg(format!("parse {text:?}: invalid URL escape {bad:?}")));
        }
    }
    let scheme = text.split_once(':').map(|(s, _)| s).filter(|s| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    Ok(scheme.is_some())
}

fn ip_check(ev: &mut Evaluator<'_>, x: &Value, pred: fn(IpAddr) -> bool) -> Res {
    Ok(Value::Bool(pred(ip_of(ev, x, 0)?)))
}

/// The `net` package.
pub(crate) static NET: &[Func] = &[
    v("net.IP", 1, ANY, |ev, a, _| ip_check(ev, &a[0], |_| true)),
    v("net.IPv4", 1, ANY, |ev, a, _| ip_check(ev, &a[0], |ip| ip.is_ipv4())),
    v("net.IPv6", 1, ANY, |ev, a, _| ip_check(ev, &a[0], |ip| ip.is_ipv6())),
    v("net.IPCIDR", 1, ANY, |_, a, _| prefix_arg(&a[0], 0).map(|_| Value::Bool(true))),
    v("net.LoopbackIP", 1, ANY, |ev, a, _| ip_check(ev, &a[0], |ip| ip.is_loopback())),
    v("net.MulticastIP", 1, ANY, |ev, a, _| ip_check(ev, &a[0], |ip| ip.is_multicast())),
    v("net.UnspecifiedIP", 1, ANY, |ev, a, _| ip_check(ev, &a[0], |ip| ip.is_unspecified())),
    v("net.LinkLocalUnicastIP", 1, ANY, |ev, a, _| {
        ip_check(ev, &a[0], |ip| match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        })
    }),
    v("net.GlobalUnicastIP", 1, ANY, |ev, a, _| {
        ip_check(ev, &a[0], |ip| {
            !(ip.is_loopback() || ip.is_multicast() || ip.is_unspecified())
                && match ip {
                    IpAddr::V4(v4) => !v4.is_link_local() && !v4.is_broadcast(),
                    IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
                }
        })
    }),
    v("net.FQDN", 1, Kinds::STRING, |_, a, _| Ok(Value::Bool(is_fqdn(&str_arg(&a[0], 0)?)))),
    v("net.InCIDR", 2, ANY, |ev, a, _| {
        let ip = ip_of(ev, &a[0], 0)?;
        let (net, len) = prefix_arg(&a[1], 1)?;
        let ((x, v4), (n, nv4)) = (to_u128(ip), to_u128(net));
        Ok(Value::Bool(v4 == nv4 && (x & mask(len, v4)) == (n & mask(len, v4))))
    }),
    f("net.ParseIP", 1, |ev, a, ctx| {
        let ip = ip_of(ev, &a[0], 0)?;
        let bytes = match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        bytes_list(ev, ctx, &bytes)
    }),
    f("net.ToIP4", 1, |ev, a, ctx| match ip_of(ev, &a[0], 0)? {
        IpAddr::V4(v4) => bytes_list(ev, ctx, &v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => bytes_list(ev, ctx, &v4.octets()),
            None => Err("cannot convert to IPv4".into()),
        },
    }),
    f("net.ToIP16", 1, |ev, a, ctx| {
        let bytes = match ip_of(ev, &a[0], 0)? {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        bytes_list(ev, ctx, &bytes)
    }),
    f("net.IPString", 1, |ev, a, _| s(show(ip_of(ev, &a[0], 0)?))),
    f("net.CompareIP", 2, |ev, a, _| {
        let x = ip_of(ev, &a[0], 0)?;
        let y = ip_of(ev, &a[1], 1)?;
        let key = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => (0, u128::from(u32::from(v4))),
            IpAddr::V6(v6) => (1, u128::from(v6)),
        };
        int(key(x).cmp(&key(y)) as i64)
    }),
    f("net.AddIP", 2, |ev, a, _| {
        let n = i64_arg(&a[1], 1)?;
        if let Ok(Value::Str(text)) = concrete(&a[0], 0)
            && text.contains('/')
        {
            let (ip, len) = parse_prefix(&text)?;
            return s(format!("{}/{len}", show(add(ip, n)?)));
        }
        let ip = ip_of(ev, &a[0], 0)?;
        s(show(add(ip, n)?))
    }),
    f("net.AddIPCIDR", 2, |_, a, _| {
        let (ip, len) = prefix_arg(&a[0], 0)?;
        let n = i64_arg(&a[1], 1)?;
        let v4 = ip.is_ipv4();
        let bits = if v4 { 32 } else { 128 };
        let step = 1i128.checked_shl(bits - u32::from(len)).unwrap_or(0);
        let (x, _) = to_u128(ip);
        let base = x & mask(len, v4);
        let delta = i128::from(n).saturating_mul(step);
        let max = if v4 { i128::from(u32::MAX) } else { i128::MAX };
        let result = (base as i128).checked_add(delta).filter(|r| *r >= 0 && *r <= max);
        match result {
            Some(r) => s(format!("{}/{len}", show(from_u128(r as u128, v4)))),
            None => {
                let which = if n < 0 { "underflow" } else { "overflow" };
                Err(Fail::Msg(format!("IP address arithmetic resulted in out-of-range address ({which})")))
            }
        }
    }),
    f("net.ParseCIDR", 1, |ev, a, ctx| {
        let (ip, len) = prefix_arg(&a[0], 0)?;
        let (x, v4) = to_u128(ip);
        let m = mask(len, v4);
        let mut fields = vec![
            ("prefix_mask".to_string(), Value::string(&show(from_u128(m, v4)))),
            ("prefix_len".to_string(), Value::int(i64::from(len))),
            ("prefix_addr".to_string(), Value::string(&show(from_u128(x & m, v4)))),
        ];
        if v4 {
            let all = u128::from(u32::MAX);
            fields.push(("broadcast_addr".to_string(), Value::string(&show(from_u128((x & m) | (all & !m), v4)))));
        }
        Ok(ev.make_struct(ctx, fields))
    }),
    f("net.SplitHostPort", 1, |ev, a, ctx| {
        let text = str_arg(&a[0], 0)?;
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let Some((host, port)) = rest.split_once("]:") else {
                return Err(Fail::Msg(format!("address {text}: missing port in address")));
            };
            (host.to_string(), port.to_string())
        } else {
            match text.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => {
                    return Err(Fail::Msg(format!("address {text}: too many colons in address")));
                }
                Some((h, p)) => (h.to_string(), p.to_string()),
                None => return Err(Fail::Msg(format!("address {text}: missing port in address"))),
            }
        };
        let items = vec![Value::string(&host), Value::string(&port)];
        Ok(ev.make_list(ctx, items))
    }),
    f("net.JoinHostPort", 2, |ev, a, _| {
        let host = match concrete(&a[0], 0)? {
            Value::Str(h) => h.to_string(),
            Value::List(t) => {
                let items = crate::builtins::list_values(ev, t).map_err(Fail::Value)?;
                match ip_of(ev, &a[0], 0) {
                    Ok(ip) => show(ip),
                    Err(_) => return Err(Fail::Msg(format!("invalid host {}", list_text(&items)))),
                }
            }
            other => return Err(Fail::Type(0, other, "string")),
        };
        let port = match concrete(&a[1], 1)? {
            Value::Str(p) => p.to_string(),
            Value::Num(n @ Num::Int(_)) => n.to_string(),
            other => return Err(Fail::Type(1, other, "string")),
        };
        s(if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") })
    }),
    f("net.PathEscape", 1, |_, a, _| s(escape(&str_arg(&a[0], 0)?, false))),
    f("net.QueryEscape", 1, |_, a, _| s(escape(&str_arg(&a[0], 0)?, true))),
    f("net.PathUnescape", 1, |_, a, _| s(unescape(&str_arg(&a[0], 0)?, false)?)),
    f("net.QueryUnescape", 1, |_, a, _| s(unescape(&str_arg(&a[0], 0)?, true)?)),
    v("net.URL", 1, Kinds::STRING, |_, a, _| check_url(&str_arg(&a[0], 0)?).map(|_| Value::Bool(true))),
    v("net.AbsURL", 1, Kinds::STRING, |_, a, _| {
        if check_url(&str_arg(&a[0], 0)?)? { Ok(Value::Bool(true)) } else { Err("URL is not absolute".into()) }
    }),
];
