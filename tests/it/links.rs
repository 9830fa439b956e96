//! jit running as root never follows a link, nor writes into a directory, that someone else
//! controls: the account's own `~/.ssh` in authorized-keys mode, the requester's `~/.ssh` for a
//! certificate under sudo, the KRL's directory, the sudoers drop-in directory. Each planted
//! link is refused with exit 1 and a message naming the path, and the root-owned decoy it
//! points to stays byte-identical with its owner, group and mode.
//!
//! These tests need root (as jit does for these roles): the account whose directory it is
//! must be another one.

use crate::harness::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The account whose `authorized_keys` jit writes (an unprivileged system account).
const ACCOUNT: &str = REQUESTER;

fn require_root() {
    assert!(me() == "root", "the link tests need root, as jit does here");
}

fn user(name: &str) -> nix::unistd::User {
    nix::unistd::User::from_name(name).unwrap().unwrap()
}

/// Hand `path` (a link itself, never what it points to) to `name`.
fn give(path: &Path, name: &str) {
    let account = user(name);
    std::os::unix::fs::lchown(path, Some(account.uid.as_raw()), Some(account.gid.as_raw()))
        .unwrap();
}

fn mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A root-only directory (0700) holding a root-only file (0600), as /root/.ssh would.
struct Decoy {
    dir: tempfile::TempDir,
}

/// What must not change about a decoy file: its bytes, owner, group and mode.
#[derive(Debug, PartialEq)]
struct Snapshot {
    bytes: Vec<u8>,
    uid: u32,
    gid: u32,
    mode: u32,
}

impl Decoy {
    fn new() -> Decoy {
        let dir = tempfile::tempdir().unwrap();
        mode(dir.path(), 0o700);
        let decoy = Decoy { dir };
        decoy.plant(
            "authorized_keys",
            "root's own key line: never to be read or moved\n",
        );
        decoy
    }

    fn plant(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        mode(&path, 0o600);
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn snapshot(&self) -> Vec<(String, Snapshot)> {
        let mut files: Vec<(String, Snapshot)> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let meta = std::fs::symlink_metadata(entry.path()).unwrap();
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    Snapshot {
                        bytes: std::fs::read(entry.path()).unwrap(),
                        uid: meta.uid(),
                        gid: meta.gid(),
                        mode: meta.mode(),
                    },
                )
            })
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files
    }
}

fn ssh_keygen(path: &Path) {
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
}

/// A world whose authorized-keys target writes `<world>/homes/%u/.ssh/authorized_keys`, with
/// `homes/ACCOUNT` owned by the account (0755): the account's own directory.
struct Keys {
    w: World,
}

impl Keys {
    fn new() -> Keys {
        require_root();
        let w = World::empty();
        let homes = w.path("homes");
        std::fs::create_dir(&homes).unwrap();
        let home = homes.join(ACCOUNT);
        std::fs::create_dir(&home).unwrap();
        give(&home, ACCOUNT);
        ssh_keygen(&w.path("key"));
        w.write_config(&format!(
            "[targets.local]\nbackend = \"ssh\"\nmode = \"authorized-keys\"\nauthorized_keys = \"{homes}/%u/.ssh/authorized_keys\"\n\n\
             [roles.deploy-login]\ntarget = \"local\"\nmax_ttl = \"1h\"\ngrant = {{ account = \"{ACCOUNT}\" }}\n\n\
             [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
            homes = homes.display(),
            me = me(),
        ));
        Keys { w }
    }

    /// The account's `~/.ssh` (0700, theirs).
    fn ssh_dir(&self) -> PathBuf {
        let dir = self.w.path("homes").join(ACCOUNT).join(".ssh");
        if !dir.exists() {
            std::fs::create_dir(&dir).unwrap();
            mode(&dir, 0o700);
            give(&dir, ACCOUNT);
        }
        dir
    }

    fn request(&self) -> Run {
        self.w
            .jit([
                "request",
                "--role",
                "deploy-login",
                "--pubkey",
                self.w.path("key.pub").to_str().unwrap(),
            ])
            .run()
    }

