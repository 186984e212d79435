//! A fault-injecting proxy in front of a real Pebble, for the failure tests: HTTPS/1.1 on a
//! loopback port with Pebble's own certificate, forwarding to Pebble with the `Host` the client
//! sent, so Pebble builds every URL (directory, `Location`, the JWS `url` it checks) on the
//! proxy's address and every request the tool makes passes through it. A test plans faults per
//! path — an error status (with `Retry-After`), a connection reset, a request that never gets
//! an answer, garbage, a body that trickles — and switches them at run time.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_openssl::SslStream;

use super::tcp_server::{read_request, Request, TcpServer};

/// What the proxy does with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Forward to Pebble and back.
    Pass,
    /// Answer this status with an ACME problem (`serverInternal`, or `rateLimited` for 429),
    /// and `Retry-After` seconds when given.
    Status(u16, Option<u64>),
    /// Close the connection with a TCP reset, answering nothing.
    Reset,
    /// Read the request and never answer.
    Hang,
    /// 200 with a JSON content type and a body that is not JSON.
    Garbage,
    /// Forward, then send the answer's body one byte every this long.
    Trickle(Duration),
}

/// Faults by path: the first rule whose fragment the path contains applies, else `default`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub rules: Vec<(String, Fault)>,
    pub default: Fault,
}

impl Plan {
    pub fn pass() -> Plan {
        Plan::all(Fault::Pass)
    }

    pub fn all(fault: Fault) -> Plan {
        Plan {
            rules: Vec::new(),
            default: fault,
        }
    }

    /// `fault` for paths containing `fragment`, everything else passes.
    pub fn on(fragment: &str, fault: Fault) -> Plan {
        Plan {
            rules: vec![(fragment.to_owned(), fault)],
            default: Fault::Pass,
        }
    }

    fn fault_for(&self, path: &str) -> Fault {
        self.rules
            .iter()
            .find(|(fragment, _)| path.contains(fragment.as_str()))
            .map_or_else(|| self.default.clone(), |(_, f)| f.clone())
    }
}

struct Shared {
    plan: Mutex<Plan>,
    upstream: String,
    tls: SslAcceptor,
    client: reqwest_like::Upstream,
    requests: AtomicU64,
    faulted: AtomicU64,
    /// Requests forwarded, by the first segment of their path (`finalize-order`, `certZ`…).
    passed: Mutex<std::collections::HashMap<String, u64>>,
}

pub struct FaultProxy {
    shared: Arc<Shared>,
    server: TcpServer,
}

impl FaultProxy {
    /// A proxy to Pebble at `upstream` (`https://127.0.0.1:PORT`), presenting Pebble's own
    /// certificate from its directory `dir` (so the tool trusts both with `dir/ca.pem`).
    pub fn start(upstream: &str, dir: &Path) -> FaultProxy {
        let shared = Arc::new(Shared {
            plan: Mutex::new(Plan::pass()),
            upstream: upstream.trim_end_matches('/').to_owned(),
            tls: {
                let mut tls =
                    SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
                tls.set_certificate_chain_file(dir.join("pebble.pem"))
                    .unwrap();
                tls.set_private_key_file(dir.join("pebble.key"), SslFiletype::PEM)
                    .unwrap();
                tls.build()
            },
            client: reqwest_like::Upstream::new(&dir.join("ca.pem")),
            requests: AtomicU64::new(0),
            faulted: AtomicU64::new(0),
            passed: Mutex::new(std::collections::HashMap::new()),
        });
        let served = shared.clone();
        let server = TcpServer::start(move |stream, _| connection(stream, served.clone()));
        FaultProxy { shared, server }
    }

    pub fn set(&self, plan: Plan) {
        *self.shared.plan.lock().unwrap() = plan;
    }

    /// Pebble's directory through the proxy.
    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.server.port)
    }

    /// Requests forwarded to Pebble whose path starts with `/<segment>`.
    pub fn passed(&self, segment: &str) -> u64 {
        let passed = self.shared.passed.lock().unwrap();
        passed.get(segment).copied().unwrap_or(0)
    }

    /// Requests seen, and those a fault answered.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.shared.requests.load(Ordering::SeqCst),
            self.shared.faulted.load(Ordering::SeqCst),
        )
    }
}

