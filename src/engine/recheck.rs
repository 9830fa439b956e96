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

/// How the subjects of leases are looked up: the OS user and group database.
pub type Directory = Rc<dyn Fn(&str) -> Result<Identity>>;

impl<'a> Engine<'a> {
    /// What the rules as they are now would do to each live lease, changing nothing: one
    /// read of the live leases, and each subject's groups looked up once (and only where a
    /// rule for one of their roles names a group).
    pub fn recheck_plan(&self) -> Result<RecheckPlan> {
        let now = self.clock.now();
        let leases = self.store.leases(&LeaseFilter {
            states: vec![LeaseState::Active, LeaseState::Pending],
            ..LeaseFilter::default()
        })?;
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
        let mut known: BTreeMap<&str, Identity> = BTreeMap::new();
        for (&subject, &groups) in &subjects {
            if !groups {
                known.insert(subject, by_name_only(subject));
                continue;
            }
            match (self.directory)(subject) {
                Ok(identity) => {
                    known.insert(subject, identity);
                }
                Err(err) => plan.errors.push((
                    subject.to_owned(),
                    format!("the groups of {subject} could not be read, so their leases were not checked again: {err:#}"),
                )),
            }
        }
        let verdicts = checks::recheck(self.config, &leases, &|s| known.get(s), now);
        plan.planned = verdicts
            .into_iter()
            .map(|(lease, verdict)| Planned {
                lease: lease.clone(),
                verdict,
            })
            .collect();
        Ok(plan)
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
    fn cancel_unallowed(&self, id: &str, cause: &Cause) -> Result<Option<Lease>> {
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

/// What the `revoked` event of a lease the rules no longer allow says beside its own fields:
/// the cause in words (as a closed ticket's revocation says it), which check, which rule.
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
