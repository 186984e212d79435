//! The real chains: each attacker's next chain is drawn from the mix of the settings that
//! attacker runs with (a reload hands it new ones, so the weights follow the config), and runs
//! with the [`Stock`] every thread shares.

use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};

use super::mix::{Disabled, Mix};
use super::{ChainEnv, ChainError, Ctx, Journal, Journey, Journeys, Stock};
use crate::acme::wire::Directory;
use crate::acme::Client;
use crate::config::Settings;

/// Why the chains cannot start.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("no chain of chains.weights can run: each lacks what it needs ({0})")]
    NoChain(String),
    #[error("making certificate keys: {0}")]
    Keys(#[from] openssl::error::ErrorStack),
}

/// The mix last built, and what it was built from.
struct Cached {
    settings: Arc<Settings>,
    directory: Arc<Directory>,
    mix: Arc<Mix>,
}

pub struct Catalogue {
    stock: Arc<Stock>,
    cached: Mutex<Option<Cached>>,
}

impl Catalogue {
    /// Checks that some weighted chain can run against `directory` (logging those it cannot
    /// serve) and makes the certificate keys the config asks for.
    pub fn new(
        settings: &Settings,
        directory: &Directory,
        db: Option<crate::db::source::DbLink>,
    ) -> Result<Catalogue, CatalogueError> {
        let (mix, disabled) = Mix::new(settings.chains.weights(), directory, db.is_some());
        log_disabled(&disabled);
        if mix.is_empty() {
            return Err(no_chain(&disabled));
        }
        log::info!("chain mix: {}", mix.describe());
        let stock = Stock {
            db,
            ..Stock::default()
        };
        let types: Vec<_> = settings
            .chains
            .issue
            .cert_key
            .weights()
            .iter()
            .map(|(kind, _)| *kind)
            .collect();
        stock.keys.prepare(&types, settings.chains.keys.pool_size)?;
        Ok(Catalogue {
            stock: Arc::new(stock),
            cached: Mutex::new(None),
        })
    }

    /// What the chains share: the pool and the keys.
    pub fn stock(&self) -> &Arc<Stock> {
        &self.stock
    }

    /// The mix for `env`'s settings and directory, rebuilt (and logged) after a reload.
    fn mix(&self, env: &ChainEnv) -> Arc<Mix> {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cached.as_ref() {
            if Arc::ptr_eq(&c.settings, &env.settings) && Arc::ptr_eq(&c.directory, &env.directory)
            {
                return c.mix.clone();
            }
        }
        let database = self.stock.db.is_some();
        let (mix, disabled) = Mix::new(env.settings.chains.weights(), &env.directory, database);
        if cached.is_some() {
            log_disabled(&disabled);
            log::info!("chain mix after reload: {}", mix.describe());
        }
        let mix = Arc::new(mix);
        *cached = Some(Cached {
            settings: env.settings.clone(),
            directory: env.directory.clone(),
            mix: mix.clone(),
        });
        mix
    }
}

fn log_disabled(disabled: &[Disabled]) {
    for d in disabled {
        log::info!(
            "chain {} disabled: it needs {} (its weight {} is not used; it is not counted as \
             failed)",
            d.chain.name(),
            d.missing,
            d.weight
        );
    }
}

fn no_chain(disabled: &[Disabled]) -> CatalogueError {
    let why: Vec<String> = disabled
        .iter()
        .map(|d| format!("{} needs {}", d.chain.name(), d.missing))
        .collect();
    CatalogueError::NoChain(why.join("; "))
}

