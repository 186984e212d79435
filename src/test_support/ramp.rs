//! The Ramp without a CA, for its tests and its benchmark: a directory no chain calls, an
//! in-memory Registry, a Metrics actor that prints nothing, and journeys that do not talk ACME.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use actix_rt::time::Instant;
use tokio::sync::mpsc;

use crate::acme::{Client, Transport};
use crate::attacker::Shared;
use crate::ca::Ca;
use crate::chains::{ChainEnv, Journal, Journey, Journeys};
use crate::challenge::Registry;
use crate::config::Settings;
use crate::metrics::progress::Progress;
use crate::metrics::{GetSummary, Metrics};
use crate::ramp::{GetStatus, Ramp, RampStatus, Shutdown};
use crate::report::summary::Summary;
use crate::schedule::{Schedule, Shard};

/// A journey (`wait`) that waits a fixed time.
pub struct Wait(pub Duration);

impl Journeys for Wait {
    fn next(&self, _: Rc<Client>, _: Rc<Journal>, _: Rc<ChainEnv>) -> Journey {
        let wait = self.0;
        (
            "wait",
            Box::pin(async move {
                actix_rt::time::sleep(wait).await;
                Ok(())
            }),
        )
    }
}

/// The defaults of every setting, whatever the environment says.
pub fn settings() -> Settings {
    Settings::load_with_env(None, Some(Default::default())).expect("the default settings")
}

/// What a Ramp runs: the schedule, on how many attacker threads (none: on the Ramp's own
/// thread), which journeys, and for a shard its part and the instant its schedule began.
pub struct RampSpec {
    pub threads: usize,
    pub schedule: Schedule,
    pub journeys: Arc<dyn Journeys>,
    pub settings: Settings,
    pub shard: Option<Shard>,
    pub begin: Option<Instant>,
}

/// A started Ramp and the Metrics actor its attackers report to.
pub struct RampRig {
    pub ramp: Addr<Ramp>,
    pub metrics: Addr<Metrics>,
}

impl RampSpec {
    /// The whole `schedule` of `journeys` on `threads`, from now.
    pub fn new(threads: usize, schedule: Schedule, journeys: Arc<dyn Journeys>) -> Self {
        RampSpec {
            threads,
            schedule,
            journeys,
            settings: settings(),
            shard: None,
            begin: None,
        }
    }

    /// Starts the actors on the current System.
    pub fn start(self) -> RampRig {
        let metrics = Metrics::new(Progress::off(), None).start();
        let registry = Registry::new(Duration::from_secs(60), 1000).start();
        let ca = Ca {
            tls: Transport::tls_connector(&[]).expect("a TLS context"),
            directory: serde_json::from_str(
                r#"{"newNonce":"http://127.0.0.1:1/n","newAccount":"http://127.0.0.1:1/a","newOrder":"http://127.0.0.1:1/o"}"#,
            )
            .expect("a directory"),
        };
        let shared = Shared::new(self.settings, ca, registry, metrics.clone(), self.journeys)
            .expect("the attackers' shared state");
        let (ended, _) = mpsc::unbounded_channel();
        let ramp = Ramp::new(self.schedule, Arc::new(shared), self.threads, ended)
            .sharded(self.shard, self.begin)
            .start();
        RampRig { ramp, metrics }
    }
}

impl RampRig {
    /// Polls the status every 10 ms until `done` holds; panics with the last status after
    /// `limit` (of real time). Waiting for a state, not for an instant, keeps a loaded machine
    /// from failing a test: the schedule's own clock still decides when a step comes.
    pub async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&RampStatus) -> bool,
    ) -> RampStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let status = self.ramp.send(GetStatus).await.expect("the Ramp's status");
            if done(&status) {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never {what}: {status:?}"
            );
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the Ramp within `grace` and returns the run's summary.
    pub async fn stop(self, grace: Duration) -> Summary {
        self.ramp
            .send(Shutdown { grace })
            .await
            .expect("the Ramp's shutdown");
        self.metrics
            .send(GetSummary)
            .await
            .expect("the run's summary")
    }
}
