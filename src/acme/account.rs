//! What an account does
//! ([RFC 8555 §7.3](https://www.rfc-editor.org/rfc/rfc8555#section-7.3)–[§7.5](https://www.rfc-editor.org/rfc/rfc8555#section-7.5)):
//! register, look itself up, read, update and deactivate itself, order (renewing with
//! [RFC 9773](https://www.rfc-editor.org/rfc/rfc9773) `replaces`), fetch, answer and deactivate
//! authorizations, finalize, poll and download.

use std::time::Instant;

use super::jws::Signer;
use super::wire::{
    AccountObject, AccountUpdate, Authorization, AuthorizationStatus, AuthorizationUpdate,
    Challenge, ChallengeType, Finalize, NewAccount, NewOrder, Order, OrderStatus,
};
use super::{b64, AccountKey, AccountRefusal, AcmeError, Client, Endpoint, Response};

/// A registered account: its key and its URL (the `kid` of every later request).
#[derive(Debug)]
pub struct Account {
    /// Signs every request of the account.
    pub key: AccountKey,
    /// Where the CA keeps the account; the `kid` of its requests
    /// ([RFC 8555 §7.3](https://www.rfc-editor.org/rfc/rfc8555#section-7.3)).
    pub url: String,
}

impl Account {
    /// An account the CA knows at `url` by `key`.
    pub fn new(key: AccountKey, url: String) -> Self {
        Account { key, url }
    }

    fn signer(&self) -> Signer<'_> {
        Signer::Kid(&self.key, &self.url)
    }
}

/// A created order and its URL.
#[derive(Debug)]
pub struct OrderHandle {
    /// The order's URL (its `Location`), where it is polled.
    pub url: String,
    /// The order as newOrder answered it.
    pub order: Order,
}

