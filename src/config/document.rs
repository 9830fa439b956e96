//! A TOML document with a span on every key and value, and a reader that walks it,
//! collecting every error with its `file:line:column` instead of stopping at the first.
//!
//! The shape of every table reader: open the table ([`Reader::table`]; `.prefixed("grant.")`
//! names its values `grant.KEY` in messages), then state what it holds, one read per key:
//! the typed reads of [`Fields`] (`string`, `path`, `duration`, `count`, `secret`, `strings`,
//! `strings_each`, `boolean`, `name`), [`Fields::get`] and [`Fields::get_or`] for a value
//! with checks of its own (or a default; [`Reader::checked`] and [`Reader::choice`] are the
//! usual checks), [`Fields::need`] and [`Fields::need_as`] for a key that must be there
//! ("WHAT needs `KEY` HINT", at the table). Each read names its key once: the key is looked
//! up, marked used and listed as valid, in the order read, so [`Fields::finish`] refuses the
//! keys nobody asked for and names the valid ones without a list of its own. What is left in
//! a reader is what its table holds and the rules between its keys.
//!
//! Reading a key reports nothing by itself (only its value's checks do), so the order keys
//! are listed in and the order errors come in are independent: a table whose message names
//! keys in another order than it checks them reads with [`Fields::peek`] (not listed) and
//! names with [`Fields::list`] (not read), and keeps both.
//!
//! Not serde's `Deserialize`: it stops at the first error, and its messages are not these.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// One TOML value, with spans kept all the way down.
#[derive(Clone, Debug)]
pub enum Node {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Spanned<Node>>),
    Table(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl Node {
    /// What a person would call this kind of value, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Str(_) => "a string",
            Node::Int(_) => "an integer",
            Node::Float(_) => "a float",
            Node::Bool(_) => "a boolean",
            Node::Datetime(_) => "a datetime",
            Node::Array(_) => "an array",
            Node::Table(_) => "a table",
        }
    }

    /// The value as JSON (for backend parameters).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Str(s) | Node::Datetime(s) => Value::String(s.clone()),
            Node::Int(i) => Value::from(*i),
            Node::Float(f) => Value::from(*f),
            Node::Bool(b) => Value::Bool(*b),
            Node::Array(items) => {
                Value::Array(items.iter().map(|i| i.get_ref().to_json()).collect())
            }
            Node::Table(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.get_ref().clone(), v.get_ref().to_json()))
                    .collect(),
            ),
        }
    }
}

const DATETIME_KEY: &str = "$__toml_private_datetime";

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;

        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a TOML value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
                i64::try_from(v).map(Node::Int).map_err(E::custom)
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Node>>()? {
                    items.push(item);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    if key.get_ref() == DATETIME_KEY {
                        let text: String = map.next_value()?;
                        return Ok(Node::Datetime(text));
                    }
                    let value = map.next_value::<Spanned<Node>>()?;
                    entries.push((key, value));
                }
                Ok(Node::Table(entries))
            }
        }

        deserializer.deserialize_any(NodeVisitor)
    }
}

/// One configuration error, positioned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Every error found in one file.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, err) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{err}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Walks a document, turning spans into positions and collecting errors.
pub struct Reader<'s> {
    file: &'s Path,
    text: &'s str,
    pub errors: Vec<ConfigError>,
}

impl<'s> Reader<'s> {
    pub fn new(file: &'s Path, text: &'s str) -> Self {
        Reader {
            file,
            text,
            errors: Vec::new(),
        }
    }

