//! StatsD output with the original wile-e-coyote names, packed into datagrams of at most
//! `statsd.max_datagram_bytes` and sent without ever waiting on the network.
//!
//! Why not the `statsd` crate's `Pipeline`: it sends through the crate's own blocking
//! `std::net::UdpSocket`, discards every send error, has no way to hand back the packed
//! datagrams for another socket, and sends a line longer than the maximum as an oversized
//! datagram. The Metrics actor must never block (attackers' reports queue behind it) and must
//! count failed sends, so this module packs the lines itself and sends over a connected,
//! non-blocking socket: a full socket buffer (`WouldBlock`) or an absent daemon
//! (`ECONNREFUSED`, from the ICMP reply to an earlier datagram) costs one failed `send`, which
//! is counted and reported once per flush.
//!
//! Line format (the Etsy StatsD protocol): `name:value|c` counters, `name:value|g` gauges,
//! `name:value|ms` timings with an optional `|@rate` sample rate; lines joined by `\n`.

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use rand::Rng;

use super::settings::{StatsdSettings, TimingUnit};
use super::{ChainDone, ChainOutcome, WaitCause};
use crate::acme::RequestOutcome;
use crate::db::consistency::{Kind, Mismatch};

/// Why StatsD output cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StatsdError {
    #[error("statsd.address {address:?}: cannot resolve: {source}")]
    Resolve { address: String, source: io::Error },
    #[error("statsd.address {address:?}: resolves to no address")]
    NoAddress { address: String },
    #[error("statsd.address {address:?}: cannot open a UDP socket to it: {source}")]
    Socket { address: String, source: io::Error },
}

/// What the sends of one flush interval came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SendStats {
    pub datagrams: u64,
    pub failed: u64,
    /// Lines dropped because alone they exceed the maximum datagram size.
    pub oversized: u64,
    pub last_error: Option<String>,
}

/// The StatsD sink: accumulates counters and gauges, packs timings as they come.
pub struct Statsd {
    socket: UdpSocket,
    target: SocketAddr,
    max: usize,
    unit: TimingUnit,
    sample_rate: f64,
    /// `Wile-E-Coyote.` (with the dot, or empty).
    prefix: String,
    /// `Procstats.Wile-E-Coyote.` (with the dot, or empty).
    proc_prefix: String,
    datagram: Vec<u8>,
    line: String,
    traffic_in: u64,
    /// Consistency verdicts since the last flush, by kind: (agreed, mismatched).
    consistency: std::collections::BTreeMap<&'static str, (u64, u64)>,
    traffic_out: u64,
    attackers_sent: Option<usize>,
    sends: SendStats,
}

fn with_dot(prefix: &str) -> String {
    let prefix = prefix.trim_end_matches('.');
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}.")
    }
}

impl Statsd {
    /// Resolves the daemon's address once (a blocking look-up, at start only) and opens a
    /// non-blocking socket connected to it.
    pub fn connect(settings: &StatsdSettings, address: &str) -> Result<Statsd, StatsdError> {
        let target = address
            .to_socket_addrs()
            .map_err(|source| StatsdError::Resolve {
                address: address.into(),
                source,
            })?
            .next()
            .ok_or_else(|| StatsdError::NoAddress {
                address: address.into(),
            })?;
        let local: SocketAddr = if target.is_ipv4() {
            "0.0.0.0:0".parse().expect("static address")
        } else {
            "[::]:0".parse().expect("static address")
        };
        let socket_err = |source| StatsdError::Socket {
            address: address.into(),
            source,
        };
        let socket = UdpSocket::bind(local).map_err(socket_err)?;
        socket.connect(target).map_err(socket_err)?;
        socket.set_nonblocking(true).map_err(socket_err)?;
        Ok(Statsd {
            socket,
            target,
            max: settings.max_datagram_bytes,
            unit: settings.timing_unit,
            sample_rate: settings.timing_sample_rate,
            prefix: with_dot(&settings.prefix),
            proc_prefix: with_dot(&settings.procstats_prefix),
            datagram: Vec::with_capacity(settings.max_datagram_bytes),
            line: String::with_capacity(128),
            traffic_in: 0,
            consistency: std::collections::BTreeMap::new(),
            traffic_out: 0,
            attackers_sent: None,
            sends: SendStats::default(),
        })
    }

    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// One chain run: its timing (`ChainsTook.{chain}.Successful|Failed|RateLimited`;
    /// interrupted chains have none; also `ProfilesTook.{profile}.…` when it ordered with a
    /// certificate profile), how long the CA took to agree with what it read back
    /// (`ConvergenceTook.{chain}.{what}.Agreed|TimedOut`), every request's timing
    /// (`RequestsTook.{endpoint}.Successful|Failed|RateLimited`, or `.Expected` when refused
    /// with the problem the chain expected; an exchange refused with `badNonce` and re-sent has
    /// none), and their bytes.
    pub fn chain_done(&mut self, done: &ChainDone) {
        let outcome = match done.outcome {
            ChainOutcome::Ok => Some("Successful"),
            ChainOutcome::Failed { .. } => Some("Failed"),
            ChainOutcome::RateLimited { .. } => Some("RateLimited"),
            ChainOutcome::Interrupted => None,
        };
        if let Some(outcome) = outcome {
            self.timing("ChainsTook", done.chain, outcome, done.took);
            if let Some(profile) = &done.profile {
                self.timing("ProfilesTook", profile, outcome, done.took);
            }
        }
        for c in &done.converged {
            let outcome = if c.agreed { "Agreed" } else { "TimedOut" };
            let name = format!("{}.{}", done.chain, c.what);
            self.timing("ConvergenceTook", &name, outcome, c.took);
        }
        for r in &done.requests {
            self.traffic_in += r.bytes_in;
            self.traffic_out += r.bytes_out;
            let outcome = match r.outcome {
                RequestOutcome::Ok => "Successful",
                RequestOutcome::Failed => "Failed",
                RequestOutcome::Expected => "Expected",
                RequestOutcome::RateLimited => "RateLimited",
                RequestOutcome::BadNonceRetried => continue,
            };
            self.timing("RequestsTook", r.endpoint.name(), outcome, r.took);
        }
    }

