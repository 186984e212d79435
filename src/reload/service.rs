//! The reload service: an actor beside the Ramp that takes every reload request (SIGHUP, a
//! change of the file, `POST /reload`), loads and validates the new config, connects to a new
//! target, builds what the attackers share, and only then hands the Ramp one [`ApplyReload`].
//! The Ramp schedules; it never reads a file or opens a connection.

use std::sync::Arc;

use actix::prelude::*;

use super::{ReloadError, ReloadSource};
use crate::attacker::Shared;
use crate::ca::Ca;
use crate::ramp::{ApplyReload, Ramp, ReloadRefused};
use crate::schedule::Schedule;

/// Reload the config. Answers what was applied, or why the new config was refused (the
/// running one then stays).
#[derive(Debug, Message)]
#[rtype(result = "Result<String, ReloadError>")]
pub struct Reload {
    /// What asked for it, for the log.
    pub cause: &'static str,
}

/// Serves [`Reload`]s one schedule at a time: it knows what runs because every change goes
/// through it.
pub struct Reloader {
    source: ReloadSource,
    /// What the attackers share now (its settings are the running config).
    shared: Arc<Shared>,
    schedule: Schedule,
    ramp: Addr<Ramp>,
    /// Reloads are numbered so that only the newest one started is applied.
    generation: u64,
}

impl Reloader {
    pub fn new(
        source: ReloadSource,
        shared: Arc<Shared>,
        schedule: Schedule,
        ramp: Addr<Ramp>,
    ) -> Self {
        Reloader {
            source,
            shared,
            schedule,
            ramp,
            generation: 0,
        }
    }
}

impl Actor for Reloader {
    type Context = Context<Self>;
}

/// A new config loaded and connected, ready for the Ramp.
struct Prepared {
    shared: Arc<Shared>,
    schedule: Schedule,
    needs_restart: Vec<&'static str>,
}

impl Handler<Reload> for Reloader {
    type Result = ResponseActFuture<Self, Result<String, ReloadError>>;

    fn handle(&mut self, msg: Reload, _: &mut Context<Self>) -> Self::Result {
        self.generation += 1;
        let generation = self.generation;
        let shard = self.source.shard;
        let loaded = self
            .source
            .load(&self.shared.settings, &self.schedule)
            .map(|mut reloaded| {
                if let Some(shard) = shard {
                    reloaded.settings.name_for_shard(shard);
                }
                reloaded
            });
        let old = self.shared.clone();
        let prepare = async move {
            let reloaded = loaded?;
            let ca = match reloaded.target_changed {
                true => Ca::connect(&reloaded.settings)
                    .await
                    .map_err(ReloadError::Target)?,
                false => Ca {
                    tls: old.tls.clone(),
                    directory: (*old.directory).clone(),
                },
            };
            let shared = Shared::new(
                reloaded.settings,
                ca,
                old.registry.clone(),
                old.metrics.clone(),
                old.journeys.clone(),
            )
            .map_err(ReloadError::Target)?;
            Ok(Prepared {
                shared: Arc::new(shared),
                schedule: reloaded.schedule,
                needs_restart: reloaded.needs_restart,
            })
        };
        let cause = msg.cause;
        Box::pin(
            prepare
                .into_actor(self)
                .then(move |prepared: Result<Prepared, ReloadError>, this, _| {
                    let prepared = match prepared {
                        Ok(_) if generation != this.generation => Err(ReloadError::Superseded),
                        other => other,
                    };
                    let apply = prepared.map(|p| {
                        let apply = this.ramp.send(ApplyReload {
                            shared: p.shared.clone(),
                            schedule: p.schedule.clone(),
                            needs_restart: p.needs_restart.clone(),
                        });
                        (p, apply)
                    });
                    async move {
                        let (prepared, apply) = apply?;
                        match apply.await {
                            Ok(Some(schedule)) => Ok((prepared, schedule)),
                            _ => Err(ReloadError::ShuttingDown),
                        }
                    }
                    .into_actor(this)
                })
                .map(move |applied, this, _| match applied {
                    Ok((prepared, described)) => {
                        let mut answer = format!("reloaded ({cause}): schedule {described}");
                        if !prepared.needs_restart.is_empty() {
                            answer += &format!(
                                "; needs a restart to change: {}",
                                prepared.needs_restart.join(", ")
                            );
                        }
                        this.shared = prepared.shared;
                        this.schedule = prepared.schedule;
                        Ok(answer)
                    }
                    Err(reason) => {
                        this.ramp.do_send(ReloadRefused);
                        log::error!(
                            "config reload ({cause}) rejected, keeping the running config: {reason}"
                        );
                        Err(reason)
                    }
                }),
        )
    }
}
