//! The aws backend against moto server with authentication and authorization enforced:
//! credentials are proven by calling AWS with them (the AWS CLI and boto3), policies by
//! reading them back.

use crate::harness::*;
use crate::http_server::{HttpServer, Reply};
use crate::moto_server::{self, Moto, shown};
use serde_json::Value;
use std::process::Output;

/// The policy the iam-policy roles grant: what a user's own key may then do.
const LIST_USERS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}"#;

/// A role `name` that jit-admin may assume, allowed to read IAM users.
fn create_role(moto: &Moto, name: &str) -> String {
    moto.boto(&format!(
        r#"
trust = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
    "Principal": {{"AWS": "arn:aws:iam::123456789012:user/jit-admin"}}, "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}}]}}
role = iam.create_role(RoleName="{name}", AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=7200)
allow = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": ["iam:ListUsers", "sts:GetCallerIdentity"], "Resource": "*"}}]}}
iam.put_role_policy(RoleName="{name}", PolicyName="work", PolicyDocument=json.dumps(allow))
print(role["Role"]["Arn"])
"#
    ))
    .trim()
    .to_owned()
}

/// An IAM user `name` with an access key and no policy: (key id, secret).
fn create_user(moto: &Moto, name: &str) -> (String, String) {
    let keys: Value = serde_json::from_str(&moto.boto(&format!(
        r#"
iam.create_user(UserName="{name}")
key = iam.create_access_key(UserName="{name}")["AccessKey"]
print(json.dumps([key["AccessKeyId"], key["SecretAccessKey"]]))
"#
    )))
    .unwrap();
    (
        keys[0].as_str().unwrap().to_owned(),
        keys[1].as_str().unwrap().to_owned(),
    )
}

fn aws_world(moto: &Moto, roles: &str) -> World {
    let w = World::empty();
    w.write_config(&format!(
        "{target}\n{roles}\n[[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"*\"]\n",
        target = moto.target("cloud", w.dir.path()),
        me = me(),
    ));
    w
}

fn assume_role_world(moto: &Moto, role: &str) -> World {
    let arn = create_role(moto, role);
    aws_world(
        moto,
        &format!(
            "[roles.aws-admin]\ntarget = \"cloud\"\nmax_ttl = \"4h\"\n\
             grant = {{ mode = \"assume-role\", role_arn = \"{arn}\", max_session = \"2h\", source_identity = true }}\n"
        ),
    )
}

/// A world whose role `aws-read` puts an inline policy allowing iam:ListUsers on the IAM
/// user `<prefix>-<me>`, created here with its keys.
fn iam_policy_world(moto: &Moto, prefix: &str) -> (World, (String, String)) {
    let keys = create_user(moto, &format!("{prefix}-{}", me()));
    let w = aws_world(
        moto,
        &format!(
            "[roles.aws-read]\ntarget = \"cloud\"\nmax_ttl = \"4h\"\n\
             grant = {{ mode = \"iam-policy\", user = \"{prefix}-{{user}}\", \
             policy = '{LIST_USERS}' }}\n"
        ),
    );
    (w, keys)
}

fn list_users(moto: &Moto, keys: &(String, String)) -> Output {
    moto.aws(
        &[
            ("AWS_ACCESS_KEY_ID", keys.0.as_str()),
            ("AWS_SECRET_ACCESS_KEY", keys.1.as_str()),
        ],
        &["iam", "list-users"],
    )
}

fn user_policies(moto: &Moto, user: &str) -> Vec<String> {
    serde_json::from_str(&moto.boto(&format!(
        "print(json.dumps(iam.list_user_policies(UserName=\"{user}\")[\"PolicyNames\"]))"
    )))
    .unwrap()
}

fn caller_arn(output: &Output) -> String {
    assert!(output.status.success(), "{}", shown(output));
    let identity: Value = serde_json::from_slice(&output.stdout).unwrap();
    identity["Arn"].as_str().unwrap().to_owned()
}

