//! Full issuance over each challenge type, against real validation.

mod common;

use common::{block_on, issue, Lab};
use openssl::x509::X509;
use serde_json::json;

#[test]
fn http01_issuance_chains_to_the_root() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = lab.client().await;
        let name = lab.name("www");
        let issued = issue(&lab, &client, &[&name], "http-01", json!({})).await;
        let chain = X509::stack_from_pem(issued.chain.as_bytes()).unwrap();
        assert_eq!(chain.len(), 2);
        let root = X509::from_pem(lab.ca.root_pem().as_bytes()).unwrap();
        assert!(chain[1].verify(&root.public_key().unwrap()).unwrap());
        assert!(chain[0].verify(&chain[1].public_key().unwrap()).unwrap());
        assert_eq!(
            issued.cert.authority_key_id().unwrap().as_slice(),
            lab.ca.issuer_key_id().as_slice()
        );
        assert_eq!(issued.serial.len(), 36);
        assert_eq!(lab.ca.cert_status(&issued.serial).unwrap().status, "good");
        let stats = lab.ca.stats();
        assert_eq!((stats.certificates, stats.validations_ok), (1, 1));
    });
}

#[test]
fn tls_alpn01_issuance_from_every_perspective() {
    let lab = Lab::start(|c| c.perspectives = 3);
    block_on(async {
        let client = lab.client().await;
        let name = lab.name("alpn");
        let issued = issue(&lab, &client, &[&name], "tls-alpn-01", json!({})).await;
        let sans: Vec<String> = issued
            .cert
            .subject_alt_names()
            .unwrap()
            .iter()
            .filter_map(|g| g.dnsname().map(String::from))
            .collect();
        assert_eq!(sans, vec![name]);
    });
}

#[test]
fn http01_is_fetched_once_per_perspective() {
    let lab = Lab::start(|c| c.perspectives = 4);
    block_on(async {
        let client = lab.client().await;
        let name = lab.name("mpic");
        issue(&lab, &client, &[&name], "http-01", json!({})).await;
        assert_eq!(
            lab.http01_hits.load(std::sync::atomic::Ordering::Relaxed),
            4
        );
    });
}

#[test]
fn dns01_wildcard_issuance_and_display() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = lab.client().await;
        let base = lab.name("wild");
        let wildcard = format!("*.{base}");
        let res = client.new_order(&[&wildcard], json!({})).await;
        assert_eq!(res.status, 201);
        let order = res.json();
        assert_eq!(order["identifiers"][0]["value"], wildcard.as_str());
        let authz_url = order["authorizations"][0].as_str().unwrap().to_string();
        // Plain GET works as on Boulder; a wildcard authz shows the base name.
        let authz = client.get(&authz_url).await.json();
        assert_eq!(authz["identifier"]["value"], base.as_str());
        assert_eq!(authz["wildcard"], true);
        let types: Vec<&str> = authz["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, vec!["dns-01"]);
        let issued = issue(&lab, &client, &[&wildcard, &base], "dns-01", json!({})).await;
        assert!(issued.chain.contains("BEGIN CERTIFICATE"));
    });
}

#[test]
fn challenges_are_offered_in_random_order_and_one_remains_after_an_attempt() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = lab.client().await;
        let mut orders = std::collections::HashSet::new();
        for _ in 0..12 {
            let res = client.new_order(&[&lab.name("shuffle")], json!({})).await;
            let authz = client
                .get(res.json()["authorizations"][0].as_str().unwrap())
                .await
                .json();
            let types: Vec<String> = authz["challenges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["type"].to_string())
                .collect();
            assert_eq!(types.len(), 3);
            orders.insert(types);
        }
        assert!(orders.len() > 1, "challenge order never changed");
        let res = client.new_order(&[&lab.name("one")], json!({})).await;
        let authz_url = res.json()["authorizations"][0]
            .as_str()
            .unwrap()
            .to_string();
        let done = common::authorize(&lab, &client, &authz_url, "http-01").await;
        assert_eq!(done["challenges"].as_array().unwrap().len(), 1);
        assert_eq!(done["challenges"][0]["status"], "valid");
        assert!(done["challenges"][0]["validated"].is_string());
    });
}