    /// Refused with exit 1, naming `path`; the lease failed and nothing is held.
    fn refused(&self, path: &Path, why: &str) {
        self.request()
            .code(1)
            .stderr_has(&format!("refusing {}: {why}", path.display()));
        let leases = self.w.leases();
        assert_eq!(leases.len(), 1);
        assert_eq!(leases[0]["state"], "failed", "{leases:?}");
    }
}

#[test]
fn authorized_keys_goes_to_the_account_with_its_owner_and_mode() {
    let keys = Keys::new();
    // No ~/.ssh yet: jit makes it, the account's and 0700.
    let lease = keys.request().success();
    let _ = lease;
    let dir = keys.w.path("homes").join(ACCOUNT).join(".ssh");
    let account = user(ACCOUNT);
    let meta = std::fs::symlink_metadata(&dir).unwrap();
    assert!(meta.is_dir());
    assert_eq!(
        (meta.uid(), meta.mode() & 0o7777),
        (account.uid.as_raw(), 0o700)
    );
    let file = dir.join("authorized_keys");
    let meta = std::fs::symlink_metadata(&file).unwrap();
    assert!(meta.is_file());
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (account.uid.as_raw(), account.gid.as_raw(), 0o600)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let id = keys.w.leases()[0]["id"].as_str().unwrap().to_owned();
    assert!(text.ends_with(&format!(" jit:{id}\n")), "{text}");

    keys.w.jit(["revoke", &id]).run().success();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
    assert_eq!(
        std::fs::symlink_metadata(&file).unwrap().uid(),
        account.uid.as_raw()
    );
    // Only the lock and the file: no temporary file left behind.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".jit-authorized-keys.lock", "authorized_keys"]);
}

#[test]
fn planted_temporary_file_links_are_refused_and_their_target_untouched() {
    let keys = Keys::new();
    let decoy = Decoy::new();
    let before = decoy.snapshot();
    let dir = keys.ssh_dir();
    // Every pid the kernel can hand out (pid_max is read, not assumed).
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(max <= 1 << 16, "pid_max {max}: too many links to plant");
    for pid in 2..=max {
        let link = dir.join(format!("authorized_keys.tmp.{pid}"));
        symlink(decoy.path("authorized_keys"), &link).unwrap();
        give(&link, ACCOUNT);
    }
    keys.request()
        .code(1)
        .stderr_has(&format!("refusing {}/authorized_keys.tmp.", dir.display()))
        .stderr_has("it is a symbolic link");
    assert_eq!(decoy.snapshot(), before, "the link's target is untouched");
    assert!(!dir.join("authorized_keys").exists());
}

#[test]
fn an_authorized_keys_link_to_a_root_only_file_is_not_read() {
    let keys = Keys::new();
    let decoy = Decoy::new();
    let before = decoy.snapshot();
    let dir = keys.ssh_dir();
    let link = dir.join("authorized_keys");
    symlink(decoy.path("authorized_keys"), &link).unwrap();
    give(&link, ACCOUNT);
    keys.refused(&link, "it is a symbolic link");
    assert_eq!(decoy.snapshot(), before);
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        decoy.path("authorized_keys")
    );
    // Nothing in the account's directory holds the root-only text.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::symlink_metadata(&path).unwrap().is_file() {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains("root's own key line"), "{}", path.display());
        }
    }
}

#[test]
fn a_hard_link_to_a_root_only_file_is_not_read() {
    let keys = Keys::new();
    let decoy = Decoy::new();
    let before = decoy.snapshot();
    let dir = keys.ssh_dir();
    let link = dir.join("authorized_keys");
    std::fs::hard_link(decoy.path("authorized_keys"), &link).unwrap();
    keys.refused(&link, "it has 2 hard links");
    // Same bytes, owner and mode (the link count is the test's own link).
    let after = decoy.snapshot();
    assert_eq!(after, before);
}

#[test]
fn an_ssh_directory_that_links_to_a_root_only_directory_is_refused() {
    let keys = Keys::new();
    let decoy = Decoy::new();
    let before = decoy.snapshot();
    let link = keys.w.path("homes").join(ACCOUNT).join(".ssh");
    symlink(decoy.dir.path(), &link).unwrap();
    give(&link, ACCOUNT);
    keys.refused(&link, "it is a symbolic link");
    assert_eq!(decoy.snapshot(), before, "no lock, no file, no change");
}

