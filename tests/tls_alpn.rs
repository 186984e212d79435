//! The tls-alpn-01 responder, checked from outside with the openssl command-line tools: the
//! certificate (SAN, critical acmeIdentifier extension holding SHA-256 of the key
//! authorization), and the refusals (no `acme-tls/1`, unknown or withdrawn name).

mod common;

use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use actix::Actor;
use common::{require, run_bounded};
use openssl::hash::{hash, MessageDigest};
use wile_e_coyote::challenge::{tlsalpn01, Limits, Publish, Registry, Response, Withdraw};

const LIMITS: Limits = Limits {
    max_connections: 64,
    client_timeout: Duration::from_secs(10),
};

const NAME: &str = "vx2kq9d0a1b2c3.wile.test";
const KEY_AUTHORIZATION: &str = "tok-abc.thumbprint-xyz";

/// Runs a command off the System's thread (the listener must keep serving meanwhile),
/// bounded in time, with no standard input.
async fn run(program: &str, args: Vec<String>) -> Output {
    let program = program.to_owned();
    actix_rt::task::spawn_blocking(move || {
        let mut cmd = Command::new(&program);
        cmd.args(&args).stdin(Stdio::null());
        run_bounded(&mut cmd, Duration::from_secs(20))
    })
    .await
    .unwrap()
}

/// `openssl s_client` to the listener with SNI `name` and the given ALPN offer (none when
/// empty), forcing a TLS version.
async fn handshake(addr: SocketAddr, name: &str, alpn: &str, version: &str) -> Output {
    let mut args = vec![
        "s_client".to_owned(),
        "-connect".into(),
        addr.to_string(),
        "-servername".into(),
        name.into(),
        version.into(),
    ];
    if !alpn.is_empty() {
        args.extend(["-alpn".to_owned(), alpn.into()]);
    }
    run("openssl", args).await
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The PEM certificate s_client printed.
fn pem_of(out: &Output) -> String {
    let all = String::from_utf8_lossy(&out.stdout);
    let start = all
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = all.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
    format!("{}\n", &all[start..end])
}

#[actix_rt::test]
async fn presents_the_rfc8737_certificate_and_refuses_everything_else() {
    require("openssl");
    let registry = Registry::new(Duration::from_secs(60), 100);
    let (addr, server) = common::retry_taken_ports(|| {
        let addr = common::free_addr();
        tlsalpn01::start(registry.alpn_certs(), &[addr], LIMITS).map(|server| (addr, server))
    });
    let registry = registry.start();
    let ticket = registry
        .send(Publish::new(Response::TlsAlpn01 {
            name: NAME.into(),
            key_authorization: KEY_AUTHORIZATION.into(),
        }))
        .await
        .unwrap()
        .unwrap();

    for version in ["-tls1_2", "-tls1_3"] {
        let out = handshake(addr, NAME, "acme-tls/1", version).await;
        assert!(out.status.success(), "{version}: {}", text(&out));
        assert!(
            text(&out).contains("ALPN protocol: acme-tls/1"),
            "{}",
            text(&out)
        );
    }

    // The certificate, parsed by openssl alone.
    let out = handshake(addr, &NAME.to_uppercase(), "h2,acme-tls/1", "-tls1_3").await;
    assert!(
        out.status.success(),
        "SNI is case-insensitive: {}",
        text(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, pem_of(&out)).unwrap();
    let cert = cert.to_str().unwrap().to_owned();

    let san = run(
        "openssl",
        vec![
            "x509".into(),
            "-in".into(),
            cert.clone(),
            "-noout".into(),
            "-ext".into(),
            "subjectAltName".into(),
        ],
    )
    .await;
    let san = text(&san);
    let sans: Vec<&str> = san
        .split_whitespace()
        .filter(|w| w.starts_with("DNS:"))
        .collect();
    assert_eq!(sans, [format!("DNS:{NAME}")], "{san}");

    // id-pe-acmeIdentifier: OID, then BOOLEAN TRUE (critical), then the extension value: the
    // DER OCTET STRING 04 20 || SHA-256(key authorization).
    let asn1 = run(
        "openssl",
        vec!["asn1parse".into(), "-in".into(), cert.clone()],
    )
    .await;
    let asn1 = text(&asn1);
    let lines: Vec<&str> = asn1.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("OBJECT") && l.contains(":1.3.6.1.5.5.7.1.31"))
        .unwrap_or_else(|| panic!("no acmeIdentifier extension:\n{asn1}"));
    assert!(
        lines[at + 1].contains("BOOLEAN") && lines[at + 1].trim_end().ends_with(":255"),
        "not critical: {}",
        lines[at + 1]
    );
    let digest = hash(MessageDigest::sha256(), KEY_AUTHORIZATION.as_bytes()).unwrap();
    let expected: String = std::iter::once("0420".to_owned())
        .chain(digest.iter().map(|b| format!("{b:02X}")))
        .collect();
    assert!(
        lines[at + 2].contains("OCTET STRING") && lines[at + 2].contains(&expected),
        "extension value is not SHA-256 of the key authorization: {}\nexpected [HEX DUMP]:{expected}",
        lines[at + 2]
    );

    // Refusals: no acme-tls/1 offered, no ALPN at all, a name without a challenge.
    for (name, alpn, why) in [
        (NAME, "h2,http/1.1", "ALPN without acme-tls/1"),
        (NAME, "", "no ALPN"),
        ("other.wile.test", "acme-tls/1", "unknown name"),
    ] {
        for version in ["-tls1_2", "-tls1_3"] {
            let out = handshake(addr, name, alpn, version).await;
            assert!(!out.status.success(), "{why} {version}: {}", text(&out));
            assert!(
                !text(&out).contains("BEGIN CERTIFICATE"),
                "{why} {version}: a certificate was sent"
            );
        }
    }

    registry.send(Withdraw(ticket)).await.unwrap();
    let out = handshake(addr, NAME, "acme-tls/1", "-tls1_3").await;
    assert!(!out.status.success(), "withdrawn: {}", text(&out));
    server.stop();
}

#[actix_rt::test]
async fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let registry = Registry::new(Duration::from_secs(60), 10);
    let err = tlsalpn01::start(registry.alpn_certs(), &[addr], LIMITS)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tls-alpn-01") && err.contains(&addr.to_string()),
        "{err}"
    );
}
