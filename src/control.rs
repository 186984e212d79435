//! The control API, on loopback by default: `GET /status` (the Ramp's state and the chain
//! counts) and `POST /reload` (what SIGHUP does, answering the outcome), one request per
//! connection ([`crate::challenge::http1`]), at most [`MAX_CONNECTIONS`] at once, so clients
//! holding connections open cannot make it unreachable for long. When a token is configured
//! every request must carry it as `Authorization: Bearer <token>`. Without
//! one, a web page the operator visits must not be able to drive it: requests must name this
//! host (`Host`: localhost or a loopback address, with the API's port, which a DNS-rebinding
//! page cannot send) and `POST /reload` must be JSON, which a browser never sends cross-site
//! without a CORS preflight this API never approves.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::challenge::http1::{self, Reply, Request};
use crate::config::control::MAX_CONNECTIONS;
use crate::config::Control;
use crate::metrics::{GetCounts, Metrics};
use crate::ramp::{GetStatus, Ramp};
use crate::reload::{Reload, Reloader};
use crate::safety::Secret;

/// How long a client may take to send its request, or keep an idle connection.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

struct State {
    ramp: Addr<Ramp>,
    reloader: Addr<Reloader>,
    metrics: Addr<Metrics>,
    token: Option<Secret>,
    /// Where the API listens, for the `Host` check.
    local: SocketAddr,
}

/// Binds the API's address now, so a taken port is an error before anything starts.
pub fn bind(settings: &Control) -> std::io::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(settings.listen).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("control API listener {}: {e}", settings.listen),
        )
    })
}

/// The running API; [`ControlServer::stop`] closes it.
pub struct ControlServer {
    accept_loop: JoinHandle<()>,
}

impl ControlServer {
    pub fn stop(self) {
        self.accept_loop.abort();
    }
}

/// Serves the API on `listener` (from [`bind`]) in the current System; returns its handle and
/// the address it listens on (port 0 in the config picks a free one).
pub fn start(
    listener: std::net::TcpListener,
    settings: &Control,
    ramp: Addr<Ramp>,
    reloader: Addr<Reloader>,
    metrics: Addr<Metrics>,
) -> std::io::Result<(ControlServer, SocketAddr)> {
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let listener = crate::challenge::tokio_listener(listener)?;
    let state = Arc::new(State {
        ramp,
        reloader,
        metrics,
        token: settings.token.clone(),
        local,
    });
    let accept_loop = actix_rt::spawn(crate::challenge::accept_bounded(
        "control API",
        listener,
        Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        move |stream, peer, permit| {
            let state = state.clone();
            async move {
                http1::serve(stream, peer, CLIENT_TIMEOUT, |request| {
                    answer(state, request)
                })
                .await;
                drop(permit);
            }
        },
    ));
    Ok((ControlServer { accept_loop }, local))
}

fn error(status: u16, reason: &str) -> Reply {
    Reply::json(status, &json!({ "error": reason }))
}

async fn answer(state: Arc<State>, request: Request) -> Reply {
    if let Some(refused) = refusal(&request, &state) {
        return refused;
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/status") => status(&state).await,
        ("POST", "/reload") => reload(&request, &state).await,
        _ => error(404, "endpoints: GET /status, POST /reload"),
    }
}

/// Why a request is refused before it is served, if it is.
fn refusal(request: &Request, state: &State) -> Option<Reply> {
    match &state.token {
        Some(token) => {
            let given = request
                .header("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            // Compared in constant time.
            let ok = given.len() == token.expose().len()
                && openssl::memcmp::eq(given.as_bytes(), token.expose().as_bytes());
            (!ok).then(|| error(401, "missing or wrong bearer token"))
        }
        None => {
            let local = request
                .header("host")
                .is_some_and(|h| host_is_local(h, state.local));
            (!local).then(|| {
                error(
                    403,
                    "the Host header must be localhost or a loopback address with this API's \
                     port (requests from other sites are refused)",
                )
            })
        }
    }
}

/// Whether a `Host` header names this API on loopback: `localhost`, `127.0.0.1`, `[::1]`…, with
/// the API's port when a port is given.
fn host_is_local(host: &str, local: SocketAddr) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => (name, Some(port)),
        _ => (host, None),
    };
    if port.is_some_and(|p| p.parse::<u16>() != Ok(local.port())) {
        return false;
    }
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip == local.ip())
}

async fn status(state: &State) -> Reply {
    let (ramp, counts) = tokio::join!(state.ramp.send(GetStatus), state.metrics.send(GetCounts));
    match (ramp, counts) {
        (Ok(ramp), Ok((chains_ok, chains_failed))) => {
            let mut body = serde_json::to_value(ramp).expect("status serialises");
            body["chains_ok"] = chains_ok.into();
            body["chains_failed"] = chains_failed.into();
            Reply::json(200, &body)
        }
        _ => error(503, "the daemon is stopping"),
    }
}

async fn reload(request: &Request, state: &State) -> Reply {
    let json = request
        .header("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return error(415, "POST /reload needs Content-Type: application/json");
    }
    match state
        .reloader
        .send(Reload {
            cause: "POST /reload",
        })
        .await
    {
        Ok(Ok(detail)) => Reply::json(200, &json!({ "result": "accepted", "detail": detail })),
        Ok(Err(reason)) => Reply::json(
            422,
            &json!({ "result": "rejected", "reason": reason.to_string() }),
        ),
        Err(_) => error(503, "the daemon is stopping"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_with_the_api_port_are_local() {
        let local: SocketAddr = "127.0.0.1:9180".parse().unwrap();
        for host in [
            "127.0.0.1:9180",
            "localhost:9180",
            "LOCALHOST",
            "127.0.0.1",
            "[::1]:9180",
            "[::1]",
            "127.0.0.2:9180",
        ] {
            assert!(host_is_local(host, local), "{host}");
        }
        for host in [
            "evil.example:9180",
            "127.0.0.1:80",
            "localhost.evil.example",
            "10.0.0.1:9180",
            "[::1]:81",
            "",
        ] {
            assert!(!host_is_local(host, local), "{host}");
        }
    }
}
