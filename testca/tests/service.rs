//! Running as a service: HTTPS listener, UDP resolver (benchmark mode), management API.

mod common;

use std::io::Write as _;

use common::{block_on, issue, Lab};
use openssl::ssl::{SslConnector, SslMethod};
use serde_json::json;
use testca::{Config, TestCa};

#[test]
fn fast_mode_with_a_udp_resolver_issues() {
    let lab = Lab::start(|c| {
        let fast = Config::fast();
        c.account_cache_ttl = fast.account_cache_ttl;
        c.workers = 2;
        c.doh_url = None;
    });
    block_on(async {
        let client = lab.client().await;
        issue(&lab, &client, &[&lab.name("udp")], "http-01", json!({})).await;
        issue(&lab, &client, &[&lab.name("udp")], "dns-01", json!({})).await;
        assert!(lab.zone.queries.load(std::sync::atomic::Ordering::Relaxed) >= 3);
    });
}

#[test]
fn https_listener_and_management_api() {
    let (cert, key) =
        common::responders::self_signed(&["localhost"], Some("127.0.0.1".parse().unwrap()), None);
    let mut cert_file = tempfile::NamedTempFile::new().unwrap();
    cert_file.write_all(&cert.to_pem().unwrap()).unwrap();
    let mut key_file = tempfile::NamedTempFile::new().unwrap();
    key_file
        .write_all(&key.private_key_to_pem_pkcs8().unwrap())
        .unwrap();
    let ca = TestCa::start(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: Some(cert_file.path().into()),
        tls_key: Some(key_file.path().into()),
        ..Config::default()
    })
    .unwrap();
    assert!(ca.directory_url().starts_with("https://127.0.0.1:"));
    block_on(async {
        let mut ssl = SslConnector::builder(SslMethod::tls()).unwrap();
        ssl.cert_store_mut().add_cert(cert.clone()).unwrap();
        let http = awc::Client::builder()
            .connector(awc::Connector::new().openssl(ssl.build()))
            .finish();
        let dir: serde_json::Value = http
            .get(ca.directory_url())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(dir["newOrder"].as_str().unwrap().starts_with("https://"));
        let root = http
            .get(format!("{}/testca/roots/0", ca.base_url()))
            .send()
            .await
            .unwrap()
            .body()
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&root), ca.root_pem());
        let stats: serde_json::Value = http
            .get(format!("{}/testca/stats", ca.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stats["certificates"], 0);
        let missing = http
            .get(format!("{}/testca/cert-status/00", ca.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        // The routes with path parameters, in their scopes: a wrong method is Boulder's 405,
        // a path that only starts like a route is the plain 404.
        for (method, path, status) in [
            ("GET", "/acme/finalize/1/2", 405),
            ("GET", "/acme/acct/1", 405),
            ("POST", "/acme/renewal-info/x", 405),
            ("GET", "/acme/authz/1", 404),
            ("GET", "/acme/authzx/1/2", 404),
            ("GET", "/acme/chall/1/2", 404),
            ("GET", "/acme/authz/1/2", 404),
        ] {
            let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
            let res = http
                .request(method.clone(), format!("{}{path}", ca.base_url()))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), status, "{method} {path}");
        }
    });
}
