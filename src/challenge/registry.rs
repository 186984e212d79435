//! The Registry actor: the one owner of challenge state, for all three challenge types.
//! Chains publish a response before answering a challenge and withdraw it when the
//! authorization settles; entries that are never withdrawn (a chain that died) expire after a
//! TTL, and the number of entries is bounded, so a CA that never validates cannot make the tool
//! grow without limit.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::prelude::*;
use openssl::error::ErrorStack;
use openssl::hash::{hash, MessageDigest};

use super::alpn_cert::{self, AlpnCert};
use crate::acme::b64;

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
}

impl<T> Timed<T> {
    fn live(&self, now: Instant) -> bool {
        self.expires > now
    }
}

/// The tls-alpn-01 certificates by SNI name, for the TLS listener.
///
/// A TLS handshake callback is synchronous, so it cannot wait for an actor's answer. Instead of
/// copying a snapshot of all certificates at every change (O(n) per challenge), the Registry
/// keeps this one map up to date under a lock: it is the only writer (the write methods are
/// private to this module), the listener only reads, and every read checks the TTL itself, so
/// the map never serves more than the Registry holds.
#[derive(Debug, Clone, Default)]
pub struct AlpnCerts(Arc<RwLock<HashMap<String, Timed<Arc<AlpnCert>>>>>);

impl AlpnCerts {
    /// The certificate for the SNI `name`, if a live tls-alpn-01 challenge is published for it.
    pub fn get(&self, name: &str) -> Option<Arc<AlpnCert>> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(&normalise(name))
            .filter(|e| e.live(Instant::now()))
            .map(|e| e.value.clone())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Timed<Arc<AlpnCert>>>> {
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
        }
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

