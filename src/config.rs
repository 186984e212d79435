//! Settings: a TOML file read with the `config` crate, every key overridable by a `WEC_*`
//! environment variable (nesting with `__`), parsed once into typed values (URLs, addresses,
//! bounded durations, the schedule) and validated as a whole, so a bad value is reported once,
//! naming the file, the key and the reason — and never quoting a secret.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use awc::http::header::HeaderName;
use serde::Deserialize;
use url::Url;

pub use crate::metrics::settings::{ProgressMode, Reporting, StatsdSettings, TimingUnit};
use crate::report::thresholds::Thresholds;
use crate::schedule::Shard;
pub(crate) use crate::setting::{deserialize_parsed_list, Invalid};
use crate::units::{deserialize_duration, deserialize_option_duration};

mod schedule_table;

mod challenge;
use crate::safety::{HttpUrl, PublicCaError};
use crate::schedule::Schedule;
pub use challenge::{Challenge, ChallengeChoice, ChallengeWeights};
pub use control::Control;

mod db;
pub use db::Db;
mod source_address;
pub use source_address::{Cidr, SourceHeader};
mod chain_tables;
mod chains;
pub mod control;
mod environment;
mod weights;
pub use crate::pool::settings::{Eviction, PoolSettings, WhenEmpty};
pub use chain_tables::{
    AccountUpdate, FailedValidation, KeyRollover, Keys, NewAccount, Poll, Renew, Revoke,
    RevokeSigner, Settle,
};
pub use chains::{Answering, Chains, Issue};
pub use weights::{CertKeys, ChainWeights, NamesPerOrder, Profiles, ProfilesNotOffered};

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
    pub statsd: StatsdSettings,
    #[serde(default)]
    pub control: Control,
    #[serde(default)]
    pub db: Db,
    /// The load schedule (the `[schedule]` table), used when the command line gives no mode.
    #[serde(default, deserialize_with = "schedule_table::deserialize")]
    pub schedule: Option<Schedule>,
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
    pub directory_url: HttpUrl,
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
    /// An account refused with `rateLimited` is not used again before its `Retry-After`, up to
    /// this long.
    #[serde(deserialize_with = "deserialize_duration")]
    pub rate_limit_max_wait: Duration,
    /// Permit a public CA's directory (see `--allow-public-ca`).
    pub allow_public_ca: bool,
    /// Which CA this is, where CAs differ in what RFC 8555 leaves open (the revocation reason
    /// stored, where validation comes from).
    pub flavor: Flavor,
    /// A header in which each attacker presents an address of its own from
    /// `source_addresses` (Boulder reads the client IP from `X-Real-IP`).
    pub source_address_header: Option<SourceHeader>,
    pub source_addresses: Option<Cidr>,
}

/// A CA implementation whose documented behaviour the checks follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Only what RFC 8555 requires.
    #[default]
    Generic,
    /// Let's Encrypt's Boulder: a revocation signed by the certificate's key is stored as
    /// keyCompromise; validation from public-range addresses on ports 80/443; DNS over HTTPS.
    Boulder,
    /// Pebble, Let's Encrypt's test CA.
    Pebble,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            directory_url: "https://127.0.0.1:14000/dir"
                .parse()
                .expect("a valid URL literal"),
            ca_cert: None,
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 1 << 20,
            connections_per_thread: 128,
            // A CA rejecting 60% of good nonces loses a request with probability 0.6^31
            // ≈ 1e-7; one rejecting every nonce still ends each request after 31 tries.
            bad_nonce_retries: 30,
            rate_limit_max_wait: Duration::from_secs(3600),
            allow_public_ca: false,
            flavor: Flavor::Generic,
            source_address_header: None,
            source_addresses: None,
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

/// A config that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read or parsed (a TOML syntax error shows where, not the line
    /// itself, which may hold a token or a password).
    #[error("config {file}: {reason}")]
    Load { file: String, reason: String },
    #[error("config {file}: key `{key}`: {reason}")]
    Invalid {
        file: String,
        key: String,
        reason: String,
    },
}

