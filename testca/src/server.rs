//! The HTTP side: Boulder's routes, the headers Boulder puts on every response (a fresh
//! `Replay-Nonce` on every non-GET and on newNonce, `Link: <directory>;rel="index"`,
//! `Cache-Control`), and [`TestCa`], which runs the CA on its own thread and actix System and
//! returns once it listens.

use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::{ServerHandle, Service};
use actix_web::http::header::{HeaderName, HeaderValue, CACHE_CONTROL, LINK};
use actix_web::http::Method;
use actix_web::{web, App, FromRequest, Handler, HttpResponse, HttpServer, Resource, Responder};
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod};

use crate::ca::Ca;
use crate::config::Config;
use crate::error::Error;
use crate::issue::Issuer;
use crate::limits::Limiter;
use crate::manage::CertStatus;
use crate::mirror::{Floors, Mirror, MirrorError};
use crate::nonce::Nonces;
use crate::policy::Policy;
use crate::problem::Problem;
use crate::stats::{bump, Stats, StatsSnapshot};
use crate::store::Store;
use crate::validate::{Parts, Validator};
use crate::{
    account, ari, authz, cert, challenge, directory, finalize, keychange, manage, order, revoke,
};

fn not_allowed() -> HttpResponse {
    actix_web::ResponseError::error_response(
        &Problem::malformed("Method not allowed").with_status(405),
    )
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("application/problem+json")
        .body("404 page not found\n")
}

/// A resource answering other methods with Boulder's 405.
fn get_post(path: &str) -> Resource {
    web::resource(path.to_string()).default_service(web::to(|| async { not_allowed() }))
}

/// A resource served to GET, HEAD and POST(-as-GET) alike.
fn readable<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    get_post(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler.clone()))
        .route(web::post().to(handler))
}

/// Boulder's routes: POST-only, and GET/HEAD/POST ones. Each route with a path parameter sits
/// in a scope of its static prefix: actix tries routes in order and matches a parameterised
/// one with a regex, so a request now runs one regex instead of up to seven.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        get_post("/directory")
            .route(web::get().to(directory::directory))
            .route(web::head().to(directory::directory))
            .route(web::post().to(directory::directory_post)),
    )
    .service(
        get_post("/acme/new-nonce")
            .route(web::get().to(directory::new_nonce))
            .route(web::head().to(directory::new_nonce))
            .route(web::post().to(directory::new_nonce_post)),
    )
    .service(get_post("/acme/new-acct").route(web::post().to(account::new_account)))
    .service(get_post("/acme/key-change").route(web::post().to(keychange::key_change)))
    .service(get_post("/acme/new-order").route(web::post().to(order::new_order)))
    .service(get_post("/acme/revoke-cert").route(web::post().to(revoke::revoke)))
    .service(web::scope("/acme/authz").service(readable("/{reg}/{id}", authz::authorization)))
    .service(
        web::scope("/acme/chall").service(readable("/{reg}/{authz}/{chall}", challenge::challenge)),
    )
    .service(
        web::scope("/acme/finalize")
            .service(get_post("/{reg}/{id}").route(web::post().to(finalize::finalize))),
    )
    .service(web::scope("/acme/order").service(readable("/{reg}/{id}", order::get_order)))
    .service(web::scope("/acme/cert").service(readable("/{serial}", cert::certificate)))
    .service(
        web::scope("/acme/acct").service(get_post("/{id}").route(web::post().to(account::account))),
    )
    .service(
        web::scope("/acme/renewal-info").service(
            get_post("/{id}")
                .route(web::get().to(ari::renewal_info))
                .route(web::head().to(ari::renewal_info)),
        ),
    )
    .route("/testca/roots/0", web::get().to(manage::root))
    .route(
        "/testca/intermediates/0",
        web::get().to(manage::intermediate),
    )
    .route(
        "/testca/cert-status/{serial}",
        web::get().to(manage::status),
    )
    .route("/testca/stats", web::get().to(manage::stats))
    .default_service(web::to(not_found));
}

fn tls_acceptor(cfg: &Config) -> Result<Option<SslAcceptorBuilder>, Error> {
    match (&cfg.tls_cert, &cfg.tls_key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
            b.set_certificate_chain_file(cert)?;
            b.set_private_key_file(key, SslFiletype::PEM)?;
            Ok(Some(b))
        }
        _ => Err(Error::Config("tls_cert and tls_key must be given together")),
    }
}

/// A running CA. Dropping it stops the server and joins its thread.
pub struct TestCa {
    addr: SocketAddr,
    ca: web::Data<Ca>,
    handle: Option<ServerHandle>,
    thread: Option<JoinHandle<()>>,
}

