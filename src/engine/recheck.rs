//! Live leases follow the rules as they change: at each sweep every active lease and pending
//! request is checked again against the configuration and the OS group database
//! ([`crate::policy::recheck`] decides), and the lease the rules no longer allow is revoked,
//! shortened or cancelled, with the cause in the audit trail.

use super::*;
use crate::policy::recheck::{self as checks, Cause, Check, Verdict};

/// One lease the rules as they are now would change, and how.
pub struct Planned {
    pub lease: Lease,
    pub verdict: Verdict,
}

/// What a sweep would do to the live leases ([`Engine::recheck_plan`]).
#[derive(Default)]
pub struct RecheckPlan {
    pub planned: Vec<Planned>,
    /// Subjects whose groups could not be read (their leases are left alone), with why.
    pub errors: Vec<(String, String)>,
    /// How many live leases were checked, of how many subjects.
    pub leases: usize,
    pub subjects: usize,
}

/// A lease the sweeper brought to an earlier end.
pub struct Shortening {
    pub lease: Lease,
    pub from: Option<DateTime<Utc>>,
    pub cause: String,
}

/// What the re-evaluation in one sweep looked at, and how long checking took (reading the
/// leases and groups and deciding; not carrying out what it decided).
#[derive(Clone, Copy, Debug)]
pub struct Rechecked {
    pub leases: usize,
    pub subjects: usize,
    pub elapsed: Duration,
}

/// Where the groups of subjects are read, once per pass: given the groups the rules name,
/// who is in which of them ([`os_directory`]: the OS user and group databases).
pub type Directory = Rc<dyn Fn(&[String]) -> Result<Membership>>;
/// The groups, of those the rules name, that a user is in, as one pass read them.
pub type Membership = Box<dyn Fn(&str) -> Result<Vec<String>>>;

/// The OS user and group databases: each group the rules name read once (its gid and
/// members), then for each subject only their entry in the user database (their primary
/// group), rather than every group of theirs.
pub fn os_directory(named: &[String]) -> Result<Membership> {
    use nix::unistd::{Group, User};
    let mut groups = Vec::with_capacity(named.len());
    for name in named {
        if let Some(group) = Group::from_name(name).context("reading the group database")? {
            groups.push(group);
        }
    }
    Ok(Box::new(move |user: &str| {
        let primary = User::from_name(user)
            .context("reading the user database")?
            .map(|u| u.gid);
        Ok(groups
            .iter()
            .filter(|g| Some(g.gid) == primary || g.mem.iter().any(|m| m == user))
            .map(|g| g.name.clone())
            .collect())
    }))
}

impl<'a> Engine<'a> {
    /// What the rules as they are now would do to each live lease, changing nothing: one
    /// read of the live leases, each group the rules name read once, and each subject looked
    /// up once (only where a rule for one of their roles names a group).
    pub fn recheck_plan(&self) -> Result<RecheckPlan> {
        let now = self.clock.now();
        let mut leases = self.live_leases()?;
        let mut by_role: BTreeMap<&str, bool> = BTreeMap::new();
        let mut subjects: BTreeMap<&str, bool> = BTreeMap::new();
        for lease in &leases {
            let groups = *by_role
                .entry(&lease.role)
                .or_insert_with(|| checks::needs_groups(self.config, &lease.role));
            *subjects.entry(&lease.subject).or_default() |= groups;
        }
        let mut plan = RecheckPlan {
            leases: leases.len(),
            subjects: subjects.len(),
            ..RecheckPlan::default()
        };
        let mut known: BTreeMap<String, Identity> = BTreeMap::new();
        let membership = if subjects.values().any(|&groups| groups) {
            Some((self.directory)(&checks::named_groups(self.config))?)
        } else {
            None
        };
        for (&subject, &groups) in &subjects {
            let mut identity = by_name_only(subject);
            let Some(membership) = membership.as_ref().filter(|_| groups) else {
                known.insert(subject.to_owned(), identity);
                continue;
            };
            match membership(subject) {
                Ok(groups) => {
                    identity.groups = groups;
                    known.insert(subject.to_owned(), identity);
                }
                Err(err) => plan.errors.push((
                    subject.to_owned(),
                    format!("the groups of {subject} could not be read, so their leases were not checked again: {err:#}"),
                )),
            }
        }
        self.with_exact_windows(&mut leases, &known, now)?;
        let mut verdicts = checks::recheck(self.config, &leases, &|s| known.get(s), now);
        // Decertifications (`jit review revoke-eligibility`): one store query per pass.
        let reviews = if leases.is_empty() {
            crate::certification::Reviews::default()
        } else {
            self.reviews()?
        };
        let decertified =
            crate::certification::recheck(self.config, &leases, &|s| known.get(s), &reviews, now);
        for (lease, verdict) in decertified {
            match verdicts.iter_mut().find(|(l, _)| l.id == lease.id) {
                Some((_, Verdict::Revoke(_) | Verdict::Cancel(_))) => {}
                Some((_, other)) => *other = verdict,
                None => verdicts.push((lease, verdict)),
            }
        }
        // An agent's lease whose `jit mcp` session has ended (killed, so it could not end
        // them itself): read whole for its session, one read per agent lease.
        for lease in leases.iter().filter(|l| l.agent.is_some()) {
            if verdicts
                .iter()
                .any(|(l, v)| l.id == lease.id && *v != Verdict::Keep)
            {
                continue;
            }
            let ended = match self.store.lease(&lease.id)?.and_then(|l| l.agent_session) {
                Some(session) => self.session_ended(&session)?,
                None => false,
            };
            if !ended {
                continue;
            }
            let cause = session_ended();
            let verdict = match lease.state {
                LeaseState::Pending => Verdict::Cancel(cause),
                _ => Verdict::Revoke(cause),
            };
            verdicts.retain(|(l, _)| l.id != lease.id);
            verdicts.push((lease, verdict));
        }
        plan.planned = verdicts
            .into_iter()
            .map(|(lease, verdict)| Planned {
                lease: lease.clone(),
                verdict,
            })
            .collect();
        Ok(plan)
    }

