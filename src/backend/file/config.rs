//! Settings of `backend = "file"` targets. Their roles' `grant` table is optional and empty.

use crate::config::document::{Fields, Node, Reader};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A directory of jit's own user where each lease is a file.
#[derive(Clone, Debug)]
pub struct FileTarget {
    pub directory: PathBuf,
}

pub fn parse_target(reader: &mut Reader<'_>, fields: &mut Fields<'_>, base: &Path) -> Option<FileTarget> {
    let directory = fields.need_as(reader, "directory", " (where the lease files go)", |r, n, what| {
        r.path(n, what, base)
    });
    Some(FileTarget {
        directory: directory?,
    })
}

/// `backend = "file"` in the registry ([`crate::backend::KINDS`]).
pub const KIND: crate::backend::Kind = crate::backend::Kind {
    name: "file",
    read_target: |reader, fields, base| {
        Some(std::sync::Arc::new(parse_target(reader, fields, base)?))
    },
};

impl crate::backend::Settings for FileTarget {
    fn read_grant(
        &self,
        reader: &mut Reader<'_>,
        node: &Spanned<Node>,
    ) -> Option<serde_json::Value> {
        let before = reader.errors.len();
        for (key, _) in reader.table(node, "grant")?.rest() {
            reader.error(
                key.span(),
                format!(
                    "unknown key `{}` in grant: a file role's grant takes no keys; leave `grant` out",
                    key.get_ref()
                ),
            );
        }
        if reader.errors.len() != before {
            return None;
        }
        self.default_grant()
    }

    fn default_grant(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::Object(Default::default()))
    }

    fn backend(&self) -> Box<dyn crate::backend::Backend> {
        Box::new(super::FileBackend::new(self.clone()))
    }
}
