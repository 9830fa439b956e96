//! Configuration (SPEC §5): read once into a spanned tree, validated into [`Config`].
//! Unknown keys are errors, every error names `file:line:column`, and all of them are
//! reported together.

pub(crate) mod agent;
pub(crate) mod connection;
pub(crate) mod document;
pub(crate) mod endpoint;
pub(crate) mod notify;
pub(crate) mod rules;
pub mod schema;
pub(crate) mod shipping;

use crate::exit;
use document::{ConfigErrors, Node, Reader};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

use crate::backend;
pub use agent::{AgentCommand, RoleAgent};
pub use rules::{ApprovalRule, SubjectPattern, TicketCheck, TicketRule, Window};

#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub store: StoreSettings,
    pub identity: IdentitySettings,
    pub targets: BTreeMap<String, Target>,
    pub roles: BTreeMap<String, Role>,
    pub eligibility: Vec<Eligibility>,
    /// Roles no subject may hold at once (`[[conflicts]]`): separation of duties.
    pub conflicts: Vec<Conflict>,
    pub notify: Vec<notify::Notify>,
    /// Where the audit trail is forwarded (`[[audit.ship]]`).
    pub ship: Vec<shipping::ShipTo>,
}

impl Config {
    /// Every secret reference of the integrations (ticket checks, webhooks, shipping
    /// destinations), each with who uses it and under which key.
    pub fn integration_secret_refs(&self) -> Vec<(String, &crate::secret::SecretRef)> {
        let tickets =
            self.roles.values().flat_map(|role| {
                role.ticket.check.iter().flat_map(|check| {
                    check.endpoint.secret_refs().into_iter().map(|(key, r)| {
                        (format!("role {}: secret ticket.check.{key}", role.name), r)
                    })
                })
            });
        let webhooks = self.notify.iter().flat_map(|notify| {
            notify
                .endpoint
                .secret_refs()
                .into_iter()
                .map(|(key, r)| (format!("{}: secret {key}", notify.name), r))
        });
        let collectors = self.ship.iter().flat_map(|to| match &to.destination {
            shipping::Destination::Http { endpoint, .. } => endpoint
                .secret_refs()
                .into_iter()
                .map(|(key, r)| (format!("audit.ship {}: secret {key}", to.name), r))
                .collect(),
            shipping::Destination::Syslog { .. } => Vec::new(),
        });
        tickets.chain(webhooks).chain(collectors).collect()
    }
}

#[derive(Clone, Debug, Default)]
pub struct StoreSettings {
    /// Overrides the state directory for the embedded store.
    pub path: Option<PathBuf>,
    /// `kind = "postgres"`: the shared team store. The URL may leave the user out: each
    /// person then logs in as themselves.
    pub team: Option<crate::net::postgres::Connection>,
}

#[derive(Clone, Debug, Default)]
pub struct IdentitySettings {
    /// The account jit runs as in a shared-host deployment; only then is `SUDO_USER` trusted.
    pub service_account: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub description: Option<String>,
    /// Its kind of backend (`backend = "..."`).
    pub backend: &'static str,
    pub settings: std::sync::Arc<dyn crate::backend::Settings>,
}

#[derive(Clone, Debug)]
pub struct Role {
    pub name: String,
    pub target: String,
    pub description: Option<String>,
    pub max_ttl: Duration,
    pub default_ttl: Option<Duration>,
    pub ticket: TicketRule,
    pub approvals: ApprovalRule,
    /// A break-glass role is granted to the eligible without approval, for at most
    /// [`BREAK_GLASS_MAX_TTL`], and only with a reason; its leases are marked as such.
    pub break_glass: bool,
    /// At most this many leases of the role may be live at once (any subject); a break-glass
    /// role is not held to it.
    pub max_active: Option<u32>,
    /// When the role may be requested and granted (a break-glass role at any time).
    pub window: Option<Window>,
    /// Whether AI agents may request it through `jit mcp`, and on what terms (`None`: they
    /// may not).
    pub agent: Option<RoleAgent>,
    /// Backend-specific grant parameters, validated by the target's backend kind.
    pub grant: serde_json::Value,
}

impl Role {
    /// The approvals a request needs: an agent's (`jit mcp`) those of the role's `agent`
    /// table, anyone else's the role's own.
    pub fn approvals_for(&self, by_agent: bool) -> &ApprovalRule {
        match (&self.agent, by_agent) {
            (Some(agent), true) => &agent.approvals,
            _ => &self.approvals,
        }
    }
}

/// A `[[conflicts]]` rule: no subject holds two of `roles` live at once, and nobody approves
/// a request for one of them while they hold or ask for another.
#[derive(Clone, Debug)]
pub struct Conflict {
    /// Its place in the file, for messages and the audit trail: `conflicts #N`.
    pub name: String,
    /// Two or more role names.
    pub roles: Vec<String>,
    /// Why they conflict, said in every denial.
    pub reason: String,
}

impl Conflict {
    /// The other roles of this rule, when it covers `role`.
    pub fn others_of<'c>(&'c self, role: &str) -> impl Iterator<Item = &'c str> {
        let covers = self.roles.iter().any(|r| r == role);
        self.roles
            .iter()
            .filter(move |r| covers && *r != role)
            .map(String::as_str)
    }
}

/// The longest `max_ttl` a break-glass role may have.
pub const BREAK_GLASS_MAX_TTL: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
pub struct Eligibility {
    /// How messages name it: `eligibility rule NAME`, or `eligibility rule #N` by its place
    /// in the file when it has no `name`.
    pub name: String,
    /// Its `name` key, the stable way to name it (`jit review certify NAME`).
    pub label: Option<String>,
    /// Its place among the `[[eligibility]]` tables, from 1.
    pub position: usize,
    pub subjects: Vec<SubjectPattern>,
    /// Role names, or `*` for every role.
    pub roles: Vec<String>,
    pub max_ttl: Option<Duration>,
    /// From then on the rule admits nobody.
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
    /// When the rule admits (to a break-glass role, at any time).
    pub window: Option<Window>,
    /// How often the rule must be certified (`jit review certify`).
    pub review_every: Option<Duration>,
    /// What an overdue certification does to requests under the rule.
    pub review_overdue: ReviewOverdue,
}

