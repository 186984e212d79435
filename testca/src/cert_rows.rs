//! The rows Boulder's SA derives from a certificate, for the database mirror: `issuedNames`
//! and `keyHashToSerial` with the certificate (sa/sa.go AddPrecertificate), `fqdnSets` right
//! after it (AddCertificate), `revokedCertificates` and `blockedKeys` on revocation
//! (RevokeCertificate, ra.go RevokeCertByKey). Everything is read from the DER, as Boulder does.

use diesel::mysql::MysqlConnection;
use diesel::sql_types::{BigInt, Binary, Integer, Text};
use diesel::RunQueryDsl;
use openssl::hash::{hash, MessageDigest};
use openssl::x509::X509;

use crate::clock::sql;

/// What the rows are made of, read from one certificate.
#[derive(Debug, Clone)]
pub struct CertRows {
    /// dNSName SANs, lower-cased, sorted, deduplicated.
    names: Vec<String>,
    not_before: i64,
    not_after: i64,
    /// SHA-256 of the SubjectPublicKeyInfo (Boulder's `core.CertKeyDigest`).
    key_hash: Vec<u8>,
    /// The shard number of the certificate's CRL distribution point (`…/<shard>.crl`).
    crl_shard: Option<i64>,
}

fn unix(t: &openssl::asn1::Asn1TimeRef) -> Option<i64> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let d = epoch.diff(t).ok()?;
    Some(i64::from(d.days) * 86_400 + i64::from(d.secs))
}

impl CertRows {
    pub fn of(der: &[u8]) -> Option<CertRows> {
        let cert = X509::from_der(der).ok()?;
        let mut names: Vec<String> = cert
            .subject_alt_names()
            .map(|s| {
                s.iter()
                    .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.dedup();
        let spki = cert.public_key().ok()?.public_key_to_der().ok()?;
        let crl_shard = cert.crl_distribution_points().and_then(|points| {
            points.iter().find_map(|p| {
                let uri = p.distpoint()?.fullname()?.iter().find_map(|n| n.uri())?;
                uri.rsplit('/').next()?.strip_suffix(".crl")?.parse().ok()
            })
        });
        Some(CertRows {
            names,
            not_before: unix(cert.not_before())?,
            not_after: unix(cert.not_after())?,
            key_hash: hash(MessageDigest::sha256(), &spki).ok()?.to_vec(),
            crl_shard,
        })
    }

    /// SHA-256 of the names joined by `,` (Boulder's `core.HashIdentifiers`).
    fn set_hash(&self) -> Vec<u8> {
        hash(MessageDigest::sha256(), self.names.join(",").as_bytes())
            .map(|d| d.to_vec())
            .unwrap_or_default()
    }

    /// `issuedNames` (one row per name, label-reversed, `notBefore` truncated to the day) and
    /// `keyHashToSerial`, written with the certificate.
    pub fn insert_issued(
        &self,
        conn: &mut MysqlConnection,
        serial: &str,
        renewal: bool,
    ) -> diesel::QueryResult<()> {
        let day = self.not_before - self.not_before.rem_euclid(86_400);
        for name in &self.names {
            let reversed: Vec<&str> = name.split('.').rev().collect();
            diesel::sql_query(
                "INSERT INTO issuedNames (reversedName, notBefore, serial, renewal) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind::<Text, _>(reversed.join("."))
            .bind::<Text, _>(sql(day))
            .bind::<Text, _>(serial)
            .bind::<Integer, _>(i32::from(renewal))
            .execute(conn)?;
        }
        diesel::sql_query(
            "INSERT INTO keyHashToSerial (keyHash, certNotAfter, certSerial) VALUES (?, ?, ?)",
        )
        .bind::<Binary, _>(&self.key_hash)
        .bind::<Text, _>(sql(self.not_after))
        .bind::<Text, _>(serial)
        .execute(conn)
        .map(drop)
    }

    /// `fqdnSets`, written after the certificate (Boulder: in its own transaction).
    pub fn insert_fqdn_set(
        &self,
        conn: &mut MysqlConnection,
        serial: &str,
    ) -> diesel::QueryResult<()> {
        diesel::sql_query(
            "INSERT INTO fqdnSets (setHash, serial, issued, expires) VALUES (?, ?, ?, ?)",
        )
        .bind::<Binary, _>(self.set_hash())
        .bind::<Text, _>(serial)
        .bind::<Text, _>(sql(self.not_before))
        .bind::<Text, _>(sql(self.not_after))
        .execute(conn)
        .map(drop)
    }

    /// `revokedCertificates` (by CRL shard and the hour after `notAfter`; a second revocation
    /// for keyCompromise updates the reason) and, for a revocation by the certificate's key,
    /// `blockedKeys`.
    pub fn record_revocation(
        &self,
        conn: &mut MysqlConnection,
        revoked: Revoked<'_>,
    ) -> diesel::QueryResult<()> {
        if let Some(shard) = self.crl_shard {
            let hour = (self.not_after + 3600).div_euclid(3600) * 3600;
            let updated = diesel::sql_query(
                "UPDATE revokedCertificates SET revokedReason = ? WHERE issuerID = ? \
                 AND shardIdx = ? AND notAfterHour = ? AND serial = ?",
            )
            .bind::<Integer, _>(i32::from(revoked.reason))
            .bind::<BigInt, _>(revoked.issuer_id)
            .bind::<BigInt, _>(shard)
            .bind::<Text, _>(sql(hour))
            .bind::<Text, _>(revoked.serial)
            .execute(conn)?;
            if updated == 0 {
                diesel::sql_query(
                    "INSERT INTO revokedCertificates (issuerID, serial, notAfterHour, shardIdx, \
                     revokedDate, revokedReason) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind::<BigInt, _>(revoked.issuer_id)
                .bind::<Text, _>(revoked.serial)
                .bind::<Text, _>(sql(hour))
                .bind::<BigInt, _>(shard)
                .bind::<Text, _>(sql(revoked.at))
                .bind::<Integer, _>(i32::from(revoked.reason))
                .execute(conn)?;
            }
        }
        if revoked.by_key {
            diesel::sql_query(
                "INSERT IGNORE INTO blockedKeys (keyHash, added, source) VALUES (?, ?, 1)",
            )
            .bind::<Binary, _>(&self.key_hash)
            .bind::<Text, _>(sql(revoked.at))
            .execute(conn)?;
        }
        Ok(())
    }
}

/// A revocation as the mirror records it.
#[derive(Debug, Clone, Copy)]
pub struct Revoked<'a> {
    pub serial: &'a str,
    pub issuer_id: i64,
    pub reason: u8,
    pub at: i64,
    pub by_key: bool,
}
