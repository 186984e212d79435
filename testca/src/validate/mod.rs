//! Challenge validation as Boulder's VA does it (va/va.go DoDCV): the primary perspective
//! first, then, when it passed, `perspectives - 1` remote perspectives at once; all must pass,
//! and a remote failure reads "During secondary validation: ...". Each worker thread has its
//! own clients (awc is not `Send`); what can fail is built once at start in [`Parts`].

mod addr;
mod der;
mod dns01;
mod http01;
mod resolver;
mod tlsalpn01;

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use actix_web::web;
use hickory_proto::rr::RecordType;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use serde_json::Value;

use crate::ca::Ca;
use crate::clock;
use crate::config::Config;
use crate::limits::{LimitName, Mode, Txn};
use crate::mirror::Write;
use crate::model::{Attempt, ChallType};
use crate::problem::{Kind, Problem};
use crate::stats::bump;
use resolver::Resolver;

use addr::usable;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("openssl: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
    #[error("reading doh_ca {path}: {source}")]
    ReadCa {
        path: String,
        source: std::io::Error,
    },
    #[error("doh_url must be an https URL, got {0:?}")]
    DohUrl(String),
}

/// The fallible, shareable half of a worker's validator.
#[derive(Clone)]
pub struct Parts {
    doh: Option<(String, SslConnector)>,
    udp: Option<SocketAddr>,
    tls: SslConnector,
}

impl Parts {
    pub fn new(cfg: &Config) -> Result<Parts, SetupError> {
        let doh = match &cfg.doh_url {
            None => None,
            Some(url) if !url.starts_with("https://") => {
                return Err(SetupError::DohUrl(url.clone()))
            }
            Some(url) => {
                let mut b = SslConnector::builder(SslMethod::tls_client())?;
                let mut store = X509StoreBuilder::new()?;
                if let Some(path) = &cfg.doh_ca {
                    let pem = std::fs::read(path).map_err(|source| SetupError::ReadCa {
                        path: path.display().to_string(),
                        source,
                    })?;
                    for cert in X509::stack_from_pem(&pem)? {
                        store.add_cert(cert)?;
                    }
                }
                b.set_cert_store(store.build());
                b.set_alpn_protos(b"\x02h2")?;
                Some((url.clone(), b.build()))
            }
        };
        let mut tls = SslConnector::builder(SslMethod::tls_client())?;
        tls.set_verify(SslVerifyMode::NONE);
        tls.set_min_proto_version(Some(SslVersion::TLS1_2))?;
        tls.set_alpn_protos(b"\x0aacme-tls/1")?;
        Ok(Parts {
            doh,
            udp: cfg.dns_udp,
            tls: tls.build(),
        })
    }
}

/// One worker's clients.
pub struct Validator {
    resolver: Resolver,
    http: awc::Client,
    tls: SslConnector,
}

impl Validator {
    pub fn new(parts: &Parts, cfg: &Config) -> Validator {
        let resolver = match (&parts.doh, parts.udp) {
            (Some((url, ssl)), _) => Resolver::Doh {
                client: awc::Client::builder()
                    .connector(
                        awc::Connector::new()
                            .openssl(ssl.clone())
                            .timeout(cfg.dns_timeout),
                    )
                    .disable_redirects()
                    .finish(),
                url: url.clone(),
            },
            (None, Some(addr)) => Resolver::Udp(addr),
            (None, None) => Resolver::Unconfigured,
        };
        let http = awc::Client::builder()
            .connector(awc::Connector::new().timeout(cfg.validation_timeout))
            .timeout(cfg.validation_timeout)
            .disable_redirects()
            .finish();
        Validator {
            resolver,
            http,
            tls: parts.tls.clone(),
        }
    }

    /// Boulder `getAddrs`: A and AAAA at once, unusable answers dropped; an error only when
    /// both families give nothing. IPv6 first, then IPv4, as Boulder tries them.
    async fn addresses(&self, ca: &Ca, name: &str) -> Result<Vec<IpAddr>, Problem> {
        let (timeout, tries) = (ca.cfg.dns_timeout, ca.cfg.dns_tries);
        let (a, aaaa) = futures_util::future::join(
            self.resolver.lookup(name, RecordType::A, timeout, tries),
            self.resolver.lookup(name, RecordType::AAAA, timeout, tries),
        )
        .await;
        let keep = |answers: Result<Vec<_>, String>, family: &str| {
            let ips: Vec<IpAddr> = resolver::addresses(&answers?)
                .into_iter()
                .filter(|ip| usable(*ip, &ca.cfg.treat_as_public))
                .collect();
            if ips.is_empty() {
                return Err(format!("no valid {family} records found for {name}"));
            }
            Ok(ips)
        };
        match (keep(aaaa, "AAAA"), keep(a, "A")) {
            (Err(e6), Err(e4)) => Err(Problem::new(Kind::Dns, format!("{e4}; {e6}"))),
            (v6, v4) => Ok(v6
                .unwrap_or_default()
                .into_iter()
                .chain(v4.unwrap_or_default())
                .collect()),
        }
    }
}

