//! Test fixtures: a DoH server (RFC 8484, HTTP/2 over TLS with its own CA) answering every A
//! query with the lab's address, an http-01 responder and a tls-alpn-01 responder on that
//! address (127.64.x.y, ports 80 and 443), and a CA configured to use them. Every wait is
//! polled with a deadline.

#![allow(dead_code)]

pub mod client;
pub mod responders;

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use openssl::hash::{hash, MessageDigest};
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::X509;
use serde_json::{json, Value};
use testca::{Config, TestCa};

use client::{b64, csr, p256, Client, Resp};
pub use responders::alpn_cert;
use responders::{alpn_acceptor, doh, self_signed, Certs, Zone};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A fresh 127.64.x.y with ports 80 and 443 free.
fn lab_address() -> (Ipv4Addr, TcpListener, std::net::TcpListener) {
    let start = u64::from(std::process::id()) * 97;
    loop {
        let n = start + NEXT.fetch_add(1, Ordering::Relaxed);
        let ip = Ipv4Addr::new(127, 64, ((n / 250) % 250 + 1) as u8, (n % 250 + 1) as u8);
        let (Ok(http), Ok(tls)) = (
            TcpListener::bind((ip, 80)),
            std::net::TcpListener::bind((ip, 443)),
        ) else {
            continue;
        };
        return (ip, http, tls);
    }
}

pub struct Lab {
    pub ca: TestCa,
    pub ip: IpAddr,
    pub zone: web::Data<Zone>,
    pub http01: Arc<Mutex<HashMap<String, String>>>,
    pub http01_hits: Arc<AtomicU64>,
    pub alpn: Certs,
    /// The zone also answers plain DNS here (for `dns_udp`).
    pub udp: SocketAddr,
    handles: Vec<ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
    _doh_ca: tempfile::NamedTempFile,
}

