//! The tool's own process, read from `/proc/self` (proc(5)) at every StatsD flush: a load
//! generator short of memory, threads or file descriptors measures itself, not the CA, and
//! operators need to see that next to the load metrics.

use std::io;
use std::time::Instant;

/// One reading of `/proc/self`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub threads: u64,
    pub open_fds: u64,
    /// CPU time in clock ticks (`utime`, `stime` of `/proc/self/stat`).
    pub user_ticks: u64,
    pub system_ticks: u64,
}

/// Reads status, stat and the fd directory of this process.
pub fn read() -> io::Result<Reading> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let open_fds = std::fs::read_dir("/proc/self/fd")?.count() as u64;
    let (user_ticks, system_ticks) = parse_stat(&stat)?;
    Ok(Reading {
        resident_bytes: status_kib(&status, "VmRSS:")? * 1024,
        virtual_bytes: status_kib(&status, "VmSize:")? * 1024,
        threads: status_kib(&status, "Threads:")?,
        open_fds,
        user_ticks,
        system_ticks,
    })
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("/proc/self: {what}"))
}

/// The number after `key` in `/proc/self/status` (kB for memory lines).
fn status_kib(status: &str, key: &str) -> io::Result<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| malformed(&format!("status has no {key}")))
}

/// `utime` and `stime`, fields 14 and 15 of `/proc/self/stat`. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat(stat: &str) -> io::Result<(u64, u64)> {
    let after_name = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| malformed("stat has no command name"))?;
    let mut fields = after_name.split_whitespace().skip(11);
    let mut next = || {
        fields
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| malformed("stat is too short"))
    };
    Ok((next()?, next()?))
}

/// Turns successive readings into gauges, CPU as percent of one core since the previous one.
pub struct ProcStats {
    ticks_per_s: f64,
    last: Option<(Instant, Reading)>,
}

impl Default for ProcStats {
    fn default() -> Self {
        // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        ProcStats {
            ticks_per_s: if hz > 0 { hz as f64 } else { 100.0 },
            last: None,
        }
    }
}

impl ProcStats {
    /// Gauge names and values (`ResidentMemory` bytes, `VirtualMemory` bytes, `Threads`,
    /// `OpenFiles`, `CpuUserPercent`, `CpuSystemPercent`).
    pub fn sample(&mut self) -> io::Result<Vec<(&'static str, f64)>> {
        let now = Instant::now();
        let r = read()?;
        let (user, system) = match self.last {
            Some((then, prev)) => {
                let secs = now.duration_since(then).as_secs_f64().max(1e-3);
                let pct = |ticks: u64, prev: u64| {
                    ticks.saturating_sub(prev) as f64 / self.ticks_per_s / secs * 100.0
                };
                (
                    pct(r.user_ticks, prev.user_ticks),
                    pct(r.system_ticks, prev.system_ticks),
                )
            }
            None => (0.0, 0.0),
        };
        self.last = Some((now, r));
        Ok(vec![
            ("ResidentMemory", r.resident_bytes as f64),
            ("VirtualMemory", r.virtual_bytes as f64),
            ("Threads", r.threads as f64),
            ("OpenFiles", r.open_fds as f64),
            ("CpuUserPercent", user),
            ("CpuSystemPercent", system),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let r = read().unwrap();
        assert!(r.resident_bytes > 1 << 20, "{r:?}");
        assert!(r.virtual_bytes >= r.resident_bytes, "{r:?}");
        assert!(r.threads >= 1 && r.open_fds >= 3, "{r:?}");
    }

    /// CPU time this thread has used, in ticks.
    fn thread_ticks() -> u64 {
        let (user, system) =
            parse_stat(&std::fs::read_to_string("/proc/thread-self/stat").unwrap()).unwrap();
        user + system
    }

    #[test]
    fn cpu_is_measured_between_samples() {
        let mut p = ProcStats::default();
        let first = p.sample().unwrap();
        assert_eq!(first[4], ("CpuUserPercent", 0.0));
        // Busy until this thread has used 10 ticks (100 ms at the usual 100 Hz), at most 10 s.
        let (start, started) = (thread_ticks(), Instant::now());
        let mut x = 0u64;
        while thread_ticks() < start + 10 && started.elapsed().as_secs() < 10 {
            for _ in 0..100_000 {
                x = x.wrapping_mul(31).wrapping_add(7);
            }
        }
        std::hint::black_box(x);
        let second = p.sample().unwrap();
        let busy = second[4].1 + second[5].1;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        // Other tests run in this process meanwhile, and clock ticks are 10 ms over a ~100 ms
        // interval: a plausibility bound, not an exact one.
        assert!(busy > 0.0 && busy <= 100.0 * cores + 25.0, "{busy}%");
    }

    #[test]
    fn stat_with_odd_command_names() {
        let stat = "42 (a) b (c)) R 1 1 1 0 -1 4194304 101 0 0 0 17 23 0 0 20 0 1 0";
        assert_eq!(parse_stat(stat).unwrap(), (17, 23));
        assert!(parse_stat("42 (x) R 1").is_err());
    }
}
