//! The one list of backend kinds: the only place that names them all. A new backend is a
//! folder `backend/<kind>/` and one line here.

use super::{Kind, aws, command, http, mysql, postgres, ssh, sudo};

/// Every kind, in the order `jit config check` lists them.
pub const KINDS: &[&dyn Kind] = &[
    &aws::config::Kind,
    &command::config::Kind,
    &http::config::Kind,
    &mysql::config::Kind,
    &postgres::config::Kind,
    &ssh::config::Kind,
    &sudo::config::Kind,
];

/// The kind `backend = "name"` names.
pub fn find(name: &str) -> Option<&'static dyn Kind> {
    KINDS.iter().copied().find(|kind| kind.name() == name)
}

/// The valid values of `backend`, for error messages: `aws, command, ...`.
pub fn names() -> String {
    KINDS
        .iter()
        .map(|kind| kind.name())
        .collect::<Vec<_>>()
        .join(", ")
}
