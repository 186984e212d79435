//! The read-only queries, as plain functions over a connection.
//!
//! Every statement here is a single `SELECT` built by [`Bound::select`], which puts the
//! per-statement timeout hints right after the keyword, with only unsigned ids bound as
//! parameters ([`Select`]); none relies on session state a proxy could drop (user variables,
//! temporary tables, index hints). Cut-offs use `UTC_TIMESTAMP()`: Boulder stores UTC in
//! DATETIME columns, whatever the session's time zone.
//!
//! Random rows are picked in a table's *live range* `[lo, hi]`: ids grow with time, so the
//! expired rows of a production table form a long prefix, and `lo` (where live rows start) is
//! found in O(log n) from an index or a binary search over the primary key. A pick then reads
//! the first qualifying row in a bounded id window after a uniformly random id of that range,
//! so its cost does not grow with the table, and never scans the expired prefix.

use std::time::Duration;

use diesel::mysql::{Mysql, MysqlConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Unsigned, Untyped};

/// Per-statement timeout hints, written right after `SELECT`: `MAX_EXECUTION_TIME` is the
/// optimizer hint of MySQL (5.7.8+) and MariaDB (12.0+), `QUERY_TIMEOUT_MS` Vitess's vtgate
/// directive. Anything that does not know one reads it as a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    ms: u64,
}

impl Bound {
    pub fn new(timeout: Duration) -> Bound {
        Bound {
            ms: (timeout.as_millis() as u64).max(1),
        }
    }

    pub fn timeout(self) -> Duration {
        Duration::from_millis(self.ms)
    }

    /// The statement `SELECT <hints> rest`.
    pub fn select(self, rest: &str) -> String {
        format!(
            "SELECT /*+ MAX_EXECUTION_TIME({ms}) */ /*vt+ QUERY_TIMEOUT_MS={ms} */ {rest}",
            ms = self.ms
        )
    }
}

/// A `SELECT` whose `?` placeholders take unsigned ids. Unlike `diesel::sql_query`, it is
/// prepared once per connection and then only executed: diesel caches it by its SQL text.
#[derive(Debug, Clone)]
pub struct Select {
    sql: String,
    ids: Vec<u64>,
}

impl Select {
    pub fn new(sql: String, ids: &[u64]) -> Select {
        debug_assert!(sql.starts_with("SELECT "), "{sql}");
        debug_assert_eq!(sql.matches('?').count(), ids.len(), "{sql}");
        Select {
            sql,
            ids: ids.to_vec(),
        }
    }
}

impl QueryFragment<Mysql> for Select {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Mysql>) -> QueryResult<()> {
        let mut parts = self.sql.split('?');
        out.push_sql(parts.next().unwrap_or_default());
        for (id, part) in self.ids.iter().zip(parts) {
            out.push_bind_param::<Unsigned<BigInt>, u64>(id)?;
            out.push_sql(part);
        }
        Ok(())
    }
}

impl QueryId for Select {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Select {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for Select {}

/// How orders point to their authorizations in the database at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLinks {
    /// `orders.authzs`, a protobuf list (Boulder since December 2025).
    pub column: bool,
    /// The `orderToAuthz2` table (Boulder until January 2026); read for an order whose
    /// `authzs` is NULL, or for every order when the column does not exist.
    pub table: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Which links this database has, from `information_schema`; `None` when it has neither.
pub fn order_links(conn: &mut MysqlConnection, bound: Bound) -> QueryResult<Option<OrderLinks>> {
    let mut found = |what: &str| -> QueryResult<bool> {
        let sql = bound.select(&format!("COUNT(*) AS n FROM information_schema.{what}"));
        Ok(Select::new(sql, &[]).get_result::<Count>(conn)?.n > 0)
    };
    let links = OrderLinks {
        column: found(
            "COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orders' \
             AND COLUMN_NAME = 'authzs'",
        )?,
        table: found("TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orderToAuthz2'")?,
    };
    Ok((links.column || links.table).then_some(links))
}

/// The tables whose ids the tool picks from, and whose growth it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Registrations,
    Authz2,
    Orders,
    Certificates,
    CertificateStatus,
    Serials,
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::Registrations,
        Table::Authz2,
        Table::Orders,
        Table::Certificates,
        Table::CertificateStatus,
        Table::Serials,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Registrations => "registrations",
            Table::Authz2 => "authz2",
            Table::Orders => "orders",
            Table::Certificates => "certificates",
            Table::CertificateStatus => "certificateStatus",
            Table::Serials => "serials",
        }
    }
}

