//! The Registry alone, in memory: every type published, looked up, withdrawn, expired, bounded.

use super::*;

fn http01(token: &str, value: &str) -> Publish {
    Publish::new(Response::Http01 {
        token: token.into(),
        key_authorization: value.into(),
    })
}

fn dns01(name: &str, value: &str) -> Publish {
    Publish::new(Response::Dns01 {
        name: name.into(),
        key_authorization: value.into(),
    })
}

fn tlsalpn01(name: &str, value: &str) -> Publish {
    Publish::new(Response::TlsAlpn01 {
        name: name.into(),
        key_authorization: value.into(),
    })
}

fn lookup(token: &str) -> Lookup {
    Lookup {
        token: token.into(),
    }
}

fn txt(name: &str) -> LookupTxt {
    LookupTxt { name: name.into() }
}

#[actix_rt::test]
async fn http01_publish_lookup_withdraw() {
    let registry = Registry::new(Duration::from_secs(60), 100).start();
    let ticket = registry.send(http01("t1", "t1.thumb")).await.unwrap();
    assert_eq!(
        registry.send(lookup("t1")).await.unwrap().as_deref(),
        Some("t1.thumb")
    );
    assert_eq!(registry.send(lookup("t2")).await.unwrap(), None);
    registry.send(Withdraw(ticket.unwrap())).await.unwrap();
    assert_eq!(registry.send(lookup("t1")).await.unwrap(), None);
    assert_eq!(registry.send(Size).await.unwrap(), 0);
}

