//! wile-e-coyote: a load tester for ACME certificate authorities, as an actix actor daemon.
//!
//! Data flows one way: config → [`ramp`] → [`attacker`] → [`chains`] → [`acme`] client →
//! records → [`metrics`] → [`report`]. `main.rs` only calls [`run`].

pub mod acme;
pub mod attacker;
pub mod ca;
pub mod capacity;
pub mod chain_kind;
pub mod chains;
pub mod challenge;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod db;
pub mod metrics;
pub mod pool;
pub mod printable;
pub mod ramp;
pub mod reload;
pub mod report;
pub mod safety;
pub mod schedule;
pub mod setting;
pub mod sharding;
pub mod units;

#[cfg(any(test, feature = "testing"))]
pub mod test_support;

/// mimalloc rather than glibc's allocator, for the binary and for everything that links the
/// library (benches, which host the fast CA, and tests): at a few hundred chains per second
/// glibc's malloc and free took ~14% of the tool's CPU (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Parser;

use capacity::Machine;
use cli::{Cli, Mode, ReportCommand};
use config::{ProgressMode, Settings};
use report::Report;
use sharding::{ShardReport, Sharding};

/// Exit codes, as documented in `--help` and the README.
pub mod exit {
    /// The run completed and at least one chain succeeded.
    pub const OK: u8 = 0;
    /// The daemon could not run (target unreachable, port taken…).
    pub const RUNTIME: u8 = 1;
    /// Bad command line or config.
    pub const USAGE: u8 = 2;
    /// The run completed but no chain succeeded.
    pub const NO_SUCCESS: u8 = 3;
    /// The run completed but a threshold of `[thresholds]` failed (3 takes precedence).
    pub const THRESHOLDS: u8 = 4;
}

/// An error that ends the process, with its exit code.
struct Fatal {
    code: u8,
    error: anyhow::Error,
}

impl Fatal {
    fn usage(error: impl Into<anyhow::Error>) -> Self {
        Fatal {
            code: exit::USAGE,
            error: error.into(),
        }
    }

    fn runtime(error: impl Into<anyhow::Error>) -> Self {
        Fatal {
            code: exit::RUNTIME,
            error: error.into(),
        }
    }
}

/// Parses the command line, runs, and returns the process's exit code.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let mut logger = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("warn,wile_e_coyote=info"),
    );
    if std::io::stderr().is_terminal() {
        // The default format, each line first erasing the live progress line it would
        // otherwise be appended to (metrics::progress rewrites that line in place).
        logger.format(|buf, record| {
            let level = buf.default_level_style(record.level());
            writeln!(
                buf,
                "\r\x1b[K[{} {level}{:<5}{level:#} {}] {}",
                buf.timestamp(),
                record.level(),
                record.target(),
                record.args()
            )
        });
    }
    logger.init();
    ExitCode::from(run_with(cli))
}

/// Runs `cli` as the binary does once its command line is parsed, in this process and this
/// thread (an actix System of its own; no logger is installed), and returns the exit code
/// ([`exit`]): what an end-to-end test calls where a subprocess would add nothing.
pub fn run_with(cli: Cli) -> u8 {
    match execute(cli) {
        Ok(code) => code,
        Err(fatal) => {
            eprintln!("wile-e-coyote: error: {:#}", fatal.error);
            fatal.code
        }
    }
}

