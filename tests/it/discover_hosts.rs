//! `jit discover` on the host targets, against the real parts: a sudoers tree read by sudo's
//! own tools (visudo, cvtsudoers), an `authorized_keys` read by the suite's real sshd, the
//! command fixture program and the suite's HTTP server answering (or not knowing)
//! `op: "discover"`. Each standing holding appears once with its holder; `--adopt` takes it
//! away on the target and prints the rule that lets the holder ask for it instead; live
//! leases are no finding; this store's leftovers are found and removed, another store's
//! marked grants left alone.

use crate::harness::*;
use crate::http_server::{HttpServer, Reply};
use crate::sshd::Sshd;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

/// `jit discover --json`: the findings.
fn discover(w: &World) -> Value {
    w.jit(["discover", "--json"]).run().success().json()
}

/// The findings as `(kind, holder, role)`, sorted.
fn summary(found: &Value) -> Vec<(String, String, Option<String>)> {
    let mut all: Vec<_> = found["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["holder"].as_str().unwrap().to_owned(),
                f["role"].as_str().map(str::to_owned),
            )
        })
        .collect();
    all.sort();
    all
}

/// The one finding of `kind` held by `holder`.
fn finding<'a>(found: &'a Value, kind: &str, holder: &str) -> &'a Value {
    let matching: Vec<&Value> = found["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind && f["holder"] == holder)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one {kind} finding for {holder}: {found:#}"
    );
    matching[0]
}

fn id(finding: &Value) -> String {
    finding["id"].as_str().unwrap().to_owned()
}

/// `jit discover --adopt ID --yes --json`.
fn adopt(w: &World, id: &str) -> Value {
    w.jit(["discover", "--adopt", id, "--yes", "--json"])
        .run()
        .success()
        .json()
}

/// Append the rule `--adopt` printed to the configuration.
fn append_rule(w: &World, adopted: &Value) {
    let rule = adopted["eligibility"].as_str().expect("a rule was printed");
    let config = std::fs::read_to_string(w.config_path()).unwrap();
    w.write_config(&format!("{config}\n{rule}"));
}

/// Make the store forget a lease, as a restore from before its grant would.
fn forget(w: &World, lease_id: &str) {
    let db = open_store(w);
    db.execute("DELETE FROM leases WHERE id = ?1", [lease_id])
        .unwrap();
}

fn request(w: &World, role: &str, extra: &[&str]) -> String {
    let mut args = vec!["request", "--role", role, "--json"];
    args.extend_from_slice(extra);
    w.jit(args).run().success().json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

// ---- sudo ----

fn require_root() {
    assert!(me() == "root", "the sudo discovery tests need root");
}

/// A sudoers tree of the test's own in `dir`: `sudoers` including `sudoers.d`.
fn sudoers_tree(dir: &Path, unique: &str) {
    use std::os::unix::fs::PermissionsExt;
    let drop_ins = dir.join("sudoers.d");
    std::fs::create_dir(&drop_ins).unwrap();
    std::fs::set_permissions(&drop_ins, std::fs::Permissions::from_mode(0o755)).unwrap();
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o440)).unwrap();
    };
    write(
        &dir.join("sudoers"),
        &format!(
            "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n@includedir {}\n",
            drop_ins.display()
        ),
    );
    // The requester may run the role's command for good: a file that says nothing else.
    write(
        &drop_ins.join("ops-daemon"),
        &format!("# by hand\n{REQUESTER} ALL = (root) NOPASSWD: /usr/bin/test -n {unique}\n"),
    );
    // A file with more in it: reported, not rewritten; and a group with everything.
    write(
        &drop_ins.join("admins"),
        &format!(
            "Cmnd_Alias CHECK = /usr/bin/test -n {unique}\n\
             {APPROVER} ALL = (root) CHECK, /usr/bin/true\n\
             %adm ALL = (ALL) ALL\n\
             {OTHER_APPROVER} ALL = (root) NOTAFTER=20991231000000Z /usr/bin/test -n {unique}\n"
        ),
    );
}

fn sudo_config(tree: &Path, unique: &str) -> String {
    format!(
        "[identity]\nservice_account = \"{me}\"\n\n\
         [targets.host]\nbackend = \"sudo\"\ndirectory = \"{dir}\"\nsudoers = \"{sudoers}\"\n\n\
         [roles.ops]\ntarget = \"host\"\nmax_ttl = \"1h\"\n\
         grant = {{ commands = [\"/usr/bin/test -n {unique}\"], nopasswd = true }}\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        me = me(),
        dir = tree.join("sudoers.d").display(),
        sudoers = tree.join("sudoers").display(),
    )
}