    /// The active leases and pending requests, read at once from the lease JSON the store
    /// keeps with each lease (its fastest read of the live leases).
    fn live_leases(&self) -> Result<Vec<Lease>> {
        let documents = self.store.lease_documents(&LeaseFilter {
            states: LeaseState::LIVE.to_vec(),
            ..LeaseFilter::default()
        })?;
        let mut leases = Vec::with_capacity(documents.order.len());
        for range in &documents.order {
            let listed: Listed = serde_json::from_str(&documents.text[range.clone()])
                .context("reading a live lease of the store")?;
            if !matches!(listed.state, LeaseState::Active | LeaseState::Pending) {
                continue;
            }
            leases.push(listed.lease()?);
        }
        Ok(leases)
    }

    /// The leases whose window counted from the grant is longer than a cap of theirs now,
    /// read whole from the store: the cap is measured from the start of the real window
    /// (the last extension), which only the whole lease says. The window counted from the
    /// grant starts no later, so every other lease is kept by the cap whatever its real one.
    fn with_exact_windows(
        &self,
        leases: &mut [Lease],
        known: &BTreeMap<String, Identity>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        for lease in leases.iter_mut() {
            let Some(who) = known.get(lease.subject.as_str()) else {
                continue;
            };
            let capped = lease.state == LeaseState::Active
                && match checks::active(self.config, lease, who, now) {
                    Verdict::Shorten { .. } => true,
                    Verdict::Revoke(cause) => cause.check == Check::Cap,
                    _ => false,
                };
            if capped && let Some(whole) = self.store.lease(&lease.id)? {
                *lease = store::as_listed(whole);
            }
        }
        Ok(())
    }

    /// Carry out [`Engine::recheck_plan`] (part of [`Engine::sweep`]). A lease that cannot be
    /// handled is reported and the others go on.
    pub(super) fn recheck_live(&self, report: &mut SweepReport) {
        let started = Instant::now();
        let plan = self.recheck_plan();
        let elapsed = started.elapsed();
        let plan = match plan {
            Ok(plan) => plan,
            Err(err) => {
                report.errors.push((
                    "recheck".to_owned(),
                    format!("checking live leases again: {err:#}"),
                ));
                return;
            }
        };
        report.errors.extend(plan.errors);
        for Planned { lease, verdict } in plan.planned {
            let done = match verdict {
                Verdict::Keep => Ok(()),
                Verdict::Revoke(cause) => self.revoke_unallowed(&lease, &cause).map(|r| {
                    if let Some(revocation) = r {
                        report.causes.insert(lease.id.clone(), cause.text);
                        report.revocations.push(revocation);
                    }
                }),
                Verdict::Cancel(cause) => self.cancel_unallowed(&lease.id, &cause).map(|c| {
                    if let Some(cancelled) = c {
                        report.causes.insert(lease.id.clone(), cause.text);
                        report.cancelled.push(cancelled);
                    }
                }),
                Verdict::Shorten { to, ttl, cause } => self
                    .shorten(&lease, to, ttl, &cause)
                    .map(|s| report.shortened.extend(s)),
            };
            if let Err(err) = done {
                report.errors.push((lease.id.clone(), format!("{err:#}")));
            }
        }
        report.rechecked = Some(Rechecked {
            leases: plan.leases,
            subjects: plan.subjects,
            elapsed,
        });
    }

