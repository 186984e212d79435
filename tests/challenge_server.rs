//! The http-01 responder answers exactly the published key authorization, and 404 for
//! anything else.

use std::net::TcpListener;
use std::time::Duration;

use actix::Actor;
use wile_e_coyote::challenge::{http01, Limits, Publish, Registry, Response, Withdraw};

const LIMITS: Limits = Limits {
    max_connections: 64,
    client_timeout: Duration::from_secs(10),
};

fn free_addr() -> std::net::SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[actix_rt::test]
async fn serves_published_tokens_and_404_otherwise() {
    let addr = free_addr();
    let registry = Registry::new(Duration::from_secs(60), 100).start();
    let server = http01::start(registry.clone(), &[addr], LIMITS).unwrap();
    let client = awc::Client::default();
    let url = |path: &str| format!("http://{addr}{path}");

    let mut unknown = client
        .get(url("/.well-known/acme-challenge/unknown-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.body().await.unwrap().is_empty());

    let ticket = registry
        .send(Publish::new(Response::Http01 {
            token: "tok-123".into(),
            key_authorization: "tok-123.thumbprint".into(),
        }))
        .await
        .unwrap()
        .unwrap();
    let mut known = client
        .get(url("/.well-known/acme-challenge/tok-123"))
        .send()
        .await
        .unwrap();
    assert_eq!(known.status(), 200);
    assert_eq!(known.headers().get("content-type").unwrap(), "text/plain");
    assert_eq!(known.body().await.unwrap(), "tok-123.thumbprint");

    for path in [
        "/",
        "/.well-known/acme-challenge/",
        "/tok-123",
        "/.well-known/acme-challenge/tok-123/x",
    ] {
        let resp = client.get(url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    let post = client
        .post(url("/.well-known/acme-challenge/tok-123"))
        .send()
        .await
        .unwrap();
    assert_ne!(post.status(), 200, "only GET answers");

    registry.send(Withdraw(ticket)).await.unwrap();
    let gone = client
        .get(url("/.well-known/acme-challenge/tok-123"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    server.stop();
}

#[actix_rt::test]
async fn a_taken_port_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let registry = Registry::new(Duration::from_secs(60), 100).start();
    let err = http01::start(registry, &[addr], LIMITS)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&addr.to_string()), "{err}");
}
