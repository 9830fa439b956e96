//! Progress at the terminal: a spinner with the time waited on `jit request --wait`, a bar on
//! `jit sweep`, drawn in a real terminal (tmux) and gone when the command ends; nothing of it
//! for a script (a pipe, `--json`, `--quiet`).

use crate::crash::await_that;
use crate::harness::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What the spinner and the bar draw with (indicatif's default spinner, the bar's fill).
const DRAWN: &[&str] = &["⠁", "⠂", "⠄", "⡀", "⢀", "⠠", "⠐", "⠈", "[=", "=>", "/60 ("];

fn drawn(text: &str) -> Vec<&'static str> {
    DRAWN
        .iter()
        .copied()
        .filter(|mark| text.contains(mark))
        .collect()
}

/// A tmux server of the test's own (a private socket), one 120x30 pane running `sh`, with
/// everything the pane prints also recorded raw (escape sequences and all).
struct Tmux {
    socket: String,
    /// Where the pane's output goes now (a new file after each [`Tmux::clear`]).
    raw: std::cell::RefCell<PathBuf>,
    dir: PathBuf,
}

impl Tmux {
    fn start(w: &World) -> Tmux {
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix).unwrap();
        let socket = format!(
            "jit-progress-{}",
            suffix
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let tmux = Tmux {
            socket,
            raw: Default::default(),
            dir: w.dir.path().to_owned(),
        };
        tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "30",
            // dash takes a prompt of its own for root unless told.
            "env PS1='$ ' sh",
        ]);
        tmux.record();
        tmux
    }

    /// Record what the pane is sent from now on into a new file (what an earlier recording
    /// still has on its way goes to the earlier file).
    fn record(&self) {
        self.run(&["pipe-pane"]);
        let n = std::fs::read_dir(&self.dir).unwrap().count();
        let raw = self.dir.join(format!("{}-{n}.raw", self.socket));
        self.run(&["pipe-pane", &format!("cat >> {}", raw.display())]);
        *self.raw.borrow_mut() = raw;
    }

    fn run(&self, args: &[&str]) -> String {
        // The pane's shell gets only what the server is started with.
        let output = Command::new("tmux")
            .arg("-u")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .output()
            .expect("tmux (scripts/test.sh installs it)");
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Type `line` into the shell, then Enter.
    fn type_line(&self, line: &str) {
        self.run(&["send-keys", "-l", line]);
        self.run(&["send-keys", "Enter"]);
    }

    /// The pane as it looks now, its lines without trailing blanks, empty lines at the end
    /// dropped.
    fn screen(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .run(&["capture-pane", "-p", "-J"])
            .lines()
            .map(|l| l.trim_end().to_owned())
            .collect();
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        lines
    }

    /// Look at the pane until `done` holds, and return the screen it held on.
    fn await_screen(&self, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let mut seen = Vec::new();
        await_that(what, || {
            seen = self.screen();
            done(&seen)
        });
        seen
    }

    /// Run `args` of jit in the pane (in `w`'s world, `env` set), and return the screen once
    /// it has ended: the lines it printed (between the typed command and `[exit N]`) and N.
    fn jit_ended(&self, w: &World, env: &[(&str, &str)], args: &str) -> (Vec<String>, String) {
        self.type_line(&command_line(w, env, args));
        self.ended()
    }

    fn ended(&self) -> (Vec<String>, String) {
        // The end is the exit line with the shell's next prompt under it (under load the
        // prompt comes a moment after the exit line).
        let screen = self.await_screen("the command's end and the next prompt", |lines| {
            lines
                .iter()
                .position(|l| exit_of(l).is_some())
                .is_some_and(|end| lines.get(end + 1).map(String::as_str) == Some("$"))
        });
        // A long report scrolls the typed command off the top.
        let start = screen
            .iter()
            .position(|l| l.starts_with("$ ") && l.contains("[exit $?]"))
            .map_or(0, |typed| typed + 1);
        let end = screen.iter().position(|l| exit_of(l).is_some()).unwrap();
        let code = exit_of(&screen[end]).unwrap().to_owned();
        assert_eq!(
            screen.get(end + 1).map(String::as_str),
            Some("$"),
            "{screen:#?}"
        );
        assert_eq!(screen.len(), end + 2, "{screen:#?}");
        (screen[start..end].to_vec(), code)
    }

    /// Everything the pane was sent, raw, once it holds `[exit`.
    fn raw(&self) -> String {
        let mut raw = String::new();
        await_that("the recorded pane output", || {
            raw = String::from_utf8_lossy(&std::fs::read(&*self.raw.borrow()).unwrap_or_default())
                .into_owned();
            raw.contains("[exit 0]") || raw.contains("[exit 1]") || raw.contains("[exit 4]")
        });
        raw
    }

    fn clear(&self) {
        self.type_line("clear");
        self.await_screen("a clear pane", |lines| lines == ["$"]);
        self.record();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn exit_of(line: &str) -> Option<&str> {
    line.strip_prefix("[exit ")?.strip_suffix(']')
}

/// A shell line running jit in `w` with `env` (the world's and more), then saying its exit
/// code as `[exit N]`. Values are the tests' own: no quoting needed beyond single quotes.
fn command_line(w: &World, env: &[(&str, &str)], args: &str) -> String {
    let script = w.path("jit.sh");
    if !script.exists() {
        let mut text = String::from("exec env");
        for (key, value) in w.env() {
            text.push_str(&format!(" '{key}={}'", value.to_str().unwrap()));
        }
        text.push_str(&format!(" '{JIT}' \"$@\"\n"));
        std::fs::write(&script, text).unwrap();
    }
    let mut line = String::new();
    for (key, value) in env {
        line.push_str(&format!("{key}='{value}' "));
    }
    format!("{line}sh {} {args}; echo \"[exit $?]\"", script.display())
}

/// The lease id in the spinner's line `⠂ waiting for approval of ID: 0 of 1 (Ns)` once it
/// has counted at least a second.
fn spinning(lines: &[String]) -> Option<String> {
    lines.iter().find_map(|line| {
        let (mark, rest) = line.split_once(' ')?;
        if !DRAWN[..8].contains(&mark) {
            return None;
        }
        let rest = rest.strip_prefix("waiting for approval of ")?;
        let (id, rest) = rest.split_once(": 0 of 1 (")?;
        let seconds: u64 = rest.strip_suffix("s)")?.parse().ok()?;
        (seconds >= 1).then(|| id.to_owned())
    })
}

#[test]
fn a_local_wait_spins_with_the_time_waited_and_leaves_the_grant() {
    let w = World::new();
    let tmux = Tmux::start(&w);
    tmux.type_line(&command_line(
        &w,
        &[("SUDO_USER", REQUESTER)],
        "request --role gated --wait --timeout 60s",
    ));
    let screen = tmux.await_screen("the spinner with a second waited", |lines| {
        spinning(lines).is_some()
    });
    let id = spinning(&screen).unwrap();
    assert_eq!(w.state_of(&id), "pending");
    w.jit(["approve", &id])
        .by(APPROVER)
        .run()
        .success()
        .stdout_has("the waiting requester is granting it now");
    let (printed, code) = tmux.ended();
    assert_eq!(code, "0", "{printed:#?}");
    // The spinner's line is gone: what stays is the grant and its credentials.
    assert_eq!(printed.len(), 3, "{printed:#?}");
    assert!(
        printed[0].starts_with(&format!(
            "granted {id}: role gated on files for {REQUESTER} until "
        )),
        "{printed:#?}"
    );
    assert_eq!(printed[1], "credentials (shown once, not stored):");
    assert!(printed[2].starts_with("TOKEN=tok-"), "{printed:#?}");
    assert_eq!(w.state_of(&id), "active");
}

/// The pane's shell types a request of `gated` that waits, and this approves it once it is
/// recorded (and, where the wait says so, once it has said so); what the pane shows once it
/// ended.
fn approved_in_pane(
    w: &World,
    tmux: &Tmux,
    args: &str,
    says_it_waits: bool,
) -> (String, Vec<String>) {
    let before = w.leases().len();
    tmux.type_line(&command_line(w, &[("SUDO_USER", REQUESTER)], args));
    let mut id = String::new();
    await_that("the pending request", || {
        let leases = w.leases();
        match leases.iter().find(|l| l["state"] == "pending") {
            Some(lease) if leases.len() > before => {
                id = lease["id"].as_str().unwrap().to_owned();
                true
            }
            _ => false,
        }
    });
    if says_it_waits {
        let waiting = format!("jit: waiting for approval of {id}: 0 of 1");
        tmux.await_screen("the waiting line", |lines| lines.contains(&waiting));
    }
    w.jit(["approve", &id]).by(APPROVER).run().success();
    let (printed, code) = tmux.ended();
    assert_eq!(code, "0", "{printed:#?}");
    (id, printed)
}

/// What a wait says, off the spinner, from the request to its approval by APPROVER.
fn waited(id: &str) -> [String; 2] {
    [
        format!("jit: waiting for approval of {id}: 0 of 1"),
        format!("jit: waiting for approval of {id}: 1 of 1 (approved by {APPROVER})"),
    ]
}

#[test]
fn a_wait_draws_nothing_for_a_script() {
    let w = World::new();
    let tmux = Tmux::start(&w);

    // --json at the terminal: the waiting lines, then the document; nothing drawn.
    let (id, printed) = approved_in_pane(
        &w,
        &tmux,
        "request --role gated --wait --timeout 60s --json",
        true,
    );
    let raw = tmux.raw();
    assert_eq!(drawn(&raw), Vec::<&str>::new(), "{raw}");
    assert_eq!(printed.len(), 3, "{printed:#?}");
    assert_eq!(printed[..2], waited(&id));
    let lease: serde_json::Value = serde_json::from_str(&printed[2]).unwrap();
    assert_eq!(lease["id"], id.as_str());
    assert_eq!(lease["state"], "active");

    // --quiet at the terminal: only the id and the credentials.
    tmux.clear();
    let (id, printed) = approved_in_pane(
        &w,
        &tmux,
        "request --role gated --wait --timeout 60s -q",
        false,
    );
    let raw = tmux.raw();
    assert_eq!(drawn(&raw), Vec::<&str>::new(), "{raw}");
    assert_eq!(printed.len(), 2, "{printed:#?}");
    assert_eq!(printed[0], id);
    assert!(printed[1].starts_with("TOKEN=tok-"), "{printed:#?}");

    // Standard output into a file, standard error still at the terminal: lines, no spinner.
    tmux.clear();
    let out = w.path("granted.txt");
    let (id, printed) = approved_in_pane(
        &w,
        &tmux,
        &format!(
            "request --role gated --wait --timeout 60s > {}",
            out.display()
        ),
        true,
    );
    let raw = tmux.raw();
    assert_eq!(drawn(&raw), Vec::<&str>::new(), "{raw}");
    assert_eq!(printed, waited(&id));
    let granted = std::fs::read_to_string(&out).unwrap();
    assert!(
        granted.starts_with(&format!(
            "granted {id}: role gated on files for {REQUESTER} until "
        )),
        "{granted}"
    );

    // No terminal at all: the exact output.
    let mut waiter = w
        .jit(["request", "--role", "gated", "--wait", "--timeout", "60s"])
        .by(REQUESTER)
        .spawn();
    let mut stderr = std::io::BufReader::new(waiter.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    let id = first
        .strip_prefix("jit: waiting for approval of ")
        .and_then(|rest| rest.strip_suffix(": 0 of 1\n"))
        .unwrap_or_else(|| panic!("{first:?}"))
        .to_owned();
    w.jit(["approve", &id]).by(APPROVER).run().success();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let run = Run::from(waiter.wait_with_output().unwrap()).success();
    assert_eq!(first + &rest, waited(&id).map(|l| l + "\n").concat());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(lines[0].starts_with(&format!(
        "granted {id}: role gated on files for {REQUESTER} until "
    )));
    assert_eq!(lines[1], "credentials (shown once, not stored):");
    assert!(lines[2].starts_with("TOKEN=tok-"));
}

/// A world of the file backend (granted and revoked in the process: quick) with `n` leases
/// of a minute.
fn many_leases(n: usize) -> (World, Vec<String>) {
    let w = crate::file_backend::file_world();
    let ids = (0..n)
        .map(|_| {
            w.jit(["request", "--role", "note", "--ttl", "1m", "-q"])
                .run()
                .success()
                .stdout
                .trim()
                .to_owned()
        })
        .collect();
    (w, ids)
}

#[test]
fn a_sweep_draws_a_bar_at_the_terminal_and_leaves_its_report() {
    let (w, ids) = many_leases(60);
    let tmux = Tmux::start(&w);
    let (printed, code) = tmux.jit_ended(&w, &[("JIT_TEST_CLOCK_OFFSET", "120")], "sweep");
    assert_eq!(code, "0", "{printed:#?}");
    let raw = tmux.raw();
    // The bar was drawn on the way...
    assert!(raw.contains("sweeping due leases ["), "{raw}");
    assert!(raw.contains("/60 ("), "{raw}");
    // ...and what stays on the screen is the report alone: a line per lease.
    let mut expected: Vec<String> = ids.iter().map(|id| format!("{id}: expired")).collect();
    let mut shown = printed.clone();
    expected.sort();
    shown.sort();
    // The pane holds 30 lines: the report's last ones are on it.
    assert!(shown.len() >= 20, "{printed:#?}");
    for line in &printed {
        assert!(expected.contains(line), "{line:?} in {printed:#?}");
    }
    assert!(w.leases().iter().all(|l| l["state"] == "expired"));

    // A pass with nothing due draws no bar at all.
    tmux.clear();
    let (printed, code) = tmux.jit_ended(&w, &[("JIT_TEST_CLOCK_OFFSET", "180")], "sweep");
    assert_eq!((printed, code.as_str()), (vec![], "0"));
    let raw = tmux.raw();
    assert!(!raw.contains("sweeping due leases"), "{raw}");
}

#[test]
fn a_sweep_draws_nothing_for_a_script() {
    let (w, ids) = many_leases(60);
    let tmux = Tmux::start(&w);
    // --json and --quiet at the terminal, then standard output into a pipe.
    let passes = [
        ("120", "sweep --json"),
        ("240", "sweep -q"),
        ("360", "sweep | cat"),
    ];
    for (n, (offset, args)) in passes.into_iter().enumerate() {
        if n > 0 {
            tmux.clear();
        }
        // Leases again for the passes after the first.
        let ids: Vec<String> = if n == 0 {
            ids.clone()
        } else {
            (0..60)
                .map(|_| {
                    w.jit(["request", "--role", "note", "--ttl", "1m", "-q"])
                        .later(offset.parse::<i64>().unwrap() - 120)
                        .run()
                        .success()
                        .stdout
                        .trim()
                        .to_owned()
                })
                .collect()
        };
        let (printed, code) = tmux.jit_ended(&w, &[("JIT_TEST_CLOCK_OFFSET", offset)], args);
        assert_eq!(code, "0", "{args}: {printed:#?}");
        let raw = tmux.raw();
        assert_eq!(drawn(&raw), Vec::<&str>::new(), "{args}: {raw}");
        assert!(!raw.contains("sweeping due leases"), "{args}: {raw}");
        for id in &ids {
            assert!(
                w.leases()
                    .iter()
                    .any(|l| l["id"] == id.as_str() && l["state"] == "expired")
            );
        }
    }
    // No terminal at all: the exact report.
    let ids: Vec<String> = (0..3)
        .map(|_| {
            w.jit(["request", "--role", "note", "--ttl", "1m", "-q"])
                .later(480)
                .run()
                .success()
                .stdout
                .trim()
                .to_owned()
        })
        .collect();
    let run = w.jit(["sweep"]).later(600).run().success();
    assert_eq!(run.stderr, "");
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    lines.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| format!("{id}: expired")).collect();
    expected.sort();
    assert_eq!(lines, expected);
}

#[test]
fn discover_and_review_draw_a_bar_of_the_targets_at_the_terminal_only() {
    let (w, _) = many_leases(1);
    let sorted = |mut lines: Vec<String>| {
        lines.sort();
        lines
    };
    // What each prints with no terminal: exactly that stays on the screen.
    let discover = w.jit(["discover"]).run().success();
    let expected = sorted(
        discover
            .stdout
            .lines()
            .chain(discover.stderr.lines())
            .map(str::to_owned)
            .collect(),
    );
    assert!(!expected.is_empty());
    assert_eq!(
        drawn(&(discover.stdout.clone() + &discover.stderr)),
        Vec::<&str>::new()
    );
    let tmux = Tmux::start(&w);
    let (printed, code) = tmux.jit_ended(&w, &[], "discover");
    assert_eq!(code, "0", "{printed:#?}");
    let raw = tmux.raw();
    assert!(raw.contains("asking targets ["), "{raw}");
    assert!(raw.contains("/1 ("), "{raw}");
    assert_eq!(sorted(printed), expected);

    for args in ["discover --json", "discover -q", "discover | cat"] {
        tmux.clear();
        let (_, code) = tmux.jit_ended(&w, &[], args);
        assert_eq!(code, "0", "{args}");
        let raw = tmux.raw();
        assert!(!raw.contains("asking targets"), "{args}: {raw}");
    }

    // The review asks every target too; its CSV alone stays on the screen.
    let review = w.jit(["review", "--format", "csv"]).run().success();
    assert_eq!(review.stderr, "");
    tmux.clear();
    let (printed, code) = tmux.jit_ended(&w, &[], "review --format csv");
    assert_eq!(code, "0", "{printed:#?}");
    let raw = tmux.raw();
    assert!(raw.contains("asking targets ["), "{raw}");
    assert_eq!(printed, review.stdout.lines().collect::<Vec<_>>());
    for args in [
        "review --json",
        "review --format csv -q",
        "review --format csv | cat",
    ] {
        tmux.clear();
        let (_, code) = tmux.jit_ended(&w, &[], args);
        assert_eq!(code, "0", "{args}");
        let raw = tmux.raw();
        assert!(!raw.contains("asking targets"), "{args}: {raw}");
    }
}
