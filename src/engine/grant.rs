//! The grant step: claim the lease, fix its window, call the backend, record the outcome.

use super::*;

impl<'a> Engine<'a> {
    /// The grant step, for a lease in `granting` claimed by this process. Any process may
    /// run it: everything it needs is in the store.
    pub fn grant(&self, id: &str) -> Result<(Lease, Option<Credentials>, Option<String>)> {
        // A shared entitlement's lock is taken first and held to the grant's record: its
        // end is read from the store and set on the target while no other change to it can
        // run, so that grants at the same time reach the target one after another, each
        // with an end that counts the others' windows. (Taken before the claim, it also
        // keeps the claims that lock several of its leases' rows in a team store from
        // running at the same time, and so from deadlocking.)
        let pre = self
            .store
            .lease(id)?
            .with_context(|| format!("lease {id} vanished"))?;
        let held = match self.backend_for(&pre.target) {
            Ok(backend) => match self.hold(&pre, backend.as_ref(), WAIT_FOR_ENTITLEMENT) {
                Ok(held) => held,
                Err(err) if pre.worker.as_deref() == Some(self.worker.id.as_str()) => {
                    let refused = BackendError::refused(format!("{err:#}"));
                    return Err(self.grant_failed(pre, backend.as_ref(), &refused));
                }
                Err(err) => return Err(err),
            },
            Err(_) => None,
        };
        let started = Instant::now();
        let (lease, backend, own_end) = loop {
            let now = self.clock.now();
            // Only the `granting` record written before this step must survive a power loss;
            // if what follows is lost, the lease is `granting` again and the sweeper
            // reconciles it: no wait for the disk here.
            let claimed = store::write_relaxed(self.store, |tx| {
                let mut lease = tx
                    .lease(id)?
                    .with_context(|| format!("lease {id} vanished"))?;
                anyhow::ensure!(
                    lease.state == LeaseState::Granting
                        && lease.worker.as_deref() == Some(self.worker.id.as_str()),
                    "lease {id} is {} and not being granted by this process",
                    lease.state
                );
                let backend = self.backend_for(&lease.target)?;
                let own_end = now + TimeDelta::seconds(lease.ttl_secs);
                let revoking = match backend.traits(&lease.params).sharing {
                    Sharing::PerSubject => {
                        tx.holding(&lease.role, &lease.subject)?
                            .iter()
                            .any(|other| {
                                other.id != lease.id
                                    && other.state == LeaseState::Revoking
                                    && other.worker.as_deref().is_some_and(|w| {
                                        self.worker.sees_alive(w, other.worker_at, now, STALE_AFTER)
                                    })
                            })
                    }
                    Sharing::PerLease => false,
                };
                // The window is fixed here, before the backend call, so that the lease
                // and the target agree on the end to the second; from now on it counts
                // in the end of a shared entitlement.
                lease.granted_at = Some(now);
                lease.expires_at = Some(own_end);
                lease.worker_at = Some(now);
                tx.update(&lease)?;
                Ok((lease, backend, own_end, revoking))
            })?;
            let (lease, backend, own_end, revoking) = claimed;
            if !revoking || started.elapsed() > WAIT_FOR_REVOKE {
                break (lease, backend, own_end);
            }
            // Another process is taking this shared entitlement away; let it finish first.
            std::thread::sleep(Duration::from_millis(100));
        };

        let others = self.holders(&lease, backend.as_ref())?;
        // Another lease that got as far as holding it means what the target has is jit's to
        // renew (one still granting, or abandoned while granting, does not).
        let renewal = others
            .iter()
            .any(|other| other.state != LeaseState::Granting);
        let entitlement_end = entitlement::end(&others).map_or(own_end, |end| end.max(own_end));
        let granted = self.finish_grant(lease, backend, entitlement_end, renewal);
        drop(held);
        granted
    }

    /// For a shared entitlement, its lock: the changes to its end on the target happen one
    /// at a time, each computed from the store while the lock is held and recorded before
    /// it is let go. `None` for an entitlement of the lease's own.
    pub(super) fn hold(
        &self,
        lease: &Lease,
        backend: &dyn Backend,
        patience: Duration,
    ) -> Result<Option<store::Guard>> {
        if backend.traits(&lease.params).sharing == Sharing::PerLease {
            return Ok(None);
        }
        let lock = store::Lock::Entitlement {
            role: &lease.role,
            subject: &lease.subject,
        };
        match self.store.lock(lock, patience)? {
            Some(guard) => Ok(Some(guard)),
            None => Err(anyhow!(
                "another jit process has been changing the entitlement of role {:?} for {} for {}s; try again",
                lease.role,
                lease.subject,
                patience.as_secs()
            )),
        }
    }

