//! Chains run in-process against the Boulder stand-in (tests/common/boulder.rs), for what
//! Boulder does that Pebble does not: an account cache that answers from the old state for
//! seconds after a key change or a deactivation, rate limits answered with `rateLimited` and
//! `Retry-After` (per client address from `X-Real-IP`), and refused `replaces`.

mod common;

use std::time::Duration;

use common::boulder::Boulder;
use common::lab::{Lab, Run};
use common::mariadb::MariaDb;
use testca::Limit;
use wile_e_coyote::acme::wire::{Identifier, NewOrder};
use wile_e_coyote::acme::{ari, RequestOutcome};
use wile_e_coyote::chains::ChainKind;
use wile_e_coyote::pool::{Need, NoNews};

const HOUR: Duration = Duration::from_secs(3600);

fn took(run: &Run, what: &str) -> Duration {
    let c = run
        .converged
        .iter()
        .find(|c| c.what == what)
        .unwrap_or_else(|| panic!("no convergence {what}: {:?}", run.converged));
    assert!(c.agreed, "{what} never agreed: {:?}", run.converged);
    c.took
}

/// With Boulder's 5 s account cache, a new key is refused and the old one accepted until the
/// cached account expires; a deactivated account keeps ordering as long. The chains read back
/// until the CA agrees: no failure, and the measured time is the cache's.
#[actix_rt::test]
async fn key_rollover_and_deactivation_converge_within_the_account_cache() {
    let boulder = Boulder::start(|c| c.account_cache_ttl = Duration::from_secs(5));
    let lab = Lab::with_config(&boulder.config(), &[]).await;
    let window = Duration::from_secs(5);
    // A fresh account is looked up by its URL for the first time by the change itself, so the
    // cache holds its old state for the whole window from then.
    lab.run(ChainKind::NewAccount).await.ok();
    let rollover = lab.run(ChainKind::KeyRollover).await;
    rollover.ok();
    for what in ["new-key", "old-key"] {
        let t = took(&rollover, what);
        assert!(
            t >= window - Duration::from_millis(800) && t <= window + Duration::from_secs(3),
            "{what} agreed after {t:?}, the cache holds {window:?}"
        );
    }
    assert_eq!(rollover.expected, ["acme:malformed"]);
    let refused_new_key = rollover
        .records
        .iter()
        .filter(|r| r.endpoint.name() == "account" && r.status == 400)
        .count();
    assert!(refused_new_key >= 10, "read back every 250 ms meanwhile");
    assert!(rollover
        .records
        .iter()
        .all(|r| r.outcome != RequestOutcome::Failed));
    assert_eq!(lab.stock.pool.stats().idle, 1, "the account came back");

    let deactivation = lab.run(ChainKind::DeactivateAccount).await;
    deactivation.ok();
    let t = took(&deactivation, "deactivated");
    assert!(t >= window - Duration::from_millis(800), "{t:?}");
    assert_eq!(deactivation.expected, ["acme:unauthorized"]);
    assert_eq!(lab.stock.pool.stats().idle, 0, "the account left the pool");
    lab.stop().await;
}

/// A CA that never agrees within the settle window fails the chain with `settle:<what>`, and
/// an account whose new key never verifiably worked leaves the pool.
#[actix_rt::test]
async fn a_change_the_ca_does_not_show_within_the_window_fails_and_the_account_leaves() {
    let boulder = Boulder::start(|c| c.account_cache_ttl = Duration::from_secs(30));
    let lab = Lab::with_config(
        &boulder.config(),
        &[
            ("WEC_CHAINS__SETTLE__WINDOW", "1s"),
            ("WEC_CHAINS__SETTLE__INTERVAL", "200ms"),
        ],
    )
    .await;
    lab.run(ChainKind::NewAccount).await.ok();
    let rollover = lab.run(ChainKind::KeyRollover).await;
    let err = rollover.result.as_ref().unwrap_err();
    assert_eq!(err.reason(), "settle:new-key", "{err}");
    assert_eq!(rollover.converged.len(), 1);
    assert!(!rollover.converged[0].agreed);
    assert_eq!(
        lab.stock.pool.stats().idle,
        0,
        "an account in doubt is dropped"
    );
    lab.stop().await;
}

/// `NewRegistrationsPerIPAddress` counts per client address, which Boulder takes from
/// `X-Real-IP`: from one address the third registration is refused (a rate-limited chain, not a
/// failed one); with `target.source_address_header` each attacker is a subscriber of its own.
#[actix_rt::test]
async fn registrations_are_limited_per_client_address() {
    let boulder = Boulder::start(|c| {
        c.rate_limits.new_registrations_per_ip_address = Some(Limit::new(2, HOUR));
    });
    // Every new-account run registers (none looks a pooled account up instead).
    let registering = ("WEC_CHAINS__NEW_ACCOUNT__ONLY_RETURN_EXISTING", "0");
    let lab = Lab::with_config(&boulder.config(), &[registering]).await;
    for _ in 0..2 {
        lab.run(ChainKind::NewAccount).await.ok();
    }
    let third = lab.run(ChainKind::NewAccount).await;
    let err = third.result.as_ref().unwrap_err();
    assert!(err.is_rate_limited(), "{err}");
    assert_eq!(
        third.outcomes("newAccount").last(),
        Some(&(RequestOutcome::RateLimited, 429))
    );
    lab.stop().await;

    let lab = Lab::with_config(
        &boulder.config(),
        &[
            registering,
            ("WEC_TARGET__SOURCE_ADDRESS_HEADER", "X-Real-IP"),
            ("WEC_TARGET__SOURCE_ADDRESSES", "198.18.0.0/15"),
        ],
    )
    .await;
    for attacker in 1..=4 {
        for _ in 0..2 {
            lab.run_as(attacker, ChainKind::NewAccount).await.ok();
        }
    }
    lab.stop().await;
}