    /// Revoke an active lease the rules no longer allow, the cause in its `revoked` event.
    /// A lease whose end changed since it was read (extended meanwhile) waits for the next
    /// pass when the cause was its length.
    fn revoke_unallowed(&self, read: &Lease, cause: &Cause) -> Result<Option<Revocation>> {
        if cause.check == Check::Cap
            && self.store.lease(&read.id)?.is_none_or(|now| {
                now.state != LeaseState::Active || now.expires_at != read.expires_at
            })
        {
            return Ok(None);
        }
        let revocation = self.end(&read.id, Ending::Revoked, RevokeMode::Manual, notes(cause))?;
        Ok(Some(revocation))
    }

    /// Cancel a pending request the rules no longer allow.
    pub(super) fn cancel_unallowed(&self, id: &str, cause: &Cause) -> Result<Option<Lease>> {
        let now = self.clock.now();
        store::write(self.store, |tx| {
            let Some(mut lease) = tx.lease(id)? else {
                return Ok(None);
            };
            if lease.state != LeaseState::Pending {
                return Ok(None);
            }
            let details = events::Unallowed {
                reason: &cause.text,
                recheck: cause.check.as_str(),
                rule: cause.rule.as_deref(),
            };
            self.close(tx, &mut lease, LeaseState::Cancelled, &details, now)?;
            Ok(Some(lease))
        })
    }

    /// Bring an active lease's end back to `to` (a cap of `ttl` from the start of its
    /// window), on the target and in the store, with an `extended` event that says it was
    /// shortened and why. Where the target's own end cannot be moved (an OpenSSH
    /// certificate, a target that does not answer), the store's end still moves and the
    /// sweeper ends the lease then; the event says what the target answered.
    fn shorten(
        &self,
        read: &Lease,
        to: DateTime<Utc>,
        ttl: Duration,
        cause: &Cause,
    ) -> Result<Option<Shortening>> {
        let backend = self.backend_for(&read.target)?;
        let Some(lease) = self.store.lease(&read.id)? else {
            return Ok(None);
        };
        let _held = self.hold(&lease, backend.as_ref(), WAIT_FOR_ENTITLEMENT)?;
        let Some(lease) = self.store.lease(&read.id)? else {
            return Ok(None);
        };
        // Extended, ended or shortened by someone else since it was read: the next pass
        // looks at it as it is then.
        if lease.state != LeaseState::Active || lease.expires_at != read.expires_at {
            return Ok(None);
        }
        let others = self.covering(&lease, backend.as_ref())?;
        let entitlement_end = entitlement::end(&others).map_or(to, |end| end.max(to));
        let moved = backend.extend(&GrantRequest {
            lease: &lease,
            expires_at: entitlement_end,
            store: self.store_name()?,
            renewal: true,
            checkpoint: None,
        });
        let target_error = moved.err().map(|err| err.message);
        let id = lease.id.as_str();
        let shortened = store::write(self.store, |tx| {
            let mut current = tx
                .lease(id)?
                .with_context(|| format!("lease {id} vanished"))?;
            if current.state != LeaseState::Active || current.expires_at != read.expires_at {
                return Ok(None);
            }
            let from = current.expires_at;
            current.expires_at = Some(to);
            current.ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
            if backend.traits(&current.params).caches_credentials {
                credential_cache::retime(id, (to - self.clock.now()).num_seconds());
            }
            tx.update(&current)?;
            tx.append(&self.event(
                &current,
                &events::Shortened {
                    from,
                    to,
                    ttl: duration::format(ttl),
                    shortened: true,
                    cause: &cause.text,
                    recheck: cause.check.as_str(),
                    rule: cause.rule.as_deref(),
                    target_error: target_error.as_deref(),
                },
            ))?;
            Ok(Some(Shortening {
                lease: current,
                from,
                cause: cause.text.clone(),
            }))
        })?;
        Ok(shortened)
    }
}

