//! http-01 (RFC 8555 §8.3) as Boulder's VA fetches it (va/http.go): GET
//! `http://<name>[:port]/.well-known/acme-challenge/<token>` sent to a resolved address with
//! that Host, a new connection each time (Boulder disables keep-alive), at most 128 bytes of
//! body, status 200 required, trailing whitespace trimmed before comparing with the key
//! authorization. The IPv6 address is tried first and IPv4 only if connecting failed.

use std::net::{IpAddr, SocketAddr};

use awc::error::{ConnectError, SendRequestError};
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::Job;
use crate::ca::Ca;
use crate::problem::{Kind, Problem};

/// Boulder's `maxResponseSize`.
const MAX_BODY: usize = 128;

enum Fetch {
    /// Could not connect: the next address may be tried.
    Connect(String),
    Failed(Problem),
}

pub async fn validate(
    ca: &Ca,
    client: &awc::Client,
    job: &Job,
    ips: &[IpAddr],
) -> Result<Vec<Value>, Problem> {
    let port = ca.cfg.http01_port;
    let host = if port == 80 {
        job.name.clone()
    } else {
        format!("{}:{port}", job.name)
    };
    let path = format!("/.well-known/acme-challenge/{}", job.token);
    let url = format!("http://{host}{path}");
    let mut last = None;
    for ip in ips {
        let record = json!({
            "url": url,
            "hostname": job.name,
            "port": port.to_string(),
            "addressesResolved": ips,
            "addressUsed": ip,
        });
        match fetch(client, SocketAddr::new(*ip, port), &host, &path, &url).await {
            Ok(body) => {
                let payload = String::from_utf8_lossy(&body);
                let payload = payload.trim_end();
                if payload != job.key_authorization {
                    return Err(Problem::unauthorized(format!(
                        "{ip}: The key authorization file from the server did not match this challenge. Expected {:?} (got {payload:?})",
                        job.key_authorization
                    )));
                }
                return Ok(vec![record]);
            }
            Err(Fetch::Connect(detail)) => {
                last = Some(Problem::new(Kind::Connection, format!("{ip}: {detail}")))
            }
            Err(Fetch::Failed(mut p)) => {
                p.detail = format!("{ip}: {}", p.detail);
                return Err(p);
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        Problem::new(
            Kind::Dns,
            format!("No valid IP addresses found for {}", job.name),
        )
    }))
}

async fn fetch(
    client: &awc::Client,
    addr: SocketAddr,
    host: &str,
    path: &str,
    url: &str,
) -> Result<Vec<u8>, Fetch> {
    let target = format!("http://{addr}{path}");
    let sent = client
        .get(target)
        .insert_header(("Host", host))
        .insert_header(("User-Agent", "testca"))
        .insert_header(("Accept", "*/*"))
        .insert_header(("Connection", "close"))
        .send()
        .await;
    let mut res = match sent {
        Ok(res) => res,
        Err(SendRequestError::Connect(ConnectError::Io(e)))
            if e.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            return Err(Fetch::Connect(format!(
                "Fetching {url}: Connection refused"
            )))
        }
        Err(SendRequestError::Connect(ConnectError::Timeout)) => {
            return Err(Fetch::Connect(format!(
                "Fetching {url}: Timeout during connect (likely firewall problem)"
            )))
        }
        Err(SendRequestError::Connect(_)) => {
            return Err(Fetch::Connect(format!(
                "Fetching {url}: Error getting validation data"
            )))
        }
        Err(SendRequestError::Timeout) => {
            return Err(Fetch::Failed(Problem::new(
                Kind::Connection,
                format!(
                    "Fetching {url}: Timeout after connect (your server may be slow or overloaded)"
                ),
            )))
        }
        Err(_) => {
            return Err(Fetch::Failed(Problem::new(
                Kind::Connection,
                format!("Fetching {url}: Error getting validation data"),
            )))
        }
    };
    if res.status() != 200 {
        return Err(Fetch::Failed(Problem::unauthorized(format!(
            "Invalid response from {url}: {}",
            res.status().as_u16()
        ))));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.next().await {
        let chunk = chunk.map_err(|e| {
            Fetch::Failed(Problem::unauthorized(format!(
                "Error reading HTTP response body: {e}"
            )))
        })?;
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_BODY {
            body.truncate(MAX_BODY);
            return Err(Fetch::Failed(Problem::unauthorized(format!(
                "Invalid response from {url}: {:?}",
                String::from_utf8_lossy(&body)
            ))));
        }
    }
    Ok(body)
}