impl Journeys for Catalogue {
    fn next(&self, client: Rc<Client>, journal: Rc<Journal>, env: Rc<ChainEnv>) -> Journey {
        let Some(kind) = self.mix(&env).pick(&mut rand::rng()) else {
            let database = self.stock.db.is_some();
            let (_, disabled) = Mix::new(env.settings.chains.weights(), &env.directory, database);
            let why = no_chain(&disabled);
            return (
                "disabled",
                Box::pin(async move { Err(ChainError::local(why)) }),
            );
        };
        let stock = self.stock.clone();
        (
            kind.name(),
            Box::pin(async move {
                let ctx = Ctx {
                    client: &client,
                    journal: &journal,
                    env: &env,
                    stock: &stock,
                };
                super::run(kind, &ctx).await
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::Transport;
    use crate::challenge::Registry;
    use actix::Actor;
    use std::collections::HashMap;
    use std::time::Duration;

    fn settings(env: &[(&str, &str)]) -> Settings {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with_env(None, Some(env)).unwrap()
    }

    fn pebble_directory() -> Directory {
        serde_json::from_str(
            r#"{"newNonce":"https://ca/n","newAccount":"https://ca/a","newOrder":"https://ca/o",
                "revokeCert":"https://ca/r","keyChange":"https://ca/k"}"#,
        )
        .unwrap()
    }

    #[test]
    fn a_mix_of_chains_the_directory_cannot_serve_is_refused() {
        let only_ari = settings(&[("WEC_CHAINS__WEIGHTS__ARI", "1")]);
        let err = Catalogue::new(&only_ari, &pebble_directory(), None)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("ari needs the directory's renewalInfo (RFC 9773 ARI)"),
            "{err}"
        );
        let with_issue = settings(&[
            ("WEC_CHAINS__WEIGHTS__ARI", "1"),
            ("WEC_CHAINS__WEIGHTS__ISSUE", "1"),
        ]);
        assert!(Catalogue::new(&with_issue, &pebble_directory(), None).is_ok());
    }

    #[test]
    fn only_the_certificate_key_types_in_use_are_made() {
        let s = settings(&[("WEC_CHAINS__KEYS__POOL_SIZE", "3")]);
        let catalogue = Catalogue::new(&s, &pebble_directory(), None).unwrap();
        let keys = &catalogue.stock().keys;
        assert_eq!(keys.len(crate::acme::KeyType::P256), 3);
        assert_eq!(keys.len(crate::acme::KeyType::Rsa2048), 0);
    }

    /// The chain names `next` picks with `settings`, 200 times.
    fn picks(catalogue: &Catalogue, env: &Rc<ChainEnv>) -> Vec<&'static str> {
        (0..200)
            .map(|_| {
                catalogue
                    .next(
                        Rc::new(env.client(Rc::default())),
                        Rc::default(),
                        env.clone(),
                    )
                    .0
            })
            .collect()
    }

    /// A reload hands attackers new settings in their `ChainEnv`; the next picks follow its
    /// weights with no other plumbing.
    #[actix_rt::test]
    async fn picks_follow_the_weights_of_the_settings_each_attacker_runs_with() {
        let directory = Arc::new(pebble_directory());
        let registry = Registry::new(Duration::from_secs(60), 10).start();
        let env = |s: Settings| {
            let client_settings = s.client_settings();
            let tls = Transport::tls_connector(&[]).unwrap();
            let http = Transport::http_client(tls, &client_settings);
            Rc::new(ChainEnv {
                transport: Rc::new(Transport::new(http, client_settings)),
                directory: directory.clone(),
                settings: Arc::new(s),
                registry: registry.clone(),
                trust: None,
            })
        };
        let before = settings(&[]);
        let catalogue = Catalogue::new(&before, &directory, None).unwrap();
        assert!(picks(&catalogue, &env(before))
            .iter()
            .all(|c| *c == "issue"));

        let after = env(settings(&[
            ("WEC_CHAINS__WEIGHTS__REVOKE", "1"),
            ("WEC_CHAINS__WEIGHTS__KEY_ROLLOVER", "1"),
            ("WEC_CHAINS__WEIGHTS__ISSUE", "0"),
        ]));
        let names = picks(&catalogue, &after);
        assert!(
            names.iter().all(|c| ["revoke", "key-rollover"].contains(c)),
            "{names:?}"
        );
        assert!(names.contains(&"revoke") && names.contains(&"key-rollover"));

        let nothing_left = env(settings(&[
            ("WEC_CHAINS__WEIGHTS__ARI", "1"),
            ("WEC_CHAINS__WEIGHTS__ISSUE", "0"),
        ]));
        let (name, journey) = catalogue.next(
            Rc::new(nothing_left.client(Rc::default())),
            Rc::default(),
            nothing_left.clone(),
        );
        assert_eq!(name, "disabled");
        let err = journey.await.unwrap_err();
        assert!(err.to_string().contains("renewalInfo"), "{err}");
    }
}
