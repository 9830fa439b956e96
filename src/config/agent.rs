//! A role's `agent` table: whether AI agents may request it through `jit mcp`, for how long,
//! with whose approval, and which commands they may run with its credentials.

use super::document::{Node, Reader};
use super::rules::ApprovalRule;
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

/// How long an agent's lease may last when the `agent` table sets no `max_ttl`.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(15 * 60);

/// What agents may do with a role. A role without one is closed to agents: `jit mcp` does
/// not list it and refuses requests for it.
#[derive(Clone, Debug)]
pub struct RoleAgent {
    /// The longest lease an agent gets (within the role's own caps).
    pub max_ttl: Duration,
    /// The approvals an agent's request needs: by default the role's own, and at least one.
    pub approvals: ApprovalRule,
    /// Hand the credentials to the agent itself, into the model's context. Dangerous.
    pub reveal: bool,
    /// The commands `run_with_access` may run, by name.
    pub commands: BTreeMap<String, AgentCommand>,
}

/// A fixed argv; an element `{name}` is a placeholder for one argument the agent supplies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentCommand {
    pub argv: Vec<String>,
}

impl AgentCommand {
    /// The placeholder names, in argv order.
    pub fn placeholders(&self) -> Vec<&str> {
        self.argv.iter().filter_map(|a| placeholder(a)).collect()
    }

