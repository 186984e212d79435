//! Certificate signing requests for finalize
//! ([RFC 8555 §7.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.4),
//! [RFC 2986](https://www.rfc-editor.org/rfc/rfc2986)).

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509ReqBuilder};

/// A DER CSR for `names` (all as SANs, the first also as CN), signed by `key`.
pub fn csr_der(key: &PKey<Private>, names: &[String]) -> Result<Vec<u8>, ErrorStack> {
    let mut builder = X509ReqBuilder::new()?;
    builder.set_pubkey(key)?;
    if let Some(first) = names.first().filter(|n| n.len() <= 64) {
        let mut subject = X509NameBuilder::new()?;
        subject.append_entry_by_text("CN", first)?;
        builder.set_subject_name(&subject.build())?;
    }
    let mut san = SubjectAlternativeName::new();
    for name in names {
        san.dns(name);
    }
    let mut extensions = Stack::new()?;
    extensions.push(san.build(&builder.x509v3_context(None))?)?;
    builder.add_extensions(&extensions)?;
    builder.sign(key, MessageDigest::sha256())?;
    builder.build().to_der()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::KeyType;
    use openssl::x509::X509Req;

    #[test]
    fn csr_carries_every_name_and_verifies() {
        let key = KeyType::P256.generate().unwrap();
        let names = vec!["a.wile.test".to_owned(), "b.wile.test".to_owned()];
        let der = csr_der(&key, &names).unwrap();
        let req = X509Req::from_der(&der).unwrap();
        assert!(req.verify(&key).unwrap());
        let text = String::from_utf8(req.to_text().unwrap()).unwrap();
        assert!(text.contains("DNS:a.wile.test, DNS:b.wile.test"), "{text}");
        assert!(
            text.contains("CN = a.wile.test") || text.contains("CN=a.wile.test"),
            "{text}"
        );
    }
}