    fn publish(&mut self, response: Response) -> Result<Ticket, RegistryError> {
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
        let timed = |value| Timed { value, expires };
        Ok(match response {
            Response::Http01 {
                token,
                key_authorization,
            } => {
                self.http01.insert(token.clone(), timed(key_authorization));
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
                self.alpn.write().insert(
                    name.clone(),
                    Timed {
                        value: Arc::new(cert),
                        expires,
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
                self.dns01
                    .entry(name.clone())
                    .or_default()
                    .push(timed(value.clone()));
                self.dns01_values += 1;
                Ticket::Dns01 { name, value }
            }
        })
    }

    fn withdraw(&mut self, ticket: Ticket) {
        match ticket {
            Ticket::Http01 { token } => {
                self.http01.remove(&token);
            }
            Ticket::TlsAlpn01 { name } => {
                self.alpn.write().remove(&name);
            }
            Ticket::Dns01 { name, value } => {
                if let Some(values) = self.dns01.get_mut(&name) {
                    if let Some(i) = values.iter().position(|e| e.value == value) {
                        values.swap_remove(i);
                        self.dns01_values -= 1;
                    }
                    if values.is_empty() {
                        self.dns01.remove(&name);
                    }
                }
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
pub struct Publish(pub Response);

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

/// Number of live entries of all types (each TXT value counts once).
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct Size;

impl Handler<Publish> for Registry {
    type Result = Result<Ticket, RegistryError>;

    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) -> Self::Result {
        self.publish(msg.0)
    }
}

impl Handler<Withdraw> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Withdraw, _: &mut Context<Self>) {
        self.withdraw(msg.0);
    }
}

impl Handler<Lookup> for Registry {
    type Result = Option<String>;

    fn handle(&mut self, msg: Lookup, _: &mut Context<Self>) -> Option<String> {
        self.http01
            .get(&msg.token)
            .filter(|e| e.live(Instant::now()))
            .map(|e| e.value.clone())
    }
}

impl Handler<LookupTxt> for Registry {
    type Result = Vec<String>;

    fn handle(&mut self, msg: LookupTxt, _: &mut Context<Self>) -> Vec<String> {
        let now = Instant::now();
        self.dns01
            .get(&normalise(&msg.name))
            .map(|values| {
                values
                    .iter()
                    .filter(|e| e.live(now))
                    .map(|e| e.value.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Handler<Size> for Registry {
    type Result = usize;

    fn handle(&mut self, _: Size, _: &mut Context<Self>) -> usize {
        self.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http01(token: &str, value: &str) -> Publish {
        Publish(Response::Http01 {
            token: token.into(),
            key_authorization: value.into(),
        })
    }

    fn dns01(name: &str, value: &str) -> Publish {
        Publish(Response::Dns01 {
            name: name.into(),
            key_authorization: value.into(),
        })
    }

    fn tlsalpn01(name: &str, value: &str) -> Publish {
        Publish(Response::TlsAlpn01 {
            name: name.into(),
            key_authorization: value.into(),
        })
    }

    fn lookup(token: &str) -> Lookup {
        Lookup {
            token: token.into(),
        }
    }

    fn txt(name: &str) -> LookupTxt {
        LookupTxt { name: name.into() }
    }

    #[actix_rt::test]
    async fn http01_publish_lookup_withdraw() {
        let registry = Registry::new(Duration::from_secs(60), 100).start();
        let ticket = registry.send(http01("t1", "t1.thumb")).await.unwrap();
        assert_eq!(
            registry.send(lookup("t1")).await.unwrap().as_deref(),
            Some("t1.thumb")
        );
        assert_eq!(registry.send(lookup("t2")).await.unwrap(), None);
        registry.send(Withdraw(ticket.unwrap())).await.unwrap();
        assert_eq!(registry.send(lookup("t1")).await.unwrap(), None);
        assert_eq!(registry.send(Size).await.unwrap(), 0);
    }

    #[actix_rt::test]
    async fn dns01_wildcard_and_base_share_one_name_with_two_values() {
        let registry = Registry::new(Duration::from_secs(60), 100).start();
        let base = registry
            .send(dns01("X.wile.test", "a.thumb"))
            .await
            .unwrap()
            .unwrap();
        let wildcard = registry
            .send(dns01("*.x.wile.test", "b.thumb"))
            .await
            .unwrap()
            .unwrap();
        let mut values = registry
            .send(txt("_ACME-challenge.x.Wile.test."))
            .await
            .unwrap();
        values.sort();
        let mut expected = vec![txt_value("a.thumb").unwrap(), txt_value("b.thumb").unwrap()];
        expected.sort();
        assert_eq!(values, expected);
        assert_eq!(values[0].len(), 43, "base64url of 32 bytes, unpadded");
        assert_eq!(registry.send(Size).await.unwrap(), 2);

        registry.send(Withdraw(wildcard)).await.unwrap();
        assert_eq!(
            registry
                .send(txt("_acme-challenge.x.wile.test"))
                .await
                .unwrap(),
            vec![txt_value("a.thumb").unwrap()]
        );
        registry.send(Withdraw(base)).await.unwrap();
        assert!(registry
            .send(txt("_acme-challenge.x.wile.test"))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(registry.send(Size).await.unwrap(), 0);
    }

    #[actix_rt::test]
    async fn tlsalpn01_certificates_appear_and_go_with_the_challenge() {
        let registry = Registry::new(Duration::from_secs(60), 100);
        let certs = registry.alpn_certs();
        let registry = registry.start();
        let ticket = registry
            .send(tlsalpn01("Abc.wile.test", "tok.thumb"))
            .await
            .unwrap()
            .unwrap();
        let cert = certs.get("abc.WILE.test").expect("published");
        let san = cert.cert.subject_alt_names().unwrap();
        assert_eq!(san.get(0).unwrap().dnsname(), Some("abc.wile.test"));
        assert!(certs.get("other.wile.test").is_none());
        assert_eq!(registry.send(Size).await.unwrap(), 1);
        registry.send(Withdraw(ticket)).await.unwrap();
        assert!(certs.get("abc.wile.test").is_none());
        assert_eq!(registry.send(Size).await.unwrap(), 0);
    }

    #[actix_rt::test]
    async fn refuses_when_full_until_an_entry_goes() {
        let registry = Registry::new(Duration::from_secs(60), 3).start();
        let first = registry.send(http01("t1", "v")).await.unwrap().unwrap();
        registry.send(dns01("a.test", "v")).await.unwrap().unwrap();
        registry
            .send(tlsalpn01("b.test", "v"))
            .await
            .unwrap()
            .unwrap();
        let err = registry.send(http01("t4", "v")).await.unwrap().unwrap_err();
        assert!(matches!(err, RegistryError::Full { max: 3 }), "{err:?}");
        assert!(err.to_string().contains("challenge.max_entries"), "{err}");
        let err = registry.send(dns01("c.test", "v")).await.unwrap();
        assert!(err.is_err(), "every type counts against the bound");
        assert_eq!(registry.send(lookup("t4")).await.unwrap(), None);

        registry.send(Withdraw(first)).await.unwrap();
        assert!(registry.send(http01("t4", "v")).await.unwrap().is_ok());
        assert_eq!(registry.send(Size).await.unwrap(), 3);
    }

    #[actix_rt::test]
    async fn entries_of_every_type_expire_after_ttl() {
        let registry = Registry::new(Duration::from_millis(40), 3);
        let certs = registry.alpn_certs();
        let registry = registry.start();
        registry.send(http01("t", "v")).await.unwrap().unwrap();
        registry.send(dns01("a.test", "v")).await.unwrap().unwrap();
        registry
            .send(tlsalpn01("b.test", "v"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(registry.send(Size).await.unwrap(), 3);
        actix_rt::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(registry.send(lookup("t")).await.unwrap(), None, "expired");
        assert!(registry
            .send(txt("_acme-challenge.a.test"))
            .await
            .unwrap()
            .is_empty());
        assert!(certs.get("b.test").is_none());
        actix_rt::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(registry.send(Size).await.unwrap(), 0, "swept");
    }

    #[actix_rt::test]
    async fn a_full_registry_frees_expired_entries_before_refusing() {
        // A TTL long enough that the periodic sweep (every TTL/4) has not run yet.
        let mut registry = Registry::new(Duration::from_millis(200), 1);
        registry.publish(http01("t1", "v").0).unwrap();
        assert!(matches!(
            registry.publish(http01("t2", "v").0),
            Err(RegistryError::Full { .. })
        ));
        std::thread::sleep(Duration::from_millis(220));
        assert_eq!(registry.len(), 1, "not swept yet");
        registry.publish(http01("t2", "v").0).unwrap();
        assert_eq!(registry.len(), 1);
    }

    #[test]
    fn txt_names_drop_the_wildcard_and_ignore_case() {
        assert_eq!(txt_name("*.X.Wile.Test."), "_acme-challenge.x.wile.test");
        assert_eq!(txt_name("a.b"), "_acme-challenge.a.b");
    }
}
