//! The policy rules that need the store: separation of duties (the `[[conflicts]]` rules,
//! checked against the person's leases at request, extension and approval) and a role's
//! `max_active`. They are weighed once before anything else is done, and again inside the
//! transaction that creates or approves the lease, so that two requests at the same time
//! cannot both pass. Every refusal by policy is recorded in the audit trail with the rule
//! that gave it (a `denied` event of the lease, or of no lease when none was created).

use super::*;
use crate::policy::{Held, Refused};

/// Reads leases: from the store, or inside a transaction.
pub(super) type Read<'r> = dyn FnMut(&LeaseFilter) -> store::Result<Vec<Lease>> + 'r;

impl<'a> Engine<'a> {
    /// Refuse `subject` holding `role` while they hold a conflicting role live, or while the
    /// role has `max_active` live leases (`except`: the lease being extended); the refusal
    /// is recorded as `record` says.
    pub(super) fn check_weighed(
        &self,
        role: &Role,
        subject: &str,
        except: Option<&str>,
        record: Recorded<'_>,
    ) -> Result<()> {
        let weighed = self.weigh(
            &mut |filter| self.store.leases(filter),
            role,
            subject,
            except,
        )?;
        self.refuse(weighed, &self.actor, subject, &role.name, record)
    }

    /// What the rules that weigh other leases say of `subject` taking `role`, from the
    /// leases `read` returns.
    pub(super) fn weigh(
        &self,
        read: &mut Read<'_>,
        role: &Role,
        subject: &str,
        except: Option<&str>,
    ) -> Result<std::result::Result<(), Refused>> {
        if !self.config.conflicts.is_empty() {
            let leases = read(&LeaseFilter::live_of(subject, None))?;
            let held = held(leases.iter().filter(|lease| {
                lease.subject == subject
                    && LeaseState::HOLDING.contains(&lease.state)
                    && Some(lease.id.as_str()) != except
            }));
            let checked = policy::check_conflicts(self.config, subject, "hold", &role.name, &held);
            if checked.is_err() {
                return Ok(checked);
            }
        }
        if let Some(max) = role.max_active.filter(|_| !role.break_glass) {
            let live = self.live_of_role(read, role, except)?;
            return Ok(policy::check_max_active(role, max, live));
        }
        Ok(Ok(()))
    }

    /// How many leases of `role` are live (holding their entitlement or on the way to it).
    pub(super) fn live_of_role(
        &self,
        read: &mut Read<'_>,
        role: &Role,
        except: Option<&str>,
    ) -> Result<usize> {
        let filter = LeaseFilter {
            states: LeaseState::HOLDING.to_vec(),
            role: Some(role.name.clone()),
            person: None,
        };
        Ok(read(&filter)?
            .into_iter()
            .filter(|lease| Some(lease.id.as_str()) != except)
            .count())
    }

    /// Refuse `approver` approving a request for `role` of `subject` (lease `id`) while the
    /// approver holds, or has asked for, a role that conflicts with it.
    pub(super) fn check_approving(
        &self,
        approver: &str,
        subject: &str,
        role: &str,
        id: &str,
    ) -> Result<()> {
        if self.config.conflicts.is_empty() {
            return Ok(());
        }
        // Every live lease the approver requested or holds, a pending request among them.
        let leases = self.store.leases(&LeaseFilter::live_of(approver, None))?;
        let held = held(leases.iter());
        self.refuse(
            policy::check_conflicts(self.config, approver, "approve a request for", role, &held),
            approver,
            subject,
            role,
            Recorded::Lease(id),
        )
    }

    /// A rule that refused is a denial (exit 3), recorded first: `by` is who was refused (the
    /// requester, or the approver), `subject` whose lease it is.
    pub(super) fn refuse<T>(
        &self,
        checked: std::result::Result<T, Refused>,
        by: &str,
        subject: &str,
        role: &str,
        record: Recorded<'_>,
    ) -> Result<T> {
        let refused = match checked {
            Ok(value) => return Ok(value),
            Err(refused) => refused,
        };
        let lease_id = match record {
            Recorded::Not => return Err(exit::denied(refused.denial.0)),
            Recorded::Request => None,
            Recorded::Lease(id) => Some(id),
        };
        let event = self.denied(&refused, by, subject, role, lease_id)?;
        store::write(self.store, |tx| Ok(tx.append(&event).map(drop)?))?;
        Err(exit::denied(refused.denial.0))
    }

    /// The `denied` event of a refusal by policy.
    pub(super) fn denied(
        &self,
        refused: &Refused,
        by: &str,
        subject: &str,
        role: &str,
        lease_id: Option<&str>,
    ) -> Result<NewEvent> {
        let details = events::PolicyDenied {
            role,
            subject,
            by,
            rule: &refused.rule,
            reason: &refused.denial.0,
        };
        Ok(NewEvent {
            at: self.clock.now(),
            actor: self.actor.clone(),
            lease_id: lease_id.map(str::to_owned),
            kind: details.kind(),
            details: serde_json::to_value(&details)?,
        })
    }
}

/// What separation of duties weighs of each lease.
fn held<'l>(leases: impl Iterator<Item = &'l Lease>) -> Vec<Held<'l>> {
    leases
        .map(|lease| Held {
            id: &lease.id,
            role: &lease.role,
        })
        .collect()
}
