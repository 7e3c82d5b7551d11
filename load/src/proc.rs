//! A process's resident memory and CPU time, read from Linux `/proc`.

use serde::Serialize;

/// Linux reports CPU time in clock ticks of 1/100 s (USER_HZ) on every mainstream platform.
const TICKS_PER_SECOND: u64 = 100;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProcStat {
    /// Resident set size now, KiB.
    pub rss_kib: u64,
    /// The largest resident set size so far, KiB.
    pub peak_rss_kib: u64,
    /// User + system CPU time so far, ms.
    pub cpu_ms: u64,
}

impl ProcStat {
    /// Reads process `pid`; `None` if it is gone or `/proc` is unavailable.
    pub fn read(pid: u32) -> Option<ProcStat> {
        Self::read_path(&pid.to_string())
    }

    /// Reads this process.
    pub fn read_self() -> Option<ProcStat> {
        Self::read_path("self")
    }

    fn read_path(pid: &str) -> Option<ProcStat> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib = |key: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) may hold spaces; the fields after its `)` are plain.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after `)`.
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(ProcStat {
            rss_kib: kib("VmRSS:")?,
            peak_rss_kib: kib("VmHWM:").unwrap_or(0),
            cpu_ms: ticks * 1000 / TICKS_PER_SECOND,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ProcStat;

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        let me = ProcStat::read_self().expect("/proc/self");
        assert!(me.rss_kib > 0);
        assert!(me.peak_rss_kib >= me.rss_kib);
    }
}
