//! Tickets checked against a ticketing system: the in-suite HTTP server plays Jira (and
//! ServiceNow); the `files` target shows what was granted.

use crate::harness::*;
use crate::http_server::{HttpServer, Reply};
use serde_json::json;

const TOKEN: &str = "Basic YWxpY2U6c2VjcmV0LXRva2Vu";

/// The default world plus a role `change` whose tickets are read from `jira`.
fn world(jira: &HttpServer, extra: &str) -> World {
    let w = World::new();
    let config = format!(
        r#"{default}
[roles.change]
target = "files"
max_ttl = "1h"
[roles.change.ticket]
pattern = "^CHG-[0-9]+$"
{extra}
[roles.change.ticket.check]
url = "{url}"
auth = "env:JIRA_AUTH"
status_field = "fields.status.name"
allowed = ["In Progress", "Approved"]
retries = 1
"#,
        default = w.default_config(),
        url = jira.url("/rest/api/2/issue/{ticket}"),
    );
    w.write_config(&config);
    w
}

fn issue(server: &HttpServer, key: &str, status: &str) {
    server.route(
        "GET",
        &format!("/rest/api/2/issue/{key}"),
        Reply::json(
            200,
            json!({"key": key, "fields": {"status": {"name": status}, "summary": "x"}}),
        ),
    );
}

fn request(w: &World, ticket: &str) -> crate::harness::Jit {
    w.jit(["request", "--role", "change", "--ticket", ticket, "--json"])
        .env("JIRA_AUTH", TOKEN)
}

#[test]
fn a_ticket_in_an_allowed_state_grants_and_its_status_is_recorded() {
    let jira = HttpServer::start();
    issue(&jira, "CHG-1", "In Progress");
    let w = world(&jira, "");
    let lease = request(&w, "CHG-1").run().success().json();
    assert_eq!(lease["state"], "active");
    assert_eq!(w.grant_keys(), [format!("change/{}", me())]);
    let asked = jira.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].method, "GET");
    assert_eq!(asked[0].path, "/rest/api/2/issue/CHG-1");
    assert_eq!(asked[0].header("authorization"), Some(TOKEN));
    assert_eq!(asked[0].header("accept"), Some("application/json"));
    let shown = w.lease(lease["id"].as_str().unwrap());
    let requested = &shown["events"][0];
    assert_eq!(requested["kind"], "requested");
    assert_eq!(requested["details"]["ticket_status"], "In Progress");
    // The secret never reaches the store.
    let store = std::fs::read(w.store_path()).unwrap();
    assert!(!String::from_utf8_lossy(&store).contains("c2VjcmV0"));
}

#[test]
fn a_ticket_in_another_state_is_denied_with_the_status_seen_and_audited() {
    let jira = HttpServer::start();
    issue(&jira, "CHG-2", "Done");
    let w = world(&jira, "");
    let events_before = w.event_count();
    request(&w, "CHG-2").run().code(3).stderr_has(
        "jit: error: ticket CHG-2 is \"Done\" in the ticketing system; allowed: \"In Progress\", \"Approved\"",
    );
    assert!(w.leases().is_empty(), "no lease for a denied request");
    assert!(w.grant_keys().is_empty(), "nothing granted");
    let events = w.jit(["audit", "--json"]).run().success().json();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), events_before + 1);
    let denied = events.last().unwrap();
    assert_eq!(denied["kind"], "denied");
    assert_eq!(denied["lease_id"], serde_json::Value::Null);
    assert_eq!(denied["actor"], me());
    assert_eq!(
        denied["details"],
        json!({
            "role": "change",
            "subject": me(),
            "ticket": "CHG-2",
            "ticket_status": "Done",
            "reason": "ticket CHG-2 is \"Done\" in the ticketing system; allowed: \"In Progress\", \"Approved\"",
        })
    );
    w.jit(["audit", "verify"]).run().success();
}

#[test]
fn a_ticket_the_ticketing_system_does_not_know_is_denied() {
    let jira = HttpServer::start();
    let w = world(&jira, "");
    request(&w, "CHG-404")
        .run()
        .code(3)
        .stderr_has("jit: error: ticket CHG-404 was not found in the ticketing system\n");
    assert_eq!(jira.requests_to("/rest/api/2/issue/CHG-404").len(), 1);
    assert!(w.leases().is_empty());
}

