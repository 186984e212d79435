//! Each chain against a real Pebble (real validation), in-process so the test can then ask
//! Pebble — its management API, or requests signed with the keys the pool holds — whether the
//! chain did what it says: the revocation is on record, the rolled-over key works and the old
//! one is refused, the deactivated account and authorization stay so, the failed validation
//! left an invalid authorization, the renewal reused the authorizations.

mod common;

use common::lab::Lab;
use common::Pebble;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use wile_e_coyote::acme::wire::{AuthorizationStatus, OrderStatus};
use wile_e_coyote::acme::{Account, AccountKey, RequestOutcome};
use wile_e_coyote::chains::{deactivate_authz, failed_validation, ChainKind, Journal};
use wile_e_coyote::pool::{HeldCertificate, Need, NoNews};

use RequestOutcome::{Expected, Ok as Fine};

fn serial(der: &[u8]) -> String {
    let cert = X509::from_der(der).unwrap();
    let hex = cert.serial_number().to_bn().unwrap().to_hex_str().unwrap();
    hex.to_string()
}

/// The certificates the pool holds, oldest account first (each leased and given back).
fn held(lab: &Lab) -> Vec<HeldCertificate> {
    let limits = lab.env.settings.chains.pool;
    let leases: Vec<_> =
        std::iter::from_fn(|| lab.stock.pool.checkout(Need::Account, limits, &NoNews)).collect();
    leases
        .iter()
        .flat_map(|l| l.certificates().iter().cloned())
        .collect()
}

/// A copy of the key of the only (or oldest) pooled account, and its URL.
fn pooled_account(lab: &Lab) -> (PKey<Private>, String) {
    let lease = lab
        .stock
        .pool
        .checkout(Need::Account, lab.env.settings.chains.pool, &NoNews)
        .expect("an account in the pool");
    let account = lease.account();
    (account.key.pkey().clone(), account.url.clone())
}

fn account(key: &PKey<Private>, url: &str) -> Account {
    Account::new(AccountKey::from_pkey(key.clone()).unwrap(), url.to_owned())
}

#[actix_rt::test]
async fn issue_puts_the_account_and_its_certificate_in_the_pool() {
    let pebble = Pebble::start();
    let lab = Lab::start(&pebble, &[]).await;
    lab.run(ChainKind::Issue).await.ok();
    let stats = lab.stock.pool.stats();
    assert_eq!((stats.idle, stats.certificates), (1, 1), "{stats:?}");
    let certs = held(&lab);
    assert_eq!(
        pebble.cert_status(&serial(&certs[0].der))["Status"],
        "Valid"
    );
    lab.stop().await;
}

#[actix_rt::test]
async fn revoke_alternates_its_signer_and_a_second_revocation_is_already_revoked() {
    let pebble = Pebble::start();
    let lab = Lab::start(&pebble, &[("WEC_CHAINS__REVOKE__REASONS", "4")]).await;
    lab.run(ChainKind::Issue).await.ok();
    lab.run(ChainKind::Issue).await.ok();
    let certs = held(&lab);
    assert_eq!(certs.len(), 2);
    for cert in &certs {
        assert_eq!(pebble.cert_status(&serial(&cert.der))["Status"], "Valid");
    }
    for _ in &certs {
        let run = lab.run(ChainKind::Revoke).await;
        run.ok();
        assert_eq!(run.outcomes("revokeCert"), [(Fine, 200), (Expected, 400)]);
        assert_eq!(run.expected, ["acme:alreadyRevoked"]);
        assert_eq!(run.count("newOrder"), 0, "revoked a pooled certificate");
    }
    for cert in &certs {
        let status = pebble.cert_status(&serial(&cert.der));
        assert_eq!(status["Status"], "Revoked", "{status}");
        assert_eq!(status["Reason"], 4, "{status}");
    }
    // The first revocation was signed by the account, the second by the certificate's key,
    // which then left the key stock (a CA may block a key that asked for a revocation).
    assert!(lab.stock.keys.holds(&certs[0].key));
    assert!(!lab.stock.keys.holds(&certs[1].key));
    assert_eq!(lab.stock.pool.stats().certificates, 0);
    lab.stop().await;
}

