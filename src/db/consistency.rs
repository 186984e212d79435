//! Does the CA's database hold what its API answered? Each thing the API did is a [`Claim`];
//! everything Boulder writes synchronously for it is a [`Kind`] of check, and each disagreement
//! a [`Mismatch`]. The comparison is a pure function of the claim and what the database was
//! seen to hold ([`Observed`]); `stored.rs` does the reading, `source.rs` the waiting.

use std::sync::Arc;

use openssl::hash::{hash, MessageDigest};
use openssl::x509::X509;

/// Something the API did, whose traces the database must hold.
#[derive(Debug, Clone)]
pub enum Claim {
    /// A certificate issued for an order.
    Issued {
        der: Arc<[u8]>,
        /// Its names had a certificate before (a renewal): `issuedNames.renewal`.
        renewal: bool,
        /// The order's id (the last segment of its URL), when it has one.
        order: Option<u64>,
        /// The serial (hex) of the certificate the order `replaces` (RFC 9773).
        replaces: Option<String>,
    },
    /// A revocation, with the reason the CA is expected to store and whether the certificate's
    /// own key signed it (Boulder then blocks the key).
    Revoked {
        der: Arc<[u8]>,
        reason: i32,
        by_key: bool,
    },
    /// A key change: `registrations.jwk_sha256` is the new key's digest (base64 SHA-256 of its
    /// SubjectPublicKeyInfo, as Boulder computes it).
    AccountKey {
        account: i64,
        key_digest: String,
    },
    AccountDeactivated {
        account: i64,
    },
    AuthzDeactivated {
        authz: u64,
    },
}

/// What is checked: one table (or column) Boulder writes for a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Certificate,
    CertificateStatus,
    IssuedNames,
    KeyHash,
    FqdnSet,
    OrderSerial,
    ReplacementOrder,
    RevokedCertificate,
    BlockedKey,
    AccountKey,
    AccountStatus,
    AuthzStatus,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Certificate => "certificate",
            Kind::CertificateStatus => "certificate-status",
            Kind::IssuedNames => "issued-names",
            Kind::KeyHash => "key-hash",
            Kind::FqdnSet => "fqdn-set",
            Kind::OrderSerial => "order-serial",
            Kind::ReplacementOrder => "replacement-order",
            Kind::RevokedCertificate => "revoked-certificate",
            Kind::BlockedKey => "blocked-key",
            Kind::AccountKey => "account-key",
            Kind::AccountStatus => "account-status",
            Kind::AuthzStatus => "authz-status",
        }
    }
}

/// A kind of disagreement between the API and the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mismatch {
    /// No `certificates` row for the serial.
    CertificateMissing,
    /// The stored DER is not the certificate the API served.
    DerDiffers,
    /// No `certificateStatus` row for the serial.
    StatusMissing,
    /// `good` where the API revoked it, or neither `good` nor `revoked` where it issued it.
    StatusDiffers,
    /// Revoked, but with another reason code than the CA is expected to store.
    ReasonDiffers,
    /// A name of the certificate has no `issuedNames` row (reversed name, serial).
    IssuedNamesMissing,
    /// `issuedNames.renewal` says otherwise than whether the names had a certificate before.
    RenewalDiffers,
    /// No `keyHashToSerial` row for the certificate's key and serial.
    KeyHashMissing,
    /// No `fqdnSets` row for the certificate's names and serial.
    FqdnSetMissing,
    /// The valid order's `certificateSerial` is not the certificate it gave.
    OrderSerialDiffers,
    /// No `replacementOrders` row for the certificate an order replaced.
    ReplacementMissing,
    /// The row names another order, or is not marked `replaced` after issuance.
    ReplacementDiffers,
    /// No `revokedCertificates` row after a revocation.
    RevokedCertificateMissing,
    /// `revokedCertificates.revokedReason` is not the reason expected.
    RevokedReasonDiffers,
    /// The key of a certificate revoked by its own key is not in `blockedKeys`.
    BlockedKeyMissing,
    /// `registrations.jwk_sha256` is not the new key's after a key change.
    AccountKeyDiffers,
    /// `registrations.status` is not `deactivated` after a deactivation.
    AccountStatusDiffers,
    /// `authz2.status` is not deactivated (3) after a deactivation.
    AuthzStatusDiffers,
}

