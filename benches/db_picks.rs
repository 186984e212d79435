//! The Db actor's random picks on a production-shaped fixture: 10,000,000 certificates,
//! 10,000,000 authorizations and 5,000,000 orders (scripts/db-fixture: ids growing with time,
//! about 95% of each table expired before its live rows start, NULL `authzs` on 1 order in 10).
//! For each kind and number of picks in flight (after a warm-up as long as the measurement) it
//! prints picks/s, p50/p99/max latency, the first pick's (it reads the live range), how many
//! picked rows were expired or dead (checked against the database), and where the picks fell:
//! ten equal slices of the live range, which should hold about a tenth each. The target is
//! p99 < 5 ms.
//!
//! Run: `cargo bench --bench db_picks`. It starts a private MariaDB (scripts/mariadb-up, 2 GB
//! buffer pool) in a temporary directory and fills it first, which takes a while (see
//! docs/database.md) and needs about 25 GB of disk. `WEC_DB_PICKS_ROWS` changes the size;
//! `WEC_DB_PICKS_DIR` keeps the server's data there and reuses a fixture of that size made
//! less than a day ago (a day-old one has aged: its orders expire within the week).
//!
//! Under `cargo test` (no `--bench` argument) it runs on 20,000 rows for half a second per
//! case (and on to at least 1,000 picks, at most 30 s) and asserts what the full run prints:
//! no expired or dead row picked, picks spread over the whole live range, so the benchmark
//! cannot rot.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use hdrhistogram::Histogram;
use wile_e_coyote::db::{dsn, Db, DbSettings, PickAuthz, PickCertificate, PickOrder};

const DB: &str = "picks";

fn script(name: &str) -> Command {
    Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scripts")
            .join(name),
    )
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap();
    assert!(status.success(), "{cmd:?}: {status}");
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn number(conn: &mut MysqlConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
}

#[derive(QueryableByName)]
struct Now {
    #[diesel(sql_type = diesel::sql_types::Text)]
    now: String,
}

/// The server's UTC time now, as an SQL literal.
fn utc_now(conn: &mut MysqlConnection) -> String {
    let sql = "SELECT DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s') AS now";
    format!(
        "'{}'",
        diesel::sql_query(sql).get_result::<Now>(conn).unwrap().now
    )
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Certificate,
    Authorization,
    Order,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Certificate => "certificates",
            Kind::Authorization => "authz2",
            Kind::Order => "orders",
        }
    }

    /// What a pick made at `now` (an SQL expression) may return, as SQL.
    fn live(self, now: &str) -> String {
        match self {
            Kind::Authorization => format!("expires > {now} AND status IN (0, 1)"),
            _ => format!("expires > {now}"),
        }
    }
}

