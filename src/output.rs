//! The only place that prints. Tables for people, one JSON document for scripts (`--json`),
//! `--quiet` for the bare minimum, colour only on a terminal without `NO_COLOR`.

use crate::audit::AuditEvent;
use crate::backend::{Check, Credentials};
use crate::duration;
use crate::engine::{Evaluation, RevokeOutcome, RoleView, SweepReport};
use crate::lease::{Lease, LeaseState};
use crate::store::ChainHead;
use chrono::{DateTime, Utc};
use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use serde::Serialize;
use std::io::{self, IsTerminal, Write};

mod documents;
use documents::{
    Adoption, Broken, Cap, Condition, ConfigChecked, Discovery, DiscoveryFinding, Doctor,
    DoctorCheck, Done, DryRun, LeaseReport, ProcessCredentials, RoleEntry, ShippedTo, Shipping,
    Sweep, SweepError, SweepRevocation, SweepWaiting, TargetText, Verified, WorkedRequest,
    WorkerPass,
};
use documents::{LiveChange, LiveCheck, SweepShortening};

/// See [`Printer::progress`].
pub struct Progress {
    spinner: Option<indicatif::ProgressBar>,
    quiet: bool,
    last: String,
}

impl Progress {
    pub fn update(&mut self, news: &str) {
        if news == self.last {
            return;
        }
        self.last = news.to_owned();
        match &self.spinner {
            Some(spinner) => spinner.set_message(news.to_owned()),
            None if !self.quiet => {
                let _ = writeln!(io::stderr().lock(), "jit: {news}");
            }
            None => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
    }
}

/// See [`Printer::steps`].
pub struct Steps {
    bar: Option<indicatif::ProgressBar>,
}

impl Steps {
    /// `done` of `total` steps are behind. Nothing to do draws nothing (a `--watch` pass
    /// with no lease due, say).
    pub fn step(&mut self, done: usize, total: usize) {
        if total == 0 {
            return;
        }
        if let Some(bar) = &self.bar {
            let total = u64::try_from(total).unwrap_or(u64::MAX);
            if bar.length() != Some(total) {
                bar.set_length(total);
            }
            bar.set_position(u64::try_from(done).unwrap_or(u64::MAX));
        }
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub struct Printer {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    color: bool,
}

impl Printer {
    pub fn new(json: bool, quiet: bool, verbose: bool) -> Printer {
        let color = !json
            && io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Printer {
            json,
            quiet,
            verbose,
            color,
        }
    }

    /// Write to stdout. A closed pipe (`jit list | head`) is not an error.
    fn out(&self, text: &str) {
        let mut stdout = io::stdout().lock();
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    }

    fn line(&self, text: &str) {
        self.out(&format!("{text}\n"));
    }

    fn json_doc<T: Serialize + ?Sized>(&self, value: &T) {
        let mut stdout = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
        let _ = serde_json::to_writer(&mut stdout, value)
            .map_err(io::Error::from)
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush());
    }

    /// Whether progress is drawn: for a person at a terminal (standard output and error
    /// both), never for a script (`--json`, `--quiet`, a pipe or a file).
    fn draws_progress(&self) -> bool {
        !self.json && !self.quiet && io::stdout().is_terminal() && io::stderr().is_terminal()
    }

    /// Progress of a wait, on stderr: a spinner with the time waited where progress is
    /// drawn, otherwise a line each time the news changes. Nothing with `--quiet`.
    pub fn progress(&self) -> Progress {
        let spinner = self.draws_progress().then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr(),
            )
            .with_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .expect("a valid template"),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress {
            spinner,
            quiet: self.quiet,
            last: String::new(),
        }
    }

    /// A bar of steps done (leases swept, targets asked) on stderr, where progress is drawn;
    /// gone when dropped. Elsewhere it shows nothing.
    pub fn steps(&self, what: &str) -> Steps {
        let bar = self.draws_progress().then(|| {
            indicatif::ProgressBar::with_draw_target(
                Some(0),
                indicatif::ProgressDrawTarget::stderr(),
            )
            .with_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
                    .expect("a valid template")
                    .progress_chars("=> "),
            )
            .with_message(what.to_owned())
        });
        Steps { bar }
    }

