//! The embedded DNS server, over UDP and TCP (RFC 1035, RFC 7766): the CA's resolver for the
//! random names. Every name under the configured base domains answers A/AAAA with the
//! challenge server's addresses (so http-01 and tls-alpn-01 reach the tool),
//! `_acme-challenge.<name>` answers TXT with the dns-01 values the Registry holds (RFC 8555
//! §8.4), and the server refuses (REFUSED, not authoritative) every other name: it is
//! authoritative for its base domains only. A request with an EDNS version other than 0 gets
//! BADVERS (RFC 6891 §6.1.3). Names compare case-insensitively (RFC 4343). Answers carry TTL
//! 0: a challenge changes every few milliseconds and must never be served from a cache. One
//! `Handler` answers every transport, DNS over HTTPS included.
//!
//! TCP is bounded as every listener is ([`Limits`]); over UDP, at most `max_connections`
//! questions are answered at once and more are dropped (the client asks again).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use hickory_proto::op::{Edns, LowerQuery, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::registry::{normalise, LookupTxt, Registry};
use super::Limits;

/// The largest UDP answer sent to a client that advertises more (RFC 6891 §6.2.5's usual
/// ceiling); without EDNS, 512 bytes (RFC 1035 §4.2.1). Larger answers are truncated (TC).
const MAX_UDP_PAYLOAD: usize = 4096;
const PLAIN_UDP_PAYLOAD: usize = 512;

/// The largest message a length prefix can carry over TCP (RFC 1035 §4.2.2).
const MAX_TCP_MESSAGE: usize = u16::MAX as usize;

/// What the server answers for, from `[challenge]`.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Lower-case base domains without a trailing dot; they and every name under them exist.
    pub base_domains: Vec<String>,
    /// A records for every name.
    pub ipv4: Vec<Ipv4Addr>,
    /// AAAA records for every name.
    pub ipv6: Vec<Ipv6Addr>,
    /// Other addresses for the names under some domains (another shard's, say).
    pub domain_addresses: Vec<super::domain_addresses::DomainAddresses>,
}

impl Zone {
    /// Whether `name` (normalised) is one of the base domains or under one.
    pub fn covers(&self, name: &str) -> bool {
        self.base_domains.iter().any(|base| {
            name == base
                || name
                    .strip_suffix(base.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        })
    }
}

/// What one question gets, before it is put into records.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// Not a name (or class) this server is authoritative for.
    Refused,
    /// The name exists; these records of the asked type (none: NODATA).
    Records(Vec<RData>),
    /// The Registry could not be asked (the run is ending).
    ServFail,
}

/// Answers questions from the zone and the Registry, for every transport (UDP, TCP, HTTPS).
pub(super) struct Handler {
    registry: Addr<Registry>,
    zone: Zone,
}

impl Handler {
    pub(super) fn new(registry: Addr<Registry>, zone: Zone) -> Self {
        Handler { registry, zone }
    }

    /// Answers one DNS message in wire format (RFC 1035 §4.1), whatever carried it: DNS over
    /// HTTPS carries the same messages (RFC 8484 §4.2). `None` when the bytes are not a DNS
    /// message at all (too short to carry an ID to answer to).
    pub(super) async fn answer_wire(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        encode(self.answer_message(bytes).await?, MAX_TCP_MESSAGE)
    }

    /// As [`Handler::answer_wire`], within the size a UDP client takes.
    async fn answer_udp(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let response = self.answer_message(bytes).await?;
        let limit = response.edns.as_ref().map_or(PLAIN_UDP_PAYLOAD, |edns| {
            usize::from(edns.max_payload()).clamp(PLAIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD)
        });
        encode(response, limit)
    }

