//! The http backend against the suite's HTTP server on loopback, playing an access service:
//! the exact bodies and headers jit sends for each operation, the signature checked here
//! with an HMAC of our own (and with the receiver example of docs/backends/http.md), the
//! answers it takes, how each status code and a missing answer end the lease, and the
//! configuration errors of an http target.

use crate::harness::*;
use crate::http_server::{HttpServer, Recorded, Reply};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The whole value of the auth header, as its secret file holds it.
const TOKEN: &str = "Bearer tok-4f9a-7c21";
/// The key of the `X-Jit-Signature` HMAC.
const SIGNING_KEY: &str = "whsec-8c1d-e5b0";

/// A file secret (mode 0600) in the world's directory; its path.
fn secret_file(w: &World, name: &str, value: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = w.path(name);
    std::fs::write(&path, value).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

/// An access service that grants with 200 and a handle, and revokes with 204.
fn service() -> HttpServer {
    let server = HttpServer::start();
    server.route(
        "POST",
        "/grants",
        Reply::json(200, json!({ "handle": { "grant": "g-1" } })),
    );
    server.route("DELETE", "/grants/", Reply::status(204));
    server
}

/// The target keys that send revocations as `DELETE /grants/{lease_id}`.
fn delete_revokes(server: &HttpServer) -> String {
    format!(
        "revoke_url = \"{}\"\nrevoke_method = \"DELETE\"\n",
        server.url("/grants/{lease_id}")
    )
}

/// A world whose target `access` is the service at `/grants`, with `extra` target keys,
/// and a role `deploy` on it that the test user may request.
fn world(server: &HttpServer, extra: &str) -> World {
    let w = World::empty();
    let token = secret_file(&w, "token", TOKEN);
    let key = secret_file(&w, "signing-key", SIGNING_KEY);
    w.write_config(&format!(
        r#"[identity]
service_account = "{me}"

[targets.access]
backend = "http"
url = "{url}"
auth = "file:{token}"
signing_secret = "file:{key}"
{extra}
[roles.deploy]
target = "access"
max_ttl = "1h"
default_ttl = "30m"
grant = {{ environment = "prod", groups = ["deployers", "release"] }}

[[eligibility]]
subjects = ["user:{me}"]
roles = ["*"]
"#,
        me = me(),
        url = server.url("/grants"),
    ));
    w
}

/// Request `deploy` with a ticket and a reason; the lease JSON.
fn request(w: &World) -> Value {
    w.jit([
        "request",
        "--role",
        "deploy",
        "--ticket",
        "CHG-7",
        "--reason",
        "deploy hotfix",
        "--json",
    ])
    .run()
    .success()
    .json()
}

fn id_of(lease: &Value) -> String {
    lease["id"].as_str().unwrap().to_owned()
}

/// The body jit sends for `op` about `lease` (its JSON as jit prints it).
fn body(op: &str, lease: &Value, expires_at: &Value, handle: Value) -> Value {
    json!({
        "v": 1,
        "op": op,
        "target": "access",
        "lease": {
            "id": lease["id"],
            "role": "deploy",
            "subject": me(),
            "requester": me(),
            "ticket": "CHG-7",
            "reason": "deploy hotfix",
            "granted_at": lease["granted_at"],
            "expires_at": expires_at,
        },
        "params": { "environment": "prod", "groups": ["deployers", "release"] },
        "handle": handle,
    })
}

/// Does `request` carry a valid signature of `body` under the signing key?
fn signed(request: &Recorded, body: &str) -> bool {
    match (
        request.header("X-Jit-Timestamp"),
        request.header("X-Jit-Signature"),
    ) {
        (Some(timestamp), Some(signature)) => verifies(SIGNING_KEY, timestamp, signature, body),
        _ => false,
    }
}

/// The receiver's check, computed here and not by jit: `signature` is `sha256=` and the hex
/// HMAC-SHA256 of "<timestamp>.<body>" under `key`, compared in constant time.
fn verifies(key: &str, timestamp: &str, signature: &str, body: &str) -> bool {
    use hmac::{Hmac, Mac};
    let Some(Ok(signature)) = signature.strip_prefix("sha256=").map(hex::decode) else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.verify_slice(&signature).is_ok()
}

fn docs_page() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/backends/http.md"),
    )
    .unwrap()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// The methods and paths of the requests the service got, in order.