/// RFC 8555 §7.6 says a CA must let an account that proved control of every name revoke a
/// certificate it does not hold. Pebble 2.4 refuses: the chain asks anyway (and fails, a
/// finding about the CA), while `alternate` leaves that signer out against Pebble.
#[actix_rt::test]
async fn pebble_refuses_a_revocation_by_another_account_holding_the_names() {
    let pebble = Pebble::start();
    let lab = Lab::start(
        &pebble,
        &[
            ("WEC_CHAINS__REVOKE__SIGNER", "name-holder"),
            ("WEC_CHAINS__ISSUE__NAMES_PER_ORDER", "2"),
        ],
    )
    .await;
    lab.run(ChainKind::Issue).await.ok();
    let cert = held(&lab).remove(0);
    let run = lab.run(ChainKind::Revoke).await;
    assert_eq!(
        run.result.as_ref().unwrap_err().reason(),
        "acme:unauthorized"
    );
    assert_eq!(
        run.count("newAccount"),
        1,
        "a second account, for the names"
    );
    assert_eq!(run.count("newOrder"), 1, "the holder ordered the names");
    assert_eq!(run.count("challenge."), 2, "and proved control of both");
    assert_eq!(run.count("finalize"), 0, "without a certificate of its own");
    assert_eq!(pebble.cert_status(&serial(&cert.der))["Status"], "Valid");
    lab.stop().await;

    let lab = Lab::start(&pebble, &[]).await;
    for _ in 0..3 {
        lab.run(ChainKind::Issue).await.ok();
    }
    for _ in 0..3 {
        let run = lab.run(ChainKind::Revoke).await;
        run.ok();
        assert_eq!(run.count("newOrder"), 0, "no name-holder against Pebble");
    }
    lab.stop().await;
}

#[actix_rt::test]
async fn certificate_keys_of_every_type_sign_their_revocation() {
    let pebble = Pebble::start();
    for key in ["p384", "rsa2048", "p256"] {
        let lab = Lab::start(
            &pebble,
            &[
                ("WEC_CHAINS__ISSUE__CERT_KEY", key),
                ("WEC_CHAINS__KEYS__POOL_SIZE", "2"),
                ("WEC_CHAINS__REVOKE__SIGNER", "certificate-key"),
                ("WEC_CHAINS__REVOKE__REASONS", "1"),
            ],
        )
        .await;
        lab.run(ChainKind::Issue).await.ok();
        let cert = held(&lab).remove(0);
        let bits = X509::from_der(&cert.der)
            .unwrap()
            .public_key()
            .unwrap()
            .bits();
        assert_eq!(bits, cert.key.bits(), "{key}");
        let run = lab.run(ChainKind::Revoke).await;
        run.ok();
        assert_eq!(run.expected, ["acme:alreadyRevoked"], "{key}");
        let status = pebble.cert_status(&serial(&cert.der));
        assert_eq!(
            (&status["Status"], &status["Reason"]),
            (&"Revoked".into(), &1.into()),
            "{key}: {status}"
        );
        lab.stop().await;
    }
}

#[actix_rt::test]
async fn key_rollover_leaves_the_new_key_working_and_the_old_one_refused() {
    let pebble = Pebble::start();
    let lab = Lab::start(&pebble, &[]).await;
    lab.run(ChainKind::NewAccount).await.ok();
    let (old_key, url) = pooled_account(&lab);
    let run = lab.run(ChainKind::KeyRollover).await;
    run.ok();
    assert_eq!(run.outcomes("keyChange"), [(Fine, 200)]);
    assert_eq!(
        run.expected,
        ["acme:malformed"],
        "Pebble: JWS verification error"
    );
    assert_eq!(
        run.converged(),
        [("new-key", true), ("old-key", true)],
        "Pebble agrees at the first read-back"
    );
    assert_eq!(run.outcomes("account"), [(Fine, 200), (Expected, 400)]);
    let (new_key, same_url) = pooled_account(&lab);
    assert_eq!(same_url, url);
    assert!(!new_key.public_eq(&old_key), "the pool holds the new key");

    let client = lab.client();
    let read = client.account(&account(&new_key, &url)).await.unwrap();
    assert_eq!(read.status, "valid");
    let refused = client.account(&account(&old_key, &url)).await.unwrap_err();
    assert_eq!(refused.problem().unwrap().short_type(), "malformed");
    let found = client
        .find_account(&AccountKey::from_pkey(new_key).unwrap())
        .await
        .unwrap();
    assert_eq!(found, url, "onlyReturnExisting knows the new key");
    let unknown = client
        .find_account(&AccountKey::from_pkey(old_key).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        unknown.problem().unwrap().short_type(),
        "accountDoesNotExist"
    );
    lab.stop().await;
}

