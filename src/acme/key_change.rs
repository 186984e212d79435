//! Account key rollover ([RFC 8555 §7.3.5](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.5)).

use super::jws;
use super::wire::{AccountObject, KeyChange};
use super::{Account, AccountKey, AcmeError, Client, Endpoint};

impl Client {
    /// keyChange ([RFC 8555 §7.3.5](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.5)): an
    /// outer JWS signed by the account's current key (its URL as `kid`) whose payload is an inner
    /// JWS signed by `new_key`, presenting it as `jwk`, with the same `url` and the payload
    /// `{"account": <account URL>, "oldKey": <current JWK>}`. On success the CA knows the account
    /// by `new_key` only; the caller swaps the keys.
    pub async fn key_change(
        &self,
        account: &Account,
        new_key: &AccountKey,
    ) -> Result<(), AcmeError> {
        let endpoint = Endpoint::KeyChange;
        let url = self.directory_entry(endpoint, self.directory().key_change.as_deref())?;
        let inner_payload = serde_json::to_vec(&KeyChange {
            account: &account.url,
            old_key: account.key.jwk(),
        })
        .expect("serialisable");
        let inner =
            jws::sign_inner(new_key, &url, &inner_payload).map_err(|e| AcmeError::Local {
                endpoint,
                message: format!("signing the inner JWS failed: {e}"),
            })?;
        let response = self
            .post_by(account, endpoint, &url, Some(inner.as_bytes()), None)
            .await?;
        // The answer is the account (RFC 8555 §7.3.5); one that is not makes the change
        // unverifiable, a failure of keyChange.
        if !response.body.is_empty() {
            self.answered(response.json::<AccountObject>(endpoint))?;
        }
        Ok(())
    }
}
