//! The tls-alpn-01 responder (RFC 8737 §3): a TLS listener that negotiates ALPN `acme-tls/1`
//! and presents, per SNI name, the validation certificate the Registry made for that name.
//!
//! actix-web's openssl binding replaces the ALPN select callback (it offers h2/http1.1 only),
//! so this is a plain tokio-openssl listener. Three OpenSSL callbacks run during the handshake,
//! in this order, and refuse anything RFC 8737 does not ask for:
//! - ClientHello: the client must offer `acme-tls/1`, else the alert `no_application_protocol`
//!   (the ALPN select callback alone would let a client that sends no ALPN at all through);
//! - SNI: a live tls-alpn-01 challenge must exist for the name, else `unrecognized_name`;
//! - ALPN select: picks `acme-tls/1`.
//!
//! Certificates come from [`AlpnCerts`], which explains why the synchronous callback reads a
//! map the Registry keeps rather than asking the actor. With a shared registry, a name this
//! shard did not publish may be another shard's: the listener reads the ClientHello first
//! ([`super::client_hello`]), asks the Registry for that name's certificate, and hands it to
//! the SNI callback with the connection.
//!
//! A handshake in progress costs an OpenSSL session (tens of KB): at most `max_connections`
//! run at once (further clients wait in the kernel's queue, unaccepted), each given
//! `client_timeout` to finish.

use std::net::SocketAddr;
use std::os::raw::{c_uchar, c_uint};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix::Addr;

