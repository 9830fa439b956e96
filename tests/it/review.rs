//! `jit review`: the access review over a scripted history (the test clock moves it on).
//! Every number of the JSON and CSV reviews is computed again here from
//! `jit audit export --format jsonl`, and the HTML review is opened in a real headless
//! Chromium: one timeline bar per granted lease with its role and times, the filter hides
//! rows, nothing is loaded from anywhere, and a screenshot is kept under target/.

use crate::harness::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The default configuration and a break-glass role `sos`.
fn world() -> World {
    let w = World::new();
    w.write_config(&format!(
        "{}\n[roles.sos]\ntarget = \"files\"\nmax_ttl = \"30m\"\nbreak_glass = true\n",
        w.default_config()
    ));
    w
}

fn id_of(run: Run) -> String {
    run.json()["id"].as_str().unwrap().to_owned()
}

/// The history: a lease revoked after 10 minutes, a break-glass lease and an approved one
/// that expire, a lease whose revocation failed for 10 minutes, a denial, a live lease.
struct History {
    w: World,
    revoked: String,
    break_glass: String,
    approved: String,
    failed: String,
    live: String,
}

fn history() -> History {
    let w = world();
    let revoked = id_of(
        w.jit([
            "request",
            "--role",
            "web-root",
            "--ttl",
            "1h",
            "--reason",
            "deploy <b>&</b> \"quoted\"",
            "--json",
        ])
        .run()
        .success(),
    );
    let break_glass = id_of(
        w.jit([
            "request",
            "--role",
            "sos",
            "--ttl",
            "25m",
            "--reason",
            "INC-9 db down",
            "--json",
        ])
        .by(REQUESTER)
        .run()
        .success(),
    );
    let approved = id_of(
        w.jit([
            "request", "--role", "gated", "--ttl", "20m", "--reason", "report", "--json",
        ])
        .by(REQUESTER)
        .run()
        .code(4),
    );
    w.jit(["approve", &approved, "--reason", "ok"])
        .by(APPROVER)
        .later(60)
        .run()
        .success();
    let failed = id_of(
        w.jit(["request", "--role", "tokens", "--ttl", "45m", "--json"])
            .run()
            .success(),
    );
    // Someone no rule lets request the role: denied, with the rule that refused.
    w.jit(["request", "--role", "web-root", "--ttl", "10m"])
        .by(APPROVER)
        .later(120)
        .run()
        .code(3);
    w.jit(["revoke", &revoked]).later(600).run().success();
    w.fail_revokes(true);
    w.jit(["revoke", &failed]).later(1200).run().code(6);
    w.fail_revokes(false);
    // Ten minutes on, the sweep revokes it, and ends the two leases past their end.
    w.jit(["sweep"]).later(1800).run().success();
    assert_eq!(w.state_of(&failed), "revoked");
    assert_eq!(w.state_of(&break_glass), "expired");
    assert_eq!(w.state_of(&approved), "expired");
    let live = id_of(
        w.jit(["request", "--role", "web-root", "--ttl", "1h", "--json"])
            .later(1850)
            .run()
            .success(),
    );
    History {
        w,
        revoked,
        break_glass,
        approved,
        failed,
        live,
    }
}

fn at(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp()
}

/// What the audit export says about each lease, computed here.
#[derive(Debug, Default, Clone)]
struct Told {
    role: String,
    subject: String,
    granted: Option<i64>,
    ended: Option<(String, i64)>,
    first_failure: Option<i64>,
    break_glass: bool,
    approvers: Vec<String>,
}

fn export(w: &World) -> Vec<Value> {
    let run = w
        .jit(["audit", "export", "--format", "jsonl"])
        .later(1900)
        .run()
        .success();
    run.stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn told(events: &[Value]) -> BTreeMap<String, Told> {
    let mut leases: BTreeMap<String, Told> = BTreeMap::new();
    for e in events {
        let Some(id) = e["lease_id"].as_str() else {
            continue;
        };
        let when = at(e["at"].as_str().unwrap());
        let lease = leases.entry(id.to_owned()).or_default();
        match e["kind"].as_str().unwrap() {
            "requested" => {
                lease.role = e["details"]["role"].as_str().unwrap().to_owned();
                lease.subject = e["actor"].as_str().unwrap().to_owned();
            }
            "granted" => {
                lease.granted = Some(when);
                lease.break_glass = e["details"]["break_glass"] == true;
            }
            "approved" => lease
                .approvers
                .push(e["details"]["by"].as_str().unwrap().to_owned()),
            "revoke-failed" if lease.first_failure.is_none() => lease.first_failure = Some(when),
            kind @ ("revoked" | "expired") => lease.ended = Some((kind.to_owned(), when)),
            _ => {}
        }
    }
    leases
}

fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]).div_euclid(2)),
    }
}