#[actix_rt::test]
async fn dns01_wildcard_and_base_share_one_name_with_two_values() {
    let registry = Registry::new(Duration::from_secs(60), 100).start();
    let base = registry
        .send(dns01("X.wile.test", "a.thumb"))
        .await
        .unwrap()
        .unwrap();
    let wildcard = registry
        .send(dns01("*.x.wile.test", "b.thumb"))
        .await
        .unwrap()
        .unwrap();
    let mut values = registry
        .send(txt("_ACME-challenge.x.Wile.test."))
        .await
        .unwrap();
    values.sort();
    let mut expected = vec![txt_value("a.thumb").unwrap(), txt_value("b.thumb").unwrap()];
    expected.sort();
    assert_eq!(values, expected);
    assert_eq!(values[0].len(), 43, "base64url of 32 bytes, unpadded");
    assert_eq!(registry.send(Size).await.unwrap(), 2);

    registry.send(Withdraw(wildcard)).await.unwrap();
    assert_eq!(
        registry
            .send(txt("_acme-challenge.x.wile.test"))
            .await
            .unwrap(),
        vec![txt_value("a.thumb").unwrap()]
    );
    registry.send(Withdraw(base)).await.unwrap();
    assert!(registry
        .send(txt("_acme-challenge.x.wile.test"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(registry.send(Size).await.unwrap(), 0);
}

#[actix_rt::test]
async fn tlsalpn01_certificates_appear_and_go_with_the_challenge() {
    let registry = Registry::new(Duration::from_secs(60), 100);
    let certs = registry.alpn_certs();
    let registry = registry.start();
    let ticket = registry
        .send(tlsalpn01("Abc.wile.test", "tok.thumb"))
        .await
        .unwrap()
        .unwrap();
    let cert = certs.get("abc.WILE.test").expect("published");
    let san = cert.cert.subject_alt_names().unwrap();
    assert_eq!(san.get(0).unwrap().dnsname(), Some("abc.wile.test"));
    assert!(certs.get("other.wile.test").is_none());
    assert_eq!(registry.send(Size).await.unwrap(), 1);
    registry.send(Withdraw(ticket)).await.unwrap();
    assert!(certs.get("abc.wile.test").is_none());
    assert_eq!(registry.send(Size).await.unwrap(), 0);
}

#[actix_rt::test]
async fn refuses_when_full_until_an_entry_goes() {
    let registry = Registry::new(Duration::from_secs(60), 3).start();
    let first = registry.send(http01("t1", "v")).await.unwrap().unwrap();
    registry.send(dns01("a.test", "v")).await.unwrap().unwrap();
    registry
        .send(tlsalpn01("b.test", "v"))
        .await
        .unwrap()
        .unwrap();
    let err = registry.send(http01("t4", "v")).await.unwrap().unwrap_err();
    assert!(matches!(err, RegistryError::Full { max: 3 }), "{err:?}");
    assert!(err.to_string().contains("challenge.max_entries"), "{err}");
    let err = registry.send(dns01("c.test", "v")).await.unwrap();
    assert!(err.is_err(), "every type counts against the bound");
    assert_eq!(registry.send(lookup("t4")).await.unwrap(), None);

    registry.send(Withdraw(first)).await.unwrap();
    assert!(registry.send(http01("t4", "v")).await.unwrap().is_ok());
    assert_eq!(registry.send(Size).await.unwrap(), 3);
}

#[actix_rt::test]
async fn entries_of_every_type_expire_after_ttl() {
    tokio::time::pause();
    let registry = Registry::new(Duration::from_millis(40), 3);
    let certs = registry.alpn_certs();
    let registry = registry.start();
    registry.send(http01("t", "v")).await.unwrap().unwrap();
    registry.send(dns01("a.test", "v")).await.unwrap().unwrap();
    registry
        .send(tlsalpn01("b.test", "v"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(registry.send(Size).await.unwrap(), 3);
    actix_rt::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(registry.send(lookup("t")).await.unwrap(), None, "expired");
    assert!(registry
        .send(txt("_acme-challenge.a.test"))
        .await
        .unwrap()
        .is_empty());
    assert!(certs.get("b.test").is_none());
    actix_rt::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(registry.send(Size).await.unwrap(), 0, "swept");
}

#[actix_rt::test]
async fn a_full_registry_frees_expired_entries_before_refusing() {
    tokio::time::pause();
    // Not started: the periodic sweep never runs, only the sweep a full registry does.
    let mut registry = Registry::new(Duration::from_millis(200), 1);
    registry.publish(http01("t1", "v").response, None).unwrap();
    assert!(matches!(
        registry.publish(http01("t2", "v").response, None),
        Err(RegistryError::Full { .. })
    ));
    tokio::time::advance(Duration::from_millis(220)).await;
    assert_eq!(registry.len(), 1, "not swept yet");
    registry.publish(http01("t2", "v").response, None).unwrap();
    assert_eq!(registry.len(), 1);
}

/// Each type tells its chain when the CA first asks for it, and only then; withdrawn or
/// expired entries tell nobody.
#[actix_rt::test]
async fn serving_a_response_tells_its_chain() {
    tokio::time::pause();
    let registry = Registry::new(Duration::from_secs(60), 10);
    let certs = registry.alpn_certs();
    let registry = registry.start();
    let notifying = |publish: Publish| {
        let served = Served::default();
        let publish = Publish {
            served: Some(served.clone()),
            ..publish
        };
        (publish, served)
    };
    let told = |served: &Served| {
        let served = served.clone();
        async move {
            actix_rt::time::timeout(Duration::from_secs(1), served.wait())
                .await
                .is_ok()
        }
    };
    let (publish, web) = notifying(http01("t", "v"));
    registry.send(publish).await.unwrap().unwrap();
    let (publish, dns) = notifying(dns01("a.test", "v"));
    registry.send(publish).await.unwrap().unwrap();
    let (publish, tls) = notifying(tlsalpn01("b.test", "v"));
    registry.send(publish).await.unwrap().unwrap();
    let (publish, gone) = notifying(http01("gone", "v"));
    let ticket = registry.send(publish).await.unwrap().unwrap();
    registry.send(Withdraw(ticket)).await.unwrap();

    for served in [&web, &dns, &tls] {
        assert!(!told(served).await, "not asked for yet");
    }
    registry.send(lookup("t")).await.unwrap();
    registry.send(txt("_acme-challenge.A.test.")).await.unwrap();
    certs.get("B.TEST");
    registry.send(lookup("gone")).await.unwrap();
    for served in [&web, &dns, &tls] {
        assert!(told(served).await);
    }
    assert!(!told(&gone).await, "withdrawn before it was asked for");
}

#[test]
fn txt_names_drop_the_wildcard_and_ignore_case() {
    assert_eq!(txt_name("*.X.Wile.Test."), "_acme-challenge.x.wile.test");
    assert_eq!(txt_name("a.b"), "_acme-challenge.a.b");
}