    async fn answer_message(&self, bytes: &[u8]) -> Option<Message> {
        let request = match Message::from_vec(bytes) {
            Ok(request) => request,
            Err(_) => {
                let id = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
                return Some(Message::error_msg(id, OpCode::Query, ResponseCode::FormErr));
            }
        };
        let asked = request.metadata;
        let mut response = Message::response(asked.id, asked.op_code);
        response.metadata.recursion_desired = asked.recursion_desired;
        if let Some(edns) = &request.edns {
            response.set_edns(answer_edns(edns));
            if edns.version() != 0 {
                response.metadata.response_code = ResponseCode::BADVERS;
                return Some(response);
            }
        }
        response.metadata.response_code = match request.queries.as_slice() {
            _ if asked.message_type != MessageType::Query || asked.op_code != OpCode::Query => {
                ResponseCode::NotImp
            }
            [query] => {
                response.add_query(query.clone());
                match self.answer(&LowerQuery::query(query.clone())).await {
                    Answer::Refused => ResponseCode::Refused,
                    Answer::ServFail => ResponseCode::ServFail,
                    Answer::Records(data) => {
                        response.metadata.authoritative = true;
                        let owner = query.name().clone();
                        for d in data {
                            response.add_answer(Record::from_rdata(owner.clone(), 0, d));
                        }
                        ResponseCode::NoError
                    }
                }
            }
            _ => ResponseCode::FormErr,
        };
        Some(response)
    }

    async fn answer(&self, query: &LowerQuery) -> Answer {
        let name = normalise(&query.name().to_string());
        if query.query_class() != DNSClass::IN || !self.zone.covers(&name) {
            return Answer::Refused;
        }
        match query.query_type() {
            RecordType::A => Answer::Records(self.zone.a_records(&name)),
            RecordType::AAAA => Answer::Records(self.zone.aaaa_records(&name)),
            RecordType::TXT => match self.registry.send(LookupTxt { name }).await {
                Ok(values) => Answer::Records(
                    values
                        .into_iter()
                        .map(|v| RData::TXT(TXT::new(vec![v])))
                        .collect(),
                ),
                Err(e) => {
                    log::error!("DNS: challenge registry unavailable: {e}");
                    Answer::ServFail
                }
            },
            _ => Answer::Records(Vec::new()),
        }
    }
}

/// `response` in wire format, its records dropped and TC set when it is longer than `limit`
/// (RFC 2181 §9).
fn encode(response: Message, limit: usize) -> Option<Vec<u8>> {
    let wire = response.to_vec().ok()?;
    if wire.len() <= limit {
        return Some(wire);
    }
    response.truncate().to_vec().ok()
}

/// RFC 6891 §6.1.1: a request with OPT gets an OPT back, of the version this server speaks.
fn answer_edns(asked: &Edns) -> Edns {
    let mut edns = Edns::new();
    edns.set_max_payload(asked.max_payload().max(512));
    edns.set_version(0);
    edns
}

/// The running DNS server; [`DnsServer::stop`] closes it.
pub struct DnsServer {
    loops: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Stops answering; TCP connections still open end within their timeout.
    pub fn stop(self) {
        for task in self.loops {
            task.abort();
        }
    }
}

/// Binds UDP and TCP on every address (a taken port is an error naming it).
pub(super) fn bind(
    addrs: &[SocketAddr],
) -> std::io::Result<Vec<(std::net::UdpSocket, std::net::TcpListener)>> {
    fn named(addr: SocketAddr, proto: &'static str) -> impl Fn(std::io::Error) -> std::io::Error {
        move |e| std::io::Error::new(e.kind(), format!("DNS listener {addr} ({proto}): {e}"))
    }
    addrs
        .iter()
        .map(|addr| {
            let udp = std::net::UdpSocket::bind(addr)
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .map_err(named(*addr, "udp"))?;
            let tcp = super::bind_tcp(*addr).map_err(named(*addr, "tcp"))?;
            Ok((udp, tcp))
        })
        .collect()
}

/// Binds UDP and TCP on every address and answers from `zone` and the Registry, in the
/// current System.
pub fn start(
    registry: Addr<Registry>,
    zone: Zone,
    addrs: &[SocketAddr],
    limits: Limits,
) -> std::io::Result<DnsServer> {
    serve(Arc::new(Handler::new(registry, zone)), bind(addrs)?, limits)
}

