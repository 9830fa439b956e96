//! A small client for the Query APIs of IAM and STS: form-encoded POSTs signed with SigV4
//! (`aws-sigv4`), XML answers, AWS's error codes, and retries with backoff on throttling,
//! 5xx answers and unreachable endpoints.

use super::BackendError;
use super::config::AwsTarget;
use crate::secret::Secret;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use std::cell::OnceCell;
use std::time::SystemTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Iam,
    Sts,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
        }
    }

    fn version(self) -> &'static str {
        match self {
            Service::Iam => "2010-05-08",
            Service::Sts => "2011-06-15",
        }
    }
}

#[derive(Debug)]
pub enum ApiError {
    /// AWS answered with an error.
    Aws {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer, after the request may have been sent (a timeout, a connection lost).
    Transport(String),
    /// No connection could be opened (refused, name not found, TLS handshake failed):
    /// nothing was sent.
    Unreached(String),
    /// Nothing was sent: a secret or the request could not be prepared.
    Local(String),
}

/// Codes AWS uses for "slow down" and for its own failures.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "ServiceFailure",
    "InternalFailure",
    "RequestTimeout",
];

impl ApiError {
    pub fn is(&self, wanted: &str) -> bool {
        matches!(self, ApiError::Aws { code, .. } if code == wanted)
    }

    fn transient(&self) -> bool {
        match self {
            ApiError::Aws { status, code, .. } => {
                *status >= 500 || TRANSIENT_CODES.contains(&code.as_str())
            }
            ApiError::Transport(_) | ApiError::Unreached(_) => true,
            ApiError::Local(_) => false,
        }
    }

    /// Whether the request is known not to have left this process.
    fn nothing_sent(&self) -> bool {
        matches!(self, ApiError::Unreached(_) | ApiError::Local(_))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Aws { code, message, .. } if message.is_empty() => write!(f, "AWS {code}"),
            ApiError::Aws { code, message, .. } => write!(f, "AWS {code}: {message}"),
            ApiError::Transport(message)
            | ApiError::Unreached(message)
            | ApiError::Local(message) => f.write_str(message),
        }
    }
}

impl From<ApiError> for BackendError {
    fn from(err: ApiError) -> Self {
        if let ApiError::Unreached(_) = err {
            BackendError::unreached(err.to_string())
        } else if let ApiError::Local(_) = err {
            BackendError::refused(err.to_string())
        } else if err.transient() {
            BackendError::transient(err.to_string())
        } else {
            BackendError::permanent(err.to_string())
        }
    }
}

struct Keys {
    access_key_id: Secret<String>,
    secret_access_key: Secret<String>,
    session_token: Option<Secret<String>>,
}

pub struct AwsApi {
    settings: AwsTarget,
    http: OnceCell<reqwest::blocking::Client>,
    keys: OnceCell<Keys>,
}

impl AwsApi {
    pub fn new(settings: AwsTarget) -> Self {
        AwsApi {
            settings,
            http: OnceCell::new(),
            keys: OnceCell::new(),
        }
    }

    pub fn settings(&self) -> &AwsTarget {
        &self.settings
    }

    pub fn region(&self) -> &str {
        &self.settings.region
    }

    fn url(&self, service: Service) -> String {
        match (&self.settings.endpoint, service) {
            (Some(endpoint), _) => format!("{endpoint}/"),
            (None, Service::Iam) => "https://iam.amazonaws.com/".to_owned(),
            (None, Service::Sts) => format!("https://sts.{}.amazonaws.com/", self.settings.region),
        }
    }

    /// IAM is global and signed for us-east-1; STS is regional.
    fn signing_region(&self, service: Service) -> &str {
        match service {
            Service::Iam => "us-east-1",
            Service::Sts => &self.settings.region,
        }
    }

