//! What an account does (RFC 8555 §7.3–§7.4): register, order, fetch and answer
//! authorizations, finalize, poll and download.

use std::time::Instant;

use super::jws::Signer;
use super::wire::{
    Authorization, AuthorizationStatus, Challenge, ChallengeType, Finalize, Identifier, NewAccount,
    NewOrder, Order, OrderStatus,
};
use super::{b64, AccountKey, AcmeError, Client, Endpoint};

/// A registered account: its key and its URL (the `kid` of every later request).
#[derive(Debug)]
pub struct Account {
    pub key: AccountKey,
    pub url: String,
}

impl Account {
    fn signer(&self) -> Signer<'_> {
        Signer::Kid(&self.key, &self.url)
    }
}

/// A created order and its URL.
#[derive(Debug)]
pub struct OrderHandle {
    pub url: String,
    pub order: Order,
}

impl Client {
    /// newAccount (RFC 8555 §7.3), agreeing to the terms of service.
    pub async fn new_account(
        &self,
        key: AccountKey,
        contact: &[String],
    ) -> Result<Account, AcmeError> {
        let endpoint = Endpoint::NewAccount;
        let payload = serde_json::to_vec(&NewAccount {
            contact,
            terms_of_service_agreed: true,
            only_return_existing: false,
        })
        .expect("serialisable");
        let url = self.directory().new_account.clone();
        let response = self
            .post(endpoint, &url, Signer::Jwk(&key), Some(&payload), None)
            .await?;
        let url = response.location(endpoint)?;
        Ok(Account { key, url })
    }

    /// newOrder (RFC 8555 §7.4).
    pub async fn new_order(
        &self,
        account: &Account,
        identifiers: &[Identifier],
    ) -> Result<OrderHandle, AcmeError> {
        let endpoint = Endpoint::NewOrder;
        let payload = serde_json::to_vec(&NewOrder { identifiers }).expect("serialisable");
        let url = self.directory().new_order.clone();
        let response = self
            .post(endpoint, &url, account.signer(), Some(&payload), None)
            .await?;
        Ok(OrderHandle {
            url: response.location(endpoint)?,
            order: response.json(endpoint)?,
        })
    }

    /// POST-as-GET an authorization (RFC 8555 §7.5).
    pub async fn authorization(
        &self,
        account: &Account,
        url: &str,
    ) -> Result<Authorization, AcmeError> {
        self.post_as_get(account, Endpoint::Authz, url).await
    }

    /// Tells the server the challenge response is in place (RFC 8555 §7.5.1): POST `{}`.
    pub async fn respond(
        &self,
        account: &Account,
        url: &str,
        kind: ChallengeType,
    ) -> Result<Challenge, AcmeError> {
        let endpoint = Endpoint::Challenge(kind);
        self.post(endpoint, url, account.signer(), Some(b"{}"), None)
            .await?
            .json(endpoint)
    }

    /// Polls an authorization until it leaves `pending` (RFC 8555 §7.5.1).
    pub async fn poll_authorization(
        &self,
        account: &Account,
        url: &str,
    ) -> Result<Authorization, AcmeError> {
        self.poll(account, Endpoint::Authz, url, |a: &Authorization| {
            (a.status == AuthorizationStatus::Pending).then_some("pending")
        })
        .await
    }

    /// finalize with a DER CSR (RFC 8555 §7.4).
    pub async fn finalize(
        &self,
        account: &Account,
        finalize_url: &str,
        csr_der: &[u8],
    ) -> Result<Order, AcmeError> {
        let endpoint = Endpoint::Finalize;
        let payload = serde_json::to_vec(&Finalize { csr: b64(csr_der) }).expect("serialisable");
        self.post(
            endpoint,
            finalize_url,
            account.signer(),
            Some(&payload),
            None,
        )
        .await?
        .json(endpoint)
    }

    /// Polls an order until it is neither `pending`, `ready` nor `processing`: issuance is
    /// asynchronous on most CAs.
    pub async fn poll_order(&self, account: &Account, url: &str) -> Result<Order, AcmeError> {
        self.poll(account, Endpoint::Order, url, |o: &Order| match o.status {
            OrderStatus::Processing => Some("processing"),
            OrderStatus::Pending => Some("pending"),
            _ => None,
        })
        .await
    }

    /// Downloads the certificate chain as PEM (RFC 8555 §7.4.2).
    pub async fn certificate(&self, account: &Account, url: &str) -> Result<String, AcmeError> {
        let endpoint = Endpoint::Certificate;
        let response = self
            .post(
                endpoint,
                url,
                account.signer(),
                None,
                Some("application/pem-certificate-chain"),
            )
            .await?;
        String::from_utf8(response.body.to_vec()).map_err(|_| AcmeError::Malformed {
            endpoint,
            message: "certificate chain is not UTF-8 PEM".into(),
        })
    }

    async fn post_as_get<T: serde::de::DeserializeOwned>(
        &self,
        account: &Account,
        endpoint: Endpoint,
        url: &str,
    ) -> Result<T, AcmeError> {
        self.post(endpoint, url, account.signer(), None, None)
            .await?
            .json(endpoint)
    }

    /// POST-as-GET `url` until `waiting` says the object is settled, up to the polling timeout.
    /// Between polls: the server's `Retry-After` (capped), else a pause that starts at the
    /// configured interval and doubles, so fast CAs are measured closely and slow ones are not
    /// hammered.
    async fn poll<T: serde::de::DeserializeOwned>(
        &self,
        account: &Account,
        endpoint: Endpoint,
        url: &str,
        waiting: impl Fn(&T) -> Option<&'static str>,
    ) -> Result<T, AcmeError> {
        let settings = self.settings().clone();
        let started = Instant::now();
        let mut backoff = settings.poll_interval;
        loop {
            let response = self
                .post(endpoint, url, account.signer(), None, None)
                .await?;
            let object: T = response.json(endpoint)?;
            let Some(state) = waiting(&object) else {
                return Ok(object);
            };
            let pause = match response.retry_after() {
                Some(asked) => asked.min(settings.max_retry_after),
                None => {
                    let pause = backoff;
                    backoff = (backoff * 2).min(settings.poll_max_interval);
                    pause
                }
            };
            if started.elapsed() + pause > settings.poll_timeout {
                return Err(AcmeError::StillPending {
                    endpoint,
                    state: state.to_owned(),
                    after: started.elapsed(),
                });
            }
            actix_rt::time::sleep(pause).await;
        }
    }
}
