//! Bytes on the wire, counted where they pass: the TCP streams under TLS count what they read
//! and write, and charge it to the exchange whose future is being polled at that moment. An
//! attacker thread polls one future at a time, and an HTTP/1.1 connection carries one exchange
//! at a time without pipelining, so every byte lands on the exchange it belongs to: its TLS
//! records, the handshake of a connection it opened, headers awc added on its own.
//!
//! What no exchange polls (a pooled connection closed when idle) is counted by nobody.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_rt::net::{ActixStream, Ready, TcpStream};
use actix_service::Service;
use actix_tls::connect::{ConnectError, ConnectInfo, Connection};
use awc::http::Uri;
use futures_util::future::LocalBoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

thread_local! {
    /// The tally of the exchange being polled on this thread, if any.
    static CURRENT: RefCell<Option<Rc<Tally>>> = const { RefCell::new(None) };
}

/// Bytes read and written on behalf of one exchange.
#[derive(Debug, Default)]
pub struct Tally {
    received: Cell<u64>,
    sent: Cell<u64>,
}

impl Tally {
    /// Bytes read from the network so far.
    pub fn received(&self) -> u64 {
        self.received.get()
    }

    /// Bytes written to the network so far.
    pub fn sent(&self) -> u64 {
        self.sent.get()
    }
}

/// Adds `n` to the `which` count of the exchange being polled, if any.
fn charge(which: fn(&Tally) -> &Cell<u64>, n: usize) {
    CURRENT.with(|current| {
        if let Some(tally) = current.borrow().as_deref() {
            let count = which(tally);
            count.set(count.get() + n as u64);
        }
    });
}

pin_project_lite::pin_project! {
    /// A future whose network traffic goes to `tally` (see [`metered`]).
    pub struct Metered<F> {
        tally: Rc<Tally>,
        #[pin]
        inner: F,
    }
}

/// `inner`, with what the metered streams carry while it is polled charged to `tally`.
pub fn metered<F: Future>(tally: Rc<Tally>, inner: F) -> Metered<F> {
    Metered { tally, inner }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let outer = CURRENT.with(|c| c.replace(Some(this.tally.clone())));
        let polled = this.inner.poll(cx);
        CURRENT.with(|c| *c.borrow_mut() = outer);
        polled
    }
}

/// A TCP stream that counts what passes through it (below TLS: the bytes on the wire).
#[derive(Debug)]
pub struct MeteredStream(TcpStream);

impl AsyncRead for MeteredStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        charge(|t| &t.received, buf.filled().len() - before);
        polled
    }
}

impl AsyncWrite for MeteredStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.0).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            charge(|t| &t.sent, n);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.0).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            charge(|t| &t.sent, n);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl ActixStream for MeteredStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        ActixStream::poll_read_ready(&self.0, cx)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        ActixStream::poll_write_ready(&self.0, cx)
    }
}

/// awc's TCP connector with [`MeteredStream`]s: TLS then runs over them.
#[derive(Clone)]
pub struct MeteredConnector<S>(pub S);

impl<S> Service<ConnectInfo<Uri>> for MeteredConnector<S>
where
    S: Service<ConnectInfo<Uri>, Response = Connection<Uri, TcpStream>, Error = ConnectError>,
    S::Future: 'static,
{
    type Response = Connection<Uri, MeteredStream>;
    type Error = ConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, ConnectError>>;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        self.0.poll_ready(cx)
    }

    fn call(&self, info: ConnectInfo<Uri>) -> Self::Future {
        let connecting = self.0.call(info);
        Box::pin(async move {
            let connection = connecting.await?;
            let (stream, connection) = connection.replace_io(());
            Ok(connection.replace_io(MeteredStream(stream)).1)
        })
    }
}
