//! `jit discover` on an aws target, against a moto server of its own (IAM enforced): the
//! standing holdings are made by hand through boto3, and what `--adopt` removes is read
//! back through the IAM API.

use crate::harness::*;
use crate::moto_server::Moto;
use serde_json::Value;

const LIST_USERS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}"#;

/// A finding as the test compares it: kind, holder, entitlement, role, subject, removable.
type Row = (String, String, String, Option<String>, Option<String>, bool);

fn rows(report: &Value) -> Vec<Row> {
    let mut rows: Vec<Row> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["holder"].as_str().unwrap().to_owned(),
                f["entitlement"].as_str().unwrap().to_owned(),
                f["role"].as_str().map(str::to_owned),
                f["subject"].as_str().map(str::to_owned),
                f["removable"].as_bool().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn row(
    kind: &str,
    holder: &str,
    entitlement: &str,
    role: Option<&str>,
    subject: Option<&str>,
    removable: bool,
) -> Row {
    (
        kind.to_owned(),
        holder.to_owned(),
        entitlement.to_owned(),
        role.map(str::to_owned),
        subject.map(str::to_owned),
        removable,
    )
}

/// The id of the one finding with this holder and entitlement.
fn id_of(report: &Value, holder: &str, entitlement: &str) -> String {
    let found: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["holder"] == holder && f["entitlement"] == entitlement)
        .collect();
    assert_eq!(found.len(), 1, "{report}");
    found[0]["id"].as_str().unwrap().to_owned()
}

fn boto_list(moto: &Moto, code: &str) -> Vec<String> {
    let mut list: Vec<String> =
        serde_json::from_str(&moto.boto(&format!("print(json.dumps({code}))"))).unwrap();
    list.sort();
    list
}

fn attached(moto: &Moto, kind: &str, name: &str) -> Vec<String> {
    boto_list(
        moto,
        &format!(
            "[p['PolicyArn'] for p in iam.list_attached_{kind}_policies({}Name='{name}')['AttachedPolicies']]",
            if kind == "user" { "User" } else { "Group" }
        ),
    )
}

fn inline(moto: &Moto, user: &str) -> Vec<String> {
    boto_list(
        moto,
        &format!("iam.list_user_policies(UserName='{user}')['PolicyNames']"),
    )
}

/// A world on `moto`'s target (`discover_key_age = "1h"`) with the roles `aws-managed`
/// (the managed policy `arn` on the user `d-{user}`), `aws-read` (an inline policy on the
/// same user) and `aws-admin` (the IAM role `role_arn`); the test user is eligible for the
/// last two only.
fn world(moto: &Moto, arn: &str, role_arn: &str) -> World {
    let w = World::empty();
    w.write_config(&format!(
        "{target}discover_key_age = \"1h\"\n\n\
         [roles.aws-managed]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\n\
         grant = {{ mode = \"iam-policy\", user = \"d-{{user}}\", policy_arn = \"{arn}\" }}\n\n\
         [roles.aws-read]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\n\
         grant = {{ mode = \"iam-policy\", user = \"d-{{user}}\", policy = '{LIST_USERS}' }}\n\n\
         [roles.aws-admin]\ntarget = \"cloud\"\nmax_ttl = \"1h\"\n\
         grant = {{ mode = \"assume-role\", role_arn = \"{role_arn}\" }}\n\n\
         [[eligibility]]\nsubjects = [\"user:{me}\"]\nroles = [\"aws-read\", \"aws-admin\"]\n",
        target = moto.target("cloud", w.dir.path()),
        me = me(),
    ));
    w
}