#[derive(QueryableByName)]
struct Range {
    #[diesel(sql_type = Nullable<Unsigned<BigInt>>)]
    lo: Option<u64>,
    #[diesel(sql_type = Nullable<Unsigned<BigInt>>)]
    hi: Option<u64>,
}

/// Smallest and largest id of `table` (both read from the primary key's ends), or `None` when
/// the table is empty. The largest id only grows: its growth is the table's insert rate, which
/// `COUNT(*)` could not give cheaply on a production-sized table.
pub fn id_range(
    conn: &mut MysqlConnection,
    bound: Bound,
    table: Table,
) -> QueryResult<Option<(u64, u64)>> {
    let sql = bound.select(&format!(
        "CAST(MIN(id) AS UNSIGNED) AS lo, CAST(MAX(id) AS UNSIGNED) AS hi FROM `{}`",
        table.name()
    ));
    let range: Range = Select::new(sql, &[]).get_result(conn)?;
    Ok(range.lo.zip(range.hi))
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Nullable<Unsigned<BigInt>>)]
    id: Option<u64>,
}

/// How many of the soonest-expiring live authorizations [`authz_live_floor`] looks at.
const SOONEST: u32 = 1000;

/// Where live authorizations start, from `authz2`'s `expires` index: the smallest id among the
/// 1000 unexpired authorizations that expire first (an index-only read of 1000 entries).
/// Lifetimes differ (pending 7 days, valid 30 days or hours, by profile), so the one row that
/// expires next may be young; among the next thousand, the oldest long-lived ones are there.
pub fn authz_live_floor(conn: &mut MysqlConnection, bound: Bound) -> QueryResult<Option<u64>> {
    let sql = bound.select(&format!(
        "CAST(MIN(id) AS UNSIGNED) AS id FROM (SELECT id FROM authz2 \
         WHERE expires > UTC_TIMESTAMP() ORDER BY expires LIMIT {SOONEST}) AS soonest"
    ));
    Ok(Select::new(sql, &[]).get_result::<Id>(conn)?.id)
}

/// How many of the newest certificates tell the longest lifetime [`certificate_live_floor`]
/// assumes.
const NEWEST: u32 = 64;

#[derive(QueryableByName)]
struct Lifetime {
    #[diesel(sql_type = Nullable<Unsigned<BigInt>>)]
    secs: Option<u64>,
}

/// Where live certificates start, from the `issued_idx` index: the first certificate issued
/// less than the longest lifetime among the 64 newest ago (plus an hour, for backdating).
/// Every older certificate has expired, unless it had a longer lifetime than any recent one.
/// Two statements: the lifetime, then the index read with it bound (a subquery in the cut-off
/// would keep the optimizer from using the index range).
pub fn certificate_live_floor(
    conn: &mut MysqlConnection,
    bound: Bound,
) -> QueryResult<Option<u64>> {
    let sql = bound.select(&format!(
        "CAST(MAX(GREATEST(TIMESTAMPDIFF(SECOND, issued, expires), 0)) + 3600 AS UNSIGNED) \
         AS secs FROM (SELECT issued, expires FROM certificates ORDER BY id DESC \
         LIMIT {NEWEST}) AS newest"
    ));
    let Some(lifetime) = Select::new(sql, &[]).get_result::<Lifetime>(conn)?.secs else {
        return Ok(None);
    };
    let sql = bound.select(
        "CAST(id AS UNSIGNED) AS id FROM certificates \
         WHERE issued > UTC_TIMESTAMP() - INTERVAL ? SECOND ORDER BY certificates.issued LIMIT 1",
    );
    Ok(Select::new(sql, &[lifetime])
        .get_result::<Id>(conn)
        .optional()?
        .and_then(|r| r.id))
}