    /// Parse the whole document into a spanned tree. A syntax error is the one error.
    pub fn parse(&mut self) -> Option<Spanned<Node>> {
        match toml::from_str::<Spanned<Node>>(self.text) {
            Ok(root) => Some(root),
            Err(err) => {
                let span = err.span().unwrap_or(0..0);
                self.error(span, err.message().trim().to_owned());
                None
            }
        }
    }

    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = position(self.text, span.start);
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        });
    }

    fn wrong_kind(&mut self, node: &Spanned<Node>, what: &str, expected: &str) {
        self.error(
            node.span(),
            format!("{what} must be {expected}, not {}", node.get_ref().kind()),
        );
    }

    /// Open a table for reading its keys.
    pub fn table<'t>(&mut self, node: &'t Spanned<Node>, what: &str) -> Option<Fields<'t>> {
        match node.get_ref() {
            Node::Table(entries) => Some(Fields {
                what: what.to_owned(),
                prefix: String::new(),
                span: node.span(),
                entries,
                used: vec![false; entries.len()],
                listed: Vec::new(),
            }),
            _ => {
                self.wrong_kind(node, what, "a table");
                None
            }
        }
    }

    pub fn string(&mut self, node: &Spanned<Node>, what: &str) -> Option<String> {
        match node.get_ref() {
            Node::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_kind(node, what, "a string");
                None
            }
        }
    }

    /// A string that passes `check`; otherwise "WHAT COMPLAINT", the complaint `check` gives.
    pub fn checked(
        &mut self,
        node: &Spanned<Node>,
        what: &str,
        check: impl FnOnce(&str) -> Result<(), String>,
    ) -> Option<String> {
        self.parsed(node, what, |text| match check(text) {
            Ok(()) => Ok(text.to_owned()),
            Err(complaint) => Err(format!("{what} {complaint}")),
        })
    }

    /// A string that is not blank: a name that messages (and checkpoints) go by.
    pub fn name(&mut self, node: &Spanned<Node>, what: &str) -> Option<String> {
        let text = self.string(node, what)?;
        if text.trim().is_empty() {
            self.error(node.span(), format!("{what} is empty"));
            return None;
        }
        Some(text)
    }

    /// A path, relative ones anchored at `base` (the configuration file's directory).
    pub fn path(&mut self, node: &Spanned<Node>, what: &str, base: &Path) -> Option<PathBuf> {
        self.string(node, what).map(|p| base.join(p))
    }

    pub fn boolean(&mut self, node: &Spanned<Node>, what: &str) -> Option<bool> {
        match node.get_ref() {
            Node::Bool(b) => Some(*b),
            _ => {
                self.wrong_kind(node, what, "true or false");
                None
            }
        }
    }

    pub fn count(&mut self, node: &Spanned<Node>, what: &str, max: u32) -> Option<u32> {
        match node.get_ref() {
            Node::Int(i) if (0..=i64::from(max)).contains(i) => u32::try_from(*i).ok(),
            Node::Int(i) => {
                self.error(
                    node.span(),
                    format!("{what} must be between 0 and {max}, not {i}"),
                );
                None
            }
            _ => {
                self.wrong_kind(node, what, "an integer");
                None
            }
        }
    }

    /// A string turned into a value by `parse`, whose error is the message, at the value.
    pub fn parsed<T>(
        &mut self,
        node: &Spanned<Node>,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.string(node, what)?;
        parse(&text)
            .map_err(|message| self.error(node.span(), message))
            .ok()
    }

    pub fn duration(&mut self, node: &Spanned<Node>, what: &str) -> Option<Duration> {
        self.parsed(node, what, |text| {
            crate::duration::parse(text).map_err(|err| format!("{what}: {err}"))
        })
    }

    /// A secret reference (`keyring:`, `env:`, `file:`), a `file:` path anchored at `base`.
    pub fn secret(
        &mut self,
        node: &Spanned<Node>,
        what: &str,
        base: &std::path::Path,
    ) -> Option<crate::secret::SecretRef> {
        self.parsed(node, what, |text| {
            match crate::secret::SecretRef::parse(text) {
                Ok(reference) => Ok(reference.anchored(base)),
                Err(err) => Err(format!("{what}: {err}")),
            }
        })
    }

    /// The `mode` key of a backend's `grant` table, one of `modes` (exactly two).
    pub fn grant_mode<T: Copy>(
        &mut self,
        fields: &mut Fields<'_>,
        modes: [(&str, T); 2],
    ) -> Option<T> {
        let hint = format!(" ({:?} or {:?})", modes[0].0, modes[1].0);
        let node = fields.need(self, "mode", &hint)?;
        self.choice(node, "grant.mode", &modes, false)
    }

    /// A string naming one of `choices`; otherwise "WHAT \"x\" is not one of a, b" (the
    /// choices `quoted` or not).
    pub fn choice<T: Copy>(
        &mut self,
        node: &Spanned<Node>,
        what: &str,
        choices: &[(&str, T)],
        quoted: bool,
    ) -> Option<T> {
        let text = self.string(node, what)?;
        if let Some((_, value)) = choices.iter().find(|(name, _)| *name == text) {
            return Some(*value);
        }
        let names: Vec<String> = choices
            .iter()
            .map(|(name, _)| {
                if quoted {
                    format!("{name:?}")
                } else {
                    (*name).to_owned()
                }
            })
            .collect();
        self.error(
            node.span(),
            format!("{what} {text:?} is not one of {}", names.join(", ")),
        );
        None
    }

    /// An array of strings, each passing `check`; one that does not is "WHAT: ERROR" at it,
    /// and left out.
    pub fn strings_each(
        &mut self,
        node: &Spanned<Node>,
        what: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<Vec<String>> {
        let list = self.strings(node, what)?;
        let mut out = Vec::with_capacity(list.len());
        for item in list {
            match check(item.get_ref()) {
                Ok(()) => out.push(item.into_inner()),
                Err(err) => self.error(item.span(), format!("{what}: {err}")),
            }
        }
        Some(out)
    }

    pub fn strings(&mut self, node: &Spanned<Node>, what: &str) -> Option<Vec<Spanned<String>>> {
        let Node::Array(items) = node.get_ref() else {
            self.wrong_kind(node, what, "an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let s = self.string(item, &format!("each entry of {what}"))?;
            out.push(Spanned::new(item.span(), s));
        }
        Some(out)
    }
}

/// The keys of one table: each read names its key, marks it used and lists it as valid;
/// `finish` reports the keys not used, naming the listed ones.
pub struct Fields<'t> {
    what: String,
    /// Put before a key to name its value in messages (`grant.`), empty for most tables.
    prefix: String,
    span: Range<usize>,
    entries: &'t [(Spanned<String>, Spanned<Node>)],
    used: Vec<bool>,
    listed: Vec<String>,
}

