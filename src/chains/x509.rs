//! The fields of an issued certificate the chains check, read straight from its DER (RFC 5280
//! §4.1). OpenSSL 3 decodes a certificate's public key through its provider decoders when it
//! parses one (~1.5 M instructions), which made certificate parsing a third of the tool's CPU
//! per chain; this reads only what the checks need, in a few microseconds. Anything it cannot
//! read is an error: a CA's DER is exact, and a hostile CA's answer is bounded by its size.

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an X.509 certificate: {0}")]
pub struct DerError(&'static str);

/// What a certificate says, borrowed from its DER.
#[derive(Debug)]
pub struct Certificate<'a> {
    /// The signed bytes: the whole `TBSCertificate`.
    pub tbs: &'a [u8],
    /// The outer `signatureAlgorithm`, as DER (the OID and its parameters).
    pub signature_algorithm: &'a [u8],
    /// The `signature` field inside the signed bytes: it must equal the outer one.
    pub tbs_signature_algorithm: &'a [u8],
    /// The signature's bits (for ECDSA a DER `Ecdsa-Sig-Value`).
    pub signature: &'a [u8],
    /// The issuer's and the subject's names, as DER.
    pub issuer: &'a [u8],
    pub subject: &'a [u8],
    /// `notBefore` and `notAfter` in seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// The `subjectPublicKey` bits: an EC point, or a DER `RSAPublicKey`.
    pub public_key: &'a [u8],
    /// The `dNSName`s of the subject alternative names.
    pub dns_names: Vec<&'a str>,
    /// Whether an extension marked critical is one a verifier may not know (RFC 5280 §4.2):
    /// such a certificate goes through OpenSSL's full verification, which decides.
    pub unknown_critical: bool,
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;
const DNS_NAME: u8 = 0x82;
/// id-ce-subjectAltName (2.5.29.17).
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// The id-ce extensions OpenSSL's verifier handles when critical: keyUsage, subjectAltName,
/// basicConstraints, nameConstraints, certificatePolicies, policyMappings, extKeyUsage,
/// policyConstraints, inhibitAnyPolicy.
const KNOWN_CRITICAL: [u8; 9] = [0x0f, 0x11, 0x13, 0x1e, 0x20, 0x21, 0x25, 0x24, 0x36];

/// One DER element: its tag, its content, and the whole encoding.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
}

/// Reads DER elements off the front of a byte string.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    fn any(&mut self) -> Result<Tlv<'a>, DerError> {
        let data = self.0;
        let (&tag, rest) = data.split_first().ok_or(DerError("truncated"))?;
        let (&first, rest) = rest.split_first().ok_or(DerError("truncated"))?;
        let (len, rest) = match first {
            0..=0x7f => (usize::from(first), rest),
            0x81..=0x84 => {
                let n = usize::from(first & 0x7f);
                if rest.len() < n {
                    return Err(DerError("truncated length"));
                }
                let len = rest[..n]
                    .iter()
                    .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
                (len, &rest[n..])
            }
            _ => return Err(DerError("indefinite or oversized length")),
        };
        if rest.len() < len {
            return Err(DerError("element longer than its container"));
        }
        let header = data.len() - rest.len();
        self.0 = &rest[len..];
        Ok(Tlv {
            tag,
            content: &rest[..len],
            whole: &data[..header + len],
        })
    }

    fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
        let tlv = self.any()?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(DerError(what))
        }
    }
}

/// Reads a certificate's DER.
pub fn parse(der: &[u8]) -> Result<Certificate<'_>, DerError> {
    let mut outer = Reader(der);
    let certificate = outer.expect(SEQUENCE, "not a SEQUENCE")?;
    if !outer.is_empty() {
        return Err(DerError("bytes after the certificate"));
    }
    let mut cert = Reader(certificate.content);
    let tbs = cert.expect(SEQUENCE, "no TBSCertificate")?;
    let signature_algorithm = cert.expect(SEQUENCE, "no signatureAlgorithm")?.whole;
    let signature = bits(&cert.expect(BIT_STRING, "no signatureValue")?)?;

    let mut fields = Reader(tbs.content);
    if fields.peek() == Some(VERSION) {
        fields.any()?;
    }
    fields.expect(INTEGER, "no serialNumber")?;
    let tbs_signature_algorithm = fields.expect(SEQUENCE, "no signature")?.whole;
    let issuer = fields.expect(SEQUENCE, "no issuer")?.whole;
    let mut validity = Reader(fields.expect(SEQUENCE, "no validity")?.content);
    let not_before = time(&validity.any()?)?;
    let not_after = time(&validity.any()?)?;
    let subject = fields.expect(SEQUENCE, "no subject")?.whole;
    let mut spki = Reader(fields.expect(SEQUENCE, "no subjectPublicKeyInfo")?.content);
    spki.expect(SEQUENCE, "no public key algorithm")?;
    let public_key = bits(&spki.expect(BIT_STRING, "no subjectPublicKey")?)?;

    let mut dns_names = Vec::new();
    let mut unknown_critical = false;
    while !fields.is_empty() {
        let field = fields.any()?;
        if field.tag != EXTENSIONS {
            continue;
        }
        let mut list = Reader(
            Reader(field.content)
                .expect(SEQUENCE, "bad extensions")?
                .content,
        );
        while !list.is_empty() {
            let mut extension = Reader(list.expect(SEQUENCE, "bad extension")?.content);
            let id = extension.expect(OID, "extension without an OID")?.content;
            let critical = extension.peek() == Some(BOOLEAN)
                && extension.any()?.content.first().is_some_and(|&b| b != 0);
            let value = extension.expect(OCTET_STRING, "extension without a value")?;
            let known = id.len() == 3 && id[..2] == [0x55, 0x1d] && KNOWN_CRITICAL.contains(&id[2]);
            unknown_critical |= critical && !known;
            if id == SUBJECT_ALT_NAME {
                let mut names = Reader(Reader(value.content).expect(SEQUENCE, "bad SAN")?.content);
                while !names.is_empty() {
                    let name = names.any()?;
                    if name.tag == DNS_NAME {
                        let text = std::str::from_utf8(name.content)
                            .ok()
                            .filter(|t| t.is_ascii())
                            .ok_or(DerError("a dNSName is not IA5"))?;
                        dns_names.push(text);
                    }
                }
            }
        }
    }
    Ok(Certificate {
        tbs: tbs.whole,
        signature_algorithm,
        tbs_signature_algorithm,
        signature,
        issuer,
        subject,
        not_before,
        not_after,
        public_key,
        dns_names,
        unknown_critical,
    })
}

