//! Crash safety (SPEC §7): a process killed at any point leaves nothing that `jit sweep`
//! does not find and remove. The fault points exist only in debug builds.

use crate::harness::*;

fn killed_request(w: &World, point: &str) -> String {
    let run = w
        .jit(["request", "--role", "web-root"])
        .env("JIT_FAULT", point)
        .run();
    assert_eq!(
        run.code, None,
        "jit should have been killed at {point}: {run:?}"
    );
    let granting: Vec<_> = w
        .leases()
        .into_iter()
        .filter(|l| l["state"] == "granting")
        .collect();
    assert_eq!(
        granting.len(),
        1,
        "recorded as granting before the backend was called"
    );
    granting[0]["id"].as_str().unwrap().to_owned()
}

#[test]
fn killed_after_the_grant_before_active_is_reconciled() {
    let w = World::new();
    let id = killed_request(&w, "after-grant");
    assert_eq!(w.grant_keys().len(), 1, "the target holds the grant");

    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: failed"));
    assert!(
        w.grant_keys().is_empty(),
        "sweep removed what the dead process granted"
    );
    assert_eq!(w.state_of(&id), "failed");
    assert_eq!(w.event_kinds(&id), ["requested", "reconciled"]);
    assert_eq!(w.lease(&id)["events"][1]["details"]["found"], "present");
    w.jit(["audit", "verify"]).run().success();
    // A second sweep finds nothing more to do.
    w.jit(["sweep"]).run().success().stdout_is("");
}

#[test]
fn killed_before_the_grant_is_reconciled() {
    let w = World::new();
    let id = killed_request(&w, "before-grant");
    assert!(w.grant_keys().is_empty());
    w.jit(["sweep"]).run().success();
    assert_eq!(w.state_of(&id), "failed");
    assert!(w.grant_keys().is_empty());
    // The target was asked first: nothing there, nothing to revoke.
    assert_eq!(w.lease(&id)["events"][1]["details"]["found"], "absent");
}

#[test]
fn killed_during_revoke_is_finished_by_sweep() {
    let w = World::new();
    let id = w.granted("web-root", &[]);
    let run = w
        .jit(["revoke", &id])
        .env("JIT_FAULT", "after-revoke")
        .run();
    assert_eq!(run.code, None);
    assert_eq!(w.state_of(&id), "revoking");
    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: revoked"));
    assert_eq!(w.state_of(&id), "revoked");
    assert!(w.grant_keys().is_empty());
}

#[test]
fn a_reconciled_grant_does_not_take_away_a_live_lease() {
    let w = World::new();
    let live = w.granted("web-root", &["--ttl", "30m"]);
    let dead = killed_request(&w, "after-grant");
    w.jit(["sweep"]).run().success();
    assert_eq!(w.state_of(&dead), "failed");
    assert_eq!(w.state_of(&live), "active");
    assert_eq!(
        w.grant_keys(),
        vec![format!("web-root/{}", me())],
        "the live lease still covers it"
    );
}

/// A program that hands its grant to a process it leaves running: it reads the request,
/// starts a subshell that grants through the fixture after `pause`, records that
/// subshell's pid beside `marker`, creates `marker`, and waits. Other ops go to the
/// fixture straight away.
pub fn slow_program(w: &World, marker: &std::path::Path, pause: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = w.path("slow-grant");
    std::fs::write(
        &path,
        format!(
            r#"#!/bin/sh
request=$(cat)
case "$request" in
*'"op":"grant"'*) ;;
*) printf '%s' "$request" | "{fixture}" "$@"; exit ;;
esac
( sleep {pause}; printf '%s' "$request" | "{fixture}" "$@" ) &
echo $! > "{marker}.pid"
: > "{marker}"
wait
"#,
            fixture = fixture().display(),
            marker = marker.display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The `slow` target and role, granting through [`slow_program`].
pub fn slow_target(w: &World, program: &std::path::Path) -> String {
    format!(
        "\n[targets.slow]\nbackend = \"command\"\nprogram = \"{}\"\nargs = [\"{}\"]\n\n\
         [roles.slow]\ntarget = \"slow\"\nmax_ttl = \"1h\"\n",
        program.display(),
        w.path("grants.json").display()
    )
}

/// Wait for `done`, at most 60 s.
#[track_caller]
pub fn await_that(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// Whether process `pid` still runs (a zombie does not: it can do nothing more).
pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        !matches!(state, Some("Z" | "X") | None)
    })
}