#[test]
fn a_dangling_lock_link_creates_nothing() {
    let keys = Keys::new();
    let decoy = Decoy::new();
    let before = decoy.snapshot();
    let dir = keys.ssh_dir();
    let link = dir.join(".jit-authorized-keys.lock");
    symlink(decoy.path("nologin"), &link).unwrap();
    give(&link, ACCOUNT);
    keys.refused(&link, "it is a symbolic link");
    assert!(
        !decoy.path("nologin").exists(),
        "root created the link's target"
    );
    assert_eq!(decoy.snapshot(), before);
}

#[test]
fn an_ssh_directory_open_to_others_or_someone_elses_is_refused() {
    let keys = Keys::new();
    let dir = keys.ssh_dir();
    mode(&dir, 0o770);
    keys.refused(&dir, "it is writable by group or others (mode 0770)");

    let keys = Keys::new();
    let dir = keys.ssh_dir();
    give(&dir, APPROVER);
    let why = format!("it is owned by {APPROVER}, not by root or {ACCOUNT}");
    keys.refused(&dir, &why);
    assert!(!dir.join("authorized_keys").exists());
    // jit doctor says so before any grant does.
    let doctor = keys.w.jit(["doctor"]).run();
    assert!(
        doctor
            .stdout
            .contains(&format!("refusing {}: {why}", dir.display())),
        "{doctor:?}"
    );
    assert_ne!(doctor.code, Some(0));
}

#[test]
fn a_krl_in_a_directory_another_account_controls_is_refused() {
    require_root();
    let w = World::empty();
    ssh_keygen(&w.path("ca"));
    ssh_keygen(&w.path("user"));
    let krl_dir = w.path("krl");
    std::fs::create_dir(&krl_dir).unwrap();
    give(&krl_dir, ACCOUNT);
    let decoy = Decoy::new();
    let before = decoy.snapshot();
    let lock = krl_dir.join("revoked.krl.lock");
    symlink(decoy.path("nologin"), &lock).unwrap();
    give(&lock, ACCOUNT);
    w.write_config(&format!(
        "[targets.hosts]\nbackend = \"ssh\"\nmode = \"certificate\"\nca_key = \"file:{ca}\"\nkrl = \"{krl}\"\n\n\
         [roles.shell]\ntarget = \"hosts\"\nmax_ttl = \"1h\"\ngrant = {{ principals = [\"{me}\"] }}\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        ca = w.path("ca").display(),
        krl = krl_dir.join("revoked.krl").display(),
        me = me(),
    ));
    let lease = w
        .jit([
            "request",
            "--role",
            "shell",
            "--json",
            "--pubkey",
            w.path("user.pub").to_str().unwrap(),
            "--out",
            w.path("user-cert.pub").to_str().unwrap(),
        ])
        .run()
        .success()
        .json();
    let id = lease["id"].as_str().unwrap();
    w.jit(["revoke", id]).run().code(6).stdout_has(&format!(
        "refusing {}: it is owned by {ACCOUNT}, not by root",
        krl_dir.display()
    ));
    assert_eq!(w.state_of(id), "revoke-failed", "never reported as revoked");
    assert!(!decoy.path("nologin").exists());
    assert_eq!(decoy.snapshot(), before);
    assert_eq!(
        std::fs::read_dir(&krl_dir).unwrap().count(),
        1,
        "only the planted link"
    );
}

#[test]
fn a_sudoers_directory_that_is_a_link_or_someone_elses_is_refused() {
    require_root();
    let w = World::empty();
    let real = w.path("sudoers.d");
    std::fs::create_dir(&real).unwrap();
    mode(&real, 0o750);
    // A link someone else made (one root made is as trusted as its directory, and followed).
    let link = w.path("sudoers-link");
    symlink(&real, &link).unwrap();
    give(&link, ACCOUNT);
    for (directory, why) in [
        (link.clone(), "it is a symbolic link".to_owned()),
        (
            real.clone(),
            format!("it is owned by {ACCOUNT}, not by root"),
        ),
    ] {
        if directory == real {
            give(&real, ACCOUNT);
        }
        w.write_config(&format!(
            "[identity]\nservice_account = \"{me}\"\n\n[targets.local]\nbackend = \"sudo\"\ndirectory = \"{dir}\"\nvisudo = \"/bin/true\"\n\n\
             [roles.ops]\ntarget = \"local\"\nmax_ttl = \"1h\"\ngrant = {{ commands = [\"/usr/bin/true\"] }}\n\n\
             [[eligibility]]\nsubjects = [\"user:{REQUESTER}\"]\nroles = [\"*\"]\n",
            me = me(),
            dir = directory.display(),
        ));
        w.jit(["request", "--role", "ops"])
            .by(REQUESTER)
            .run()
            .code(1)
            .stderr_has(&format!("refusing {}: {why}", directory.display()));
        assert_eq!(
            std::fs::read_dir(&real).unwrap().count(),
            0,
            "nothing written"
        );
    }
}

