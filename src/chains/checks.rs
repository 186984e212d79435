//! What the tool verifies about what the CA hands out; a CA that answers fast but wrong must
//! not look healthy.

use openssl::asn1::Asn1Time;
use openssl::pkey::{HasPublic, PKeyRef};
use openssl::stack::Stack;
use openssl::x509::store::X509Store;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509StoreContext, X509};

use super::ChainError;

/// Clock difference tolerated between the CA and the tool: a CA that stamps `notBefore` with
/// its current second may otherwise look "not yet valid" for a moment.
const CLOCK_SKEW_SECS: i64 = 60;

/// Parses a PEM chain, checks the leaf covers every name and is valid now (within the clock
/// skew), and (with `roots`) that the chain verifies up to one of them. Returns the leaf.
pub fn certificate_chain(
    pem: &str,
    names: &[String],
    roots: Option<&X509Store>,
) -> Result<X509, ChainError> {
    let mut certs = X509::stack_from_pem(pem.as_bytes())
        .map_err(|e| ChainError::check("certificate", format!("not a PEM chain: {e}")))?
        .into_iter();
    let leaf = certs
        .next()
        .ok_or_else(|| ChainError::check("certificate", "empty chain"))?;
    let sans: Vec<String> = leaf
        .subject_alt_names()
        .map(|sans| {
            sans.iter()
                .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default();
    if let Some(missing) = names
        .iter()
        .find(|n| !sans.contains(&n.to_ascii_lowercase()))
    {
        return Err(ChainError::check(
            "names",
            format!(
                "certificate does not cover {missing} (SANs: {})",
                sans.join(", ")
            ),
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let stamp =
        |t: i64| Asn1Time::from_unix(t).map_err(|e| ChainError::check("validity", e.to_string()));
    if leaf.not_before() > stamp(now + CLOCK_SKEW_SECS)? || leaf.not_after() < stamp(now)? {
        return Err(ChainError::check(
            "validity",
            format!(
                "certificate valid from {} to {}, not now",
                leaf.not_before(),
                leaf.not_after()
            ),
        ));
    }
    if let Some(store) = roots {
        let mut chain = Stack::new().map_err(|e| ChainError::check("chain", e.to_string()))?;
        for cert in certs {
            chain
                .push(cert)
                .map_err(|e| ChainError::check("chain", e.to_string()))?;
        }
        let mut ctx =
            X509StoreContext::new().map_err(|e| ChainError::check("chain", e.to_string()))?;
        let verdict = ctx
            .init(store, &leaf, &chain, |c| {
                Ok(c.verify_cert()?.then_some(()).ok_or(c.error()))
            })
            .map_err(|e| ChainError::check("chain", e.to_string()))?;
        verdict.map_err(|e| {
            ChainError::check(
                "chain",
                format!("does not verify to the expected root: {e}"),
            )
        })?;
    }
    Ok(leaf)
}

/// The DER of the first certificate of a PEM chain.
pub fn leaf_der(pem: &str) -> Result<Vec<u8>, ChainError> {
    X509::from_pem(pem.as_bytes())
        .and_then(|leaf| leaf.to_der())
        .map_err(|e| ChainError::check("certificate", format!("not a PEM certificate: {e}")))
}

/// The certificate certifies the key whose CSR asked for it, not some other key.
pub fn certified_key<T: HasPublic>(leaf: &X509, key: &PKeyRef<T>) -> Result<(), ChainError> {
    let public = leaf
        .public_key()
        .map_err(|e| ChainError::check("certificate", format!("unreadable public key: {e}")))?;
    if public.public_eq(key) {
        Ok(())
    } else {
        Err(ChainError::check(
            "certificate",
            "the certificate's public key is not the key of the CSR",
        ))
    }
}

/// A store of the PEM roots in `pem`. Chain verification ignores time: the leaf's validity is
/// checked with a clock-skew allowance instead, and a CA certificate made in the same second as
/// the leaf would otherwise look "not yet valid" on a CA started a moment ago.
pub fn root_store(pem: &[u8]) -> Result<X509Store, String> {
    let roots = X509::stack_from_pem(pem).map_err(|e| e.to_string())?;
    let mut builder = openssl::x509::store::X509StoreBuilder::new().map_err(|e| e.to_string())?;
    builder
        .set_flags(X509VerifyFlags::NO_CHECK_TIME)
        .map_err(|e| e.to_string())?;
    for root in roots {
        builder.add_cert(root).map_err(|e| e.to_string())?;
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{issue_leaf, issue_leaf_from, self_signed_ca};

    #[test]
    fn leaf_covering_names_and_chaining_to_root_passes() {
        let (root, root_key) = self_signed_ca("Test Root");
        let leaf = issue_leaf(&root, &root_key, &["a.wile.test", "b.wile.test"]);
        let pem = String::from_utf8(leaf.to_pem().unwrap()).unwrap();
        let store = root_store(&root.to_pem().unwrap()).unwrap();
        let names = vec!["a.wile.test".into(), "B.wile.test".into()];
        assert!(certificate_chain(&pem, &names, Some(&store)).is_ok());
    }

    #[test]
    fn missing_name_fails() {
        let (root, root_key) = self_signed_ca("Test Root");
        let leaf = issue_leaf(&root, &root_key, &["a.wile.test"]);
        let pem = String::from_utf8(leaf.to_pem().unwrap()).unwrap();
        let err = certificate_chain(&pem, &["c.wile.test".into()], None).unwrap_err();
        assert_eq!(err.reason(), "check:names");
        assert!(err.to_string().contains("c.wile.test"));
    }

    #[test]
    fn foreign_root_fails() {
        let (root, root_key) = self_signed_ca("Test Root");
        let (other, _) = self_signed_ca("Other Root");
        let leaf = issue_leaf(&root, &root_key, &["a.wile.test"]);
        let pem = String::from_utf8(leaf.to_pem().unwrap()).unwrap();
        let store = root_store(&other.to_pem().unwrap()).unwrap();
        let err = certificate_chain(&pem, &["a.wile.test".into()], Some(&store)).unwrap_err();
        assert_eq!(err.reason(), "check:chain");
    }

    #[test]
    fn a_certificate_not_yet_valid_fails() {
        let (root, root_key) = self_signed_ca("Test Root");
        let leaf = issue_leaf_from(&root, &root_key, &["a.wile.test"], 2);
        let pem = String::from_utf8(leaf.to_pem().unwrap()).unwrap();
        let err = certificate_chain(&pem, &["a.wile.test".into()], None).unwrap_err();
        assert_eq!(err.reason(), "check:validity");
    }

    #[test]
    fn the_certificate_must_carry_the_csr_key() {
        let (root, root_key) = self_signed_ca("Test Root");
        let leaf = issue_leaf(&root, &root_key, &["a.wile.test"]);
        assert!(certified_key(&root, &root_key).is_ok());
        let err = certified_key(&leaf, &root_key).unwrap_err();
        assert_eq!(err.reason(), "check:certificate");
    }

    #[test]
    fn garbage_is_not_a_chain() {
        let err = certificate_chain("hello", &[], None).unwrap_err();
        assert_eq!(err.reason(), "check:certificate");
        assert_eq!(leaf_der("hello").unwrap_err().reason(), "check:certificate");
        let (root, _) = self_signed_ca("Test Root");
        let pem = String::from_utf8(root.to_pem().unwrap()).unwrap();
        assert_eq!(leaf_der(&pem).unwrap(), root.to_der().unwrap());
    }
}