/// The pid [`slow_program`] recorded for the subshell that grants.
pub fn granter(marker: &std::path::Path) -> i32 {
    let mut pid_file = marker.as_os_str().to_owned();
    pid_file.push(".pid");
    std::fs::read_to_string(pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn what_a_killed_jit_left_running_is_ended_before_the_grant_is_judged() {
    let w = World::new();
    let marker = w.path("started");
    let program = slow_program(&w, &marker, "3");
    w.write_config(&format!(
        "{}{}",
        w.default_config(),
        slow_target(&w, &program)
    ));
    let mut jit = w.jit(["request", "--role", "slow"]).spawn();
    await_that("the program to have its request", || marker.exists());
    let granter = granter(&marker);
    assert!(running(granter));
    jit.kill().unwrap();
    jit.wait().unwrap();
    let id = w.leases()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(w.state_of(&id), "granting");

    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: failed"));
    assert!(
        !running(granter),
        "the process the program left running was ended before the target was asked"
    );
    assert_eq!(w.state_of(&id), "failed");
    assert_eq!(w.event_kinds(&id), ["requested", "reconciled"]);
    assert_eq!(w.lease(&id)["events"][1]["details"]["found"], "absent");
    // Past the time the grant would have landed: nothing did.
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(w.grants(), serde_json::json!({}));
    w.jit(["sweep"]).run().success().stdout_is("");
    w.jit(["audit", "verify"]).run().success();
}

#[test]
fn a_program_jit_started_dies_with_it() {
    // The program itself grants after a pause: killed with jit, it never does.
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let marker = w.path("started");
    let program = w.path("pause-then-grant");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\nrequest=$(cat)\necho $$ > \"{marker}.pid\"\n: > \"{marker}\"\n\
             case \"$request\" in *'\"op\":\"grant\"'*) sleep 3 ;; esac\n\
             printf '%s' \"$request\" | \"{fixture}\" \"$@\"\n",
            marker = marker.display(),
            fixture = fixture().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    w.write_config(&format!(
        "{}{}",
        w.default_config(),
        slow_target(&w, &program)
    ));
    let mut jit = w.jit(["request", "--role", "slow"]).spawn();
    await_that("the program to have its request", || marker.exists());
    let pid = granter(&marker);
    jit.kill().unwrap();
    jit.wait().unwrap();
    await_that("the program to die with jit", || !running(pid));
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(w.grants(), serde_json::json!({}));
}

/// A request of `role` whose grant reached nothing: exit 1 with `error` said, the lease
/// `failed` at once (no clean-up, no retry), nothing live, and nothing for a sweep to do
/// (now or an hour later). The lease's id.
#[track_caller]
pub fn assert_reached_nothing(w: &World, role: &str, error: &str) -> String {
    w.jit(["request", "--role", role])
        .run()
        .code(1)
        .stderr_has(error);
    let leases = w.leases();
    assert_eq!(leases.len(), 1);
    let id = leases[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(leases[0]["state"], "failed");
    assert_eq!(w.event_kinds(&id), ["requested", "grant-failed"]);
    let failed = &w.lease(&id)["events"][1]["details"];
    assert!(failed.get("cleanup_error").is_none(), "{failed}");
    w.jit(["list", "--json"]).run().success().stdout_is("[]\n");
    w.jit(["sweep"]).run().success().stdout_is("");
    w.jit(["sweep"]).later(3600).run().success().stdout_is("");
    assert_eq!(w.event_kinds(&id), ["requested", "grant-failed"]);
    id
}

#[test]
fn a_secret_the_program_needs_that_cannot_be_read_fails_the_grant_and_runs_nothing() {
    let w = World::new();
    let marker = w.path("ran");
    let program = w.path("never-run");
    std::fs::write(
        &program,
        format!("#!/bin/sh\n: > \"{}\"\nexit 1\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    w.write_config(&format!(
        "{}\n[targets.locked]\nbackend = \"command\"\nprogram = \"{}\"\nenv = {{ TOKEN = \"env:JIT_TEST_UNSET_TOKEN\" }}\n\n\
         [roles.locked]\ntarget = \"locked\"\nmax_ttl = \"1h\"\n",
        w.default_config(),
        program.display()
    ));
    assert_reached_nothing(&w, "locked", "JIT_TEST_UNSET_TOKEN");
    assert!(!marker.exists(), "the program never ran");
}
