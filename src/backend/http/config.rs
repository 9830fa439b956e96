//! Settings of `backend = "http"` targets: an endpoint (see [`crate::config::endpoint`]),
//! and where revocations go.

use crate::config::document::{Fields, Node, Reader};
use crate::config::endpoint::{
    Endpoint, EndpointDefaults, LEASE_PLACEHOLDERS, Location, read_endpoint, read_location,
};
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// `backend = "http"`: grants and revocations are HTTP calls to a service.
#[derive(Clone, Debug)]
pub struct HttpTarget {
    /// Where `grant` and `extend` are POSTed (and `revoke`, unless `revoke_url` says
    /// otherwise), with the auth, signing, timeout and retries of every call.
    pub endpoint: Endpoint,
    pub revoke_url: Option<Location>,
    pub revoke_method: RevokeMethod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeMethod {
    Post,
    Delete,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_RETRIES: u32 = 3;

/// An endpoint's keys, and where revocations go.
pub fn parse_target(reader: &mut Reader<'_>, fields: &mut Fields<'_>, base: &Path) -> Option<HttpTarget> {
    // Named in messages before the endpoint's keys.
    fields.list(&["backend", "description"]);
    let endpoint = read_endpoint(
        reader,
        fields,
        base,
        &LEASE_PLACEHOLDERS,
        EndpointDefaults {
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
        },
    );
    let revoke_url = fields
        .take("revoke_url")
        .map(|node| read_location(reader, node, "revoke_url", base, &LEASE_PLACEHOLDERS));
    let methods = [("POST", RevokeMethod::Post), ("DELETE", RevokeMethod::Delete)];
    let revoke_method = fields.get_or(reader, "revoke_method", RevokeMethod::Post, |r, n, what| {
        r.choice(n, what, &methods, true)
    });
    Some(HttpTarget {
        endpoint: endpoint?,
        revoke_url: revoke_url.map(|url| url.ok_or(())).transpose().ok()?,
        revoke_method: revoke_method?,
    })
}

/// `backend = "http"` in the registry ([`crate::backend::KINDS`]).
pub const KIND: crate::backend::Kind = crate::backend::Kind {
    name: "http",
    read_target: |reader, fields, base| {
        Some(std::sync::Arc::new(parse_target(reader, fields, base)?))
    },
};

impl crate::backend::Settings for HttpTarget {
    fn secret_refs(&self) -> Vec<(String, &crate::secret::SecretRef)> {
        let mut refs = self.endpoint.secret_refs();
        if let Some(Location::Secret(reference)) = &self.revoke_url {
            refs.push(("revoke_url".to_owned(), reference));
        }
        refs
    }

    fn read_grant(
        &self,
        reader: &mut Reader<'_>,
        node: &Spanned<Node>,
    ) -> Option<serde_json::Value> {
        crate::backend::command::config::parse_grant(reader, node)
    }

    fn default_grant(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::Object(Default::default()))
    }

    fn backend(&self) -> Box<dyn crate::backend::Backend> {
        Box::new(super::HttpBackend::new(self.clone()))
    }
}
