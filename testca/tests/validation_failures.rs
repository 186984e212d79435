//! Validation outcomes Boulder's VA produces: reserved addresses, wrong answers, DNS errors.

mod common;

use common::{authorize, block_on, Lab};
use serde_json::{json, Value};

async fn first_authz(_lab: &Lab, client: &common::client::Client, name: &str) -> String {
    let res = client.new_order(&[name], json!({})).await;
    assert_eq!(res.status, 201, "{:?}", res.json());
    res.json()["authorizations"][0]
        .as_str()
        .unwrap()
        .to_string()
}

fn error(authz: &Value) -> (String, String) {
    let e = &authz["challenges"][0]["error"];
    (
        e["type"].as_str().unwrap_or("").to_string(),
        e["detail"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn reserved_addresses_are_refused_unless_treated_as_public() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = lab.client().await;
        let name = lab.name("private");
        // 127.0.0.1 is loopback and outside treat_as_public (127.64.0.0/16).
        lab.zone
            .a
            .lock()
            .unwrap()
            .insert(name.clone(), vec!["127.0.0.1".parse().unwrap()]);
        let authz = authorize(
            &lab,
            &client,
            &first_authz(&lab, &client, &name).await,
            "http-01",
        )
        .await;
        assert_eq!(authz["status"], "invalid");
        let (kind, detail) = error(&authz);
        assert_eq!(kind, "urn:ietf:params:acme:error:dns");
        assert!(
            detail.contains(&format!("no valid A records found for {name}")),
            "{detail}"
        );
        assert_eq!(authz["challenges"][0]["status"], "invalid");
        // The same address passes once the allowlist covers it.
        let lab = Lab::start(|c| c.treat_as_public = vec!["127.0.0.0/8".parse().unwrap()]);
        let client = lab.client().await;
        let name = lab.name("allowed");
        let authz = authorize(
            &lab,
            &client,
            &first_authz(&lab, &client, &name).await,
            "http-01",
        )
        .await;
        assert_eq!(authz["status"], "valid");
    });
}

#[test]
fn wrong_key_authorization_is_unauthorized() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = lab.client().await;
        let name = lab.name("wrong");
        let url = first_authz(&lab, &client, &name).await;
        let authz = client.post(&url, None).await.json();
        let chall = common::challenge_of(&authz, "http-01");
        lab.http01
            .lock()
            .unwrap()
            .insert(chall["token"].as_str().unwrap().into(), "nope".into());
        let done = common::answer(&client, &chall, &url).await;
        let (kind, detail) = error(&done);
        assert_eq!(kind, "urn:ietf:params:acme:error:unauthorized");
        assert!(detail.contains("did not match this challenge"), "{detail}");
        assert_eq!(lab.ca.stats().validations_failed, 1);
    });
}

#[test]
fn missing_dns_record_and_non_critical_alpn_extension() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = lab.client().await;
        let name = lab.name("nxd");
        let url = first_authz(&lab, &client, &name).await;
        let authz = client.post(&url, None).await.json();
        let chall = common::challenge_of(&authz, "dns-01");
        let done = common::answer(&client, &chall, &url).await;
        let (kind, detail) = error(&done);
        assert_eq!(kind, "urn:ietf:params:acme:error:dns");
        assert!(
            detail.starts_with("DNS problem: NXDOMAIN looking up TXT for _acme-challenge."),
            "{detail}"
        );

        let name = lab.name("alpn");
        let url = first_authz(&lab, &client, &name).await;
        let authz = client.post(&url, None).await.json();
        let chall = common::challenge_of(&authz, "tls-alpn-01");
        let ka = client.key_authorization(chall["token"].as_str().unwrap());
        lab.alpn
            .lock()
            .unwrap()
            .insert(name.clone(), common::alpn_cert(&name, &ka, false));
        let done = common::answer(&client, &chall, &url).await;
        let (kind, detail) = error(&done);
        assert_eq!(kind, "urn:ietf:params:acme:error:unauthorized");
        assert!(
            detail.contains("acmeValidationV1 extension that is not Critical"),
            "{detail}"
        );
    });
}
