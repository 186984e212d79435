//! testca: a purpose-built ACME (RFC 8555) certificate authority that behaves like Let's
//! Encrypt's Boulder wherever a load tester can tell (account cache window, rate limits,
//! authorization reuse, revocation reasons, renewal information, problem types), while really
//! validating challenges (http-01, tls-alpn-01, dns-01 through DNS over HTTPS), really
//! verifying JWS, and really issuing X.509 certificates. It runs in-process for tests
//! ([`TestCa::start`]) or as the `testca` binary.

mod account;
mod ari;
mod asn1;
mod auth;
mod authz;
mod ca;
mod cache;
mod cert;
mod cert_rows;
mod challenge;
mod clock;
mod config;
mod csr;
mod directory;
mod duration;
mod error;
mod finalize;
mod issue;
mod jwk;
mod jws;
mod keychange;
mod leaf;
mod limits;
mod manage;
mod mirror;
mod model;
mod nonce;
mod order;
mod policy;
mod problem;
mod revoke;
mod server;
mod shard;
mod spki;
mod stats;
mod store;
mod validate;

pub use config::{Config, IssuerFiles, Limit, Profile, RateLimits};
pub use duration::{parse as parse_duration, DurationError};
pub use error::Error;
pub use manage::CertStatus;
pub use mirror::MirrorError;
pub use server::TestCa;
pub use stats::StatsSnapshot;
