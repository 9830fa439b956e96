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
        if lease.state == LeaseState::Pending
            && let Some(role) = self.config.roles.get(&lease.role)
        {
            // Only someone who may decide is heard further (so that nobody else can have a
            // ticket read); anyone else's attempt is refused, and recorded on the lease.
            let may = policy::check_approver(
                role,
                lease.agent.is_some(),
                who,
                &lease.requester,
                &lease.subject,
            );
            self.refuse(
                may,
                &who.user,
                &lease.subject,
                &role.name,
                Recorded::Lease(&lease.id),
            )?;
        }
        // An agent's request is approved for the session that asked: one that has ended
        // could take up no grant, and the request is cancelled instead.
        if verdict == Verdict::Approve
            && lease.state == LeaseState::Pending
            && let Some(session) = &lease.agent_session
            && self.session_ended(session)?
        {
            let cause = super::recheck::session_ended();
            self.cancel_unallowed(&lease.id, &cause)?;
            self.publish();
            return Err(exit::denied(format!(
                "lease {id} cannot be approved: {}; the request is cancelled",
                cause.text
            )));
        }
        // An approval is given on the ticket as it is now, not as it was when requested.
        if verdict == Verdict::Approve
            && lease.state == LeaseState::Pending
            && let Some(role) = self.config.roles.get(&lease.role)
        {
            // Separation of duties, as things stand now: the subject holds no conflicting
            // role (nor the role its max_active), and the approver neither holds nor asks
            // for one.
            self.check_weighed(role, &lease.subject, None, Recorded::Lease(&lease.id))
                .map_err(|err| err.context(format!("lease {id} cannot be approved")))?;
            self.check_approving(&who.user, &lease.subject, &lease.role, &lease.id)?;
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
            policy::check_approver(
                role,
                lease.agent.is_some(),
                who,
                &lease.requester,
                &lease.subject,
            )
            .map_err(|refused| exit::denied(refused.denial.0))?;
            if lease.approvals.iter().any(|a| a.by == who.user) {
                return Err(exit::usage(format!(
                    "{} has already decided lease {id}",
                    who.user
                )));
            }
            let grants = verdict == Verdict::Approve
                && lease.approvals_given() + 1
                    >= usize::try_from(lease.approvals_required).unwrap_or(usize::MAX);
            if grants {
                // This approval grants: the role's window, and the rules that weigh other
                // leases, as things stand where the grant is decided (another approval or
                // request at the same time may have taken the last seat).
                let mut checked = policy::check_role_window(role, now, "granted");
                if checked.is_ok() {
                    checked = self.weigh(&mut |f| tx.leases(f), role, &lease.subject, None)?;
                }
                if let Err(refused) = checked {
                    let event = self.denied(
                        &refused,
                        &who.user,
                        &lease.subject,
                        &role.name,
                        Some(&lease.id),
                    )?;
                    tx.append(&event)?;
                    return Ok(Err(refused));
                }
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
                return Ok(Ok(Decided::Denied { lease }));
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
                return Ok(Ok(Decided::Approved {
                    lease,
                    remaining: required - given,
                }));
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
            Ok(Ok(if waiter {
                Decided::HandedOver { lease }
            } else {
                Decided::Granted {
                    lease,
                    credentials: None,
                }
            }))
        })?;
        let decided = decided.map_err(|refused| {
            exit::denied(refused.denial.0).context(format!("lease {id} cannot be approved"))
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
