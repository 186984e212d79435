//! The embedded DNS server, asked with `dig` over UDP, TCP and HTTPS (RFC 8484, POST and GET,
//! the server's certificate verified): A and AAAA for every name under the base domains, TXT
//! for dns-01 (several values under one name), NODATA, REFUSED (not authoritative) for every
//! other name, BADVERS for an EDNS version it does not speak, names in any case.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use actix::Actor;
use common::tls::Pki;
use common::{curl_status, free_addr, require, run_bounded, show, start_on_free_ports};
use wile_e_coyote::challenge::doh::DohTls;
use wile_e_coyote::challenge::registry::txt_value;
use wile_e_coyote::challenge::{
    dns, ChallengeServer, Limits, Publish, Registry, Response, ServerSettings, Withdraw,
};

const LIMITS: Limits = Limits {
    max_connections: 64,
    client_timeout: Duration::from_secs(10),
};

/// How dig asks.
#[derive(Debug, Clone)]
enum Via {
    Udp,
    Tcp,
    /// DNS over HTTPS, verifying the server against this CA; `get` for RFC 8484's GET form.
    Https {
        ca: PathBuf,
        get: bool,
    },
}

/// What dig saw: the response code and the answer records' data.
#[derive(Debug)]
struct Answer {
    status: String,
    data: Vec<String>,
    /// The AA flag.
    authoritative: bool,
}

/// `dig` one question, off the System's thread (the server must keep serving meanwhile).
async fn dig(addr: SocketAddr, via: &Via, name: &str, kind: &str) -> Answer {
    dig_with(addr, via, name, kind, &[]).await
}

