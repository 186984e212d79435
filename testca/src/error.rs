//! Why the CA could not start.

use crate::issue::IssuerError;
use crate::mirror::MirrorError;
use crate::validate::SetupError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("configuration: {0}")]
    Config(&'static str),
    #[error("the CA's certificates: {0}")]
    Issuer(#[from] IssuerError),
    #[error("validation setup: {0}")]
    Validation(#[from] SetupError),
    #[error("database mirror: {0}")]
    Mirror(#[from] MirrorError),
    #[error("openssl: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
    #[error("the HTTPS listener: {0}")]
    Tls(std::io::Error),
    #[error("the server thread: {0}")]
    Thread(std::io::Error),
    #[error("the server thread stopped before listening")]
    NotStarted,
}
