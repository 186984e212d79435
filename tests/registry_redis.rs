//! The challenge Registry shared through a real `redis-server` (`challenge.registry`): two
//! challenge servers on one Redis, as two shards, each answering what the other published —
//! over a real HTTP GET, a real DNS query over UDP and a real TLS handshake with ALPN
//! `acme-tls/1` — with the TTL set in Redis and withdrawals removing exactly what was
//! published. A Redis killed or frozen mid-run leaves each shard answering its own entries,
//! reported once, every call bounded by the registry timeout, and lookups no longer waiting
//! for Redis once it is known to be out.

mod common;

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use actix::Addr;
use common::free_port;
use common::redis::{RedisServer, Value};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wile_e_coyote::challenge::alpn_cert::acme_identifier_value;
use wile_e_coyote::challenge::redis_store::SKIP_AFTER;
use wile_e_coyote::challenge::registry::txt_value;
use wile_e_coyote::challenge::{
    ChallengeServer, Publish, RedisStore, RedisUrl, Registry, Response, ServerSettings, Ticket,
    Withdraw,
};

const TIMEOUT: Duration = Duration::from_millis(250);
const TTL: Duration = Duration::from_secs(60);

/// One shard's challenge server and where it listens.
struct Shard {
    server: ChallengeServer,
    http01: SocketAddr,
    tlsalpn01: SocketAddr,
    dns: SocketAddr,
}

impl Shard {
    async fn start(redis: &RedisServer) -> Shard {
        let url: RedisUrl = redis.url().parse().unwrap();
        let store = RedisStore::connect(url, TIMEOUT).await.unwrap();
        let mut settings = ServerSettings {
            http01: vec![common::free_addr()],
            tlsalpn01: vec![common::free_addr()],
            dns: vec![common::free_addr()],
            ttl: TTL,
            ..common::challenge_settings()
        };
        let server = common::start_on_free_ports(&mut settings, |settings| {
            ChallengeServer::start_shared(settings, Some(store.clone()))
        });
        Shard {
            server,
            http01: settings.http01[0],
            tlsalpn01: settings.tlsalpn01[0],
            dns: settings.dns[0],
        }
    }

    fn registry(&self) -> &Addr<Registry> {
        &self.server.registry
    }

    async fn publish(&self, response: Response) -> Ticket {
        self.registry()
            .send(Publish::new(response))
            .await
            .unwrap()
            .unwrap()
    }

    /// What the http-01 listener answers for `token` (one HTTP/1.1 request on a connection
    /// of its own, as a validator sends it): the status and the body.
    async fn http01(&self, token: &str) -> (u16, String) {
        let mut tcp = tokio::net::TcpStream::connect(self.http01).await.unwrap();
        let request = format!(
            "GET /.well-known/acme-challenge/{token} HTTP/1.1\r\nHost: x.wile.test\r\n\
             Connection: close\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        let status = answer.split(' ').nth(1).unwrap().parse().unwrap();
        let body = answer.split_once("\r\n\r\n").unwrap().1;
        (status, body.to_owned())
    }

    /// The TXT values the DNS answers over UDP for `name`.
    async fn txt(&self, name: &str) -> Vec<String> {
        let mut query = Message::query();
        query.metadata.id = 4242;
        query.add_query(Query::query(
            Name::from_ascii(name).unwrap(),
            RecordType::TXT,
        ));
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket
            .send_to(&query.to_vec().unwrap(), self.dns)
            .await
            .unwrap();
        let mut buf = vec![0; 4096];
        let n = actix_rt::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
            .await
            .expect("the DNS answers")
            .unwrap();
        let answer = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(answer.metadata.id, 4242);
        answer
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(txt.to_string()),
                _ => None,
            })
            .collect()
    }

    /// A tls-alpn-01 handshake with SNI `name`: the certificate presented, if the handshake
    /// succeeded.
    async fn tls_alpn(&self, name: &str) -> Option<X509> {
        let mut connector = SslConnector::builder(SslMethod::tls_client()).unwrap();
        connector.set_verify(SslVerifyMode::NONE);
        connector.set_alpn_protos(b"\x0aacme-tls/1").unwrap();
        let ssl = connector
            .build()
            .configure()
            .unwrap()
            .into_ssl(name)
            .unwrap();
        let tcp = tokio::net::TcpStream::connect(self.tlsalpn01)
            .await
            .unwrap();
        let mut stream = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
        Pin::new(&mut stream).connect().await.ok()?;
        assert_eq!(
            stream.ssl().selected_alpn_protocol(),
            Some(&b"acme-tls/1"[..])
        );
        stream.ssl().peer_certificate()
    }
}

