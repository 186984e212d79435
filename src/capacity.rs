//! Whether this machine can hold what a schedule asks for, checked before a run starts and
//! before a reload applies: each attacker, with the chain it runs, costs memory, and
//! connections cost file descriptors. A schedule beyond the machine is refused, naming the
//! limit and how to raise it, instead of growing until the kernel's out-of-memory killer ends
//! the process.

use crate::config::Settings;
use crate::schedule::shard::Shard;
use crate::schedule::Schedule;

/// Resident memory planned per attacker with a chain in flight: twice the measured 16 KiB
/// (docs/running.md#limits: an idle attacker 1.5–2.3 KiB, one whose chain waits on the CA 16 KiB
/// in `hammer` and `rate` runs alike), for chains holding certificates and responses.
pub const BYTES_PER_ATTACKER: u64 = 32 * 1024;

/// Share of the available memory (percent) the attackers may plan on: the rest stays for the
/// tool's own buffers, the metrics and the machine.
const MEMORY_SHARE_PERCENT: u64 = 80;

/// File descriptors the process uses besides connections: standard streams, event loops per
/// thread, the config watcher, StatsD, listening sockets.
const BASE_DESCRIPTORS: u64 = 64;

/// What the machine offers, read at start and at each reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    /// `MemAvailable` of /proc/meminfo, in bytes (`None` where it cannot be read: no check).
    pub mem_available: Option<u64>,
    /// The soft `RLIMIT_NOFILE`, after [`raise_nofile_limit`].
    pub nofile: u64,
}

impl Machine {
    pub fn read() -> Machine {
        Machine {
            mem_available: mem_available(),
            nofile: nofile_limit().0,
        }
    }
}

/// A schedule the machine cannot hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CapacityError {
    #[error(
        "{schedule}: {count} {what} would need about {need} of memory (about {each} each, \
         planned from measurements), but this machine has {available} available (MemAvailable in \
         /proc/meminfo; the tool plans on at most {MEMORY_SHARE_PERCENT}% of it): at most \
         {fit} {what} fit. {lower}, or free memory or use a larger machine"
    )]
    Memory {
        schedule: String,
        what: &'static str,
        count: usize,
        need: Bytes,
        each: Bytes,
        available: Bytes,
        fit: u64,
        lower: &'static str,
    },
    #[error(
        "{schedule}: the run needs up to {need} file descriptors ({connections} connections to \
         the CA, {listeners} for the listeners, {BASE_DESCRIPTORS} for the process), but the \
         limit is {limit} (RLIMIT_NOFILE, already raised to its hard limit): raise the hard \
         limit (`ulimit -Hn` as root, LimitNOFILE= in a systemd unit, --ulimit nofile= for \
         docker), or lower challenge.max_connections or target.connections_per_thread"
    )]
    Descriptors {
        schedule: String,
        need: u64,
        connections: u64,
        listeners: u64,
        limit: u64,
    },
}

/// A size in bytes, shown in binary units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl std::fmt::Display for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        match unit {
            0 => write!(f, "{} bytes", self.0),
            _ => write!(f, "{value:.1} {}", UNITS[unit]),
        }
    }
}

/// The attackers a schedule keeps at its peak (closed model; a shard its share), or its chains
/// in flight at most (open model, where each runs on an attacker of its own; `max_in_flight`
/// is per shard), with the words for a refusal.
fn slots(schedule: &Schedule, shard: Option<Shard>) -> (usize, &'static str, &'static str) {
    match schedule {
        Schedule::Workers(w) => (
            shard.map_or_else(|| w.peak(), |s| s.peak(w)),
            "attackers",
            "Lower the attacker count (WORKERNUM, FINALWORKERS)",
        ),
        Schedule::Rate(r) => (
            r.max_in_flight,
            "chains in flight",
            "Lower --max-in-flight (schedule.max_in_flight)",
        ),
    }
}

/// The descriptors `settings` may hold open with `slots` attackers: one connection to the CA
/// per chain in flight at most (chains make one request at a time) within the connection
/// pools, every listener's cap, the control API's, the database's pool.
fn descriptors(slots: usize, settings: &Settings) -> (u64, u64) {
    let threads = match settings.run.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let pools = (threads as u64).saturating_mul(settings.target.connections_per_thread as u64);
    let connections = pools.min(slots as u64);
    let c = &settings.challenge;
    let tcp_listeners = [
        !c.http01_listen.is_empty(),
        !c.tlsalpn01_listen.is_empty(),
        !c.dns_listen.is_empty(),
        !c.doh_listen.is_empty(),
    ];
    let mut listeners =
        tcp_listeners.iter().filter(|on| **on).count() as u64 * c.max_connections as u64;
    if settings.control.enabled {
        listeners += crate::config::control::MAX_CONNECTIONS as u64;
    }
    if settings.db.url.is_some() {
        listeners += u64::from(settings.db.pool_size);
    }
    (connections, listeners)
}

