//! Config reload (SIGHUP, a change of the file on disk, `POST /reload`): the new file is loaded
//! and validated as a whole (the public-CA guard and the machine's capacity included); keys
//! that only take effect at start are reported and kept at their running values; the Ramp then
//! restarts its schedule with the result ([`service`] does the asking).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

pub mod service;

pub use service::{Reload, Reloader};

use crate::capacity::{self, CapacityError, Machine};
use crate::config::{ConfigError, Settings};
use crate::safety::PublicCaError;
use crate::schedule::Schedule;

/// Where reloads read from, and what the command line fixed.
#[derive(Debug, Clone)]
pub struct ReloadSource {
    pub path: Option<PathBuf>,
    pub allow_public_ca: bool,
    /// The shard this process runs, whose share of a new schedule must fit the machine.
    pub shard: Option<crate::schedule::shard::Shard>,
}

/// Why a reload was refused; the running config then stays.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    PublicCa(#[from] PublicCaError),
    #[error(transparent)]
    Capacity(#[from] CapacityError),
    /// The new target cannot be reached, or not used with the new settings (the profiles it
    /// offers, the roots to verify against): the causes on one line.
    #[error("{0:#}")]
    Target(anyhow::Error),
    #[error("the daemon is shutting down")]
    ShuttingDown,
    #[error("superseded by a newer reload")]
    Superseded,
}

/// A validated new configuration, ready to apply.
#[derive(Debug)]
pub struct Reloaded {
    pub settings: Settings,
    pub schedule: Schedule,
    /// Restart-only keys whose value changed in the file (their running values are kept).
    pub needs_restart: Vec<&'static str>,
    /// The directory URL or its trust roots changed: the directory must be fetched again.
    pub target_changed: bool,
}

impl ReloadSource {
    /// Loads and validates the config again. The `[schedule]` table replaces the running
    /// schedule when it changed in the file (the operator's latest intent, even over a mode
    /// given on the command line); otherwise the running schedule restarts as it is. A
    /// schedule this machine cannot hold is refused as at start.
    pub fn load(&self, running: &Settings, schedule: &Schedule) -> Result<Reloaded, ReloadError> {
        let mut settings = Settings::load(self.path.as_deref())?;
        settings.target.allow_public_ca |= self.allow_public_ca;
        settings.check_public_ca()?;
        let new = match &settings.schedule {
            Some(table) if settings.schedule != running.schedule => table.clone(),
            _ => schedule.clone(),
        };
        capacity::check(
            &new,
            self.shard,
            &settings,
            &Machine::read(),
            Some(schedule),
        )?;
        let schedule = new;
        let target_changed = settings.target.directory_url != running.target.directory_url
            || settings.target.ca_cert != running.target.ca_cert;
        let needs_restart = keep_restart_only(running, &mut settings);
        for warning in settings.warnings() {
            log::warn!("{warning}");
        }
        Ok(Reloaded {
            settings,
            schedule,
            needs_restart,
            target_changed,
        })
    }
}

/// Restores, in `new`, the keys that only take effect when the daemon starts, and names those
/// whose value the file changed.
fn keep_restart_only(running: &Settings, new: &mut Settings) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($field:ident).+, $name:literal) => {
            if new.$($field).+ != running.$($field).+ {
                changed.push($name);
                new.$($field).+ = running.$($field).+.clone();
            }
        };
    }
    keep!(challenge, "challenge");
    keep!(control, "control");
    keep!(statsd, "statsd");
    keep!(report, "report");
    keep!(thresholds, "thresholds");
    keep!(db, "db");
    keep!(run.threads, "run.threads");
    keep!(run.duration, "run.duration");
    keep!(run.watch_config, "run.watch_config");
    changed
}

/// Calls `on_change` when `path` changes on disk, once per burst of events (editors write a
/// file in several steps, often by renaming a new one over it, so the directory is watched).
/// The watcher stops when the returned value is dropped.
pub fn watch(
    path: &Path,
    on_change: impl Fn() + Send + 'static,
) -> notify::Result<notify::RecommendedWatcher> {
    const DEBOUNCE: Duration = Duration::from_millis(300);
    let file_name = path.file_name().map(|n| n.to_owned());
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| concerns(&e, file_name.as_deref())) {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    std::thread::Builder::new()
        .name("config-watch".into())
        .spawn(move || debounced(&rx, DEBOUNCE, on_change))
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(watcher)
}

/// Whether `event` wrote the file named `file_name`.
fn concerns(event: &notify::Event, file_name: Option<&std::ffi::OsStr>) -> bool {
    (event.kind.is_modify() || event.kind.is_create())
        && event.paths.iter().any(|p| p.file_name() == file_name)
}

