//! The embedded DNS server, asked with `dig` over UDP and TCP: A and AAAA for every name under
//! the base domains, TXT for dns-01 (several values under one name), NODATA, NXDOMAIN
//! elsewhere, names in any case.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use actix::Actor;
use common::{free_port, require, run_bounded, show};
use wile_e_coyote::challenge::registry::txt_value;
use wile_e_coyote::challenge::{dns, Publish, Registry, Response, Withdraw};

/// What dig saw: the response code and the answer records' data.
#[derive(Debug)]
struct Answer {
    status: String,
    data: Vec<String>,
}

/// `dig` one question, off the System's thread (the server must keep serving meanwhile).
async fn dig(addr: SocketAddr, tcp: bool, name: &str, kind: &str) -> Answer {
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
    if tcp {
        args.push("+tcp".into());
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
    Answer { status, data }
}

#[actix_rt::test]
async fn answers_a_aaaa_txt_and_nxdomain_over_udp_and_tcp() {
    require("dig");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let registry = Registry::new(Duration::from_secs(60), 100).start();
    let zone = dns::Zone {
        base_domains: vec!["wile.test".into(), "second.example".into()],
        ipv4: vec!["127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap()],
        ipv6: vec!["::1".parse().unwrap()],
    };
    let server = dns::start(registry.clone(), zone, &[addr]).unwrap();

    let mut tickets = Vec::new();
    for (name, key_authorization) in [
        ("abc.wile.test", "t1.thumb"),
        ("*.abc.wile.test", "t2.thumb"),
    ] {
        let ticket = registry
            .send(Publish(Response::Dns01 {
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

    for tcp in [false, true] {
        let via = if tcp { "tcp" } else { "udp" };
        for name in [
            "abc.wile.test",
            "ABC.Wile.TEST",
            "wile.test",
            "x.y.second.example",
        ] {
            let a = dig(addr, tcp, name, "A").await;
            assert_eq!(a.status, "NOERROR", "{via} {name}");
            assert_eq!(a.data, ["127.0.0.1", "127.0.0.2"], "{via} {name}");
            let aaaa = dig(addr, tcp, name, "AAAA").await;
            assert_eq!(aaaa.data, ["::1"], "{via} {name}");
        }

        for name in [
            "_acme-challenge.abc.wile.test",
            "_ACME-Challenge.aBc.wile.test.",
        ] {
            let txt = dig(addr, tcp, name, "TXT").await;
            assert_eq!(txt.status, "NOERROR", "{via} {name}");
            assert_eq!(
                txt.data, both,
                "{via} {name}: wildcard and base share the name"
            );
        }

        let nodata = dig(addr, tcp, "_acme-challenge.other.wile.test", "TXT").await;
        assert_eq!(nodata.status, "NOERROR", "{via}: the name exists");
        assert!(nodata.data.is_empty(), "{via}: {nodata:?}");

        for name in ["abc.example", "wile.test.org", "awile.test", "test"] {
            let nx = dig(addr, tcp, name, "A").await;
            assert_eq!(nx.status, "NXDOMAIN", "{via} {name}");
            assert!(nx.data.is_empty());
        }
    }

    registry.send(Withdraw(tickets.remove(1))).await.unwrap();
    let txt = dig(addr, false, "_acme-challenge.abc.wile.test", "TXT").await;
    assert_eq!(
        txt.data,
        [quoted("t1.thumb")],
        "the wildcard's value is gone"
    );
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
    };
    let err = dns::start(registry, zone, &[addr])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("DNS listener") && err.contains(&addr.to_string()) && err.contains("udp"),
        "{err}"
    );
}
