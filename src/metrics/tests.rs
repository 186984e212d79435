//! The Metrics actor end to end: messages in, StatsD datagrams (read from a plain UDP socket)
//! and the summary out.

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::Duration;

use super::settings::StatsdSettings;
use super::*;
use crate::acme::{Endpoint, RequestOutcome};

const MAX: usize = 512;

fn listener() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    (socket, addr)
}

fn datagrams(socket: &UdpSocket) -> Vec<String> {
    let mut buf = [0u8; 65536];
    let mut out = Vec::new();
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    out
}

/// A Metrics actor sending to `addr`, flushing only when told to (`Finish`).
fn metrics(addr: &str) -> Addr<Metrics> {
    let settings = StatsdSettings {
        max_datagram_bytes: MAX,
        ..StatsdSettings::default()
    };
    let sink = Statsd::connect(&settings, addr).unwrap();
    Metrics::new(Progress::off(), Some((sink, Duration::from_secs(3600)))).start()
}

fn request(endpoint: Endpoint, outcome: RequestOutcome, ms: u64) -> RequestRecord {
    RequestRecord {
        endpoint,
        outcome,
        status: 200,
        took: Duration::from_millis(ms),
        bytes_in: 1000 + ms,
        bytes_out: 100 + ms,
    }
}

/// A finished `issue` chain (the stats tests use it too).
pub(super) fn chain(outcome: ChainOutcome, ms: u64, requests: Vec<RequestRecord>) -> ChainDone {
    ChainDone::new("issue", Duration::from_millis(ms), outcome, requests)
}

#[actix_rt::test]
async fn statsd_gets_the_original_names_in_shared_datagrams() {
    let (socket, addr) = listener();
    let m = metrics(&addr);
    m.do_send(AttackerCount(3));
    m.do_send(chain(
        ChainOutcome::Ok,
        120,
        vec![
            request(Endpoint::NewNonce, RequestOutcome::Ok, 1),
            request(Endpoint::NewOrder, RequestOutcome::BadNonceRetried, 2),
            request(Endpoint::NewOrder, RequestOutcome::Ok, 3),
        ],
    ));
    m.do_send(chain(
        ChainOutcome::Failed {
            reason: "timeout:authz".into(),
            message: "authz: timed out".into(),
        },
        50,
        vec![request(Endpoint::Authz, RequestOutcome::Failed, 4)],
    ));
    m.do_send(chain(
        ChainOutcome::Interrupted,
        70,
        vec![request(Endpoint::Finalize, RequestOutcome::Ok, 5)],
    ));
    let summary = m.send(Finish).await.unwrap();
    assert_eq!((summary.chains_ok(), summary.chains_failed()), (1, 1));

    let got = datagrams(&socket);
    assert!(got.iter().all(|d| d.len() <= MAX), "{got:?}");
    assert!(got.iter().any(|d| d.lines().count() > 1), "{got:?}");
    let lines: Vec<&str> = got.iter().flat_map(|d| d.lines()).collect();
    // Timings in nanoseconds, in the order they happened, then counters and gauges.
    let load: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("Wile-E-Coyote."))
        .collect();
    assert_eq!(
        load,
        vec![
            "Wile-E-Coyote.ChainsTook.issue.Successful:120000000|ms",
            "Wile-E-Coyote.RequestsTook.newNonce.Successful:1000000|ms",
            "Wile-E-Coyote.RequestsTook.newOrder.Successful:3000000|ms",
            "Wile-E-Coyote.ChainsTook.issue.Failed:50000000|ms",
            "Wile-E-Coyote.RequestsTook.authz.Failed:4000000|ms",
            "Wile-E-Coyote.RequestsTook.finalize.Successful:5000000|ms",
            "Wile-E-Coyote.TrafficIn:5015|c",
            "Wile-E-Coyote.TrafficOut:515|c",
            "Wile-E-Coyote.NumAttackers:3|g",
        ]
    );
    let procstats: BTreeSet<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("Procstats.Wile-E-Coyote."))
        .map(|l| {
            let (name, rest) = l.split_once(':').unwrap();
            let value = rest.strip_suffix("|g").expect("a gauge");
            assert!(value.parse::<f64>().is_ok_and(|v| v >= 0.0), "{l}");
            name
        })
        .collect();
    let expected: BTreeSet<&str> = [
        "ResidentMemory",
        "VirtualMemory",
        "Threads",
        "OpenFiles",
        "CpuUserPercent",
        "CpuSystemPercent",
        "Attackers",
        "MetricsBacklog",
        "MetricsLagMs",
    ]
    .into();
    assert_eq!(procstats, expected);
    assert!(lines.contains(&"Procstats.Wile-E-Coyote.Attackers:3|g"));
    assert_eq!(lines.len(), load.len() + expected.len(), "{lines:?}");
}

#[actix_rt::test]
async fn the_backlog_probe_counts_messages_queued_ahead_of_it() {
    let (socket, addr) = listener();
    let m = metrics(&addr);
    // Nothing runs until this task awaits: all 500 are queued before the probe.
    for _ in 0..500 {
        m.do_send(chain(ChainOutcome::Ok, 10, vec![]));
    }
    m.do_send(Probe {
        sent: Instant::now(),
        handled: 0,
    });
    m.send(Finish).await.unwrap();
    let got = datagrams(&socket).join("\n");
    assert!(
        got.lines()
            .any(|l| l == "Procstats.Wile-E-Coyote.MetricsBacklog:500|g"),
        "{got}"
    );
}

#[actix_rt::test]
async fn the_summary_carries_the_time_series() {
    let (_socket, addr) = listener();
    let m = metrics(&addr);
    m.do_send(AttackerCount(2));
    m.do_send(chain(
        ChainOutcome::Ok,
        30,
        vec![request(Endpoint::Order, RequestOutcome::Ok, 7)],
    ));
    actix_rt::time::sleep(Duration::from_millis(50)).await;
    let summary = m.send(GetSummary).await.unwrap();
    let points = &summary.timeseries.points;
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0].attackers, 2);
    assert!(points[0].chains_ok_per_s > 0.0);
    assert!((points[0].requests["order"].p50_ms - 7.0).abs() < 0.1);
}