    /// An attacker's pause before its next chain: `AttackersWaited.{backoff|retry-after}`, a
    /// timing so dashboards show how often and how long the CA kept attackers away.
    pub fn waited(&mut self, cause: WaitCause, took: Duration) {
        self.line.clear();
        let _ = write!(
            self.line,
            "{}AttackersWaited.{}:",
            self.prefix,
            cause.name()
        );
        self.timing_value(took);
        self.push_line();
    }

    /// Counts a consistency check's verdicts, sent at the next flush as
    /// `Consistency.{kind}.Agreed|Mismatched` counters.
    pub fn consistency(&mut self, verdicts: &[(Kind, Option<Mismatch>)]) {
        for (kind, mismatch) in verdicts {
            let count = self.consistency.entry(kind.name()).or_default();
            match mismatch {
                None => count.0 += 1,
                Some(_) => count.1 += 1,
            }
        }
    }

    fn timing(&mut self, group: &str, name: &str, outcome: &str, took: Duration) {
        if self.sample_rate < 1.0 && rand::rng().random::<f64>() >= self.sample_rate {
            return;
        }
        self.line.clear();
        let _ = write!(self.line, "{}{group}.{name}.{outcome}:", self.prefix);
        self.timing_value(took);
        if self.sample_rate < 1.0 {
            let _ = write!(self.line, "|@{}", self.sample_rate);
        }
        self.push_line();
    }

    /// Appends `took` in the configured unit, with its `|ms` type, to `self.line`.
    fn timing_value(&mut self, took: Duration) {
        match self.unit {
            TimingUnit::Ns => {
                let _ = write!(self.line, "{}|ms", took.as_nanos());
            }
            TimingUnit::Ms => {
                let micros = took.as_micros();
                let _ = write!(self.line, "{}.{:03}|ms", micros / 1000, micros % 1000);
            }
        }
    }

    /// Appends `self.line` to the datagram, sending the datagram first if it would not fit.
    fn push_line(&mut self) {
        let len = self.line.len();
        if len > self.max {
            self.sends.oversized += 1;
            return;
        }
        let separator = usize::from(!self.datagram.is_empty());
        if self.datagram.len() + separator + len > self.max {
            self.send();
        }
        if !self.datagram.is_empty() {
            self.datagram.push(b'\n');
        }
        self.datagram.extend_from_slice(self.line.as_bytes());
    }

    fn send(&mut self) {
        if self.datagram.is_empty() {
            return;
        }
        self.sends.datagrams += 1;
        if let Err(e) = self.socket.send(&self.datagram) {
            self.sends.failed += 1;
            self.sends.last_error = Some(e.to_string());
        }
        self.datagram.clear();
    }

