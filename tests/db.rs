//! The Db actor against a real MariaDB holding a fixture built from `migrations-readonly/`:
//! random picks (on a production-shaped table too: long expired prefix, spread over the live
//! range), every form of the order → authorization link (per-order fallback included), URLs,
//! read-only sessions, a slow query told apart from an outage, an outage mid-run (consistency
//! checks: tests/db_consistency.rs).

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use actix::Addr;
use common::mariadb::{self, hex36, seed, MariaDb};
use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
use openssl::x509::X509;
use url::Url;
use wile_e_coyote::db::queries::Table;
use wile_e_coyote::db::urls::{Object, Template, UrlTemplates};
use wile_e_coyote::db::{
    dsn, pool, Db, DbError, DbSettings, HighWaterMarks, PickAuthz, PickCertificate,
    PickForeignCertificate, PickOrder,
};

fn settings() -> DbSettings {
    DbSettings {
        threads: 2,
        pool_size: 2,
        connect_timeout: Duration::from_secs(1),
        query_timeout: Duration::from_secs(2),
    }
}

fn start_db(maria: &MariaDb, db: &str) -> Addr<Db> {
    start_db_with(maria, db, settings())
}

fn start_db_with(maria: &MariaDb, db: &str, settings: DbSettings) -> Addr<Db> {
    let url = dsn::to_url(&maria.readonly_dsn(db)).unwrap();
    Db::start(&url, &settings).unwrap()
}

#[actix_rt::test]
async fn random_picks_return_seeded_rows_through_every_link_form() {
    let maria = MariaDb::start();
    let templates = UrlTemplates::new(
        Url::parse("http://boulder:4001/directory").unwrap(),
        Template::boulder(Object::Certificate),
        Template::boulder(Object::Authorization),
        Template::boulder(Object::Order),
    );
    for form in ["current", "next", "migration", "legacy"] {
        let name = format!("boulder_{form}");
        maria.fixture(&name, form);
        seed(&maria, &name, form);
        let db = start_db(&maria, &name);

        let mut serials = HashSet::new();
        let mut lowest = i64::MAX;
        for _ in 0..200 {
            let cert = db.send(PickCertificate).await.unwrap().unwrap();
            lowest = lowest.min(cert.registration_id);
            assert!((1..=40).contains(&cert.id), "{form}: {}", cert.id);
            assert_eq!(cert.serial, hex36(cert.id as u32));
            assert_eq!(cert.registration_id, cert.id);
            X509::from_der(&cert.der).expect("stored DER parses");
            serials.insert(cert.serial);
        }
        assert!(
            serials.len() >= 25,
            "{form}: picks spread over rows: {}",
            serials.len()
        );
        // The lowest live certificate is also where every pick falls back to.
        for _ in 0..100 {
            let cert = db
                .send(PickForeignCertificate(lowest as u64))
                .await
                .unwrap();
            assert_ne!(cert.unwrap().registration_id, lowest, "{form}");
        }

        let mut authzs = HashSet::new();
        for _ in 0..200 {
            let a = db.send(PickAuthz).await.unwrap().unwrap();
            assert!(
                a.id % 3 != 0 && a.id % 5 != 0,
                "{form}: dead authz {} picked",
                a.id
            );
            assert_eq!(a.registration_id, 200 + a.id as i64 / 2);
            let wildcard = if a.id % 4 == 1 { "*." } else { "" };
            assert_eq!(a.identifier, format!("{wildcard}a{}.wile.test", a.id));
            authzs.insert(a.id);
        }
        assert!(authzs.len() >= 10, "{form}: {authzs:?}");

        for _ in 0..100 {
            let order = db.send(PickOrder).await.unwrap().unwrap();
            assert!(
                mariadb::live_order(order.id),
                "{form}: expired order {} picked",
                order.id
            );
            assert_eq!(order.authz_ids, [2 * order.id, 2 * order.id + 1], "{form}");
            assert_eq!(
                templates.order(order.registration_id, order.id),
                format!(
                    "http://boulder:4001/acme/order/{}/{}",
                    200 + order.id,
                    order.id
                )
            );
            let authz_urls: Vec<String> = order
                .authz_ids
                .iter()
                .map(|&a| templates.authz(order.registration_id, a))
                .collect();
            assert_eq!(
                authz_urls[0],
                format!(
                    "http://boulder:4001/acme/authz/{}/{}",
                    200 + order.id,
                    2 * order.id
                )
            );
        }

        let marks = db.send(HighWaterMarks).await.unwrap().unwrap();
        let mark = |t: Table| marks.iter().find(|(table, _)| *table == t).unwrap().1;
        assert_eq!(
            (
                mark(Table::Certificates),
                mark(Table::Authz2),
                mark(Table::Orders)
            ),
            (40, 30, 12)
        );
        assert_eq!(mark(Table::CertificateStatus), 40);
        assert_eq!(mark(Table::Serials), 0, "empty table");
    }
}

/// One integer column, for the test's own checks through the admin connection.
#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn admin_number(maria: &MariaDb, db: &str, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<N>(&mut maria.admin(db))
        .unwrap()
        .n
}

