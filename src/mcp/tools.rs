//! The tools of `jit mcp`, version 1: their names, their JSON schemas (written out by hand:
//! they are a published interface, documented in docs/mcp.md) and the reading of a call's
//! arguments against them. Pure: nothing here touches a lease.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The tools' version, in `serverInfo.title`; a change to a name or a schema is a new one.
pub const TITLE: &str = "jit (tools v1)";

/// One tool call, its arguments read and checked against the tool's input schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    ListRoles,
    RequestAccess {
        role: String,
        ttl: Option<String>,
        reason: String,
        task: String,
        ticket: Option<String>,
    },
    WaitForApproval {
        lease_id: String,
        timeout: Option<String>,
    },
    RunWithAccess {
        lease_id: String,
        command: String,
        arguments: BTreeMap<String, String>,
        timeout: Option<String>,
    },
    AccessStatus {
        lease_id: Option<String>,
    },
    DropAccess {
        lease_id: String,
    },
}

/// A call that is not one of these tools, or whose arguments do not match its schema: a
/// protocol error (JSON-RPC "invalid params"), not a tool result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub String);

/// A tool as `tools/list` shows it.
pub struct Definition {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input: Value,
    pub output: Value,
}

const NAMES: [&str; 6] = [
    "list_roles",
    "request_access",
    "wait_for_approval",
    "run_with_access",
    "access_status",
    "drop_access",
];

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn nullable_string() -> Value {
    json!({"type": ["string", "null"]})
}