#[test]
fn without_an_answer_from_the_ticketing_system_nothing_is_granted() {
    let jira = HttpServer::start();
    issue(&jira, "CHG-3", "In Progress");
    let w = world(&jira, "");
    // 503 twice: the first try and the one retry; then the request fails closed.
    jira.script(
        "GET",
        "/rest/api/2/issue/CHG-3",
        vec![Reply::status(503), Reply::status(503)],
    );
    let run = request(&w, "CHG-3").run().code(1);
    assert!(
        run.stderr.contains(&format!(
            "jit: error: cannot read ticket CHG-3 from the ticketing system ({}): HTTP 503",
            jira.url("/rest/api/2/issue/{ticket}")
        )),
        "{}",
        run.stderr
    );
    assert_eq!(jira.requests().len(), 2);
    assert!(w.leases().is_empty());
    assert!(w.grant_keys().is_empty());
    // Unreachable: the same.
    jira.pause();
    request(&w, "CHG-3")
        .run()
        .code(1)
        .stderr_has("cannot read ticket CHG-3 from the ticketing system");
    jira.resume();
    request(&w, "CHG-3").run().success();
}

#[test]
fn a_ticket_missing_from_the_request_is_denied_before_anyone_is_asked() {
    let jira = HttpServer::start();
    let w = world(&jira, "");
    w.jit(["request", "--role", "change"])
        .run()
        .code(3)
        .stderr_has("ticket");
    // A ticket outside the pattern never reaches the ticketing system either.
    w.jit(["request", "--role", "change", "--ticket", "../admin"])
        .run()
        .code(3);
    assert!(jira.requests().is_empty());
}

#[test]
fn dry_run_shows_the_ticket_status_and_records_nothing() {
    let jira = HttpServer::start();
    issue(&jira, "CHG-5", "Approved");
    issue(&jira, "CHG-6", "Closed");
    let w = world(&jira, "");
    w.jit([
        "request",
        "--role",
        "change",
        "--ticket",
        "CHG-5",
        "--dry-run",
    ])
    .env("JIRA_AUTH", TOKEN)
    .run()
    .success()
    .stdout_has("ticket status: Approved");
    let json = w
        .jit([
            "request",
            "--role",
            "change",
            "--ticket",
            "CHG-5",
            "--dry-run",
            "--json",
        ])
        .env("JIRA_AUTH", TOKEN)
        .run()
        .success()
        .json();
    assert_eq!(json["ticket_status"], "Approved");
    w.jit([
        "request",
        "--role",
        "change",
        "--ticket",
        "CHG-6",
        "--dry-run",
    ])
    .env("JIRA_AUTH", TOKEN)
    .run()
    .code(3)
    .stderr_has("ticket CHG-6 is \"Closed\"");
    assert_eq!(w.event_count(), 0, "a dry run records nothing");
}