/// Picks spread over `[lo, hi]`: ten equal buckets, none with less than a third of its share.
fn assert_spread(what: &str, ids: &[u64], lo: u64, hi: u64) {
    let mut buckets = [0usize; 10];
    for &id in ids {
        assert!((lo..=hi).contains(&id), "{what}: {id} outside {lo}..={hi}");
        buckets[((id - lo) * 10 / (hi - lo + 1)) as usize] += 1;
    }
    let share = ids.len() / 10;
    assert!(
        buckets.iter().all(|&n| n * 3 >= share),
        "{what}: picks over {lo}..={hi} by tenth: {buckets:?}"
    );
}

#[actix_rt::test]
async fn picks_skip_a_long_expired_prefix_and_spread_over_the_live_range() {
    // 20,000 certificates and authorizations, 10,000 orders, about 95% of each expired, ids
    // growing with time, some orders linked through orderToAuthz2 only (NULL authzs).
    let maria = MariaDb::start();
    maria.production_fixture("prod", "migration", 20_000);
    let db = start_db(&maria, "prod");
    let number = |sql: String| admin_number(&maria, "prod", &sql);
    let first_live = |table: &str, live: &str| {
        number(format!(
            "SELECT CAST(MIN(id) AS SIGNED) AS n FROM {table} WHERE {live}"
        )) as u64
    };
    let last =
        |table: &str| number(format!("SELECT CAST(MAX(id) AS SIGNED) AS n FROM {table}")) as u64;
    let live_cert = "expires > UTC_TIMESTAMP()";
    let live_authz = "expires > UTC_TIMESTAMP() AND status IN (0, 1)";
    let (cert_lo, authz_lo, order_lo) = (
        first_live("certificates", live_cert),
        first_live("authz2", live_authz),
        first_live("orders", live_cert),
    );
    let (cert_hi, authz_hi, order_hi) = (last("certificates"), last("authz2"), last("orders"));
    for (lo, hi) in [
        (cert_lo, cert_hi),
        (authz_lo, authz_hi),
        (order_lo, order_hi),
    ] {
        assert!(
            lo > hi * 9 / 10,
            "a long expired prefix: live from {lo} of {hi}"
        );
    }
    let is = |table: &str, id: u64, live: &str| {
        number(format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE id = {id} AND {live}"
        )) == 1
    };

    const PICKS: usize = 400;
    let mut certs = Vec::new();
    for _ in 0..PICKS {
        let c = db.send(PickCertificate).await.unwrap().unwrap();
        certs.push(c.id as u64);
    }
    let mut authzs = Vec::new();
    let mut wildcards = 0;
    for _ in 0..PICKS {
        let a = db.send(PickAuthz).await.unwrap().unwrap();
        assert!(a.status == 0 || a.status == 1, "{a:?}");
        wildcards += usize::from(a.identifier.starts_with("*."));
        authzs.push(a.id);
    }
    let (mut orders, mut through_table) = (Vec::new(), 0);
    for _ in 0..PICKS {
        let o = db.send(PickOrder).await.unwrap().unwrap();
        // The links as stored: the blob's ids, else those of orderToAuthz2.
        let null = number(format!(
            "SELECT COUNT(*) AS n FROM orders WHERE id = {} AND authzs IS NULL",
            o.id
        )) == 1;
        if null {
            through_table += 1;
            let linked = number(format!(
                "SELECT COUNT(*) AS n FROM orderToAuthz2 WHERE orderID = {}",
                o.id
            ));
            assert_eq!(o.authz_ids.len() as i64, linked, "{o:?}");
        }
        assert!(!o.authz_ids.is_empty(), "{o:?}");
        let owner = number(format!(
            "SELECT registrationID AS n FROM authz2 WHERE id = {}",
            o.authz_ids[0]
        ));
        assert_eq!(
            owner, o.registration_id,
            "{o:?}: another account's authorization"
        );
        orders.push(o.id);
    }
    // Never an expired (or dead) row, checked against the database.
    for &id in certs.iter().step_by(8) {
        assert!(
            is("certificates", id, live_cert),
            "expired certificate {id} picked"
        );
    }
    for &id in authzs.iter().step_by(8) {
        assert!(
            is("authz2", id, live_authz),
            "dead authorization {id} picked"
        );
    }
    for &id in orders.iter().step_by(8) {
        assert!(is("orders", id, live_cert), "expired order {id} picked");
    }
    assert_spread("certificates", &certs, cert_lo, cert_hi);
    assert_spread("authorizations", &authzs, authz_lo, authz_hi);
    assert_spread("orders", &orders, order_lo, order_hi);
    assert!(wildcards > PICKS / 40, "{wildcards} wildcards picked");
    assert!(
        through_table > PICKS / 40 && through_table < PICKS / 2,
        "{through_table} orders read through orderToAuthz2"
    );
}

