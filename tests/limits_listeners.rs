//! Clients that connect and send nothing (or half a TLS handshake) cannot starve validation:
//! each listener serves at most `challenge.max_connections` of them at once, drops each after
//! `challenge.client_timeout`, and the other listeners answer meanwhile. Counted from this
//! process's own sockets (/proc/self/fd against /proc/net/tcp), so "served at once" means
//! accepted, not waiting in the kernel's queue.

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::tls::Pki;
use common::{curl_status, free_addr, require, run_bounded, show, start_on_free_ports};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use wile_e_coyote::challenge::doh::DohTls;
use wile_e_coyote::challenge::{ChallengeServer, Limits, Publish, Response, ServerSettings};

const TOKEN: &str = "tok-limits";
const NAME: &str = "limits.wile.test";

/// `/proc/net/tcp`'s spelling of an IPv4 socket address: the hex of the address's u32 in host
/// byte order, and of the port.
fn proc_net(at: SocketAddr) -> String {
    match at.ip() {
        IpAddr::V4(ip) => format!("{:08X}:{:04X}", u32::from_ne_bytes(ip.octets()), at.port()),
        IpAddr::V6(_) => panic!("the listeners under test are on IPv4 loopback"),
    }
}

/// Connections of this process accepted on local address `at` from one of `clients`
/// (listening sockets and the kernel's queue of not yet accepted connections are not
/// counted). Both ends are matched: a client socket of a test running beside this one may have
/// been given `at`'s port as its own local port.
///
/// Reading `/proc` is not atomic: while the descriptors are listed one closes and another
/// takes its number, and both inodes would be seen. A socket counts only when it was among
/// this process's descriptors both before and after the table was read. The table itself
/// is read in several `read`s, each resuming at an offset into the kernel's hash chains: when
/// sockets close meanwhile, lines already read come again (seen: 13 lines, 10 sockets), so
/// sockets are counted by inode, not by line.
fn accepted(at: SocketAddr, clients: &HashSet<String>) -> usize {
    let sockets = || -> HashSet<String> {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
            .filter_map(|link| {
                let link = link.to_string_lossy().into_owned();
                Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
            })
            .collect()
    };
    let before = sockets();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let after = sockets();
    let ours: HashSet<&str> = before.intersection(&after).map(String::as_str).collect();
    let wanted = proc_net(at);
    let inodes: HashSet<&str> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // 0A is LISTEN; every other state is a connection.
            (fields[1] == wanted
                && clients.contains(fields[2])
                && fields[3] != "0A"
                && ours.contains(fields[9]))
            .then_some(fields[9])
        })
        .collect();
    inodes.len()
}

/// `n` connections to `addr` that send `first` (maybe nothing) and then wait.
async fn hold(addr: SocketAddr, n: usize, first: &'static [u8]) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        if !first.is_empty() {
            stream.write_all(first).await.unwrap();
        }
        held.push(stream);
    }
    held
}