#[actix_rt::test]
async fn a_deactivated_account_is_refused_and_leaves_the_pool() {
    let pebble = Pebble::start();
    let lab = Lab::start(&pebble, &[]).await;
    lab.run(ChainKind::NewAccount).await.ok();
    let (key, url) = pooled_account(&lab);
    let run = lab.run(ChainKind::DeactivateAccount).await;
    run.ok();
    assert_eq!(run.expected, ["acme:unauthorized"]);
    assert_eq!(run.outcomes("newOrder"), [(Expected, 403)]);
    assert_eq!(
        run.converged(),
        [("deactivated", true)],
        "Pebble caches no account: it agrees at the first read-back"
    );
    assert_eq!(lab.stock.pool.stats().idle, 0);

    let client = lab.client();
    let refused = client.account(&account(&key, &url)).await.unwrap_err();
    assert_eq!(refused.problem().unwrap().short_type(), "unauthorized");
    let refused = client
        .find_account(&AccountKey::from_pkey(key).unwrap())
        .await
        .unwrap_err();
    assert_eq!(refused.problem().unwrap().short_type(), "unauthorized");
    lab.stop().await;
}

#[actix_rt::test]
async fn a_deactivated_authorization_stays_deactivated() {
    let pebble = Pebble::start();
    let lab = Lab::start(&pebble, &[("WEC_CHAINS__ISSUE__NAMES_PER_ORDER", "3")]).await;
    lab.run(ChainKind::DeactivateAuthz).await.ok();
    let (key, url) = pooled_account(&lab);
    let owner = account(&key, &url);
    let client = lab.client();
    let authz_url =
        deactivate_authz::deactivate_one(&lab.ctx(&client, &Journal::default()), &owner)
            .await
            .unwrap();
    let authz = lab
        .client()
        .authorization(&owner, &authz_url)
        .await
        .unwrap();
    assert_eq!(authz.status, AuthorizationStatus::Deactivated);
    lab.stop().await;
}

#[actix_rt::test]
async fn an_unpublished_challenge_ends_invalid_over_every_type() {
    let pebble = Pebble::start();
    for kind in ["http-01", "dns-01", "tls-alpn-01"] {
        let lab = Lab::start(
            &pebble,
            &[("WEC_CHAINS__FAILED_VALIDATION__CHALLENGE", kind)],
        )
        .await;
        let run = lab.run(ChainKind::FailedValidation).await;
        run.ok();
        assert_eq!(run.expected.len(), 1);
        assert!(
            run.expected[0].starts_with(&format!("validation:{kind}:")),
            "{:?}",
            run.expected
        );
        assert_eq!(run.count(&format!("challenge.{kind}")), 1);

        let (key, url) = pooled_account(&lab);
        let owner = account(&key, &url);
        let client = lab.client();
        let (order_url, authz_url) =
            failed_validation::fail_one(&lab.ctx(&client, &Journal::default()), &owner)
                .await
                .unwrap();
        let authz = client.authorization(&owner, &authz_url).await.unwrap();
        assert_eq!(authz.status, AuthorizationStatus::Invalid, "{kind}");
        assert!(authz.failure().is_some(), "{kind}: {authz:?}");
        let order = client.order(&owner, &order_url).await.unwrap();
        assert_eq!(order.status, OrderStatus::Invalid, "{kind}");
        lab.stop().await;
    }
}

#[actix_rt::test]
async fn account_update_leaves_the_new_contact_on_the_account() {
    let pebble = Pebble::start();
    let lab = Lab::start(&pebble, &[]).await;
    let run = lab.run(ChainKind::AccountUpdate).await;
    run.ok();
    assert_eq!(
        run.count("newAccount"),
        1,
        "the pool was empty: one was made"
    );
    let (key, url) = pooled_account(&lab);
    let read = lab.client().account(&account(&key, &url)).await.unwrap();
    assert_eq!(read.contact.len(), 1, "{read:?}");
    assert!(
        read.contact[0].starts_with("mailto:wile-") && read.contact[0].ends_with("@wile.test"),
        "{read:?}"
    );
    lab.stop().await;
}