/// What the re-evaluation reads of a live lease's JSON (docs/json.md, `lease`), borrowed
/// from the text where it can be.
#[derive(serde::Deserialize)]
struct Listed<'d> {
    #[serde(borrow)]
    id: std::borrow::Cow<'d, str>,
    #[serde(borrow)]
    role: std::borrow::Cow<'d, str>,
    #[serde(borrow)]
    target: std::borrow::Cow<'d, str>,
    #[serde(borrow)]
    backend: std::borrow::Cow<'d, str>,
    #[serde(borrow)]
    subject: std::borrow::Cow<'d, str>,
    #[serde(borrow)]
    requester: std::borrow::Cow<'d, str>,
    state: LeaseState,
    #[serde(borrow)]
    created_at: std::borrow::Cow<'d, str>,
    #[serde(borrow)]
    granted_at: Option<std::borrow::Cow<'d, str>>,
    #[serde(borrow)]
    expires_at: Option<std::borrow::Cow<'d, str>>,
    #[serde(default)]
    break_glass: bool,
    #[serde(default)]
    agent: Option<crate::lease::Agent>,
}

impl Listed<'_> {
    /// As a lease, its window counted from its grant (see [`Engine::with_exact_windows`]).
    fn lease(self) -> Result<Lease> {
        let granted_at = self.granted_at.as_deref().map(time).transpose()?;
        let expires_at = self.expires_at.as_deref().map(time).transpose()?;
        let ttl_secs = match (granted_at, expires_at) {
            (Some(granted), Some(end)) => (end - granted).num_seconds(),
            _ => 0,
        };
        Ok(Lease {
            id: self.id.into_owned(),
            role: self.role.into_owned(),
            target: self.target.into_owned(),
            backend: self.backend.into_owned(),
            subject: self.subject.into_owned(),
            requester: self.requester.into_owned(),
            state: self.state,
            ticket: None,
            reason: None,
            created_at: time(&self.created_at)?,
            granted_at,
            expires_at,
            ended_at: None,
            approvals: Vec::new(),
            break_glass: self.break_glass,
            last_error: None,
            ttl_secs,
            approvals_required: 0,
            handle: Value::Null,
            params: Value::Null,
            ending: None,
            worker: None,
            worker_at: None,
            attempts: 0,
            next_attempt_at: None,
            agent: self.agent,
            agent_session: None,
        })
    }
}

/// A time of the lease JSON: `2026-12-01T10:00:00Z` read directly (it is always so
/// written), any other RFC 3339 form the slower way.
fn time(text: &str) -> Result<DateTime<Utc>> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let fixed = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    if fixed
        && let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (
            digits(0..4),
            digits(5..7),
            digits(8..10),
            digits(11..13),
            digits(14..16),
            digits(17..19),
        )
        && let Some(at) = chrono::NaiveDate::from_ymd_opt(i32::try_from(y)?, mo, d)
            .and_then(|date| date.and_hms_opt(h, mi, s))
    {
        return Ok(at.and_utc());
    }
    Ok(DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("a lease time {text:?} is not RFC 3339"))?
        .to_utc())
}

/// What the `revoked` event of a lease the rules no longer allow says beside its own fields:
/// the cause in words (as a closed ticket's revocation says it), which check, which rule.
/// Why the sweeper ends a lease whose agent session has ended.
pub(super) fn session_ended() -> Cause {
    Cause {
        check: Check::SessionEnded,
        rule: None,
        text: "the agent session (jit mcp) it was bound to has ended".to_owned(),
    }
}

fn notes(cause: &Cause) -> Notes {
    let mut notes = Notes::new();
    notes.insert("cause".into(), json!(cause.text));
    notes.insert("recheck".into(), json!(cause.check.as_str()));
    if let Some(rule) = &cause.rule {
        notes.insert("rule".into(), json!(rule));
    }
    notes
}

/// A subject whose groups no rule asks about.
fn by_name_only(name: &str) -> Identity {
    Identity {
        user: name.to_owned(),
        groups: Vec::new(),
        os_user: name.to_owned(),
        home: std::path::PathBuf::from("/nonexistent"),
        uid: u32::MAX,
        gid: u32::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_times_are_read_as_written_and_otherwise_as_rfc_3339() {
        let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().to_utc();
        assert_eq!(
            time("2026-12-01T10:00:05Z").unwrap(),
            at("2026-12-01T10:00:05Z")
        );
        assert_eq!(
            time("2026-12-01T11:00:05+01:00").unwrap(),
            at("2026-12-01T10:00:05Z")
        );
        assert!(time("2026-13-01T10:00:05Z").is_err());
        assert!(time("yesterday").is_err());
    }
}
