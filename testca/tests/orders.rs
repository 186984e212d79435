//! Orders and authorizations as Boulder handles them: reuse, expiry, profiles, policy,
//! ownership, finalize checks, rate limits.

mod common;

use common::client::{b64, csr, p256};
use common::{authorize, block_on, cert_id, eventually, issue, Lab};
use serde_json::json;
use std::time::Duration;
use testca::Limit;

#[test]
fn orders_and_valid_authorizations_are_reused() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = lab.client().await;
        let name = lab.name("reuse");
        let first = client.new_order(&[&name], json!({})).await;
        let second = client.new_order(&[&name], json!({})).await;
        assert_eq!(second.status, 201);
        assert_eq!(
            first.header("Location"),
            second.header("Location"),
            "pending order reused"
        );
        let authz = first.json()["authorizations"][0]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            authorize(&lab, &client, &authz, "http-01").await["status"],
            "valid"
        );
        // A different name set gets a new order, born ready thanks to the valid authz.
        let other = lab.name("other");
        let third = client.new_order(&[&name, &other], json!({})).await;
        assert!(third.json()["authorizations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == &json!(authz)));
        // Another account never reuses it.
        let stranger = lab.client().await;
        let theirs = stranger.new_order(&[&name], json!({})).await;
        assert_ne!(theirs.json()["authorizations"][0], json!(authz));
        assert_eq!(
            stranger
                .post(&first.header("Location").unwrap(), None)
                .await
                .status,
            404
        );
        assert_eq!(
            stranger.post(&authz, None).await.problem().1,
            "unauthorized"
        );
    });
}

#[test]
fn expired_authorizations_are_gone() {
    let lab = Lab::start(|c| c.authz_pending_lifetime = Duration::from_secs(1));
    block_on(async {
        let client = lab.client().await;
        let order = client
            .new_order(&[&lab.name("short")], json!({}))
            .await
            .json();
        let url = order["authorizations"][0].as_str().unwrap().to_string();
        assert_eq!(client.get(&url).await.status, 200);
        let gone = eventually(5, || async {
            let res = client.get(&url).await;
            (res.status == 404).then_some(res)
        })
        .await;
        assert_eq!(
            gone.problem(),
            (404, "malformed".into(), "Expired authorization".into())
        );
    });
}

#[test]
fn profiles_policy_and_finalize_checks() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = lab.client().await;
        assert_eq!(client.dir["meta"]["profiles"].as_object().unwrap().len(), 3);
        let res = client
            .new_order(&[&lab.name("p")], json!({"profile": "nope"}))
            .await;
        assert_eq!(res.problem().1, "invalidProfile");
        for bad in ["a.test", "a.localhost", "x.example.org", "a.internal"] {
            let (status, kind, _) = client.new_order(&[bad], json!({})).await.problem();
            assert_eq!(
                (status, kind.as_str()),
                (400, "rejectedIdentifier"),
                "{bad}"
            );
        }
        let name = lab.name("short");
        let issued = issue(
            &lab,
            &client,
            &[&name],
            "http-01",
            json!({"profile": "shortlived"}),
        )
        .await;
        assert_eq!(issued.order["profile"], "shortlived");
        let days = issued
            .cert
            .not_before()
            .diff(issued.cert.not_after())
            .unwrap();
        assert_eq!(days.days * 86_400 + days.secs, 160 * 3600 - 1);
        // Finalize: not ready, then a CSR for other names.
        let pending = client
            .new_order(&[&lab.name("notready")], json!({}))
            .await
            .json();
        let key = p256();
        let body = json!({"csr": b64(csr(&key, &["x.com"]))});
        let res = client
            .post(pending["finalize"].as_str().unwrap(), Some(&body))
            .await;
        assert_eq!(res.problem().0, 403);
        assert_eq!(res.problem().1, "orderNotReady");
        let name = lab.name("mismatch");
        let order = client.new_order(&[&name], json!({})).await.json();
        authorize(
            &lab,
            &client,
            order["authorizations"][0].as_str().unwrap(),
            "http-01",
        )
        .await;
        let body = json!({"csr": b64(csr(&key, &[&name, &lab.name("extra")]))});
        let (status, kind, _) = client
            .post(order["finalize"].as_str().unwrap(), Some(&body))
            .await
            .problem();
        assert_eq!((status, kind.as_str()), (403, "unauthorized"));
        let body = json!({"csr": b64(csr(&client.key, &[&name]))});
        assert_eq!(
            client
                .post(order["finalize"].as_str().unwrap(), Some(&body))
                .await
                .problem()
                .1,
            "malformed"
        );
    });
}