/// `dig` with extra options (`+edns=1`).
async fn dig_with(addr: SocketAddr, via: &Via, name: &str, kind: &str, extra: &[&str]) -> Answer {
    let mut args = vec![
        format!("@{}", addr.ip()),
        "-p".into(),
        addr.port().to_string(),
        "+tries=1".into(),
        "+time=3".into(),
        "+noall".into(),
        "+comments".into(),
        "+answer".into(),
        name.into(),
        kind.into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    match via {
        Via::Udp => {}
        Via::Tcp => args.push("+tcp".into()),
        Via::Https { ca, get } => {
            args.push("+https".into());
            args.push(format!("+tls-ca={}", ca.display()));
            if *get {
                args.push("+https-get".into());
            }
        }
    }
    let out = actix_rt::task::spawn_blocking(move || {
        let mut cmd = Command::new("dig");
        cmd.args(&args).stdin(Stdio::null());
        run_bounded(&mut cmd, Duration::from_secs(20))
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let authoritative = text
        .split("flags: ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .is_some_and(|flags| flags.split_whitespace().any(|f| f == "aa"));
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no status in dig's output:\n{text}"))
        .to_owned();
    let mut data: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(fields[1], "0", "TTL 0: {l}");
            assert_eq!(fields[3], kind, "{l}");
            fields[4..].join(" ")
        })
        .collect();
    data.sort();
    Answer {
        status,
        data,
        authoritative,
    }
}

#[actix_rt::test]
async fn answers_a_aaaa_txt_and_refuses_other_names_over_udp_tcp_and_https() {
    require("dig");
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "doh", &["127.0.0.1", "localhost"]);
    let addr = free_addr();
    let doh = free_addr();
    let mut settings = ServerSettings {
        dns: vec![addr],
        doh: vec![doh],
        doh_tls: Some(DohTls {
            certificate: pki.certificate.clone(),
            key: pki.key.clone(),
        }),
        zone: dns::Zone {
            base_domains: vec!["wile.test".into(), "second.example".into()],
            ipv4: vec!["127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap()],
            ipv6: vec!["::1".parse().unwrap()],
            domain_addresses: vec![],
        },
        limits: LIMITS,
        ..common::challenge_settings()
    };
    let server = start_on_free_ports(&mut settings, ChallengeServer::start);
    let (addr, doh) = (settings.dns[0], settings.doh[0]);
    let registry = server.registry.clone();

    let mut tickets = Vec::new();
    for (name, key_authorization) in [
        ("abc.wile.test", "t1.thumb"),
        ("*.abc.wile.test", "t2.thumb"),
    ] {
        let ticket = registry
            .send(Publish::new(Response::Dns01 {
                name: name.into(),
                key_authorization: key_authorization.into(),
            }))
            .await
            .unwrap()
            .unwrap();
        tickets.push(ticket);
    }
    let quoted = |k: &str| format!("\"{}\"", txt_value(k).unwrap());
    let mut both = vec![quoted("t1.thumb"), quoted("t2.thumb")];
    both.sort();

    let https = |get| Via::Https {
        ca: pki.ca.clone(),
        get,
    };
    for (via, at) in [
        (Via::Udp, addr),
        (Via::Tcp, addr),
        (https(false), doh),
        (https(true), doh),
    ] {
        for name in [
            "abc.wile.test",
            "ABC.Wile.TEST",
            "wile.test",
            "x.y.second.example",
        ] {
            let a = dig(at, &via, name, "A").await;
            assert_eq!(a.status, "NOERROR", "{via:?} {name}");
            assert!(a.authoritative, "{via:?} {name}");
            assert_eq!(a.data, ["127.0.0.1", "127.0.0.2"], "{via:?} {name}");
            let aaaa = dig(at, &via, name, "AAAA").await;
            assert_eq!(aaaa.data, ["::1"], "{via:?} {name}");
        }

        for name in [
            "_acme-challenge.abc.wile.test",
            "_ACME-Challenge.aBc.wile.test.",
        ] {
            let txt = dig(at, &via, name, "TXT").await;
            assert_eq!(txt.status, "NOERROR", "{via:?} {name}");
            assert_eq!(
                txt.data, both,
                "{via:?} {name}: wildcard and base share the name"
            );
        }

        let nodata = dig(at, &via, "_acme-challenge.other.wile.test", "TXT").await;
        assert_eq!(nodata.status, "NOERROR", "{via:?}: the name exists");
        assert!(nodata.data.is_empty(), "{via:?}: {nodata:?}");

        for name in ["abc.example", "wile.test.org", "awile.test", "test"] {
            let outside = dig(at, &via, name, "A").await;
            assert_eq!(outside.status, "REFUSED", "{via:?} {name}");
            assert!(!outside.authoritative, "{via:?} {name}: not its zone");
            assert!(outside.data.is_empty());
        }

        let future = dig_with(at, &via, "abc.wile.test", "A", &["+edns=1", "+noednsneg"]).await;
        assert_eq!(future.status, "BADVERS", "{via:?}");
        assert!(future.data.is_empty(), "{via:?}");
    }

    registry.send(Withdraw(tickets.remove(1))).await.unwrap();
    for (via, at) in [(Via::Udp, addr), (https(false), doh)] {
        let txt = dig(at, &via, "_acme-challenge.abc.wile.test", "TXT").await;
        assert_eq!(
            txt.data,
            [quoted("t1.thumb")],
            "{via:?}: the wildcard's value is gone"
        );
    }
    server.stop().await;
}

/// DNS over HTTPS refuses what is not a DNS query, and a client that does not trust the
/// listener's CA cannot talk to it.
#[actix_rt::test]
async fn dns_over_https_refuses_what_is_not_a_dns_message() {
    require("curl");
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "doh", &["127.0.0.1"]);
    let other = Pki::new(dir.path(), "other", &["127.0.0.1"]);
    let doh = free_addr();
    let mut settings = ServerSettings {
        doh: vec![doh],
        doh_tls: Some(DohTls {
            certificate: pki.certificate.clone(),
            key: pki.key.clone(),
        }),
        max_entries: 10,
        limits: LIMITS,
        ..common::challenge_settings()
    };
    let server = start_on_free_ports(&mut settings, ChallengeServer::start);
    let doh = settings.doh[0];
    let url = format!("https://{doh}/dns-query");
    let cases = [
        (
            vec![
                "-X".into(),
                "POST".into(),
                "-H".into(),
                "content-type: text/plain".into(),
                "--data".into(),
                "x".into(),
                url.clone(),
            ],
            "415",
        ),
        (
            vec![
                "-X".into(),
                "POST".into(),
                "-H".into(),
                "content-type: application/dns-message".into(),
                "--data".into(),
                "x".into(),
                url.clone(),
            ],
            "400",
        ),
        (vec![format!("{url}?dns=!!!")], "400"),
        (vec![format!("{url}?other=1")], "400"),
        (vec!["-X".into(), "PUT".into(), url.clone()], "405"),
        (vec![format!("https://{doh}/elsewhere")], "404"),
    ];
    for (args, status) in cases {
        let out = curl_status(&pki.ca, &args, Duration::from_secs(10)).await;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            status,
            "{args:?}\n{}",
            show(&out)
        );
    }
    let untrusted = curl_status(&other.ca, &[url], Duration::from_secs(10)).await;
    assert!(!untrusted.status.success(), "{}", show(&untrusted));
    server.stop().await;
}

#[actix_rt::test]
async fn a_taken_port_is_a_clear_error() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let registry = Registry::new(Duration::from_secs(60), 10).start();
    let zone = dns::Zone {
        base_domains: vec!["wile.test".into()],
        ipv4: vec![],
        ipv6: vec![],
        domain_addresses: vec![],
    };
    let err = dns::start(registry, zone, &[addr], LIMITS)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("DNS listener") && err.contains(&addr.to_string()) && err.contains("udp"),
        "{err}"
    );
}
