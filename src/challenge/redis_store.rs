//! The Registry's shared half (`challenge.registry = "redis://…"`): shards running behind one
//! address publish their challenge responses to one Redis, so the CA's validator may reach any
//! shard and still find the answer. The Registry keeps its own entries too, and asks Redis
//! only for what it does not hold itself.
//!
//! Keys (all under `wec:`, each living as long as the Registry's TTL):
//! - `wec:http01:<token>` → the key authorization (`SET … PX ttl`);
//! - `wec:alpn:<name>` → the key authorization: each shard builds the certificate itself;
//! - `wec:dns01:<_acme-challenge.name>` → a sorted set of TXT values scored by their expiry
//!   (Unix ms), so every value expires on its own, however often the name is published (the
//!   key itself expires with its newest value). Scores use the publisher's clock: shards are
//!   assumed in sync, as `--start-at` assumes.
//!
//! Withdrawing deletes only what is still ours: a compare-and-delete of the value for http-01
//! and tls-alpn-01, `ZREM` of our own value for dns-01.
//!
//! Redis must never stall validation: every call is bounded by `challenge.registry_timeout`;
//! a call that fails or times out starts an *outage*, logged once and counted, which lasts
//! until a call succeeds. The shard's own entries answer throughout. After
//! [`SKIP_AFTER`] failures in a row, lookups (the CA's validation waiting) stop asking Redis
//! and answer from the shard's own entries at once, one lookup a second asking again;
//! publishes and withdrawals always try (within the timeout): an entry missing from Redis
//! fails another shard's validation, and a lone slow call must not make the shard blind.

#![warn(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Semaphore;

use super::redis_url::RedisUrl;
use super::resp::{command, Command, Connection, Reply, RespError};
use crate::report::summary::RegistrySummary;

/// Connections open at once; more calls wait for one (within their timeout).
const MAX_CONNECTIONS: usize = 16;

/// Failures in a row after which lookups stop asking Redis.
pub const SKIP_AFTER: u32 = 3;

/// How often a lookup asks Redis again once lookups stopped asking.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long the first connection at start may take (a name to resolve, a cold Redis).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The most TXT values read back for one name; one name has one or two (a name and its
/// wildcard) while its order is validated.
pub const MAX_TXT_VALUES: usize = 16;

/// The largest value stored or read back; a key authorization is under 200 bytes.
pub const MAX_VALUE: usize = 1024;

/// The longest token or name put in a key.
const MAX_ID: usize = 255;

/// Sets the TXT value ARGV[1] to expire at ARGV[2] (ms) in the set KEYS[1], drops values
/// expired before ARGV[3] (now), and keeps the key at least ARGV[4] ms.
const ADD_TXT: &[u8] = b"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3]) \
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) \
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end \
return 1";

/// Deletes KEYS[1] only if it still holds ARGV[1].
const DELETE_IF: &[u8] = b"if redis.call('GET', KEYS[1]) == ARGV[1] then \
return redis.call('DEL', KEYS[1]) else return 0 end";

/// What a shared key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// By token: the http-01 key authorization.
    Http01,
    /// By name: the tls-alpn-01 key authorization.
    Alpn,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Http01 => "wec:http01:",
            Kind::Alpn => "wec:alpn:",
        }
    }
}

/// Why the store could not start.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Refused, reset, a name that does not resolve, or AUTH/SELECT refused.
    #[error("challenge.registry: Redis at {url}: {source}")]
    Unreachable {
        /// The URL, its password masked.
        url: String,
        /// What went wrong.
        source: RespError,
    },
    /// No answer in time.
    #[error("challenge.registry: Redis at {url} did not answer within {secs} s")]
    Timeout {
        /// The URL, its password masked.
        url: String,
        /// The time given.
        secs: u64,
    },
    /// Something that is not Redis answered.
    #[error("challenge.registry: Redis at {url} answered PING with {reply:?}")]
    Ping {
        /// The URL, its password masked.
        url: String,
        /// What it answered.
        reply: Reply,
    },
}

/// Calls made and what became of them (for the run's summary).
#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    skipped: AtomicU64,
    outages: AtomicU64,
    shared_answers: AtomicU64,
}

