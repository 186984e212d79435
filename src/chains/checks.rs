//! What the tool verifies about what the CA hands out; a CA that answers fast but wrong must
//! not look healthy.

use openssl::stack::Stack;
use openssl::x509::store::X509Store;
use openssl::x509::{X509StoreContext, X509};

use super::ChainError;

fn check(what: &'static str, detail: impl Into<String>) -> ChainError {
    ChainError::Check {
        what,
        detail: detail.into(),
    }
}

/// Parses a PEM chain, checks the leaf covers every name, and (with `roots`) that the chain
/// verifies up to one of them. Returns the leaf.
pub fn certificate_chain(
    pem: &str,
    names: &[String],
    roots: Option<&X509Store>,
) -> Result<X509, ChainError> {
    let mut certs = X509::stack_from_pem(pem.as_bytes())
        .map_err(|e| check("certificate", format!("not a PEM chain: {e}")))?
        .into_iter();
    let leaf = certs
        .next()
        .ok_or_else(|| check("certificate", "empty chain"))?;
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
        return Err(check(
            "names",
            format!(
                "certificate does not cover {missing} (SANs: {})",
                sans.join(", ")
            ),
        ));
    }
    if let Some(store) = roots {
        let mut chain = Stack::new().map_err(|e| check("chain", e.to_string()))?;
        for cert in certs {
            chain
                .push(cert)
                .map_err(|e| check("chain", e.to_string()))?;
        }
        let mut ctx = X509StoreContext::new().map_err(|e| check("chain", e.to_string()))?;
        let verdict = ctx
            .init(store, &leaf, &chain, |c| {
                Ok(c.verify_cert()?.then_some(()).ok_or(c.error()))
            })
            .map_err(|e| check("chain", e.to_string()))?;
        verdict.map_err(|e| {
            check(
                "chain",
                format!("does not verify to the expected root: {e}"),
            )
        })?;
    }
    Ok(leaf)
}

/// A store of the PEM roots in `pem`.
pub fn root_store(pem: &[u8]) -> Result<X509Store, String> {
    let roots = X509::stack_from_pem(pem).map_err(|e| e.to_string())?;
    let mut builder = openssl::x509::store::X509StoreBuilder::new().map_err(|e| e.to_string())?;
    for root in roots {
        builder.add_cert(root).map_err(|e| e.to_string())?;
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{issue_leaf, self_signed_ca};

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
    fn garbage_is_not_a_chain() {
        let err = certificate_chain("hello", &[], None).unwrap_err();
        assert_eq!(err.reason(), "check:certificate");
    }
}