/// `review_overdue`: what requests under a rule meet while its certification is overdue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReviewOverdue {
    /// Flagged (`jit doctor`, `jit roles`, `jit review`); requests still pass.
    #[default]
    Warn,
    /// Requests under the rule are refused until it is certified.
    Deny,
}

impl Eligibility {
    /// How a command names the rule: its `name`, or `#N` by its place in the file.
    pub fn reference(&self) -> String {
        self.label
            .clone()
            .unwrap_or_else(|| format!("#{}", self.position))
    }

    /// The subjects and roles it names, as the audit trail records them.
    pub fn covered(&self) -> (Vec<String>, Vec<String>) {
        (
            self.subjects.iter().map(ToString::to_string).collect(),
            self.roles.clone(),
        )
    }

    pub fn covers_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == "*" || r == role)
    }

    /// Whether the rule still admits anyone at `now`.
    pub fn in_force(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.expires.is_none_or(|end| now < end)
    }
}

/// `$XDG_CONFIG_HOME/jit/config.toml`.
pub fn default_path() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from(".config"))
        .join("jit")
        .join("config.toml")
}

/// Is `name` usable as a role or target name?
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Read and validate a configuration file. Errors map to exit 5.
pub fn load(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        let hint = if err.kind() == std::io::ErrorKind::NotFound {
            " (create it, or point --config / JIT_CONFIG at one; see the README quickstart)"
        } else {
            ""
        };
        exit::config(format!(
            "{}: cannot read the configuration: {err}{hint}",
            path.display()
        ))
    })?;
    parse(path, &text).map_err(|errors| exit::config(errors.to_string()))
}

/// Validate configuration text; `path` names it in errors and anchors relative paths.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    let mut reader = Reader::new(path, text);
    // Relative paths in the file are relative to the file, however it was named.
    let base = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_owned))
        .unwrap_or_default();
    let config = reader
        .parse()
        .and_then(|root| read_config(&mut reader, &root, path, &base));
    match config {
        Some(config) if reader.errors.is_empty() => Ok(config),
        _ => Err(ConfigErrors(reader.errors)),
    }
}

fn read_config(
    reader: &mut Reader<'_>,
    root: &Spanned<Node>,
    path: &Path,
    base: &Path,
) -> Option<Config> {
    let mut top = reader.table(root, "the configuration")?;

    let store = top
        .get(reader, "store", |reader, node, _| {
            read_store(reader, node, base)
        })
        .unwrap_or_default();

    let identity = top
        .get(reader, "identity", |reader, node, _| {
            let mut fields = reader.table(node, "[identity]")?;
            let service_account = fields.string(reader, "service_account");
            fields.finish(reader);
            Some(IdentitySettings { service_account })
        })
        .unwrap_or_default();

    let mut targets = BTreeMap::new();
    each_named(
        reader,
        top.take("targets"),
        "target",
        |reader, name, value| {
            if let Some((description, backend, settings)) = read_target(reader, name, value, base) {
                let name = name.to_owned();
                let target = Target {
                    name: name.clone(),
                    description,
                    backend,
                    settings,
                };
                targets.insert(name, target);
            }
        },
    );
    let target_names: Vec<_> = names_of(root, "targets");

    let mut roles = BTreeMap::new();
    each_named(reader, top.take("roles"), "role", |reader, name, value| {
        if let Some(role) = read_role(reader, name, value, &targets, &target_names, base) {
            roles.insert(name.to_owned(), role);
        }
    });
    let role_names = names_of(root, "roles");

    let mut eligibility = Vec::new();
    let items = array_of_tables(reader, top.take("eligibility"), "eligibility");
    for (i, item) in items.iter().enumerate() {
        let rule = read_eligibility(reader, i, item, &role_names);
        if let Some(rule) = &rule
            && let Some(label) = &rule.label
            && let Some(first) = eligibility
                .iter()
                .find(|other: &&Eligibility| other.label.as_ref() == Some(label))
        {
            reader.error(
                item.span(),
                format!(
                    "a second eligibility rule named {label:?} (the first is [[eligibility]] #{}): give each its own `name`",
                    first.position
                ),
            );
        }
        eligibility.extend(rule);
    }
    let mut conflicts = Vec::new();
    let items = array_of_tables(reader, top.take("conflicts"), "conflicts");
    for (i, item) in items.iter().enumerate() {
        conflicts.extend(read_conflict(reader, i, item, &role_names));
    }
    let mut notify = Vec::new();
    for (i, item) in array_of_tables(reader, top.take("notify"), "notify")
        .iter()
        .enumerate()
    {
        notify.extend(notify::read_notify(reader, i, item, base));
    }
    let mut ship: Vec<shipping::ShipTo> = Vec::new();
    if let Some(node) = top.take("audit")
        && let Some(mut fields) = reader.table(node, "[audit]")
    {
        let items = array_of_tables(reader, fields.take("ship"), "audit.ship");
        for (i, item) in items.iter().enumerate() {
            if let Some(to) = shipping::read_ship(reader, i, item, base) {
                if ship.iter().any(|other| other.name == to.name) {
                    reader.error(
                        item.span(),
                        format!(
                            "a second audit.ship destination named {:?}: give each its own `name` (it names its checkpoint)",
                            to.name
                        ),
                    );
                }
                ship.push(to);
            }
        }
        fields.finish(reader);
    }
    top.finish(reader);

    Some(Config {
        path: path.to_owned(),
        store,
        identity,
        targets,
        roles,
        eligibility,
        conflicts,
        notify,
        ship,
    })
}

