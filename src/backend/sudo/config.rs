//! Settings of `backend = "sudo"` targets and the `grant` table of their roles.

use crate::config::document::{Fields, Node, Reader};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A sudoers drop-in directory on the host where jit runs.
#[derive(Clone, Debug)]
pub struct SudoTarget {
    /// Where drop-ins go (default `/etc/sudoers.d`, which Debian's sudoers includes).
    pub directory: PathBuf,
    /// The program that checks a drop-in before it is installed.
    pub visudo: PathBuf,
    /// The main sudoers file, read (with its includes) by `jit discover`.
    pub sudoers: PathBuf,
    /// sudo's converter, which reads sudoers files for `jit discover` (`-f json`).
    pub cvtsudoers: PathBuf,
}

/// A role's `grant` table, stored with each lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SudoGrant {
    /// Commands with their arguments; absolute paths.
    pub commands: Vec<String>,
    pub runas: String,
    pub nopasswd: bool,
}

pub fn parse_target(
    reader: &mut Reader<'_>,
    fields: &mut Fields<'_>,
    base: &Path,
) -> Option<SudoTarget> {
    let directory = fields
        .path(reader, "directory", base)
        .unwrap_or_else(|| PathBuf::from("/etc/sudoers.d"));
    let visudo = fields
        .string(reader, "visudo")
        .map_or_else(|| PathBuf::from("/usr/sbin/visudo"), PathBuf::from);
    let sudoers = fields
        .path(reader, "sudoers", base)
        .unwrap_or_else(|| PathBuf::from("/etc/sudoers"));
    let cvtsudoers = fields
        .string(reader, "cvtsudoers")
        .map_or_else(|| PathBuf::from("/usr/bin/cvtsudoers"), PathBuf::from);
    Some(SudoTarget {
        directory,
        visudo,
        sudoers,
        cvtsudoers,
    })
}

/// A command for a sudoers line: an absolute path, then arguments. Refused: anything that
/// could end the line or start a comment, backslashes (sudoers would read them as escapes),
/// and wildcards (`* ? [ ]` match any argument there). `, : =` are escaped when written.
pub fn check_command(command: &str) -> Result<(), String> {
    if !command.starts_with('/') {
        return Err(format!(
            "command {command:?} must start with an absolute path"
        ));
    }
    if let Some(c) = command
        .chars()
        .find(|c| c.is_control() || "#\\*?[]".contains(*c))
    {
        return Err(format!(
            "command {command:?} holds {c:?}, which is not allowed"
        ));
    }
    Ok(())
}

pub fn parse_grant(reader: &mut Reader<'_>, node: &Spanned<Node>) -> Option<serde_json::Value> {
    let mut fields = reader.table(node, "grant")?.prefixed("grant.");
    let before = reader.errors.len();
    let hint = " (absolute paths, with arguments)";
    let commands = fields.need_as(reader, "commands", hint, |r, n, what| {
        r.strings_each(n, what, check_command)
    });
    let runas = fields
        .get(reader, "runas", |reader, n, what| {
            reader.checked(n, what, |name| {
                let valid = name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
                if valid {
                    return Ok(());
                }
                Err(format!("{name:?} is not a lowercase account name"))
            })
        })
        .unwrap_or_else(|| "root".to_owned());
    let nopasswd = fields.boolean(reader, "nopasswd").unwrap_or(false);
    fields.finish(reader);
    let commands = commands?;
    if commands.is_empty() {
        reader.error(node.span(), "grant.commands must name at least one command");
    }
    if reader.errors.len() != before {
        return None;
    }
    serde_json::to_value(SudoGrant {
        commands,
        runas,
        nopasswd,
    })
    .ok()
}

/// `backend = "sudo"` in the registry ([`crate::backend::KINDS`]).
pub const KIND: crate::backend::Kind = crate::backend::Kind {
    name: "sudo",
    read_target: |reader, fields, base| {
        Some(std::sync::Arc::new(parse_target(reader, fields, base)?))
    },
};

impl crate::backend::Settings for SudoTarget {
    fn read_grant(
        &self,
        reader: &mut Reader<'_>,
        node: &Spanned<Node>,
    ) -> Option<serde_json::Value> {
        parse_grant(reader, node)
    }

    fn backend(&self) -> Box<dyn crate::backend::Backend> {
        Box::new(super::SudoBackend::new(self.clone()))
    }
}
