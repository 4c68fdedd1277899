//! Limits on one `export` or `vet`, so a pathological input ends with a clear error instead of running
//! away (the sandboxed runtime has fuel and memory limits for the same purpose):
//!
//! - a step budget (`--max-steps`), counted by the evaluator (nodes evaluated or created, comprehension
//!   yields), which stops a comprehension that builds 10^9 elements;
//! - a memory budget (`--max-memory`), the process's resident memory watched while the evaluation runs,
//!   which stops a string doubled 40 times;
//! - a wall-clock timeout (`--timeout`), the backstop for everything else.
//!
//! The defaults are far above what real modules and the conformance corpus need: the generated 100 KB
//! configuration of the `export_vs_cue` bench takes about 80 000 steps and 70 MB, the most demanding
//! conformance case (`list.Repeat` at its limit of a million elements) about 1 000 000 steps and 830 MB.

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The limits of one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most evaluation steps.
    pub max_steps: u64,
    /// The most resident memory, in bytes.
    pub max_memory: u64,
    /// The longest the evaluation may take.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_steps: 3_000_000, max_memory: 2 << 30, timeout: Duration::from_secs(120) }
    }
}

/// A limit that stopped the evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    /// More steps than allowed.
    Steps(u64),
    /// More resident memory than allowed (bytes).
    Memory(u64),
    /// Slower than allowed.
    Time(Duration),
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::Steps(steps) => {
                write!(f, "evaluation stopped: step limit of {steps} steps exceeded; raise it with --max-steps")
            }
            Exceeded::Memory(bytes) => write!(
                f,
                "evaluation stopped: memory limit of {} exceeded; raise it with --max-memory",
                format_size(*bytes)
            ),
            Exceeded::Time(limit) => write!(
                f,
                "evaluation stopped: time limit of {} exceeded; raise it with --timeout",
                format_duration(*limit)
            ),
        }
    }
}

/// The stack of the thread that loads and parses the inputs (the evaluator runs on its own, larger one):
/// more than a main thread's, for deeply nested input.
const WORK_STACK: usize = 64 << 20;

/// How often the memory and the clock are looked at.
const POLL: Duration = Duration::from_millis(10);

/// Runs `work` on its own thread and waits for it within the memory budget and the timeout. On `Err`, the
/// work is abandoned still running: the caller reports and exits.
pub fn watch<T: Send + 'static>(limits: Limits, work: impl FnOnce() -> T + Send + 'static) -> Result<T, Exceeded> {
    let (sender, receiver) = mpsc::channel();
    let started = Instant::now();
    let spawned = std::thread::Builder::new().stack_size(WORK_STACK).spawn(move || {
        let _ = sender.send(work());
    });
    if let Err(e) = spawned {
        panic!("cannot start the evaluation thread: {e}");
    }
    loop {
        match receiver.recv_timeout(POLL) {
            Ok(result) => return Ok(result),
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the evaluation thread ended without a result"),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if started.elapsed() > limits.timeout {
            return Err(Exceeded::Time(limits.timeout));
        }
        if resident_memory().is_some_and(|bytes| bytes > limits.max_memory) {
            return Err(Exceeded::Memory(limits.max_memory));
        }
    }
}

/// The process's resident memory in bytes (`VmRSS` of `/proc/self/status`); `None` where there is no such
/// file (the memory limit is then not enforced).
fn resident_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Units of sizes, largest first.
const SIZE_UNITS: &[(&str, u64)] = &[("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)];

/// Parses a size: bytes, or a number with `Ki`, `Mi` or `Gi` (`512Mi`, `4Gi`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) =
        SIZE_UNITS.iter().find_map(|(suffix, unit)| text.strip_suffix(suffix).map(|d| (d, *unit))).unwrap_or((text, 1));
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|&n| n > 0)
        .ok_or(format!("invalid size {text:?} (e.g. 512Mi, 4Gi or a number of bytes)"))
}

fn format_size(bytes: u64) -> String {
    SIZE_UNITS
        .iter()
        .find(|(_, unit)| bytes >= *unit && bytes.is_multiple_of(*unit))
        .map_or(format!("{bytes} bytes"), |(suffix, unit)| format!("{}{suffix}", bytes / unit))
}

/// Units of durations.
const TIME_UNITS: &[(&str, u64)] = &[("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];

/// Parses a duration: a number with `ms`, `s`, `m` or `h` (`500ms`, `30s`, `5m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    TIME_UNITS
        .iter()
        .find_map(|(suffix, millis)| {
            let digits = text.strip_suffix(suffix)?;
            digits.parse::<u64>().ok()?.checked_mul(*millis)
        })
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
        .ok_or(format!("invalid duration {text:?} (e.g. 500ms, 30s or 5m)"))
}

fn format_duration(limit: Duration) -> String {
    let ms = limit.as_millis() as u64;
    TIME_UNITS
        .iter()
        .rev()
        .find(|(_, unit)| ms >= *unit && ms.is_multiple_of(*unit))
        .map_or(format!("{ms}ms"), |(suffix, unit)| format!("{}{suffix}", ms / unit))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Exceeded, format_duration, format_size, parse_duration, parse_size};

    #[test]
    fn sizes() {
        let table: &[(&str, Option<u64>)] = &[
            ("4Gi", Some(4 << 30)),
            ("512Mi", Some(512 << 20)),
            ("64Ki", Some(64 << 10)),
            ("1000", Some(1000)),
            ("0", None),
            ("lots", None),
            ("1.5Gi", None),
            ("99999999999Gi", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_size(text).ok(), *want, "{text}");
        }
        assert_eq!(format_size(4 << 30), "4Gi");
        assert_eq!(format_size(1536 << 20), "1536Mi");
        assert_eq!(format_size(1000), "1000 bytes");
    }

    #[test]
    fn durations() {
        let table: &[(&str, Option<Duration>)] = &[
            ("500ms", Some(Duration::from_millis(500))),
            ("30s", Some(Duration::from_secs(30))),
            ("5m", Some(Duration::from_secs(300))),
            ("1h", Some(Duration::from_secs(3600))),
            ("0s", None),
            ("30", None),
            ("soon", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_duration(text).ok(), *want, "{text}");
        }
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn errors_name_the_limit_and_the_flag() {
        let table = [
            (Exceeded::Steps(100), "step limit of 100 steps exceeded; raise it with --max-steps"),
            (Exceeded::Memory(1 << 30), "memory limit of 1Gi exceeded; raise it with --max-memory"),
            (Exceeded::Time(Duration::from_secs(2)), "time limit of 2s exceeded; raise it with --timeout"),
        ];
        for (exceeded, want) in table {
            assert!(exceeded.to_string().ends_with(want), "{exceeded}");
        }
    }
}
