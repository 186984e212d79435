//! wile-e-coyote: a load tester for ACME certificate authorities, as an actix actor daemon.
//!
//! Data flows one way: config → [`ramp`] → [`attacker`] → [`chains`] → [`acme`] client →
//! records → [`metrics`]. `main.rs` only calls [`run`].

pub mod acme;
pub mod attacker;
pub mod chains;
pub mod challenge;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod db;
pub mod metrics;
pub mod pool;
pub mod ramp;
pub mod reload;
pub mod safety;
pub mod schedule;
pub mod target;
pub mod units;

#[cfg(test)]
pub(crate) mod test_support;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Parser;

use cli::Cli;
use config::{ProgressMode, Settings};
use metrics::report::{Report, SCHEMA_VERSION};

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
    match execute(cli) {
        Ok(code) => ExitCode::from(code),
        Err(fatal) => {
            eprintln!("wile-e-coyote: error: {:#}", fatal.error);
            ExitCode::from(fatal.code)
        }
    }
}

fn execute(cli: Cli) -> Result<u8, Fatal> {
    let mut settings = Settings::load(cli.config.as_deref()).map_err(Fatal::usage)?;
    if cli.progress {
        settings.report.progress = ProgressMode::Always;
    }
    if let Some(mysql) = &cli.mysql {
        db::dsn::to_url(mysql).map_err(Fatal::usage)?;
        settings.db.url = Some(mysql.clone());
    }
    settings
        .check_public_ca(cli.allow_public_ca)
        .map_err(|e| Fatal::usage(anyhow::Error::msg(e)))?;
    let schedule = match (&cli.mode, &settings.schedule) {
        (Some(mode), _) => mode.schedule(),
        (None, Some(table)) => table
            .to_schedule()
            .expect("the schedule table was validated with the config"),
        (None, None) => {
            return Err(Fatal::usage(anyhow::anyhow!(
                "no schedule: give a mode (hammer, seq, aseq, rate) or a [schedule] table in the config"
            )))
        }
    };
    schedule.validate().map_err(Fatal::usage)?;
    let duration = cli.duration.or(settings.run.duration);
    let reload_source = reload::ReloadSource {
        path: cli.config.clone(),
        allow_public_ca: cli.allow_public_ca,
    };
    let target = settings.target.directory_url.clone();
    let thresholds = settings.thresholds.clone();
    let started_at_unix_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let system = actix_rt::System::new();
    let summary = system
        .block_on(daemon::run(
            settings,
            schedule.clone(),
            duration,
            reload_source,
        ))
        .map_err(Fatal::runtime)?;

    let verdicts = thresholds.evaluate(&summary);
    println!(
        "\nwile-e-coyote {} against {target}\n{}{}",
        schedule.describe(),
        summary.to_text(),
        metrics::thresholds::to_text(&verdicts)
    );
    let report = Report {
        schema_version: SCHEMA_VERSION,
        tool: "wile-e-coyote",
        version: env!("CARGO_PKG_VERSION"),
        target: &target,
        schedule: &schedule.describe(),
        started_at_unix_s,
        summary: &summary,
        thresholds: &verdicts,
    };
    let written = |path: &std::path::Path, result: std::io::Result<()>| {
        result.map_err(|e| Fatal::runtime(anyhow::anyhow!("writing {}: {e}", path.display())))?;
        println!("report written to {}", path.display());
        Ok::<_, Fatal>(())
    };
    if let Some(path) = &cli.report {
        written(path, report.write(path))?;
    }
    if let Some(path) = &cli.html_report {
        written(path, metrics::html::write(&report, path))?;
    }
    if summary.chains_ok() == 0 {
        eprintln!(
            "wile-e-coyote: no chain succeeded ({} failed)",
            summary.chains_failed()
        );
        return Ok(exit::NO_SUCCESS);
    }
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
