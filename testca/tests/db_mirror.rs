//! The optional DB mirror writes what Boulder's SA would, into the fixture schema of
//! migrations-readonly/ (a private MariaDB started with the repository's scripts).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::client::b64;
use common::{block_on, issue, Lab};
use diesel::sql_types::{BigInt, Binary, Integer, Nullable, Text};
use diesel::{Connection, MysqlConnection, QueryableByName, RunQueryDsl};
use serde_json::json;

struct MariaDb {
    dir: tempfile::TempDir,
    port: u16,
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl MariaDb {
    fn start() -> MariaDb {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let db = MariaDb {
            dir: tempfile::tempdir().unwrap(),
            port,
        };
        run(Command::new(scripts().join("mariadb-up"))
            .arg(db.dir.path())
            .arg(port.to_string()));
        run(Command::new(scripts().join("db-fixture"))
            .arg(db.dir.path().join("sock"))
            .arg("boulder_sa")
            .arg("current"));
        db
    }

    fn url(&self) -> String {
        format!("mysql://wec_admin:admin@127.0.0.1:{}/boulder_sa", self.port)
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = Command::new(scripts().join("mariadb-down"))
            .arg(self.dir.path())
            .status();
    }
}

#[derive(QueryableByName)]
struct Reg {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    jwk_sha256: String,
    #[diesel(sql_type = Text)]
    status: String,
}

#[derive(QueryableByName)]
struct Authz {
    #[diesel(sql_type = Text)]
    value: String,
    #[diesel(sql_type = Integer)]
    status: i32,
    #[diesel(sql_type = Integer)]
    challenges: i32,
    #[diesel(sql_type = Nullable<Integer>)]
    attempted: Option<i32>,
}

#[derive(QueryableByName)]
struct OrderRow {
    #[diesel(sql_type = Nullable<Binary>)]
    authzs: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    serial: Option<String>,
    #[diesel(sql_type = Integer)]
    began: i32,
}

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Integer)]
    reason: i32,
}

#[test]
fn issuance_and_revocation_land_in_boulders_tables() {
    let db = MariaDb::start();
    let url = db.url();
    let lab = Lab::start(|c| c.db_url = Some(url.clone()));
    block_on(async {
        let client = lab.client().await;
        let name = lab.name("db");
        let wildcard = format!("*.{}", lab.name("dbw"));
        let issued = issue(&lab, &client, &[&name, &wildcard], "dns-01", json!({})).await;
        let res = client
            .post(
                &client.url("revokeCert"),
                Some(&json!({"certificate": b64(issued.cert.to_der().unwrap()), "reason": 4})),
            )
            .await;
        assert_eq!(res.status, 200);
        lab.ca.db_flush(Duration::from_secs(10)).unwrap();
        let mut conn = MysqlConnection::establish(&url).unwrap();
        let regs: Vec<Reg> = diesel::sql_query("SELECT id, jwk_sha256, status FROM registrations")
            .load(&mut conn)
            .unwrap();
        assert_eq!(regs.len(), 1);
        assert_eq!(
            client.kid.rsplit('/').next().unwrap(),
            regs[0].id.to_string()
        );
        assert_eq!(
            (regs[0].jwk_sha256.len(), regs[0].status.as_str()),
            (44, "valid")
        );
        let authzs: Vec<Authz> = diesel::sql_query(
            "SELECT identifierValue AS value, status, challenges, attempted FROM authz2 ORDER BY identifierValue",
        )
        .load(&mut conn)
        .unwrap();
        let mut expected = vec![(name.clone(), 7), (wildcard.clone(), 2)];
        expected.sort();
        let got: Vec<(String, i32)> = authzs
            .iter()
            .map(|a| (a.value.clone(), a.challenges))
            .collect();
        assert_eq!(got, expected);
        assert!(authzs
            .iter()
            .all(|a| a.status == 1 && a.attempted == Some(1)));
        let order: OrderRow = diesel::sql_query(
            "SELECT authzs, certificateSerial AS serial, beganProcessing AS began FROM orders",
        )
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(order.serial.as_deref(), Some(issued.serial.as_str()));
        assert_eq!(order.began, 1);
        let blob = order.authzs.unwrap();
        assert_eq!((blob[0], blob[1] as usize), (0x0a, blob.len() - 2));
        let status: Status = diesel::sql_query(
            "SELECT status, revokedReason AS reason FROM certificateStatus WHERE serial = ?",
        )
        .bind::<Text, _>(&issued.serial)
        .get_result(&mut conn)
        .unwrap();
        assert_eq!((status.status.as_str(), status.reason), ("revoked", 4));
        let certs: i64 = diesel::sql_query(
            "SELECT COUNT(*) AS id, '' AS jwk_sha256, '' AS status FROM certificates",
        )
        .get_result::<Reg>(&mut conn)
        .unwrap()
        .id;
        assert_eq!(certs, 1);
        assert_eq!(lab.ca.stats().db_writes_dropped, 0);
    });
    drop(lab);
    // A second CA on the same database continues after the ids already there.
    let lab = Lab::start(|c| c.db_url = Some(url.clone()));
    block_on(async {
        let client = lab.client().await;
        assert!(client.kid.ends_with("/2"), "{}", client.kid);
    });
}
