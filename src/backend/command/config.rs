//! Settings of `backend = "command"` targets and the `grant` table of their roles.

use crate::config::document::{Fields, Node, Reader};
use crate::secret::{SecretRef, is_secret_key};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A program speaking the versioned JSON protocol of `docs/command-protocol.md`.
#[derive(Clone, Debug)]
pub struct CommandTarget {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub timeout: Duration,
    /// Environment given to the program; values are secret references resolved at run time.
    pub env: Vec<(String, SecretRef)>,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn parse_target(reader: &mut Reader<'_>, fields: &mut Fields<'_>, base: &Path) -> Option<CommandTarget> {
    let program = fields.need_as(reader, "program", " (the executable to run)", |reader, node, what| {
        let text = reader.string(node, what)?;
        if text.is_empty() {
            reader.error(node.span(), "program must name an executable");
            return None;
        }
        Some(base.join(text))
    });
    let args = fields
        .strings(reader, "args")
        .map(|list| list.into_iter().map(Spanned::into_inner).collect())
        .unwrap_or_default();
    let timeout = fields.duration(reader, "timeout").unwrap_or(DEFAULT_TIMEOUT);
    let mut env = Vec::new();
    if let Some(node) = fields.take("env")
        && let Some(mut table) = reader.table(node, "env")
    {
        for (key, value) in table.rest() {
            let name = key.get_ref();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                reader.error(
                    key.span(),
                    format!("{name:?} is not an environment variable name"),
                );
                continue;
            }
            if let Some(reference) = reader.secret(value, &format!("env.{name}"), base) {
                env.push((name.clone(), reference));
            }
        }
    }
    Some(CommandTarget {
        program: program?,
        args,
        timeout,
        env,
    })
}

/// The `grant` table of a command role is free-form: it reaches the program as `params`.
/// Keys that name secrets must hold references, never literal secrets.
pub fn parse_grant(reader: &mut Reader<'_>, node: &Spanned<Node>) -> Option<serde_json::Value> {
    if !matches!(node.get_ref(), Node::Table(_)) {
        reader.error(
            node.span(),
            format!("grant must be a table, not {}", node.get_ref().kind()),
        );
        return None;
    }
    let before = reader.errors.len();
    refuse_literal_secrets(reader, node);
    (reader.errors.len() == before).then(|| node.get_ref().to_json())
}

fn refuse_literal_secrets(reader: &mut Reader<'_>, node: &Spanned<Node>) {
    match node.get_ref() {
        Node::Table(entries) => {
            for (key, value) in entries {
                if is_secret_key(key.get_ref()) {
                    let literal = match value.get_ref() {
                        Node::Str(text) => SecretRef::parse(text).err(),
                        _ => Some(format!(
                            "a secret must be a reference ({})",
                            crate::secret::REFERENCE_FORMS
                        )),
                    };
                    if let Some(err) = literal {
                        reader.error(value.span(), format!("{}: {err}", key.get_ref()));
                    }
                } else {
                    refuse_literal_secrets(reader, value);
                }
            }
        }
        Node::Array(items) => items
            .iter()
            .for_each(|item| refuse_literal_secrets(reader, item)),
        _ => {}
    }
}

/// `backend = "command"` in the registry ([`crate::backend::KINDS`]).
pub const KIND: crate::backend::Kind = crate::backend::Kind {
    name: "command",
    read_target: |reader, fields, base| {
        Some(std::sync::Arc::new(parse_target(reader, fields, base)?))
    },
};

impl crate::backend::Settings for CommandTarget {
    fn secret_refs(&self) -> Vec<(String, &crate::secret::SecretRef)> {
        self.env
            .iter()
            .map(|(name, reference)| (format!("env.{name}"), reference))
            .collect()
    }

    fn read_grant(
        &self,
        reader: &mut Reader<'_>,
        node: &Spanned<Node>,
    ) -> Option<serde_json::Value> {
        parse_grant(reader, node)
    }

    fn default_grant(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::Object(Default::default()))
    }

    fn backend(&self) -> Box<dyn crate::backend::Backend> {
        Box::new(super::CommandBackend::new(self.clone()))
    }
}
