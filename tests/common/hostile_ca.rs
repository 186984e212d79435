//! A deliberately hostile ACME server, for the failure tests: plain HTTP/1.1 on loopback, a
//! directory and nonces as any CA serves them, and then, on every other request, one kind of
//! misbehaviour a broken or malicious CA could show a load tester.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::tcp_server::{read_request, Request, TcpServer};

/// What the server answers to everything but the directory and newNonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostility {
    /// A 400 problem whose type is markup and 100 KB of random letters and whose detail carries
    /// newlines and terminal escapes.
    RandomProblems,
    /// 200 with `Content-Length` 1 GB, the body sent as fast as the client reads.
    HugeBody,
    /// 200 with a chunked body that never ends.
    EndlessChunks,
    /// 302 to the same URL, forever.
    RedirectLoop,
}

pub struct HostileCa {
    /// Requests answered with the hostility.
    pub hostile: Arc<AtomicU64>,
    server: TcpServer,
}

impl HostileCa {
    pub fn start(hostility: Hostility) -> HostileCa {
        let hostile = Arc::new(AtomicU64::new(0));
        let counter = hostile.clone();
        let server =
            TcpServer::start(move |stream, port| serve(stream, port, hostility, counter.clone()));
        HostileCa { hostile, server }
    }

    pub fn directory_url(&self) -> String {
        format!("http://127.0.0.1:{}/directory", self.server.port)
    }
}

async fn serve(mut stream: TcpStream, port: u16, hostility: Hostility, hostile: Arc<AtomicU64>) {
    let base = format!("http://127.0.0.1:{port}");
    let mut buf = Vec::new();
    while let Some(Request { path, .. }) = read_request(&mut stream, &mut buf).await {
        let nonce = format!("Replay-Nonce: n{}\r\n", rand::random::<u64>());
        let ok = match path.as_str() {
            "/directory" => {
                let body = format!(
                    "{{\"newNonce\":\"{base}/nonce\",\"newAccount\":\"{base}/account\",\
                     \"newOrder\":\"{base}/order\",\"revokeCert\":\"{base}/revoke\",\
                     \"keyChange\":\"{base}/key\"}}"
                );
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                stream.write_all((head + &body).as_bytes()).await
            }
            "/nonce" => {
                let head = format!("HTTP/1.1 200 OK\r\n{nonce}Content-Length: 0\r\n\r\n");
                stream.write_all(head.as_bytes()).await
            }
            _ => {
                hostile.fetch_add(1, Ordering::SeqCst);
                match hostility {
                    Hostility::RandomProblems => {
                        let letters: String = (0..100_000)
                            .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
                            .collect();
                        let kind = format!("<script>alert(1)</script>{letters}");
                        let body = format!(
                            "{{\"type\":\"urn:ietf:params:acme:error:{kind}\",\
                             \"detail\":\"x\\n[2026-12-06T00:00:00Z ERROR forged]\\u001b[2J\\u001b[31m\",\
                             \"status\":400}}"
                        );
                        let head = format!(
                            "HTTP/1.1 400 Bad Request\r\n{nonce}Content-Type: application/problem+json\r\n\
                             Content-Length: {}\r\n\r\n",
                            body.len()
                        );
                        stream.write_all((head + &body).as_bytes()).await
                    }
                    Hostility::HugeBody => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\n{nonce}Content-Type: application/json\r\n\
                             Content-Length: 1000000000\r\n\r\n"
                        );
                        if stream.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let zeros = vec![b'0'; 64 * 1024];
                        while stream.write_all(&zeros).await.is_ok() {}
                        return;
                    }
                    Hostility::EndlessChunks => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\n{nonce}Content-Type: application/json\r\n\
                             Transfer-Encoding: chunked\r\n\r\n"
                        );
                        if stream.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let chunk = format!("4000\r\n{}\r\n", "0".repeat(0x4000));
                        while stream.write_all(chunk.as_bytes()).await.is_ok() {}
                        return;
                    }
                    Hostility::RedirectLoop => {
                        let head = format!(
                            "HTTP/1.1 302 Found\r\n{nonce}Location: {base}{path}\r\nContent-Length: 0\r\n\r\n"
                        );
                        stream.write_all(head.as_bytes()).await
                    }
                }
            }
        };
        if ok.is_err() {
            return;
        }
    }
}