fn visudo_accepts(sudoers: &Path) -> bool {
    Command::new("visudo")
        .args(["-c", "-f"])
        .arg(sudoers)
        .output()
        .unwrap()
        .status
        .success()
}

/// The users the sudo tools read in the tree's rules.
fn sudoers_users(sudoers: &Path) -> String {
    let out = Command::new("cvtsudoers")
        .args(["-f", "json"])
        .arg(sudoers)
        .output()
        .unwrap();
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    parsed["User_Specs"].to_string()
}

#[test]
fn sudo_standing_rules_are_found_once_and_adopt_takes_the_rule_away() {
    require_root();
    let w = World::empty();
    let unique = format!("jit-discover-{}", std::process::id());
    sudoers_tree(w.dir.path(), &unique);
    w.write_config(&sudo_config(w.dir.path(), &unique));
    let drop_ins = w.path("sudoers.d");

    // A live lease of the role: its drop-in is no finding.
    let live = request(&w, "ops", &[]);
    assert!(drop_ins.join(format!("jit-{live}")).exists());

    let found = discover(&w);
    assert_eq!(
        summary(&found),
        [
            ("admin".into(), "%adm".into(), None),
            ("standing".into(), APPROVER.into(), Some("ops".into())),
            ("standing".into(), REQUESTER.into(), Some("ops".into())),
        ],
        "root is root without sudo; a rule with NOTAFTER is not standing: {found:#}"
    );
    let standing = finding(&found, "standing", REQUESTER);
    assert_eq!(standing["subject"], format!("user:{REQUESTER}"));
    assert_eq!(
        standing["entitlement"],
        format!(
            "may run /usr/bin/test -n {unique} as root (in {})",
            drop_ins.join("ops-daemon").display()
        )
    );
    assert_eq!(standing["removable"], true);
    assert_eq!(finding(&found, "admin", "%adm")["subject"], "group:adm");
    // In a file that says more than the rule: what to edit, not removed by jit.
    let by_hand = finding(&found, "standing", APPROVER);
    assert_eq!(by_hand["removable"], false);
    assert!(
        by_hand["action"]
            .as_str()
            .unwrap()
            .contains(&format!("visudo -f {}", drop_ins.join("admins").display())),
        "{by_hand}"
    );
    let admins = std::fs::read(drop_ins.join("admins")).unwrap();
    w.jit(["discover", "--adopt", &id(by_hand), "--yes"])
        .run()
        .code(2)
        .stderr_has("is not one jit removes");
    assert_eq!(std::fs::read(drop_ins.join("admins")).unwrap(), admins);

    // Not eligible yet: the standing rule is all the requester has.
    w.jit(["request", "--role", "ops"])
        .by(REQUESTER)
        .run()
        .code(3);
    let adopted = adopt(&w, &id(standing));
    assert_eq!(adopted["removed"], true);
    let text = std::fs::read_to_string(drop_ins.join("ops-daemon")).unwrap();
    assert!(
        text.lines().all(|line| line.starts_with('#')),
        "the rule is commented out: {text}"
    );
    assert!(
        text.contains(&format!("# {REQUESTER} ALL = (root)")),
        "{text}"
    );
    let sudoers = w.path("sudoers");
    assert!(visudo_accepts(&sudoers), "the tree still reads");
    let users = sudoers_users(&sudoers);
    assert!(!users.contains(&format!("\"{REQUESTER}\"")), "{users}");
    assert!(users.contains(&format!("\"{APPROVER}\"")), "{users}");
    let again = discover(&w);
    assert_eq!(summary(&again).len(), 2, "{again:#}");

    // The printed rule lets the holder ask for the role just in time.
    append_rule(&w, &adopted);
    let lease = w
        .jit(["request", "--role", "ops", "--json"])
        .by(REQUESTER)
        .run()
        .success()
        .json();
    assert!(
        drop_ins
            .join(format!("jit-{}", lease["id"].as_str().unwrap()))
            .exists()
    );
    assert!(visudo_accepts(&sudoers));
    assert_eq!(summary(&discover(&w)).len(), 2, "the new lease is live");
}

