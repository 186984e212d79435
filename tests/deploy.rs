//! deploy/ as it ships: the configs the shards mount load as the tool reads them, and
//! `scripts/check-deploy` (real validators: Kubernetes schemas, the compose-spec schema,
//! @grafana/schema, a PromQL parser) passes with every StatsD name the tool sends run through
//! the exporter's mapping: the names of a real run against Pebble with a shard's prefix, and
//! every chain, endpoint, outcome, convergence, wait and consistency kind the code can send.

mod common;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::{repo, show, wec, Pebble};
use wile_e_coyote::acme::wire::ChallengeType;
use wile_e_coyote::acme::{Convergence, Endpoint, RequestOutcome, RequestRecord};
use wile_e_coyote::chains::ChainKind;
use wile_e_coyote::config::{Settings, StatsdSettings, TimingUnit};
use wile_e_coyote::db::consistency::{Kind, Mismatch};
use wile_e_coyote::metrics::statsd::Statsd;
use wile_e_coyote::metrics::{ChainDone, ChainOutcome, WaitCause};

/// A trust root any Debian has (ca-certificates), standing in for the CA file the deployment
/// mounts.
const SOME_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(file: &Path, pairs: &[(&str, &str)]) -> Settings {
    Settings::load_with_env(Some(file), Some(env(pairs)))
        .unwrap_or_else(|e| panic!("{} does not load: {e}", file.display()))
}

/// The TOML a ConfigMap carries under `key: |`, its indentation taken off.
fn config_map_file(manifest: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut lines = text.lines().skip_while(|l| l.trim() != format!("{key}: |"));
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("no {key} in {manifest:?}"));
    let indent = header.len() - header.trim_start().len() + 2;
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_configs_deploy_mounts_load_as_the_tool_reads_them() {
    let deploy = repo().join("deploy");

    // compose.yaml: shard 2's environment; its CA file lives in a volume only compose has.
    let compose = load(
        &deploy.join("compose/wile-e-coyote.toml"),
        &[
            ("WEC_TARGET__CA_CERT", SOME_CA),
            ("WEC_STATSD__PREFIX", "Wile-E-Coyote.s2"),
            ("WEC_STATSD__PROCSTATS_PREFIX", "Procstats.Wile-E-Coyote.s2"),
        ],
    );
    assert!(
        compose.schedule.is_some(),
        "compose's shards take the schedule from the file"
    );
    assert_eq!(compose.statsd.timing_unit, TimingUnit::Ms);
    assert_eq!(compose.statsd.prefix, "Wile-E-Coyote.s2");
    assert_eq!(compose.challenge.domain_addresses.len(), 3);
    assert!(compose.challenge_server().dns[0].port() == 8053);

    // The Kubernetes ConfigMap, with what the Job adds from the downward API.
    let dir = tempfile::tempdir().unwrap();
    let k8s_file = dir.path().join("wile-e-coyote.toml");
    std::fs::write(
        &k8s_file,
        config_map_file(&deploy.join("k8s/config.yaml"), "wile-e-coyote.toml"),
    )
    .unwrap();
    let k8s = load(
        &k8s_file,
        &[
            ("WEC_CHALLENGE__ADDRESSES_V4", "10.244.1.7"),
            ("WEC_STATSD__PREFIX", "Wile-E-Coyote.shard-0"),
            (
                "WEC_STATSD__PROCSTATS_PREFIX",
                "Procstats.Wile-E-Coyote.shard-0",
            ),
        ],
    );
    let server = k8s.challenge_server();
    assert_eq!(server.http01[0].port(), 80);
    assert_eq!(server.tlsalpn01[0].port(), 443);
    assert_eq!(server.dns[0].port(), 53);
    assert_eq!(
        k8s.challenge.addresses_v4,
        ["10.244.1.7".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(k8s.statsd.address.as_deref(), Some("statsd-exporter:9125"));
    assert_eq!(k8s.statsd.timing_unit, TimingUnit::Ms);
}

/// Every datagram arriving on a loopback UDP port, collected until [`Sink::lines`].
struct Sink {
    address: String,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<String>>,
}

impl Sink {
    fn start() -> Sink {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let address = socket.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut lines = Vec::new();
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => lines.extend(
                        String::from_utf8_lossy(&buf[..n])
                            .lines()
                            .map(str::to_owned),
                    ),
                    Err(_) if stopped.load(Ordering::SeqCst) => return lines,
                    Err(_) => {}
                }
            }
        });
        Sink {
            address,
            stop,
            thread,
        }
    }

    fn lines(self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(300));
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// Every endpoint the client names. A new one breaks this match until it is listed.
fn endpoints() -> Vec<Endpoint> {
    fn _listed_below(e: Endpoint) {
        match e {
            Endpoint::Directory
            | Endpoint::NewNonce
            | Endpoint::NewAccount
            | Endpoint::Account
            | Endpoint::NewOrder
            | Endpoint::Order
            | Endpoint::Authz
            | Endpoint::Challenge(_)
            | Endpoint::Finalize
            | Endpoint::Certificate
            | Endpoint::RevokeCert
            | Endpoint::KeyChange
            | Endpoint::RenewalInfo
            | Endpoint::OrderGet
            | Endpoint::AuthzGet
            | Endpoint::CertificateGet => {}
        }
    }
    let mut all = vec![
        Endpoint::Directory,
        Endpoint::NewNonce,
        Endpoint::NewAccount,
        Endpoint::Account,
        Endpoint::NewOrder,
        Endpoint::Order,
        Endpoint::Authz,
        Endpoint::Finalize,
        Endpoint::Certificate,
        Endpoint::RevokeCert,
        Endpoint::KeyChange,
        Endpoint::RenewalInfo,
        Endpoint::OrderGet,
        Endpoint::AuthzGet,
        Endpoint::CertificateGet,
    ];
    all.extend(ChallengeType::ALL.map(Endpoint::Challenge));
    all
}

