//! The challenge server the CA validates against: the [`registry::Registry`] actor holding the
//! responses the chains publish (in this process, or shared by every shard through Redis:
//! [`redis_store`]), and the listeners that serve them — http-01, tls-alpn-01 and the DNS
//! (over UDP/TCP, and over HTTPS for Boulder) that points every random name at them and
//! serves dns-01's TXT records.
//!
//! Every listener is bounded the same way ([`Limits`]): at most `max_connections` clients at
//! once (more wait in the kernel's queue, costing neither a file descriptor nor memory here),
//! each given `client_timeout` to send its request or finish its TLS handshake. Clients that
//! open connections and send nothing can slow validation down to their timeout, never starve
//! the process of descriptors or memory.

pub mod alpn_cert;
pub mod client_hello;
pub mod dns;
pub mod doh;
pub mod domain_addresses;
pub mod http01;
pub mod http1;
pub mod redis_store;
pub mod redis_url;
pub mod registry;
pub mod resp;
pub mod tlsalpn01;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::{Addr, AsyncContext, Context};
use openssl::ssl::SslAcceptorBuilder;

pub use redis_store::{RedisStore, SharedStats};
pub use redis_url::{RedisUrl, RegistryBackend};
pub use registry::{
    Lookup, LookupAlpn, LookupTxt, Publish, Registry, RegistryError, Response, Served, Size,
    Ticket, Withdraw,
};

/// What each listener lets its clients take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections (TLS handshakes included) served at once by one listener, all its
    /// addresses together.
    pub max_connections: usize,
    /// How long a client may take to send a request or finish a handshake, and stay idle.
    pub client_timeout: Duration,
}

/// Where the challenge server listens and what it answers, from `[challenge]`. An empty
/// address list leaves that listener off.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub http01: Vec<SocketAddr>,
    pub tlsalpn01: Vec<SocketAddr>,
    pub dns: Vec<SocketAddr>,
    /// DNS over HTTPS listeners, and what they present (set whenever `doh` is not empty).
    pub doh: Vec<SocketAddr>,
    pub doh_tls: Option<doh::DohTls>,
    pub zone: dns::Zone,
    pub ttl: Duration,
    pub max_entries: usize,
    pub limits: Limits,
}

/// Every listener's sockets, bound (and the DoH certificate loaded) before anything starts, so
/// a taken port is an error naming the listener and the address, and nothing is left half
/// started behind it.
pub struct Sockets {
    http01: Vec<std::net::TcpListener>,
    tlsalpn01: Vec<std::net::TcpListener>,
    dns: Vec<(std::net::UdpSocket, std::net::TcpListener)>,
    doh: Vec<(std::net::TcpListener, SslAcceptorBuilder)>,
}

impl Sockets {
    pub fn bind(settings: &ServerSettings) -> std::io::Result<Sockets> {
        let tcp = |what: &'static str| {
            move |addr: &SocketAddr| {
                bind_tcp(*addr).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{what} listener {addr}: {e}"))
                })
            }
        };
        let http01 = settings
            .http01
            .iter()
            .map(tcp("http-01"))
            .collect::<Result<_, _>>()?;
        let tlsalpn01 = settings
            .tlsalpn01
            .iter()
            .map(tcp("tls-alpn-01"))
            .collect::<Result<_, _>>()?;
        let dns = dns::bind(&settings.dns)?;
        let doh = match (settings.doh.as_slice(), &settings.doh_tls) {
            ([], _) => Vec::new(),
            (addrs, Some(tls)) => addrs
                .iter()
                .map(|addr| Ok((tcp("DNS over HTTPS")(addr)?, tls.acceptor()?)))
                .collect::<std::io::Result<_>>()?,
            (_, None) => {
                return Err(std::io::Error::other(
                    "DNS over HTTPS needs a certificate and a key",
                ))
            }
        };
        Ok(Sockets {
            http01,
            tlsalpn01,
            dns,
            doh,
        })
    }
}

/// The Registry and the listeners serving it, started and stopped together.
pub struct ChallengeServer {
    pub registry: Addr<Registry>,
    http01: Option<http01::Http01Server>,
    tlsalpn01: Option<tlsalpn01::TlsAlpnServer>,
    dns: Option<dns::DnsServer>,
    doh: Option<actix_web::dev::ServerHandle>,
    shared: Option<SharedStats>,
}

impl ChallengeServer {
    /// Binds every configured listener and starts them with the Registry in the current
    /// System; a port that cannot be bound is an error naming the listener and the address.
    pub fn start(settings: ServerSettings) -> std::io::Result<ChallengeServer> {
        ChallengeServer::start_shared(settings, None)
    }

