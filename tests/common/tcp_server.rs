//! A loopback TCP server on a thread and actix runtime of its own, for the purpose-built
//! HTTP/1.1 servers of the failure tests (the fault proxy, the hostile CA): every connection
//! is handed to a function; dropping the server stops it. Also the one request reader they
//! share.

use std::future::Future;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};

pub struct TcpServer {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TcpServer {
    /// Listens on a free loopback port and serves each connection with `serve(stream, port)`.
    pub fn start<F, Fut>(serve: F) -> TcpServer
    where
        F: Fn(TcpStream, u16) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let accept = async {
                    loop {
                        if let Ok((stream, _)) = listener.accept().await {
                            actix_rt::spawn(serve(stream, port));
                        }
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        TcpServer {
            port,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One HTTP/1.1 request as read off the wire.
pub struct Request {
    pub method: String,
    pub path: String,
    pub host: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Largest request head or body read (the tool's requests are small).
const MAX_REQUEST: usize = 1 << 20;

/// Reads the next request of a keep-alive connection (`buf` holds what was read past the last
/// one); `None` when the client went away or sent something too large or unreadable.
pub async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Option<Request> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_REQUEST {
            return None;
        }
        read_more(stream, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let mut length = 0;
    let mut content_type = None;
    let mut host = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "content-type" => content_type = Some(value.trim().to_owned()),
            "host" => host = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    if length > MAX_REQUEST {
        return None;
    }
    while buf.len() < head_end + length {
        read_more(stream, buf).await?;
    }
    let body = buf[head_end..head_end + length].to_vec();
    buf.drain(..head_end + length);
    Some(Request {
        method,
        path,
        host,
        content_type,
        body,
    })
}

async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await.ok()? {
        0 => None,
        n => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}