#[actix_rt::test]
async fn renew_reuses_valid_authorizations_where_the_ca_does() {
    let pebble = Pebble::start_with(&[("PEBBLE_AUTHZREUSE", "100")]);
    let lab = Lab::start(&pebble, &[("WEC_CHAINS__ISSUE__NAMES_PER_ORDER", "2")]).await;
    let issued = lab.run(ChainKind::Issue).await;
    issued.ok();
    assert_eq!(issued.count("challenge."), 2);
    let before = held(&lab).remove(0);
    let run = lab.run(ChainKind::Renew).await;
    run.ok();
    assert_eq!(run.count("challenge."), 0, "both authorizations reused");
    assert_eq!(run.count("newAccount"), 0, "the pooled account renewed");
    assert_eq!(run.outcomes("certificate"), [(Fine, 200)]);
    let after = held(&lab);
    assert_eq!(after.len(), 1, "the renewal replaced the certificate");
    assert_eq!(after[0].names, before.names);
    assert_ne!(serial(&after[0].der), serial(&before.der));
    assert_eq!(
        pebble.cert_status(&serial(&after[0].der))["Status"],
        "Valid"
    );
    lab.stop().await;
}

#[actix_rt::test]
async fn renew_validates_again_where_the_ca_reuses_nothing() {
    let pebble = Pebble::start();
    let env = [
        ("WEC_CHAINS__ISSUE__NAMES_PER_ORDER", "2"),
        ("WEC_CHAINS__ISSUE__WILDCARDS", "0"),
    ];
    let lab = Lab::start(&pebble, &env).await;
    lab.run(ChainKind::Issue).await.ok();
    let issued = held(&lab).remove(0).authz_urls;
    let run = lab.run(ChainKind::Renew).await;
    run.ok();
    // `PEBBLE_AUTHZREUSE=0` still reuses a valid authorization 1 time in 100 (Pebble 2.4.0
    // makes a new one when `rand.Intn(100) > percent`): the reused one is the same object,
    // at the same URL, and needs no challenge; every other one gets one.
    let renewed = held(&lab).remove(0).authz_urls;
    assert_eq!(renewed.len(), 2);
    let reused = renewed.iter().filter(|url| issued.contains(url)).count();
    assert_eq!(run.count("challenge."), 2 - reused, "{reused} reused");
    assert_eq!(run.count("newAccount"), 0);
    lab.stop().await;
}

#[actix_rt::test]
async fn poll_reads_what_issue_left_and_plain_get_is_what_pebble_refuses() {
    let pebble = Pebble::start();
    let lab = Lab::start(&pebble, &[]).await;
    lab.run(ChainKind::Issue).await.ok();
    let run = lab.run(ChainKind::Poll).await;
    run.ok();
    for endpoint in ["order", "authz", "certificate"] {
        assert_eq!(run.outcomes(endpoint), [(Fine, 200)], "{endpoint}");
    }
    lab.stop().await;

    let lab = Lab::start(&pebble, &[("WEC_CHAINS__POLL__PLAIN_GET", "true")]).await;
    lab.run(ChainKind::Issue).await.ok();
    let run = lab.run(ChainKind::Poll).await;
    let err = run.result.as_ref().unwrap_err();
    assert_eq!(
        run.outcomes("order.get"),
        [(RequestOutcome::Failed, 405)],
        "{err}"
    );
    assert_eq!(run.count("order"), 1, "a plain GET, no POST-as-GET");
    lab.stop().await;
}

#[actix_rt::test]
async fn new_account_registers_or_looks_a_known_key_up() {
    let pebble = Pebble::start();
    let lab = Lab::start(
        &pebble,
        &[("WEC_CHAINS__NEW_ACCOUNT__ONLY_RETURN_EXISTING", "0")],
    )
    .await;
    let run = lab.run(ChainKind::NewAccount).await;
    run.ok();
    assert_eq!(run.count("directory"), 1);
    assert_eq!(run.count("newNonce"), 1);
    assert_eq!(run.outcomes("newAccount"), [(Fine, 201)]);
    assert_eq!(lab.stock.pool.stats().idle, 1);
    lab.stop().await;

    let mut lab = Lab::start(
        &pebble,
        &[("WEC_CHAINS__NEW_ACCOUNT__ONLY_RETURN_EXISTING", "1")],
    )
    .await;
    lab.run(ChainKind::NewAccount).await.ok();
    let run = lab.run(ChainKind::NewAccount).await;
    run.ok();
    assert_eq!(
        run.outcomes("newAccount"),
        [(Fine, 200)],
        "found, not created"
    );
    assert_eq!(lab.stock.pool.stats().idle, 1);

    // A restarted Pebble forgot the account: it leaves the pool, a new one is registered.
    pebble.restart();
    lab.reconnect().await;
    let run = lab.run(ChainKind::NewAccount).await;
    run.ok();
    assert_eq!(run.expected, ["acme:accountDoesNotExist"]);
    assert_eq!(
        run.outcomes("newAccount"),
        [(Expected, 400), (Fine, 201)],
        "looked up, then registered"
    );
    assert_eq!(lab.stock.pool.stats().idle, 1);
    lab.stop().await;
}

