//! `[[notify]]` webhooks, against the in-suite HTTP server.

use crate::harness::*;
use crate::http_server::{HttpServer, Reply};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::time::Duration;

fn world(notify: &str) -> World {
    let w = World::new();
    w.write_config(&format!("{}\n{notify}\n", w.default_config()));
    w
}

fn kinds(requests: &[crate::http_server::Recorded]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r.json()["event"]["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The audit records as `jit audit --json` shows them, by seq.
fn record(w: &World, seq: i64) -> Value {
    let events = w.jit(["audit", "--json"]).run().success().json();
    events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["seq"] == seq)
        .cloned()
        .unwrap()
}

#[test]
fn json_webhooks_get_each_event_signed_with_its_lease() {
    let hook = HttpServer::start();
    hook.route("POST", "/hook", Reply::status(204));
    let w = world(&format!(
        "[[notify]]\nurl = \"{}\"\nsigning_secret = \"env:HOOK_KEY\"\n",
        hook.url("/hook")
    ));
    let key = "hook-signing-key";
    let id = w
        .jit(["request", "--role", "web-root", "--json"])
        .env("HOOK_KEY", key)
        .run()
        .success()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = hook.requests();
    assert_eq!(kinds(&sent), ["requested", "granted"]);
    for request in &sent {
        let body = request.json();
        assert_eq!(body["v"], 1);
        assert_eq!(body["event"]["lease_id"], id.as_str());
        assert_eq!(body["lease"]["id"], id.as_str());
        assert_eq!(body["lease"]["role"], "web-root");
        assert_eq!(body["lease"]["subject"], me());
        // The event is the audit record itself, hash and all.
        let seq = body["event"]["seq"].as_i64().unwrap();
        assert_eq!(body["event"], record(&w, seq));
        // The signature verifies with the key, and not for another body.
        let timestamp = request.header("x-jit-timestamp").unwrap();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.{}", request.body).as_bytes());
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(request.header("x-jit-signature"), Some(expected.as_str()));
        let mut forged = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        forged.update(
            format!(
                "{timestamp}.{}",
                request.body.replace("web-root", "db-admin")
            )
            .as_bytes(),
        );
        assert_ne!(
            format!("sha256={}", hex::encode(forged.finalize().into_bytes())),
            expected
        );
    }
    w.jit(["revoke", &id]).env("HOOK_KEY", key).run().success();
    assert_eq!(kinds(&hook.requests()), ["requested", "granted", "revoked"]);
}

#[test]
fn slack_webhooks_get_a_line_for_the_chosen_kinds_only() {
    let slack = HttpServer::start();
    slack.route("POST", "/services/T0/B0/x", Reply::status(200));
    let w = world(
        "[[notify]]\nname = \"chat\"\nurl = \"env:SLACK_URL\"\nformat = \"slack\"\nevents = [\"granted\", \"revoked\"]\n",
    );
    let id = w
        .jit([
            "request", "--role", "db-admin", "--ticket", "CHG-42", "--json",
        ])
        .env("SLACK_URL", slack.url("/services/T0/B0/x"))
        .run()
        .success()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let end = w.lease(&id)["expires_at"].as_str().unwrap().to_owned();
    w.jit(["revoke", &id])
        .env("SLACK_URL", slack.url("/services/T0/B0/x"))
        .run()
        .success();
    let texts: Vec<Value> = slack.requests().iter().map(|r| r.json()).collect();
    assert_eq!(
        texts,
        [
            json!({"text": format!("jit: granted: role db-admin on files for {} (lease {id}, ticket CHG-42) until {end}", me())}),
            json!({"text": format!("jit: revoked: role db-admin on files for {} (lease {id}, ticket CHG-42)", me())}),
        ]
    );
}

#[test]
fn a_failing_webhook_never_blocks_a_grant_or_a_revoke_and_is_audited() {
    let hook = HttpServer::start();
    hook.route("POST", "/hook", Reply::status(500));
    let w = world(&format!(
        "[[notify]]\nname = \"ops\"\nurl = \"{}\"\nretries = 1\n",
        hook.url("/hook")
    ));
    let id = w.granted("web-root", &[]);
    assert_eq!(w.grant_keys(), [format!("web-root/{}", me())]);
    // One event tried twice (the retry); the next one in the batch is not tried.
    assert_eq!(hook.requests().len(), 2);
    let events = w.lease(&id)["events"].as_array().unwrap().clone();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["requested", "granted", "notify-failed", "notify-failed"]
    );
    assert_eq!(
        events[2]["details"],
        json!({
            "notify": "ops",
            "url": hook.url("/hook"),
            "event_seq": events[0]["seq"],
            "event_kind": "requested",
            "error": "HTTP 500",
        })
    );
    assert_eq!(
        events[3]["details"]["error"],
        "not sent after an earlier failure: HTTP 500"
    );
    // Unreachable: the revoke goes through all the same.
    hook.pause();
    w.jit(["revoke", &id]).run().success();
    assert_eq!(w.state_of(&id), "revoked");
    assert!(w.grant_keys().is_empty());
    let last = w.lease(&id)["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "notify-failed");
    assert_eq!(last["details"]["event_kind"], "revoked");
    assert!(
        last["details"]["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot connect: Connection refused"),
        "{last}"
    );
    w.jit(["audit", "verify"]).run().success();
    hook.resume();
}

#[test]
fn a_hung_webhook_costs_its_timeout_and_no_more() {
    let hook = HttpServer::start();
    hook.route(
        "POST",
        "/hook",
        Reply::status(200).delayed(Duration::from_secs(5)),
    );
    let w = world(&format!(
        "[[notify]]\nurl = \"{}\"\ntimeout = \"1s\"\nretries = 0\nevents = [\"granted\"]\n",
        hook.url("/hook")
    ));
    let started = std::time::Instant::now();
    let id = w.granted("web-root", &[]);
    assert!(started.elapsed() < Duration::from_secs(4));
    let failed = w.lease(&id)["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(failed["kind"], "notify-failed");
    assert!(
        failed["details"]["error"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{failed}"
    );
}

#[test]
fn approvers_hear_of_a_request_while_the_requester_waits() {
    let hook = HttpServer::start();
    hook.route("POST", "/hook", Reply::status(200));
    let w = world(&format!(
        "[[notify]]\nurl = \"{}\"\nevents = [\"requested\", \"granted\"]\n",
        hook.url("/hook")
    ));
    let waiting = w
        .jit([
            "request",
            "--role",
            "gated",
            "--wait",
            "--timeout",
            "60s",
            "--json",
        ])
        .by(REQUESTER)
        .spawn();
    // The request reaches the webhook before anyone approves it.
    let sent = hook.wait_for("/hook", 1);
    let body = sent[0].json();
    assert_eq!(body["event"]["kind"], "requested");
    assert_eq!(body["lease"]["state"], "pending");
    let id = body["lease"]["id"].as_str().unwrap().to_owned();
    w.jit(["approve", &id]).by(APPROVER).run().success();
    let run = Run::from(waiting.wait_with_output().unwrap());
    let lease = run.success().json();
    assert_eq!(lease["state"], "active");
    assert_eq!(kinds(&hook.wait_for("/hook", 2)), ["requested", "granted"]);
}

#[test]
fn notify_configuration_errors_point_at_the_key() {
    let w = World::new();
    let base = w.default_config();
    let line = base.lines().count() + 4;
    for (table, message) in [
        (
            "[[notify]]\nurl = \"https://h.example/\"\nformat = \"teams\"\n",
            "format \"teams\" is not one of \"json\", \"slack\"",
        ),
        (
            "[[notify]]\nurl = \"https://h.example/\"\nevents = [\"granted\", \"grnated\"]\n",
            "\"grnated\" is not an event kind; valid: requested, approved, denied, granted, grant-failed, extended, revoked, expired, revoke-failed, reconciled, cancelled, notify-failed, refused, ship-refused",
        ),
        (
            "[[notify]]\nurl = \"https://h.example/\"\nevents = []\n",
            "events is empty: leave it out to send every kind, or name the kinds",
        ),
        (
            "[[notify]]\nurl = \"https://h.example/\"\nevents = [\"notify-failed\"]\n",
            "\"notify-failed\" is never sent to a webhook (it records that one failed)",
        ),
        (
            "[[notify]]\nurl = \"https://h.example/\"\nname = \" \"\n",
            "name is empty",
        ),
        (
            "[[notify]]\nurl = \"https://h.example/{lease_id}\"\n\n",
            "url: {lease_id} is not a placeholder here; this URL takes none",
        ),
        (
            "[[notify]]\nurl = \"https://h.example/\"\nauth_header = \"X Bad\"\n",
            "auth_header \"X Bad\" is not an HTTP header name",
        ),
    ] {
        w.write_config(&format!("{base}\n{table}"));
        let run = w.jit(["config", "check"]).run().code(5);
        let at = if message.starts_with("url:") {
            line - 1
        } else {
            line
        };
        assert!(
            run.stderr.contains(&format!(":{at}:")) && run.stderr.contains(message),
            "{table}: {}",
            run.stderr
        );
    }
}

#[test]
fn doctor_checks_the_secrets_of_ticket_checks_webhooks_and_collectors() {
    let w = World::new();
    w.write_config(&format!(
        r#"{}
[roles.change]
target = "files"
max_ttl = "1h"
ticket = {{ check = {{ url = "https://j.example/{{ticket}}", auth = "env:JIRA_AUTH", status_field = "a", allowed = ["x"] }} }}

[[notify]]
url = "env:SLACK_URL"
format = "slack"

[[audit.ship]]
kind = "http"
url = "https://c.example/"
signing_secret = "env:SHIP_KEY"
"#,
        w.default_config()
    ));
    let run = w
        .jit(["doctor"])
        .env("SLACK_URL", "https://hooks.example/T0/B0/secret-part")
        .run()
        .code(1)
        .stdout_has("FAIL role change: secret ticket.check.auth: secret env:JIRA_AUTH: the environment variable is not set")
        .stdout_has("ok   notify #1: secret url: env:SLACK_URL resolves")
        .stdout_has("FAIL audit.ship http: secret signing_secret: secret env:SHIP_KEY: the environment variable is not set");
    assert!(!run.stdout.contains("secret-part"), "{}", run.stdout);
}
