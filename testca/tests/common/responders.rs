//! The lab's servers: DNS answers (over DoH and UDP) from a zone, self-signed certificates,
//! and the tls-alpn-01 acceptor choosing a challenge certificate by SNI.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, HttpResponse};
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, TXT};
use hickory_proto::rr::{RData, Record, RecordType};
use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::hash::{hash, MessageDigest};
use openssl::pkey::{PKey, Private};
use openssl::ssl::{AlpnError, NameType, SniError, SslAcceptor, SslMethod};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509Builder, X509Extension, X509NameBuilder, X509};

use super::client::p256;

/// DNS data the DoH server answers from.
pub struct Zone {
    pub default_a: Mutex<Option<IpAddr>>,
    pub a: Mutex<HashMap<String, Vec<IpAddr>>>,
    pub txt: Mutex<HashMap<String, Vec<String>>>,
    pub queries: AtomicU64,
}

/// The DNS answer to a query message, from the zone.
pub fn answer(zone: &Zone, body: &[u8]) -> Option<Vec<u8>> {
    zone.queries.fetch_add(1, Ordering::Relaxed);
    let query = Message::from_vec(body).ok()?;
    let mut reply = Message::response(query.metadata.id, OpCode::Query);
    reply.metadata.recursion_available = true;
    if let Some(q) = query.queries.first() {
        reply.add_query(q.clone());
        let name = q
            .name()
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        match q.query_type() {
            RecordType::A => {
                let ips = zone.a.lock().unwrap().get(&name).cloned();
                let ips =
                    ips.unwrap_or_else(|| zone.default_a.lock().unwrap().iter().copied().collect());
                for ip in ips {
                    if let IpAddr::V4(v4) = ip {
                        reply.add_answer(Record::from_rdata(q.name().clone(), 0, RData::A(A(v4))));
                    }
                }
            }
            RecordType::TXT => match zone.txt.lock().unwrap().get(&name) {
                Some(values) => {
                    for v in values {
                        reply.add_answer(Record::from_rdata(
                            q.name().clone(),
                            0,
                            RData::TXT(TXT::new(vec![v.clone()])),
                        ));
                    }
                }
                None => reply.metadata.response_code = ResponseCode::NXDomain,
            },
            _ => {}
        }
    }
    reply.to_vec().ok()
}

pub async fn doh(zone: web::Data<Zone>, body: web::Bytes) -> HttpResponse {
    match answer(&zone, &body) {
        Some(reply) => HttpResponse::Ok()
            .content_type("application/dns-message")
            .body(reply),
        None => HttpResponse::BadRequest().finish(),
    }
}

pub fn self_signed(
    names: &[&str],
    ip: Option<IpAddr>,
    ext: Option<X509Extension>,
) -> (X509, PKey<Private>) {
    let key = p256();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", names.first().copied().unwrap_or("lab"))
        .unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    if ip.is_some() {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
    }
    let mut san = SubjectAlternativeName::new();
    for n in names {
        san.dns(n);
    }
    if let Some(ip) = ip {
        san.ip(&ip.to_string());
    }
    let san = san.build(&b.x509v3_context(None, None)).unwrap();
    b.append_extension(san).unwrap();
    if let Some(ext) = ext {
        b.append_extension(ext).unwrap();
    }
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (b.build(), key)
}

/// An RFC 8737 challenge certificate.
pub fn alpn_cert(name: &str, key_authorization: &str, critical: bool) -> (X509, PKey<Private>) {
    let digest = hash(MessageDigest::sha256(), key_authorization.as_bytes()).unwrap();
    let mut value = vec![0x04, 0x20];
    value.extend_from_slice(&digest);
    let oid = Asn1Object::from_str("1.3.6.1.5.5.7.1.31").unwrap();
    let ext = X509Extension::new_from_der(
        &oid,
        critical,
        &Asn1OctetString::new_from_bytes(&value).unwrap(),
    )
    .unwrap();
    self_signed(&[name], None, Some(ext))
}

pub type Certs = Arc<Mutex<HashMap<String, (X509, PKey<Private>)>>>;

pub fn alpn_acceptor(certs: Certs) -> SslAcceptor {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    b.set_alpn_select_callback(|_, offered| {
        openssl::ssl::select_next_proto(b"\x0aacme-tls/1", offered).ok_or(AlpnError::NOACK)
    });
    b.set_servername_callback(move |ssl, _| {
        let name = ssl
            .servername(NameType::HOST_NAME)
            .unwrap_or("")
            .to_ascii_lowercase();
        let found = certs.lock().unwrap().get(&name).cloned();
        let Some((cert, key)) = found else {
            return Err(SniError::ALERT_FATAL);
        };
        ssl.set_certificate(&cert)
            .map_err(|_| SniError::ALERT_FATAL)?;
        ssl.set_private_key(&key)
            .map_err(|_| SniError::ALERT_FATAL)?;
        Ok(())
    });
    b.build()
}