/// Read each table of a table of named tables (`[targets.NAME]`) whose name is valid.
fn each_named<'s>(
    reader: &mut Reader<'s>,
    node: Option<&Spanned<Node>>,
    kind: &str,
    mut read: impl FnMut(&mut Reader<'s>, &str, &Spanned<Node>),
) {
    let Some(mut table) = node.and_then(|node| reader.table(node, &format!("[{kind}s]"))) else {
        return;
    };
    for (name, value) in table.rest() {
        if is_valid_name(name.get_ref()) {
            read(reader, name.get_ref(), value);
        } else {
            reader.error(name.span(), bad_name(kind, name.get_ref()));
        }
    }
}

/// The tables of an array of tables (`[[name]]`), if any; anything else is an error.
fn array_of_tables<'n>(
    reader: &mut Reader<'_>,
    node: Option<&'n Spanned<Node>>,
    name: &str,
) -> &'n [Spanned<Node>] {
    let Some(node) = node else {
        return &[];
    };
    match node.get_ref() {
        Node::Array(items) => items,
        other => {
            reader.error(
                node.span(),
                format!(
                    "{name} must be an array of tables ([[{name}]]), not {}",
                    other.kind()
                ),
            );
            &[]
        }
    }
}

fn bad_name(what: &str, name: &str) -> String {
    format!(
        "{what} name {name:?} is not valid: use letters, digits, `.`, `_` and `-`, starting with a letter or digit (at most 63)"
    )
}

