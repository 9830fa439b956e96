//! Approving and denying a pending request.

use super::*;

impl<'a> Engine<'a> {
    /// Approve or deny a pending request.
    pub fn decide(
        &self,
        id: &str,
        who: &Identity,
        verdict: Verdict,
        reason: Option<&str>,
    ) -> Result<Decided> {
        if let Some(reason) = reason {
            policy::check_reason(reason).map_err(exit::usage)?;
        }
        let lease = self.lease(id)?;
        // An approval is given on the ticket as it is now, not as it was when requested; by
        // someone who may approve (checked first, so that nobody else can have a ticket read
        // and a denial recorded on the lease).
        if verdict == Verdict::Approve
            && lease.state == LeaseState::Pending
            && let Some(role) = self.config.roles.get(&lease.role)
        {
            policy::check_approver(role, who, &lease.requester, &lease.subject)
                .map_err(|d| exit::denied(d.0))?;
            // Separation of duties, as things stand now: the subject holds no conflicting
            // role, and the approver neither holds nor asks for one.
            self.check_holding(
                &lease.subject,
                &lease.role,
                None,
                Recorded::Lease(&lease.id),
            )
            .map_err(|err| err.context(format!("lease {id} cannot be approved")))?;
            self.check_approving(&who.user, &lease.subject, &lease.role, &lease.id)?;
            self.check_max_active(role, &lease.subject, None, Recorded::Lease(&lease.id))
                .map_err(|err| err.context(format!("lease {id} cannot be approved")))?;
            self.ticket_status(
                &lease.subject,
                role,
                lease.ticket.as_deref(),
                Recorded::Lease(&lease.id),
            )
            .map_err(|err| err.context(format!("lease {id} cannot be approved")))?;
        }
        let now = self.clock.now();
        let decided = store::write(self.store, |tx| {
            let mut lease = tx
                .lease(&lease.id)?
                .with_context(|| format!("lease {id} vanished"))?;
            if lease.state != LeaseState::Pending {
                return Err(exit::usage(format!(
                    "lease {id} is {}, not pending",
                    lease.state
                )));
            }
            let role = self.role(&lease.role)?;
            policy::check_approver(role, who, &lease.requester, &lease.subject)
                .map_err(|d| exit::denied(d.0))?;
            if lease.approvals.iter().any(|a| a.by == who.user) {
                return Err(exit::usage(format!(
                    "{} has already decided lease {id}",
                    who.user
                )));
            }
            let approval = Approval {
                by: who.user.clone(),
                at: now,
                decision: verdict,
                reason: reason.map(str::to_owned),
            };
            tx.add_approval(&lease.id, &approval)?;
            lease.approvals.push(approval);
            if verdict == Verdict::Deny {
                let details = events::Denied {
                    by: &who.user,
                    reason,
                };
                self.close(tx, &mut lease, LeaseState::Denied, &details, now)?;
                return Ok(Decided::Denied { lease });
            }
            let given = u32::try_from(lease.approvals_given()).unwrap_or(u32::MAX);
            let required = lease.approvals_required;
            let details = events::Approved {
                by: &who.user,
                reason,
                approvals: given,
                required,
            };
            if given < required {
                tx.update(&lease)?;
                tx.append(&self.event(&lease, &details))?;
                return Ok(Decided::Approved {
                    lease,
                    remaining: required - given,
                });
            }
            lease.become_(LeaseState::Granting)?;
            let waiter = lease.worker.as_deref().is_some_and(|w| {
                self.worker
                    .sees_alive(w, lease.worker_at, now, HEARTBEAT_STALE)
            });
            if !waiter {
                lease.claim(&self.worker.id, now);
            }
            tx.update(&lease)?;
            tx.append(&self.event(&lease, &details))?;
            Ok(if waiter {
                Decided::HandedOver { lease }
            } else {
                Decided::Granted {
                    lease,
                    credentials: None,
                }
            })
        })?;
        match decided {
            Decided::Granted { lease, .. } => {
                let (lease, credentials, _) = self.grant(&lease.id)?;
                Ok(Decided::Granted { lease, credentials })
            }
            other => Ok(other),
        }
    }
}
