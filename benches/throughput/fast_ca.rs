//! The fast CA: `testca` with `Config::fast()` on one worker, in this process, over HTTPS
//! (so the tool pays for TLS as against a real CA), validating http-01 at the tool's listener
//! through the tool's DNS over plain UDP.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Result;
use testca::{Config, TestCa};

use super::{probe, Ca, Target};
use crate::common::free_port;
use crate::common::tls::Pki;

pub struct FastCa {
    ca: TestCa,
    target: Target,
}

impl FastCa {
    /// Starts the CA, its files under `dir`. Its threads share the calling thread's CPU
    /// affinity: pin that thread first.
    pub fn start(dir: &Path) -> Result<FastCa> {
        let pki = Pki::new(dir, "testca-https", &["127.0.0.1"]);
        let http01_port = free_port();
        let dns_port = free_port();
        let ca = TestCa::start(Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_cert: Some(pki.certificate),
            tls_key: Some(pki.key),
            workers: 1,
            dns_udp: Some(SocketAddr::from(([127, 0, 0, 1], dns_port))),
            http01_port,
            // Unused (http-01 only), but never a port someone else may listen on.
            tlsalpn01_port: free_port(),
            // The tool's listeners and DNS answers are on loopback.
            treat_as_public: vec!["127.0.0.0/8".parse()?],
            ..Config::fast()
        })?;
        let verify_root = dir.join("testca-root.pem");
        std::fs::write(&verify_root, ca.root_pem())?;
        let target = Target {
            name: "testca",
            directory_url: ca.directory_url(),
            ca_cert: pki.ca,
            verify_root,
            http01_port,
            dns_port,
            // testca refuses `.test` names, as Boulder does.
            base_domain: "com",
            flavor: "generic",
        };
        Ok(FastCa { ca, target })
    }
}

impl Ca for FastCa {
    fn target(&self) -> &Target {
        &self.target
    }

    /// This process's CPU time: the CA is the only thing in it that works during a run.
    fn cpu_seconds(&self) -> Result<f64> {
        probe::cpu_seconds("self")
    }

    fn connections(&self) -> Option<u64> {
        Some(self.ca.stats().connections)
    }
}