#[derive(QueryableByName)]
struct Probe {
    #[diesel(sql_type = Nullable<Unsigned<BigInt>>)]
    id: Option<u64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    live: Option<i64>,
}

/// Rows a probe of [`order_live_floor`] looks at: an order that expired early (it reused an
/// authorization about to expire) among live ones does not mislead the search.
const PROBE_ROWS: u32 = 8;

/// Where live orders start. `orders` has no index on `expires` alone, but ids grow with time
/// and an order expires a fixed lifetime after it was made (or earlier), so a binary search
/// over the primary key finds the first id after which orders are unexpired, in about
/// log2(rows) point reads. `None` when the newest orders have expired too.
pub fn order_live_floor(
    conn: &mut MysqlConnection,
    bound: Bound,
    lo: u64,
    hi: u64,
) -> QueryResult<Option<u64>> {
    let sql = bound.select(&format!(
        "CAST(MIN(id) AS UNSIGNED) AS id, CAST(MAX(expires > UTC_TIMESTAMP()) AS SIGNED) AS live \
         FROM (SELECT id, expires FROM orders WHERE id >= ? ORDER BY id LIMIT {PROBE_ROWS}) AS w"
    ));
    let mut live_at = |id: u64| -> QueryResult<bool> {
        let probe: Probe = Select::new(sql.clone(), &[id]).get_result(conn)?;
        Ok(probe.id.is_none() || probe.live == Some(1))
    };
    binary_search_floor(lo, hi, &mut live_at)
}

/// The smallest id in `[lo, hi]` at which `live` holds (it is assumed to hold from there on),
/// or `None` when it does not hold at `hi`. `live(x)` is read as "rows from x on are live";
/// past the last row it is true, so an all-expired table ends at `hi + 1`, reported as `None`.
fn binary_search_floor(
    lo: u64,
    hi: u64,
    live: &mut impl FnMut(u64) -> QueryResult<bool>,
) -> QueryResult<Option<u64>> {
    if live(lo)? {
        return Ok(Some(lo));
    }
    // Invariant: not live at `dead`, live at `alive` (hi + 1 stands for "past the end").
    let (mut dead, mut alive) = (lo, hi.saturating_add(1));
    while alive - dead > 1 {
        let mid = dead + (alive - dead) / 2;
        if live(mid)? {
            alive = mid;
        } else {
            dead = mid;
        }
    }
    Ok((alive <= hi).then_some(alive))
}

/// A certificate as stored.
#[derive(Debug, Clone, QueryableByName)]
pub struct CertRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt, column_name = "registrationID")]
    pub registration_id: i64,
    #[diesel(sql_type = Text)]
    pub serial: String,
    #[diesel(sql_type = diesel::sql_types::Blob)]
    pub der: Vec<u8>,
}

/// The first unexpired certificate with an id in `[from, until)`, of an account other than
/// `not_of` when given.
pub fn live_certificate_in(
    conn: &mut MysqlConnection,
    bound: Bound,
    from: u64,
    until: u64,
    not_of: Option<u64>,
) -> QueryResult<Option<CertRow>> {
    let owner = if not_of.is_some() {
        "AND registrationID <> ? "
    } else {
        ""
    };
    let sql = bound.select(&format!(
        "id, registrationID, serial, der FROM certificates WHERE id >= ? AND id < ? \
         AND expires > UTC_TIMESTAMP() {owner}ORDER BY certificates.id LIMIT 1"
    ));
    let ids: Vec<u64> = [from, until].into_iter().chain(not_of).collect();
    Select::new(sql, &ids).get_result(conn).optional()
}