impl Mismatch {
    pub fn name(self) -> &'static str {
        match self {
            Mismatch::CertificateMissing => "certificate-missing",
            Mismatch::DerDiffers => "der-differs",
            Mismatch::StatusMissing => "status-missing",
            Mismatch::StatusDiffers => "status-differs",
            Mismatch::ReasonDiffers => "reason-differs",
            Mismatch::IssuedNamesMissing => "issued-names-missing",
            Mismatch::RenewalDiffers => "renewal-differs",
            Mismatch::KeyHashMissing => "key-hash-missing",
            Mismatch::FqdnSetMissing => "fqdn-set-missing",
            Mismatch::OrderSerialDiffers => "order-serial-differs",
            Mismatch::ReplacementMissing => "replacement-order-missing",
            Mismatch::ReplacementDiffers => "replacement-order-differs",
            Mismatch::RevokedCertificateMissing => "revoked-certificate-missing",
            Mismatch::RevokedReasonDiffers => "revoked-reason-differs",
            Mismatch::BlockedKeyMissing => "blocked-key-missing",
            Mismatch::AccountKeyDiffers => "account-key-differs",
            Mismatch::AccountStatusDiffers => "account-status-differs",
            Mismatch::AuthzStatusDiffers => "authz-status-differs",
        }
    }

    /// Where the disagreement is, for the log.
    pub fn describe(self) -> &'static str {
        match self {
            Mismatch::CertificateMissing => "no certificates row",
            Mismatch::DerDiffers => "the stored DER is not the served certificate",
            Mismatch::StatusMissing => "no certificateStatus row",
            Mismatch::StatusDiffers => "the stored status disagrees with the API",
            Mismatch::ReasonDiffers => "certificateStatus holds another revocation reason",
            Mismatch::IssuedNamesMissing => "a name has no issuedNames row",
            Mismatch::RenewalDiffers => "issuedNames.renewal is wrong",
            Mismatch::KeyHashMissing => "no keyHashToSerial row",
            Mismatch::FqdnSetMissing => "no fqdnSets row",
            Mismatch::OrderSerialDiffers => "orders.certificateSerial is not the certificate",
            Mismatch::ReplacementMissing => "no replacementOrders row",
            Mismatch::ReplacementDiffers => "replacementOrders names another order or is unmarked",
            Mismatch::RevokedCertificateMissing => "no revokedCertificates row",
            Mismatch::RevokedReasonDiffers => "revokedCertificates holds another reason",
            Mismatch::BlockedKeyMissing => "the key is not in blockedKeys",
            Mismatch::AccountKeyDiffers => "registrations.jwk_sha256 is not the new key",
            Mismatch::AccountStatusDiffers => "registrations.status is not deactivated",
            Mismatch::AuthzStatusDiffers => "authz2.status is not deactivated",
        }
    }

    /// What the database shows may still change to agree (the CA writes asynchronously, or
    /// the database is a replica behind its primary): worth looking again. A stored value that
    /// contradicts the API (another DER, another reason, another renewal flag) is final.
    pub fn may_settle(self) -> bool {
        !matches!(
            self,
            Mismatch::DerDiffers
                | Mismatch::ReasonDiffers
                | Mismatch::RenewalDiffers
                | Mismatch::RevokedReasonDiffers
        )
    }
}

/// What the database holds for a claim, as `stored.rs` read it; `None`/`false`: no row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub der: Option<Vec<u8>>,
    /// `certificateStatus`: status and reason.
    pub status: Option<(String, i32)>,
    /// `issuedNames` rows of the serial among the certificate's names: reversed name, renewal.
    pub issued_names: Vec<(String, bool)>,
    pub key_hash: bool,
    pub fqdn_set: bool,
    /// `orders.certificateSerial` of the order (outer `None`: no such order).
    pub order_serial: Option<Option<String>>,
    /// `replacementOrders` for the replaced serial: order id, `replaced`.
    pub replacement: Option<(i64, bool)>,
    /// `revokedCertificates.revokedReason`, when checked and found.
    pub revoked_reason: Option<i32>,
    pub blocked_key: bool,
    /// `registrations`: `jwk_sha256`, `status`.
    pub account: Option<(String, String)>,
    pub authz_status: Option<i32>,
}

/// Boulder's authz2 status code for `deactivated`.
const AUTHZ_DEACTIVATED: i32 = 3;

