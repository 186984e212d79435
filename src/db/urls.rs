//! URLs of objects found in the database, built from configurable templates: the tool does not
//! learn them from `Location` headers, since it did not create them. Relative templates are
//! resolved against the directory URL. Each template is checked once, when the config is
//! loaded ([`Template::parse`]).

use url::Url;

/// An object the database names, whose URL is built from a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Certificate,
    Authorization,
    Order,
}

impl Object {
    fn name(self) -> &'static str {
        match self {
            Object::Certificate => "certificate",
            Object::Authorization => "authorization",
            Object::Order => "order",
        }
    }

    /// The placeholder without which the template cannot name one object.
    fn placeholder(self) -> &'static str {
        match self {
            Object::Certificate => "{serial}",
            Object::Authorization => "{authzID}",
            Object::Order => "{orderID}",
        }
    }
}

/// A URL template (`{serial}`, `{regID}`, `{authzID}`, `{orderID}`) holding the placeholder
/// its object needs; relative ones are resolved against the directory URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(String);

/// A template lacking its object's placeholder.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{object} template {template:?} lacks {placeholder}")]
pub struct TemplateError {
    object: &'static str,
    template: String,
    placeholder: &'static str,
}

impl Template {
    pub fn parse(object: Object, template: &str) -> Result<Template, TemplateError> {
        if !template.contains(object.placeholder()) {
            return Err(TemplateError {
                object: object.name(),
                template: template.to_owned(),
                placeholder: object.placeholder(),
            });
        }
        Ok(Template(template.to_owned()))
    }

    /// Boulder's current WFE path for `object`.
    pub fn boulder(object: Object) -> Template {
        Template(
            match object {
                Object::Certificate => "/acme/cert/{serial}",
                Object::Authorization => "/acme/authz/{regID}/{authzID}",
                Object::Order => "/acme/order/{regID}/{orderID}",
            }
            .to_owned(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id an object URL ends with (Boulder's `/acme/acct/{id}`, `/acme/order/{regID}/{id}`,
/// `/acme/authz/{regID}/{id}`): the row's primary key. `None` for URLs of another shape.
pub fn last_id(url: &str) -> Option<u64> {
    let path = url.split(['?', '#']).next()?;
    path.trim_end_matches('/').rsplit('/').next()?.parse().ok()
}

/// The three templates, resolved against the directory.
#[derive(Debug, Clone)]
pub struct UrlTemplates {
    base: Url,
    cert: Template,
    authz: Template,
    order: Template,
}

impl UrlTemplates {
    pub fn new(base: Url, cert: Template, authz: Template, order: Template) -> Self {
        UrlTemplates {
            base,
            cert,
            authz,
            order,
        }
    }

    fn resolve(&self, path: String) -> String {
        self.base.join(&path).map_or(path, |url| url.to_string())
    }

    pub fn cert(&self, serial: &str) -> String {
        self.resolve(self.cert.0.replace("{serial}", serial))
    }

    pub fn authz(&self, registration_id: i64, authz_id: u64) -> String {
        self.resolve(
            self.authz
                .0
                .replace("{regID}", &registration_id.to_string())
                .replace("{authzID}", &authz_id.to_string()),
        )
    }

    pub fn order(&self, registration_id: i64, order_id: u64) -> String {
        self.resolve(
            self.order
                .0
                .replace("{regID}", &registration_id.to_string())
                .replace("{orderID}", &order_id.to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_at_the_end_of_object_urls() {
        assert_eq!(last_id("http://b:4001/acme/acct/17"), Some(17));
        assert_eq!(last_id("http://b:4001/acme/order/17/900/"), Some(900));
        assert_eq!(last_id("https://ca/my-order/abcd"), None);
        assert_eq!(last_id("http://b/acme/authz/1/5?x=1"), Some(5));
    }

    fn parse(object: Object, template: &str) -> Template {
        Template::parse(object, template).unwrap()
    }

    #[test]
    fn boulder_paths_from_the_directory_origin() {
        let base = Url::parse("http://boulder:4001/directory").unwrap();
        let t = UrlTemplates::new(
            base,
            Template::boulder(Object::Certificate),
            Template::boulder(Object::Authorization),
            Template::boulder(Object::Order),
        );
        assert_eq!(t.cert("ff00aa"), "http://boulder:4001/acme/cert/ff00aa");
        assert_eq!(t.authz(7, 42), "http://boulder:4001/acme/authz/7/42");
        assert_eq!(t.order(7, 9), "http://boulder:4001/acme/order/7/9");
    }

    #[test]
    fn older_boulder_and_absolute_templates() {
        let base = Url::parse("https://ca.test/directory").unwrap();
        let t = UrlTemplates::new(
            base,
            parse(Object::Certificate, "https://get.ca.test/get/cert/{serial}"),
            parse(Object::Authorization, "/acme/authz-v3/{authzID}"),
            parse(Object::Order, "/acme/order/{regID}/{orderID}"),
        );
        assert_eq!(t.cert("01"), "https://get.ca.test/get/cert/01");
        assert_eq!(t.authz(7, 42), "https://ca.test/acme/authz-v3/42");
    }

    #[test]
    fn a_template_without_its_placeholder_is_refused() {
        let err = Template::parse(Object::Certificate, "/acme/cert/").unwrap_err();
        assert_eq!(
            err.to_string(),
            "certificate template \"/acme/cert/\" lacks {serial}"
        );
        for object in [Object::Certificate, Object::Authorization, Object::Order] {
            let boulder = Template::boulder(object);
            assert_eq!(Template::parse(object, boulder.as_str()), Ok(boulder));
        }
    }
}
