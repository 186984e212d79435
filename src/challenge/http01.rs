//! The http-01 responder (RFC 8555 §8.3): `GET /.well-known/acme-challenge/{token}` answers
//! exactly the key authorization as `text/plain`; anything else is 404. One request per
//! connection ([`super::http1`]), at most `max_connections` connections at once, each given
//! `client_timeout` to send its request and read the answer.

use std::net::SocketAddr;
use std::sync::Arc;

use actix::Addr;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::http1::{self, Reply, Request};
use super::{Limits, Lookup, Registry};

/// The path prefix of a challenge token (RFC 8555 §8.3).
const PREFIX: &str = "/.well-known/acme-challenge/";

/// The running responder; [`Http01Server::stop`] closes it.
#[derive(Debug)]
pub struct Http01Server {
    accept_loops: Vec<JoinHandle<()>>,
}

impl Http01Server {
    /// Stops accepting; requests being answered end within their timeout.
    pub fn stop(self) {
        for task in self.accept_loops {
            task.abort();
        }
    }
}

/// Binds `addrs` and starts the responder on them in the current System; a taken port is an
/// error naming the address.
pub fn start(
    registry: Addr<Registry>,
    addrs: &[SocketAddr],
    limits: Limits,
) -> std::io::Result<Http01Server> {
    let listeners = addrs
        .iter()
        .map(|addr| {
            super::bind_tcp(*addr)
                .map_err(|e| std::io::Error::new(e.kind(), format!("http-01 listener {addr}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    serve(registry, listeners, limits)
}

/// Starts the responder on bound `listeners` in the current System, `limits.max_connections`
/// connections at once over all of them.
pub(super) fn serve(
    registry: Addr<Registry>,
    listeners: Vec<std::net::TcpListener>,
    limits: Limits,
) -> std::io::Result<Http01Server> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let accept_loops = listeners
        .into_iter()
        .map(|listener| {
            let listener = super::tokio_listener(listener)?;
            let registry = registry.clone();
            Ok(actix_rt::spawn(super::accept_bounded(
                "http-01",
                listener,
                permits.clone(),
                move |stream, peer, permit| {
                    let registry = registry.clone();
                    async move {
                        http1::serve(stream, peer, limits.client_timeout, |request| {
                            answer(registry, request)
                        })
                        .await;
                        drop(permit);
                    }
                },
            )))
        })
        .collect::<std::io::Result<_>>()?;
    Ok(Http01Server { accept_loops })
}

async fn answer(registry: Addr<Registry>, request: Request) -> Reply {
    let token = match request.path.strip_prefix(PREFIX) {
        Some(token) if !token.is_empty() && !token.contains('/') => token.to_owned(),
        _ => return Reply::empty(404),
    };
    if request.method != "GET" {
        return Reply::empty(405);
    }
    match registry.send(Lookup { token }).await {
        Ok(Some(key_authorization)) => Reply {
            status: 200,
            content_type: Some("text/plain"),
            body: key_authorization.into_bytes(),
        },
        Ok(None) => Reply::empty(404),
        Err(e) => {
            log::error!("challenge registry unavailable: {e}");
            Reply::empty(503)
        }
    }
}
