//! Settings: a TOML file read with the `config` crate, every key overridable by a `WEC_*`
//! environment variable (nesting with `__`), then validated as a whole so a bad value is
//! reported once, naming the file, the key and the reason.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

pub use crate::metrics::settings::{ProgressMode, Reporting, Statsd, TimingUnit};
use crate::metrics::thresholds::Thresholds;
use crate::units::{deserialize_duration, deserialize_option_duration};

mod schedule_table;
pub use schedule_table::ScheduleTable;

mod challenge;
pub use challenge::{Challenge, ChallengeChoice, ChallengeWeights};

mod db;
pub use db::Db;
mod chain_tables;
mod chains;
pub use chain_tables::{
    AccountUpdate, Eviction, FailedValidation, KeyRollover, Keys, NewAccount, Poll, PoolSettings,
    Renew, Revoke, RevokeSigner, WhenEmpty,
};
pub use chains::{pick_weighted, Answering, CertKeys, Chains, Issue, NamesPerOrder};

/// Environment variables `WEC_<SECTION>__<KEY>` override file keys.
pub const ENV_PREFIX: &str = "WEC";

/// Everything the daemon reads from its config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub target: Target,
    #[serde(default)]
    pub polling: Polling,
    #[serde(default)]
    pub challenge: Challenge,
    #[serde(default)]
    pub chains: Chains,
    #[serde(default)]
    pub run: Run,
    #[serde(default)]
    pub statsd: Statsd,
    #[serde(default)]
    pub control: Control,
    #[serde(default)]
    pub db: Db,
    /// The load schedule, used when the command line gives no mode.
    pub schedule: Option<ScheduleTable>,
    #[serde(default)]
    pub report: Reporting,
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// The CA under test and how to talk to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Target {
    /// The ACME directory (RFC 8555 §7.1.1).
    pub directory_url: String,
    /// PEM trust root(s) for the target's HTTPS; the system store when absent. Verification is
    /// never switched off.
    pub ca_cert: Option<PathBuf>,
    /// Upper bound on every request, from sending to the last body byte.
    #[serde(deserialize_with = "deserialize_duration")]
    pub request_timeout: Duration,
    /// Response bodies larger than this are refused (a CA answering megabytes is a finding).
    pub max_response_bytes: usize,
    /// Keep-alive connections per attacker thread.
    pub connections_per_thread: usize,
    /// How often one request is re-sent after `badNonce` (RFC 8555 §6.5).
    pub bad_nonce_retries: u32,
    /// Permit a public CA's directory (see `--allow-public-ca`).
    pub allow_public_ca: bool,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            directory_url: "https://127.0.0.1:14000/dir".into(),
            ca_cert: None,
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 1 << 20,
            connections_per_thread: 128,
            bad_nonce_retries: 5,
            allow_public_ca: false,
        }
    }
}

/// Polling of authorizations and orders.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Polling {
    /// First wait before polling again when the server sends no `Retry-After`; it doubles at
    /// each further poll up to `max_interval`.
    #[serde(deserialize_with = "deserialize_duration")]
    pub interval: Duration,
    #[serde(deserialize_with = "deserialize_duration")]
    pub max_interval: Duration,
    /// Give up on an object that is still pending/processing after this long.
    #[serde(deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// Cap on a server's `Retry-After`, so one answer cannot park an attacker for hours.
    #[serde(deserialize_with = "deserialize_duration")]
    pub max_retry_after: Duration,
}

impl Default for Polling {
    fn default() -> Self {
        Polling {
            interval: Duration::from_millis(50),
            max_interval: Duration::from_secs(2),
            timeout: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

/// How the daemon runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Run {
    /// Attacker threads (arbiters); 0 means one per CPU.
    pub threads: usize,
    /// On shutdown or scale-down, chains still running after this long are interrupted.
    #[serde(deserialize_with = "deserialize_duration")]
    pub grace_period: Duration,
    /// Pause of an attacker between two chains (closed model), as a real subscriber is not
    /// always busy.
    #[serde(deserialize_with = "deserialize_duration")]
    pub think_time: Duration,
    /// End `seq`/`aseq` runs when the last step's interval is over instead of holding the
    /// final count.
    pub stop_after_last_step: bool,
    /// End the run after this long (`--duration` wins).
    #[serde(deserialize_with = "deserialize_option_duration")]
    pub duration: Option<Duration>,
    /// Reload when the config file changes on disk (SIGHUP and `POST /reload` always work).
    pub watch_config: bool,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            threads: 0,
            grace_period: Duration::from_secs(30),
            think_time: Duration::ZERO,
            stop_after_last_step: false,
            duration: None,
            watch_config: true,
        }
    }
}

/// The control API (`GET /status`, `POST /reload`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Control {
    pub enabled: bool,
    /// `ip:port`; port 0 picks a free port (logged at start).
    pub listen: String,
    /// Bearer token required on every request when set; mandatory when `listen` is not a
    /// loopback address.
    pub token: Option<String>,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            enabled: true,
            listen: "127.0.0.1:9180".into(),
            token: None,
        }
    }
}

/// A config that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {file}: {source}")]
    Load {
        file: String,
        source: config::ConfigError,
    },
    #[error("config {file}: key `{key}`: {reason}")]
    Invalid {
        file: String,
        key: String,
        reason: String,
    },
}

