//! `TrafficIn`/`TrafficOut` and each request's byte counts are what crossed the network: a TCP
//! relay between the tool and Pebble counts the same bytes (TLS records and handshakes
//! included), where counts rebuilt from HTTP headers and bodies would fall short by kilobytes.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use common::lab::Lab;
use common::Pebble;
use wile_e_coyote::chains::ChainKind;

/// Bytes the relay carried each way, and the connections it accepted.
#[derive(Default)]
struct Carried {
    up: AtomicU64,
    down: AtomicU64,
    connections: AtomicU64,
}

impl Carried {
    fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.up.load(Ordering::SeqCst),
            self.down.load(Ordering::SeqCst),
            self.connections.load(Ordering::SeqCst),
        )
    }
}

/// Relays every connection to 127.0.0.1:`upstream`; returns its port and its counts.
fn relay(upstream: u16) -> (u16, Arc<Carried>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let carried = Arc::new(Carried::default());
    let counts = carried.clone();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            counts.connections.fetch_add(1, Ordering::SeqCst);
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (up, down) = (counts.clone(), counts.clone());
            thread::spawn(move || copy(client, server, &up.up));
            thread::spawn(move || copy(s2, c2, &down.down));
        }
    });
    (port, carried)
}

/// Copies until either side closes; counts what was written on.
fn copy(mut from: TcpStream, mut to: TcpStream, count: &AtomicU64) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[actix_rt::test]
async fn request_byte_counts_are_the_bytes_on_the_wire() {
    let pebble = Pebble::start();
    let pebble_port: u16 = pebble
        .directory_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let (port, carried) = relay(pebble_port);
    let directory = format!("https://127.0.0.1:{port}/dir");
    let lab = Lab::start(
        &pebble,
        &[
            ("WEC_TARGET__DIRECTORY_URL", &directory),
            ("WEC_CHAINS__ISSUE__CHALLENGE", "http-01"),
        ],
    )
    .await;

    let before = carried.snapshot();
    let (mut sent, mut received, mut exchanges) = (0, 0, 0);
    for _ in 0..3 {
        let run = lab.run(ChainKind::Issue).await;
        run.ok();
        exchanges += run.records.len() as u64;
        sent += run.records.iter().map(|r| r.bytes_out).sum::<u64>();
        received += run.records.iter().map(|r| r.bytes_in).sum::<u64>();
    }
    let after = carried.snapshot();
    let (up, down, connections) = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    assert!(connections >= 1, "the chains connected through the relay");

    // What the relay carried beyond the chains' counts can only be a TLS close_notify of a
    // connection the directory fetch left (a few dozen bytes), never a whole exchange.
    let slack = 64 * (after.2 + 1);
    assert!(
        sent <= up && up - sent <= slack,
        "sent: the tool counted {sent}, the relay carried {up} ({exchanges} exchanges)"
    );
    assert!(
        received <= down && down - received <= slack,
        "received: the tool counted {received}, the relay carried {down}"
    );
    // The handshake of each connection is part of the count.
    assert!(
        received > 2_000 * connections,
        "{received} bytes over {connections} handshakes"
    );
    lab.stop().await;
}
