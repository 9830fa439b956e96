//! Every command's `--json` document against docs/json.md: the tables there are read as the
//! contract (field names, types, and which fields may be absent), and each document the real
//! binary prints must hold exactly the documented fields, recursively.

use crate::harness::*;
use serde_json::Value;

/// The lease fields SPEC §4 names, and those of an approval.
const SPEC_LEASE: [&str; 14] = [
    "id",
    "role",
    "target",
    "backend",
    "subject",
    "requester",
    "state",
    "ticket",
    "reason",
    "created_at",
    "granted_at",
    "expires_at",
    "ended_at",
    "approvals",
];
const SPEC_APPROVAL: [&str; 4] = ["by", "at", "decision", "reason"];

#[derive(Debug)]
enum Kind {
    String,
    Integer,
    Boolean,
    Time,
    Object,
    Strings,
    /// An array of the documents of this table.
    Array(String),
}

#[derive(Debug)]
struct Field {
    name: String,
    kind: Kind,
    nullable: bool,
    always: bool,
}

/// The fields of one table of docs/json.md (the table under `### NAME`).
fn table(name: &str) -> Vec<Field> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md");
    let text = std::fs::read_to_string(path).unwrap();
    let heading = format!("### {name}");
    let mut lines = text.lines().skip_while(|line| *line != heading);
    assert_eq!(
        lines.next(),
        Some(heading.as_str()),
        "docs/json.md has no {heading}"
    );
    let fields: Vec<Field> = lines
        .take_while(|line| !line.starts_with('#'))
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (kind, nullable) = match cells[2].strip_suffix(" or null") {
                Some(kind) => (kind, true),
                None => (cells[2], false),
            };
            let kind = match kind {
                "string" => Kind::String,
                "integer" => Kind::Integer,
                "boolean" => Kind::Boolean,
                "time" => Kind::Time,
                "object" => Kind::Object,
                "array of strings" => Kind::Strings,
                other => Kind::Array(
                    other
                        .strip_prefix("array of ")
                        .unwrap_or_else(|| panic!("{name}: unknown type {other:?}"))
                        .to_owned(),
                ),
            };
            Field {
                name: cells[1].trim_matches('`').to_owned(),
                kind,
                nullable,
                always: cells[3] == "always",
            }
        })
        .collect();
    assert!(!fields.is_empty(), "docs/json.md: {heading} has no fields");
    fields
}

fn is_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// What in `doc` (at `path`) differs from the fields of `tables` taken together.
fn differences(doc: &Value, tables: &[&str], path: &str) -> Vec<String> {
    let Some(object) = doc.as_object() else {
        return vec![format!("{path}: not an object")];
    };
    let fields: Vec<Field> = tables.iter().flat_map(|t| table(t)).collect();
    let mut found = Vec::new();
    for key in object.keys() {
        if !fields.iter().any(|f| &f.name == key) {
            found.push(format!("{path}.{key}: not documented"));
        }
    }
    for field in &fields {
        let at = format!("{path}.{}", field.name);
        let Some(value) = object.get(&field.name) else {
            if field.always {
                found.push(format!("{at}: missing"));
            }
            continue;
        };
        if value.is_null() {
            if !field.nullable {
                found.push(format!("{at}: null"));
            }
            continue;
        }
        let fits = match &field.kind {
            Kind::String => value.is_string(),
            Kind::Integer => value.is_i64() || value.is_u64(),
            Kind::Boolean => value.is_boolean(),
            Kind::Time => value.as_str().is_some_and(is_time),
            Kind::Object => value.is_object(),
            Kind::Strings => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
            Kind::Array(inner) => match value.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        found.extend(differences(item, &[inner], &format!("{at}[{i}]")));
                    }
                    true
                }
                None => false,
            },
        };
        if !fits {
            found.push(format!("{at}: not {:?}: {value}", field.kind));
        }
    }
    found
}

/// `doc` holds exactly the fields of `tables`, each of its documented type.
#[track_caller]
pub(crate) fn conforms(doc: &Value, tables: &[&str]) {
    let found = differences(doc, tables, "$");
    assert!(
        found.is_empty(),
        "against docs/json.md {tables:?}:\n{}\n{doc}",
        found.join("\n")
    );
}

/// A non-empty array of documents, each of `tables`.
#[track_caller]
fn each_conforms(doc: &Value, tables: &[&str]) {
    let items = doc
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {doc}"));
    assert!(!items.is_empty(), "an empty array proves nothing");
    for item in items {
        conforms(item, tables);
    }
}

