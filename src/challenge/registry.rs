//! The Registry actor: the one owner of challenge state, for all three challenge types.
//! Chains publish a response before answering a challenge and withdraw it when the
//! authorization settles; entries that are never withdrawn (a chain that died) expire after a
//! TTL, and the number of entries is bounded, so a CA that never validates cannot make the tool
//! grow without limit.
//!
//! With a shared store (`challenge.registry = "redis://…"`, [`super::redis_store`]) every
//! entry is also written to Redis, and what the Registry does not hold itself is looked up
//! there: any shard answers any shard's challenges. The local entries stay the first answer,
//! and the only one while Redis is out.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
// tokio's clock, so tests can pause it and let a TTL pass at once.
use actix_rt::time::Instant;
use openssl::error::ErrorStack;
use openssl::hash::{hash, MessageDigest};

use super::alpn_cert::{self, AlpnCert};
use super::redis_store::{Kind, RedisStore, SharedStats};
use crate::acme::b64;

/// A handler's answer: at once from the local entries, or after asking the shared store.
type Reply<T> = actix::Response<T>;

/// What a chain asks the challenge server to answer.
#[derive(Debug, Clone)]
pub enum Response {
    /// `GET /.well-known/acme-challenge/{token}` answers the key authorization (RFC 8555 §8.3).
    Http01 {
        token: String,
        key_authorization: String,
    },
    /// A TLS handshake with SNI `name` and ALPN `acme-tls/1` presents a certificate holding
    /// the key authorization's digest (RFC 8737 §3).
    TlsAlpn01 {
        name: String,
        key_authorization: String,
    },
    /// `_acme-challenge.<name>` has a TXT record with the key authorization's digest (RFC 8555
    /// §8.4). `name` is the authorization's identifier, without a wildcard's `*.`.
    Dns01 {
        name: String,
        key_authorization: String,
    },
}

/// Names what a [`Publish`] put in place, to withdraw exactly that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ticket {
    Http01 { token: String },
    TlsAlpn01 { name: String },
    Dns01 { name: String, value: String },
}

/// Tells a chain that the CA asked for one of its published responses (an http-01 GET, a TXT
/// query, a tls-alpn-01 handshake naming it): the moment to ask the CA for its verdict, rather
/// than polling before the CA even looked. Marks after the first are no-ops.
#[derive(Debug, Clone, Default)]
pub struct Served(Arc<tokio::sync::Notify>);

impl Served {
    fn mark(&self) {
        self.0.notify_one();
    }

    /// Returns once the response was served, at once if it already was.
    pub async fn wait(&self) {
        self.0.notified().await;
    }
}

/// Why a response could not be published.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("challenge registry full ({max} entries): raise challenge.max_entries, or look for a CA that stopped validating")]
    Full { max: usize },
    /// OpenSSL failed making a certificate or a digest.
    #[error("{what}: {source}")]
    Openssl { what: String, source: ErrorStack },
}

/// DNS names compare case-insensitively (RFC 4343) and may arrive fully qualified.
pub fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The TXT record name of dns-01 for an identifier (RFC 8555 §8.4); a wildcard's `*.` is not
/// part of it (RFC 8555 §7.1.3).
pub fn txt_name(identifier: &str) -> String {
    let name = normalise(identifier);
    format!(
        "_acme-challenge.{}",
        name.strip_prefix("*.").unwrap_or(&name)
    )
}

/// The TXT value of dns-01: base64url(SHA-256(key authorization)) (RFC 8555 §8.4).
pub fn txt_value(key_authorization: &str) -> Result<String, ErrorStack> {
    Ok(b64(hash(
        MessageDigest::sha256(),
        key_authorization.as_bytes(),
    )?))
}

#[derive(Debug)]
struct Timed<T> {
    value: T,
    expires: Instant,
    served: Option<Served>,
}

impl<T> Timed<T> {
    fn live(&self, now: Instant) -> bool {
        self.expires > now
    }

