//! A purpose-built stand-in for Boulder's WFE, for the DB-driven chains: Boulder itself cannot
//! run on these machines. It answers from the same fixture database the tool reads, the way
//! Boulder's WFE does for the routes those chains use (plain GET of certificates,
//! authorizations and orders, renewal info, and revocation by another account's key):
//! status codes and content types as in shared/notes/boulder.md. JWS signatures are not
//! verified; it is a test fixture, not a CA.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::Engine;
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Integer, Nullable, Text, Unsigned};
use serde_json::{json, Value};

const NS: &str = "urn:ietf:params:acme:error:";

pub struct BoulderWfe {
    pub port: u16,
    /// Revocations the WFE accepted (a foreign revocation must never be one).
    pub revoked: Arc<AtomicU64>,
    stop: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Faults a test can plant, to show the chains notice them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Revoke another account's certificate (a security bug).
    pub accept_foreign_revocation: bool,
    /// Serve another certificate than the one stored under the serial.
    pub wrong_certificate: bool,
}

struct State {
    faults: Faults,
    db: Mutex<MysqlConnection>,
    base: String,
    accounts: AtomicU64,
    revoked: Arc<AtomicU64>,
}

fn problem(status: u16, kind: &str, detail: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/problem+json")
        .insert_header(("Replay-Nonce", nonce()))
        .json(json!({ "type": format!("{NS}{kind}"), "detail": detail, "status": status }))
}

fn nonce() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

#[derive(QueryableByName)]
struct Der {
    #[diesel(sql_type = Binary)]
    der: Vec<u8>,
    #[diesel(sql_type = BigInt)]
    reg: i64,
}

#[derive(QueryableByName)]
struct Authz {
    #[diesel(sql_type = Text)]
    value: String,
    #[diesel(sql_type = Integer)]
    status: i32,
    #[diesel(sql_type = Integer)]
    expired: i32,
}

#[derive(QueryableByName)]
struct Order {
    #[diesel(sql_type = Nullable<Binary>)]
    authzs: Option<Vec<u8>>,
}

#[derive(QueryableByName)]
struct AuthzId {
    #[diesel(sql_type = Unsigned<BigInt>)]
    id: u64,
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

fn certificate(state: &State, serial: &str) -> Option<Der> {
    diesel::sql_query("SELECT der, registrationID AS reg FROM certificates WHERE serial = ?")
        .bind::<Text, _>(serial)
        .get_result(&mut *state.db.lock().unwrap())
        .optional()
        .unwrap()
}

async fn directory(state: web::Data<State>) -> HttpResponse {
    let b = &state.base;
    HttpResponse::Ok().json(json!({
        "newNonce": format!("{b}/acme/new-nonce"),
        "newAccount": format!("{b}/acme/new-acct"),
        "newOrder": format!("{b}/acme/new-order"),
        "revokeCert": format!("{b}/acme/revoke-cert"),
        "keyChange": format!("{b}/acme/key-change"),
        "renewalInfo": format!("{b}/acme/renewal-info"),
        "meta": { "termsOfService": format!("{b}/terms") }
    }))
}

async fn new_nonce() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Replay-Nonce", nonce()))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

async fn new_account(state: web::Data<State>) -> HttpResponse {
    let id = state.accounts.fetch_add(1, Ordering::SeqCst) + 1_000_000;
    HttpResponse::Created()
        .insert_header(("Location", format!("{}/acme/acct/{id}", state.base)))
        .insert_header(("Replay-Nonce", nonce()))
        .json(json!({ "status": "valid", "contact": [] }))
}

async fn get_cert(state: web::Data<State>, serial: web::Path<String>) -> HttpResponse {
    let found = if state.faults.wrong_certificate {
        certificate(&state, &format!("{:036x}", 1))
    } else {
        certificate(&state, &serial)
    };
    match found {
        Some(row) => HttpResponse::Ok()
            .content_type("application/pem-certificate-chain")
            .body(pem(&row.der)),
        None => problem(404, "malformed", "Certificate not found"),
    }
}

async fn get_authz(state: web::Data<State>, path: web::Path<(i64, u64)>) -> HttpResponse {
    let (reg, id) = path.into_inner();
    let row: Option<Authz> = diesel::sql_query(
        "SELECT identifierValue AS value, status, expires <= UTC_TIMESTAMP() AS expired \
         FROM authz2 WHERE id = ? AND registrationID = ?",
    )
    .bind::<Unsigned<BigInt>, _>(id)
    .bind::<BigInt, _>(reg)
    .get_result(&mut *state.db.lock().unwrap())
    .optional()
    .unwrap();
    // Boulder answers an expired authorization as if it did not exist.
    let Some(row) = row.filter(|row| row.expired == 0) else {
        return problem(404, "malformed", "No such authorization");
    };
    let status = ["pending", "valid", "invalid", "deactivated", "revoked"][row.status as usize];
    // Boulder stores a wildcard's `*.` and serves the base name with `wildcard` (RFC 8555 §7.1.4).
    let (value, wildcard) = match row.value.strip_prefix("*.") {
        Some(base) => (base.to_owned(), true),
        None => (row.value, false),
    };
    HttpResponse::Ok().json(json!({
        "identifier": { "type": "dns", "value": value },
        "status": status,
        "wildcard": wildcard,
        "challenges": []
    }))
}

async fn get_order(state: web::Data<State>, path: web::Path<(i64, u64)>) -> HttpResponse {
    let (reg, id) = path.into_inner();
    let mut db = state.db.lock().unwrap();
    let order: Option<Order> =
        diesel::sql_query("SELECT authzs FROM orders WHERE id = ? AND registrationID = ?")
            .bind::<Unsigned<BigInt>, _>(id)
            .bind::<BigInt, _>(reg)
            .get_result(&mut *db)
            .optional()
            .unwrap_or_else(|_| {
                // The legacy schema has no authzs column.
                diesel::sql_query(
                    "SELECT NULL AS authzs FROM orders WHERE id = ? AND registrationID = ?",
                )
                .bind::<Unsigned<BigInt>, _>(id)
                .bind::<BigInt, _>(reg)
                .get_result(&mut *db)
                .optional()
                .unwrap()
            });
    let Some(order) = order else {
        return problem(404, "malformed", "No order for ID");
    };
    let ids: Vec<u64> = match order.authzs {
        Some(blob) => wile_e_coyote::db::queries::decode_authz_ids(&blob),
        None => diesel::sql_query("SELECT authzID AS id FROM orderToAuthz2 WHERE orderID = ?")
            .bind::<BigInt, _>(id as i64)
            .load::<AuthzId>(&mut *db)
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.id)
            .collect(),
    };
    let b = &state.base;
    HttpResponse::Ok().json(json!({
        "status": "pending",
        "identifiers": [],
        "authorizations": ids.iter().map(|a| format!("{b}/acme/authz/{reg}/{a}")).collect::<Vec<_>>(),
        "finalize": format!("{b}/acme/finalize/{reg}/{id}")
    }))
}