#[test]
fn sudo_leftovers_of_this_store_are_removed_and_another_stores_left_alone() {
    require_root();
    let w = World::empty();
    let unique = format!("jit-leftover-{}", std::process::id());
    sudoers_tree(w.dir.path(), &unique);
    let config = sudo_config(w.dir.path(), &unique);
    w.write_config(&config);
    // A second deployment, with its own store, sharing the target.
    let other = World::empty();
    other.write_config(&config);
    let drop_ins = w.path("sudoers.d");
    let theirs = request(&other, "ops", &[]);
    let left = request(&w, "ops", &[]);
    forget(&w, &left);
    // One made by hand, named as jit names its own, without a mark.
    std::fs::write(
        drop_ins.join("jit-abcdefgh23"),
        format!("{OTHER_APPROVER} ALL = (root) NOTAFTER=20991231000000Z /usr/bin/true\n"),
    )
    .unwrap();
    std::fs::set_permissions(
        drop_ins.join("jit-abcdefgh23"),
        std::os::unix::fs::PermissionsExt::from_mode(0o440),
    )
    .unwrap();

    let found = discover(&w);
    let leftover = finding(&found, "leftover", &me());
    assert_eq!(
        leftover["entitlement"],
        format!(
            "sudoers drop-in {}",
            drop_ins.join(format!("jit-{left}")).display()
        )
    );
    let unmarked = finding(&found, "unmarked", OTHER_APPROVER);
    assert!(
        !found.to_string().contains(&theirs),
        "another store's lease is not this store's to report: {found:#}"
    );
    w.jit(["discover", "--adopt", &id(unmarked), "--yes"])
        .run()
        .code(2);
    assert!(drop_ins.join("jit-abcdefgh23").exists());

    let adopted = adopt(&w, &id(leftover));
    assert_eq!(
        adopted["eligibility"],
        Value::Null,
        "a leftover prints no rule"
    );
    assert!(!drop_ins.join(format!("jit-{left}")).exists());
    assert!(drop_ins.join(format!("jit-{theirs}")).exists());
    assert!(visudo_accepts(&w.path("sudoers")));
    let after = discover(&w);
    assert!(
        after["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["kind"] != "leftover"),
        "{after:#}"
    );
    // The other deployment's lease is live there: it reports none of it either.
    assert!(!discover(&other).to_string().contains(&theirs));
}

#[test]
fn a_sudoers_file_someone_else_may_write_is_not_read() {
    require_root();
    use std::os::unix::fs::PermissionsExt;
    let w = World::empty();
    sudoers_tree(w.dir.path(), "x");
    w.write_config(&sudo_config(w.dir.path(), "x"));
    std::fs::set_permissions(w.path("sudoers"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let found = w.jit(["discover", "--json"]).run().code(1).json();
    assert_eq!(found["findings"], json!([]));
    let error = found["errors"][0]["text"].as_str().unwrap();
    assert!(error.contains("writable by group or others"), "{error}");
}

#[test]
fn doctor_checks_the_tool_discover_reads_the_sudoers_with() {
    require_root();
    let w = World::empty();
    sudoers_tree(w.dir.path(), "d");
    w.write_config(&sudo_config(w.dir.path(), "d"));
    w.jit(["doctor"])
        .run()
        .stdout_has("ok   target host: cvtsudoers: cvtsudoers version ");
    let missing = w.path("no-cvtsudoers");
    let config = std::fs::read_to_string(w.config_path()).unwrap().replace(
        "backend = \"sudo\"\n",
        &format!(
            "backend = \"sudo\"\ncvtsudoers = \"{}\"\n",
            missing.display()
        ),
    );
    w.write_config(&config);
    w.jit(["doctor"]).run().code(1).stdout_has(&format!(
        "FAIL target host: cvtsudoers: {}: No such file or directory (os error 2): jit discover cannot read the sudoers\n",
        missing.display()
    ));
}

#[test]
fn a_rule_using_an_alias_of_another_file_is_reported_and_left_to_edit_by_hand() {
    require_root();
    use std::os::unix::fs::PermissionsExt;
    let w = World::empty();
    let unique = format!("jit-alias-{}", std::process::id());
    sudoers_tree(w.dir.path(), &unique);
    let drop_ins = w.path("sudoers.d");
    std::fs::remove_file(drop_ins.join("admins")).unwrap();
    std::fs::remove_file(drop_ins.join("ops-daemon")).unwrap();
    let main = w.path("sudoers");
    std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(
        &main,
        format!(
            "User_Alias OPS = {REQUESTER}
@includedir {}
",
            drop_ins.display()
        ),
    )
    .unwrap();
    std::fs::write(
        drop_ins.join("ops"),
        format!("OPS ALL = (root) /usr/bin/test -n {unique}\n"),
    )
    .unwrap();
    std::fs::set_permissions(drop_ins.join("ops"), std::fs::Permissions::from_mode(0o440)).unwrap();
    w.write_config(&sudo_config(w.dir.path(), &unique));
    let found = discover(&w);
    assert_eq!(
        summary(&found),
        [("standing".into(), REQUESTER.into(), Some("ops".into()))],
        "{found:#}"
    );
    let standing = finding(&found, "standing", REQUESTER);
    assert_eq!(standing["removable"], false, "{standing}");
    let before = std::fs::read(drop_ins.join("ops")).unwrap();
    w.jit(["discover", "--adopt", &id(standing), "--yes"])
        .run()
        .code(2);
    assert_eq!(std::fs::read(drop_ins.join("ops")).unwrap(), before);
}

// ---- ssh (authorized-keys) ----

fn ssh_config(sshd: &Sshd) -> String {
    format!(
        "[targets.local]\nbackend = \"ssh\"\nmode = \"authorized-keys\"\nauthorized_keys = \"{keys}\"\n\n\
         [roles.login]\ntarget = \"local\"\nmax_ttl = \"1h\"\ngrant = {{ account = \"{me}\", extensions = [\"permit-pty\"] }}\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        keys = sshd.path("authorized_keys_%u").display(),
        me = me(),
    )
}

/// A new key pair in `dir`; its public key line.
fn keypair(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn ssh_standing_keys_are_found_and_adopt_removes_the_line_sshd_reads() {
    let sshd = Sshd::start_with("%d/authorized_keys_%u");
    let file = sshd.path(&format!("authorized_keys_{}", me()));
    let standing = std::fs::read_to_string(sshd.path("user.pub")).unwrap();
    let timed = keypair(sshd.dir.path(), "timed");
    std::fs::write(
        &file,
        format!(
            "# keys of this account\n{}\nexpiry-time=\"20991231000000Z\",command=\"/usr/bin/run a b\" {timed}\n",
            standing.trim()
        ),
    )
    .unwrap();
    let w = World::empty();
    w.write_config(&ssh_config(&sshd));
    assert!(
        sshd.login_with_key(&me()).status.success(),
        "the standing key logs in"
    );
    // A live lease, for another key: no finding.
    let live_key = keypair(w.dir.path(), "live");
    request(
        &w,
        "login",
        &["--pubkey", w.path("live.pub").to_str().unwrap()],
    );
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains(&live_key[..60])
    );

    let found = discover(&w);
    assert_eq!(
        summary(&found),
        [("standing".into(), me(), Some("login".into()))],
        "one standing key, the one without expiry-time: {found:#}"
    );
    let key = finding(&found, "standing", &me());
    let fingerprint = Command::new("ssh-keygen")
        .args(["-l", "-f"])
        .arg(sshd.path("user.pub"))
        .output()
        .unwrap();
    let fingerprint = String::from_utf8_lossy(&fingerprint.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(
        key["entitlement"],
        format!(
            "ssh-ed25519 key {fingerprint} (user@test) in {}",
            file.display()
        )
    );

    let adopted = adopt(&w, &id(key));
    assert_eq!(adopted["removed"], true);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains(standing.split_whitespace().nth(1).unwrap()),
        "{text}"
    );
    assert!(
        text.contains(&timed) && text.contains("# keys of this account"),
        "{text}"
    );
    assert!(
        text.contains(&live_key[..60]),
        "the live lease's line stays: {text}"
    );
    assert!(
        !sshd.login_with_key(&me()).status.success(),
        "sshd refuses the key now"
    );
    assert!(summary(&discover(&w)).is_empty());
    // The key's owner asks for it just in time.
    w.jit([
        "request",
        "--role",
        "login",
        "--pubkey",
        sshd.path("user.pub").to_str().unwrap(),
    ])
    .run()
    .success();
    assert!(sshd.login_with_key(&me()).status.success());
}

#[test]
fn ssh_leftover_lines_of_this_store_are_removed_and_another_stores_left_alone() {
    let sshd = Sshd::start_with("%d/authorized_keys_%u");
    let file = sshd.path(&format!("authorized_keys_{}", me()));
    let w = World::empty();
    w.write_config(&ssh_config(&sshd));
    let other = World::empty();
    other.write_config(&ssh_config(&sshd));
    keypair(w.dir.path(), "mine");
    keypair(w.dir.path(), "theirs");
    let theirs = request(
        &other,
        "login",
        &["--pubkey", w.path("theirs.pub").to_str().unwrap()],
    );
    let left = request(
        &w,
        "login",
        &["--pubkey", w.path("mine.pub").to_str().unwrap()],
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let mark = format!("jit:{}:{left} jit:{left}", store_name(&w));
    assert!(
        text.contains(&mark),
        "the line carries the store's mark: {text}"
    );
    forget(&w, &left);
    // A line named as jit names its own, without a store's mark.
    let unmarked = keypair(w.dir.path(), "unmarked");
    let unmarked = unmarked.rsplit_once(' ').unwrap().0;
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!(
        "expiry-time=\"20991231000000Z\" {unmarked} jit:abcdefgh23\n"
    ));
    std::fs::write(&file, text).unwrap();

    let found = discover(&w);
    assert_eq!(
        summary(&found),
        [
            ("leftover".into(), me(), None),
            ("unmarked".into(), me(), None)
        ],
        "{found:#}"
    );
    assert!(!found.to_string().contains(&theirs));
    let before = std::fs::read_to_string(&file).unwrap();
    w.jit([
        "discover",
        "--adopt",
        &id(finding(&found, "unmarked", &me())),
        "--yes",
    ])
    .run()
    .code(2);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    adopt(&w, &id(finding(&found, "leftover", &me())));
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(!after.contains(&format!("jit:{left}")), "{after}");
    assert!(after.contains(&format!("jit:{theirs}")), "{after}");
    assert!(after.contains("jit:abcdefgh23"), "{after}");
}

// ---- command ----

fn command_config(w: &World, grants: &Path, extra_target: &str) -> String {
    format!(
        "[identity]\nservice_account = \"{me}\"\n\n\
         [targets.files]\nbackend = \"command\"\nprogram = \"{fixture}\"\nargs = [\"{grants}\"]\n\n\
         {extra_target}\
         [roles.web-root]\ntarget = \"files\"\nmax_ttl = \"1h\"\n\n\
         [roles.tokens]\ntarget = \"files\"\nmax_ttl = \"1h\"\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        me = me(),
        fixture = fixture().display(),
        grants = grants.display(),
    )
    .replace("{state}", &w.path("old.json").display().to_string())
}

#[test]
fn a_program_answers_discover_and_adopt_removes_the_grant() {
    let w = World::empty();
    let grants = w.path("grants.json");
    let old = format!(
        "[targets.old]\nbackend = \"command\"\nprogram = \"{}\"\nargs = [\"{{state}}\", \"--discover\", \"no\"]\n\n",
        fixture().display()
    );
    w.write_config(&command_config(&w, &grants, &old));
    let other = World::empty();
    other.write_config(&command_config(&other, &grants, ""));
    let live = request(&w, "web-root", &[]);
    let left = request(&w, "tokens", &[]);
    forget(&w, &left);
    let theirs = request(&other, "web-root", &["--ttl", "10m"]);
    assert_ne!(theirs, live);
    // Given by hand on the target: standing; and one from before marks.
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(&grants).unwrap()).unwrap();
    state[format!("web-root/{REQUESTER}")] = json!({ "expires_at": null });
    state[format!("tokens/{APPROVER}")] = json!({ "expires_at": null, "last_lease": "abcdefgh23" });
    std::fs::write(&grants, state.to_string()).unwrap();

    let found = discover(&w);
    assert_eq!(
        summary(&found),
        [
            ("leftover".into(), me(), None),
            ("standing".into(), REQUESTER.into(), Some("web-root".into())),
            ("unmarked".into(), APPROVER.into(), None),
        ],
        "the live lease (and the other store's, sharing its key) is no finding: {found:#}"
    );
    let notes = found["notes"].to_string();
    assert!(
        notes.contains("the program does not support discover (unsupported op discover)"),
        "{notes}"
    );
    assert_eq!(found["errors"], json!([]));
    let standing = finding(&found, "standing", REQUESTER);
    assert_eq!(standing["subject"], format!("user:{REQUESTER}"));
    assert_eq!(
        standing["entitlement"],
        format!("grant web-root/{REQUESTER}")
    );

    w.jit(["request", "--role", "web-root"])
        .by(REQUESTER)
        .run()
        .code(3);
    let adopted = adopt(&w, &id(standing));
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&grants).unwrap()).unwrap();
    assert!(
        state.get(format!("web-root/{REQUESTER}")).is_none(),
        "{state}"
    );
    append_rule(&w, &adopted);
    w.jit(["request", "--role", "web-root"])
        .by(REQUESTER)
        .run()
        .success();

    w.jit([
        "discover",
        "--adopt",
        &id(finding(&found, "unmarked", APPROVER)),
        "--yes",
    ])
    .run()
    .code(2);
    adopt(&w, &id(finding(&found, "leftover", &me())));
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&grants).unwrap()).unwrap();
    assert!(state.get(format!("tokens/{}", me())).is_none(), "{state}");
    assert!(state.get(format!("tokens/{APPROVER}")).is_some(), "{state}");
    assert!(
        state.get(format!("web-root/{}", me())).is_some(),
        "the live grant stays"
    );
}

