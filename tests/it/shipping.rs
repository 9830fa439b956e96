//! Audit shipping to an HTTP collector (the in-suite server) and to a syslog socket: every
//! event arrives once, in order, whatever the outages in between.

use crate::harness::*;
use crate::http_server::{HttpServer, Recorded, Reply};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

fn world(ship: &str) -> World {
    let w = World::new();
    w.write_config(&format!("{}\n{ship}\n", w.default_config()));
    w
}

fn collector_config(collector: &HttpServer, extra: &str) -> String {
    format!(
        "[[audit.ship]]\nkind = \"http\"\nurl = \"{}\"\nauth = \"env:COLLECTOR_AUTH\"\n{extra}\n",
        collector.url("/ingest")
    )
}

/// The chain as `jit audit export` writes it: one JSON line per event.
fn exported(w: &World) -> Vec<String> {
    let run = w
        .jit(["audit", "export", "--format", "jsonl"])
        .run()
        .success();
    run.stdout.lines().map(str::to_owned).collect()
}

/// Every line the collector received, in arrival order.
fn received(batches: &[Recorded]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| b.body.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

fn jit(w: &World, args: &[&str]) -> crate::harness::Jit {
    w.jit(args).env("COLLECTOR_AUTH", "Bearer collector-token")
}

/// Grant a lease of `role` now (with the collector's secret at hand) and return its id.
fn granted(w: &World, role: &str) -> String {
    let lease = jit(w, &["request", "--role", role, "--json"])
        .run()
        .success()
        .json();
    assert_eq!(lease["state"], "active");
    lease["id"].as_str().unwrap().to_owned()
}

#[test]
fn every_command_ships_what_it_appended_as_json_lines() {
    let collector = HttpServer::start();
    collector.route("POST", "/ingest", Reply::status(202));
    let w = world(&collector_config(&collector, ""));
    let id = jit(&w, &["request", "--role", "web-root", "--json"])
        .run()
        .success()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    jit(&w, &["revoke", &id]).run().success();
    let batches = collector.requests();
    assert_eq!(batches.len(), 2, "one batch per command");
    assert_eq!(received(&batches), exported(&w));
    let first = &batches[0];
    assert_eq!(first.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(
        first.header("authorization"),
        Some("Bearer collector-token")
    );
    assert_eq!(first.header("x-jit-first-seq"), Some("1"));
    assert_eq!(first.header("x-jit-last-seq"), Some("2"));
    assert_eq!(batches[1].header("x-jit-first-seq"), Some("3"));
    jit(&w, &["audit", "ship"])
        .run()
        .success()
        .stdout_is("http: sent 0 event(s); has the chain through seq 3 of 3\n");
    assert_eq!(collector.requests().len(), 2, "nothing is sent twice");
}

#[test]
fn the_collector_down_for_a_while_and_back_gets_every_event_once_in_order() {
    let collector = HttpServer::start();
    collector.route("POST", "/ingest", Reply::status(200));
    let w = world(&collector_config(&collector, "batch = 2\nretries = 1"));
    let first = granted(&w, "web-root");
    assert_eq!(collector.requests().len(), 1);

    // Down: the work goes on; nothing is acknowledged, so nothing is lost.
    collector.pause();
    jit(&w, &["revoke", &first]).run().success();
    let second = granted(&w, "tokens");
    jit(&w, &["revoke", &second]).run().success();
    let run = jit(&w, &["audit", "ship"]).run().code(1);
    assert!(
        run.stdout
            .contains("http: sent 0 event(s); has the chain through seq 2 of 6"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&format!(
            "jit: error: http: {}: cannot connect",
            collector.url("/ingest")
        )),
        "{}",
        run.stderr
    );

    // Back: commands in the pause after the failure leave shipping to `jit audit ship`
    // and the sweeper.
    collector.resume();
    let third = granted(&w, "web-root");
    assert_eq!(collector.requests().len(), 1, "paused after the failure");
    jit(&w, &["audit", "ship"])
        .run()
        .success()
        .stdout_is("http: sent 6 event(s); has the chain through seq 8 of 8\n");
    // Once the pause is over, commands ship on their side again.
    jit(&w, &["revoke", &third]).later(120).run().success();
    let batches = collector.requests();
    assert_eq!(received(&batches), exported(&w));
    let seqs: Vec<i64> = received(&batches)
        .iter()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
    // Batches of at most 2.
    assert!(batches.iter().all(|b| b.body.lines().count() <= 2));
}

#[test]
fn a_5xx_answer_moves_nothing_and_the_retry_sends_the_same_events() {
    let collector = HttpServer::start();
    collector.route("POST", "/ingest", Reply::status(200));
    collector.script("POST", "/ingest", vec![Reply::status(503)]);
    let w = world(&collector_config(&collector, "retries = 0"));
    granted(&w, "web-root");
    jit(&w, &["audit", "ship"])
        .run()
        .success()
        .stdout_is("http: sent 2 event(s); has the chain through seq 2 of 2\n");
    let batches = collector.requests();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].body, batches[1].body, "the same batch again");
    assert_eq!(received(&batches[1..]), exported(&w));
}

