//! Plain GETs of an order, an authorization or a certificate: RFC 8555 §6.3 requires
//! POST-as-GET but lets a server also answer GET, which Boulder does (Pebble answers 405). No
//! account signs them, so they also reach objects whose account key the tool never held.

use super::wire::{Authorization, Order};
use super::{AcmeError, Client, Endpoint};

impl Client {
    pub async fn get_order(&self, url: &str) -> Result<Order, AcmeError> {
        let endpoint = Endpoint::OrderGet;
        self.get(endpoint, url, None).await?.json(endpoint)
    }

    pub async fn get_authorization(&self, url: &str) -> Result<Authorization, AcmeError> {
        let endpoint = Endpoint::AuthzGet;
        self.get(endpoint, url, None).await?.json(endpoint)
    }

    /// The certificate chain as PEM.
    pub async fn get_certificate(&self, url: &str) -> Result<String, AcmeError> {
        let endpoint = Endpoint::CertificateGet;
        self.get(endpoint, url, Some("application/pem-certificate-chain"))
            .await?
            .pem(endpoint)
    }
}
