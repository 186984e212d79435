//! `challenge.registry`: where the challenge Registry keeps what the CA asks for. `"memory"`
//! keeps it in this process; a `redis://host:port[/db]` URL shares it with every shard pointed
//! at the same Redis ([`super::redis_store`]). Parsed once when the config is read; the URL's
//! password is masked wherever the value is shown (Display, Debug, errors), as `db.url`'s is.

#![warn(missing_docs)]

use url::Url;

/// Redis's own port, when the URL names none.
const DEFAULT_PORT: u16 = 6379;

/// The highest database number accepted (Redis has 16 by default; a config may raise it).
const MAX_DB: u32 = 1_000_000;

/// What `challenge.registry` names.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum RegistryBackend {
    /// This process only: a shard answers its own challenges.
    #[default]
    Memory,
    /// One Redis for every shard: any shard answers any shard's challenges.
    Redis(RedisUrl),
}

impl std::fmt::Display for RegistryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryBackend::Memory => f.write_str("memory"),
            RegistryBackend::Redis(url) => url.fmt(f),
        }
    }
}

impl TryFrom<String> for RegistryBackend {
    type Error = RegistryUrlError;

    fn try_from(input: String) -> Result<Self, RegistryUrlError> {
        match input.trim() {
            "memory" => Ok(RegistryBackend::Memory),
            other => other.parse().map(RegistryBackend::Redis),
        }
    }
}

/// A value of `challenge.registry` that is neither `memory` nor a usable `redis://` URL.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{input:?}: {reason} (expected \"memory\" or redis://[user:password@]host[:port][/db])")]
pub struct RegistryUrlError {
    /// The input, its password masked.
    input: String,
    reason: String,
}

/// A `redis://` URL, checked: a host, a port, a database number, no query. It shows
/// (`Display`, `Debug`) with its password masked; the credentials are read only to connect.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    url: Url,
    host: String,
    port: u16,
    db: u32,
    username: Option<String>,
    password: Option<String>,
}

impl RedisUrl {
    /// Host name or address to connect to (an IPv6 address without its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port to connect to (6379 when the URL names none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database `SELECT`ed on every connection (0 when the URL has no path).
    pub fn db(&self) -> u32 {
        self.db
    }

    /// `AUTH` arguments, when the URL carries a password: the user (Redis 6 ACLs) and the
    /// password, percent-decoded. For connecting only, never for showing.
    pub fn credentials(&self) -> Option<(Option<&str>, &str)> {
        let password = self.password.as_deref()?;
        Some((self.username.as_deref(), password))
    }
}

impl std::str::FromStr for RedisUrl {
    type Err = RegistryUrlError;

    fn from_str(input: &str) -> Result<Self, RegistryUrlError> {
        let err = |reason: &str| RegistryUrlError {
            input: masked(input),
            reason: reason.to_owned(),
        };
        let url = Url::parse(input).map_err(|e| err(&e.to_string()))?;
        match url.scheme() {
            "redis" => {}
            "rediss" => {
                return Err(err(
                    "TLS to Redis (rediss://) is not supported: reach it over a private network",
                ))
            }
            "unix" | "redis+unix" => return Err(err("only TCP (redis://host:port) is supported")),
            _ => return Err(err("not a redis:// URL")),
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) if !name.is_empty() => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(err("no host")),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(err("options (?…, #…) are not supported"));
        }
        let db = match url.path().trim_start_matches('/') {
            "" => 0,
            db => db
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= MAX_DB)
                .ok_or_else(|| err("the path must be a database number, e.g. /0"))?,
        };
        let decode = |part: &str| {
            percent_decoded(part).ok_or_else(|| err("credentials are not percent-encoded UTF-8"))
        };
        let username = match url.username() {
            "" => None,
            user => Some(decode(user)?),
        };
        let password = url.password().map(decode).transpose()?;
        if username.is_some() && password.is_none() {
            return Err(err("a user needs a password (redis://user:password@host)"));
        }
        Ok(RedisUrl {
            port: url.port().unwrap_or(DEFAULT_PORT),
            url,
            host,
            db,
            username,
            password,
        })
    }
}

impl std::fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        f.write_str(shown.as_str())
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// `input` with everything between `scheme://user:` and the last `@` masked, whatever the
/// password holds, for URLs too broken to parse.
fn masked(input: &str) -> String {
    let Some((scheme, rest)) = input.split_once("://") else {
        return input.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((credentials, tail)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{tail}")
        }
        _ => input.to_owned(),
    }
}

/// `%XX` escapes decoded (the `url` crate keeps userinfo encoded); `None` for a malformed
/// escape or bytes that are not UTF-8.
fn percent_decoded(part: &str) -> Option<String> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(input: &str) -> Result<RegistryBackend, RegistryUrlError> {
        RegistryBackend::try_from(input.to_owned())
    }

    #[test]
    fn memory_and_redis_urls() {
        assert_eq!(backend("memory").unwrap(), RegistryBackend::Memory);
        let RegistryBackend::Redis(url) = backend("redis://redis:6380/2").unwrap() else {
            panic!("a Redis URL");
        };
        assert_eq!((url.host(), url.port(), url.db()), ("redis", 6380, 2));
        assert_eq!(url.credentials(), None);
        let RegistryBackend::Redis(url) = backend("redis://[::1]").unwrap() else {
            panic!("a Redis URL");
        };
        assert_eq!((url.host(), url.port(), url.db()), ("::1", 6379, 0));
        assert_eq!(url.to_string(), "redis://[::1]");
    }

    #[test]
    fn the_password_is_decoded_for_auth_and_masked_when_shown() {
        let url: RedisUrl = "redis://wec:p%40ss%2Fw0rd@10.0.0.5:6379/1".parse().unwrap();
        assert_eq!(url.credentials(), Some((Some("wec"), "p@ss/w0rd")));
        assert_eq!(url.to_string(), "redis://wec:***@10.0.0.5:6379/1");
        assert_eq!(
            format!("{url:?}"),
            "RedisUrl(redis://wec:***@10.0.0.5:6379/1)"
        );
        let backend = RegistryBackend::Redis(url);
        assert!(!format!("{backend} {backend:?}").contains("p%40ss"));
        let url: RedisUrl = "redis://:hunter2@h".parse().unwrap();
        assert_eq!(url.credentials(), Some((None, "hunter2")));
        assert_eq!(url.to_string(), "redis://:***@h");
    }

    #[test]
    fn refusals_name_the_reason_and_never_the_password() {
        for (input, reason) in [
            ("rediss://u:hunter2@h:6379", "(rediss://) is not supported"),
            ("http://u:hunter2@h:6379", "not a redis:// URL"),
            ("redis+unix:///run/redis.sock", "only TCP"),
            ("memroy", "relative URL without a base"),
            ("redis://u:hunter2@h:99999", "invalid port number"),
            ("redis://u:hunter2@h/zero", "must be a database number"),
            ("redis://h/1/2", "must be a database number"),
            ("redis://h:6379/0?timeout=1", "options"),
            ("redis://", "no host"),
            ("redis://u@h", "a user needs a password"),
            ("redis://u:hun%ZZter2@h", "percent-encoded"),
        ] {
            let msg = backend(input).unwrap_err().to_string();
            assert!(msg.contains(reason), "{input}: {msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
            assert!(msg.contains("expected \"memory\" or redis://"), "{msg}");
        }
        let msg = backend("rediss://u:hunter2@h").unwrap_err().to_string();
        assert!(msg.starts_with("\"rediss://u:***@h\""), "{msg}");
    }
}
