//! The CA under test (`[target]`) as the daemon first meets it: the TLS set-up trusting its
//! roots and its directory, made at start and again when a reload changes them. Every URL the directory
//! lists passes the public-CA guard before any is used: a private directory may point at a
//! public CA's endpoints.

use anyhow::Context as _;
use openssl::ssl::SslConnector;
use openssl::x509::X509;

use crate::acme::wire::Directory;
use crate::acme::Transport;
use crate::config::Settings;
use crate::safety::{self, PublicCaError};

/// The connected CA: what every attacker's client is built on.
pub struct Ca {
    /// TLS trusting the system store and `target.ca_cert`, shared by every attacker thread.
    pub tls: SslConnector,
    pub directory: Directory,
}

impl Ca {
    /// Reads the trust roots and fetches the directory; any failure names the URL (without its
    /// credentials) or the file.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Ca> {
        let tls_roots = match &settings.target.ca_cert {
            Some(path) => X509::stack_from_pem(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("parsing {}", path.display()))?,
            None => Vec::new(),
        };
        let tls = Transport::tls_connector(&tls_roots)?;
        let client_settings = settings.client_settings();
        let http = Transport::http_client(tls.clone(), &client_settings);
        let url = &settings.target.directory_url;
        let (directory, _) = Transport::new(http, client_settings)
            .fetch_directory(url)
            .await;
        let directory =
            directory.with_context(|| format!("cannot use the ACME directory {url}"))?;
        if !settings.target.allow_public_ca {
            check_listed_urls(url.url(), &directory)?;
        }
        Ok(Ca { tls, directory })
    }
}

/// Refuses a directory that lists a public CA's URL (relative ones are resolved against the
/// directory; one that is not a URL at all fails where it is used).
fn check_listed_urls(base: &url::Url, directory: &Directory) -> Result<(), PublicCaError> {
    let listed = [
        ("newNonce", Some(&directory.new_nonce)),
        ("newAccount", Some(&directory.new_account)),
        ("newOrder", Some(&directory.new_order)),
        ("revokeCert", directory.revoke_cert.as_ref()),
        ("keyChange", directory.key_change.as_ref()),
        ("renewalInfo", directory.renewal_info.as_ref()),
    ];
    for (name, url) in listed {
        if let Some(url) = url.and_then(|u| base.join(u).ok()) {
            safety::check(&format!("the directory's {name}"), &url)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_listing_a_public_ca_is_refused() {
        let base = url::Url::parse("https://ca.internal/dir").unwrap();
        let directory: Directory = serde_json::from_str(
            r#"{"newNonce":"/nonce","newAccount":"https://ca.internal/acct",
                "newOrder":"https://acme-v02.api.letsencrypt.org/acme/new-order"}"#,
        )
        .unwrap();
        let err = check_listed_urls(&base, &directory)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "refusing to load-test Let's Encrypt production (the directory's newOrder \
                 https://acme-v02.api.letsencrypt.org/acme/new-order)"
            ),
            "{err}"
        );
        let private: Directory = serde_json::from_str(
            r#"{"newNonce":"/nonce","newAccount":"/acct","newOrder":"/order"}"#,
        )
        .unwrap();
        assert!(check_listed_urls(&base, &private).is_ok());
    }
}
