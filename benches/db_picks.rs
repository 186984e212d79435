//! The Db actor's random picks on a fixture with 1,000,000 certificates: query rate and
//! latency (p50/p99). Starts a private MariaDB (scripts/mariadb-up), fills it with MariaDB's
//! sequence engine, then keeps `CONCURRENCY` picks in flight for `SECONDS`.
//! Run: `cargo bench --bench db_picks` (about a minute, mostly the fill). Under `cargo test` (no
//! `--bench` argument) it runs with 10,000 certificates for a second, so it cannot rot.

use std::process::Command;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::Connection;
use hdrhistogram::Histogram;
use wile_e_coyote::db::{dsn, Db, DbSettings, PickAuthz, PickCertificate, PickOrder};

const CONCURRENCY: usize = 8;

fn script(name: &str) -> Command {
    Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/").to_owned() + name)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (certificates, seconds): (u64, u64) = if bench { (1_000_000, 10) } else { (10_000, 1) };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert!(script("mariadb-up")
        .arg(dir.path())
        .arg(port.to_string())
        .status()
        .unwrap()
        .success());
    let _down = Down(dir.path().to_path_buf());
    let sock = dir.path().join("sock");
    assert!(script("db-fixture")
        .arg(&sock)
        .arg("bench")
        .arg("current")
        .status()
        .unwrap()
        .success());

    let (authzs, orders) = (certificates / 5, certificates / 10);
    let filled = Instant::now();
    let admin = format!("mysql://wec_admin:admin@127.0.0.1:{port}/bench");
    let mut conn = diesel::mysql::MysqlConnection::establish(&admin).unwrap();
    // A 400-byte stand-in for a certificate's DER: picks read it like a real one.
    conn.batch_execute(&format!(
        "INSERT INTO certificates (registrationID, serial, digest, der, issued, expires) \
         SELECT seq % 50000, LPAD(HEX(seq), 36, '0'), 'd', RANDOM_BYTES(400), NOW(), NOW() + INTERVAL 90 DAY \
         FROM seq_1_to_{certificates};\n\
         INSERT INTO authz2 (identifierType, identifierValue, registrationID, status, expires, challenges, token) \
         SELECT 0, CONCAT('n', seq, '.wile.test'), seq % 50000, seq % 5, NOW() + INTERVAL (CAST(seq % 3 AS SIGNED) - 1) DAY, 1, RANDOM_BYTES(32) \
         FROM seq_1_to_{authzs};\n\
         INSERT INTO orders (registrationID, expires, created, authzs) \
         SELECT seq % 50000, NOW() + INTERVAL (CAST(seq % 2 AS SIGNED) * 2 - 1) DAY, NOW(), X'0a020102' FROM seq_1_to_{orders};"
    ))
    .unwrap();
    println!(
        "fixture: {certificates} certificates, {authzs} authorizations, {orders} orders in {:.0?}",
        filled.elapsed()
    );

    let url = dsn::to_url(&format!("wec_ro:readonly@tcp(127.0.0.1:{port})/bench")).unwrap();
    actix_rt::System::new().block_on(async move {
        let settings = DbSettings {
            threads: CONCURRENCY,
            pool_size: CONCURRENCY as u32,
            connect_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(2),
        };
        let db = Db::start(&url, &settings).unwrap();
        for what in ["certificate", "authorization", "order"] {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut picks = 0u64;
            while Instant::now() < deadline {
                let batch: Vec<_> = (0..CONCURRENCY)
                    .map(|_| {
                        let db = db.clone();
                        async move {
                            let started = Instant::now();
                            let ok = match what {
                                "certificate" => db.send(PickCertificate).await.unwrap().is_ok(),
                                "authorization" => db.send(PickAuthz).await.unwrap().is_ok(),
                                _ => db.send(PickOrder).await.unwrap().is_ok(),
                            };
                            assert!(ok, "a {what} pick failed");
                            started.elapsed()
                        }
                    })
                    .collect();
                for took in futures_util::future::join_all(batch).await {
                    latency.saturating_record(took.as_micros() as u64);
                    picks += 1;
                }
            }
            println!(
                "{what} picks: {:.0}/s with {CONCURRENCY} in flight; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({picks} picks)",
                picks as f64 / seconds as f64,
                latency.value_at_quantile(0.5) as f64 / 1000.0,
                latency.value_at_quantile(0.99) as f64 / 1000.0,
                latency.max() as f64 / 1000.0
            );
        }
    });
}

/// Stops the private MariaDB however the bench ends.
struct Down(std::path::PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = script("mariadb-down").arg(&self.0).status();
    }
}
