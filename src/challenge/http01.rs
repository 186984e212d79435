//! The http-01 responder (RFC 8555 §8.3): `GET /.well-known/acme-challenge/{token}` answers
//! exactly the key authorization as `text/plain`; anything else is 404.

use std::net::SocketAddr;

use actix::Addr;
use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};

use super::{Lookup, Registry};

/// Starts the responder on `addrs` in the current System and returns its handle.
pub fn start(registry: Addr<Registry>, addrs: &[SocketAddr]) -> std::io::Result<ServerHandle> {
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(registry.clone()))
            .route(
                "/.well-known/acme-challenge/{token}",
                web::get().to(serve_token),
            )
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1);
    for addr in addrs {
        server = server
            .bind(addr)
            .map_err(|e| std::io::Error::new(e.kind(), format!("http-01 listener {addr}: {e}")))?;
    }
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(handle)
}

async fn serve_token(
    registry: web::Data<Addr<Registry>>,
    token: web::Path<String>,
) -> HttpResponse {
    match registry
        .send(Lookup {
            token: token.into_inner(),
        })
        .await
    {
        Ok(Some(key_authorization)) => HttpResponse::Ok()
            .content_type("text/plain")
            .body(key_authorization),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(e) => {
            log::error!("challenge registry unavailable: {e}");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}
