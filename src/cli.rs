//! Command line: the original interface (`hammer`, `seq`, `aseq`, `--mysql`, `--config`) plus
//! run bounds and reports. Doc comments here are the `--help` text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::safety::Secret;
use crate::schedule::{Delta, Rate, Schedule, Workers};
use crate::units::{parse_duration, parse_positive_duration};

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
    #[arg(long, value_name = "MYSQLURI", global = true, value_parser = Secret::from_arg)]
    pub mysql: Option<Secret>,

    /// End the run after this long (e.g. 30s, 5m); without it, run until SIGINT or SIGTERM.
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration, global = true)]
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

    /// Run shard I of N (1 to N) of the schedule, the other shards on other machines: its
    /// part of the attackers or of the starts, and names of its own. Also WEC_SHARD=I/N.
    #[arg(long, value_name = "I/N", global = true)]
    pub shard: Option<String>,

    /// The number of shards, this one's number coming from Kubernetes' JOB_COMPLETION_INDEX
    /// (0-based) in an Indexed Job. Also WEC_SHARD_COUNT.
    #[arg(long, value_name = "N", global = true)]
    pub shard_count: Option<String>,

    /// Start the schedule at this RFC 3339 instant (e.g. 2030-01-02T15:04:05Z), as every shard
    /// does: wait for it, or join late and skip what was due. --duration counts from it. Also
    /// WEC_START_AT.
    #[arg(long, value_name = "RFC3339", global = true)]
    pub start_at: Option<String>,

    #[command(subcommand)]
    pub mode: Option<Mode>,
}

/// How many attackers run, over time.
#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Keep WORKERNUM attackers running.
    Hammer {
        /// Number of attackers (at least 1).
        #[arg(value_name = "WORKERNUM", value_parser = attacker_count)]
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
        final_workers: usize,
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
    /// Work on the JSON reports of earlier runs; runs no load.
    #[command(subcommand)]
    Report(ReportCommand),
}

/// `report …`: what is done with reports.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge the JSON reports of runs that ran side by side (shards) into the report of the
    /// whole: exact percentiles from their histograms, summed counts, time series aligned on
    /// the wall clock, thresholds checked again (those of --config, else the reports'). Prints
    /// the summary and exits as a single run would; --report and --html-report write the
    /// merged reports.
    Merge {
        /// JSON reports written with --report (at most 1024, each at most 64 MiB).
        #[arg(value_name = "REPORT", required = true)]
        reports: Vec<PathBuf>,
    },
}

/// Why a count of attackers was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CountError {
    #[error("not a whole number")]
    NotANumber,
    #[error("must be at least 1: no attacker would run")]
    Zero,
}

/// A `hammer` count: zero attackers would run nothing until the duration ends, which is a
/// typing mistake, not a load test.
fn attacker_count(input: &str) -> Result<usize, CountError> {
    match input.parse() {
        Ok(0) => Err(CountError::Zero),
        Ok(n) => Ok(n),
        Err(_) => Err(CountError::NotANumber),
    }
}

/// Default cap on chains in flight in `rate` mode.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1000;

impl Mode {
    /// The schedule of a load mode; `None` for `report`, which runs no load.
    pub fn schedule(&self) -> Option<Schedule> {
        Some(match self {
            Mode::Hammer { workers } => Schedule::Workers(Workers::Hammer { workers: *workers }),
            Mode::Seq { interval, workers } => Schedule::Workers(Workers::Seq {
                interval: *interval,
                workers: workers.clone(),
            }),
            Mode::Aseq {
                increment,
                final_workers,
                interval,
            } => Schedule::Workers(Workers::Aseq {
                increment: *increment,
                final_workers: *final_workers,
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
            Mode::Report(_) => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("wile-e-coyote").chain(args.iter().copied()))
    }

    fn schedule(args: &[&str]) -> Schedule {
        parse(args).unwrap().mode.unwrap().schedule().unwrap()
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
                final_workers: 10,
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
    fn report_merge_takes_files_and_the_report_options() {
        let cli = parse(&[
            "report", "merge", "a.json", "b.json", "--report", "all.json",
        ])
        .unwrap();
        let Some(Mode::Report(ReportCommand::Merge { reports })) = &cli.mode else {
            panic!("not report merge: {cli:?}")
        };
        assert_eq!(reports.len(), 2);
        assert!(cli.mode.as_ref().unwrap().schedule().is_none());
        assert!(cli.report.is_some());
        assert!(parse(&["report", "merge"]).is_err(), "nothing to merge");
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

    #[test]
    fn zero_and_unbounded_values_are_refused_at_parse_time() {
        let msg = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert_eq!(
            msg(&["hammer", "0"]),
            "error: invalid value '0' for '<WORKERNUM>': must be at least 1: no attacker would run\n\n\
             For more information, try '--help'.\n"
        );
        assert!(msg(&["--duration", "0", "hammer", "1"]).contains("must be longer than zero"));
        assert!(msg(&["--duration", "1000000000h", "hammer", "1"])
            .contains("longer than the maximum of 365d"));
        assert!(msg(&["seq", "1000000000h", "1"]).contains("longer than the maximum of 365d"));
    }
}