/// What the store did so far, readable while it runs.
#[derive(Debug, Clone)]
pub struct SharedStats {
    backend: String,
    counters: Arc<Counters>,
}

impl SharedStats {
    /// The counts so far, for the run's summary and report.
    pub fn summary(&self) -> RegistrySummary {
        let c = &self.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RegistrySummary {
            backend: self.backend.clone(),
            calls: n(&c.calls),
            failed: n(&c.failed),
            timed_out: n(&c.timed_out),
            skipped: n(&c.skipped),
            outages: n(&c.outages),
            shared_answers: n(&c.shared_answers),
        }
    }
}

/// Whether Redis is answering, and when lookups ask it again if not.
#[derive(Debug, Default)]
struct Health {
    down_since: Option<Instant>,
    failures_in_a_row: u32,
    retry_at: Option<Instant>,
}

/// Whether a call may be left out during an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// A validation waits for it: left out once Redis is known to be out.
    Lookup,
    /// A publish or a withdrawal: always tried.
    Write,
}

#[derive(Debug)]
struct Inner {
    url: RedisUrl,
    timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    health: Mutex<Health>,
    counters: Arc<Counters>,
}

/// The shared registry's client. Clones share connections and counters. Its connections
/// belong to the runtime that opened them: use it from the Registry's arbiter only.
#[derive(Debug, Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The key for `id` under `prefix`, if `id` is a token or DNS name fit for one (what a CA
/// sends is not trusted to be).
fn key(prefix: &str, id: &str) -> Option<Vec<u8>> {
    let fits = |b: u8| b.is_ascii_alphanumeric() || b"-_.*".contains(&b);
    (!id.is_empty() && id.len() <= MAX_ID && id.bytes().all(fits))
        .then(|| format!("{prefix}{id}").into_bytes())
}

/// A value read back, if it is one a shard could have stored (printable ASCII, bounded).
fn value(bytes: Vec<u8>) -> Option<String> {
    (bytes.len() <= MAX_VALUE && bytes.iter().all(|b| b.is_ascii_graphic()))
        .then(|| String::from_utf8(bytes).ok())
        .flatten()
}

fn fits_value(v: &str) -> bool {
    v.len() <= MAX_VALUE && v.bytes().all(|b| b.is_ascii_graphic())
}

fn unix_ms(at: SystemTime) -> u128 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn millis(d: Duration) -> Vec<u8> {
    d.as_millis().max(1).to_string().into_bytes()
}

impl RedisStore {
    /// Connects to `url` and checks it answers `PING`: a wrong address, password or database
    /// ends the run at start rather than degrading it silently. `timeout` bounds every later
    /// call.
    pub async fn connect(url: RedisUrl, timeout: Duration) -> Result<RedisStore, StoreError> {
        let shown = url.to_string();
        let open = async {
            let mut conn = Connection::open(&url).await?;
            let reply = conn.pipeline(&[command([b"PING"])]).await?;
            Ok::<_, RespError>((conn, reply))
        };
        let (conn, reply) = match actix_rt::time::timeout(STARTUP_TIMEOUT, open).await {
            Ok(Ok(done)) => done,
            Ok(Err(source)) => return Err(StoreError::Unreachable { url: shown, source }),
            Err(_) => {
                let secs = STARTUP_TIMEOUT.as_secs();
                return Err(StoreError::Timeout { url: shown, secs });
            }
        };
        match reply.as_slice() {
            [Reply::Status(pong)] if pong == "PONG" => {}
            _ => {
                let reply = reply.into_iter().next().unwrap_or(Reply::Array(None));
                return Err(StoreError::Ping { url: shown, reply });
            }
        }
        log::info!(
            "challenge registry shared through Redis at {url}: calls bounded by {} ms",
            timeout.as_millis()
        );
        Ok(RedisStore {
            inner: Arc::new(Inner {
                url,
                timeout,
                idle: Mutex::new(vec![conn]),
                permits: Semaphore::new(MAX_CONNECTIONS),
                health: Mutex::new(Health::default()),
                counters: Arc::default(),
            }),
        })
    }

