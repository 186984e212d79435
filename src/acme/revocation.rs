//! Certificate revocation ([RFC 8555 §7.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.6)),
//! signed by the account that holds the certificate or by the certificate's own key.

use super::jws::Signer;
use super::wire::Revocation;
use super::{b64, Account, AccountKey, AcmeError, Client, Endpoint};

/// Who asks for the revocation
/// ([RFC 8555 §7.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.6)): the account (its URL as
/// `kid`) or whoever holds the certificate's private key (the key itself as `jwk`).
#[derive(Debug, Clone, Copy)]
pub enum RevokeAs<'a> {
    /// The account holding the certificate signs, its URL as `kid`.
    Account(&'a Account),
    /// The certificate's own key signs, presenting itself as `jwk`.
    CertificateKey(&'a AccountKey),
}

impl Client {
    /// revokeCert ([RFC 8555 §7.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.6)) with the
    /// DER certificate (unpadded base64url, which Pebble insists on) and an optional
    /// [RFC 5280 §5.3.1](https://www.rfc-editor.org/rfc/rfc5280#section-5.3.1) reason code.
    pub async fn revoke(
        &self,
        by: RevokeAs<'_>,
        certificate_der: &[u8],
        reason: Option<u8>,
    ) -> Result<(), AcmeError> {
        let endpoint = Endpoint::RevokeCert;
        let url = self.directory_entry(endpoint, self.directory().revoke_cert.as_deref())?;
        let payload = serde_json::to_vec(&Revocation {
            certificate: b64(certificate_der),
            reason,
        })
        .expect("serialisable");
        match by {
            RevokeAs::Account(account) => {
                self.post_by(account, endpoint, &url, Some(&payload), None)
                    .await?
            }
            RevokeAs::CertificateKey(key) => {
                self.post(endpoint, &url, Signer::Jwk(key), Some(&payload), None)
                    .await?
            }
        };
        Ok(())
    }
}
