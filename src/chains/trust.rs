//! The roots issued certificates must chain to (`chains.issue.verify_root`), and the
//! intermediates already verified up to them. A CA issues thousands of leaves under one or two
//! intermediates: once an intermediate has verified (OpenSSL's full path validation, the first
//! time it is seen), a leaf under it needs only its own signature checked against that
//! intermediate's key, and its issuer name matched.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509StoreContext, X509};

use super::x509::{self, Certificate};

/// Intermediates remembered at most: a CA has a handful; one that sends a new intermediate
/// with every certificate only takes the full verification every time.
const MAX_KNOWN: usize = 16;

/// An intermediate that verified to a root: what checking a leaf under it needs.
struct Known {
    subject: Vec<u8>,
    key: PKey<Public>,
}

/// Why a chain does not verify (the message of a `check:chain` failure).
#[derive(Debug, thiserror::Error)]
pub enum ChainVerifyError {
    #[error("does not verify to the expected root: {0}")]
    Path(openssl::x509::X509VerifyResult),
    #[error("the leaf's signature does not verify with its issuer's key")]
    Signature,
    #[error("unreadable: {0}")]
    OpenSsl(#[from] ErrorStack),
}

pub struct Trust {
    roots: X509Store,
    known: Mutex<HashMap<Vec<u8>, Known>>,
}

impl Trust {
    /// The PEM roots in `pem`. Chain verification ignores time: the leaf's validity is checked
    /// with a clock-skew allowance instead, and a CA certificate made in the same second as the
    /// leaf would otherwise look "not yet valid" on a CA started a moment ago.
    pub fn from_pem(pem: &[u8]) -> Result<Trust, ErrorStack> {
        let mut builder = X509StoreBuilder::new()?;
        builder.set_flags(X509VerifyFlags::NO_CHECK_TIME)?;
        for root in X509::stack_from_pem(pem)? {
            builder.add_cert(root)?;
        }
        Ok(Trust {
            roots: builder.build(),
            known: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `leaf` (with its DER) and the `rest` of its chain (DER, issuer first) verify to
    /// one of the roots.
    pub fn verify(
        &self,
        leaf: &Certificate<'_>,
        leaf_der: &[u8],
        rest: &[Vec<u8>],
    ) -> Result<(), ChainVerifyError> {
        if let Some(verdict) = self.under_known(leaf, rest.first()) {
            return verdict;
        }
        self.full_path(leaf_der, rest)
    }

    /// The quick verdict for a leaf whose issuer verified before; `None` when it cannot be
    /// given here (issuer unknown, names differ, an unusual algorithm or critical extension).
    fn under_known(
        &self,
        leaf: &Certificate<'_>,
        issuer: Option<&Vec<u8>>,
    ) -> Option<Result<(), ChainVerifyError>> {
        let digest = digest_of(leaf.signature_algorithm)?;
        if leaf.unknown_critical || leaf.signature_algorithm != leaf.tbs_signature_algorithm {
            return None;
        }
        let key = {
            let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            let issuer = known.get(issuer?.as_slice())?;
            if issuer.subject != leaf.issuer {
                return None;
            }
            issuer.key.clone()
        };
        let verified = Verifier::new(digest, &key)
            .and_then(|mut v| v.verify_oneshot(leaf.signature, leaf.tbs));
        Some(match verified {
            Ok(true) => Ok(()),
            Ok(false) => Err(ChainVerifyError::Signature),
            Err(e) => Err(e.into()),
        })
    }

    /// OpenSSL's full path validation; the leaf's issuer is remembered when it verified.
    fn full_path(&self, leaf_der: &[u8], rest: &[Vec<u8>]) -> Result<(), ChainVerifyError> {
        let leaf = X509::from_der(leaf_der)?;
        let mut chain = Stack::new()?;
        for der in rest {
            chain.push(X509::from_der(der)?)?;
        }
        let mut ctx = X509StoreContext::new()?;
        let issuer = ctx.init(&self.roots, &leaf, &chain, |c| {
            if !c.verify_cert()? {
                return Ok(Err(c.error()));
            }
            Ok(Ok(c
                .chain()
                .and_then(|path| path.get(1))
                .map(|i| i.to_owned())))
        })?;
        let issuer = issuer.map_err(ChainVerifyError::Path)?;
        if let Some(issuer) = issuer {
            self.remember(issuer, rest.first())?;
        }
        Ok(())
    }

    /// Remembers the issuer a leaf verified under, when the chain sent it (a leaf issued
    /// straight by a root has nothing to remember).
    fn remember(&self, issuer: X509, sent: Option<&Vec<u8>>) -> Result<(), ErrorStack> {
        let der = issuer.to_der()?;
        if sent != Some(&der) {
            return Ok(());
        }
        let Ok(fields) = x509::parse(&der) else {
            return Ok(());
        };
        let known = Known {
            subject: fields.subject.to_vec(),
            key: issuer.public_key()?,
        };
        let mut map = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() < MAX_KNOWN {
            map.insert(der, known);
        }
        Ok(())
    }
}

/// The digest of the signature algorithms a leaf's quick check handles: ECDSA and RSA PKCS#1
/// v1.5 with SHA-256 or SHA-384 (the OID's last byte tells; the rest must match).
fn digest_of(algorithm: &[u8]) -> Option<MessageDigest> {
    const ECDSA_SHA256: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ];
    const ECDSA_SHA384: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
    ];
    const RSA_SHA256: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
    ];
    const RSA_SHA384: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00,
    ];
    match algorithm {
        ECDSA_SHA256 | RSA_SHA256 => Some(MessageDigest::sha256()),
        ECDSA_SHA384 | RSA_SHA384 => Some(MessageDigest::sha384()),
        _ => None,
    }
}
