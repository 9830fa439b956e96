//! Time windows through the CLI, on the file backend: a request outside a role's window is
//! refused (exit 3, the window and the time in its zone named, the refusal in the audit trail
//! with its rule), a break-glass one is granted, an approval that would grant outside the
//! window is refused, and `--dry-run` shows each condition in words and in JSON. jit's clock is
//! moved with `JIT_TEST_CLOCK_OFFSET` to a moment chosen in Berlin's time zone.

use crate::harness::*;
use chrono::{Datelike, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use std::os::unix::fs::PermissionsExt;

fn world() -> World {
    let w = World::empty();
    std::fs::create_dir(w.path("leases")).unwrap();
    std::fs::set_permissions(w.path("leases"), std::fs::Permissions::from_mode(0o700)).unwrap();
    w.write_config(&format!(
        "[identity]\nservice_account = \"{me}\"\n\n\
         [targets.books]\nbackend = \"file\"\ndirectory = \"leases\"\n\n\
         [roles.office]\ntarget = \"books\"\nmax_ttl = \"1h\"\nmax_active = 2\n\
         window = {{ weekdays = [\"mon-fri\"], hours = \"08:00-18:00\", timezone = \"Europe/Berlin\" }}\n\n\
         [roles.checked]\ntarget = \"books\"\nmax_ttl = \"1h\"\n\
         approvals = {{ required = 1, from = [\"user:{approver}\"] }}\n\
         window = {{ weekdays = [\"mon-fri\"], hours = \"08:00-18:00\", timezone = \"Europe/Berlin\" }}\n\n\
         [roles.sos]\ntarget = \"books\"\nmax_ttl = \"1h\"\nbreak_glass = true\n\
         window = {{ weekdays = [\"mon-fri\"], hours = \"08:00-18:00\", timezone = \"Europe/Berlin\" }}\n\n\
         [roles.payout]\ntarget = \"books\"\nmax_ttl = \"1h\"\n\n\
         [[conflicts]]\nroles = [\"office\", \"payout\"]\nreason = \"four eyes\"\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"office\", \"checked\", \"sos\", \"payout\"]\n\
         expires = \"2099-01-01T00:00:00Z\"\n",
        me = me(),
        approver = APPROVER,
    ));
    w
}

/// Seconds from now to the next `weekday` (0: Monday) at `hh:mm:30` in Berlin, for
/// `Jit::later`: half a minute of margin for the command to run.
fn until_next(weekday: u32, hh: u32, mm: u32) -> i64 {
    let now = Utc::now();
    let mut day = now.with_timezone(&Berlin).date_naive() + chrono::Days::new(1);
    while day.weekday().num_days_from_monday() != weekday {
        day = day + chrono::Days::new(1);
    }
    let at = Berlin
        .from_local_datetime(&day.and_hms_opt(hh, mm, 30).unwrap())
        .single()
        .unwrap();
    (at.with_timezone(&Utc) - now).num_seconds()
}

fn files(w: &World) -> usize {
    std::fs::read_dir(w.path("leases")).unwrap().count()
}

/// The audit trail's last record.
fn last_event(w: &World) -> serde_json::Value {
    let trail = w.jit(["audit", "--json"]).run().success().json();
    trail.as_array().unwrap().last().unwrap().clone()
}

#[test]
fn a_request_outside_the_window_is_refused_and_recorded_and_break_glass_is_granted() {
    let w = world();
    let saturday = until_next(5, 10, 12);
    let refused = w
        .jit(["request", "--role", "office", "--ttl", "10m"])
        .later(saturday)
        .run()
        .code(3);
    let why =
        "role \"office\" may be requested only mon-fri 08:00-18:00 Europe/Berlin (now: sat 10:12)";
    assert_eq!(refused.stderr, format!("jit: error: {why}\n"));
    assert_eq!(refused.stdout, "");
    assert!(w.leases().is_empty());
    assert_eq!(files(&w), 0);
    assert_eq!(w.event_count(), 1);
    let denied = last_event(&w);
    assert_eq!(denied["kind"], "denied");
    assert_eq!(denied["lease_id"], serde_json::Value::Null);
    assert_eq!(
        denied["details"],
        serde_json::json!({
            "role": "office", "subject": me(), "by": me(), "rule": "roles.office.window", "reason": why,
        })
    );
    // A dry run says the same and records nothing.
    let dry = w
        .jit(["request", "--role", "office", "--dry-run"])
        .later(saturday)
        .run()
        .code(3);
    assert_eq!(dry.stderr, format!("jit: error: {why}\n"));
    assert_eq!(w.event_count(), 1);

    // Break-glass is granted outside its window, with a reason.
    let sos = w
        .jit([
            "request",
            "--role",
            "sos",
            "--reason",
            "INC-4: outage",
            "--json",
        ])
        .later(saturday)
        .run()
        .success()
        .json();
    assert_eq!(sos["state"], "active");
    assert_eq!(sos["break_glass"], true);
    assert_eq!(files(&w), 1);

    // On a weekday inside the hours, the role is granted.
    let tuesday = until_next(1, 11, 0);
    let office = w
        .jit(["request", "--role", "office", "--ttl", "10m", "--json"])
        .later(tuesday)
        .run()
        .success()
        .json();
    assert_eq!(office["state"], "active");
    w.jit(["audit", "verify"]).run().success();
}

#[test]
fn an_approval_that_would_grant_outside_the_window_is_refused_and_the_request_waits() {
    let w = world();
    let evening = until_next(1, 19, 5);
    let morning = until_next(1, 9, 0);
    let pending = w
        .jit(["request", "--role", "checked", "--json"])
        .later(morning)
        .run()
        .code(4)
        .json();
    let id = pending["id"].as_str().unwrap().to_owned();
    let refused = w
        .jit(["approve", &id])
        .by(APPROVER)
        .later(evening)
        .run()
        .code(3);
    let why =
        "role \"checked\" may be granted only mon-fri 08:00-18:00 Europe/Berlin (now: tue 19:05)";
    assert_eq!(
        refused.stderr,
        format!("jit: error: lease {id} cannot be approved: {why}\n")
    );
    assert_eq!(w.state_of(&id), "pending");
    assert_eq!(files(&w), 0);
    assert_eq!(w.event_kinds(&id), ["requested", "denied"]);
    let denied = &w.lease(&id)["events"][1];
    assert_eq!(denied["actor"], APPROVER);
    assert_eq!(
        denied["details"],
        serde_json::json!({
            "role": "checked", "subject": me(), "by": APPROVER, "rule": "roles.checked.window", "reason": why,
        })
    );
    // Inside the window the same approval grants.
    w.jit(["approve", &id])
        .by(APPROVER)
        .later(morning + 3600)
        .run()
        .success();
    assert_eq!(w.state_of(&id), "active");
    assert_eq!(files(&w), 1);
}

#[test]
fn a_dry_run_shows_each_condition_in_words_and_in_json() {
    let w = world();
    let tuesday = until_next(1, 11, 0);
    w.jit(["request", "--role", "office", "--ttl", "10m"])
        .later(tuesday)
        .run()
        .success();
    let human = w
        .jit(["request", "--role", "office", "--dry-run"])
        .later(tuesday)
        .run()
        .success();
    for row in [
        "window only mon-fri 08:00-18:00 Europe/Berlin",
        "roles.office.window",
        "open (tue 11:00)",
        "expires admits until 2099-01-01T00:00:00Z",
        "eligibility rule #1 expires",
        "conflicts not while holding payout: four eyes",
        "conflicts #1",
        "none held",
        "max_active at most 2 live leases of the role",
        "roles.office.max_active",
        "1 live",
    ] {
        assert!(human.stdout.contains(row), "{row}:\n{}", human.stdout);
    }
    assert!(human.stdout.ends_with("(dry run: nothing was changed)\n"));

    let doc = w
        .jit(["request", "--role", "office", "--dry-run", "--json"])
        .later(tuesday)
        .run()
        .success()
        .json();
    crate::json_contract::conforms(&doc, &["dry-run"]);
    let conditions = doc["conditions"].as_array().unwrap();
    assert_eq!(
        conditions[0],
        serde_json::json!({
            "condition": "only mon-fri 08:00-18:00 Europe/Berlin", "exempt": false, "kind": "window",
            "met": true, "now": "open (tue 11:00)", "rule": "roles.office.window",
        })
    );
    assert_eq!(conditions[1]["kind"], "expires");
    assert_eq!(conditions[1]["expires_at"], "2099-01-01T00:00:00Z");
    assert_eq!(
        conditions[2],
        serde_json::json!({
            "condition": "not while holding payout: four eyes", "exempt": false, "kind": "conflicts",
            "met": true, "now": "none held", "roles": ["payout"], "rule": "conflicts #1",
        })
    );
    assert_eq!(
        conditions[3],
        serde_json::json!({
            "condition": "at most 2 live leases of the role", "exempt": false, "kind": "max_active",
            "limit": 2, "live": 1, "met": true, "now": "1 live", "rule": "roles.office.max_active",
        })
    );
    assert_eq!(conditions.len(), 4);

    // A break-glass role outside its window: shown closed, and exempt.
    let saturday = until_next(5, 10, 12);
    let sos = w
        .jit(["request", "--role", "sos", "--reason", "INC-4", "--dry-run"])
        .later(saturday)
        .run()
        .success();
    assert!(
        sos.stdout
            .contains("closed (sat 10:12): exempt, break-glass"),
        "{}",
        sos.stdout
    );
    assert_eq!(w.event_count(), 2, "dry runs record nothing");
}

#[test]
fn window_errors_in_the_configuration_point_at_the_value() {
    let w = World::empty();
    w.write_config(
        "[targets.t]\nbackend = \"command\"\nprogram = \"/bin/true\"\n\n\
         [roles.x]\ntarget = \"t\"\nmax_ttl = \"1h\"\n\
         window = { weekdays = [\"sat-sun\", \"weekend\"], hours = \"18:00-8:00\", timezone = \"Mars/Olympus\" }\n",
    );
    let run = w.jit(["config", "check"]).run().code(5);
    let config = w.config_path().display().to_string();
    assert_eq!(
        run.stderr,
        format!(
            "jit: error: {config}:8:35: window.weekdays: \"weekend\" is not a day or a range of days; use mon, tue, wed, thu, fri, sat, sun or a range such as \"mon-fri\"\n\
             {config}:8:55: window.hours \"18:00-8:00\" is not a range of times such as \"08:00-18:00\" (HH:MM-HH:MM on a 24-hour clock; an overnight range such as \"22:00-06:00\" runs into the next day)\n\
             {config}:8:80: window.timezone \"Mars/Olympus\" is not an IANA time zone such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"\n"
        )
    );
}