/// The summary a review should hold for the leases `told` and the denial count.
fn expected_summary(leases: &[&Told], denials: u64) -> Value {
    let durations: Vec<i64> = leases
        .iter()
        .filter_map(|l| Some(l.ended.as_ref()?.1 - l.granted?))
        .collect();
    let count = |f: &dyn Fn(&Told) -> bool| leases.iter().filter(|l| f(l)).count() as u64;
    serde_json::json!({
        "break_glass": count(&|l| l.break_glass),
        "denials": denials,
        "expired": count(&|l| l.ended.as_ref().is_some_and(|e| e.0 == "expired")),
        "granted": count(&|l| l.granted.is_some()),
        "leases": leases.len() as u64,
        "live": count(&|l| l.ended.is_none()),
        "median_secs": median(durations.clone()),
        "revoke_failures": count(&|l| l.first_failure.is_some()),
        "revoked": count(&|l| l.ended.as_ref().is_some_and(|e| e.0 == "revoked")),
        "total_secs": durations.iter().sum::<i64>(),
    })
}

fn without_name(summary: &Value) -> Value {
    let mut summary = summary.clone();
    summary.as_object_mut().unwrap().remove("name");
    summary
}

#[test]
fn the_json_and_csv_reviews_say_what_the_audit_trail_says() {
    let h = history();
    let w = &h.w;
    let events = export(w);
    let told = told(&events);
    let review = w
        .jit(["review", "--format", "json"])
        .later(1900)
        .run()
        .success()
        .json();
    crate::json_contract::conforms(&review, &["review"]);
    crate::json_contract::conforms(&review["chain"], &["review chain"]);
    crate::json_contract::conforms(&review["period"], &["review period"]);
    crate::json_contract::conforms(&review["totals"], &["review summary"]);
    crate::json_contract::conforms(&review["discover"], &["discover"]);

    // Every lease, with the times and endings the trail recorded.
    let leases = review["leases"].as_array().unwrap();
    let ids: BTreeSet<&str> = leases.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, told.keys().map(String::as_str).collect());
    assert_eq!(ids.len(), 5);
    for lease in leases {
        let id = lease["id"].as_str().unwrap();
        let t = &told[id];
        assert_eq!(lease["role"], t.role.as_str(), "{id}");
        assert_eq!(lease["requester"], t.subject.as_str(), "{id}");
        assert_eq!(lease["granted_at"].as_str().map(at), t.granted, "{id}");
        assert_eq!(
            lease["ended_at"].as_str().map(at),
            t.ended.as_ref().map(|e| e.1)
        );
        assert_eq!(
            lease["ended"].as_str(),
            t.ended.as_ref().map(|e| e.0.as_str())
        );
        assert_eq!(
            lease["duration_secs"].as_i64(),
            t.ended.as_ref().and_then(|e| Some(e.1 - t.granted?)),
            "{id}"
        );
        assert_eq!(lease["break_glass"], t.break_glass, "{id}");
        let approvers: Vec<&str> = lease["approvers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(approvers, t.approvers, "{id}");
    }
    let lease = |id: &str| leases.iter().find(|l| l["id"] == id).unwrap();
    assert_eq!(lease(&h.revoked)["reason"], "deploy <b>&</b> \"quoted\"");
    assert_eq!(lease(&h.revoked)["ended"], "revoked");
    assert_eq!(lease(&h.break_glass)["break_glass"], true);
    assert_eq!(lease(&h.break_glass)["ended"], "expired");
    assert_eq!(
        lease(&h.approved)["approvers"],
        serde_json::json!([APPROVER])
    );
    assert_eq!(lease(&h.live)["ended"], Value::Null);
    assert_eq!(review["live"], serde_json::json!([h.live]));

    // The failed revocation: it outlived its lease from the first failure to the revocation.
    let t = &told[&h.failed];
    let outlived = t.ended.as_ref().unwrap().1 - t.first_failure.unwrap();
    assert!((590..=700).contains(&outlived), "{outlived}");
    let failures = review["revoke_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["lease_id"], h.failed.as_str());
    assert_eq!(failures[0]["outlived_secs"], outlived);
    assert_eq!(failures[0]["attempts"], 1);
    assert_eq!(lease(&h.failed)["outlived_secs"], outlived);

    // Denials, with the rule that refused.
    let denied: Vec<&Value> = events.iter().filter(|e| e["kind"] == "denied").collect();
    assert_eq!(denied.len(), 1);
    let denials = review["denials"].as_array().unwrap();
    assert_eq!(denials.len(), denied.len());
    assert_eq!(denials[0]["seq"], denied[0]["seq"]);
    assert_eq!(denials[0]["rule"], denied[0]["details"]["rule"]);
    assert!(denials[0]["rule"].is_string());
    assert_eq!(denials[0]["actor"], APPROVER);

    // Totals, and per role and per subject.
    let all: Vec<&Told> = told.values().collect();
    assert_eq!(
        without_name(&review["totals"]),
        expected_summary(&all, denied.len() as u64)
    );
    assert!(review["totals"]["median_secs"].is_i64());
    for (key, list) in [("role", "roles"), ("subject", "subjects")] {
        let mut names: BTreeSet<String> = told
            .values()
            .map(|t| if key == "role" { &t.role } else { &t.subject }.clone())
            .collect();
        for d in &denied {
            names.insert(d["details"][key].as_str().unwrap().to_owned());
        }
        let summaries = review[list].as_array().unwrap();
        assert_eq!(
            summaries
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_owned())
                .collect::<BTreeSet<_>>(),
            names
        );
        for summary in summaries {
            let name = summary["name"].as_str().unwrap();
            let of: Vec<&Told> = told
                .values()
                .filter(|t| (if key == "role" { &t.role } else { &t.subject }) == name)
                .collect();
            let refused = denied.iter().filter(|d| d["details"][key] == name).count();
            assert_eq!(
                without_name(summary),
                expected_summary(&of, refused as u64),
                "{list} {name}"
            );
        }
    }

    // The rules in force, never certified yet; the chain verified, its checkpoint the
    // last record the export shows.
    let rules = review["eligibility"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["name"], "eligibility rule #1");
    assert_eq!(
        rules[0]["subjects"],
        serde_json::json!([format!("user:{}", me()), format!("user:{REQUESTER}")])
    );
    assert!(
        rules[0]["roles"]
            .as_array()
            .unwrap()
            .contains(&Value::from("sos"))
    );
    assert_eq!(rules[0]["last_certified"], Value::Null);
    let last = events.last().unwrap();
    let head = format!("{}:{}", last["seq"], last["hash"].as_str().unwrap());
    assert_eq!(review["chain"]["verified"], true);
    assert_eq!(review["chain"]["head"], head.as_str());
    assert_eq!(review["chain"]["checkpoint"], head.as_str());
    assert_eq!(review["chain"]["events"], events.len() as u64);
    assert_eq!(review["discover"]["errors"], serde_json::json!([]));

    // The CSV carries the same rows.
    let csv = w
        .jit(["review", "--format", "csv"])
        .later(1900)
        .run()
        .success()
        .stdout;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows: Vec<BTreeMap<String, String>> = reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), told.len());
    for row in &rows {
        let t = &told[&row["id"]];
        assert_eq!(row["role"], t.role);
        assert_eq!(row["requester"], t.subject);
        let granted = (!row["granted_at"].is_empty()).then(|| at(&row["granted_at"]));
        assert_eq!(granted, t.granted);
        let duration = t.ended.as_ref().and_then(|e| Some(e.1 - t.granted?));
        assert_eq!(
            row["duration_secs"],
            duration.map(|d| d.to_string()).unwrap_or_default()
        );
        assert_eq!(
            row["ended"],
            t.ended.as_ref().map(|e| e.0.clone()).unwrap_or_default()
        );
        assert_eq!(row["break_glass"], t.break_glass.to_string());
        assert_eq!(row["approvers"], t.approvers.join(" "));
        let outlived = t.first_failure.zip(t.ended.as_ref()).map(|(f, e)| e.1 - f);
        assert_eq!(
            row["outlived_secs"],
            outlived.map(|d| d.to_string()).unwrap_or_default()
        );
    }

    // A period that ends when the live lease was requested: without it, and its
    // checkpoint is the last record before.
    let requested = events
        .iter()
        .position(|e| e["kind"] == "requested" && e["lease_id"] == h.live.as_str())
        .unwrap();
    let until = events[requested]["at"].as_str().unwrap();
    let before = &events[requested - 1];
    assert!(
        before["at"].as_str().unwrap() < until,
        "a record in the same second"
    );
    let earlier = w
        .jit(["review", "--format", "json", "--until", until])
        .later(1900)
        .run()
        .success()
        .json();
    let ids: BTreeSet<&str> = earlier["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(!ids.contains(h.live.as_str()));
    assert_eq!(earlier["live"], serde_json::json!([]));
    assert_eq!(
        earlier["chain"]["checkpoint"],
        format!("{}:{}", before["seq"], before["hash"].as_str().unwrap()).as_str()
    );
    assert_eq!(earlier["chain"]["period_events"], requested as u64);
    assert_eq!(earlier["chain"]["head"], head.as_str());

    // A role's review holds that role only.
    let sos = w
        .jit(["review", "--format", "json", "--role", "sos"])
        .later(1900)
        .run()
        .success()
        .json();
    assert_eq!(
        sos["leases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].clone())
            .collect::<Vec<_>>(),
        vec![Value::from(h.break_glass.as_str())]
    );
    assert_eq!(sos["denials"], serde_json::json!([]));
}

#[test]
fn bad_review_arguments_are_usage_errors_that_change_nothing() {
    let w = world();
    let before = w.event_count();
    w.jit(["review"])
        .run()
        .code(2)
        .stderr_has("--format html, csv or json");
    w.jit(["review", "--format", "json", "--since", "yesterday"])
        .run()
        .code(2)
        .stderr_has("--since \"yesterday\"");
    w.jit(["review", "--format", "json", "--role", "nope"])
        .run()
        .code(2)
        .stderr_has("unknown role \"nope\"");
    assert_eq!(w.event_count(), before);
}

/// Print (past the test harness's capture) how long the page took to load and run its
/// script, as the page measured it, and Chromium's whole run.
fn load_time(what: &str, dom: &str, started: Instant) -> u64 {
    let tag = tags(dom, "<body").into_iter().next().expect("a body");
    let ms: u64 = attribute(tag, "data-load-ms")
        .unwrap_or_else(|| panic!("the page did not say when it was ready: {tag}"))
        .parse()
        .unwrap();
    let _ = writeln!(
        std::io::stderr(),
        "review page ({what}) load in Chromium: {ms} ms to ready; {} ms with Chromium's start",
        started.elapsed().as_millis()
    );
    ms
}

/// Debian's chromium, which scripts/test.sh installs.
fn chromium() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("chromium is missing: scripts/test.sh installs it (apt-get install chromium)");
}

