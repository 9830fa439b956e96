//! The lease service carried out in this process, on the embedded store.

use super::*;
use crate::leases::{Decision, Leases, Pickup, Which};

/// The engine acting for the person at the terminal.
pub struct Local<'a> {
    pub engine: Engine<'a>,
    pub who: &'a Identity,
}

impl Leases for Local<'_> {
    fn evaluate(&self, input: &RequestInput) -> Result<Evaluation<'_>> {
        self.engine.evaluate(self.who, input)
    }

    fn request(
        &self,
        input: &RequestInput,
        wait: Option<Duration>,
        progress: &mut dyn FnMut(&Lease),
    ) -> Result<Requested> {
        self.engine.request_watched(self.who, input, wait, progress)
    }

    fn session(&self) -> Result<String> {
        Session::this_process(&self.engine.worker)
    }

    fn request_held(&self, input: &RequestInput) -> Result<(Requested, Pickup)> {
        Ok((self.engine.request(self.who, input, None)?, Pickup::Here))
    }

    fn await_held(
        &self,
        lease_id: &str,
        _pickup: &Pickup,
        timeout: Duration,
        progress: &mut dyn FnMut(&Lease),
    ) -> Result<Requested> {
        self.engine.await_approval(lease_id, timeout, progress)
    }

    fn holds_for_a_command(&self) -> Result<()> {
        Ok(())
    }

    fn decide(&self, id: &str, verdict: Verdict, reason: Option<&str>) -> Result<Decision> {
        Ok(Decision {
            decided: self.engine.decide(id, self.who, verdict, reason)?,
            queued: false,
        })
    }

    fn to_revoke(&self, which: &Which<'_>) -> Result<Vec<Lease>> {
        let leases = match which {
            Which::Ids(ids) => ids
                .iter()
                .map(|id| self.engine.lease(id))
                .collect::<Result<Vec<_>>>()?,
            Which::Mine { role } => {
                if let Some(role) = role {
                    self.engine.role(role)?;
                }
                self.engine
                    .store
                    .leases(&LeaseFilter::live_of(&self.who.user, *role))?
            }
        };
        for lease in &leases {
            self.engine.may_end(self.who, lease)?;
        }
        Ok(leases)
    }

    fn revoke(&self, lease: &Lease) -> Result<Revocation> {
        self.engine.revoke(&lease.id)
    }

    fn extend(&self, id: &str, ttl: Duration) -> Result<Lease> {
        self.engine.extend(id, self.who, ttl)
    }

    fn publish(&self) {
        self.engine.publish();
    }
}