    /// A buffered writer on stdout, for long streams such as exports.
    pub fn stream(&self) -> io::BufWriter<io::StdoutLock<'static>> {
        io::BufWriter::with_capacity(1 << 16, io::stdout().lock())
    }

    /// A JSON array of documents that are already JSON text.
    pub fn json_documents(&self, documents: &crate::store::LeaseDocuments) {
        let mut out = self.stream();
        let written = (|| -> io::Result<()> {
            out.write_all(b"[")?;
            for (i, range) in documents.order.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(&documents.text.as_bytes()[range.clone()])?;
            }
            out.write_all(b"]\n")?;
            out.flush()
        })();
        let _ = written;
    }

    /// Text for stdout that is already formatted (completions, the man page).
    pub fn raw(&self, bytes: &[u8]) {
        let mut stdout = io::stdout().lock();
        let _ = stdout.write_all(bytes).and_then(|()| stdout.flush());
    }

    /// The one JSON document of `jit credential-process`: the AWS credentials of a lease,
    /// asked for again at `expiration` (secrets inside: printed, never logged).
    pub fn credential_process(&self, credentials: &Credentials, expiration: DateTime<Utc>) {
        let map = credentials.expose();
        let field = |name: &str| map.get(name).cloned().unwrap_or_default();
        let document = crate::secret::Secret::new(ProcessCredentials {
            access_key_id: field("AWS_ACCESS_KEY_ID"),
            expiration: crate::lease::rfc3339::format(&expiration),
            secret_access_key: field("AWS_SECRET_ACCESS_KEY"),
            session_token: field("AWS_SESSION_TOKEN"),
            version: 1,
        });
        self.json_doc(document.expose());
    }

    /// A note for people, on stderr; silent under --quiet.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(io::stderr().lock(), "{text}");
        }
    }

    pub fn warn(&self, text: &str) {
        let _ = writeln!(io::stderr().lock(), "jit: warning: {text}");
    }

    pub fn debug(&self, text: &str) {
        if self.verbose {
            let _ = writeln!(io::stderr().lock(), "jit: {text}");
        }
    }

    pub fn error(&self, err: &anyhow::Error) {
        let mut text = err.to_string();
        if self.verbose {
            for cause in err.chain().skip(1) {
                text.push_str(&format!("\n  caused by: {cause}"));
            }
        } else if let Some(cause) = err.chain().nth(1) {
            text.push_str(&format!(": {cause}"));
        }
        // A target's words may hold what would rewrite the terminal or the line.
        let text = crate::text::escaped(&text);
        let _ = writeln!(io::stderr().lock(), "jit: error: {text}");
    }

    /// A command-line mistake, as one line: clap's first line plus where to look.
    pub fn usage_error(&self, rendered: &str) {
        // clap puts what it names (the missing arguments) on the indented lines after the
        // first: one line of them all.
        let mut lines = rendered.lines();
        let first = lines.next().unwrap_or_default();
        let first = first.strip_prefix("error: ").unwrap_or(first);
        let named: Vec<&str> = lines
            .take_while(|line| line.starts_with(' '))
            .map(str::trim)
            .collect();
        let message = if named.is_empty() {
            first.to_owned()
        } else {
            format!("{first} {}", named.join(", "))
        };
        let message = crate::text::escaped(&message);
        let _ = writeln!(
            io::stderr().lock(),
            "jit: error: {message} (see `jit --help`)"
        );
    }

    fn table(&self, header: &[&str]) -> Table {
        let mut table = Table::new();
        table
            .load_preset(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(header.iter().map(|h| Cell::new(h.to_uppercase())));
        if !self.color {
            table.force_no_tty();
        } else {
            table.enforce_styling();
        }
        table
    }

    fn state_cell(&self, state: LeaseState) -> Cell {
        let cell = Cell::new(state.as_str());
        if !self.color {
            return cell;
        }
        match state {
            LeaseState::Active => cell.fg(Color::Green),
            LeaseState::Pending | LeaseState::Granting | LeaseState::Revoking => {
                cell.fg(Color::Yellow)
            }
            LeaseState::RevokeFailed | LeaseState::Failed => cell.fg(Color::Red),
            _ => cell.fg(Color::DarkGrey),
        }
    }

    /// A lease's role, marked `(break-glass)` for a break-glass lease.
    fn role_cell(&self, lease: &Lease) -> Cell {
        if !lease.break_glass {
            return Cell::new(&lease.role);
        }
        let cell = Cell::new(format!("{} (break-glass)", lease.role));
        if self.color {
            cell.fg(Color::Red)
        } else {
            cell
        }
    }

    fn print_table(&self, table: &Table) {
        let text = table.to_string();
        let trimmed: Vec<&str> = text.lines().map(str::trim_end).collect();
        self.line(&trimmed.join("\n"));
    }

    // ---- leases ----

    pub fn granted(&self, lease: &Lease, credentials: Option<&Credentials>, now: DateTime<Utc>) {
        if self.json {
            let credentials = credentials.map(|c| c.expose());
            return self.json_doc(&LeaseReport::granted(lease, credentials));
        }
        if self.quiet {
            self.line(&lease.id);
        } else {
            self.line(&format!(
                "granted {}: role {} on {} for {} until {} ({})",
                lease.id,
                lease.role,
                lease.target,
                lease.subject,
                time(lease.expires_at),
                left(lease.expires_at, now)
            ));
        }
        if let Some(credentials) = credentials {
            if !self.quiet {
                self.line("credentials (shown once, not stored):");
            }
            for (key, value) in credentials.expose() {
                self.line(&format!("{key}={value}"));
            }
        }
    }

    /// A request waiting for approval; `unshown` warns that its credentials will never be
    /// shown (in `--json`, as the field `notice`).
    pub fn pending(&self, lease: &Lease, approvers: &[String], unshown: Option<&str>) {
        if let Some(text) = unshown {
            self.warn(text);
        }
        if self.json {
            return self.json_doc(&LeaseReport::pending(lease, unshown));
        }
        if self.quiet {
            return self.line(&lease.id);
        }
        self.line(&pending_text(lease, approvers));
    }

    pub fn dry_run(&self, evaluation: &Evaluation<'_>) {
        let decision = &evaluation.decision;
        let outcome = if decision.approvals_required > 0 {
            "pending-approval"
        } else {
            "grant"
        };
        if self.json {
            return self.json_doc(&DryRun {
                approval_timeout: approval_timeout(evaluation.role),
                approvals_required: decision.approvals_required,
                approvers: &decision.approvers,
                backend: evaluation.backend,
                break_glass: evaluation.role.break_glass,
                caps: decision
                    .caps
                    .iter()
                    .map(|cap| Cap {
                        limit: duration::format(cap.limit),
                        source: &cap.source,
                    })
                    .collect(),
                conditions: evaluation.conditions.iter().map(Condition::from).collect(),
                decision: outcome,
                expires_at: evaluation.ends_at,
                role: &evaluation.role.name,
                starts_at: evaluation.starts_at,
                target: &evaluation.role.target,
                ticket_status: evaluation.ticket_status.as_deref(),
                ttl: duration::format(decision.ttl),
                ttl_source: &decision.ttl_source,
            });
        }
        if self.quiet {
            return self.line(outcome);
        }
        self.line(&format!(
            "decision: {}",
            if decision.approvals_required > 0 {
                format!(
                    "needs {} approval(s) from {} within {}",
                    decision.approvals_required,
                    decision.approvers.join(", "),
                    duration::format(evaluation.role.approvals.timeout())
                )
            } else if evaluation.role.break_glass {
                "grant now (break-glass: self-granted, marked on the lease and in the audit trail)"
                    .to_owned()
            } else {
                "grant now".to_owned()
            }
        ));
        self.line(&format!(
            "role {} on target {} ({})",
            evaluation.role.name, evaluation.role.target, evaluation.backend
        ));
        self.line(&format!(
            "window: {} .. {} ({}, from {})",
            evaluation.starts_at.format("%Y-%m-%dT%H:%M:%SZ"),
            evaluation.ends_at.format("%Y-%m-%dT%H:%M:%SZ"),
            duration::format(decision.ttl),
            decision.ttl_source
        ));
        if let Some(status) = &evaluation.ticket_status {
            self.line(&format!("ticket status: {status}"));
        }
        let mut table = self.table(&["cap", "limit"]);
        for cap in &decision.caps {
            table.add_row(vec![
                Cell::new(&cap.source),
                Cell::new(duration::format(cap.limit)),
            ]);
        }
        self.print_table(&table);
        if !evaluation.conditions.is_empty() {
            let mut table = self.table(&["condition", "rule", "now"]);
            for c in &evaluation.conditions {
                let now = match (c.met, c.exempt) {
                    (false, true) if c.kind == "certification" && !c.condition.contains("deny") => {
                        format!("{}: flagged only (review_overdue = \"warn\")", c.now)
                    }
                    (false, true) => format!("{}: exempt, break-glass", c.now),
                    _ => c.now.clone(),
                };
                table.add_row(vec![
                    Cell::new(format!("{} {}", c.kind, c.condition)),
                    Cell::new(&c.rule),
                    Cell::new(now),
                ]);
            }
            self.print_table(&table);
        }
        self.line("(dry run: nothing was changed)");
    }

    pub fn leases(&self, leases: &[Lease], now: DateTime<Utc>) {
        if self.json {
            return self.json_doc(leases);
        }
        if self.quiet {
            let ids: Vec<&str> = leases.iter().map(|l| l.id.as_str()).collect();
            if !ids.is_empty() {
                self.line(&ids.join("\n"));
            }
            return;
        }
        if leases.is_empty() {
            return self.note("no leases");
        }
        let mut table = self.table(&[
            "id", "role", "target", "subject", "state", "expires", "ticket",
        ]);
        for lease in leases {
            table.add_row(vec![
                Cell::new(&lease.id),
                self.role_cell(lease),
                Cell::new(&lease.target),
                Cell::new(subject_column(lease)),
                self.state_cell(lease.state),
                Cell::new(expires_column(lease, now)),
                Cell::new(escaped(lease.ticket.as_deref())),
            ]);
        }
        self.print_table(&table);
    }

    pub fn lease_detail(&self, lease: &Lease, events: &[AuditEvent], now: DateTime<Utc>) {
        if self.json {
            return self.json_doc(&LeaseReport::detail(lease, events));
        }
        let mut rows: Vec<(&str, String)> = vec![
            ("id", lease.id.clone()),
            (
                "role",
                if lease.break_glass {
                    format!("{} (break-glass)", lease.role)
                } else {
                    lease.role.clone()
                },
            ),
            ("target", format!("{} ({})", lease.target, lease.backend)),
            ("subject", lease.subject.clone()),
            ("requester", lease.requester.clone()),
            ("state", lease.state.to_string()),
            ("ticket", escaped(lease.ticket.as_deref())),
            ("reason", escaped(lease.reason.as_deref())),
            ("created", time(Some(lease.created_at))),
            (
                "granted",
                match lease.state {
                    LeaseState::Failed => "never: the grant failed".to_owned(),
                    _ => time(lease.granted_at),
                },
            ),
            (
                "expires",
                if lease.state.is_final() {
                    time(lease.expires_at)
                } else {
                    format!(
                        "{} ({})",
                        time(lease.expires_at),
                        left(lease.expires_at, now)
                    )
                },
            ),
            ("ended", time(lease.ended_at)),
        ];
        if let Some(agent) = &lease.agent {
            // Under the requester, and the task under the reason.
            let at = rows
                .iter()
                .position(|(key, _)| *key == "requester")
                .unwrap_or(0)
                + 1;
            rows.insert(
                at,
                ("agent", crate::text::escaped(&agent.client).into_owned()),
            );
            let at = rows
                .iter()
                .position(|(key, _)| *key == "reason")
                .unwrap_or(0)
                + 1;
            rows.insert(at, ("task", crate::text::escaped(&agent.task).into_owned()));
        }
        for (key, value) in rows {
            self.line(&format!("{key:<10} {value}"));
        }
        if let Some(error) = &lease.last_error {
            self.line(&format!("{:<10} {}", "error", crate::text::escaped(error)));
        }
        if lease.state == LeaseState::RevokeFailed {
            self.line(&format!(
                "{:<10} {} ({}); `jit revoke {}` retries now",
                "retry",
                time(lease.next_attempt_at),
                failed_attempts(lease),
                lease.id
            ));
        }
        for approval in &lease.approvals {
            self.line(&format!(
                "{:<10} {} by {} at {}{}",
                "decision",
                approval.decision.as_str(),
                approval.by,
                approval.at.format("%Y-%m-%dT%H:%M:%SZ"),
                approval
                    .reason
                    .as_deref()
                    .map(|r| format!(": {}", crate::text::escaped(r)))
                    .unwrap_or_default()
            ));
        }
        self.line("");
        self.events(events);
    }

    pub fn events(&self, events: &[AuditEvent]) {
        if self.json {
            return self.json_doc(events);
        }
        if self.quiet {
            return;
        }
        let mut table = self.table(&["seq", "at", "actor", "lease", "kind", "details"]);
        for event in events {
            table.add_row(vec![
                Cell::new(event.seq),
                Cell::new(&event.at),
                Cell::new(&event.actor),
                Cell::new(event.lease_id.as_deref().unwrap_or("-")),
                Cell::new(&event.kind),
                Cell::new(crate::text::escaped(&event.details.to_string())),
            ]);
        }
        self.print_table(&table);
    }

    /// The outcome of `jit revoke`, with each lease's audit trail (unless exported).
    pub fn revocations(
        &self,
        results: &[(Lease, RevokeOutcome, Vec<AuditEvent>)],
        exported_to: Option<&str>,
    ) {
        if self.json {
            let docs: Vec<LeaseReport<'_>> = results
                .iter()
                .map(|(lease, outcome, events)| {
                    let events = exported_to.is_none().then_some(events.as_slice());
                    LeaseReport::revocation(lease, outcome_word(outcome), events)
                })
                .collect();
            return self.json_doc(&docs);
        }
        for (lease, outcome, events) in results {
            let text = match outcome {
                RevokeOutcome::Done { kept_for: None } => format!("revoked {}", lease.id),
                RevokeOutcome::Done {
                    kept_for: Some(other),
                } => format!(
                    "revoked {} (the entitlement stays: lease {other} still covers it)",
                    lease.id
                ),
                RevokeOutcome::AlreadyEnded => format!("{}: already {}", lease.id, lease.state),
                RevokeOutcome::Cancelled => {
                    format!("cancelled {} (the request was withdrawn)", lease.id)
                }
                RevokeOutcome::InFlight => format!(
                    "{}: another process is working on it right now; try again",
                    lease.id
                ),
                RevokeOutcome::NotDue => format!("{}: not due", lease.id),
                RevokeOutcome::Failed { error } => format!(
                    "{}: revocation failed: {} (the lease is revoke-failed; `jit sweep` retries it)",
                    lease.id,
                    crate::text::escaped(error)
                ),
            };
            self.line(&text);
            if exported_to.is_none() && !self.quiet {
                self.events(events);
            }
        }
        if let Some(path) = exported_to {
            self.note(&format!("audit trail written to {path}"));
        }
    }

    pub fn extended(&self, lease: &Lease, now: DateTime<Utc>) {
        if self.json {
            return self.json_doc(lease);
        }
        self.line(&format!(
            "extended {}: now ends {} ({})",
            lease.id,
            time(lease.expires_at),
            left(lease.expires_at, now)
        ));
    }

    pub fn decided(&self, lease: &Lease, text: &str) {
        if self.json {
            return self.json_doc(lease);
        }
        self.line(text);
    }

    /// `jit approve` / `jit deny`: the lease as it stands, or what the decision did; a
    /// denial says its reason.
    pub fn decision(&self, made: &crate::leases::Decision, denied_because: Option<&str>) {
        let lease = made.decided.lease();
        match denied_because {
            Some(reason) => self.decided(
                lease,
                &format!("denied {}{}: {reason}", lease.id, agent_clause(lease)),
            ),
            None => self.decided(lease, &decision(&made.decided, made.queued)),
        }
    }

    pub fn roles(&self, roles: &[RoleView<'_>]) {
        if self.json {
            let docs: Vec<RoleEntry<'_>> = roles
                .iter()
                .map(|view| {
                    let role = view.role;
                    RoleEntry {
                        approval_timeout: approval_timeout(role),
                        approvals_required: role.approvals.required,
                        approvers: role.approvals.approvers(),
                        backend: view.backend,
                        break_glass: role.break_glass,
                        default_ttl: role.default_ttl.map(duration::format),
                        description: role.description.as_deref(),
                        max_ttl: duration::format(view.max_ttl),
                        role: &role.name,
                        target: &role.target,
                        ticket_pattern: role.ticket.pattern.as_ref().map(|p| p.as_str()),
                        ticket_required: role.ticket.required,
                    }
                })
                .collect();
            return self.json_doc(&docs);
        }
        if roles.is_empty() {
            return self.note("no roles you may request");
        }
        let mut table = self.table(&[
            "role",
            "target",
            "max ttl",
            "ticket",
            "approval",
            "description",
        ]);
        for view in roles {
            let role = view.role;
            let ticket = match (&role.ticket.pattern, role.ticket.required) {
                (Some(p), true) => format!("required, {}", p.as_str()),
                (Some(p), false) => format!("optional, {}", p.as_str()),
                (None, true) => "required".to_owned(),
                (None, false) => "-".to_owned(),
            };
            let approval = if role.break_glass {
                "none: break-glass, --reason required".to_owned()
            } else if role.approvals.required == 0 {
                "-".to_owned()
            } else {
                let from: Vec<String> = role.approvals.approvers();
                format!(
                    "{} from {} within {}",
                    role.approvals.required,
                    from.join(", "),
                    duration::format(role.approvals.timeout())
                )
            };
            table.add_row(vec![
                Cell::new(&role.name),
                Cell::new(&role.target),
                Cell::new(duration::format(view.max_ttl)),
                Cell::new(ticket),
                Cell::new(approval),
                Cell::new(role.description.as_deref().unwrap_or("")),
            ]);
        }
        self.print_table(&table);
    }

    pub fn sweep(&self, report: &SweepReport) {
        if self.json {
            return self.json_doc(&Sweep {
                cancelled: report.cancelled.iter().map(|l| l.id.as_str()).collect(),
                errors: report
                    .errors
                    .iter()
                    .map(|(id, error)| SweepError { error, id })
                    .collect(),
                incomplete: report.incomplete(),
                revocations: report
                    .revocations
                    .iter()
                    .map(|r| SweepRevocation {
                        cause: report.causes.get(&r.lease.id).map(String::as_str),
                        error: r.lease.last_error.as_deref(),
                        id: &r.lease.id,
                        outcome: outcome_word(&r.outcome),
                        state: r.lease.state,
                    })
                    .collect(),
                shortened: report
                    .shortened
                    .iter()
                    .map(|s| SweepShortening {
                        cause: &s.cause,
                        from: s.from,
                        id: &s.lease.id,
                        to: s.lease.expires_at,
                    })
                    .collect(),
                waiting: report
                    .waiting
                    .iter()
                    .map(|l| SweepWaiting {
                        attempts: l.attempts,
                        error: l.last_error.as_deref(),
                        id: &l.id,
                        next_attempt_at: l.next_attempt_at,
                        state: l.state,
                    })
                    .collect(),
            });
        }
        for r in &report.revocations {
            let text = match &r.outcome {
                RevokeOutcome::Failed { error } => {
                    format!(
                        "{}: revocation failed: {} (retried later)",
                        r.lease.id,
                        crate::text::escaped(error)
                    )
                }
                _ => match report.causes.get(&r.lease.id) {
                    Some(cause) => format!(
                        "{}: {}: {}",
                        r.lease.id,
                        r.lease.state,
                        crate::text::escaped(cause)
                    ),
                    None => format!("{}: {}", r.lease.id, r.lease.state),
                },
            };
            self.line(&text);
        }
        for s in &report.shortened {
            self.line(&format!(
                "{}: shortened to {}: {}",
                s.lease.id,
                time(s.lease.expires_at),
                crate::text::escaped(&s.cause)
            ));
        }
        for lease in &report.cancelled {
            match report.causes.get(&lease.id) {
                Some(cause) => self.line(&format!(
                    "{}: cancelled: {}",
                    lease.id,
                    crate::text::escaped(cause)
                )),
                None => self.line(&format!("{}: cancelled (not decided in time)", lease.id)),
            }
        }
        for lease in &report.waiting {
            self.line(&format!(
                "{}: revocation incomplete: {}; next attempt at {}; `jit revoke {}` retries now",
                lease.id,
                failed_attempts(lease),
                time(lease.next_attempt_at),
                lease.id
            ));
        }
        for (id, error) in &report.errors {
            let error = crate::text::escaped(error);
            let _ = writeln!(io::stderr().lock(), "jit: error: {id}: {error}");
        }
    }

    /// `jit worker`: what one pass did, a line per request (nothing when it did nothing).
    pub fn worked(&self, pass: &crate::team::worker::Pass) {
        if self.json {
            let requests: Vec<WorkedRequest<'_>> = pass
                .done
                .iter()
                .map(|(id, kind, who, outcome)| WorkedRequest {
                    by: who,
                    kind,
                    outcome,
                    request: *id,
                })
                .collect();
            let swept = pass.sweep.as_ref().is_some_and(|r| {
                !r.revocations.is_empty()
                    || !r.cancelled.is_empty()
                    || !r.shortened.is_empty()
                    || !r.errors.is_empty()
            });
            if !requests.is_empty() {
                self.json_doc(&WorkerPass { requests });
            }
            if let (Some(report), true) = (&pass.sweep, swept) {
                self.sweep(report);
            }
            return;
        }
        for (id, kind, who, outcome) in &pass.done {
            self.line(&format!("request {id} ({kind} by {who}): {outcome}"));
        }
        if let Some(report) = &pass.sweep {
            self.sweep(report);
        }
    }

    /// `jit audit ship`: per destination, what was sent and how far it has the chain.
    pub fn shipped(&self, shipped: &[crate::shipping::Shipped], last_seq: i64) {
        if self.json {
            let destinations = shipped
                .iter()
                .map(|s| ShippedTo {
                    destination: &s.destination,
                    error: s.error.as_deref(),
                    last_seq,
                    sent: s.sent,
                    through: s.through,
                })
                .collect();
            return self.json_doc(&Shipping { destinations });
        }
        for s in shipped {
            let line = format!(
                "{}: sent {} event(s); has the chain through seq {} of {last_seq}",
                s.destination, s.sent, s.through
            );
            match &s.error {
                None => self.line(&line),
                Some(error) => {
                    self.line(&line);
                    let _ = writeln!(
                        io::stderr().lock(),
                        "jit: error: {}: {}",
                        s.destination,
                        crate::text::escaped(error)
                    );
                }
            }
        }
    }

    /// `jit audit verify`: the head is printed as a checkpoint (`SEQ:HASH`) to keep elsewhere.
    pub fn verified(
        &self,
        outcome: &Result<ChainHead, crate::audit::Break>,
        kept: Option<&crate::audit::Checkpoint>,
    ) {
        match outcome {
            Ok(head) => {
                let checkpoint = (head.seq > 0).then(|| format!("{}:{}", head.seq, head.hash));
                if self.json {
                    return self.json_doc(&Verified {
                        checkpoint,
                        head_hash: &head.hash,
                        head_seq: head.seq,
                        kept_checkpoint: kept.map(ToString::to_string),
                        ok: true,
                        records: head.count,
                    });
                }
                if self.quiet {
                    return;
                }
                match kept {
                    Some(kept) => self.line(&format!(
                        "audit chain intact: {}; it still holds checkpoint {kept}",
                        count(usize::try_from(head.count).unwrap_or(usize::MAX), "record")
                    )),
                    None => self.line(&format!(
                        "audit chain intact: {}",
                        count(usize::try_from(head.count).unwrap_or(usize::MAX), "record")
                    )),
                }
                if let Some(checkpoint) = checkpoint {
                    self.line(&format!("checkpoint: {checkpoint}"));
                }
            }
            Err(found) if self.json => self.json_doc(&Broken {
                error: found.to_string(),
                ok: false,
            }),
            Err(found) => {
                let _ = writeln!(io::stderr().lock(), "jit: audit chain broken: {found}");
            }
        }
    }

    pub fn config_ok(&self, path: &str, targets: usize, roles: usize, rules: usize) {
        if self.json {
            return self.json_doc(&ConfigChecked {
                eligibility: rules,
                ok: true,
                path,
                roles,
                targets,
            });
        }
        if !self.quiet {
            self.line(&format!(
                "{path}: ok ({}, {}, {})",
                count(targets, "target"),
                count(roles, "role"),
                count(rules, "eligibility rule")
            ));
        }
    }

    /// `jit config check --live`: what the next sweep would do to the live leases.
    pub fn live_check(
        &self,
        path: &str,
        config: &crate::config::Config,
        plan: &crate::engine::RecheckPlan,
    ) {
        use crate::policy::recheck::Verdict;
        let changes: Vec<LiveChange<'_>> = plan
            .planned
            .iter()
            .filter_map(|p| {
                let (action, cause, to) = match &p.verdict {
                    Verdict::Keep => return None,
                    Verdict::Revoke(cause) => ("revoke", cause, None),
                    Verdict::Cancel(cause) => ("cancel", cause, None),
                    Verdict::Shorten { to, cause, .. } => ("shorten", cause, Some(*to)),
                };
                Some(LiveChange {
                    action,
                    cause: &cause.text,
                    check: cause.check.as_str(),
                    expires_at: p.lease.expires_at,
                    id: &p.lease.id,
                    role: &p.lease.role,
                    rule: cause.rule.as_deref(),
                    state: p.lease.state,
                    subject: &p.lease.subject,
                    to,
                })
            })
            .collect();
        if self.json {
            return self.json_doc(&LiveCheck {
                changes,
                eligibility: config.eligibility.len(),
                errors: plan
                    .errors
                    .iter()
                    .map(|(id, error)| SweepError { error, id })
                    .collect(),
                leases: plan.leases,
                ok: true,
                path,
                roles: config.roles.len(),
                subjects: plan.subjects,
                targets: config.targets.len(),
            });
        }
        if !self.quiet {
            self.line(&format!(
                "{path}: ok ({}, {}, {})",
                count(config.targets.len(), "target"),
                count(config.roles.len(), "role"),
                count(config.eligibility.len(), "eligibility rule")
            ));
        }
        for (id, error) in &plan.errors {
            let error = crate::text::escaped(error);
            let _ = writeln!(io::stderr().lock(), "jit: error: {id}: {error}");
        }
        if changes.is_empty() {
            if !self.quiet {
                self.line(&format!(
                    "the next sweep changes no live lease ({} of {} checked)",
                    count(plan.leases, "lease"),
                    count(plan.subjects, "subject")
                ));
            }
            return;
        }
        let mut table = self.table(&["lease", "role", "subject", "state", "action", "cause"]);
        for change in &changes {
            let action = match change.to {
                Some(to) => format!("shorten to {}", time(Some(to))),
                None => change.action.to_owned(),
            };
            table.add_row(vec![
                Cell::new(change.id),
                Cell::new(change.role),
                Cell::new(change.subject),
                Cell::new(change.state.to_string()),
                Cell::new(action),
                Cell::new(crate::text::escaped(change.cause)),
            ]);
        }
        self.print_table(&table);
    }

    pub fn doctor(&self, checks: &[Check]) {
        if self.json {
            return self.json_doc(&Doctor {
                checks: checks
                    .iter()
                    .map(|c| DoctorCheck {
                        detail: &c.detail,
                        name: &c.name,
                        ok: c.ok,
                    })
                    .collect(),
                ok: checks.iter().all(|c| c.ok),
            });
        }
        for check in checks {
            let mark = if check.ok { "ok  " } else { "FAIL" };
            self.line(&format!("{mark} {}: {}", check.name, check.detail));
        }
    }

    /// `jit discover`: the findings as a table, then each target's notes and errors on
    /// stderr.
    pub fn discovery(&self, report: &crate::engine::discover::Report) {
        if self.json {
            return self.json_doc(&Discovery {
                errors: pairs(&report.errors),
                findings: report.findings.iter().map(discovery_finding).collect(),
                notes: pairs(&report.notes),
            });
        }
        if self.quiet {
            let ids: Vec<&str> = report.findings.iter().map(|f| f.id.as_str()).collect();
            if !ids.is_empty() {
                self.line(&ids.join("\n"));
            }
        } else if report.findings.is_empty() {
            self.note("no standing access found");
        } else {
            let mut table = self.table(&[
                "id",
                "target",
                "kind",
                "holder",
                "entitlement",
                "since",
                "what to do",
            ]);
            for found in &report.findings {
                let finding = &found.finding;
                table.add_row(vec![
                    Cell::new(&found.id),
                    Cell::new(&found.target),
                    Cell::new(finding.kind.as_str()),
                    Cell::new(crate::text::escaped(&finding.holder)),
                    Cell::new(crate::text::escaped(&finding.entitlement)),
                    Cell::new(time(finding.since)),
                    Cell::new(&finding.action),
                ]);
            }
            self.print_table(&table);
        }
        for (target, note) in &report.notes {
            self.note(&format!(
                "note: target {target:?}: {}",
                crate::text::escaped(note)
            ));
        }
        for (target, error) in &report.errors {
            let _ = writeln!(
                io::stderr().lock(),
                "jit: error: target {target:?} could not be asked: {}",
                crate::text::escaped(error)
            );
        }
    }

    /// `jit discover --adopt`: what was removed, and the rule that replaces it.
    pub fn adopted(&self, adopted: &crate::engine::discover::Adopted) {
        let found = &adopted.found;
        let rule = adopted.eligibility();
        if self.json {
            return self.json_doc(&Adoption {
                eligibility: rule,
                finding: discovery_finding(found),
                removed: true,
            });
        }
        let finding = &found.finding;
        self.done(&format!(
            "removed {} from {} on target {:?} (finding {})",
            crate::text::escaped(&finding.entitlement),
            crate::text::escaped(&finding.holder),
            found.target,
            found.id
        ));
        if let Some(rule) = rule {
            self.line(rule.trim_end());
        }
    }

    /// `jit store init`: what setting up the team store did.
    pub fn store_set_up(
        &self,
        init: &crate::store::postgres::Init,
        store: &crate::store::postgres::PgStore,
    ) {
        use crate::store::Store;
        use crate::store::postgres::{Init, ROLES, SCHEMA_VERSION};
        let location = store.location();
        self.done(&match init {
            Init::Created => format!(
                "created the jit schema in {location} and the roles {}; make each login a member: GRANT jit_requester TO alice;",
                ROLES.join(", ")
            ),
            Init::Upgraded(from) => {
                format!("upgraded the jit schema in {location} from {from} to {SCHEMA_VERSION}")
            }
            Init::AlreadyCurrent => {
                format!("the jit schema in {location} is already there; nothing changed")
            }
        });
    }

    pub fn done(&self, text: &str) {
        if self.json {
            return self.json_doc(&Done {
                message: text,
                ok: true,
            });
        }
        if !self.quiet {
            self.line(text);
        }
    }

    /// `jit review certify` / `revoke-eligibility`: the event recorded (with `--json`, the
    /// audit record itself).
    pub fn reviewed(&self, event: &AuditEvent) {
        if self.json {
            return self.json_doc(event);
        }
        let d = &event.details;
        let list = |key: &str| {
            d[key]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let rule = d["rule"].as_str().unwrap_or_default();
        let what = match d["subject"].as_str() {
            Some(subject) => format!(
                "decertified {subject} under eligibility rule {rule}: no more requests under it (live leases through it end at the next sweep)"
            ),
            None => format!(
                "certified eligibility rule {rule} (subjects: {}; roles: {})",
                list("subjects"),
                list("roles")
            ),
        };
        self.done(&format!(
            "{} (audit event {})",
            crate::text::escaped(&what),
            event.seq
        ));
    }

    /// The rules whose certification is overdue, under a listing of what they govern
    /// (`jit roles`): one line each on stderr.
    pub fn overdue_rules(&self, overdue: &[crate::engine::RuleStanding<'_>]) {
        for item in overdue {
            self.note(&format!(
                "note: {} ({}) {}{}",
                item.rule.name,
                item.rule.roles.join(", "),
                item.standing.overdue_words(),
                if item.standing.deny {
                    ": its requests are refused (review_overdue = \"deny\")"
                } else {
                    ""
                }
            ));
        }
    }
}

/// How long a request for `role` may wait for approval (`None`: it needs none).
fn pairs(list: &[(String, String)]) -> Vec<TargetText<'_>> {
    list.iter()
        .map(|(target, text)| TargetText { target, text })
        .collect()
}

fn discovery_finding(found: &crate::engine::discover::Found) -> DiscoveryFinding<'_> {
    let finding = &found.finding;
    DiscoveryFinding {
        action: &finding.action,
        backend: found.backend,
        entitlement: &finding.entitlement,
        holder: &finding.holder,
        id: &found.id,
        kind: finding.kind.as_str(),
        removable: finding.removable(),
        role: finding.role.as_deref(),
        since: finding.since,
        subject: finding.subject.as_deref(),
        target: &found.target,
    }
}

fn approval_timeout(role: &crate::config::Role) -> Option<String> {
    (role.approvals.required > 0).then(|| duration::format(role.approvals.timeout()))
}

/// `1 target`, `3 targets`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn outcome_word(outcome: &RevokeOutcome) -> &'static str {
    match outcome {
        RevokeOutcome::Done { .. } => "revoked",
        RevokeOutcome::AlreadyEnded => "already-ended",
        RevokeOutcome::Cancelled => "cancelled",
        RevokeOutcome::InFlight => "in-flight",
        RevokeOutcome::NotDue => "not-due",
        RevokeOutcome::Failed { .. } => "revoke-failed",
    }
}

