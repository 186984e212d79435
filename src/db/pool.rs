//! Connections to Boulder's database: an r2d2 pool of sessions, and a health flag that lets
//! callers fail fast while the server is down (a background probe flips it back when the server
//! answers again).
//!
//! A session is tested (`SELECT 1`) at checkout only when it has been idle a while (a server
//! or a proxy may have closed it meanwhile) or an outage happened since it was last tested. A
//! busy session is not tested: its next statement says whether it still works, and
//! `Db::with_conn` tells a dead connection apart from a slow or bad query.
//!
//! Each session asks the server, at connect, to make it read-only and to bound its statements
//! in time. Both are defence in depth, not what the tool relies on (a proxy may not carry
//! session settings from one backend connection to the next): every statement is a `SELECT`,
//! and carries its own timeout hints (see `queries::Bound`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::r2d2::{Error, ManageConnection, PooledConnection, R2D2Connection};
use diesel::Connection;
use url::Url;

use super::{queries, DbError};

pub type DbPool = diesel::r2d2::Pool<Manager>;
/// A checked-out session; derefs to its [`DbConnection`].
pub type PooledSession = PooledConnection<Manager>;
/// What queries run on.
pub type DbConnection = MysqlConnection;

/// How often a down database is probed.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// A session idle for this long is tested before use.
pub const TEST_WHEN_IDLE: Duration = Duration::from_secs(5);

/// One connection, with what the pool needs to know about it.
pub struct Session {
    conn: MysqlConnection,
    /// When it was last returned to the pool (or made).
    idle_since: Instant,
    /// How many outages there had been when it was last known to work.
    outages_seen: u64,
    /// Set when it failed in a way that means it cannot be used again: the pool closes it.
    pub broken: bool,
}

impl std::ops::Deref for Session {
    type Target = MysqlConnection;
    fn deref(&self) -> &MysqlConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut MysqlConnection {
        &mut self.conn
    }
}

/// Which server answers: the session settings are spelled differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MariaDb,
    /// MySQL, and what presents itself as MySQL (Vitess's vtgate).
    MySql,
}

#[derive(diesel::QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

/// Opens sessions to Boulder's database (see the module documentation).
#[derive(Debug)]
pub struct Manager {
    url: String,
    query_timeout: Duration,
    /// Each refused session setting is logged once, not once per connection.
    warned: AtomicBool,
    /// Outages so far (see [`Health`]).
    outages: Arc<AtomicU64>,
}

impl Manager {
    /// The server's flavour, from `VERSION()`.
    fn flavor(&self, conn: &mut MysqlConnection) -> Result<Flavor, Error> {
        let bound = queries::Bound::new(self.query_timeout);
        let version: Version = diesel::RunQueryDsl::get_result(
            queries::Select::new(bound.select("VERSION() AS v"), &[]),
            conn,
        )
        .map_err(Error::QueryError)?;
        Ok(if version.v.contains("MariaDB") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        })
    }

    /// Read-only and a statement timeout for the session, each where the server takes it.
    fn settle(&self, conn: &mut MysqlConnection) -> Result<(), Error> {
        let timeout = match self.flavor(conn)? {
            // MariaDB counts seconds; MySQL (and vtgate) milliseconds.
            Flavor::MariaDb => format!(
                "SET SESSION max_statement_time = {}",
                self.query_timeout.as_secs_f64()
            ),
            Flavor::MySql => format!(
                "SET SESSION max_execution_time = {}",
                self.query_timeout.as_millis()
            ),
        };
        for setting in ["SET SESSION TRANSACTION READ ONLY", &timeout] {
            if let Err(e) = conn.batch_execute(setting) {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "Boulder database: `{setting}` refused ({e}); statements stay SELECTs \
                         bounded by their own timeout hints"
                    );
                }
            }
        }
        Ok(())
    }
}

impl ManageConnection for Manager {
    type Connection = Session;
    type Error = Error;

    fn connect(&self) -> Result<Session, Error> {
        let mut conn = MysqlConnection::establish(&self.url).map_err(Error::ConnectionError)?;
        self.settle(&mut conn)?;
        Ok(Session {
            conn,
            idle_since: Instant::now(),
            outages_seen: self.outages.load(Ordering::Relaxed),
            broken: false,
        })
    }

    /// Called at checkout: tests only a session idle for [`TEST_WHEN_IDLE`], or older than the
    /// last outage.
    fn is_valid(&self, session: &mut Session) -> Result<(), Error> {
        let outages = self.outages.load(Ordering::Relaxed);
        if session.idle_since.elapsed() < TEST_WHEN_IDLE && session.outages_seen == outages {
            return Ok(());
        }
        queries::ping(&mut session.conn).map_err(Error::QueryError)?;
        session.outages_seen = outages;
        Ok(())
    }

    /// Called when a session comes back to the pool.
    fn has_broken(&self, session: &mut Session) -> bool {
        session.idle_since = Instant::now();
        session.broken || std::thread::panicking() || session.conn.is_broken()
    }
}

/// Opens the pool; fails if no connection can be made within `connect_timeout`.
pub fn connect(
    url: &Url,
    size: u32,
    connect_timeout: Duration,
    query_timeout: Duration,
) -> Result<DbPool, DbError> {
    build(url, size, connect_timeout, query_timeout, Arc::default())
}

/// [`connect`], with the health flag (and its probe) that goes with the pool.
pub fn connect_watched(
    url: &Url,
    size: u32,
    connect_timeout: Duration,
    query_timeout: Duration,
) -> Result<(DbPool, Arc<Health>), DbError> {
    let outages = Arc::<AtomicU64>::default();
    let pool = build(url, size, connect_timeout, query_timeout, outages.clone())?;
    let health = Health::watch(pool.clone(), outages);
    Ok((pool, health))
}

fn build(
    url: &Url,
    size: u32,
    connect_timeout: Duration,
    query_timeout: Duration,
    outages: Arc<AtomicU64>,
) -> Result<DbPool, DbError> {
    let manager = Manager {
        url: url.as_str().to_owned(),
        query_timeout,
        warned: AtomicBool::new(false),
        outages,
    };
    diesel::r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(connect_timeout)
        .test_on_check_out(true)
        .build(manager)
        .map_err(|e| DbError::Unavailable(format!("cannot connect: {e}")))
}

/// Whether the database is believed to be up. Shared by every Db actor; while down, requests
/// fail at once instead of each waiting for a connection timeout.
#[derive(Debug)]
pub struct Health {
    up: AtomicBool,
    /// Counts outages: sessions older than the last one are tested before use.
    outages: Arc<AtomicU64>,
}

impl Health {
    /// A health flag (initially up) and its probe thread, which lives as long as the flag.
    fn watch(pool: DbPool, outages: Arc<AtomicU64>) -> Arc<Health> {
        let health = Arc::new(Health {
            up: AtomicBool::new(true),
            outages,
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

    /// Records a failure that means the server is gone; the probe decides when it is back.
    pub fn mark_down(&self, why: &str) {
        if self.up.swap(false, Ordering::Relaxed) {
            self.outages.fetch_add(1, Ordering::Relaxed);
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
        let back = pool.get().ok().is_some_and(|mut session| {
            let alive = queries::ping(&mut session).is_ok();
            // A session that died with the server is closed, not handed out again.
            session.broken = !alive;
            alive
        });
        if back {
            health.up.store(true, Ordering::Relaxed);
            log::info!("Boulder database answers again");
        }
    }
}
