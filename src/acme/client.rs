//! The HTTP side of ACME: one keep-alive awc client and nonce pool per attacker thread
//! ([`Transport`]), and a per-chain [`Client`] that signs, sends, retries `badNonce`, bounds
//! every exchange in time and size, and reports each one to the chain's [`Recorder`].

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use awc::http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER, USER_AGENT,
};
use awc::http::{Method, StatusCode};
use bytes::Bytes;
use openssl::ssl::{SslConnector, SslMethod};
use openssl::x509::X509;
use serde::de::DeserializeOwned;

use super::jws::{self, Signer};
use super::meter::{metered, MeteredConnector, Tally};
use super::nonce::NoncePool;
use super::wire::Directory;
use super::{AcmeError, Endpoint, Problem, Recorder, RequestOutcome, RequestRecord};
use crate::printable::printable;

/// Limits and timings of the client, from the config's `[target]` and `[polling]`.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Bound on one exchange, from sending to the last body byte; also bounds connecting and
    /// the TLS handshake.
    pub request_timeout: Duration,
    /// A longer body fails the exchange as malformed.
    pub max_response_bytes: usize,
    /// How often one request is signed and sent again after `badNonce`
    /// ([RFC 8555 §6.5](https://www.rfc-editor.org/rfc/rfc8555#section-6.5)).
    pub bad_nonce_retries: u32,
    /// Keep-alive connections per attacker thread.
    pub connections: usize,
    /// First pause between polls; doubles up to `poll_max_interval`.
    pub poll_interval: Duration,
    /// Longest pause between polls.
    pub poll_max_interval: Duration,
    /// Polling gives up on an object still pending or processing after this long
    /// ([`AcmeError::StillPending`]).
    pub poll_timeout: Duration,
    /// Cap on a server's `Retry-After` between polls, so one answer cannot park a chain for hours.
    pub max_retry_after: Duration,
    /// Longest an account refused with `rateLimited` is set aside (its `Retry-After`, capped).
    pub max_rate_limit_wait: Duration,
}