/// Stored text for a person to read, `-` when absent.
fn escaped(text: Option<&str>) -> String {
    text.map_or_else(|| "-".to_owned(), |t| crate::text::escaped(t).into_owned())
}

/// "attempt 2 failed: ERROR", for a lease whose revocation is waiting for its retry.
fn failed_attempts(lease: &Lease) -> String {
    let error = crate::text::escaped(lease.last_error.as_deref().unwrap_or("no reason recorded"));
    match lease.attempts {
        0 | 1 => format!("attempt 1 failed: {error}"),
        n => format!("{n} attempts failed, the last: {error}"),
    }
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

fn left(end: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match end {
        None => "-".to_owned(),
        Some(end) if end <= now => "past".to_owned(),
        Some(end) => format!(
            "{} left",
            duration::format((end - now).to_std().unwrap_or_default())
        ),
    }
}

fn expires_column(lease: &Lease, now: DateTime<Utc>) -> String {
    match lease.state {
        // A lease whose revocation has not completed is still held by the target.
        LeaseState::Active
        | LeaseState::Granting
        | LeaseState::Revoking
        | LeaseState::RevokeFailed => match lease.expires_at {
            Some(end) if end > now => format!(
                "in {}",
                duration::format((end - now).to_std().unwrap_or_default())
            ),
            Some(_) => "past end".to_owned(),
            None => "-".to_owned(),
        },
        LeaseState::Pending => "-".to_owned(),
        _ => lease.ended_at.map_or_else(
            || "-".to_owned(),
            |t| format!("ended {}", t.format("%Y-%m-%dT%H:%M:%SZ")),
        ),
    }
}

/// The line of a request waiting for approval: for an agent's request, that an agent asks,
/// for whom and for what task, so that the approvers know.
fn pending_text(lease: &Lease, approvers: &[String]) -> String {
    let from = if approvers.is_empty() {
        String::new()
    } else {
        format!(" from {}", approvers.join(", "))
    };
    let what = match &lease.agent {
        Some(agent) => format!(
            "request of role {} for {} (task: {})",
            lease.role,
            crate::text::escaped(&lease.subject_words()),
            crate::text::escaped(&agent.task)
        ),
        None => format!("role {}", lease.role),
    };
    format!(
        "pending {}: {what} needs {} approval{}{from}; an approver runs `jit approve {}`",
        lease.id,
        lease.approvals_required,
        if lease.approvals_required == 1 {
            ""
        } else {
            "s"
        },
        lease.id
    )
}

/// The widest agent client name the `jit list` table shows whole.
const CLIENT_WIDTH: usize = 32;

/// The subject column of `jit list`: `alice`, or `alice via agent CLIENT` for an agent's
/// lease (a longer client name cut short, to keep the table narrow).
fn subject_column(lease: &Lease) -> String {
    let Some(agent) = &lease.agent else {
        return lease.subject.clone();
    };
    let client = crate::text::escaped(&agent.client);
    let client = if client.chars().count() > CLIENT_WIDTH {
        let cut: String = client.chars().take(CLIENT_WIDTH - 3).collect();
        format!("{cut}...")
    } else {
        client.into_owned()
    };
    format!("{} via agent {client}", lease.subject)
}

/// ` (role R for alice via agent CLIENT; task: TASK)` after a lease's id in what an approver
/// reads of an agent's request; nothing for a person's.
fn agent_clause(lease: &Lease) -> String {
    match &lease.agent {
        Some(agent) => format!(
            " (role {} for {}; task: {})",
            lease.role,
            crate::text::escaped(&lease.subject_words()),
            crate::text::escaped(&agent.task)
        ),
        None => String::new(),
    }
}

/// What a decision did, in words: the approver's line, and a team worker's answer (where a
/// worker carried it out, `queued`, its wording is kept: any credentials went sealed to the
/// requester, and scripts read both).
pub fn decision(decided: &crate::engine::Decided, queued: bool) -> String {
    use crate::engine::Decided;
    let agent = agent_clause(decided.lease());
    match decided {
        Decided::Approved { lease, remaining } if queued => format!(
            "approved {}{agent}; {remaining} more approval{} needed",
            lease.id,
            if *remaining == 1 { "" } else { "s" }
        ),
        Decided::Approved { lease, remaining } => {
            format!(
                "approved {}{agent}; {remaining} more approval(s) needed",
                lease.id
            )
        }
        Decided::Granted { lease, .. } if queued => {
            format!("approved {}{agent}; granted to {}", lease.id, lease.subject)
        }
        Decided::Granted { lease, credentials } => {
            let mut text = format!(
                "approved and granted {}: role {} for {}",
                lease.id,
                lease.role,
                crate::text::escaped(&lease.subject_words())
            );
            if let Some(agent) = &lease.agent {
                text.push_str(&format!(" (task: {})", crate::text::escaped(&agent.task)));
            }
            if credentials.is_some() {
                text.push_str(
                    " (it issued credentials, which approvers never see and jit does not keep: \
                     for such roles the requester should wait with `jit request --wait`, \
                     or revoke and request again)",
                );
            }
            text
        }
        Decided::HandedOver { lease } if queued => format!("approved {}{agent}", lease.id),
        Decided::HandedOver { lease } => format!(
            "approved {}{agent}; the waiting requester is granting it now",
            lease.id
        ),
        Decided::Denied { lease } => format!("denied {}{agent}", lease.id),
    }
}

/// Where a request waiting for approval stands, for the progress line.
pub fn waiting(lease: &Lease) -> String {
    let given: Vec<&str> = lease
        .approvals
        .iter()
        .filter(|a| a.decision == crate::lease::Verdict::Approve)
        .map(|a| a.by.as_str())
        .collect();
    let mut news = format!(
        "waiting for approval of {}: {} of {}",
        lease.id,
        given.len(),
        lease.approvals_required
    );
    if !given.is_empty() {
        news.push_str(&format!(" (approved by {})", given.join(", ")));
    }
    news
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::Agent;

    fn agents(client: &str) -> Lease {
        let mut lease = crate::store::conformance::lease("k3f9x2m7qa", "db-read", "alice", 0);
        lease.agent = Some(Agent {
            client: client.into(),
            task: "find the slow query".into(),
            ..Default::default()
        });
        lease
    }

    #[test]
    fn a_pending_agents_request_says_who_asks_and_for_what() {
        let approvers = ["user:bob".to_owned()];
        assert_eq!(
            pending_text(&agents("claude-code 1.0.3"), &approvers),
            "pending k3f9x2m7qa: request of role db-read for alice via agent claude-code 1.0.3 \
             (task: find the slow query) needs 1 approval from user:bob; an approver runs \
             `jit approve k3f9x2m7qa`"
        );
        let mut person = agents("x");
        person.agent = None;
        person.approvals_required = 2;
        assert_eq!(
            pending_text(&person, &[]),
            "pending k3f9x2m7qa: role db-read needs 2 approvals; an approver runs \
             `jit approve k3f9x2m7qa`"
        );
    }

    #[test]
    fn the_list_names_the_agent_escaped_and_cut_to_keep_the_table_narrow() {
        assert_eq!(
            subject_column(&agents("claude-code 1.0.3")),
            "alice via agent claude-code 1.0.3"
        );
        assert_eq!(
            subject_column(&agents(&format!("{} 2.0", "a".repeat(40)))),
            format!("alice via agent {}...", "a".repeat(29))
        );
        assert_eq!(
            subject_column(&agents("evil\u{1b}[2J 1.0")),
            "alice via agent evil\\u{1b}[2J 1.0"
        );
        let mut person = agents("x");
        person.agent = None;
        assert_eq!(subject_column(&person), "alice");
        assert_eq!(agent_clause(&person), "");
    }

    #[test]
    fn an_approvers_line_names_the_agent_and_its_task() {
        use crate::engine::Decided;
        let lease = agents("claude-code 1.0.3");
        let clause =
            "(role db-read for alice via agent claude-code 1.0.3; task: find the slow query)";
        let approved = Decided::Approved {
            lease: lease.clone(),
            remaining: 1,
        };
        assert_eq!(
            decision(&approved, false),
            format!("approved k3f9x2m7qa {clause}; 1 more approval(s) needed")
        );
        assert_eq!(
            decision(&approved, true),
            format!("approved k3f9x2m7qa {clause}; 1 more approval needed")
        );
        let granted = Decided::Granted {
            lease: lease.clone(),
            credentials: None,
        };
        assert_eq!(
            decision(&granted, false),
            "approved and granted k3f9x2m7qa: role db-read for alice via agent claude-code \
             1.0.3 (task: find the slow query)"
        );
        assert_eq!(
            decision(&granted, true),
            format!("approved k3f9x2m7qa {clause}; granted to alice")
        );
        assert_eq!(
            decision(&Decided::Denied { lease }, false),
            format!("denied k3f9x2m7qa {clause}")
        );
    }
}