    /// As [`ChallengeServer::start`], the Registry sharing its entries through `shared`.
    pub fn start_shared(
        settings: ServerSettings,
        shared: Option<RedisStore>,
    ) -> std::io::Result<ChallengeServer> {
        let sockets = Sockets::bind(&settings)?;
        ChallengeServer::serve_shared(settings, sockets, Context::new(), shared)
    }

    /// Starts the Registry in `context` (whose address may already be handed out) and the
    /// listeners on `sockets`, in the current System.
    pub fn serve(
        settings: ServerSettings,
        sockets: Sockets,
        context: Context<Registry>,
    ) -> std::io::Result<ChallengeServer> {
        ChallengeServer::serve_shared(settings, sockets, context, None)
    }

    /// As [`ChallengeServer::serve`], the Registry sharing its entries through `shared`
    /// (`challenge.registry`), which must have been connected in this System's thread.
    pub fn serve_shared(
        settings: ServerSettings,
        sockets: Sockets,
        context: Context<Registry>,
        shared: Option<RedisStore>,
    ) -> std::io::Result<ChallengeServer> {
        let mut registry = Registry::new(settings.ttl, settings.max_entries);
        if let Some(store) = shared {
            registry = registry.shared(store);
        }
        let shared = registry.shared_stats();
        let alpn_certs = registry.alpn_certs();
        let address = context.address();
        let limits = settings.limits;
        let handler = Arc::new(dns::Handler::new(address.clone(), settings.zone.clone()));
        let http01 = match sockets.http01 {
            listeners if listeners.is_empty() => None,
            listeners => Some(http01::serve(address.clone(), listeners, limits)?),
        };
        let tlsalpn01 = match sockets.tlsalpn01 {
            listeners if listeners.is_empty() => None,
            listeners => {
                let resolver = shared.as_ref().map(|_| address.clone());
                Some(tlsalpn01::serve(alpn_certs, resolver, listeners, limits)?)
            }
        };
        let dns = match sockets.dns {
            sockets if sockets.is_empty() => None,
            sockets => Some(dns::serve(handler.clone(), sockets, limits)?),
        };
        let doh = match sockets.doh {
            listeners if listeners.is_empty() => None,
            listeners => Some(doh::serve(handler, listeners, limits)?),
        };
        context.run(registry);
        let list = |addrs: &[SocketAddr]| match addrs {
            [] => "off".to_owned(),
            addrs => addrs
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        };
        log::info!(
            "challenge server: http-01 {}; tls-alpn-01 {}; DNS {} (over HTTPS: {}) for {}; at \
             most {} connections per listener, {} s for a client's request or handshake; \
             registry {}",
            list(&settings.http01),
            list(&settings.tlsalpn01),
            list(&settings.dns),
            list(&settings.doh),
            settings.zone.base_domains.join(", "),
            limits.max_connections,
            limits.client_timeout.as_secs_f64(),
            shared
                .as_ref()
                .map_or_else(|| "in memory".to_owned(), |s| s.summary().backend)
        );
        Ok(ChallengeServer {
            registry: address,
            http01,
            tlsalpn01,
            dns,
            doh,
            shared,
        })
    }

    /// What the shared registry did so far, when there is one.
    pub fn shared_stats(&self) -> Option<&SharedStats> {
        self.shared.as_ref()
    }

    /// Closes every listener.
    pub async fn stop(self) {
        if let Some(server) = self.tlsalpn01 {
            server.stop();
        }
        if let Some(server) = self.dns {
            server.stop();
        }
        if let Some(server) = self.http01 {
            server.stop();
        }
        if let Some(handle) = self.doh {
            handle.stop(true).await;
        }
    }
}

/// A TCP listener bound now, so a taken port is an error at start.
pub(crate) fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// A tokio listener, in the current System, from one bound by [`bind_tcp`].
pub(crate) fn tokio_listener(
    listener: std::net::TcpListener,
) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::from_std(listener)
}

/// Accepts connections on `listener` while a permit of `permits` is free, handing each to
/// `serve` with its permit (released when the connection ends); at the cap, connections wait
/// in the kernel's queue. `what` names the listener in the log.
pub(crate) async fn accept_bounded<F, Fut>(
    what: &'static str,
    listener: tokio::net::TcpListener,
    permits: Arc<tokio::sync::Semaphore>,
    serve: F,
) where
    F: Fn(tokio::net::TcpStream, SocketAddr, tokio::sync::OwnedSemaphorePermit) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                actix_rt::spawn(serve(stream, peer, permit));
            }
            Err(e) => {
                // Out of file descriptors and the like: pause instead of spinning.
                log::warn!("{what}: accept failed: {e}");
                actix_rt::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