    /// The value, if live, noting that it was served.
    fn serve(&self, now: Instant) -> Option<&T> {
        if !self.live(now) {
            return None;
        }
        if let Some(served) = &self.served {
            served.mark();
        }
        Some(&self.value)
    }
}

/// A tls-alpn-01 certificate, and the key authorization it proves (to withdraw it from the
/// shared store only while it is ours).
#[derive(Debug)]
struct AlpnEntry {
    cert: Arc<AlpnCert>,
    key_authorization: String,
}

/// The tls-alpn-01 certificates by SNI name, for the TLS listener.
///
/// A TLS handshake callback is synchronous, so it cannot wait for an actor's answer. Instead of
/// copying a snapshot of all certificates at every change (O(n) per challenge), the Registry
/// keeps this one map up to date under a lock: it is the only writer (the write methods are
/// private to this module), the listener only reads, and every read checks the TTL itself, so
/// the map never serves more than the Registry holds.
#[derive(Debug, Clone, Default)]
pub struct AlpnCerts(Arc<RwLock<HashMap<String, Timed<AlpnEntry>>>>);

impl AlpnCerts {
    /// The certificate for the SNI `name`, if a live tls-alpn-01 challenge is published for it.
    pub fn get(&self, name: &str) -> Option<Arc<AlpnCert>> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(&normalise(name))?
            .serve(Instant::now())
            .map(|e| e.cert.clone())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Timed<AlpnEntry>>> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Responses of every type, by the name or token the CA asks for.
#[derive(Debug)]
pub struct Registry {
    /// token → key authorization
    http01: HashMap<String, Timed<String>>,
    /// `_acme-challenge.<name>` → TXT values (a wildcard and its base name share one name)
    dns01: HashMap<String, Vec<Timed<String>>>,
    dns01_values: usize,
    alpn: AlpnCerts,
    ttl: Duration,
    max_entries: usize,
    /// Where every shard's entries meet, when shared.
    shared: Option<RedisStore>,
}

impl Registry {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Registry {
            http01: HashMap::new(),
            dns01: HashMap::new(),
            dns01_values: 0,
            alpn: AlpnCerts::default(),
            ttl,
            max_entries,
            shared: None,
        }
    }

    /// This Registry, also publishing to and looking up in `store`.
    pub fn shared(mut self, store: RedisStore) -> Self {
        self.shared = Some(store);
        self
    }

    /// The shared store's counters, when there is one.
    pub fn shared_stats(&self) -> Option<SharedStats> {
        self.shared.as_ref().map(RedisStore::stats)
    }

    /// The tls-alpn-01 certificates this Registry keeps, for the TLS listener.
    pub fn alpn_certs(&self) -> AlpnCerts {
        self.alpn.clone()
    }

    fn len(&self) -> usize {
        self.http01.len() + self.alpn.len() + self.dns01_values
    }

    fn sweep(&mut self, now: Instant) {
        self.http01.retain(|_, e| e.live(now));
        self.alpn.write().retain(|_, e| e.live(now));
        for values in self.dns01.values_mut() {
            values.retain(|e| e.live(now));
        }
        self.dns01.retain(|_, values| !values.is_empty());
        self.dns01_values = self.dns01.values().map(Vec::len).sum();
    }