/// The keys of a top-level table, whether or not they validated (so that one bad target
/// does not also make every role that names it an error).
fn names_of(root: &Spanned<Node>, table: &str) -> Vec<String> {
    let Node::Table(top) = root.get_ref() else {
        return Vec::new();
    };
    top.iter()
        .filter(|(k, _)| k.get_ref() == table)
        .flat_map(|(_, v)| match v.get_ref() {
            Node::Table(entries) => entries
                .iter()
                .map(|(k, _)| k.get_ref().clone())
                .filter(|name| is_valid_name(name))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn read_store(reader: &mut Reader<'_>, node: &Spanned<Node>, base: &Path) -> Option<StoreSettings> {
    let mut fields = reader.table(node, "[store]")?;
    let team = fields.get(reader, "kind", |reader, kind, what| {
        match reader.string(kind, what)?.as_str() {
            "sqlite" => Some(false),
            "postgres" => Some(true),
            other => {
                reader.error(
                    kind.span(),
                    format!("unknown store kind {other:?}; valid: \"sqlite\", \"postgres\""),
                );
                None
            }
        }
    });
    if team == Some(true) {
        let settings = connection::parse_postgres(
            reader,
            &mut fields,
            base,
            "[store] kind = \"postgres\"",
            false,
        );
        fields.finish(reader);
        return Some(StoreSettings {
            path: None,
            team: Some(settings?),
        });
    }
    let path = fields.path(reader, "path", base);
    fields.finish(reader);
    Some(StoreSettings { path, team: None })
}

fn read_target(
    reader: &mut Reader<'_>,
    name: &str,
    node: &Spanned<Node>,
    base: &Path,
) -> Option<(
    Option<String>,
    &'static str,
    std::sync::Arc<dyn crate::backend::Settings>,
)> {
    let what = format!("[targets.{name}]");
    let mut fields = reader.table(node, &what)?;
    // `backend` is listed first and `description` last in messages, unless the kind lists
    // them elsewhere.
    let description = fields
        .peek("description")
        .and_then(|n| reader.string(n, "description"));
    let Some(backend) = fields.peek("backend") else {
        reader.error(
            node.span(),
            format!("{what} needs `backend`; valid: {}", backend::kind_names()),
        );
        return None;
    };
    let kind = reader.string(backend, "backend")?;
    let Some(kind) = backend::kind(&kind) else {
        reader.error(
            backend.span(),
            format!("unknown backend {kind:?}; valid: {}", backend::kind_names()),
        );
        return None;
    };
    let settings = (kind.read_target)(reader, &mut fields, base);
    fields.frame("backend", "description");
    fields.finish(reader);
    Some((description, kind.name, settings?))
}

fn read_role(
    reader: &mut Reader<'_>,
    name: &str,
    node: &Spanned<Node>,
    targets: &BTreeMap<String, Target>,
    target_names: &[String],
    base: &Path,
) -> Option<Role> {
    let what = format!("[roles.{name}]");
    let mut fields = reader.table(node, &what)?;
    let before = reader.errors.len();

    let target = fields.need_as(reader, "target", "", |reader, node, what| {
        let t = reader.string(node, what)?;
        if target_names.contains(&t) {
            return Some(t);
        }
        let defined = if target_names.is_empty() {
            "none are defined".to_owned()
        } else {
            format!("defined: {}", target_names.join(", "))
        };
        reader.error(
            node.span(),
            format!("role {name:?} names target {t:?}, which is not defined; {defined}"),
        );
        None
    });
    let description = fields.string(reader, "description");
    let max_ttl_node = fields.need(reader, "max_ttl", " (such as \"1h\"): every role has a cap");
    let max_ttl = max_ttl_node.and_then(|n| reader.duration(n, "max_ttl"));
    let default_ttl = fields.get(reader, "default_ttl", |reader, n, what| {
        let d = reader.duration(n, what)?;
        if let Some(max) = max_ttl
            && d > max
        {
            reader.error(
                n.span(),
                format!(
                    "default_ttl ({}) is longer than max_ttl ({})",
                    crate::duration::format(d),
                    crate::duration::format(max)
                ),
            );
        }
        Some(d)
    });
    let ticket = fields
        .get(reader, "ticket", |reader, n, _| {
            read_ticket(reader, n, base)
        })
        .unwrap_or_default();
    let approvals_node = fields.take("approvals");
    let approvals = approvals_node
        .and_then(|n| read_approvals(reader, n))
        .unwrap_or_default();
    let break_glass = fields.boolean(reader, "break_glass").unwrap_or(false);
    let max_active = fields.get(reader, "max_active", |r, n, what| {
        let count = r.count(n, what, 100_000)?;
        if count == 0 {
            r.error(
                n.span(),
                format!(
                    "{what} is 0: no lease could ever be granted; use 1 or more, or remove the role"
                ),
            );
            return None;
        }
        Some(count)
    });
    if break_glass {
        if let Some(n) = approvals_node {
            reader.error(
                n.span(),
                format!("{what} has break_glass = true: break_glass roles are self-granted; remove `approvals`"),
            );
        }
        if let (Some(max), Some(n)) = (max_ttl, max_ttl_node)
            && max > BREAK_GLASS_MAX_TTL
        {
            reader.error(
                n.span(),
                format!(
                    "max_ttl ({}) is over the {} cap for break_glass roles",
                    crate::duration::format(max),
                    crate::duration::format(BREAK_GLASS_MAX_TTL)
                ),
            );
        }
    }
    let window = fields.get(reader, "window", |r, n, _| read_window(r, n));
    let agent = fields.get(reader, "agent", |r, n, _| {
        if break_glass {
            r.error(
                n.span(),
                format!("{what} has break_glass = true: break-glass access is for people; remove `agent`"),
            );
            return None;
        }
        agent::read(r, name, n, &approvals, max_ttl)
    });
    let grant_node = fields.take("grant");
    fields.finish(reader);

    let grant = match (target.as_ref().and_then(|t| targets.get(t)), grant_node) {
        (Some(target), Some(node)) => target.settings.read_grant(reader, node),
        (Some(target), None) => target.settings.default_grant().or_else(|| {
            reader.error(
                node.span(),
                format!(
                    "{what} needs `grant`: the {} backend's grant table",
                    target.backend
                ),
            );
            None
        }),
        (None, _) => None,
    };
    if reader.errors.len() != before {
        return None;
    }
    Some(Role {
        name: name.to_owned(),
        target: target?,
        description,
        max_ttl: max_ttl?,
        default_ttl,
        ticket,
        approvals,
        break_glass,
        max_active,
        window,
        agent,
        grant: grant?,
    })
}

fn read_ticket(reader: &mut Reader<'_>, node: &Spanned<Node>, base: &Path) -> Option<TicketRule> {
    let mut fields = reader.table(node, "ticket")?.prefixed("ticket.");
    let required_node = fields.take("required");
    let required = required_node.and_then(|n| reader.boolean(n, "ticket.required"));
    let pattern = fields.get(reader, "pattern", |reader, n, what| {
        reader.parsed(n, what, |text| {
            regex_lite::Regex::new(text)
                .map_err(|err| format!("{what} is not a valid regular expression: {err}"))
        })
    });
    let check = fields.get(reader, "check", |reader, n, _| {
        read_ticket_check(reader, n, base)
    });
    let revoke_when_closed_node = fields.take("revoke_when_closed");
    let revoke_when_closed = revoke_when_closed_node
        .and_then(|n| reader.boolean(n, "ticket.revoke_when_closed"))
        .unwrap_or(false);
    fields.finish(reader);
    let has_check = fields_has_check(node);
    if let (Some(false), true, Some(n)) = (required, has_check, required_node) {
        reader.error(
            n.span(),
            "ticket.check asks the ticketing system about the ticket: required cannot be false",
        );
    }
    if let (true, false, Some(n)) = (revoke_when_closed, has_check, revoke_when_closed_node) {
        reader.error(
            n.span(),
            "ticket.revoke_when_closed needs ticket.check (where to read the ticket's status)",
        );
    }
    Some(TicketRule {
        required: required.unwrap_or(false) || has_check,
        pattern,
        check,
        revoke_when_closed,
    })
}

/// Whether a ticket table has a `check` key (valid or not, so that one error is not
/// followed by others it causes).
fn fields_has_check(node: &Spanned<Node>) -> bool {
    matches!(node.get_ref(), Node::Table(entries) if entries.iter().any(|(k, _)| k.get_ref() == "check"))
}

fn read_ticket_check(
    reader: &mut Reader<'_>,
    node: &Spanned<Node>,
    base: &Path,
) -> Option<TicketCheck> {
    let mut fields = reader.table(node, "ticket.check")?;
    // Refused here, listed where the endpoint's keys are.
    if let Some(key) = fields.peek("signing_secret") {
        reader.error(
            key.span(),
            "ticket.check sends no body to sign: signing_secret does not apply here",
        );
    }
    let endpoint = endpoint::read_endpoint(
        reader,
        &mut fields,
        base,
        &endpoint::TICKET_PLACEHOLDERS,
        endpoint::EndpointDefaults {
            timeout: std::time::Duration::from_secs(10),
            retries: 2,
        },
    );
    let status_field = fields.need_as(
        reader,
        "status_field",
        " (where the status is in the answer, such as \"fields.status.name\")",
        |reader, n, _| {
            let text = reader.string(n, "ticket.check.status_field")?;
            let path: Vec<String> = text.split('.').map(str::to_owned).collect();
            if path.iter().any(String::is_empty) {
                reader.error(
                    n.span(),
                    format!("ticket.check.status_field {text:?} is not a path such as \"fields.status.name\""),
                );
                return None;
            }
            Some(path)
        },
    );
    let allowed = fields.need_as(
        reader,
        "allowed",
        " (the statuses that allow access)",
        |reader, n, _| {
            let list = reader.strings(n, "ticket.check.allowed")?;
            if list.is_empty() {
                reader.error(
                    n.span(),
                    "ticket.check.allowed is empty: no ticket could ever pass",
                );
                return None;
            }
            Some(list.into_iter().map(Spanned::into_inner).collect())
        },
    );
    fields.finish(reader);
    Some(TicketCheck {
        endpoint: endpoint?,
        status_field: status_field?,
        allowed: allowed?,
    })
}

pub(super) fn read_approvals(
    reader: &mut Reader<'_>,
    node: &Spanned<Node>,
) -> Option<ApprovalRule> {
    let mut fields = reader.table(node, "approvals")?.prefixed("approvals.");
    let required = fields.count(reader, "required", 10);
    let from = fields
        .strings(reader, "from")
        .map(|list| subjects(reader, list))
        .unwrap_or_default();
    let timeout_node = fields.take("timeout");
    let timeout = timeout_node.and_then(|n| reader.duration(n, "approvals.timeout"));
    fields.finish(reader);
    let required = required.unwrap_or(u32::from(!from.is_empty()));
    if required > 0 && from.is_empty() {
        reader.error(
            node.span(),
            "approvals needs `from` (who may approve, as user:NAME or group:NAME)",
        );
        return None;
    }
    if let (0, Some(n)) = (required, timeout_node) {
        reader.error(
            n.span(),
            "approvals.timeout is how long a request waits for approval; it needs required of 1 or more",
        );
    }
    Some(ApprovalRule {
        required,
        from,
        timeout,
    })
}

fn subjects(reader: &mut Reader<'_>, list: Vec<Spanned<String>>) -> Vec<SubjectPattern> {
    list.into_iter()
        .filter_map(|s| match SubjectPattern::parse(s.get_ref()) {
            Ok(p) => Some(p),
            Err(err) => {
                reader.error(s.span(), err);
                None
            }
        })
        .collect()
}

fn read_eligibility(
    reader: &mut Reader<'_>,
    index: usize,
    node: &Spanned<Node>,
    role_names: &[String],
) -> Option<Eligibility> {
    let what = format!("[[eligibility]] #{}", index + 1);
    let mut fields = reader.table(node, &what)?;
    let label = fields.get(reader, "name", |r, n, what| {
        let text = r.string(n, what)?;
        if !is_valid_name(&text) {
            r.error(
                n.span(),
                format!("{what} {text:?} is not a name: letters, digits and . _ - (at most 63, starting with a letter or digit)"),
            );
            return None;
        }
        Some(text)
    });
    let subject_list = fields
        .need_as(
            reader,
            "subjects",
            " (user:NAME or group:NAME)",
            |r, n, what| r.strings(n, what),
        )
        .map(|list| subjects(reader, list));
    let roles = fields
        .need_as(reader, "roles", "", |r, n, what| r.strings(n, what))
        .map(|list| {
            list.into_iter()
                .filter_map(|r| {
                    if r.get_ref() == "*" || role_names.contains(r.get_ref()) {
                        Some(r.into_inner())
                    } else {
                        reader.error(
                            r.span(),
                            format!(
                                "role {:?} is not defined; defined: {}",
                                r.get_ref(),
                                role_names.join(", ")
                            ),
                        );
                        None
                    }
                })
                .collect()
        });
    let max_ttl = fields.duration(reader, "max_ttl");
    let expires = fields.get(reader, "expires", |r, n, what| {
        let text = match n.get_ref() {
            Node::Datetime(text) | Node::Str(text) => text.clone(),
            other => {
                r.error(
                    n.span(),
                    format!("{what} must be a date and time such as 2027-01-31T18:00:00Z, not {}", other.kind()),
                );
                return None;
            }
        };
        match chrono::DateTime::parse_from_rfc3339(&text) {
            Ok(at) => Some(at.to_utc()),
            Err(_) => {
                r.error(
                    n.span(),
                    format!("{what} {text:?} is not a date and time with its offset, such as 2027-01-31T18:00:00Z"),
                );
                None
            }
        }
    });
    let window = fields.get(reader, "window", |r, n, _| read_window(r, n));
    let review_every = fields.duration(reader, "review_every");
    let overdue_node = fields.take("review_overdue");
    let review_overdue = overdue_node
        .and_then(|n| {
            reader.choice(
                n,
                "review_overdue",
                &[("warn", ReviewOverdue::Warn), ("deny", ReviewOverdue::Deny)],
                true,
            )
        })
        .unwrap_or_default();
    if let (Some(n), None) = (overdue_node, review_every) {
        reader.error(
            n.span(),
            "review_overdue says what an overdue certification does: it needs review_every (such as \"90d\")",
        );
    }
    fields.finish(reader);
    Some(Eligibility {
        name: match &label {
            Some(label) => format!("eligibility rule {label}"),
            None => format!("eligibility rule #{}", index + 1),
        },
        label,
        position: index + 1,
        subjects: subject_list?,
        roles: roles?,
        max_ttl,
        expires,
        window,
        review_every,
        review_overdue,
    })
}

/// `window = { weekdays = ["mon-fri"], hours = "08:00-18:00", timezone = "Europe/Berlin" }`.
fn read_window(reader: &mut Reader<'_>, node: &Spanned<Node>) -> Option<Window> {
    let mut fields = reader.table(node, "window")?.prefixed("window.");
    let before = reader.errors.len();
    let weekdays = fields.get(reader, "weekdays", |r, n, what| {
        let list = r.strings(n, what)?;
        if list.is_empty() {
            r.error(
                n.span(),
                format!(
                    "{what} is empty: the window would never open; name days such as [\"mon-fri\"]"
                ),
            );
            return None;
        }
        let mut days = [false; 7];
        for entry in &list {
            if let Err(err) = Window::mark_days(entry.get_ref(), &mut days) {
                r.error(entry.span(), format!("{what}: {err}"));
            }
        }
        let written: Vec<&str> = list.iter().map(|e| e.get_ref().as_str()).collect();
        Some((days, written.join(",")))
    });
    let hours = fields.get(reader, "hours", |r, n, what| {
        r.parsed(n, what, |text| {
            Window::parse_hours(text).map_err(|err| format!("{what} {err}"))
        })
    });
    let timezone = fields.get(reader, "timezone", |r, n, what| {
        r.parsed(n, what, |text| {
            text.parse::<chrono_tz::Tz>().map_err(|_| {
                format!("{what} {text:?} is not an IANA time zone such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"")
            })
        })
    });
    fields.finish(reader);
    if reader.errors.len() != before {
        return None;
    }
    if weekdays.is_none() && hours.is_none() {
        reader.error(
            node.span(),
            "window needs `weekdays`, `hours` or both (such as weekdays = [\"mon-fri\"], hours = \"08:00-18:00\")",
        );
        return None;
    }
    let (days, weekdays) = match weekdays {
        Some((days, written)) => (days, Some(written)),
        None => ([true; 7], None),
    };
    Some(Window {
        days,
        weekdays,
        hours,
        timezone: timezone.unwrap_or(chrono_tz::UTC),
    })
}

fn read_conflict(
    reader: &mut Reader<'_>,
    index: usize,
    node: &Spanned<Node>,
    role_names: &[String],
) -> Option<Conflict> {
    let name = format!("conflicts #{}", index + 1);
    let what = format!("[[conflicts]] #{}", index + 1);
    let mut fields = reader.table(node, &what)?;
    let roles_node = fields.need(reader, "roles", " (two or more role names)");
    let before = reader.errors.len();
    let roles = roles_node.and_then(|n| {
        let list = reader.strings(n, "roles")?;
        let mut roles: Vec<String> = Vec::with_capacity(list.len());
        for role in list {
            if !role_names.contains(role.get_ref()) {
                let defined = if role_names.is_empty() {
                    "none are defined".to_owned()
                } else {
                    format!("defined: {}", role_names.join(", "))
                };
                reader.error(
                    role.span(),
                    format!("role {:?} is not defined; {defined}", role.get_ref()),
                );
            } else if roles.contains(role.get_ref()) {
                reader.error(
                    role.span(),
                    format!("role {:?} is named twice", role.get_ref()),
                );
            } else {
                roles.push(role.into_inner());
            }
        }
        Some(roles)
    });
    let reason = fields
        .need(
            reader,
            "reason",
            " (why the roles conflict; every denial says it)",
        )
        .and_then(|n| reader.name(n, "reason"));
    fields.finish(reader);
    let roles = roles?;
    if roles.len() < 2 {
        // Unless a named role was refused already: that error says what is wrong.
        if let (Some(n), true) = (roles_node, reader.errors.len() == before) {
            reader.error(
                n.span(),
                format!("{what} needs two or more roles in `roles`"),
            );
        }
        return None;
    }
    Some(Conflict {
        name,
        roles,
        reason: reason?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "[targets.t]\nbackend = \"command\"\nprogram = \"/bin/true\"\n\n";

    fn errors(text: &str) -> String {
        parse(Path::new("c.toml"), &format!("{TARGET}{text}"))
            .unwrap_err()
            .to_string()
    }

    fn role(text: &str) -> Role {
        let config = parse(Path::new("c.toml"), &format!("{TARGET}{text}")).unwrap();
        config.roles.into_values().next().unwrap()
    }

    #[test]
    fn approval_timeouts_default_to_a_day() {
        let plain = role(
            "[roles.x]\ntarget = \"t\"\nmax_ttl = \"1h\"\napprovals = { from = [\"user:a\"] }\n",
        );
        assert_eq!(plain.approvals.timeout, None);
        assert_eq!(plain.approvals.timeout(), Duration::from_secs(24 * 3600));
        let quick = role(
            "[roles.x]\ntarget = \"t\"\nmax_ttl = \"1h\"\napprovals = { from = [\"user:a\"], timeout = \"30m\" }\n",
        );
        assert_eq!(quick.approvals.timeout, Some(Duration::from_secs(1800)));
        assert_eq!(quick.approvals.timeout(), Duration::from_secs(1800));
    }

    #[test]
    fn approval_timeouts_are_positive_durations_of_roles_that_need_approval() {
        let role = |approvals: &str| {
            format!("[roles.x]\ntarget = \"t\"\nmax_ttl = \"1h\"\napprovals = {approvals}\n")
        };
        assert_eq!(
            errors(&role("{ from = [\"user:a\"], timeout = \"0s\" }")),
            "c.toml:8:44: approvals.timeout: \"0s\" is zero; use a positive duration such as 90s, 15m, 1h30m or 2h"
        );
        assert!(
            errors(&role("{ from = [\"user:a\"], timeout = \"soon\" }"))
                .starts_with("c.toml:8:44: approvals.timeout: \"soon\" is not a duration")
        );
        assert_eq!(
            errors(&role("{ from = [\"user:a\"], timeout = 30 }")),
            "c.toml:8:44: approvals.timeout must be a string, not an integer"
        );
        assert_eq!(
            errors(&role("{ required = 0, timeout = \"30m\" }")),
            "c.toml:8:39: approvals.timeout is how long a request waits for approval; it needs required of 1 or more"
        );
    }

    #[test]
    fn conflicts_name_defined_roles_and_say_why() {
        let roles = "[roles.a]\ntarget = \"t\"\nmax_ttl = \"1h\"\n\n[roles.b]\ntarget = \"t\"\nmax_ttl = \"1h\"\n\n";
        let config = parse(
            Path::new("c.toml"),
            &format!(
                "{TARGET}{roles}[[conflicts]]\nroles = [\"a\", \"b\"]\nreason = \"four eyes\"\n"
            ),
        )
        .unwrap();
        assert_eq!(config.conflicts.len(), 1);
        assert_eq!(config.conflicts[0].name, "conflicts #1");
        assert_eq!(config.conflicts[0].roles, ["a", "b"]);
        assert_eq!(config.conflicts[0].reason, "four eyes");
        assert_eq!(
            config.conflicts[0].others_of("a").collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(config.conflicts[0].others_of("c").count(), 0);

        // Every error of every rule, each at its place.
        let bad = format!(
            "{roles}[[conflicts]]\nroles = [\"a\", \"nope\", \"a\"]\nreason = \"x\"\n\n\
             [[conflicts]]\nroles = [\"a\"]\nreason = \"x\"\n\n\
             [[conflicts]]\nroles = [\"a\", \"b\"]\nwhy = \"x\"\n"
        );
        assert_eq!(
            errors(&bad),
            "c.toml:14:15: role \"nope\" is not defined; defined: a, b\n\
             c.toml:14:23: role \"a\" is named twice\n\
             c.toml:18:9: [[conflicts]] #2 needs two or more roles in `roles`\n\
             c.toml:21:1: [[conflicts]] #3 needs `reason` (why the roles conflict; every denial says it)\n\
             c.toml:23:1: unknown key `why` in [[conflicts]] #3; valid keys: roles, reason"
        );
    }

    #[test]
    fn max_active_and_expires_are_checked_where_they_are_written() {
        assert_eq!(
            role("[roles.x]\ntarget = \"t\"\nmax_ttl = \"1h\"\nmax_active = 3\n").max_active,
            Some(3)
        );
        assert_eq!(
            errors("[roles.x]\ntarget = \"t\"\nmax_ttl = \"1h\"\nmax_active = 0\n"),
            "c.toml:8:14: max_active is 0: no lease could ever be granted; use 1 or more, or remove the role"
        );
        let rule = |expires: &str| {
            format!(
                "[roles.x]\ntarget = \"t\"\nmax_ttl = \"1h\"\n\n[[eligibility]]\nsubjects = [\"user:a\"]\nroles = [\"x\"]\nexpires = {expires}\n"
            )
        };
        let config = parse(
            Path::new("c.toml"),
            &format!("{TARGET}{}", rule("\"2027-01-31T18:00:00+01:00\"")),
        )
        .unwrap();
        assert_eq!(config.eligibility[0].name, "eligibility rule #1");
        assert_eq!(
            config.eligibility[0].expires.unwrap().to_rfc3339(),
            "2027-01-31T17:00:00+00:00"
        );
        assert_eq!(
            errors(&rule("\"next year\"")),
            "c.toml:12:11: expires \"next year\" is not a date and time with its offset, such as 2027-01-31T18:00:00Z"
        );
        assert_eq!(
            errors(&rule("3")),
            "c.toml:12:11: expires must be a date and time such as 2027-01-31T18:00:00Z, not an integer"
        );
    }

    #[test]
    fn windows_are_read_and_every_bad_value_is_shown_where_it_is_written() {
        let base = "[roles.x]\ntarget = \"t\"\nmax_ttl = \"1h\"\n";
        let x = role(&format!(
            "{base}window = {{ weekdays = [\"mon-fri\", \"sun\"], hours = \"22:00-06:00\", timezone = \"Europe/Berlin\" }}\n"
        ));
        let window = x.window.unwrap();
        assert_eq!(window.days, [true, true, true, true, true, false, true]);
        assert_eq!(window.hours, Some((1320, 360)));
        assert_eq!(window.describe(), "mon-fri,sun 22:00-06:00 Europe/Berlin");
        let utc = role(&format!("{base}window = {{ hours = \"08:00-18:00\" }}\n"));
        assert_eq!(utc.window.unwrap().describe(), "08:00-18:00 UTC");

        // Every error at once, each at its value (line 8 is the window's).
        let bad = |window: &str| errors(&format!("{base}window = {window}\n"));
        assert_eq!(
            bad(
                "{ weekdays = [\"mon-fry\", \"Sat\"], hours = \"8-18\", timezone = \"Europe/Berln\" }"
            ),
            "c.toml:8:24: window.weekdays: \"mon-fry\" is not a day or a range of days; use mon, tue, wed, thu, fri, sat, sun or a range such as \"mon-fri\"\n\
             c.toml:8:35: window.weekdays: \"Sat\" is not a day or a range of days; use mon, tue, wed, thu, fri, sat, sun or a range such as \"mon-fri\"\n\
             c.toml:8:51: window.hours \"8-18\" is not a range of times such as \"08:00-18:00\" (HH:MM-HH:MM on a 24-hour clock; an overnight range such as \"22:00-06:00\" runs into the next day)\n\
             c.toml:8:70: window.timezone \"Europe/Berln\" is not an IANA time zone such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\""
        );
        assert_eq!(
            bad("{ hours = \"08:00-08:00\" }"),
            "c.toml:8:20: window.hours \"08:00-08:00\" is the whole day: leave `hours` out for a window of whole days"
        );
        assert_eq!(
            bad("{ weekdays = [] }"),
            "c.toml:8:23: window.weekdays is empty: the window would never open; name days such as [\"mon-fri\"]"
        );
        assert_eq!(
            bad("{ timezone = \"UTC\" }"),
            "c.toml:8:10: window needs `weekdays`, `hours` or both (such as weekdays = [\"mon-fri\"], hours = \"08:00-18:00\")"
        );
        assert_eq!(
            bad("{ days = [\"mon\"] }"),
            "c.toml:8:12: unknown key `days` in window; valid keys: weekdays, hours, timezone"
        );
        assert_eq!(
            bad("\"mon-fri\""),
            "c.toml:8:10: window must be a table, not a string"
        );
        // An eligibility rule's window, at its place.
        let rule = format!(
            "{base}\n[[eligibility]]\nsubjects = [\"user:a\"]\nroles = [\"x\"]\nwindow = {{ hours = \"9:00-17:00\" }}\n"
        );
        assert_eq!(
            errors(&rule),
            "c.toml:12:20: window.hours \"9:00-17:00\" is not a range of times such as \"08:00-18:00\" (HH:MM-HH:MM on a 24-hour clock; an overnight range such as \"22:00-06:00\" runs into the next day)"
        );
        let good = rule.replace("9:00-17:00", "09:00-17:00");
        let config = parse(Path::new("c.toml"), &format!("{TARGET}{good}")).unwrap();
        assert_eq!(
            config.eligibility[0].window.as_ref().unwrap().hours,
            Some((540, 1020))
        );
    }

    #[test]
    fn a_role_on_a_backend_that_needs_a_grant_table_says_whose() {
        let text = "[targets.pg]\nbackend = \"postgres\"\nurl = \"postgres://admin@127.0.0.1/app\"\n\n\
                    [roles.x]\ntarget = \"pg\"\nmax_ttl = \"1h\"\n";
        assert_eq!(
            parse(Path::new("c.toml"), text).unwrap_err().to_string(),
            "c.toml:5:1: [roles.x] needs `grant`: the postgres backend's grant table"
        );
    }

    #[test]
    fn an_agent_table_opens_a_role_to_agents_on_its_own_terms() {
        let base = "[roles.db]\ntarget = \"t\"\nmax_ttl = \"1h\"\napprovals = { from = [\"group:leads\"] }\n";
        assert!(role(base).agent.is_none());
        let open = role(&format!(
            "{base}[roles.db.agent]\ncommands = {{ q = [\"psql\", \"-c\", \"{{sql}}\"] }}\n"
        ));
        let agent = open.agent.as_ref().unwrap();
        assert_eq!(agent.max_ttl, Duration::from_secs(900));
        assert_eq!(agent.approvals.required, 1);
        assert_eq!(agent.approvals.approvers(), ["group:leads"]);
        assert!(!agent.reveal);
        assert_eq!(agent.commands["q"].placeholders(), ["sql"]);
        // Without approvers of the role's own, an agent's table must name them (or say none).
        let unapproved = "[roles.x]\ntarget = \"t\"\nmax_ttl = \"1h\"\n";
        assert_eq!(
            errors(&format!("{unapproved}agent = {{ max_ttl = \"5m\" }}\n")),
            "c.toml:8:9: [roles.x.agent]: an agent's request needs a person's approval, and role \"x\" names no approvers; \
             set agent.approvals = { required = 1, from = [\"group:NAME\"] } (or { required = 0 } to let agents in without one)"
        );
        let unattended = role(&format!(
            "{unapproved}agent = {{ approvals = {{ required = 0 }}, reveal = true }}\n"
        ));
        let agent = unattended.agent.unwrap();
        assert_eq!(agent.approvals.required, 0);
        assert!(agent.reveal);
        assert_eq!(
            errors(&format!("{base}agent = {{ max_ttl = \"2h\" }}\n")),
            "c.toml:9:21: agent.max_ttl (2h) is longer than the role's max_ttl (1h)"
        );
        assert_eq!(
            errors(&format!(
                "{base}agent = {{ commands = {{ q = [\"{{prog}}\", \"x\"] }} }}\n"
            )),
            "c.toml:9:29: agent.commands.q: the program is fixed; only its arguments may be placeholders"
        );
        assert_eq!(
            errors(&format!(
                "{base}agent = {{ commands = {{ q = [\"psql\", \"--db={{db}}\"] }} }}\n"
            )),
            "c.toml:9:37: agent.commands.q: \"--db={db}\" is not a placeholder; a placeholder is a whole argument such as \"{sql}\" \
             (lowercase name), and is passed as exactly one argument"
        );
        assert_eq!(
            errors(&format!("{base}agent = {{ commands = {{ q = [] }} }}\n")),
            "c.toml:9:28: agent.commands.q is empty: give the program and its arguments, as [\"psql\", \"-c\", \"select 1\"]"
        );
        assert_eq!(
            errors(&format!("{base}agent = {{ approve = true }}\n")),
            "c.toml:9:11: unknown key `approve` in [roles.db.agent]; valid keys: max_ttl, approvals, reveal, commands"
        );
        assert_eq!(
            errors(
                "[roles.sos]\ntarget = \"t\"\nmax_ttl = \"1h\"\nbreak_glass = true\nagent = { approvals = { required = 0 } }\n"
            ),
            "c.toml:9:9: [roles.sos] has break_glass = true: break-glass access is for people; remove `agent`"
        );
    }

    #[test]
    fn break_glass_roles_are_self_granted_and_short() {
        let base = "[roles.sos]\ntarget = \"t\"\nmax_ttl = \"1h\"\n";
        assert!(!role(base).break_glass);
        assert!(role(&format!("{base}break_glass = true\n")).break_glass);
        assert!(!role(&format!("{base}break_glass = false\n")).break_glass);
        assert_eq!(
            errors(&format!(
                "{base}break_glass = true\napprovals = {{ from = [\"user:a\"] }}\n"
            )),
            "c.toml:9:13: [roles.sos] has break_glass = true: break_glass roles are self-granted; remove `approvals`"
        );
        assert_eq!(
            errors("[roles.sos]\ntarget = \"t\"\nmax_ttl = \"61m\"\nbreak_glass = true\n"),
            "c.toml:7:11: max_ttl (1h1m) is over the 1h cap for break_glass roles"
        );
        assert_eq!(
            errors(&format!("{base}break_glass = \"yes\"\n")),
            "c.toml:8:15: break_glass must be true or false, not a string"
        );
    }
}
