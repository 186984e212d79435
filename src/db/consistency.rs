//! Does the CA's database hold what its API answered? After an issuance the certificate must be
//! stored (same DER) with a status row; after a revocation the status must say revoked, with
//! the reason given. Mismatches are counted per kind.

use super::queries::StoredCert;

/// A kind of disagreement between the API and the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mismatch {
    /// No `certificates` row for the serial.
    CertificateMissing,
    /// No `certificateStatus` row for the serial.
    StatusMissing,
    /// The stored DER is not the certificate the API served.
    DerDiffers,
    /// `good` where the API revoked it, or `revoked` where it did not.
    StatusDiffers,
    /// Revoked, but with another reason code than requested.
    ReasonDiffers,
}

impl Mismatch {
    pub fn name(self) -> &'static str {
        match self {
            Mismatch::CertificateMissing => "certificate-missing",
            Mismatch::StatusMissing => "status-missing",
            Mismatch::DerDiffers => "der-differs",
            Mismatch::StatusDiffers => "status-differs",
            Mismatch::ReasonDiffers => "reason-differs",
        }
    }

    /// What the mismatch means, for the log.
    pub fn describe(self) -> &'static str {
        match self {
            Mismatch::CertificateMissing => "no certificates row",
            Mismatch::StatusMissing => "no certificateStatus row",
            Mismatch::DerDiffers => "the stored DER is not the served certificate",
            Mismatch::StatusDiffers => "the stored status disagrees with the API",
            Mismatch::ReasonDiffers => "revoked with another reason than requested",
        }
    }

    /// Rows that may still be on their way (the CA writes asynchronously): worth waiting for.
    pub fn may_appear_later(self) -> bool {
        matches!(self, Mismatch::CertificateMissing | Mismatch::StatusMissing)
    }
}

/// What the API said about a certificate.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub der: &'a [u8],
    /// `Some(reason)` after a successful revocation.
    pub revoked: Option<i32>,
}

/// The first disagreement between `expected` and `stored`, if any.
pub fn compare(expected: Expected<'_>, stored: &StoredCert) -> Option<Mismatch> {
    let Some(der) = &stored.der else {
        return Some(Mismatch::CertificateMissing);
    };
    if der.as_slice() != expected.der {
        return Some(Mismatch::DerDiffers);
    }
    let Some((status, reason)) = &stored.status else {
        return Some(Mismatch::StatusMissing);
    };
    match (expected.revoked, status.as_str()) {
        (None, "good") => None,
        (Some(want), "revoked") if *reason == want => None,
        (Some(_), "revoked") => Some(Mismatch::ReasonDiffers),
        _ => Some(Mismatch::StatusDiffers),
    }
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
mod tests {
    use super::*;

    fn stored(der: Option<&[u8]>, status: Option<(&str, i32)>) -> StoredCert {
        StoredCert {
            der: der.map(<[u8]>::to_vec),
            status: status.map(|(s, r)| (s.to_owned(), r)),
        }
    }

    #[test]
    fn agreement_and_each_kind_of_mismatch() {
        let issued = Expected {
            der: b"cert",
            revoked: None,
        };
        let revoked = Expected {
            der: b"cert",
            revoked: Some(1),
        };
        assert_eq!(
            compare(issued, &stored(Some(b"cert"), Some(("good", 0)))),
            None
        );
        assert_eq!(
            compare(revoked, &stored(Some(b"cert"), Some(("revoked", 1)))),
            None
        );
        assert_eq!(
            compare(issued, &stored(None, None)),
            Some(Mismatch::CertificateMissing)
        );
        assert_eq!(
            compare(issued, &stored(Some(b"cert"), None)),
            Some(Mismatch::StatusMissing)
        );
        assert_eq!(
            compare(issued, &stored(Some(b"other"), Some(("good", 0)))),
            Some(Mismatch::DerDiffers)
        );
        assert_eq!(
            compare(revoked, &stored(Some(b"cert"), Some(("good", 0)))),
            Some(Mismatch::StatusDiffers)
        );
        assert_eq!(
            compare(issued, &stored(Some(b"cert"), Some(("revoked", 0)))),
            Some(Mismatch::StatusDiffers)
        );
        assert_eq!(
            compare(revoked, &stored(Some(b"cert"), Some(("revoked", 4)))),
            Some(Mismatch::ReasonDiffers)
        );
        assert!(Mismatch::StatusMissing.may_appear_later());
        assert!(!Mismatch::DerDiffers.may_appear_later());
    }

    #[test]
    fn serials_in_both_spellings() {
        assert_eq!(
            serial_spellings(&[0x00, 0xfa, 0x12]),
            [
                "00000000000000000000000000000000fa12".to_owned(),
                "fa12".to_owned()
            ]
        );
        assert_eq!(serial_spellings(&[0])[1], "0");
    }
}
