//! Replay nonces (RFC 8555 §6.5). A nonce is a counter plus a MAC under a key made at start, so
//! the CA needs no record of what it issued: it remembers only which of the last
//! `capacity` counters were redeemed (like Boulder's nonce service, which accepts a window of
//! recent nonces and rejects reuse). Memory stays bounded; the used set is sharded.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::sha::Sha256;

const SHARDS: u64 = 64;
const MAC_LEN: usize = 16;
const RAW_LEN: usize = 8 + MAC_LEN;

/// Why a nonce was refused (all are answered with badNonce).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NonceError {
    #[error("JWS has no anti-replay nonce")]
    Missing,
    #[error("JWS has a malformed anti-replay nonce")]
    Malformed,
    #[error("JWS has an expired anti-replay nonce")]
    Expired,
    #[error("JWS has a nonce that was already used")]
    Reused,
}

pub struct Nonces {
    /// HMAC-SHA256 (RFC 2104) under the secret, as the two hash states after the key's inner
    /// and outer pads: a MAC is then two low-level hash finishes, without the provider fetch
    /// and context set-up an EVP HMAC costs on every nonce issued and redeemed.
    inner: Sha256,
    outer: Sha256,
    /// Hides the counter's sequence on the wire.
    mask: u64,
    latest: AtomicU64,
    capacity: u64,
    used: Box<[Mutex<HashSet<u64>>]>,
}

/// SHA-256 states after absorbing `key ^ ipad` and `key ^ opad` (a key of at most one block).
fn hmac_states(key: &[u8; 32]) -> (Sha256, Sha256) {
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let (mut inner, mut outer) = (Sha256::new(), Sha256::new());
    inner.update(&ipad);
    outer.update(&opad);
    (inner, outer)
}

impl Nonces {
    pub fn new(capacity: usize) -> Result<Nonces, openssl::error::ErrorStack> {
        let mut secret = [0u8; 32];
        openssl::rand::rand_bytes(&mut secret)?;
        let (inner, outer) = hmac_states(&secret);
        Ok(Nonces {
            inner,
            outer,
            mask: rand::random(),
            latest: AtomicU64::new(0),
            capacity: capacity.max(1) as u64,
            used: (0..SHARDS).map(|_| Mutex::new(HashSet::new())).collect(),
        })
    }

    fn mac(&self, counter: u64) -> Option<[u8; MAC_LEN]> {
        let mut inner = self.inner.clone();
        inner.update(&counter.to_be_bytes());
        let mut outer = self.outer.clone();
        outer.update(&inner.finish());
        outer.finish().get(..MAC_LEN)?.try_into().ok()
    }

    /// A fresh nonce: 32 base64url characters.
    pub fn issue(&self) -> String {
        let counter = self.latest.fetch_add(1, Ordering::Relaxed) + 1;
        let mut raw = [0u8; RAW_LEN];
        raw[..8].copy_from_slice(&(counter ^ self.mask).to_be_bytes());
        if let Some(mac) = self.mac(counter) {
            raw[8..].copy_from_slice(&mac);
        }
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Accepts a nonce this CA issued among the last `capacity`, once.
    pub fn redeem(&self, nonce: &str) -> Result<(), NonceError> {
        if nonce.is_empty() {
            return Err(NonceError::Missing);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(nonce)
            .map_err(|_| NonceError::Malformed)?;
        let raw: [u8; RAW_LEN] = raw.try_into().map_err(|_| NonceError::Malformed)?;
        let masked = u64::from_be_bytes(raw[..8].try_into().map_err(|_| NonceError::Malformed)?);
        let counter = masked ^ self.mask;
        let mac = self.mac(counter).ok_or(NonceError::Malformed)?;
        if !openssl::memcmp::eq(&mac, &raw[8..]) {
            return Err(NonceError::Malformed);
        }
        let latest = self.latest.load(Ordering::Relaxed);
        let oldest = latest.saturating_sub(self.capacity);
        if counter == 0 || counter <= oldest || counter > latest {
            return Err(NonceError::Expired);
        }
        let mut used = self.used[(counter % SHARDS) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if used.len() as u64 > self.capacity / SHARDS + 64 {
            used.retain(|&c| c > oldest);
        }
        if !used.insert(counter) {
            return Err(NonceError::Reused);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_is_hmac_sha256() {
        let key = [7u8; 32];
        let (inner, outer) = hmac_states(&key);
        let n = Nonces {
            inner,
            outer,
            mask: 0,
            latest: AtomicU64::new(0),
            capacity: 1,
            used: Box::new([]),
        };
        let pkey = openssl::pkey::PKey::hmac(&key).unwrap();
        let mut signer =
            openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey).unwrap();
        signer.update(&42u64.to_be_bytes()).unwrap();
        assert_eq!(
            n.mac(42).unwrap()[..],
            signer.sign_to_vec().unwrap()[..MAC_LEN]
        );
    }

    #[test]
    fn single_use_bounded_window() {
        let n = Nonces::new(10).unwrap();
        let a = n.issue();
        assert_eq!(a.len(), 32);
        assert_eq!(n.redeem(&a), Ok(()));
        assert_eq!(n.redeem(&a), Err(NonceError::Reused));
        let old = n.issue();
        for _ in 0..10 {
            n.issue();
        }
        assert_eq!(n.redeem(&old), Err(NonceError::Expired));
        assert_eq!(n.redeem("abc"), Err(NonceError::Malformed));
        let mut forged = n.issue().into_bytes();
        forged[31] = if forged[31] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(n.redeem(&forged).is_err());
        assert_eq!(n.redeem(""), Err(NonceError::Missing));
    }
}