/// Calls `on_change` once per burst of `changes` (no new one for `quiet`), until the sender
/// is gone.
fn debounced(changes: &mpsc::Receiver<()>, quiet: Duration, on_change: impl Fn()) {
    while changes.recv().is_ok() {
        while changes.recv_timeout(quiet).is_ok() {}
        on_change();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn source(dir: &Path, toml: &str) -> ReloadSource {
        let path = dir.join("wec.toml");
        std::fs::write(&path, toml).unwrap();
        ReloadSource {
            path: Some(path),
            allow_public_ca: false,
            shard: None,
        }
    }

    fn hammer(n: usize) -> Schedule {
        Schedule::Workers(crate::schedule::Workers::Hammer { workers: n })
    }

    #[test]
    fn a_changed_schedule_table_wins_an_unchanged_one_keeps_the_running_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path(), "[schedule]\nmode = \"hammer\"\nworkers = 2\n");
        let running = Settings::load(src.path.as_deref()).unwrap();

        // Started with `hammer 7` on the command line; the file's table did not change.
        let same = src.load(&running, &hammer(7)).unwrap();
        assert_eq!(same.schedule, hammer(7));

        std::fs::write(
            src.path.as_ref().unwrap(),
            "[schedule]\nmode = \"hammer\"\nworkers = 5\n",
        )
        .unwrap();
        let changed = src.load(&running, &hammer(7)).unwrap();
        assert_eq!(changed.schedule, hammer(5));
        assert!(changed.needs_restart.is_empty());
        assert!(!changed.target_changed);
    }

    #[test]
    fn restart_only_keys_are_reported_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(
            dir.path(),
            "[challenge]\nhttp01_listen = [\"127.0.0.1:5002\"]\n",
        );
        let running = Settings::load(src.path.as_deref()).unwrap();
        std::fs::write(
            src.path.as_ref().unwrap(),
            "[challenge]\nhttp01_listen = [\"127.0.0.1:80\"]\n[run]\nthreads = 3\ngrace_period = \"1s\"\n\
             [target]\ndirectory_url = \"http://127.0.0.1:4001/directory\"\n",
        )
        .unwrap();
        let r = src.load(&running, &hammer(1)).unwrap();
        assert_eq!(r.needs_restart, ["challenge", "run.threads"]);
        assert_eq!(
            r.settings.challenge.http01_listen,
            ["127.0.0.1:5002".parse().unwrap()]
        );
        assert_eq!(r.settings.run.threads, running.run.threads);
        assert_eq!(
            r.settings.run.grace_period,
            Duration::from_secs(1),
            "reloadable"
        );
        assert!(r.target_changed);
    }

    #[test]
    fn an_invalid_file_is_refused_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path(), "");
        let running = Settings::load(src.path.as_deref()).unwrap();
        std::fs::write(
            src.path.as_ref().unwrap(),
            "[schedule]\nmode = \"aseq\"\nincrement = 5\nfinal_workers = 2\ninterval = 1\n",
        )
        .unwrap();
        let err = src.load(&running, &hammer(1)).unwrap_err().to_string();
        assert!(
            err.contains("wec.toml") && err.contains("`schedule`"),
            "{err}"
        );
        assert!(err.contains("FINALWORKERS"), "{err}");
    }

    /// A reload to a schedule the machine cannot hold is refused; the running one stays.
    #[test]
    fn a_schedule_beyond_the_machine_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path(), "");
        let running = Settings::load(src.path.as_deref()).unwrap();
        std::fs::write(
            src.path.as_ref().unwrap(),
            "[schedule]\nmode = \"hammer\"\nworkers = 100000000\n",
        )
        .unwrap();
        let err = src.load(&running, &hammer(1)).unwrap_err().to_string();
        assert!(
            err.starts_with("hammer 100000000: 100000000 attackers would need about"),
            "{err}"
        );
    }

    #[test]
    fn an_editors_save_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wec.toml");
        std::fs::write(&path, "").unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let _watcher = watch(&path, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        // An editor's save: write a temporary file and rename it over the config.
        let tmp = dir.path().join(".wec.toml.swp");
        std::fs::write(&tmp, "[run]\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        std::fs::write(&path, "[run]\nthreads = 1\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while calls.load(Ordering::SeqCst) == 0 {
            assert!(std::time::Instant::now() < deadline, "no reload in 5 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_burst_of_changes_is_reported_once() {
        let (tx, rx) = mpsc::channel();
        for _ in 0..3 {
            tx.send(()).unwrap();
        }
        drop(tx);
        let calls = AtomicUsize::new(0);
        // Every change is queued already and the sender is gone: no clock decides the count.
        debounced(&rx, Duration::from_secs(60), || {
            calls.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn only_writes_of_the_config_file_concern_the_watcher() {
        use notify::event::{AccessKind, CreateKind, EventKind, ModifyKind};
        let name = Some(std::ffi::OsStr::new("wec.toml"));
        let event = |kind, path: &str| notify::Event::new(kind).add_path(PathBuf::from(path));
        let modify = EventKind::Modify(ModifyKind::Any);
        assert!(concerns(&event(modify, "/etc/wec/wec.toml"), name));
        assert!(concerns(
            &event(EventKind::Create(CreateKind::File), "/etc/wec/wec.toml"),
            name
        ));
        assert!(!concerns(&event(modify, "/etc/wec/other.toml"), name));
        assert!(!concerns(
            &event(EventKind::Access(AccessKind::Any), "/etc/wec/wec.toml"),
            name
        ));
    }
}
