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
pub use chains::{pick_weighted, CertKeys, Chains, Issue, NamesPerOrder};

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

    fn validate(&self) -> Result<(), (&'static str, String)> {
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

fn positive(key: &'static str, d: Duration) -> Result<(), (&'static str, String)> {
    if d.is_zero() {
        Err((key, "must be longer than zero".into()))
    } else {
        Ok(())
    }
}

fn at_least(key: &'static str, v: usize, min: usize) -> Result<(), (&'static str, String)> {
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
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::Write;

    fn file(contents: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(contents.as_bytes()).unwrap();
        f
    }

    fn load(contents: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let f = file(contents);
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with_env(Some(f.path()), Some(env))
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::load_with_env(None, Some(HashMap::new())).unwrap();
        assert_eq!(s.target.request_timeout, Duration::from_secs(30));
        let server = s.challenge_server();
        assert_eq!(server.http01, vec!["127.0.0.1:5002".parse().unwrap()]);
        assert_eq!(server.zone.base_domains, ["wile.test"]);
        assert!(server.zone.ipv6.is_empty(), "no AAAA unless asked for");
    }

    #[test]
    fn file_values_and_durations() {
        let s = load(
            "[target]\ndirectory_url = \"http://boulder:4001/directory\"\nrequest_timeout = \"2s\"\n\
             [polling]\ninterval = 1\n[chains.issue]\nnames_per_order = [1, 3]\n",
            &[],
        )
        .unwrap();
        assert_eq!(s.target.directory_url, "http://boulder:4001/directory");
        assert_eq!(s.target.request_timeout, Duration::from_secs(2));
        assert_eq!(s.polling.interval, Duration::from_secs(1));
        assert_eq!(s.chains.issue.names_per_order, NamesPerOrder::Between(1, 3));
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let s = load(
            "[target]\ndirectory_url = \"http://a:1/dir\"\n",
            &[
                ("WEC_TARGET__DIRECTORY_URL", "http://b:2/dir"),
                ("WEC_TARGET__BAD_NONCE_RETRIES", "9"),
                (
                    "WEC_CHALLENGE__HTTP01_LISTEN",
                    "127.0.0.1:80,127.0.0.1:5002",
                ),
                ("WEC_RUN__GRACE_PERIOD", "5s"),
            ],
        )
        .unwrap();
        assert_eq!(s.target.directory_url, "http://b:2/dir");
        assert_eq!(s.target.bad_nonce_retries, 9);
        assert_eq!(s.challenge.http01_listen.len(), 2);
        assert_eq!(s.run.grace_period, Duration::from_secs(5));
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let err = load("[target]\nrequest_timeout = \"soon\"\n", &[]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(".toml") && msg.contains("request_timeout"),
            "{msg}"
        );
        assert!(msg.contains("invalid duration"), "{msg}");

        let msg = load("[target]\ndirectory_url = \"nope\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`target.directory_url`: not a URL"), "{msg}");

        let msg = load("[target]\ndirectoy_url = \"http://x/\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown field `directoy_url`"), "{msg}");

        let msg = load("[challenge]\nhttp01_listen = [\"localhost\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`challenge.http01_listen`"), "{msg}");

        let msg = load("[target]\nca_cert = \"missing.pem\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`target.ca_cert`: cannot read"), "{msg}");

        let msg = load("[chains.issue]\nnames_per_order = [3, 1]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("names_per_order"), "{msg}");

        let msg = load("[target\n", &[]).unwrap_err().to_string();
        assert!(msg.contains(".toml"), "{msg}");
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let pem = crate::test_support::self_signed_pem();
        std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "[target]\nca_cert = \"ca.pem\"\n").unwrap();
        let s = Settings::load_with_env(Some(&cfg), Some(HashMap::new())).unwrap();
        assert_eq!(s.target.ca_cert, Some(dir.path().join("ca.pem")));
    }

    #[test]
    fn schedule_table_gives_any_mode() {
        use crate::schedule::{Schedule, Workers};
        let s = load(
            "[schedule]\nmode = \"seq\"\ninterval = \"30s\"\nworkers = [1, 4]\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            s.schedule.unwrap().to_schedule().unwrap(),
            Schedule::Workers(Workers::Seq {
                interval: Duration::from_secs(30),
                workers: vec![1, 4]
            })
        );
        let s = load(
            "[schedule]\nmode = \"rate\"\nchains_per_sec = 2.5\ndelta = \"1/10s\"\n",
            &[],
        )
        .unwrap();
        let Schedule::Rate(rate) = s.schedule.unwrap().to_schedule().unwrap() else {
            panic!("not rate")
        };
        assert_eq!(rate.max_in_flight, crate::cli::DEFAULT_MAX_IN_FLIGHT);
        let s = load(
            "",
            &[
                ("WEC_SCHEDULE__MODE", "hammer"),
                ("WEC_SCHEDULE__WORKERS", "3"),
            ],
        )
        .unwrap();
        assert_eq!(
            s.schedule.unwrap().to_schedule().unwrap(),
            Schedule::Workers(Workers::Hammer { workers: 3 })
        );
    }

    #[test]
    fn schedule_table_errors_name_the_key() {
        for (toml, key, why) in [
            (
                "mode = \"hammer\"\nworkers = \"many\"",
                "workers",
                "a number of attackers",
            ),
            (
                "mode = \"hammer\"",
                "`schedule.workers`",
                "required by mode = \"hammer\"",
            ),
            (
                "mode = \"aseq\"\nincrement = 2\ninterval = 1",
                "`schedule.final_workers`",
                "required",
            ),
            (
                "mode = \"rate\"\nchains_per_sec = 1\ndelta = \"x\"",
                "`schedule.delta`",
                "N/PERIOD",
            ),
            (
                "mode = \"rate\"\nchains_per_sec = -1",
                "`schedule`",
                "CHAINS_PER_SEC",
            ),
            ("mode = \"stampede\"", "`schedule.mode`", "stampede"),
            (
                "mode = \"hammer\"\nworkers = 1\nwrokers = 2",
                "wrokers",
                "unknown field",
            ),
        ] {
            let msg = load(&format!("[schedule]\n{toml}\n"), &[])
                .unwrap_err()
                .to_string();
            assert!(msg.contains(key) && msg.contains(why), "{toml}: {msg}");
        }
    }

    #[test]
    fn control_api_off_loopback_needs_a_token() {
        let msg = load("[control]\nlisten = \"0.0.0.0:9180\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("`control.token`") && msg.contains("loopback"),
            "{msg}"
        );
        let msg = load("[control]\ntoken = \"short\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("16 characters"), "{msg}");
        let ok = load(
            "[control]\nlisten = \"0.0.0.0:9180\"\ntoken = \"0123456789abcdef\"\n",
            &[],
        );
        assert!(ok.is_ok());
        assert!(load("[control]\nenabled = false\nlisten = \"nonsense\"\n", &[]).is_ok());
    }

    #[test]
    fn public_ca_needs_permission() {
        let s = load(
            "[target]\ndirectory_url = \"https://acme-v02.api.letsencrypt.org/directory\"\n",
            &[],
        )
        .unwrap();
        let msg = s.check_public_ca(false).unwrap_err();
        assert!(msg.contains("Let's Encrypt production") && msg.contains("--allow-public-ca"));
        assert!(s.check_public_ca(true).is_ok());
    }
}
