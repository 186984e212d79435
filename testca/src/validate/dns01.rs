//! dns-01 (RFC 8555 §8.4) as Boulder's VA checks it (va/dns.go validateDNS): the TXT records
//! at `_acme-challenge.<name>` (a wildcard's base name) must include
//! base64url(SHA-256(key authorization)); DNS errors are `dns`, a missing or wrong record is
//! `unauthorized`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hickory_proto::rr::RecordType;
use openssl::hash::{hash, MessageDigest};
use serde_json::{json, Value};

use super::resolver::{texts, Resolver};
use super::Job;
use crate::ca::Ca;
use crate::problem::{Kind, Problem};

pub async fn validate(ca: &Ca, resolver: &Resolver, job: &Job) -> Result<Vec<Value>, Problem> {
    let digest = hash(MessageDigest::sha256(), job.key_authorization.as_bytes())
        .map_err(|_| Problem::internal("hashing the key authorization"))?;
    let expected = URL_SAFE_NO_PAD.encode(digest);
    let at = format!("_acme-challenge.{}", job.name);
    let answers = resolver
        .lookup(&at, RecordType::TXT, ca.cfg.dns_timeout, ca.cfg.dns_tries)
        .await
        .map_err(|detail| Problem::new(Kind::Dns, detail))?;
    let found = texts(&answers);
    if found.is_empty() {
        return Err(Problem::unauthorized(format!(
            "No TXT record found at {at}"
        )));
    }
    if found.contains(&expected) {
        return Ok(vec![json!({"hostname": job.name})]);
    }
    let mut first = found[0].clone();
    if first.len() > 100 {
        first = format!("{}...", first.chars().take(100).collect::<String>());
    }
    let more = if found.len() > 1 {
        format!(" (and {} more)", found.len() - 1)
    } else {
        String::new()
    };
    Err(Problem::unauthorized(format!(
        "Incorrect TXT record {first:?}{more} found at {at}"
    )))
}