    /// The rest of the grant step, for a lease this process has claimed (window fixed).
    pub(super) fn finish_grant(
        &self,
        lease: Lease,
        backend: Rc<dyn Backend>,
        entitlement_end: DateTime<Utc>,
        renewal: bool,
    ) -> Result<(Lease, Option<Credentials>, Option<String>)> {
        let id = lease.id.clone();
        let id = id.as_str();
        // What the backend must record before it goes on (the program it started, say),
        // while this process still holds the grant.
        let checkpoint = |handle: &Value| -> Result<(), BackendError> {
            store::write_relaxed(self.store, |tx| {
                let mut current = tx
                    .lease(id)?
                    .with_context(|| format!("lease {id} vanished"))?;
                anyhow::ensure!(
                    current.state == LeaseState::Granting
                        && current.worker.as_deref() == Some(self.worker.id.as_str()),
                    "lease {id} is {} and not being granted by this process",
                    current.state
                );
                current.handle = handle.clone();
                Ok(tx.update(&current)?)
            })
            .map_err(|err| BackendError::transient(format!("{err:#}")))
        };
        // The grant is marked with the store's name; not knowing it, nothing is sent.
        let outcome = self
            .store_name()
            .map_err(|err| BackendError::unreached(format!("{err:#}")))
            .and_then(|store| {
                backend.grant(&GrantRequest {
                    lease: &lease,
                    expires_at: entitlement_end,
                    store,
                    renewal,
                    checkpoint: Some(&checkpoint),
                })
            });
        fault::point("after-grant");
        let grant = match outcome {
            Ok(grant) => grant,
            Err(err) => return Err(self.grant_failed(lease, backend.as_ref(), &err)),
        };

        let recorded = store::write_relaxed(self.store, |tx| {
            let mut current = tx
                .lease(id)?
                .with_context(|| format!("lease {id} vanished"))?;
            if current.state != LeaseState::Granting {
                return Ok(None);
            }
            current.become_(LeaseState::Active)?;
            current.handle = grant.handle.clone();
            current.granted_at = lease.granted_at;
            current.expires_at = lease.expires_at;
            current.release();
            tx.update(&current)?;
            let details = events::Granted {
                expires_at: current.expires_at,
                target_expires_at: entitlement_end,
                native_expiry: grant.native_expiry,
                credentials_issued: grant.credentials.is_some(),
                break_glass: current.break_glass,
            };
            tx.append(&self.event(&current, &details))?;
            Ok(Some(current))
        })?;
        match recorded {
            Some(lease) => Ok((lease, grant.credentials, grant.notice)),
            None => {
                // The lease was reconciled away while the grant ran: take the grant back.
                let revoked = backend.revoke(&EndRequest { lease: &lease });
                Err(anyhow!(
                    "lease {id} was ended while it was being granted; the grant was {}",
                    if revoked.is_ok() {
                        "taken back"
                    } else {
                        "left for `jit sweep` to remove"
                    }
                ))
            }
        }
    }

    /// Record a failed grant, making sure nothing stays held.
    pub(super) fn grant_failed(
        &self,
        lease: Lease,
        backend: &dyn Backend,
        failure: &BackendError,
    ) -> anyhow::Error {
        let error = failure.message.as_str();
        let covered = self
            .covering(&lease, backend)
            .map(|c| !c.is_empty())
            .unwrap_or(false);
        // A refusal changed nothing on the target, and nothing reached a target that could
        // not be reached; anything else may have left a part behind.
        let cleanup = if covered || failure.nothing_changed() {
            Ok(())
        } else {
            backend.revoke(&EndRequest { lease: &lease })
        };
        let now = self.clock.now();
        let recorded = store::write_relaxed(self.store, |tx| {
            let mut current = tx
                .lease(&lease.id)?
                .with_context(|| format!("lease {} vanished", lease.id))?;
            if current.state != LeaseState::Granting {
                return Ok(());
            }
            current.release();
            current.last_error = Some(error.to_owned());
            // The backend's call has ended (and with it any program it started): the plan
            // made before it is the handle again.
            current.handle = lease.handle.clone();
            let details = match &cleanup {
                Ok(()) => {
                    current.end_in(LeaseState::Failed, now)?;
                    events::GrantFailed {
                        error,
                        cleanup_error: None,
                    }
                }
                Err(cleanup_error) => {
                    current.become_(LeaseState::RevokeFailed)?;
                    current.ending = Some(Ending::Failed);
                    current.attempts = 1;
                    current.next_attempt_at = Some(now + delta(retry_delay(1)));
                    events::GrantFailed {
                        error,
                        cleanup_error: Some(&cleanup_error.message),
                    }
                }
            };
            tx.update(&current)?;
            tx.append(&self.event(&current, &details))?;
            Ok(())
        });
        match recorded {
            Ok(()) => anyhow!(
                "granting role {:?} on target {:?} failed: {error}",
                lease.role,
                lease.target
            ),
            Err(err) => err.context(format!(
                "granting failed ({error}), and recording that failed too"
            )),
        }
    }

    /// Live leases that hold the same shared entitlement as `lease`.
    pub(super) fn covering(&self, lease: &Lease, backend: &dyn Backend) -> Result<Vec<Lease>> {
        let mut others = self.holders(lease, backend)?;
        others.retain(|other| matches!(other.state, LeaseState::Active | LeaseState::Granting));
        Ok(others)
    }

    /// The other leases that may hold the same shared entitlement as `lease` now (none for
    /// an entitlement of its own).
    pub(super) fn holders(&self, lease: &Lease, backend: &dyn Backend) -> Result<Vec<Lease>> {
        if backend.traits(&lease.params).sharing == Sharing::PerLease {
            return Ok(Vec::new());
        }
        store::write(self.store, |tx| {
            let mut others = tx.holding(&lease.role, &lease.subject)?;
            others.retain(|other| other.id != lease.id);
            Ok(others)
        })
    }
}
