//! The Registry actor: the only state the challenge server has. Chains publish a challenge
//! response before answering the challenge and withdraw it when the authorization settles;
//! entries that are never withdrawn (a chain that died) expire after a TTL.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;

/// Token → key authorization, for http-01 (RFC 8555 §8.3).
#[derive(Debug)]
pub struct Registry {
    entries: HashMap<String, Entry>,
    ttl: Duration,
}

#[derive(Debug)]
struct Entry {
    key_authorization: String,
    expires: Instant,
}

impl Registry {
    pub fn new(ttl: Duration) -> Self {
        Registry {
            entries: HashMap::new(),
            ttl,
        }
    }

    fn sweep(&mut self, now: Instant) {
        self.entries.retain(|_, e| e.expires > now);
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let every = (self.ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        ctx.run_interval(every, |registry, _| registry.sweep(Instant::now()));
    }
}

/// Make `key_authorization` the answer for `token` until withdrawn or expired.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Publish {
    pub token: String,
    pub key_authorization: String,
}

/// Forget the answer for `token`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Withdraw {
    pub token: String,
}

/// The answer for `token`, if published and not expired.
#[derive(Debug, Message)]
#[rtype(result = "Option<String>")]
pub struct Lookup {
    pub token: String,
}

/// Number of live entries.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct Size;

impl Handler<Publish> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) {
        let expires = Instant::now() + self.ttl;
        self.entries.insert(
            msg.token,
            Entry {
                key_authorization: msg.key_authorization,
                expires,
            },
        );
    }
}

impl Handler<Withdraw> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Withdraw, _: &mut Context<Self>) {
        self.entries.remove(&msg.token);
    }
}

impl Handler<Lookup> for Registry {
    type Result = Option<String>;

    fn handle(&mut self, msg: Lookup, _: &mut Context<Self>) -> Option<String> {
        self.entries
            .get(&msg.token)
            .filter(|e| e.expires > Instant::now())
            .map(|e| e.key_authorization.clone())
    }
}

impl Handler<Size> for Registry {
    type Result = usize;

    fn handle(&mut self, _: Size, _: &mut Context<Self>) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(token: &str, value: &str) -> Publish {
        Publish {
            token: token.into(),
            key_authorization: value.into(),
        }
    }

    fn lookup(token: &str) -> Lookup {
        Lookup {
            token: token.into(),
        }
    }

    #[actix_rt::test]
    async fn publish_lookup_withdraw() {
        let registry = Registry::new(Duration::from_secs(60)).start();
        registry.send(publish("t1", "t1.thumb")).await.unwrap();
        assert_eq!(
            registry.send(lookup("t1")).await.unwrap().as_deref(),
            Some("t1.thumb")
        );
        assert_eq!(registry.send(lookup("t2")).await.unwrap(), None);
        registry
            .send(Withdraw { token: "t1".into() })
            .await
            .unwrap();
        assert_eq!(registry.send(lookup("t1")).await.unwrap(), None);
    }

    #[actix_rt::test]
    async fn entries_expire_after_ttl() {
        let registry = Registry::new(Duration::from_millis(40)).start();
        registry.send(publish("t", "v")).await.unwrap();
        assert_eq!(registry.send(Size).await.unwrap(), 1);
        actix_rt::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(registry.send(lookup("t")).await.unwrap(), None, "expired");
        actix_rt::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(registry.send(Size).await.unwrap(), 0, "swept");
    }
}