    fn http(&self) -> Result<&reqwest::blocking::Client, ApiError> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = crate::http::build_client(self.settings.timeout).map_err(ApiError::Local)?;
        Ok(self.http.get_or_init(|| client))
    }

    fn keys(&self) -> Result<&Keys, ApiError> {
        if let Some(keys) = self.keys.get() {
            return Ok(keys);
        }
        let resolve = |reference: &crate::secret::SecretRef, what: &str| {
            reference
                .resolve()
                .map_err(|err| ApiError::Local(format!("{what}: {err}")))
        };
        let keys = Keys {
            access_key_id: resolve(&self.settings.access_key_id, "access_key_id")?,
            secret_access_key: resolve(&self.settings.secret_access_key, "secret_access_key")?,
            session_token: self
                .settings
                .session_token
                .as_ref()
                .map(|r| resolve(r, "session_token"))
                .transpose()?,
        };
        Ok(self.keys.get_or_init(|| keys))
    }

    /// Call `action` with `params`, retrying what may succeed later; the XML answer.
    pub fn call(
        &self,
        service: Service,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<String, ApiError> {
        let body = [("Action", action), ("Version", service.version())]
            .iter()
            .chain(params)
            .map(|(key, value)| format!("{}={}", form_encode(key), form_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let mut attempt = 0;
        // Whether an earlier attempt may have been received: then a later one that could
        // not be sent says nothing about what happened.
        let mut reached = false;
        loop {
            match self.send(service, &body) {
                Err(err) if err.transient() && attempt < self.settings.retries => {
                    reached |= !err.nothing_sent();
                    attempt += 1;
                    std::thread::sleep(crate::http::backoff(attempt));
                }
                Err(ApiError::Unreached(message) | ApiError::Local(message)) if reached => {
                    return Err(ApiError::Transport(message));
                }
                outcome => return outcome,
            }
        }
    }

    fn send(&self, service: Service, body: &str) -> Result<String, ApiError> {
        let url = self.url(service);
        let keys = self.keys()?;
        let identity = aws_credential_types::Credentials::new(
            keys.access_key_id.expose(),
            keys.secret_access_key.expose(),
            keys.session_token.as_ref().map(|t| t.expose().clone()),
            None,
            "jit",
        )
        .into();
        let signing = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.signing_region(service))
            .name(service.name())
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|err| ApiError::Local(format!("signing: {err}")))?
            .into();
        const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            [("content-type", CONTENT_TYPE)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .and_then(|request| sign(request, &signing))
        .map_err(|err| ApiError::Local(format!("signing: {err}")))?;
        let (instructions, _signature) = signable.into_parts();
        let mut request = self
            .http()?
            .post(&url)
            .header("content-type", CONTENT_TYPE)
            .body(body.to_owned());
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let transport = |err: reqwest::Error| {
            ApiError::Transport(format!(
                "{} at {url}: {}",
                service.name(),
                crate::http::cause(&err)
            ))
        };
        let response = request.send().map_err(|err| {
            if err.is_connect() {
                ApiError::Unreached(format!(
                    "{} at {url}: {}",
                    service.name(),
                    crate::http::cause(&err)
                ))
            } else {
                transport(err)
            }
        })?;
        let status = response.status().as_u16();
        let text = response.text().map_err(transport)?;
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err(error_of(status, &text))
        }
    }
}

/// A form value as the AWS SDKs write it (Python's `quote_plus`): letters, digits and
/// `-_.~` as they are, space as `+`, every other byte as `%XX`. AWS hashes the body as
/// sent; emulators that hash their own re-encoding of it agree only with this form.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// An error answer: `<ErrorResponse><Error><Code>..</Code><Message>..</Message>`.
fn error_of(status: u16, body: &str) -> ApiError {
    let code = text_at(body, &["Error", "Code"]);
    let message = text_at(body, &["Error", "Message"]).unwrap_or_default();
    match code {
        Some(code) => ApiError::Aws {
            status,
            code,
            message,
        },
        None => ApiError::Aws {
            status,
            code: format!("HTTP {status}"),
            message: body.chars().take(200).collect::<String>().trim().to_owned(),
        },
    }
}

/// The text of the first element reached by following `path` (element names, any depth
/// for the first, then children), such as `["Credentials", "AccessKeyId"]`.
pub fn text_at(xml: &str, path: &[&str]) -> Option<String> {
    let document = roxmltree::Document::parse(xml).ok()?;
    let (first, rest) = path.split_first()?;
    let mut node = document
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == *first)?;
    for name in rest {
        node = node
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == *name)?;
    }
    Some(node.text().unwrap_or_default().trim().to_owned())
}

/// The texts of every element named `name`, such as each `PolicyArn` of a listing.
pub fn texts_of(xml: &str, name: &str) -> Vec<String> {
    roxmltree::Document::parse(xml)
        .map(|document| {
            document
                .descendants()
                .filter(|n| n.is_element() && n.tag_name().name() == name)
                .map(|n| n.text().unwrap_or_default().trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_become_codes_and_messages() {
        let body = r#"<?xml version="1.0"?><ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The user policy with name jit-x cannot be found.</Message></Error><RequestId>1</RequestId></ErrorResponse>"#;
        let err = error_of(404, body);
        assert!(err.is("NoSuchEntity"));
        assert!(!err.transient());
        assert_eq!(
            err.to_string(),
            "AWS NoSuchEntity: The user policy with name jit-x cannot be found."
        );
        assert!(
            error_of(
                400,
                "<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"
            )
            .transient()
        );
        assert!(error_of(503, "busy").transient());
        assert_eq!(error_of(503, "busy").to_string(), "AWS HTTP 503: busy");
    }

    #[test]
    fn forms_are_encoded_as_the_sdks_encode_them() {
        assert_eq!(
            form_encode(r#"{"Action": "*", "x": "a/b~c"}"#),
            "%7B%22Action%22%3A+%22%2A%22%2C+%22x%22%3A+%22a%2Fb~c%22%7D"
        );
    }

    #[test]
    fn answers_are_read_by_path() {
        let body = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA1</AccessKeyId></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        assert_eq!(
            text_at(body, &["Credentials", "AccessKeyId"]).as_deref(),
            Some("ASIA1")
        );
        assert_eq!(text_at(body, &["Credentials", "Nope"]), None);
        assert_eq!(texts_of(body, "AccessKeyId"), ["ASIA1"]);
    }
}