#[actix_rt::test]
async fn a_slow_query_times_out_alone_and_a_stopped_server_is_an_outage() {
    let maria = MariaDb::start();
    maria.fixture("slow", "current");
    seed(&maria, "slow", "current");
    let db = start_db_with(
        &maria,
        "slow",
        DbSettings {
            query_timeout: Duration::from_millis(400),
            ..settings()
        },
    );
    db.send(PickCertificate).await.unwrap().unwrap();

    // Another session holds a write lock on certificates: reading it waits until the
    // statement timeout stops it.
    let mut locker = maria.admin("slow");
    locker
        .batch_execute("LOCK TABLES certificates WRITE")
        .unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        let err = db.send(PickCertificate).await.unwrap().unwrap_err();
        assert_eq!(err.reason(), "db:timeout", "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    // The database is not marked down: other tables answer meanwhile.
    db.send(PickAuthz).await.unwrap().unwrap();
    db.send(PickOrder).await.unwrap().unwrap();
    locker.batch_execute("UNLOCK TABLES").unwrap();
    db.send(PickCertificate).await.unwrap().unwrap();

    maria.stop();
    let err = db.send(PickAuthz).await.unwrap().unwrap_err();
    assert_eq!(err.reason(), "db:unavailable", "{err}");
    let err = db.send(PickCertificate).await.unwrap().unwrap_err();
    assert_eq!(err.reason(), "db:unavailable", "{err}");
}

#[actix_rt::test]
async fn sessions_closed_while_idle_are_replaced_without_an_outage() {
    let maria = MariaDb::start();
    maria.fixture("idle", "current");
    seed(&maria, "idle", "current");
    let db = start_db(&maria, "idle");
    db.send(PickCertificate).await.unwrap().unwrap();
    // The server (or a proxy) closes the tool's sessions while they sit idle in the pool.
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let mut admin = maria.admin("idle");
    let sessions: Vec<Id> = diesel::sql_query(
        "SELECT CAST(ID AS SIGNED) AS id FROM information_schema.PROCESSLIST \
         WHERE USER = 'wec_ro'",
    )
    .load(&mut admin)
    .unwrap();
    assert!(!sessions.is_empty());
    for s in &sessions {
        admin.batch_execute(&format!("KILL {}", s.id)).unwrap();
    }
    actix_rt::time::sleep(pool::TEST_WHEN_IDLE + Duration::from_millis(500)).await;
    for _ in 0..10 {
        db.send(PickCertificate).await.unwrap().unwrap();
    }
}

#[actix_rt::test]
async fn an_empty_table_and_an_unknown_schema_are_clear_errors() {
    let maria = MariaDb::start();
    maria.fixture("empty", "current");
    let db = start_db(&maria, "empty");
    let err = db.send(PickCertificate).await.unwrap().unwrap_err();
    assert_eq!(err.reason(), "db:empty");
    assert!(err.to_string().contains("certificates"), "{err}");

    maria.exec("empty", "ALTER TABLE orders DROP COLUMN authzs");
    let url = dsn::to_url(&maria.readonly_dsn("empty")).unwrap();
    let err = Db::start(&url, &settings()).err().unwrap();
    assert!(matches!(err, DbError::Schema(_)), "{err}");
    assert!(err.to_string().contains("orderToAuthz2"), "{err}");
}

#[test]
fn sessions_are_read_only_even_for_a_privileged_user() {
    let maria = MariaDb::start();
    maria.fixture("ro", "current");
    let insert = "INSERT INTO serials (registrationID, serial, created, expires) VALUES (1, 'x', NOW(), NOW())";

    // wec_admin may write, but not through the tool's pool.
    let admin = Url::parse(&maria.admin_url("ro")).unwrap();
    let pool = pool::connect(&admin, 1, Duration::from_secs(2), Duration::from_secs(2)).unwrap();
    let err = pool.get().unwrap().batch_execute(insert).unwrap_err();
    assert!(err.to_string().contains("READ ONLY"), "{err}");

    // The SELECT-only user an operator should give it is refused by the server too.
    let readonly = dsn::to_url(&maria.readonly_dsn("ro")).unwrap();
    let pool = pool::connect(&readonly, 1, Duration::from_secs(2), Duration::from_secs(2)).unwrap();
    let err = pool.get().unwrap().batch_execute(insert).unwrap_err();
    assert!(
        err.to_string().contains("denied") || err.to_string().contains("READ ONLY"),
        "{err}"
    );

    // The admin connection of the test itself does write: the refusals above are not a
    // broken fixture.
    maria.exec("ro", insert);
}

#[actix_rt::test]
async fn an_outage_fails_fast_and_the_actor_recovers() {
    let maria = MariaDb::start();
    maria.fixture("outage", "current");
    seed(&maria, "outage", "current");
    let db = start_db(&maria, "outage");
    db.send(PickCertificate).await.unwrap().unwrap();

    maria.stop();
    let first = db.send(PickCertificate).await.unwrap().unwrap_err();
    assert_eq!(first.reason(), "db:unavailable", "{first}");
    // Once marked down, requests fail at once, without waiting for a connection timeout.
    let started = Instant::now();
    for _ in 0..20 {
        let err = db.send(PickCertificate).await.unwrap().unwrap_err();
        assert_eq!(err.reason(), "db:unavailable", "{err}");
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );

    maria.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match db.send(PickCertificate).await.unwrap() {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}
