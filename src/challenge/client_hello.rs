//! The SNI name of a TLS ClientHello, read before OpenSSL sees the connection, and the stream
//! that gives OpenSSL those bytes again.
//!
//! OpenSSL's SNI callback is synchronous, so it cannot wait for the shared registry in Redis.
//! With a shared registry, the tls-alpn-01 listener therefore reads the first TLS record
//! itself, takes the name from it, asks the Registry (which may ask Redis) for that name's
//! certificate, and only then starts the handshake over [`Replayed`], which hands the record
//! to OpenSSL first.

#![warn(missing_docs)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// `handshake` (RFC 8446 §5.1).
const HANDSHAKE: u8 = 22;

/// `client_hello` (RFC 8446 §4).
const CLIENT_HELLO: u8 = 1;

/// `server_name` (RFC 6066 §3).
const SERVER_NAME: u16 = 0;

/// The largest record a client may send (2^14 bytes of plaintext, RFC 8446 §5.1).
const MAX_RECORD: usize = 1 << 14;

/// The longest DNS name.
const MAX_NAME: usize = 253;

/// Reads the first TLS record from `stream`: its bytes (header included), at most
/// `5 + 2^14`. A record that is not a handshake is returned as is, for OpenSSL to refuse.
pub async fn first_record<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Vec<u8>> {
    let mut record = vec![0; 5];
    stream.read_exact(&mut record).await?;
    if record[0] != HANDSHAKE {
        return Ok(record);
    }
    let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
    if len > MAX_RECORD {
        return Ok(record);
    }
    record.resize(5 + len, 0);
    stream.read_exact(&mut record[5..]).await?;
    Ok(record)
}

/// The host name a ClientHello asks for, lower-case, if `record` holds a whole ClientHello
/// with one, made of the characters of a DNS name.
pub fn server_name(record: &[u8]) -> Option<String> {
    let mut r = Reader(record);
    if r.u8()? != HANDSHAKE {
        return None;
    }
    r.take(4)?; // version, length
    if r.u8()? != CLIENT_HELLO {
        return None;
    }
    let mut hello = Reader(r.vec(3)?);
    hello.take(2 + 32)?; // legacy_version, random
    hello.vec(1)?; // legacy_session_id
    hello.vec(2)?; // cipher_suites
    hello.vec(1)?; // legacy_compression_methods
    let mut extensions = Reader(hello.vec(2)?);
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let data = extensions.vec(2)?;
        if kind != SERVER_NAME {
            continue;
        }
        let mut names = Reader(Reader(data).vec(2)?);
        while !names.0.is_empty() {
            let name_type = names.u8()?;
            let name = names.vec(2)?;
            if name_type == 0 {
                return host_name(name);
            }
        }
        return None;
    }
    None
}

fn host_name(name: &[u8]) -> Option<String> {
    let fits = |b: &u8| b.is_ascii_alphanumeric() || b"-_.".contains(b);
    (!name.is_empty() && name.len() <= MAX_NAME && name.iter().all(fits))
        .then(|| String::from_utf8_lossy(name).to_ascii_lowercase())
}

/// Reads big-endian fields off a byte slice; `None` past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A vector with a `len_bytes`-byte length prefix (RFC 8446 §3.4).
    fn vec(&mut self, len_bytes: usize) -> Option<&'a [u8]> {
        let len = self
            .take(len_bytes)?
            .iter()
            .fold(0usize, |n, b| (n << 8) | usize::from(*b));
        self.take(len)
    }
}

/// `inner`, its first bytes `head` (already read from it) handed out again before the rest.
#[derive(Debug)]
pub struct Replayed<S> {
    head: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Replayed<S> {
    /// `inner`, of which `head` was read already.
    pub fn new(head: Vec<u8>, inner: S) -> Self {
        Replayed { head, at: 0, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replayed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.head.len() {
            let n = buf.remaining().min(this.head.len() - this.at);
            buf.put_slice(&this.head[this.at..this.at + n]);
            this.at += n;
            if this.at == this.head.len() {
                this.head = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replayed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record with `extensions` (type, data).
    fn client_hello(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut exts = Vec::new();
        for (kind, data) in extensions {
            exts.extend(kind.to_be_bytes());
            exts.extend((data.len() as u16).to_be_bytes());
            exts.extend(data);
        }
        let mut hello = vec![3, 3];
        hello.extend([7; 32]);
        hello.extend([1, 9]); // a one-byte session id
        hello.extend([0, 2, 0x13, 0x01]);
        hello.extend([1, 0]);
        hello.extend((exts.len() as u16).to_be_bytes());
        hello.extend(exts);
        let mut handshake = vec![CLIENT_HELLO];
        handshake.extend(&(hello.len() as u32).to_be_bytes()[1..]);
        handshake.extend(hello);
        let mut record = vec![HANDSHAKE, 3, 1];
        record.extend((handshake.len() as u16).to_be_bytes());
        record.extend(handshake);
        record
    }

    fn sni(name: &[u8]) -> (u16, Vec<u8>) {
        let mut entry = vec![0];
        entry.extend((name.len() as u16).to_be_bytes());
        entry.extend(name);
        let mut list = (entry.len() as u16).to_be_bytes().to_vec();
        list.extend(entry);
        (SERVER_NAME, list)
    }

    #[test]
    fn finds_the_host_name_among_the_extensions() {
        let alpn = (16, b"\x00\x0b\x0aacme-tls/1".to_vec());
        let record = client_hello(&[alpn.clone(), sni(b"Abc.Wile.test")]);
        assert_eq!(server_name(&record).as_deref(), Some("abc.wile.test"));
        assert_eq!(server_name(&client_hello(&[alpn])), None);
        assert_eq!(server_name(&client_hello(&[sni(b"a b")])), None);
        assert_eq!(server_name(&client_hello(&[sni(b"")])), None);
    }

    #[test]
    fn truncated_or_foreign_records_have_no_name() {
        let record = client_hello(&[sni(b"abc.wile.test")]);
        for cut in 0..record.len() {
            assert_eq!(server_name(&record[..cut]), None, "cut at {cut}");
        }
        let mut other = record.clone();
        other[0] = 23;
        assert_eq!(server_name(&other), None);
        let mut lying = record;
        let at = lying.len() - b"abc.wile.test".len() - 2;
        lying[at] = 0xff; // the name's length runs past the end
        assert_eq!(server_name(&lying), None);
    }

    #[actix_rt::test]
    async fn the_record_is_read_and_replayed_before_the_rest() {
        let record = client_hello(&[sni(b"abc.wile.test")]);
        let mut wire = record.clone();
        wire.extend(b"rest");
        let mut source = wire.as_slice();
        let head = first_record(&mut source).await.unwrap();
        assert_eq!(head, record);
        let mut replayed = Replayed::new(head, source);
        let mut all = Vec::new();
        replayed.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, wire);
    }
}