/// Answers on bound `sockets` in the current System: TCP `limits.max_connections`
/// connections at once over all addresses, UDP as many questions at once.
pub(super) fn serve(
    handler: Arc<Handler>,
    sockets: Vec<(std::net::UdpSocket, std::net::TcpListener)>,
    limits: Limits,
) -> std::io::Result<DnsServer> {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let questions = Arc::new(Semaphore::new(limits.max_connections));
    let mut loops = Vec::new();
    for (udp, tcp) in sockets {
        let udp = Arc::new(UdpSocket::from_std(udp)?);
        let tcp = super::tokio_listener(tcp)?;
        loops.push(actix_rt::spawn(serve_udp(
            udp,
            handler.clone(),
            questions.clone(),
        )));
        let handler = handler.clone();
        loops.push(actix_rt::spawn(super::accept_bounded(
            "DNS over TCP",
            tcp,
            connections.clone(),
            move |stream, _, permit| {
                serve_tcp(stream, handler.clone(), limits.client_timeout, permit)
            },
        )));
    }
    Ok(DnsServer { loops })
}

/// Answers each datagram on `socket`, each on a task of its own while a permit is free.
async fn serve_udp(socket: Arc<UdpSocket>, handler: Arc<Handler>, permits: Arc<Semaphore>) {
    let mut buf = vec![0; MAX_TCP_MESSAGE];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // An ICMP error for an earlier answer and the like: not this socket's end.
                log::debug!("DNS over UDP: {e}");
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            log::debug!("DNS over UDP: too many questions at once, one from {peer} dropped");
            continue;
        };
        let (socket, handler, question) = (socket.clone(), handler.clone(), buf[..len].to_vec());
        actix_rt::spawn(async move {
            if let Some(answer) = handler.answer_udp(&question).await {
                if let Err(e) = socket.send_to(&answer, peer).await {
                    log::debug!("DNS: sending the answer to {peer} failed: {e}");
                }
            }
            drop(permit);
        });
    }
}