/// Whether `cert` is the RFC 8737 certificate for `name` proving `key_authorization`.
fn proves(cert: &X509, name: &str, key_authorization: &str) -> bool {
    let sans: Vec<String> = cert
        .subject_alt_names()
        .unwrap()
        .iter()
        .filter_map(|n| n.dnsname().map(str::to_owned))
        .collect();
    let der = cert.to_der().unwrap();
    let digest = acme_identifier_value(key_authorization).unwrap();
    sans == [name] && der.windows(digest.len()).any(|w| w == digest)
}

fn bulk(value: &str) -> Value {
    Value::Bulk(Some(value.into()))
}

#[actix_rt::test]
async fn each_shard_answers_what_the_other_published() {
    let redis = RedisServer::start();
    let (a, b) = (Shard::start(&redis).await, Shard::start(&redis).await);

    let http = a
        .publish(Response::Http01 {
            token: "tok-a1".into(),
            key_authorization: "tok-a1.thumb".into(),
        })
        .await;
    let txt = a
        .publish(Response::Dns01 {
            name: "*.d1.s1.wile.test".into(),
            key_authorization: "tok-d1.thumb".into(),
        })
        .await;
    let alpn = a
        .publish(Response::TlsAlpn01 {
            name: "t1.s1.wile.test".into(),
            key_authorization: "tok-t1.thumb".into(),
        })
        .await;

    // In Redis, under their keys, with the Registry's TTL.
    assert_eq!(
        redis.call(&["GET", "wec:http01:tok-a1"]),
        bulk("tok-a1.thumb")
    );
    assert_eq!(
        redis.call(&["GET", "wec:alpn:t1.s1.wile.test"]),
        bulk("tok-t1.thumb")
    );
    let txt_key = "wec:dns01:_acme-challenge.d1.s1.wile.test";
    let value = txt_value("tok-d1.thumb").unwrap();
    assert_eq!(
        redis.call(&["ZRANGE", txt_key, "0", "-1"]),
        Value::Array(vec![bulk(&value)])
    );
    for key in ["wec:http01:tok-a1", "wec:alpn:t1.s1.wile.test", txt_key] {
        let pttl = redis.int(&["PTTL", key]);
        assert!(
            pttl > 0 && pttl <= TTL.as_millis() as i64,
            "{key}: PTTL {pttl}"
        );
    }

    // Shard b holds none of it, and answers all of it.
    assert_eq!(b.http01("tok-a1").await, (200, "tok-a1.thumb".into()));
    assert_eq!(b.http01("tok-unknown").await.0, 404);
    assert_eq!(
        b.txt("_acme-challenge.D1.s1.wile.test.").await,
        std::slice::from_ref(&value)
    );
    assert!(b.txt("_acme-challenge.other.wile.test.").await.is_empty());
    let cert = b.tls_alpn("t1.s1.wile.test").await.expect("a certificate");
    assert!(proves(&cert, "t1.s1.wile.test", "tok-t1.thumb"));
    assert!(b.tls_alpn("other.s1.wile.test").await.is_none());
    // And a's own listeners answer from its own entries.
    assert_eq!(a.http01("tok-a1").await, (200, "tok-a1.thumb".into()));
    let own = a.tls_alpn("t1.s1.wile.test").await.expect("a certificate");
    assert!(proves(&own, "t1.s1.wile.test", "tok-t1.thumb"));

    // b publishes a second TXT value under the same name: both shards see both.
    let second = b
        .publish(Response::Dns01 {
            name: "d1.s1.wile.test".into(),
            key_authorization: "tok-d2.thumb".into(),
        })
        .await;
    let mut both = vec![value.clone(), txt_value("tok-d2.thumb").unwrap()];
    both.sort();
    for shard in [&a, &b] {
        let mut seen = shard.txt("_acme-challenge.d1.s1.wile.test").await;
        seen.sort();
        assert_eq!(seen, both);
    }

    // Withdrawn: gone from Redis, so from the other shard too; b's value stays.
    for ticket in [http, txt, alpn] {
        a.registry().send(Withdraw(ticket)).await.unwrap();
    }
    for key in ["wec:http01:tok-a1", "wec:alpn:t1.s1.wile.test"] {
        assert_eq!(redis.int(&["EXISTS", key]), 0, "{key}");
    }
    assert_eq!(b.http01("tok-a1").await.0, 404);
    assert!(b.tls_alpn("t1.s1.wile.test").await.is_none());
    assert_eq!(
        b.txt("_acme-challenge.d1.s1.wile.test").await,
        [txt_value("tok-d2.thumb").unwrap()]
    );
    b.registry().send(Withdraw(second)).await.unwrap();
    assert_eq!(redis.int(&["EXISTS", txt_key]), 0);

    let stats = b.server.shared_stats().unwrap().summary();
    assert!(stats.shared_answers >= 3, "{stats:?}");
    assert_eq!((stats.failed, stats.outages), (0, 0), "{stats:?}");
    assert_eq!(stats.backend, redis.url());
}