fn json_of(run: Run) -> Value {
    assert!(
        run.stdout.ends_with('\n') && run.stdout.trim_end().lines().count() == 1,
        "one document on one line:\n{}",
        run.stdout
    );
    run.json()
}

#[test]
fn the_lease_table_is_the_spec_with_break_glass_last_error_and_agent() {
    let names = |t: &str| -> Vec<String> { table(t).into_iter().map(|f| f.name).collect() };
    let mut spec: Vec<String> = SPEC_LEASE.iter().map(|s| s.to_string()).collect();
    spec.extend(["break_glass", "last_error", "agent"].map(str::to_owned));
    assert_eq!(names("lease"), spec);
    assert_eq!(names("approval"), SPEC_APPROVAL);
    let credentials = table("request");
    assert!(
        credentials
            .iter()
            .any(|f| f.name == "credentials" && !f.always && matches!(f.kind, Kind::Object)),
        "SPEC §4: `credentials` is an object on request, absent when the backend issues none"
    );
}

#[test]
fn lease_documents_of_every_command() {
    let w = World::new();

    let granted = json_of(
        w.jit(["request", "--role", "web-root", "--json"])
            .run()
            .success(),
    );
    conforms(&granted, &["lease", "request"]);
    assert!(granted.get("credentials").is_none(), "{granted}");
    let id = granted["id"].as_str().unwrap().to_owned();

    let tokens = json_of(
        w.jit(["request", "--role", "tokens", "--json"])
            .run()
            .success(),
    );
    conforms(&tokens, &["lease", "request"]);
    assert!(tokens["credentials"]["TOKEN"].is_string(), "{tokens}");
    let tokens = tokens["id"].as_str().unwrap().to_owned();

    let pending = json_of(
        w.jit(["request", "--role", "gated", "--json"])
            .run()
            .code(4),
    );
    conforms(&pending, &["lease", "request"]);
    assert!(pending["notice"].is_string(), "{pending}");
    let gated = pending["id"].as_str().unwrap().to_owned();
    let waited = json_of(
        w.jit([
            "exec",
            "--role",
            "two-keys",
            "--timeout",
            "1s",
            "--json",
            "--",
            "true",
        ])
        .run()
        .code(4),
    );
    conforms(&waited, &["lease", "request"]);
    let two_keys = waited["id"].as_str().unwrap().to_owned();

    let dry = json_of(
        w.jit(["request", "--role", "gated", "--dry-run", "--json"])
            .run()
            .success(),
    );
    conforms(&dry, &["dry-run"]);
    assert!(!dry["caps"].as_array().unwrap().is_empty(), "{dry}");

    let approved = json_of(
        w.jit(["approve", &two_keys, "--reason", "on call", "--json"])
            .by(APPROVER)
            .run()
            .success(),
    );
    conforms(&approved, &["lease"]);
    assert_eq!(approved["approvals"].as_array().unwrap().len(), 1);
    let denied = json_of(
        w.jit(["deny", &gated, "--reason", "no", "--json"])
            .by(APPROVER)
            .run()
            .success(),
    );
    conforms(&denied, &["lease"]);
    let extended = json_of(
        w.jit(["extend", &id, "--ttl", "45m", "--json"])
            .run()
            .success(),
    );
    conforms(&extended, &["lease"]);

    each_conforms(
        &json_of(w.jit(["list", "--all", "--json"]).run().success()),
        &["lease"],
    );
    let shown = json_of(w.jit(["show", &two_keys, "--json"]).run().success());
    conforms(&shown, &["lease", "show"]);
    assert!(!shown["events"].as_array().unwrap().is_empty(), "{shown}");

    let revoked = json_of(w.jit(["revoke", &tokens, "--json"]).run().success());
    each_conforms(&revoked, &["lease", "revoke"]);
    assert!(revoked[0]["events"].is_array(), "{revoked}");
    let trail = w.path("trail.jsonl");
    let exported = json_of(
        w.jit(["revoke", &id, "--export", trail.to_str().unwrap(), "--json"])
            .run()
            .success(),
    );
    each_conforms(&exported, &["lease", "revoke"]);
    assert!(exported[0].get("events").is_none(), "{exported}");

    let failing = w.granted("web-root", &[]);
    w.fail_revokes(true);
    let failed = json_of(w.jit(["revoke", &failing, "--json"]).run().code(6));
    each_conforms(&failed, &["lease", "revoke"]);
    assert_eq!(failed[0]["outcome"], "revoke-failed");
    assert!(failed[0]["last_error"].is_string(), "{failed}");
    conforms(&w.lease(&failing), &["lease", "show"]);
}

