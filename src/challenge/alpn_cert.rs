//! The tls-alpn-01 validation certificate (RFC 8737 §3): self-signed, one dNSName SAN (the
//! name being validated), and the critical `id-pe-acmeIdentifier` extension holding the
//! SHA-256 digest of the key authorization.

use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::{hash, MessageDigest};
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509Extension, X509NameBuilder, X509};

use crate::acme::KeyType;

/// `id-pe-acmeIdentifier` (RFC 8737 §6.1).
pub const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

/// A validation certificate and its key, as the TLS listener presents them.
pub struct AlpnCert {
    pub cert: X509,
    pub key: PKey<Private>,
}

impl std::fmt::Debug for AlpnCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlpnCert")
            .field("subject", &self.cert.subject_name())
            .finish_non_exhaustive()
    }
}

/// The extension's value: the DER encoding of `Authorization ::= OCTET STRING (SIZE (32))`
/// holding SHA-256 of the key authorization (RFC 8737 §3): `04 20` and the digest.
pub fn acme_identifier_value(key_authorization: &str) -> Result<Vec<u8>, ErrorStack> {
    let digest = hash(MessageDigest::sha256(), key_authorization.as_bytes())?;
    let mut der = vec![0x04, 0x20];
    der.extend_from_slice(&digest);
    Ok(der)
}

/// Builds the validation certificate for `name` (a P-256 key: cheap to make, and every
/// validating TLS stack accepts it). Valid from a day ago for a week, so a CA with a skewed
/// clock still sees it as current.
pub fn build(name: &str, key_authorization: &str) -> Result<AlpnCert, ErrorStack> {
    let key = KeyType::P256.generate()?;
    let mut subject = X509NameBuilder::new()?;
    subject.append_entry_by_text("CN", name)?;
    let subject = subject.build();

    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&subject)?;
    b.set_issuer_name(&subject)?;
    b.set_pubkey(&key)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let not_before = Asn1Time::from_unix(now - 86_400)?;
    let not_after = Asn1Time::from_unix(now + 7 * 86_400)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    let san = SubjectAlternativeName::new()
        .dns(name)
        .build(&b.x509v3_context(None, None))?;
    b.append_extension(san)?;
    let oid = Asn1Object::from_str(ACME_IDENTIFIER_OID)?;
    let value = Asn1OctetString::new_from_bytes(&acme_identifier_value(key_authorization)?)?;
    b.append_extension(X509Extension::new_from_der(&oid, true, &value)?)?;
    b.sign(&key, MessageDigest::sha256())?;
    Ok(AlpnCert {
        cert: b.build(),
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The extension as it appears in the certificate's DER: `extnID`, `critical TRUE`, and
    /// `extnValue` wrapping the OCTET STRING of the digest (RFC 5280 §4.1).
    fn encoded_extension(key_authorization: &str) -> Vec<u8> {
        let mut der = vec![0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f];
        der.extend_from_slice(&[0x01, 0x01, 0xff, 0x04, 0x22]);
        der.extend_from_slice(&acme_identifier_value(key_authorization).unwrap());
        der
    }

    #[test]
    fn certificate_carries_the_name_and_the_critical_digest() {
        let alpn = build("abc.wile.test", "tok.thumb").unwrap();
        let sans: Vec<String> = alpn
            .cert
            .subject_alt_names()
            .unwrap()
            .iter()
            .filter_map(|n| n.dnsname().map(str::to_owned))
            .collect();
        assert_eq!(sans, ["abc.wile.test"]);
        let der = alpn.cert.to_der().unwrap();
        let expected = encoded_extension("tok.thumb");
        assert!(
            der.windows(expected.len()).any(|w| w == expected),
            "critical acmeIdentifier extension with SHA-256(key authorization) not found"
        );
        assert!(alpn.cert.verify(&alpn.key).unwrap(), "self-signed");
        let other = encoded_extension("tok.other");
        assert!(!der.windows(other.len()).any(|w| w == other));
    }

    #[test]
    fn digest_is_sha256_of_the_key_authorization() {
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        let value = acme_identifier_value("abc").unwrap();
        assert_eq!(&value[..2], &[0x04, 0x20]);
        assert_eq!(
            crate::acme::b64(&value[2..]),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }
}
