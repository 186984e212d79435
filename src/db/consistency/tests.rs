use std::sync::Arc;

use openssl::hash::{hash, MessageDigest};

use super::*;
use crate::test_support::{Spec, Until};

/// A certificate for `names` with a CRL distribution point in shard 17, valid until
/// 2030-01-02 03:04:05 UTC.
fn certificate(names: &[&str]) -> Arc<[u8]> {
    let (cert, _) = Spec {
        cn: names[0],
        names,
        serial_hex: Some("6e01020304"),
        until: Until::At("20300102030405Z"),
        crl: Some("http://c.boulder/7/17.crl"),
        ..Spec::default()
    }
    .make();
    cert.to_der().unwrap().into()
}

#[test]
fn facts_are_read_as_boulder_writes_them() {
    let der = certificate(&["www.Example.com", "a.example.com", "a.example.com"]);
    let facts = Facts::of(der.clone()).unwrap();
    assert_eq!(
        facts.serials,
        [
            "000000000000000000000000006e01020304".to_owned(),
            "6e01020304".to_owned()
        ]
    );
    assert_eq!(facts.reversed_names, ["com.example.a", "com.example.www"]);
    let set = hash(MessageDigest::sha256(), b"a.example.com,www.example.com").unwrap();
    assert_eq!(facts.set_hash, set.to_vec());
    let cert = X509::from_der(&der).unwrap();
    let spki = cert.public_key().unwrap().public_key_to_der().unwrap();
    assert_eq!(
        facts.key_hash,
        hash(MessageDigest::sha256(), &spki).unwrap().to_vec()
    );
    assert_eq!(
        facts.crl_shard,
        Some((17, "2030-01-02 04:00:00".to_owned()))
    );
    assert_eq!(reverse("*.b.com"), "com.b.*");
}

fn agreeing(facts: &Facts, renewal: bool) -> Observed {
    Observed {
        der: Some(facts.der.to_vec()),
        status: Some(("good".into(), 0)),
        issued_names: facts
            .reversed_names
            .iter()
            .map(|n| (n.clone(), renewal))
            .collect(),
        key_hash: true,
        fqdn_set: true,
        order_serial: Some(Some(facts.serials[0].clone())),
        replacement: Some((42, true)),
        ..Observed::default()
    }
}

fn mismatches(v: &[(Kind, Option<Mismatch>)]) -> Vec<Mismatch> {
    v.iter().filter_map(|(_, m)| *m).collect()
}

#[test]
fn an_issuance_agrees_and_each_missing_or_wrong_row_is_named() {
    let facts = Facts::of(certificate(&["a.example.com", "b.example.com"])).unwrap();
    let claim = Claim::Issued {
        der: facts.der.clone(),
        renewal: true,
        order: Some(42),
        replaces: Some("6e99".into()),
    };
    let seen = agreeing(&facts, true);
    let v = verdicts(&claim, Some(&facts), &seen);
    let kinds: Vec<Kind> = v.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        [
            Kind::Certificate,
            Kind::CertificateStatus,
            Kind::IssuedNames,
            Kind::KeyHash,
            Kind::FqdnSet,
            Kind::OrderSerial,
            Kind::ReplacementOrder
        ]
    );
    assert!(mismatches(&v).is_empty(), "{v:?}");
    let revoked_since = Observed {
        status: Some(("revoked".into(), 4)),
        ..seen.clone()
    };
    assert!(mismatches(&verdicts(&claim, Some(&facts), &revoked_since)).is_empty());

    let cases: Vec<(Observed, Mismatch)> = vec![
        (
            Observed {
                der: None,
                ..seen.clone()
            },
            Mismatch::CertificateMissing,
        ),
        (
            Observed {
                der: Some(vec![1]),
                ..seen.clone()
            },
            Mismatch::DerDiffers,
        ),
        (
            Observed {
                status: None,
                ..seen.clone()
            },
            Mismatch::StatusMissing,
        ),
        (
            Observed {
                status: Some(("bogus".into(), 0)),
                ..seen.clone()
            },
            Mismatch::StatusDiffers,
        ),
        (
            Observed {
                issued_names: seen.issued_names[..1].to_vec(),
                ..seen.clone()
            },
            Mismatch::IssuedNamesMissing,
        ),
        (agreeing(&facts, false), Mismatch::RenewalDiffers),
        (
            Observed {
                key_hash: false,
                ..seen.clone()
            },
            Mismatch::KeyHashMissing,
        ),
        (
            Observed {
                fqdn_set: false,
                ..seen.clone()
            },
            Mismatch::FqdnSetMissing,
        ),
        (
            Observed {
                order_serial: Some(None),
                ..seen.clone()
            },
            Mismatch::OrderSerialDiffers,
        ),
        (
            Observed {
                order_serial: None,
                ..seen.clone()
            },
            Mismatch::OrderSerialDiffers,
        ),
        (
            Observed {
                replacement: None,
                ..seen.clone()
            },
            Mismatch::ReplacementMissing,
        ),
        (
            Observed {
                replacement: Some((42, false)),
                ..seen.clone()
            },
            Mismatch::ReplacementDiffers,
        ),
        (
            Observed {
                replacement: Some((41, true)),
                ..seen.clone()
            },
            Mismatch::ReplacementDiffers,
        ),
    ];
    for (observed, expected) in cases {
        assert_eq!(
            mismatches(&verdicts(&claim, Some(&facts), &observed)),
            [expected],
            "{observed:?}"
        );
    }
    let plain = Claim::Issued {
        der: facts.der.clone(),
        renewal: false,
        order: None,
        replaces: None,
    };
    assert_eq!(
        verdicts(&plain, Some(&facts), &agreeing(&facts, false)).len(),
        5
    );
}

