//! What Boulder's database holds for a consistency [`Claim`]: the Db actor reads every row the
//! claim's checks need, each through an index Boulder has (serial, reversed name, key hash, set
//! hash, primary key; `revokedCertificates` by its issuer/shard/hour index), so a check costs a
//! few point reads whatever the size of the tables. Every statement carries the per-statement
//! timeout hints of [`Bound::select`].

use actix::prelude::*;
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, Text, Unsigned};

use super::consistency::{Claim, Facts, Observed};
use super::queries::Bound;
use super::{Db, DbError};

/// Reads what the database holds for `claim` (with its certificate's `facts`).
#[derive(Debug, Message)]
#[rtype(result = "Result<Observed, DbError>")]
pub struct Observe {
    pub claim: Claim,
    pub facts: Option<Facts>,
}

impl Handler<Observe> for Db {
    type Result = Result<Observed, DbError>;

    fn handle(&mut self, msg: Observe, _: &mut SyncContext<Self>) -> Self::Result {
        let bound = self.bound;
        self.with_conn(|conn| observe(conn, bound, &msg.claim, msg.facts.as_ref()))
    }
}

/// Whether account `account` holds valid, unexpired authorizations for every one of `names`
/// (RFC 8555 §7.6: it may then revoke any certificate for them, as Boulder lets it).
#[derive(Debug, Message)]
#[rtype(result = "Result<bool, DbError>")]
pub struct Controls {
    pub account: i64,
    pub names: Vec<String>,
}

impl Handler<Controls> for Db {
    type Result = Result<bool, DbError>;

    fn handle(&mut self, msg: Controls, _: &mut SyncContext<Self>) -> Self::Result {
        let bound = self.bound;
        self.with_conn(|conn| {
            for name in &msg.names {
                let found = diesel::sql_query(bound.select(
                    "COUNT(*) AS n FROM authz2 WHERE registrationID = ? \
                     AND identifierType = 0 AND identifierValue = ? AND status = 1 \
                     AND expires > UTC_TIMESTAMP()",
                ))
                .bind::<BigInt, _>(msg.account)
                .bind::<Text, _>(name)
                .get_result::<Found>(conn)?;
                if found.n == 0 {
                    return Ok(false);
                }
            }
            Ok(!msg.names.is_empty())
        })
    }
}

#[derive(QueryableByName)]
struct Der {
    #[diesel(sql_type = Binary)]
    der: Vec<u8>,
}

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    reason: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    issuer: Option<i64>,
}

#[derive(QueryableByName)]
struct IssuedName {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    renewal: i64,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct OrderSerial {
    #[diesel(sql_type = Nullable<Text>)]
    serial: Option<String>,
}

#[derive(QueryableByName)]
struct Replacement {
    #[diesel(sql_type = BigInt)]
    order_id: i64,
    #[diesel(sql_type = BigInt)]
    replaced: i64,
}

#[derive(QueryableByName)]
struct Reason {
    #[diesel(sql_type = BigInt)]
    reason: i64,
}

#[derive(QueryableByName)]
struct Registration {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Text)]
    status: String,
}

#[derive(QueryableByName)]
struct AuthzStatus {
    #[diesel(sql_type = BigInt)]
    status: i64,
}

