//! Optional copy of the CA's state into a MySQL/MariaDB database with Boulder's `boulder_sa`
//! schema (migrations-readonly/: registrations, authz2, orders with the `authzs` protobuf blob,
//! replacementOrders, serials, certificates, certificateStatus, issuedNames, keyHashToSerial,
//! fqdnSets, revokedCertificates, blockedKeys), so tools that read Boulder's database can run
//! against this CA. Memory stays the source of truth: writes go through a
//! bounded queue to one writer thread and never block a request; a full queue drops the write
//! (counted in stats). Ids are the CA's own, continuing after the largest already stored.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::connection::Connection;
use diesel::mysql::MysqlConnection;
use diesel::sql_types::{BigInt, Binary, Integer, Nullable, Text, Unsigned};
use diesel::{QueryableByName, RunQueryDsl};

use crate::cert_rows::{CertRows, Revoked};
use crate::clock::sql;

const QUEUE: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("connecting to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("the database writer stopped")]
    Stopped,
    #[error("the database writer did not catch up in time")]
    Timeout,
}

/// One row change, as Boulder's SA would make it.
#[derive(Debug)]
pub enum Write {
    Account {
        id: u64,
        jwk: String,
        digest: String,
        created: i64,
    },
    AccountStatus {
        id: u64,
        status: &'static str,
    },
    AccountKey {
        id: u64,
        jwk: String,
        digest: String,
    },
    Authz {
        id: u64,
        reg: u64,
        ident: String,
        profile: String,
        expires: i64,
        bits: u8,
        token: [u8; 32],
        created: i64,
    },
    AuthzResult {
        id: u64,
        status: u8,
        expires: i64,
        attempted: u8,
        attempted_at: i64,
        error: Option<String>,
        records: String,
    },
    AuthzStatus {
        id: u64,
        status: u8,
    },
    Order {
        id: u64,
        reg: u64,
        expires: i64,
        created: i64,
        profile: String,
        replaces: String,
        /// The serial of the certificate `replaces` names (replacementOrders).
        replaced_serial: Option<String>,
        authzs: Vec<u64>,
    },
    OrderProcessing {
        id: u64,
    },
    OrderIssued {
        id: u64,
        serial: String,
    },
    OrderError {
        id: u64,
        error: String,
    },
    Certificate {
        reg: u64,
        serial: String,
        digest: String,
        der: Vec<u8>,
        issued: i64,
        not_after: i64,
        issuer_id: i64,
        /// Its names had a certificate before (issuedNames.renewal).
        renewal: bool,
    },
    Revocation {
        serial: String,
        reason: u8,
        at: i64,
        der: std::sync::Arc<Vec<u8>>,
        issuer_id: i64,
        /// Signed by the certificate's own key: the key is blocked.
        by_key: bool,
    },
    /// Answers once every earlier write is done.
    Flush(std::sync::mpsc::Sender<()>),
}

/// The largest ids already stored.
#[derive(Debug, Default, Clone, Copy)]
pub struct Floors {
    pub accounts: u64,
    pub authzs: u64,
    pub orders: u64,
}

pub struct Mirror {
    tx: Option<SyncSender<Write>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(QueryableByName)]
struct Max {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn max_id(conn: &mut MysqlConnection, table: &str) -> Result<u64, MirrorError> {
    let row: Max = diesel::sql_query(format!(
        "SELECT CAST(COALESCE(MAX(id), 0) AS SIGNED) AS n FROM {table}"
    ))
    .get_result(conn)?;
    Ok(u64::try_from(row.n).unwrap_or(0))
}

/// protobuf `Authzs { repeated int64 authzIDs = 1; }`, packed.
pub fn encode_authz_ids(ids: &[u64]) -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut packed = Vec::new();
    for id in ids {
        varint(*id, &mut packed);
    }
    let mut out = vec![0x0a];
    varint(packed.len() as u64, &mut out);
    out.extend(packed);
    out
}

impl Mirror {
    pub fn start(url: &str) -> Result<(Mirror, Floors), MirrorError> {
        let mut conn = MysqlConnection::establish(url)?;
        let floors = Floors {
            accounts: max_id(&mut conn, "registrations")?,
            authzs: max_id(&mut conn, "authz2")?,
            orders: max_id(&mut conn, "orders")?,
        };
        let (tx, rx) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("testca-db".into())
            .spawn(move || writer(conn, rx))
            .map_err(|_| MirrorError::Stopped)?;
        Ok((
            Mirror {
                tx: Some(tx),
                thread: Mutex::new(Some(thread)),
            },
            floors,
        ))
    }

