//! The read-only queries, as plain functions over a connection. Random rows are picked by
//! primary-key range (`id >= random ORDER BY id LIMIT 1`), never `ORDER BY RAND()`, which
//! would sort a production-sized table for every pick.

use diesel::connection::SimpleConnection;
use diesel::dsl::now;
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Unsigned};

use super::schema::{authz2, certificate_status, certificates, order_to_authz2, orders};

/// How orders point to their authorizations in the database at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// `orders.authzs`, a protobuf list (current Boulder).
    Blob,
    /// The `orderToAuthz2` table (older Boulder).
    Table,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Which link this database uses, from `information_schema`.
pub fn detect_link(conn: &mut MysqlConnection) -> QueryResult<Option<Link>> {
    let found = |conn: &mut MysqlConnection, sql: &str| -> QueryResult<bool> {
        Ok(diesel::sql_query(sql).get_result::<Count>(conn)?.n > 0)
    };
    if found(
        conn,
        "SELECT COUNT(*) AS n FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orders' AND COLUMN_NAME = 'authzs'",
    )? {
        return Ok(Some(Link::Blob));
    }
    if found(
        conn,
        "SELECT COUNT(*) AS n FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orderToAuthz2'",
    )? {
        return Ok(Some(Link::Table));
    }
    Ok(None)
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
    #[diesel(sql_type = diesel::sql_types::Nullable<Unsigned<BigInt>>)]
    lo: Option<u64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Unsigned<BigInt>>)]
    hi: Option<u64>,
}

/// Smallest and largest id of `table` (both read from the primary key's ends), or `None` when
/// the table is empty. The largest id only grows: its growth is the table's insert rate, which
/// `COUNT(*)` could not give cheaply on a production-sized table.
pub fn id_range(conn: &mut MysqlConnection, table: Table) -> QueryResult<Option<(u64, u64)>> {
    let sql = format!(
        "SELECT CAST(MIN(id) AS UNSIGNED) AS lo, CAST(MAX(id) AS UNSIGNED) AS hi FROM `{}`",
        table.name()
    );
    let range: Range = diesel::sql_query(sql).get_result(conn)?;
    Ok(range.lo.zip(range.hi))
}

/// A certificate as stored.
#[derive(Debug, Clone, Queryable)]
pub struct CertRow {
    pub id: i64,
    pub registration_id: i64,
    pub serial: String,
    pub der: Vec<u8>,
}

/// The first certificate with `id >= from`.
pub fn certificate_from(conn: &mut MysqlConnection, from: u64) -> QueryResult<Option<CertRow>> {
    use certificates::dsl as c;
    c::certificates
        .filter(c::id.ge(from as i64))
        .order(c::id.asc())
        .select((c::id, c::registration_id, c::serial, c::der))
        .first(conn)
        .optional()
}

/// An authorization as stored; `status` 0 pending, 1 valid, 2 invalid, 3 deactivated,
/// 4 revoked.
#[derive(Debug, Clone, Queryable)]
pub struct AuthzRow {
    pub id: u64,
    pub registration_id: i64,
    pub identifier: String,
    pub status: i8,
}

/// The first live (pending or valid, unexpired) authorization with `id >= from`.
pub fn live_authz_from(conn: &mut MysqlConnection, from: u64) -> QueryResult<Option<AuthzRow>> {
    use authz2::dsl as a;
    a::authz2
        .filter(a::id.ge(from))
        .filter(a::status.le(1))
        .filter(a::expires.gt(now))
        .order(a::id.asc())
        .select((a::id, a::registration_id, a::identifier_value, a::status))
        .first(conn)
        .optional()
}

/// An order as stored, with the ids of its authorizations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub id: u64,
    pub registration_id: i64,
    pub authz_ids: Vec<u64>,
}

/// The first unexpired order with `id >= from`, its authorizations read through `link`.
pub fn live_order_from(
    conn: &mut MysqlConnection,
    from: u64,
    link: Link,
) -> QueryResult<Option<OrderRow>> {
    use orders::dsl as o;
    let live = o::orders
        .filter(o::id.ge(from))
        .filter(o::expires.gt(now))
        .order(o::id.asc());
    match link {
        Link::Blob => {
            let row: Option<(u64, i64, Option<Vec<u8>>)> = live
                .select((o::id, o::registration_id, o::authzs))
                .first(conn)
                .optional()?;
            Ok(row.map(|(id, registration_id, blob)| OrderRow {
                id,
                registration_id,
                authz_ids: blob.map(|b| decode_authz_ids(&b)).unwrap_or_default(),
            }))
        }
        Link::Table => {
            let row: Option<(u64, i64)> = live
                .select((o::id, o::registration_id))
                .first(conn)
                .optional()?;
            let Some((id, registration_id)) = row else {
                return Ok(None);
            };
            use order_to_authz2::dsl as l;
            let authz_ids = l::order_to_authz2
                .filter(l::order_id.eq(id as i64))
                .order(l::authz_id.asc())
                .select(l::authz_id)
                .load(conn)?;
            Ok(Some(OrderRow {
                id,
                registration_id,
                authz_ids,
            }))
        }
    }
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

/// What the database holds for a serial: the certificate and its status row, each if present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCert {
    pub der: Option<Vec<u8>>,
    /// `good` or `revoked`, with the reason code.
    pub status: Option<(String, i32)>,
}

/// Looks a certificate up under any of `serials` (spellings of one serial).
pub fn stored_certificate(
    conn: &mut MysqlConnection,
    serials: &[String],
) -> QueryResult<StoredCert> {
    use certificate_status::dsl as s;
    use certificates::dsl as c;
    let der = c::certificates
        .filter(c::serial.eq_any(serials))
        .select(c::der)
        .first(conn)
        .optional()?;
    let status = s::certificate_status
        .filter(s::serial.eq_any(serials))
        .select((s::status, s::revoked_reason))
        .first(conn)
        .optional()?;
    Ok(StoredCert { der, status })
}

/// `SELECT 1`, to tell a live server from a dead one.
pub fn ping(conn: &mut MysqlConnection) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
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
}