fn calls(server: &HttpServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.method,
                r.path,
                r.json()["op"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_grant_posts_the_signed_versioned_body_with_the_auth_header() {
    let server = service();
    let w = world(&server, "");
    let before = unix_now();
    let lease = request(&w);
    let after = unix_now();
    assert_eq!(lease["state"], "active");
    assert_eq!(lease["backend"], "http");
    assert!(lease.get("credentials").is_none(), "none were answered");

    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let grant = &requests[0];
    assert_eq!(grant.method, "POST");
    assert_eq!(grant.path, "/grants");
    let mut sent = body("grant", &lease, &lease["expires_at"], Value::Null);
    sent["store"] = json!(store_name(&w));
    assert_eq!(grant.json(), sent);
    assert_eq!(grant.header("Authorization"), Some(TOKEN));
    assert_eq!(grant.header("Content-Type"), Some("application/json"));
    assert_eq!(
        grant.header("User-Agent"),
        Some(concat!("jit/", env!("CARGO_PKG_VERSION")))
    );
    let timestamp: i64 = grant.header("X-Jit-Timestamp").unwrap().parse().unwrap();
    assert!(
        (before..=after).contains(&timestamp),
        "{timestamp} is the time of sending (between {before} and {after})"
    );
    assert!(signed(grant, &grant.body), "the signature verifies");
    let tampered = grant.body.replace("deploy hotfix", "deploy hotfiX");
    assert_ne!(tampered, grant.body);
    assert!(!signed(grant, &tampered), "a changed body does not verify");
    let mut moved = grant.clone();
    for header in &mut moved.headers {
        if header.0 == "x-jit-timestamp" {
            header.1 = (timestamp + 1).to_string();
        }
    }
    assert!(
        !signed(&moved, &grant.body),
        "a changed timestamp does not verify"
    );
}

#[test]
fn the_receiver_example_in_the_docs_verifies_a_real_request() {
    let server = service();
    let w = world(&server, "");
    request(&w);
    let grant = &server.requests()[0];
    let doc = docs_page();
    let example = doc
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/backends/http.md holds a python example");
    let timestamp = grant.header("X-Jit-Timestamp").unwrap();
    let script = format!(
        "{example}\n\
         import json, sys\n\
         case = json.load(sys.stdin)\n\
         key, ts, sig, body = case['key'].encode(), case['ts'], case['sig'], case['body'].encode()\n\
         print(verify(key, ts, sig, body),\n\
               verify(key, ts, sig, body.replace(b'hotfix', b'hotfiX')),\n\
               verify(b'another key', ts, sig, body),\n\
               verify(key, ts, sig, body, now=int(ts) + 299),\n\
               verify(key, ts, sig, body, now=int(ts) + 301))\n"
    );
    let case = json!({
        "key": SIGNING_KEY,
        "ts": timestamp,
        "sig": grant.header("X-Jit-Signature").unwrap(),
        "body": grant.body,
    });
    let script_path = w.path("verify.py");
    std::fs::write(&script_path, script).unwrap();
    let run = std::process::Command::new("python3")
        .arg(&script_path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(case.to_string().as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3 runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "True False False True False\n",
        "genuine, tampered body, wrong key, 299 s old, 301 s old"
    );
}

#[test]
fn the_signed_request_shown_in_the_docs_verifies() {
    let doc = docs_page();
    let example = doc
        .split("POST /v1/grants HTTP/1.1\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/backends/http.md shows a signed request");
    let header = |name: &str| {
        example
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .unwrap()
    };
    let body = example.trim_end().lines().last().unwrap();
    let timestamp = header("X-Jit-Timestamp");
    let signature = header("X-Jit-Signature");
    assert!(verifies("whsec-2b7e61f0", timestamp, signature, body));
    assert!(!verifies("whsec-2b7e61f1", timestamp, signature, body));
    // The body is the one the page shows pretty-printed, in jit's compact form.
    let value: Value = serde_json::from_str(body).unwrap();
    assert_eq!(value.to_string(), body);
    assert_eq!(value["op"], "grant");
}

#[test]
fn credentials_in_the_answer_are_shown_once_and_never_stored() {
    let server = service();
    let password = "pw-91c7d3e4a5";
    server.script(
        "POST",
        "/grants",
        vec![
            Reply::json(
                200,
                json!({
                    "credentials": { "USERNAME": "deploy-7", "PASSWORD": password, "PORT": 8443 },
                    "expires_at": "2030-01-02T03:04:05+01:00",
                    "handle": { "grant": "g-42" },
                    "unknown": "ignored",
                }),
            ),
            Reply::json(200, json!({ "credentials": { "PASSWORD": password } })),
        ],
    );
    let w = world(&server, &delete_revokes(&server));
    let lease = request(&w);
    assert_eq!(
        lease["credentials"],
        json!({ "USERNAME": "deploy-7", "PASSWORD": password, "PORT": "8443" })
    );
    let id = id_of(&lease);
    let shown = w.lease(&id);
    assert!(shown.get("credentials").is_none());
    let granted = &shown["events"][1];
    assert_eq!(granted["kind"], "granted");
    assert_eq!(granted["details"]["credentials_issued"], true);
    assert_eq!(granted["details"]["native_expiry"], "2030-01-02T02:04:05Z");

    // Printed once, without --json too.
    let human = w.jit(["request", "--role", "deploy"]).run().success();
    assert!(
        human.stdout.ends_with(&format!(
            "credentials (shown once, not stored):\nPASSWORD={password}\n"
        )),
        "{}",
        human.stdout
    );

    // Nowhere in the store's files, the audit export or the revocation.
    w.jit(["revoke", &id]).run().success();
    let export = w
        .jit(["audit", "export", "--format", "jsonl"])
        .run()
        .success();
    assert!(!export.stdout.contains(password));
    assert!(w.store_path().exists());
    for entry in std::fs::read_dir(w.state_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes
                .windows(password.len())
                .any(|win| win == password.as_bytes()),
            "the password is in the store"
        );
    }
    // The revoke carries the handle the grant answered.
    let revoke = server.requests_to(&format!("/grants/{id}"));
    assert_eq!(revoke.len(), 1);
    assert_eq!(revoke[0].json()["handle"], json!({ "grant": "g-42" }));
}

#[test]
fn a_malformed_grant_answer_fails_the_grant_and_takes_it_back() {
    let server = service();
    server.script(
        "POST",
        "/grants",
        vec![
            Reply::json(200, json!({ "credentials": "pw" })),
            Reply::json(200, json!({ "expires_at": "tomorrow" })),
            Reply::json(200, json!(["not", "an", "object"])),
        ],
    );
    let w = world(&server, &delete_revokes(&server));
    for error in [
        "\"credentials\" must be an object of strings",
        "\"expires_at\" \"tomorrow\": premature end of input",
        "the service answered with JSON that is not an object",
    ] {
        w.jit(["request", "--role", "deploy"])
            .run()
            .code(1)
            .stderr_has(&format!(
                "jit: error: granting role \"deploy\" on target \"access\" failed: {error}"
            ));
    }
    let leases = w.leases();
    assert_eq!(leases.len(), 3);
    for lease in &leases {
        assert_eq!(lease["state"], "failed", "{lease}");
        let id = id_of(lease);
        assert_eq!(
            server.requests_to(&format!("/grants/{id}")).len(),
            1,
            "the grant of {id} was taken back"
        );
    }
}

#[test]
fn revoke_sends_delete_to_the_revoke_url_and_the_lease_ends_revoked() {
    let server = service();
    let w = world(&server, &delete_revokes(&server));
    let lease = request(&w);
    let id = id_of(&lease);
    w.jit(["revoke", &id])
        .run()
        .success()
        .stdout_has(&format!("revoked {id}\n"));
    assert_eq!(w.state_of(&id), "revoked");
    assert_eq!(w.event_kinds(&id), ["requested", "granted", "revoked"]);
    assert_eq!(
        calls(&server),
        [
            "POST /grants grant".to_owned(),
            format!("DELETE /grants/{id} revoke"),
        ]
    );
    let revoke = &server.requests()[1];
    assert_eq!(
        revoke.json(),
        body(
            "revoke",
            &lease,
            &lease["expires_at"],
            json!({ "grant": "g-1" })
        )
    );
    assert_eq!(revoke.header("Authorization"), Some(TOKEN));
    assert!(signed(revoke, &revoke.body));

    // Again: already revoked, nothing is sent.
    w.jit(["revoke", &id])
        .run()
        .success()
        .stdout_has(&format!("{id}: already revoked"));
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn revoke_posts_to_the_url_by_default_and_sweep_ends_an_expired_lease() {
    let server = service();
    let w = world(&server, "");
    let lease = request(&w);
    let id = id_of(&lease);
    w.jit(["sweep"]).run().success().stdout_is("");
    assert_eq!(server.requests().len(), 1, "not due yet");
    w.jit(["sweep"])
        .later(31 * 60)
        .run()
        .success()
        .stdout_has(&format!("{id}: expired"));
    assert_eq!(w.state_of(&id), "expired");
    assert_eq!(
        calls(&server),
        ["POST /grants grant", "POST /grants revoke"]
    );
    assert_eq!(
        server.requests()[1].json(),
        body(
            "revoke",
            &lease,
            &lease["expires_at"],
            json!({ "grant": "g-1" })
        )
    );
}

#[test]
fn a_revoke_answered_404_or_410_means_already_gone() {
    let server = service();
    let w = world(&server, &delete_revokes(&server));
    let first = id_of(&request(&w));
    let second = id_of(&request(&w));
    server.script(
        "DELETE",
        "/grants/",
        vec![
            Reply::status(404),
            Reply::json(410, json!({ "error": "gone" })),
        ],
    );
    for id in [&first, &second] {
        w.jit(["revoke", id])
            .run()
            .success()
            .stdout_has(&format!("revoked {id}\n"));
        assert_eq!(w.state_of(id), "revoked");
        assert_eq!(server.requests_to(&format!("/grants/{id}")).len(), 1);
    }
}

#[test]
fn server_failures_and_throttling_on_grant_are_retried() {
    let server = service();
    server.script(
        "POST",
        "/grants",
        vec![
            Reply::status(503),
            Reply::json(429, json!({ "error": "slow down" })),
        ],
    );
    let w = world(&server, &delete_revokes(&server));
    let lease = request(&w);
    assert_eq!(lease["state"], "active");
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "{:?}", calls(&server));
    for request in &requests {
        assert_eq!(request.json()["op"], "grant");
        assert!(
            signed(request, &request.body),
            "each attempt is signed anew"
        );
    }
    assert_eq!(
        requests[0].body, requests[2].body,
        "the same body each time"
    );
}

#[test]
fn a_grant_failing_beyond_the_retries_fails_and_is_taken_back() {
    let server = service();
    server.route("POST", "/grants", Reply::status(502));
    let w = world(
        &server,
        &format!("retries = 1\n{}", delete_revokes(&server)),
    );
    w.jit(["request", "--role", "deploy"])
        .run()
        .code(1)
        .stderr_has(&format!(
            "jit: error: granting role \"deploy\" on target \"access\" failed: grant: {}: HTTP 502\n",
            server.url("/grants")
        ));
    let id = id_of(&w.leases()[0]);
    assert_eq!(w.state_of(&id), "failed");
    assert_eq!(
        calls(&server),
        [
            "POST /grants grant".to_owned(),
            "POST /grants grant".to_owned(),
            format!("DELETE /grants/{id} revoke"),
        ]
    );
}

#[test]
fn a_revoke_failing_with_5xx_is_retried_then_revoke_failed_until_sweep_gets_through() {
    let server = service();
    let w = world(
        &server,
        &format!("retries = 2\n{}", delete_revokes(&server)),
    );
    let id = id_of(&request(&w));
    server.route(
        "DELETE",
        "/grants/",
        Reply::json(503, json!({ "error": "maintenance" })),
    );
    w.jit(["revoke", &id]).run().code(6).stdout_has(&format!(
        "{id}: revocation failed: revoke: {}: HTTP 503: {{\"error\":\"maintenance\"}} (the lease is revoke-failed; `jit sweep` retries it)",
        server.url("/grants/{lease_id}")
    ));
    assert_eq!(w.state_of(&id), "revoke-failed");
    assert_eq!(server.requests_to("/grants/").len(), 3, "1 + 2 retries");
    let failed = &w.lease(&id)["events"][2];
    assert_eq!(failed["kind"], "revoke-failed");
    assert_eq!(failed["details"]["retryable"], true);
    assert_eq!(failed["details"]["attempt"], 1);

    // Not due before the retry delay (30 s): nothing sent, but the sweep says it waits.
    w.jit(["sweep"]).run().code(6).stdout_has(&format!(
        "{id}: revocation incomplete: attempt 1 failed: revoke: "
    ));
    assert_eq!(server.requests_to("/grants/").len(), 3);

    server.route("DELETE", "/grants/", Reply::status(204));
    w.jit(["sweep"])
        .later(31)
        .run()
        .success()
        .stdout_has(&format!("{id}: revoked"));
    assert_eq!(w.state_of(&id), "revoked");
    assert_eq!(server.requests_to("/grants/").len(), 4);
    assert_eq!(
        w.event_kinds(&id),
        ["requested", "granted", "revoke-failed", "revoked"]
    );
}

#[test]
fn an_unreachable_service_fails_the_revoke_and_sweep_revokes_once_it_is_back() {
    let server = service();
    let w = world(
        &server,
        &format!("retries = 1\n{}", delete_revokes(&server)),
    );
    let id = id_of(&request(&w));
    server.pause();
    let run = w.jit(["revoke", &id]).run().code(6);
    assert!(
        run.stdout.contains(&format!(
            "{id}: revocation failed: revoke: {}: cannot connect",
            server.url("/grants/{lease_id}")
        )) && run.stdout.contains("Connection refused"),
        "{}",
        run.stdout
    );
    assert_eq!(w.state_of(&id), "revoke-failed");
    assert_eq!(server.requests().len(), 1, "only the grant got through");

    server.resume();
    w.jit(["sweep"])
        .later(31)
        .run()
        .success()
        .stdout_has(&format!("{id}: revoked"));
    assert_eq!(w.state_of(&id), "revoked");
    assert_eq!(
        calls(&server),
        [
            "POST /grants grant".to_owned(),
            format!("DELETE /grants/{id} revoke"),
        ]
    );
}

#[test]
fn a_revoke_answered_with_another_4xx_is_not_retried_and_stays_revoke_failed() {
    let server = service();
    let w = world(&server, &delete_revokes(&server));
    let id = id_of(&request(&w));
    server.script(
        "DELETE",
        "/grants/",
        vec![Reply::json(403, json!({ "error": "not yours" }))],
    );
    w.jit(["revoke", &id]).run().code(6).stdout_has(&format!(
        "{id}: revocation failed: revoke: {}: HTTP 403: {{\"error\":\"not yours\"}}",
        server.url("/grants/{lease_id}")
    ));
    assert_eq!(server.requests_to("/grants/").len(), 1, "no retry");
    assert_eq!(w.state_of(&id), "revoke-failed");
    assert_eq!(w.lease(&id)["events"][2]["details"]["retryable"], false);
    // A revocation is never abandoned: the next attempt gets through.
    w.jit(["revoke", &id]).run().success();
    assert_eq!(w.state_of(&id), "revoked");
}

#[test]
fn a_grant_answered_400_fails_and_the_cleanup_revoke_is_sent() {
    let server = service();
    server.script(
        "POST",
        "/grants",
        vec![Reply::json(400, json!({ "error": "unknown group" }))],
    );
    let w = world(&server, &delete_revokes(&server));
    w.jit(["request", "--role", "deploy", "--ticket", "CHG-7", "--reason", "deploy hotfix"])
        .run()
        .code(1)
        .stderr_has(&format!(
            "jit: error: granting role \"deploy\" on target \"access\" failed: grant: {}: HTTP 400: {{\"error\":\"unknown group\"}}\n",
            server.url("/grants")
        ));
    let lease = w.leases()[0].clone();
    let id = id_of(&lease);
    assert_eq!(lease["state"], "failed");
    assert_eq!(w.event_kinds(&id), ["requested", "grant-failed"]);
    assert_eq!(
        calls(&server),
        [
            "POST /grants grant".to_owned(),
            format!("DELETE /grants/{id} revoke"),
        ],
        "one grant (a 400 is not retried), then the clean-up"
    );
    // The clean-up names the window the grant asked for, and no handle.
    let grant = server.requests()[0].json();
    let revoke = server.requests()[1].json();
    assert_eq!(revoke["lease"], grant["lease"]);
    assert_eq!(revoke["handle"], Value::Null);
    assert_eq!(revoke["lease"]["expires_at"], lease["expires_at"]);
}

#[test]
fn a_grant_slower_than_the_timeout_times_out() {
    let server = service();
    let slow = || Reply::json(200, json!({})).delayed(Duration::from_secs(5));
    server.script("POST", "/grants", vec![slow(), slow()]);
    let w = world(
        &server,
        &format!("timeout = \"1s\"\nretries = 1\n{}", delete_revokes(&server)),
    );
    let started = std::time::Instant::now();
    w.jit(["request", "--role", "deploy"])
        .run()
        .code(1)
        .stderr_has(&format!(
            "jit: error: granting role \"deploy\" on target \"access\" failed: grant: {}: timed out",
            server.url("/grants")
        ));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "gave up after two timeouts of 1 s, not the answers after 5 s: {:?}",
        started.elapsed()
    );
    let id = id_of(&w.leases()[0]);
    assert_eq!(w.state_of(&id), "failed");
    assert_eq!(
        calls(&server),
        [
            "POST /grants grant".to_owned(),
            "POST /grants grant".to_owned(),
            format!("DELETE /grants/{id} revoke"),
        ]
    );
}

#[test]
fn a_process_killed_after_the_grant_is_cleaned_up_by_sweep() {
    let server = service();
    let w = world(&server, &delete_revokes(&server));
    let run = w
        .jit([
            "request",
            "--role",
            "deploy",
            "--ticket",
            "CHG-7",
            "--reason",
            "deploy hotfix",
        ])
        .env("JIT_FAULT", "after-grant")
        .run();
    assert_eq!(run.code, None, "killed: {run:?}");
    let lease = w.leases()[0].clone();
    let id = id_of(&lease);
    assert_eq!(lease["state"], "granting");
    assert_eq!(calls(&server), ["POST /grants grant"]);

    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: failed"));
    assert_eq!(w.state_of(&id), "failed");
    assert_eq!(w.event_kinds(&id), ["requested", "reconciled"]);
    // The service is not asked whether the grant is there: it is revoked.
    assert_eq!(w.lease(&id)["events"][1]["details"]["found"], "present");
    assert_eq!(
        calls(&server),
        [
            "POST /grants grant".to_owned(),
            format!("DELETE /grants/{id} revoke"),
        ]
    );
    let grant = server.requests()[0].json();
    let revoke = server.requests()[1].json();
    assert_eq!(
        revoke["lease"], grant["lease"],
        "the window the grant asked for"
    );
    assert_eq!(
        revoke["handle"],
        Value::Null,
        "the answer was never recorded"
    );
    w.jit(["sweep"]).run().success().stdout_is("");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn exec_gives_the_command_the_credentials_and_revokes_when_it_ends() {
    let server = service();
    server.script(
        "POST",
        "/grants",
        vec![Reply::json(
            200,
            json!({ "credentials": { "DEPLOY_TOKEN": "dt-5b1c" } }),
        )],
    );
    let w = world(&server, &delete_revokes(&server));
    let run = w
        .jit([
            "exec",
            "--role",
            "deploy",
            "--",
            "sh",
            "-c",
            "echo \"$DEPLOY_TOKEN $JIT_LEASE_ID\"",
        ])
        .run()
        .success();
    let (token, id) = run.stdout.trim().split_once(' ').unwrap();
    assert_eq!(token, "dt-5b1c");
    assert_eq!(w.state_of(id), "revoked");
    assert_eq!(
        calls(&server),
        [
            "POST /grants grant".to_owned(),
            format!("DELETE /grants/{id} revoke"),
        ]
    );

    // SIGTERM to jit is passed on to the command, and the lease is revoked.
    let mut child = w
        .jit(["exec", "--role", "deploy", "--", "sleep", "60"])
        .spawn();
    let grant = server.wait_for("/grants", 3)[2].json();
    let id = grant["lease"]["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while w.state_of(&id) != "active" {
        assert!(child.try_wait().unwrap().is_none(), "jit exec ended early");
        assert!(std::time::Instant::now() < deadline, "not granted");
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().try_into().unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert_eq!(w.state_of(&id), "revoked");
    assert_eq!(
        calls(&server).last().unwrap(),
        &format!("DELETE /grants/{id} revoke")
    );
}

#[test]
fn extend_sends_the_new_end() {
    let server = service();
    let w = world(&server, &delete_revokes(&server));
    let lease = request(&w);
    let id = id_of(&lease);
    let extended = w
        .jit(["extend", &id, "--ttl", "50m", "--json"])
        .run()
        .success()
        .json();
    assert_ne!(extended["expires_at"], lease["expires_at"]);
    assert_eq!(
        calls(&server),
        ["POST /grants grant", "POST /grants extend"]
    );
    let extend = &server.requests()[1];
    let mut sent = body(
        "extend",
        &lease,
        &extended["expires_at"],
        json!({ "grant": "g-1" }),
    );
    sent["store"] = json!(store_name(&w));
    assert_eq!(extend.json(), sent);
    assert!(signed(extend, &extend.body));
    assert_eq!(w.lease(&id)["expires_at"], extended["expires_at"]);

    // A 2xx answer is success whatever its body.
    let mut text = Reply::status(200);
    text.body = "moved".to_owned();
    server.script("POST", "/grants", vec![text]);
    let again = w
        .jit(["extend", &id, "--ttl", "55m", "--json"])
        .run()
        .success()
        .json();
    assert_ne!(again["expires_at"], extended["expires_at"]);
    let extended = again;
    assert_eq!(server.requests().len(), 3);

    // A refused extend leaves the lease's end where it was.
    server.script("POST", "/grants", vec![Reply::status(409)]);
    w.jit(["extend", &id, "--ttl", "10m"])
        .run()
        .code(1)
        .stderr_has(&format!(
            "jit: error: moving the end on target \"access\" failed: extend: {}: HTTP 409\n",
            server.url("/grants")
        ));
    assert_eq!(w.lease(&id)["expires_at"], extended["expires_at"]);
}

#[test]
fn doctor_asks_the_service_and_says_when_it_cannot_reach_it() {
    let server = service();
    let w = world(&server, "");
    w.jit(["doctor"]).run().success().stdout_has(&format!(
        "ok   target access: check: {} answered 200\n",
        server.url("/grants")
    ));
    let check = &server.requests()[0];
    assert_eq!(
        check.json(),
        json!({ "v": 1, "op": "check", "target": "access" })
    );
    assert_eq!(check.header("Authorization"), Some(TOKEN));
    assert!(signed(check, &check.body));

    server.pause();
    let run = w.jit(["doctor"]).run().code(1);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("target access: check"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        line.starts_with(&format!(
            "FAIL target access: check: {}: cannot connect: ",
            server.url("/grants")
        )) && line.ends_with("Connection refused (os error 111)"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_redirect_is_an_error_and_is_not_followed() {
    let server = service();
    let elsewhere = HttpServer::start();
    elsewhere.route("POST", "/", Reply::json(200, json!({})));
    elsewhere.route("GET", "/", Reply::json(200, json!({})));
    for status in [302, 307] {
        server.script(
            "POST",
            "/grants",
            vec![Reply::status(status).header("Location", &elsewhere.url("/grants"))],
        );
    }
    let w = world(
        &server,
        &format!("auth_header = \"X-Api-Key\"\n{}", delete_revokes(&server)),
    );
    for status in [302, 307] {
        w.jit(["request", "--role", "deploy"])
            .run()
            .code(1)
            .stderr_has(&format!(
                "jit: error: granting role \"deploy\" on target \"access\" failed: grant: {}: HTTP {status}\n",
                server.url("/grants")
            ));
    }
    assert!(
        elsewhere.requests().is_empty(),
        "the auth header went elsewhere: {:?}",
        elsewhere.requests()
    );
    assert_eq!(
        server.requests()[0].header("X-Api-Key"),
        Some(TOKEN),
        "auth_header names the header"
    );
    assert_eq!(server.requests()[0].header("Authorization"), None);
}

#[test]
fn a_url_that_is_a_secret_is_never_shown() {
    let server = service();
    let w = World::empty();
    let url = secret_file(&w, "url", &server.url("/hooks/k-5e1f0a/grants"));
    w.write_config(&format!(
        "[identity]\nservice_account = \"{me}\"\n\n\
         [targets.access]\nbackend = \"http\"\nurl = \"file:{url}\"\nretries = 0\n\n\
         [roles.deploy]\ntarget = \"access\"\nmax_ttl = \"1h\"\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        me = me()
    ));
    server.route("POST", "/hooks/", Reply::json(200, json!({})));
    let id = id_of(
        &w.jit(["request", "--role", "deploy", "--json"])
            .run()
            .success()
            .json(),
    );
    assert_eq!(server.requests_to("/hooks/k-5e1f0a/grants").len(), 1);
    assert_eq!(
        server.requests()[0].header("X-Jit-Signature"),
        None,
        "no signing_secret"
    );
    assert_eq!(
        server.requests()[0].header("Authorization"),
        None,
        "no auth"
    );

    let doctor = w.jit(["doctor"]).run().success();
    assert!(
        doctor.stdout.contains(&format!(
            "ok   target access: check: file:{url} answered 200\n"
        )),
        "{}",
        doctor.stdout
    );
    server.pause();
    let revoke = w.jit(["revoke", &id]).run().code(6);
    let doctor = w.jit(["doctor"]).run().code(1);
    for out in [
        &revoke.stdout,
        &revoke.stderr,
        &doctor.stdout,
        &doctor.stderr,
    ] {
        assert!(!out.contains("k-5e1f0a"), "the secret URL is shown: {out}");
    }
    assert!(
        revoke.stdout.contains(&format!(
            "revocation failed: revoke: file:{url}: cannot connect"
        )),
        "{}",
        revoke.stdout
    );
    // Nor is it in the store's files.
    for entry in std::fs::read_dir(w.state_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(8).any(|win| win == b"k-5e1f0a"));
    }

    // A secret that is no http(s) URL is a permanent error, and its text is not shown.
    server.resume();
    std::fs::write(w.path("url"), "https//k-5e1f0a/grants").unwrap();
    let revoke = w.jit(["revoke", &id]).run().code(6);
    assert!(
        revoke.stdout.contains(&format!(
            "{id}: revocation failed: revoke: file:{url}: the secret's value is not an http(s) URL ("
        )),
        "{}",
        revoke.stdout
    );
    let events = w.lease(&id)["events"].as_array().unwrap().clone();
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "revoke-failed");
    assert_eq!(last["details"]["retryable"], false);
    let doctor = w.jit(["doctor"]).run().code(1);
    assert!(
        doctor.stdout.contains(&format!(
            "FAIL target access: check: file:{url}: the secret's value is not an http(s) URL\n"
        )),
        "{}",
        doctor.stdout
    );
    for out in [
        &revoke.stdout,
        &revoke.stderr,
        &doctor.stdout,
        &doctor.stderr,
    ] {
        assert!(!out.contains("k-5e1f0a"), "the secret URL is shown: {out}");
    }
    assert_eq!(
        server.requests().len(),
        2,
        "the grant and the first check only"
    );
}

#[test]
fn placeholders_in_the_url_are_filled_per_lease_and_left_empty_for_doctor() {
    let server = HttpServer::start();
    server.route("POST", "/t/", Reply::json(200, json!({})));
    let w = world(&server, "");
    let config = std::fs::read_to_string(w.config_path()).unwrap().replace(
        &format!("url = \"{}\"", server.url("/grants")),
        &format!(
            "url = \"{}\"",
            server.url("/t/{target}/grants/{lease_id}?role={role}&subject={subject}")
        ),
    );
    w.write_config(&config);
    let id = id_of(&request(&w));
    w.jit(["revoke", &id]).run().success();
    w.jit(["doctor"]).run().success();
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    let me = me();
    assert_eq!(
        paths,
        [
            format!("/t/access/grants/{id}?role=deploy&subject={me}"),
            format!("/t/access/grants/{id}?role=deploy&subject={me}"),
            "/t/access/grants/?role=&subject=".to_owned(),
        ]
    );
}

/// `jit config check` of `target` (the keys of `[targets.access]` after its header on
/// line 1): exit 5, and the errors with the file's path as CONFIG.
fn config_errors(target: &str) -> String {
    let w = World::empty();
    w.write_config(&format!(
        "[targets.access]\n{target}\n[roles.deploy]\ntarget = \"access\"\nmax_ttl = \"1h\"\n"
    ));
    let run = w.jit(["config", "check"]).run().code(5);
    assert!(run.stdout.is_empty());
    run.stderr
        .replace(&w.config_path().display().to_string(), "CONFIG")
}

#[test]
fn configuration_errors_point_at_the_key() {
    let err = config_errors(
        "backend = \"http\"\n\
         url = \"https://access.example/grants/{lease}\"\n\
         auth = \"Bearer tok-4f9a\"\n\
         signing_secret = \"whsec-8c1d\"\n\
         revoke_url = \"https://jit:pw-77c1@access.example/revoke\"\n\
         revoke_method = \"PUT\"\n\
         auth_header = \"X Api Key\"\n\
         timeout = \"0s\"\n\
         retries = 11\n",
    );
    assert_eq!(
        err,
        "jit: error: CONFIG:3:7: url: {lease} is not a placeholder here; valid: {lease_id}, {role}, {subject}, {target}\n\
         CONFIG:4:8: auth: a secret must be a reference (keyring:NAME, env:VAR or file:PATH); a literal secret is refused\n\
         CONFIG:8:15: auth_header \"X Api Key\" is not an HTTP header name\n\
         CONFIG:5:18: signing_secret: a secret must be a reference (keyring:NAME, env:VAR or file:PATH); a literal secret is refused\n\
         CONFIG:9:11: timeout: \"0s\" is zero; use a positive duration such as 90s, 15m, 1h30m or 2h\n\
         CONFIG:10:11: retries must be between 0 and 10, not 11\n\
         CONFIG:6:14: revoke_url: the URL holds a user name or password: a literal secret is refused; put the credentials in `auth` as a reference (keyring:NAME, env:VAR or file:PATH)\n\
         CONFIG:7:17: revoke_method \"PUT\" is not one of \"POST\", \"DELETE\"\n"
    );
    for secret in ["tok-4f9a", "whsec-8c1d", "pw-77c1"] {
        assert!(!err.contains(secret), "{secret} is echoed: {err}");
    }
}

#[test]
fn configuration_errors_of_urls() {
    let err = config_errors(
        "backend = \"http\"\n\
         revoke_url = \"ftp://access.example/{lease_id}\"\n\
         description = \"no url\"\n\
         revoke_methods = \"DELETE\"\n",
    );
    assert_eq!(
        err,
        "jit: error: CONFIG:1:1: [targets.access] needs `url`\n\
         CONFIG:3:14: revoke_url: \"ftp://access.example/{lease_id}\" is not an http:// or https:// URL\n\
         CONFIG:5:1: unknown key `revoke_methods` in [targets.access]; valid keys: backend, description, url, auth, auth_header, signing_secret, timeout, retries, revoke_url, revoke_method\n"
    );
    let err = config_errors("backend = \"http\"\nurl = \"https://access.example/{role\"\n");
    assert_eq!(
        err,
        "jit: error: CONFIG:3:7: url: \"https://access.example/{role\" has a `{` without its `}`\n"
    );
    let err = config_errors("backend = \"http\"\nurl = \"keyring:bad name\"\n");
    assert_eq!(
        err,
        "jit: error: CONFIG:3:7: url: keyring name \"bad name\" may hold only letters, digits and . _ - / @\n"
    );
}

#[test]
fn a_grant_to_a_service_that_cannot_be_reached_is_failed_not_retried() {
    let server = service();
    let w = world(
        &server,
        &format!("retries = 1\n{}", delete_revokes(&server)),
    );
    server.pause();
    crate::crash::assert_reached_nothing(&w, "deploy", "cannot connect");
    server.resume();
    assert_eq!(server.requests().len(), 0, "nothing reached the service");
}