    /// Queues a write; `false` when the queue is full or the writer is gone.
    pub fn send(&self, write: Write) -> bool {
        match &self.tx {
            Some(tx) => match tx.try_send(write) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            },
            None => false,
        }
    }

    /// Waits until every write queued so far is in the database.
    pub fn flush(&self, timeout: Duration) -> Result<(), MirrorError> {
        let (done, wait) = std::sync::mpsc::channel();
        let tx = self.tx.as_ref().ok_or(MirrorError::Stopped)?;
        tx.send(Write::Flush(done))
            .map_err(|_| MirrorError::Stopped)?;
        wait.recv_timeout(timeout).map_err(|_| MirrorError::Timeout)
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.tx.take();
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

fn writer(mut conn: MysqlConnection, rx: Receiver<Write>) {
    for write in rx {
        if let Write::Flush(done) = write {
            let _ = done.send(());
            continue;
        }
        if let Err(e) = apply(&mut conn, write) {
            log::warn!("db mirror write failed: {e}");
        }
    }
}

fn apply(conn: &mut MysqlConnection, write: Write) -> Result<(), MirrorError> {
    use diesel::sql_query as q;
    const ZERO: &str = "0001-01-01 00:00:00";
    match write {
        Write::Account {
            id,
            jwk,
            digest,
            created,
        } => q(
            "INSERT INTO registrations (id, jwk, jwk_sha256, agreement, createdAt, status) \
             VALUES (?, ?, ?, '', ?, 'valid')",
        )
        .bind::<Unsigned<BigInt>, _>(id)
        .bind::<Binary, _>(jwk.into_bytes())
        .bind::<Text, _>(digest)
        .bind::<Text, _>(sql(created))
        .execute(conn),
        Write::AccountStatus { id, status } => {
            q("UPDATE registrations SET status = ? WHERE id = ?")
                .bind::<Text, _>(status)
                .bind::<Unsigned<BigInt>, _>(id)
                .execute(conn)
        }
        Write::AccountKey { id, jwk, digest } => {
            q("UPDATE registrations SET jwk = ?, jwk_sha256 = ? WHERE id = ?")
                .bind::<Binary, _>(jwk.into_bytes())
                .bind::<Text, _>(digest)
                .bind::<Unsigned<BigInt>, _>(id)
                .execute(conn)
        }
        Write::Authz {
            id,
            reg,
            ident,
            profile,
            expires,
            bits,
            token,
            created,
        } => q(
            "INSERT INTO authz2 (id, identifierType, identifierValue, registrationID, \
             certificateProfileName, status, expires, challenges, token, created) \
             VALUES (?, 0, ?, ?, ?, 0, ?, ?, ?, ?)",
        )
        .bind::<Unsigned<BigInt>, _>(id)
        .bind::<Text, _>(ident)
        .bind::<Unsigned<BigInt>, _>(reg)
        .bind::<Nullable<Text>, _>((!profile.is_empty()).then_some(profile))
        .bind::<Text, _>(sql(expires))
        .bind::<Integer, _>(i32::from(bits))
        .bind::<Binary, _>(token.to_vec())
        .bind::<Text, _>(sql(created))
        .execute(conn),
        Write::AuthzResult {
            id,
            status,
            expires,
            attempted,
            attempted_at,
            error,
            records,
        } => q(
            "UPDATE authz2 SET status = ?, expires = ?, attempted = ?, attemptedAt = ?, \
             validationError = ?, validationRecord = ? WHERE id = ?",
        )
        .bind::<Integer, _>(i32::from(status))
        .bind::<Text, _>(sql(expires))
        .bind::<Integer, _>(i32::from(attempted))
        .bind::<Text, _>(sql(attempted_at))
        .bind::<Nullable<Binary>, _>(error.map(String::into_bytes))
        .bind::<Binary, _>(records.into_bytes())
        .bind::<Unsigned<BigInt>, _>(id)
        .execute(conn),
        Write::AuthzStatus { id, status } => q("UPDATE authz2 SET status = ? WHERE id = ?")
            .bind::<Integer, _>(i32::from(status))
            .bind::<Unsigned<BigInt>, _>(id)
            .execute(conn),
        Write::Order {
            id,
            reg,
            expires,
            created,
            profile,
            replaces,
            replaced_serial,
            authzs,
        } => conn.transaction(|conn| {
            q("INSERT INTO orders (id, registrationID, expires, created, \
                 certificateProfileName, replaces, authzs, beganProcessing) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, 0)")
            .bind::<Unsigned<BigInt>, _>(id)
            .bind::<Unsigned<BigInt>, _>(reg)
            .bind::<Text, _>(sql(expires))
            .bind::<Text, _>(sql(created))
            .bind::<Text, _>(profile)
            .bind::<Text, _>(replaces)
            .bind::<Binary, _>(encode_authz_ids(&authzs))
            .execute(conn)?;
            let Some(serial) = replaced_serial else {
                return Ok(0);
            };
            // Boulder keeps one row per replaced serial, pointing at its latest order.
            let updated =
                q("UPDATE replacementOrders SET orderID = ?, orderExpires = ? WHERE serial = ?")
                    .bind::<Unsigned<BigInt>, _>(id)
                    .bind::<Text, _>(sql(expires))
                    .bind::<Text, _>(&serial)
                    .execute(conn)?;
            if updated > 0 {
                return Ok(updated);
            }
            q(
                "INSERT INTO replacementOrders (serial, orderID, orderExpires, replaced) \
               VALUES (?, ?, ?, 0)",
            )
            .bind::<Text, _>(&serial)
            .bind::<Unsigned<BigInt>, _>(id)
            .bind::<Text, _>(sql(expires))
            .execute(conn)
        }),
        Write::OrderProcessing { id } => q("UPDATE orders SET beganProcessing = 1 WHERE id = ?")
            .bind::<Unsigned<BigInt>, _>(id)
            .execute(conn),
        Write::OrderIssued { id, serial } => conn.transaction(|conn| {
            q("UPDATE orders SET certificateSerial = ? WHERE id = ?")
                .bind::<Text, _>(serial)
                .bind::<Unsigned<BigInt>, _>(id)
                .execute(conn)?;
            q("UPDATE replacementOrders SET replaced = 1 WHERE orderID = ?")
                .bind::<Unsigned<BigInt>, _>(id)
                .execute(conn)
        }),
        Write::OrderError { id, error } => q("UPDATE orders SET error = ? WHERE id = ?")
            .bind::<Binary, _>(error.into_bytes())
            .bind::<Unsigned<BigInt>, _>(id)
            .execute(conn),
        Write::Certificate {
            reg,
            serial,
            digest,
            der,
            issued,
            not_after,
            issuer_id,
            renewal,
        } => conn.transaction(|conn| {
            let rows = CertRows::of(&der);
            q("INSERT INTO serials (registrationID, serial, created, expires) VALUES (?, ?, ?, ?)")
                    .bind::<Unsigned<BigInt>, _>(reg)
                    .bind::<Text, _>(&serial)
                    .bind::<Text, _>(sql(issued))
                    .bind::<Text, _>(sql(not_after))
                    .execute(conn)?;
            q(
                "INSERT INTO certificates (registrationID, serial, digest, der, issued, expires) \
                   VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind::<Unsigned<BigInt>, _>(reg)
            .bind::<Text, _>(&serial)
            .bind::<Text, _>(digest)
            .bind::<Binary, _>(der)
            .bind::<Text, _>(sql(issued))
            .bind::<Text, _>(sql(not_after))
            .execute(conn)?;
            q(
                "INSERT INTO certificateStatus (serial, status, ocspLastUpdated, revokedDate, \
                   revokedReason, lastExpirationNagSent, notAfter, isExpired, issuerID) \
                   VALUES (?, 'good', ?, ?, 0, ?, ?, 0, ?)",
            )
            .bind::<Text, _>(&serial)
            .bind::<Text, _>(sql(issued))
            .bind::<Text, _>(ZERO)
            .bind::<Text, _>(ZERO)
            .bind::<Text, _>(sql(not_after))
            .bind::<BigInt, _>(issuer_id)
            .execute(conn)?;
            if let Some(rows) = &rows {
                rows.insert_issued(conn, &serial, renewal)?;
                rows.insert_fqdn_set(conn, &serial)?;
            }
            Ok(0)
        }),
        Write::Revocation {
            serial,
            reason,
            at,
            der,
            issuer_id,
            by_key,
        } => conn.transaction(|conn| {
            q(
                "UPDATE certificateStatus SET status = 'revoked', revokedReason = ?, \
                 revokedDate = ? WHERE serial = ?",
            )
            .bind::<Integer, _>(i32::from(reason))
            .bind::<Text, _>(sql(at))
            .bind::<Text, _>(&serial)
            .execute(conn)?;
            if let Some(rows) = CertRows::of(&der) {
                let revoked = Revoked {
                    serial: &serial,
                    issuer_id,
                    reason,
                    at,
                    by_key,
                };
                rows.record_revocation(conn, revoked)?;
            }
            Ok(0)
        }),
        Write::Flush(_) => Ok(0),
    }?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn authz_blob_is_packed_protobuf() {
        assert_eq!(
            super::encode_authz_ids(&[1, 300]),
            vec![0x0a, 0x03, 0x01, 0xac, 0x02]
        );
    }
}