async fn connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let Ok(ssl) = Ssl::new(shared.tls.context()) else {
        return;
    };
    let Ok(mut stream) = SslStream::new(ssl, stream) else {
        return;
    };
    if std::pin::Pin::new(&mut stream).accept().await.is_err() {
        return;
    }
    let mut buf = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buf).await {
        shared.requests.fetch_add(1, Ordering::SeqCst);
        let fault = shared.plan.lock().unwrap().fault_for(&request.path);
        if fault != Fault::Pass {
            shared.faulted.fetch_add(1, Ordering::SeqCst);
        }
        let answer = match fault {
            Fault::Reset => {
                // Linger 0: closing sends a reset instead of a FIN.
                let socket = socket2::SockRef::from(stream.get_ref());
                let _ = socket.set_linger(Some(Duration::ZERO));
                return;
            }
            Fault::Hang => {
                std::future::pending::<()>().await;
                return;
            }
            Fault::Status(status, retry_after) => problem(status, retry_after),
            Fault::Garbage => Answer {
                status: 200,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: b"{\"status\": \"val\x00\xff garbage".to_vec(),
            },
            Fault::Pass | Fault::Trickle(_) => match forward(&shared, &request).await {
                Some(answer) => answer,
                None => problem(502, None),
            },
        };
        let trickle = match fault {
            Fault::Trickle(every) => Some(every),
            _ => None,
        };
        if write(&mut stream, answer, trickle).await.is_err() {
            return;
        }
    }
}

/// An answer to write back.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn problem(status: u16, retry_after: Option<u64>) -> Answer {
    let kind = if status == 429 {
        "rateLimited"
    } else {
        "serverInternal"
    };
    let mut headers = vec![("Content-Type".into(), "application/problem+json".into())];
    if let Some(secs) = retry_after {
        headers.push(("Retry-After".into(), secs.to_string()));
    }
    Answer {
        status,
        headers,
        body: format!(
            "{{\"type\":\"urn:ietf:params:acme:error:{kind}\",\"detail\":\"injected {status}\",\
             \"status\":{status}}}"
        )
        .into_bytes(),
    }
}

async fn forward(shared: &Shared, request: &Request) -> Option<Answer> {
    let segment = request
        .path
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    *shared
        .passed
        .lock()
        .unwrap()
        .entry(segment.to_owned())
        .or_default() += 1;
    let url = format!("{}{}", shared.upstream, request.path);
    let (status, headers, body) = shared
        .client
        .send(
            &request.method,
            &url,
            request.host.as_deref(),
            request.content_type.as_deref(),
            request.body.clone(),
        )
        .await?;
    let headers = headers
        .into_iter()
        .filter(|(name, _)| {
            !matches!(
                name.to_ascii_lowercase().as_str(),
                "content-length" | "connection" | "transfer-encoding" | "keep-alive"
            )
        })
        .collect();
    Some(Answer {
        status,
        headers,
        body,
    })
}

async fn write<S: AsyncWrite + Unpin>(
    stream: &mut S,
    answer: Answer,
    trickle: Option<Duration>,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} X\r\n", answer.status);
    for (name, value) in &answer.headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += &format!("Content-Length: {}\r\n\r\n", answer.body.len());
    stream.write_all(head.as_bytes()).await?;
    match trickle {
        None => stream.write_all(&answer.body).await?,
        Some(every) => {
            for byte in &answer.body {
                stream.write_all(&[*byte]).await?;
                stream.flush().await?;
                actix_rt::time::sleep(every).await;
            }
        }
    }
    stream.flush().await
}

/// The proxy's HTTPS client to Pebble: awc, trusting Pebble's throwaway CA.
mod reqwest_like {
    use std::path::Path;

    use awc::http::Method;

    pub struct Upstream {
        ca: Vec<u8>,
    }

    impl Upstream {
        pub fn new(ca: &Path) -> Upstream {
            Upstream {
                ca: std::fs::read(ca).unwrap(),
            }
        }

        fn client(&self) -> awc::Client {
            thread_local! {
                static CLIENT: std::cell::OnceCell<awc::Client> = const { std::cell::OnceCell::new() };
            }
            CLIENT.with(|c| {
                c.get_or_init(|| {
                    let mut tls =
                        openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client())
                            .unwrap();
                    for cert in openssl::x509::X509::stack_from_pem(&self.ca).unwrap() {
                        tls.cert_store_mut().add_cert(cert).unwrap();
                    }
                    tls.set_alpn_protos(b"\x08http/1.1").unwrap();
                    awc::Client::builder()
                        .connector(awc::Connector::new().openssl(tls.build()))
                        .timeout(std::time::Duration::from_secs(30))
                        .disable_redirects()
                        .finish()
                })
                .clone()
            })
        }

        /// Sends one request, with the `Host` the client sent; `None` when Pebble could not be
        /// reached.
        pub async fn send(
            &self,
            method: &str,
            url: &str,
            host: Option<&str>,
            content_type: Option<&str>,
            body: Vec<u8>,
        ) -> Option<(u16, Vec<(String, String)>, Vec<u8>)> {
            let method = Method::from_bytes(method.as_bytes()).ok()?;
            let mut request = self.client().request(method, url);
            if let Some(host) = host {
                request = request.insert_header(("Host", host));
            }
            if let Some(ct) = content_type {
                request = request.insert_header(("Content-Type", ct));
            }
            let mut response = request.send_body(body).await.ok()?;
            let headers = response
                .headers()
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect();
            let body = response.body().limit(1 << 24).await.ok()?.to_vec();
            Some((response.status().as_u16(), headers, body))
        }
    }
}
