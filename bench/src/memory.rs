//! Memory of the processes under test, from `/proc/<pid>/status` (Linux).
//!
//! `VmHWM` is the peak resident set since the process started (or since
//! [`reset_peak_rss`]); `VmRSS` is the resident set now.

use std::fmt;
use std::str::FromStr;

use anyhow::Context;
use serde::Serialize;

use crate::table;

/// The peak resident set of `pid` in KiB (`VmHWM`), if the process exists.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_field(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        "VmHWM",
    )
}

/// The resident set of `pid` in KiB now (`VmRSS`), if the process exists.
pub fn current_rss_kib(pid: u32) -> Option<u64> {
    status_field(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        "VmRSS",
    )
}

/// Starts `pid`'s peak over from its current resident set, so that the peak a scenario
/// reports is its own, not the process's start-up. Needs the right to write its
/// `/proc/<pid>/clear_refs` (the same user, or root).
pub fn reset_peak_rss(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("resetting the peak memory of process {pid}"))
}

/// The value in KiB of `field` in the text of a `/proc/<pid>/status` file.
fn status_field(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// A process to watch, given as `name=pid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    /// What to call it in the report.
    pub name: String,
    /// Its process id.
    pub pid: u32,
}

impl FromStr for Watch {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, pid) = text
            .split_once('=')
            .ok_or_else(|| format!("expected name=pid, got {text:?}"))?;
        let pid = pid
            .trim()
            .parse()
            .map_err(|_| format!("not a process id: {pid:?}"))?;
        Ok(Self {
            name: name.trim().to_owned(),
            pid,
        })
    }
}

/// The memory of one watched process.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// Its name.
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// Peak resident set in KiB; `None` if the process is gone.
    pub peak_kib: Option<u64>,
    /// Resident set now in KiB.
    pub current_kib: Option<u64>,
}

/// The memory of every watched process.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryReport {
    /// One entry per watched process.
    pub processes: Vec<Usage>,
}

impl MemoryReport {
    /// Reads the memory of each of `watches` now.
    pub fn of(watches: &[Watch]) -> Self {
        let processes = watches
            .iter()
            .map(|w| Usage {
                name: w.name.clone(),
                pid: w.pid,
                peak_kib: peak_rss_kib(w.pid),
                current_kib: current_rss_kib(w.pid),
            })
            .collect();
        Self { processes }
    }
}

impl fmt::Display for MemoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib =
            |kib: Option<u64>| kib.map_or("gone".to_owned(), |k| table::num(k as f64 / 1024.0));
        let rows: Vec<Vec<String>> = self
            .processes
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.pid.to_string(),
                    mib(p.peak_kib),
                    mib(p.current_kib),
                ]
            })
            .collect();
        table::write(
            f,
            &["process", "pid", "peak MiB (VmHWM)", "now MiB (VmRSS)"],
            &rows,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kib() {
        let status =
            "Name:\tward\nVmPeak:\t  900000 kB\nVmHWM:\t   52712 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(status_field(status, "VmHWM"), Some(52712));
        assert_eq!(status_field(status, "VmRSS"), Some(40000));
        assert_eq!(status_field(status, "VmSwap"), None);
    }

    #[test]
    fn the_peak_is_this_process_s_largest_size_until_reset() -> anyhow::Result<()> {
        // One test, as the reset changes what every other reading of this process sees.
        let pid = std::process::id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let (peak, now) = (
            status_field(&status, "VmHWM"),
            status_field(&status, "VmRSS"),
        );
        assert!(peak.is_some() && peak >= now, "{peak:?} {now:?}");

        // 64 MiB touched and returned to the system, then the peak starts over.
        drop(std::hint::black_box(vec![1u8; 64 << 20]));
        assert!(peak_rss_kib(pid) >= now.map(|kib| kib + 60 * 1024));
        reset_peak_rss(pid)?;
        let (peak, now) = (peak_rss_kib(pid), current_rss_kib(pid));
        let near = peak
            .zip(now)
            .is_some_and(|(peak, now)| peak < now + 32 * 1024);
        assert!(near, "{peak:?} {now:?}");
        Ok(())
    }

    #[test]
    fn watches_are_name_equals_pid() {
        assert_eq!(
            "ward=42".parse(),
            Ok(Watch {
                name: "ward".to_owned(),
                pid: 42
            })
        );
        assert!("ward".parse::<Watch>().is_err());
        assert!("ward=x".parse::<Watch>().is_err());
    }
}
