//! Command line: the original interface (`hammer`, `seq`, `aseq`, `--mysql`, `--config`) plus
//! run bounds and reports. Doc comments here are the `--help` text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::schedule::{Delta, Rate, Schedule, Workers};
use crate::units::parse_duration;

/// Load tester for ACME (RFC 8555) certificate authorities.
///
/// Attackers run real subscriber journeys (account, order, challenge, finalize, download)
/// against the target CA, answering its validations from wile-e-coyote's own challenge server.
/// The mode may instead come from the config's [schedule] table; a mode given here wins.
/// Exit codes: 0 run completed, 1 runtime error, 2 bad command line or config,
/// 3 no chain succeeded, 4 a threshold of the config's [thresholds] failed.
#[derive(Debug, Parser)]
#[command(name = "wile-e-coyote", version, arg_required_else_help = true)]
pub struct Cli {
    /// TOML config file (target, challenge server, chains); `WEC_*` environment variables
    /// override its keys, e.g. WEC_TARGET__DIRECTORY_URL.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Boulder's MySQL database, read-only: `user:pass@tcp(127.0.0.1:3306)/boulder` or a
    /// `mysql://` URL.
    #[arg(long, value_name = "MYSQLURI", global = true)]
    pub mysql: Option<String>,

    /// End the run after this long (e.g. 30s, 5m); without it, run until SIGINT or SIGTERM.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, global = true)]
    pub duration: Option<Duration>,

    /// Write the end-of-run report as JSON to FILE.
    #[arg(long, value_name = "FILE", global = true)]
    pub report: Option<PathBuf>,

    /// Write the end-of-run report as one self-contained HTML page (charts, tables) to FILE.
    #[arg(long, value_name = "FILE", global = true)]
    pub html_report: Option<PathBuf>,

    /// Show the live progress line on stderr even when it is not a terminal (one line per
    /// second).
    #[arg(long, global = true)]
    pub progress: bool,

    /// Allow a target that is a public CA's production or staging directory.
    #[arg(long, global = true)]
    pub allow_public_ca: bool,

    #[command(subcommand)]
    pub mode: Option<Mode>,
}

/// How many attackers run, over time.
#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Keep WORKERNUM attackers running.
    Hammer {
        /// Number of attackers.
        #[arg(value_name = "WORKERNUM")]
        workers: usize,
    },
    /// Run the i-th WORKERNUM attackers during the i-th INTERVAL; the last count then holds.
    Seq {
        /// Length of each step: seconds (30) or a duration (500ms, 2m).
        #[arg(value_name = "INTERVAL", value_parser = parse_duration)]
        interval: Duration,
        /// Attacker counts, one per interval.
        #[arg(value_name = "WORKERNUM", required = true)]
        workers: Vec<usize>,
    },
    /// Start with WORKERINCREMENT attackers and add WORKERINCREMENT every INTERVAL, up to
    /// FINALWORKERS (never above); that count then holds.
    Aseq {
        /// Attackers added at each step (and the starting count).
        #[arg(value_name = "WORKERINCREMENT")]
        increment: usize,
        /// Final number of attackers.
        #[arg(value_name = "FINALWORKERS")]
        target: usize,
        /// Length of each step: seconds (30) or a duration (500ms, 2m).
        #[arg(value_name = "INTERVAL", value_parser = parse_duration)]
        interval: Duration,
    },
    /// Start CHAINS_PER_SEC chains per second at scheduled instants, however slow the server
    /// gets (open model); latency counts from each chain's scheduled start.
    Rate {
        /// Chains started per second.
        #[arg(value_name = "CHAINS_PER_SEC")]
        per_sec: f64,
        /// Grow the rate by N chains/s every PERIOD, continuously (e.g. 5/1m).
        #[arg(long, value_name = "N/PERIOD", value_parser = Delta::parse)]
        delta: Option<Delta>,
        /// Chains allowed in flight at once; starts beyond it are dropped and counted.
        #[arg(long, value_name = "M", default_value_t = DEFAULT_MAX_IN_FLIGHT)]
        max_in_flight: usize,
    },
}

/// Default cap on chains in flight in `rate` mode.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1000;

impl Mode {
    pub fn schedule(&self) -> Schedule {
        match self {
            Mode::Hammer { workers } => Schedule::Workers(Workers::Hammer { workers: *workers }),
            Mode::Seq { interval, workers } => Schedule::Workers(Workers::Seq {
                interval: *interval,
                workers: workers.clone(),
            }),
            Mode::Aseq {
                increment,
                target,
                interval,
            } => Schedule::Workers(Workers::Aseq {
                increment: *increment,
                target: *target,
                interval: *interval,
            }),
            Mode::Rate {
                per_sec,
                delta,
                max_in_flight,
            } => Schedule::Rate(Rate {
                per_sec: *per_sec,
                delta: *delta,
                max_in_flight: *max_in_flight,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("wile-e-coyote").chain(args.iter().copied()))
    }

    fn schedule(args: &[&str]) -> Schedule {
        parse(args).unwrap().mode.unwrap().schedule()
    }

    #[test]
    fn original_modes_parse() {
        assert_eq!(
            schedule(&["hammer", "8"]),
            Schedule::Workers(Workers::Hammer { workers: 8 })
        );
        assert_eq!(
            schedule(&["seq", "30", "1", "2", "4"]),
            Schedule::Workers(Workers::Seq {
                interval: Duration::from_secs(30),
                workers: vec![1, 2, 4]
            })
        );
        assert_eq!(
            schedule(&["aseq", "2", "10", "500ms"]),
            Schedule::Workers(Workers::Aseq {
                increment: 2,
                target: 10,
                interval: Duration::from_millis(500)
            })
        );
    }

    #[test]
    fn rate_mode_parses_with_and_without_options() {
        assert_eq!(
            schedule(&["rate", "12.5"]),
            Schedule::Rate(Rate {
                per_sec: 12.5,
                delta: None,
                max_in_flight: DEFAULT_MAX_IN_FLIGHT
            })
        );
        let Schedule::Rate(r) =
            schedule(&["rate", "5", "--delta", "5/1m", "--max-in-flight", "40"])
        else {
            panic!("not rate")
        };
        assert_eq!(r.max_in_flight, 40);
        assert_eq!(r.delta.unwrap().period, Duration::from_secs(60));
        assert!(parse(&["rate", "5", "--delta", "fast"]).is_err());
    }

    #[test]
    fn the_mode_may_come_from_the_config() {
        assert!(parse(&["--config", "x.toml"]).unwrap().mode.is_none());
    }

    #[test]
    fn global_options_before_or_after_the_mode() {
        let cli = parse(&[
            "--mysql",
            "u:p@tcp(127.0.0.1:3306)/boulder",
            "--duration",
            "2m",
            "hammer",
            "1",
            "--report",
            "r.json",
            "--html-report",
            "r.html",
            "--progress",
        ])
        .unwrap();
        assert_eq!(cli.duration, Some(Duration::from_secs(120)));
        assert_eq!(cli.report.as_deref(), Some(std::path::Path::new("r.json")));
        assert_eq!(
            cli.html_report.as_deref(),
            Some(std::path::Path::new("r.html"))
        );
        assert!(cli.progress);
        assert!(cli.mysql.is_some());
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&[]).is_err(), "bare invocation prints usage");
        assert!(parse(&["seq", "30"]).is_err(), "seq without counts");
        assert!(parse(&["hammer", "-1"]).is_err());
        assert!(parse(&["seq", "soon", "1"]).is_err());
        assert!(parse(&["--duration", "forever", "hammer", "1"]).is_err());
    }
}
