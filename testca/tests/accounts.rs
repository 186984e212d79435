//! Accounts, JWS checks and Boulder's account cache window.

mod common;

use common::client::{jws, p256, Signer};
use common::{block_on, eventually, Lab};
use serde_json::json;
use std::time::Duration;

#[test]
fn key_change_inside_and_after_the_account_cache_window() {
    let lab = Lab::start(|c| c.account_cache_ttl = Duration::from_secs(1));
    block_on(async {
        let mut client = lab.client().await;
        // Fill the cache with the old key.
        assert_eq!(client.post(&client.kid.clone(), None).await.status, 200);
        let new_key = p256();
        let url = client.url("keyChange");
        let inner = jws(
            Signer::Jwk(&new_key),
            &url,
            None,
            Some(&json!({"account": client.kid, "oldKey": common::client::jwk(&client.key)})),
        );
        let res = client.post(&url, Some(&inner)).await;
        assert_eq!(res.status, 200, "{:?}", res.json());
        let old_key = std::mem::replace(&mut client.key, new_key);
        // Inside the window the new key is refused and the old one still works.
        let (status, kind, detail) = client.post(&client.kid.clone(), None).await.problem();
        assert_eq!((status, kind.as_str()), (400, "malformed"));
        assert_eq!(detail, "Unable to validate JWS :: JWS verification error");
        assert_eq!(
            client
                .post_with_key(&old_key, &client.kid.clone(), None)
                .await
                .status,
            200
        );
        // After it, the store's truth applies.
        eventually(5, || async {
            (client.post(&client.kid.clone(), None).await.status == 200).then_some(())
        })
        .await;
        let (status, kind, _) = client
            .post_with_key(&old_key, &client.kid.clone(), None)
            .await
            .problem();
        assert_eq!((status, kind.as_str()), (400, "malformed"));
        // The old key is free again only for a new account; the new key is taken.
        let res = client
            .post_jwk(
                &client.key.clone(),
                &client.url("newAccount"),
                &json!({"onlyReturnExisting": true}),
            )
            .await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("Location").unwrap(), client.kid);
    });
}

#[test]
fn deactivated_account_orders_until_the_cache_expires() {
    let lab = Lab::start(|c| c.account_cache_ttl = Duration::from_secs(1));
    block_on(async {
        let client = lab.client().await;
        let res = client
            .post(&client.kid, Some(&json!({"status": "deactivated"})))
            .await;
        assert_eq!(res.status, 200);
        assert_eq!(res.json()["status"], "deactivated");
        // Boulder's WFE still sees the cached valid account.
        let res = client.new_order(&[&lab.name("ghost")], json!({})).await;
        assert_eq!(res.status, 201, "{:?}", res.json());
        let refused = eventually(5, || async {
            let res = client.new_order(&[&lab.name("ghost")], json!({})).await;
            (res.status != 201).then_some(res)
        })
        .await;
        let (status, kind, detail) = refused.problem();
        assert_eq!((status, kind.as_str()), (403, "unauthorized"));
        assert_eq!(
            detail,
            "Unable to validate JWS :: Account is not valid, has status \"deactivated\""
        );
        // newAccount with the key names the deactivated account.
        let res = client
            .post_jwk(
                &client.key,
                &client.url("newAccount"),
                &json!({"termsOfServiceAgreed": true}),
            )
            .await;
        assert_eq!(res.problem().1, "unauthorized");
    });
}

#[test]
fn new_account_rules() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = common::client::Client::new(&lab.ca.directory_url()).await;
        let url = client.url("newAccount");
        let key = p256();
        let res = client
            .post_jwk(&key, &url, &json!({"onlyReturnExisting": true}))
            .await;
        assert_eq!(res.problem().1, "accountDoesNotExist");
        let res = client.post_jwk(&key, &url, &json!({})).await;
        assert_eq!(
            res.problem(),
            (
                400,
                "malformed".into(),
                "must agree to terms of service".into()
            )
        );
        let res = client
            .post_jwk(
                &key,
                &url,
                &json!({"termsOfServiceAgreed": true, "contact": ["tel:123"]}),
            )
            .await;
        assert_eq!(res.problem().1, "unsupportedContact");
        let res = client
            .post_jwk(
                &key,
                &url,
                &json!({"termsOfServiceAgreed": true, "contact": ["mailto:a@example.com"]}),
            )
            .await;
        assert_eq!(res.problem().1, "invalidContact");
        let res = client
            .post_jwk(
                &key,
                &url,
                &json!({"termsOfServiceAgreed": true, "contact": ["mailto:a@wile.com"]}),
            )
            .await;
        assert_eq!(res.status, 201);
        let account = res.json();
        assert_eq!(account["status"], "valid");
        assert!(
            account.get("contact").is_none(),
            "Boulder no longer returns contacts"
        );
        assert!(res.header("Link").unwrap().contains("terms-of-service"));
        let again = client
            .post_jwk(&key, &url, &json!({"termsOfServiceAgreed": true}))
            .await;
        assert_eq!(again.status, 200);
        assert_eq!(again.header("Location"), res.header("Location"));
    });
}

