//! What people see of a lease an AI agent asked for: "via agent CLIENT" and its task in
//! `jit list`, `jit show`, `jit approve` / `jit deny`, `jit audit`, the notifications and the
//! review. The agent's requests are made as `jit mcp` makes them, through the lease service
//! held by this test process (`jit::testing::AgentRequests`), so no MCP client is needed; the
//! rest is the binary, with the command backend of the harness as the target.

use crate::harness::*;
use crate::http_server::{HttpServer, Recorded, Reply};
use jit::testing::AgentRequests;
use serde_json::{Value, json};
use std::time::Duration;

const CLIENT: &str = "claude-code 1.0.3";
const TASK: &str = "find why the orders report is slow";
const REASON: &str = "read the slow query log";

/// The default configuration, a role open to agents (approved by APPROVER), and a JSON and
/// a Slack-style webhook.
fn world(hook: &HttpServer) -> World {
    let w = World::new();
    w.write_config(&format!(
        r#"{}
[roles.db-read]
target = "files"
max_ttl = "1h"

[roles.db-read.agent]
max_ttl = "15m"
approvals = {{ required = 1, from = ["user:{APPROVER}"] }}

[[notify]]
name = "events"
url = "{}"

[[notify]]
name = "chat"
url = "{}"
format = "slack"
"#,
        w.default_config(),
        hook.url("/json"),
        hook.url("/slack"),
    ));
    w
}

/// The cells of the table row whose first cell is `id` (cells are set apart by two spaces
/// or more; a cell holds single spaces only).
fn row(table: &str, id: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|line| line.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("no row {id} in:\n{table}"));
    line.split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .map(str::to_owned)
        .collect()
}

