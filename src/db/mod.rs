//! Boulder's MySQL database, read-only: the Db actor on a `SyncArbiter` (diesel blocks), with
//! random picks of stored objects, lookups by serial for consistency checks, and the tables'
//! high-water marks for the storage-side view of throughput.

pub mod consistency;
pub mod dsn;
pub mod pool;
pub mod queries;
pub mod source;
pub mod storage;
pub mod stored;
pub mod urls;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::Rng;
use url::Url;

use pool::{DbPool, Health};
use queries::{AuthzRow, Bound, CertRow, OrderLinks, OrderRow, Table};

/// Why a database request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    /// The server cannot be reached (or was not, a moment ago).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A statement ran into its timeout (`db.query_timeout`); the server still answers.
    #[error("database query timed out: {0}")]
    Timeout(String),
    /// A query failed, the connection did not.
    #[error("database query failed: {0}")]
    Query(String),
    /// Nothing to pick from.
    #[error("no live rows in {0}")]
    Empty(&'static str),
    /// The schema is not one the tool knows.
    #[error("unexpected schema: {0}")]
    Schema(String),
}

impl DbError {
    /// Low-cardinality key for reports.
    pub fn reason(&self) -> &'static str {
        match self {
            DbError::Unavailable(_) => "db:unavailable",
            DbError::Timeout(_) => "db:timeout",
            DbError::Query(_) => "db:query",
            DbError::Empty(_) => "db:empty",
            DbError::Schema(_) => "db:schema",
        }
    }
}

/// How the Db actors connect and behave.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub threads: usize,
    pub pool_size: u32,
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
}

/// Live ranges are re-read this often, so rows added during the run become pickable and
/// expired ones drop out.
const RANGE_TTL: Duration = Duration::from_secs(10);

/// Ids a pick reads at most per attempt: the window after the random id where it looks for a
/// qualifying row (live rows are interleaved with expired and dead ones).
pub const PICK_WINDOW: u64 = 256;

/// Random ids a pick tries before it falls back to the start of the live range.
pub const PICK_ATTEMPTS: usize = 4;

/// What the tool picks from: each has its own live range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PickKind {
    Certificate,
    Authorization,
    Order,
}

impl PickKind {
    pub fn table(self) -> Table {
        match self {
            PickKind::Certificate => Table::Certificates,
            PickKind::Authorization => Table::Authz2,
            PickKind::Order => Table::Orders,
        }
    }
}

/// Live ranges `[lo, hi]` by kind, shared by the Db actors, with when each was read.
type Ranges = Arc<Mutex<HashMap<PickKind, ((u64, u64), Instant)>>>;

pub struct Db {
    pool: DbPool,
    /// How orders link to their authorizations here.
    links: OrderLinks,
    /// The per-statement timeout hints (`db.query_timeout`).
    bound: Bound,
    health: Arc<Health>,
    ranges: Ranges,
    /// Set once a statement outlived its timeout unchecked (logged once).
    overran: Arc<AtomicBool>,
}

impl Actor for Db {
    type Context = SyncContext<Self>;
}

impl Db {
    /// Connects, checks the schema, and starts `threads` Db actors sharing one pool.
    pub fn start(url: &Url, settings: &DbSettings) -> Result<Addr<Db>, DbError> {
        let (pool, health) = pool::connect_watched(
            url,
            settings.pool_size,
            settings.connect_timeout,
            settings.query_timeout,
        )?;
        let bound = Bound::new(settings.query_timeout);
        let mut conn = pool
            .get()
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        let links = queries::order_links(&mut conn, bound)
            .map_err(|e| DbError::Query(e.to_string()))?
            .ok_or_else(|| {
                DbError::Schema(
                    "neither orders.authzs nor the orderToAuthz2 table exists: is this \
                     Boulder's boulder_sa database?"
                        .into(),
                )
            })?;
        drop(conn);
        log::info!(
            "Boulder database {} ({})",
            dsn::redacted(url),
            match (links.column, links.table) {
                (true, true) => "orders.authzs, else orderToAuthz2",
                (true, false) => "orders.authzs",
                _ => "orderToAuthz2",
            }
        );
        let ranges = Ranges::default();
        let overran = Arc::new(AtomicBool::new(false));
        Ok(SyncArbiter::start(settings.threads.max(1), move || Db {
            pool: pool.clone(),
            links,
            bound,
            health: health.clone(),
            ranges: ranges.clone(),
            overran: overran.clone(),
        }))
    }

