//! `[control]`: where the control API listens and the token it asks for. Its server is
//! `crate::control`, which depends on the Ramp; the settings live here so that `config` names
//! nothing that depends on `config`.

use std::net::SocketAddr;

use serde::Deserialize;

use crate::safety::Secret;
use crate::setting::Invalid;

/// Connections served at once; more wait in the kernel's queue, so clients that hold
/// connections open cannot take the daemon's file descriptors.
pub const MAX_CONNECTIONS: usize = 64;

/// Shortest and longest bearer token accepted.
const TOKEN_LENGTH: std::ops::RangeInclusive<usize> = 16..=1024;

/// The `[control]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Control {
    pub enabled: bool,
    /// `ip:port`; port 0 picks a free port (logged at start).
    #[serde(deserialize_with = "crate::setting::deserialize_parsed")]
    pub listen: SocketAddr,
    /// Bearer token required on every request when set; mandatory when `listen` is not a
    /// loopback address.
    pub token: Option<Secret>,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9180)),
            token: None,
        }
    }
}

impl Control {
    /// The key that is wrong and why; the token itself is never quoted.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !self.enabled {
            return Ok(());
        }
        match &self.token {
            None if !self.listen.ip().is_loopback() => Err(Invalid::new(
                "control.token",
                format!(
                    "required when control.listen ({}) is not a loopback address",
                    self.listen
                ),
            )),
            Some(token) if !TOKEN_LENGTH.contains(&token.expose().len()) => Err(Invalid::new(
                "control.token",
                format!(
                    "must be {} to {} characters long",
                    TOKEN_LENGTH.start(),
                    TOKEN_LENGTH.end()
                ),
            )),
            Some(token) if !token.expose().bytes().all(|b| b.is_ascii_graphic()) => {
                Err(Invalid::new(
                    "control.token",
                    "must be printable ASCII without spaces (it travels in an HTTP header)",
                ))
            }
            _ => Ok(()),
        }
    }
}