fn texts(requests: &[Recorded]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_agents_lease_says_via_agent_and_its_task_wherever_people_look() {
    let hook = HttpServer::start();
    hook.route("POST", "/", Reply::status(204));
    let w = world(&hook);
    let me = me();
    let person = w
        .jit([
            "request", "--role", "web-root", "--reason", "deploy", "--json",
        ])
        .run()
        .success()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let agent = AgentRequests::open(&w.config_path(), &w.state_dir()).unwrap();
    let (id, state) = agent
        .request(
            "db-read",
            Some(Duration::from_secs(600)),
            REASON,
            CLIENT,
            TASK,
        )
        .unwrap();
    assert_eq!(state, "pending");
    let via = format!("{me} via agent {CLIENT}");

    // jit list: the subject column says who asked; the JSON is the lease JSON as it was.
    let list = w.jit(["list"]).run().success();
    assert_eq!(
        row(&list.stdout, &id),
        [&id, "db-read", "files", &via, "pending", "-", "-"]
    );
    let people = row(&list.stdout, &person);
    assert_eq!(people[3], me, "a person's lease names the person alone");
    let listed = w.jit(["list", "--json"]).run().success().json();
    let lease = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id.as_str())
        .unwrap();
    crate::json_contract::conforms(lease, &["lease"]);
    assert_eq!(lease["agent"], json!({"client": CLIENT, "task": TASK}));
    assert_eq!(lease["subject"], me.as_str());

    // jit show: the agent under the requester, the task under the reason.
    let show = w.jit(["show", &id]).run().success();
    let lines: Vec<&str> = show.stdout.lines().take(10).collect();
    assert_eq!(
        lines[4..9],
        [
            format!("requester  {me}"),
            format!("agent      {CLIENT}"),
            "state      pending".to_owned(),
            "ticket     -".to_owned(),
            format!("reason     {REASON}"),
        ]
    );
    assert_eq!(lines[9], format!("task       {TASK}"));
    let shown = w.jit(["show", &person]).run().success();
    assert!(!shown.stdout.contains("\nagent "), "{}", shown.stdout);
    assert!(!shown.stdout.contains("\ntask "), "{}", shown.stdout);

    // jit audit: the requested event's details name the agent.
    let audit = w.jit(["audit"]).run().success();
    let requested = audit
        .stdout
        .lines()
        .find(|line| line.contains(&id) && line.contains(" requested "))
        .unwrap_or_else(|| panic!("no requested event of {id}:\n{}", audit.stdout));
    assert!(
        requested.contains(&format!(
            r#""agent":{{"client":"{CLIENT}","task":"{TASK}"}}"#
        )),
        "{requested}"
    );

    // jit approve: the approver reads that an agent asks, for whom and for what; this process
    // (the agent's session) takes up the grant.
    let clause = format!("(role db-read for {via}; task: {TASK})");
    w.jit(["approve", &id])
        .by(APPROVER)
        .run()
        .success()
        .stdout_is(&format!(
            "approved {id} {clause}; the waiting requester is granting it now\n"
        ));
    assert_eq!(
        agent.await_grant(&id, Duration::from_secs(30)).unwrap(),
        "active"
    );
    let expires = w.lease(&id)["expires_at"].as_str().unwrap().to_owned();
    w.jit(["revoke", &id]).run().success();

    // jit deny, with its reason.
    let (denied, _) = agent
        .request("db-read", None, REASON, CLIENT, "drop the orders table")
        .unwrap();
    w.jit(["deny", &denied, "--reason", "not that"])
        .by(APPROVER)
        .run()
        .success()
        .stdout_is(&format!(
            "denied {denied} (role db-read for {via}; task: drop the orders table): not that\n"
        ));

    // The notifications: the lease in the JSON payload carries the agent, and the line says
    // "via agent", with the task where the request is announced.
    let sent = hook.requests_to("/json");
    let about: Vec<&Recorded> = sent
        .iter()
        .filter(|r| r.json()["lease"]["id"] == id.as_str())
        .collect();
    let kinds: Vec<String> = about
        .iter()
        .map(|r| r.json()["event"]["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["requested", "approved", "granted", "revoked"]);
    for request in &about {
        let body = request.json();
        assert_eq!(
            body["lease"]["agent"],
            json!({"client": CLIENT, "task": TASK})
        );
        assert_eq!(body["lease"]["subject"], me.as_str());
    }
    let requested = about[0].json();
    assert_eq!(
        requested["event"]["details"]["agent"],
        json!({"client": CLIENT, "task": TASK})
    );
    let theirs = sent
        .iter()
        .find(|r| r.json()["lease"]["id"] == person.as_str())
        .unwrap()
        .json();
    assert_eq!(theirs["lease"].get("agent"), None, "{theirs}");
    let lines = texts(&hook.requests_to("/slack"));
    let on = format!("role db-read on files for {via} (lease {id})");
    let expected = [
        format!("jit: requested: {on}: {REASON} (task: {TASK})"),
        format!("jit: approved: {on}, by {APPROVER}"),
        format!("jit: granted: {on} until {expires}"),
        format!("jit: revoked: {on}"),
    ];
    let of_lease: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains(&format!("(lease {id})")))
        .collect();
    assert_eq!(of_lease, expected.iter().collect::<Vec<_>>());
    assert!(
        lines.contains(&format!(
            "jit: requested: role web-root on files for {me} (lease {person}): deploy"
        )),
        "{lines:#?}"
    );

    review(&w, &id, &denied, &person);
}

/// The review in its three formats.
fn review(w: &World, id: &str, denied: &str, person: &str) {
    let agent = json!({"client": CLIENT, "task": TASK});
    let review: Value = w.jit(["review", "--format", "json"]).run().success().json();
    crate::json_contract::conforms(&review, &["review"]);
    let leases = review["leases"].as_array().unwrap();
    let entry = |lease: &str| leases.iter().find(|l| l["id"] == lease).unwrap().clone();
    for lease in leases {
        crate::json_contract::conforms(lease, &["review lease"]);
    }
    assert_eq!(entry(id)["agent"], agent);
    assert_eq!(
        entry(denied)["agent"],
        json!({"client": CLIENT, "task": "drop the orders table"})
    );
    assert_eq!(entry(person)["agent"], Value::Null);

    // CSV: `agent` and `task` are the last columns, empty for a person's lease.
    let csv = w.jit(["review", "--format", "csv"]).run().success().stdout;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header[header.len() - 2..], ["agent", "task"]);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let record = |lease: &str| -> Vec<String> {
        let found = records.iter().find(|r| &r[0] == lease).unwrap();
        let n = found.len();
        vec![
            found[2].to_owned(),
            found[9].to_owned(),
            found[n - 2].to_owned(),
            found[n - 1].to_owned(),
        ]
    };
    assert_eq!(header[2], "subject");
    assert_eq!(header[9], "reason");
    assert_eq!(
        record(id),
        [me(), REASON.to_owned(), CLIENT.to_owned(), TASK.to_owned()]
    );
    assert_eq!(
        record(person),
        [me(), "deploy".into(), String::new(), String::new()]
    );

    // HTML: the timeline's bar of the agent's lease is marked and names the client; the lease
    // table's data carries the client and the task.
    let page = w.path("review.html");
    w.jit([
        "review",
        "--format",
        "html",
        "--output",
        page.to_str().unwrap(),
    ])
    .run()
    .success();
    let html = std::fs::read_to_string(&page).unwrap();
    let bar = html
        .match_indices("<rect class=\"bar")
        .map(|(at, _)| &html[at..at + html[at..].find('>').unwrap()])
        .find(|tag| tag.contains(&format!("data-lease=\"{id}\"")))
        .unwrap_or_else(|| panic!("no bar for {id}"));
    assert!(
        bar.starts_with("<rect class=\"bar e-revoked agent\""),
        "{bar}"
    );
    assert!(bar.contains(&format!("data-agent=\"{CLIENT}\"")), "{bar}");
    assert!(
        html.contains(&format!("<title>{id} {} via agent {CLIENT}</title>", me())),
        "the bar's title"
    );
    let person_bar = html
        .match_indices("<rect class=\"bar")
        .map(|(at, _)| &html[at..at + html[at..].find('>').unwrap()])
        .find(|tag| tag.contains(&format!("data-lease=\"{person}\"")))
        .unwrap();
    assert!(!person_bar.contains("agent"), "{person_bar}");
    let data_at = html.find("id=lease-data>").unwrap() + "id=lease-data>".len();
    let data: Value =
        serde_json::from_str(&html[data_at..data_at + html[data_at..].find("</script>").unwrap()])
            .unwrap();
    let strings = data["strings"].as_array().unwrap();
    let row = data["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == id)
        .unwrap();
    let string = |i: &Value| strings[usize::try_from(i.as_i64().unwrap()).unwrap()].clone();
    assert_eq!(string(&row[13]), CLIENT);
    assert_eq!(string(&row[14]), TASK);
    let theirs = data["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == person)
        .unwrap();
    assert_eq!(
        (theirs[13].as_i64(), theirs[14].as_i64()),
        (Some(-1), Some(-1))
    );

    // As a browser shows the table: the subject and reason cells of the agent's row.
    let profile = tempfile::tempdir().unwrap();
    let out = crate::review::browse(
        profile.path(),
        &["--virtual-time-budget=5000", "--dump-dom"],
        &format!("file://{}", page.display()),
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    let cells = |lease: &str| -> Vec<String> {
        let start = dom
            .find(&format!("<tr data-lease=\"{lease}\""))
            .unwrap_or_else(|| panic!("no row {lease}:\n{dom}"));
        let row = &dom[start..start + dom[start..].find("</tr>").unwrap()];
        row.split("<td")
            .skip(1)
            .map(|cell| {
                let text = &cell[cell.find('>').unwrap() + 1..];
                text[..text.find("</td>").unwrap()].to_owned()
            })
            .collect()
    };
    let agents = cells(id);
    assert_eq!(agents[2], format!("{} via agent {CLIENT}", me()));
    assert_eq!(agents[5], format!("{REASON} (task: {TASK})"));
    let persons = cells(person);
    assert_eq!(
        (persons[2].as_str(), persons[5].as_str()),
        (me().as_str(), "deploy")
    );
}
