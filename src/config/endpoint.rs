//! HTTP endpoints in the configuration: http targets, a ticket rule's
//! `check`, `[[notify]]` webhooks and `[[audit.ship]]` collectors all name one the same way:
//! a URL (a template with `{placeholders}`, or a secret reference when the URL itself is the
//! secret, as a Slack webhook's is), an optional auth header whose value is a secret
//! reference, an optional HMAC signing secret, a timeout and a number of retries.

use super::document::{Fields, Node, Reader};
use crate::secret::SecretRef;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// Where requests go: a URL template, or a reference to a secret holding one.
#[derive(Clone, Debug)]
pub enum Location {
    Template(String),
    Secret(SecretRef),
}

impl Location {
    /// The URL as it may be shown: the template, or the reference for a secret URL.
    pub fn shown(&self) -> String {
        match self {
            Location::Template(text) => text.clone(),
            Location::Secret(reference) => reference.to_string(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Endpoint {
    pub url: Location,
    /// The value of the auth header (`Bearer …`, `Basic …`), as a secret reference.
    pub auth: Option<SecretRef>,
    pub auth_header: String,
    /// The key of the `X-Jit-Signature` HMAC-SHA256 over each body.
    pub signing_secret: Option<SecretRef>,
    /// For each request, connecting included.
    pub timeout: Duration,
    /// How many times a request that met a 5xx answer, a 429 or no answer is sent again.
    pub retries: u32,
}

impl Endpoint {
    /// Every secret reference the endpoint uses, with the key that names it.
    pub fn secret_refs(&self) -> Vec<(String, &SecretRef)> {
        let url = match &self.url {
            Location::Secret(reference) => Some(reference),
            Location::Template(_) => None,
        };
        [
            ("url", url),
            ("auth", self.auth.as_ref()),
            ("signing_secret", self.signing_secret.as_ref()),
        ]
        .into_iter()
        .filter_map(|(key, reference)| Some((key.to_owned(), reference?)))
        .collect()
    }
}

/// The placeholders a URL template may hold, and nothing else.
pub struct Placeholders(pub &'static [&'static str]);

pub const LEASE_PLACEHOLDERS: Placeholders =
    Placeholders(&["lease_id", "role", "subject", "target"]);
pub const TICKET_PLACEHOLDERS: Placeholders = Placeholders(&["ticket"]);
pub const NO_PLACEHOLDERS: Placeholders = Placeholders(&[]);

/// The timeout and retries of an endpoint that does not set them (they differ by use).
pub struct EndpointDefaults {
    pub timeout: Duration,
    pub retries: u32,
}

/// Read an endpoint's keys (`url`, `auth`, `auth_header`, `signing_secret`, `timeout`,
/// `retries`) from `fields` (of a table without a prefix: `url`, not `ticket.check.url`).
pub fn read_endpoint(
    reader: &mut Reader<'_>,
    fields: &mut Fields<'_>,
    base: &Path,
    placeholders: &Placeholders,
    defaults: EndpointDefaults,
) -> Option<Endpoint> {
    let url = fields.need_as(reader, "url", "", |reader, node, what| {
        read_location(reader, node, what, base, placeholders)
    });
    let auth = fields.secret(reader, "auth", base);
    let auth_header = fields.get_or(
        reader,
        "auth_header",
        "Authorization".to_owned(),
        |reader, node, what| {
            reader.checked(
                node,
                what,
                |name| match reqwest::header::HeaderName::from_bytes(name.as_bytes()) {
                    Ok(_) => Ok(()),
                    Err(_) => Err(format!("{name:?} is not an HTTP header name")),
                },
            )
        },
    );
    let signing_secret = fields.secret(reader, "signing_secret", base);
    let timeout = fields
        .duration(reader, "timeout")
        .unwrap_or(defaults.timeout);
    let retries = fields
        .count(reader, "retries", 10)
        .unwrap_or(defaults.retries);
    Some(Endpoint {
        url: url?,
        auth,
        auth_header: auth_header?,
        signing_secret,
        timeout,
        retries,
    })
}

/// A URL key: a secret reference, or an `http(s)` URL whose `{placeholders}` are known.
pub fn read_location(
    reader: &mut Reader<'_>,
    node: &Spanned<Node>,
    what: &str,
    base: &Path,
    placeholders: &Placeholders,
) -> Option<Location> {
    let text = reader.string(node, what)?;
    // A reference, or a mistyped one (which would otherwise read as a URL of scheme
    // `keyring:`): the secret's own error says what is wrong with it.
    let reference = ["keyring:", "env:", "file:"]
        .iter()
        .any(|scheme| text.starts_with(scheme));
    if reference {
        return reader.secret(node, what, base).map(Location::Secret);
    }
    match check_template(&text, placeholders) {
        Ok(()) => Some(Location::Template(text)),
        Err(err) => {
            reader.error(node.span(), format!("{what}: {err}"));
            None
        }
    }
}

/// Is `text` an http(s) URL once its placeholders are filled, naming only known ones?
fn check_template(text: &str, placeholders: &Placeholders) -> Result<(), String> {
    let mut sample = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        sample.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("{text:?} has a `{{` without its `}}`"));
        };
        let name = &rest[open + 1..open + close];
        if !placeholders.0.contains(&name) {
            return Err(if placeholders.0.is_empty() {
                format!("{{{name}}} is not a placeholder here; this URL takes none")
            } else {
                format!(
                    "{{{name}}} is not a placeholder here; valid: {}",
                    placeholders
                        .0
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        }
        sample.push('x');
        rest = &rest[open + close + 1..];
    }
    sample.push_str(rest);
    let url =
        reqwest::Url::parse(&sample).map_err(|err| format!("{text:?} is not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} is not an http:// or https:// URL"));
    }
    if url.password().is_some() || !url.username().is_empty() {
        // Not quoted: the text holds a secret.
        return Err(format!(
            "the URL holds a user name or password: a literal secret is refused; put the \
             credentials in `auth` as a reference ({})",
            crate::secret::REFERENCE_FORMS
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_name_known_placeholders_and_are_http_urls() {
        assert_eq!(
            check_template("https://x.example/issue/{ticket}", &TICKET_PLACEHOLDERS),
            Ok(())
        );
        assert_eq!(
            check_template("https://x.example/issue/{tiket}", &TICKET_PLACEHOLDERS),
            Err("{tiket} is not a placeholder here; valid: {ticket}".to_owned())
        );
        assert_eq!(
            check_template("https://x.example/{ticket", &TICKET_PLACEHOLDERS),
            Err("\"https://x.example/{ticket\" has a `{` without its `}`".to_owned())
        );
        assert!(
            check_template("ftp://x.example/", &NO_PLACEHOLDERS)
                .unwrap_err()
                .contains("not an http:// or https:// URL")
        );
        let refused = check_template("https://jit:pw-1@x.example/", &NO_PLACEHOLDERS).unwrap_err();
        assert!(
            refused.contains("holds a user name or password"),
            "{refused}"
        );
        assert!(
            !refused.contains("pw-1"),
            "the password is not echoed: {refused}"
        );
        assert!(
            check_template("https://x.example/{lease_id}", &NO_PLACEHOLDERS)
                .unwrap_err()
                .contains("takes none")
        );
    }
}