/// An account whose home (from the user database) the test may create: `irc`, home
/// /run/ircd on Debian. Removed again when dropped.
struct Home {
    path: PathBuf,
}

const HOMED: &str = "irc";

impl Home {
    fn new() -> Home {
        let path = user(HOMED).dir;
        assert!(
            !path.exists(),
            "{} exists: this test owns the {HOMED} account's home",
            path.display()
        );
        std::fs::create_dir(&path).unwrap();
        mode(&path, 0o755);
        give(&path, HOMED);
        Home { path }
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[test]
fn a_certificate_under_sudo_never_goes_through_the_requesters_links() {
    require_root();
    let home = Home::new();
    let w = World::empty();
    ssh_keygen(&w.path("ca"));
    w.write_config(&format!(
        "[identity]\nservice_account = \"{me}\"\n\n\
         [targets.hosts]\nbackend = \"ssh\"\nmode = \"certificate\"\nca_key = \"file:{ca}\"\nkrl = \"{krl}\"\n\n\
         [roles.login]\ntarget = \"hosts\"\nmax_ttl = \"1h\"\ngrant = {{ principals = [\"{HOMED}\"] }}\n\n\
         [[eligibility]]\nsubjects = [\"user:{HOMED}\"]\nroles = [\"*\"]\n",
        me = me(),
        ca = w.path("ca").display(),
        krl = w.path("revoked.krl").display(),
    ));
    let request = || w.jit(["request", "--role", "login"]).by(HOMED).run();

    // ~/.ssh -> a root-only directory with root's key and root's certificate.
    let decoy = Decoy::new();
    ssh_keygen(&decoy.path("id_ed25519"));
    decoy.plant("id_ed25519-cert.pub", "root's own certificate\n");
    let before = decoy.snapshot();
    let ssh = home.path.join(".ssh");
    symlink(decoy.dir.path(), &ssh).unwrap();
    give(&ssh, HOMED);
    request().code(1).stderr_has(&format!(
        "refusing {}: it is a symbolic link",
        ssh.display()
    ));
    assert_eq!(
        decoy.snapshot(),
        before,
        "root's key and certificate untouched"
    );
    assert!(w.leases().is_empty(), "nothing certified");
    std::fs::remove_file(&ssh).unwrap();

    // A real ~/.ssh, but the public key links to root's.
    std::fs::create_dir(&ssh).unwrap();
    mode(&ssh, 0o700);
    give(&ssh, HOMED);
    let key = ssh.join("id_ed25519.pub");
    symlink(decoy.path("id_ed25519.pub"), &key).unwrap();
    give(&key, HOMED);
    request().code(1).stderr_has(&format!(
        "refusing {}: it is a symbolic link",
        key.display()
    ));
    assert_eq!(decoy.snapshot(), before);
    assert!(w.leases().is_empty());
    std::fs::remove_file(&key).unwrap();

    // No key of theirs: never the service account's key beside its configuration.
    ssh_keygen(&w.path("id_ed25519"));
    request().code(2).stderr_has(&format!(
        "there is no {} (under sudo, jit certifies that key only)",
        key.display()
    ));
    assert!(w.leases().is_empty());

    // The requester's own key: certified, and the certificate is theirs, 0644, beside it; a
    // link planted where the certificate goes is replaced, not followed.
    ssh_keygen(&ssh.join("id_ed25519"));
    for file in ["id_ed25519", "id_ed25519.pub"] {
        give(&ssh.join(file), HOMED);
    }
    let cert = ssh.join("id_ed25519-cert.pub");
    symlink(decoy.path("id_ed25519-cert.pub"), &cert).unwrap();
    give(&cert, HOMED);
    request()
        .success()
        .stderr_has(&format!("certificate written to {}", cert.display()));
    assert_eq!(decoy.snapshot(), before);
    let account = user(HOMED);
    let meta = std::fs::symlink_metadata(&cert).unwrap();
    assert!(meta.is_file());
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (account.uid.as_raw(), account.gid.as_raw(), 0o644)
    );
    let shown = Command::new("ssh-keygen")
        .arg("-L")
        .arg("-f")
        .arg(&cert)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        shown.contains(&format!("Principals: \n                {HOMED}")),
        "{shown}"
    );