/// Samples `accepted` every 20 ms for `span`: the most connections from `held` seen at once.
async fn most_accepted(at: SocketAddr, held: &[TcpStream], span: Duration) -> usize {
    let clients: HashSet<String> = held
        .iter()
        .map(|c| proc_net(c.local_addr().unwrap()))
        .collect();
    let until = Instant::now() + span;
    let mut most = 0;
    while Instant::now() < until {
        most = most.max(accepted(at, &clients));
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    most
}

/// Whether the server closed each held connection (an HTTP 408, or end of stream).
async fn all_dropped(held: Vec<TcpStream>, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    for mut stream in held {
        let mut buf = [0; 256];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match actix_rt::time::timeout(left, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
    true
}

/// A challenge server with every listener (DNS over HTTPS with a throwaway PKI), each serving
/// at most `max_connections` clients for `client_timeout` each, and the test's token and name
/// published.
struct Capped {
    server: ChallengeServer,
    settings: ServerSettings,
    pki: Pki,
    _dir: tempfile::TempDir,
}

impl Capped {
    async fn start(max_connections: usize, client_timeout: Duration) -> Capped {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(dir.path(), "doh", &["127.0.0.1"]);
        let mut settings = ServerSettings {
            http01: vec![free_addr()],
            tlsalpn01: vec![free_addr()],
            dns: vec![free_addr()],
            doh: vec![free_addr()],
            doh_tls: Some(DohTls {
                certificate: pki.certificate.clone(),
                key: pki.key.clone(),
            }),
            max_entries: 10,
            limits: Limits {
                max_connections,
                client_timeout,
            },
            ..common::challenge_settings()
        };
        let server = start_on_free_ports(&mut settings, ChallengeServer::start);
        publish(&server).await;
        Capped {
            server,
            settings,
            pki,
            _dir: dir,
        }
    }
}

async fn publish(server: &ChallengeServer) {
    for response in [
        Response::Http01 {
            token: TOKEN.into(),
            key_authorization: format!("{TOKEN}.thumb"),
        },
        Response::TlsAlpn01 {
            name: NAME.into(),
            key_authorization: format!("{TOKEN}.thumb"),
        },
    ] {
        server
            .registry
            .send(Publish::new(response))
            .await
            .unwrap()
            .unwrap();
    }
}

/// GET the published token the way a CA's validator does; `None` if it took longer than
/// `within`.
async fn validate_http01(addr: SocketAddr, within: Duration) -> Option<String> {
    let client = awc::Client::builder().timeout(within).finish();
    let mut response = client
        .get(format!("http://{addr}/.well-known/acme-challenge/{TOKEN}"))
        .send()
        .await
        .ok()?;
    assert_eq!(response.status(), 200);
    Some(String::from_utf8(response.body().await.ok()?.to_vec()).unwrap())
}

/// An A question for a name of the zone, in wire format.
fn question() -> Vec<u8> {
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_ascii("x.wile.test.").unwrap(),
        RecordType::A,
    ));
    query.to_vec().unwrap()
}

/// One A question over DNS-over-TCP framing (or plain UDP).
async fn ask_dns(addr: SocketAddr, tcp: bool) -> ResponseCode {
    let wire = question();
    let answer = if tcp {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut framed = (wire.len() as u16).to_be_bytes().to_vec();
        framed.extend(&wire);
        stream.write_all(&framed).await.unwrap();
        let mut len = [0; 2];
        stream.read_exact(&mut len).await.unwrap();
        let mut answer = vec![0; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut answer).await.unwrap();
        answer
    } else {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.send_to(&wire, addr).await.unwrap();
        let mut answer = vec![0; 4096];
        let (len, _) = socket.recv_from(&mut answer).await.unwrap();
        answer.truncate(len);
        answer
    };
    Message::from_vec(&answer).unwrap().metadata.response_code
}

/// A tls-alpn-01 validation handshake with `openssl s_client`, off the System's thread.
async fn validate_tls_alpn(addr: SocketAddr) -> std::process::Output {
    actix_rt::task::spawn_blocking(move || {
        let mut cmd = Command::new("openssl");
        cmd.args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            NAME,
        ])
        .args(["-alpn", "acme-tls/1"])
        .stdin(Stdio::null());
        run_bounded(&mut cmd, Duration::from_secs(30))
    })
    .await
    .unwrap()
}

/// Fewer idle clients than the cap cost validation nothing: the CA's request is answered at
/// once, long before any idle client times out.
#[actix_rt::test]
async fn idle_clients_below_the_cap_do_not_delay_validation() {
    let capped = Capped::start(20, Duration::from_secs(30)).await;
    let settings = &capped.settings;
    let http01 = settings.http01[0];
    let _idle = hold(http01, 19, b"").await;
    let body = validate_http01(http01, Duration::from_secs(10)).await;
    assert_eq!(
        body.as_deref(),
        Some("tok-limits.thumb"),
        "answered while 19 clients sit idle"
    );
    capped.server.stop().await;
}

