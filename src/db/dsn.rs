//! `--mysql` accepts the original Go-style DSN (`user:pass@tcp(host:port)/db`, as Boulder's
//! configs write it) or a `mysql://` URL, and turns either into the URL diesel wants.

use url::Url;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--mysql {input:?}: {reason} (expected user:pass@tcp(127.0.0.1:3306)/boulder or mysql://user:pass@127.0.0.1:3306/boulder)")]
pub struct DsnError {
    input: String,
    reason: String,
}

/// Normalises a Go-style DSN or a `mysql://` URL to a `mysql://` URL.
pub fn to_url(input: &str) -> Result<Url, DsnError> {
    let err = |reason: &str| DsnError {
        input: input.to_owned(),
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
    fn mysql_urls_pass_through() {
        let url = to_url("mysql://root@127.0.0.1:3306/boulder").unwrap();
        assert_eq!(url.as_str(), "mysql://root@127.0.0.1:3306/boulder");
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
