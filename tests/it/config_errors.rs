//! Configuration errors: exit 5, `file:line:column`, every error at once.

use crate::harness::*;

fn check(w: &World, text: &str) -> String {
    w.write_config(text);
    let run = w.jit(["config", "check"]).run().code(5);
    // Commands that need the configuration refuse the same way and change nothing.
    w.jit(["request", "--role", "web-root"]).run().code(5);
    assert!(!w.store_path().exists(), "no store was created");
    let path = w.config_path().display().to_string();
    run.stderr.replace(&path, "CONFIG")
}

const TARGET: &str = "[targets.files]\nbackend = \"command\"\nprogram = \"/bin/true\"\n";

#[test]
fn malformed_toml_names_the_position() {
    let w = World::new();
    let err = check(&w, "[roles.x]\nmax_ttl = \"1h\n");
    assert!(err.starts_with("jit: error: CONFIG:2:"), "{err}");
}

#[test]
fn unknown_keys_are_errors_with_their_position() {
    let w = World::new();
    let err = check(
        &w,
        &format!("{TARGET}\n[roles.x]\ntarget = \"files\"\nmax_tll = \"1h\"\n"),
    );
    assert!(
        err.contains("CONFIG:7:1: unknown key `max_tll` in [roles.x]; valid keys: target, description, max_ttl, default_ttl, ticket, approvals, break_glass, max_active, window, agent, grant"),
        "{err}"
    );
    assert!(
        err.contains("CONFIG:5:1: [roles.x] needs `max_ttl`"),
        "{err}"
    );
}

#[test]
fn errors_inside_a_backend_table_point_at_the_key() {
    let w = World::new();
    let err = check(
        &w,
        "[targets.files]\nbackend = \"command\"\nprogram = \"/bin/true\"\n  timeout = \"soon\"\nprogramme = \"x\"\n",
    );
    assert!(
        err.contains("CONFIG:4:13: timeout: \"soon\" is not a duration"),
        "{err}"
    );
    assert!(err.contains("CONFIG:5:1: unknown key `programme` in [targets.files]; valid keys: backend, program, args, timeout, env, description"), "{err}");
}

#[test]
fn a_role_naming_a_missing_target() {
    let w = World::new();
    let err = check(
        &w,
        &format!("{TARGET}[roles.x]\ntarget = \"prod\"\nmax_ttl = \"1h\"\n"),
    );
    assert!(
        err.contains(
            "CONFIG:5:10: role \"x\" names target \"prod\", which is not defined; defined: files"
        ),
        "{err}"
    );
}

