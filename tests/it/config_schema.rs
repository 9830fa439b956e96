//! The JSON Schema of the configuration (`docs/config.schema.json`), held to what
//! `jit config check` accepts, and checked with Taplo's own CLI (npm `@taplo/cli`, which
//! scripts/test.sh installs), the checker behind Even Better TOML:
//!
//! - every TOML example in the docs is a configuration both accept (fragments completed as
//!   the table below says), and the broken one both refuse;
//! - every documented error both refuse, each in its own words; those the schema cannot
//!   express (listed) only jit refuses, and Taplo lets them through;
//! - every key jit knows, table by table (from its own "valid keys" lists), is the schema's;
//! - `jit init` writes the `#:schema` line first and the schema beside the configuration,
//!   and Taplo follows the line.

use crate::harness::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema_path() -> PathBuf {
    repo().join("docs/config.schema.json")
}

fn schema() -> Value {
    serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap()).unwrap()
}

/// Where scripts/test.sh installs Taplo's CLI (JIT_TEST_TAPLO_DIR, by default
/// ~/.cache/jit-tests/taplo-cli).
fn taplo() -> PathBuf {
    let dir = std::env::var_os("JIT_TEST_TAPLO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
                .join("jit-tests/taplo-cli")
        });
    let bin = dir.join("node_modules/.bin/taplo");
    assert!(
        bin.exists(),
        "Taplo's CLI is not installed in {} (scripts/test.sh installs it)",
        dir.display()
    );
    bin
}

/// What Taplo said of each file it linted: its errors as (line, message), and whether it
/// found the file invalid.
#[derive(Debug, Default)]
struct Verdict {
    invalid: bool,
    errors: Vec<(usize, String)>,
}

impl Verdict {
    fn says(&self, text: &str) -> bool {
        self.errors
            .iter()
            .any(|(_, message)| message.contains(text))
    }

    fn lines(&self) -> BTreeSet<usize> {
        self.errors.iter().map(|(line, _)| *line).collect()
    }
}

/// `taplo lint` on `files`: against the schema given as a flag, or (`None`) against the one
/// each file's `#:schema` line names. No configuration file, no catalog, nothing online.
fn lint(files: &[PathBuf], schema: Option<&Path>) -> BTreeMap<PathBuf, Verdict> {
    let mut command = Command::new(taplo());
    command.args(["lint", "--no-auto-config", "--colors", "never"]);
    if let Some(schema) = schema {
        command
            .arg("--schema")
            .arg(format!("file://{}", schema.display()));
    }
    let output = command.args(files).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut verdicts: BTreeMap<PathBuf, Verdict> = files
        .iter()
        .map(|f| (f.clone(), Verdict::default()))
        .collect();
    let mut message: Option<String> = None;
    for line in text.lines() {
        if let Some(m) = line.strip_prefix("error: ") {
            message = Some(m.to_owned());
        } else if let Some(place) = line.split("┌─ ").nth(1)
            && let Some(m) = message.take()
        {
            // PATH:LINE:COLUMN
            let mut parts = place.trim().rsplitn(3, ':');
            let (_, line, path) = (parts.next(), parts.next(), parts.next());
            let verdict = verdicts
                .get_mut(Path::new(path.unwrap()))
                .unwrap_or_else(|| panic!("Taplo names a file it was not given: {place}\n{text}"));
            verdict.errors.push((line.unwrap().parse().unwrap(), m));
        } else if line.contains("invalid file") {
            let path = line.split("path=\"").nth(1).unwrap().trim_end_matches('"');
            verdicts.get_mut(Path::new(path)).unwrap().invalid = true;
        }
    }
    let any_invalid = verdicts.values().any(|v| v.invalid);
    assert_eq!(
        output.status.success(),
        !any_invalid,
        "Taplo's status and its verdicts disagree:\n{text}"
    );
    verdicts
}

/// `jit config check` on one file: its exit code and the positions and messages it names.
fn jit_check(w: &World, file: &Path) -> (Option<i32>, Vec<(usize, String)>) {
    let run = w
        .jit(["--config", &file.display().to_string(), "config", "check"])
        .run();
    let prefix = format!("{}:", file.display());
    let errors = run
        .stderr
        .lines()
        .filter_map(|l| {
            l.strip_prefix("jit: error: ")
                .unwrap_or(l)
                .strip_prefix(&prefix)
        })
        .map(|rest| {
            let (line, rest) = rest.split_once(':').unwrap();
            let (_, message) = rest.split_once(": ").unwrap();
            (line.parse().unwrap(), message.to_owned())
        })
        .collect();
    (run.code, errors)
}

// ---------------------------------------------------------------------------------------
// The docs' examples.

/// One ```toml block of a page: where it starts and what it holds.
struct Block {
    file: String,
    line: usize,
    text: String,
}

fn doc_pages() -> Vec<String> {
    let mut pages = vec!["README.md".to_owned()];
    for dir in ["docs", "docs/backends"] {
        let mut names: Vec<String> = std::fs::read_dir(repo().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".md"))
            .map(|n| format!("{dir}/{n}"))
            .collect();
        names.sort();
        pages.extend(names);
    }
    pages
}