/// Refuses `schedule` (this `shard`'s part of it) under `settings` if `machine` cannot hold it.
/// With `running` (a reload), only the memory beyond what the running schedule already holds
/// must be available.
pub fn check(
    schedule: &Schedule,
    shard: Option<Shard>,
    settings: &Settings,
    machine: &Machine,
    running: Option<&Schedule>,
) -> Result<(), CapacityError> {
    let (count, what, lower) = slots(schedule, shard);
    let describe = schedule.describe();
    if let Some(available) = machine.mem_available {
        let held = running.map_or(0, |r| slots(r, shard).0 as u64);
        let budget = available / 100 * MEMORY_SHARE_PERCENT;
        let extra = (count as u64).saturating_sub(held);
        if extra.saturating_mul(BYTES_PER_ATTACKER) > budget {
            return Err(CapacityError::Memory {
                schedule: describe,
                what,
                count,
                need: Bytes((count as u64).saturating_mul(BYTES_PER_ATTACKER)),
                each: Bytes(BYTES_PER_ATTACKER),
                available: Bytes(available),
                fit: held + budget / BYTES_PER_ATTACKER,
                lower,
            });
        }
    }
    let (connections, listeners) = descriptors(count, settings);
    let need = BASE_DESCRIPTORS + connections + listeners;
    if need > machine.nofile {
        return Err(CapacityError::Descriptors {
            schedule: describe,
            need,
            connections,
            listeners,
            limit: machine.nofile,
        });
    }
    Ok(())
}

/// `MemAvailable` from /proc/meminfo, in bytes.
fn mem_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// The soft and hard `RLIMIT_NOFILE`.
fn nofile_limit() -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limits into the struct it is given, which lives here.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return (1024, 1024);
    }
    (limit.rlim_cur, limit.rlim_max)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (the common default soft limit of 1,024
/// is far below what a load test holds) and says so in the log. An unlimited hard limit is
/// capped by the kernel's `fs.nr_open`.
pub fn raise_nofile_limit() {
    let (soft, hard) = nofile_limit();
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(hard, |nr_open| hard.min(nr_open));
    if soft >= ceiling {
        log::info!("file descriptors: limit {soft} (the hard limit)");
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: ceiling,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct it is given, which lives here.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        log::info!("file descriptors: soft limit raised from {soft} to {ceiling} (the hard limit)");
    } else {
        let e = std::io::Error::last_os_error();
        log::warn!("file descriptors: could not raise the soft limit {soft} to {ceiling}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Rate, Workers};

    fn settings(toml_env: &[(&str, &str)]) -> Settings {
        let env = toml_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with_env(None, Some(env)).unwrap()
    }

    const GIB: u64 = 1 << 30;

    fn machine(mem_gib: u64, nofile: u64) -> Machine {
        Machine {
            mem_available: Some(mem_gib * GIB),
            nofile,
        }
    }

    fn hammer(n: usize) -> Schedule {
        Schedule::Workers(Workers::Hammer { workers: n })
    }

    #[test]
    fn a_hundred_million_attackers_are_refused_with_what_fits() {
        let s = settings(&[]);
        let err = check(&hammer(100_000_000), None, &s, &machine(16, 65_536), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "hammer 100000000: 100000000 attackers would need about 3.0 TiB of memory \
             (about 32.0 KiB each, planned from measurements), but this machine has 16.0 GiB available \
             (MemAvailable in /proc/meminfo; the tool plans on at most 80% of it): at most \
             419430 attackers fit. Lower the attacker count (WORKERNUM, FINALWORKERS), or \
             free memory or use a larger machine"
        );
        assert!(check(&hammer(400_000), None, &s, &machine(16, 65_536), None).is_ok());
        // A shard holds its share: a thousand machines hold what one cannot.
        let shard = Shard {
            index: 999,
            count: 1000,
        };
        let whole = hammer(100_000_000);
        assert!(check(&whole, Some(shard), &s, &machine(16, 65_536), None).is_ok());
    }

    #[test]
    fn chains_in_flight_are_bounded_in_rate_mode() {
        let s = settings(&[]);
        let rate = Schedule::Rate(Rate {
            per_sec: 1_000_000.0,
            delta: None,
            max_in_flight: 100_000_000,
        });
        let err = check(&rate, None, &s, &machine(16, 65_536), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "rate 1000000 --max-in-flight 100000000: 100000000 chains in flight would need"
            ),
            "{err}"
        );
        assert!(
            err.contains("Lower --max-in-flight (schedule.max_in_flight)"),
            "{err}"
        );
    }

    /// A reload only needs memory for the attackers it adds.
    #[test]
    fn a_reload_counts_what_the_running_schedule_holds() {
        let s = settings(&[]);
        let m = machine(1, 65_536);
        assert!(check(&hammer(40_000), None, &s, &m, None).is_err());
        assert!(check(&hammer(40_000), None, &s, &m, Some(&hammer(30_000))).is_ok());
        assert!(check(&hammer(5), None, &s, &m, Some(&hammer(40_000))).is_ok());
    }

    #[test]
    fn descriptors_beyond_the_limit_are_refused() {
        let s = settings(&[
            ("WEC_CHALLENGE__MAX_CONNECTIONS", "1000"),
            ("WEC_RUN__THREADS", "2"),
        ]);
        let err = check(&hammer(4), None, &s, &machine(16, 1024), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "hammer 4: the run needs up to 3132 file descriptors (4 connections to the CA, \
             3064 for the listeners, 64 for the process), but the limit is 1024 \
             (RLIMIT_NOFILE, already raised to its hard limit): raise the hard limit \
             (`ulimit -Hn` as root, LimitNOFILE= in a systemd unit, --ulimit nofile= for \
             docker), or lower challenge.max_connections or target.connections_per_thread"
        );
        let defaults = settings(&[("WEC_RUN__THREADS", "2")]);
        assert!(
            check(&hammer(1000), None, &defaults, &machine(16, 1024), None).is_ok(),
            "the defaults fit the common limit of 1024"
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(Bytes(512).to_string(), "512 bytes");
        assert_eq!(Bytes(64 * 1024).to_string(), "64.0 KiB");
        assert_eq!(Bytes(3 * GIB / 2).to_string(), "1.5 GiB");
    }
}
