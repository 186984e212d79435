//! A private MariaDB per test (`scripts/mariadb-up` on a free port), with fixture databases
//! built from `migrations-readonly/` by `scripts/db-fixture`, and an admin connection to seed
//! them. The tool under test connects as `wec_ro` (SELECT only) or, to prove its sessions are
//! read-only by themselves, as the privileged `wec_admin`.

use std::path::PathBuf;
use std::process::Command;

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::Connection;

use super::{free_port, repo, require};

pub struct MariaDb {
    dir: tempfile::TempDir,
    pub port: u16,
}

fn script(name: &str) -> Command {
    Command::new(repo().join("scripts").join(name))
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl MariaDb {
    pub fn start() -> MariaDb {
        for tool in ["mariadb", "mariadb-install-db"] {
            require(tool);
        }
        let dir = tempfile::tempdir().unwrap();
        let db = MariaDb {
            dir,
            port: free_port(),
        };
        db.up();
        db
    }

    fn up(&self) {
        run(script("mariadb-up")
            .arg(self.dir.path())
            .arg(self.port.to_string()));
    }

    /// Stops the server (its data stays), as an outage mid-run.
    pub fn stop(&self) {
        run(script("mariadb-down").arg(self.dir.path()));
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&self) {
        self.up();
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// Creates database `name` from migrations-readonly/, `form` `current` or `legacy`.
    pub fn fixture(&self, name: &str, form: &str) {
        run(script("db-fixture").arg(self.socket()).arg(name).arg(form));
    }

    /// Go-style DSN of the SELECT-only user, as an operator would give `--mysql`.
    pub fn readonly_dsn(&self, db: &str) -> String {
        format!("wec_ro:readonly@tcp(127.0.0.1:{})/{db}", self.port)
    }

    pub fn admin_url(&self, db: &str) -> String {
        format!("mysql://wec_admin:admin@127.0.0.1:{}/{db}", self.port)
    }

    /// A writable connection for seeding.
    pub fn admin(&self, db: &str) -> MysqlConnection {
        MysqlConnection::establish(&self.admin_url(db)).unwrap()
    }

    pub fn exec(&self, db: &str, sql: &str) {
        self.admin(db).batch_execute(sql).unwrap();
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = script("mariadb-down").arg(self.dir.path()).status();
    }
}