#[test]
fn a_revocation_checks_the_status_the_crl_row_and_a_blocked_key() {
    let facts = Facts::of(certificate(&["a.example.com"])).unwrap();
    let claim = Claim::Revoked {
        der: facts.der.clone(),
        reason: 1,
        by_key: true,
    };
    let seen = Observed {
        der: Some(facts.der.to_vec()),
        status: Some(("revoked".into(), 1)),
        revoked_reason: Some(1),
        blocked_key: true,
        ..Observed::default()
    };
    assert!(mismatches(&verdicts(&claim, Some(&facts), &seen)).is_empty());
    let cases = [
        (
            Observed {
                status: Some(("good".into(), 0)),
                ..seen.clone()
            },
            Mismatch::StatusDiffers,
        ),
        (
            Observed {
                status: Some(("revoked".into(), 4)),
                ..seen.clone()
            },
            Mismatch::ReasonDiffers,
        ),
        (
            Observed {
                revoked_reason: None,
                ..seen.clone()
            },
            Mismatch::RevokedCertificateMissing,
        ),
        (
            Observed {
                revoked_reason: Some(4),
                ..seen.clone()
            },
            Mismatch::RevokedReasonDiffers,
        ),
        (
            Observed {
                blocked_key: false,
                ..seen.clone()
            },
            Mismatch::BlockedKeyMissing,
        ),
    ];
    for (observed, expected) in cases {
        assert_eq!(
            mismatches(&verdicts(&claim, Some(&facts), &observed)),
            [expected]
        );
    }
    assert!(Mismatch::StatusDiffers.may_settle());
    assert!(!Mismatch::ReasonDiffers.may_settle());
}

#[test]
fn account_and_authorization_changes() {
    let key = Claim::AccountKey {
        account: 7,
        key_digest: "abc=".into(),
    };
    let seen = Observed {
        account: Some(("abc=".into(), "valid".into())),
        authz_status: Some(3),
        ..Observed::default()
    };
    assert!(mismatches(&verdicts(&key, None, &seen)).is_empty());
    let old = Observed {
        account: Some(("old=".into(), "valid".into())),
        ..seen.clone()
    };
    assert_eq!(
        mismatches(&verdicts(&key, None, &old)),
        [Mismatch::AccountKeyDiffers]
    );
    let closed = Claim::AccountDeactivated { account: 7 };
    assert_eq!(
        mismatches(&verdicts(&closed, None, &seen)),
        [Mismatch::AccountStatusDiffers]
    );
    let authz = Claim::AuthzDeactivated { authz: 9 };
    assert!(mismatches(&verdicts(&authz, None, &seen)).is_empty());
    let pending = Observed {
        authz_status: Some(0),
        ..seen
    };
    assert_eq!(
        mismatches(&verdicts(&authz, None, &pending)),
        [Mismatch::AuthzStatusDiffers]
    );
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
