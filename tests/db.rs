//! The Db actor against a real MariaDB holding a fixture built from `migrations-readonly/`:
//! random picks, both forms of the order → authorization link, URLs, read-only sessions,
//! consistency comparisons, and an outage mid-run.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use actix::Addr;
use common::mariadb::{certificate, hex36, seed, MariaDb};
use openssl::bn::BigNum;
use openssl::x509::X509;
use url::Url;
use wile_e_coyote::db::consistency::{compare, Expected, Mismatch};
use wile_e_coyote::db::queries::Table;
use wile_e_coyote::db::urls::{self, UrlTemplates};
use wile_e_coyote::db::{
    dsn, pool, Db, DbError, DbSettings, FindCertificate, HighWaterMarks, PickAuthz,
    PickCertificate, PickOrder,
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
    let url = dsn::to_url(&maria.readonly_dsn(db)).unwrap();
    Db::start(&url, &settings()).unwrap()
}

#[actix_rt::test]
async fn random_picks_return_seeded_rows_through_both_link_forms() {
    let maria = MariaDb::start();
    let templates = UrlTemplates::new(
        Url::parse("http://boulder:4001/directory").unwrap(),
        urls::CERT,
        urls::AUTHZ,
        urls::ORDER,
    )
    .unwrap();
    for form in ["current", "legacy"] {
        let name = format!("boulder_{form}");
        maria.fixture(&name, form);
        seed(&maria, &name, form);
        let db = start_db(&maria, &name);

        let mut serials = HashSet::new();
        for _ in 0..200 {
            let cert = db.send(PickCertificate).await.unwrap().unwrap();
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

        let mut authzs = HashSet::new();
        for _ in 0..200 {
            let a = db.send(PickAuthz).await.unwrap().unwrap();
            assert!(
                a.id % 3 != 0 && a.id % 5 != 0,
                "{form}: dead authz {} picked",
                a.id
            );
            assert_eq!(a.registration_id, 200 + a.id as i64 / 2);
            assert_eq!(a.identifier, format!("a{}.wile.test", a.id));
            authzs.insert(a.id);
        }
        assert!(authzs.len() >= 10, "{form}: {authzs:?}");

        for _ in 0..100 {
            let order = db.send(PickOrder).await.unwrap().unwrap();
            assert_eq!(order.id % 2, 0, "{form}: expired order {} picked", order.id);
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
    use diesel::connection::SimpleConnection;
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
async fn consistency_checks_flag_planted_mismatches_and_pass_a_correct_row() {
    let maria = MariaDb::start();
    maria.fixture("cc", "current");
    seed(&maria, "cc", "current");
    // Plant: 2 revoked for reason 4 though reason 1 was asked; 3 has no status row; 4 stores
    // another certificate's DER; 5 is revoked as asked.
    maria.exec(
        "cc",
        &format!(
            "UPDATE certificateStatus SET status = 'revoked', revokedReason = 4 WHERE serial = '{}';\n\
             DELETE FROM certificateStatus WHERE serial = '{}';\n\
             UPDATE certificates SET der = (SELECT der FROM (SELECT der FROM certificates WHERE id = 1) AS c) WHERE id = 4;\n\
             UPDATE certificateStatus SET status = 'revoked', revokedReason = 1 WHERE serial = '{}';",
            hex36(2),
            hex36(3),
            hex36(5)
        ),
    );
    let db = start_db(&maria, "cc");
    let stored = |id: u32| {
        let db = db.clone();
        async move {
            db.send(FindCertificate {
                serial: BigNum::from_u32(id).unwrap().to_vec(),
            })
            .await
            .unwrap()
            .unwrap()
        }
    };
    // What the API served: the DER each id was seeded with.
    let served = |id: u32| async move { stored(id).await.der.unwrap() };

    let one = stored(1).await;
    let der = served(1).await;
    assert_eq!(
        compare(
            Expected {
                der: &der,
                revoked: None
            },
            &one
        ),
        None
    );

    let der = served(2).await;
    assert_eq!(
        compare(
            Expected {
                der: &der,
                revoked: Some(1)
            },
            &stored(2).await
        ),
        Some(Mismatch::ReasonDiffers)
    );
    let der = served(3).await;
    assert_eq!(
        compare(
            Expected {
                der: &der,
                revoked: None
            },
            &stored(3).await
        ),
        Some(Mismatch::StatusMissing)
    );
    // 4 now stores certificate 1's DER, not the one it was issued with.
    let der = served(1).await;
    let other = certificate(4).to_der().unwrap();
    assert_ne!(der, other);
    assert_eq!(
        compare(
            Expected {
                der: &other,
                revoked: None
            },
            &stored(4).await
        ),
        Some(Mismatch::DerDiffers)
    );
    let der = served(5).await;
    assert_eq!(
        compare(
            Expected {
                der: &der,
                revoked: Some(1)
            },
            &stored(5).await
        ),
        None
    );
    // A serial the CA never stored.
    assert_eq!(
        compare(
            Expected {
                der: b"x",
                revoked: None
            },
            &stored(999).await
        ),
        Some(Mismatch::CertificateMissing)
    );
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
    assert!(
        first.reason() == "db:unavailable" || first.reason() == "db:query",
        "{first}"
    );
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