/// An authorization as stored; `status` 0 pending, 1 valid, 2 invalid, 3 deactivated,
/// 4 revoked; `identifier` as stored (a wildcard with its `*.`).
#[derive(Debug, Clone, QueryableByName)]
pub struct AuthzRow {
    #[diesel(sql_type = Unsigned<BigInt>)]
    pub id: u64,
    #[diesel(sql_type = BigInt, column_name = "registrationID")]
    pub registration_id: i64,
    #[diesel(sql_type = Text, column_name = "identifierValue")]
    pub identifier: String,
    #[diesel(sql_type = diesel::sql_types::TinyInt)]
    pub status: i8,
}

/// The first live authorization (pending or valid, unexpired: what Boulder's WFE serves) with
/// an id in `[from, until)`. Expired ones answer 404; invalid, deactivated and revoked ones
/// are not what a GET check should look at.
pub fn live_authz_in(
    conn: &mut MysqlConnection,
    bound: Bound,
    from: u64,
    until: u64,
) -> QueryResult<Option<AuthzRow>> {
    let sql = bound.select(
        "id, registrationID, identifierValue, status FROM authz2 \
         WHERE id >= ? AND id < ? AND status IN (0, 1) AND expires > UTC_TIMESTAMP() \
         ORDER BY authz2.id LIMIT 1",
    );
    Select::new(sql, &[from, until]).get_result(conn).optional()
}

/// An order as stored, with the ids of its authorizations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub id: u64,
    pub registration_id: i64,
    pub authz_ids: Vec<u64>,
}

#[derive(QueryableByName)]
struct StoredOrder {
    #[diesel(sql_type = Unsigned<BigInt>)]
    id: u64,
    #[diesel(sql_type = BigInt, column_name = "registrationID")]
    registration_id: i64,
    #[diesel(sql_type = Nullable<diesel::sql_types::Blob>)]
    authzs: Option<Vec<u8>>,
}

#[derive(QueryableByName)]
struct AuthzId {
    #[diesel(sql_type = Unsigned<BigInt>)]
    id: u64,
}

/// The first unexpired order with an id in `[from, until)`, with its authorizations: from
/// `orders.authzs`, or, for an order whose `authzs` is NULL (or without the column), from
/// `orderToAuthz2` when that table exists, as Boulder's SA read them.
pub fn live_order_in(
    conn: &mut MysqlConnection,
    bound: Bound,
    links: OrderLinks,
    from: u64,
    until: u64,
) -> QueryResult<Option<OrderRow>> {
    let authzs = if links.column {
        "authzs"
    } else {
        "NULL AS authzs"
    };
    let sql = bound.select(&format!(
        "id, registrationID, {authzs} FROM orders \
         WHERE id >= ? AND id < ? AND expires > UTC_TIMESTAMP() ORDER BY orders.id LIMIT 1"
    ));
    let Some(order) = Select::new(sql, &[from, until])
        .get_result::<StoredOrder>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let authz_ids = match order.authzs {
        Some(blob) if !blob.is_empty() => decode_authz_ids(&blob),
        _ => order_authz_ids(conn, bound, links, order.id)?,
    };
    Ok(Some(OrderRow {
        id: order.id,
        registration_id: order.registration_id,
        authz_ids,
    }))
}

/// The authorizations `orderToAuthz2` links to order `id` (none without the table).
pub fn order_authz_ids(
    conn: &mut MysqlConnection,
    bound: Bound,
    links: OrderLinks,
    id: u64,
) -> QueryResult<Vec<u64>> {
    if !links.table {
        return Ok(Vec::new());
    }
    let sql = bound.select(
        "CAST(authzID AS UNSIGNED) AS id FROM orderToAuthz2 WHERE orderID = ? ORDER BY authzID",
    );
    Ok(Select::new(sql, &[id])
        .load::<AuthzId>(conn)?
        .into_iter()
        .map(|a| a.id)
        .collect())
}

