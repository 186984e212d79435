//! ACME Renewal Information ([RFC 9773](https://www.rfc-editor.org/rfc/rfc9773)): the certificate
//! identifier and the renewalInfo resource, fetched with a plain GET (it needs no account).

use openssl::error::ErrorStack;
use openssl::x509::X509;

use super::wire::RenewalInfo;
use super::{b64, AcmeError, Client, Endpoint};

/// Why a certificate has no ARI identifier.
#[derive(Debug, thiserror::Error)]
pub enum CertIdError {
    /// The bytes do not parse as a DER certificate.
    #[error("not a DER certificate: {0}")]
    NotDer(ErrorStack),
    /// The certID is built from the Authority Key Identifier, which this certificate lacks.
    #[error("the certificate has no Authority Key Identifier keyIdentifier")]
    NoKeyIdentifier,
    /// The serial number could not be read.
    #[error("serial number: {0}")]
    Serial(ErrorStack),
}

/// The ARI certificate identifier
/// ([RFC 9773 §4.1](https://www.rfc-editor.org/rfc/rfc9773#section-4.1)): the base64url
/// keyIdentifier of the certificate's Authority Key Identifier, a dot, and the base64url DER
/// encoding of its serial number's value (two's complement, so a leading zero byte when the high
/// bit is set).
pub fn cert_id(certificate_der: &[u8]) -> Result<String, CertIdError> {
    let cert = X509::from_der(certificate_der).map_err(CertIdError::NotDer)?;
    let key_id = cert
        .authority_key_id()
        .ok_or(CertIdError::NoKeyIdentifier)?;
    let mut serial = cert
        .serial_number()
        .to_bn()
        .map_err(CertIdError::Serial)?
        .to_vec();
    if serial.first().is_none_or(|b| b & 0x80 != 0) {
        serial.insert(0, 0);
    }
    Ok(format!("{}.{}", b64(key_id.as_slice()), b64(serial)))
}

/// The serial number (minimal lowercase hex) a certificate identifier names.
pub fn serial_of(cert_id: &str) -> Option<String> {
    use base64::Engine;
    let (_, serial) = cert_id.split_once('.')?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(serial)
        .ok()?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let minimal = hex.trim_start_matches('0');
    Some(if minimal.is_empty() { "0" } else { minimal }.to_owned())
}

impl Client {
    /// GET `<renewalInfo>/<certID>`
    /// ([RFC 9773 §4.1](https://www.rfc-editor.org/rfc/rfc9773#section-4.1)).
    pub async fn renewal_info(&self, cert_id: &str) -> Result<RenewalInfo, AcmeError> {
        let endpoint = Endpoint::RenewalInfo;
        let base = self.directory_entry(endpoint, self.directory().renewal_info.as_deref())?;
        let url = format!("{}/{cert_id}", base.trim_end_matches('/'));
        let response = self.get(endpoint, &url, None).await?;
        self.answered(response.json(endpoint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::x509::extension::{AuthorityKeyIdentifier, SubjectKeyIdentifier};
    use openssl::x509::{X509Builder, X509Extension, X509NameBuilder};

    use crate::acme::KeyType;

    /// A certificate with the given serial, issued by a CA whose Subject Key Identifier is
    /// `key_id` (so the leaf's Authority Key Identifier carries it).
    fn leaf(serial_hex: &str, key_id: &[u8]) -> Vec<u8> {
        let ca_key = KeyType::P256.generate().unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "ARI test CA").unwrap();
        let name = name.build();
        let mut ca = X509Builder::new().unwrap();
        ca.set_version(2).unwrap();
        ca.set_subject_name(&name).unwrap();
        ca.set_issuer_name(&name).unwrap();
        ca.set_pubkey(&ca_key).unwrap();
        ca.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        ca.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        // An explicit Subject Key Identifier: extension 2.5.29.14 holding the DER OCTET STRING.
        let mut ski_der = vec![0x04, key_id.len() as u8];
        ski_der.extend_from_slice(key_id);
        let ski = X509Extension::new_from_der(
            &Asn1Object::from_str("2.5.29.14").unwrap(),
            false,
            &Asn1OctetString::new_from_bytes(&ski_der).unwrap(),
        )
        .unwrap();
        ca.append_extension(ski).unwrap();
        ca.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let ca = ca.build();

        let key = KeyType::P256.generate().unwrap();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        let serial = BigNum::from_hex_str(serial_hex).unwrap();
        b.set_serial_number(&Asn1Integer::from_bn(&serial).unwrap())
            .unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(ca.subject_name()).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(Some(&ca), None))
            .unwrap();
        b.append_extension(aki).unwrap();
        let ski = SubjectKeyIdentifier::new()
            .build(&b.x509v3_context(Some(&ca), None))
            .unwrap();
        b.append_extension(ski).unwrap();
        b.sign(&ca_key, MessageDigest::sha256()).unwrap();
        b.build().to_der().unwrap()
    }

    /// [RFC 9773 §4.1](https://www.rfc-editor.org/rfc/rfc9773#section-4.1)'s example: keyIdentifier
    /// 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4 and serial 0x87654321 (DER value
    /// 00 87 65 43 21) give `aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE`.
    #[test]
    fn rfc9773_example_cert_id() {
        let key_id = [
            0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0,
            0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4,
        ];
        let der = leaf("87654321", &key_id);
        assert_eq!(
            cert_id(&der).unwrap(),
            "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
        );
    }

    #[test]
    fn serial_without_high_bit_has_no_leading_zero() {
        let der = leaf("0102", &[1, 2, 3, 4]);
        assert_eq!(cert_id(&der).unwrap(), "AQIDBA.AQI");
    }

    #[test]
    fn a_certificate_without_aki_has_no_cert_id() {
        let (ca, _) = crate::test_support::self_signed_ca("no AKI");
        let err = cert_id(&ca.to_der().unwrap()).unwrap_err().to_string();
        assert_eq!(
            err,
            "the certificate has no Authority Key Identifier keyIdentifier"
        );
        assert!(cert_id(b"junk")
            .unwrap_err()
            .to_string()
            .starts_with("not a DER certificate: "));
    }
}
