//! Certification of eligibility rules through the CLI, on the file backend and jit's test
//! clock: an overdue rule is flagged in `jit doctor` and `jit roles`, `review_overdue =
//! "deny"` refuses its requests (exit 3, naming the rule and since when) until `jit review
//! certify`, nobody certifies a rule that covers them, a decertification refuses the next
//! request, and bad input (exit 2) records nothing.

use crate::harness::*;
use crate::json_contract::conforms;
use std::os::unix::fs::PermissionsExt;

const DAY: i64 = 24 * 3600;

fn world() -> World {
    let w = World::empty();
    std::fs::create_dir(w.path("leases")).unwrap();
    std::fs::set_permissions(w.path("leases"), std::fs::Permissions::from_mode(0o700)).unwrap();
    w.write_config(&format!(
        "[identity]\nservice_account = \"{me}\"\n\n\
         [targets.books]\nbackend = \"file\"\ndirectory = \"leases\"\n\n\
         [roles.ledger]\ntarget = \"books\"\nmax_ttl = \"1h\"\n\n\
         [roles.seat]\ntarget = \"books\"\nmax_ttl = \"1h\"\n\n\
         [[eligibility]]\nname = \"ledger-staff\"\nsubjects = [\"user:{me}\", \"user:{requester}\"]\n\
         roles = [\"ledger\"]\nreview_every = \"90d\"\nreview_overdue = \"deny\"\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"seat\"]\n",
        me = me(),
        requester = REQUESTER,
    ));
    w
}

fn files(w: &World) -> usize {
    std::fs::read_dir(w.path("leases")).unwrap().count()
}

fn last_event(w: &World) -> serde_json::Value {
    let trail = w.jit(["audit", "--json"]).run().success().json();
    trail.as_array().unwrap().last().unwrap().clone()
}

#[test]
fn an_overdue_rule_is_flagged_and_refused_until_certified() {
    let w = world();
    // Never certified: flagged in roles and doctor, and its requests refused.
    let roles = w.jit(["roles"]).run().success();
    assert_eq!(
        roles.stderr,
        "note: eligibility rule ledger-staff (ledger) has never been certified (review_every 90d): \
         its requests are refused (review_overdue = \"deny\")\n"
    );
    w.jit(["doctor"]).run().stdout_has(
        "FAIL certification: eligibility rule ledger-staff: never certified (review_every 90d)\n",
    );
    let refused = w
        .jit(["request", "--role", "ledger", "--ttl", "10m"])
        .run()
        .code(3);
    assert_eq!(
        refused.stderr,
        "jit: error: eligibility rule ledger-staff has never been certified (review_every 90d): \
         review_overdue = \"deny\" refuses requests under it until `jit review certify ledger-staff`\n"
    );
    assert!(w.leases().is_empty());
    assert_eq!(files(&w), 0);
    let denied = last_event(&w);
    assert_eq!(denied["kind"], "denied");
    assert_eq!(
        denied["details"]["rule"],
        "eligibility rule ledger-staff review_overdue"
    );
    // The other rule has no review_every: not flagged, not held up.
    w.jit(["request", "--role", "seat", "--ttl", "10m"])
        .run()
        .success();

    // Certified by someone it does not cover: requests pass again.
    let certified = w
        .jit([
            "review",
            "certify",
            "ledger-staff",
            "--reason",
            "Q4 access review",
            "--json",
        ])
        .by(APPROVER)
        .run()
        .success()
        .json();
    conforms(&certified, &["event"]);
    assert_eq!(certified["kind"], "certified");
    assert_eq!(certified["actor"], APPROVER);
    assert_eq!(
        certified["details"],
        serde_json::json!({
            "rule": "ledger-staff", "position": 1,
            "subjects": [format!("user:{}", me()), format!("user:{REQUESTER}")],
            "roles": ["ledger"], "reason": "Q4 access review",
        })
    );
    let at = certified["at"].as_str().unwrap().to_owned();
    w.jit(["request", "--role", "ledger", "--ttl", "10m"])
        .run()
        .success();
    assert_eq!(files(&w), 2);
    let roles = w.jit(["roles"]).run().success();
    assert_eq!(roles.stderr, "");
    w.jit(["doctor"]).run().stdout_has(&format!(
        "ok   certification: eligibility rule ledger-staff: certified {at}, next due "
    ));

    // 91 days on, it is overdue again, and says since when.
    let due = (chrono::DateTime::parse_from_rfc3339(&at).unwrap() + chrono::TimeDelta::days(90))
        .to_utc()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let refused = w
        .jit(["request", "--role", "ledger", "--ttl", "10m"])
        .later(91 * DAY)
        .run()
        .code(3);
    assert_eq!(
        refused.stderr,
        format!(
            "jit: error: eligibility rule ledger-staff is overdue for certification since {due} \
             (review_every 90d; last certified {at}): review_overdue = \"deny\" refuses requests \
             under it until `jit review certify ledger-staff`\n"
        )
    );
    w.jit(["roles"])
        .later(91 * DAY)
        .run()
        .success()
        .stderr_has(&format!("is overdue for certification since {due}"));
    w.jit(["doctor"]).later(91 * DAY).run().stdout_has(&format!(
        "FAIL certification: eligibility rule ledger-staff: overdue since {due}"
    ));
    w.jit(["audit", "verify"]).run().success();
}