/// The TLS context for the target could not be made.
#[derive(Debug, thiserror::Error)]
#[error("TLS setup: {0}")]
pub struct TlsSetupError(#[from] openssl::error::ErrorStack);

/// Nonces kept per thread; more would only go stale.
const NONCE_POOL_SIZE: usize = 256;

/// Shared by every chain on one thread: the keep-alive connection pool and the nonces.
pub struct Transport {
    http: awc::Client,
    nonces: RefCell<NoncePool>,
    settings: ClientSettings,
}

impl Transport {
    /// A transport over `http` (from [`Transport::http_client`]) with an empty nonce pool.
    pub fn new(http: awc::Client, settings: ClientSettings) -> Self {
        Transport {
            http,
            nonces: RefCell::new(NoncePool::new(NONCE_POOL_SIZE)),
            settings,
        }
    }

    /// The TLS side of [`Transport::http_client`]: HTTP/1.1 over TLS trusting the system store
    /// plus `roots` (the target's private CA), certificate verification always on. Built once
    /// (it is what can fail) and shared by every attacker thread.
    pub fn tls_connector(roots: &[X509]) -> Result<SslConnector, TlsSetupError> {
        let mut builder = SslConnector::builder(SslMethod::tls_client())?;
        for root in roots {
            builder.cert_store_mut().add_cert(root.clone())?;
        }
        builder.set_alpn_protos(b"\x08http/1.1")?;
        // Read whole socket buffers rather than a 5-byte record header then its body: one
        // recvfrom per answer instead of two or three.
        builder.set_read_ahead(true);
        Ok(builder.build())
    }

    /// An HTTP/1.1 keep-alive client over `tls` (from [`Transport::tls_connector`]). An awc
    /// client lives on one thread, so each attacker thread makes its own.
    pub fn http_client(tls: SslConnector, settings: &ClientSettings) -> awc::Client {
        let tcp = actix_tls::connect::Connector::new(actix_tls::connect::Resolver::default());
        let connector = awc::Connector::new()
            .connector(MeteredConnector(tcp.service()))
            .openssl(tls)
            .limit(settings.connections)
            .timeout(settings.request_timeout)
            .handshake_timeout(settings.request_timeout);
        awc::Client::builder()
            .connector(connector)
            .timeout(settings.request_timeout)
            .disable_redirects()
            .add_default_header((
                USER_AGENT,
                concat!("wile-e-coyote/", env!("CARGO_PKG_VERSION")),
            ))
            .finish()
    }

    /// The limits and timings it was made with.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// Fetches and parses the directory
    /// ([RFC 8555 §7.1.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.1)).
    pub async fn fetch_directory(
        &self,
        url: &str,
    ) -> (Result<Directory, AcmeError>, RequestRecord) {
        let endpoint = Endpoint::Directory;
        let no_headers = Headers {
            accept: None,
            source: None,
        };
        let (response, record) = self
            .exchange(endpoint, Method::GET, url, None, no_headers)
            .await;
        let directory = response.and_then(|r| r.success(endpoint)?.json(endpoint));
        (directory, record)
    }

    /// One HTTP exchange, bounded by the request timeout and the body size limit, with its
    /// record whatever the outcome. Every `Replay-Nonce` goes to the pool.
    async fn exchange(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: &str,
        body: Option<String>,
        headers: Headers<'_>,
    ) -> (Result<Response, AcmeError>, RequestRecord) {
        let settings = &self.settings;
        let mut request = self.http.request(method, url);
        if body.is_some() {
            request = request.insert_header((CONTENT_TYPE, "application/jose+json"));
        }
        if let Some(accept) = headers.accept {
            request = request.insert_header((ACCEPT, accept));
        }
        if let Some((name, value)) = headers.source {
            request = request.insert_header((name.clone(), value.clone()));
        }
        let limit = settings.max_response_bytes;
        let started = Instant::now();
        let exchange = async {
            let sent = match body {
                Some(body) => request.send_body(body).await,
                None => request.send().await,
            };
            let mut response = sent.map_err(|e| send_error(endpoint, e, settings))?;
            let body = response.body().limit(limit).await.map_err(|e| match e {
                awc::error::PayloadError::Overflow => AcmeError::Malformed {
                    endpoint,
                    message: format!("response body larger than {limit} bytes"),
                },
                other => AcmeError::Transport {
                    endpoint,
                    message: format!("reading the body: {other}"),
                },
            })?;
            Ok(Response {
                status: response.status(),
                headers: response.headers().clone(),
                body,
            })
        };
        let tally = Rc::new(Tally::default());
        let exchange = metered(tally.clone(), exchange);
        let result = match actix_rt::time::timeout(settings.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(AcmeError::Timeout {
                endpoint,
                after: settings.request_timeout,
            }),
        };
        let took = started.elapsed();
        let (status, outcome) = match &result {
            Ok(r) => {
                if let Some(nonce) = r.headers.get("replay-nonce").and_then(|v| v.to_str().ok()) {
                    self.nonces.borrow_mut().put(nonce.to_owned());
                }
                let outcome = if r.status.is_success() {
                    RequestOutcome::Ok
                } else if r.status == StatusCode::TOO_MANY_REQUESTS {
                    RequestOutcome::RateLimited
                } else {
                    RequestOutcome::Failed
                };
                (r.status.as_u16(), outcome)
            }
            Err(_) => (0, RequestOutcome::Failed),
        };
        let record = RequestRecord {
            endpoint,
            outcome,
            status,
            took,
            bytes_in: tally.received(),
            bytes_out: tally.sent(),
        };
        (result, record)
    }
}

/// Headers of one exchange beyond those every request carries.
struct Headers<'a> {
    accept: Option<&'static str>,
    /// The subscriber's address, for a CA behind a proxy that reads it from a header.
    source: Option<&'a (HeaderName, HeaderValue)>,
}

/// One chain's view of the CA: shares its thread's [`Transport`] and reports each exchange to
/// the chain's [`Recorder`].
pub struct Client {
    transport: Rc<Transport>,
    directory: Arc<Directory>,
    source: Option<(HeaderName, HeaderValue)>,
    recorder: Rc<dyn Recorder>,
}

/// A response whose body was read completely (within the size limit).
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: StatusCode,
    /// The headers, where `Location`, `Replay-Nonce` and `Retry-After` are read.
    pub headers: HeaderMap,
    /// The whole body, at most `max_response_bytes`.
    pub body: Bytes,
}

impl Client {
    /// A client for one chain over its thread's transport, reporting to `recorder`.
    pub fn new(
        transport: Rc<Transport>,
        directory: Arc<Directory>,
        recorder: Rc<dyn Recorder>,
    ) -> Self {
        Client {
            transport,
            directory,
            source: None,
            recorder,
        }
    }

    /// Every request of this client carries `header: address`, as if it came through a proxy
    /// from a subscriber at that address (`target.source_address_header`).
    pub fn with_source_address(mut self, header: &HeaderName, address: std::net::IpAddr) -> Self {
        let value = HeaderValue::try_from(address.to_string()).expect("an address is a value");
        self.source = Some((header.clone(), value));
        self
    }

