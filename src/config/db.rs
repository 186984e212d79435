//! The `[db]` table: Boulder's database, read-only (`--mysql` gives the URL too, and wins).

use std::time::Duration;

use serde::Deserialize;

use super::{positive, Invalid};
use crate::db::{dsn, urls, DbSettings};
use crate::units::deserialize_duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Db {
    /// Go-style DSN (`user:pass@tcp(host:port)/boulder`) or `mysql://` URL; off when absent.
    pub url: Option<String>,
    /// Db actors (threads) running queries.
    pub threads: usize,
    /// Connections to the database.
    pub pool_size: u32,
    #[serde(deserialize_with = "deserialize_duration")]
    pub connect_timeout: Duration,
    /// Bound on every statement (MariaDB `max_statement_time`, MySQL `max_execution_time`).
    #[serde(deserialize_with = "deserialize_duration")]
    pub query_timeout: Duration,
    /// Where a stored certificate is fetched: `{serial}` is its hex serial.
    pub cert_url: String,
    /// Where a stored authorization is fetched: `{regID}`, `{authzID}`.
    pub authz_url: String,
    /// Where a stored order is fetched: `{regID}`, `{orderID}`.
    pub order_url: String,
    /// Check that what the CA answered is what it stored.
    pub consistency_checks: bool,
    /// How long a stored row may take to appear before a consistency check reports it missing.
    #[serde(deserialize_with = "deserialize_duration")]
    pub consistency_wait: Duration,
}

impl Default for Db {
    fn default() -> Self {
        Db {
            url: None,
            threads: 2,
            pool_size: 4,
            connect_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(2),
            cert_url: urls::CERT.into(),
            authz_url: urls::AUTHZ.into(),
            order_url: urls::ORDER.into(),
            consistency_checks: true,
            consistency_wait: Duration::from_secs(10),
        }
    }
}

impl Db {
    pub fn settings(&self) -> DbSettings {
        DbSettings {
            threads: self.threads,
            pool_size: self.pool_size,
            connect_timeout: self.connect_timeout,
            query_timeout: self.query_timeout,
        }
    }

    /// The URL templates, relative ones resolved against `directory`.
    pub fn url_templates(&self, directory: &url::Url) -> urls::UrlTemplates {
        urls::UrlTemplates::new(
            directory.clone(),
            &self.cert_url,
            &self.authz_url,
            &self.order_url,
        )
        .expect("URL templates were validated with the config")
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        if let Some(url) = &self.url {
            dsn::to_url(url).map_err(|e| ("db.url", e.to_string()))?;
        }
        if !(1..=64).contains(&self.threads) {
            return Err((
                "db.threads",
                format!("{} is not within 1..=64", self.threads),
            ));
        }
        if (self.pool_size as usize) < self.threads {
            return Err((
                "db.pool_size",
                format!("{} is below db.threads ({})", self.pool_size, self.threads),
            ));
        }
        positive("db.connect_timeout", self.connect_timeout)?;
        positive("db.query_timeout", self.query_timeout)?;
        let base = url::Url::parse("http://ca.test/").expect("static URL");
        urls::UrlTemplates::new(base, &self.cert_url, &self.authz_url, &self.order_url)
            .map_err(|e| ("db.cert_url/authz_url/order_url", e))?;
        Ok(())
    }
}