pub(crate) fn browse(profile: &Path, extra: &[&str], url: &str) -> std::process::Output {
    let output = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The value of attribute `name` in the start tag `tag`.
pub(crate) fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let from = tag.find(&key)? + key.len();
    Some(&tag[from..from + tag[from..].find('"')?])
}

/// Unix seconds, as the bars carry them.
fn secs(text: &str) -> i64 {
    text.parse().unwrap()
}

/// The start tags in `dom` that begin with `prefix`.
pub(crate) fn tags<'a>(dom: &'a str, prefix: &str) -> Vec<&'a str> {
    dom.match_indices(prefix)
        .map(|(i, _)| &dom[i..i + dom[i..].find('>').unwrap()])
        .collect()
}

#[test]
fn the_html_review_opens_in_a_browser_with_a_bar_per_lease_and_a_working_filter() {
    let h = history();
    let w = &h.w;
    let told = told(&export(w));
    let page = w.path("review.html");
    w.jit([
        "review",
        "--format",
        "html",
        "--output",
        page.to_str().unwrap(),
    ])
    .later(1900)
    .run()
    .success()
    .stderr_has("review of 5 leases written to");
    let html = std::fs::read_to_string(&page).unwrap();
    // Nothing to load: no address, and a policy that lets the page load nothing.
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(html.contains(
        "content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\""
    ));
    // What came from the store is escaped.
    assert!(html.contains("deploy &lt;b&gt;&amp;&lt;/b&gt;") || html.contains("deploy \\u003cb>&"));
    assert!(!html.contains("<b>&</b>"));

    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}#filter={}", page.display(), h.break_glass);
    let started = Instant::now();
    let out = browse(
        profile.path(),
        &["--virtual-time-budget=5000", "--dump-dom"],
        &url,
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    load_time("5 leases", &dom, started);
    assert!(
        dom.contains("data-ready=\"yes\""),
        "the page's script ran:\n{dom}"
    );
    assert!(
        !dom.contains("data-blocked"),
        "the page tried to load something"
    );

    // One bar per granted lease, with its role and times.
    let bars = tags(&dom, "<rect class=\"bar");
    let granted: Vec<(&String, &Told)> = told.iter().filter(|(_, t)| t.granted.is_some()).collect();
    assert_eq!(bars.len(), granted.len(), "{bars:#?}");
    for (id, t) in &granted {
        let bar = bars
            .iter()
            .find(|b| attribute(b, "data-lease") == Some(id.as_str()))
            .unwrap_or_else(|| panic!("no bar for {id}"));
        assert_eq!(attribute(bar, "data-role"), Some(t.role.as_str()));
        assert_eq!(attribute(bar, "data-start").map(secs), t.granted);
        if let Some((how, end)) = &t.ended {
            assert_eq!(attribute(bar, "data-end").map(secs), Some(*end), "{id}");
            let class = attribute(bar, "class").unwrap();
            assert!(class.contains(&format!("e-{how}")), "{class}");
            // The time it outlived its lease is drawn over the bar's end.
            let outlived = dom.contains(&format!("<rect class=\"outlived\" data-lease=\"{id}\""));
            assert_eq!(outlived, t.first_failure.is_some(), "{id}");
        } else {
            assert!(attribute(bar, "class").unwrap().contains("e-live"));
        }
        assert_eq!(
            attribute(bar, "class").unwrap().contains(" bg"),
            t.break_glass,
            "break-glass is marked"
        );
    }
    // The filter (set by the address) hides every row but the break-glass lease's.
    let rows = tags(&dom, "<tr data-lease=");
    assert_eq!(rows.len(), told.len());
    for row in rows {
        let hidden = row.contains(" hidden");
        assert_eq!(
            hidden,
            attribute(row, "data-lease") != Some(h.break_glass.as_str()),
            "{row}"
        );
    }
    assert!(dom.contains("1 of 5 shown"));

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let png = artifacts.join("review.png");
    let _ = std::fs::remove_file(&png);
    browse(
        profile.path(),
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2000",
            "--virtual-time-budget=5000",
        ],
        &format!("file://{}", page.display()),
    );
    let image = std::fs::read(&png).unwrap();
    assert!(
        image.len() > 1000 && image.starts_with(b"\x89PNG"),
        "{}",
        png.display()
    );
}

