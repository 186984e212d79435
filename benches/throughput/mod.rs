//! The throughput rig, shared by `benches/throughput.rs` (the stepped benchmark) and
//! `tests/throughput.rs` (its small checked version): a CA to measure against (the fast
//! `testca` in this process, or Pebble), one run of the release `wile-e-coyote` at one `rate`
//! against it, measured from the outside, and the table row that shows it. The including crate
//! provides `common` (tests/common: free ports, the tool's command, Pebble, a throwaway PKI).

pub mod fast_ca;
pub mod pebble;
pub mod probe;
pub mod step;
pub mod table;

use std::path::{Path, PathBuf};

use anyhow::Result;

/// Where the tool is pointed and how the CA reaches it back.
pub struct Target {
    /// Shown in the table's first column.
    pub name: &'static str,
    pub directory_url: String,
    /// Trust root of the CA's HTTPS.
    pub ca_cert: PathBuf,
    /// The root every issued chain must verify to.
    pub verify_root: PathBuf,
    /// Where the CA validates http-01 and where it sends its DNS queries: the tool listens
    /// there.
    pub http01_port: u16,
    pub dns_port: u16,
    /// Names are `<random>.<base_domain>`; the tool's DNS answers for them.
    pub base_domain: &'static str,
    pub flavor: &'static str,
}

/// A CA under measurement.
pub trait Ca {
    fn target(&self) -> &Target;
    /// CPU seconds the CA has used so far.
    fn cpu_seconds(&self) -> Result<f64>;
    /// TLS connections the CA has accepted so far, where it counts them.
    fn connections(&self) -> Option<u64>;
}

/// The tool's config for an issuance-only run against `target`: one name per order, P-256
/// account and certificate keys, http-01, every chain verified up to the CA's root, the
/// control API on loopback `control_port`, one attacker thread (the tool gets one core).
pub fn write_config(target: &Target, control_port: u16, path: &Path) -> Result<()> {
    let toml = format!(
        "[target]\ndirectory_url = \"{directory}\"\nca_cert = {ca_cert:?}\nflavor = \"{flavor}\"\n\
         request_timeout = \"10s\"\n\n\
         [challenge]\nhttp01_listen = [\"127.0.0.1:{http01}\"]\ntlsalpn01_listen = []\n\
         dns_listen = [\"127.0.0.1:{dns}\"]\n\n\
         [chains.weights]\nissue = 1\n\n\
         [chains.issue]\nbase_domain = \"{base}\"\nnames_per_order = 1\naccount_key = \"es256\"\n\
         cert_key = \"p256\"\nchallenge = \"http-01\"\nverify_root = {root:?}\n\n\
         [run]\nthreads = 1\ngrace_period = \"10s\"\nwatch_config = false\n\n\
         [report]\nprogress = \"never\"\nlog_interval = \"0s\"\n\n\
         [control]\nlisten = \"127.0.0.1:{control_port}\"\n",
        directory = target.directory_url,
        ca_cert = target.ca_cert,
        flavor = target.flavor,
        http01 = target.http01_port,
        dns = target.dns_port,
        base = target.base_domain,
        root = target.verify_root,
    );
    std::fs::write(path, toml)?;
    Ok(())
}
