//! A small Redis client: one TCP connection speaking RESP2, the few commands the shared
//! registry sends, and a reply reader that bounds what it accepts (line length, bulk size,
//! array length, no nesting), so a wrong or hostile server costs a refused reply, never
//! unbounded memory.
//!
//! Why not the `redis` crate: it would add a dozen crates to the tree (its parser, connection
//! manager and retry machinery) for five commands, and it bounds no reply size. Timeouts,
//! reconnection and the outage policy live in [`super::redis_store`], which drops a connection
//! whose call failed or timed out instead of reusing it in an unknown state.

#![warn(missing_docs)]

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::redis_url::RedisUrl;

/// The longest status, error or integer line accepted.
const MAX_LINE: usize = 1024;

/// The largest bulk string accepted: a stored value is far smaller (a key authorization is
/// under 200 bytes).
pub const MAX_BULK: usize = 4096;

/// The most elements of an array reply accepted.
pub const MAX_ARRAY: usize = 64;

/// One reply of RESP2. Nested arrays are refused: no command sent here returns one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A status reply (`+OK`, `+PONG`).
    Status(String),
    /// An error reply (`-ERR …`): the command failed, the connection is fine.
    Error(String),
    /// An integer reply (`:1`).
    Integer(i64),
    /// `None`: the null bulk string (a key that does not exist).
    Bulk(Option<Vec<u8>>),
    /// `None`: the null array.
    Array(Option<Vec<Reply>>),
}

/// Why a call got no usable reply.
#[derive(Debug, thiserror::Error)]
pub enum RespError {
    /// Connecting, reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The connection ended before the reply did.
    #[error("Redis closed the connection")]
    Closed,
    /// Bytes that are not RESP2, or a reply no command sent here gets (a nested array).
    #[error("not a RESP reply: {0}")]
    Protocol(&'static str),
    /// A reply beyond the module's bounds.
    #[error("reply too large: {what} of {len} (at most {max})")]
    TooLarge {
        /// A line, a bulk string or an array.
        what: &'static str,
        /// Its announced (or read so far) length.
        len: u64,
        /// The bound.
        max: usize,
    },
    /// An error reply where the command had to succeed (AUTH, SELECT, or a write).
    #[error("Redis answered {0}")]
    Server(String),
}

/// A command: its arguments as bytes.
pub type Command = Vec<Vec<u8>>;

/// Builds a [`Command`] from anything byte-like.
pub fn command<const N: usize>(args: [&[u8]; N]) -> Command {
    args.iter().map(|a| a.to_vec()).collect()
}

/// One connection, authenticated and on its database.
#[derive(Debug)]
pub struct Connection {
    stream: BufReader<TcpStream>,
}

impl Connection {
    /// Connects to `url`, sends `AUTH` when it carries a password and `SELECT` when its
    /// database is not 0. The caller bounds the time.
    pub async fn open(url: &RedisUrl) -> Result<Connection, RespError> {
        let tcp = TcpStream::connect((url.host(), url.port())).await?;
        tcp.set_nodelay(true)?;
        let mut conn = Connection {
            stream: BufReader::new(tcp),
        };
        let mut setup = Vec::new();
        if let Some((user, password)) = url.credentials() {
            let mut auth = vec![b"AUTH".to_vec()];
            auth.extend(user.map(|u| u.as_bytes().to_vec()));
            auth.push(password.as_bytes().to_vec());
            setup.push(auth);
        }
        if url.db() != 0 {
            setup.push(command([b"SELECT", url.db().to_string().as_bytes()]));
        }
        if !setup.is_empty() {
            for reply in conn.pipeline(&setup).await? {
                if let Reply::Error(e) = reply {
                    return Err(RespError::Server(e));
                }
            }
        }
        Ok(conn)
    }

