//! `issue`: the journey of a new subscriber. Register an account, order a certificate for
//! random names, prove control of each over http-01, finalize with a fresh key, download the
//! chain and check it.

use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

use super::{checks, ChainEnv, ChainError};
use crate::acme::account::Account;
use crate::acme::csr::csr_der;
use crate::acme::wire::{AuthorizationStatus, Identifier, OrderStatus};
use crate::acme::{AccountKey, Client};
use crate::challenge::{Publish, Withdraw};

pub async fn run(client: &Client, env: &ChainEnv) -> Result<(), ChainError> {
    let cfg = &env.settings.chains.issue;
    let key = AccountKey::generate(cfg.account_key).map_err(ChainError::local)?;
    let contact: Vec<String> = cfg.contact.iter().cloned().collect();
    let account = client.new_account(key, &contact).await?;

    let names = random_names(&cfg.base_domain, cfg.names_per_order.bounds());
    let identifiers: Vec<Identifier> = names.iter().map(Identifier::dns).collect();
    let order = client.new_order(&account, &identifiers).await?;

    for authz_url in &order.order.authorizations {
        prove_control(client, env, &account, authz_url).await?;
    }

    let cert_key = cfg.cert_key.generate().map_err(ChainError::local)?;
    let csr = csr_der(&cert_key, &names).map_err(ChainError::local)?;
    let mut finalized = client
        .finalize(&account, &order.order.finalize, &csr)
        .await?;
    if finalized.status != OrderStatus::Valid {
        finalized = client.poll_order(&account, &order.url).await?;
    }
    let certificate_url = match (finalized.status, finalized.certificate) {
        (OrderStatus::Valid, Some(url)) => url,
        (status, _) => {
            let why = finalized.error.map(|p| p.to_string()).unwrap_or_default();
            return Err(ChainError::Check {
                what: "order",
                detail: format!("order ended {status:?} without a certificate {why}"),
            });
        }
    };

    let pem = client.certificate(&account, &certificate_url).await?;
    checks::certificate_chain(&pem, &names, env.verify_store.as_ref())?;
    Ok(())
}

/// Answers an authorization's http-01 challenge through the challenge server and waits for the
/// CA's verdict. An authorization already valid (reused by the CA) needs nothing.
async fn prove_control(
    client: &Client,
    env: &ChainEnv,
    account: &Account,
    authz_url: &str,
) -> Result<(), ChainError> {
    let authz = client.authorization(account, authz_url).await?;
    if authz.status == AuthorizationStatus::Valid {
        return Ok(());
    }
    let challenge = authz
        .challenge("http-01")
        .ok_or_else(|| ChainError::Check {
            what: "authz",
            detail: format!("{} offers no http-01 challenge", authz.identifier.value),
        })?;
    let token = challenge.token.clone().ok_or_else(|| ChainError::Check {
        what: "authz",
        detail: "http-01 challenge without a token".into(),
    })?;
    env.registry
        .send(Publish {
            token: token.clone(),
            key_authorization: account.key.key_authorization(&token),
        })
        .await
        .map_err(|e| ChainError::local(format!("challenge registry: {e}")))?;
    let verdict = async {
        client.respond(account, &challenge.url).await?;
        client.poll_authorization(account, authz_url).await
    }
    .await;
    env.registry.do_send(Withdraw { token });
    let authz = verdict?;
    match authz.status {
        AuthorizationStatus::Valid => Ok(()),
        status => Err(ChainError::Validation {
            name: authz.identifier.value.clone(),
            status: format!("{status:?}").to_lowercase(),
            problem: authz.failure().cloned().map(Box::new),
        }),
    }
}

/// `min..=max` random names under `base`, unique within the order.
fn random_names(base: &str, (min, max): (usize, usize)) -> Vec<String> {
    let mut rng = rand::rng();
    let count = rng.random_range(min..=max);
    (0..count)
        .map(|_| {
            let label = Alphanumeric
                .sample_string(&mut rng, 14)
                .to_ascii_lowercase();
            format!("{label}.{base}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_random_dns_labels_under_the_base() {
        for _ in 0..100 {
            let names = random_names("wile.test", (1, 3));
            assert!((1..=3).contains(&names.len()));
            for n in &names {
                let label = n.strip_suffix(".wile.test").unwrap();
                assert_eq!(label.len(), 14);
                assert!(label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            }
        }
        assert_eq!(random_names("x.test", (4, 4)).len(), 4);
        assert_ne!(
            random_names("x.test", (1, 1)),
            random_names("x.test", (1, 1))
        );
    }
}
