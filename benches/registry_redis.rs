//! What sharing the challenge registry through Redis costs per validation.
//!
//! `cargo bench --bench registry_redis` starts a private `redis-server` on loopback and two
//! Registries as two shards, in one actix System as in the daemon, and times, one after the
//! other (latency, not throughput), each message a validation sends: `Publish` (memory: a map
//! insert; Redis: also `SET … PX` or the TXT script), `Lookup`/`LookupTxt`/`LookupAlpn` from
//! the *other* shard (memory: a miss; Redis: `GET`/`ZRANGEBYSCORE`, for tls-alpn-01 also the
//! certificate built from the key authorization) and `Withdraw` (Redis: the compare-and-delete
//! script). The in-memory Registry, answering its own entries, is the baseline. Means and
//! percentiles in µs, from the caller's side of the actor's mailbox.
//!
//! Under `cargo test` (no `--bench` argument) it runs a few hundred of each and checks the
//! answers, so the benchmark cannot rot; it never judges the times.

// The private redis-server comes from the tests' harness, as tests/registry_redis.rs uses it.
#[path = "../tests/common/mod.rs"]
mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use actix::{Actor, Addr};
use hdrhistogram::Histogram;
use wile_e_coyote::challenge::{
    Lookup, LookupAlpn, LookupTxt, Publish, RedisStore, Registry, Response, Ticket, Withdraw,
};

use common::redis::RedisServer;

/// Microseconds per call.
struct Timings(Histogram<u64>);

impl Timings {
    fn new() -> Self {
        Timings(Histogram::new_with_bounds(1, 60_000_000, 3).unwrap())
    }

    async fn time<T>(&mut self, call: impl Future<Output = T>) -> T {
        let began = Instant::now();
        let out = call.await;
        let us = began.elapsed().as_micros().max(1) as u64;
        self.0.record(us.min(60_000_000)).unwrap();
        out
    }

    fn line(&self, what: &str) -> String {
        let h = &self.0;
        format!(
            "{what:<38} mean {:>7.1}  p50 {:>6}  p99 {:>6}  max {:>7}",
            h.mean(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max()
        )
    }
}

fn http01(i: usize) -> Response {
    Response::Http01 {
        token: format!("tok-{i}-abcdefghijklmnopqrstuvwxyz0123456789"),
        key_authorization: format!("tok-{i}-abcdefghijklmnopqrstuvwxyz0123456789.thumbprint"),
    }
}

fn dns01(i: usize) -> Response {
    Response::Dns01 {
        name: format!("n{i}.s1.wile.test"),
        key_authorization: format!("tok-{i}.thumbprint"),
    }
}

fn tlsalpn01(i: usize) -> Response {
    Response::TlsAlpn01 {
        name: format!("t{i}.s1.wile.test"),
        key_authorization: format!("tok-{i}.thumbprint"),
    }
}

/// Publishes `n` responses made by `make` on `publisher`, has `reader` look each up (checking
/// it finds it when `found`), withdraws them; one line per message.
async fn round(
    what: &str,
    n: usize,
    publisher: &Addr<Registry>,
    reader: &Addr<Registry>,
    make: fn(usize) -> Response,
    found: bool,
) -> Vec<String> {
    let (mut publish, mut lookup, mut withdraw) = (Timings::new(), Timings::new(), Timings::new());
    let mut tickets: Vec<Ticket> = Vec::with_capacity(n);
    for i in 0..n {
        let response = make(i);
        let ticket = publish.time(publisher.send(Publish::new(response))).await;
        tickets.push(ticket.unwrap().unwrap());
    }
    for (i, ticket) in tickets.iter().enumerate() {
        let hit = match (ticket, make(i)) {
            (
                Ticket::Http01 { token },
                Response::Http01 {
                    key_authorization, ..
                },
            ) => {
                let got = lookup
                    .time(reader.send(Lookup {
                        token: token.clone(),
                    }))
                    .await;
                got.unwrap().as_deref() == Some(key_authorization.as_str())
            }
            (Ticket::Dns01 { name, value }, _) => {
                let got = lookup
                    .time(reader.send(LookupTxt { name: name.clone() }))
                    .await;
                got.unwrap().contains(value)
            }
            (Ticket::TlsAlpn01 { name }, _) => {
                let got = lookup
                    .time(reader.send(LookupAlpn { name: name.clone() }))
                    .await;
                got.unwrap().is_some()
            }
            _ => unreachable!("a ticket of the type published"),
        };
        assert_eq!(hit, found, "{what} {i}");
    }
    for ticket in tickets {
        withdraw
            .time(publisher.send(Withdraw(ticket)))
            .await
            .unwrap();
    }
    vec![
        publish.line(&format!("{what}: publish")),
        lookup.line(&format!("{what}: lookup")),
        withdraw.line(&format!("{what}: withdraw")),
    ]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n = if bench { 5_000 } else { 200 };
    let redis = RedisServer::start();
    let lines = actix::System::new().block_on(async move {
        let ttl = Duration::from_secs(300);
        let shared = || async {
            let url = redis.url().parse().unwrap();
            let store = RedisStore::connect(url, Duration::from_millis(250))
                .await
                .unwrap();
            Registry::new(ttl, 100_000).shared(store).start()
        };
        let memory = Registry::new(ttl, 100_000).start();
        let (a, b) = (shared().await, shared().await);
        let mut lines = Vec::new();
        for (kind, make) in [
            ("http-01", http01 as fn(usize) -> Response),
            ("dns-01", dns01),
            ("tls-alpn-01", tlsalpn01),
        ] {
            // A shard answering its own entries, in memory…
            lines.extend(
                round(
                    &format!("{kind} memory, own"),
                    n,
                    &memory,
                    &memory,
                    make,
                    true,
                )
                .await,
            );
            // …the same Registry asked for another shard's entries it cannot see…
            let other = Registry::new(ttl, 100_000).start();
            lines.extend(
                round(
                    &format!("{kind} memory, other's"),
                    n,
                    &memory,
                    &other,
                    make,
                    false,
                )
                .await,
            );
            // …and two shards sharing Redis.
            lines.extend(round(&format!("{kind} Redis, other's"), n, &a, &b, make, true).await);
        }
        lines
    });
    println!("registry messages, {n} each, µs from the caller (one at a time):");
    for line in lines {
        println!("  {line}");
    }
}