    /// The CA's directory, read once and shared by every chain.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The limits and timings of its transport.
    pub fn settings(&self) -> &ClientSettings {
        &self.transport.settings
    }

    async fn exchange(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: &str,
        body: Option<String>,
        accept: Option<&'static str>,
    ) -> Result<Response, AcmeError> {
        let headers = Headers {
            accept,
            source: self.source.as_ref(),
        };
        let (result, record) = self
            .transport
            .exchange(endpoint, method, url, body, headers)
            .await;
        self.recorder.record(record);
        if let Ok(response) = &result {
            let refused = response.status.is_client_error() || response.status.is_server_error();
            if let Some(wait) = response.retry_after().filter(|_| refused) {
                self.recorder.asked_to_wait(wait);
            }
        }
        result
    }

    /// `parsed` is what was read from the answer of the exchange just made: an answer that does not
    /// hold what [RFC 8555](https://www.rfc-editor.org/rfc/rfc8555) requires (garbage JSON, a
    /// missing header, no certificate) makes that exchange a failure of its endpoint, not a
    /// success.
    pub(crate) fn answered<T>(&self, parsed: Result<T, AcmeError>) -> Result<T, AcmeError> {
        if let Err(AcmeError::Malformed { endpoint, .. }) = &parsed {
            self.recorder.amend_last(*endpoint, RequestOutcome::Failed);
        }
        parsed
    }

    /// The CA refused `account` beyond the request just made.
    pub(crate) fn refused(&self, account: &super::Account, refusal: super::AccountRefusal) {
        self.recorder.account_refused(&account.url, refusal);
    }

    /// The URL of an optional directory resource (`revokeCert`, `keyChange`, `renewalInfo`),
    /// or an error naming what this CA's directory lacks.
    pub(crate) fn directory_entry(
        &self,
        endpoint: Endpoint,
        url: Option<&str>,
    ) -> Result<String, AcmeError> {
        url.map(str::to_owned).ok_or_else(|| AcmeError::Malformed {
            endpoint: Endpoint::Directory,
            message: format!("the directory offers no {endpoint}"),
        })
    }

    /// A plain GET without a signature, for what a CA serves to anyone: renewalInfo
    /// ([RFC 9773 §4.1](https://www.rfc-editor.org/rfc/rfc9773#section-4.1)) and, where the CA
    /// allows it, orders, authorizations and certificates
    /// ([RFC 8555 §6.3](https://www.rfc-editor.org/rfc/rfc8555#section-6.3) leaves it to the
    /// server). Error statuses become errors.
    pub async fn get(
        &self,
        endpoint: Endpoint,
        url: &str,
        accept: Option<&'static str>,
    ) -> Result<Response, AcmeError> {
        self.exchange(endpoint, Method::GET, url, None, accept)
            .await?
            .success(endpoint)
    }

    /// A nonce from the pool, or from a HEAD to newNonce when the pool is empty
    /// ([§7.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.2)).
    async fn nonce(&self) -> Result<String, AcmeError> {
        if let Some(nonce) = self.transport.nonces.borrow_mut().take() {
            return Ok(nonce);
        }
        self.new_nonce().await?;
        self.transport
            .nonces
            .borrow_mut()
            .take()
            .ok_or(AcmeError::Malformed {
                endpoint: Endpoint::NewNonce,
                message: "no Replay-Nonce header".into(),
            })
    }

    /// HEAD newNonce ([RFC 8555 §7.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.2)), as a
    /// client starting from nothing does; the nonce goes to the pool, where the next request takes
    /// it (the freshest first).
    pub async fn new_nonce(&self) -> Result<(), AcmeError> {
        let endpoint = Endpoint::NewNonce;
        let response = self
            .exchange(
                endpoint,
                Method::HEAD,
                &self.directory.new_nonce,
                None,
                None,
            )
            .await?
            .success(endpoint)?;
        match response.headers.get("replay-nonce") {
            Some(_) => Ok(()),
            None => Err(AcmeError::Malformed {
                endpoint,
                message: "no Replay-Nonce header".into(),
            }),
        }
    }

    /// GET the directory ([RFC 8555 §7.1.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.1))
    /// at `url`, as a client starting from nothing does.
    pub async fn fetch_directory(&self, url: &str) -> Result<Directory, AcmeError> {
        let endpoint = Endpoint::Directory;
        let response = self.get(endpoint, url, None).await?;
        self.answered(response.json(endpoint))
    }

