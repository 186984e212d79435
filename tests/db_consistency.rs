//! Consistency checks against a real MariaDB holding Boulder's schema: for each kind of row
//! Boulder writes after the API issued, revoked, changed a key or deactivated something, a
//! database that agrees passes, and one planted to disagree is caught with the right mismatch.
//! The rows are seeded from values computed here independently of the tool's own code.

mod common;

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use base64::Engine;
use common::mariadb::MariaDb;
use openssl::hash::{hash, MessageDigest};
use openssl::x509::X509;
use wile_e_coyote::acme::KeyType;
use wile_e_coyote::db::consistency::{self, Claim, Facts, Kind, Mismatch};
use wile_e_coyote::db::stored::Observe;
use wile_e_coyote::db::{dsn, Db, DbSettings};
use wile_e_coyote::test_support::{Spec, Until};

const SERIAL: &str = "6e00000000000000000000000000000000a1";
const OLD_SERIAL: &str = "6e00000000000000000000000000000000a0";

/// A certificate as Boulder issues them: serial `SERIAL`, two names, a CRL distribution point
/// in shard 3, valid until 2030-06-01 10:20:30 UTC.
fn certificate() -> Arc<[u8]> {
    let (cert, _) = Spec {
        cn: "www.example.com",
        names: &["www.example.com", "Example.com"],
        serial_hex: Some(SERIAL),
        until: Until::At("20300601102030Z"),
        crl: Some("http://ca.example.org:4501/lets-encrypt-crls/777/3.crl"),
        ..Spec::default()
    }
    .make();
    cert.to_der().unwrap().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every row Boulder writes for this certificate's issuance (order 42, replacing `OLD_SERIAL`)
/// and revocation for keyCompromise by its own key, for account 7's key change and
/// deactivation, and authorization 9's deactivation.
fn seed(maria: &MariaDb, der: &[u8]) {
    let cert = X509::from_der(der).unwrap();
    let spki = cert.public_key().unwrap().public_key_to_der().unwrap();
    let key_hash = hex(&hash(MessageDigest::sha256(), &spki).unwrap());
    let set_hash = hex(&hash(MessageDigest::sha256(), b"example.com,www.example.com").unwrap());
    let sql = format!(
        "INSERT INTO certificates (registrationID, serial, digest, der, issued, expires) \
           VALUES (7, '{SERIAL}', 'd', X'{der}', UTC_TIMESTAMP(), '2030-06-01 10:20:30');\n\
         INSERT INTO certificateStatus (serial, status, ocspLastUpdated, revokedDate, revokedReason, \
           lastExpirationNagSent, issuerID) \
           VALUES ('{SERIAL}', 'revoked', UTC_TIMESTAMP(), UTC_TIMESTAMP(), 1, UTC_TIMESTAMP(), 777);\n\
         INSERT INTO issuedNames (reversedName, notBefore, serial, renewal) VALUES \
           ('com.example', UTC_DATE(), '{SERIAL}', 1), ('com.example.www', UTC_DATE(), '{SERIAL}', 1);\n\
         INSERT INTO keyHashToSerial (keyHash, certNotAfter, certSerial) \
           VALUES (X'{key_hash}', '2030-06-01 10:20:30', '{SERIAL}');\n\
         INSERT INTO fqdnSets (setHash, serial, issued, expires) \
           VALUES (X'{set_hash}', '{SERIAL}', UTC_TIMESTAMP(), '2030-06-01 10:20:30');\n\
         INSERT INTO orders (id, registrationID, expires, certificateSerial, beganProcessing, created) \
           VALUES (42, 7, '2030-01-01', '{SERIAL}', 1, UTC_TIMESTAMP());\n\
         INSERT INTO replacementOrders (serial, orderID, orderExpires, replaced) \
           VALUES ('{OLD_SERIAL}', 42, '2030-01-01', 1);\n\
         INSERT INTO revokedCertificates (issuerID, serial, notAfterHour, shardIdx, revokedDate, revokedReason) \
           VALUES (777, '{SERIAL}', '2030-06-01 11:00:00', 3, UTC_TIMESTAMP(), 1);\n\
         INSERT INTO blockedKeys (keyHash, added, source) VALUES (X'{key_hash}', UTC_TIMESTAMP(), 1);\n\
         INSERT INTO registrations (id, jwk, jwk_sha256, agreement, createdAt, status) \
           VALUES (7, '{{}}', 'bmV3LWtleQ==', '', UTC_TIMESTAMP(), 'deactivated');\n\
         INSERT INTO authz2 (id, identifierType, identifierValue, registrationID, status, expires, \
           challenges, token) VALUES (9, 0, 'example.com', 7, 3, '2030-01-01', 1, UNHEX(SHA2('9', 256)));\n",
        der = hex(der),
    );
    maria.exec("cc", &sql);
}

struct Checker {
    db: Addr<Db>,
}

impl Checker {
    /// The mismatches the tool finds for `claim` in the database as it is now.
    async fn mismatches(&self, claim: &Claim) -> Vec<Mismatch> {
        self.verdicts(claim)
            .await
            .into_iter()
            .filter_map(|(_, m)| m)
            .collect()
    }

    async fn verdicts(&self, claim: &Claim) -> Vec<(Kind, Option<Mismatch>)> {
        let facts = match claim {
            Claim::Issued { der, .. } | Claim::Revoked { der, .. } => Facts::of(der.clone()),
            _ => None,
        };
        let seen = self
            .db
            .send(Observe {
                claim: claim.clone(),
                facts: facts.clone(),
            })
            .await
            .unwrap()
            .unwrap();
        consistency::verdicts(claim, facts.as_ref(), &seen)
    }
}

#[actix_rt::test]
async fn every_kind_agrees_with_a_consistent_database_and_catches_a_planted_disagreement() {
    let maria = MariaDb::start();
    maria.fixture("cc", "current");
    let der = certificate();
    seed(&maria, &der);
    let url = dsn::to_url(&maria.readonly_dsn("cc")).unwrap();
    let settings = DbSettings {
        threads: 1,
        pool_size: 1,
        connect_timeout: Duration::from_secs(2),
        query_timeout: Duration::from_secs(5),
    };
    let check = Checker {
        db: Db::start(&url, &settings).unwrap(),
    };
    let issued = Claim::Issued {
        der: der.clone(),
        renewal: true,
        order: Some(42),
        replaces: Some(OLD_SERIAL.trim_start_matches('0').to_owned()),
    };
    let revoked = Claim::Revoked {
        der: der.clone(),
        reason: 1,
        by_key: true,
    };
    let key = Claim::AccountKey {
        account: 7,
        key_digest: "bmV3LWtleQ==".into(),
    };
    let closed = Claim::AccountDeactivated { account: 7 };
    let authz = Claim::AuthzDeactivated { authz: 9 };

    let kinds: Vec<Kind> = check
        .verdicts(&issued)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .chain(check.verdicts(&revoked).await.into_iter().map(|(k, _)| k))
        .collect();
    assert_eq!(
        kinds,
        [
            Kind::Certificate,
            Kind::CertificateStatus,
            Kind::IssuedNames,
            Kind::KeyHash,
            Kind::FqdnSet,
            Kind::OrderSerial,
            Kind::ReplacementOrder,
            Kind::Certificate,
            Kind::CertificateStatus,
            Kind::RevokedCertificate,
            Kind::BlockedKey,
        ]
    );
    for claim in [&issued, &revoked, &key, &closed, &authz] {
        assert_eq!(check.mismatches(claim).await, [], "{claim:?}");
    }

    // Each plant, the claim it breaks, the mismatch the tool must report; then undone.
    let cert = X509::from_der(&der).unwrap();
    let spki = cert.public_key().unwrap().public_key_to_der().unwrap();
    let fill = |sql: &str| {
        sql.replace("{S}", SERIAL)
            .replace("{O}", OLD_SERIAL)
            .replace("{D}", &hex(&der))
            .replace(
                "{H}",
                &hex(&hash(MessageDigest::sha256(), b"example.com,www.example.com").unwrap()),
            )
            .replace("{K}", &hex(&hash(MessageDigest::sha256(), &spki).unwrap()))
    };
    let plants: [(&str, &str, &Claim, Mismatch); 17] = [
        (
            "UPDATE certificates SET serial = 'gone' WHERE serial = '{S}'",
            "UPDATE certificates SET serial = '{S}' WHERE serial = 'gone'",
            &issued,
            Mismatch::CertificateMissing,
        ),
        (
            "UPDATE certificates SET der = X'00' WHERE serial = '{S}'",
            "UPDATE certificates SET der = X'{D}' WHERE serial = '{S}'",
            &issued,
            Mismatch::DerDiffers,
        ),
        (
            "UPDATE certificateStatus SET revokedReason = 4 WHERE serial = '{S}'",
            "UPDATE certificateStatus SET revokedReason = 1 WHERE serial = '{S}'",
            &revoked,
            Mismatch::ReasonDiffers,
        ),
        (
            "UPDATE certificateStatus SET status = 'good' WHERE serial = '{S}'",
            "UPDATE certificateStatus SET status = 'revoked' WHERE serial = '{S}'",
            &revoked,
            Mismatch::StatusDiffers,
        ),
        (
            "DELETE FROM issuedNames WHERE reversedName = 'com.example.www'",
            "INSERT INTO issuedNames (reversedName, notBefore, serial, renewal) \
             VALUES ('com.example.www', UTC_DATE(), '{S}', 1)",
            &issued,
            Mismatch::IssuedNamesMissing,
        ),
        (
            "UPDATE issuedNames SET renewal = 0",
            "UPDATE issuedNames SET renewal = 1",
            &issued,
            Mismatch::RenewalDiffers,
        ),
        (
            "UPDATE keyHashToSerial SET certSerial = 'other'",
            "UPDATE keyHashToSerial SET certSerial = '{S}'",
            &issued,
            Mismatch::KeyHashMissing,
        ),
        (
            "UPDATE fqdnSets SET setHash = X'00'",
            "UPDATE fqdnSets SET setHash = X'{H}'",
            &issued,
            Mismatch::FqdnSetMissing,
        ),
        (
            "UPDATE orders SET certificateSerial = NULL WHERE id = 42",
            "UPDATE orders SET certificateSerial = '{S}' WHERE id = 42",
            &issued,
            Mismatch::OrderSerialDiffers,
        ),
        (
            "UPDATE replacementOrders SET replaced = 0",
            "UPDATE replacementOrders SET replaced = 1",
            &issued,
            Mismatch::ReplacementDiffers,
        ),
        (
            "UPDATE replacementOrders SET serial = 'other'",
            "UPDATE replacementOrders SET serial = '{O}'",
            &issued,
            Mismatch::ReplacementMissing,
        ),
        (
            "UPDATE revokedCertificates SET revokedReason = 0",
            "UPDATE revokedCertificates SET revokedReason = 1",
            &revoked,
            Mismatch::RevokedReasonDiffers,
        ),
        (
            "UPDATE blockedKeys SET keyHash = X'00'",
            "UPDATE blockedKeys SET keyHash = X'{K}'",
            &revoked,
            Mismatch::BlockedKeyMissing,
        ),
        (
            "UPDATE revokedCertificates SET shardIdx = 4",
            "UPDATE revokedCertificates SET shardIdx = 3",
            &revoked,
            Mismatch::RevokedCertificateMissing,
        ),
        (
            "UPDATE registrations SET jwk_sha256 = 'old' WHERE id = 7",
            "UPDATE registrations SET jwk_sha256 = 'bmV3LWtleQ==' WHERE id = 7",
            &key,
            Mismatch::AccountKeyDiffers,
        ),
        (
            "UPDATE registrations SET status = 'valid' WHERE id = 7",
            "UPDATE registrations SET status = 'deactivated' WHERE id = 7",
            &closed,
            Mismatch::AccountStatusDiffers,
        ),
        (
            "UPDATE authz2 SET status = 1 WHERE id = 9",
            "UPDATE authz2 SET status = 3 WHERE id = 9",
            &authz,
            Mismatch::AuthzStatusDiffers,
        ),
    ];
    for (plant, undo, claim, expected) in plants {
        maria.exec("cc", &fill(plant));
        assert_eq!(check.mismatches(claim).await, [expected], "{plant}");
        maria.exec("cc", &fill(undo));
        assert_eq!(check.mismatches(claim).await, [], "undone: {undo}");
    }
}

/// The account key digest is Boulder's `jwk_sha256`: padded standard base64 of SHA-256 of the
/// key's SubjectPublicKeyInfo.
#[test]
fn account_key_digests_are_boulders() {
    let key = KeyType::P256.generate().unwrap();
    let spki = key.public_key_to_der().unwrap();
    let expected = base64::engine::general_purpose::STANDARD
        .encode(hash(MessageDigest::sha256(), &spki).unwrap());
    assert_eq!(
        consistency::account_key_digest(&key).as_deref(),
        Some(&*expected)
    );
    assert!(expected.ends_with('='));
}
