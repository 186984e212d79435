//! Chains run in-process against a real Pebble, wired as the daemon wires them (the challenge
//! server, one thread's environment, the shared stock of accounts and keys), so a test can run
//! one chain and then ask Pebble and the pool what it did.

use std::collections::HashMap;

use actix::Actor;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use wile_e_coyote::acme::{Client, Convergence, RequestOutcome, RequestRecord, Transport};
use wile_e_coyote::ca::Ca;
use wile_e_coyote::chains::trust::Trust;
use wile_e_coyote::chains::{Catalogue, ChainEnv, ChainError, ChainKind, Ctx, Journal, Stock};
use wile_e_coyote::challenge::ChallengeServer;
use wile_e_coyote::config::Settings;
use wile_e_coyote::db::source::{Checks, DbLink};
use wile_e_coyote::db::Db;
use wile_e_coyote::metrics::Metrics;

use super::Pebble;

/// One chain run: how it ended, its exchanges, the expected outcomes it met.
pub struct Run {
    pub result: Result<(), ChainError>,
    pub records: Vec<RequestRecord>,
    pub expected: Vec<String>,
    pub converged: Vec<Convergence>,
}

impl Run {
    /// Panics with the chain's error if it failed.
    pub fn ok(&self) -> &Self {
        if let Err(e) = &self.result {
            panic!("chain failed: [{}] {e}", e.reason());
        }
        self
    }

    /// Outcomes of the exchanges with `endpoint`, `badNonce` retries left out.
    pub fn outcomes(&self, endpoint: &str) -> Vec<(RequestOutcome, u16)> {
        self.records
            .iter()
            .filter(|r| r.endpoint.name() == endpoint)
            .filter(|r| r.outcome != RequestOutcome::BadNonceRetried)
            .map(|r| (r.outcome, r.status))
            .collect()
    }

    /// What the chain read back after a change, and whether the CA agreed.
    pub fn converged(&self) -> Vec<(&'static str, bool)> {
        self.converged.iter().map(|c| (c.what, c.agreed)).collect()
    }

    /// Exchanges whose endpoint name starts with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.records
            .iter()
            .filter(|r| r.endpoint.name().starts_with(prefix))
            .filter(|r| r.outcome != RequestOutcome::BadNonceRetried)
            .count()
    }
}

pub struct Lab {
    pub env: Rc<ChainEnv>,
    pub stock: Arc<Stock>,
    settings: Settings,
    server: Option<ChallengeServer>,
}

impl Lab {
    /// The challenge server and the chains' environment for `pebble`, with the harness config
    /// varied by `WEC_*` variables in `env`.
    pub async fn start(pebble: &Pebble, env: &[(&str, &str)]) -> Lab {
        Lab::with_config(&pebble.config(), env).await
    }

    /// As [`Lab::start`], for the CA the config file at `config` targets.
    pub async fn with_config(config: &Path, env: &[(&str, &str)]) -> Lab {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let settings = Settings::load_with_env(Some(config), Some(env)).unwrap();
        let ca = Ca::connect(&settings).await.unwrap();
        let server = ChallengeServer::start(settings.challenge_server()).unwrap();
        let catalogue = Catalogue::new(&settings, &ca.directory, database(&settings)).unwrap();
        let env = Rc::new(environment(&settings, ca, &server));
        Lab {
            env,
            stock: catalogue.stock().clone(),
            settings,
            server: Some(server),
        }
    }

    /// After `pebble` restarted: its new trust roots and directory; the stock and the
    /// challenge server stay.
    pub async fn reconnect(&mut self) {
        let ca = Ca::connect(&self.settings).await.unwrap();
        let server = self.server.as_ref().unwrap();
        self.env = Rc::new(environment(&self.settings, ca, server));
    }

    /// A client outside any chain run (its journal is dropped).
    pub fn client(&self) -> Client {
        self.env.client(Rc::default())
    }

    pub fn ctx<'a>(&'a self, client: &'a Client, journal: &'a Journal) -> Ctx<'a> {
        Ctx {
            client,
            journal,
            env: &self.env,
            stock: &self.stock,
        }
    }

    pub async fn run(&self, kind: ChainKind) -> Run {
        let journal = Rc::new(Journal::default());
        self.run_with(self.env.client(journal.clone()), &journal, kind)
            .await
    }

    /// As attacker `id` runs it (its source address, when configured).
    pub async fn run_as(&self, id: usize, kind: ChainKind) -> Run {
        let journal = Rc::new(Journal::default());
        self.run_with(self.env.client_for(id, journal.clone()), &journal, kind)
            .await
    }

    async fn run_with(&self, client: Client, journal: &Journal, kind: ChainKind) -> Run {
        let result = wile_e_coyote::chains::run(kind, &self.ctx(&client, journal)).await;
        let entries = journal.take();
        Run {
            result,
            records: entries.records,
            expected: entries.expected,
            converged: entries.converged,
        }
    }

    pub async fn stop(mut self) {
        self.server.take().unwrap().stop().await;
    }
}

/// Boulder's database when the config names one (`db.url`), as the daemon links it: the
/// DB-driven chains pick from it; consistency checks are off (no Metrics actor to tell).
fn database(settings: &Settings) -> Option<DbLink> {
    let db = Db::start(settings.db.url.as_ref()?.url(), &settings.db.settings()).unwrap();
    let metrics = Metrics::from_settings(&settings.statsd, &settings.report)
        .unwrap()
        .start();
    Some(DbLink {
        db,
        urls: settings.db.url_templates(settings.directory_url()),
        verdicts: metrics.recipient(),
        consistency_wait: None,
        rollovers: Default::default(),
        checks: Checks::on(actix::Arbiter::current()),
    })
}

/// A thread's chain environment, as `attacker::Shared` builds it.
fn environment(settings: &Settings, ca: Ca, server: &ChallengeServer) -> ChainEnv {
    let client_settings = settings.client_settings();
    let http = Transport::http_client(ca.tls, &client_settings);
    let trust = settings
        .chains
        .issue
        .verify_root
        .as_ref()
        .map(|path| Arc::new(Trust::from_pem(&std::fs::read(path).unwrap()).unwrap()));
    ChainEnv {
        transport: Rc::new(Transport::new(http, client_settings)),
        directory: Arc::new(ca.directory),
        settings: Arc::new(settings.clone()),
        registry: server.registry.clone(),
        trust,
    }
}