/// `NewOrdersPerAccount` refused: the chain is rate-limited, the account is set aside until
/// the `Retry-After`, and the next issue registers a new subscriber instead of hitting the limit.
#[actix_rt::test]
async fn an_account_refused_by_a_rate_limit_is_set_aside_until_its_retry_after() {
    let boulder = Boulder::start(|c| {
        c.rate_limits.new_orders_per_account = Some(Limit::new(1, HOUR));
    });
    let lab = Lab::with_config(
        &boulder.config(),
        &[
            ("WEC_CHAINS__ISSUE__NEW_ACCOUNT", "0"),
            ("WEC_CHAINS__ISSUE__CHALLENGE", "http-01"),
        ],
    )
    .await;
    lab.run(ChainKind::Issue).await.ok();
    let limited = lab.run(ChainKind::Issue).await;
    assert_eq!(
        limited.count("newAccount"),
        0,
        "ordered from the pooled account"
    );
    assert!(limited.result.as_ref().unwrap_err().is_rate_limited());
    let next = lab.run(ChainKind::Issue).await;
    next.ok();
    assert_eq!(
        next.count("newAccount"),
        1,
        "the limited account was set aside"
    );
    assert_eq!(lab.stock.pool.stats().idle, 2);
    lab.stop().await;
}

/// A renewal whose `replaces` the CA refuses — the certificate already has a replacement order
/// (`alreadyReplaced`), or is another account's (`unauthorized`) — drops the certificate from
/// the pool, counted as the expected outcome.
#[actix_rt::test]
async fn a_refused_replaces_drops_the_certificate() {
    let boulder = Boulder::start(|_| {});
    let lab = Lab::with_config(
        &boulder.config(),
        &[
            ("WEC_CHAINS__ISSUE__NEW_ACCOUNT", "1"),
            ("WEC_CHAINS__ISSUE__CHALLENGE", "http-01"),
            ("WEC_CHAINS__NEW_ACCOUNT__ONLY_RETURN_EXISTING", "0"),
        ],
    )
    .await;
    lab.run(ChainKind::Issue).await.ok();
    {
        let limits = lab.stock.pool.stats();
        assert_eq!(limits.certificates, 1);
        let settings = wile_e_coyote::config::PoolSettings::default();
        let lease = lab
            .stock
            .pool
            .checkout(Need::Certificate, settings, &NoNews)
            .unwrap();
        let cert = &lease.certificates()[0];
        let replaces = ari::cert_id(&cert.der).unwrap();
        let identifiers: Vec<Identifier> = cert.names.iter().map(Identifier::dns).collect();
        let client = lab.client();
        let pending = NewOrder {
            identifiers: &identifiers,
            replaces: Some(&replaces),
            profile: None,
        };
        client.new_order(lease.account(), &pending).await.unwrap();
    }
    let renew = lab.run(ChainKind::Renew).await;
    renew.ok();
    assert_eq!(renew.expected, ["acme:alreadyReplaced"]);
    assert_eq!(lab.stock.pool.stats().certificates, 0);

    // Another account's certificate.
    lab.run(ChainKind::Issue).await.ok();
    lab.run(ChainKind::NewAccount).await.ok();
    {
        let settings = wile_e_coyote::config::PoolSettings::default();
        let mut owner = lab
            .stock
            .pool
            .checkout(Need::Certificate, settings, &NoNews)
            .unwrap();
        let mut other = lab
            .stock
            .pool
            .checkout(Need::Account, settings, &NoNews)
            .unwrap();
        other.add_certificate(owner.take_certificate(0));
    }
    let renew = lab.run(ChainKind::Renew).await;
    renew.ok();
    assert_eq!(renew.expected, ["acme:unauthorized"]);
    assert_eq!(lab.stock.pool.stats().certificates, 0);
    lab.stop().await;
}

/// `db-revoke-foreign` must only ask for what the CA has to refuse. With two accounts in the
/// pool, every certificate in the database is theirs: one the revoking account owns, or whose
/// names it proved control of (a name-holder revocation), Boulder would revoke — a false
/// `SECURITY:` alarm. The chain picks again until the certificate is truly foreign, and with
/// none left it says so instead of asking.
#[actix_rt::test]
async fn a_foreign_revocation_is_only_asked_for_a_certificate_the_account_has_no_claim_on() {
    let maria = MariaDb::start();
    maria.fixture("boulder", "current");
    let boulder = Boulder::start(|c| c.db_url = Some(maria.admin_url("boulder")));
    let lab = Lab::with_config(
        &boulder.config(),
        &[
            ("WEC_DB__URL", &maria.readonly_dsn("boulder")),
            ("WEC_CHAINS__ISSUE__NEW_ACCOUNT", "1"),
            ("WEC_CHAINS__ISSUE__CHALLENGE", "http-01"),
        ],
    )
    .await;
    for _ in 0..2 {
        lab.run(ChainKind::Issue).await.ok();
    }
    boulder.ca.db_flush(Duration::from_secs(10)).unwrap();
    // Two accounts, a certificate each: each account's only foreign certificate is the other's.
    for _ in 0..6 {
        let run = lab.run(ChainKind::DbRevokeForeign).await;
        run.ok();
        assert_eq!(run.expected, ["acme:unauthorized"]);
    }
    assert_eq!(boulder.ca.stats().revocations, 0, "nothing was revoked");
    lab.stop().await;
}