    /// The counters, for the summary.
    pub fn stats(&self) -> SharedStats {
        SharedStats {
            backend: self.inner.url.to_string(),
            counters: self.inner.counters.clone(),
        }
    }

    /// Counts an answer the shard found only in Redis (another shard's entry).
    pub fn count_shared_answer(&self) {
        self.inner
            .counters
            .shared_answers
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Stores the key authorization `value` of `kind` under `id` for `ttl`.
    pub async fn put(&self, kind: Kind, id: &str, value: &str, ttl: Duration) {
        let Some(key) = key(kind.prefix(), id).filter(|_| fits_value(value)) else {
            return;
        };
        let set = vec![
            b"SET".to_vec(),
            key,
            value.as_bytes().to_vec(),
            b"PX".to_vec(),
            millis(ttl),
        ];
        self.call(Call::Write, &[set]).await;
    }

    /// The value of `kind` under `id`, if some shard stored one.
    pub async fn get(&self, kind: Kind, id: &str) -> Option<String> {
        let key = key(kind.prefix(), id)?;
        match self
            .call(Call::Lookup, &[vec![b"GET".to_vec(), key]])
            .await?
            .pop()?
        {
            Reply::Bulk(Some(bytes)) => value(bytes),
            _ => None,
        }
    }

    /// Deletes `kind` under `id` if it still holds `value`.
    pub async fn remove(&self, kind: Kind, id: &str, value: &str) {
        let Some(key) = key(kind.prefix(), id) else {
            return;
        };
        let delete = vec![
            b"EVAL".to_vec(),
            DELETE_IF.to_vec(),
            b"1".to_vec(),
            key,
            value.as_bytes().to_vec(),
        ];
        self.call(Call::Write, &[delete]).await;
    }

    /// Adds the TXT `value` of the record `name` (`_acme-challenge.…`) for `ttl`.
    pub async fn add_txt(&self, name: &str, value: &str, ttl: Duration) {
        let Some(key) = key("wec:dns01:", name).filter(|_| fits_value(value)) else {
            return;
        };
        let now = SystemTime::now();
        let add = vec![
            b"EVAL".to_vec(),
            ADD_TXT.to_vec(),
            b"1".to_vec(),
            key,
            value.as_bytes().to_vec(),
            unix_ms(now + ttl).to_string().into_bytes(),
            unix_ms(now).to_string().into_bytes(),
            millis(ttl),
        ];
        self.call(Call::Write, &[add]).await;
    }

    /// The live TXT values of the record `name`, at most [`MAX_TXT_VALUES`].
    pub async fn txt(&self, name: &str) -> Vec<String> {
        let Some(key) = key("wec:dns01:", name) else {
            return Vec::new();
        };
        let range = vec![
            b"ZRANGEBYSCORE".to_vec(),
            key,
            format!("({}", unix_ms(SystemTime::now())).into_bytes(),
            b"+inf".to_vec(),
            b"LIMIT".to_vec(),
            b"0".to_vec(),
            MAX_TXT_VALUES.to_string().into_bytes(),
        ];
        match self
            .call(Call::Lookup, &[range])
            .await
            .and_then(|mut r| r.pop())
        {
            Some(Reply::Array(Some(items))) => items
                .into_iter()
                .filter_map(|item| match item {
                    Reply::Bulk(Some(bytes)) => value(bytes),
                    _ => None,
                })
                .take(MAX_TXT_VALUES)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Removes our TXT `value` of the record `name`.
    pub async fn remove_txt(&self, name: &str, value: &str) {
        if let Some(key) = key("wec:dns01:", name) {
            let zrem = vec![b"ZREM".to_vec(), key, value.as_bytes().to_vec()];
            self.call(Call::Write, &[zrem]).await;
        }
    }

    /// Sends `commands` on a pooled connection within the timeout; `None` (the caller falls
    /// back to its own entries) when the call fails, or is a lookup left out (see the module).
    async fn call(&self, kind: Call, commands: &[Command]) -> Option<Vec<Reply>> {
        let inner = &self.inner;
        if !self.admit(kind) {
            inner.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        inner.counters.calls.fetch_add(1, Ordering::Relaxed);
        let attempt = async {
            let _permit = inner
                .permits
                .acquire()
                .await
                .map_err(|_| RespError::Closed)?;
            let pooled = lock(&inner.idle).pop();
            let replies = match pooled {
                Some(mut conn) => match conn.pipeline(commands).await {
                    Ok(replies) => (conn, replies),
                    // Closed while idle (Redis restarted, or its idle timeout): once more on
                    // a new connection.
                    Err(RespError::Closed | RespError::Io(_)) => {
                        let mut conn = Connection::open(&inner.url).await?;
                        let replies = conn.pipeline(commands).await?;
                        (conn, replies)
                    }
                    Err(e) => return Err(e),
                },
                None => {
                    let mut conn = Connection::open(&inner.url).await?;
                    let replies = conn.pipeline(commands).await?;
                    (conn, replies)
                }
            };
            let (conn, replies) = replies;
            lock(&inner.idle).push(conn);
            Ok(replies)
        };
        // On a timeout the attempt is dropped, and its connection with it: never reused in
        // an unknown state.
        match actix_rt::time::timeout(inner.timeout, attempt).await {
            Ok(Ok(replies)) => match replies.iter().find_map(|r| match r {
                Reply::Error(e) => Some(e.clone()),
                _ => None,
            }) {
                Some(error) => {
                    self.failed(&format!("it answered {error}"));
                    None
                }
                None => {
                    self.recovered();
                    Some(replies)
                }
            },
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                inner.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                let ms = inner.timeout.as_millis();
                self.failed(&format!("no answer within {ms} ms"));
                None
            }
        }
    }

    /// Whether a call goes to Redis now: writes always; lookups unless [`SKIP_AFTER`] calls
    /// in a row failed, and then one per [`RETRY_AFTER`].
    fn admit(&self, kind: Call) -> bool {
        let mut health = lock(&self.inner.health);
        if kind == Call::Write || health.failures_in_a_row < SKIP_AFTER {
            return true;
        }
        match health.retry_at {
            Some(at) if Instant::now() < at => false,
            _ => {
                health.retry_at = Some(Instant::now() + RETRY_AFTER);
                true
            }
        }
    }

    fn failed(&self, why: &str) {
        let inner = &self.inner;
        inner.counters.failed.fetch_add(1, Ordering::Relaxed);
        let mut health = lock(&inner.health);
        health.failures_in_a_row = health.failures_in_a_row.saturating_add(1);
        health.retry_at = Some(Instant::now() + RETRY_AFTER);
        if health.down_since.is_none() {
            health.down_since = Some(Instant::now());
            inner.counters.outages.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                "challenge registry: Redis at {} failed ({why}): until it answers again, this \
                 shard answers only its own challenges and other shards may not find its new \
                 ones",
                inner.url
            );
        }
    }

    fn recovered(&self) {
        let mut health = lock(&self.inner.health);
        health.retry_at = None;
        health.failures_in_a_row = 0;
        if let Some(since) = health.down_since.take() {
            log::warn!(
                "challenge registry: Redis at {} answers again after {:.1} s; what it \
                 could not store meanwhile stays this shard's own",
                self.inner.url,
                since.elapsed().as_secs_f64()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_take_tokens_and_names_only() {
        assert_eq!(
            key("wec:http01:", "aB-_9").unwrap(),
            b"wec:http01:aB-_9".to_vec()
        );
        assert_eq!(
            key("wec:dns01:", "_acme-challenge.x.wile.test").unwrap(),
            b"wec:dns01:_acme-challenge.x.wile.test".to_vec()
        );
        for bad in ["", "a b", "a\r\nDEL x", "ä", &"a".repeat(MAX_ID + 1)] {
            assert!(key("wec:http01:", bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn values_read_back_are_bounded_and_printable() {
        assert_eq!(value(b"tok.thumb".to_vec()).as_deref(), Some("tok.thumb"));
        assert!(value(vec![b'a'; MAX_VALUE + 1]).is_none());
        assert!(value(b"a b".to_vec()).is_none());
        assert!(value(b"<\x1b[2J>".to_vec()).is_none());
        assert!(fits_value("tok.thumb") && !fits_value("a\nb"));
    }
}