/// One TCP connection (RFC 7766): length-prefixed messages answered in turn, the client given
/// `timeout` to send each one; it holds `_permit` until it ends.
async fn serve_tcp(
    mut stream: TcpStream,
    handler: Arc<Handler>,
    timeout: Duration,
    _permit: OwnedSemaphorePermit,
) {
    loop {
        let read = async {
            let mut len = [0; 2];
            stream.read_exact(&mut len).await?;
            let mut message = vec![0; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut message).await?;
            Ok::<_, std::io::Error>(message)
        };
        let Ok(Ok(message)) = actix_rt::time::timeout(timeout, read).await else {
            return;
        };
        let Some(answer) = handler.answer_wire(&message).await else {
            return;
        };
        let Ok(len) = u16::try_from(answer.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(answer.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&answer);
        let written = actix_rt::time::timeout(timeout, stream.write_all(&framed)).await;
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::Actor;
    use hickory_proto::op::Query;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::Name;

    use crate::challenge::registry::{txt_value, Publish, Response};

    fn zone() -> Zone {
        Zone {
            base_domains: vec!["wile.test".into(), "b.example".into()],
            ipv4: vec![Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2)],
            ipv6: vec![],
            domain_addresses: vec![],
        }
    }

    fn query(name: &str, kind: RecordType) -> LowerQuery {
        LowerQuery::query(Query::query(Name::from_ascii(name).unwrap(), kind))
    }

    #[test]
    fn covers_base_domains_and_names_under_them_only() {
        let zone = zone();
        for name in ["wile.test", "a.wile.test", "x.y.wile.test", "q.b.example"] {
            assert!(zone.covers(name), "{name}");
        }
        for name in [
            "test",
            "awile.test",
            "wile.test.org",
            "example",
            "c.example",
        ] {
            assert!(!zone.covers(name), "{name}");
        }
    }

    #[actix_rt::test]
    async fn answers_by_type_and_name() {
        let registry = Registry::new(Duration::from_secs(60), 10).start();
        registry
            .send(Publish::new(Response::Dns01 {
                name: "abc.wile.test".into(),
                key_authorization: "tok.thumb".into(),
            }))
            .await
            .unwrap()
            .unwrap();
        let handler = Handler {
            registry,
            zone: zone(),
        };
        let a = handler
            .answer(&query("ABC.Wile.Test.", RecordType::A))
            .await;
        assert_eq!(
            a,
            Answer::Records(vec![
                RData::A(A(Ipv4Addr::new(127, 0, 0, 1))),
                RData::A(A(Ipv4Addr::new(127, 0, 0, 2)))
            ])
        );
        let aaaa = handler
            .answer(&query("abc.wile.test.", RecordType::AAAA))
            .await;
        assert_eq!(aaaa, Answer::Records(vec![]), "NODATA without IPv6");
        let txt = handler
            .answer(&query("_acme-challenge.abc.WILE.test.", RecordType::TXT))
            .await;
        let value = txt_value("tok.thumb").unwrap();
        assert_eq!(
            txt,
            Answer::Records(vec![RData::TXT(TXT::new(vec![value]))])
        );
        let none = handler
            .answer(&query("_acme-challenge.other.wile.test.", RecordType::TXT))
            .await;
        assert_eq!(none, Answer::Records(vec![]));
        let outside = handler.answer(&query("abc.example.", RecordType::A)).await;
        assert_eq!(outside, Answer::Refused);
    }

    /// Names outside the base domains are refused, not denied with authority; an EDNS version
    /// the server does not speak gets BADVERS (with an OPT of version 0).
    #[actix_rt::test]
    async fn refuses_other_names_and_unknown_edns_versions() {
        let handler = Handler {
            registry: Registry::new(Duration::from_secs(60), 10).start(),
            zone: zone(),
        };
        let ask = |name: &str, edns_version: Option<u8>| {
            let mut message = Message::query();
            message.metadata.id = 7;
            message.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
            if let Some(version) = edns_version {
                let mut edns = Edns::new();
                edns.set_version(version);
                message.set_edns(edns);
            }
            message.to_vec().unwrap()
        };
        let answer = |wire: Vec<u8>| Message::from_vec(&wire).unwrap();

        let outside = answer(
            handler
                .answer_wire(&ask("abc.example.", None))
                .await
                .unwrap(),
        );
        assert_eq!(outside.metadata.response_code, ResponseCode::Refused);
        assert!(!outside.metadata.authoritative);
        assert!(outside.answers.is_empty());

        let inside = answer(
            handler
                .answer_wire(&ask("abc.wile.test.", Some(0)))
                .await
                .unwrap(),
        );
        assert_eq!(inside.metadata.response_code, ResponseCode::NoError);
        assert!(inside.metadata.authoritative);

        let future = answer(
            handler
                .answer_wire(&ask("abc.wile.test.", Some(1)))
                .await
                .unwrap(),
        );
        // 16 is BADVERS with an OPT record (BADSIG with TSIG, which is how it decodes).
        assert_eq!(u16::from(future.metadata.response_code), 16);
        assert_eq!(future.edns.as_ref().map(Edns::version), Some(0));
        assert!(future.answers.is_empty());
    }

    /// An answer longer than a UDP client takes is sent truncated (TC), without records.
    #[actix_rt::test]
    async fn long_udp_answers_are_truncated() {
        let many = (1..=40).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
        let handler = Handler {
            registry: Registry::new(Duration::from_secs(60), 10).start(),
            zone: Zone {
                base_domains: vec!["wile.test".into()],
                ipv4: many,
                ipv6: vec![],
                domain_addresses: vec![],
            },
        };
        let mut message = Message::query();
        message.add_query(Query::query(
            Name::from_ascii("a-rather-long-label-to-fill-the-answer.wile.test.").unwrap(),
            RecordType::A,
        ));
        let wire = message.to_vec().unwrap();
        let udp = Message::from_vec(&handler.answer_udp(&wire).await.unwrap()).unwrap();
        assert!(udp.metadata.truncation);
        assert!(udp.answers.is_empty());
        let tcp = Message::from_vec(&handler.answer_wire(&wire).await.unwrap()).unwrap();
        assert!(!tcp.metadata.truncation);
        assert_eq!(tcp.answers.len(), 40);
    }
}