/// One verdict per kind the claim checks: `None` when the database agrees. A certificate's
/// claims need its `facts` (none: a certificate that does not parse is not checked).
pub fn verdicts(
    claim: &Claim,
    facts: Option<&Facts>,
    seen: &Observed,
) -> Vec<(Kind, Option<Mismatch>)> {
    let check = |kind, ok: bool, mismatch| (kind, (!ok).then_some(mismatch));
    match (claim, facts) {
        (Claim::Issued { .. } | Claim::Revoked { .. }, None) => Vec::new(),
        (
            Claim::Issued {
                renewal,
                order,
                replaces,
                ..
            },
            Some(facts),
        ) => {
            let mut v = certificate_verdicts(facts, seen, None);
            let names_found = facts
                .reversed_names
                .iter()
                .all(|n| seen.issued_names.iter().any(|(r, _)| r == n));
            v.push(match names_found {
                false => (Kind::IssuedNames, Some(Mismatch::IssuedNamesMissing)),
                true => check(
                    Kind::IssuedNames,
                    seen.issued_names.iter().all(|(_, r)| r == renewal),
                    Mismatch::RenewalDiffers,
                ),
            });
            v.push(check(
                Kind::KeyHash,
                seen.key_hash,
                Mismatch::KeyHashMissing,
            ));
            v.push(check(
                Kind::FqdnSet,
                seen.fqdn_set,
                Mismatch::FqdnSetMissing,
            ));
            if order.is_some() {
                let serial = seen.order_serial.clone().flatten();
                let ok = serial.is_some_and(|s| facts.serials.contains(&s));
                v.push(check(Kind::OrderSerial, ok, Mismatch::OrderSerialDiffers));
            }
            if replaces.is_some() {
                v.push(match (seen.replacement, order) {
                    (None, _) => (Kind::ReplacementOrder, Some(Mismatch::ReplacementMissing)),
                    (Some((id, replaced)), Some(order)) => check(
                        Kind::ReplacementOrder,
                        replaced && u64::try_from(id).ok() == Some(*order),
                        Mismatch::ReplacementDiffers,
                    ),
                    (Some((_, replaced)), None) => check(
                        Kind::ReplacementOrder,
                        replaced,
                        Mismatch::ReplacementDiffers,
                    ),
                });
            }
            v
        }
        (Claim::Revoked { reason, by_key, .. }, Some(facts)) => {
            let mut v = certificate_verdicts(facts, seen, Some(*reason));
            if facts.crl_shard.is_some() {
                v.push(match seen.revoked_reason {
                    None => (
                        Kind::RevokedCertificate,
                        Some(Mismatch::RevokedCertificateMissing),
                    ),
                    Some(stored) => check(
                        Kind::RevokedCertificate,
                        stored == *reason,
                        Mismatch::RevokedReasonDiffers,
                    ),
                });
            }
            if *by_key {
                v.push(check(
                    Kind::BlockedKey,
                    seen.blocked_key,
                    Mismatch::BlockedKeyMissing,
                ));
            }
            v
        }
        (Claim::AccountKey { key_digest, .. }, _) => vec![check(
            Kind::AccountKey,
            seen.account.as_ref().is_some_and(|(k, _)| k == key_digest),
            Mismatch::AccountKeyDiffers,
        )],
        (Claim::AccountDeactivated { .. }, _) => vec![check(
            Kind::AccountStatus,
            seen.account
                .as_ref()
                .is_some_and(|(_, s)| s == "deactivated"),
            Mismatch::AccountStatusDiffers,
        )],
        (Claim::AuthzDeactivated { .. }, _) => vec![check(
            Kind::AuthzStatus,
            seen.authz_status == Some(AUTHZ_DEACTIVATED),
            Mismatch::AuthzStatusDiffers,
        )],
    }
}

/// The `certificates` and `certificateStatus` rows: stored as served; `revoked` with the
/// expected reason after a revocation. Checked after issuance, a certificate may already be
/// revoked by a later chain: `good` and `revoked` both agree then.
fn certificate_verdicts(
    facts: &Facts,
    seen: &Observed,
    revoked: Option<i32>,
) -> Vec<(Kind, Option<Mismatch>)> {
    let certificate = match &seen.der {
        None => Some(Mismatch::CertificateMissing),
        Some(der) if *der != *facts.der => Some(Mismatch::DerDiffers),
        Some(_) => None,
    };
    let status = match (&seen.status, revoked) {
        (None, _) => Some(Mismatch::StatusMissing),
        (Some((status, _)), None) if status == "good" || status == "revoked" => None,
        (Some((status, stored)), Some(want)) if status == "revoked" => {
            (*stored != want).then_some(Mismatch::ReasonDiffers)
        }
        (Some(_), _) => Some(Mismatch::StatusDiffers),
    };
    vec![
        (Kind::Certificate, certificate),
        (Kind::CertificateStatus, status),
    ]
}

