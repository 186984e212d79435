//! A private MariaDB per test (`scripts/mariadb-up` on a free port), with fixture databases
//! built from `migrations-readonly/` by `scripts/db-fixture`, and an admin connection to seed
//! them. The tool under test connects as `wec_ro` (SELECT only) or, to prove its sessions are
//! read-only by themselves, as the privileged `wec_admin`.

use std::path::PathBuf;
use std::process::Command;

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::Connection;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use wile_e_coyote::test_support::{Spec, Until};

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

    /// Creates database `name` from migrations-readonly/, `form` `current`, `next`,
    /// `migration` (orders.authzs and orderToAuthz2) or `legacy` (orderToAuthz2 only).
    pub fn fixture(&self, name: &str, form: &str) {
        run(script("db-fixture").arg(self.socket()).arg(name).arg(form));
    }

    /// [`MariaDb::fixture`] filled by `scripts/db-fixture` with production-shaped rows: `rows`
    /// certificates and authorizations, `rows / 2` orders, ids growing with time behind a
    /// long expired prefix (see the script).
    pub fn production_fixture(&self, name: &str, form: &str, rows: u64) {
        run(script("db-fixture")
            .arg(self.socket())
            .arg(name)
            .arg(form)
            .arg(rows.to_string()));
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

/// The fixture's issuing CA, made once: its key identifier goes into every leaf's Authority Key
/// Identifier, as in Boulder's certificates (ARI's certID needs it).
fn issuer() -> &'static (X509, PKey<Private>) {
    static ISSUER: std::sync::OnceLock<(X509, PKey<Private>)> = std::sync::OnceLock::new();
    ISSUER.get_or_init(|| {
        Spec {
            cn: "fixture issuer",
            serial_hex: Some("1"),
            until: Until::Days(30),
            key_ids: true,
            ..Spec::default()
        }
        .make()
    })
}

/// A small real certificate whose serial is `serial`, from the fixture's issuer.
pub fn certificate(serial: u32) -> X509 {
    let (ca, ca_key) = issuer();
    Spec {
        cn: &format!("n{serial}.wile.test"),
        serial_hex: Some(&format!("{serial:x}")),
        until: Until::Days(7),
        issuer: Some((ca, ca_key)),
        key_ids: true,
        ..Spec::default()
    }
    .make()
    .0
}

pub fn hex36(serial: u32) -> String {
    format!("{serial:036x}")
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Protobuf `Authzs { repeated int64 authzIDs = 1; }`, packed, as current Boulder writes it.
fn authzs_blob(ids: &[u64]) -> String {
    let mut payload = Vec::new();
    for &id in ids {
        let mut v = id;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                payload.push(byte);
                break;
            }
            payload.push(byte | 0x80);
        }
    }
    let mut blob = vec![0x0a, payload.len() as u8];
    blob.extend(payload);
    format!("X'{}'", hex_of(&blob))
}

/// Whether the seeded order `id` is unexpired: an even id whose authorizations are unexpired.
pub fn live_order(id: u64) -> bool {
    id % 2 == 0 && (2 * id) % 3 != 0 && (2 * id + 1) % 3 != 0
}

/// Whether the seeded order `id` has a NULL `authzs` in the `migration` form (its links are in
/// orderToAuthz2 only, as for orders Boulder wrote before the column existed).
pub fn null_authzs(id: u64) -> bool {
    id % 4 == 0
}

/// Seeds `db`: 40 certificates (ids 1..=40, serial = id) with status rows, 30 authorizations of
/// which ids divisible by 3 are expired, by 5 invalid, and those of ids 1 mod 4 wildcards
/// (stored with their `*.`, as Boulder stores them), 12 orders of account 200 + id, each linked
/// to authorizations 2·id and 2·id+1 (of the same account) through `form` (`migration`:
/// through `authzs`, or orderToAuthz2 where [`null_authzs`]); an order expires with its first
/// authorization, as in Boulder, and odd ids are expired anyway. Times are UTC, as Boulder's.
pub fn seed(maria: &MariaDb, db: &str, form: &str) {
    let mut sql = String::new();
    for id in 1..=40u32 {
        let der = hex_of(&certificate(id).to_der().unwrap());
        sql += &format!(
            "INSERT INTO registrations (id, jwk, jwk_sha256, agreement, createdAt) VALUES ({id}, '{{}}', 'k{id}', '', UTC_TIMESTAMP());\n\
             INSERT INTO certificates (id, registrationID, serial, digest, der, issued, expires) \
             VALUES ({id}, {id}, '{}', 'd', X'{der}', UTC_TIMESTAMP(), UTC_TIMESTAMP() + INTERVAL 7 DAY);\n\
             INSERT INTO certificateStatus (serial, status, ocspLastUpdated, revokedDate, revokedReason, lastExpirationNagSent) \
             VALUES ('{}', 'good', UTC_TIMESTAMP(), '1970-01-01', 0, '1970-01-01');\n",
            hex36(id),
            hex36(id)
        );
    }
    for id in 1..=30u32 {
        let expires = if id % 3 == 0 {
            "UTC_TIMESTAMP() - INTERVAL 1 DAY"
        } else {
            "UTC_TIMESTAMP() + INTERVAL 7 DAY"
        };
        let status = if id % 5 == 0 { 2 } else { id % 2 };
        let wildcard = if id % 4 == 1 { "*." } else { "" };
        sql += &format!(
            "INSERT INTO authz2 (id, identifierType, identifierValue, registrationID, status, expires, challenges, token) \
             VALUES ({id}, 0, '{wildcard}a{id}.wile.test', {}, {status}, {expires}, 1, UNHEX(SHA2('{id}', 256)));\n",
            200 + id / 2
        );
    }
    for id in 1..=12u64 {
        let expires = if !live_order(id) {
            "UTC_TIMESTAMP() - INTERVAL 1 DAY"
        } else {
            "UTC_TIMESTAMP() + INTERVAL 7 DAY"
        };
        let authzs = [2 * id, 2 * id + 1];
        let in_table = match form {
            "current" | "next" => false,
            "migration" => null_authzs(id),
            _ => true,
        };
        if in_table {
            let column = if form == "legacy" { "" } else { ", authzs" };
            let null = if form == "legacy" { "" } else { ", NULL" };
            sql += &format!(
                "INSERT INTO orders (id, registrationID, expires, created{column}) VALUES ({id}, {}, {expires}, UTC_TIMESTAMP(){null});\n",
                200 + id
            );
            for a in authzs {
                sql +=
                    &format!("INSERT INTO orderToAuthz2 (orderID, authzID) VALUES ({id}, {a});\n");
            }
        } else {
            sql += &format!(
                "INSERT INTO orders (id, registrationID, expires, created, authzs) VALUES ({id}, {}, {expires}, UTC_TIMESTAMP(), {});\n",
                200 + id,
                authzs_blob(&authzs)
            );
        }
    }
    maria.exec(db, &sql);
}