    /// Runs `query` on a pooled connection. While the database is down, fails at once
    /// (`db:unavailable`). A statement that ran into its timeout fails alone (`db:timeout`),
    /// as does one the server refused (`db:query`); only a connection that no longer answers
    /// marks the database down.
    fn with_conn<T>(
        &mut self,
        query: impl FnOnce(&mut pool::DbConnection) -> diesel::QueryResult<T>,
    ) -> Result<T, DbError> {
        if !self.health.is_up() {
            return Err(DbError::Unavailable(
                "waiting for it to answer again".into(),
            ));
        }
        let mut session = self.pool.get().map_err(|e| {
            self.health.mark_down(&e.to_string());
            DbError::Unavailable(e.to_string())
        })?;
        match query(&mut session) {
            Ok(found) => Ok(found),
            Err(e) if is_timeout(&e) => Err(DbError::Timeout(e.to_string())),
            Err(e) => {
                if queries::ping(&mut session).is_ok() {
                    return Err(DbError::Query(e.to_string()));
                }
                session.broken = true;
                self.health.mark_down(&e.to_string());
                Err(DbError::Unavailable(e.to_string()))
            }
        }
    }

    /// A pick's query (at most two statements) that returned well after twice the timeout
    /// means something between the tool and the server dropped the timeout (a proxy, a server
    /// that ignores both): said once.
    fn check_bounded(&self, took: Duration) {
        let limit = self.bound.timeout() * 2 + Duration::from_millis(250);
        if took > limit && !self.overran.swap(true, Ordering::Relaxed) {
            log::warn!(
                "Boulder database: a statement took {took:?}, beyond db.query_timeout ({:?}): \
                 the statement timeout is not applied between here and the server",
                self.bound.timeout()
            );
        }
    }

    /// The live range `[lo, hi]` of `kind`: from where its unexpired rows start to its largest
    /// id. Cached for [`RANGE_TTL`]; `None` (never cached) when nothing is live.
    fn live_range(&mut self, kind: PickKind) -> Result<Option<(u64, u64)>, DbError> {
        if let Some((range, read)) = self.ranges.lock().unwrap().get(&kind) {
            if read.elapsed() < RANGE_TTL {
                return Ok(Some(*range));
            }
        }
        let bound = self.bound;
        let range = self.with_conn(|conn| {
            let Some((first, last)) = queries::id_range(conn, bound, kind.table())? else {
                return Ok(None);
            };
            let lo = match kind {
                PickKind::Authorization => queries::authz_live_floor(conn, bound)?,
                PickKind::Certificate => queries::certificate_live_floor(conn, bound)?,
                PickKind::Order => queries::order_live_floor(conn, bound, first, last)?,
            };
            Ok(lo.map(|lo| (lo.max(first), last)))
        })?;
        let mut ranges = self.ranges.lock().unwrap();
        match range {
            Some(range) => ranges.insert(kind, (range, Instant::now())),
            // Nothing live: asked again next time, the CA under load adds rows any moment.
            None => ranges.remove(&kind),
        };
        Ok(range)
    }

