//! What the tool verifies about what the CA hands out; a CA that answers fast but wrong must
//! not look healthy.

use openssl::bn::BigNumContext;
use openssl::ec::PointConversionForm;
use openssl::error::ErrorStack;
use openssl::pkey::{HasPublic, Id, PKeyRef};

use super::trust::Trust;
use super::x509;
use super::ChainError;

/// Clock difference tolerated between the CA and the tool: a CA that stamps `notBefore` with
/// its current second may otherwise look "not yet valid" for a moment.
const CLOCK_SKEW_SECS: i64 = 60;

/// Checks a downloaded chain (DER, the leaf first): the leaf covers every name and is valid
/// now (within the clock skew), and (with `trust`) the chain verifies up to one of its roots.
/// Returns the leaf's DER.
pub fn certificate_chain(
    mut ders: Vec<Vec<u8>>,
    names: &[String],
    trust: Option<&Trust>,
) -> Result<Vec<u8>, ChainError> {
    if ders.is_empty() {
        return Err(ChainError::check("certificate", "empty chain"));
    }
    let leaf_der = ders.remove(0);
    let leaf =
        x509::parse(&leaf_der).map_err(|e| ChainError::check("certificate", e.to_string()))?;
    if let Some(missing) = names
        .iter()
        .find(|n| !leaf.dns_names.iter().any(|san| san.eq_ignore_ascii_case(n)))
    {
        return Err(ChainError::check(
            "names",
            format!(
                "certificate does not cover {missing} (SANs: {})",
                leaf.dns_names.join(", ")
            ),
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if leaf.not_before > now + CLOCK_SKEW_SECS || leaf.not_after < now {
        return Err(ChainError::check(
            "validity",
            format!(
                "certificate valid from {} to {}, not now ({now}; seconds since 1970)",
                leaf.not_before, leaf.not_after
            ),
        ));
    }
    if let Some(trust) = trust {
        trust
            .verify(&leaf, &leaf_der, &ders)
            .map_err(|e| ChainError::check("chain", e.to_string()))?;
    }
    Ok(leaf_der)
}

/// The certificate (DER) certifies the key whose CSR asked for it, not some other key.
pub fn certified_key<T: HasPublic>(leaf_der: &[u8], key: &PKeyRef<T>) -> Result<(), ChainError> {
    let leaf =
        x509::parse(leaf_der).map_err(|e| ChainError::check("certificate", e.to_string()))?;
    let expected = public_bits(key).map_err(ChainError::local)?;
    if leaf.public_key == expected.as_slice() {
        Ok(())
    } else {
        Err(ChainError::check(
            "certificate",
            "the certificate's public key is not the key of the CSR",
        ))
    }
}

/// What a certificate's `subjectPublicKey` holds for `key` (RFC 5480 §2.2, RFC 3279 §2.3.1):
/// the uncompressed EC point, or the DER `RSAPublicKey`.
fn public_bits<T: HasPublic>(key: &PKeyRef<T>) -> Result<Vec<u8>, ErrorStack> {
    if key.id() == Id::EC {
        let ec = key.ec_key()?;
        let mut ctx = BigNumContext::new()?;
        ec.public_key()
            .to_bytes(ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
    } else {
        key.rsa()?.public_key_to_der_pkcs1()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{issue_ca, issue_leaf, issue_leaf_from, self_signed_ca};
    use openssl::x509::X509;

    fn chain_of(certs: &[&X509]) -> Vec<Vec<u8>> {
        certs.iter().map(|c| c.to_der().unwrap()).collect()
    }

    #[test]
    fn leaf_covering_names_and_chaining_to_root_passes() {
        let (root, root_key) = self_signed_ca("Test Root");
        let leaf = issue_leaf(&root, &root_key, &["a.wile.test", "b.wile.test"]);
        let trust = Trust::from_pem(&root.to_pem().unwrap()).unwrap();
        let names = vec!["a.wile.test".into(), "B.wile.test".into()];
        let der = certificate_chain(chain_of(&[&leaf]), &names, Some(&trust)).unwrap();
        assert_eq!(der, leaf.to_der().unwrap());
    }

    /// The first leaf under an intermediate takes the full path validation; the next ones
    /// only their own signature, which must still be right.
    #[test]
    fn leaves_under_a_verified_intermediate_check_their_own_signature() {
        let (root, root_key) = self_signed_ca("Test Root");
        let (inter, inter_key) = issue_ca(&root, &root_key, "Test Intermediate");
        let trust = Trust::from_pem(&root.to_pem().unwrap()).unwrap();
        let names = ["a.wile.test".to_string()];
        for _ in 0..3 {
            let leaf = issue_leaf(&inter, &inter_key, &["a.wile.test"]);
            let chain = chain_of(&[&leaf, &inter]);
            assert!(certificate_chain(chain, &names, Some(&trust)).is_ok());
        }
        // Signed by another key under the same issuer name: the quick check catches it.
        let (_, impostor_key) = issue_ca(&root, &root_key, "Test Intermediate");
        let forged = issue_leaf(&inter, &impostor_key, &["a.wile.test"]);
        let err =
            certificate_chain(chain_of(&[&forged, &inter]), &names, Some(&trust)).unwrap_err();
        assert_eq!(err.reason(), "check:chain");
        assert!(err.to_string().contains("signature"), "{err}");
        // An intermediate of another root never verifies, however often it comes.
        let (other, other_key) = self_signed_ca("Other Root");
        let (stranger, stranger_key) = issue_ca(&other, &other_key, "Test Intermediate");
        for _ in 0..2 {
            let leaf = issue_leaf(&stranger, &stranger_key, &["a.wile.test"]);
            let err =
                certificate_chain(chain_of(&[&leaf, &stranger]), &names, Some(&trust)).unwrap_err();
            assert_eq!(err.reason(), "check:chain");
        }
    }

    #[test]
    fn missing_name_fails() {
        let (root, root_key) = self_signed_ca("Test Root");
        let leaf = issue_leaf(&root, &root_key, &["a.wile.test"]);
        let err = certificate_chain(chain_of(&[&leaf]), &["c.wile.test".into()], None).unwrap_err();
        assert_eq!(err.reason(), "check:names");
        assert!(err.to_string().contains("c.wile.test"));
    }

    #[test]
    fn foreign_root_fails() {
        let (root, root_key) = self_signed_ca("Test Root");
        let (other, _) = self_signed_ca("Other Root");
        let leaf = issue_leaf(&root, &root_key, &["a.wile.test"]);
        let trust = Trust::from_pem(&other.to_pem().unwrap()).unwrap();
        let err = certificate_chain(chain_of(&[&leaf]), &["a.wile.test".into()], Some(&trust))
            .unwrap_err();
        assert_eq!(err.reason(), "check:chain");
    }

    #[test]
    fn a_certificate_not_yet_valid_fails() {
        let (root, root_key) = self_signed_ca("Test Root");
        let leaf = issue_leaf_from(&root, &root_key, &["a.wile.test"], 2);
        let err = certificate_chain(chain_of(&[&leaf]), &["a.wile.test".into()], None).unwrap_err();
        assert_eq!(err.reason(), "check:validity");
    }

    #[test]
    fn the_certificate_must_carry_the_csr_key() {
        let (root, root_key) = self_signed_ca("Test Root");
        let leaf = issue_leaf(&root, &root_key, &["a.wile.test"]);
        assert!(certified_key(&root.to_der().unwrap(), &root_key).is_ok());
        let err = certified_key(&leaf.to_der().unwrap(), &root_key).unwrap_err();
        assert_eq!(err.reason(), "check:certificate");
        let rsa = crate::acme::KeyType::Rsa2048.generate().unwrap();
        assert!(certified_key(&leaf.to_der().unwrap(), &rsa).is_err());
    }

    #[test]
    fn garbage_is_not_a_chain() {
        let err = certificate_chain(vec![], &[], None).unwrap_err();
        assert_eq!(err.reason(), "check:certificate");
        let err = certificate_chain(vec![b"0\x03hello".to_vec()], &[], None).unwrap_err();
        assert_eq!(err.reason(), "check:certificate");
    }
}
