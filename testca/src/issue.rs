//! The CA's keys and X.509 issuance. A P-256 root and intermediate are made at start (or
//! loaded); leaves carry the CSR's key, the order's names as dNSName SANs, AKI = the
//! intermediate's SKI, an 18-byte serial printed as 36 hex digits (Boulder `%036x`), and
//! Boulder's validity: notBefore backdated by 90% of the 65-minute maximum backdate, notAfter =
//! notBefore + profile validity - 1 s (issuance/cert.go).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::{hash, MessageDigest};
use openssl::nid::Nid;
use openssl::pkey::{PKey, PKeyRef, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509Name, X509NameBuilder, X509Ref, X509};

use crate::config::IssuerFiles;
use crate::leaf::{self, Leaf};
use crate::spki::PublicKey;

/// Backdate of notBefore: 0.9 × Boulder's `maxValidityBackdate` of 1h5m.
const BACKDATE_SECS: i64 = 3510;

/// CRL shards certificates are spread over (Boulder's dev CA uses 128 per issuer).
const CRL_SHARDS: u32 = 128;

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("openssl: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the intermediate certificate has no subject key identifier")]
    NoSki,
    #[error("the intermediate key is not a P-256 key")]
    NotP256,
}

pub struct Issuer {
    root: X509,
    intermediate: X509,
    /// The intermediate's subject, DER: every leaf's issuer.
    subject: Vec<u8>,
    intermediate_pem: String,
    key: EcKey<Private>,
    /// The intermediate's key identifier: every leaf's AKI, the first half of ARI certIDs.
    pub ski: Vec<u8>,
    /// Boulder's IssuerNameID: the first 7 bytes of SHA-1 of the issuer's DER subject.
    pub issuer_id: i64,
}

/// A freshly signed leaf.
pub struct Issued {
    pub der: Vec<u8>,
    pub serial: String,
    pub not_after: i64,
}

fn name(cn: &str) -> Result<X509Name, openssl::error::ErrorStack> {
    let mut n = X509NameBuilder::new()?;
    n.append_entry_by_nid(Nid::ORGANIZATIONNAME, "testca")?;
    n.append_entry_by_nid(Nid::COMMONNAME, cn)?;
    Ok(n.build())
}

fn p256() -> Result<PKey<Private>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn random_serial() -> Result<([u8; 18], String), openssl::error::ErrorStack> {
    let mut bytes = [0u8; 18];
    openssl::rand::rand_bytes(&mut bytes)?;
    // Positive and exactly 18 bytes, so the hex form is always 36 digits.
    bytes[0] = (bytes[0] & 0x7f).max(1);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok((bytes, hex))
}

