//! The VA's resolver. Boulder resolves only through DNS over HTTPS (bdns/dns.go: RFC 8484 POST
//! to /dns-query with `application/dns-message`, HTTP/2, TLS verified against a configured CA,
//! retried on timeout); a plain UDP resolver is offered for benchmark runs. Messages are built
//! and parsed with hickory-proto; answers are bounded to one DNS message (64 KiB). Failures are
//! worded as Boulder's bdns errors ("DNS problem: NXDOMAIN looking up A for x - ...").

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use awc::error::{ConnectError, SendRequestError};
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

const MAX_MESSAGE: usize = 65_535;

pub enum Resolver {
    Doh { client: awc::Client, url: String },
    Udp(SocketAddr),
    Unconfigured,
}

enum Failure {
    Timeout,
    Network,
    Server,
    Rcode(ResponseCode),
}

fn rcode_text(code: ResponseCode) -> (String, &'static str) {
    match code {
        ResponseCode::NXDomain => (
            "NXDOMAIN".into(),
            " - check that a DNS record exists for this domain",
        ),
        ResponseCode::ServFail => (
            "SERVFAIL".into(),
            " - the domain's nameservers may be malfunctioning",
        ),
        ResponseCode::Refused => ("REFUSED".into(), ""),
        ResponseCode::FormErr => ("FORMERR".into(), ""),
        ResponseCode::NotImp => ("NOTIMP".into(), ""),
        other => (format!("{other:?}").to_uppercase(), ""),
    }
}

fn describe(failure: Failure, rtype: RecordType, name: &str) -> String {
    let (detail, more) = match failure {
        Failure::Timeout => ("query timed out".to_string(), ""),
        Failure::Network => ("networking error".to_string(), ""),
        Failure::Server => ("server failure at resolver".to_string(), ""),
        Failure::Rcode(code) => rcode_text(code),
    };
    format!("DNS problem: {detail} looking up {rtype} for {name}{more}")
}

fn query_bytes(name: &str, rtype: RecordType) -> Option<(u16, Vec<u8>)> {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(
        Name::from_ascii(format!("{name}.")).ok()?,
        rtype,
    ));
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    msg.set_edns(edns);
    Some((msg.metadata.id, msg.to_vec().ok()?))
}

impl Resolver {
    async fn doh(
        client: &awc::Client,
        url: &str,
        query: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, Failure> {
        let mut res = client
            .post(url)
            .insert_header(("Content-Type", "application/dns-message"))
            .insert_header(("Accept", "application/dns-message"))
            .timeout(timeout)
            .send_body(query)
            .await
            .map_err(|e| match e {
                SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
                    Failure::Timeout
                }
                _ => Failure::Network,
            })?;
        if res.version() != awc::http::Version::HTTP_2 || res.status() != 200 {
            return Err(Failure::Server);
        }
        let body = res
            .body()
            .limit(MAX_MESSAGE)
            .await
            .map_err(|_| Failure::Server)?;
        Ok(body.to_vec())
    }

    async fn udp(
        addr: SocketAddr,
        id: u16,
        query: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, Failure> {
        let exchange = async {
            let local: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            let socket = tokio::net::UdpSocket::bind(local)
                .await
                .map_err(|_| Failure::Network)?;
            socket.connect(addr).await.map_err(|_| Failure::Network)?;
            socket.send(&query).await.map_err(|_| Failure::Network)?;
            let mut buf = vec![0u8; 4096];
            loop {
                let n = socket.recv(&mut buf).await.map_err(|_| Failure::Network)?;
                if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                    return Ok(buf[..n].to_vec());
                }
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(Failure::Timeout))
    }

    /// One question, tried up to `tries` times on timeouts and network failures; the answers
    /// of the asked type.
    pub async fn lookup(
        &self,
        name: &str,
        rtype: RecordType,
        timeout: Duration,
        tries: u32,
    ) -> Result<Vec<RData>, String> {
        let Some((id, query)) = query_bytes(name, rtype) else {
            return Err(describe(Failure::Server, rtype, name));
        };
        let mut outcome = Err(Failure::Server);
        for _ in 0..tries.max(1) {
            outcome = match self {
                Resolver::Doh { client, url } => {
                    Resolver::doh(client, url, query.clone(), timeout).await
                }
                Resolver::Udp(addr) => Resolver::udp(*addr, id, query.clone(), timeout).await,
                Resolver::Unconfigured => Err(Failure::Server),
            };
            // A pooled connection the server closed fails at once; Go's transport (Boulder's
            // bdns) notices such closes and dials again, so a network failure is retried too.
            if !matches!(outcome, Err(Failure::Timeout | Failure::Network)) {
                break;
            }
        }
        let bytes = outcome.map_err(|f| describe(f, rtype, name))?;
        let msg = Message::from_vec(&bytes).map_err(|_| describe(Failure::Server, rtype, name))?;
        if msg.metadata.response_code != ResponseCode::NoError {
            return Err(describe(
                Failure::Rcode(msg.metadata.response_code),
                rtype,
                name,
            ));
        }
        Ok(msg
            .answers
            .into_iter()
            .filter(|r| r.record_type() == rtype)
            .map(|r| r.data)
            .collect())
    }
}

/// The addresses of an A or AAAA answer.
pub fn addresses(answers: &[RData]) -> Vec<IpAddr> {
    answers
        .iter()
        .filter_map(|d| match d {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// The strings of a TXT answer, each record's parts joined.
pub fn texts(answers: &[RData]) -> Vec<String> {
    answers
        .iter()
        .filter_map(|d| match d {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect()
}