fn input(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn output(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

/// LEASE, the tool view of a lease (never a credential).
pub fn lease_schema() -> Value {
    output(
        json!({
            "id": {"type": "string"},
            "role": {"type": "string"},
            "target": {"type": "string"},
            "state": {"type": "string", "enum": [
                "pending", "granting", "active", "revoking", "revoke-failed",
                "expired", "revoked", "denied", "failed", "cancelled"
            ]},
            "ticket": nullable_string(),
            "reason": nullable_string(),
            "task": nullable_string(),
            "created_at": {"type": "string", "format": "date-time"},
            "granted_at": {"type": ["string", "null"], "format": "date-time"},
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "approvals_required": {"type": "integer", "minimum": 0},
            "approvals_given": {"type": "integer", "minimum": 0},
        }),
        &[
            "id",
            "role",
            "target",
            "state",
            "ticket",
            "reason",
            "task",
            "created_at",
            "granted_at",
            "expires_at",
            "ended_at",
            "approvals_required",
            "approvals_given",
        ],
    )
}

/// What `request_access` and `wait_for_approval` return.
fn access_schema() -> Value {
    output(
        json!({
            "lease": lease_schema(),
            "status": {"type": "string", "enum": ["granted", "pending"]},
            "approve_with": {"type": ["string", "null"],
                "description": "what a person runs to approve: jit approve ID"},
            "approvers": {"type": "array", "items": {"type": "string"}},
            "credentials": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "only for a role with reveal = true"},
        }),
        &["lease", "status", "approve_with", "approvers"],
    )
}

pub fn definitions() -> Vec<Definition> {
    let ttl = "how long the lease lasts (90s, 15m, 1h); default: the role's default_ttl, \
               at most the role's agent max_ttl";
    vec![
        Definition {
            name: "list_roles",
            title: "List the roles you may request",
            description: "The roles open to agents that you may request, with their caps, \
                          who approves, and the commands run_with_access runs for each.",
            input: input(json!({}), &[]),
            output: output(
                json!({"roles": {"type": "array", "items": output(
                    json!({
                        "name": {"type": "string"},
                        "description": nullable_string(),
                        "target": {"type": "string"},
                        "backend": {"type": "string"},
                        "max_ttl": {"type": "string"},
                        "default_ttl": nullable_string(),
                        "approvals_required": {"type": "integer", "minimum": 0},
                        "approvers": {"type": "array", "items": {"type": "string"}},
                        "ticket_required": {"type": "boolean"},
                        "ticket_pattern": nullable_string(),
                        "commands": {"type": "array", "items": output(
                            json!({
                                "name": {"type": "string"},
                                "argv": {"type": "array", "items": {"type": "string"}},
                                "arguments": {"type": "array", "items": {"type": "string"}},
                            }),
                            &["name", "argv", "arguments"],
                        )},
                        "reveal": {"type": "boolean"},
                    }),
                    &["name", "description", "target", "backend", "max_ttl", "default_ttl",
                      "approvals_required", "approvers", "ticket_required", "ticket_pattern",
                      "commands", "reveal"],
                )}}),
                &["roles"],
            ),
        },
        Definition {
            name: "request_access",
            title: "Ask for access to a role",
            description: "Ask for a lease of a role for one task: granted now, or pending \
                          until a person approves it with `jit approve ID` (then call \
                          wait_for_approval). The credentials are never returned (unless the \
                          role reveals them): use run_with_access.",
            input: input(
                json!({
                    "role": string("the role, as list_roles names it"),
                    "ttl": string(ttl),
                    "reason": string("why the access is needed"),
                    "task": string("the task this access is for, as a person will read it"),
                    "ticket": string("the change or incident ticket, where the role asks for one"),
                }),
                &["role", "reason", "task"],
            ),
            output: access_schema(),
        },
        Definition {
            name: "wait_for_approval",
            title: "Wait for a person to approve",
            description: "Wait, at most `timeout` (default 2m, at most 10m), for a pending \
                          request of this session to be approved, and take up its grant. \
                          Reports progress while it waits.",
            input: input(
                json!({
                    "lease_id": string("the lease request_access returned"),
                    "timeout": string("how long to wait (30s, 2m; at most 10m); default 2m"),
                }),
                &["lease_id"],
            ),
            output: access_schema(),
        },
        Definition {
            name: "run_with_access",
            title: "Run a declared command with the lease's access",
            description: "Run one of the commands the lease's role declares, with the \
                          credentials in its environment only, and return its exit status \
                          and output (each stream at most 64 KiB). Each argument is one \
                          argument of the program, never read by a shell.",
            input: input(
                json!({
                    "lease_id": string("an active lease of this session"),
                    "command": string("a command name the role declares (list_roles)"),
                    "arguments": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "a value for each placeholder of the command"},
                    "timeout": string("how long the command may run (default 2m; never past the lease's end)"),
                }),
                &["lease_id", "command"],
            ),
            output: output(
                json!({
                    "exit_code": {"type": ["integer", "null"]},
                    "signal": {"type": ["integer", "null"]},
                    "stdout": {"type": "string"},
                    "stderr": {"type": "string"},
                    "stdout_truncated": {"type": "boolean"},
                    "stderr_truncated": {"type": "boolean"},
                }),
                &[
                    "exit_code",
                    "signal",
                    "stdout",
                    "stderr",
                    "stdout_truncated",
                    "stderr_truncated",
                ],
            ),
        },
        Definition {
            name: "access_status",
            title: "Where this session's leases stand",
            description: "This session's leases (or the one named), as they stand now.",
            input: input(
                json!({"lease_id": string("one lease of this session; default: all of them")}),
                &[],
            ),
            output: output(
                json!({"leases": {"type": "array", "items": lease_schema()}}),
                &["leases"],
            ),
        },
        Definition {
            name: "drop_access",
            title: "Give access up",
            description: "End a lease of this session now (a pending request is cancelled). \
                          Do this as soon as the task is done.",
            input: input(
                json!({"lease_id": string("a lease of this session")}),
                &["lease_id"],
            ),
            output: output(
                json!({
                    "lease": lease_schema(),
                    "outcome": {"type": "string", "enum": ["revoked", "already-ended", "cancelled"]},
                }),
                &["lease", "outcome"],
            ),
        },
    ]
}

