//! The `[db]` table: Boulder's database, read-only (`--mysql` gives the URL too, and wins).
//! The URL and the templates are parsed when the file is read.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{positive, Invalid};
use crate::db::dsn::DbUrl;
use crate::db::urls::{Object, Template, UrlTemplates};
use crate::db::DbSettings;
use crate::units::deserialize_duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Db {
    /// Go-style DSN (`user:pass@tcp(host:port)/boulder`) or `mysql://` URL; off when absent.
    pub url: Option<DbUrl>,
    /// Db actors (threads) running queries.
    pub threads: usize,
    /// Connections to the database.
    pub pool_size: u32,
    #[serde(deserialize_with = "deserialize_duration")]
    pub connect_timeout: Duration,
    /// Bound on every statement: a hint in each statement (`MAX_EXECUTION_TIME`, vtgate's
    /// `QUERY_TIMEOUT_MS`) and the session's `max_statement_time` (MariaDB) or
    /// `max_execution_time` (MySQL). A statement beyond it fails alone (`db:timeout`), without
    /// marking the database down.
    #[serde(deserialize_with = "deserialize_duration")]
    pub query_timeout: Duration,
    /// Where a stored certificate is fetched: `{serial}` is its hex serial.
    #[serde(deserialize_with = "cert_template")]
    pub cert_url: Template,
    /// Where a stored authorization is fetched: `{regID}`, `{authzID}`.
    #[serde(deserialize_with = "authz_template")]
    pub authz_url: Template,
    /// Where a stored order is fetched: `{regID}`, `{orderID}`.
    #[serde(deserialize_with = "order_template")]
    pub order_url: Template,
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
            cert_url: Template::boulder(Object::Certificate),
            authz_url: Template::boulder(Object::Authorization),
            order_url: Template::boulder(Object::Order),
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
    pub fn url_templates(&self, directory: &url::Url) -> UrlTemplates {
        UrlTemplates::new(
            directory.clone(),
            self.cert_url.clone(),
            self.authz_url.clone(),
            self.order_url.clone(),
        )
    }

    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if !(1..=64).contains(&self.threads) {
            return Err(Invalid::new(
                "db.threads",
                format!("{} is not within 1..=64", self.threads),
            ));
        }
        if (self.pool_size as usize) < self.threads {
            return Err(Invalid::new(
                "db.pool_size",
                format!("{} is below db.threads ({})", self.pool_size, self.threads),
            ));
        }
        positive("db.connect_timeout", self.connect_timeout)?;
        positive("db.query_timeout", self.query_timeout)
    }
}

fn template<'de, D: Deserializer<'de>>(d: D, object: Object) -> Result<Template, D::Error> {
    let text = String::deserialize(d)?;
    Template::parse(object, &text).map_err(serde::de::Error::custom)
}

fn cert_template<'de, D: Deserializer<'de>>(d: D) -> Result<Template, D::Error> {
    template(d, Object::Certificate)
}

fn authz_template<'de, D: Deserializer<'de>>(d: D) -> Result<Template, D::Error> {
    template(d, Object::Authorization)
}

fn order_template<'de, D: Deserializer<'de>>(d: D) -> Result<Template, D::Error> {
    template(d, Object::Order)
}