fn execute(cli: Cli) -> Result<u8, Fatal> {
    if let Some(Mode::Report(ReportCommand::Merge { reports })) = &cli.mode {
        return merge(&cli, reports);
    }
    let mut settings = Settings::load(cli.config.as_deref()).map_err(Fatal::usage)?;
    if cli.progress {
        settings.report.progress = ProgressMode::Always;
    }
    if let Some(mysql) = &cli.mysql {
        settings.db.url = Some(
            mysql
                .expose()
                .parse()
                .map_err(|e| Fatal::usage(anyhow::anyhow!("--mysql {e}")))?,
        );
    }
    settings.target.allow_public_ca |= cli.allow_public_ca;
    settings.check_public_ca().map_err(Fatal::usage)?;
    let schedule = match (cli.mode.as_ref().and_then(Mode::schedule), &settings.schedule) {
        (Some(schedule), _) => schedule,
        (None, Some(schedule)) => schedule.clone(),
        (None, None) => {
            return Err(Fatal::usage(anyhow::anyhow!(
                "no schedule: give a mode (hammer, seq, aseq, rate) or a [schedule] table in the config"
            )))
        }
    };
    schedule.validate().map_err(Fatal::usage)?;
    capacity::raise_nofile_limit();
    let duration = cli.duration.or(settings.run.duration);
    let given = sharding::Given {
        shard: cli.shard.as_deref(),
        shard_count: cli.shard_count.as_deref(),
        start_at: cli.start_at.as_deref(),
    };
    let sharding = Sharding::resolve(
        &given,
        |k| std::env::var(k).ok(),
        SystemTime::now(),
        duration,
    )
    .map_err(Fatal::usage)?;
    if let Some(shard) = sharding.shard {
        settings.name_for_shard(shard);
    }
    capacity::check(&schedule, sharding.shard, &settings, &Machine::read(), None)
        .map_err(Fatal::usage)?;
    let reload_source = reload::ReloadSource {
        path: cli.config.clone(),
        allow_public_ca: cli.allow_public_ca,
        shard: sharding.shard,
    };
    // Shown in the summary and the reports without its credentials.
    let target = settings.target.directory_url.to_string();
    let thresholds = settings.thresholds.clone();
    let started_at_unix_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let system = actix_rt::System::new();
    let ended = system
        .block_on(daemon::run(
            settings,
            schedule.clone(),
            duration,
            reload_source,
            sharding,
        ))
        .map_err(Fatal::runtime)?;

    let verdicts = thresholds.evaluate(&ended.summary);
    let mut report = Report::new(
        target,
        schedule.describe(),
        started_at_unix_s,
        ended.summary,
        verdicts,
    );
    report.shard = ShardReport::new(&sharding, ended.skipped);
    conclude(&cli, &report)
}

/// `report merge`: the shards' reports added up, printed, written and judged as one run's.
/// The limits are those of `--config` (or `WEC_THRESHOLDS__*`) when any is set there, else
/// those the reports were checked against.
fn merge(cli: &Cli, reports: &[std::path::PathBuf]) -> Result<u8, Fatal> {
    let settings = Settings::load(cli.config.as_deref()).map_err(Fatal::usage)?;
    let limits = (!settings.thresholds.is_empty()).then_some(&settings.thresholds);
    let report = report::merge::merge_files(reports, limits).map_err(Fatal::usage)?;
    conclude(cli, &report)
}

/// The end of a run (or of a merge): the summary on stdout, the reports written, and the exit
/// code its outcome calls for.
fn conclude(cli: &Cli, report: &Report) -> Result<u8, Fatal> {
    println!("{}", report.to_text());
    let written = |path: &std::path::Path, result: std::io::Result<()>| {
        result.map_err(|e| Fatal::runtime(anyhow::anyhow!("writing {}: {e}", path.display())))?;
        println!("report written to {}", path.display());
        Ok::<_, Fatal>(())
    };
    if let Some(path) = &cli.report {
        written(path, report.write(path))?;
    }
    if let Some(path) = &cli.html_report {
        written(path, report::html::write(report, path))?;
    }
    let summary = &report.summary;
    if summary.chains_ok() == 0 {
        eprintln!(
            "wile-e-coyote: no chain succeeded ({} failed, {} rate-limited)",
            summary.chains_failed(),
            summary.chains_rate_limited()
        );
        return Ok(exit::NO_SUCCESS);
    }
    let verdicts = &report.thresholds;
    let failed = verdicts.iter().filter(|v| !v.pass).count();
    if failed > 0 {
        eprintln!(
            "wile-e-coyote: {failed} of {} thresholds failed",
            verdicts.len()
        );
        return Ok(exit::THRESHOLDS);
    }
    Ok(exit::OK)
}