    /// Sends the counters (summed since the last flush), `NumAttackers` if it changed since
    /// the last flush, the process gauges given (names under the procstats prefix) and
    /// whatever is packed; returns what the sends since the last flush came to.
    pub fn flush(&mut self, attackers: usize, procstats: &[(&str, f64)]) -> SendStats {
        for (name, value) in [
            ("TrafficIn", std::mem::take(&mut self.traffic_in)),
            ("TrafficOut", std::mem::take(&mut self.traffic_out)),
        ] {
            if value > 0 {
                self.line.clear();
                let _ = write!(self.line, "{}{name}:{value}|c", self.prefix);
                self.push_line();
            }
        }
        for (kind, (agreed, mismatched)) in std::mem::take(&mut self.consistency) {
            for (outcome, value) in [("Agreed", agreed), ("Mismatched", mismatched)] {
                if value > 0 {
                    self.line.clear();
                    let _ = write!(
                        self.line,
                        "{}Consistency.{kind}.{outcome}:{value}|c",
                        self.prefix
                    );
                    self.push_line();
                }
            }
        }
        if self.attackers_sent != Some(attackers) {
            self.line.clear();
            let _ = write!(self.line, "{}NumAttackers:{attackers}|g", self.prefix);
            self.push_line();
            self.attackers_sent = Some(attackers);
        }
        for (name, value) in procstats {
            self.line.clear();
            let _ = write!(self.line, "{}{name}:{}|g", self.proc_prefix, gauge(*value));
            self.push_line();
        }
        self.send();
        std::mem::take(&mut self.sends)
    }
}

