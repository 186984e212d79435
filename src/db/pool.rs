//! Connections to Boulder's database: an r2d2 pool whose every session is read-only and has a
//! statement timeout, and a health flag that lets callers fail fast while the server is down
//! (a background probe flips it back when the server answers again).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use url::Url;

use super::{queries, DbError};

pub type DbPool = Pool<ConnectionManager<MysqlConnection>>;
pub type DbConnection = PooledConnection<ConnectionManager<MysqlConnection>>;

/// How often a down database is probed.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Makes every pooled session read-only (so even a privileged user cannot write through the
/// tool) and bounds every statement in time.
#[derive(Debug)]
struct ReadOnlySession {
    query_timeout: Duration,
}

impl CustomizeConnection<MysqlConnection, diesel::r2d2::Error> for ReadOnlySession {
    fn on_acquire(&self, conn: &mut MysqlConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("SET SESSION TRANSACTION READ ONLY")
            .map_err(diesel::r2d2::Error::QueryError)?;
        // MariaDB's statement timeout is in seconds; MySQL (5.7+) has max_execution_time in ms.
        let mariadb = format!(
            "SET SESSION max_statement_time = {}",
            self.query_timeout.as_secs_f64()
        );
        let mysql = format!(
            "SET SESSION max_execution_time = {}",
            self.query_timeout.as_millis()
        );
        conn.batch_execute(&mariadb)
            .or_else(|_| conn.batch_execute(&mysql))
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Opens the pool; fails if no connection can be made within `connect_timeout`.
pub fn connect(
    url: &Url,
    size: u32,
    connect_timeout: Duration,
    query_timeout: Duration,
) -> Result<DbPool, DbError> {
    let manager = ConnectionManager::<MysqlConnection>::new(url.as_str());
    Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(connect_timeout)
        .connection_customizer(Box::new(ReadOnlySession { query_timeout }))
        .build(manager)
        .map_err(|e| DbError::Unavailable(format!("cannot connect: {e}")))
}

/// Whether the database is believed to be up. Shared by every Db actor; while down, requests
/// fail at once instead of each waiting for a connection timeout.
#[derive(Debug)]
pub struct Health {
    up: AtomicBool,
}

impl Health {
    /// A health flag (initially up) and its probe thread, which lives as long as the flag.
    pub fn watch(pool: DbPool) -> Arc<Health> {
        let health = Arc::new(Health {
            up: AtomicBool::new(true),
        });
        let weak = Arc::downgrade(&health);
        std::thread::Builder::new()
            .name("db-probe".into())
            .spawn(move || probe(weak, pool))
            .expect("spawning the database probe thread");
        health
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Records a failure that may mean the server is gone; the probe decides when it is back.
    pub fn mark_down(&self, why: &str) {
        if self.up.swap(false, Ordering::Relaxed) {
            log::warn!("Boulder database unavailable ({why}); DB-driven chains fail fast until it answers again");
        }
    }
}

fn probe(health: Weak<Health>, pool: DbPool) {
    loop {
        std::thread::sleep(PROBE_EVERY);
        let Some(health) = health.upgrade() else {
            return;
        };
        if health.is_up() {
            continue;
        }
        let back = pool
            .get()
            .ok()
            .is_some_and(|mut conn| queries::ping(&mut conn).is_ok());
        if back {
            health.up.store(true, Ordering::Relaxed);
            log::info!("Boulder database answers again");
        }
    }
}