    fn publish(
        &mut self,
        response: Response,
        served: Option<Served>,
    ) -> Result<Ticket, RegistryError> {
        let now = Instant::now();
        if self.len() >= self.max_entries {
            self.sweep(now);
            if self.len() >= self.max_entries {
                return Err(RegistryError::Full {
                    max: self.max_entries,
                });
            }
        }
        let expires = now + self.ttl;
        Ok(match response {
            Response::Http01 {
                token,
                key_authorization,
            } => {
                self.http01.insert(
                    token.clone(),
                    Timed {
                        value: key_authorization,
                        expires,
                        served,
                    },
                );
                Ticket::Http01 { token }
            }
            Response::TlsAlpn01 {
                name,
                key_authorization,
            } => {
                let name = normalise(&name);
                let cert = alpn_cert::build(&name, &key_authorization).map_err(|source| {
                    RegistryError::Openssl {
                        what: format!("making the tls-alpn-01 certificate for {name}"),
                        source,
                    }
                })?;
                let entry = AlpnEntry {
                    cert: Arc::new(cert),
                    key_authorization,
                };
                self.alpn.write().insert(
                    name.clone(),
                    Timed {
                        value: entry,
                        expires,
                        served,
                    },
                );
                Ticket::TlsAlpn01 { name }
            }
            Response::Dns01 {
                name,
                key_authorization,
            } => {
                let name = txt_name(&name);
                let value =
                    txt_value(&key_authorization).map_err(|source| RegistryError::Openssl {
                        what: format!("hashing the dns-01 key authorization for {name}"),
                        source,
                    })?;
                self.dns01.entry(name.clone()).or_default().push(Timed {
                    value: value.clone(),
                    expires,
                    served,
                });
                self.dns01_values += 1;
                Ticket::Dns01 { name, value }
            }
        })
    }

    /// Takes down what `ticket` names; the key authorization it held, for http-01 and
    /// tls-alpn-01 (the shared store deletes only that value).
    fn withdraw(&mut self, ticket: &Ticket) -> Option<String> {
        match ticket {
            Ticket::Http01 { token } => self.http01.remove(token).map(|e| e.value),
            Ticket::TlsAlpn01 { name } => self
                .alpn
                .write()
                .remove(name)
                .map(|e| e.value.key_authorization),
            Ticket::Dns01 { name, value } => {
                if let Some(values) = self.dns01.get_mut(name) {
                    if let Some(i) = values.iter().position(|e| e.value == *value) {
                        values.swap_remove(i);
                        self.dns01_values -= 1;
                    }
                    if values.is_empty() {
                        self.dns01.remove(name);
                    }
                }
                None
            }
        }
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let every = (self.ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        ctx.run_interval(every, |registry, _| registry.sweep(Instant::now()));
    }
}

/// Put a response in place until withdrawn or expired; refused when the Registry is full.
#[derive(Debug, Message)]
#[rtype(result = "Result<Ticket, RegistryError>")]
pub struct Publish {
    pub response: Response,
    /// Marked when this Registry serves the response.
    pub served: Option<Served>,
}

impl Publish {
    /// Publishes `response`; nobody is told when it is served.
    pub fn new(response: Response) -> Self {
        Publish {
            response,
            served: None,
        }
    }
}

/// Take down what a [`Publish`] put in place.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Withdraw(pub Ticket);

/// The http-01 answer for `token`, if published and not expired.
#[derive(Debug, Message)]
#[rtype(result = "Option<String>")]
pub struct Lookup {
    pub token: String,
}

/// The live dns-01 TXT values of a record name (`_acme-challenge.…`, any case).
#[derive(Debug, Message)]
#[rtype(result = "Vec<String>")]
pub struct LookupTxt {
    pub name: String,
}

/// The tls-alpn-01 certificate for the SNI `name`: this Registry's own, or, when shared, one
/// built from the key authorization another shard published. The TLS listener asks before a
/// handshake, as its SNI callback cannot wait.
#[derive(Debug, Message)]
#[rtype(result = "Option<Arc<AlpnCert>>")]
pub struct LookupAlpn {
    pub name: String,
}

/// Number of live entries of all types (each TXT value counts once).
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct Size;

impl Handler<Publish> for Registry {
    type Result = Reply<Result<Ticket, RegistryError>>;