#[test]
fn sweep_documents() {
    let w = World::new();
    let failing = w.granted("web-root", &["--ttl", "10m"]);
    w.fail_revokes(true);
    w.jit(["revoke", &failing]).run().code(6);
    let waiting = json_of(w.jit(["sweep", "--json"]).run().code(6));
    conforms(&waiting, &["sweep"]);
    assert_eq!(waiting["waiting"].as_array().unwrap().len(), 1, "{waiting}");

    w.fail_revokes(false);
    w.granted("tokens", &["--ttl", "10m"]);
    w.jit(["request", "--role", "gated", "--json"])
        .run()
        .code(4);
    let swept = json_of(w.jit(["sweep", "--json"]).later(25 * 3600).run().success());
    conforms(&swept, &["sweep"]);
    assert!(
        !swept["revocations"].as_array().unwrap().is_empty(),
        "{swept}"
    );
    assert_eq!(swept["cancelled"].as_array().unwrap().len(), 1, "{swept}");
}

#[test]
fn audit_documents() {
    let w = World::new();
    let empty = json_of(w.jit(["audit", "verify", "--json"]).run().success());
    conforms(&empty, &["audit verify"]);
    assert_eq!(empty["checkpoint"], Value::Null);

    let id = w.granted("web-root", &[]);
    w.jit(["revoke", &id]).run().success();
    each_conforms(
        &json_of(w.jit(["audit", "--json"]).run().success()),
        &["event"],
    );
    let verified = json_of(w.jit(["audit", "verify", "--json"]).run().success());
    conforms(&verified, &["audit verify"]);
    let checkpoint = verified["checkpoint"].as_str().unwrap().to_owned();
    let kept = json_of(
        w.jit(["audit", "verify", "--checkpoint", &checkpoint, "--json"])
            .run()
            .success(),
    );
    conforms(&kept, &["audit verify"]);
    assert_eq!(kept["kept_checkpoint"], checkpoint.as_str());

    let export = w
        .jit(["audit", "export", "--format", "jsonl"])
        .run()
        .success();
    for line in export.stdout.lines() {
        conforms(&serde_json::from_str(line).unwrap(), &["event"]);
    }

    open_store(&w)
        .execute_batch("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
        .unwrap();
    let broken = json_of(w.jit(["audit", "verify", "--json"]).run().code(1));
    conforms(&broken, &["audit verify broken"]);
    assert_eq!(broken["ok"], false);
}

#[test]
fn roles_and_setup_documents() {
    let w = World::new();
    each_conforms(
        &json_of(w.jit(["roles", "--json"]).run().success()),
        &["role"],
    );
    conforms(
        &json_of(w.jit(["config", "check", "--json"]).run().success()),
        &["config check"],
    );
    let doctor = json_of(w.jit(["doctor", "--json"]).run().success());
    conforms(&doctor, &["doctor"]);
    each_conforms(&doctor["checks"], &["check"]);

    let name = format!("jit-json-contract-{}", std::process::id());
    conforms(
        &json_of(
            w.jit(["secret", "set", &name, "--json"])
                .stdin_text("value\n")
                .run()
                .success(),
        ),
        &["done"],
    );
    conforms(
        &json_of(w.jit(["secret", "delete", &name, "--json"]).run().success()),
        &["done"],
    );

    let fresh = World::empty();
    conforms(
        &json_of(fresh.jit(["init", "--json"]).run().success()),
        &["done"],
    );
}

#[test]
fn audit_ship_document() {
    use crate::http_server::{HttpServer, Reply};
    let collector = HttpServer::start();
    collector.route("POST", "/ingest", Reply::status(202));
    let w = World::new();
    w.write_config(&format!(
        "{}\n[[audit.ship]]\nkind = \"http\"\nurl = \"{}\"\n",
        w.default_config(),
        collector.url("/ingest")
    ));
    w.granted("web-root", &[]);
    let shipped = json_of(w.jit(["audit", "ship", "--json"]).run().success());
    conforms(&shipped, &["audit ship"]);
    assert_eq!(shipped["destinations"][0]["through"], 2, "{shipped}");
}
