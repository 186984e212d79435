//! The throughput benchmark's small checked version: the tool (as built for the tests), run as
//! `cargo bench --bench throughput` runs it, at 20 issuance chains/s for 3 s against the fast
//! CA, measured by the same rig (benches/throughput/). It checks counts, never speed: this
//! may run on a loaded machine.

mod common;
// The stepping and the Pebble run serve the benchmark only.
#[allow(dead_code)]
#[path = "../benches/throughput/mod.rs"]
mod rig;

use std::time::Duration;

use rig::fast_ca::FastCa;
use rig::step::{self, Plan};
use rig::{probe, table};

#[test]
fn a_short_run_against_the_fast_ca_is_measured_and_minimal() {
    let dir = tempfile::tempdir().unwrap();
    // Pinned as in the benchmark when there are two CPUs: this thread (hence the CA's threads)
    // to CPU 1, the tool to CPU 0.
    let tool_cpu = (probe::cpus() >= 2).then(|| {
        probe::pin_this_thread(1).unwrap();
        0
    });
    let ca = FastCa::start(dir.path()).unwrap();
    let plan = Plan {
        rate: 20,
        duration: Duration::from_secs(3),
        tool_cpu,
    };
    let s = step::run(&ca, &plan, dir.path()).unwrap();
    println!("{}\n{}", table::HEADER, table::row(&s));

    assert_eq!(s.failures(), 0, "{s:?}");
    assert!(s.ok >= 1, "{s:?}");
    // Connections to the CA are kept alive and reused across chains.
    let handshakes = s
        .handshakes_per_chain
        .expect("testca counts its connections");
    assert!(handshakes > 0.0 && handshakes < 1.0, "{s:?}");
    // Every chain sent newOrder, the authorization, the challenge answer, finalize and the
    // certificate download once, at least one poll, and nothing else but more polls and
    // nonces.
    let r = &s.requests;
    assert_eq!(r.orders, s.ok, "{s:?}");
    assert!(r.polls >= r.orders, "{s:?}");
    // The authorization is polled once the CA fetched the http-01 response, which the fast CA
    // decides at once: about one poll per chain (two when every first poll came before the
    // fetch, as it did before chains waited for it).
    assert!(
        r.polls * 2 <= r.orders * 3,
        "{:.2} polls per chain: {s:?}",
        r.polls as f64 / r.orders as f64
    );
    assert_eq!(r.unexplained(), 0, "{s:?}");
    assert!(r.minimum >= 6 * s.ok, "{s:?}");
    assert!(
        s.tool_cpu_per_chain.is_finite() && s.tool_cpu_per_chain > 0.0,
        "{s:?}"
    );
    assert!(s.ca_cpu_per_chain.is_finite(), "{s:?}");
    assert!(s.peak_rss_kib > 0, "{s:?}");
}