#[test]
fn a_ticket_closed_mid_lease_is_revoked_at_the_next_sweep() {
    let jira = HttpServer::start();
    issue(&jira, "CHG-7", "In Progress");
    issue(&jira, "CHG-8", "In Progress");
    let w = world(&jira, "revoke_when_closed = true");
    let closing = request(&w, "CHG-7").run().success().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let staying = request(&w, "CHG-8").run().success().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // While both tickets are open, a sweep leaves both leases.
    w.jit(["sweep"]).env("JIRA_AUTH", TOKEN).run().success();
    assert_eq!(w.state_of(&closing), "active");
    assert_eq!(jira.requests_to("/rest/api/2/issue/CHG-7").len(), 2);

    issue(&jira, "CHG-7", "Done");
    w.jit(["sweep"])
        .env("JIRA_AUTH", TOKEN)
        .run()
        .success()
        .stdout_has(&format!("{closing}: revoked"));
    assert_eq!(w.state_of(&closing), "revoked");
    assert_eq!(w.state_of(&staying), "active");
    let revoked = w.lease(&closing)["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(revoked["kind"], "revoked");
    assert_eq!(
        revoked["details"]["cause"],
        "ticket CHG-7 is \"Done\" in the ticketing system; allowed: \"In Progress\", \"Approved\""
    );
    assert_eq!(revoked["details"]["ticket_status"], "Done");
    // The two leases share the entitlement on the files target (same role and subject):
    // it stays for the lease whose ticket is open, and goes with it.
    assert_eq!(w.grant_keys(), [format!("change/{}", me())]);
    issue(&jira, "CHG-8", "Done");
    w.jit(["sweep"]).env("JIRA_AUTH", TOKEN).run().success();
    assert_eq!(w.state_of(&staying), "revoked");
    assert!(w.grant_keys().is_empty());
}

#[test]
fn an_unreadable_ticket_leaves_its_lease_and_fails_the_sweep() {
    let jira = HttpServer::start();
    issue(&jira, "CHG-9", "In Progress");
    let w = world(&jira, "revoke_when_closed = true");
    let id = request(&w, "CHG-9").run().success().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    jira.pause();
    w.jit(["sweep"])
        .env("JIRA_AUTH", TOKEN)
        .run()
        .code(1)
        .stderr_has(&format!(
            "jit: error: {id}: cannot read ticket CHG-9 from the ticketing system"
        ));
    assert_eq!(w.state_of(&id), "active");
    jira.resume();
}

#[test]
fn servicenow_answers_are_read_through_an_array_and_the_ticket_is_encoded() {
    let snow = HttpServer::start();
    snow.route(
        "GET",
        "/api/now/table/change_request",
        Reply::json(
            200,
            json!({"result": [{"number": "CHG0030001", "state": "Implement"}]}),
        ),
    );
    let w = World::new();
    w.write_config(&format!(
        r#"{default}
[roles.change]
target = "files"
max_ttl = "1h"
ticket = {{ check = {{ url = "{url}", auth = "env:SNOW_AUTH", status_field = "result.0.state", allowed = ["Implement"] }} }}
"#,
        default = w.default_config(),
        url = snow.url(
            "/api/now/table/change_request?sysparm_query=number={ticket}&sysparm_fields=state,number&sysparm_display_value=true"
        ),
    ));
    w.jit(["request", "--role", "change", "--ticket", "CHG0030001/#1"])
        .env("SNOW_AUTH", "Basic c25vdzpzbm93")
        .run()
        .success();
    let asked = snow.requests();
    assert_eq!(
        asked[0].path,
        "/api/now/table/change_request?sysparm_query=number=CHG0030001%2F%231&sysparm_fields=state,number&sysparm_display_value=true"
    );
    // An empty result: no such change.
    snow.route(
        "GET",
        "/api/now/table/change_request",
        Reply::json(200, json!({"result": []})),
    );
    w.jit(["request", "--role", "change", "--ticket", "CHG0039999"])
        .env("SNOW_AUTH", "Basic c25vdzpzbm93")
        .run()
        .code(3)
        .stderr_has("ticket CHG0039999 was not found in the ticketing system (no result.0.state in its answer)");
}

#[test]
fn ticket_check_configuration_errors_point_at_the_key() {
    let w = World::new();
    let base = w.default_config();
    let cases = [
        (
            "ticket = { required = false, check = { url = \"https://j.example/{ticket}\", status_field = \"a\", allowed = [\"x\"] } }",
            "ticket.check asks the ticketing system about the ticket: required cannot be false",
        ),
        (
            "ticket = { revoke_when_closed = true }",
            "ticket.revoke_when_closed needs ticket.check (where to read the ticket's status)",
        ),
        (
            "ticket = { check = { url = \"https://j.example/{issue}\", status_field = \"a\", allowed = [\"x\"] } }",
            "url: {issue} is not a placeholder here; valid: {ticket}",
        ),
        (
            "ticket = { check = { url = \"https://j.example/{ticket}\", allowed = [\"x\"] } }",
            "ticket.check needs `status_field`",
        ),
        (
            "ticket = { check = { url = \"https://j.example/{ticket}\", status_field = \"a..b\", allowed = [\"x\"] } }",
            "ticket.check.status_field \"a..b\" is not a path",
        ),
        (
            "ticket = { check = { url = \"https://j.example/{ticket}\", status_field = \"a\", allowed = [] } }",
            "ticket.check.allowed is empty: no ticket could ever pass",
        ),
        (
            "ticket = { check = { url = \"https://j.example/{ticket}\", auth = \"Basic abc\", status_field = \"a\", allowed = [\"x\"] } }",
            "auth: ",
        ),
        (
            "ticket = { check = { url = \"https://j.example/{ticket}\", status_field = \"a\", allowed = [\"x\"], signing_secret = \"env:K\" } }",
            "ticket.check sends no body to sign: signing_secret does not apply here",
        ),
        (
            "ticket = { check = { url = \"https://j.example/{ticket}\", status_field = \"a\", allowed = [\"x\"], statuses = 1 } }",
            "unknown key `statuses` in ticket.check",
        ),
    ];
    for (ticket, message) in cases {
        w.write_config(&format!(
            "{base}\n[roles.change]\ntarget = \"files\"\nmax_ttl = \"1h\"\n{ticket}\n"
        ));
        let run = w.jit(["config", "check"]).run().code(5);
        let line = base.lines().count() + 5;
        assert!(
            run.stderr.contains(&format!(":{line}:")) && run.stderr.contains(message),
            "{ticket}: {}",
            run.stderr
        );
    }
    assert!(!w.store_path().exists());
}

#[test]
fn an_approval_and_an_extension_read_the_ticket_again() {
    let jira = HttpServer::start();
    issue(&jira, "CHG-11", "In Progress");
    let w = World::new();
    w.write_config(&format!(
        r#"{default}
[roles.change]
target = "files"
max_ttl = "1h"
approvals = {{ required = 1, from = ["user:{approver}"] }}
ticket = {{ check = {{ url = "{url}", auth = "env:JIRA_AUTH", status_field = "fields.status.name", allowed = ["In Progress"] }} }}
"#,
        default = w.default_config(),
        approver = APPROVER,
        url = jira.url("/rest/api/2/issue/{ticket}"),
    ));
    let pending = w
        .jit([
            "request", "--role", "change", "--ticket", "CHG-11", "--json",
        ])
        .env("JIRA_AUTH", TOKEN)
        .run()
        .code(4)
        .json();
    let id = pending["id"].as_str().unwrap().to_owned();
    // Closed while the request waited: the approval is refused, the request stays pending.
    issue(&jira, "CHG-11", "Done");
    // Someone who may not approve is told so, and causes no ticket read; the attempt is
    // recorded with the rule that refused it.
    let asked = jira.requests().len();
    w.jit(["approve", &id])
        .by(OTHER_APPROVER)
        .env("JIRA_AUTH", TOKEN)
        .run()
        .code(3)
        .stderr_has("may not decide requests for role \"change\"");
    w.jit(["approve", &id])
        .env("JIRA_AUTH", TOKEN)
        .run()
        .code(3)
        .stderr_has("may not decide their own request");
    assert_eq!(jira.requests().len(), asked);
    let refused: Vec<(String, String)> = w.lease(&id)["events"].as_array().unwrap()[1..]
        .iter()
        .map(|e| {
            assert_eq!(e["kind"], "denied");
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["details"]["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        [
            (
                OTHER_APPROVER.to_owned(),
                "roles.change.approvals.from".to_owned()
            ),
            (me(), "self-approval".to_owned()),
        ]
    );
    w.jit(["approve", &id])
        .by(APPROVER)
        .env("JIRA_AUTH", TOKEN)
        .run()
        .code(3)
        .stderr_has(&format!(
            "jit: error: lease {id} cannot be approved: ticket CHG-11 is \"Done\" in the ticketing system; allowed: \"In Progress\""
        ));
    assert_eq!(w.state_of(&id), "pending");
    assert!(w.grant_keys().is_empty());
    let denied = w.lease(&id)["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(denied["kind"], "denied");
    assert_eq!(denied["lease_id"], id.as_str());
    assert_eq!(denied["actor"], APPROVER);
    assert_eq!(denied["details"]["ticket_status"], "Done");
    // Open again: approved and granted; then closed: the lease cannot be extended.
    issue(&jira, "CHG-11", "In Progress");
    w.jit(["approve", &id])
        .by(APPROVER)
        .env("JIRA_AUTH", TOKEN)
        .run()
        .success();
    assert_eq!(w.state_of(&id), "active");
    issue(&jira, "CHG-11", "Done");
    let before = w.lease(&id)["expires_at"].clone();
    w.jit(["extend", &id, "--ttl", "50m"])
        .env("JIRA_AUTH", TOKEN)
        .run()
        .code(3)
        .stderr_has("ticket CHG-11 is \"Done\"");
    let lease = w.lease(&id);
    assert_eq!(lease["expires_at"], before);
    let last = lease["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "denied");
    assert_eq!(last["lease_id"], id.as_str());
}

#[test]
fn a_failed_revocation_for_a_closed_ticket_keeps_the_cause() {
    let jira = HttpServer::start();
    issue(&jira, "CHG-12", "In Progress");
    let w = world(&jira, "revoke_when_closed = true");
    let id = request(&w, "CHG-12").run().success().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    issue(&jira, "CHG-12", "Done");
    w.fail_revokes(true);
    w.jit(["sweep"]).env("JIRA_AUTH", TOKEN).run().code(6);
    assert_eq!(w.state_of(&id), "revoke-failed");
    let failed = w.lease(&id)["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(failed["kind"], "revoke-failed");
    assert_eq!(failed["details"]["ticket_status"], "Done");
    assert!(
        failed["details"]["cause"]
            .as_str()
            .unwrap()
            .starts_with("ticket CHG-12 is \"Done\""),
        "{failed}"
    );
    w.fail_revokes(false);
    w.jit(["sweep"])
        .later(31)
        .env("JIRA_AUTH", TOKEN)
        .run()
        .success();
    assert_eq!(w.state_of(&id), "revoked");
    assert!(w.grant_keys().is_empty());
}