#[test]
fn a_review_of_twenty_thousand_leases_is_small_and_loads_quickly_in_a_browser() {
    let w = world();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let made = std::process::Command::new("python3")
        .arg(root.join("scripts/bench/mkreview.py"))
        .arg(w.store_path())
        .args(["20000", "100000", &me()])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    w.jit(["audit", "verify"]).run().success();
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
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 5 << 20, "the page is {size} bytes");
    let profile = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = browse(
        profile.path(),
        &["--virtual-time-budget=20000", "--dump-dom"],
        &format!("file://{}#filter=user7", page.display()),
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    let ms = load_time("20,000 leases", &dom, started);
    assert_eq!(tags(&dom, "<rect class=\"bar").len(), 20000);
    assert_eq!(tags(&dom, "<tr data-lease=").len(), 20000);
    // 50 subjects: user7 holds every 50th lease.
    assert!(dom.contains("400 of 20000 shown"), "the filter ran");
    // Generous for a shared machine: a page that makes a reviewer wait fails.
    assert!(ms < 10_000, "the page took {ms} ms to be ready");
}

#[test]
fn a_team_store_is_reviewed_as_a_local_one_is() {
    let mut t = crate::team::Team::new("");
    t.worker(|j| j);
    let id = t
        .person(
            REQUESTER,
            ["request", "--role", "web-root", "--ttl", "10m", "--json"],
        )
        .run()
        .success()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let verified = t
        .person(APPROVER, ["audit", "verify"])
        .run()
        .success()
        .stdout;
    let review = t
        .person(APPROVER, ["review", "--format", "json"])
        .run()
        .success()
        .json();
    t.stop_workers();
    crate::json_contract::conforms(&review, &["review"]);
    let leases = review["leases"].as_array().unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0]["id"], id.as_str());
    assert_eq!(leases[0]["requester"], REQUESTER);
    assert_eq!(review["live"], serde_json::json!([id]));
    assert_eq!(review["chain"]["verified"], true);
    let head = review["chain"]["head"].as_str().unwrap();
    assert!(verified.contains(head), "{verified} does not hold {head}");
}
