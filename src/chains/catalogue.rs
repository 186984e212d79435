//! The real chains: each attacker's next chain is drawn from the mix of the settings that
//! attacker runs with (a reload hands it new ones, so the weights follow the config), and runs
//! with the [`Stock`] every thread shares.

use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};

use super::mix::{Disabled, Mix};
use super::{ChainEnv, ChainError, Ctx, Journey, Journeys, Stock};
use crate::acme::wire::Directory;
use crate::acme::Client;
use crate::config::Settings;

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
    pub fn new(settings: &Settings, directory: &Directory) -> Result<Catalogue, String> {
        let (mix, disabled) = Mix::new(&settings.chains.weights(), directory);
        log_disabled(&disabled);
        if mix.is_empty() {
            return Err(no_chain(&disabled));
        }
        log::info!("chain mix: {}", mix.describe());
        let stock = Stock::default();
        let types: Vec<_> = settings
            .chains
            .issue
            .cert_key
            .weights()
            .into_iter()
            .map(|(kind, _)| kind)
            .collect();
        stock
            .keys
            .prepare(&types, settings.chains.keys.pool_size)
            .map_err(|e| format!("making certificate keys: {e}"))?;
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
        let (mix, disabled) = Mix::new(&env.settings.chains.weights(), &env.directory);
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
            "chain {} disabled: the CA's directory offers no {} (its weight {} is not used; \
             it is not counted as failed)",
            d.chain.name(),
            d.missing,
            d.weight
        );
    }
}

fn no_chain(disabled: &[Disabled]) -> String {
    let names: Vec<&str> = disabled.iter().map(|d| d.chain.name()).collect();
    format!(
        "no chain of chains.weights can run against this CA ({} disabled: see above)",
        names.join(", ")
    )
}

impl Journeys for Catalogue {
    fn next(&self, client: Rc<Client>, env: Rc<ChainEnv>) -> Journey {
        let Some(kind) = self.mix(&env).pick(&mut rand::rng()) else {
            let (_, disabled) = Mix::new(&env.settings.chains.weights(), &env.directory);
            let why = no_chain(&disabled);
            return (
                "disabled",
                Box::pin(async move { Err(ChainError::Local(why)) }),
            );
        };
        let stock = self.stock.clone();
        (
            kind.name(),
            Box::pin(async move {
                let ctx = Ctx {
                    client: &client,
                    env: &env,
                    stock: &stock,
                };
                kind.run(&ctx).await
            }),
        )
    }
}
