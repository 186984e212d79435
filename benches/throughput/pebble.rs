//! Pebble as the CA (the tests' harness starts it through `scripts/pebble-up`), resolving
//! through the tool's DNS and validating at its http-01 listener.

use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use super::{probe, Ca, Target};
use crate::common::Pebble;

pub struct PebbleCa {
    /// Stopped (scripts/pebble-down) when dropped.
    _pebble: Pebble,
    target: Target,
    pid: String,
}

impl PebbleCa {
    /// Starts Pebble, or `None` when it is not installed. It runs on the calling thread's CPU
    /// affinity (pebble-up and Pebble inherit it): pin that thread first.
    pub fn start() -> Result<Option<PebbleCa>> {
        let installed = Command::new("sh")
            .args(["-c", "command -v pebble"])
            .stdout(Stdio::null())
            .status()?
            .success();
        if !installed {
            return Ok(None);
        }
        let pebble = Pebble::start();
        let pid_file = pebble.path("pebble.pid");
        let pid = std::fs::read_to_string(&pid_file)
            .with_context(|| pid_file.display().to_string())?
            .trim()
            .to_string();
        let target = Target {
            name: "Pebble",
            directory_url: pebble.directory_url(),
            ca_cert: pebble.path("ca.pem"),
            verify_root: pebble.path("root.pem"),
            http01_port: pebble.http01_port,
            dns_port: pebble.dns_port,
            base_domain: "wile.test",
            flavor: "pebble",
        };
        Ok(Some(PebbleCa {
            _pebble: pebble,
            target,
            pid,
        }))
    }
}

impl Ca for PebbleCa {
    fn target(&self) -> &Target {
        &self.target
    }

    fn cpu_seconds(&self) -> Result<f64> {
        probe::cpu_seconds(&self.pid)
    }

    /// Pebble does not count its connections.
    fn connections(&self) -> Option<u64> {
        None
    }
}
