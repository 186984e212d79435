//! The control API, an actix-web app on loopback by default: `GET /status` (the Ramp's state
//! and the chain counts) and `POST /reload` (what SIGHUP does, answering the outcome). When a
//! token is configured every request must carry it as `Authorization: Bearer <token>`.

use std::net::SocketAddr;

use actix::Addr;
use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;

use crate::config::Control;
use crate::metrics::{GetCounts, Metrics};
use crate::ramp::{GetStatus, Ramp, Reload};

struct State {
    ramp: Addr<Ramp>,
    metrics: Addr<Metrics>,
    token: Option<String>,
}

/// Starts the API in the current System; returns its handle and the addresses it listens on
/// (port 0 in the config picks a free one).
pub fn start(
    settings: &Control,
    ramp: Addr<Ramp>,
    metrics: Addr<Metrics>,
) -> std::io::Result<(ServerHandle, Vec<SocketAddr>)> {
    let state = web::Data::new(State {
        ramp,
        metrics,
        token: settings.token.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/status", web::get().to(status))
            .route("/reload", web::post().to(reload))
            .default_service(web::to(|| async {
                error(
                    StatusCode::NOT_FOUND,
                    "endpoints: GET /status, POST /reload",
                )
            }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(&settings.listen)
    .map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("control API listener {}: {e}", settings.listen),
        )
    })?;
    let addrs = server.addrs();
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((handle, addrs))
}

fn error(status: StatusCode, reason: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": reason }))
}

/// Compares the bearer token in constant time.
fn authorized(req: &HttpRequest, state: &State) -> bool {
    let Some(token) = &state.token else {
        return true;
    };
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    given.len() == token.len() && openssl::memcmp::eq(given.as_bytes(), token.as_bytes())
}

async fn status(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    if !authorized(&req, &state) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    let (ramp, counts) = tokio::join!(state.ramp.send(GetStatus), state.metrics.send(GetCounts));
    match (ramp, counts) {
        (Ok(ramp), Ok((chains_ok, chains_failed))) => {
            let mut body = serde_json::to_value(ramp).expect("status serialises");
            body["chains_ok"] = chains_ok.into();
            body["chains_failed"] = chains_failed.into();
            HttpResponse::Ok().json(body)
        }
        _ => error(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping"),
    }
}

async fn reload(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    if !authorized(&req, &state) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    match state
        .ramp
        .send(Reload {
            cause: "POST /reload",
        })
        .await
    {
        Ok(Ok(detail)) => {
            HttpResponse::Ok().json(json!({ "result": "accepted", "detail": detail }))
        }
        Ok(Err(reason)) => HttpResponse::UnprocessableEntity()
            .json(json!({ "result": "rejected", "reason": reason })),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping"),
    }
}