#[test]
fn nobody_certifies_a_rule_that_covers_them_and_bad_input_records_nothing() {
    let w = world();
    let refused = w
        .jit([
            "review",
            "certify",
            "ledger-staff",
            "--reason",
            "fine by me",
        ])
        .run()
        .code(3);
    assert_eq!(
        refused.stderr,
        format!(
            "jit: error: {me} may not certify eligibility rule ledger-staff: it covers them (user:{me})\n",
            me = me()
        )
    );
    assert_eq!(w.event_count(), 1);
    let denied = last_event(&w);
    assert_eq!(denied["kind"], "denied");
    assert_eq!(
        denied["details"]["rule"],
        "eligibility rule ledger-staff self-certification"
    );
    // The rule is still never certified.
    w.jit(["request", "--role", "ledger"]).run().code(3);
    let count = w.event_count();

    let bad: [(&[&str], &str); 6] = [
        (
            &["review", "certify", "nope", "--reason", "x"],
            "jit: error: no eligibility rule \"nope\"; the rules are: ledger-staff, #2\n",
        ),
        (
            &["review", "certify", "#1", "--reason", "x"],
            "jit: error: #1 is named \"ledger-staff\": name it so (`jit review certify ledger-staff`)\n",
        ),
        (
            &["review", "certify", "ledger-staff", "--reason", ""],
            "jit: error: --reason is empty: say why\n",
        ),
        (
            &["review", "revoke-eligibility", "#2", "bob", "--reason", "x"],
            "jit: error: \"bob\" is not a subject; use user:NAME or group:NAME\n",
        ),
        (
            &[
                "review",
                "revoke-eligibility",
                "#2",
                "group:ops",
                "--reason",
                "x",
            ],
            "does not name group:ops",
        ),
        (&["review", "certify", "ledger-staff"], "--reason"),
    ];
    for (args, error) in bad {
        let run = w.jit(args).by(APPROVER).run().code(2);
        assert!(run.stderr.contains(error), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "");
    }
    assert_eq!(w.event_count(), count);
}

#[test]
fn a_decertification_refuses_the_next_request() {
    let w = world();
    let lease = w
        .jit(["request", "--role", "seat", "--ttl", "30m", "--json"])
        .run()
        .success()
        .json();
    assert_eq!(lease["state"], "active");
    let subject = format!("user:{}", me());
    let done = w
        .jit([
            "review",
            "revoke-eligibility",
            "#2",
            &subject,
            "--reason",
            "moved to another team",
        ])
        .by(APPROVER)
        .run()
        .success();
    let event = last_event(&w);
    assert_eq!(event["kind"], "decertified");
    assert_eq!(
        done.stdout,
        format!(
            "decertified {subject} under eligibility rule #2: no more requests under it (live leases through it end at the next sweep) (audit event {})\n",
            event["seq"]
        )
    );
    assert_eq!(
        event["details"],
        serde_json::json!({
            "rule": "#2", "position": 2, "subject": subject, "subjects": [subject],
            "roles": ["seat"], "reason": "moved to another team",
        })
    );
    let refused = w
        .jit(["request", "--role", "seat", "--ttl", "10m"])
        .run()
        .code(3);
    assert_eq!(
        refused.stderr,
        format!(
            "jit: error: {me} may no longer request role \"seat\" under eligibility rule #2: \
             {subject} was decertified by {APPROVER} at {at} (moved to another team)\n",
            me = me(),
            at = event["at"].as_str().unwrap(),
        )
    );
    assert_eq!(
        last_event(&w)["details"]["rule"],
        "eligibility rule #2 decertified"
    );
    assert_eq!(files(&w), 1);

    // The next sweep ends the live lease held through the rule, with the cause.
    let id = lease["id"].as_str().unwrap();
    assert_eq!(w.state_of(id), "active");
    let swept = w.jit(["sweep", "--json"]).run().success().json();
    conforms(&swept, &["sweep"]);
    assert_eq!(w.state_of(id), "revoked");
    assert_eq!(files(&w), 0);
    let trail = w
        .jit(["audit", "--lease", id, "--json"])
        .run()
        .success()
        .json();
    let revoked = trail.as_array().unwrap().last().unwrap().clone();
    assert_eq!(revoked["kind"], "revoked");
    assert_eq!(revoked["details"]["recheck"], "decertified");
    assert_eq!(
        revoked["details"]["rule"],
        "eligibility rule #2 decertified"
    );
    assert_eq!(
        revoked["details"]["cause"],
        format!(
            "{me} may no longer hold role \"seat\" under eligibility rule #2: {subject} was \
             decertified by {APPROVER} at {at} (moved to another team)",
            me = me(),
            at = event["at"].as_str().unwrap(),
        )
    );
    w.jit(["audit", "verify"]).run().success();
}

