//! Plain GETs of an order, an authorization or a certificate:
//! [RFC 8555 §6.3](https://www.rfc-editor.org/rfc/rfc8555#section-6.3) requires POST-as-GET but
//! lets a server also answer GET, which Boulder does (Pebble answers 405). No account signs them,
//! so they also reach objects whose account key the tool never held.

use super::wire::{Authorization, Order};
use super::{AcmeError, Client, Endpoint};

impl Client {
    /// An order ([RFC 8555 §7.1.3](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.3)) by plain
    /// GET.
    pub async fn get_order(&self, url: &str) -> Result<Order, AcmeError> {
        let endpoint = Endpoint::OrderGet;
        let response = self.get(endpoint, url, None).await?;
        self.answered(response.json(endpoint))
    }

    /// An authorization ([RFC 8555 §7.1.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.4))
    /// by plain GET.
    pub async fn get_authorization(&self, url: &str) -> Result<Authorization, AcmeError> {
        let endpoint = Endpoint::AuthzGet;
        let response = self.get(endpoint, url, None).await?;
        self.answered(response.json(endpoint))
    }

    /// The certificate chain: the DER of each certificate, the leaf first.
    pub async fn get_certificate(&self, url: &str) -> Result<Vec<Vec<u8>>, AcmeError> {
        let endpoint = Endpoint::CertificateGet;
        let response = self
            .get(endpoint, url, Some("application/pem-certificate-chain"))
            .await?;
        self.answered(response.certificates(endpoint))
    }
}
