//! DNS over HTTPS (RFC 8484) in front of the embedded DNS: Boulder's VA resolves only this way
//! (its `bdns` posts `application/dns-message` to `/dns-query` over HTTP/2 with a verified TLS
//! certificate). Each message gets exactly the answer the UDP/TCP listeners give it, from the
//! same `Handler`; only the transport differs.

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::http::header::{self, ContentType};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod};

use super::dns::Handler;
use super::Limits;

/// The media type of a DNS message in wire format (RFC 8484 §6).
const DNS_MESSAGE: &str = "application/dns-message";

/// The largest DNS message (RFC 8484 §6: messages are limited to 65,535 bytes).
const MAX_MESSAGE: usize = 65_535;

/// A request line carrying more than this in `?dns=` cannot hold a DNS message.
const MAX_GET_PARAM: usize = MAX_MESSAGE.div_ceil(3) * 4;

/// The certificate chain and key the listener presents (PEM files, e.g. made by Boulder's
/// minica so the VA's configured CA verifies them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DohTls {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl DohTls {
    /// An acceptor presenting this certificate, offering HTTP/2 and HTTP/1.1 (actix adds the
    /// ALPN protocols). Errors name the files, never their contents.
    pub fn acceptor(&self) -> std::io::Result<SslAcceptorBuilder> {
        let named = |what: &str, path: &PathBuf| {
            let what = format!("DNS over HTTPS {what} {}", path.display());
            move |e: openssl::error::ErrorStack| std::io::Error::other(format!("{what}: {e}"))
        };
        let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
            .map_err(std::io::Error::other)?;
        builder
            .set_certificate_chain_file(&self.certificate)
            .map_err(named("certificate", &self.certificate))?;
        let key = "key (does it belong to the certificate?)";
        builder
            .set_private_key_file(&self.key, SslFiletype::PEM)
            .map_err(named(key, &self.key))?;
        builder.check_private_key().map_err(named(key, &self.key))?;
        Ok(builder)
    }
}

/// Starts the DoH listener on bound `listeners` (each with its acceptor) in the current
/// System: at most `limits.max_connections` connections, TLS handshakes included, each given
/// `limits.client_timeout` to finish its handshake and to send a request.
pub(super) fn serve(
    handler: Arc<Handler>,
    listeners: Vec<(std::net::TcpListener, SslAcceptorBuilder)>,
    limits: Limits,
) -> std::io::Result<ServerHandle> {
    let handler = web::Data::from(handler);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(handler.clone())
            .app_data(web::PayloadConfig::new(MAX_MESSAGE))
            .service(
                web::resource("/dns-query")
                    .route(web::post().to(post))
                    .route(web::get().to(get))
                    .default_service(web::to(HttpResponse::MethodNotAllowed)),
            )
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .max_connections(limits.max_connections)
    .max_connection_rate(limits.max_connections)
    .client_request_timeout(limits.client_timeout)
    .tls_handshake_timeout(limits.client_timeout)
    .client_disconnect_timeout(limits.client_timeout)
    .keep_alive(limits.client_timeout);
    for (listener, acceptor) in listeners {
        server = server.listen_openssl(listener, acceptor)?;
    }
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(handle)
}

/// RFC 8484 §4.1: POST with the message as the body.
async fn post(handler: web::Data<Handler>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if content_type != Some(DNS_MESSAGE) {
        return HttpResponse::UnsupportedMediaType().body(format!("expected {DNS_MESSAGE}"));
    }
    answer(&handler, &body).await
}

/// RFC 8484 §4.1: GET with the message base64url-encoded in the `dns` parameter.
async fn get(handler: web::Data<Handler>, request: HttpRequest) -> HttpResponse {
    let param = request
        .query_string()
        .split('&')
        .find_map(|pair| pair.strip_prefix("dns="));
    let Some(param) = param else {
        return HttpResponse::BadRequest().body("no dns parameter");
    };
    if param.len() > MAX_GET_PARAM {
        return HttpResponse::UriTooLong().finish();
    }
    // RFC 8484 §4.1 forbids padding; a client that sends it anyway is still understood.
    let decoded =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(param.trim_end_matches('='));
    match decoded {
        Ok(message) => answer(&handler, &message).await,
        Err(_) => HttpResponse::BadRequest().body("the dns parameter is not base64url"),
    }
}

async fn answer(handler: &Handler, message: &[u8]) -> HttpResponse {
    match handler.answer_wire(message).await {
        // Every record has TTL 0, so the answer must not be cached (RFC 8484 §5.1).
        Some(answer) => HttpResponse::Ok()
            .insert_header(ContentType(DNS_MESSAGE.parse().expect("a media type")))
            .insert_header((header::CACHE_CONTROL, "max-age=0"))
            .body(answer),
        None => HttpResponse::BadRequest().body("not a DNS message"),
    }
}