fn ca_cert(
    subject: &X509Name,
    issuer: Option<(&X509Ref, &PKeyRef<Private>)>,
    key: &PKeyRef<Private>,
    path_len: Option<u32>,
) -> Result<X509, openssl::error::ErrorStack> {
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(subject)?;
    b.set_issuer_name(issuer.map_or(subject, |(c, _)| c.subject_name()))?;
    b.set_pubkey(key)?;
    let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(3650)?);
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    let mut bc = BasicConstraints::new();
    bc.critical().ca();
    if let Some(n) = path_len {
        bc.pathlen(n);
    }
    b.append_extension(bc.build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(issuer.map(|(c, _)| c), None))?;
    b.append_extension(ski)?;
    if let Some((issuer_cert, _)) = issuer {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(Some(issuer_cert), None))?;
        b.append_extension(aki)?;
    }
    b.sign(issuer.map_or(key, |(_, k)| k), MessageDigest::sha256())?;
    Ok(b.build())
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, IssuerError> {
    std::fs::read(path).map_err(|source| IssuerError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// A certificate's PEM (RFC 7468), straight from its DER.
fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 60);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

impl Issuer {
    fn from_parts(
        root: X509,
        intermediate: X509,
        key: PKey<Private>,
    ) -> Result<Issuer, IssuerError> {
        let ski = intermediate
            .subject_key_id()
            .map(|s| s.as_slice().to_vec())
            .ok_or(IssuerError::NoSki)?;
        let digest = hash(
            MessageDigest::sha1(),
            &intermediate.subject_name().to_der()?,
        )?;
        let mut id = [0u8; 8];
        id[1..].copy_from_slice(&digest[..7]);
        let key = key.ec_key().map_err(|_| IssuerError::NotP256)?;
        if key.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
            return Err(IssuerError::NotP256);
        }
        Ok(Issuer {
            subject: intermediate.subject_name().to_der()?,
            intermediate_pem: pem(&intermediate.to_der()?),
            root,
            intermediate,
            key,
            ski,
            issuer_id: i64::from_be_bytes(id),
        })
    }

    /// A new root and intermediate, both P-256.
    pub fn generate() -> Result<Issuer, IssuerError> {
        let tag: String = (0..3)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let root_key = p256()?;
        let root = ca_cert(&name(&format!("testca root {tag}"))?, None, &root_key, None)?;
        let key = p256()?;
        let intermediate = ca_cert(
            &name(&format!("testca intermediate {tag}"))?,
            Some((&root, &root_key)),
            &key,
            Some(0),
        )?;
        Issuer::from_parts(root, intermediate, key)
    }

    pub fn load(files: &IssuerFiles) -> Result<Issuer, IssuerError> {
        let root = X509::from_pem(&read(&files.root_cert)?)?;
        let intermediate = X509::from_pem(&read(&files.intermediate_cert)?)?;
        let key = PKey::private_key_from_pem(&read(&files.intermediate_key)?)?;
        Issuer::from_parts(root, intermediate, key)
    }

    pub fn root_pem(&self) -> String {
        self.root.to_der().map(|der| pem(&der)).unwrap_or_default()
    }

    pub fn intermediate_pem(&self) -> String {
        self.intermediate_pem.clone()
    }

    /// The chain served for a certificate (RFC 8555 §7.4.2): leaf, then intermediate.
    pub fn chain_pem(&self, leaf_der: &[u8]) -> String {
        pem(leaf_der) + &self.intermediate_pem
    }

    /// Whether `cert` names the intermediate as issuer, and whether its signature verifies.
    pub fn recognizes(&self, cert: &X509Ref) -> (bool, bool) {
        let same_issuer = cert
            .issuer_name()
            .try_cmp(self.intermediate.subject_name())
            .is_ok_and(|o| o.is_eq());
        let signed = self
            .intermediate
            .public_key()
            .and_then(|k| cert.verify(&k))
            .unwrap_or(false);
        (same_issuer, signed)
    }

    /// Signs a leaf for `key` with `names` (normalized) and an optional common name.
    pub fn issue(
        &self,
        key: &PublicKey,
        names: &[String],
        common_name: Option<&str>,
        validity: Duration,
        now: i64,
    ) -> Result<Issued, openssl::error::ErrorStack> {
        let (serial, hex) = random_serial()?;
        let not_before = now - BACKDATE_SECS;
        let not_after = not_before + crate::clock::secs(validity) - 1;
        // Boulder's certificates name a CRL shard; its revokedCertificates rows are keyed by it.
        let shard = 1 + u32::from(serial[17]) % CRL_SHARDS;
        let crl_url = format!("http://testca.invalid/crl/{}/{shard}.crl", self.issuer_id);
        let der = leaf::sign(
            &Leaf {
                serial: &serial,
                issuer: &self.subject,
                authority_key_id: &self.ski,
                not_before,
                not_after,
                common_name,
                key,
                names,
                crl_url: &crl_url,
            },
            &self.key,
        )?;
        Ok(Issued {
            der,
            serial: hex,
            not_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_chains_to_root_with_aki_and_serial_form() {
        let issuer = Issuer::generate().unwrap();
        let key = p256().unwrap();
        let public = PublicKey::from_der(&key.public_key_to_der().unwrap()).unwrap();
        let names = vec!["a.example.com".to_string(), "*.b.com".to_string()];
        let now = crate::clock::now();
        let leaf = issuer
            .issue(
                &public,
                &names,
                Some("a.example.com"),
                Duration::from_secs(86_400),
                now,
            )
            .unwrap();
        assert_eq!(leaf.serial.len(), 36);
        let cert = X509::from_der(&leaf.der).unwrap();
        assert_eq!(cert.to_der().unwrap(), leaf.der, "DER as OpenSSL writes it");
        assert_eq!(
            cert.subject_key_id().unwrap().as_slice(),
            openssl::sha::sha1(public.key_bits())
        );
        let cn = cert.subject_name().entries().next().unwrap();
        assert_eq!(cn.data().as_slice(), b"a.example.com");
        let pem = issuer.chain_pem(&leaf.der);
        let chain = X509::stack_from_pem(pem.as_bytes()).unwrap();
        assert_eq!(chain[0].to_der().unwrap(), leaf.der);
        let mut roots = openssl::x509::store::X509StoreBuilder::new().unwrap();
        roots
            .add_cert(X509::from_pem(issuer.root_pem().as_bytes()).unwrap())
            .unwrap();
        let roots = roots.build();
        let mut untrusted = openssl::stack::Stack::new().unwrap();
        untrusted.push(chain[1].clone()).unwrap();
        let mut ctx = openssl::x509::X509StoreContext::new().unwrap();
        let verified = ctx
            .init(&roots, &cert, &untrusted, |c| c.verify_cert())
            .unwrap();
        assert!(verified, "{}", ctx.error());
        assert_eq!(
            cert.authority_key_id().unwrap().as_slice(),
            issuer.ski.as_slice()
        );
        assert_eq!(issuer.recognizes(&cert), (true, true));
        let sans: Vec<String> = cert
            .subject_alt_names()
            .unwrap()
            .iter()
            .filter_map(|g| g.dnsname().map(String::from))
            .collect();
        assert_eq!(sans, names);
        assert_eq!(leaf.not_after, now - BACKDATE_SECS + 86_400 - 1);
    }
}