    /// Sends `commands` in one write and reads their replies, in order.
    pub async fn pipeline(&mut self, commands: &[Command]) -> Result<Vec<Reply>, RespError> {
        let mut out = Vec::new();
        for c in commands {
            encode(c, &mut out);
        }
        self.stream.get_mut().write_all(&out).await?;
        let mut replies = Vec::with_capacity(commands.len());
        for _ in commands {
            replies.push(read_reply(&mut self.stream).await?);
        }
        Ok(replies)
    }
}

/// Appends `args` as a RESP array of bulk strings.
pub fn encode(args: &[Vec<u8>], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads one reply, bounded as the module says.
pub async fn read_reply<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Reply, RespError> {
    match read_scalar(r).await? {
        Scalar::Reply(reply) => Ok(reply),
        Scalar::ArrayOf(None) => Ok(Reply::Array(None)),
        Scalar::ArrayOf(Some(n)) => {
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                match read_scalar(r).await? {
                    Scalar::Reply(reply) => items.push(reply),
                    Scalar::ArrayOf(_) => return Err(RespError::Protocol("nested array")),
                }
            }
            Ok(Reply::Array(Some(items)))
        }
    }
}

/// A reply that is not an array, or the header of one.
enum Scalar {
    Reply(Reply),
    ArrayOf(Option<usize>),
}

async fn read_scalar<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Scalar, RespError> {
    let line = read_line(r).await?;
    let (kind, rest) = line
        .split_first()
        .ok_or(RespError::Protocol("empty line"))?;
    let text =
        || String::from_utf8(rest.to_vec()).map_err(|_| RespError::Protocol("line not UTF-8"));
    let number = || -> Result<i64, RespError> {
        text()?
            .parse()
            .map_err(|_| RespError::Protocol("bad number"))
    };
    Ok(match kind {
        b'+' => Scalar::Reply(Reply::Status(text()?)),
        b'-' => Scalar::Reply(Reply::Error(text()?)),
        b':' => Scalar::Reply(Reply::Integer(number()?)),
        b'$' => match number()? {
            -1 => Scalar::Reply(Reply::Bulk(None)),
            len if (0..=MAX_BULK as i64).contains(&len) => {
                let mut body = vec![0; len as usize + 2];
                r.read_exact(&mut body).await.map_err(eof)?;
                if !body.ends_with(b"\r\n") {
                    return Err(RespError::Protocol("bulk string not ended by CRLF"));
                }
                body.truncate(len as usize);
                Scalar::Reply(Reply::Bulk(Some(body)))
            }
            len => return Err(too_large("bulk string", len, MAX_BULK)),
        },
        b'*' => match number()? {
            -1 => Scalar::ArrayOf(None),
            n if (0..=MAX_ARRAY as i64).contains(&n) => Scalar::ArrayOf(Some(n as usize)),
            n => return Err(too_large("array", n, MAX_ARRAY)),
        },
        _ => return Err(RespError::Protocol("unknown reply type")),
    })
}

fn too_large(what: &'static str, len: i64, max: usize) -> RespError {
    match u64::try_from(len) {
        Ok(len) => RespError::TooLarge { what, len, max },
        Err(_) => RespError::Protocol("negative length"),
    }
}

fn eof(e: std::io::Error) -> RespError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => RespError::Closed,
        _ => RespError::Io(e),
    }
}

/// One CRLF-terminated line without its CRLF, at most [`MAX_LINE`] bytes.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Vec<u8>, RespError> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Err(RespError::Closed);
        }
        let (taken, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..taken]);
        r.consume(taken);
        if line.len() > MAX_LINE + 2 {
            return Err(too_large("line", line.len() as i64, MAX_LINE));
        }
        if done {
            break;
        }
    }
    if !line.ends_with(b"\r\n") {
        return Err(RespError::Protocol("line not ended by CRLF"));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> Result<Reply, RespError> {
        read_reply(&mut BufReader::new(bytes)).await
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode(&command([b"SET", b"k", b"v a"]), &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv a\r\n");
    }

    #[actix_rt::test]
    async fn replies_of_every_kind() {
        assert_eq!(parse(b"+OK\r\n").await.unwrap(), Reply::Status("OK".into()));
        assert_eq!(
            parse(b"-ERR wrong\r\n").await.unwrap(),
            Reply::Error("ERR wrong".into())
        );
        assert_eq!(parse(b":-2\r\n").await.unwrap(), Reply::Integer(-2));
        assert_eq!(parse(b"$-1\r\n").await.unwrap(), Reply::Bulk(None));
        assert_eq!(
            parse(b"$4\r\na\r\nb\r\n").await.unwrap(),
            Reply::Bulk(Some(b"a\r\nb".to_vec()))
        );
        assert_eq!(
            parse(b"*2\r\n$1\r\nx\r\n:1\r\n").await.unwrap(),
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"x".to_vec())),
                Reply::Integer(1)
            ]))
        );
        assert_eq!(parse(b"*-1\r\n").await.unwrap(), Reply::Array(None));
    }

    #[actix_rt::test]
    async fn oversized_or_malformed_replies_are_refused() {
        let huge = format!("${}\r\n", MAX_BULK + 1);
        assert!(matches!(
            parse(huge.as_bytes()).await,
            Err(RespError::TooLarge {
                what: "bulk string",
                ..
            })
        ));
        let many = format!("*{}\r\n", MAX_ARRAY + 1);
        assert!(matches!(
            parse(many.as_bytes()).await,
            Err(RespError::TooLarge { what: "array", .. })
        ));
        let long = format!("+{}\r\n", "a".repeat(MAX_LINE + 1));
        assert!(matches!(
            parse(long.as_bytes()).await,
            Err(RespError::TooLarge { what: "line", .. })
        ));
        let endless = vec![b'+'; 1 << 20];
        assert!(matches!(
            parse(&endless).await,
            Err(RespError::TooLarge { .. })
        ));
        for bad in [
            &b"*1\r\n*0\r\n"[..],
            b"$3\r\nabcd\r\n",
            b"?x\r\n",
            b":x\r\n",
            b"+OK\n",
            b"$-5\r\n",
        ] {
            assert!(
                matches!(parse(bad).await, Err(RespError::Protocol(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(parse(b"$5\r\nab").await, Err(RespError::Closed)));
        assert!(matches!(parse(b"").await, Err(RespError::Closed)));
    }
}