#[actix_rt::test]
async fn a_forgotten_account_is_evicted_and_the_chain_retried_with_a_new_one() {
    let pebble = Pebble::start();
    let mut lab = Lab::start(&pebble, &[]).await;
    lab.run(ChainKind::Issue).await.ok();
    let (old_key, _) = pooled_account(&lab);
    pebble.restart();
    lab.reconnect().await;
    let run = lab.run(ChainKind::Renew).await;
    run.ok();
    assert_eq!(run.expected, ["acme:accountDoesNotExist"]);
    assert_eq!(run.outcomes("newOrder").first(), Some(&(Expected, 400)));
    assert_eq!(run.count("newAccount"), 1, "one new account for the retry");
    let stats = lab.stock.pool.stats();
    assert_eq!((stats.idle, stats.certificates), (1, 1), "{stats:?}");
    let (new_key, _) = pooled_account(&lab);
    assert!(
        !new_key.public_eq(&old_key),
        "the forgotten account left the pool"
    );
    lab.stop().await;
}

/// Most subscribers order from an account they have: `issue` registers only its
/// `new_account` share, or when no account is free, even with `when_empty = "wait"`.
#[actix_rt::test]
async fn issue_orders_from_pooled_accounts_and_registers_only_when_none_is_free() {
    let pebble = Pebble::start();
    let lab = Lab::start(
        &pebble,
        &[
            ("WEC_CHAINS__ISSUE__NEW_ACCOUNT", "0"),
            ("WEC_CHAINS__POOL__WHEN_EMPTY", "wait"),
        ],
    )
    .await;
    let first = lab.run(ChainKind::Issue).await;
    first.ok();
    assert_eq!(first.count("newAccount"), 1, "the pool was empty");
    for _ in 0..3 {
        let again = lab.run(ChainKind::Issue).await;
        again.ok();
        assert_eq!(
            again.count("newAccount"),
            0,
            "ordered from the pooled account"
        );
    }
    let stats = lab.stock.pool.stats();
    assert_eq!((stats.idle, stats.certificates), (1, 4), "{stats:?}");
    lab.stop().await;
}

#[actix_rt::test]
async fn with_when_empty_wait_a_chain_waits_for_the_pool_instead_of_creating() {
    let pebble = Pebble::start();
    let lab = Lab::start(
        &pebble,
        &[
            ("WEC_CHAINS__POOL__WHEN_EMPTY", "wait"),
            ("WEC_CHAINS__POOL__WAIT_TIMEOUT", "300ms"),
        ],
    )
    .await;
    let run = lab.run(ChainKind::Revoke).await;
    let err = run.result.as_ref().unwrap_err();
    assert_eq!(err.reason(), "pool:empty", "{err}");
    assert!(
        run.records.is_empty(),
        "nothing was created: {:?}",
        run.records
    );
    lab.run(ChainKind::Issue).await.ok();
    let run = lab.run(ChainKind::Revoke).await;
    run.ok();
    assert_eq!(run.count("newAccount"), 0);
    lab.stop().await;
}

#[actix_rt::test]
async fn without_key_reuse_each_certificate_has_its_own_key() {
    let pebble = Pebble::start();
    let lab = Lab::start(
        &pebble,
        &[
            ("WEC_CHAINS__KEYS__REUSE", "false"),
            ("WEC_CHAINS__KEYS__POOL_SIZE", "2"),
        ],
    )
    .await;
    for _ in 0..4 {
        lab.run(ChainKind::Issue).await.ok();
    }
    let certs = held(&lab);
    assert_eq!(certs.len(), 4);
    for (i, a) in certs.iter().enumerate() {
        assert!(
            certs[..i].iter().all(|b| !a.key.public_eq(&b.key)),
            "certificate {i} shares a key"
        );
    }
    lab.stop().await;
}