/// Every kind of database row checked. A new one breaks this match until it is listed.
fn consistency_kinds() -> Vec<Kind> {
    fn _listed_below(k: Kind) {
        match k {
            Kind::Certificate
            | Kind::CertificateStatus
            | Kind::IssuedNames
            | Kind::KeyHash
            | Kind::FqdnSet
            | Kind::OrderSerial
            | Kind::ReplacementOrder
            | Kind::RevokedCertificate
            | Kind::BlockedKey
            | Kind::AccountKey
            | Kind::AccountStatus
            | Kind::AuthzStatus => {}
        }
    }
    vec![
        Kind::Certificate,
        Kind::CertificateStatus,
        Kind::IssuedNames,
        Kind::KeyHash,
        Kind::FqdnSet,
        Kind::OrderSerial,
        Kind::ReplacementOrder,
        Kind::RevokedCertificate,
        Kind::BlockedKey,
        Kind::AccountKey,
        Kind::AccountStatus,
        Kind::AuthzStatus,
    ]
}

/// Sends, through the tool's own StatsD code with its default prefixes, every name it can
/// send: each chain with each outcome and a profile, each endpoint with each outcome, the
/// convergences the chains read back, both waits, every consistency kind both ways.
fn send_every_name(address: &str) {
    let settings = StatsdSettings {
        address: Some(address.to_owned()),
        timing_unit: TimingUnit::Ms,
        ..StatsdSettings::default()
    };
    let mut statsd = Statsd::connect(&settings, address).unwrap();
    let outcomes = [
        RequestOutcome::Ok,
        RequestOutcome::Failed,
        RequestOutcome::Expected,
        RequestOutcome::RateLimited,
        RequestOutcome::BadNonceRetried,
    ];
    for (i, chain) in ChainKind::ALL.iter().enumerate() {
        for outcome in [
            ChainOutcome::Ok,
            ChainOutcome::Failed {
                reason: "timeout".into(),
                message: "m".into(),
            },
            ChainOutcome::RateLimited {
                message: "m".into(),
            },
            ChainOutcome::Interrupted,
        ] {
            let requests = if i == 0 {
                endpoints()
                    .into_iter()
                    .flat_map(|endpoint| {
                        outcomes.iter().map(move |outcome| RequestRecord {
                            endpoint,
                            outcome: *outcome,
                            status: 200,
                            took: Duration::from_millis(3),
                            bytes_in: 500,
                            bytes_out: 200,
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let converged = [
                ("account-update", "contact"),
                ("deactivate-account", "deactivated"),
                ("key-rollover", "new-key"),
                ("key-rollover", "old-key"),
            ]
            .iter()
            .filter(|(c, _)| *c == chain.name())
            .flat_map(|(_, what)| {
                [true, false].map(|agreed| Convergence {
                    what,
                    took: Duration::from_millis(700),
                    agreed,
                })
            })
            .collect();
            let took = Duration::from_millis(120);
            statsd.chain_done(&ChainDone {
                converged,
                profile: Some(Arc::from("shortlived")),
                ..ChainDone::new(chain.name(), took, outcome, requests)
            });
            // Small datagrams, so the loopback socket's buffer never fills.
            statsd.flush(1, &[]);
        }
    }
    statsd.waited(WaitCause::Backoff, Duration::from_millis(100));
    statsd.waited(WaitCause::RetryAfter, Duration::from_secs(3));
    let verdicts: Vec<_> = consistency_kinds()
        .into_iter()
        .flat_map(|kind| [(kind, None), (kind, Some(Mismatch::DerDiffers))])
        .collect();
    statsd.consistency(&verdicts);
    let sends = statsd.flush(2, &[]);
    assert_eq!(sends.failed, 0, "{sends:?}");
}

fn check_deploy(lines: &Path) -> std::process::Output {
    Command::new(repo().join("scripts/check-deploy"))
        .arg("--statsd-lines")
        .arg(lines)
        .output()
        .expect("scripts/check-deploy runs")
}

#[test]
fn deploy_passes_its_validators_with_every_name_the_tool_sends() {
    let sink = Sink::start();

    // A real run, as one shard of the Kubernetes Job sends: its prefixes, milliseconds.
    let pebble = Pebble::start();
    let out = pebble.run(
        wec()
            .arg("--config")
            .arg(pebble.config())
            .args(["--duration", "3s", "hammer", "2"])
            .env("WEC_STATSD__ADDRESS", &sink.address)
            .env("WEC_STATSD__TIMING_UNIT", "ms")
            .env("WEC_STATSD__PREFIX", "Wile-E-Coyote.shard-0")
            .env(
                "WEC_STATSD__PROCSTATS_PREFIX",
                "Procstats.Wile-E-Coyote.shard-0",
            ),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    send_every_name(&sink.address);
    let lines = sink.lines();
    for sent in [
        "Wile-E-Coyote.shard-0.ChainsTook.issue.Successful:",
        "Procstats.Wile-E-Coyote.shard-0.MetricsLagMs:",
        "Wile-E-Coyote.RequestsTook.challenge.dns-01.Expected:",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(sent)),
            "no {sent} among {} lines",
            lines.len()
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("statsd-lines.txt");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = check_deploy(&file);
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "{}", show(&out));
}
