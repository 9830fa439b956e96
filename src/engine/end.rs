//! Ending a lease: claim it, revoke (or shrink a shared entitlement), record the outcome.

use super::*;

impl<'a> Engine<'a> {
    /// May `who` end this lease? Its requester and subject may, and so may anyone who may
    /// approve its role.
    pub fn may_end(&self, who: &Identity, lease: &Lease) -> Result<()> {
        if who.user == lease.requester || who.user == lease.subject {
            return Ok(());
        }
        let approver = self.config.roles.get(&lease.role).is_some_and(|role| {
            let approvals = role.approvals_for(lease.agent.is_some());
            approvals.from.iter().any(|s| who.matches(s))
        });
        if approver {
            return Ok(());
        }
        Err(exit::denied(format!(
            "{} may not revoke lease {} of {} (only its holder or an approver of role {:?} may)",
            who.user, lease.id, lease.subject, lease.role
        )))
    }

    /// Revoke a lease now (`jit revoke`). Idempotent.
    pub fn revoke(&self, id: &str) -> Result<Revocation> {
        let lease = self.lease(id)?;
        self.end(&lease.id, Ending::Revoked, RevokeMode::Manual, Notes::new())
    }
}

/// What a step ending a lease holds while it runs.
enum Holding {
    /// The lock of its shared entitlement, if it has one.
    Held(Option<store::Guard>),
    /// Another live process is changing that entitlement (and the sweeper does not wait).
    Busy(Box<Lease>),
}
use Holding::{Busy, Held};

/// What the claim found.
enum Claim {
    /// Nothing to do at the target: this is the outcome.
    Settled(Lease, RevokeOutcome),
    /// The lease is `revoking`, claimed by this process: take the entitlement away, unless
    /// the other live leases (`cover`) still hold it.
    Revoke(Lease, Vec<Lease>, Rc<dyn Backend>),
}

impl<'a> Engine<'a> {
    /// End a lease; `notes` go into the event of the outcome (why it was ended, say).
    pub(super) fn end(
        &self,
        id: &str,
        ending: Ending,
        mode: RevokeMode,
        notes: Notes,
    ) -> Result<Revocation> {
        let _held = match self.hold_to_end(id, mode)? {
            Held(guard) => guard,
            Busy(lease) => {
                return Ok(Revocation {
                    lease: *lease,
                    outcome: RevokeOutcome::InFlight,
                });
            }
        };
        let (lease, cover, backend) = match self.claim_end(id, ending, mode, &notes)? {
            Claim::Settled(lease, outcome) => return Ok(Revocation { lease, outcome }),
            Claim::Revoke(lease, cover, backend) => (lease, cover, backend),
        };
        // What the event of the outcome should also say.
        let mut notes = notes;
        let result = self.take_away(&lease, &cover, backend.as_ref(), &mut notes);
        // Nothing more is served from the cache, whatever the outcome.
        if backend.traits(&lease.params).caches_credentials {
            credential_cache::forget(id);
        }
        fault::point("after-revoke");
        self.record_end(id, &result, &notes)
    }

    /// A shared entitlement's lock is taken first and held to the outcome's record: the
    /// leases that still cover it are read, and its end changed on the target, while no
    /// other change to it can run. The sweeper does not wait for it: a live process changing
    /// this entitlement right now makes the lease in flight for this pass, as a lease that
    /// process is granting is.
    fn hold_to_end(&self, id: &str, mode: RevokeMode) -> Result<Holding> {
        Ok(Held(match self.store.lease(id)? {
            Some(lease) if !lease.state.is_final() && lease.state != LeaseState::Pending => {
                match self.backend_for(&lease.target) {
                    Ok(backend) if mode == RevokeMode::Sweep => {
                        match self.hold(&lease, backend.as_ref(), Duration::ZERO) {
                            Ok(held) => held,
                            Err(_) => return Ok(Busy(Box::new(lease))),
                        }
                    }
                    Ok(backend) => self.hold(&lease, backend.as_ref(), WAIT_FOR_ENTITLEMENT)?,
                    Err(_) => None,
                }
            }
            _ => None,
        }))
    }