impl TestCa {
    /// Binds, makes or loads the CA's certificates, connects the DB mirror if configured, and
    /// serves on a new thread; returns once the listener accepts connections.
    pub fn start(config: Config) -> Result<TestCa, Error> {
        let listener = TcpListener::bind(config.listen).map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let scheme = if config.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        tls_acceptor(&config)?;
        let base = config
            .base_url
            .clone()
            .map(|b| b.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("{scheme}://{addr}"));
        let issuer = match &config.issuer {
            Some(files) => Issuer::load(files)?,
            None => Issuer::generate()?,
        };
        let (mirror, floors) = match &config.db_url {
            Some(url) => {
                let (m, f) = Mirror::start(url)?;
                (Some(m), f)
            }
            None => (None, Floors::default()),
        };
        let parts = Parts::new(&config)?;
        let ca = web::Data::new(Ca {
            terms: config
                .terms_of_service
                .clone()
                .unwrap_or_else(|| format!("{base}/terms/v7")),
            base,
            nonces: Nonces::new(config.nonce_capacity)?,
            store: Store::with_id_floors(floors.accounts, floors.authzs, floors.orders),
            cache: crate::cache::AccountCache::new(
                config.account_cache_ttl,
                config.account_cache_size,
            ),
            limits: Limiter::new(config.rate_limits.clone()),
            issuer,
            policy: Policy::new(&config.blocked_names),
            stats: Stats::default(),
            mirror,
            cfg: config,
        });
        let (tx, rx) = mpsc::channel();
        let served = ca.clone();
        let thread = std::thread::Builder::new()
            .name("testca".into())
            .spawn(move || serve(served, parts, listener, tx))
            .map_err(Error::Thread)?;
        let handle = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => return Err(Error::NotStarted),
        };
        Ok(TestCa {
            addr,
            ca,
            handle: Some(handle),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Scheme, host and port of every URL the CA hands out.
    pub fn base_url(&self) -> &str {
        &self.ca.base
    }

    pub fn directory_url(&self) -> String {
        self.ca.url("/directory")
    }

    pub fn root_pem(&self) -> String {
        self.ca.issuer.root_pem()
    }

    pub fn intermediate_pem(&self) -> String {
        self.ca.issuer.intermediate_pem()
    }

    /// The issuing intermediate's key identifier (the AKI of every certificate, the first part
    /// of ARI certIDs).
    pub fn issuer_key_id(&self) -> Vec<u8> {
        self.ca.issuer.ski.clone()
    }

    /// The status the CA records for a serial (36 lower-case hex digits).
    pub fn cert_status(&self, serial_hex: &str) -> Option<CertStatus> {
        manage::cert_status(&self.ca, serial_hex)
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.ca.stats.snapshot()
    }

    /// Waits until the DB mirror has written everything so far (no-op without a mirror).
    pub fn db_flush(&self, timeout: Duration) -> Result<(), MirrorError> {
        match &self.ca.mirror {
            Some(m) => m.flush(timeout),
            None => Ok(()),
        }
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            // The stop command is sent at once; the thread ends when the server has stopped.
            drop(handle.stop(false));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    ca: web::Data<Ca>,
    parts: Parts,
    listener: TcpListener,
    ready: mpsc::Sender<Result<ServerHandle, Error>>,
) {
    let system = actix_rt::System::new();
    system.block_on(async move {
        let tls = match tls_acceptor(&ca.cfg) {
            Ok(tls) => tls,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let workers = ca.cfg.workers.max(1);
        let connected_ca = ca.clone();
        let factory_ca = ca.clone();
        let server = HttpServer::new(move || {
            let validator = Rc::new(Validator::new(&parts, &factory_ca.cfg));
            let headers_ca = factory_ca.clone();
            App::new()
                .app_data(factory_ca.clone())
                .app_data(validator)
                .wrap_fn(move |req, srv| {
                    let nonce = (req.method() != Method::GET || req.path() == "/acme/new-nonce")
                        .then(|| headers_ca.nonces.issue());
                    let index = (req.path() != "/directory")
                        .then(|| format!("<{}>;rel=\"index\"", headers_ca.url("/directory")));
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        let headers = res.headers_mut();
                        if let Some(n) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
                            headers.insert(HeaderName::from_static("replay-nonce"), n);
                        }
                        if let Some(l) = index.and_then(|l| HeaderValue::from_str(&l).ok()) {
                            headers.append(LINK, l);
                        }
                        if !headers.contains_key(CACHE_CONTROL) {
                            headers.insert(
                                CACHE_CONTROL,
                                HeaderValue::from_static("public, max-age=0, no-cache"),
                            );
                        }
                        Ok(res)
                    }
                })
                .configure(routes)
        })
        .on_connect(move |_, _| bump(&connected_ca.stats.connections))
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(1);
        let bound = match tls {
            Some(b) => server.listen_openssl(listener, b).map_err(Error::Tls),
            None => server.listen(listener).map_err(Error::Thread),
        };
        match bound {
            Ok(server) => {
                let server = server.run();
                let _ = ready.send(Ok(server.handle()));
                let _ = server.await;
            }
            Err(e) => {
                let _ = ready.send(Err(e));
            }
        }
    });
}