    /// Signs and POSTs `payload` (`None` for POST-as-GET), re-signing with a fresh nonce after
    /// `badNonce` up to the configured number of times
    /// ([RFC 8555 §6.5](https://www.rfc-editor.org/rfc/rfc8555#section-6.5)).
    pub async fn post(
        &self,
        endpoint: Endpoint,
        url: &str,
        signer: Signer<'_>,
        payload: Option<&[u8]>,
        accept: Option<&'static str>,
    ) -> Result<Response, AcmeError> {
        let mut retries = 0;
        loop {
            let nonce = self.nonce().await?;
            let body = jws::sign(signer, &nonce, url, payload).map_err(|e| AcmeError::Local {
                endpoint,
                message: format!("signing the request failed: {e}"),
            })?;
            let response = self
                .exchange(endpoint, Method::POST, url, Some(body), accept)
                .await?;
            match response.success(endpoint) {
                Err(AcmeError::Problem { problem, .. })
                    if problem.is("badNonce") && retries < self.settings().bad_nonce_retries =>
                {
                    retries += 1;
                    self.recorder
                        .amend_last(endpoint, RequestOutcome::BadNonceRetried);
                }
                other => return other,
            }
        }
    }
}

fn send_error(
    endpoint: Endpoint,
    e: awc::error::SendRequestError,
    settings: &ClientSettings,
) -> AcmeError {
    use awc::error::{ConnectError, SendRequestError};
    match e {
        SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
            AcmeError::Timeout {
                endpoint,
                after: settings.request_timeout,
            }
        }
        other => AcmeError::Transport {
            endpoint,
            message: other.to_string(),
        },
    }
}

impl Response {
    /// The response itself on 2xx; the server's problem (or status) as an error otherwise. No
    /// ACME resource answers with a redirect and the client follows none (a CA could loop it),
    /// so a 3xx is a failure of the endpoint, `http-302:<endpoint>`.
    pub fn success(self, endpoint: Endpoint) -> Result<Response, AcmeError> {
        if self.status.is_success() {
            return Ok(self);
        }
        let status = self.status.as_u16();
        match serde_json::from_slice::<Problem>(&self.body) {
            Ok(problem) if problem.kind.is_some() || problem.detail.is_some() => {
                Err(AcmeError::Problem {
                    endpoint,
                    status,
                    problem: Box::new(problem),
                    retry_after: self.retry_after(),
                })
            }
            _ => Err(AcmeError::Status {
                endpoint,
                status,
                body: printable(&String::from_utf8_lossy(&self.body), 200),
            }),
        }
    }

    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self, endpoint: Endpoint) -> Result<T, AcmeError> {
        serde_json::from_slice(&self.body).map_err(|e| AcmeError::Malformed {
            endpoint,
            message: format!("body is not the expected JSON: {e}"),
        })
    }

    /// The body as a PEM certificate chain
    /// ([RFC 8555 §7.4.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.4.2)): the DER of each
    /// certificate, the leaf first; at least one.
    pub fn certificates(&self, endpoint: Endpoint) -> Result<Vec<Vec<u8>>, AcmeError> {
        let malformed = |message: String| AcmeError::Malformed { endpoint, message };
        let pem = std::str::from_utf8(&self.body)
            .map_err(|_| malformed("certificate chain is not UTF-8 PEM".into()))?;
        super::pem::certificates(pem).map_err(|e| malformed(e.to_string()))
    }

    /// The `Location` header, required on created resources
    /// ([RFC 8555 §7.3](https://www.rfc-editor.org/rfc/rfc8555#section-7.3),
    /// [§7.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.4)).
    pub fn location(&self, endpoint: Endpoint) -> Result<String, AcmeError> {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(AcmeError::Malformed {
                endpoint,
                message: "no Location header".into(),
            })
    }

    /// `Retry-After` as seconds or an HTTP date
    /// ([RFC 9110 §10.2.3](https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3)), if present and
    /// readable.
    pub fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(self.headers.get(RETRY_AFTER)?.to_str().ok()?)
    }
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        let future =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(100));
        let d = parse_retry_after(&future).unwrap();
        assert!(
            d > Duration::from_secs(95) && d <= Duration::from_secs(100),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    fn response(status: u16, body: &str) -> Response {
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn error_statuses_become_typed_errors() {
        let err = response(
            400,
            r#"{"type":"urn:ietf:params:acme:error:badNonce","detail":"stale","status":400}"#,
        )
        .success(Endpoint::NewOrder)
        .unwrap_err();
        assert!(err.problem().unwrap().is("badNonce"));
        assert_eq!(err.reason(), "acme:badNonce");

        let err = response(503, "<html>busy</html>")
            .success(Endpoint::Order)
            .unwrap_err();
        assert_eq!(err.reason(), "http-503:order");
        assert!(err.to_string().contains("busy"));

        assert!(response(201, "{}").success(Endpoint::NewAccount).is_ok());
    }
}