#[test]
fn aws_discovery_reports_each_standing_holding_once_and_adopt_makes_it_just_in_time() {
    let moto = Moto::create();
    moto.start();
    let me = me();
    let user = format!("d-{me}");
    // By hand: the managed policy that aws-managed attaches, on the user it would attach it
    // to and on a group; an IAM role jit assumes whose trust policy also names bob; and an
    // admin user with an access key.
    let setup: Value = serde_json::from_str(&moto.boto(&format!(
        r#"
doc = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}}]}}
arn = iam.create_policy(PolicyName="d-read", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
iam.create_user(UserName="{user}")
iam.attach_user_policy(UserName="{user}", PolicyArn=arn)
iam.create_group(GroupName="auditors")
iam.attach_group_policy(GroupName="auditors", PolicyArn=arn)
iam.create_user(UserName="bob")
trust = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
    "Principal": {{"AWS": ["arn:aws:iam::123456789012:user/jit-admin", "arn:aws:iam::123456789012:user/bob"]}},
    "Action": "sts:AssumeRole"}}]}}
role = iam.create_role(RoleName="d-assume", Path="/jit/", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
iam.create_user(UserName="sysadmin")
everything = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "*", "Resource": "*"}}]}}
iam.put_user_policy(UserName="sysadmin", PolicyName="root", PolicyDocument=json.dumps(everything))
key = iam.create_access_key(UserName="sysadmin")["AccessKey"]
print(json.dumps({{"arn": arn, "role": role, "key": key["AccessKeyId"], "created": key["CreateDate"].isoformat()}}))
"#
    )))
    .unwrap();
    let arn = setup["arn"].as_str().unwrap();
    let role_arn = setup["role"].as_str().unwrap();
    let key = setup["key"].as_str().unwrap();
    let w = world(&moto, arn, role_arn);

    // A leftover: a lease this store granted and then forgot (as after a restore).
    let forgotten = w.granted("aws-read", &[]);
    let deleted = open_store(&w)
        .execute("DELETE FROM leases WHERE id = ?1", [&forgotten])
        .unwrap();
    assert_eq!(deleted, 1);
    // Another deployment's lease on the same user: its store's mark, not this one's.
    let other = world(&moto, arn, role_arn);
    let others = other.granted("aws-read", &[]);
    // A jit-named policy made by hand, with no mark.
    moto.boto(&format!(
        "iam.put_user_policy(UserName='{user}', PolicyName='jit-abcdefgh23', PolicyDocument='{LIST_USERS}')"
    ));
    // A live lease: nothing to report.
    let live = w.granted("aws-read", &[]);
    let document: Value = serde_json::from_str(&moto.boto(&format!(
        "print(json.dumps(iam.get_user_policy(UserName='{user}', PolicyName='jit-{live}')['PolicyDocument']))"
    )))
    .unwrap();
    assert_eq!(
        document["Statement"][0]["Sid"],
        format!("jit{}z{live}", store_name(&w)),
        "the grant carries the store's mark"
    );

    let report = w.jit(["discover", "--json"]).run().success().json();
    let managed = format!("managed policy {arn}");
    let trusted = format!("may assume {role_arn} (trust policy)");
    let leftover = format!("inline policy jit-{forgotten}");
    let unmarked = "inline policy jit-abcdefgh23";
    let bob = "arn:aws:iam::123456789012:user/bob";
    let subject = format!("user:{me}");
    let holder = format!("user/{user}");
    assert_eq!(
        rows(&report),
        vec![
            row("leftover", &holder, &leftover, None, None, true),
            row("standing", bob, &trusted, Some("aws-admin"), None, false),
            row(
                "standing",
                "group/auditors",
                &managed,
                Some("aws-managed"),
                None,
                true
            ),
            row(
                "standing",
                &holder,
                &managed,
                Some("aws-managed"),
                Some(&subject),
                true
            ),
            row("unmarked", &holder, unmarked, None, None, false),
        ],
        "{report}"
    );
    assert_eq!(report["errors"], serde_json::json!([]));
    // The admin user's key is younger than discover_key_age; two hours on, it is not.
    let report_later = w
        .jit(["discover", "--json", "--kind", "admin"])
        .later(7200)
        .run()
        .success()
        .json();
    let entitlement = format!("access key {key}, admin through inline policy root");
    assert_eq!(
        rows(&report_later),
        vec![row(
            "admin",
            "user/sysadmin",
            &entitlement,
            None,
            None,
            false
        )]
    );
    let since = chrono::DateTime::parse_from_rfc3339(
        report_later["findings"][0]["since"].as_str().unwrap(),
    )
    .unwrap();
    let created = chrono::DateTime::parse_from_rfc3339(setup["created"].as_str().unwrap()).unwrap();
    assert!(
        (since - created).num_seconds().abs() <= 1,
        "{since} vs {created}"
    );

    // Not eligible yet; adopting the user's attachment detaches it (the group keeps its
    // own) and prints the rule that makes the user eligible instead.
    w.jit(["request", "--role", "aws-managed"]).run().code(3);
    let id = id_of(&report, &holder, &managed);
    let adopted = w.jit(["discover", "--adopt", &id, "--yes"]).run().success();
    let (first, rule) = adopted.stdout.split_once('\n').unwrap();
    assert_eq!(
        first,
        format!("removed {managed} from {holder} on target \"cloud\" (finding {id})")
    );
    assert_eq!(
        rule,
        format!(
            "# {subject} asks for role \"aws-managed\" just in time instead (finding {id})\n\
             [[eligibility]]\nsubjects = [\"{subject}\"]\nroles = [\"aws-managed\"]\n"
        )
    );
    assert!(attached(&moto, "user", &user).is_empty(), "detached on IAM");
    assert_eq!(attached(&moto, "group", "auditors"), [arn]);
    let config = std::fs::read_to_string(w.config_path()).unwrap();
    w.write_config(&format!("{config}\n{rule}"));
    let lease = w.granted("aws-managed", &[]);
    assert_eq!(
        attached(&moto, "user", &user),
        [arn],
        "attached for the lease"
    );
    let audit = w.jit(["audit", "--json"]).run().success().json();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "adopted" && e["details"]["finding"] == id.as_str()),
        "{audit}"
    );

    // The leftover is removed on command; what jit does not remove is refused, unchanged.
    let leftover_id = id_of(&report, &holder, &leftover);
    w.jit(["discover", "--adopt", &leftover_id, "--yes"])
        .run()
        .success()
        .stdout_is(&format!(
            "removed {leftover} from {holder} on target \"cloud\" (finding {leftover_id})\n"
        ));
    for (who, what) in [(holder.as_str(), unmarked), (bob, trusted.as_str())] {
        let id = id_of(&report, who, what);
        w.jit(["discover", "--adopt", &id, "--yes"])
            .run()
            .code(2)
            .stderr_has(&format!("finding {id} ("));
    }
    assert_eq!(
        inline(&moto, &user),
        [
            format!("jit-{live}"),
            "jit-abcdefgh23".to_owned(),
            format!("jit-{others}")
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    let trust = moto.boto(
        "print(json.dumps(iam.get_role(RoleName='d-assume')['Role']['AssumeRolePolicyDocument']))",
    );
    assert!(trust.contains("user/bob"), "{trust}");

    // What remains: the live leases hold theirs, so only the group, bob and the unmarked.
    let report = w.jit(["discover", "--json"]).run().success().json();
    assert_eq!(
        rows(&report),
        vec![
            row("standing", bob, &trusted, Some("aws-admin"), None, false),
            row(
                "standing",
                "group/auditors",
                &managed,
                Some("aws-managed"),
                None,
                true
            ),
            row("unmarked", &holder, unmarked, None, None, false),
        ],
        "{report}"
    );
    w.jit(["revoke", &lease]).run().success();
    assert!(attached(&moto, "user", &user).is_empty());
}

#[test]
fn a_bad_discover_key_age_is_a_config_error_at_its_position() {
    let w = World::empty();
    w.write_config(
        "[targets.cloud]\nbackend = \"aws\"\nregion = \"us-east-1\"\n\
         access_key_id = \"env:AWS_KEY\"\nsecret_access_key = \"env:AWS_SECRET\"\n\
         discover_key_age = \"soon\"\n",
    );
    let run = w.jit(["config", "check"]).run().code(5);
    let err = run
        .stderr
        .replace(&w.config_path().display().to_string(), "CONFIG");
    assert!(
        err.contains("CONFIG:6:20: discover_key_age: \"soon\" is not a duration"),
        "{err}"
    );
    assert!(!w.store_path().exists(), "nothing was created");
}
