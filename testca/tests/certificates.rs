//! Revocation and renewal information as Boulder answers them.

mod common;

use common::client::{b64, Client};
use common::{authorize, block_on, cert_id, issue, Lab};
use serde_json::json;

fn der(issued: &common::Issued) -> String {
    b64(issued.cert.to_der().unwrap())
}

#[test]
fn revocation_reasons_are_stored_as_boulder_stores_them() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let owner = lab.client().await;
        let name = lab.name("rev");
        let url = owner.url("revokeCert");

        // By the certificate's key: keyCompromise whatever is asked, and the key is blocked.
        let a = issue(&lab, &owner, &[&name], "http-01", json!({})).await;
        let res = owner
            .post_jwk(&a.key, &url, &json!({"certificate": der(&a), "reason": 4}))
            .await;
        assert_eq!(res.status, 200, "{:?}", res.json());
        assert_eq!(lab.ca.cert_status(&a.serial).unwrap().reason, Some(1));
        let res = owner
            .post_jwk(&a.key, &url, &json!({"certificate": der(&a)}))
            .await;
        assert_eq!(res.problem().1, "alreadyRevoked");
        let order = owner.new_order(&[&name], json!({})).await.json();
        let body = json!({"csr": b64(common::client::csr(&a.key, &[&name]))});
        let (status, kind, detail) = owner
            .post(order["finalize"].as_str().unwrap(), Some(&body))
            .await
            .problem();
        assert_eq!((status, kind.as_str()), (400, "badCSR"));
        assert!(
            detail.ends_with("invalid public key in CSR: public key is forbidden"),
            "{detail}"
        );

        // By another account holding valid authorizations for every name: forced to 5.
        let b = issue(&lab, &owner, &[&name], "http-01", json!({})).await;
        let other = lab.client().await;
        let order = other.new_order(&[&name], json!({})).await.json();
        authorize(
            &lab,
            &other,
            order["authorizations"][0].as_str().unwrap(),
            "dns-01",
        )
        .await;
        let res = other
            .post(&url, Some(&json!({"certificate": der(&b), "reason": 0})))
            .await;
        assert_eq!(res.status, 200, "{:?}", res.json());
        assert_eq!(lab.ca.cert_status(&b.serial).unwrap().reason, Some(5));

        // By an account without authorizations: unauthorized. Padded base64 is accepted.
        let c = issue(&lab, &owner, &[&name], "http-01", json!({})).await;
        let stranger = lab.client().await;
        let padded = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE,
            c.cert.to_der().unwrap(),
        );
        let (status, kind, _) = stranger
            .post(&url, Some(&json!({"certificate": padded})))
            .await
            .problem();
        assert_eq!((status, kind.as_str()), (403, "unauthorized"));
        // The owner: reasons outside {0, 1, 4, 5} are refused, the others stored.
        assert_eq!(
            owner
                .post(&url, Some(&json!({"certificate": padded, "reason": 6})))
                .await
                .problem()
                .1,
            "badRevocationReason"
        );
        assert_eq!(
            owner
                .post(&url, Some(&json!({"certificate": padded, "reason": 4})))
                .await
                .status,
            200
        );
        assert_eq!(lab.ca.cert_status(&c.serial).unwrap().reason, Some(4));
        assert_eq!(
            owner
                .post(&url, Some(&json!({"certificate": padded})))
                .await
                .problem()
                .1,
            "alreadyRevoked"
        );
        assert_eq!(lab.ca.stats().revocations, 3);
    });
}

#[test]
fn renewal_info_windows_and_unknown_issuers() {
    let lab = Lab::start(|_| {});
    block_on(async {
        let client = lab.client().await;
        let issued = issue(&lab, &client, &[&lab.name("ari")], "http-01", json!({})).await;
        let base = client.url("renewalInfo");
        let res = client
            .get(&format!("{base}/{}", cert_id(&issued.cert)))
            .await;
        assert_eq!(res.status, 200);
        let retry: u64 = res.header("Retry-After").unwrap().parse().unwrap();
        assert!((17_280..=25_920).contains(&retry));
        let window = res.json()["suggestedWindow"].clone();
        let start = time::OffsetDateTime::parse(
            window["start"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let days = (start - time::OffsetDateTime::now_utc()).whole_days();
        assert!((57..=60).contains(&days), "window starts in {days} days");
        let serial = cert_id(&issued.cert).split('.').nth(1).unwrap().to_string();
        let res = client
            .get(&format!("{base}/{}.{serial}", b64([7u8; 20])))
            .await;
        assert_eq!(res.problem().0, 404);
        assert!(res.problem().2.contains("did not match a known issuer"));
        let aki = cert_id(&issued.cert).split('.').next().unwrap().to_string();
        assert_eq!(
            client
                .get(&format!("{base}/{aki}.{}", b64([1u8; 18])))
                .await
                .problem()
                .0,
            404
        );
        assert_eq!(client.get(&format!("{base}/nodot")).await.problem().0, 400);
        // A revoked certificate should be renewed at once: its window is in the past.
        let res = client
            .post_jwk(
                &issued.key,
                &client.url("revokeCert"),
                &json!({"certificate": b64(issued.cert.to_der().unwrap())}),
            )
            .await;
        assert_eq!(res.status, 200);
        let window = client
            .get(&format!("{base}/{}", cert_id(&issued.cert)))
            .await
            .json()["suggestedWindow"]
            .clone();
        let end = time::OffsetDateTime::parse(
            window["end"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!(end < time::OffsetDateTime::now_utc());
        // Certificates are served to anyone by GET, to the owner only by POST-as-GET.
        let cert_url = issued.order["certificate"].as_str().unwrap();
        assert_eq!(client.get(cert_url).await.status, 200);
        let mut stranger = Client::new(&lab.ca.directory_url()).await;
        stranger.register().await;
        assert_eq!(
            stranger.post(cert_url, None).await.problem().1,
            "unauthorized"
        );
    });
}