impl Client {
    /// newAccount ([RFC 8555 §7.3](https://www.rfc-editor.org/rfc/rfc8555#section-7.3)), agreeing
    /// to the terms of service.
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
        let url = self.answered(response.location(endpoint))?;
        Ok(Account::new(key, url))
    }

    /// newAccount with `onlyReturnExisting`
    /// ([RFC 8555 §7.3.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.1)): the URL of the
    /// account `key` belongs to, without creating one (`accountDoesNotExist` when there is none).
    pub async fn find_account(&self, key: &AccountKey) -> Result<String, AcmeError> {
        let endpoint = Endpoint::NewAccount;
        let payload = serde_json::to_vec(&NewAccount {
            contact: &[],
            terms_of_service_agreed: false,
            only_return_existing: true,
        })
        .expect("serialisable");
        let url = self.directory().new_account.clone();
        let response = self
            .post(endpoint, &url, Signer::Jwk(key), Some(&payload), None)
            .await?;
        self.answered(response.location(endpoint))
    }

    /// POST-as-GET the account
    /// ([RFC 8555 §7.3](https://www.rfc-editor.org/rfc/rfc8555#section-7.3)).
    pub async fn account(&self, account: &Account) -> Result<AccountObject, AcmeError> {
        self.post_as_get(account, Endpoint::Account, &account.url)
            .await
    }

    /// Replaces the account's contacts
    /// ([RFC 8555 §7.3.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.2)).
    pub async fn update_contact(
        &self,
        account: &Account,
        contact: &[String],
    ) -> Result<AccountObject, AcmeError> {
        self.update_account(
            account,
            &AccountUpdate {
                contact: Some(contact),
                status: None,
            },
        )
        .await
    }

    /// Deactivates the account for good
    /// ([RFC 8555 §7.3.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.6)).
    pub async fn deactivate_account(&self, account: &Account) -> Result<AccountObject, AcmeError> {
        self.update_account(
            account,
            &AccountUpdate {
                contact: None,
                status: Some("deactivated"),
            },
        )
        .await
    }

    async fn update_account(
        &self,
        account: &Account,
        update: &AccountUpdate<'_>,
    ) -> Result<AccountObject, AcmeError> {
        let endpoint = Endpoint::Account;
        let payload = serde_json::to_vec(update).expect("serialisable");
        let response = self
            .post_by(account, endpoint, &account.url, Some(&payload), None)
            .await?;
        self.answered(response.json(endpoint))
    }

    /// newOrder ([RFC 8555 §7.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.4)); `replaces`
    /// names the certificate this order renews (the ARI certID,
    /// [RFC 9773 §5](https://www.rfc-editor.org/rfc/rfc9773#section-5)).
    pub async fn new_order(
        &self,
        account: &Account,
        order: &NewOrder<'_>,
    ) -> Result<OrderHandle, AcmeError> {
        let endpoint = Endpoint::NewOrder;
        let payload = serde_json::to_vec(order).expect("serialisable");
        let url = self.directory().new_order.clone();
        let response = self
            .post_by(account, endpoint, &url, Some(&payload), None)
            .await?;
        Ok(OrderHandle {
            url: self.answered(response.location(endpoint))?,
            order: self.answered(response.json(endpoint))?,
        })
    }

    /// POST-as-GET an order ([RFC 8555 §7.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.4)).
    pub async fn order(&self, account: &Account, url: &str) -> Result<Order, AcmeError> {
        self.post_as_get(account, Endpoint::Order, url).await
    }

    /// POST-as-GET an authorization
    /// ([RFC 8555 §7.5](https://www.rfc-editor.org/rfc/rfc8555#section-7.5)).
    pub async fn authorization(
        &self,
        account: &Account,
        url: &str,
    ) -> Result<Authorization, AcmeError> {
        self.post_as_get(account, Endpoint::Authz, url).await
    }

    /// Deactivates an authorization
    /// ([RFC 8555 §7.5.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.5.2)): POST
    /// `{"status": "deactivated"}`.
    pub async fn deactivate_authorization(
        &self,
        account: &Account,
        url: &str,
    ) -> Result<Authorization, AcmeError> {
        let endpoint = Endpoint::Authz;
        let payload = serde_json::to_vec(&AuthorizationUpdate {
            status: "deactivated",
        })
        .expect("serialisable");
        let response = self
            .post_by(account, endpoint, url, Some(&payload), None)
            .await?;
        self.answered(response.json(endpoint))
    }

    /// Tells the server the challenge response is in place
    /// ([RFC 8555 §7.5.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.5.1)): POST `{}`.
    pub async fn respond(
        &self,
        account: &Account,
        url: &str,
        kind: ChallengeType,
    ) -> Result<Challenge, AcmeError> {
        let endpoint = Endpoint::Challenge(kind);
        let response = self
            .post_by(account, endpoint, url, Some(b"{}"), None)
            .await?;
        self.answered(response.json(endpoint))
    }

    /// Polls an authorization until it leaves `pending`
    /// ([RFC 8555 §7.5.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.5.1)).
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

    /// finalize with a DER CSR
    /// ([RFC 8555 §7.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.4)).
    pub async fn finalize(
        &self,
        account: &Account,
        finalize_url: &str,
        csr_der: &[u8],
    ) -> Result<Order, AcmeError> {
        let endpoint = Endpoint::Finalize;
        let payload = serde_json::to_vec(&Finalize { csr: b64(csr_der) }).expect("serialisable");
        let response = self
            .post_by(account, endpoint, finalize_url, Some(&payload), None)
            .await?;
        self.answered(response.json(endpoint))
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

    /// Downloads the certificate chain
    /// ([RFC 8555 §7.4.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.4.2)): the DER of each
    /// certificate, the leaf first.
    pub async fn certificate(
        &self,
        account: &Account,
        url: &str,
    ) -> Result<Vec<Vec<u8>>, AcmeError> {
        let endpoint = Endpoint::Certificate;
        let response = self
            .post_by(
                account,
                endpoint,
                url,
                None,
                Some("application/pem-certificate-chain"),
            )
            .await?;
        self.answered(response.certificates(endpoint))
    }

    async fn post_as_get<T: serde::de::DeserializeOwned>(
        &self,
        account: &Account,
        endpoint: Endpoint,
        url: &str,
    ) -> Result<T, AcmeError> {
        let response = self.post_by(account, endpoint, url, None, None).await?;
        self.answered(response.json(endpoint))
    }

    /// A POST signed by `account` (its URL as `kid`); an `accountDoesNotExist` answer, or a
    /// `rateLimited` one with `Retry-After`, is reported as a refusal of the account.
    pub(crate) async fn post_by(
        &self,
        account: &Account,
        endpoint: Endpoint,
        url: &str,
        payload: Option<&[u8]>,
        accept: Option<&'static str>,
    ) -> Result<Response, AcmeError> {
        let result = self
            .post(endpoint, url, account.signer(), payload, accept)
            .await;
        match &result {
            Err(e) if e.is_account_forgotten() => {
                self.refused(account, AccountRefusal::Unknown);
            }
            Err(AcmeError::Problem {
                retry_after: Some(wait),
                ..
            }) if result.as_ref().is_err_and(AcmeError::is_rate_limited) => {
                let wait = (*wait).min(self.settings().max_rate_limit_wait);
                self.refused(account, AccountRefusal::RateLimited(wait));
            }
            _ => {}
        }
        result
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
            let response = self.post_by(account, endpoint, url, None, None).await?;
            let object: T = self.answered(response.json(endpoint))?;
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