/// What to validate.
pub struct Job {
    pub authz_id: u64,
    pub reg_id: u64,
    pub kind: ChallType,
    /// Without "*.".
    pub name: String,
    /// As stored (with "*." for wildcards).
    pub ident: String,
    pub token: String,
    pub key_authorization: String,
}

/// The first address of each family, IPv6 first: Boulder's fallback order.
fn targets(ips: &[IpAddr]) -> Vec<IpAddr> {
    let v6 = ips.iter().find(|ip| ip.is_ipv6());
    let v4 = ips.iter().find(|ip| ip.is_ipv4());
    v6.into_iter().chain(v4).copied().collect()
}

async fn one(ca: &Ca, v: &Validator, job: &Job) -> Result<Vec<Value>, Problem> {
    let bound = ca.cfg.validation_timeout * 3 + ca.cfg.dns_timeout * (2 * ca.cfg.dns_tries.max(1));
    let work = async {
        match job.kind {
            ChallType::Dns01 => dns01::validate(ca, &v.resolver, job).await,
            ChallType::Http01 => {
                let ips = targets(&v.addresses(ca, &job.name).await?);
                http01::validate(ca, &v.http, job, &ips).await
            }
            ChallType::TlsAlpn01 => {
                let ips = targets(&v.addresses(ca, &job.name).await?);
                tlsalpn01::validate(ca, &v.tls, job, &ips).await
            }
        }
    };
    tokio::time::timeout(bound, work).await.unwrap_or_else(|_| {
        Err(Problem::new(
            Kind::Connection,
            "Timeout after connect (your server may be slow or overloaded)",
        ))
    })
}

async fn all_perspectives(ca: &Ca, v: &Validator, job: &Job) -> Result<Vec<Value>, Problem> {
    let records = one(ca, v, job).await?;
    let remote = ca.cfg.perspectives.saturating_sub(1);
    if remote > 0 {
        let results = futures_util::future::join_all((0..remote).map(|_| one(ca, v, job))).await;
        if let Some(Err(mut p)) = results.into_iter().find(Result::is_err) {
            p.detail = format!("During secondary validation: {}", p.detail);
            return Err(p);
        }
    }
    Ok(records)
}

/// Validates, then records the outcome on the authorization (Boulder RA PerformValidation's
/// background half): valid for `authz_valid_lifetime`, or invalid with the problem.
pub async fn run(ca: web::Data<Ca>, v: Rc<Validator>, job: Job) {
    let started = clock::now();
    let outcome = all_perspectives(&ca, &v, &job).await;
    let failed = outcome.is_err();
    let (records, error) = match outcome {
        Ok(records) => (records, None),
        Err(p) => (Vec::new(), Some(p)),
    };
    let attempt = Attempt {
        kind: job.kind,
        at: started,
        error,
        records,
    };
    let valid_until = clock::now() + clock::secs(ca.cfg.authz_valid_lifetime);
    let Some(done) = ca
        .store
        .finish_validation(job.authz_id, attempt, valid_until)
    else {
        return;
    };
    if failed {
        bump(&ca.stats.validations_failed);
        let key = format!("{}:{}", job.reg_id, job.ident);
        let _ = ca.limits.batch(&[Txn::new(
            LimitName::FailedAuthorizationsPerDomainPerAccount,
            key,
            Mode::SpendOnly,
        )]);
    } else {
        bump(&ca.stats.validations_ok);
    }
    let attempt = done.attempt.as_ref();
    ca.mirror(Write::AuthzResult {
        id: done.id,
        status: done.status.code(),
        expires: done.expires,
        attempted: job.kind.code(),
        attempted_at: started,
        error: attempt.and_then(|a| a.error.as_ref()).map(|e| {
            serde_json::json!({"type": e.kind.name(), "detail": e.detail, "status": e.status})
                .to_string()
        }),
        records: serde_json::to_string(&attempt.map(|a| a.records.clone()).unwrap_or_default())
            .unwrap_or_default(),
    });
}
