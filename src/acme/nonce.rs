//! Replay nonces ([RFC 8555 §6.5](https://www.rfc-editor.org/rfc/rfc8555#section-6.5)) gathered
//! from every response, so a HEAD to newNonce is only needed when the pool is empty.

use std::collections::VecDeque;

/// A bounded pool of unused nonces. The freshest is used first: servers expire old nonces, and
/// a stale one costs a `badNonce` round trip.
#[derive(Debug)]
pub struct NoncePool {
    nonces: VecDeque<String>,
    capacity: usize,
}

impl NoncePool {
    /// An empty pool keeping at most `capacity` nonces (at least one).
    pub fn new(capacity: usize) -> Self {
        NoncePool {
            nonces: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
        }
    }

    /// Keeps a nonce from a `Replay-Nonce` header; the oldest is dropped when full.
    pub fn put(&mut self, nonce: String) {
        if self.nonces.len() == self.capacity {
            self.nonces.pop_front();
        }
        self.nonces.push_back(nonce);
    }

    /// The freshest unused nonce, removed from the pool (a nonce is good for one request).
    pub fn take(&mut self) -> Option<String> {
        self.nonces.pop_back()
    }

    /// Unused nonces held.
    pub fn len(&self) -> usize {
        self.nonces.len()
    }

    /// No nonce left: the next request needs a HEAD to newNonce
    /// ([RFC 8555 §7.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.2)).
    pub fn is_empty(&self) -> bool {
        self.nonces.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshest_first_and_each_once() {
        let mut pool = NoncePool::new(8);
        pool.put("a".into());
        pool.put("b".into());
        assert_eq!(pool.take().as_deref(), Some("b"));
        assert_eq!(pool.take().as_deref(), Some("a"));
        assert_eq!(pool.take(), None);
        assert!(pool.is_empty());
    }

    #[test]
    fn bounded_drops_oldest() {
        let mut pool = NoncePool::new(2);
        for n in ["1", "2", "3"] {
            pool.put(n.into());
        }
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.take().as_deref(), Some("3"));
        assert_eq!(pool.take().as_deref(), Some("2"));
        assert_eq!(pool.take(), None, "1 was evicted");
    }
}