#[test]
fn a_dry_run_shows_the_certification_and_a_warn_rule_still_admits() {
    let w = world();
    let config = std::fs::read_to_string(w.config_path()).unwrap();
    w.write_config(&config.replace(
        "roles = [\"seat\"]\n",
        "roles = [\"seat\"]\nreview_every = \"30d\"\n",
    ));
    let dry = w
        .jit(["request", "--role", "seat", "--dry-run", "--json"])
        .run()
        .success()
        .json();
    conforms(&dry, &["dry-run"]);
    assert_eq!(
        dry["conditions"],
        serde_json::json!([{
            "kind": "certification", "rule": "eligibility rule #2 review_overdue",
            "condition": "certified every 30d (review_overdue = \"warn\")",
            "now": "never certified (review_every 30d)", "met": false, "exempt": true,
        }])
    );
    let events = w.event_count();
    w.jit(["request", "--role", "seat", "--ttl", "10m"])
        .run()
        .success();
    assert_eq!(w.event_count(), events + 2);
    w.jit(["roles"]).run().success().stderr_has(
        "note: eligibility rule #2 (seat) has never been certified (review_every 30d)\n",
    );
}

#[test]
fn the_review_says_when_each_rule_was_certified_and_which_is_overdue() {
    let w = world();
    let rules = |w: &World, later: i64| -> Vec<serde_json::Value> {
        let review = w
            .jit(["review", "--format", "json"])
            .later(later)
            .run()
            .success()
            .json();
        review["eligibility"].as_array().unwrap().clone()
    };
    let before = rules(&w, 0);
    conforms(&before[0], &["review rule"]);
    assert_eq!(before[0]["name"], "eligibility rule ledger-staff");
    assert_eq!(
        before[0]["overdue"], true,
        "never certified: overdue at once"
    );
    assert_eq!(before[0]["last_certified"], serde_json::Value::Null);
    assert_eq!(before[0]["review_every"], "90d");
    assert_eq!(
        before[1]["overdue"], false,
        "no review_every: never overdue"
    );
    assert_eq!(before[1]["review_every"], serde_json::Value::Null);

    let certified = w
        .jit([
            "review",
            "certify",
            "ledger-staff",
            "--reason",
            "Q4",
            "--json",
        ])
        .by(APPROVER)
        .run()
        .success()
        .json();
    let at = certified["at"].as_str().unwrap().to_owned();
    let after = rules(&w, 0);
    assert_eq!(after[0]["last_certified"], at.as_str());
    assert_eq!(after[0]["certified_by"], APPROVER);
    assert_eq!(after[0]["overdue"], false);
    let due = (chrono::DateTime::parse_from_rfc3339(&at).unwrap() + chrono::TimeDelta::days(90))
        .to_utc()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    assert_eq!(after[0]["review_due"], due.as_str());
    // 91 days on, the review flags it again.
    assert_eq!(rules(&w, 91 * DAY)[0]["overdue"], true);
    let html = w
        .jit(["review", "--format", "html"])
        .later(91 * DAY)
        .run()
        .success()
        .stdout;
    assert!(
        html.contains(&format!("by {APPROVER} <span class=bad>(overdue)</span>")),
        "the HTML review flags the overdue rule"
    );
}