fn toml_blocks() -> Vec<Block> {
    let mut blocks = Vec::new();
    for file in doc_pages() {
        let text = std::fs::read_to_string(repo().join(&file)).unwrap();
        let mut open: Option<(usize, String)> = None;
        for (i, line) in text.lines().enumerate() {
            match &mut open {
                None if line.trim_end() == "```toml" => open = Some((i + 2, String::new())),
                None => {}
                Some((start, body)) if line.trim_end() == "```" => {
                    blocks.push(Block {
                        file: file.clone(),
                        line: *start,
                        text: std::mem::take(body),
                    });
                    open = None;
                }
                Some((_, body)) => {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
        assert!(open.is_none(), "{file}: a ```toml block is not closed");
    }
    blocks
}

// The targets and roles the docs' fragments name, as they are elsewhere in the docs.
const PROD_DB: &str = "[targets.prod-db]\nbackend = \"postgres\"\nurl = \"postgres://jit_admin@db.internal:5432/app\"\n\n";
const DB: &str =
    "[targets.db]\nbackend = \"mysql\"\nurl = \"mysql://jit_admin@db.internal:3306/app\"\n\n";
const HOSTS: &str =
    "[targets.hosts]\nbackend = \"ssh\"\nca_key = \"file:ssh_ca\"\nkrl = \"revoked.krl\"\n\n";
const THIS_HOST_KEYS: &str =
    "[targets.this-host]\nbackend = \"ssh\"\nmode = \"authorized-keys\"\n\n";
const THIS_HOST_SUDO: &str = "[targets.this-host]\nbackend = \"sudo\"\n\n";
const CLOUD: &str = "[targets.cloud]\nbackend = \"aws\"\nregion = \"eu-west-1\"\naccess_key_id = \"keyring:aws-key-id\"\nsecret_access_key = \"keyring:aws-secret\"\n\n";
const DEPLOYER: &str = "[targets.deployer]\nbackend = \"command\"\nprogram = \"deploy\"\n\n";
const LEDGER_PAYOUT: &str = "[roles.ledger]\ntarget = \"deployer\"\nmax_ttl = \"1h\"\n\n[roles.payout]\ntarget = \"deployer\"\nmax_ttl = \"1h\"\n\n";
const DB_ADMIN: &str = "[roles.db-admin]\ntarget = \"prod-db\"\nmax_ttl = \"2h\"\ngrant = { mode = \"ephemeral\", roles = [\"app_rw\"] }\n\n";
const DB_READ: &str = "[roles.db-read]\ntarget = \"prod-db\"\nmax_ttl = \"1h\"\ngrant = { mode = \"ephemeral\", roles = [\"app_ro\"] }\n\n";
// A role for a bare `grant = ...` block, whose lines go on in its table.
const ROLE_ON_PROD_DB: &str = "[roles.r]\ntarget = \"prod-db\"\nmax_ttl = \"1h\"\n";
const ROLE_ON_DB: &str = "[roles.r]\ntarget = \"db\"\nmax_ttl = \"1h\"\n";
const ROLE_ON_HOSTS: &str = "[roles.r]\ntarget = \"hosts\"\nmax_ttl = \"1h\"\n";
const ROLE_ON_CLOUD: &str = "[roles.r]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\n";
const TEAM_STORE: &str = "[store]\nkind = \"postgres\"\n";

/// A block that is not a whole configuration, and how it becomes one: what goes before it,
/// what after it (into its last table), and whether it shows alternatives (separated by a
/// blank line) to take one at a time. Every other block is a whole configuration as it is.
struct Fragment {
    file: &'static str,
    /// How the block starts.
    head: &'static str,
    before: &'static [&'static str],
    after: &'static str,
    alternatives: bool,
}

const fn fragment(
    file: &'static str,
    head: &'static str,
    before: &'static [&'static str],
) -> Fragment {
    Fragment {
        file,
        head,
        before,
        after: "",
        alternatives: false,
    }
}

const FRAGMENTS: &[Fragment] = &[
    fragment("README.md", "[roles.db-emergency]", &[PROD_DB]),
    fragment("README.md", "[[conflicts]]", &[DEPLOYER, LEDGER_PAYOUT]),
    fragment("README.md", "[roles.db-admin]\n", &[PROD_DB]),
    fragment("README.md", "[roles.db-admin.ticket]", &[PROD_DB, DB_ADMIN]),
    fragment("README.md", "[roles.db-read.agent]", &[PROD_DB, DB_READ]),
    fragment(
        "docs/certification.md",
        "[[eligibility]]",
        &[PROD_DB, DB_ADMIN],
    ),
    fragment(
        "docs/configuration.md",
        "[roles.db-admin.ticket]",
        &[PROD_DB, DB_ADMIN],
    ),
    fragment("docs/configuration.md", "[roles.prod-deploy]", &[DEPLOYER]),
    fragment(
        "docs/configuration.md",
        "[roles.prod-db-emergency]",
        &[PROD_DB],
    ),
    fragment(
        "docs/configuration.md",
        "[roles.db-read.agent]",
        &[PROD_DB, DB_READ],
    ),
    fragment("docs/configuration.md", "[roles.db-admin]\n", &[PROD_DB]),
    fragment("docs/configuration.md", "[roles.db-ro]", &[DB]),
    fragment("docs/configuration.md", "[roles.web-shell]", &[HOSTS]),
    fragment(
        "docs/configuration.md",
        "[roles.deploy-login]",
        &[THIS_HOST_KEYS],
    ),
    fragment(
        "docs/configuration.md",
        "[roles.restart-web]",
        &[THIS_HOST_SUDO],
    ),
    fragment("docs/configuration.md", "[roles.aws-admin]", &[CLOUD]),
    fragment(
        "docs/configuration.md",
        "[[conflicts]]",
        &[DEPLOYER, LEDGER_PAYOUT],
    ),
    fragment("docs/mcp.md", "[roles.db-read.agent]", &[PROD_DB, DB_READ]),
    Fragment {
        after: "target = \"prod-db\"\nmax_ttl = \"2h\"\ngrant = { mode = \"ephemeral\", roles = [\"app_rw\"] }\n",
        ..fragment(
            "docs/team-mode.md",
            "[roles.db-admin]\napprovals",
            &[PROD_DB],
        )
    },
    fragment("docs/team-mode.md", "url = ", &[TEAM_STORE]),
    fragment("docs/ticketing.md", "[roles.db-admin]\n", &[PROD_DB]),
    fragment(
        "docs/ticketing.md",
        "[roles.db-admin.ticket]",
        &[PROD_DB, DB_ADMIN],
    ),
    fragment("docs/backends/aws.md", "grant = ", &[CLOUD, ROLE_ON_CLOUD]),
    Fragment {
        alternatives: true,
        ..fragment(
            "docs/backends/aws.md",
            "# an inline policy",
            &[CLOUD, ROLE_ON_CLOUD],
        )
    },
    fragment("docs/backends/mysql.md", "grant = ", &[DB, ROLE_ON_DB]),
    fragment(
        "docs/backends/postgres.md",
        "grant = ",
        &[PROD_DB, ROLE_ON_PROD_DB],
    ),
    Fragment {
        alternatives: true,
        ..fragment(
            "docs/backends/ssh.md",
            "# a shell as",
            &[HOSTS, ROLE_ON_HOSTS],
        )
    },
    fragment("docs/backends/ssh.md", "[roles.web-shell]", &[HOSTS]),
];

/// Blocks that show what `jit config check` refuses: refused by both.
const BROKEN: &[(&str, &str)] = &[(
    "docs/notifications.md",
    "[[notify]]\nname = \"ops-events\"\nurl = \"https://events.example.com/jit/{lease_id}\"",
)];

#[test]
fn every_toml_example_in_the_docs_is_a_configuration_jit_and_the_schema_accept() {
    let w = World::empty();
    let dir = w.path("examples");
    std::fs::create_dir(&dir).unwrap();
    let mut used = vec![false; FRAGMENTS.len()];
    let mut broken_used = vec![false; BROKEN.len()];
    // Each configuration made of a block: its file, where it came from, whether it is broken.
    let mut configs: Vec<(PathBuf, String, bool)> = Vec::new();
    for block in toml_blocks() {
        let name = format!("{}-{}", block.file.replace('/', "_"), block.line);
        let whence = format!("{}:{}", block.file, block.line);
        if let Some(i) = BROKEN
            .iter()
            .position(|(file, head)| *file == block.file && block.text.starts_with(head))
        {
            broken_used[i] = true;
            let path = dir.join(format!("{name}.toml"));
            std::fs::write(&path, &block.text).unwrap();
            configs.push((path, whence, true));
            continue;
        }
        let found = FRAGMENTS
            .iter()
            .position(|f| f.file == block.file && block.text.starts_with(f.head));
        let Some(i) = found else {
            let path = dir.join(format!("{name}.toml"));
            std::fs::write(&path, &block.text).unwrap();
            configs.push((path, whence, false));
            continue;
        };
        used[i] = true;
        let f = &FRAGMENTS[i];
        let parts: Vec<&str> = if f.alternatives {
            block.text.split("\n\n").collect()
        } else {
            vec![block.text.as_str()]
        };
        for (n, part) in parts.iter().enumerate() {
            let text = format!("{}{}\n{}", f.before.concat(), part.trim_end(), f.after);
            let path = dir.join(format!("{name}-{n}.toml"));
            std::fs::write(&path, text).unwrap();
            configs.push((path, format!("{whence} (completed)"), false));
        }
    }
    for (f, used) in FRAGMENTS.iter().zip(&used) {
        assert!(
            used,
            "no block of {} starts with {:?}: drop it from FRAGMENTS",
            f.file, f.head
        );
    }
    assert!(broken_used.iter().all(|u| *u), "a BROKEN block is gone");
    assert!(
        configs.len() >= 70,
        "only {} configurations found",
        configs.len()
    );

    // jit: every one is a valid configuration, the broken ones refused.
    let mut wrong = Vec::new();
    let mut jit_lines = BTreeMap::new();
    for (path, whence, broken) in &configs {
        let (code, errors) = jit_check(&w, path);
        match (broken, code) {
            (false, Some(0)) => {}
            (true, Some(5)) => {
                jit_lines.insert(path.clone(), errors);
            }
            _ => wrong.push(format!(
                "jit config check, {whence}: exit {code:?}: {errors:?}"
            )),
        }
    }

    // Taplo, against the schema: the same verdicts.
    let files: Vec<PathBuf> = configs.iter().map(|(p, _, _)| p.clone()).collect();
    let verdicts = lint(&files, Some(&schema_path()));
    for (path, whence, broken) in &configs {
        let verdict = &verdicts[path];
        if verdict.invalid != *broken {
            wrong.push(format!(
                "Taplo, {whence}: invalid = {}: {:?}",
                verdict.invalid, verdict.errors
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // A broken example: every line jit names, Taplo names too.
    for (path, errors) in jit_lines {
        assert!(!errors.is_empty());
        let taplo_lines = verdicts[&path].lines();
        for (line, message) in errors {
            assert!(
                taplo_lines.contains(&line),
                "{}: jit says {message:?} at line {line}; Taplo says nothing there: {:?}",
                path.display(),
                verdicts[&path].errors
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Errors.

const TARGET: &str = "[targets.t]\nbackend = \"command\"\nprogram = \"/bin/true\"\n\n";

/// A configuration with one role `r` on the command target `t`, with `extra` in its table.
fn role(extra: &str) -> String {
    format!("{TARGET}[roles.r]\ntarget = \"t\"\nmax_ttl = \"1h\"\n{extra}")
}

/// A role `r` whose eligibility rule holds `extra`.
fn rule(extra: &str) -> String {
    format!(
        "{}\n[[eligibility]]\nsubjects = [\"user:alice\"]\nroles = [\"r\"]\n{extra}",
        role("")
    )
}

fn target(text: &str) -> String {
    format!("[targets.x]\n{text}")
}

/// An error case: its configuration, what `jit config check` says, and what Taplo says with
/// the schema (`None`: the schema cannot express it).
struct Case {
    name: &'static str,
    text: String,
    jit: &'static str,
    taplo: Option<&'static str>,
}

fn case(name: &'static str, text: String, jit: &'static str, taplo: Option<&'static str>) -> Case {
    Case {
        name,
        text,
        jit,
        taplo,
    }
}

/// The errors docs/configuration.md and tests/it/config_errors.rs name that a schema can
/// express: unknown keys, wrong types, values outside their set or shape, missing keys, and
/// the rules between keys of one table.
fn schema_errors() -> Vec<Case> {
    let s = Some;
    let http = "backend = \"http\"\nurl = \"https://access.example.com/grants/{lease_id}\"\n";
    let ship = "[[audit.ship]]\n";
    let notify = "[[notify]]\nurl = \"https://hooks.example.com/jit\"\n";
    let check = "url = \"https://jira.example.com/issue/{ticket}\", status_field = \"fields.status.name\", allowed = [\"Open\"]";
    vec![
        case("an unknown key in a role", role("maxttl = \"1h\"\n"), "unknown key `maxttl` in [roles.r]; valid keys: target, description, max_ttl, default_ttl, ticket, approvals, break_glass, max_active, window, agent, grant", s("'maxttl' was unexpected")),
        case("an unknown table", format!("{TARGET}[bogus]\n"), "unknown key `bogus` in the configuration", s("'bogus' was unexpected")),
        case("an unknown key in a target", format!("{TARGET}programme = \"x\"\n"), "unknown key `programme` in [targets.t]", s("'programme' was unexpected")),
        case("a key of another backend", format!("{TARGET}region = \"eu-west-1\"\n"), "unknown key `region` in [targets.t]; valid keys: backend, program, args, timeout, env, description", s("\"region\" is not one of [\"backend\",\"program\",\"args\",\"timeout\",\"env\",\"description\"]")),
        case("an unknown key in [identity]", "[identity]\nservice_acount = \"jit\"\n".into(), "unknown key `service_acount` in [identity]", s("'service_acount' was unexpected")),
        case("an unknown key in [audit]", "[audit]\nshipping = []\n".into(), "unknown key `shipping` in [audit]", s("'shipping' was unexpected")),
        case("an unknown key in ticket", role("ticket = { require = true }\n"), "unknown key `require` in ticket", s("'require' was unexpected")),
        case("an unknown key in a window", role("window = { days = [\"mon\"] }\n"), "unknown key `days` in window; valid keys: weekdays, hours, timezone", s("'days' was unexpected")),
        case("an unknown key in an agent table", role("approvals = { from = [\"user:bob\"] }\nagent = { approve = true }\n"), "unknown key `approve` in [roles.r.agent]", s("'approve' was unexpected")),
        case("an unknown key in an eligibility rule", rule("maxttl = \"1h\"\n"), "unknown key `maxttl` in [[eligibility]] #1", s("'maxttl' was unexpected")),
        case("an unknown key in a conflict", format!("{}[[conflicts]]\nroles = [\"r\", \"r2\"]\nwhy = \"x\"\n", role("\n[roles.r2]\ntarget = \"t\"\nmax_ttl = \"1h\"\n")), "unknown key `why` in [[conflicts]] #1", s("'why' was unexpected")),
        case("an unknown key in a webhook", format!("{notify}method = \"PUT\"\n"), "unknown key `method` in [[notify]] #1", s("'method' was unexpected")),
        case("a key of the other kind of shipping", format!("{ship}kind = \"syslog\"\nurl = \"https://collector.example.com/\"\n"), "unknown key `url` in [[audit.ship]] #1; valid keys: kind, name, socket, facility, format", s("\"url\" is not one of [\"kind\",\"name\",\"socket\",\"facility\",\"format\"]")),
        case("a key of the other kind of store", "[store]\nkind = \"postgres\"\nurl = \"postgres://db.internal/jit\"\npath = \"/var/lib/jit\"\n".into(), "unknown key `path` in [store]; valid keys: kind, url, password, connect_timeout", s("\"path\" is not one of [\"kind\",\"url\",\"password\",\"connect_timeout\"]")),
        case("a key of the other ssh mode", target("backend = \"ssh\"\nmode = \"authorized-keys\"\nkrl = \"revoked.krl\"\n"), "`krl` applies to mode \"certificate\" only", s("\"krl\" is not one of [\"authorized_keys\",\"backend\",\"mode\",\"description\"]")),
        case("a role without max_ttl", format!("{TARGET}[roles.r]\ntarget = \"t\"\n"), "[roles.r] needs `max_ttl`", s("\"max_ttl\" is a required property")),
        case("a role without a target", "[roles.r]\nmax_ttl = \"1h\"\n".into(), "[roles.r] needs `target`", s("\"target\" is a required property")),
        case("a target without backend", target("program = \"/bin/true\"\n"), "[targets.x] needs `backend`", s("\"backend\" is a required property")),
        case("a command target without program", target("backend = \"command\"\n"), "[targets.x] needs `program`", s("\"program\" is a required property")),
        case("a certificate authority without its key", target("backend = \"ssh\"\nkrl = \"revoked.krl\"\n"), "[targets.x] needs `ca_key`", s("\"ca_key\" is a required property")),
        case("an aws target without a region", target("backend = \"aws\"\naccess_key_id = \"env:A\"\nsecret_access_key = \"env:B\"\n"), "[targets.x] needs `region`", s("\"region\" is a required property")),
        case("a team store without a url", "[store]\nkind = \"postgres\"\n".into(), "[store] kind = \"postgres\" needs `url`", s("\"url\" is a required property")),
        case("a ticket check without allowed", role("ticket = { check = { url = \"https://x.example/{ticket}\", status_field = \"s\" } }\n"), "ticket.check needs `allowed`", s("\"allowed\" is a required property")),
        case("an eligibility rule without subjects", format!("{}\n[[eligibility]]\nroles = [\"r\"]\n", role("")), "[[eligibility]] #1 needs `subjects`", s("\"subjects\" is a required property")),
        case("a conflict without a reason", format!("{}[[conflicts]]\nroles = [\"r\", \"r2\"]\n", role("\n[roles.r2]\ntarget = \"t\"\nmax_ttl = \"1h\"\n")), "[[conflicts]] #1 needs `reason`", s("\"reason\" is a required property")),
        case("a shipping destination without its kind", format!("{ship}name = \"siem\"\n"), "[[audit.ship]] #1 needs `kind`", s("\"kind\" is a required property")),
        case("an http destination without a url", format!("{ship}kind = \"http\"\n"), "[[audit.ship]] #1 needs `url`", s("\"url\" is a required property")),
        case("a webhook without a url", "[[notify]]\nname = \"x\"\n".into(), "[[notify]] #1 needs `url`", s("\"url\" is a required property")),
        case("a boolean that is a string", role("break_glass = \"yes\"\n"), "break_glass must be true or false, not a string", s("\"yes\" is not of type \"boolean\"")),
        case("a duration that is a number", role("default_ttl = 30\n"), "default_ttl must be a string, not an integer", s("30 is not of type \"string\"")),
        case("a list that is a string", rule("").replace("subjects = [\"user:alice\"]", "subjects = \"user:alice\""), "subjects must be an array of strings, not a string", s("\"user:alice\" is not of type \"array\"")),
        case("a table that is a string", role("window = \"mon-fri\"\n"), "window must be a table, not a string", s("\"mon-fri\" is not of type \"object\"")),
        case("an array of tables that is a table", "[eligibility]\nroles = [\"*\"]\n".into(), "eligibility must be an array of tables ([[eligibility]]), not a table", s("is not of type \"array\"")),
        case("an unknown backend", target("backend = \"oracle\"\n"), "unknown backend \"oracle\"; valid: aws, command, file, http, mysql, postgres, ssh, sudo", s("\"oracle\" is not one of [\"aws\",\"command\",\"file\",\"http\",\"mysql\",\"postgres\",\"ssh\",\"sudo\"]")),
        case("an unknown store kind", "[store]\nkind = \"mysql\"\n".into(), "unknown store kind \"mysql\"; valid: \"sqlite\", \"postgres\"", s("\"mysql\" is not one of [\"sqlite\",\"postgres\"]")),
        case("an unknown ssh mode", target("backend = \"ssh\"\nmode = \"keys\"\n"), "mode \"keys\" is not one of \"certificate\", \"authorized-keys\"", s("\"keys\" is not one of [\"certificate\",\"authorized-keys\"]")),
        case("an unknown revoke method", target(&format!("{http}revoke_method = \"PUT\"\n")), "revoke_method \"PUT\" is not one of \"POST\", \"DELETE\"", s("\"PUT\" is not one of [\"POST\",\"DELETE\"]")),
        case("an unknown webhook format", format!("{notify}format = \"teams\"\n"), "format \"teams\" is not one of \"json\", \"slack\"", s("\"teams\" is not one of [\"json\",\"slack\"]")),
        case("an unknown event kind", format!("{notify}events = [\"grnated\"]\n"), "\"grnated\" is not an event kind", s("\"grnated\" is not one of")),
        case("the event kind never sent", format!("{notify}events = [\"notify-failed\"]\n"), "\"notify-failed\" is never sent to a webhook", s("\"notify-failed\" is not one of")),
        case("no event kinds", format!("{notify}events = []\n"), "events is empty: leave it out to send every kind, or name the kinds", s("[] has less than 1 item")),
        case("an unknown syslog facility", format!("{ship}kind = \"syslog\"\nfacility = \"local9\"\n"), "facility \"local9\" is not one of auth, authpriv, daemon, user, local0", s("\"local9\" is not one of")),
        case("an unknown shipping format", format!("{ship}kind = \"syslog\"\nformat = \"cef\"\n"), "format \"cef\" is not one of \"jsonl\", \"ocsf\"", s("\"cef\" is not one of [\"jsonl\",\"ocsf\"]")),
        case("an unknown review_overdue", rule("review_every = \"90d\"\nreview_overdue = \"block\"\n"), "review_overdue \"block\" is not one of \"warn\", \"deny\"", s("\"block\" is not one of [\"warn\",\"deny\"]")),
        case("too many retries", format!("{notify}retries = 11\n"), "retries must be between 0 and 10, not 11", s("11 is greater than the maximum of 10")),
        case("too many approvers", role("approvals = { required = 11, from = [\"user:bob\"] }\n"), "approvals.required must be between 0 and 10, not 11", s("11 is greater than the maximum of 10")),
        case("max_active of 0", role("max_active = 0\n"), "max_active is 0: no lease could ever be granted", s("0 is less than the minimum of 1")),
        case("a batch of 0", format!("{ship}kind = \"http\"\nurl = \"https://collector.example.com/\"\nbatch = 0\n"), "batch must be at least 1", s("0 is less than the minimum of 1")),
        case("a duration without a unit", role("default_ttl = \"45\"\n"), "default_ttl: \"45\" is not a duration", s("\"45\" does not match")),
        case("a duration that is not one", role("default_ttl = \"soon\"\n"), "default_ttl: \"soon\" is not a duration", s("\"soon\" does not match")),
        case("a negative duration", role("default_ttl = \"-5m\"\n"), "default_ttl: \"-5m\" is negative", s("\"-5m\" does not match")),
        case("a literal secret in a command's environment", format!("{TARGET}env = {{ DB_PASSWORD = \"hunter2\" }}\n"), "env.DB_PASSWORD: a secret must be a reference (keyring:NAME, env:VAR or file:PATH); a literal secret is refused", s("\"hunter2\" does not match")),
        case("a literal admin password", target("backend = \"postgres\"\nurl = \"postgres://jit_admin@db.internal/app\"\npassword = \"hunter2\"\n"), "password: a secret must be a reference", s("\"hunter2\" does not match")),
        case("a literal secret in a free-form grant", role("grant = { api_token = \"abc123\" }\n"), "api_token: a secret must be a reference", s("\"abc123\" does not match")),
        case("a literal secret deep in a free-form grant", role("grant = { db = [{ Admin_Password = \"abc123\" }] }\n"), "Admin_Password: a secret must be a reference", s("\"abc123\" does not match")),
        case("a secret-named grant key that is not a string", role("grant = { issue_token = true }\n"), "issue_token: a secret must be a reference", s("true is not of type \"string\"")),
        case("a literal auth header value", format!("{notify}auth = \"Bearer 3f1c2d\"\n"), "auth: a secret must be a reference", s("\"Bearer 3f1c2d\" does not match")),
        case("a secret reference of no known kind", format!("{TARGET}env = {{ A_TOKEN = \"vault:secret/a\" }}\n"), "env.A_TOKEN: a secret must be a reference", s("\"vault:secret/a\" does not match")),
        case("a keyring name with a space", format!("{TARGET}env = {{ A_TOKEN = \"keyring:my key\" }}\n"), "keyring name \"my key\" may hold only letters, digits and . _ - / @", s("\"keyring:my key\" does not match")),
        case("a subject without its kind", rule("").replace("user:alice", "alice"), "\"alice\" is not a subject; use user:NAME or group:NAME", s("\"alice\" does not match")),
        case("an approver without its kind", role("approvals = { from = [\"bob\"] }\n"), "\"bob\" is not a subject", s("\"bob\" does not match")),
        case("a target name with a space", "[targets.\"prod db\"]\nbackend = \"file\"\ndirectory = \"leases\"\n".into(), "target name \"prod db\" is not valid", s("\"prod db\" does not match")),
        case("a role name with a slash", format!("{TARGET}[roles.\"db/admin\"]\ntarget = \"t\"\nmax_ttl = \"1h\"\n"), "role name \"db/admin\" is not valid", s("\"db/admin\" does not match")),
        case("an eligibility rule name with a space", rule("name = \"on call\"\n"), "name \"on call\" is not a name", s("\"on call\" does not match")),
        case("an empty webhook name", format!("{notify}name = \"\"\n"), "name is empty", s("\"\" does not match")),
        case("an empty program", target("backend = \"command\"\nprogram = \"\"\n"), "program must name an executable", s("\"\" is shorter than 1 character")),
        case("break-glass with approvals", role("break_glass = true\napprovals = { from = [\"user:bob\"] }\n"), "[roles.r] has break_glass = true: break_glass roles are self-granted; remove `approvals`", s("\"approvals\" is not one of")),
        case("break-glass for agents", role("break_glass = true\nagent = { approvals = { required = 0 } }\n"), "break-glass access is for people; remove `agent`", s("\"agent\" is not one of")),
        case("review_overdue without review_every", rule("review_overdue = \"deny\"\n"), "review_overdue says what an overdue certification does: it needs review_every", s("\"review_every\" is a required property")),
        case("revoke_when_closed without a check", role("ticket = { revoke_when_closed = true }\n"), "ticket.revoke_when_closed needs ticket.check", s("\"check\" is a required property")),
        case("a check on a ticket not required", role(&format!("ticket = {{ required = false, check = {{ {check} }} }}\n")), "ticket.check asks the ticketing system about the ticket: required cannot be false", s("true was expected")),
        case("a ticket check that would sign", role(&format!("ticket = {{ check = {{ {check}, signing_secret = \"env:S\" }} }}\n")), "ticket.check sends no body to sign: signing_secret does not apply here", s("\"signing_secret\" is not one of")),
        case("no statuses allowed", role("ticket = { check = { url = \"https://x.example/{ticket}\", status_field = \"s\", allowed = [] } }\n"), "ticket.check.allowed is empty: no ticket could ever pass", s("[] has less than 1 item")),
        case("a status path with an empty key", role("ticket = { check = { url = \"https://x.example/{ticket}\", status_field = \"fields..name\", allowed = [\"Open\"] } }\n"), "ticket.check.status_field \"fields..name\" is not a path", s("\"fields..name\" does not match")),
        case("approvals without approvers", role("approvals = { required = 1 }\n"), "approvals needs `from`", s("\"from\" is a required property")),
        case("an approval timeout without approvals", role("approvals = { required = 0, timeout = \"30m\" }\n"), "approvals.timeout is how long a request waits for approval; it needs required of 1 or more", s("is not valid under any of the schemas listed in the 'anyOf' keyword")),
        case("a window of neither days nor hours", role("window = { timezone = \"UTC\" }\n"), "window needs `weekdays`, `hours` or both", s("is not valid under any of the schemas listed in the 'anyOf' keyword")),
        case("a window of no days", role("window = { weekdays = [] }\n"), "window.weekdays is empty: the window would never open", s("[] has less than 1 item")),
        case("a misspelt day", role("window = { weekdays = [\"mon-fry\"] }\n"), "window.weekdays: \"mon-fry\" is not a day or a range of days", s("\"mon-fry\" does not match")),
        case("hours without minutes", role("window = { hours = \"8-18\" }\n"), "window.hours \"8-18\" is not a range of times such as \"08:00-18:00\"", s("\"8-18\" does not match")),
        case("a conflict of one role", format!("{}[[conflicts]]\nroles = [\"r\"]\nreason = \"x\"\n", role("")), "[[conflicts]] #1 needs two or more roles in `roles`", s("[\"r\"] has less than 2 items")),
        case("a role named twice in a conflict", format!("{}[[conflicts]]\nroles = [\"r\", \"r\"]\nreason = \"x\"\n", role("")), "role \"r\" is named twice", s("has non-unique elements")),
        case("an unknown placeholder", target(&format!("{http}revoke_url = \"https://access.example.com/grants/{{lease}}\"\n")), "revoke_url: {lease} is not a placeholder here; valid: {lease_id}, {role}, {subject}, {target}", s("does not match")),
        case("a placeholder in a webhook", "[[notify]]\nurl = \"https://hooks.example.com/jit/{lease_id}\"\n".into(), "url: {lease_id} is not a placeholder here; this URL takes none", s("does not match")),
        case("a URL that is not http", "[[notify]]\nurl = \"ftp://hooks.example.com/jit\"\n".into(), "is not an http:// or https:// URL", s("\"ftp://hooks.example.com/jit\" does not match")),
        case("an endpoint that is not http", target("backend = \"aws\"\nregion = \"eu-west-1\"\naccess_key_id = \"env:A\"\nsecret_access_key = \"env:B\"\nendpoint = \"ftp://x\"\n"), "endpoint \"ftp://x\" is not an http:// or https:// URL", s("\"ftp://x\" does not match")),
        case("a region in capitals", target("backend = \"aws\"\nregion = \"EU-WEST-1\"\naccess_key_id = \"env:A\"\nsecret_access_key = \"env:B\"\n"), "region \"EU-WEST-1\" is not an AWS region", s("\"EU-WEST-1\" does not match")),
        case("a header name with a space", format!("{notify}auth = \"env:T\"\nauth_header = \"X Token\"\n"), "auth_header \"X Token\" is not an HTTP header name", s("\"X Token\" does not match")),
        case("an environment variable name with a dash", format!("{TARGET}env = {{ MY-VAR = \"env:X\" }}\n"), "\"MY-VAR\" is not an environment variable name", s("\"MY-VAR\" does not match")),
        case("an agent command whose program is a placeholder", role("approvals = { from = [\"user:bob\"] }\nagent = { commands = { q = [\"{prog}\", \"x\"] } }\n"), "agent.commands.q: the program is fixed; only its arguments may be placeholders", s("\"{prog}\" does not match")),
        case("a placeholder inside an argument", role("approvals = { from = [\"user:bob\"] }\nagent = { commands = { q = [\"psql\", \"--db={db}\"] } }\n"), "agent.commands.q: \"--db={db}\" is not a placeholder", s("\"--db={db}\" does not match")),
        case("an agent command of nothing", role("approvals = { from = [\"user:bob\"] }\nagent = { commands = { q = [] } }\n"), "agent.commands.q is empty", s("[] has less than 1 item")),
        case("an agent command name in capitals", role("approvals = { from = [\"user:bob\"] }\nagent = { commands = { Query = [\"psql\"] } }\n"), "agent.commands.Query: a command name is lowercase", s("\"Query\" does not match")),
        case("an expiry that is not a date", rule("expires = \"next year\"\n"), "expires \"next year\" is not a date and time with its offset", s("\"next year\" is not a \"date-time\"")),
        case("an expiry that is a number", rule("expires = 3\n"), "expires must be a date and time such as 2027-01-31T18:00:00Z, not an integer", s("3 is not of type \"string\"")),
        case("a TOML syntax error", format!("{TARGET}[roles.r]\nmax_ttl = \"1h\n"), "invalid basic string", s("invalid TOML")),
    ]
}

/// What the schema cannot say: names defined elsewhere in the file, the grant table (its keys
/// depend on the target's backend, in another table), comparisons between values, durations'
/// values, regular expressions, time zones, and what is inside a URL. Only jit refuses them.
fn errors_only_jit_sees() -> Vec<Case> {
    let pg = "[targets.pg]\nbackend = \"postgres\"\nurl = \"postgres://jit_admin@db.internal:5432/app\"\n\n";
    let on_pg = |grant: &str| {
        format!("{pg}[roles.r]\ntarget = \"pg\"\nmax_ttl = \"1h\"\ngrant = {grant}\n")
    };
    let ssh = "[targets.hosts]\nbackend = \"ssh\"\nca_key = \"file:ssh_ca\"\nkrl = \"revoked.krl\"\n\n[roles.r]\ntarget = \"hosts\"\nmax_ttl = \"1h\"\n";
    vec![
        case("a role naming a target not defined", format!("{TARGET}[roles.r]\ntarget = \"prod\"\nmax_ttl = \"1h\"\n"), "role \"r\" names target \"prod\", which is not defined; defined: t", None),
        case("a rule naming a role not defined", rule("").replace("roles = [\"r\"]", "roles = [\"y\"]"), "role \"y\" is not defined; defined: r", None),
        case("a conflict naming a role not defined", format!("{}[[conflicts]]\nroles = [\"r\", \"nope\"]\nreason = \"x\"\n", role("")), "role \"nope\" is not defined; defined: r", None),
        case("default_ttl over max_ttl", role("default_ttl = \"3h\"\n"), "default_ttl (3h) is longer than max_ttl (1h)", None),
        case("break-glass over an hour", format!("{TARGET}[roles.r]\ntarget = \"t\"\nmax_ttl = \"2h\"\nbreak_glass = true\n"), "max_ttl (2h) is over the 1h cap for break_glass roles", None),
        case("agent max_ttl over the role's", role("approvals = { from = [\"user:bob\"] }\nagent = { max_ttl = \"2h\" }\n"), "agent.max_ttl (2h) is longer than the role's max_ttl (1h)", None),
        case("an agent table with nobody to approve", role("agent = { max_ttl = \"5m\" }\n"), "an agent's request needs a person's approval, and role \"r\" names no approvers", None),
        case("a role on postgres without a grant", format!("{pg}[roles.r]\ntarget = \"pg\"\nmax_ttl = \"1h\"\n"), "[roles.r] needs `grant`: the postgres backend's grant table", None),
        case("an unknown key in a postgres grant", on_pg("{ mode = \"ephemeral\", roles = [\"app\"], rolez = [\"x\"] }"), "unknown key `rolez` in grant", None),
        case("a key of the other postgres mode", on_pg("{ mode = \"membership\", roles = [\"app\"], connection_limit = 5 }"), "grant: connection_limit applies to ephemeral logins only", None),
        case("an unknown postgres privilege", on_pg("{ mode = \"ephemeral\", roles = [\"app\"], schema_privileges = { public = [\"SELECT\"] } }"), "grant.schema_privileges.public: \"SELECT\" is not one of USAGE, CREATE", None),
        case("a grant without its mode", on_pg("{ roles = [\"app\"] }"), "grant needs `mode`", None),
        case("an unknown ssh extension", format!("{ssh}grant = {{ principals = [\"deploy\"], extensions = [\"permit-everything\"] }}\n"), "grant.extensions: \"permit-everything\" is not one of", None),
        case("a file role with a grant", "[targets.f]\nbackend = \"file\"\ndirectory = \"leases\"\n\n[roles.r]\ntarget = \"f\"\nmax_ttl = \"1h\"\ngrant = { x = 1 }\n".into(), "a file role's grant takes no keys", None),
        case("a zero duration", role("default_ttl = \"0s\"\n"), "default_ttl: \"0s\" is zero", None),
        case("less than a second", role("default_ttl = \"500ms\"\n"), "is not a whole number of seconds", None),
        case("more than 366 days", role("default_ttl = \"400d\"\n"), "default_ttl: \"400d\" is longer than 366 days", None),
        case("a ticket pattern that is not a regular expression", role("ticket = { pattern = \"([\" }\n"), "ticket.pattern is not a valid regular expression", None),
        case("a time zone that does not exist", role("window = { hours = \"08:00-18:00\", timezone = \"Europe/Berln\" }\n"), "window.timezone \"Europe/Berln\" is not an IANA time zone", None),
        case("hours of the whole day", role("window = { hours = \"08:00-08:00\" }\n"), "window.hours \"08:00-08:00\" is the whole day", None),
        case("a placeholder twice", role("approvals = { from = [\"user:bob\"] }\nagent = { commands = { q = [\"psql\", \"{sql}\", \"{sql}\"] } }\n"), "placeholder {sql} appears twice", None),
        case("a password in a webhook URL", "[[notify]]\nurl = \"https://jit:pw@hooks.example.com/\"\n".into(), "the URL holds a user name or password: a literal secret is refused", None),
        case("a password in a database URL", target("backend = \"postgres\"\nurl = \"postgres://jit_admin:hunter2@db.internal/app\"\n"), "url holds a password: a literal secret is refused", None),
        case("two rules of one name", format!("{}\n[[eligibility]]\nname = \"a\"\nsubjects = [\"user:bob\"]\nroles = [\"r\"]\n", rule("name = \"a\"\n")), "a second eligibility rule named \"a\"", None),
        case("two shipping destinations of one name", "[[audit.ship]]\nkind = \"syslog\"\n\n[[audit.ship]]\nkind = \"syslog\"\nfacility = \"local3\"\n".into(), "a second audit.ship destination named \"syslog\"", None),
    ]
}

/// Write each case to its own file and give its jit verdict, the Taplo verdicts of all.
fn run_cases(cases: &[Case]) -> (World, Vec<PathBuf>, BTreeMap<PathBuf, Verdict>) {
    let w = World::empty();
    let mut files = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let path = w.path(&format!("case-{i:02}.toml"));
        std::fs::write(&path, &c.text).unwrap();
        files.push(path);
    }
    let verdicts = lint(&files, Some(&schema_path()));
    (w, files, verdicts)
}

#[test]
fn documented_errors_are_refused_by_jit_and_by_the_schema_each_in_its_words() {
    let cases = schema_errors();
    let (w, files, verdicts) = run_cases(&cases);
    let mut wrong = Vec::new();
    for (c, path) in cases.iter().zip(&files) {
        let (code, errors) = jit_check(&w, path);
        let said = errors.iter().any(|(_, m)| m.contains(c.jit));
        if code != Some(5) || !said {
            wrong.push(format!(
                "{}: jit exit {code:?}, not saying {:?}: {errors:?}",
                c.name, c.jit
            ));
        }
        let verdict = &verdicts[path];
        let taplo = c.taplo.unwrap();
        if !verdict.invalid || !verdict.says(taplo) {
            wrong.push(format!(
                "{}: Taplo does not say {taplo:?}: {:?}",
                c.name, verdict.errors
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn what_the_schema_cannot_express_only_jit_config_check_refuses() {
    let cases = errors_only_jit_sees();
    let (w, files, verdicts) = run_cases(&cases);
    let mut wrong = Vec::new();
    for (c, path) in cases.iter().zip(&files) {
        let (code, errors) = jit_check(&w, path);
        let said = errors.iter().any(|(_, m)| m.contains(c.jit));
        if code != Some(5) || !said {
            wrong.push(format!(
                "{}: jit exit {code:?}, not saying {:?}: {errors:?}",
                c.name, c.jit
            ));
        }
        assert!(
            c.taplo.is_none(),
            "{}: the schema says nothing here",
            c.name
        );
        let verdict = &verdicts[path];
        if verdict.invalid {
            wrong.push(format!(
                "{}: the schema now refuses it ({:?}): move it to schema_errors()",
                c.name, verdict.errors
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Every key.

/// A configuration with an unknown key `zz_...` in every table jit reads (its targets of
/// each kind and mode beside clean ones its roles name, whose grant tables are probed too).
const PROBES: &str = r#"zz_top = 1

[store]
zz_store_sqlite = 1

[identity]
zz_identity = 1

[targets.p-aws]
backend = "aws"
zz_target_aws = 1
[targets.p-command]
backend = "command"
zz_target_command = 1
[targets.p-file]
backend = "file"
zz_target_file = 1
[targets.p-http]
backend = "http"
zz_target_http = 1
[targets.p-mysql]
backend = "mysql"
zz_target_mysql = 1
[targets.p-postgres]
backend = "postgres"
zz_target_postgres = 1
[targets.p-certificate]
backend = "ssh"
zz_target_ssh_certificate = 1
[targets.p-keys]
backend = "ssh"
mode = "authorized-keys"
zz_target_ssh_keys = 1
[targets.p-sudo]
backend = "sudo"
zz_target_sudo = 1
[targets.p-unknown]
backend = "zz_backend"

[targets.aws]
backend = "aws"
region = "eu-west-1"
access_key_id = "env:A"
secret_access_key = "env:B"
[targets.mysql]
backend = "mysql"
url = "mysql://jit_admin@db.internal/app"
[targets.postgres]
backend = "postgres"
url = "postgres://jit_admin@db.internal/app"
[targets.certificate]
backend = "ssh"
ca_key = "file:ssh_ca"
krl = "revoked.krl"
[targets.keys]
backend = "ssh"
mode = "authorized-keys"
[targets.sudo]
backend = "sudo"

[roles.r]
target = "sudo"
max_ttl = "1h"
zz_role = 1
ticket = { zz_ticket = 1, check = { url = "https://x.example/{ticket}", status_field = "s", allowed = ["a"], zz_ticket_check = 1 } }
approvals = { from = ["user:bob"], zz_approvals = 1 }
window = { hours = "08:00-18:00", zz_window = 1 }
agent = { zz_agent = 1, approvals = { required = 0, zz_agent_approvals = 1 } }
grant = { commands = ["/bin/true"], zz_grant_sudo = 1 }

[roles.aws]
target = "aws"
max_ttl = "1h"
grant = { mode = "assume-role", role_arn = "arn:aws:iam::123456789012:role/r", zz_grant_aws = 1 }
[roles.mysql]
target = "mysql"
max_ttl = "1h"
grant = { mode = "ephemeral", roles = ["r"], zz_grant_mysql = 1 }
[roles.postgres]
target = "postgres"
max_ttl = "1h"
grant = { mode = "ephemeral", roles = ["r"], zz_grant_postgres = 1 }
[roles.certificate]
target = "certificate"
max_ttl = "1h"
grant = { principals = ["p"], zz_grant_ssh_certificate = 1 }
[roles.keys]
target = "keys"
max_ttl = "1h"
grant = { account = "a", zz_grant_ssh_keys = 1 }

[[eligibility]]
subjects = ["user:alice"]
roles = ["*"]
window = { weekdays = ["mon"], zz_eligibility_window = 1 }
zz_eligibility = 1

[[conflicts]]
roles = ["aws", "mysql"]
reason = "x"
zz_conflicts = 1

[[notify]]
url = "https://hooks.example.com/"
zz_notify = 1

[audit]
zz_audit = 1

[[audit.ship]]
kind = "http"
url = "https://collector.example.com/"
zz_ship_http = 1

[[audit.ship]]
kind = "syslog"
zz_ship_syslog = 1
"#;

const TEAM_PROBE: &str =
    "[store]\nkind = \"postgres\"\nurl = \"postgres://db.internal/jit\"\nzz_store_postgres = 1\n";

/// Every `zz_` key of a configuration, with the path of the table that holds it.
fn probes(value: &Value, path: &mut Vec<Value>, out: &mut Vec<(String, Vec<Value>)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key.starts_with("zz_") {
                    out.push((key.clone(), path.clone()));
                }
                path.push(Value::from(key.as_str()));
                probes(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(Value::from(i));
                probes(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Follow a `$ref` (`#/definitions/NAME`).
fn resolved<'s>(root: &'s Value, node: &'s Value) -> &'s Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => root.pointer(r.strip_prefix('#').unwrap()).unwrap(),
        None => node,
    }
}

/// The schema of the value at `path`, through `properties`, `additionalProperties` (for a
/// table of named tables) and `items`.
fn schema_at<'s>(root: &'s Value, path: &[Value]) -> &'s Value {
    let mut node = resolved(root, root);
    for step in path {
        node = match step {
            Value::String(key) => node
                .pointer(&format!("/properties/{key}"))
                .or_else(|| node.get("additionalProperties"))
                .unwrap_or_else(|| panic!("the schema has nothing at {path:?}")),
            _ => &node["items"],
        };
        node = resolved(root, node);
    }
    node
}

/// Whether `value` meets an `if` of the schema (the forms it uses: `required`, and
/// `properties` with `const` or `minimum`).
fn holds(condition: &Value, value: &Value) -> bool {
    let required = condition["required"].as_array().into_iter().flatten();
    let present = required
        .into_iter()
        .all(|k| value.get(k.as_str().unwrap()).is_some());
    let props = condition["properties"].as_object().into_iter().flatten();
    let fits = props.into_iter().all(|(key, test)| match value.get(key) {
        None => true,
        Some(v) => {
            let extra: Vec<&String> = test
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "const" && *k != "minimum")
                .collect();
            assert!(extra.is_empty(), "the test reads no {extra:?} in an `if`");
            test.get("const").is_none_or(|c| c == v)
                && test
                    .get("minimum")
                    .is_none_or(|m| v.as_f64().unwrap() >= m.as_f64().unwrap())
        }
    });
    present && fits
}

/// The keys a closed table of the schema takes, for the table `value`: its `properties`,
/// narrowed by the branch its kind picks. A kind is picked by an if/then/else chain at the
/// table's own level: `then` holds the kind's keys (`propertyNames`), `else` the next test.
/// Conditions inside a kind's branch (ssh's `mode`) are rules between its keys: the keys are
/// the kind's, as jit lists them.
fn schema_keys(node: &Value, value: &Value) -> BTreeSet<String> {
    assert_eq!(node["additionalProperties"], Value::Bool(false), "{node}");
    let mut keys: BTreeSet<String> = node["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut branch = node;
    while let Some(condition) = branch.get("if") {
        let next = if holds(condition, value) {
            branch.get("then")
        } else {
            branch.get("else")
        };
        let Some(next) = next else { break };
        if let Some(names) = next.pointer("/propertyNames/enum") {
            let names: BTreeSet<String> = names
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect();
            keys = keys.intersection(&names).cloned().collect();
        }
        if std::ptr::eq(next, &branch["then"]) {
            break;
        }
        branch = next;
    }
    keys
}

/// jit's "valid keys" list for each `zz_` key of `text`.
fn jit_keys(w: &World, text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let path = w.path("probe.toml");
    std::fs::write(&path, text).unwrap();
    let (code, errors) = jit_check(w, &path);
    assert_eq!(code, Some(5));
    errors
        .iter()
        .filter_map(|(_, m)| {
            let key = m.strip_prefix("unknown key `")?.split('`').next()?;
            let list = m.split("; valid keys: ").nth(1)?;
            Some((
                key.to_owned(),
                list.split(", ").map(str::to_owned).collect(),
            ))
        })
        .collect()
}

#[test]
fn every_key_jit_knows_is_the_schemas_table_by_table() {
    let w = World::empty();
    let root = schema();
    let mut grant_keys_of_jit = BTreeSet::new();
    let mut taplo_files = Vec::new();
    for (n, text) in [PROBES, TEAM_PROBE].iter().enumerate() {
        let listed = jit_keys(&w, text);
        let value: Value = toml::from_str(text).unwrap();
        let mut found = Vec::new();
        probes(&value, &mut Vec::new(), &mut found);
        assert!(found.len() >= 10 || n == 1);
        for (probe, path) in found {
            let jit = listed.get(&probe).unwrap_or_else(|| {
                panic!("jit did not refuse {probe} (at {path:?}) naming the valid keys")
            });
            let table = path.iter().fold(&value, |v, step| match step {
                Value::String(k) => &v[k.as_str()],
                i => &v[i.as_u64().unwrap() as usize],
            });
            if probe.starts_with("zz_grant_") {
                grant_keys_of_jit.extend(jit.iter().cloned());
                continue;
            }
            let ours = schema_keys(schema_at(&root, &path), table);
            assert_eq!(
                &ours, jit,
                "{probe}: the schema's keys (left) and jit's (right)"
            );
        }
        let file = w.path(&format!("probe-{n}.toml"));
        std::fs::write(&file, text).unwrap();
        taplo_files.push(file);
    }
    // Every kind of backend jit has is the schema's, and probed above.
    let (_, errors) = jit_check(&w, &w.path("probe-0.toml"));
    let kinds: BTreeSet<String> = errors
        .iter()
        .find_map(|(_, m)| m.strip_prefix("unknown backend \"zz_backend\"; valid: "))
        .unwrap()
        .split(", ")
        .map(str::to_owned)
        .collect();
    let target = schema_at(&root, &[Value::from("targets"), Value::from("x")]);
    let enum_of: BTreeSet<String> = target["properties"]["backend"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        enum_of, kinds,
        "the schema's backends (left) and jit's (right)"
    );
    for kind in &kinds {
        assert!(
            PROBES.contains(&format!("backend = \"{kind}\"\nzz_target_")),
            "no probe of a {kind} target"
        );
    }
    // The grant table's keys depend on the target's backend, which the schema cannot see: it
    // describes every backend's keys, and lets others through (free-form for command and
    // http targets).
    let grant = schema_at(
        &root,
        &[Value::from("roles"), Value::from("r"), Value::from("grant")],
    );
    let described: BTreeSet<String> = grant["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        described, grant_keys_of_jit,
        "the grant keys the schema describes (left) and jit's (right)"
    );

    // Taplo refuses each unknown key but those of grant tables.
    let verdicts = lint(&taplo_files, Some(&schema_path()));
    for (file, text) in taplo_files.iter().zip([PROBES, TEAM_PROBE]) {
        let verdict = &verdicts[file];
        assert!(verdict.invalid);
        for probe in text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|t| t.starts_with("zz_"))
        {
            let grant = probe.starts_with("zz_grant_");
            assert_eq!(
                verdict.says(probe),
                !grant,
                "Taplo on {probe}: {:?}",
                verdict.errors
            );
        }
    }
}

#[test]
fn every_property_of_the_schema_is_described() {
    fn walk(root: &Value, node: &Value, at: &str, missing: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                for (key, child) in map {
                    // A condition's `properties` are tests, not keys of a table.
                    if key == "if" {
                        continue;
                    }
                    if key == "properties" {
                        for (name, property) in child.as_object().unwrap() {
                            let described = resolved(root, property).get("description").is_some();
                            if !described {
                                missing.push(format!("{at}/properties/{name}"));
                            }
                        }
                    }
                    walk(root, child, &format!("{at}/{key}"), missing);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(root, item, &format!("{at}/{i}"), missing);
                }
            }
            _ => {}
        }
    }
    let root = schema();
    assert_eq!(root["$schema"], "http://json-schema.org/draft-07/schema#");
    let mut missing = Vec::new();
    walk(&root, &root, "", &mut missing);
    assert!(
        missing.is_empty(),
        "properties without a description: {missing:#?}"
    );
    // Every definition is used.
    let text = std::fs::read_to_string(schema_path()).unwrap();
    for name in root["definitions"].as_object().unwrap().keys() {
        assert!(
            text.contains(&format!("\"#/definitions/{name}\"")),
            "definition {name} is not used"
        );
    }
}

// ---------------------------------------------------------------------------------------
// jit init.

#[test]
fn init_writes_the_schema_line_first_and_the_schema_beside_the_configuration() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::empty();
    let schema_file = w.path("config.schema.json");
    w.jit(["init"]).run().success().stdout_has(&format!(
        "\nwrote {} for editors (the configuration's first line names it)\n",
        schema_file.display()
    ));
    let config = std::fs::read_to_string(w.config_path()).unwrap();
    assert_eq!(config.lines().next(), Some("#:schema ./config.schema.json"));
    let meta = std::fs::metadata(&schema_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    let checked_in = std::fs::read(schema_path()).unwrap();
    assert_eq!(std::fs::read(&schema_file).unwrap(), checked_in);
    // The same schema, for a configuration jit init did not write.
    let printed = w.jit(["config", "schema"]).run().success();
    assert_eq!(printed.stdout.as_bytes(), checked_in);
    // The line is a comment to jit.
    w.jit(["config", "check"]).run().success();

    // Taplo finds the schema through the line alone, and holds the file to it.
    let broken = w.path("broken.toml");
    std::fs::write(
        &broken,
        config.replace(
            "max_ttl = \"1h\"\ndefault_ttl",
            "max_tll = \"1h\"\ndefault_ttl",
        ),
    )
    .unwrap();
    let verdicts = lint(&[w.config_path(), broken.clone()], None);
    assert!(
        !verdicts[&w.config_path()].invalid,
        "{:?}",
        verdicts[&w.config_path()].errors
    );
    assert!(
        verdicts[&broken].says("'max_tll' was unexpected"),
        "{:?}",
        verdicts[&broken].errors
    );

    // Run again (--force), it writes this jit's schema over an older one.
    std::fs::write(&schema_file, "{}").unwrap();
    w.jit(["init", "--force"]).run().success();
    assert_eq!(std::fs::read(&schema_file).unwrap(), checked_in);
}
