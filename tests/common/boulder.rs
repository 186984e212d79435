//! The Boulder stand-in: `testca` configured as Boulder's dev environment (the account cache,
//! the rate limits, four validation perspectives, Boulder's paths and problems), and a
//! wile-e-coyote config pointed at it the way `config/boulder.toml` points at a real Boulder.
//! As with Boulder, validation happens on ports 80 (http-01) and 443 (tls-alpn-01) of the
//! address the DNS answers, and the stand-in resolves names only over DNS over HTTPS, through
//! the tool's DoH listener, verifying its certificate. Its address is a fresh 127.64.x.y: the
//! stand-in treats 127.64.0.0/16 as public, as a real Boulder on loopback must be told to (its
//! dev network's public range is 64.112.117.0/25); everything else private is refused.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use testca::{Config, TestCa};

use super::tls::Pki;
use super::{free_port, report, wec};

/// The base domain of the names: Boulder refuses `.test` and other non-ICANN names, and counts
/// `CertificatesPerDomain` by registered domain, so each name is its own `<label>.com`.
pub const BASE_DOMAIN: &str = "com";

/// A 127.64.x.y whose ports 80 and 443 are free now.
fn challenge_address() -> Ipv4Addr {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let start = u64::from(std::process::id()) * 131;
    loop {
        let n = start + NEXT.fetch_add(1, Ordering::Relaxed);
        let ip = Ipv4Addr::new(127, 64, (n / 250 % 250 + 1) as u8, (n % 250 + 1) as u8);
        if TcpListener::bind((ip, 80)).is_ok() && TcpListener::bind((ip, 443)).is_ok() {
            return ip;
        }
        assert!(
            n < start + 10_000,
            "no 127.64.x.y with ports 80 and 443 free (binding them needs root or \
             cap_net_bind_service)"
        );
    }
}

pub struct Boulder {
    pub ca: TestCa,
    pub dir: tempfile::TempDir,
    /// Where the tool's http-01 and tls-alpn-01 listeners are, and what its DNS answers.
    pub ip: Ipv4Addr,
    pub doh_port: u16,
    pki: Pki,
}

impl Boulder {
    /// The stand-in as Boulder's dev environment runs, varied by `tweak`.
    pub fn start(tweak: impl FnOnce(&mut Config)) -> Boulder {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(dir.path(), "doh", &["127.0.0.1"]);
        let doh_port = free_port();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            doh_url: Some(format!("https://127.0.0.1:{doh_port}/dns-query")),
            doh_ca: Some(pki.ca.clone()),
            treat_as_public: vec!["127.64.0.0/16".parse().unwrap()],
            // A loaded 2-core machine: Boulder's 1 s per DNS try is tight there.
            dns_timeout: std::time::Duration::from_secs(3),
            ..Config::boulder()
        };
        tweak(&mut config);
        let ca = TestCa::start(config).unwrap();
        std::fs::write(dir.path().join("root.pem"), ca.root_pem()).unwrap();
        Boulder {
            ca,
            dir,
            ip: challenge_address(),
            doh_port,
            pki,
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// A config like `config/boulder.toml`, for this stand-in: `flavor = "boulder"`, the
    /// listeners on ports 80 and 443 of the challenge address, DNS over HTTPS only, every chain
    /// checked against the stand-in's root. Tests vary it through `WEC_*` variables.
    pub fn config(&self) -> PathBuf {
        let toml = format!(
            "[target]\ndirectory_url = \"{directory}\"\nflavor = \"boulder\"\nrequest_timeout = \"20s\"\n\n\
             [polling]\ninterval = \"50ms\"\nmax_interval = \"500ms\"\ntimeout = \"30s\"\n\n\
             [challenge]\nhttp01_listen = [\"{ip}:80\"]\ntlsalpn01_listen = [\"{ip}:443\"]\n\
             dns_listen = []\ndoh_listen = [\"127.0.0.1:{doh}\"]\n\
             doh_certificate = {cert:?}\ndoh_key = {key:?}\naddresses_v4 = [\"{ip}\"]\n\n\
             [chains.issue]\nbase_domain = \"{BASE_DOMAIN}\"\nverify_root = \"root.pem\"\n\
             challenge = \"random\"\n\n\
             [chains.account-update]\ncheck_contact = false\n\n\
             [chains.keys]\nreuse = false\n\n\
             [run]\ngrace_period = \"30s\"\n\n\
             [control]\nlisten = \"127.0.0.1:0\"\n",
            directory = self.ca.directory_url(),
            ip = self.ip,
            doh = self.doh_port,
            cert = self.pki.certificate,
            key = self.pki.key,
        );
        let path = self.path("wec.toml");
        std::fs::write(&path, toml).unwrap();
        path
    }

    /// wile-e-coyote against the stand-in for `duration`, writing its JSON report where
    /// `report()` reads it; the test adds the mode and any overrides.
    pub fn attack(&self, duration: &str) -> Command {
        let mut cmd = wec();
        cmd.arg("--config")
            .arg(self.config())
            .args(["--duration", duration, "--report"])
            .arg(self.path("report.json"));
        cmd
    }

    pub fn report(&self) -> serde_json::Value {
        report(&self.path("report.json"))
    }

    /// The directory holding the config and its files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