#[test]
fn literal_secrets_are_refused_with_the_reference_forms() {
    let w = World::new();
    let err = check(
        &w,
        "[targets.files]\nbackend = \"command\"\nprogram = \"/bin/true\"\nenv = { DB_PASSWORD = \"hunter2\" }\n\n[roles.x]\ntarget = \"files\"\nmax_ttl = \"1h\"\ngrant = { api_token = \"abc123\" }\n",
    );
    assert!(err.contains("CONFIG:4:23: env.DB_PASSWORD: a secret must be a reference (keyring:NAME, env:VAR or file:PATH); a literal secret is refused"), "{err}");
    assert!(
        err.contains("CONFIG:9:23: api_token: a secret must be a reference"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2") && !err.contains("abc123"),
        "the secret is not echoed: {err}"
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let w = World::new();
    let err = check(
        &w,
        &format!(
            "{TARGET}\n[roles.x]\ntarget = \"files\"\nmax_ttl = \"0\"\nticket = {{ pattern = \"([\" }}\n\n[[eligibility]]\nsubjects = [\"alice\"]\nroles = [\"y\"]\n[bogus]\n"
        ),
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 5, "{err}");
    assert!(err.contains("CONFIG:7:11: max_ttl: \"0\" is zero"), "{err}");
    assert!(
        err.contains("CONFIG:8:22: ticket.pattern is not a valid regular expression"),
        "{err}"
    );
    assert!(
        err.contains("CONFIG:11:13: \"alice\" is not a subject; use user:NAME or group:NAME"),
        "{err}"
    );
    assert!(
        err.contains("CONFIG:12:10: role \"y\" is not defined"),
        "{err}"
    );
    assert!(
        err.contains("CONFIG:13:2: unknown key `bogus` in the configuration"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_a_configuration_error() {
    let w = World::empty();
    w.jit(["list"])
        .run()
        .code(5)
        .stderr_has("cannot read the configuration");
}

#[test]
fn a_valid_configuration_checks_ok() {
    let w = World::new();
    w.jit(["config", "check"])
        .run()
        .success()
        .stdout_has(": ok (1 target, 5 roles, 1 eligibility rule)");
}

#[test]
fn doctor_reports_each_secret_reference() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let open_secret = w.path("open-secret");
    std::fs::write(&open_secret, "s3cret\n").unwrap();
    std::fs::set_permissions(&open_secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let closed_secret = w.path("closed-secret");
    std::fs::write(&closed_secret, "s3cret\n").unwrap();
    std::fs::set_permissions(&closed_secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = w.default_config().replace(
        "[roles.db-admin]",
        &format!(
            "env = {{ A_TOKEN = \"file:{}\", B_TOKEN = \"file:{}\", C_TOKEN = \"env:JIT_TEST_UNSET_VAR\" }}\n\n[roles.db-admin]",
            open_secret.display(),
            closed_secret.display()
        ),
    );
    w.write_config(&config);
    let run = w.jit(["doctor"]).run().code(1);
    assert!(
        run.stdout
            .contains("FAIL target files: secret env.A_TOKEN: secret file:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("readable by group or others (mode 644)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ok   target files: secret env.B_TOKEN"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("FAIL target files: secret env.C_TOKEN: secret env:JIT_TEST_UNSET_VAR: the environment variable is not set"), "{}", run.stdout);
    assert!(
        run.stdout.contains("ok   keyring: Linux kernel keyutils"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ok   store: "), "{}", run.stdout);
    assert!(!run.stdout.contains("s3cret"));
}

#[test]
fn keyring_references_resolve_through_the_kernel_keyring() {
    let w = World::new();
    let name = format!("jit-test-{}", std::process::id());
    w.jit(["secret", "set", &name])
        .stdin_text("k3yr1ng\n")
        .run()
        .success()
        .stdout_has(&format!("stored keyring:{name}"));
    let config = w.default_config().replace(
        "[roles.db-admin]",
        &format!("env = {{ K_TOKEN = \"keyring:{name}\" }}\n\n[roles.db-admin]"),
    );
    w.write_config(&config);
    w.jit(["doctor"]).run().success().stdout_has(&format!(
        "ok   target files: secret env.K_TOKEN: keyring:{name} resolves"
    ));
    w.jit(["secret", "delete", &name]).run().success();
    w.jit(["doctor"])
        .run()
        .code(1)
        .stdout_has("no such entry in the keyring");
}

#[test]
fn mysql_targets_and_grants_are_checked_before_anything_runs() {
    let w = World::new();
    let target = |url: &str| {
        format!("[targets.db]\nbackend = \"mysql\"\nurl = \"{url}\"\npassword = \"env:DB_PW\"\n\n")
    };
    let err = check(
        &w,
        &target("mysql://jit_admin@db.internal/app?ssl-mode=maybe"),
    );
    assert_eq!(
        err,
        "jit: error: CONFIG:3:7: ssl-mode \"MAYBE\" is not one of DISABLED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY\n"
    );
    let err = check(&w, &target("mysql://db.internal/app"));
    assert_eq!(
        err,
        "jit: error: CONFIG:3:7: url must name a user, such as mysql://jit_admin@db.internal:3306/app\n"
    );
    let roles = "[roles.a]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = { mode = \"ephemeral\", grants = [\"SELECT; DROP DATABASE app ON app.*\"] }\n\n\
         [roles.b]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = { mode = \"ephemeral\", grants = [\"SELECT ON `app`.*\"] }\n\n\
         [roles.c]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = { mode = \"role\", roles = [\"app rw\"] }\n\n\
         [roles.d]\ntarget = \"db\"\nmax_ttl = \"1h\"\ngrant = { mode = \"borrowed\" }\n";
    let err = check(
        &w,
        &format!("{}{roles}", target("mysql://jit_admin@db.internal/app")),
    );
    let expected = [
        "jit: error: CONFIG:9:41: grant.grants: \"SELECT; DROP DATABASE app ON app.*\": privileges must be among SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE VIEW, SHOW VIEW, TRIGGER, EXECUTE, CREATE ROUTINE, ALTER ROUTINE, EVENT, LOCK TABLES, REFERENCES, CREATE TEMPORARY TABLES, ALL, ALL PRIVILEGES",
        "CONFIG:14:41: grant.grants: \"SELECT ON `app`.*\" is not `PRIVILEGES ON database.table` (such as \"SELECT, INSERT ON app.*\")",
        "CONFIG:19:35: grant.roles: \"app rw\" is not a role name (letters, digits, _ and -)",
        "CONFIG:24:18: grant.mode \"borrowed\" is not one of ephemeral, role",
    ];
    assert_eq!(err, format!("{}\n", expected.join("\n")));
}

#[test]
fn aws_targets_and_grants_are_checked_before_anything_runs() {
    let w = World::new();
    let err = check(
        &w,
        "[targets.cloud]\nbackend = \"aws\"\nregion = \"EU West\"\nendpoint = \"ftp://x\"\naccess_key_id = \"AKIAEXAMPLE\"\n\n",
    );
    let expected = [
        "jit: error: CONFIG:3:10: region \"EU West\" is not an AWS region (such as \"eu-west-1\")",
        "CONFIG:4:12: endpoint \"ftp://x\" is not an http:// or https:// URL",
        "CONFIG:5:17: access_key_id: a secret must be a reference (keyring:NAME, env:VAR or file:PATH); a literal secret is refused",
        "CONFIG:1:1: [targets.cloud] needs `secret_access_key` (a secret reference: keyring:NAME, env:VAR or file:PATH)",
    ];
    assert_eq!(err, format!("{}\n", expected.join("\n")));
    let target = "[targets.cloud]\nbackend = \"aws\"\nregion = \"eu-west-1\"\naccess_key_id = \"env:AWS_ID\"\nsecret_access_key = \"env:AWS_SECRET\"\n\n";
    let roles = "[roles.a]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\ngrant = { mode = \"assume-role\", role_arn = \"arn:aws:iam::123:role/admin\" }\n\n\
         [roles.b]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\ngrant = { mode = \"assume-role\", role_arn = \"arn:aws:iam::123456789012:role/admin\", max_session = \"13h\" }\n\n\
         [roles.c]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\ngrant = { mode = \"iam-policy\", user = \"{user}\", policy = \"{not json\" }\n\n\
         [roles.d]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\ngrant = { mode = \"iam-policy\", user = \"{user}\", group = \"ops\", policy_arn = \"arn:aws:iam::aws:policy/ReadOnlyAccess\" }\n\n\
         [roles.e]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\ngrant = { mode = \"assume-role\", role_arn = \"arn:aws:iam::123456789012:role/admin\", user = \"{user}\" }\n\n\
         [roles.f]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\ngrant = { mode = \"iam-policy\", user = \"a b\", policy = '{\"Statement\": []}' }\n";
    let err = check(&w, &format!("{target}{roles}"));
    let expected = [
        "jit: error: CONFIG:10:44: grant.role_arn \"arn:aws:iam::123:role/admin\" is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)",
        "CONFIG:15:98: grant.max_session must be between 15m and 12h (the range of a role's MaxSessionDuration)",
        "CONFIG:20:58: grant.policy is not JSON: key must be a string at line 1 column 2",
        "CONFIG:25:9: grant: iam-policy needs exactly one of `user` and `group` (such as user = \"{user}\")",
        "CONFIG:30:9: grant: user is not used by mode \"assume-role\"",
        "CONFIG:35:39: grant.user \"a b\" is not an IAM name (letters, digits, +=,.@_- and {user})",
        "CONFIG:35:55: grant.policy is not an IAM policy document (an object with `Statement`)",
    ];
    assert_eq!(err, format!("{}\n", expected.join("\n")));
    let err = check(
        &w,
        &format!(
            "{target}[roles.a]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\ngrant = {{ role_arn = \"arn:aws:iam::123456789012:role/admin\" }}\n"
        ),
    );
    assert_eq!(
        err,
        "jit: error: CONFIG:10:9: grant needs `mode` (\"assume-role\" or \"iam-policy\")\n"
    );
}
