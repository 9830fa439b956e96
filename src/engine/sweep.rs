//! The reaper: expiries, retries, reconciliation, stale requests, closed tickets, and live
//! leases the rules no longer allow.

use super::*;

impl<'a> Engine<'a> {
    /// One pass of the reaper: end leases past their end, retry failed revocations,
    /// reconcile interrupted grants and revocations, cancel requests pending too long, and
    /// revoke, shorten or cancel the live leases the rules as they are now no longer allow.
    pub fn sweep(&self) -> Result<SweepReport> {
        self.sweep_counted(&mut |_, _| {})
    }

    /// [`Engine::sweep`], telling `steps` how many of the leases due have been handled and
    /// of how many (before the first and after each).
    pub fn sweep_counted(&self, steps: &mut dyn FnMut(usize, usize)) -> Result<SweepReport> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        let pending_cutoff = now - delta(policy::shortest_pending_timeout(self.config));
        let due = self.store.due(now, pending_cutoff)?;
        let total = due.len();
        steps(0, total);
        for (done, lease) in due.into_iter().enumerate() {
            // One lease that cannot be handled (its target left the configuration, say)
            // must not stop the others.
            let handled = match lease.state {
                LeaseState::Pending => self
                    .cancel_stale(&lease.id, now)
                    .map(|cancelled| report.cancelled.extend(cancelled)),
                LeaseState::Active => self
                    .end(&lease.id, Ending::Expired, RevokeMode::Sweep, Notes::new())
                    .map(|r| report.revocations.push(r)),
                LeaseState::RevokeFailed | LeaseState::Granting | LeaseState::Revoking => {
                    let ending = lease.ending.unwrap_or(Ending::Revoked);
                    self.end(&lease.id, ending, RevokeMode::Sweep, Notes::new())
                        .map(|r| report.revocations.push(r))
                }
                _ => Ok(()),
            };
            if let Err(err) = handled {
                report.errors.push((lease.id.clone(), format!("{err:#}")));
            }
            steps(done + 1, total);
        }
        let recheck = self
            .tickets_rechecked
            .get()
            .is_none_or(|at| at.elapsed() >= TICKET_RECHECK);
        if recheck {
            self.tickets_rechecked.set(Some(Instant::now()));
            self.recheck_tickets(&mut report);
        }
        // Every live lease against the rules and groups as they are now.
        self.recheck_live(&mut report);
        report.revocations.retain(|r| {
            !matches!(
                r.outcome,
                RevokeOutcome::InFlight | RevokeOutcome::NotDue | RevokeOutcome::AlreadyEnded
            )
        });
        Ok(report)
    }

    /// `revoke-failed` leases whose next attempt is later than now, oldest first: the
    /// entitlement is still on the target, and a sweep now would leave it there.
    pub fn waiting_revocations(&self) -> Result<Vec<Lease>> {
        let now = self.clock.now();
        let filter = LeaseFilter {
            states: vec![LeaseState::RevokeFailed],
            ..LeaseFilter::default()
        };
        let mut waiting = Vec::new();
        // The summaries leave the retry schedule out: read each lease whole.
        for summary in self.store.leases(&filter)? {
            if let Some(lease) = self.store.lease(&summary.id)? {
                let later = lease.next_attempt_at.is_some_and(|next| next > now);
                if lease.state == LeaseState::RevokeFailed && later {
                    waiting.push(lease);
                }
            }
        }
        Ok(waiting)
    }

    /// Revoke the active leases of roles with `ticket.revoke_when_closed` whose ticket has
    /// left the allowed statuses (or the ticketing system). A ticket that cannot be read
    /// leaves its leases alone and is reported.
    pub(super) fn recheck_tickets(&self, report: &mut SweepReport) {
        for role in self.config.roles.values() {
            let Some(check) = role
                .ticket
                .check
                .as_ref()
                .filter(|_| role.ticket.revoke_when_closed)
            else {
                continue;
            };
            let filter = LeaseFilter {
                states: vec![LeaseState::Active],
                role: Some(role.name.clone()),
                person: None,
            };
            let leases = match self.store.leases(&filter) {
                Ok(leases) => leases,
                Err(err) => {
                    report.errors.push((role.name.clone(), format!("{err:#}")));
                    continue;
                }
            };
            let checker = ticket::Checker::new(check);
            let mut standings: BTreeMap<String, Result<Standing, String>> = BTreeMap::new();
            for lease in leases {
                let Some(ticket) = lease.ticket.as_deref() else {
                    continue;
                };
                let standing = standings
                    .entry(ticket.to_owned())
                    .or_insert_with(|| checker.standing(ticket));
                let standing = match standing {
                    Ok(standing) => standing,
                    Err(err) => {
                        report.errors.push((lease.id.clone(), err.clone()));
                        continue;
                    }
                };
                let Some(denial) = standing.denial(ticket, check) else {
                    continue;
                };
                let mut notes = Notes::new();
                notes.insert("cause".into(), json!(denial));
                notes.insert("ticket_status".into(), json!(standing.status()));
                match self.end(&lease.id, Ending::Revoked, RevokeMode::Manual, notes) {
                    Ok(revocation) => report.revocations.push(revocation),
                    Err(err) => report.errors.push((lease.id.clone(), format!("{err:#}"))),
                }
            }
        }
    }

    pub(super) fn cancel_stale(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Lease>> {
        store::write(self.store, |tx| {
            let Some(mut lease) = tx.lease(id)? else {
                return Ok(None);
            };
            // The role's own timeout holds even while the requester waits; the default one
            // spares a waiting requester. A role that has left the configuration has the
            // default.
            let explicit = self
                .config
                .roles
                .get(&lease.role)
                .and_then(|role| role.approvals_for(lease.agent.is_some()).timeout);
            let timeout = explicit.unwrap_or(PENDING_TIMEOUT);
            let waiting = explicit.is_none()
                && lease.worker.as_deref().is_some_and(|w| {
                    self.worker
                        .sees_alive(w, lease.worker_at, now, HEARTBEAT_STALE)
                });
            if lease.state != LeaseState::Pending
                || lease.created_at > now - delta(timeout)
                || waiting
            {
                return Ok(None);
            }
            let details = events::Cancelled {
                reason: format!("not decided within {}", duration::format(timeout)),
            };
            self.close(tx, &mut lease, LeaseState::Cancelled, &details, now)?;
            Ok(Some(lease))
        })
    }
}
