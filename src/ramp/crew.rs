//! The Ramp's book of attackers: which run in the closed model, which wait or work in the open
//! model, which are retiring. The Ramp holds the only strong address of every working attacker,
//! so a crash is restarted by its supervisor; a retiring attacker is held weakly, so its stop
//! is final.

use actix::prelude::*;
use actix::WeakAddr;
use actix_rt::time::Instant;
use std::collections::HashMap;
use std::sync::Arc;

use crate::attacker::{Abort, Attacker, AttackerEvent, Duty, Retire, Shared, UseShared};

pub struct Crew {
    /// Empty: attackers run on the Ramp's own arbiter.
    arbiters: Vec<Arbiter>,
    next_arbiter: usize,
    next_id: usize,
    /// Closed model, oldest first.
    looping: Vec<(usize, Addr<Attacker>)>,
    /// Open model, waiting for a start.
    idle: Vec<(usize, Addr<Attacker>)>,
    /// Open model, running a chain.
    busy: HashMap<usize, Addr<Attacker>>,
    /// Finishing their last chain, with the instant they will be interrupted.
    retiring: HashMap<usize, (WeakAddr<Attacker>, Instant)>,
}

impl Crew {
    /// Attackers are spread round-robin over `threads` arbiters of their own; with none, they
    /// run on the Ramp's arbiter (one thread for everything, and one clock: tests pause it).
    pub fn new(threads: usize) -> Self {
        Crew {
            arbiters: (0..threads).map(|_| Arbiter::new()).collect(),
            next_arbiter: 0,
            next_id: 0,
            looping: Vec::new(),
            idle: Vec::new(),
            busy: HashMap::new(),
            retiring: HashMap::new(),
        }
    }

    pub fn threads(&self) -> usize {
        self.arbiters.len()
    }

    fn spawn(
        &mut self,
        duty: Duty,
        shared: &Arc<Shared>,
        ramp: &Recipient<AttackerEvent>,
    ) -> (usize, Addr<Attacker>) {
        let id = self.next_id;
        self.next_id += 1;
        let arbiter = match self.arbiters.len() {
            0 => Arbiter::current(),
            n => self.arbiters[self.next_arbiter % n].handle(),
        };
        self.next_arbiter += 1;
        let (shared, ramp) = (shared.clone(), ramp.clone());
        let addr =
            Supervisor::start_in_arbiter(&arbiter, move |_| Attacker::new(id, duty, shared, ramp));
        (id, addr)
    }

    /// Closed model: start or retire looping attackers until `target` run. The newest retire
    /// first.
    pub fn loop_to(
        &mut self,
        target: usize,
        shared: &Arc<Shared>,
        ramp: &Recipient<AttackerEvent>,
        deadline: Instant,
    ) {
        while self.looping.len() < target {
            let attacker = self.spawn(Duty::Loop, shared, ramp);
            self.looping.push(attacker);
        }
        while self.looping.len() > target {
            let (id, addr) = self.looping.pop().expect("more looping than target");
            self.retire(id, addr, deadline);
        }
    }

    /// Open model: an idle attacker, or a new one while fewer than `max` are busy; `None`
    /// when `max` chains are in flight.
    pub fn take_for_start(
        &mut self,
        max: usize,
        shared: &Arc<Shared>,
        ramp: &Recipient<AttackerEvent>,
    ) -> Option<&Addr<Attacker>> {
        if self.busy.len() >= max {
            return None;
        }
        let (id, addr) = match self.idle.pop() {
            Some(attacker) => attacker,
            None => self.spawn(Duty::OnDemand, shared, ramp),
        };
        Some(self.busy.entry(id).or_insert(addr))
    }

    /// Open model: an attacker finished its chain.
    pub fn now_idle(&mut self, id: usize) {
        if let Some(addr) = self.busy.remove(&id) {
            self.idle.push((id, addr));
        }
    }

    /// An attacker confirmed it stopped.
    pub fn retired(&mut self, id: usize) {
        self.retiring.remove(&id);
    }

    fn retire(&mut self, id: usize, addr: Addr<Attacker>, deadline: Instant) {
        addr.do_send(Retire);
        self.retiring.insert(id, (addr.downgrade(), deadline));
    }

    /// Retires every attacker (shutdown, or a switch between closed and open model).
    pub fn retire_all(&mut self, deadline: Instant) {
        let all: Vec<_> = self
            .looping
            .drain(..)
            .chain(self.idle.drain(..))
            .chain(self.busy.drain())
            .collect();
        for (id, addr) in all {
            self.retire(id, addr, deadline);
        }
    }

    /// Interrupts retiring attackers whose deadline has passed; returns how many.
    pub fn abort_overdue(&mut self, now: Instant) -> usize {
        let mut aborted = 0;
        self.retiring.retain(|_, (weak, deadline)| {
            if *deadline > now {
                return true;
            }
            match weak.upgrade() {
                Some(addr) => {
                    addr.do_send(Abort);
                    aborted += 1;
                    true
                }
                None => false,
            }
        });
        aborted
    }

    /// Brings every retiring attacker's deadline to `now` (a second signal: no more grace).
    pub fn end_grace(&mut self, now: Instant) {
        for (_, deadline) in self.retiring.values_mut() {
            *deadline = now;
        }
    }

    /// Forgets retiring attackers that never confirmed (their thread is gone).
    pub fn forget_retiring(&mut self) -> usize {
        let n = self.retiring.len();
        self.retiring.clear();
        n
    }

    /// Hands every attacker the reloaded configuration.
    pub fn broadcast(&self, shared: &Arc<Shared>) {
        let working = self.looping.iter().chain(self.idle.iter());
        for (_, addr) in working {
            addr.do_send(UseShared(shared.clone()));
        }
        for addr in self.busy.values() {
            addr.do_send(UseShared(shared.clone()));
        }
    }

    pub fn looping(&self) -> usize {
        self.looping.len()
    }

    pub fn busy(&self) -> usize {
        self.busy.len()
    }

    pub fn idle(&self) -> usize {
        self.idle.len()
    }

    pub fn retiring(&self) -> usize {
        self.retiring.len()
    }

    /// Attackers doing work: looping, busy, or finishing a last chain.
    pub fn working(&self) -> usize {
        self.looping.len() + self.busy.len() + self.retiring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.looping.is_empty()
            && self.idle.is_empty()
            && self.busy.is_empty()
            && self.retiring.is_empty()
    }

    pub fn stop_threads(&self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}