#[test]
fn a_wrong_secret_key_is_refused_and_the_right_one_works() {
    let moto = moto_server::shared();
    let w = assume_role_world(moto, "jit-t-keys");
    w.jit(["doctor"]).run().success().stdout_has(
        "ok   target cloud: connect: arn:aws:iam::123456789012:user/jit-admin (region us-east-1)",
    );
    std::fs::write(w.dir.path().join("cloud.aws-secret"), "not-the-secret").unwrap();
    w.jit(["doctor"])
        .run()
        .code(1)
        .stdout_has("FAIL target cloud: connect: AWS SignatureDoesNotMatch");
    w.jit(["request", "--role", "aws-admin"])
        .run()
        .code(1)
        .stderr_has(
            "granting role \"aws-admin\" on target \"cloud\" failed: AWS SignatureDoesNotMatch",
        );
    assert_eq!(
        w.leases()[0]["state"],
        "failed",
        "an answered refusal leaves nothing to clean up"
    );
}

#[test]
fn assume_role_credentials_work_with_the_aws_cli_and_revoke_denies_older_sessions() {
    let moto = moto_server::shared();
    let w = assume_role_world(moto, "jit-t-assume");
    let lease = w
        .jit(["request", "--role", "aws-admin", "--ttl", "30m", "--json"])
        .run()
        .success()
        .json();
    let id = lease["id"].as_str().unwrap().to_owned();
    let c = &lease["credentials"];
    let env = [
        (
            "AWS_ACCESS_KEY_ID",
            c["AWS_ACCESS_KEY_ID"].as_str().unwrap(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            c["AWS_SECRET_ACCESS_KEY"].as_str().unwrap(),
        ),
        (
            "AWS_SESSION_TOKEN",
            c["AWS_SESSION_TOKEN"].as_str().unwrap(),
        ),
    ];
    let session = format!("jit-{}-{id}", me());
    assert_eq!(
        caller_arn(&moto.aws(&env, &["sts", "get-caller-identity"])),
        format!("arn:aws:sts::123456789012:assumed-role/jit-t-assume/{session}")
    );
    // The session lasts the lease: 30 minutes.
    let expires =
        chrono::DateTime::parse_from_rfc3339(lease["expires_at"].as_str().unwrap()).unwrap();
    let ends =
        chrono::DateTime::parse_from_rfc3339(c["AWS_CREDENTIAL_EXPIRATION"].as_str().unwrap())
            .unwrap();
    assert!(
        (ends - expires).num_seconds().abs() <= 2,
        "{ends} vs {expires}"
    );

    // The AWS CLI through credential_process, with the credentials jit kept.
    let config = w.path("aws-config");
    std::fs::write(
        &config,
        format!("[profile jit]\ncredential_process = {JIT} credential-process --role aws-admin\n"),
    )
    .unwrap();
    let (config_path, state_dir) = (w.config_path(), w.state_dir());
    let via_process = [
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_PROFILE", "jit"),
        ("JIT_CONFIG", config_path.to_str().unwrap()),
        ("JIT_STATE_DIR", state_dir.to_str().unwrap()),
    ];
    assert_eq!(
        caller_arn(&moto.aws(&via_process, &["sts", "get-caller-identity"])),
        format!("arn:aws:sts::123456789012:assumed-role/jit-t-assume/{session}")
    );
    let document = w
        .jit(["credential-process", "--role", "aws-admin"])
        .run()
        .success()
        .json();
    crate::json_contract::conforms(&document, &["credential-process"]);
    assert_eq!(document["Version"], 1);
    assert_eq!(document["AccessKeyId"], c["AWS_ACCESS_KEY_ID"]);
    assert_eq!(document["Expiration"], lease["expires_at"]);

    w.jit(["revoke", &id]).run().success();
    let policy: Value = serde_json::from_str(&moto.boto(
        "print(json.dumps(iam.get_role_policy(RoleName='jit-t-assume', PolicyName='AWSRevokeOlderSessions')['PolicyDocument']))",
    ))
    .unwrap();
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(statement["Action"][0], "*");
    let cutoff = chrono::DateTime::parse_from_rfc3339(
        statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let granted =
        chrono::DateTime::parse_from_rfc3339(lease["granted_at"].as_str().unwrap()).unwrap();
    assert!(
        cutoff > granted,
        "the session issued at {granted} is older than {cutoff}"
    );
    // Nothing is served after the revoke.
    w.jit(["credential-process", "--role", "aws-admin"])
        .run()
        .code(1)
        .stderr_has("no credentials kept for role \"aws-admin\"");
}

#[test]
fn jit_exec_gives_the_command_the_session() {
    let moto = moto_server::shared();
    let w = assume_role_world(moto, "jit-t-exec");
    let run = w
        .jit([
            "exec",
            "--role",
            "aws-admin",
            "--",
            "python3",
            "-m",
            "awscli",
            "--endpoint-url",
            &moto.endpoint(),
            "sts",
            "get-caller-identity",
        ])
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", w.path("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", w.path("none"))
        .run()
        .success();
    let identity: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        identity["Arn"].as_str().unwrap().starts_with(&format!(
            "arn:aws:sts::123456789012:assumed-role/jit-t-exec/jit-{}-",
            me()
        )),
        "{}",
        run.stdout
    );
    assert_eq!(w.leases()[0]["state"], "revoked");
}

#[test]
fn assume_role_leases_are_capped_at_the_session_maximum_and_cannot_outgrow_their_credentials() {
    let moto = moto_server::shared();
    let w = assume_role_world(moto, "jit-t-caps");
    w.jit(["request", "--role", "aws-admin", "--ttl", "3h"])
        .run()
        .code(3)
        .stderr_has("requested ttl 3h is over the cap: aws assume-role max_session (the role's MaxSessionDuration) is 2h");
    w.jit([
        "request",
        "--role",
        "aws-admin",
        "--ttl",
        "90m",
        "--dry-run",
    ])
    .run()
    .success()
    .stdout_has("aws assume-role max_session (the role's MaxSessionDuration)  2h");
    assert!(w.leases().is_empty(), "nothing was recorded");
    // A 5-minute lease gets STS's shortest session (15 minutes), ended at the lease end.
    let run = w
        .jit(["request", "--role", "aws-admin", "--ttl", "5m", "--json"])
        .run()
        .success()
        .stderr_has("jit: note: STS sessions last at least 15 minutes");
    let lease = run.json();
    let expires =
        chrono::DateTime::parse_from_rfc3339(lease["expires_at"].as_str().unwrap()).unwrap();
    let ends = chrono::DateTime::parse_from_rfc3339(
        lease["credentials"]["AWS_CREDENTIAL_EXPIRATION"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(((ends - expires).num_seconds() - 600).abs() <= 2);
    let id = lease["id"].as_str().unwrap();
    // Within the credentials' life an extension is fine; beyond it, refused.
    w.jit(["extend", id, "--ttl", "10m"]).run().success();
    w.jit(["extend", id, "--ttl", "1h"])
        .run()
        .code(1)
        .stderr_has("STS credentials cannot be extended");
    w.jit(["revoke", id]).run().success();
}

#[test]
fn a_managed_policy_is_attached_for_the_lease_and_one_attached_outside_jit_is_left_alone() {
    let moto = moto_server::shared();
    let user = format!("mgd-{}", me());
    create_user(moto, &user);
    let arn = moto
        .boto(
            r#"
doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}
print(iam.create_policy(PolicyName="jit-t-managed", PolicyDocument=json.dumps(doc))["Policy"]["Arn"])
"#,
        )
        .trim()
        .to_owned();
    let w = aws_world(
        moto,
        &format!(
            "[roles.aws-managed]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\n\
             grant = {{ mode = \"iam-policy\", user = \"mgd-{{user}}\", policy_arn = \"{arn}\" }}\n"
        ),
    );
    let attached = || -> Vec<String> {
        serde_json::from_str(&moto.boto(&format!(
            "print(json.dumps([p['PolicyArn'] for p in iam.list_attached_user_policies(UserName='{user}')['AttachedPolicies']]))"
        )))
        .unwrap()
    };
    let run = w
        .jit(["request", "--role", "aws-managed", "--json"])
        .run()
        .success()
        .stderr_has("a managed policy attachment has no end on AWS");
    let id = run.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(attached(), vec![arn.clone()]);
    w.jit(["revoke", &id]).run().success();
    assert!(attached().is_empty());

    // Attached by someone else: jit refuses rather than take it away at the end.
    moto.boto(&format!(
        "iam.attach_user_policy(UserName='{user}', PolicyArn='{arn}')"
    ));
    w.jit(["request", "--role", "aws-managed"])
        .run()
        .code(1)
        .stderr_has(&format!(
            "{arn} is already attached to user {user} outside jit"
        ));
    assert_eq!(attached(), vec![arn.clone()], "left as it was");
}

#[test]
fn an_iam_policy_lease_stores_only_its_own_keys_and_one_stored_earlier_still_revokes() {
    let moto = moto_server::shared();
    let (w, keys) = iam_policy_world(moto, "stored");
    let user = format!("stored-{}", me());
    let id = w.granted("aws-read", &[]);
    assert!(
        list_users(moto, &keys).status.success(),
        "the lease's policy works"
    );
    let params = || -> String {
        open_store(&w)
            .query_row("SELECT params FROM leases WHERE id = ?1", [&id], |r| {
                r.get(0)
            })
            .unwrap()
    };
    assert_eq!(
        params(),
        format!(
            r#"{{"mode":"iam-policy","policy":{},"user":"stored-{{user}}"}}"#,
            serde_json::to_string(LIST_USERS).unwrap()
        ),
        "an iam-policy grant is stored without source_identity"
    );
    // Earlier versions stored `source_identity` in every mode.
    open_store(&w)
        .execute(
            "UPDATE leases SET params = json_set(params, '$.source_identity', json('false')) \
             WHERE id = ?1",
            [&id],
        )
        .unwrap();
    assert!(
        params().contains(r#""source_identity":false"#),
        "{}",
        params()
    );
    w.jit(["revoke", &id])
        .run()
        .success()
        .stdout_has(&format!("revoked {id}\n"));
    assert_eq!(w.state_of(&id), "revoked");
    assert!(user_policies(moto, &user).is_empty());
    assert!(
        !list_users(moto, &keys).status.success(),
        "the policy is gone"
    );
}

#[test]
fn the_emulator_down_during_revoke_leaves_revoke_failed_until_sweep() {
    let moto = Moto::create();
    moto.start();
    let (w, _) = iam_policy_world(&moto, "down");
    let user = format!("down-{}", me());
    let id = w
        .jit(["request", "--role", "aws-read", "--json"])
        .run()
        .success()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    moto.stop();
    w.jit(["revoke", &id]).run().code(6).stdout_has(&format!(
        "{id}: revocation failed: iam at {}/: ",
        moto.endpoint()
    ));
    assert_eq!(w.state_of(&id), "revoke-failed");
    // moto keeps its state in memory: the restarted server has the setup again, and the
    // user and the lease's policy are put back as they were.
    moto.start();
    create_user(&moto, &user);
    moto.boto(&format!(
        "iam.put_user_policy(UserName='{user}', PolicyName='jit-{id}', PolicyDocument='{LIST_USERS}')"
    ));
    w.jit(["sweep"])
        .later(31)
        .run()
        .success()
        .stdout_has(&format!("{id}: revoked"));
    assert!(user_policies(&moto, &user).is_empty());
}

/// A local endpoint that answers `failures` times with `status` and an AWS throttling error,
/// and then like STS's GetCallerIdentity.
fn flaky_endpoint(failures: usize, status: u16) -> HttpServer {
    let xml = |status, body: &str| Reply {
        status,
        body: body.to_owned(),
        content_type: "text/xml",
        delay: None,
        headers: Vec::new(),
        gather: None,
    };
    let server = HttpServer::start();
    server.route(
        "POST",
        "/",
        xml(
            200,
            "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/jit-admin</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>",
        ),
    );
    let throttled = xml(
        status,
        "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>",
    );
    server.script("POST", "/", vec![throttled; failures]);
    server
}

#[test]
fn throttling_and_5xx_answers_are_retried_with_backoff_up_to_the_configured_count() {
    let w = World::empty();
    std::fs::write(w.path("id"), "AKIAEXAMPLE").unwrap();
    std::fs::write(w.path("secret"), "example-secret").unwrap();
    for file in ["id", "secret"] {
        std::fs::set_permissions(
            w.path(file),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    }
    let config = |endpoint: &str, retries: u32| {
        format!(
            "[targets.cloud]\nbackend = \"aws\"\nregion = \"us-east-1\"\nendpoint = \"{endpoint}\"\n\
             access_key_id = \"file:{}\"\nsecret_access_key = \"file:{}\"\nretries = {retries}\n",
            w.path("id").display(),
            w.path("secret").display()
        )
    };
    // Two throttled answers, then the real one: three requests, success.
    let endpoint = flaky_endpoint(2, 400);
    w.write_config(&config(&endpoint.url(""), 3));
    w.jit(["doctor"])
        .run()
        .success()
        .stdout_has("ok   target cloud: connect: arn:aws:iam::123456789012:user/jit-admin");
    assert_eq!(endpoint.requests().len(), 3);
    // 503s beyond the retries: the error, after 1 + retries requests.
    let endpoint = flaky_endpoint(10, 503);
    w.write_config(&config(&endpoint.url(""), 2));
    w.jit(["doctor"])
        .run()
        .code(1)
        .stdout_has("FAIL target cloud: connect: AWS Throttling: Rate exceeded");
    assert_eq!(endpoint.requests().len(), 3);
}

#[test]
fn iam_policy_on_a_group_reaches_its_members_for_the_lease() {
    let moto = moto_server::shared();
    let member = format!("grp-{}", me());
    let keys = create_user(moto, &member);
    let group = format!("ops-{}", me());
    moto.boto(&format!(
        "iam.create_group(GroupName='{group}'); iam.add_user_to_group(GroupName='{group}', UserName='{member}')"
    ));
    let w = aws_world(
        moto,
        &format!(
            "[roles.aws-ops]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\n\
             grant = {{ mode = \"iam-policy\", group = \"ops-{{user}}\", policy = '{LIST_USERS}' }}\n"
        ),
    );
    assert!(!list_users(moto, &keys).status.success(), "denied before");
    let id = w
        .jit(["request", "--role", "aws-ops", "--json"])
        .run()
        .success()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let policies: Vec<String> = serde_json::from_str(&moto.boto(&format!(
        "print(json.dumps(iam.list_group_policies(GroupName='{group}')['PolicyNames']))"
    )))
    .unwrap();
    assert_eq!(policies, [format!("jit-{id}")]);
    let listed = list_users(moto, &keys);
    assert!(
        listed.status.success(),
        "a member is allowed: {}",
        shown(&listed)
    );
    w.jit(["revoke", &id]).run().success();
    assert!(!list_users(moto, &keys).status.success(), "denied after");
}

#[test]
fn a_grant_to_an_endpoint_that_cannot_be_reached_is_failed_not_retried() {
    let moto = moto_server::shared();
    let w = assume_role_world(moto, "jit-unreached");
    let config = std::fs::read_to_string(w.config_path()).unwrap();
    w.write_config(&config.replace(
        &moto.endpoint(),
        &format!("http://127.0.0.1:{}", free_port()),
    ));
    crate::crash::assert_reached_nothing(&w, "aws-admin", "cannot connect");

    // Keys that cannot be read: nothing is sent either.
    let w = assume_role_world(moto, "jit-unread");
    std::fs::remove_file(w.path("cloud.aws-secret")).unwrap();
    crate::crash::assert_reached_nothing(&w, "aws-admin", "secret_access_key");
}