/// Decodes the protobuf `Authzs { repeated int64 authzIDs = 1; }`, packed or not. Unknown
/// fields are skipped; a truncated blob yields the ids read before the damage.
pub fn decode_authz_ids(blob: &[u8]) -> Vec<u64> {
    fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *bytes.get(*at)?;
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    let mut ids = Vec::new();
    let mut at = 0;
    while at < blob.len() {
        let Some(key) = varint(blob, &mut at) else {
            break;
        };
        let (field, wire) = (key >> 3, key & 7);
        match (field, wire) {
            (1, 0) => match varint(blob, &mut at) {
                Some(id) => ids.push(id),
                None => break,
            },
            (_, 2) => {
                let Some(len) = varint(blob, &mut at) else {
                    break;
                };
                let end = at.saturating_add(len as usize).min(blob.len());
                if field == 1 {
                    let mut inner = at;
                    while inner < end {
                        match varint(&blob[..end], &mut inner) {
                            Some(id) => ids.push(id),
                            None => break,
                        }
                    }
                }
                at = end;
            }
            (_, 0) => {
                if varint(blob, &mut at).is_none() {
                    break;
                }
            }
            (_, 1) => at += 8,
            (_, 5) => at += 4,
            _ => break,
        }
    }
    ids
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = Integer)]
    #[allow(dead_code)]
    one: i32,
}

/// `SELECT 1`, to tell a live server from a dead one.
pub fn ping(conn: &mut MysqlConnection) -> QueryResult<()> {
    Select::new("SELECT 1 AS one".into(), &[])
        .get_result::<One>(conn)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_packed_and_unpacked_authz_ids() {
        // Packed: field 1, wire type 2, length 4, varints 1, 150 (0x96 0x01), 3.
        assert_eq!(
            decode_authz_ids(&[0x0a, 0x04, 0x01, 0x96, 0x01, 0x03]),
            [1, 150, 3]
        );
        // Unpacked: field 1, wire type 0, one element per key.
        assert_eq!(decode_authz_ids(&[0x08, 0x07, 0x08, 0x09]), [7, 9]);
        // An unknown field 2 (varint) is skipped.
        assert_eq!(decode_authz_ids(&[0x10, 0x05, 0x08, 0x2a]), [42]);
        assert!(decode_authz_ids(&[]).is_empty());
        // Truncated: what was read before the damage.
        assert_eq!(decode_authz_ids(&[0x08, 0x05, 0x08]), [5]);
    }

    #[test]
    fn statements_carry_their_timeout_right_after_select() {
        let sql = Bound::new(Duration::from_millis(1500)).select("1 AS one");
        assert_eq!(
            sql,
            "SELECT /*+ MAX_EXECUTION_TIME(1500) */ /*vt+ QUERY_TIMEOUT_MS=1500 */ 1 AS one"
        );
        assert_eq!(
            Bound::new(Duration::ZERO).timeout(),
            Duration::from_millis(1)
        );
    }

    #[test]
    fn the_floor_is_where_rows_turn_live_in_log_steps() {
        for (lo, hi, first_live) in [
            (1, 1_000_000, 950_001),
            (1, 1_000_000, 1),
            (1, 1_000_000, 1_000_000),
            (500, 500, 500),
            (7, 100, 8),
        ] {
            let mut probes = 0;
            let floor = binary_search_floor(lo, hi, &mut |id| {
                probes += 1;
                Ok(id >= first_live)
            })
            .unwrap();
            assert_eq!(floor, Some(first_live), "{lo}..={hi}");
            assert!(probes <= 22, "{probes} probes");
        }
        // Nothing live: the search runs off the end.
        let floor = binary_search_floor(1, 1000, &mut |id| Ok(id > 1000)).unwrap();
        assert_eq!(floor, None);
    }
}
