//! The policy rules that need the store: separation of duties (the `[[conflicts]]` rules,
//! checked against the person's leases at request, extension and approval) and a role's
//! `max_active`. Each refusal is recorded in the audit trail with the rule that gave it.

use super::*;
use crate::policy::Held;

impl<'a> Engine<'a> {
    /// Refuse `who` holding `role` while they hold a conflicting role live (`except`: the
    /// lease being extended); the refusal is recorded as `record` says.
    pub(super) fn check_holding(
        &self,
        who: &str,
        role: &str,
        except: Option<&str>,
        record: Recorded<'_>,
    ) -> Result<()> {
        if self.config.conflicts.is_empty() {
            return Ok(());
        }
        let leases = self.live_leases_of(who)?;
        let held = held(leases.iter().filter(|lease| {
            lease.subject == who
                && LeaseState::HOLDING.contains(&lease.state)
                && Some(lease.id.as_str()) != except
        }));
        self.refuse(
            policy::check_conflicts(self.config, who, "hold", role, &held),
            &self.actor,
            who,
            role,
            record,
        )
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
        let leases = self.live_leases_of(approver)?;
        let held = held(leases.iter());
        self.refuse(
            policy::check_conflicts(self.config, approver, "approve a request for", role, &held),
            approver,
            subject,
            role,
            Recorded::Lease(id),
        )
    }

    /// Refuse a lease of `role` while it has `max_active` live leases already (`except`: the
    /// lease being extended). A break-glass role is not held to it.
    pub(super) fn check_max_active(
        &self,
        role: &Role,
        subject: &str,
        except: Option<&str>,
        record: Recorded<'_>,
    ) -> Result<()> {
        let Some(max) = role.max_active.filter(|_| !role.break_glass) else {
            return Ok(());
        };
        let live = self
            .store
            .leases(&LeaseFilter {
                states: LeaseState::HOLDING.to_vec(),
                role: Some(role.name.clone()),
                person: None,
            })?
            .into_iter()
            .filter(|lease| Some(lease.id.as_str()) != except)
            .count();
        let checked = policy::check_max_active(role, max, live);
        self.refuse(checked, &self.actor, subject, &role.name, record)
    }

    /// The live leases `person` requested or holds.
    fn live_leases_of(&self, person: &str) -> Result<Vec<Lease>> {
        Ok(self.store.leases(&LeaseFilter::live_of(person, None))?)
    }

    /// A rule that refused is a denial (exit 3), recorded first: `by` is who was refused (the
    /// requester, or the approver), `subject` whose lease it is.
    fn refuse(
        &self,
        checked: std::result::Result<(), policy::Conflicted>,
        by: &str,
        subject: &str,
        role: &str,
        record: Recorded<'_>,
    ) -> Result<()> {
        let Err(conflicted) = checked else {
            return Ok(());
        };
        let lease_id = match record {
            Recorded::Not => return Err(exit::denied(conflicted.denial.0)),
            Recorded::Request => None,
            Recorded::Lease(id) => Some(id.to_owned()),
        };
        let details = events::PolicyDenied {
            role,
            subject,
            by,
            rule: &conflicted.rule,
            reason: &conflicted.denial.0,
        };
        let event = NewEvent {
            at: self.clock.now(),
            actor: self.actor.clone(),
            lease_id,
            kind: details.kind(),
            details: serde_json::to_value(&details)?,
        };
        store::write(self.store, |tx| Ok(tx.append(&event).map(drop)?))?;
        Err(exit::denied(conflicted.denial.0))
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
