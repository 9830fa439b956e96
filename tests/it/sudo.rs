//! The sudo backend against real sudo: drop-ins in /etc/sudoers.d, seen through `sudo -l` and
//! used through `sudo -n` as the subject. These tests need root, as jit does for sudo roles.

use crate::harness::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn require_root() {
    assert!(
        me() == "root",
        "the sudo backend tests need root (jit writes /etc/sudoers.d)"
    );
}

fn sudo_world(grant: &str, target_extra: &str) -> World {
    let w = World::empty();
    w.write_config(&format!(
        "[identity]\nservice_account = \"{me}\"\n\n[targets.local]\nbackend = \"sudo\"\n{target_extra}\n\n\
         [roles.ops]\ntarget = \"local\"\nmax_ttl = \"1h\"\ngrant = {grant}\n\n\
         [[eligibility]]\nsubjects = [\"user:{REQUESTER}\"]\nroles = [\"*\"]\n",
        me = me(),
    ));
    w
}

fn sudo_list() -> String {
    let output = Command::new("sudo")
        .args(["-l", "-U", REQUESTER])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Run `command` through `sudo -n` as the subject, the way they would.
fn sudo_as_subject(command: &[&str]) -> bool {
    Command::new("setpriv")
        .args([
            &format!("--reuid={REQUESTER}"),
            &format!("--regid={REQUESTER}"),
            "--init-groups",
            "sudo",
            "-n",
        ])
        .args(command)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn sudo_shows_the_grant_during_the_lease_and_not_after_revoke() {
    require_root();
    // A command no other run grants: /usr/bin/test with an argument of this run's own.
    let unique = format!("jit-test-{}", std::process::id());
    let grant = format!(
        "{{ commands = [\"/usr/bin/test -n {unique}\", \"/usr/bin/printf %s {unique},b:c=d\"], nopasswd = true }}"
    );
    let w = sudo_world(&grant, "");
    let lease = w
        .jit(["request", "--role", "ops", "--ttl", "20m", "--json"])
        .by(REQUESTER)
        .run()
        .success()
        .json();
    let id = lease["id"].as_str().unwrap();
    let drop_in = std::path::Path::new("/etc/sudoers.d").join(format!("jit-{id}"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&drop_in).unwrap().permissions().mode() & 0o777,
        0o440
    );
    // Escaped in the file, the command still matches as the user types it.
    let with_separators = format!("{unique},b:c=d");
    assert!(sudo_as_subject(&[
        "/usr/bin/printf",
        "%s",
        &with_separators
    ]));
    let listed = sudo_list();
    assert!(
        listed.contains(&format!("/usr/bin/test -n {unique}")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("{unique}\\,b\\:c\\=d")),
        "escaped for sudoers: {listed}"
    );
    assert!(listed.contains("NOTAFTER="), "{listed}");
    assert!(
        sudo_as_subject(&["/usr/bin/test", "-n", &unique]),
        "the subject may run the granted command"
    );

    w.jit(["revoke", id]).by(REQUESTER).run().success();
    assert!(!drop_in.exists());
    assert!(!sudo_list().contains(&unique));
    assert!(!sudo_as_subject(&["/usr/bin/test", "-n", &unique]));
}

#[test]
fn sudo_refuses_the_command_after_the_end_without_jit() {
    require_root();
    let w = sudo_world("{ commands = [\"/usr/bin/true\"], nopasswd = true }", "");
    let lease = w
        .jit(["request", "--role", "ops", "--ttl", "3s", "--json"])
        .by(REQUESTER)
        .run()
        .success()
        .json();
    assert!(sudo_as_subject(&["/usr/bin/true"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while sudo_as_subject(&["/usr/bin/true"]) {
        assert!(
            Instant::now() < deadline,
            "sudo still allows the command after NOTAFTER"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let id = lease["id"].as_str().unwrap();
    assert_eq!(w.state_of(id), "active", "sudo enforced the end itself");
    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: expired"));
    assert!(
        !std::path::Path::new("/etc/sudoers.d")
            .join(format!("jit-{id}"))
            .exists()
    );
}

#[test]
fn an_invalid_drop_in_is_never_installed() {
    require_root();
    let w = World::empty();
    std::fs::create_dir(w.path("sudoers.d")).unwrap();
    // A checker that refuses everything stands in for visudo finding a fault.
    let extra = format!(
        "directory = \"{}\"\nvisudo = \"/bin/false\"",
        w.path("sudoers.d").display()
    );
    let config = sudo_world("{ commands = [\"/usr/bin/true\"] }", &extra);
    std::fs::copy(config.config_path(), w.config_path()).unwrap();
    w.jit(["request", "--role", "ops"])
        .by(REQUESTER)
        .run()
        .code(1)
        .stderr_has("visudo refused the drop-in");
    assert_eq!(
        std::fs::read_dir(w.path("sudoers.d")).unwrap().count(),
        0,
        "nothing installed, nothing left behind"
    );
    assert_eq!(w.leases()[0]["state"], "failed");
}

#[test]
fn hostile_commands_are_refused() {
    for command in [
        "usr/bin/true",
        "/usr/bin/true # comment",
        "/usr/bin/true\nALL ALL=(ALL) ALL",
        "/bin/cat /var/log/app/*",
        "/usr/bin/printf %s\\n",
    ] {
        let grant = format!(
            "{{ commands = [{}] }}",
            serde_json::to_string(command).unwrap()
        );
        let w = sudo_world(&grant, "");
        w.jit(["config", "check"])
            .run()
            .code(5)
            .stderr_has("grant.commands");
    }
}

#[test]
fn a_drop_in_left_unchecked_by_a_killed_jit_is_removed_by_sweep() {
    require_root();
    use std::os::unix::fs::PermissionsExt;
    let w = World::empty();
    std::fs::create_dir(w.path("sudoers.d")).unwrap();
    // A checker that is slow: jit is killed while it runs.
    let marker = w.path("checking");
    let visudo = w.path("slow-visudo");
    std::fs::write(
        &visudo,
        format!("#!/bin/sh\n: > \"{}\"\nsleep 30\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&visudo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let extra = format!(
        "directory = \"{}\"\nvisudo = \"{}\"",
        w.path("sudoers.d").display(),
        visudo.display()
    );
    let config = sudo_world("{ commands = [\"/usr/bin/true\"] }", &extra);
    std::fs::copy(config.config_path(), w.config_path()).unwrap();
    let mut jit = w.jit(["request", "--role", "ops"]).by(REQUESTER).spawn();
    crate::crash::await_that("visudo to check the drop-in", || marker.exists());
    jit.kill().unwrap();
    jit.wait().unwrap();
    assert_eq!(std::fs::read_dir(w.path("sudoers.d")).unwrap().count(), 1);
    let id = w.leases()[0]["id"].as_str().unwrap().to_owned();
    w.jit(["sweep"])
        .run()
        .success()
        .stdout_has(&format!("{id}: failed"));
    assert_eq!(
        std::fs::read_dir(w.path("sudoers.d")).unwrap().count(),
        0,
        "nothing left behind"
    );
}

/// Run jit as `account` through real sudo, from a session keyring of its own (a new login
/// session of the caller, as pam_keyinit gives one): under sudo that keyring is the caller's.
fn in_new_session_through_sudo(w: &World, account: &str, args: &[&str], stdin: &str) -> Run {
    use std::io::Write;
    // keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): a new anonymous session keyring.
    let keyctl = if cfg!(target_arch = "aarch64") {
        219
    } else {
        250
    };
    let mut child = Command::new("perl")
        .args([
            "-e",
            &format!("syscall({keyctl}, 1, 0) >= 0 or die qq(keyctl: $!); exec @ARGV or die"),
            "sudo",
            "-n",
            "-u",
            account,
            "env",
            &format!("JIT_CONFIG={}", w.config_path().display()),
            &format!("JIT_STATE_DIR={}", w.state_dir().display()),
            &format!("HOME={}", w.dir.path().display()),
            "NO_COLOR=1",
            JIT,
        ])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    Run::from(child.wait_with_output().unwrap())
}

#[test]
fn a_keyring_secret_under_sudo_is_the_service_accounts() {
    require_root();
    let account = "daemon";
    let w = World::empty();
    let name = format!("jit-sudo-test-{}", std::process::id());
    let config = w
        .default_config()
        .replace(
            &format!("service_account = \"{}\"", me()),
            &format!("service_account = \"{account}\""),
        )
        .replace(
            "[roles.db-admin]",
            &format!("env = {{ K_TOKEN = \"keyring:{name}\" }}\n\n[roles.db-admin]"),
        );
    w.write_config(&config);
    let uid = nix::unistd::User::from_name(account)
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    for path in [w.dir.path().to_path_buf(), w.config_path()] {
        std::os::unix::fs::chown(&path, Some(uid), None).unwrap();
    }

    // The secret is set in one login session, and used from others.
    in_new_session_through_sudo(&w, account, &["secret", "set", &name], "k3yr1ng\n")
        .success()
        .stdout_has(&format!("stored keyring:{name}"));
    let lease = in_new_session_through_sudo(
        &w,
        account,
        &["request", "--role", "web-root", "--json"],
        "",
    )
    .success()
    .json();
    assert_eq!(lease["state"], "active");
    assert_eq!(lease["requester"], "root");
    let id = lease["id"].as_str().unwrap();
    in_new_session_through_sudo(&w, account, &["revoke", id], "").success();
    assert_eq!(w.grants(), serde_json::json!({}));
    in_new_session_through_sudo(&w, account, &["doctor"], "")
        .success()
        .stdout_has(
            "ok   keyring: Linux kernel keyutils, user keyring (the session keyring is another user's, as under sudo)",
        )
        .stdout_has(&format!(
            "ok   target files: secret env.K_TOKEN: keyring:{name} resolves"
        ));
    in_new_session_through_sudo(&w, account, &["secret", "delete", &name], "").success();
}