impl Settings {
    /// Reads `file` (or only defaults and the environment when `None`), then validates.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with_env(file, None)
    }

    /// As `load`, with the environment given explicitly (tests) instead of the process's.
    pub fn load_with_env(
        file: Option<&Path>,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Settings, ConfigError> {
        let name = file.map_or_else(|| "(defaults)".to_owned(), |f| f.display().to_string());
        let load_err = |source| ConfigError::Load {
            file: name.clone(),
            source,
        };
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            builder = builder.add_source(config::File::new(
                &path.to_string_lossy(),
                config::FileFormat::Toml,
            ));
        }
        let environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("challenge.http01_listen")
            .with_list_parse_key("challenge.tlsalpn01_listen")
            .with_list_parse_key("challenge.dns_listen")
            .with_list_parse_key("challenge.base_domains")
            .with_list_parse_key("challenge.addresses_v4")
            .with_list_parse_key("challenge.addresses_v6")
            .with_list_parse_key("chains.revoke.reasons")
            .source(env);
        let mut settings: Settings = builder
            .add_source(environment)
            .build()
            .map_err(load_err)?
            .try_deserialize()
            .map_err(load_err)?;
        let base = file.and_then(Path::parent).unwrap_or(Path::new(""));
        settings.resolve_paths(base);
        let invalid = |key: String, reason| ConfigError::Invalid {
            file: name.clone(),
            key,
            reason,
        };
        settings
            .validate()
            .map_err(|(key, reason)| invalid(key.to_owned(), reason))?;
        if let Some(table) = &settings.schedule {
            table
                .to_schedule()
                .map_err(|(key, reason)| invalid(key, reason))?;
        }
        Ok(settings)
    }

    /// Relative paths in a file are relative to that file, so a config works from any cwd.
    fn resolve_paths(&mut self, base: &Path) {
        for path in [&mut self.target.ca_cert, &mut self.chains.issue.verify_root]
            .into_iter()
            .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// The directory URL, parsed (validation guarantees it parses).
    pub fn directory_url(&self) -> Url {
        Url::parse(&self.target.directory_url).expect("validated directory_url")
    }

    /// The ACME client's limits and timings.
    pub fn client_settings(&self) -> crate::acme::ClientSettings {
        crate::acme::ClientSettings {
            request_timeout: self.target.request_timeout,
            max_response_bytes: self.target.max_response_bytes,
            bad_nonce_retries: self.target.bad_nonce_retries,
            connections: self.target.connections_per_thread,
            poll_interval: self.polling.interval,
            poll_max_interval: self.polling.max_interval,
            poll_timeout: self.polling.timeout,
            max_retry_after: self.polling.max_retry_after,
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        self.db.validate()?;
        let t = &self.target;
        let url = Url::parse(&t.directory_url)
            .map_err(|e| ("target.directory_url", format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err((
                "target.directory_url",
                format!("{url} is not an http(s) URL with a host"),
            ));
        }
        if let Some(path) = &t.ca_cert {
            check_pem_certs(path).map_err(|e| ("target.ca_cert", e))?;
        }
        positive("target.request_timeout", t.request_timeout)?;
        at_least("target.max_response_bytes", t.max_response_bytes, 1024)?;
        at_least("target.connections_per_thread", t.connections_per_thread, 1)?;
        positive("polling.interval", self.polling.interval)?;
        if self.polling.max_interval < self.polling.interval {
            return Err((
                "polling.max_interval",
                "must be at least polling.interval".into(),
            ));
        }
        positive("polling.timeout", self.polling.timeout)?;
        self.chains.validate()?;
        if let Some(path) = &self.chains.issue.verify_root {
            check_pem_certs(path).map_err(|e| ("chains.issue.verify_root", e))?;
        }
        self.validate_challenge()?;
        if self.run.threads > 1024 {
            return Err((
                "run.threads",
                format!("{} is more than 1024", self.run.threads),
            ));
        }
        if self.control.enabled {
            let addr: SocketAddr = self.control.listen.parse().map_err(|e| {
                (
                    "control.listen",
                    format!("{:?} is not an ip:port address: {e}", self.control.listen),
                )
            })?;
            if !addr.ip().is_loopback() && self.control.token.is_none() {
                return Err((
                    "control.token",
                    format!("required when control.listen ({addr}) is not a loopback address"),
                ));
            }
            if self.control.token.as_ref().is_some_and(|t| t.len() < 16) {
                return Err(("control.token", "must be at least 16 characters".into()));
            }
        }
        self.statsd.validate()?;
        self.thresholds.validate()
    }

    /// The refusal to target a public CA, separate from `validate` because the CLI flag can
    /// lift it.
    pub fn check_public_ca(&self, allowed_by_cli: bool) -> Result<(), String> {
        match crate::safety::public_ca(&self.directory_url()) {
            Some(ca) if !(allowed_by_cli || self.target.allow_public_ca) => Err(format!(
                "refusing to load-test {ca} ({}): this is a public CA; pass --allow-public-ca \
                 only if you have its operator's permission",
                self.target.directory_url
            )),
            _ => Ok(()),
        }
    }
}

/// A refusal of `validate`: the key, and why.
type Invalid = (&'static str, String);

fn positive(key: &'static str, d: Duration) -> Result<(), Invalid> {
    if d.is_zero() {
        Err((key, "must be longer than zero".into()))
    } else {
        Ok(())
    }
}

fn at_least(key: &'static str, v: usize, min: usize) -> Result<(), Invalid> {
    if v < min {
        Err((key, format!("{v} is below the minimum {min}")))
    } else {
        Ok(())
    }
}

fn check_pem_certs(path: &Path) -> Result<(), String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match openssl::x509::X509::stack_from_pem(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(()),
        Ok(_) => Err(format!("{} holds no PEM certificate", path.display())),
        Err(e) => Err(format!("{} is not PEM certificates: {e}", path.display())),
    }
}

fn check_domain(domain: &str) -> Result<(), String> {
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.len() > 200 || !domain.split('.').all(ok_label) {
        return Err(format!("{domain:?} is not a DNS name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
