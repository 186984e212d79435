//! What the multi-shard tests share: three shards on their own loopback addresses, the one DNS
//! Pebble resolves through (run by the test, for its whole length: a shard serving it would
//! stop it when its own run ends, while the others' last validations may still need it), the
//! common start instant, and what a shard's report says it started.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use actix::System;
use time::format_description::well_known::Rfc3339;
use wile_e_coyote::challenge::domain_addresses::DomainAddresses;
use wile_e_coyote::challenge::{dns, ChallengeServer, Limits, RedisStore, ServerSettings};

pub const SHARDS: u32 = 3;

/// The shard's (1-based) loopback address.
pub fn address(shard: u32) -> String {
    format!("127.0.0.{}", shard + 1)
}

/// Serves, on its own thread for the rest of the test, the DNS Pebble resolves through: the
/// names under shard `i`'s label (`s<i>.wile.test`) answer the address of shard `route(i)`.
/// With `registry` (a `redis://` URL), the dns-01 TXT records of every shard come from it
/// (each call bounded by 2 s: generous on a loaded test machine).
pub fn serve_dns(port: u16, route: impl Fn(u32) -> u32, registry: Option<String>) {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let domain_addresses = (1..=SHARDS)
        .map(|i| DomainAddresses {
            domain: format!("s{i}.wile.test"),
            addresses: vec![address(route(i)).parse().unwrap()],
        })
        .collect();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        System::new().block_on(async move {
            let store = match registry {
                Some(url) => {
                    let url = url.parse().unwrap();
                    Some(
                        RedisStore::connect(url, Duration::from_secs(2))
                            .await
                            .unwrap(),
                    )
                }
                None => None,
            };
            let server = ChallengeServer::start_shared(
                ServerSettings {
                    dns: vec![addr],
                    zone: dns::Zone {
                        base_domains: vec!["wile.test".into()],
                        ipv4: vec![],
                        ipv6: vec![],
                        domain_addresses,
                    },
                    limits: Limits {
                        max_connections: 64,
                        client_timeout: Duration::from_secs(10),
                    },
                    ..super::challenge_settings()
                },
                store,
            );
            ready_tx.send(server.is_ok()).unwrap();
            let _server = server;
            std::future::pending::<()>().await;
        });
    });
    assert!(
        ready.recv_timeout(Duration::from_secs(30)).unwrap(),
        "the DNS did not start on {addr}"
    );
}

/// `--start-at` this far ahead, far enough for three processes to start on a loaded machine;
/// one that does not make it skips ahead, counted, and the total still holds.
pub fn start_at(ahead: Duration) -> String {
    time::OffsetDateTime::from(SystemTime::now() + ahead)
        .format(&Rfc3339)
        .unwrap()
}

/// Chains a shard's report says it started (whatever their outcome), and its skipped starts.
pub fn started(report: &serde_json::Value) -> (u64, u64) {
    let issue = &report["chains"]["issue"];
    let chains = ["ok", "failed", "interrupted", "rate_limited"]
        .iter()
        .map(|k| issue[*k].as_u64().unwrap_or(0))
        .sum::<u64>();
    let dropped = report["dropped_starts"].as_u64().unwrap();
    let skipped = report["shard"]["skipped_starts"].as_u64().unwrap();
    (chains + dropped, skipped)
}
