//! `testca`: run the CA by hand or for benchmarks.
//!
//! `testca --config ca.toml` reads a TOML [`testca::Config`]; without it `--mode` picks a
//! preset (`boulder`: Boulder's dev environment, `fast`: no caches or limits, `default`). Flags
//! override single fields. Prints the directory URL once it listens; runs until killed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use testca::{Config, TestCa};

/// mimalloc rather than glibc's allocator: a benchmark CA should not spend its core in malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Default,
    Boulder,
    Fast,
}

#[derive(Parser)]
#[command(version, about = "A purpose-built ACME CA that behaves like Boulder")]
struct Args {
    /// TOML configuration file (fields of testca::Config).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Preset used when no --config is given.
    #[arg(long, value_enum, default_value = "boulder")]
    mode: Mode,
    #[arg(long)]
    listen: Option<SocketAddr>,
    #[arg(long)]
    base_url: Option<String>,
    #[arg(long)]
    doh_url: Option<String>,
    #[arg(long)]
    doh_ca: Option<PathBuf>,
    #[arg(long)]
    dns_udp: Option<SocketAddr>,
    #[arg(long)]
    http01_port: Option<u16>,
    #[arg(long)]
    tlsalpn01_port: Option<u16>,
    /// CIDR accepted although reserved (repeatable), e.g. 127.64.0.0/16.
    #[arg(long)]
    treat_as_public: Vec<ipnet::IpNet>,
    #[arg(long)]
    workers: Option<usize>,
    #[arg(long)]
    db_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum ConfigError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Parse(PathBuf, toml::de::Error),
}

fn config(args: &Args) -> Result<Config, ConfigError> {
    let mut c = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.clone(), e))?;
            Config::from_toml(&text).map_err(|e| ConfigError::Parse(path.clone(), e))?
        }
        None => match args.mode {
            Mode::Default => Config::default(),
            Mode::Boulder => Config::boulder(),
            Mode::Fast => Config::fast(),
        },
    };
    if let Some(v) = args.listen {
        c.listen = v;
    }
    if let Some(v) = &args.base_url {
        c.base_url = Some(v.clone());
    }
    if let Some(v) = &args.doh_url {
        c.doh_url = Some(v.clone());
    }
    if let Some(v) = &args.doh_ca {
        c.doh_ca = Some(v.clone());
    }
    if let Some(v) = args.dns_udp {
        c.dns_udp = Some(v);
    }
    if let Some(v) = args.http01_port {
        c.http01_port = v;
    }
    if let Some(v) = args.tlsalpn01_port {
        c.tlsalpn01_port = v;
    }
    if !args.treat_as_public.is_empty() {
        c.treat_as_public = args.treat_as_public.clone();
    }
    if let Some(v) = args.workers {
        c.workers = v;
    }
    if let Some(v) = &args.db_url {
        c.db_url = Some(v.clone());
    }
    Ok(c)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("testca: {e}");
            return ExitCode::from(2);
        }
    };
    let ca = match TestCa::start(config) {
        Ok(ca) => ca,
        Err(e) => {
            eprintln!("testca: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", ca.directory_url());
    log::info!("listening on {}", ca.addr());
    loop {
        std::thread::park();
    }
}