#[test]
fn jws_with_bad_signature_nonce_or_url_is_refused() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = lab.client().await;
        let url = client.kid.clone();
        // A signature by another key.
        let nonce = client.nonce().await;
        let body = jws(Signer::Kid(&p256(), &client.kid), &url, Some(&nonce), None);
        let res = client.send(&url, &body).await;
        assert_eq!(
            res.problem(),
            (
                400,
                "malformed".into(),
                "Unable to validate JWS :: JWS verification error".into()
            )
        );
        assert!(res.header("Replay-Nonce").is_some());
        // A nonce used twice.
        let nonce = client.nonce().await;
        let body = jws(
            Signer::Kid(&client.key, &client.kid),
            &url,
            Some(&nonce),
            None,
        );
        assert_eq!(client.send(&url, &body).await.status, 200);
        let res = client.send(&url, &body).await;
        assert_eq!(
            res.problem(),
            (
                400,
                "badNonce".into(),
                "JWS has an invalid anti-replay nonce".into()
            )
        );
        assert!(res.header("Replay-Nonce").is_some());
        // A nonce the CA never issued.
        let body = jws(
            Signer::Kid(&client.key, &client.kid),
            &url,
            Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            None,
        );
        assert_eq!(client.send(&url, &body).await.problem().1, "badNonce");
        // A url for another resource.
        let nonce = client.nonce().await;
        let body = jws(
            Signer::Kid(&client.key, &client.kid),
            &client.url("newOrder"),
            Some(&nonce),
            None,
        );
        let (status, kind, detail) = client.send(&url, &body).await.problem();
        assert_eq!((status, kind.as_str()), (400, "malformed"));
        assert!(
            detail.contains("JWS header parameter 'url' incorrect"),
            "{detail}"
        );
        // The wrong content type, and a body over Boulder's limit.
        let res = awc::Client::new()
            .post(&url)
            .insert_header(("Content-Type", "application/json"))
            .send_body("{}")
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let big = json!({"protected": "x".repeat(60_000), "payload": "", "signature": "AA"});
        assert_eq!(client.send(&url, &big).await.problem().0, 403);
        assert!(lab.ca.stats().bad_nonces >= 2);
    });
}

#[test]
fn registrations_are_limited_per_x_real_ip() {
    let lab = Lab::start(|c| {
        c.rate_limits.new_registrations_per_ip_address =
            Some(testca::Limit::new(1, Duration::from_secs(3600)))
    });
    block_on(async {
        let client = common::client::Client::new(&lab.ca.directory_url()).await;
        let url = client.url("newAccount");
        let register = |ip: &'static str| {
            let client = &client;
            let url = url.clone();
            async move {
                let nonce = client.nonce().await;
                let body = jws(
                    Signer::Jwk(&p256()),
                    &url,
                    Some(&nonce),
                    Some(&json!({"termsOfServiceAgreed": true})),
                );
                client.send_with(&url, &body, &[("X-Real-IP", ip)]).await
            }
        };
        assert_eq!(register("64.112.117.1").await.status, 201);
        let res = register("64.112.117.1").await;
        let (status, kind, detail) = res.problem();
        assert_eq!((status, kind.as_str()), (429, "rateLimited"));
        assert!(
            detail.starts_with("too many new registrations (1) from this IP address"),
            "{detail}"
        );
        assert!(res.header("Retry-After").is_some());
        assert_eq!(register("64.112.117.2").await.status, 201);
    });
}

#[test]
fn key_change_to_a_key_in_use_is_a_conflict() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = lab.client().await;
        let other = lab.client().await;
        let url = client.url("keyChange");
        let inner = jws(
            Signer::Jwk(&other.key),
            &url,
            None,
            Some(&json!({"account": client.kid, "oldKey": common::client::jwk(&client.key)})),
        );
        let res = client.post(&url, Some(&inner)).await;
        assert_eq!(res.problem().0, 409);
        assert_eq!(res.problem().1, "conflict");
        assert_eq!(res.header("Location").unwrap(), other.kid);
        // An inner JWS for another URL is malformed.
        let inner = jws(
            Signer::Jwk(&p256()),
            &client.url("newOrder"),
            None,
            Some(&json!({"account": client.kid, "oldKey": common::client::jwk(&client.key)})),
        );
        assert_eq!(
            client.post(&url, Some(&inner)).await.problem().1,
            "malformed"
        );
    });
}
