//! `WEC_*` environment variables over the file's keys (`WEC_<SECTION>__<KEY>`): string keys
//! taken verbatim, the others parsed as numbers and booleans where they look like one.

use std::collections::HashMap;

use super::ENV_PREFIX;

/// A `WEC_*` variable whose value is not UTF-8.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not UTF-8")]
pub(super) struct NotUtf8(String);

/// Keys whose environment variables are taken verbatim, even when they look like a number or
/// a boolean (a token `0001234…` must keep its zeros); the other keys' variables are parsed as
/// numbers and booleans when they look like one, as their types want.
const STRING_KEYS: &[&str] = &[
    "target.directory_url",
    "target.ca_cert",
    "target.source_address_header",
    "target.source_addresses",
    "control.listen",
    "control.token",
    "db.url",
    "db.cert_url",
    "db.authz_url",
    "db.order_url",
    "chains.issue.base_domain",
    "chains.issue.contact",
    "chains.issue.verify_root",
    "chains.account_update.contact_domain",
    "challenge.doh_certificate",
    "challenge.doh_key",
    "statsd.address",
    "statsd.prefix",
    "statsd.procstats_prefix",
];

/// Lists of strings: comma-separated in the environment, each item verbatim (empty: `[]`).
const STRING_LIST_KEYS: &[&str] = &[
    "challenge.http01_listen",
    "challenge.tlsalpn01_listen",
    "challenge.dns_listen",
    "challenge.doh_listen",
    "challenge.base_domains",
    "challenge.addresses_v4",
    "challenge.addresses_v6",
];

/// `WEC_*` variables that are not config keys: the shard and start instant, read with the
/// command line ([`crate::sharding`]).
const NOT_KEYS: &[&str] = &[
    crate::sharding::SHARD_VAR,
    crate::sharding::SHARD_COUNT_VAR,
    crate::sharding::START_AT_VAR,
];

/// The process's `WEC_*` variables that stand for config keys.
pub(super) fn process() -> Result<HashMap<String, String>, NotUtf8> {
    std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            let key = name.starts_with(&format!("{ENV_PREFIX}_")) && !NOT_KEYS.contains(&&*name);
            key.then(|| {
                value
                    .into_string()
                    .map(|value| (name.clone(), value))
                    .map_err(|_| NotUtf8(name))
            })
        })
        .collect()
}

/// Adds the `WEC_*` variables of `env` over the file: string keys verbatim, the others parsed.
pub(super) fn add(
    mut builder: config::ConfigBuilder<config::builder::DefaultState>,
    env: HashMap<String, String>,
) -> Result<config::ConfigBuilder<config::builder::DefaultState>, config::ConfigError> {
    let prefix = format!("{}_", ENV_PREFIX.to_ascii_lowercase());
    let mut parsed = HashMap::new();
    for (name, value) in env {
        let lower = name.to_ascii_lowercase();
        let Some(key) = lower.strip_prefix(&prefix).map(|k| k.replace("__", ".")) else {
            continue;
        };
        if STRING_LIST_KEYS.contains(&key.as_str()) {
            let items: Vec<String> = match value.as_str() {
                "" => Vec::new(),
                list => list.split(',').map(str::to_owned).collect(),
            };
            builder = builder.set_override(&key, items)?;
        } else if STRING_KEYS.contains(&key.as_str()) {
            builder = builder.set_override(&key, value)?;
        } else {
            parsed.insert(name, value);
        }
    }
    Ok(builder.add_source(
        config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("chains.revoke.reasons")
            .source(Some(parsed)),
    ))
}