impl Lab {
    pub fn start(tweak: impl FnOnce(&mut Config)) -> Lab {
        let (ip, http_listener, tls_listener) = lab_address();
        let doh_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp_addr = udp.local_addr().unwrap();
        udp.set_nonblocking(true).unwrap();
        let doh_port = doh_listener.local_addr().unwrap().port();
        let (doh_cert, doh_key) =
            self_signed(&["localhost"], Some("127.0.0.1".parse().unwrap()), None);
        let mut doh_ca = tempfile::NamedTempFile::new().unwrap();
        doh_ca.write_all(&doh_cert.to_pem().unwrap()).unwrap();
        let zone = web::Data::new(Zone {
            default_a: Mutex::new(Some(IpAddr::V4(ip))),
            a: Mutex::new(HashMap::new()),
            txt: Mutex::new(HashMap::new()),
            queries: AtomicU64::new(0),
        });
        let http01: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let hits = Arc::new(AtomicU64::new(0));
        let certs: Certs = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (z, h, c, k) = (zone.clone(), http01.clone(), certs.clone(), hits.clone());
        let udp_zone = zone.clone();
        tls_listener.set_nonblocking(true).unwrap();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let mut tls = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
                tls.set_certificate(&doh_cert).unwrap();
                tls.set_private_key(&doh_key).unwrap();
                let doh = HttpServer::new(move || {
                    App::new()
                        .app_data(z.clone())
                        .route("/dns-query", web::post().to(doh))
                })
                .workers(1)
                .disable_signals()
                .listen_openssl(doh_listener, tls)
                .unwrap()
                .run();
                let responder = HttpServer::new(move || {
                    let (h, k) = (h.clone(), k.clone());
                    App::new().route(
                        "/.well-known/acme-challenge/{token}",
                        web::get().to(move |token: web::Path<String>| {
                            let (h, k) = (h.clone(), k.clone());
                            async move {
                                k.fetch_add(1, Ordering::Relaxed);
                                match h.lock().unwrap().get(token.as_str()) {
                                    Some(ka) => HttpResponse::Ok().body(ka.clone()),
                                    None => HttpResponse::NotFound().finish(),
                                }
                            }
                        }),
                    )
                })
                .workers(1)
                .disable_signals()
                .listen(http_listener)
                .unwrap()
                .run();
                let udp = tokio::net::UdpSocket::from_std(udp).unwrap();
                actix_rt::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
                        if let Some(reply) = responders::answer(&udp_zone, &buf[..n]) {
                            let _ = udp.send_to(&reply, peer).await;
                        }
                    }
                });
                let acceptor = alpn_acceptor(c);
                let listener = tokio::net::TcpListener::from_std(tls_listener).unwrap();
                actix_rt::spawn(async move {
                    while let Ok((tcp, _)) = listener.accept().await {
                        let ssl = openssl::ssl::Ssl::new(acceptor.context()).unwrap();
                        actix_rt::spawn(async move {
                            if let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, tcp) {
                                let _ = Pin::new(&mut stream).accept().await;
                            }
                        });
                    }
                });
                tx.send((doh.handle(), responder.handle())).unwrap();
                let _ = futures_util::future::join(doh, responder).await;
            });
        });
        let (doh_handle, responder_handle) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            doh_url: Some(format!("https://127.0.0.1:{doh_port}/dns-query")),
            doh_ca: Some(doh_ca.path().to_path_buf()),
            // Used only when a test clears `doh_url`.
            dns_udp: Some(udp_addr),
            treat_as_public: vec!["127.64.0.0/16".parse().unwrap()],
            ..Config::default()
        };
        tweak(&mut config);
        Lab {
            ca: TestCa::start(config).unwrap(),
            ip: IpAddr::V4(ip),
            zone,
            http01,
            http01_hits: hits,
            alpn: certs,
            udp: udp_addr,
            handles: vec![doh_handle, responder_handle],
            thread: Some(thread),
            _doh_ca: doh_ca,
        }
    }

    /// A unique name under its own registered domain.
    pub fn name(&self, label: &str) -> String {
        format!("{label}.t{:x}.com", rand::random::<u32>())
    }

    pub async fn client(&self) -> Client {
        let mut c = Client::new(&self.ca.directory_url()).await;
        c.register().await;
        c
    }

    /// Puts the response for a challenge where the CA will look.
    pub fn provision(&self, client: &Client, kind: &str, name: &str, token: &str) {
        let ka = client.key_authorization(token);
        match kind {
            "http-01" => {
                self.http01.lock().unwrap().insert(token.to_string(), ka);
            }
            "tls-alpn-01" => {
                self.alpn
                    .lock()
                    .unwrap()
                    .insert(name.to_string(), alpn_cert(name, &ka, true));
            }
            _ => {
                let digest = b64(hash(MessageDigest::sha256(), ka.as_bytes()).unwrap());
                self.zone
                    .txt
                    .lock()
                    .unwrap()
                    .insert(format!("_acme-challenge.{name}"), vec![digest]);
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for h in self.handles.drain(..) {
            drop(h.stop(false));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Polls `probe` every 50 ms until it yields, at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {secs} s"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The authorization's challenge of type `kind`.
pub fn challenge_of(authz: &Value, kind: &str) -> Value {
    authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} challenge in {authz}"))
        .clone()
}

/// Answers `chall` and waits for the authorization at `authz_url` to leave `pending`.
pub async fn answer(client: &Client, chall: &Value, authz_url: &str) -> Value {
    let res = client
        .post(chall["url"].as_str().unwrap(), Some(&json!({})))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.json());
    eventually(20, || async {
        let a = client.post(authz_url, None).await.json();
        (a["status"] != "pending").then_some(a)
    })
    .await
}

/// Answers the authorization's `kind` challenge and waits for its final status.
pub async fn authorize(lab: &Lab, client: &Client, authz_url: &str, kind: &str) -> Value {
    let authz = client.post(authz_url, None).await.json();
    if authz["status"] == "valid" {
        return authz;
    }
    let chall = challenge_of(&authz, kind);
    let name = authz["identifier"]["value"].as_str().unwrap();
    lab.provision(client, kind, name, chall["token"].as_str().unwrap());
    answer(client, &chall, authz_url).await
}

pub struct Issued {
    pub order_url: String,
    pub order: Value,
    pub chain: String,
    pub cert: X509,
    pub serial: String,
    pub key: PKey<Private>,
}

/// The whole flow: order, challenges, finalize, download.
pub async fn issue(lab: &Lab, client: &Client, names: &[&str], kind: &str, extra: Value) -> Issued {
    let res = client.new_order(names, extra).await;
    assert_eq!(res.status, 201, "{:?}", res.json());
    let order_url = res.header("Location").unwrap();
    let order = res.json();
    for authz in order["authorizations"].as_array().unwrap() {
        let done = authorize(lab, client, authz.as_str().unwrap(), kind).await;
        assert_eq!(done["status"], "valid", "{done}");
    }
    let key = p256();
    let payload = json!({"csr": b64(csr(&key, names))});
    let res = client
        .post(order["finalize"].as_str().unwrap(), Some(&payload))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.json());
    let order = res.json();
    assert_eq!(order["status"], "valid", "{order}");
    let res: Resp = client
        .post(order["certificate"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        res.header("Content-Type").as_deref(),
        Some("application/pem-certificate-chain")
    );
    let chain = String::from_utf8(res.body.clone()).unwrap();
    let cert = X509::stack_from_pem(chain.as_bytes()).unwrap().remove(0);
    let serial = cert
        .serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_lowercase();
    Issued {
        order_url,
        order,
        chain,
        cert,
        serial: format!("{serial:0>36}"),
        key,
    }
}

/// The ARI certID of a certificate.
pub fn cert_id(cert: &X509) -> String {
    let aki = cert.authority_key_id().unwrap().as_slice().to_vec();
    let serial = cert.serial_number().to_bn().unwrap().to_vec();
    format!("{}.{}", b64(aki), b64(serial))
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    actix_rt::System::new().block_on(f)
}