/// Stops the private MariaDB however the bench ends.
struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = script("mariadb-down").arg(&self.0).status();
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rows: u64 = std::env::var("WEC_DB_PICKS_ROWS")
        .ok()
        .map(|v| v.parse().expect("WEC_DB_PICKS_ROWS: a number"))
        .unwrap_or(if bench { 10_000_000 } else { 20_000 });
    let per_case = if bench {
        Duration::from_secs(10)
    } else {
        Duration::from_millis(500)
    };
    let kept = std::env::var_os("WEC_DB_PICKS_DIR").map(PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    run(script("mariadb-up")
        .arg(&dir)
        .arg(port.to_string())
        .env("WEC_MARIADB_BUFFER_POOL", if bench { "2G" } else { "64M" }));
    let _down = Down(dir.clone());

    // A fixture of this size made less than a day ago is reused (WEC_DB_PICKS_DIR only).
    let stamp = dir.join(format!("{DB}-{rows}.made"));
    let fresh = kept.is_some()
        && std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(86_400));
    if fresh {
        println!("fixture: reusing {rows} rows in {}", dir.display());
    } else {
        let _ = std::fs::remove_file(&stamp);
        let filled = Instant::now();
        run(script("db-fixture")
            .arg(dir.join("sock"))
            .arg(DB)
            .arg("migration")
            .arg(rows.to_string()));
        std::fs::write(&stamp, b"").unwrap();
        println!(
            "fixture: {rows} certificates and authorizations, {} orders, loaded in {:.0?}",
            rows / 2,
            filled.elapsed()
        );
    }

    let admin_url = format!("mysql://wec_admin:admin@127.0.0.1:{port}/{DB}");
    let mut admin = MysqlConnection::establish(&admin_url).unwrap();
    admin
        .batch_execute("SET SESSION max_statement_time = 0")
        .unwrap();
    // The live range of each kind as the database has it, for the checks: a scan, done before
    // any measurement.
    let kinds = [Kind::Certificate, Kind::Authorization, Kind::Order];
    let scanned = Instant::now();
    let ranges: Vec<(u64, u64)> = kinds
        .iter()
        .map(|kind| {
            let table = kind.table();
            let lo = number(
                &mut admin,
                &format!(
                    "SELECT CAST(MIN(id) AS SIGNED) AS n FROM {table} WHERE {}",
                    kind.live("UTC_TIMESTAMP()")
                ),
            ) as u64;
            let hi = number(
                &mut admin,
                &format!("SELECT CAST(MAX(id) AS SIGNED) AS n FROM {table}"),
            ) as u64;
            (lo, hi)
        })
        .collect();
    println!("live ranges read by scanning in {:.0?}", scanned.elapsed());
    let url = dsn::to_url(&format!("wec_ro:readonly@tcp(127.0.0.1:{port})/{DB}")).unwrap();
    let system = actix_rt::System::new();
    let mut failed = Vec::new();
    for in_flight in [1usize, 4] {
        let settings = DbSettings {
            threads: in_flight,
            pool_size: in_flight as u32,
            connect_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(2),
        };
        let db = Db::start(&url, &settings).unwrap();
        for (&kind, &(lo, hi)) in kinds.iter().zip(&ranges) {
            // A warm-up as long as a case: the buffer pool gets what a running CA's would hold.
            // Its first pick reads the live range (re-read every 10 s after).
            let first = system
                .block_on(measure(db.clone(), kind, in_flight, per_case))
                .first;
            // Rows expire as the run goes: a row is checked against when the picks started.
            let started = utc_now(&mut admin);
            let Picks {
                latency, took, ids, ..
            } = system.block_on(measure(db.clone(), kind, in_flight, per_case));
            let table = kind.table();
            let picks = latency.len();
            let sample: Vec<u64> = ids
                .iter()
                .step_by((ids.len() / 2000).max(1))
                .copied()
                .collect();
            let list = sample
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let live = number(
                &mut admin,
                &format!(
                    "SELECT COUNT(*) AS n FROM {table} WHERE id IN ({list}) AND {}",
                    kind.live(&started)
                ),
            ) as usize;
            // Ids repeat in the sample when picks hit the same row: count distinct ones.
            let mut distinct = sample.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let dead = distinct.len() - live;
            let mut slices = [0u64; 10];
            let mut outside = 0;
            for &id in &ids {
                if id < lo || id > hi {
                    outside += 1;
                } else {
                    slices[(((id - lo) * 10) / (hi - lo + 1)) as usize] += 1;
                }
            }
            println!(
                "{kind:?} picks, {in_flight} in flight: {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, \
                 max {:.2} ms; a pick that reads the live range {:.2} ms ({picks} picks)",
                picks as f64 / took.as_secs_f64(),
                ms(latency.value_at_quantile(0.5)),
                ms(latency.value_at_quantile(0.99)),
                ms(latency.max()),
                first.as_secs_f64() * 1000.0,
            );
            println!(
                "  live range {lo}..={hi} ({:.1}% of the table expired before it); picked ids by \
                 tenth of it: {slices:?}; outside it: {outside}; expired or dead: {dead} of {} \
                 distinct checked",
                (lo - 1) as f64 * 100.0 / hi as f64,
                distinct.len()
            );
            let share = ids.len() as u64 / 10;
            if dead > 0 {
                failed.push(format!("{kind:?}: {dead} expired or dead rows picked"));
            }
            if ids.len() < MIN_PICKS {
                failed.push(format!(
                    "{kind:?}: only {} picks in {:?}, too few to judge their spread",
                    ids.len(),
                    MAX_CASE
                ));
            } else if outside > 0 || slices.iter().any(|&n| n * 3 < share) {
                failed.push(format!(
                    "{kind:?}: picks not spread over the live range: {slices:?}, {outside} outside"
                ));
            }
            if bench && ms(latency.value_at_quantile(0.99)) >= 5.0 {
                failed.push(format!("{kind:?}, {in_flight} in flight: p99 ≥ 5 ms"));
            }
        }
    }
    if bench {
        if failed.is_empty() {
            println!("all cases: no expired row picked, spread over the live range, p99 < 5 ms");
        } else {
            println!("NOT MET: {failed:?}");
        }
    } else {
        assert!(failed.is_empty(), "{failed:?}");
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// Picks enough for the spread check: with 1,000 picks a tenth expects 100, and one holding
/// under a third of that (the check) is seven standard deviations off. (Bounded only by time,
/// a loaded machine made 60 picks, and a tenth holding one of them was a 1-in-8 chance.)
const MIN_PICKS: usize = 1000;

/// How long a case may run on to make `MIN_PICKS`.
const MAX_CASE: Duration = Duration::from_secs(30);

/// One case's picks.
struct Picks {
    /// Each pick's latency (µs), the first apart.
    latency: Histogram<u64>,
    /// The first pick's latency: it reads the live range.
    first: Duration,
    /// How long the picks after the first took.
    took: Duration,
    /// The ids picked, the first's included.
    ids: Vec<u64>,
}

/// Keeps `in_flight` picks of `kind` going for `time`, and on until `MIN_PICKS` were made (at
/// most `MAX_CASE`), so that a slow machine still picks enough rows for the spread check.
async fn measure(db: actix::Addr<Db>, kind: Kind, in_flight: usize, time: Duration) -> Picks {
    let pick = |db: actix::Addr<Db>| async move {
        let started = Instant::now();
        let id = match kind {
            Kind::Certificate => db.send(PickCertificate).await.unwrap().map(|c| c.id as u64),
            Kind::Authorization => db.send(PickAuthz).await.unwrap().map(|a| a.id),
            Kind::Order => db.send(PickOrder).await.unwrap().map(|o| o.id),
        };
        let id = id.unwrap_or_else(|e| panic!("a {kind:?} pick failed: {e}"));
        (started.elapsed(), id)
    };
    let (first, first_id) = pick(db.clone()).await;
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut ids = vec![first_id];
    let started = Instant::now();
    // Every worker runs on this thread (the System's): a Cell is shared enough.
    let made = std::cell::Cell::new(1usize);
    let go_on = || {
        let elapsed = started.elapsed();
        elapsed < time || (made.get() < MIN_PICKS && elapsed < MAX_CASE)
    };
    let (go_on, made) = (&go_on, &made);
    let workers = (0..in_flight).map(|_| {
        let db = db.clone();
        async move {
            let mut mine = Vec::new();
            while go_on() {
                mine.push(pick(db.clone()).await);
                made.set(made.get() + 1);
            }
            mine
        }
    });
    let mine = futures_util::future::join_all(workers).await;
    let took = started.elapsed();
    for (took, id) in mine.into_iter().flatten() {
        latency.saturating_record(took.as_micros() as u64);
        ids.push(id);
    }
    Picks {
        latency,
        first,
        took,
        ids,
    }
}