#[test]
fn two_shippers_at_once_send_nothing_twice() {
    let collector = HttpServer::start();
    collector.route(
        "POST",
        "/ingest",
        Reply::status(200).delayed(Duration::from_millis(300)),
    );
    collector.script("POST", "/ingest", vec![Reply::status(500)]);
    let w = world(&collector_config(&collector, "retries = 0\nbatch = 1"));
    // The first command's shipping fails (500): everything waits for `jit audit ship`.
    granted(&w, "web-root");
    granted(&w, "tokens");
    let one = jit(&w, &["audit", "ship"]).spawn();
    let two = jit(&w, &["audit", "ship"]).spawn();
    let one = Run::from(one.wait_with_output().unwrap()).success();
    let two = Run::from(two.wait_with_output().unwrap()).success();
    let sent: usize = [one.stdout, two.stdout]
        .iter()
        .map(|out| {
            out.split("sent ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(sent, 4);
    // The failed first batch, then each event once.
    assert_eq!(received(&collector.requests()[1..]), exported(&w));
}

#[test]
fn syslog_gets_one_datagram_per_event_and_catches_up_after_the_socket_returns() {
    let w = World::new();
    let socket = w.path("log.sock");
    w.write_config(&format!(
        "{}\n[[audit.ship]]\nkind = \"syslog\"\nsocket = \"{}\"\nfacility = \"local3\"\n",
        w.default_config(),
        socket.display()
    ));
    // No socket yet (syslog down): the grant goes through; the events wait.
    let id = w.granted("web-root", &[]);
    let listener = UnixDatagram::bind(&socket).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    w.jit(["audit", "ship"])
        .run()
        .success()
        .stdout_is("syslog: sent 2 event(s); has the chain through seq 2 of 2\n");
    w.jit(["revoke", &id]).later(120).run().success();
    let mut lines = Vec::new();
    let mut buffer = vec![0u8; 65536];
    for _ in 0..3 {
        let n = listener.recv(&mut buffer).unwrap();
        lines.push(String::from_utf8(buffer[..n].to_vec()).unwrap());
    }
    let events = exported(&w);
    assert_eq!(lines.len(), events.len());
    for (line, event) in lines.iter().zip(&events) {
        // local3 = 19; info = 6: <158>.
        assert!(line.starts_with("<158>"), "{line}");
        let (head, message) = line.split_once(": ").unwrap();
        assert!(head.contains(" jit["), "{line}");
        assert_eq!(message, event);
    }
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.recv(&mut buffer).is_err(),
        "nothing more, nothing twice"
    );
}

#[test]
fn shipping_configuration_errors_and_no_destination() {
    let w = World::new();
    w.jit(["audit", "ship"])
        .run()
        .code(5)
        .stderr_has("no [[audit.ship]] destinations are configured");
    let base = w.default_config();
    let line = base.lines().count() + 3;
    for (table, at, message) in [
        (
            "[[audit.ship]]\nurl = \"https://c.example/\"\n",
            line - 1,
            "[[audit.ship]] #1 needs `kind` (\"http\" or \"syslog\")",
        ),
        (
            "[[audit.ship]]\nkind = \"kafka\"\n",
            line,
            "kind \"kafka\" is not one of \"http\", \"syslog\"",
        ),
        (
            "[[audit.ship]]\nkind = \"http\"\nurl = \"https://c.example/\"\nbatch = 0\n",
            line + 2,
            "batch must be at least 1",
        ),
        (
            "[[audit.ship]]\nkind = \"syslog\"\nfacility = \"kern\"\n",
            line + 1,
            "facility \"kern\" is not one of auth, authpriv",
        ),
        (
            "[[audit.ship]]\nkind = \"syslog\"\nurl = \"https://c.example/\"\n",
            line + 1,
            "unknown key `url` in [[audit.ship]] #1; valid keys: kind, name, socket, facility, format",
        ),
        (
            "[[audit.ship]]\nkind = \"syslog\"\n[[audit.ship]]\nkind = \"syslog\"\n",
            line + 1,
            "a second audit.ship destination named \"syslog\": give each its own `name`",
        ),
    ] {
        w.write_config(&format!("{base}\n{table}"));
        let run = w.jit(["config", "check"]).run().code(5);
        assert!(
            run.stderr.contains(&format!(":{at}:")) && run.stderr.contains(message),
            "{table}: {}",
            run.stderr
        );
    }
}

/// Put back a copy of the store taken earlier (as restoring a backup does).
fn restore(w: &World, backup: &std::path::Path) {
    let store = w.store_path();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
    }
    std::fs::copy(backup, &store).unwrap();
}

fn hash_of(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line).unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_restored_store_whose_chain_forked_from_what_was_shipped_is_not_shipped_over() {
    let collector = HttpServer::start();
    collector.route("POST", "/ingest", Reply::status(200));
    let w = world(&collector_config(&collector, ""));
    let id = granted(&w, "web-root");
    let backup = w.path("backup.db");
    open_store(&w)
        .execute("VACUUM INTO ?1", [backup.to_str().unwrap()])
        .unwrap();
    jit(&w, &["revoke", &id]).run().success();
    let shipped = exported(&w);
    assert_eq!(received(&collector.requests()), shipped);
    let h3 = hash_of(&shipped[2]);

    // The copy from before seq 3 comes back, and the checkpoint kept since (seq 3) with it:
    // the chain ends before the checkpoint.
    restore(&w, &backup);
    open_store(&w)
        .execute(
            "UPDATE audit_shipping SET seq = 3, hash = ?1",
            [h3.as_str()],
        )
        .unwrap();
    let run = jit(&w, &["audit", "ship"]).run().code(1);
    assert_eq!(
        run.stdout,
        "http: sent 0 event(s); has the chain through seq 3 of 3\n"
    );
    assert!(
        run.stderr.contains(&format!(
            "jit: error: http: the audit chain forked at seq 3: the destination holds hash {h3} there (its checkpoint), this store has no such record; not shipping over it"
        )),
        "{}",
        run.stderr
    );
    // The refusal is recorded once (seq 3 of this chain), however often it is seen again.
    jit(&w, &["audit", "ship"]).run().code(1);
    let events = exported(&w);
    assert_eq!(events.len(), 3);
    let refused: serde_json::Value = serde_json::from_str(&events[2]).unwrap();
    assert_eq!(refused["kind"], "ship-refused");
    assert_eq!(refused["details"]["destination"], "http");
    assert_eq!(refused["details"]["seq"], 3);
    assert_eq!(refused["details"]["expected_hash"], h3.as_str());
    assert_eq!(refused["details"]["found_hash"], serde_json::Value::Null);
    // Now there is a record 3, with another hash.
    let run = jit(&w, &["audit", "ship"]).run().code(1);
    assert!(
        run.stderr.contains(&format!(
            "the audit chain forked at seq 3: the destination holds hash {h3} there (its checkpoint), this store has {}",
            hash_of(&events[2])
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        collector.requests().len(),
        2,
        "nothing shipped over the fork"
    );
    w.jit(["audit", "verify"]).run().success();
}

#[test]
fn a_collector_that_holds_another_record_at_a_seq_stops_shipping() {
    let collector = HttpServer::start();
    collector.route("POST", "/ingest", Reply::status(200));
    let w = world(&collector_config(&collector, ""));
    let id = granted(&w, "web-root");
    let backup = w.path("backup.db");
    open_store(&w)
        .execute("VACUUM INTO ?1", [backup.to_str().unwrap()])
        .unwrap();
    jit(&w, &["revoke", &id]).run().success();
    let h3 = hash_of(&exported(&w)[2]);

    // As after a failover to a replica that had seq 2 and its checkpoint, not seq 3: the
    // checkpoint agrees with this chain, but the collector has another record 3 and says
    // so (as the documented collector does).
    restore(&w, &backup);
    collector.route(
        "POST",
        "/ingest",
        Reply::json(
            409,
            serde_json::json!({ "v": 1, "seq": 3, "hash": h3, "error": "fork at seq 3" }),
        ),
    );
    let other = granted(&w, "tokens");
    let run = jit(&w, &["audit", "ship"]).run().code(1);
    let mine = hash_of(&exported(&w)[2]);
    assert_ne!(mine, h3);
    assert_eq!(
        run.stdout,
        "http: sent 0 event(s); has the chain through seq 2 of 5\n"
    );
    assert!(
        run.stderr.contains(&format!(
            "jit: error: http: the audit chain forked at seq 3: the destination holds hash {h3} there (its answer), this store has {mine}; not shipping over it"
        )),
        "{}",
        run.stderr
    );
    let events = exported(&w);
    let kinds: Vec<String> = events
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "requested",
            "granted",
            "requested",
            "granted",
            "ship-refused"
        ]
    );
    jit(&w, &["revoke", &other]).run().success();
    w.jit(["audit", "verify"]).run().success();
}
