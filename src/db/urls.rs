//! URLs of objects found in the database, built from configurable templates: the tool does not
//! learn them from `Location` headers, since it did not create them. Relative templates are
//! resolved against the directory URL.

use url::Url;

/// Boulder's current WFE paths.
pub const CERT: &str = "/acme/cert/{serial}";
pub const AUTHZ: &str = "/acme/authz/{regID}/{authzID}";
pub const ORDER: &str = "/acme/order/{regID}/{orderID}";

#[derive(Debug, Clone)]
pub struct UrlTemplates {
    base: Url,
    cert: String,
    authz: String,
    order: String,
}

impl UrlTemplates {
    /// Checks each template has the placeholders its object needs.
    pub fn new(base: Url, cert: &str, authz: &str, order: &str) -> Result<Self, String> {
        let require = |name: &str, template: &str, needed: &[&str]| match needed
            .iter()
            .find(|p| !template.contains(*p))
        {
            Some(p) => Err(format!("{name} template {template:?} lacks {p}")),
            None => Ok(template.to_owned()),
        };
        Ok(UrlTemplates {
            base,
            cert: require("certificate", cert, &["{serial}"])?,
            authz: require("authorization", authz, &["{authzID}"])?,
            order: require("order", order, &["{orderID}"])?,
        })
    }

    fn resolve(&self, path: String) -> String {
        self.base.join(&path).map_or(path, |url| url.to_string())
    }

    pub fn cert(&self, serial: &str) -> String {
        self.resolve(self.cert.replace("{serial}", serial))
    }

    pub fn authz(&self, registration_id: i64, authz_id: u64) -> String {
        self.resolve(
            self.authz
                .replace("{regID}", &registration_id.to_string())
                .replace("{authzID}", &authz_id.to_string()),
        )
    }

    pub fn order(&self, registration_id: i64, order_id: u64) -> String {
        self.resolve(
            self.order
                .replace("{regID}", &registration_id.to_string())
                .replace("{orderID}", &order_id.to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boulder_paths_from_the_directory_origin() {
        let base = Url::parse("http://boulder:4001/directory").unwrap();
        let t = UrlTemplates::new(base, CERT, AUTHZ, ORDER).unwrap();
        assert_eq!(t.cert("ff00aa"), "http://boulder:4001/acme/cert/ff00aa");
        assert_eq!(t.authz(7, 42), "http://boulder:4001/acme/authz/7/42");
        assert_eq!(t.order(7, 9), "http://boulder:4001/acme/order/7/9");
    }

    #[test]
    fn older_boulder_and_absolute_templates() {
        let base = Url::parse("https://ca.test/directory").unwrap();
        let t = UrlTemplates::new(
            base,
            "https://get.ca.test/get/cert/{serial}",
            "/acme/authz-v3/{authzID}",
            "/acme/order/{regID}/{orderID}",
        )
        .unwrap();
        assert_eq!(t.cert("01"), "https://get.ca.test/get/cert/01");
        assert_eq!(t.authz(7, 42), "https://ca.test/acme/authz-v3/42");
    }

    #[test]
    fn a_template_without_its_placeholder_is_refused() {
        let base = Url::parse("https://ca.test/dir").unwrap();
        let err = UrlTemplates::new(base, "/acme/cert/", AUTHZ, ORDER).unwrap_err();
        assert!(err.contains("{serial}"), "{err}");
    }
}
