//! Asking: evaluate a request against policy, record it, grant it now or wait for approval.

use super::*;

impl<'a> Engine<'a> {
    /// Check policy for a request, changing nothing.
    pub fn evaluate(&self, who: &Identity, input: &RequestInput) -> Result<Evaluation<'a>> {
        self.evaluate_and(who, input, Recorded::Not)
    }

    /// [`Engine::evaluate`], recording a denial because of the ticket's status as `record`
    /// says.
    pub(super) fn evaluate_and(
        &self,
        who: &Identity,
        input: &RequestInput,
        record: Recorded<'_>,
    ) -> Result<Evaluation<'a>> {
        let role = self.role(&input.role)?;
        if let Some(reason) = &input.reason {
            policy::check_reason(reason).map_err(exit::usage)?;
        }
        if let Some(ticket) = &input.ticket {
            text::check_format("the ticket", ticket).map_err(exit::usage)?;
        }
        // What an agent says of itself is shown to approvers: one line of plain text, as a
        // reason is (a team worker reads it from a row the requester wrote).
        if let Some(agent) = &input.agent {
            policy::check_agent(agent).map_err(exit::usage)?;
        }
        let backend = self.backend_for(&role.target)?;
        let now = self.clock.now();
        // Certification first: a decertification or an overdue rule is named as such.
        let reviews = self.reviews()?;
        let reviewed = policy::check_reviews(self.config, who, role, &reviews, now);
        self.refuse(reviewed, &self.actor, &who.user, &role.name, record)?;
        let evaluated = policy::evaluate(
            self.config,
            who,
            role,
            policy::Asked {
                ttl: input.ttl,
                ticket: input.ticket.as_deref(),
                by_agent: input.agent.is_some(),
            },
            backend.traits(&role.grant).limits,
            now,
        );
        let decision = self.refuse(evaluated, &self.actor, &who.user, &role.name, record)?;
        let glass = policy::check_break_glass(role, input.reason.as_deref());
        self.refuse(glass, &self.actor, &who.user, &role.name, record)?;
        let extending = match record {
            Recorded::Lease(id) => Some(id),
            Recorded::Not | Recorded::Request => None,
        };
        self.check_weighed(role, &who.user, extending, record)?;
        let ticket_status = self.ticket_status(&who.user, role, input.ticket.as_deref(), record)?;
        // What a dry run shows: each condition that applies, and how it stands.
        let mut conditions = Vec::new();
        if let Recorded::Not = record {
            conditions = policy::conditions(self.config, who, role, now);
            conditions.extend(policy::certification_conditions(
                self.config,
                who,
                role,
                &reviews,
                now,
            ));
            if let Some(max) = role.max_active {
                let live = self.live_of_role(&mut |f| self.store.leases(f), role, None)?;
                conditions.push(policy::max_active_condition(role, max, live));
            }
        }
        let starts_at = self.clock.now();
        let ends_at = starts_at + delta(decision.ttl);
        Ok(Evaluation {
            role,
            backend: backend.kind(),
            decision,
            starts_at,
            ends_at,
            ticket_status,
            conditions,
        })
    }

    /// Ask the ticketing system about the ticket, where the role says so: its status when it
    /// allows access; a denial (exit 3) when it does not; a runtime error (exit 1) when the
    /// ticketing system cannot be asked, so that nothing is granted on a ticket nobody read.
    pub(super) fn ticket_status(
        &self,
        subject: &str,
        role: &Role,
        ticket: Option<&str>,
        record: Recorded<'_>,
    ) -> Result<Option<String>> {
        let (Some(check), Some(ticket)) = (&role.ticket.check, ticket) else {
            return Ok(None);
        };
        let standing = ticket::Checker::new(check)
            .standing(ticket)
            .map_err(|err| anyhow!(err))?;
        let Some(denial) = standing.denial(ticket, check) else {
            return Ok(standing.status().map(str::to_owned));
        };
        if let Recorded::Request | Recorded::Lease(_) = record {
            let event = NewEvent {
                at: self.clock.now(),
                actor: self.actor.clone(),
                lease_id: match record {
                    Recorded::Lease(id) => Some(id.to_owned()),
                    _ => None,
                },
                kind: EventKind::Denied,
                details: serde_json::to_value(events::TicketDenied {
                    role: &role.name,
                    subject,
                    ticket,
                    ticket_status: standing.status(),
                    reason: &denial,
                })?,
            };
            store::write(self.store, |tx| Ok(tx.append(&event).map(drop)?))?;
        }
        Err(exit::denied(denial))
    }

    /// Evaluate, record, and grant now (or leave pending for approval).
    pub fn request(
        &self,
        who: &Identity,
        input: &RequestInput,
        wait: Option<Duration>,
    ) -> Result<Requested> {
        self.request_watched(who, input, wait, &mut |_| {})
    }

    /// [`Engine::request`], with `progress` seeing the lease each time a wait for its
    /// approval reads it (see [`Engine::await_approval`]).
    pub fn request_watched(
        &self,
        who: &Identity,
        input: &RequestInput,
        wait: Option<Duration>,
        progress: &mut dyn FnMut(&Lease),
    ) -> Result<Requested> {
        let evaluation = self.evaluate_and(who, input, Recorded::Request)?;
        let role = evaluation.role;
        let backend = self.backend_for(&role.target)?;
        let now = evaluation.starts_at;
        let pending = evaluation.decision.approvals_required > 0;
        // This process grants what it waits for, and what it holds for an agent's session
        // (`jit mcp`): the credentials must reach it. A team worker grants a queued request
        // when it is approved, and hands the credentials over sealed.
        let held = input.session.is_some() && input.queued_as.is_none();
        let claims_grant = !pending || wait.is_some() || held;
        let mut lease = Lease {
            id: lease::new_id(),
            role: role.name.clone(),
            target: role.target.clone(),
            backend: backend.kind().to_owned(),
            subject: who.user.clone(),
            requester: who.user.clone(),
            state: if pending {
                LeaseState::Pending
            } else {
                LeaseState::Granting
            },
            ticket: input.ticket.clone(),
            reason: input.reason.clone(),
            created_at: now,
            granted_at: None,
            expires_at: None,
            ended_at: None,
            approvals: Vec::new(),
            break_glass: role.break_glass,
            last_error: None,
            ttl_secs: i64::try_from(evaluation.decision.ttl.as_secs()).unwrap_or(i64::MAX),
            approvals_required: evaluation.decision.approvals_required,
            handle: Value::Null,
            params: match &input.public_key {
                Some(key) => {
                    let mut params = role.grant.clone();
                    params["public_key"] = json!(key);
                    params
                }
                None => role.grant.clone(),
            },
            ending: None,
            worker: claims_grant.then(|| self.worker.id.clone()),
            worker_at: claims_grant.then_some(now),
            attempts: 0,
            next_attempt_at: None,
            // What the agent may do with the lease is the role's, never the asker's word.
            agent: input.agent.as_ref().map(|agent| lease::Agent {
                client: agent.client.clone(),
                task: agent.task.clone(),
                commands: role
                    .agent
                    .iter()
                    .flat_map(|a| &a.commands)
                    .map(|(name, command)| (name.clone(), command.argv.clone()))
                    .collect(),
                reveal: role.agent.as_ref().is_some_and(|a| a.reveal),
            }),
            agent_session: input.session.clone(),
        };
        // A lease whose entitlement is its own alone (no other lease to wait for or to cover)
        // gets its window now, so that the grant needs no second transaction to claim it.
        let fresh_window = (!pending && backend.traits(&lease.params).sharing == Sharing::PerLease)
            .then(|| now + TimeDelta::seconds(lease.ttl_secs));
        if let Some(end) = fresh_window {
            lease.granted_at = Some(now);
            lease.expires_at = Some(end);
        }
        lease.handle = backend.plan(&lease, &lease.params);
        let details = events::Requested {
            role: &lease.role,
            target: &lease.target,
            backend: &lease.backend,
            ttl: duration::format(evaluation.decision.ttl),
            ttl_source: &evaluation.decision.ttl_source,
            caps: &evaluation.decision.caps,
            ticket: lease.ticket.as_deref(),
            reason: lease.reason.as_deref(),
            approvals_required: lease.approvals_required,
            ticket_status: evaluation.ticket_status.as_deref(),
            break_glass: lease.break_glass,
            agent: lease.agent.as_ref(),
        };
        let refused = store::write(self.store, |tx| {
            // Weighed again where the lease is created: another request may have taken the
            // last seat, or a conflicting role, since the check above.
            let weighed = self.weigh(&mut |f| tx.leases(f), role, &lease.subject, None)?;
            if let Err(refused) = weighed {
                let event = self.denied(&refused, &self.actor, &lease.subject, &role.name, None)?;
                tx.append(&event)?;
                return Ok(Some(refused));
            }
            tx.insert(&lease)?;
            if let Some(request) = input.queued_as {
                // The lease answers a queued request: linked in the same transaction, so
                // that a request is never turned into two leases.
                tx.link_request(request, &lease.id)?;
            }
            tx.append(&self.event(&lease, &details))?;
            Ok(None)
        })?;
        if let Some(refused) = refused {
            return Err(exit::denied(refused.denial.0));
        }
        if pending {
            // The approvers hear of it now, not when the wait ends.
            self.publish();
            return match wait {
                Some(timeout) => self.await_approval(&lease.id, timeout, progress),
                None => Ok(self.pending(lease)),
            };
        }
        fault::point("before-grant");
        let (lease, credentials, notice) = match fresh_window {
            // An entitlement of its own, claimed and windowed at creation: straight on.
            Some(end) => self.finish_grant(lease, backend, end, false)?,
            None => self.grant(&lease.id)?,
        };
        let notice = self.delivered(&lease, credentials.as_ref(), notice);
        Ok(Requested::Granted {
            lease,
            credentials,
            notice,
        })
    }

    /// Credentials have reached the requester's own process: keep them in the requester's
    /// keyring for the rest of the lease where the backend asks (AWS `credential_process`).
    /// A failure to keep them is said, not fatal: they have been handed over.
    pub(super) fn delivered(
        &self,
        lease: &Lease,
        credentials: Option<&Credentials>,
        notice: Option<String>,
    ) -> Option<String> {
        let (Some(credentials), Some(end), true) =
            (credentials, lease.expires_at, self.keeps_credentials)
        else {
            return notice;
        };
        let caches = self
            .backend_for(&lease.target)
            .is_ok_and(|b| b.traits(&lease.params).caches_credentials);
        if !caches {
            return notice;
        }
        let seconds = (end - self.clock.now()).num_seconds();
        match credential_cache::store(&lease.id, credentials, seconds) {
            Ok(()) => notice,
            Err(err) => {
                let failed =
                    format!("the credentials were not kept for `jit credential-process`: {err:#}");
                Some(match notice {
                    Some(notice) => format!("{notice}\n{failed}"),
                    None => failed,
                })
            }
        }
    }

    /// Wait for a pending request to be decided, then grant it in this process; `progress`
    /// sees the lease each time it is read. A request held for an agent's session stays
    /// this process's when the wait ends undecided.
    pub fn await_approval(
        &self,
        id: &str,
        timeout: Duration,
        progress: &mut dyn FnMut(&Lease),
    ) -> Result<Requested> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.clock.now();
            let timed_out = Instant::now() >= deadline;
            let lease = store::write(self.store, |tx| {
                let mut lease = tx
                    .lease(id)?
                    .with_context(|| format!("lease {id} vanished"))?;
                if lease.state == LeaseState::Pending
                    && lease.worker.as_deref() == Some(self.worker.id.as_str())
                {
                    if timed_out && lease.agent_session.is_none() {
                        lease.release();
                    } else {
                        lease.worker_at = Some(now);
                    }
                    tx.update(&lease)?;
                }
                Ok(lease)
            })?;
            progress(&lease);
            match lease.state {
                LeaseState::Pending if timed_out => return Ok(self.pending(lease)),
                LeaseState::Pending => {}
                LeaseState::Granting
                    if lease.worker.as_deref() == Some(self.worker.id.as_str()) =>
                {
                    let (lease, credentials, notice) = self.grant(id)?;
                    let notice = self.delivered(&lease, credentials.as_ref(), notice);
                    return Ok(Requested::Granted {
                        lease,
                        credentials,
                        notice,
                    });
                }
                LeaseState::Granting | LeaseState::Active => {
                    return Ok(Requested::Granted {
                        lease,
                        credentials: None,
                        notice: None,
                    });
                }
                LeaseState::Denied => return Err(exit::denied(lease.denial())),
                LeaseState::Cancelled => {
                    return Err(exit::denied(cancellation(self.store, &lease)?));
                }
                other => return Err(exit::denied(format!("request {id} is {other}"))),
            }
            std::thread::sleep(HEARTBEAT.min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    /// A request left waiting for approval, with what its requester should know about the
    /// credentials it will not see.
    fn pending(&self, lease: Lease) -> Requested {
        let notice = self.unshown_credentials(&lease);
        Requested::Pending { lease, notice }
    }
}
