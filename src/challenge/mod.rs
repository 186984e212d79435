//! The challenge server the CA validates against: the [`registry::Registry`] actor holding the
//! responses the chains publish, and the listeners that serve them — http-01, tls-alpn-01 and
//! the DNS that points every random name at them and serves dns-01's TXT records.

pub mod alpn_cert;
pub mod dns;
pub mod http01;
pub mod registry;
pub mod tlsalpn01;

use std::net::SocketAddr;
use std::time::Duration;

use actix::{Actor, Addr};

pub use registry::{
    Lookup, LookupTxt, Publish, Registry, RegistryError, Response, Size, Ticket, Withdraw,
};

/// Where the challenge server listens and what it answers, from `[challenge]`. An empty
/// address list leaves that listener off.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub http01: Vec<SocketAddr>,
    pub tlsalpn01: Vec<SocketAddr>,
    pub dns: Vec<SocketAddr>,
    pub zone: dns::Zone,
    pub ttl: Duration,
    pub max_entries: usize,
}

/// The Registry and the listeners serving it, started and stopped together.
pub struct ChallengeServer {
    pub registry: Addr<Registry>,
    http01: Option<actix_web::dev::ServerHandle>,
    tlsalpn01: Option<tlsalpn01::TlsAlpnServer>,
    dns: Option<dns::DnsServer>,
}

impl ChallengeServer {
    /// Starts the Registry and every configured listener in the current System; a port that
    /// cannot be bound is an error naming the listener and the address.
    pub fn start(settings: ServerSettings) -> std::io::Result<ChallengeServer> {
        let registry = Registry::new(settings.ttl, settings.max_entries);
        let alpn_certs = registry.alpn_certs();
        let registry = registry.start();
        let http01 = match settings.http01.as_slice() {
            [] => None,
            addrs => Some(http01::start(registry.clone(), addrs)?),
        };
        let tlsalpn01 = match settings.tlsalpn01.as_slice() {
            [] => None,
            addrs => Some(tlsalpn01::start(alpn_certs, addrs)?),
        };
        let dns = match settings.dns.as_slice() {
            [] => None,
            addrs => Some(dns::start(registry.clone(), settings.zone.clone(), addrs)?),
        };
        let list = |addrs: &[SocketAddr]| match addrs {
            [] => "off".to_owned(),
            addrs => addrs
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        };
        log::info!(
            "challenge server: http-01 {}; tls-alpn-01 {}; DNS {} for {}",
            list(&settings.http01),
            list(&settings.tlsalpn01),
            list(&settings.dns),
            settings.zone.base_domains.join(", ")
        );
        Ok(ChallengeServer {
            registry,
            http01,
            tlsalpn01,
            dns,
        })
    }

    /// Closes every listener.
    pub async fn stop(self) {
        if let Some(server) = self.tlsalpn01 {
            server.stop();
        }
        if let Some(server) = self.dns {
            server.stop().await;
        }
        if let Some(handle) = self.http01 {
            handle.stop(true).await;
        }
    }
}

/// A TCP listener for the current System's tokio runtime, bound now so a taken port is an
/// error at start.
fn bind_tcp(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}