    /// A random live row of `kind`: the first qualifying row in a window of [`PICK_WINDOW`]
    /// ids after an id drawn uniformly from the live range, tried at [`PICK_ATTEMPTS`] random
    /// ids and then at the start of the range. Each attempt reads at most the window, so a
    /// pick costs the same on a table of a thousand rows or a billion.
    fn pick<T>(
        &mut self,
        kind: PickKind,
        find: impl Fn(&mut pool::DbConnection, Bound, u64, u64) -> diesel::QueryResult<Option<T>>,
    ) -> Result<T, DbError> {
        let Some((lo, hi)) = self.live_range(kind)? else {
            return Err(DbError::Empty(kind.table().name()));
        };
        let bound = self.bound;
        let starts: Vec<u64> = (0..PICK_ATTEMPTS)
            .map(|_| rand::rng().random_range(lo..=hi))
            .chain([lo])
            .collect();
        for start in starts {
            let until = start.saturating_add(PICK_WINDOW);
            let started = Instant::now();
            let found = self.with_conn(|conn| find(conn, bound, start, until))?;
            self.check_bounded(started.elapsed());
            if let Some(row) = found {
                return Ok(row);
            }
        }
        Err(DbError::Empty(kind.table().name()))
    }
}

/// Whether `e` is a statement that ran out of time (MariaDB's `max_statement_time`, MySQL's
/// `max_execution_time` and hint, a lock wait, vtgate's query timeout), not a dead connection.
fn is_timeout(e: &diesel::result::Error) -> bool {
    let diesel::result::Error::DatabaseError(_, info) = e else {
        return false;
    };
    let message = info.message();
    [
        "max_statement_time exceeded",
        "maximum statement execution time exceeded",
        "Lock wait timeout exceeded",
        "Query execution was interrupted",
        "DeadlineExceeded",
        "context deadline exceeded",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// A random unexpired stored certificate.
#[derive(Debug, Message)]
#[rtype(result = "Result<CertRow, DbError>")]
pub struct PickCertificate;

/// A random unexpired stored certificate of an account other than the one with this id.
#[derive(Debug, Message)]
#[rtype(result = "Result<CertRow, DbError>")]
pub struct PickForeignCertificate(pub u64);

/// A random live (pending or valid, unexpired) authorization.
#[derive(Debug, Message)]
#[rtype(result = "Result<AuthzRow, DbError>")]
pub struct PickAuthz;

/// A random unexpired order with its authorizations (see [`queries::live_order_in`]).
#[derive(Debug, Message)]
#[rtype(result = "Result<OrderRow, DbError>")]
pub struct PickOrder;

/// The largest id of each main table (its high-water mark).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<(Table, u64)>, DbError>")]
pub struct HighWaterMarks;

impl Handler<PickCertificate> for Db {
    type Result = Result<CertRow, DbError>;

    fn handle(&mut self, _: PickCertificate, _: &mut SyncContext<Self>) -> Self::Result {
        self.pick(PickKind::Certificate, |conn, bound, from, until| {
            queries::live_certificate_in(conn, bound, from, until, None)
        })
    }
}

impl Handler<PickForeignCertificate> for Db {
    type Result = Result<CertRow, DbError>;

    fn handle(&mut self, pick: PickForeignCertificate, _: &mut SyncContext<Self>) -> Self::Result {
        self.pick(PickKind::Certificate, |conn, bound, from, until| {
            queries::live_certificate_in(conn, bound, from, until, Some(pick.0))
        })
    }
}

impl Handler<PickAuthz> for Db {
    type Result = Result<AuthzRow, DbError>;

    fn handle(&mut self, _: PickAuthz, _: &mut SyncContext<Self>) -> Self::Result {
        self.pick(PickKind::Authorization, queries::live_authz_in)
    }
}

impl Handler<PickOrder> for Db {
    type Result = Result<OrderRow, DbError>;

    fn handle(&mut self, _: PickOrder, _: &mut SyncContext<Self>) -> Self::Result {
        let links = self.links;
        self.pick(PickKind::Order, move |conn, bound, from, until| {
            queries::live_order_in(conn, bound, links, from, until)
        })
    }
}

impl Handler<HighWaterMarks> for Db {
    type Result = Result<Vec<(Table, u64)>, DbError>;

    fn handle(&mut self, _: HighWaterMarks, _: &mut SyncContext<Self>) -> Self::Result {
        let bound = self.bound;
        self.with_conn(|conn| {
            Table::ALL
                .into_iter()
                .map(|table| {
                    let high = queries::id_range(conn, bound, table)?.map_or(0, |(_, hi)| hi);
                    Ok((table, high))
                })
                .collect()
        })
    }
}
