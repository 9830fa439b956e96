//! The ssh backend against a real sshd: every proof is a login with the real `ssh` client.

use crate::harness::*;
use crate::sshd::Sshd;
use std::time::{Duration, Instant};

fn ssh_world(sshd: &Sshd, grant: &str) -> World {
    let w = World::empty();
    w.write_config(&format!(
        "[targets.hosts]\nbackend = \"ssh\"\nmode = \"certificate\"\nca_key = \"file:{ca}\"\nkrl = \"{krl}\"\n\n\
         [roles.shell]\ntarget = \"hosts\"\nmax_ttl = \"1h\"\ngrant = {grant}\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        ca = sshd.path("ca").display(),
        krl = sshd.path("revoked.krl").display(),
        me = me(),
    ));
    w
}

fn principals() -> String {
    format!("{{ principals = [\"{}\"] }}", me())
}

fn request(w: &World, sshd: &Sshd, ttl: &str) -> (String, std::path::PathBuf) {
    let out = w.path("user-cert.pub");
    let key = sshd.path("user.pub");
    let lease = w
        .jit([
            "request",
            "--role",
            "shell",
            "--ttl",
            ttl,
            "--json",
            "--pubkey",
            key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .run()
        .success()
        .json();
    (lease["id"].as_str().unwrap().to_owned(), out)
}

#[test]
fn the_certificate_is_refused_after_its_end_without_jit() {
    let sshd = Sshd::start();
    let w = ssh_world(&sshd, &principals());
    let (id, certificate) = request(&w, &sshd, "3s");
    assert!(sshd.login(&me(), &certificate).status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while sshd.login(&me(), &certificate).status.success() {
        assert!(
            Instant::now() < deadline,
            "the certificate still logs in after its end"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        w.state_of(&id),
        "active",
        "no jit process ended it: the certificate did"
    );
}

#[test]
fn only_the_named_principals_may_log_in() {
    let sshd = Sshd::start();
    let w = ssh_world(&sshd, "{ principals = [\"nobody-else\"] }");
    let (_, certificate) = request(&w, &sshd, "10m");
    assert!(!sshd.login(&me(), &certificate).status.success());
}

#[test]
fn hostile_principals_and_commands_are_refused() {
    let sshd = Sshd::start();
    for grant in [
        "{ principals = [\"root,admin\"] }",
        "{ principals = [\"root admin\"] }",
        "{ principals = [\"root\"], force_command = \"true\\nrm -rf /\" }",
        "{ principals = [\"root\"], source_address = [\"10.0.0.0/99\"] }",
        "{ principals = [\"root\"], extensions = [\"permit-everything\"] }",
    ] {
        let w = ssh_world(&sshd, grant);
        w.jit(["config", "check"]).run().code(5);
    }
    // A hostile key comment never reaches the certificate: only the key is certified.
    let w = ssh_world(&sshd, &principals());
    let key = std::fs::read_to_string(sshd.path("user.pub")).unwrap();
    let mut parts = key.split_whitespace();
    let hostile = format!(
        "{} {} evil\"; rm -rf /\n",
        parts.next().unwrap(),
        parts.next().unwrap()
    );
    std::fs::write(w.path("hostile.pub"), hostile).unwrap();
    let out = w.path("cert.pub");
    w.jit([
        "request",
        "--role",
        "shell",
        "--pubkey",
        w.path("hostile.pub").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .run()
    .success();
    assert!(sshd.login(&me(), &out).status.success());
    // Not a key at all: refused before anything is recorded.
    std::fs::write(w.path("junk.pub"), "not a key").unwrap();
    w.jit([
        "request",
        "--role",
        "shell",
        "--pubkey",
        w.path("junk.pub").to_str().unwrap(),
    ])
    .run()
    .code(2)
    .stderr_has("not an OpenSSH public key");
    assert_eq!(w.leases().len(), 1);
}

#[test]
fn init_writes_a_starter_that_issues_a_real_certificate() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::empty();
    w.jit(["init"])
        .run()
        .success()
        .stdout_has("with a local SSH certificate authority");
    let dir = w.dir.path();
    for (file, mode) in [
        ("config.toml", 0o600),
        ("ssh_ca", 0o600),
        ("ssh_ca.pub", 0o644),
    ] {
        let meta = std::fs::metadata(dir.join(file)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
    }
    w.jit(["init"])
        .run()
        .code(2)
        .stderr_has("does not overwrite");
    // sshd refuses every key while RevokedKeys names a missing file: init writes an empty one.
    assert_eq!(std::fs::read(dir.join("revoked.krl")).unwrap(), b"");
    // A dry run needs no key.
    w.jit([
        "request",
        "--role",
        "ssh-demo",
        "--ticket",
        "DEMO-1",
        "--dry-run",
    ])
    .run()
    .success();
    w.jit(["config", "check"]).run().success();

    // The key is ~/.ssh/id_ed25519.pub where the user has one, else the one init made.
    let out = w.path("demo-cert.pub");
    w.jit([
        "request",
        "--role",
        "ssh-demo",
        "--ttl",
        "15m",
        "--ticket",
        "DEMO-1",
        "--out",
        out.to_str().unwrap(),
    ])
    .run()
    .success();
    let shown = std::process::Command::new("ssh-keygen")
        .arg("-L")
        .arg("-f")
        .arg(&out)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(shown.contains("user certificate"), "{shown}");
    assert!(
        shown.contains(&format!("Principals: \n                {}", me())),
        "{shown}"
    );
    assert!(shown.contains("Key ID: \"jit:"), "{shown}");

    w.jit(["revoke", "--mine"]).run().success();
    let checked = std::process::Command::new("ssh-keygen")
        .arg("-Q")
        .arg("-f")
        .arg(dir.join("revoked.krl"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&checked.stdout).contains("REVOKED"));
}

fn authorized_keys_world(sshd: &Sshd, ttl_cap: &str) -> World {
    let w = World::empty();
    w.write_config(&format!(
        "[targets.local]\nbackend = \"ssh\"\nmode = \"authorized-keys\"\nauthorized_keys = \"{keys}\"\n\n\
         [roles.login]\ntarget = \"local\"\nmax_ttl = \"{ttl_cap}\"\ngrant = {{ account = \"{me}\", extensions = [\"permit-pty\"] }}\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        keys = sshd.path("authorized_keys_%u").display(),
        me = me(),
    ));
    w
}

#[test]
fn authorized_keys_logs_in_and_revoke_removes_only_its_line() {
    let sshd = Sshd::start_with("%d/authorized_keys_%u");
    let file = sshd.path(&format!("authorized_keys_{}", me()));
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKeyOth someone-else\n";
    std::fs::write(&file, other).unwrap();
    let w = authorized_keys_world(&sshd, "1h");
    assert!(
        !sshd.login_with_key(&me()).status.success(),
        "no access before the lease"
    );

    let lease = w
        .jit([
            "request",
            "--role",
            "login",
            "--json",
            "--pubkey",
            sshd.path("user.pub").to_str().unwrap(),
        ])
        .run()
        .success()
        .json();
    let id = lease["id"].as_str().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with(other),
        "the other line is untouched: {text}"
    );
    let line = text.lines().last().unwrap();
    assert!(line.starts_with("expiry-time=\""), "{line}");
    assert!(line.ends_with(&format!(" jit:{id}")), "{line}");
    let login = sshd.login_with_key(&me());
    assert!(
        login.status.success(),
        "login refused: {}\n{}",
        String::from_utf8_lossy(&login.stderr),
        sshd.log()
    );

    w.jit(["revoke", id]).run().success();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        other,
        "only jit's line is gone"
    );
    assert!(!sshd.login_with_key(&me()).status.success());
    w.jit(["revoke", id])
        .run()
        .success()
        .stdout_has("already revoked");
}

#[test]
fn authorized_keys_expire_without_jit() {
    let sshd = Sshd::start_with("%d/authorized_keys_%u");
    let w = authorized_keys_world(&sshd, "1h");
    let lease = w
        .jit([
            "request",
            "--role",
            "login",
            "--ttl",
            "3s",
            "--json",
            "--pubkey",
            sshd.path("user.pub").to_str().unwrap(),
        ])
        .run()
        .success()
        .json();
    assert!(sshd.login_with_key(&me()).status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while sshd.login_with_key(&me()).status.success() {
        assert!(
            Instant::now() < deadline,
            "the key still logs in after expiry-time"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        w.state_of(lease["id"].as_str().unwrap()),
        "active",
        "sshd enforced the end itself"
    );
}

#[test]
fn a_role_that_asks_for_it_adds_the_certificate_to_the_agent() {
    let sshd = Sshd::start();
    let w = ssh_world(
        &sshd,
        &format!("{{ principals = [\"{}\"], agent = true }}", me()),
    );
    let socket = w.path("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "ssh-agent did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The key pair lives beside the public key; the certificate goes beside it too.
    let key = w.path("id_ed25519");
    std::fs::copy(sshd.path("user"), &key).unwrap();
    std::fs::copy(sshd.path("user.pub"), w.path("id_ed25519.pub")).unwrap();
    w.jit([
        "request",
        "--role",
        "shell",
        "--ttl",
        "10m",
        "--pubkey",
        w.path("id_ed25519.pub").to_str().unwrap(),
    ])
    .env("SSH_AUTH_SOCK", &socket)
    .run()
    .success()
    .stderr_has("added to the ssh-agent for");
    let listed = std::process::Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    agent.kill().unwrap();
    let _ = agent.wait();
    assert!(listed.contains("ED25519-CERT"), "{listed}");
}

#[test]
fn init_refuses_a_link_where_the_schema_goes_and_writes_nothing() {
    let w = World::empty();
    let decoy = w.path("decoy");
    std::fs::write(&decoy, "decoy\n").unwrap();
    let schema = w.path("config.schema.json");
    std::os::unix::fs::symlink(&decoy, &schema).unwrap();
    let refused = format!(
        "jit: error: {} is a symbolic link; jit init writes the configuration's schema there and does not write through a link: move it away\n",
        schema.display()
    );
    for args in [&["init"][..], &["init", "--force"]] {
        let run = w.jit(args).run().code(2);
        assert_eq!(run.stderr, refused);
        assert_eq!(run.stdout, "");
        let mut names: Vec<String> = std::fs::read_dir(w.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["config.schema.json", "decoy"]);
        assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "decoy\n");
    }
    std::fs::remove_file(&schema).unwrap();
    w.jit(["init"]).run().success();
    assert!(
        !std::fs::symlink_metadata(&schema)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "decoy\n");
}

#[test]
fn init_after_the_configuration_went_keeps_the_certificate_authority() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::empty();
    w.jit(["init"]).run().success();
    let ca = w.path("ssh_ca");
    let before = std::fs::read(&ca).unwrap();
    let key = std::fs::read(w.path("id_ed25519")).unwrap();
    std::fs::remove_file(w.config_path()).unwrap();
    w.jit(["init"])
        .run()
        .success()
        .stdout_has(&format!(
            "\nkept the existing certificate authority {}\n",
            ca.display()
        ))
        .stdout_has("kept the key to certify");
    assert_eq!(std::fs::read(&ca).unwrap(), before, "hosts may trust it");
    assert_eq!(std::fs::read(w.path("id_ed25519")).unwrap(), key);
    w.jit(["config", "check"]).run().success();

    // One others could read is not reused, and nothing is written.
    std::fs::remove_file(w.config_path()).unwrap();
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = w.jit(["init"]).run().code(2);
    assert_eq!(
        run.stderr,
        format!(
            "jit: error: {} exists and is kept, but others may read it (mode 0644, not 0600), so jit init does not reuse it: chmod 600 it if nobody else read it, else move it away, or run `jit init --force` to replace it\n",
            ca.display()
        )
    );
    assert!(!w.config_path().exists());
    assert_eq!(std::fs::read(&ca).unwrap(), before);

    std::fs::write(&ca, "not a key\n").unwrap();
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o600)).unwrap();
    w.jit(["init"])
        .run()
        .code(2)
        .stderr_has("exists and is kept, but it is not an OpenSSH private key (");
    assert!(!w.config_path().exists());

    // A link is never followed to a key elsewhere.
    let elsewhere = w.path("elsewhere");
    std::fs::rename(&ca, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &ca).unwrap();
    let run = w.jit(["init"]).run().code(2);
    assert_eq!(
        run.stderr,
        format!(
            "jit: error: {} exists and is kept, but it is a symbolic link, so jit init does not reuse it: move it away, or run `jit init --force` to replace it\n",
            ca.display()
        )
    );
    assert!(!w.config_path().exists());
    std::fs::remove_file(&ca).unwrap();
    w.jit(["init", "--force"]).run().success();
    assert_ne!(std::fs::read(&ca).unwrap(), b"not a key\n");
}