/// Withdrawing deletes only what is still ours: a key another publisher overwrote stays.
#[actix_rt::test]
async fn withdraw_leaves_a_value_that_is_no_longer_ours() {
    let redis = RedisServer::start();
    let a = Shard::start(&redis).await;
    let ticket = a
        .publish(Response::TlsAlpn01 {
            name: "same.s1.wile.test".into(),
            key_authorization: "old.thumb".into(),
        })
        .await;
    redis.call(&[
        "SET",
        "wec:alpn:same.s1.wile.test",
        "new.thumb",
        "PX",
        "60000",
    ]);
    a.registry().send(Withdraw(ticket)).await.unwrap();
    assert_eq!(
        redis.call(&["GET", "wec:alpn:same.s1.wile.test"]),
        bulk("new.thumb")
    );
}

/// Times `lookups` http-01 lookups of `token` on `shard`, each bounded by a generous guard
/// (a hang fails the test): the slowest, printed.
async fn slowest_lookup(shard: &Shard, token: &str, expect: u16, lookups: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for _ in 0..lookups {
        let began = Instant::now();
        let (status, _) = actix_rt::time::timeout(Duration::from_secs(30), shard.http01(token))
            .await
            .expect("a lookup returned");
        assert_eq!(status, expect, "{token}");
        slowest = slowest.max(began.elapsed());
    }
    slowest
}

