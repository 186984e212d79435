//! `--mysql` accepts the original Go-style DSN (`user:pass@tcp(host:port)/db`, as Boulder's
//! configs write it) or a `mysql://` URL, and turns either into the URL diesel wants. Errors
//! show the input with its password masked.

use url::Url;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{input:?}: {reason} (expected user:pass@tcp(127.0.0.1:3306)/boulder or mysql://user:pass@127.0.0.1:3306/boulder)")]
pub struct DsnError {
    /// The input, its password masked.
    input: String,
    reason: String,
}

/// `input` with everything between the user name and the last `@` masked: the password,
/// whatever characters it holds (a Go DSN's password may contain `@` and `/`).
fn masked(input: &str) -> String {
    let (scheme, rest) = match input.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), input),
    };
    match rest.rsplit_once('@') {
        Some((credentials, tail)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            match credentials.contains(':') {
                true => format!("{scheme}{user}:***@{tail}"),
                false => input.to_owned(),
            }
        }
        None => input.to_owned(),
    }
}

/// Normalises a Go-style DSN or a `mysql://` URL to a `mysql://` URL.
pub fn to_url(input: &str) -> Result<Url, DsnError> {
    let err = |reason: &str| DsnError {
        input: masked(input),
        reason: reason.to_owned(),
    };
    if input.starts_with("mysql://") {
        let url = Url::parse(input).map_err(|e| err(&e.to_string()))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(err("no host"));
        }
        if url.path().trim_start_matches('/').is_empty() {
            return Err(err("no database name"));
        }
        return Ok(url);
    }
    let (credentials, rest) = match input.rsplit_once('@') {
        Some((c, r)) => (Some(c), r),
        None => (None, input),
    };
    let (address, database) = rest.split_once('/').ok_or_else(|| err("no /database"))?;
    let database = database.split('?').next().unwrap_or_default();
    if database.is_empty() {
        return Err(err("no database name"));
    }
    let host_port = match address.strip_prefix("tcp(") {
        Some(inner) => inner
            .strip_suffix(')')
            .ok_or_else(|| err("unclosed tcp("))?,
        None if address.is_empty() => "127.0.0.1:3306",
        None => return Err(err("only tcp(host:port) addresses are supported")),
    };
    let mut url = Url::parse(&format!("mysql://{host_port}/{database}"))
        .map_err(|e| err(&format!("bad address {host_port:?}: {e}")))?;
    if let Some(credentials) = credentials {
        let (user, password) = match credentials.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (credentials, None),
        };
        url.set_username(user).map_err(|_| err("bad user name"))?;
        url.set_password(password)
            .map_err(|_| err("bad password"))?;
    }
    Ok(url)
}

/// Boulder's database (`--mysql`, `db.url`) as diesel connects to it, parsed once: it shows
/// (`Display`, `Debug`) with its password masked; [`DbUrl::url`] is for connecting only.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct DbUrl(Url);

impl std::str::FromStr for DbUrl {
    type Err = DsnError;

    fn from_str(input: &str) -> Result<Self, DsnError> {
        to_url(input).map(DbUrl)
    }
}

impl TryFrom<String> for DbUrl {
    type Error = DsnError;

    fn try_from(input: String) -> Result<Self, DsnError> {
        input.parse()
    }
}

impl DbUrl {
    /// The `mysql://` URL, password included: for connecting, never for showing.
    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl std::fmt::Display for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({self})")
    }
}

/// The URL with its password masked, for logs.
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_dsn() {
        let url = to_url("user:pass@tcp(127.0.0.1:3306)/boulder").unwrap();
        assert_eq!(url.as_str(), "mysql://user:pass@127.0.0.1:3306/boulder");
        let url =
            to_url("sa@tcp(boulder-mysql:3306)/boulder_sa_integration?readTimeout=14s").unwrap();
        assert_eq!(
            url.as_str(),
            "mysql://sa@boulder-mysql:3306/boulder_sa_integration"
        );
        assert_eq!(
            to_url("root@/boulder").unwrap().as_str(),
            "mysql://root@127.0.0.1:3306/boulder"
        );
    }

    #[test]
    fn special_characters_in_passwords_are_encoded() {
        let url = to_url("u:p@ss/w0rd@tcp(127.0.0.1:3306)/db");
        // The last '@' separates credentials, so '/' in the password is kept.
        let url = url.unwrap();
        assert_eq!(url.username(), "u");
        assert_eq!(url.password(), Some("p%40ss%2Fw0rd"));
        assert_eq!(redacted(&url), "mysql://u:***@127.0.0.1:3306/db");
    }

    #[test]
    fn parsed_urls_never_show_the_password() {
        let url: DbUrl = "u:hunter2@tcp(127.0.0.1:3306)/db".parse().unwrap();
        assert_eq!(url.url().password(), Some("hunter2"));
        assert_eq!(url.to_string(), "mysql://u:***@127.0.0.1:3306/db");
        assert_eq!(format!("{url:?}"), "DbUrl(mysql://u:***@127.0.0.1:3306/db)");
    }

    #[test]
    fn mysql_urls_pass_through() {
        let url = to_url("mysql://root@127.0.0.1:3306/boulder").unwrap();
        assert_eq!(url.as_str(), "mysql://root@127.0.0.1:3306/boulder");
    }

    /// A malformed DSN is shown without its password, whatever the password holds.
    #[test]
    fn errors_mask_the_password() {
        for (bad, shown) in [
            (
                "u:hunter2@tcp(127.0.0.1:3306)",
                "\"u:***@tcp(127.0.0.1:3306)\": no /database",
            ),
            (
                "u:p@ss/hunter2@unix(/s)/db",
                "\"u:***@unix(/s)/db\": only tcp",
            ),
            (
                "mysql://u:hunter2@127.0.0.1:3306",
                "\"mysql://u:***@127.0.0.1:3306\": no database name",
            ),
            ("root@unix(/s)/db", "\"root@unix(/s)/db\": only tcp"),
        ] {
            let msg = to_url(bad).unwrap_err().to_string();
            assert!(msg.starts_with(shown), "{bad}: {msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }

    #[test]
    fn bad_uris_say_why() {
        for (bad, why) in [
            ("user:pass@tcp(127.0.0.1:3306)", "no /database"),
            ("user@tcp(127.0.0.1:3306/db", "unclosed tcp("),
            ("user@unix(/tmp/sock)/db", "only tcp"),
            ("mysql://127.0.0.1:3306", "no database name"),
            ("user@tcp(127.0.0.1:3306)/", "no database name"),
        ] {
            let msg = to_url(bad).unwrap_err().to_string();
            assert!(msg.contains(why), "{bad}: {msg}");
        }
    }
}