/// StatsD gauges cannot start with a sign (that means a delta) and need no exponent.
fn gauge(value: f64) -> String {
    let value = value.max(0.0);
    if value.fract() == 0.0 && value < 1e15 {
        format!("{}", value as u64)
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::{Endpoint, RequestRecord};

    fn listener() -> (UdpSocket, String) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let addr = socket.local_addr().unwrap().to_string();
        (socket, addr)
    }

    fn settings(max: usize, unit: TimingUnit, rate: f64) -> StatsdSettings {
        StatsdSettings {
            max_datagram_bytes: max,
            timing_unit: unit,
            timing_sample_rate: rate,
            ..StatsdSettings::default()
        }
    }

    fn receive_all(socket: &UdpSocket) -> Vec<String> {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 65536];
        let mut out = Vec::new();
        while let Ok(n) = socket.recv(&mut buf) {
            out.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        out
    }

    fn chain(outcome: ChainOutcome, requests: Vec<RequestRecord>) -> ChainDone {
        ChainDone::new("issue", Duration::from_micros(112_345), outcome, requests)
    }

    fn request(endpoint: Endpoint, outcome: RequestOutcome, micros: u64) -> RequestRecord {
        RequestRecord {
            endpoint,
            outcome,
            status: 200,
            took: Duration::from_micros(micros),
            bytes_in: 1000,
            bytes_out: 300,
        }
    }

    #[test]
    fn names_types_and_milliseconds() {
        let (socket, addr) = listener();
        let mut s = Statsd::connect(&settings(1432, TimingUnit::Ms, 1.0), &addr).unwrap();
        s.chain_done(&chain(
            ChainOutcome::Ok,
            vec![
                request(Endpoint::NewOrder, RequestOutcome::BadNonceRetried, 900),
                request(Endpoint::NewOrder, RequestOutcome::Ok, 1_500),
            ],
        ));
        let sends = s.flush(3, &[("Threads", 7.0), ("CpuUserPercent", 12.25)]);
        assert_eq!(sends.datagrams, 1);
        assert_eq!(sends.failed, 0);
        let got = receive_all(&socket);
        assert_eq!(
            got,
            vec![[
                "Wile-E-Coyote.ChainsTook.issue.Successful:112.345|ms",
                "Wile-E-Coyote.RequestsTook.newOrder.Successful:1.500|ms",
                "Wile-E-Coyote.TrafficIn:2000|c",
                "Wile-E-Coyote.TrafficOut:600|c",
                "Wile-E-Coyote.NumAttackers:3|g",
                "Procstats.Wile-E-Coyote.Threads:7|g",
                "Procstats.Wile-E-Coyote.CpuUserPercent:12.25|g",
            ]
            .join("\n")]
        );
        // Nothing changed: counters and the unchanged gauge are not repeated.
        s.flush(3, &[]);
        assert!(receive_all(&socket).is_empty());
    }

    #[test]
    fn rate_limits_profiles_convergence_and_waits_have_their_names() {
        let (socket, addr) = listener();
        let mut s = Statsd::connect(&settings(1432, TimingUnit::Ms, 1.0), &addr).unwrap();
        let mut limited = chain(
            ChainOutcome::RateLimited {
                message: "too many".into(),
            },
            vec![request(
                Endpoint::NewOrder,
                RequestOutcome::RateLimited,
                2_000,
            )],
        );
        limited.profile = Some("shortlived".into());
        s.chain_done(&limited);
        let mut rollover = chain(ChainOutcome::Ok, vec![]);
        rollover.chain = "key-rollover";
        rollover.converged = vec![crate::acme::Convergence {
            what: "new-key",
            took: Duration::from_millis(4_900),
            agreed: true,
        }];
        s.chain_done(&rollover);
        s.waited(WaitCause::RetryAfter, Duration::from_secs(2));
        s.waited(WaitCause::Backoff, Duration::from_millis(150));
        s.flush(1, &[]);
        let got = receive_all(&socket).join("\n");
        for line in [
            "Wile-E-Coyote.AttackersWaited.retry-after:2000.000|ms",
            "Wile-E-Coyote.AttackersWaited.backoff:150.000|ms",
            "Wile-E-Coyote.ChainsTook.issue.RateLimited:112.345|ms",
            "Wile-E-Coyote.ProfilesTook.shortlived.RateLimited:112.345|ms",
            "Wile-E-Coyote.RequestsTook.newOrder.RateLimited:2.000|ms",
            "Wile-E-Coyote.ChainsTook.key-rollover.Successful:112.345|ms",
            "Wile-E-Coyote.ConvergenceTook.key-rollover.new-key.Agreed:4900.000|ms",
        ] {
            assert!(got.lines().any(|l| l == line), "{line}\n{got}");
        }
        assert!(!got.contains(".Failed"), "{got}");
    }

    #[test]
    fn datagrams_stay_under_the_maximum_and_share_lines() {
        let (socket, addr) = listener();
        let mut s = Statsd::connect(&settings(256, TimingUnit::Ns, 1.0), &addr).unwrap();
        let requests = (0..40)
            .map(|i| request(Endpoint::Authz, RequestOutcome::Failed, 1_000 + i))
            .collect();
        s.chain_done(&chain(
            ChainOutcome::Failed {
                reason: "x".into(),
                message: "y".into(),
            },
            requests,
        ));
        let sends = s.flush(0, &[]);
        let got = receive_all(&socket);
        assert_eq!(sends.datagrams as usize, got.len());
        assert!(got.len() > 1, "{got:?}");
        assert!(got.iter().all(|d| d.len() <= 256), "{got:?}");
        assert!(got.iter().all(|d| d.lines().count() >= 2), "{got:?}");
        let lines: Vec<&str> = got.iter().flat_map(|d| d.lines()).collect();
        assert_eq!(
            lines[0],
            "Wile-E-Coyote.ChainsTook.issue.Failed:112345000|ms"
        );
        assert_eq!(
            lines[1],
            "Wile-E-Coyote.RequestsTook.authz.Failed:1000000|ms"
        );
        assert_eq!(
            lines.len(),
            1 + 40 + 3,
            "chain, requests, 2 counters, gauge"
        );
    }

    #[test]
    fn sample_rate_is_marked_and_applied() {
        let (socket, addr) = listener();
        let mut s = Statsd::connect(&settings(65507, TimingUnit::Ns, 0.25), &addr).unwrap();
        let requests = (0..4000)
            .map(|_| request(Endpoint::Order, RequestOutcome::Ok, 10))
            .collect();
        s.chain_done(&chain(ChainOutcome::Interrupted, requests));
        s.flush(0, &[]);
        let got = receive_all(&socket).join("\n");
        let timings: Vec<&str> = got.lines().filter(|l| l.contains("|ms")).collect();
        assert!(
            timings.iter().all(|l| l.ends_with("|ms|@0.25")),
            "{timings:?}"
        );
        assert!(
            (800..1200).contains(&timings.len()),
            "{} sampled",
            timings.len()
        );
        assert!(
            got.contains("Wile-E-Coyote.TrafficIn:4000000|c"),
            "counters are not sampled"
        );
        assert!(
            !got.contains("ChainsTook"),
            "interrupted chains have no timing"
        );
    }

    #[test]
    fn send_errors_are_counted() {
        // Bind, learn the port, close: nothing listens there any more.
        let (socket, addr) = listener();
        drop(socket);
        let mut s = Statsd::connect(&settings(1432, TimingUnit::Ns, 1.0), &addr).unwrap();
        // The refusal (an ICMP answer to an earlier datagram) is reported by a later send.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        for n in 1.. {
            let sends = s.flush(n, &[]);
            if sends.failed > 0 {
                assert!(sends.last_error.is_some());
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "ECONNREFUSED from loopback was not counted"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn prefixes_and_oversized_lines() {
        assert_eq!(
            with_dot("Procstats.Wile-E-Coyote."),
            "Procstats.Wile-E-Coyote."
        );
        assert_eq!(with_dot(""), "");
        let (_socket, addr) = listener();
        let long = StatsdSettings {
            prefix: "x".repeat(300),
            max_datagram_bytes: 256,
            ..StatsdSettings::default()
        };
        let mut s = Statsd::connect(&long, &addr).unwrap();
        s.chain_done(&chain(ChainOutcome::Ok, vec![]));
        assert_eq!(s.flush(0, &[]).oversized, 2, "the timing and the gauge");
        assert_eq!(gauge(-1.0), "0");
        assert_eq!(gauge(1.5e9), "1500000000");
    }
}