async fn renewal_info(state: web::Data<State>, cert_id: web::Path<String>) -> HttpResponse {
    let Some((_, serial)) = cert_id.split_once('.') else {
        return problem(400, "malformed", "certID is not aki.serial");
    };
    let Ok(serial) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(serial) else {
        return problem(400, "malformed", "serial is not base64url");
    };
    let hex: String = serial.iter().map(|b| format!("{b:02x}")).collect();
    match certificate(&state, &format!("{hex:0>36}")) {
        Some(_) => HttpResponse::Ok().insert_header(("Retry-After", "21600")).json(json!({
            "suggestedWindow": { "start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z" }
        })),
        None => problem(404, "malformed", "Certificate not found"),
    }
}

/// Revocation by the account key (`kid`): allowed only for the account's own certificates.
async fn revoke(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    let decode = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    };
    let Some(jws) = serde_json::from_slice::<Value>(&body).ok() else {
        return problem(400, "malformed", "not a JWS");
    };
    let (Some(protected), Some(payload)) = (
        jws["protected"].as_str().and_then(decode),
        jws["payload"].as_str().and_then(decode),
    ) else {
        return problem(400, "malformed", "not a JWS");
    };
    let Some(der) = payload["certificate"].as_str().and_then(|c| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c)
            .ok()
    }) else {
        return problem(400, "malformed", "no certificate");
    };
    let Ok(cert) = openssl::x509::X509::from_der(&der) else {
        return problem(400, "malformed", "unparseable certificate");
    };
    let serial = cert
        .serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_lowercase();
    let Some(stored) = certificate(&state, &format!("{serial:0>36}")) else {
        return problem(404, "malformed", "Certificate not found");
    };
    let account: Option<i64> = protected["kid"]
        .as_str()
        .and_then(|kid| kid.rsplit('/').next())
        .and_then(|id| id.parse().ok());
    if account != Some(stored.reg) && !state.faults.accept_foreign_revocation {
        return problem(
            403,
            "unauthorized",
            "The key ID specified in the JWS does not own this certificate",
        );
    }
    state.revoked.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok()
        .insert_header(("Replay-Nonce", nonce()))
        .finish()
}

impl BoulderWfe {
    /// Serves the fixture database `admin_url` on a free loopback port, in its own thread.
    pub fn start(admin_url: &str) -> BoulderWfe {
        BoulderWfe::start_with(admin_url, Faults::default())
    }

    pub fn start_with(admin_url: &str, faults: Faults) -> BoulderWfe {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let revoked = Arc::new(AtomicU64::new(0));
        let state = web::Data::new(State {
            faults,
            db: Mutex::new(MysqlConnection::establish(admin_url).unwrap()),
            base: format!("http://127.0.0.1:{port}"),
            accounts: AtomicU64::new(0),
            revoked: revoked.clone(),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .route("/directory", web::get().to(directory))
                        .route("/acme/new-nonce", web::get().to(new_nonce))
                        .route("/acme/new-nonce", web::head().to(new_nonce))
                        .route("/acme/new-acct", web::post().to(new_account))
                        .route("/acme/cert/{serial}", web::get().to(get_cert))
                        .route("/acme/authz/{reg}/{id}", web::get().to(get_authz))
                        .route("/acme/order/{reg}/{id}", web::get().to(get_order))
                        .route("/acme/renewal-info/{id}", web::get().to(renewal_info))
                        .route("/acme/revoke-cert", web::post().to(revoke))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run();
                tx.send(server.handle()).unwrap();
                let _ = server.await;
            });
        });
        BoulderWfe {
            port,
            revoked,
            stop: Some(rx.recv().unwrap()),
            thread: Some(thread),
        }
    }

    pub fn directory_url(&self) -> String {
        format!("http://127.0.0.1:{}/directory", self.port)
    }
}

impl Drop for BoulderWfe {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The stop command is sent at once; the thread ends when the server has stopped.
            drop(stop.stop(false));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
