//! Separation of duties: the `[[conflicts]]` rules, checked against the person's leases in
//! the store at request, extension and approval. Each refusal is recorded in the audit trail
//! with the rule that gave it.

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
        let leases = self.leases_of(who, &LeaseState::HOLDING, |lease| lease.subject == who)?;
        let held: Vec<Held<'_>> = leases
            .iter()
            .filter(|lease| Some(lease.id.as_str()) != except)
            .map(|lease| Held {
                id: &lease.id,
                role: &lease.role,
            })
            .collect();
        self.refuse_conflict(
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
        let live: Vec<LeaseState> = LeaseState::ALL
            .into_iter()
            .filter(|state| !state.is_final())
            .collect();
        let leases = self.leases_of(approver, &live, |lease| {
            lease.subject == approver || lease.requester == approver
        })?;
        let held: Vec<Held<'_>> = leases
            .iter()
            .map(|lease| Held {
                id: &lease.id,
                role: &lease.role,
            })
            .collect();
        self.refuse_conflict(
            policy::check_conflicts(self.config, approver, "approve a request for", role, &held),
            approver,
            subject,
            role,
            Recorded::Lease(id),
        )
    }

    /// The leases of `person` in `states` that `mine` keeps.
    fn leases_of(
        &self,
        person: &str,
        states: &[LeaseState],
        mine: impl Fn(&Lease) -> bool,
    ) -> Result<Vec<Lease>> {
        let mut leases = self.store.leases(&LeaseFilter {
            states: states.to_vec(),
            role: None,
            person: Some(person.to_owned()),
        })?;
        leases.retain(mine);
        Ok(leases)
    }

    /// A conflict found is a denial (exit 3), recorded first: `by` is who was refused (the
    /// requester, or the approver), `subject` whose lease it is.
    fn refuse_conflict(
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