/// Read a call of tool `name` with `arguments` (absent: none), checked against its input
/// schema: every required property given, none unknown, each of its type. A `null` for a
/// property that is not required counts as not given.
pub fn parse(name: &str, arguments: Option<&Map<String, Value>>) -> Result<Call, Refused> {
    let definition = definitions()
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| {
            Refused(format!(
                "unknown tool {name:?}; the tools are {}",
                NAMES.join(", ")
            ))
        })?;
    let empty = Map::new();
    let arguments = arguments.unwrap_or(&empty);
    check(&definition.input, arguments).map_err(|e| Refused(format!("{name}: {e}")))?;
    let text = |key: &str| {
        arguments
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let required = |key: &str| text(key).unwrap_or_default();
    Ok(match name {
        "list_roles" => Call::ListRoles,
        "request_access" => Call::RequestAccess {
            role: required("role"),
            ttl: text("ttl"),
            reason: required("reason"),
            task: required("task"),
            ticket: text("ticket"),
        },
        "wait_for_approval" => Call::WaitForApproval {
            lease_id: required("lease_id"),
            timeout: text("timeout"),
        },
        "run_with_access" => Call::RunWithAccess {
            lease_id: required("lease_id"),
            command: required("command"),
            arguments: arguments
                .get("arguments")
                .and_then(Value::as_object)
                .map(|map| {
                    map.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default(),
            timeout: text("timeout"),
        },
        "access_status" => Call::AccessStatus {
            lease_id: text("lease_id"),
        },
        "drop_access" => Call::DropAccess {
            lease_id: required("lease_id"),
        },
        other => return Err(Refused(format!("unknown tool {other:?}"))),
    })
}

/// Check `arguments` against an input schema of the shape [`input`] writes: an object of
/// string properties, or of objects of strings, with `required` and no other property.
fn check(schema: &Value, arguments: &Map<String, Value>) -> Result<(), String> {
    let properties = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (key, value) in arguments {
        let Some(property) = properties.get(key) else {
            let known: Vec<&str> = properties.keys().map(String::as_str).collect();
            return Err(if known.is_empty() {
                format!("unknown argument {key:?}: this tool takes none")
            } else {
                format!(
                    "unknown argument {key:?}; the arguments are {}",
                    known.join(", ")
                )
            });
        };
        // Absent, as far as the schema goes (a required one is reported missing below).
        if value.is_null() {
            continue;
        }
        match property["type"].as_str() {
            Some("string") if !value.is_string() => {
                return Err(format!("argument {key:?} must be a string"));
            }
            Some("object") => {
                let Some(map) = value.as_object() else {
                    return Err(format!("argument {key:?} must be an object of strings"));
                };
                if let Some((name, _)) = map.iter().find(|(_, v)| !v.is_string()) {
                    return Err(format!("argument {key:?}: {name:?} must be a string"));
                }
            }
            _ => {}
        }
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|key| arguments.get(*key).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing required argument(s): {}",
            missing.join(", ")
        ));
    }
    Ok(())
}

/// The `{"error": {...}}` of a tool result that failed: the exit code `jit` would have
/// exited with, its kind, and the message.
pub fn error_document(code: u8, message: &str) -> Value {
    let kind = match code {
        2 => "usage",
        3 => "denied",
        4 => "pending",
        5 => "config",
        6 => "revoke-incomplete",
        _ => "runtime",
    };
    json!({"error": {"exit_code": code, "kind": kind, "message": message}})
}

