//! Certificate chains as PEM
//! ([RFC 8555 §7.4.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.4.2),
//! [RFC 7468 §5](https://www.rfc-editor.org/rfc/rfc7468#section-5)): the `CERTIFICATE` blocks
//! decoded to DER, without parsing the certificates. The client only needs to know a download is a
//! chain; parsing a certificate with OpenSSL 3 costs ~1.5 M instructions (its public key goes
//! through the provider decoders), so the chains parse what they check, once.

use base64::Engine;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// Why a body is not a PEM certificate chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// Not a single `BEGIN CERTIFICATE` line.
    #[error("the body holds no PEM certificate")]
    Empty,
    /// A block has no `END CERTIFICATE` line, as in a truncated body.
    #[error("a CERTIFICATE block has no END line")]
    Unterminated,
    /// A block holds something other than base64.
    #[error("a CERTIFICATE block is not base64")]
    Base64,
    /// A block decodes to something other than a DER SEQUENCE (first byte not 0x30).
    #[error("a CERTIFICATE block does not hold a DER SEQUENCE")]
    NotDer,
}

/// The DER of every `CERTIFICATE` block, in order (the leaf first,
/// [RFC 8555 §7.4.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.4.2)). Text between blocks is
/// ignored, as [RFC 7468 §5.2](https://www.rfc-editor.org/rfc/rfc7468#section-5.2) allows.
pub fn certificates(pem: &str) -> Result<Vec<Vec<u8>>, PemError> {
    let mut ders = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let end = body.find(END).ok_or(PemError::Unterminated)?;
        let text: Vec<u8> = body[..end]
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| PemError::Base64)?;
        if der.first() != Some(&0x30) {
            return Err(PemError::NotDer);
        }
        ders.push(der);
        rest = &body[end + END.len()..];
    }
    if ders.is_empty() {
        return Err(PemError::Empty);
    }
    Ok(ders)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::self_signed_ca;

    #[test]
    fn blocks_decode_in_order_with_text_between() {
        let (a, _) = self_signed_ca("A");
        let (b, _) = self_signed_ca("B");
        let pem = format!(
            "leaf:\n{}\r\nissuer:\n{}",
            String::from_utf8(a.to_pem().unwrap()).unwrap(),
            String::from_utf8(b.to_pem().unwrap()).unwrap()
        );
        let ders = certificates(&pem).unwrap();
        assert_eq!(ders, [a.to_der().unwrap(), b.to_der().unwrap()]);
    }

    #[test]
    fn what_is_not_a_chain_says_why() {
        assert_eq!(certificates("hello"), Err(PemError::Empty));
        assert_eq!(
            certificates(&format!("{BEGIN}\nMIIB")),
            Err(PemError::Unterminated)
        );
        assert_eq!(
            certificates(&format!("{BEGIN}\n!!!!\n{END}")),
            Err(PemError::Base64)
        );
        assert_eq!(
            certificates(&format!("{BEGIN}\naGVsbG8=\n{END}")),
            Err(PemError::NotDer)
        );
    }
}
