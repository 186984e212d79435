//! Just enough DER (X.690) to list a certificate's extensions with their criticality and raw
//! values: tls-alpn-01 must see the acmeIdentifier extension's exact bytes, which the openssl
//! crate does not expose.

use crate::asn1::tlv;

/// One certificate extension.
pub struct Extension {
    /// The OID's DER contents.
    pub oid: Vec<u8>,
    pub critical: bool,
    /// The extnValue OCTET STRING's contents.
    pub value: Vec<u8>,
}

/// The extensions of a DER certificate.
pub fn extensions(cert: &[u8]) -> Option<Vec<Extension>> {
    let (_, certificate, _) = tlv(cert)?;
    let (_, mut tbs, _) = tlv(certificate)?;
    while !tbs.is_empty() {
        let (tag, contents, rest) = tlv(tbs)?;
        tbs = rest;
        if tag != 0xa3 {
            continue;
        }
        let (_, mut list, _) = tlv(contents)?;
        let mut out = Vec::new();
        while !list.is_empty() {
            let (_, ext, rest) = tlv(list)?;
            list = rest;
            let (tag, oid, mut fields) = tlv(ext)?;
            if tag != 0x06 {
                return None;
            }
            let mut critical = false;
            let (mut tag, mut value, after) = tlv(fields)?;
            if tag == 0x01 {
                critical = value.first().is_some_and(|b| *b != 0);
                fields = after;
                (tag, value, _) = tlv(fields)?;
            }
            if tag != 0x04 {
                return None;
            }
            out.push(Extension {
                oid: oid.to_vec(),
                critical,
                value: value.to_vec(),
            });
        }
        return Some(out);
    }
    Some(Vec::new())
}

/// The contents of a DER OCTET STRING that is the whole input.
pub fn octet_string(input: &[u8]) -> Option<&[u8]> {
    match tlv(input)? {
        (0x04, contents, []) => Some(contents),
        _ => None,
    }
}