#[test]
fn new_orders_per_account_limit() {
    let lab = Lab::start(|c| {
        c.rate_limits.new_orders_per_account = Some(Limit::new(2, Duration::from_secs(3600)))
    });
    block_on(async {
        let client = lab.client().await;
        for _ in 0..2 {
            assert_eq!(
                client.new_order(&[&lab.name("rl")], json!({})).await.status,
                201
            );
        }
        let res = client.new_order(&[&lab.name("rl")], json!({})).await;
        let (status, kind, detail) = res.problem();
        assert_eq!((status, kind.as_str()), (429, "rateLimited"));
        assert!(
            detail.starts_with("too many new orders (2) from this account in the last 1h0m0s"),
            "{detail}"
        );
        let retry: u64 = res.header("Retry-After").unwrap().parse().unwrap();
        assert!((1800..=1860).contains(&retry), "{retry}");
        assert!(res.header("Link").unwrap().contains("rel=\"help\""));
        assert_eq!(lab.ca.stats().rate_limited["NewOrdersPerAccount"], 1);
    });
}

#[test]
fn renewals_count_against_the_fqdn_set_limit_and_replacements_are_single() {
    let lab = Lab::start(|c| {
        c.rate_limits.certificates_per_fqdn_set = Some(Limit::new(2, Duration::from_secs(3 * 3600)))
    });
    block_on(async {
        let client = lab.client().await;
        let name = lab.name("renew");
        let first = issue(&lab, &client, &[&name], "http-01", json!({})).await;
        let id = cert_id(&first.cert);
        // A replacement outside the ARI window is an ordinary order.
        let second = issue(&lab, &client, &[&name], "http-01", json!({"replaces": id})).await;
        assert_eq!(second.order["replaces"], id.as_str());
        let res = client.new_order(&[&name], json!({"replaces": id})).await;
        assert_eq!(res.problem().0, 409);
        assert_eq!(res.problem().1, "alreadyReplaced");
        // Two certificates for the set: the third order is refused, renewal or not.
        let res = client
            .new_order(&[&name], json!({"replaces": cert_id(&second.cert)}))
            .await;
        let (status, kind, detail) = res.problem();
        assert_eq!((status, kind.as_str()), (429, "rateLimited"));
        assert!(
            detail.contains("already issued for this exact set of identifiers"),
            "{detail}"
        );
        // Someone else's certificate cannot be replaced; an unknown one is not found.
        let stranger = lab.client().await;
        let res = stranger.new_order(&[&name], json!({"replaces": id})).await;
        assert_eq!(res.problem().0, 409);
        let res = stranger
            .new_order(&[&name], json!({"replaces": cert_id(&second.cert)}))
            .await;
        assert_eq!(res.problem().1, "unauthorized");
        let bogus = format!("{}.{}", id.split('.').next().unwrap(), b64([0x42u8; 18]));
        assert_eq!(
            stranger
                .new_order(&[&name], json!({"replaces": bogus}))
                .await
                .problem()
                .0,
            404
        );
    });
}

#[test]
fn deactivated_authorizations_invalidate_their_order() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = lab.client().await;
        let res = client.new_order(&[&lab.name("deact")], json!({})).await;
        let order_url = res.header("Location").unwrap();
        let authz = res.json()["authorizations"][0]
            .as_str()
            .unwrap()
            .to_string();
        let res = client
            .post(&authz, Some(&json!({"status": "deactivated"})))
            .await;
        assert_eq!(res.json()["status"], "deactivated");
        assert_eq!(
            client
                .post(&authz, Some(&json!({"status": "valid"})))
                .await
                .problem()
                .1,
            "malformed"
        );
        assert_eq!(client.get(&order_url).await.json()["status"], "invalid");
    });
}
