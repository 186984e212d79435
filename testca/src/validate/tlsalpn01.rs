//! tls-alpn-01 (RFC 8737 §3) as Boulder's VA checks it (va/tlsalpn.go): TLS ≥ 1.2 to the
//! resolved address with SNI = the name and ALPN `acme-tls/1`, which must be negotiated; the
//! certificate (not chain-verified) must be self-signed, carry the subjectAltName and
//! acmeIdentifier (1.3.6.1.5.5.7.1.31) extensions once each, name exactly the identifier as its
//! only dNSName, and the critical acmeIdentifier must hold the DER OCTET STRING of
//! SHA-256(key authorization).

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use openssl::hash::{hash, MessageDigest};
use openssl::ssl::SslConnector;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use super::{der, Job};
use crate::ca::Ca;
use crate::problem::{Kind, Problem};

const ACME_IDENTIFIER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f];
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

fn oid_text(oid: &[u8]) -> &'static str {
    if oid == ACME_IDENTIFIER {
        "1.3.6.1.5.5.7.1.31"
    } else if oid == SUBJECT_ALT_NAME {
        "2.5.29.17"
    } else {
        "(other)"
    }
}

enum Dial {
    Connect(Problem),
    Failed(Problem),
}

async fn handshake(
    tls: &SslConnector,
    addr: SocketAddr,
    name: &str,
    ca: &Ca,
) -> Result<SslStream<TcpStream>, Dial> {
    let ip = addr.ip();
    let timeout = ca.cfg.validation_timeout;
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => {
            return Err(Dial::Connect(Problem::new(
                Kind::Connection,
                format!("{ip}: Timeout during connect (likely firewall problem)"),
            )))
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(Dial::Connect(Problem::new(
                Kind::Connection,
                format!("{ip}: Connection refused"),
            )))
        }
        Ok(Err(_)) => {
            return Err(Dial::Connect(Problem::new(
                Kind::Connection,
                format!("{ip}: Error getting validation data"),
            )))
        }
        Ok(Ok(tcp)) => tcp,
    };
    let ssl = tls
        .configure()
        .and_then(|c| c.verify_hostname(false).into_ssl(name))
        .map_err(|e| Dial::Failed(Problem::new(Kind::Tls, format!("{ip}: {e}"))))?;
    let mut stream = SslStream::new(ssl, tcp)
        .map_err(|e| Dial::Failed(Problem::new(Kind::Tls, format!("{ip}: {e}"))))?;
    match tokio::time::timeout(timeout, Pin::new(&mut stream).connect()).await {
        Err(_) => Err(Dial::Failed(Problem::new(
            Kind::Connection,
            format!("{ip}: Timeout during read (your server may be slow or overloaded)"),
        ))),
        Ok(Err(e)) => Err(Dial::Failed(Problem::new(
            Kind::Tls,
            format!("{ip}: remote error: tls: {e}"),
        ))),
        Ok(Ok(())) => Ok(stream),
    }
}

pub async fn validate(
    ca: &Ca,
    tls: &SslConnector,
    job: &Job,
    ips: &[IpAddr],
) -> Result<Vec<Value>, Problem> {
    let port = ca.cfg.tlsalpn01_port;
    let mut last = None;
    for ip in ips {
        let addr = SocketAddr::new(*ip, port);
        let stream = match handshake(tls, addr, &job.name, ca).await {
            Ok(stream) => stream,
            Err(Dial::Connect(p)) => {
                last = Some(p);
                continue;
            }
            Err(Dial::Failed(p)) => return Err(p),
        };
        check(&stream, job, addr)?;
        return Ok(vec![json!({
            "hostname": job.name,
            "port": port.to_string(),
            "addressesResolved": ips,
            "addressUsed": ip,
        })]);
    }
    Err(last
        .unwrap_or_else(|| Problem::malformed(format!("No IP addresses found for {:?}", job.name))))
}

fn check(stream: &SslStream<TcpStream>, job: &Job, addr: SocketAddr) -> Result<(), Problem> {
    let ssl = stream.ssl();
    if ssl.selected_alpn_protocol() != Some(b"acme-tls/1") {
        return Err(Problem::unauthorized(
            "Cannot negotiate ALPN protocol \"acme-tls/1\" for tls-alpn-01 challenge",
        ));
    }
    let cert = ssl
        .peer_certificate()
        .ok_or_else(|| Problem::unauthorized("No certs presented for tls-alpn-01 challenge"))?;
    let bad = |msg: String| {
        Problem::unauthorized(format!(
            "Incorrect validation certificate for tls-alpn-01 challenge. Requested {} from {addr}. {msg}",
            job.name
        ))
    };
    let self_signed = cert
        .issuer_name()
        .try_cmp(cert.subject_name())
        .is_ok_and(|o| o.is_eq())
        && cert
            .public_key()
            .and_then(|k| cert.verify(&k))
            .unwrap_or(false);
    if !self_signed {
        return Err(bad("Received certificate which is not self-signed.".into()));
    }
    let der = cert
        .to_der()
        .map_err(|_| bad("Received certificate which could not be read.".into()))?;
    let extensions = der::extensions(&der)
        .ok_or_else(|| bad("Received certificate which could not be read.".into()))?;
    let mut seen: Vec<&[u8]> = Vec::new();
    for ext in &extensions {
        let oid = ext.oid.as_slice();
        if seen.contains(&oid) {
            return Err(bad(format!(
                "Received certificate with unexpected extensions: \"Extension OID {} seen twice\"",
                oid_text(oid)
            )));
        }
        seen.push(oid);
    }
    for required in [ACME_IDENTIFIER, SUBJECT_ALT_NAME] {
        if !seen.contains(&required) {
            return Err(bad(format!(
                "Received certificate with unexpected extensions: \"Required extension OID {} is not present\"",
                oid_text(required)
            )));
        }
    }
    let names: Vec<String> = cert
        .subject_alt_names()
        .into_iter()
        .flatten()
        .map(|g| {
            g.dnsname()
                .map(String::from)
                .or_else(|| g.ipaddress().map(|ip| format!("{ip:?}")))
                .unwrap_or_default()
        })
        .collect();
    let only_name = names.len() == 1 && names[0].eq_ignore_ascii_case(&job.name);
    if !only_name {
        return Err(bad(format!(
            "Received certificate with unexpected identifiers ({:?}): \"wrong number of identifiers\"",
            names.join(", ")
        )));
    }
    let expected = hash(MessageDigest::sha256(), job.key_authorization.as_bytes())
        .map_err(|_| Problem::internal("hashing the key authorization"))?;
    let acme = extensions
        .iter()
        .find(|e| e.oid == ACME_IDENTIFIER)
        .ok_or_else(|| bad("Received certificate with no acmeValidationV1 extension.".into()))?;
    if !acme.critical {
        return Err(bad(
            "Received certificate with acmeValidationV1 extension that is not Critical.".into(),
        ));
    }
    let got = der::octet_string(&acme.value)
        .filter(|v| v.len() == expected.len())
        .ok_or_else(|| {
            bad("Received certificate with malformed acmeValidationV1 extension value.".into())
        })?;
    if got != &expected[..] {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        return Err(bad(format!(
            "Received certificate with acmeValidationV1 extension value {} but expected {}.",
            hex(got),
            hex(&expected)
        )));
    }
    Ok(())
}