impl Settings {
    /// Puts `shard`'s label under the names it orders and the contacts it sets:
    /// `<random>.s2.<base_domain>` and `mailto:wile-<random>@s2.<contact_domain>`. The DNS a shard
    /// serves then answers for its own names by default (`challenge.base_domains` wider to answer
    /// for every shard's).
    pub fn name_for_shard(&mut self, shard: Shard) {
        let label = shard.label();
        let chains = &mut self.chains;
        chains.issue.base_domain = format!("{label}.{}", chains.issue.base_domain);
        chains.account_update.contact_domain =
            format!("{label}.{}", chains.account_update.contact_domain);
    }

    /// Reads `file` (or only defaults and the environment when `None`), then validates.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with_env(file, None)
    }

    /// As `load`, with the environment given explicitly (tests) instead of the process's.
    pub fn load_with_env(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Settings, ConfigError> {
        let name = file.map_or_else(|| "(defaults)".to_owned(), |f| f.display().to_string());
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            builder = builder.add_source(config::File::new(
                &path.to_string_lossy(),
                config::FileFormat::Toml,
            ));
        }
        let env = match env {
            Some(env) => env,
            None => environment::process().map_err(|e| ConfigError::Load {
                file: name.clone(),
                reason: e.to_string(),
            })?,
        };
        let mut settings: Settings = environment::add(builder, env)
            .and_then(|builder| builder.build())
            .and_then(|config| config.try_deserialize())
            .map_err(|e| load_error(&name, e))?;
        let base = file.and_then(Path::parent).unwrap_or(Path::new(""));
        settings.resolve_paths(base);
        settings
            .validate()
            .map_err(|Invalid { key, reason }| ConfigError::Invalid {
                file: name.clone(),
                key: key.to_owned(),
                reason,
            })?;
        Ok(settings)
    }

    /// Relative paths in a file are relative to that file, so a config works from any cwd.
    fn resolve_paths(&mut self, base: &Path) {
        let paths = [
            &mut self.target.ca_cert,
            &mut self.chains.issue.verify_root,
            &mut self.challenge.doh_certificate,
            &mut self.challenge.doh_key,
        ];
        for path in paths.into_iter().flatten() {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// The header and address attacker `id` presents, when configured: the same address for
    /// the same attacker throughout the run.
    pub fn source_address(&self, id: usize) -> Option<(&HeaderName, std::net::IpAddr)> {
        let header = self.target.source_address_header.as_ref()?.name();
        let range = self.target.source_addresses?;
        Some((header, range.nth(source_address::attacker_slot(id))))
    }

    /// The directory URL.
    pub fn directory_url(&self) -> &Url {
        self.target.directory_url.url()
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
            max_rate_limit_wait: self.target.rate_limit_max_wait,
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        self.db.validate()?;
        let t = &self.target;
        if let Some(path) = &t.ca_cert {
            check_pem_certs("target.ca_cert", path)?;
        }
        positive("target.request_timeout", t.request_timeout)?;
        if t.source_address_header.is_some() != t.source_addresses.is_some() {
            return Err(Invalid::new(
                "target.source_addresses",
                "needs target.source_address_header, and the other way round",
            ));
        }
        at_least("target.max_response_bytes", t.max_response_bytes, 1024)?;
        at_least("target.connections_per_thread", t.connections_per_thread, 1)?;
        positive("polling.interval", self.polling.interval)?;
        if self.polling.max_interval < self.polling.interval {
            return Err(Invalid::new(
                "polling.max_interval",
                "must be at least polling.interval",
            ));
        }
        positive("polling.timeout", self.polling.timeout)?;
        self.chains.validate()?;
        if let Some(path) = &self.chains.issue.verify_root {
            check_pem_certs("chains.issue.verify_root", path)?;
        }
        self.validate_challenge()?;
        if self.run.threads > 1024 {
            return Err(Invalid::new(
                "run.threads",
                format!("{} is more than 1024", self.run.threads),
            ));
        }
        if self.run.duration.is_some_and(|d| d.is_zero()) {
            return Err(Invalid::new(
                "run.duration",
                "must be longer than zero (leave it out to run until stopped)",
            ));
        }
        self.control.validate()?;
        self.statsd.validate()?;
        self.thresholds.validate()
    }

    /// The refusal to target a public CA, separate from `validate` because the CLI flag can
    /// lift it (`--allow-public-ca` sets `target.allow_public_ca`): the directory URL, and the
    /// database's URL templates when a database is used. The URLs the directory lists are
    /// checked once it is fetched ([`crate::ca`]). A lifted guard is said in the log.
    pub fn check_public_ca(&self) -> Result<(), PublicCaError> {
        if self.target.allow_public_ca {
            log::warn!(
                "the public-CA guard is off (--allow-public-ca or target.allow_public_ca): {} \
                 and the URLs it lists are not checked against the public ACME CAs",
                self.target.directory_url
            );
            return Ok(());
        }
        crate::safety::check("target.directory_url", self.directory_url())?;
        if self.db.url.is_some() {
            let templates = [
                ("db.cert_url", &self.db.cert_url),
                ("db.authz_url", &self.db.authz_url),
                ("db.order_url", &self.db.order_url),
            ];
            for (key, template) in templates {
                if let Ok(url) = self.directory_url().join(template.as_str()) {
                    crate::safety::check(key, &url)?;
                }
            }
        }
        Ok(())
    }
}

/// The `config` crate's error as the file, the key and the reason.
fn load_error(file: &str, error: config::ConfigError) -> ConfigError {
    let invalid = |key: String, reason: String| ConfigError::Invalid {
        file: file.to_owned(),
        key,
        reason,
    };
    match error {
        config::ConfigError::At {
            error,
            key: Some(key),
            ..
        } => invalid(key, error.to_string()),
        config::ConfigError::Type {
            unexpected,
            expected,
            key: Some(key),
            ..
        } => invalid(
            key,
            format!("invalid type: {unexpected}, expected {expected}"),
        ),
        config::ConfigError::FileParse { cause, .. } => ConfigError::Load {
            file: file.to_owned(),
            reason: without_quoted_lines(&cause.to_string()),
        },
        other => ConfigError::Load {
            file: file.to_owned(),
            reason: other.to_string(),
        },
    }
}

/// A TOML parse error without the excerpt of the file it shows (`2 | token = "…`, and the
/// `|` lines around it): the position and the reason are kept.
fn without_quoted_lines(message: &str) -> String {
    let quoted = |line: &str| {
        let line = line.trim_start();
        let digits = line.trim_start_matches(|c: char| c.is_ascii_digit());
        line.starts_with('|') || (digits.len() < line.len() && digits.starts_with(" |"))
    };
    message
        .lines()
        .filter(|line| !line.trim().is_empty() && !quoted(line))
        .collect::<Vec<_>>()
        .join(": ")
}

fn positive(key: &'static str, d: Duration) -> Result<(), Invalid> {
    if d.is_zero() {
        Err(Invalid::new(key, "must be longer than zero"))
    } else {
        Ok(())
    }
}

fn at_least(key: &'static str, v: usize, min: usize) -> Result<(), Invalid> {
    if v < min {
        Err(Invalid::new(key, format!("{v} is below the minimum {min}")))
    } else {
        Ok(())
    }
}

/// The file at `path` (the value of `key`) holds PEM certificates.
fn check_pem_certs(key: &'static str, path: &Path) -> Result<(), Invalid> {
    let shown = path.display();
    let pem =
        std::fs::read(path).map_err(|e| Invalid::new(key, format!("cannot read {shown}: {e}")))?;
    match openssl::x509::X509::stack_from_pem(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(()),
        Ok(_) => Err(Invalid::new(
            key,
            format!("{shown} holds no PEM certificate"),
        )),
        Err(e) => Err(Invalid::new(
            key,
            format!("{shown} is not PEM certificates: {e}"),
        )),
    }
}

/// `domain` (the value of `key`) is a DNS name.
fn check_domain(key: &'static str, domain: &str) -> Result<(), Invalid> {
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.len() > 200 || !domain.split('.').all(ok_label) {
        return Err(Invalid::new(key, format!("{domain:?} is not a DNS name")));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
