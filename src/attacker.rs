//! The Attacker actor: one simulated subscriber running chains back to back. It reports every
//! chain to the Metrics actor, stops at a chain boundary when retired, and is cancelled
//! mid-chain only when aborted.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use openssl::x509::X509;

use crate::acme::wire::Directory;
use crate::acme::{Client, Transport};
use crate::chains::{checks, ChainEnv, ChainError, ChainKind};
use crate::challenge::Registry;
use crate::config::Settings;
use crate::metrics::{ChainDone, ChainOutcome, Metrics};

/// What every attacker needs, shareable across attacker threads. Each thread builds its own
/// [`ChainEnv`] (connections, nonces) from it.
pub struct Shared {
    pub settings: Arc<Settings>,
    pub directory: Arc<Directory>,
    /// Trust roots for the target's HTTPS.
    pub tls_roots: Vec<X509>,
    /// PEM roots issued certificates must chain to, if configured.
    pub verify_roots: Option<Vec<u8>>,
    pub registry: Addr<Registry>,
    pub metrics: Addr<Metrics>,
}

thread_local! {
    /// The chain environment of this thread, keyed by the `Shared` it was built from.
    static THREAD_ENV: RefCell<Option<(usize, Rc<ChainEnv>)>> = const { RefCell::new(None) };
}

impl Shared {
    /// This thread's environment, built on first use: one connection pool and nonce pool per
    /// thread, shared by all its attackers.
    fn thread_env(self: &Arc<Self>) -> Rc<ChainEnv> {
        let key = Arc::as_ptr(self) as usize;
        THREAD_ENV.with(|cell| {
            let mut cell = cell.borrow_mut();
            if let Some((k, env)) = cell.as_ref() {
                if *k == key {
                    return env.clone();
                }
            }
            let env = Rc::new(self.build_env());
            *cell = Some((key, env.clone()));
            env
        })
    }

    fn build_env(&self) -> ChainEnv {
        let client_settings = self.settings.client_settings();
        let http = Transport::http_client(&self.tls_roots, &client_settings)
            .expect("TLS set-up succeeded at start with the same roots");
        ChainEnv {
            transport: Rc::new(Transport::new(http, client_settings)),
            directory: self.directory.clone(),
            settings: self.settings.clone(),
            registry: self.registry.clone(),
            verify_store: self
                .verify_roots
                .as_ref()
                .map(|pem| checks::root_store(pem).expect("verify_root was validated at start")),
        }
    }
}

/// Stop after the current chain.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Retire;

/// Stop now, interrupting the current chain.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Abort;

/// Sent to the Ramp when an attacker has stopped for good.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Retired {
    pub id: usize,
}

struct Running {
    handle: SpawnHandle,
    chain: ChainKind,
    started: Instant,
    client: Rc<Client>,
}

pub struct Attacker {
    id: usize,
    shared: Arc<Shared>,
    ramp: Recipient<Retired>,
    running: Option<Running>,
    retiring: bool,
}

impl Attacker {
    pub fn new(id: usize, shared: Arc<Shared>, ramp: Recipient<Retired>) -> Self {
        Attacker {
            id,
            shared,
            ramp,
            running: None,
            retiring: false,
        }
    }

    fn next_chain(&mut self, ctx: &mut Context<Self>) {
        if self.retiring {
            return self.leave(ctx);
        }
        let env = self.shared.thread_env();
        let client = Rc::new(env.client());
        let chain = ChainKind::Issue;
        let run = {
            let client = client.clone();
            async move { chain.run(&client, &env).await }
        };
        let handle = ctx.spawn(run.into_actor(self).map(|result, attacker, ctx| {
            attacker.finish(result, ctx);
        }));
        self.running = Some(Running {
            handle,
            chain,
            started: Instant::now(),
            client,
        });
    }

    fn finish(&mut self, result: Result<(), ChainError>, ctx: &mut Context<Self>) {
        if let Some(run) = self.running.take() {
            let outcome = match result {
                Ok(()) => ChainOutcome::Ok,
                Err(e) => {
                    log::warn!(
                        "attacker {}: chain {} failed after {:.0?}: [{}] {e}",
                        self.id,
                        run.chain.name(),
                        run.started.elapsed(),
                        e.reason()
                    );
                    ChainOutcome::Failed {
                        reason: e.reason(),
                        message: e.to_string(),
                    }
                }
            };
            self.report(run, outcome);
        }
        self.next_chain(ctx);
    }

    fn report(&self, run: Running, outcome: ChainOutcome) {
        self.shared.metrics.do_send(ChainDone {
            chain: run.chain.name(),
            took: run.started.elapsed(),
            outcome,
            requests: run.client.take_records(),
            bad_nonce_retries: run.client.bad_nonce_retries(),
        });
    }

    fn leave(&mut self, ctx: &mut Context<Self>) {
        self.ramp.do_send(Retired { id: self.id });
        ctx.stop();
    }
}

impl Actor for Attacker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.next_chain(ctx);
    }
}

impl Supervised for Attacker {
    fn restarting(&mut self, _: &mut Self::Context) {
        log::warn!("attacker {} stopped unexpectedly; restarting", self.id);
        self.running = None;
    }
}

impl Handler<Retire> for Attacker {
    type Result = ();

    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        self.retiring = true;
        if self.running.is_none() {
            self.leave(ctx);
        }
    }
}

impl Handler<Abort> for Attacker {
    type Result = ();

    fn handle(&mut self, _: Abort, ctx: &mut Context<Self>) {
        self.retiring = true;
        if let Some(run) = self.running.take() {
            ctx.cancel_future(run.handle);
            log::warn!(
                "attacker {}: chain {} interrupted after {:.0?}",
                self.id,
                run.chain.name(),
                run.started.elapsed()
            );
            self.report(run, ChainOutcome::Interrupted);
        }
        self.leave(ctx);
    }
}
