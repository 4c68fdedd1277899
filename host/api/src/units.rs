//! Parsing of sizes (`256Mi`) and durations (`1500ms`), as written in CLI flags and in PlatformPolicies.

use std::time::Duration;

/// Parses a byte size: a plain number, or one with a binary (`Ki`, `Mi`, `Gi`) or decimal (`K`, `M`, `G`)
/// suffix, as Kubernetes quantities are written.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: usize = number.parse().map_err(|_| format!("{text:?} is not a size like 256Mi or 1048576"))?;
    let multiplier: usize = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        other => return Err(format!("unknown size suffix {other:?} in {text:?}; use Ki, Mi, Gi, K, M or G")),
    };
    number.checked_mul(multiplier).ok_or_else(|| format!("{text:?} is too large"))
}

/// Parses a duration: a number with `ms`, `s`, `m` or `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 1500ms, 2s or 1m"))?;
    match suffix {
        "ms" => Ok(Duration::from_millis(number)),
        "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(number.saturating_mul(3600))),
        _ => Err(format!("{text:?} needs a unit: ms, s, m or h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("256Mi"), Ok(256 << 20));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("2M"), Ok(2_000_000));
        assert!(parse_bytes("12Xi").unwrap_err().contains("unknown size suffix"));
        assert!(parse_bytes("Mi").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("2").unwrap_err().contains("needs a unit"));
    }
}
