//! The moto harness itself: the emulator really authenticates and authorizes every call
//! after its setup, so that the aws backend tests prove something.

use crate::harness::me;
use crate::moto_server::{self, ACCOUNT, ADMIN, Moto, shown};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

fn caller(moto: &Moto, env: &[(&str, &str)]) -> Output {
    moto.aws(env, &["sts", "get-caller-identity"])
}

fn with_key<'a>(id: &'a str, secret: &'a str) -> [(&'static str, &'a str); 2] {
    [("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)]
}

fn arn(output: &Output) -> String {
    assert!(output.status.success(), "{}", shown(output));
    let identity: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(identity["Account"], ACCOUNT);
    identity["Arn"].as_str().unwrap().to_owned()
}

#[test]
fn a_wrong_secret_is_a_signature_error_and_the_right_one_signs_in() {
    let moto = moto_server::shared();
    let (id, secret) = moto.admin_keys();
    // Another last character (a key that happens to end in `x` must still change).
    let last = if secret.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{last}", &secret[..secret.len() - 1]);
    let refused = caller(moto, &with_key(&id, &wrong));
    assert!(!refused.status.success(), "{}", shown(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("SignatureDoesNotMatch"),
        "{}",
        shown(&refused)
    );
    assert_eq!(
        arn(&caller(moto, &with_key(&id, &secret))),
        format!("arn:aws:iam::{ACCOUNT}:user/{ADMIN}")
    );
}

#[test]
fn the_subject_signs_in_but_may_not_use_iam() {
    let moto = moto_server::shared();
    let (id, secret) = moto.subject_keys();
    assert_eq!(
        arn(&caller(moto, &with_key(&id, &secret))),
        format!("arn:aws:iam::{ACCOUNT}:user/{}", me())
    );
    let denied = moto.aws(&with_key(&id, &secret), &["iam", "list-users"]);
    assert!(!denied.status.success(), "{}", shown(&denied));
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("AccessDenied") && stderr.contains("iam:ListUsers"),
        "{}",
        shown(&denied)
    );
    // The admin may.
    let (id, secret) = moto.admin_keys();
    let users = moto.aws(&with_key(&id, &secret), &["iam", "list-users"]);
    assert!(users.status.success(), "{}", shown(&users));
}

/// The setup's calls went through with made-up keys, the first call after it does not:
/// the unauthenticated window is exactly the setup. A restart empties the server, sets
/// it up again with the same keys, and enforces again from the first call after setup.
#[test]
fn only_the_setup_is_unauthenticated_also_after_a_restart() {
    let moto = Moto::create();
    moto.start();
    let unknown = with_key(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let refused = caller(&moto, &unknown);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("InvalidClientTokenId"),
        "{}",
        shown(&refused)
    );
    let keys = (moto.admin_keys(), moto.subject_keys());
    assert_ne!(keys.0, moto_server::shared().admin_keys());
    moto.boto(
        r#"
        iam.create_role(RoleName="before-restart", AssumeRolePolicyDocument="{}")
        "#,
    );

    moto.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", moto.port)).is_err());
    moto.start();
    assert_eq!((moto.admin_keys(), moto.subject_keys()), keys);
    let refused = caller(&moto, &unknown);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("InvalidClientTokenId"),
        "{}",
        shown(&refused)
    );
    let (id, secret) = moto.admin_keys();
    let gone = moto.aws(
        &with_key(&id, &secret),
        &["iam", "get-role", "--role-name", "before-restart"],
    );
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NoSuchEntity"),
        "{}",
        shown(&gone)
    );
    let (id, secret) = moto.subject_keys();
    assert!(arn(&caller(&moto, &with_key(&id, &secret))).ends_with(&format!("user/{}", me())));
}

/// Sessions from sts:AssumeRole sign in, and what they may do is the role's policies.
/// (moto matches only the caller's exact ARN as a trust policy's principal.)
#[test]
fn an_assumed_role_session_has_the_role_s_permissions() {
    let moto = moto_server::shared();
    let session: Value = serde_json::from_str(&moto.boto(&format!(
        r#"
        trust = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
            "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:user/{ADMIN}"}}, "Action": "sts:AssumeRole"}}]}}
        allow = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
            "Action": "iam:ListUsers", "Resource": "*"}}]}}
        iam.create_role(RoleName="harness-lister", AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName="harness-lister", PolicyName="list", PolicyDocument=json.dumps(allow))
        role = "arn:aws:iam::{ACCOUNT}:role/harness-lister"
        print(json.dumps(sts.assume_role(RoleArn=role, RoleSessionName="harness")["Credentials"], default=str))
        "#
    )))
    .unwrap();
    let id = session["AccessKeyId"].as_str().unwrap();
    let secret = session["SecretAccessKey"].as_str().unwrap();
    let token = session["SessionToken"].as_str().unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", id),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_SESSION_TOKEN", token),
    ];
    assert_eq!(
        arn(&caller(moto, &env)),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/harness-lister/harness")
    );
    let outcome = moto.boto_as(
        id,
        secret,
        Some(token),
        r#"
        print(len(iam.list_users()["Users"]) > 0)
        try:
            iam.list_roles()
            print("listed roles")
        except iam.exceptions.ClientError as e:
            print(e.response["Error"]["Code"])
        "#,
    );
    assert_eq!(outcome, "True\nAccessDenied\n");
}

/// The AWS CLI takes credentials from a `credential_process` in its config file.
#[test]
fn the_cli_runs_a_credential_process() {
    let moto = moto_server::shared();
    let dir = tempfile::tempdir().unwrap();
    let (id, secret) = moto.subject_keys();
    let process = dir.path().join("credentials.sh");
    std::fs::write(
        &process,
        format!(
            "#!/bin/sh\nprintf '%s' '{{\"Version\": 1, \"AccessKeyId\": \"{id}\", \"SecretAccessKey\": \"{secret}\"}}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&process, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile jit]\ncredential_process = {}\n",
            process.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let output = caller(moto, &[("AWS_CONFIG_FILE", config), ("AWS_PROFILE", "jit")]);
    assert_eq!(
        arn(&output),
        format!("arn:aws:iam::{ACCOUNT}:user/{}", me())
    );
}

#[test]
fn the_target_section_points_at_the_server_with_the_admin_key_in_private_files() {
    let moto = moto_server::shared();
    let dir = tempfile::tempdir().unwrap();
    let section = moto.target("cloud", dir.path());
    let parsed: toml::Table = toml::from_str(&section).unwrap();
    let target = &parsed["targets"]["cloud"];
    assert_eq!(target["backend"].as_str(), Some("aws"));
    assert_eq!(target["endpoint"].as_str(), Some(moto.endpoint().as_str()));
    let (id, secret) = moto.admin_keys();
    for (field, value) in [("access_key_id", id), ("secret_access_key", secret)] {
        let path = target[field]
            .as_str()
            .unwrap()
            .strip_prefix("file:")
            .unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), value);
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{path}");
    }
    assert!(moto.path("server.log").exists());
    assert!(moto.log().contains("POST /"));
}