    // With agent = true, ssh-add runs as the requester: an agent socket of root's (here in
    // a root-only directory) named in SSH_AUTH_SOCK is out of its reach.
    let config = std::fs::read_to_string(w.config_path()).unwrap().replace(
        &format!("principals = [\"{HOMED}\"] }}"),
        &format!("principals = [\"{HOMED}\"], agent = true }}"),
    );
    w.write_config(&config);
    let socket = decoy.path("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "ssh-agent did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let run = w
        .jit(["request", "--role", "login"])
        .by(HOMED)
        .env("SSH_AUTH_SOCK", &socket)
        .run()
        .success()
        .stderr_has("ssh-add: ");
    let listed = Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    agent.kill().unwrap();
    let _ = agent.wait();
    assert!(!run.stderr.contains("added to the ssh-agent"), "{run:?}");
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains("ED25519"),
        "root's agent got the key: {listed:?}"
    );
}

#[test]
fn a_state_directory_that_is_a_link_or_someone_elses_is_refused() {
    require_root();
    let w = World::new();
    let elsewhere = w.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    mode(&elsewhere, 0o700);
    symlink(&elsewhere, w.state_dir()).unwrap();
    give(&w.state_dir(), ACCOUNT);
    w.jit(["request", "--role", "web-root"])
        .run()
        .code(1)
        .stderr_has(&format!(
            "refusing {}: it is a symbolic link",
            w.state_dir().display()
        ));
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "no store made there"
    );
    assert!(w.grant_keys().is_empty());

    std::fs::remove_file(w.state_dir()).unwrap();
    std::fs::create_dir(w.state_dir()).unwrap();
    mode(&w.state_dir(), 0o700);
    give(&w.state_dir(), ACCOUNT);
    w.jit(["request", "--role", "web-root"])
        .run()
        .code(1)
        .stderr_has(&format!(
            "refusing {}: it is owned by {ACCOUNT}, not by root",
            w.state_dir().display()
        ));
    assert_eq!(std::fs::read_dir(w.state_dir()).unwrap().count(), 0);
    assert!(w.grant_keys().is_empty());
}

#[test]
fn init_never_writes_its_configuration_through_a_link() {
    let w = World::empty();
    let decoy = Decoy::new();
    let before = decoy.snapshot();
    symlink(decoy.path("authorized_keys"), w.config_path()).unwrap();
    w.jit(["init", "--force"])
        .run()
        .code(1)
        .stderr_has(&format!(
            "refusing {}: it is a symbolic link",
            w.config_path().display()
        ));
    assert_eq!(decoy.snapshot(), before);
    assert!(!w.path("ssh_ca").exists(), "nothing written");
}

#[test]
fn a_link_root_made_is_followed_and_one_the_account_made_is_not() {
    // /home -> /usr/home, made by root: as trusted as the directory holding it.
    let keys = Keys::new();
    let homes = keys.w.path("homes");
    let real = keys.w.path("real-homes");
    std::fs::rename(&homes, &real).unwrap();
    symlink("real-homes", &homes).unwrap();
    keys.request().success();
    let file = real.join(ACCOUNT).join(".ssh/authorized_keys");
    assert!(std::fs::symlink_metadata(&file).unwrap().is_file());

    // The same link, made by the account: refused.
    let keys = Keys::new();
    let homes = keys.w.path("homes");
    let real = keys.w.path("real-homes");
    std::fs::rename(&homes, &real).unwrap();
    symlink("real-homes", &homes).unwrap();
    give(&homes, ACCOUNT);
    keys.refused(&homes, "it is a symbolic link");
    assert!(!real.join(ACCOUNT).join(".ssh").exists());
}
