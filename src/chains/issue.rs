//! `issue`: the journey of a new subscriber. Register an account, order a certificate for
//! random names (some of them wildcards), prove control of each name over the challenge type
//! the config picks (http-01, tls-alpn-01 or dns-01), finalize with a fresh key, download the
//! chain and check it.

use actix::Addr;
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

use super::{checks, pick, ChainEnv, ChainError};
use crate::acme::account::Account;
use crate::acme::csr::csr_der;
use crate::acme::wire::{AuthorizationStatus, ChallengeType, Identifier, OrderStatus};
use crate::acme::{AccountKey, Client};
use crate::challenge::{Publish, Registry, Response, Ticket, Withdraw};

pub async fn run(client: &Client, env: &ChainEnv) -> Result<(), ChainError> {
    let cfg = &env.settings.chains.issue;
    let key = AccountKey::generate(cfg.account_key).map_err(ChainError::local)?;
    let contact: Vec<String> = cfg.contact.iter().cloned().collect();
    let account = client.new_account(key, &contact).await?;

    let names = random_names(
        &cfg.base_domain,
        cfg.names_per_order.bounds(),
        cfg.wildcards,
    );
    let identifiers: Vec<Identifier> = names.iter().map(Identifier::dns).collect();
    let order = client.new_order(&account, &identifiers).await?;

    prove_control(client, env, &account, &order.order.authorizations).await?;

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

/// An authorization being proven: where to poll it, and which challenge answers it.
struct Proof {
    authz_url: String,
    challenge_url: String,
    kind: ChallengeType,
}

/// The responses published for one order, withdrawn when this is dropped, so a chain that
/// fails or is interrupted does not leave them behind until the TTL.
struct Published {
    registry: Addr<Registry>,
    tickets: Vec<Ticket>,
}

impl Drop for Published {
    fn drop(&mut self) {
        for ticket in self.tickets.drain(..) {
            self.registry.do_send(Withdraw(ticket));
        }
    }
}

/// Proves control of every name of an order, as ACME clients do (RFC 8555 §7.5.1): picks a
/// challenge per authorization and publishes every response first, then answers all the
/// challenges, so the CA validates them concurrently (a wildcard and its base name then serve
/// two TXT values under one name at once), then waits for each verdict. Authorizations already
/// valid (reused by the CA) need nothing.
async fn prove_control(
    client: &Client,
    env: &ChainEnv,
    account: &Account,
    authz_urls: &[String],
) -> Result<(), ChainError> {
    let weights = env.settings.challenge_weights();
    let mut published = Published {
        registry: env.registry.clone(),
        tickets: Vec::new(),
    };
    let mut proofs = Vec::new();
    for authz_url in authz_urls {
        let authz = client.authorization(account, authz_url).await?;
        if authz.status == AuthorizationStatus::Valid {
            continue;
        }
        let name = &authz.identifier.value;
        let (kind, challenge) =
            pick::pick(&weights, &authz, &mut rand::rng()).ok_or_else(|| ChainError::Check {
                what: "authz",
                detail: format!(
                    "{name} offers none of the configured challenge types (offered: {})",
                    authz
                        .challenges
                        .iter()
                        .map(|c| c.kind.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let token = challenge.token.clone().ok_or_else(|| ChainError::Check {
            what: "authz",
            detail: format!("{kind} challenge for {name} without a token"),
        })?;
        let key_authorization = account.key.key_authorization(&token);
        let response = match kind {
            ChallengeType::Http01 => Response::Http01 {
                token,
                key_authorization,
            },
            ChallengeType::TlsAlpn01 => Response::TlsAlpn01 {
                name: name.clone(),
                key_authorization,
            },
            ChallengeType::Dns01 => Response::Dns01 {
                name: name.clone(),
                key_authorization,
            },
        };
        let ticket = env
            .registry
            .send(Publish(response))
            .await
            .map_err(|e| ChainError::local(format!("challenge registry: {e}")))?
            .map_err(ChainError::local)?;
        published.tickets.push(ticket);
        proofs.push(Proof {
            authz_url: authz_url.clone(),
            challenge_url: challenge.url.clone(),
            kind,
        });
    }
    for proof in &proofs {
        client
            .respond(account, &proof.challenge_url, proof.kind)
            .await?;
    }
    for proof in &proofs {
        let authz = client.poll_authorization(account, &proof.authz_url).await?;
        if authz.status != AuthorizationStatus::Valid {
            let wildcard = if authz.wildcard { "*." } else { "" };
            return Err(ChainError::Validation {
                name: format!("{wildcard}{}", authz.identifier.value),
                kind: proof.kind,
                status: format!("{:?}", authz.status).to_lowercase(),
                problem: authz.failure().cloned().map(Box::new),
            });
        }
    }
    Ok(())
}

/// `min..=max` random names under `base`, unique within the order. With probability
/// `wildcards` a name is ordered as `*.<label>.<base>` plus `<label>.<base>` (the usual
/// "domain and its wildcard" certificate).
fn random_names(base: &str, (min, max): (usize, usize), wildcards: f64) -> Vec<String> {
    let mut rng = rand::rng();
    let count = rng.random_range(min..=max);
    let mut names = Vec::with_capacity(count);
    for _ in 0..count {
        let label = Alphanumeric
            .sample_string(&mut rng, 14)
            .to_ascii_lowercase();
        if wildcards > 0.0 && rng.random_bool(wildcards) {
            names.push(format!("*.{label}.{base}"));
        }
        names.push(format!("{label}.{base}"));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_random_dns_labels_under_the_base() {
        for _ in 0..100 {
            let names = random_names("wile.test", (1, 3), 0.0);
            assert!((1..=3).contains(&names.len()));
            for n in &names {
                let label = n.strip_suffix(".wile.test").unwrap();
                assert_eq!(label.len(), 14);
                assert!(label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            }
        }
        assert_eq!(random_names("x.test", (4, 4), 0.0).len(), 4);
        assert_ne!(
            random_names("x.test", (1, 1), 0.0),
            random_names("x.test", (1, 1), 0.0)
        );
    }

    #[test]
    fn wildcard_names_come_with_their_base_name() {
        let names = random_names("wile.test", (3, 3), 1.0);
        assert_eq!(names.len(), 6);
        for pair in names.chunks(2) {
            assert_eq!(pair[0], format!("*.{}", pair[1]));
            assert!(pair[1].ends_with(".wile.test"));
        }
        let mixed: Vec<usize> = (0..200)
            .map(|_| random_names("wile.test", (1, 1), 0.5).len())
            .collect();
        assert!(mixed.contains(&1) && mixed.contains(&2), "{mixed:?}");
    }
}
