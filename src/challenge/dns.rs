//! The embedded DNS server (hickory-server), over UDP and TCP: the CA's resolver for the random
//! names. Every name under the configured base domains answers A/AAAA with the challenge
//! server's addresses (so http-01 and tls-alpn-01 reach the tool), `_acme-challenge.<name>`
//! answers TXT with the dns-01 values the Registry holds (RFC 8555 §8.4), and any other name
//! is NXDOMAIN. Names compare case-insensitively (RFC 4343). Answers carry TTL 0: a challenge
//! changes every few milliseconds and must never be served from a cache.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use actix::Addr;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, LowerQuery, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::rdata::{A, AAAA, TXT};
use hickory_server::proto::rr::{DNSClass, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;

use super::registry::{normalise, LookupTxt, Registry};

/// Idle TCP connections are closed after this long.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);

/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;

/// What the server answers for, from `[challenge]`.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Lower-case base domains without a trailing dot; they and every name under them exist.
    pub base_domains: Vec<String>,
    /// A records for every name.
    pub ipv4: Vec<Ipv4Addr>,
    /// AAAA records for every name.
    pub ipv6: Vec<Ipv6Addr>,
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
    NxDomain,
    /// The name exists; these records of the asked type (none: NODATA).
    Records(Vec<RData>),
    /// The Registry could not be asked (the run is ending).
    ServFail,
}

struct Handler {
    registry: Addr<Registry>,
    zone: Zone,
}

impl Handler {
    async fn answer(&self, query: &LowerQuery) -> Answer {
        let name = normalise(&query.name().to_string());
        if query.query_class() != DNSClass::IN || !self.zone.covers(&name) {
            return Answer::NxDomain;
        }
        match query.query_type() {
            RecordType::A => {
                Answer::Records(self.zone.ipv4.iter().map(|ip| RData::A(A(*ip))).collect())
            }
            RecordType::AAAA => Answer::Records(
                self.zone
                    .ipv6
                    .iter()
                    .map(|ip| RData::AAAA(AAAA(*ip)))
                    .collect(),
            ),
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

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        // RFC 6891 §6.1.1: a request with OPT gets an OPT back.
        let edns = request.edns.as_ref().map(|asked| {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload().max(512));
            edns.set_version(0);
            edns
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let mut records = Vec::new();
        let is_query = request.metadata.message_type == MessageType::Query
            && request.metadata.op_code == OpCode::Query;
        metadata.response_code = match request.request_info() {
            _ if !is_query => ResponseCode::NotImp,
            Err(_) => ResponseCode::FormErr,
            Ok(info) => {
                metadata.authoritative = true;
                let owner = info.query.original().name().clone();
                match self.answer(info.query).await {
                    Answer::NxDomain => ResponseCode::NXDomain,
                    Answer::ServFail => ResponseCode::ServFail,
                    Answer::Records(data) => {
                        records = data
                            .into_iter()
                            .map(|d| Record::from_rdata(owner.clone(), 0, d))
                            .collect();
                        ResponseCode::NoError
                    }
                }
            }
        };
        let response = builder.build(metadata, records.iter(), [], [], []);
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(e) => {
                log::debug!("DNS: sending the answer to {} failed: {e}", request.src());
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

/// The running DNS server; [`DnsServer::stop`] closes it.
pub struct DnsServer {
    server: Server<Handler>,
}

impl DnsServer {
    /// Stops serving; connections still open after a second are dropped.
    pub async fn stop(mut self) {
        let stopped =
            actix_rt::time::timeout(Duration::from_secs(1), self.server.shutdown_gracefully());
        if let Ok(Err(e)) = stopped.await {
            log::debug!("DNS server stopped with: {e}");
        }
    }
}

/// Binds UDP and TCP on every address (a taken port is an error naming it) and answers from
/// `zone` and the Registry, in the current System.
pub fn start(
    registry: Addr<Registry>,
    zone: Zone,
    addrs: &[SocketAddr],
) -> std::io::Result<DnsServer> {
    fn named(addr: SocketAddr, proto: &'static str) -> impl Fn(std::io::Error) -> std::io::Error {
        move |e| std::io::Error::new(e.kind(), format!("DNS listener {addr} ({proto}): {e}"))
    }
    let mut sockets = Vec::new();
    for addr in addrs {
        let udp = std::net::UdpSocket::bind(addr)
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .and_then(tokio::net::UdpSocket::from_std)
            .map_err(named(*addr, "udp"))?;
        let tcp = super::bind_tcp(*addr).map_err(named(*addr, "tcp"))?;
        sockets.push((udp, tcp));
    }
    let mut server = Server::new(Handler { registry, zone });
    for (udp, tcp) in sockets {
        server.register_socket(udp);
        server.register_listener(tcp, TCP_TIMEOUT, TCP_RESPONSE_BUFFER);
    }
    Ok(DnsServer { server })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::Actor;
    use hickory_server::proto::op::Query;
    use hickory_server::proto::rr::Name;

    use crate::challenge::registry::{txt_value, Publish, Response};

    fn zone() -> Zone {
        Zone {
            base_domains: vec!["wile.test".into(), "b.example".into()],
            ipv4: vec![Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2)],
            ipv6: vec![],
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
            .send(Publish(Response::Dns01 {
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
        assert_eq!(outside, Answer::NxDomain);
    }
}
