//! Moving the end of an active lease, within policy, on the target and in the store.

use super::*;

impl<'a> Engine<'a> {
    /// Move an active lease's end to now + `ttl`, within policy; the target's own expiry
    /// moves with it.
    pub fn extend(&self, id: &str, who: &Identity, ttl: Duration) -> Result<Lease> {
        let lease = self.lease(id)?;
        if who.user != lease.requester && who.user != lease.subject {
            return Err(exit::denied(format!(
                "{} may not extend a lease of {}",
                who.user, lease.subject
            )));
        }
        if lease.state != LeaseState::Active {
            return Err(exit::usage(format!(
                "lease {id} is {}; only an active lease can be extended",
                lease.state
            )));
        }
        let input = RequestInput {
            role: lease.role.clone(),
            ttl: Some(ttl),
            ticket: lease.ticket.clone(),
            reason: lease.reason.clone(),
            public_key: None,
            queued_as: None,
            // An agent's lease stays held to the agent's caps, whoever extends it.
            agent: lease.agent.clone(),
            session: None,
        };
        let evaluation = self.evaluate_and(who, &input, Recorded::Lease(&lease.id))?;
        let backend = self.backend_for(&lease.target)?;
        let new_end = evaluation.ends_at;
        // The new end is set on the target and recorded with a shared entitlement's lock
        // held, so that no grant or revocation of it at the same time sets an end that
        // misses this one.
        let _held = self.hold(&lease, backend.as_ref(), WAIT_FOR_ENTITLEMENT)?;
        let lease = self.lease(id)?;
        if lease.state != LeaseState::Active {
            return Err(exit::usage(format!(
                "lease {id} is {}; only an active lease can be extended",
                lease.state
            )));
        }
        let others = self.covering(&lease, backend.as_ref())?;
        let entitlement_end = entitlement::end(&others).map_or(new_end, |end| end.max(new_end));
        backend
            .extend(&GrantRequest {
                lease: &lease,
                expires_at: entitlement_end,
                store: self.store_name()?,
                renewal: true,
                checkpoint: None,
            })
            .map_err(|err| {
                anyhow!(
                    "moving the end on target {:?} failed: {}",
                    lease.target,
                    err.message
                )
            })?;
        store::write(self.store, |tx| {
            let mut current = tx
                .lease(id)?
                .with_context(|| format!("lease {id} vanished"))?;
            anyhow::ensure!(
                current.state == LeaseState::Active,
                "lease {id} became {} meanwhile",
                current.state
            );
            let from = current.expires_at;
            current.expires_at = Some(new_end);
            if backend.traits(&current.params).caches_credentials {
                credential_cache::retime(id, (new_end - self.clock.now()).num_seconds());
            }
            current.ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
            tx.update(&current)?;
            tx.append(&self.event(
                &current,
                &events::Extended {
                    from,
                    to: new_end,
                    ttl: duration::format(ttl),
                    caps: &evaluation.decision.caps,
                },
            ))?;
            Ok(current)
        })
    }
}
