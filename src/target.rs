//! The CA under test as the daemon first meets it: the trust roots for its HTTPS and its
//! directory, read at start and again when a reload changes them.

use anyhow::Context as _;
use openssl::x509::X509;

use crate::acme::wire::Directory;
use crate::acme::Transport;
use crate::config::Settings;

pub struct Target {
    pub tls_roots: Vec<X509>,
    pub directory: Directory,
}

impl Target {
    /// Reads the trust roots and fetches the directory; any failure names the URL or file.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Target> {
        let tls_roots = match &settings.target.ca_cert {
            Some(path) => X509::stack_from_pem(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("parsing {}", path.display()))?,
            None => Vec::new(),
        };
        let client_settings = settings.client_settings();
        let http =
            Transport::http_client(&tls_roots, &client_settings).map_err(anyhow::Error::msg)?;
        let url = &settings.target.directory_url;
        let (directory, _) = Transport::new(http, client_settings)
            .fetch_directory(url)
            .await;
        let directory =
            directory.with_context(|| format!("cannot use the ACME directory {url}"))?;
        Ok(Target {
            tls_roots,
            directory,
        })
    }
}