    /// Claim the lease for ending it (`revoking`, this process), or settle what needs no
    /// call to the target: already ended, a pending request withdrawn, in flight elsewhere,
    /// not due yet, or a target that left the configuration.
    fn claim_end(
        &self,
        id: &str,
        ending: Ending,
        mode: RevokeMode,
        notes: &Notes,
    ) -> Result<Claim> {
        let now = self.clock.now();
        // Revocation bookkeeping can be derived again after a power loss (the lease would
        // look live and be revoked again): it does not wait for the disk.
        store::write_relaxed(self.store, |tx| {
            let mut lease = tx
                .lease(id)?
                .ok_or_else(|| exit::usage(format!("no lease {}", text::quoted(id))))?;
            if lease.state.is_final() {
                return Ok(Claim::Settled(lease, RevokeOutcome::AlreadyEnded));
            }
            if lease.state == LeaseState::Pending {
                let details = events::Cancelled {
                    reason: "withdrawn".to_owned(),
                };
                self.close(tx, &mut lease, LeaseState::Cancelled, &details, now)?;
                return Ok(Claim::Settled(lease, RevokeOutcome::Cancelled));
            }
            let in_flight = matches!(lease.state, LeaseState::Granting | LeaseState::Revoking)
                && lease.worker.as_deref().is_some_and(|w| {
                    w != self.worker.id
                        && self.worker.sees_alive(w, lease.worker_at, now, STALE_AFTER)
                });
            if in_flight && (mode == RevokeMode::Sweep || lease.state == LeaseState::Granting) {
                return Ok(Claim::Settled(lease, RevokeOutcome::InFlight));
            }
            if mode == RevokeMode::Sweep {
                let not_due = match lease.state {
                    LeaseState::Active => lease.expires_at.is_some_and(|end| end > now),
                    LeaseState::RevokeFailed => {
                        lease.next_attempt_at.is_some_and(|next| next > now)
                    }
                    _ => false,
                };
                if not_due {
                    return Ok(Claim::Settled(lease, RevokeOutcome::NotDue));
                }
            }
            let ending = match lease.state {
                LeaseState::Granting => Ending::Failed,
                _ => lease.ending.unwrap_or(ending),
            };
            if lease.state != LeaseState::Revoking {
                lease.become_(LeaseState::Revoking)?;
            }
            lease.ending = Some(ending);
            let backend = match self.backend_for(&lease.target) {
                Ok(backend) => backend,
                Err(err) => {
                    // Its target left the configuration (say): a failed attempt like any
                    // other, with the reason recorded and the same backoff, so that
                    // `sweep --watch` does not try again at once, forever.
                    let failure = BackendError::permanent(format!("{err:#}"));
                    let outcome = self.revoke_failed(tx, &mut lease, &failure, notes, now)?;
                    return Ok(Claim::Settled(lease, outcome));
                }
            };
            lease.claim(&self.worker.id, now);
            tx.update(&lease)?;
            let cover: Vec<Lease> = match backend.traits(&lease.params).sharing {
                Sharing::PerSubject => tx
                    .holding(&lease.role, &lease.subject)?
                    .into_iter()
                    .filter(|other| {
                        other.id != lease.id
                            && matches!(other.state, LeaseState::Active | LeaseState::Granting)
                    })
                    .collect(),
                Sharing::PerLease => Vec::new(),
            };
            Ok(Claim::Revoke(lease, cover, backend))
        })
    }

    /// Take the entitlement away on the target, or, while other leases still cover it,
    /// bring its end back to theirs. `Ok(Some(id))`: kept for lease `id`.
    fn take_away(
        &self,
        lease: &Lease,
        cover: &[Lease],
        backend: &dyn Backend,
        notes: &mut Notes,
    ) -> Result<Option<String>, BackendError> {
        let request = EndRequest { lease };
        match cover.first() {
            Some(keeper) => {
                // Still covered: leave the entitlement, but bring its end back to the
                // latest end among the leases that remain.
                if let Some(end) = entitlement::end(cover) {
                    let store = self
                        .store_name()
                        .map_err(|err| BackendError::unreached(format!("{err:#}")))?;
                    let shrunk = backend.extend(&GrantRequest {
                        lease: keeper,
                        expires_at: end,
                        store,
                        renewal: true,
                        checkpoint: None,
                    });
                    if let Err(err) = shrunk {
                        notes.insert("shrink_error".into(), json!(err.message));
                    }
                }
                Ok(Some(keeper.id.clone()))
            }
            None => {
                // A grant that was interrupted or failed may never have reached the
                // target: ask it first, and revoke what is there (or when it cannot say).
                let present = match lease.ending {
                    Some(Ending::Failed) => match backend.inspect(&request) {
                        Ok(Presence::Absent) => {
                            notes.insert("found".into(), json!("absent"));
                            false
                        }
                        Ok(Presence::Present) => {
                            notes.insert("found".into(), json!("present"));
                            true
                        }
                        Err(_) => true,
                    },
                    _ => true,
                };
                if present {
                    backend.revoke(&request).map(|()| None)
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Record the outcome of ending lease `id`: ended, or `revoke-failed` to be retried.
    fn record_end(
        &self,
        id: &str,
        result: &Result<Option<String>, BackendError>,
        notes: &Notes,
    ) -> Result<Revocation> {
        let now = self.clock.now();
        store::write_relaxed(self.store, |tx| {
            let mut current = tx
                .lease(id)?
                .with_context(|| format!("lease {id} vanished"))?;
            if current.state != LeaseState::Revoking {
                return Ok(Revocation {
                    lease: current,
                    outcome: RevokeOutcome::AlreadyEnded,
                });
            }
            let ending = current.ending.unwrap_or(Ending::Revoked);
            current.release();
            let outcome = match result {
                Ok(kept_for) => {
                    current.end_in(ending.state(), now)?;
                    current.next_attempt_at = None;
                    let kind = match ending {
                        Ending::Revoked => EventKind::Revoked,
                        Ending::Expired => EventKind::Expired,
                        Ending::Failed => EventKind::Reconciled,
                    };
                    let details = events::Ended {
                        kind,
                        attempts: current.attempts + 1,
                        entitlement_kept_for: kept_for.as_deref(),
                        after_error: current.last_error.take(),
                        notes,
                    };
                    tx.update(&current)?;
                    tx.append(&self.event(&current, &details))?;
                    RevokeOutcome::Done {
                        kept_for: kept_for.clone(),
                    }
                }
                Err(err) => self.revoke_failed(tx, &mut current, err, notes, now)?,
            };
            Ok(Revocation {
                lease: current,
                outcome,
            })
        })
    }
}