    /// Answers once the entry is in place here and, when shared, in Redis too (or Redis
    /// failed): the CA may be told to validate as soon as this returns.
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) -> Self::Result {
        let value = match (&self.shared, &msg.response) {
            (
                Some(_),
                Response::Http01 {
                    key_authorization, ..
                }
                | Response::TlsAlpn01 {
                    key_authorization, ..
                },
            ) => Some(key_authorization.clone()),
            _ => None,
        };
        let ticket = match self.publish(msg.response, msg.served) {
            Ok(ticket) => ticket,
            Err(e) => return Reply::reply(Err(e)),
        };
        let Some(store) = self.shared.clone() else {
            return Reply::reply(Ok(ticket));
        };
        let ttl = self.ttl;
        Reply::fut(async move {
            match (&ticket, value) {
                (Ticket::Http01 { token }, Some(v)) => {
                    store.put(Kind::Http01, token, &v, ttl).await
                }
                (Ticket::TlsAlpn01 { name }, Some(v)) => store.put(Kind::Alpn, name, &v, ttl).await,
                (Ticket::Dns01 { name, value }, _) => store.add_txt(name, value, ttl).await,
                _ => {}
            }
            Ok(ticket)
        })
    }
}

impl Handler<Withdraw> for Registry {
    type Result = Reply<()>;

    fn handle(&mut self, msg: Withdraw, _: &mut Context<Self>) -> Self::Result {
        let value = self.withdraw(&msg.0);
        let Some(store) = self.shared.clone() else {
            return Reply::reply(());
        };
        Reply::fut(async move {
            match (msg.0, value) {
                (Ticket::Http01 { token }, Some(v)) => store.remove(Kind::Http01, &token, &v).await,
                (Ticket::TlsAlpn01 { name }, Some(v)) => store.remove(Kind::Alpn, &name, &v).await,
                (Ticket::Dns01 { name, value }, _) => store.remove_txt(&name, &value).await,
                _ => {}
            }
        })
    }
}

impl Handler<Lookup> for Registry {
    type Result = Reply<Option<String>>;

    fn handle(&mut self, msg: Lookup, _: &mut Context<Self>) -> Self::Result {
        let local = self
            .http01
            .get(&msg.token)
            .and_then(|e| e.serve(Instant::now()))
            .cloned();
        match (local, self.shared.clone()) {
            (None, Some(store)) => Reply::fut(async move {
                let found = store.get(Kind::Http01, &msg.token).await;
                if found.is_some() {
                    store.count_shared_answer();
                }
                found
            }),
            (local, _) => Reply::reply(local),
        }
    }
}

impl Handler<LookupTxt> for Registry {
    type Result = Reply<Vec<String>>;

    fn handle(&mut self, msg: LookupTxt, _: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        let name = normalise(&msg.name);
        let mut values: Vec<String> = self
            .dns01
            .get(&name)
            .map(|values| {
                values
                    .iter()
                    .filter_map(|e| e.serve(now).cloned())
                    .collect()
            })
            .unwrap_or_default();
        let Some(store) = self.shared.clone() else {
            return Reply::reply(values);
        };
        Reply::fut(async move {
            let mine = values.len();
            for value in store.txt(&name).await {
                if !values.contains(&value) {
                    values.push(value);
                }
            }
            if values.len() > mine {
                store.count_shared_answer();
            }
            values
        })
    }
}

impl Handler<LookupAlpn> for Registry {
    type Result = Reply<Option<Arc<AlpnCert>>>;

    fn handle(&mut self, msg: LookupAlpn, _: &mut Context<Self>) -> Self::Result {
        let name = normalise(&msg.name);
        let (None, Some(store)) = (self.alpn.get(&name), self.shared.clone()) else {
            return Reply::reply(self.alpn.get(&name));
        };
        Reply::fut(async move {
            let key_authorization = store.get(Kind::Alpn, &name).await?;
            match alpn_cert::build(&name, &key_authorization) {
                Ok(cert) => {
                    store.count_shared_answer();
                    Some(Arc::new(cert))
                }
                Err(e) => {
                    log::error!("tls-alpn-01: making the certificate for {name}: {e}");
                    None
                }
            }
        })
    }
}

impl Handler<Size> for Registry {
    type Result = usize;

    fn handle(&mut self, _: Size, _: &mut Context<Self>) -> usize {
        self.len()
    }
}

#[cfg(test)]
mod tests;
