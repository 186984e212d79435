//! A deliberately small HTTP/1.1 server for the listeners that answer one short request per
//! connection: the http-01 responder and the control API. Each connection gets one request
//! (head at most 8 KiB, body at most 64 KiB, both within the client timeout), one answer with
//! `Connection: close`, and is closed: a client that connects and sends nothing, or never
//! reads the answer, or never closes, holds its slot for the timeout and no longer. (actix-web
//! keeps a connection that timed out before its request open until the client closes it, so a
//! few silent clients could take every slot for good.)

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest request head read.
const MAX_HEAD: usize = 8 * 1024;

/// Longest request body read (and discarded unless the handler wants it).
const MAX_BODY: usize = 64 * 1024;

/// One request, as the handler sees it.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The path, without a query.
    pub path: String,
    headers: Vec<(String, String)>,
    pub peer: SocketAddr,
}

impl Request {
    /// A header's value (the first, names compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            content_type: None,
            body: Vec::new(),
        }
    }

    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply {
            status,
            content_type: Some("application/json"),
            body: body.to_string().into_bytes(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.body.len()
        );
        if let Some(content_type) = self.content_type {
            out += &format!("Content-Type: {content_type}\r\n");
        }
        out += "\r\n";
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Why no request could be read; the answer it gets, if any.
fn refusal(status: u16) -> Option<Reply> {
    Some(Reply::empty(status))
}

/// Serves one connection: reads a request within `timeout`, answers it with `handle`'s reply
/// (written within `timeout` too), closes.
pub async fn serve<H, F>(mut stream: TcpStream, peer: SocketAddr, timeout: Duration, handle: H)
where
    H: FnOnce(Request) -> F,
    F: Future<Output = Reply>,
{
    let reply = match actix_rt::time::timeout(timeout, read_request(&mut stream, peer)).await {
        Ok(Ok(request)) => Some(handle(request).await),
        Ok(Err(refused)) => refused,
        Err(_) => refusal(408),
    };
    if let Some(reply) = reply {
        let write = async {
            stream.write_all(&reply.bytes()).await?;
            stream.shutdown().await
        };
        let _ = actix_rt::time::timeout(timeout, write).await;
    }
}

/// Reads the head (and any body, discarded) of one request.
async fn read_request(stream: &mut TcpStream, peer: SocketAddr) -> Result<Request, Option<Reply>> {
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buf.len() >= MAX_HEAD {
            return Err(refusal(431));
        }
        let mut chunk = [0; 1024];
        let n = stream.read(&mut chunk).await.map_err(|_| None)?;
        if n == 0 {
            return Err(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| refusal(400))?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) = (
        request_line.next(),
        request_line.next(),
        request_line.next(),
        request_line.next(),
    ) else {
        return Err(refusal(400));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() {
        return Err(refusal(400));
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| refusal(400))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let path = target.split('?').next().unwrap_or_default().to_owned();
    let request = Request {
        method: method.to_owned(),
        path,
        headers,
        peer,
    };
    if request.header("transfer-encoding").is_some() {
        return Err(refusal(501));
    }
    let length: usize = match request.header("content-length") {
        None => 0,
        Some(v) => v.parse().map_err(|_| refusal(400))?,
    };
    if length > MAX_BODY {
        return Err(refusal(413));
    }
    let mut have = buf.len() - (head_end + 4);
    let mut chunk = [0; 4096];
    while have < length {
        let n = stream.read(&mut chunk).await.map_err(|_| None)?;
        if n == 0 {
            return Err(None);
        }
        have += n;
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Sends `request` to a server answering with `reply` and returns what came back.
    async fn exchange(request: &'static [u8], timeout: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = actix_rt::spawn(async move {
            let (stream, peer) = listener.accept().await.unwrap();
            serve(stream, peer, timeout, |r: Request| async move {
                Reply {
                    status: 200,
                    content_type: Some("text/plain"),
                    body: format!("{} {} {:?}", r.method, r.path, r.header("HOST")).into_bytes(),
                }
            })
            .await
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(request).await.unwrap();
        // Read until the server closes (a reset after the answer, when the server left
        // unread bytes, ends the reading too).
        let mut answer = Vec::new();
        let mut chunk = [0; 1024];
        while let Ok(n @ 1..) = client.read(&mut chunk).await {
            answer.extend_from_slice(&chunk[..n]);
        }
        server.await.unwrap();
        String::from_utf8(answer).unwrap()
    }

    #[actix_rt::test]
    async fn one_request_one_answer_then_close() {
        let answer = exchange(
            b"GET /a/b?x=1 HTTP/1.1\r\nhost: h\r\nContent-Length: 2\r\n\r\nab",
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(
            answer,
            "HTTP/1.1 200 OK\r\nContent-Length: 18\r\nConnection: close\r\nContent-Type: \
             text/plain\r\n\r\nGET /a/b Some(\"h\")"
        );
    }

    #[actix_rt::test]
    async fn bad_slow_and_oversized_requests_are_refused() {
        let short = Duration::from_millis(200);
        for (request, status) in [
            (&b"nonsense\r\n\r\n"[..], "400"),
            (
                b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                "501",
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n", "413"),
            (b"GET / HTTP/1.1\r\nHost: h\r\n", "408"),
        ] {
            let answer = exchange(request, short).await;
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status} ")),
                "{answer}"
            );
        }
        let huge: &'static [u8] = Box::leak(vec![b'a'; MAX_HEAD + 10].into_boxed_slice());
        assert!(exchange(huge, short).await.starts_with("HTTP/1.1 431 "));
    }
}