/// What a certificate's claims are looked up by, read from its DER once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub der: Arc<[u8]>,
    /// The serial in both spellings Boulder has used (`%036x`, minimal hex).
    pub serials: [String; 2],
    /// The dNSName SANs, lower-cased and label-reversed, as `issuedNames` stores them.
    pub reversed_names: Vec<String>,
    /// SHA-256 of the sorted, deduplicated, lower-cased names joined by `,` (`fqdnSets`).
    pub set_hash: Vec<u8>,
    /// SHA-256 of the SubjectPublicKeyInfo (`keyHashToSerial`, `blockedKeys`).
    pub key_hash: Vec<u8>,
    /// The CRL shard (the number in the CRL distribution point's file name) and the hour
    /// after `notAfter`, which index `revokedCertificates`; `None` without a CRL URL.
    pub crl_shard: Option<(i64, String)>,
}

impl Facts {
    /// Reads what the checks need from a certificate; `None` if it does not parse.
    pub fn of(der: Arc<[u8]>) -> Option<Facts> {
        let cert = X509::from_der(&der).ok()?;
        let serial = cert.serial_number().to_bn().ok()?.to_vec();
        let mut names: Vec<String> = cert
            .subject_alt_names()
            .map(|sans| {
                sans.iter()
                    .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.dedup();
        let reversed_names = names.iter().map(|n| reverse(n)).collect();
        let set_hash = hash(MessageDigest::sha256(), names.join(",").as_bytes())
            .ok()?
            .to_vec();
        let spki = cert.public_key().ok()?.public_key_to_der().ok()?;
        let key_hash = hash(MessageDigest::sha256(), &spki).ok()?.to_vec();
        Some(Facts {
            serials: serial_spellings(&serial),
            reversed_names,
            set_hash,
            key_hash,
            crl_shard: crl_shard(&cert),
            der,
        })
    }
}

/// Boulder's `registrations.jwk_sha256`: standard, padded base64 of SHA-256 of the key's
/// SubjectPublicKeyInfo.
pub fn account_key_digest<T: openssl::pkey::HasPublic>(
    key: &openssl::pkey::PKeyRef<T>,
) -> Option<String> {
    use base64::Engine;
    let spki = key.public_key_to_der().ok()?;
    let digest = hash(MessageDigest::sha256(), &spki).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(digest))
}

/// `www.example.com` → `com.example.www` (Boulder's `issuedNames.reversedName`).
pub fn reverse(name: &str) -> String {
    name.split('.').rev().collect::<Vec<_>>().join(".")
}

/// The shard from a CRL distribution point URL ending `/<shard>.crl`, and the hour after
/// `notAfter` (`revokedCertificates.notAfterHour`, UTC, `YYYY-MM-DD HH:00:00`).
fn crl_shard(cert: &X509) -> Option<(i64, String)> {
    let points = cert.crl_distribution_points()?;
    let url = points.iter().find_map(|p| {
        p.distpoint()?
            .fullname()?
            .iter()
            .find_map(|n| n.uri().map(str::to_owned))
    })?;
    let shard: i64 = url.rsplit('/').next()?.strip_suffix(".crl")?.parse().ok()?;
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(cert.not_after()).ok()?;
    let not_after = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    let hour = (not_after + 3600).div_euclid(3600) * 3600;
    let at = time::OffsetDateTime::from_unix_timestamp(hour).ok()?;
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:00:00");
    Some((shard, at.format(&format).ok()?))
}

/// Boulder stores serials as 36 lowercase hex digits (`%036x`); other CAs may store the minimal
/// form. Both spellings of `serial` (big-endian bytes).
pub fn serial_spellings(serial: &[u8]) -> [String; 2] {
    let hex: String = serial.iter().map(|b| format!("{b:02x}")).collect();
    let minimal = hex.trim_start_matches('0');
    let minimal = if minimal.is_empty() { "0" } else { minimal };
    [format!("{minimal:0>36}"), minimal.to_owned()]
}

#[cfg(test)]
mod tests;