// ---- http ----

fn http_config(server: &HttpServer) -> String {
    format!(
        "[identity]\nservice_account = \"{me}\"\n\n\
         [targets.access]\nbackend = \"http\"\nurl = \"{url}\"\n\n\
         [targets.legacy]\nbackend = \"http\"\nurl = \"{legacy}\"\n\n\
         [targets.plain]\nbackend = \"http\"\nurl = \"{plain}\"\n\n\
         [roles.deploy]\ntarget = \"access\"\nmax_ttl = \"1h\"\ngrant = {{ group = \"deployers\" }}\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        me = me(),
        url = server.url("/grants"),
        legacy = server.url("/legacy"),
        plain = server.url("/plain"),
    )
}

#[test]
fn a_service_answers_discover_and_one_that_does_not_know_it_is_noted() {
    let server = HttpServer::start();
    server.route(
        "POST",
        "/grants",
        Reply::json(
            200,
            json!({
                "handle": { "grant": "g-1" },
                "findings": [{
                    "kind": "standing",
                    "holder": REQUESTER,
                    "subject": format!("user:{REQUESTER}"),
                    "role": "deploy",
                    "entitlement": "member of deployers",
                    "since": "2026-01-02T03:04:05Z",
                    "action": "adopt: the membership is removed",
                    "removal": { "member": REQUESTER, "group": "deployers" },
                }],
                "notes": ["1 group read"],
            }),
        ),
    );
    server.route("POST", "/legacy", Reply::status(501));
    server.route("POST", "/plain", Reply::json(200, json!({})));
    let w = World::empty();
    w.write_config(&http_config(&server));
    let live = request(&w, "deploy", &[]);

    let found = discover(&w);
    assert_eq!(
        summary(&found),
        [("standing".into(), REQUESTER.into(), Some("deploy".into()))]
    );
    let standing = finding(&found, "standing", REQUESTER);
    assert_eq!(standing["since"], "2026-01-02T03:04:05Z");
    assert_eq!(standing["target"], "access");
    let notes = found["notes"].to_string();
    assert!(notes.contains("1 group read"), "{notes}");
    assert!(
        notes.contains("the service does not support discover (HTTP 501)"),
        "{notes}"
    );
    assert!(
        notes.contains("the service does not support discover (HTTP 200 without findings)"),
        "{notes}"
    );
    // What the service was told: the roles, the live lease, the store's name.
    let asked: Vec<Value> = server
        .requests_to("/grants")
        .iter()
        .map(|r| r.json())
        .filter(|body| body["op"] == "discover")
        .collect();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0],
        json!({
            "live": [{ "handle": { "grant": "g-1" }, "id": live, "role": "deploy", "subject": me() }],
            "op": "discover",
            "roles": [{ "params": { "group": "deployers" }, "role": "deploy" }],
            "store": store_name(&w),
            "target": "access",
            "v": 1,
        })
    );
    let grant = server.requests_to("/grants")[0].json();
    assert_eq!(
        grant["store"],
        store_name(&w),
        "a grant is told the store's name"
    );

    let adopted = adopt(&w, &id(standing));
    let removes: Vec<Value> = server
        .requests_to("/grants")
        .iter()
        .map(|r| r.json())
        .filter(|body| body["op"] == "remove")
        .collect();
    assert_eq!(removes.len(), 1);
    assert_eq!(removes[0]["target"], "access");
    assert_eq!(
        removes[0]["finding"]["removal"],
        json!({ "member": REQUESTER, "group": "deployers" })
    );
    assert_eq!(removes[0]["finding"]["holder"], REQUESTER);
    append_rule(&w, &adopted);
    w.jit(["request", "--role", "deploy"])
        .by(REQUESTER)
        .run()
        .success();
}
