//! Proving control of names (RFC 8555 §7.5.1, §8): the step every chain that obtains a
//! certificate shares, and the random names it orders.

use actix::Addr;
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

use super::{pick, ChainError, Ctx};
use crate::acme::account::Account;
use crate::acme::wire::{AuthorizationStatus, ChallengeType};
use crate::challenge::{Publish, Registry, RegistryBackend, Response, Served, Ticket, Withdraw};
use crate::config::Answering;

/// An authorization being proven: where to poll it, which challenge answers it, and what tells
/// when the CA asked for the response.
struct Proof {
    authz_url: String,
    challenge_url: String,
    kind: ChallengeType,
    served: Option<Served>,
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
/// challenge per authorization and publishes every response first (a wildcard and its base
/// name then serve two TXT values under one name at once), then answers all the challenges, so
/// the CA validates them concurrently, and waits for each verdict — or, with
/// `chains.issue.answer = "in-turn"`, answers one and waits for its verdict before the next.
/// Authorizations already valid (reused by the CA) need nothing.
pub async fn prove_control(
    ctx: &Ctx<'_>,
    account: &Account,
    authz_urls: &[String],
) -> Result<(), ChainError> {
    let (client, env) = (ctx.client, ctx.env);
    let weights = env.settings.challenge_weights();
    let mut published = Published {
        registry: env.registry.clone(),
        tickets: Vec::new(),
    };
    let mut proofs = Vec::new();
    // With a shared registry another shard may serve the CA: only this process's own
    // Registry can tell when the response was asked for.
    let own_registry = env.settings.challenge.registry == RegistryBackend::Memory;
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
        let served = own_registry.then(Served::default);
        let publish = Publish {
            response,
            served: served.clone(),
        };
        let ticket = env
            .registry
            .send(publish)
            .await
            .map_err(|e| ChainError::local(format!("challenge registry: {e}")))?
            .map_err(ChainError::local)?;
        published.tickets.push(ticket);
        proofs.push(Proof {
            authz_url: authz_url.clone(),
            challenge_url: challenge.url.clone(),
            kind,
            served,
        });
    }
    let in_turn = env.settings.chains.issue.answer == Answering::InTurn;
    for proof in &proofs {
        client
            .respond(account, &proof.challenge_url, proof.kind)
            .await?;
        if in_turn {
            verdict(ctx, account, proof).await?;
        }
    }
    if !in_turn {
        for proof in &proofs {
            verdict(ctx, account, proof).await?;
        }
    }
    Ok(())
}

/// Polls an answered authorization until the CA decides; anything but valid fails the chain.
/// The first poll waits until the CA asked for the response (a poll before that finds the
/// authorization pending, a request for nothing), at most `polling.interval`: a CA that
/// validates without asking is polled when it would have been after one pending answer.
async fn verdict(ctx: &Ctx<'_>, account: &Account, proof: &Proof) -> Result<(), ChainError> {
    if let Some(served) = &proof.served {
        let wait = ctx.settings().polling.interval;
        let _ = actix_rt::time::timeout(wait, served.wait()).await;
    }
    let authz = ctx
        .client
        .poll_authorization(account, &proof.authz_url)
        .await?;
    if authz.status == AuthorizationStatus::Valid {
        return Ok(());
    }
    let wildcard = if authz.wildcard { "*." } else { "" };
    Err(ChainError::Validation {
        name: format!("{wildcard}{}", authz.identifier.value),
        kind: proof.kind,
        status: format!("{:?}", authz.status).to_lowercase(),
        problem: authz.failure().cloned().map(Box::new),
    })
}

/// The names of a new order, as `[chains.issue]` asks: how many, under which domain, how many
/// of them wildcards.
pub fn order_names(ctx: &Ctx<'_>) -> Vec<String> {
    let cfg = &ctx.settings().chains.issue;
    let count = cfg.names_per_order.sample(&mut rand::rng());
    random_names(&cfg.base_domain, count, cfg.wildcards)
}

/// `count` random names under `base`, unique within the order. With probability `wildcards` a
/// name is ordered as `*.<label>.<base>` plus `<label>.<base>` (the usual "domain and its
/// wildcard" certificate).
pub fn random_names(base: &str, count: usize, wildcards: f64) -> Vec<String> {
    let mut rng = rand::rng();
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
        for count in 1..=3 {
            let names = random_names("wile.test", count, 0.0);
            assert_eq!(names.len(), count);
            for n in &names {
                let label = n.strip_suffix(".wile.test").unwrap();
                assert_eq!(label.len(), 14);
                assert!(label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            }
        }
        assert_ne!(
            random_names("x.test", 1, 0.0),
            random_names("x.test", 1, 0.0)
        );
    }

    #[test]
    fn wildcard_names_come_with_their_base_name() {
        let names = random_names("wile.test", 3, 1.0);
        assert_eq!(names.len(), 6);
        for pair in names.chunks(2) {
            assert_eq!(pair[0], format!("*.{}", pair[1]));
            assert!(pair[1].ends_with(".wile.test"));
        }
        let mixed: Vec<usize> = (0..200)
            .map(|_| random_names("wile.test", 1, 0.5).len())
            .collect();
        assert!(mixed.contains(&1) && mixed.contains(&2), "{mixed:?}");
    }
}