/// Ten times the cap of idle HTTP clients: never more than the cap served at once, each
/// dropped after the client timeout, the CA's request answered once its turn comes, and the
/// DNS (UDP, TCP) answering throughout.
#[actix_rt::test]
async fn idle_http_clients_beyond_the_cap_are_bounded_and_dropped() {
    let capped = Capped::start(10, Duration::from_millis(300)).await;
    let settings = &capped.settings;
    let (http01, dns) = (settings.http01[0], settings.dns[0]);
    let idle = hold(http01, 100, b"").await;
    assert_eq!(ask_dns(dns, false).await, ResponseCode::NoError);
    assert_eq!(ask_dns(dns, true).await, ResponseCode::NoError);
    let most = most_accepted(http01, &idle, Duration::from_secs(1)).await;
    assert!((1..=10).contains(&most), "{most} served at once");
    let body = validate_http01(http01, Duration::from_secs(30)).await;
    assert_eq!(body.as_deref(), Some("tok-limits.thumb"));
    assert!(
        all_dropped(idle, Duration::from_secs(30)).await,
        "idle clients are dropped after the client timeout"
    );
    capped.server.stop().await;
}

/// Half-open TLS handshakes (a record header, then nothing) cost an OpenSSL session each:
/// at most the cap of them exist, and a real tls-alpn-01 validation still completes.
#[actix_rt::test]
async fn half_open_tls_handshakes_are_bounded() {
    require("openssl");
    let capped = Capped::start(10, Duration::from_millis(300)).await;
    let settings = &capped.settings;
    let (tls, http01) = (settings.tlsalpn01[0], settings.http01[0]);
    // A TLS handshake record announcing 512 bytes that never come.
    let half = hold(tls, 100, b"\x16\x03\x01\x02\x00").await;
    let most = most_accepted(tls, &half, Duration::from_secs(1)).await;
    assert!((1..=10).contains(&most), "{most} handshakes at once");
    let body = validate_http01(http01, Duration::from_secs(10)).await;
    assert_eq!(
        body.as_deref(),
        Some("tok-limits.thumb"),
        "http-01 unaffected"
    );
    let out = validate_tls_alpn(tls).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ALPN protocol: acme-tls/1"), "{}", show(&out));
    assert!(all_dropped(half, Duration::from_secs(30)).await);
    capped.server.stop().await;
}

/// Idle DNS-over-TCP and DNS-over-HTTPS clients are bounded the same way; UDP answers
/// throughout.
#[actix_rt::test]
async fn idle_dns_clients_are_bounded() {
    require("curl");
    // A client timeout a real client (curl, below) meets on a loaded machine: the TLS
    // handshake and the request of a new process can take several hundred milliseconds.
    let capped = Capped::start(10, Duration::from_secs(2)).await;
    let settings = &capped.settings;
    let (dns, doh) = (settings.dns[0], settings.doh[0]);
    let idle_tcp = hold(dns, 30, b"").await;
    let idle_doh = hold(doh, 30, b"").await;
    assert_eq!(ask_dns(dns, false).await, ResponseCode::NoError);
    let most_tcp = most_accepted(dns, &idle_tcp, Duration::from_millis(500)).await;
    let most_doh = most_accepted(doh, &idle_doh, Duration::from_millis(500)).await;
    assert!((1..=10).contains(&most_tcp), "{most_tcp} DNS/TCP at once");
    assert!((1..=10).contains(&most_doh), "{most_doh} DoH at once");
    assert_eq!(ask_dns(dns, true).await, ResponseCode::NoError);
    assert!(all_dropped(idle_tcp, Duration::from_secs(30)).await);
    assert!(all_dropped(idle_doh, Duration::from_secs(30)).await);
    let param = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(question());
    let url = format!("https://{doh}/dns-query?dns={param}");
    // A client the server dropped as too slow tries again, as a resolver would.
    let args = ["--retry", "3", "--retry-all-errors", "--retry-delay", "0"].map(String::from);
    let args = [&args[..], &[url]].concat();
    let out = curl_status(&capped.pki.ca, &args, Duration::from_secs(20)).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "{}",
        show(&out)
    );
    capped.server.stop().await;
}
