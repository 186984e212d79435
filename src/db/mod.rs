//! Boulder's MySQL database, read-only: the Db actor on a `SyncArbiter` (diesel blocks), with
//! random picks of stored objects, lookups by serial for consistency checks, and the tables'
//! high-water marks for the storage-side view of throughput.

pub mod consistency;
pub mod dsn;
pub mod pool;
pub mod queries;
pub mod schema;
pub mod source;
pub mod storage;
pub mod urls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rand::Rng;
use url::Url;

use pool::{DbPool, Health};
use queries::{AuthzRow, CertRow, Link, OrderRow, StoredCert, Table};

/// Why a database request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    /// The server cannot be reached (or was not, a moment ago).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed or timed out.
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

/// Id ranges are re-read this often, so rows added during the run become pickable.
const RANGE_TTL: Duration = Duration::from_secs(10);

pub struct Db {
    pool: DbPool,
    link: Link,
    health: Arc<Health>,
    ranges: HashMap<Table, (Option<(u64, u64)>, Instant)>,
}

impl Actor for Db {
    type Context = SyncContext<Self>;
}

impl Db {
    /// Connects, checks the schema, and starts `threads` Db actors sharing one pool.
    pub fn start(url: &Url, settings: &DbSettings) -> Result<Addr<Db>, DbError> {
        let pool = pool::connect(
            url,
            settings.pool_size,
            settings.connect_timeout,
            settings.query_timeout,
        )?;
        let mut conn = pool
            .get()
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        let link = queries::detect_link(&mut conn)
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
            match link {
                Link::Blob => "orders.authzs",
                Link::Table => "orderToAuthz2",
            }
        );
        let health = Health::watch(pool.clone());
        Ok(SyncArbiter::start(settings.threads.max(1), move || Db {
            pool: pool.clone(),
            link,
            health: health.clone(),
            ranges: HashMap::new(),
        }))
    }

    /// Runs `query` on a pooled connection, failing fast while the database is down and
    /// marking it down when a query fails.
    fn with_conn<T>(
        &mut self,
        query: impl FnOnce(&mut pool::DbConnection) -> diesel::QueryResult<T>,
    ) -> Result<T, DbError> {
        if !self.health.is_up() {
            return Err(DbError::Unavailable(
                "waiting for it to answer again".into(),
            ));
        }
        let mut conn = self.pool.get().map_err(|e| {
            self.health.mark_down(&e.to_string());
            DbError::Unavailable(e.to_string())
        })?;
        query(&mut conn).map_err(|e| {
            self.health.mark_down(&e.to_string());
            DbError::Query(e.to_string())
        })
    }

    fn range(&mut self, table: Table) -> Result<Option<(u64, u64)>, DbError> {
        if let Some((range, read)) = self.ranges.get(&table) {
            if read.elapsed() < RANGE_TTL {
                return Ok(*range);
            }
        }
        let range = self.with_conn(|conn| queries::id_range(conn, table))?;
        self.ranges.insert(table, (range, Instant::now()));
        Ok(range)
    }

    /// A random row of `table` by primary-key range: the first match at or after a random id,
    /// else the first from the start (ids have gaps, and filters skip rows).
    fn pick<T>(
        &mut self,
        table: Table,
        from: impl Fn(&mut pool::DbConnection, u64) -> diesel::QueryResult<Option<T>>,
    ) -> Result<T, DbError> {
        let Some((lo, hi)) = self.range(table)? else {
            return Err(DbError::Empty(table.name()));
        };
        let start = rand::rng().random_range(lo..=hi);
        if let Some(row) = self.with_conn(|conn| from(conn, start))? {
            return Ok(row);
        }
        self.with_conn(|conn| from(conn, lo))?
            .ok_or(DbError::Empty(table.name()))
    }
}

/// A random stored certificate.
#[derive(Debug, Message)]
#[rtype(result = "Result<CertRow, DbError>")]
pub struct PickCertificate;

/// A random live (pending or valid, unexpired) authorization.
#[derive(Debug, Message)]
#[rtype(result = "Result<AuthzRow, DbError>")]
pub struct PickAuthz;

/// A random unexpired order with its authorizations.
#[derive(Debug, Message)]
#[rtype(result = "Result<OrderRow, DbError>")]
pub struct PickOrder;

/// What the database holds for a serial (big-endian bytes; looked up in both hex spellings).
#[derive(Debug, Message)]
#[rtype(result = "Result<StoredCert, DbError>")]
pub struct FindCertificate {
    pub serial: Vec<u8>,
}

/// The largest id of each main table (its high-water mark).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<(Table, u64)>, DbError>")]
pub struct HighWaterMarks;

impl Handler<PickCertificate> for Db {
    type Result = Result<CertRow, DbError>;

    fn handle(&mut self, _: PickCertificate, _: &mut SyncContext<Self>) -> Self::Result {
        self.pick(Table::Certificates, |conn, id| {
            queries::certificate_from(conn, id)
        })
    }
}

impl Handler<PickAuthz> for Db {
    type Result = Result<AuthzRow, DbError>;

    fn handle(&mut self, _: PickAuthz, _: &mut SyncContext<Self>) -> Self::Result {
        self.pick(Table::Authz2, |conn, id| queries::live_authz_from(conn, id))
    }
}

impl Handler<PickOrder> for Db {
    type Result = Result<OrderRow, DbError>;

    fn handle(&mut self, _: PickOrder, _: &mut SyncContext<Self>) -> Self::Result {
        let link = self.link;
        self.pick(Table::Orders, move |conn, id| {
            queries::live_order_from(conn, id, link)
        })
    }
}

impl Handler<FindCertificate> for Db {
    type Result = Result<StoredCert, DbError>;

    fn handle(&mut self, msg: FindCertificate, _: &mut SyncContext<Self>) -> Self::Result {
        let spellings = consistency::serial_spellings(&msg.serial);
        self.with_conn(|conn| queries::stored_certificate(conn, &spellings))
    }
}

impl Handler<HighWaterMarks> for Db {
    type Result = Result<Vec<(Table, u64)>, DbError>;

    fn handle(&mut self, _: HighWaterMarks, _: &mut SyncContext<Self>) -> Self::Result {
        self.with_conn(|conn| {
            Table::ALL
                .into_iter()
                .map(|table| {
                    let high = queries::id_range(conn, table)?.map_or(0, |(_, hi)| hi);
                    Ok((table, high))
                })
                .collect()
        })
    }
}