use foreign_types::ForeignTypeRef;
use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::ssl::{
    select_next_proto, AlpnError, ClientHelloResponse, NameType, SniError, Ssl, SslAcceptor,
    SslAlert, SslMethod, SslRef,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_openssl::SslStream;

use super::alpn_cert::AlpnCert;
use super::client_hello::{self, Replayed};
use super::registry::{normalise, AlpnCerts, LookupAlpn, Registry};
use super::Limits;

/// `acme-tls/1` in ALPN wire format: a length byte, then the name (RFC 8737 §6.2).
const ACME_TLS_1: &[u8] = b"\x0aacme-tls/1";

/// `application_layer_protocol_negotiation` (RFC 7301 §3.1).
const TLSEXT_TYPE_ALPN: c_uint = 16;

/// The running listeners; [`TlsAlpnServer::stop`] closes them.
#[derive(Debug)]
pub struct TlsAlpnServer {
    accept_loops: Vec<JoinHandle<()>>,
}

impl TlsAlpnServer {
    /// Stops accepting connections. Handshakes in progress end within their timeout.
    pub fn stop(self) {
        for task in self.accept_loops {
            task.abort();
        }
    }
}

/// Binds every address (a taken port is an error naming it) and serves tls-alpn-01 on each,
/// in the current System.
pub fn start(
    certs: AlpnCerts,
    addrs: &[SocketAddr],
    limits: Limits,
) -> std::io::Result<TlsAlpnServer> {
    let listeners = addrs
        .iter()
        .map(|addr| {
            super::bind_tcp(*addr).map_err(|e| {
                std::io::Error::new(e.kind(), format!("tls-alpn-01 listener {addr}: {e}"))
            })
        })
        .collect::<Result<_, _>>()?;
    serve(certs, None, listeners, limits)
}

/// Serves tls-alpn-01 on bound `listeners` in the current System, `limits.max_connections`
/// handshakes at once over all of them. With `shared` (a Registry sharing its entries), names
/// missing from `certs` are asked of it before each handshake.
pub(super) fn serve(
    certs: AlpnCerts,
    shared: Option<Addr<Registry>>,
    listeners: Vec<std::net::TcpListener>,
    limits: Limits,
) -> std::io::Result<TlsAlpnServer> {
    let acceptor = acceptor(certs.clone()).map_err(std::io::Error::other)?;
    let listeners = listeners
        .into_iter()
        .map(super::tokio_listener)
        .collect::<std::io::Result<Vec<_>>>()?;
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let accept_loops = listeners
        .into_iter()
        .map(|listener| {
            let acceptor = acceptor.clone();
            let resolver = shared.clone().map(|registry| Resolver {
                certs: certs.clone(),
                registry,
            });
            actix_rt::spawn(super::accept_bounded(
                "tls-alpn-01",
                listener,
                permits.clone(),
                move |tcp, peer, permit| {
                    let connection = Connection {
                        acceptor: acceptor.clone(),
                        resolver: resolver.clone(),
                        timeout: limits.client_timeout,
                    };
                    handshake(tcp, peer, connection, permit)
                },
            ))
        })
        .collect();
    Ok(TlsAlpnServer { accept_loops })
}

/// Where a connection's certificate found before its handshake waits for the SNI callback:
/// the name it was found for, and the certificate.
fn resolved_index() -> Result<Index<Ssl, (String, Arc<AlpnCert>)>, ErrorStack> {
    static INDEX: OnceLock<Index<Ssl, (String, Arc<AlpnCert>)>> = OnceLock::new();
    if let Some(index) = INDEX.get() {
        return Ok(*index);
    }
    let index = Ssl::new_ex_index()?;
    Ok(*INDEX.get_or_init(|| index))
}

/// Finds, before the handshake, certificates this shard does not hold itself.
#[derive(Clone)]
struct Resolver {
    certs: AlpnCerts,
    registry: Addr<Registry>,
}

/// What one connection needs to be served.
struct Connection {
    acceptor: SslAcceptor,
    resolver: Option<Resolver>,
    timeout: Duration,
}

fn acceptor(certs: AlpnCerts) -> Result<SslAcceptor, ErrorStack> {
    let resolved = resolved_index()?;
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    builder.set_client_hello_callback(|ssl, alert| {
        if client_hello_alpn(ssl).is_some_and(offers_acme_tls_1) {
            Ok(ClientHelloResponse::SUCCESS)
        } else {
            *alert = SslAlert::NO_APPLICATION_PROTOCOL;
            Err(ErrorStack::get())
        }
    });
    builder.set_servername_callback(move |ssl, alert| {
        let cert = ssl.servername(NameType::HOST_NAME).and_then(|name| {
            certs.get(name).or_else(|| {
                let (found_for, cert) = ssl.ex_data(resolved)?;
                (*found_for == normalise(name)).then(|| cert.clone())
            })
        });
        let Some(cert) = cert else {
            *alert = SslAlert::UNRECOGNIZED_NAME;
            return Err(SniError::ALERT_FATAL);
        };
        ssl.set_certificate(&cert.cert)
            .and_then(|()| ssl.set_private_key(&cert.key))
            .map_err(|e| {
                log::error!("tls-alpn-01: installing the certificate failed: {e}");
                *alert = SslAlert::INTERNAL_ERROR;
                SniError::ALERT_FATAL
            })
    });
    builder.set_alpn_select_callback(|_, offered| {
        select_next_proto(ACME_TLS_1, offered).ok_or(AlpnError::ALERT_FATAL)
    });
    Ok(builder.build())
}

/// Why a validation handshake did not complete (logged at debug level: refusing clients is
/// this listener's job).
#[derive(Debug, thiserror::Error)]
enum HandshakeError {
    #[error("reading the ClientHello: {0}")]
    ClientHello(std::io::Error),
    #[error("{0}")]
    Setup(#[from] ErrorStack),
    #[error("{0}")]
    Handshake(#[from] openssl::ssl::Error),
}

/// One validation connection: the handshake is all there is (RFC 8737 §3: the client closes
/// it once done, without sending data). It holds `_permit` until it ends.
async fn handshake(
    mut tcp: TcpStream,
    peer: SocketAddr,
    connection: Connection,
    _permit: OwnedSemaphorePermit,
) {
    let run = async {
        let mut ssl = Ssl::new(connection.acceptor.context())?;
        let head = match &connection.resolver {
            None => Vec::new(),
            Some(resolver) => {
                let head = client_hello::first_record(&mut tcp)
                    .await
                    .map_err(HandshakeError::ClientHello)?;
                if let Some(name) = client_hello::server_name(&head) {
                    if resolver.certs.get(&name).is_none() {
                        let lookup = LookupAlpn { name: name.clone() };
                        if let Ok(Some(cert)) = resolver.registry.send(lookup).await {
                            ssl.set_ex_data(resolved_index()?, (name, cert));
                        }
                    }
                }
                head
            }
        };
        let mut stream = SslStream::new(ssl, Replayed::new(head, tcp))?;
        Pin::new(&mut stream).accept().await?;
        let _ = stream.shutdown().await;
        Ok::<(), HandshakeError>(())
    };
    match actix_rt::time::timeout(connection.timeout, run).await {
        Ok(Ok(())) => log::debug!("tls-alpn-01: validation handshake with {peer}"),
        Ok(Err(e)) => log::debug!("tls-alpn-01: handshake with {peer} refused or failed: {e}"),
        Err(_) => log::debug!("tls-alpn-01: handshake with {peer} timed out"),
    }
}

/// The ALPN extension's data in the ClientHello being processed, if the client sent one.
fn client_hello_alpn(ssl: &SslRef) -> Option<&[u8]> {
    let mut data: *const c_uchar = std::ptr::null();
    let mut len = 0;
    // SAFETY: this runs only in the ClientHello callback, the one place OpenSSL allows
    // `SSL_client_hello_get0_ext`; `ssl` is that live handshake. On success `data` points at
    // `len` bytes of the ClientHello, which OpenSSL keeps until the callback returns, and the
    // slice's lifetime is tied to the borrow of `ssl` held by the callback.
    unsafe {
        let found = openssl_sys::SSL_client_hello_get0_ext(
            ssl.as_ptr(),
            TLSEXT_TYPE_ALPN,
            &mut data,
            &mut len,
        );
        (found == 1 && !data.is_null()).then(|| std::slice::from_raw_parts(data, len))
    }
}

/// Whether an ALPN extension's `ProtocolNameList` (RFC 7301 §3.1: a 2-byte length, then
/// length-prefixed names) holds `acme-tls/1`.
fn offers_acme_tls_1(extension: &[u8]) -> bool {
    let Some((len, list)) = extension.split_first_chunk::<2>() else {
        return false;
    };
    if usize::from(u16::from_be_bytes(*len)) != list.len() {
        return false;
    }
    let mut rest = list;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n);
        if n == 0 || n > tail.len() {
            return false;
        }
        if tail[..n] == ACME_TLS_1[1..] {
            return true;
        }
        rest = &tail[n..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extension(names: &[&str]) -> Vec<u8> {
        let mut list = Vec::new();
        for name in names {
            list.push(name.len() as u8);
            list.extend_from_slice(name.as_bytes());
        }
        let mut ext = (list.len() as u16).to_be_bytes().to_vec();
        ext.extend(list);
        ext
    }

    #[test]
    fn finds_acme_tls_1_among_offered_protocols() {
        assert!(offers_acme_tls_1(&extension(&["acme-tls/1"])));
        assert!(offers_acme_tls_1(&extension(&[
            "h2",
            "http/1.1",
            "acme-tls/1"
        ])));
        assert!(!offers_acme_tls_1(&extension(&["h2", "http/1.1"])));
        assert!(!offers_acme_tls_1(&extension(&["acme-tls/10"])));
        assert!(!offers_acme_tls_1(&extension(&[])));
    }

    #[test]
    fn malformed_lists_offer_nothing() {
        assert!(!offers_acme_tls_1(&[]));
        assert!(!offers_acme_tls_1(&[0]));
        let mut wrong_total = extension(&["acme-tls/1"]);
        wrong_total[1] += 1;
        assert!(!offers_acme_tls_1(&wrong_total));
        let mut overlong_name = extension(&["acme-tls/1"]);
        overlong_name[2] = 200;
        assert!(!offers_acme_tls_1(&overlong_name));
    }
}