/// The agent's client as leases and people name it: `NAME VERSION` from `initialize`,
/// without control characters, at most 100 characters; "unknown client" without one.
pub fn client_label(name: Option<&str>, version: Option<&str>) -> String {
    let joined = [name, version]
        .into_iter()
        .flatten()
        .map(|part| {
            part.chars()
                .filter(|&c| !c.is_control() && !crate::text::is_hidden(c))
                .collect::<String>()
        })
        .map(|part| part.trim().to_owned())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if joined.is_empty() {
        return "unknown client".to_owned();
    }
    joined.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn the_tools_are_the_six_of_version_one_each_with_both_schemas() {
        let names: Vec<&str> = definitions().iter().map(|d| d.name).collect();
        assert_eq!(names, NAMES);
        for d in definitions() {
            assert_eq!(d.input["type"], "object", "{}", d.name);
            assert_eq!(d.input["additionalProperties"], false, "{}", d.name);
            assert_eq!(d.output["type"], "object", "{}", d.name);
            // Every required property is a property.
            for key in d.input["required"].as_array().unwrap() {
                assert!(d.input["properties"].get(key.as_str().unwrap()).is_some());
            }
            for key in d.output["required"].as_array().unwrap() {
                assert!(d.output["properties"].get(key.as_str().unwrap()).is_some());
            }
        }
    }

    #[test]
    fn no_tool_approves_denies_or_extends() {
        for d in definitions() {
            for word in ["approve", "deny", "extend"] {
                assert!(!d.name.contains(word), "{}", d.name);
            }
        }
    }

    #[test]
    fn the_input_schemas_require_what_the_design_requires() {
        let required = |name: &str| -> Vec<String> {
            let d = definitions().into_iter().find(|d| d.name == name).unwrap();
            serde_json::from_value(d.input["required"].clone()).unwrap()
        };
        assert_eq!(required("list_roles"), Vec::<String>::new());
        assert_eq!(required("request_access"), ["role", "reason", "task"]);
        assert_eq!(required("wait_for_approval"), ["lease_id"]);
        assert_eq!(required("run_with_access"), ["lease_id", "command"]);
        assert_eq!(required("access_status"), Vec::<String>::new());
        assert_eq!(required("drop_access"), ["lease_id"]);
    }

    #[test]
    fn a_call_is_read_with_its_arguments() {
        assert_eq!(parse("list_roles", None), Ok(Call::ListRoles));
        assert_eq!(
            parse(
                "request_access",
                Some(&args(
                    json!({"role": "db", "reason": "r", "task": "t", "ttl": "5m"})
                ))
            ),
            Ok(Call::RequestAccess {
                role: "db".into(),
                ttl: Some("5m".into()),
                reason: "r".into(),
                task: "t".into(),
                ticket: None,
            })
        );
        assert_eq!(
            parse(
                "run_with_access",
                Some(&args(json!({"lease_id": "L", "command": "q",
                    "arguments": {"sql": "select 1; rm -rf ~"}, "timeout": null})))
            ),
            Ok(Call::RunWithAccess {
                lease_id: "L".into(),
                command: "q".into(),
                arguments: BTreeMap::from([("sql".into(), "select 1; rm -rf ~".into())]),
                timeout: None,
            })
        );
        assert_eq!(
            parse("access_status", Some(&args(json!({})))),
            Ok(Call::AccessStatus { lease_id: None })
        );
    }

    #[test]
    fn arguments_that_do_not_match_the_schema_are_refused_naming_what_is_wrong() {
        let refused = |name: &str, value: Value| parse(name, Some(&args(value))).unwrap_err().0;
        assert_eq!(
            refused("request_access", json!({"role": "db", "reason": "r"})),
            "request_access: missing required argument(s): task"
        );
        assert_eq!(
            refused(
                "request_access",
                json!({"role": "db", "reason": "r", "task": null})
            ),
            "request_access: missing required argument(s): task"
        );
        assert_eq!(
            refused(
                "request_access",
                json!({"role": 7, "reason": "r", "task": "t"})
            ),
            "request_access: argument \"role\" must be a string"
        );
        assert_eq!(
            refused("drop_access", json!({"lease_id": "L", "force": true})),
            "drop_access: unknown argument \"force\"; the arguments are lease_id"
        );
        assert_eq!(
            refused("list_roles", json!({"all": true})),
            "list_roles: unknown argument \"all\": this tool takes none"
        );
        assert_eq!(
            refused(
                "run_with_access",
                json!({"lease_id": "L", "command": "q", "arguments": {"n": 1}})
            ),
            "run_with_access: argument \"arguments\": \"n\" must be a string"
        );
        assert_eq!(
            refused(
                "run_with_access",
                json!({"lease_id": "L", "command": "q", "arguments": "x"})
            ),
            "run_with_access: argument \"arguments\" must be an object of strings"
        );
        assert_eq!(
            parse("approve", None).unwrap_err().0,
            "unknown tool \"approve\"; the tools are list_roles, request_access, \
             wait_for_approval, run_with_access, access_status, drop_access"
        );
    }

    #[test]
    fn an_error_document_names_the_exit_code_and_its_kind() {
        for (code, kind) in [
            (1, "runtime"),
            (2, "usage"),
            (3, "denied"),
            (4, "pending"),
            (5, "config"),
            (6, "revoke-incomplete"),
        ] {
            assert_eq!(
                error_document(code, "m"),
                json!({"error": {"exit_code": code, "kind": kind, "message": "m"}})
            );
        }
    }

    #[test]
    fn the_client_label_is_cleaned_and_bounded() {
        assert_eq!(
            client_label(Some("claude-code"), Some("2.1.0")),
            "claude-code 2.1.0"
        );
        assert_eq!(
            client_label(Some("evil\u{1b}[2J\nname"), Some("1\r")),
            "evil[2Jname 1"
        );
        assert_eq!(
            client_label(Some("claude\u{202e}edoc"), Some("1\u{200b}.0")),
            "claudeedoc 1.0"
        );
        assert_eq!(client_label(None, None), "unknown client");
        assert_eq!(client_label(Some(" \u{7} "), Some("")), "unknown client");
        assert_eq!(client_label(Some("n"), None), "n");
        assert_eq!(
            client_label(Some(&"x".repeat(300)), Some("1"))
                .chars()
                .count(),
            100
        );
    }
}
