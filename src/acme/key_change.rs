//! Account key rollover (RFC 8555 §7.3.5).

use super::jws;
use super::wire::KeyChange;
use super::{Account, AccountKey, AcmeError, Client, Endpoint};

impl Client {
    /// keyChange: an outer JWS signed by the account's current key (its URL as `kid`) whose
    /// payload is an inner JWS signed by `new_key`, presenting it as `jwk`, with the same `url`
    /// and the payload `{"account": <account URL>, "oldKey": <current JWK>}`. On success the CA
    /// knows the account by `new_key` only; the caller swaps the keys.
    pub async fn key_change(
        &self,
        account: &Account,
        new_key: &AccountKey,
    ) -> Result<(), AcmeError> {
        let endpoint = Endpoint::KeyChange;
        let url = self.directory_entry(endpoint, self.directory().key_change.as_deref())?;
        let inner_payload = serde_json::to_vec(&KeyChange {
            account: &account.url,
            old_key: serde_json::from_str(account.key.jwk()).expect("JWK is JSON we built"),
        })
        .expect("serialisable");
        let inner =
            jws::sign_inner(new_key, &url, &inner_payload).map_err(|e| AcmeError::Malformed {
                endpoint,
                message: format!("signing the inner JWS failed: {e}"),
            })?;
        self.post_by(account, endpoint, &url, Some(inner.as_bytes()), None)
            .await?;
        Ok(())
    }
}