    /// The argv with each placeholder replaced by the agent's argument of that name, each one
    /// exactly one element (no shell ever sees it). Every placeholder must be given, and no
    /// argument the command does not take.
    pub fn argv_with(&self, args: &BTreeMap<String, String>) -> Result<Vec<String>, String> {
        let wanted = self.placeholders();
        if let Some(unknown) = args.keys().find(|k| !wanted.contains(&k.as_str())) {
            return Err(format!(
                "the command takes no argument {unknown:?}; it takes: {}",
                list(&wanted)
            ));
        }
        self.argv
            .iter()
            .map(|element| match placeholder(element) {
                Some(name) => args.get(name).cloned().ok_or_else(|| {
                    format!(
                        "the command needs the argument {name:?}; it takes: {}",
                        list(&wanted)
                    )
                }),
                None => Ok(element.clone()),
            })
            .collect()
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// `name` when `element` is a placeholder `{name}`.
fn placeholder(element: &str) -> Option<&str> {
    let name = element.strip_prefix('{')?.strip_suffix('}')?;
    is_name(name).then_some(name)
}

/// A command or placeholder name: a lowercase letter or `_`, then lowercase letters, digits,
/// `_` or `-`, at most 64 characters.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.len() <= 64
}

/// Read `[roles.NAME.agent]`, given the role's own approvals and `max_ttl`.
pub(super) fn read(
    reader: &mut Reader<'_>,
    role: &str,
    node: &Spanned<Node>,
    role_approvals: &ApprovalRule,
    role_max_ttl: Option<Duration>,
) -> Option<RoleAgent> {
    let what = format!("[roles.{role}.agent]");
    let mut fields = reader.table(node, &what)?.prefixed("agent.");
    let before = reader.errors.len();
    let max_ttl = fields.get(reader, "max_ttl", |r, n, what| {
        let ttl = r.duration(n, what)?;
        if let Some(max) = role_max_ttl
            && ttl > max
        {
            r.error(
                n.span(),
                format!(
                    "{what} ({}) is longer than the role's max_ttl ({})",
                    crate::duration::format(ttl),
                    crate::duration::format(max)
                ),
            );
        }
        Some(ttl)
    });
    let approvals_node = fields.take("approvals");
    let approvals = match approvals_node {
        Some(n) => super::read_approvals(reader, n),
        None => {
            let mut approvals = role_approvals.clone();
            approvals.required = approvals.required.max(1);
            if approvals.from.is_empty() {
                reader.error(
                    fields.span(),
                    format!(
                        "{what}: an agent's request needs a person's approval, and role {role:?} names no approvers; \
                         set agent.approvals = {{ required = 1, from = [\"group:NAME\"] }} \
                         (or {{ required = 0 }} to let agents in without one)"
                    ),
                );
            }
            Some(approvals)
        }
    };
    let reveal = fields.boolean(reader, "reveal").unwrap_or(false);
    let commands = fields
        .get(reader, "commands", |r, n, _| read_commands(r, role, n))
        .unwrap_or_default();
    fields.finish(reader);
    if reader.errors.len() != before {
        return None;
    }
    Some(RoleAgent {
        max_ttl: max_ttl.unwrap_or(DEFAULT_MAX_TTL),
        approvals: approvals?,
        reveal,
        commands,
    })
}

fn read_commands(
    reader: &mut Reader<'_>,
    role: &str,
    node: &Spanned<Node>,
) -> Option<BTreeMap<String, AgentCommand>> {
    let mut fields = reader.table(node, &format!("[roles.{role}.agent.commands]"))?;
    let mut commands = BTreeMap::new();
    for (name, value) in fields.rest() {
        let what = format!("agent.commands.{}", name.get_ref());
        if !is_name(name.get_ref()) {
            reader.error(
                name.span(),
                format!(
                    "{what}: a command name is lowercase letters, digits, `_` and `-`, starting with a letter"
                ),
            );
            continue;
        }
        let Some(argv) = reader.strings(value, &what) else {
            continue;
        };
        let Some(program) = argv.first() else {
            reader.error(
                value.span(),
                format!("{what} is empty: give the program and its arguments, as [\"psql\", \"-c\", \"select 1\"]"),
            );
            continue;
        };
        if program.get_ref().contains(['{', '}']) {
            reader.error(
                program.span(),
                format!("{what}: the program is fixed; only its arguments may be placeholders"),
            );
            continue;
        }
        let mut seen: Vec<&str> = Vec::new();
        let mut bad = false;
        for element in &argv[1..] {
            let text = element.get_ref();
            if !text.contains(['{', '}']) {
                continue;
            }
            match placeholder(text) {
                Some(p) if seen.contains(&p) => {
                    reader.error(
                        element.span(),
                        format!("{what}: placeholder {{{p}}} appears twice"),
                    );
                    bad = true;
                }
                Some(p) => seen.push(p),
                None => {
                    reader.error(
                        element.span(),
                        format!(
                            "{what}: {text:?} is not a placeholder; a placeholder is a whole argument such as \"{{sql}}\" \
                             (lowercase name), and is passed as exactly one argument"
                        ),
                    );
                    bad = true;
                }
            }
        }
        if !bad {
            let argv = argv.iter().map(|a| a.get_ref().clone()).collect();
            commands.insert(name.get_ref().clone(), AgentCommand { argv });
        }
    }
    Some(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(argv: &[&str]) -> AgentCommand {
        AgentCommand {
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn each_argument_is_one_element_whatever_it_holds() {
        let query = command(&["psql", "-c", "{sql}", "--", "{db}"]);
        assert_eq!(query.placeholders(), ["sql", "db"]);
        let argv = query
            .argv_with(&args(&[("sql", "select 1; rm -rf ~"), ("db", "$(id)")]))
            .unwrap();
        assert_eq!(argv, ["psql", "-c", "select 1; rm -rf ~", "--", "$(id)"]);
    }

    #[test]
    fn missing_and_unknown_arguments_are_refused() {
        let query = command(&["psql", "-c", "{sql}"]);
        assert_eq!(
            query.argv_with(&args(&[])).unwrap_err(),
            "the command needs the argument \"sql\"; it takes: sql"
        );
        assert_eq!(
            query
                .argv_with(&args(&[("sql", "x"), ("host", "evil")]))
                .unwrap_err(),
            "the command takes no argument \"host\"; it takes: sql"
        );
        assert_eq!(
            command(&["id"])
                .argv_with(&args(&[("x", "1")]))
                .unwrap_err(),
            "the command takes no argument \"x\"; it takes: none"
        );
    }

    #[test]
    fn only_whole_lowercase_elements_are_placeholders() {
        assert_eq!(placeholder("{sql}"), Some("sql"));
        assert_eq!(placeholder("{Sql}"), None);
        assert_eq!(placeholder("--x={sql}"), None);
        assert_eq!(placeholder("{}"), None);
        assert_eq!(placeholder("{a b}"), None);
    }
}