/// A BIT STRING's bits, which must be whole bytes.
fn bits<'a>(tlv: &Tlv<'a>) -> Result<&'a [u8], DerError> {
    match tlv.content.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err(DerError("a BIT STRING with unused bits")),
    }
}

/// `UTCTime` (`YYMMDDHHMMSSZ`, years 1950–2049) or `GeneralizedTime` (`YYYYMMDDHHMMSSZ`), as
/// RFC 5280 §4.1.2.5 requires them, in seconds since the Unix epoch.
fn time(tlv: &Tlv<'_>) -> Result<i64, DerError> {
    let text = tlv.content;
    let digits = match (tlv.tag, text.len()) {
        (UTC_TIME, 13) | (GENERALIZED_TIME, 15) => &text[..text.len() - 1],
        _ => return Err(DerError("a time is not UTCTime or GeneralizedTime in UTC")),
    };
    if text.last() != Some(&b'Z') || !digits.iter().all(u8::is_ascii_digit) {
        return Err(DerError("a time is not digits ending in Z"));
    }
    let number = |range: std::ops::Range<usize>| {
        digits[range]
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'))
    };
    let (year, at) = if tlv.tag == UTC_TIME {
        let yy = number(0..2);
        (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
    } else {
        (number(0..4), 4)
    };
    let (month, day) = (number(at..at + 2), number(at + 2..at + 4));
    let (hour, minute, second) = (
        number(at + 4..at + 6),
        number(at + 6..at + 8),
        number(at + 8..at + 10),
    );
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=12).contains(&month) || !(1..=month_days).contains(&day) || hour > 23 || minute > 59 {
        return Err(DerError("a time out of range"));
    }
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second.min(60))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{issue_leaf, self_signed_ca};
    use openssl::bn::BigNumContext;
    use openssl::ec::PointConversionForm;

    #[test]
    fn reads_what_openssl_reads() {
        let (root, root_key) = self_signed_ca("Test Root");
        let leaf = issue_leaf(&root, &root_key, &["a.wile.test", "b.wile.test"]);
        let der = leaf.to_der().unwrap();
        let c = parse(&der).unwrap();
        assert_eq!(c.dns_names, ["a.wile.test", "b.wile.test"]);
        assert_eq!(c.issuer, root.subject_name().to_der().unwrap());
        assert_eq!(c.subject, leaf.subject_name().to_der().unwrap());
        assert_eq!(c.signature_algorithm, c.tbs_signature_algorithm);
        let stamp = |t: i64| openssl::asn1::Asn1Time::from_unix(t).unwrap();
        assert_eq!(
            leaf.not_before().compare(&stamp(c.not_before)).unwrap(),
            std::cmp::Ordering::Equal
        );
        assert_eq!(
            leaf.not_after().compare(&stamp(c.not_after)).unwrap(),
            std::cmp::Ordering::Equal
        );
        let ec = leaf.public_key().unwrap().ec_key().unwrap();
        let point = ec
            .public_key()
            .to_bytes(
                ec.group(),
                PointConversionForm::UNCOMPRESSED,
                &mut BigNumContext::new().unwrap(),
            )
            .unwrap();
        assert_eq!(c.public_key, point);
        assert!(!c.unknown_critical);
        let sig = openssl::ecdsa::EcdsaSig::from_der(c.signature).unwrap();
        let digest = openssl::hash::hash(openssl::hash::MessageDigest::sha256(), c.tbs).unwrap();
        assert!(sig.verify(&digest, &root_key.ec_key().unwrap()).unwrap());
    }

    #[test]
    fn times_of_both_forms() {
        let utc = |s: &str| {
            time(&Tlv {
                tag: UTC_TIME,
                content: s.as_bytes(),
                whole: &[],
            })
        };
        assert_eq!(utc("700101000000Z"), Ok(0));
        assert_eq!(utc("491231235959Z"), Ok(2_524_607_999));
        let gen = |s: &str| {
            time(&Tlv {
                tag: GENERALIZED_TIME,
                content: s.as_bytes(),
                whole: &[],
            })
        };
        assert_eq!(
            gen("20260301000000Z"),
            gen("20260228000000Z").map(|t| t + 86_400)
        );
        assert!(gen("20260229120000Z").is_err());
        assert_eq!(gen("20240229000000Z"), Ok(1_709_164_800));
        assert!(utc("7001010000Z").is_err());
        assert!(gen("2026130112000Z").is_err());
        assert!(gen("20261301120000Z").is_err());
    }

    #[test]
    fn truncated_and_garbage_der_are_errors_not_panics() {
        let (root, _) = self_signed_ca("Test Root");
        let der = root.to_der().unwrap();
        for cut in 0..der.len() {
            assert!(parse(&der[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(parse(&[0x30, 0x80, 0x00, 0x00]).is_err());
        let mut longer = der.clone();
        longer.push(0);
        assert!(parse(&longer).is_err());
    }
}