impl<'t> Fields<'t> {
    /// Name the values of this table `PREFIX.key` in messages (`grant.roles`).
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// How the table is named in messages (`[targets.db]`, `grant`).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Where the table is, for errors about it as a whole.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// A key's value, if present; the key is valid here from now on.
    pub fn take(&mut self, key: &str) -> Option<&'t Spanned<Node>> {
        self.list(&[key]);
        self.peek(key)
    }

    /// A key's value, marked used but not listed: for a key listed elsewhere in the
    /// message than where it is read.
    pub fn peek(&mut self, key: &str) -> Option<&'t Spanned<Node>> {
        let index = self.entries.iter().position(|(k, _)| k.get_ref() == key)?;
        self.used[index] = true;
        Some(&self.entries[index].1)
    }

    /// List keys as valid without reading them (those already listed keep their place).
    pub fn list(&mut self, keys: &[&str]) {
        for key in keys {
            if !self.listed.iter().any(|k| k == key) {
                self.listed.push((*key).to_owned());
            }
        }
    }

    /// List `first` before the keys listed so far and `last` after them, each unless it is
    /// listed already.
    pub fn frame(&mut self, first: &str, last: &str) {
        if !self.listed.iter().any(|k| k == first) {
            self.listed.insert(0, first.to_owned());
        }
        self.list(&[last]);
    }

    /// A key's value read by `read`, which is given the value's name for its messages.
    pub fn get<'s, T>(
        &mut self,
        reader: &mut Reader<'s>,
        key: &str,
        read: impl FnOnce(&mut Reader<'s>, &'t Spanned<Node>, &str) -> Option<T>,
    ) -> Option<T> {
        let node = self.take(key)?;
        read(reader, node, &format!("{}{key}", self.prefix))
    }

    /// A key's value read by `read`, or `default` when the key is absent (`None` when the
    /// value is there but wrong).
    pub fn get_or<'s, T>(
        &mut self,
        reader: &mut Reader<'s>,
        key: &str,
        default: T,
        read: impl FnOnce(&mut Reader<'s>, &'t Spanned<Node>, &str) -> Option<T>,
    ) -> Option<T> {
        match self.take(key) {
            Some(node) => read(reader, node, &format!("{}{key}", self.prefix)),
            None => Some(default),
        }
    }

    /// A key that must be there: missing, it is "WHAT needs `KEY`HINT" at the table.
    pub fn need(
        &mut self,
        reader: &mut Reader<'_>,
        key: &str,
        hint: &str,
    ) -> Option<&'t Spanned<Node>> {
        let node = self.take(key);
        if node.is_none() {
            reader.error(self.span(), format!("{} needs `{key}`{hint}", self.what));
        }
        node
    }

    /// A key that must be there, read by `read` (see [`Fields::get`], [`Fields::need`]).
    pub fn need_as<'s, T>(
        &mut self,
        reader: &mut Reader<'s>,
        key: &str,
        hint: &str,
        read: impl FnOnce(&mut Reader<'s>, &'t Spanned<Node>, &str) -> Option<T>,
    ) -> Option<T> {
        let node = self.need(reader, key, hint)?;
        read(reader, node, &format!("{}{key}", self.prefix))
    }

    pub fn string(&mut self, reader: &mut Reader<'_>, key: &str) -> Option<String> {
        self.get(reader, key, |r, n, what| r.string(n, what))
    }

    pub fn name(&mut self, reader: &mut Reader<'_>, key: &str) -> Option<String> {
        self.get(reader, key, |r, n, what| r.name(n, what))
    }

    pub fn boolean(&mut self, reader: &mut Reader<'_>, key: &str) -> Option<bool> {
        self.get(reader, key, |r, n, what| r.boolean(n, what))
    }

    pub fn count(&mut self, reader: &mut Reader<'_>, key: &str, max: u32) -> Option<u32> {
        self.get(reader, key, |r, n, what| r.count(n, what, max))
    }

    pub fn duration(&mut self, reader: &mut Reader<'_>, key: &str) -> Option<Duration> {
        self.get(reader, key, |r, n, what| r.duration(n, what))
    }

    pub fn strings(&mut self, reader: &mut Reader<'_>, key: &str) -> Option<Vec<Spanned<String>>> {
        self.get(reader, key, |r, n, what| r.strings(n, what))
    }

    /// An array of strings, each passing `check` (see [`Reader::strings_each`]).
    pub fn strings_each(
        &mut self,
        reader: &mut Reader<'_>,
        key: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<Vec<String>> {
        self.get(reader, key, |r, n, what| r.strings_each(n, what, check))
    }

    pub fn path(&mut self, reader: &mut Reader<'_>, key: &str, base: &Path) -> Option<PathBuf> {
        self.get(reader, key, |r, n, what| r.path(n, what, base))
    }

    pub fn secret(
        &mut self,
        reader: &mut Reader<'_>,
        key: &str,
        base: &Path,
    ) -> Option<crate::secret::SecretRef> {
        self.get(reader, key, |r, n, what| r.secret(n, what, base))
    }

    /// Every key not yet used, in document order.
    pub fn rest(&mut self) -> Vec<&'t (Spanned<String>, Spanned<Node>)> {
        let mut rest = Vec::new();
        for (i, entry) in self.entries.iter().enumerate() {
            if !self.used[i] {
                self.used[i] = true;
                rest.push(entry);
            }
        }
        rest
    }

    /// Report every key not used as unknown, naming the listed ones.
    pub fn finish(self, reader: &mut Reader<'_>) {
        for (i, (key, _)) in self.entries.iter().enumerate() {
            if !self.used[i] {
                reader.error(
                    key.span(),
                    format!(
                        "unknown key `{}` in {}; valid keys: {}",
                        key.get_ref(),
                        self.what,
                        self.listed.join(", ")
                    ),
                );
            }
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 6), (2, 1));
        assert_eq!(position(text, text.find('=').unwrap()), (1, 3));
        assert_eq!(position(text, text.rfind('=').unwrap()), (2, 4));
    }

    /// Read `[t]` of `text` with `read`, and give every error as `line:column: message`.
    fn read_t(text: &str, read: impl FnOnce(&mut Reader<'_>, &mut Fields<'_>)) -> Vec<String> {
        let mut reader = Reader::new(Path::new("c.toml"), text);
        let root = reader.parse().unwrap();
        let mut top = reader.table(&root, "the file").unwrap();
        let node = top.take("t").unwrap();
        let mut fields = reader.table(node, "[t]").unwrap().prefixed("t.");
        read(&mut reader, &mut fields);
        fields.finish(&mut reader);
        reader
            .errors
            .iter()
            .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
            .collect()
    }

    #[test]
    fn unknown_keys_name_the_keys_read_in_the_order_read() {
        let errors = read_t("[t]\nb = \"x\"\nzz = 1\na = 2\n", |reader, fields| {
            assert_eq!(fields.count(reader, "a", 10), Some(2));
            assert_eq!(fields.string(reader, "b").as_deref(), Some("x"));
            assert_eq!(fields.duration(reader, "c"), None);
        });
        assert_eq!(
            errors,
            ["3:1: unknown key `zz` in [t]; valid keys: a, b, c"]
        );
    }

    #[test]
    fn a_missing_required_key_is_named_at_its_table() {
        let errors = read_t("x = 1\n\n[t]\na = 1\n", |reader, fields| {
            assert!(fields.need(reader, "a", "").is_some());
            let krl = fields.need_as(reader, "krl", " (the list)", |r, n, what| r.string(n, what));
            assert_eq!(krl, None);
        });
        assert_eq!(errors, ["3:1: [t] needs `krl` (the list)"]);
    }

    #[test]
    fn every_error_of_a_table_is_reported_with_its_position() {
        let text = "[t]\na = \"x\"\nb = 99\nmode = \"c\"\nyy = 1\nzz = 2\n";
        let errors = read_t(text, |reader, fields| {
            assert_eq!(fields.boolean(reader, "a"), None);
            assert_eq!(fields.count(reader, "b", 10), None);
            let modes = [("a", 1), ("b", 2)];
            assert_eq!(
                fields.get_or(reader, "mode", 1, |r, n, what| r
                    .choice(n, what, &modes, true)),
                None
            );
            assert_eq!(
                fields.get_or(reader, "other", 7, |r, n, what| r.count(n, what, 10)),
                Some(7)
            );
            assert!(fields.need(reader, "url", "").is_none());
        });
        assert_eq!(
            errors,
            [
                "2:5: t.a must be true or false, not a string",
                "3:5: t.b must be between 0 and 10, not 99",
                "4:8: t.mode \"c\" is not one of \"a\", \"b\"",
                "1:1: [t] needs `url`",
                "5:1: unknown key `yy` in [t]; valid keys: a, b, mode, other, url",
                "6:1: unknown key `zz` in [t]; valid keys: a, b, mode, other, url",
            ]
        );
    }

    #[test]
    fn peek_and_list_keep_the_message_order_apart_from_the_read_order() {
        let errors = read_t("[t]\nname = 3\nzz = 1\n", |reader, fields| {
            // Read `name` first, name it after `url` in messages; frame adds the ends.
            assert_eq!(
                fields.peek("name").and_then(|n| reader.string(n, "name")),
                None
            );
            assert_eq!(fields.string(reader, "url"), None);
            fields.list(&["name", "url"]);
            fields.frame("kind", "description");
        });
        assert_eq!(
            errors,
            [
                "2:8: name must be a string, not an integer",
                "3:1: unknown key `zz` in [t]; valid keys: kind, url, name, description",
            ]
        );
    }

    #[test]
    fn checked_values_and_lists_name_the_value_and_point_at_it() {
        let text = "[t]\nhost = \"a b\"\nlist = [\"/ok\", \"rel\", \"/x\", \"y\"]\n";
        let errors = read_t(text, |reader, fields| {
            let host = fields.get(reader, "host", |r, n, what| {
                r.checked(n, what, |h| match h.contains(' ') {
                    true => Err(format!("{h:?} holds a space")),
                    false => Ok(()),
                })
            });
            assert_eq!(host, None);
            let absolute = |p: &str| match p.starts_with('/') {
                true => Ok(()),
                false => Err(format!("{p:?} is relative")),
            };
            let list = fields.strings_each(reader, "list", absolute);
            assert_eq!(list, Some(vec!["/ok".to_owned(), "/x".to_owned()]));
        });
        assert_eq!(
            errors,
            [
                "2:8: t.host \"a b\" holds a space",
                "3:16: t.list: \"rel\" is relative",
                "3:29: t.list: \"y\" is relative",
            ]
        );
    }

    #[test]
    fn spans_reach_nested_values() {
        let text = "[roles.x]\ngrant = { mode = \"ephemeral\", roles = [\"a\", 3] }\n";
        let mut reader = Reader::new(Path::new("c.toml"), text);
        let root = reader.parse().unwrap();
        let Node::Table(top) = root.get_ref() else {
            panic!()
        };
        let Node::Table(roles) = top[0].1.get_ref() else {
            panic!()
        };
        let Node::Table(x) = roles[0].1.get_ref() else {
            panic!()
        };
        let Node::Table(grant) = x[0].1.get_ref() else {
            panic!()
        };
        let Node::Array(items) = grant[1].1.get_ref() else {
            panic!()
        };
        assert_eq!(position(text, items[1].span().start), (2, 45));
    }
}