#[actix_rt::test]
async fn a_redis_outage_leaves_each_shard_its_own_entries() {
    let mut redis = RedisServer::start();
    let (a, b) = (Shard::start(&redis).await, Shard::start(&redis).await);
    let mine = |token: &str| Response::Http01 {
        token: token.into(),
        key_authorization: format!("{token}.thumb"),
    };
    a.publish(mine("tok-before")).await;
    assert_eq!(b.http01("tok-before").await.0, 200);

    // Frozen: every call times out. a still answers its own entry at once; its lookups of
    // what it does not hold wait for the timeout until SKIP_AFTER of them failed in a row,
    // then answer at once; b no longer finds a's entry; publishing still works (locally).
    redis.freeze();
    let own = slowest_lookup(&a, "tok-before", 200, 3).await;
    let waited = slowest_lookup(&a, "tok-nowhere", 404, SKIP_AFTER as usize).await;
    let skipped = slowest_lookup(&a, "tok-nowhere", 404, 3).await;
    assert_eq!(b.http01("tok-before").await.0, 404, "only in Redis for b");
    let began = Instant::now();
    a.publish(mine("tok-during")).await;
    let publish = began.elapsed();
    assert_eq!(
        a.http01("tok-during").await,
        (200, "tok-during.thumb".into())
    );
    let stats = a.server.shared_stats().unwrap().summary();
    assert_eq!(stats.outages, 1, "reported once: {stats:?}");
    assert_eq!(stats.skipped, 3, "{stats:?}");
    assert_eq!(stats.timed_out, u64::from(SKIP_AFTER) + 1, "{stats:?}");
    let stats = b.server.shared_stats().unwrap().summary();
    assert_eq!((stats.outages, stats.timed_out), (1, 1), "{stats:?}");
    println!(
        "frozen Redis (timeout {TIMEOUT:?}), slowest: own entry {own:?}, lookups asking \
         Redis {waited:?}, lookups left out {skipped:?}, publish {publish:?}"
    );

    // Killed: refused at once; the same fallback, still one outage per shard.
    redis.thaw();
    redis.kill();
    assert_eq!(a.http01("tok-before").await.0, 200);
    let refused = slowest_lookup(&b, "tok-before", 404, 3).await;
    let stats = b.server.shared_stats().unwrap().summary();
    assert_eq!(stats.outages, 1, "{stats:?}");
    println!("killed Redis: missing entry {refused:?} at the slowest; b: {stats:?}");

    // Back (empty, on the same port): publishes reach it again at once.
    redis.restart();
    let began = Instant::now();
    let ticket = loop {
        let ticket = a.publish(mine("tok-after")).await;
        if redis.call(&["GET", "wec:http01:tok-after"]) == bulk("tok-after.thumb") {
            break ticket;
        }
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "Redis never used again"
        );
        a.registry().send(Withdraw(ticket)).await.unwrap();
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    };
    // b asks Redis again once its own retry is due.
    while b.http01("tok-after").await.0 != 200 {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "b never asked again"
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    a.registry().send(Withdraw(ticket)).await.unwrap();
    let stats = a.server.shared_stats().unwrap().summary();
    assert_eq!(stats.outages, 1, "{stats:?}");
    assert!(
        stats.skipped >= 1,
        "calls skipped during the outage: {stats:?}"
    );
}

/// A Redis that cannot be reached, or refuses the password, ends the run at start (exit 1)
/// with the URL shown without its password.
#[test]
fn an_unusable_redis_is_refused_at_start() {
    let redis = RedisServer::start();
    redis.call(&["CONFIG", "SET", "requirepass", "right-one"]);
    let nobody = free_port();
    for (url, expected) in [
        (
            format!("redis://u:hunter2@127.0.0.1:{nobody}"),
            format!("challenge.registry: Redis at redis://u:***@127.0.0.1:{nobody}"),
        ),
        (
            format!("redis://:hunter2@127.0.0.1:{}", redis.port),
            "WRONGPASS".to_owned(),
        ),
    ] {
        let out = common::run_bounded(
            common::wec()
                .args(["--duration", "1s", "hammer", "1"])
                .env("WEC_CHALLENGE__REGISTRY", &url)
                .env(
                    "WEC_CHALLENGE__HTTP01_LISTEN",
                    format!("127.0.0.1:{}", free_port()),
                )
                .env("WEC_CHALLENGE__TLSALPN01_LISTEN", "")
                .env("WEC_CHALLENGE__DNS_LISTEN", "")
                .env("WEC_CONTROL__LISTEN", "127.0.0.1:0"),
            Duration::from_secs(30),
        );
        let text = common::show(&out);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains(&expected), "{expected}\n{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
    let url = format!("redis://:right-one@127.0.0.1:{}", redis.port);
    let store = actix::System::new()
        .block_on(async { RedisStore::connect(url.parse().unwrap(), TIMEOUT).await });
    assert!(store.is_ok(), "the right password: {store:?}");
}
