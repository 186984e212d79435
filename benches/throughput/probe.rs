//! What the benchmark reads from the machine and the tool: CPU pinning, a process's CPU time
//! and peak memory from /proc, and the tool's control API (`GET /status`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Bound on connecting to, writing to and reading from the control API.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// CPUs online on the machine (not this thread's affinity mask, which pinning narrows).
pub fn cpus() -> usize {
    // SAFETY: sysconf only reads a system value.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data, valid all zeroes; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    }
}

/// Pins the calling thread to `cpu`; threads and processes it starts afterwards inherit that.
pub fn pin_this_thread(cpu: usize) -> Result<()> {
    let set = cpu_set(cpu);
    // SAFETY: pid 0 is the calling thread; `set` outlives the call.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("pinning to CPU {cpu}"));
    }
    Ok(())
}

/// Makes `cmd` run pinned to `cpu`: the child pins itself between fork and exec.
pub fn pin_command(cmd: &mut Command, cpu: usize) {
    let set = cpu_set(cpu);
    // SAFETY: the closure makes one system call and allocates nothing, as a child between
    // fork and exec must.
    unsafe {
        cmd.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

/// User + system CPU time of process `pid` (`"self"`: this one), all its threads, in seconds,
/// at the kernel's clock-tick resolution (10 ms at 100 Hz).
pub fn cpu_seconds(pid: &str) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    let (_, rest) = stat
        .rsplit_once(')')
        .with_context(|| format!("{path}: no ')'"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let ticks = |i: usize| -> Result<u64> {
        Ok(fields
            .get(i)
            .with_context(|| format!("{path}: short"))?
            .parse()?)
    };
    // SAFETY: sysconf only reads a system value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if per_second <= 0 {
        bail!("sysconf(_SC_CLK_TCK) failed");
    }
    Ok((ticks(11)? + ticks(12)?) as f64 / per_second as f64)
}

/// Peak resident memory (`VmHWM`) of process `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .with_context(|| format!("{path}: no VmHWM"))?;
    Ok(value.trim().trim_end_matches("kB").trim().parse()?)
}

/// The part of the control API's `GET /status` the benchmark reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    pub chains_ok: u64,
    /// Chains the open model started (it also counts the dropped ones apart).
    pub starts: u64,
    pub dropped: u64,
    pub schedule_elapsed_s: f64,
    pub lateness: Lateness,
}

/// How late the Ramp started chains, over the run so far.
#[derive(Debug, Clone, Deserialize)]
pub struct Lateness {
    pub p99_ms: f64,
}

/// `GET /status` of the tool's control API on loopback `port`, every step bounded.
pub fn status(port: u16) -> Result<Status> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, STATUS_TIMEOUT)?;
    stream.set_read_timeout(Some(STATUS_TIMEOUT))?;
    stream.set_write_timeout(Some(STATUS_TIMEOUT))?;
    write!(
        stream,
        "GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    // The API answers one request per connection and closes it.
    let mut answer = Vec::new();
    stream.take(1 << 20).read_to_end(&mut answer)?;
    let answer = String::from_utf8(answer)?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .context("GET /status: no end of headers")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET /status: {}", head.lines().next().unwrap_or_default());
    }
    serde_json::from_str(body).context("GET /status: body")
}

/// A child process that is killed and reaped when dropped, so an error or a panic of the
/// benchmark never leaves it running.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}