fn observe(
    conn: &mut MysqlConnection,
    bound: Bound,
    claim: &Claim,
    facts: Option<&Facts>,
) -> QueryResult<Observed> {
    let mut seen = Observed::default();
    match claim {
        Claim::Issued {
            order, replaces, ..
        } => {
            let Some(facts) = facts else {
                return Ok(seen);
            };
            certificate(conn, bound, facts, &mut seen)?;
            seen.issued_names = issued_names(conn, bound, facts)?;
            seen.key_hash = exists(
                conn,
                &bound.select(
                    "COUNT(*) AS n FROM keyHashToSerial WHERE keyHash = ? \
                     AND certSerial IN (?, ?)",
                ),
                &facts.key_hash,
                facts,
            )?;
            seen.fqdn_set = exists(
                conn,
                &bound.select("COUNT(*) AS n FROM fqdnSets WHERE setHash = ? AND serial IN (?, ?)"),
                &facts.set_hash,
                facts,
            )?;
            if let Some(order) = order {
                seen.order_serial = diesel::sql_query(
                    bound.select("certificateSerial AS serial FROM orders WHERE id = ?"),
                )
                .bind::<Unsigned<BigInt>, _>(*order)
                .get_result::<OrderSerial>(conn)
                .optional()?
                .map(|o| o.serial);
            }
            if let Some(replaced) = replaces {
                let spellings = super::consistency::serial_spellings(&hex_bytes(replaced));
                seen.replacement = diesel::sql_query(bound.select(
                    "orderID AS order_id, CAST(COALESCE(replaced, 0) AS SIGNED) AS replaced \
                     FROM replacementOrders \
                     WHERE serial IN (?, ?) LIMIT 1",
                ))
                .bind::<Text, _>(&spellings[0])
                .bind::<Text, _>(&spellings[1])
                .get_result::<Replacement>(conn)
                .optional()?
                .map(|r| (r.order_id, r.replaced != 0));
            }
        }
        Claim::Revoked { by_key, .. } => {
            let Some(facts) = facts else {
                return Ok(seen);
            };
            let issuer = certificate(conn, bound, facts, &mut seen)?;
            if let (Some((shard, hour)), Some(issuer)) = (&facts.crl_shard, issuer) {
                seen.revoked_reason = diesel::sql_query(bound.select(
                    "CAST(revokedReason AS SIGNED) AS reason FROM revokedCertificates \
                     WHERE issuerID = ? AND shardIdx = ? AND notAfterHour = ? \
                     AND serial IN (?, ?) LIMIT 1",
                ))
                .bind::<BigInt, _>(issuer)
                .bind::<BigInt, _>(*shard)
                .bind::<Text, _>(hour)
                .bind::<Text, _>(&facts.serials[0])
                .bind::<Text, _>(&facts.serials[1])
                .get_result::<Reason>(conn)
                .optional()?
                .and_then(|r| i32::try_from(r.reason).ok());
            }
            if *by_key {
                seen.blocked_key = diesel::sql_query(
                    bound.select("COUNT(*) AS n FROM blockedKeys WHERE keyHash = ?"),
                )
                .bind::<Binary, _>(&facts.key_hash)
                .get_result::<Found>(conn)?
                .n > 0;
            }
        }
        Claim::AccountKey { account, .. } | Claim::AccountDeactivated { account } => {
            seen.account = diesel::sql_query(
                bound.select("jwk_sha256 AS `key`, status FROM registrations WHERE id = ?"),
            )
            .bind::<BigInt, _>(*account)
            .get_result::<Registration>(conn)
            .optional()?
            .map(|r| (r.key, r.status));
        }
        Claim::AuthzDeactivated { authz } => {
            seen.authz_status = diesel::sql_query(
                bound.select("CAST(status AS SIGNED) AS status FROM authz2 WHERE id = ?"),
            )
            .bind::<Unsigned<BigInt>, _>(*authz)
            .get_result::<AuthzStatus>(conn)
            .optional()?
            .and_then(|a| i32::try_from(a.status).ok());
        }
    }
    Ok(seen)
}

/// The `certificates` and `certificateStatus` rows of the serial; the status row's issuer id.
fn certificate(
    conn: &mut MysqlConnection,
    bound: Bound,
    facts: &Facts,
    seen: &mut Observed,
) -> QueryResult<Option<i64>> {
    seen.der =
        diesel::sql_query(bound.select("der FROM certificates WHERE serial IN (?, ?) LIMIT 1"))
            .bind::<Text, _>(&facts.serials[0])
            .bind::<Text, _>(&facts.serials[1])
            .get_result::<Der>(conn)
            .optional()?
            .map(|d| d.der);
    let status = diesel::sql_query(bound.select(
        "status, CAST(revokedReason AS SIGNED) AS reason, issuerID AS issuer \
         FROM certificateStatus \
         WHERE serial IN (?, ?) LIMIT 1",
    ))
    .bind::<Text, _>(&facts.serials[0])
    .bind::<Text, _>(&facts.serials[1])
    .get_result::<Status>(conn)
    .optional()?;
    let issuer = status.as_ref().and_then(|s| s.issuer);
    seen.status = status.map(|s| (s.status, i32::try_from(s.reason).unwrap_or(-1)));
    Ok(issuer)
}

/// `issuedNames` rows of the serial for the certificate's names (at most 100 names: the
/// reversed-name index answers each).
fn issued_names(
    conn: &mut MysqlConnection,
    bound: Bound,
    facts: &Facts,
) -> QueryResult<Vec<(String, bool)>> {
    let mut found = Vec::new();
    for name in &facts.reversed_names {
        let rows: Vec<IssuedName> = diesel::sql_query(bound.select(
            "reversedName AS name, CAST(renewal AS SIGNED) AS renewal FROM issuedNames \
             WHERE reversedName = ? AND serial IN (?, ?)",
        ))
        .bind::<Text, _>(name)
        .bind::<Text, _>(&facts.serials[0])
        .bind::<Text, _>(&facts.serials[1])
        .load(conn)?;
        found.extend(rows.into_iter().map(|r| (r.name, r.renewal != 0)));
    }
    Ok(found)
}

/// Whether `sql` (one binary parameter, then the two serial spellings) counts a row.
fn exists(conn: &mut MysqlConnection, sql: &str, key: &[u8], facts: &Facts) -> QueryResult<bool> {
    Ok(diesel::sql_query(sql)
        .bind::<Binary, _>(key)
        .bind::<Text, _>(&facts.serials[0])
        .bind::<Text, _>(&facts.serials[1])
        .get_result::<Found>(conn)?
        .n
        > 0)
}

/// The bytes of a hex serial (an odd length gets a leading zero).
fn hex_bytes(hex: &str) -> Vec<u8> {
    let padded = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex.to_owned()
    };
    (0..padded.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&padded[i..i + 2], 16).ok())
        .collect()
}
