//! A scripted backend for the engine's unit tests: it records every call in order, with
//! the state the lease had in the store at that moment; each call succeeds unless a failure
//! of some [`ErrorKind`] was scripted for it; a hook can act while a grant is under way.

use crate::backend::{
    Backend, BackendError, Check, EndRequest, ErrorKind, Grant, GrantRequest, Presence, Sharing,
    Traits,
};
use crate::lease::LeaseState;
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Grant,
    Revoke,
    Extend,
    Inspect,
}

/// One call the engine made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub op: Op,
    /// The lease the call was made for.
    pub lease: String,
    /// The end asked for (grant and extend).
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether a grant or extend said it renews an entitlement another lease holds.
    pub renewal: bool,
    /// The lease's state in the store when the call was made.
    pub seen: Option<LeaseState>,
}

/// What runs inside the next grant, before it returns.
type DuringGrant = Box<dyn FnOnce(&GrantRequest<'_>)>;

/// What runs when the next request is planned: after its policy checks, before it is
/// recorded.
type DuringPlan = Box<dyn FnOnce()>;

pub struct Fake {
    sharing: Sharing,
    store: Rc<dyn Store>,
    calls: RefCell<Vec<Call>>,
    /// Failures to give, each to the next call of its operation.
    failures: RefCell<Vec<(Op, ErrorKind)>>,
    presence: Cell<Presence>,
    during_grant: RefCell<Option<DuringGrant>>,
    during_plan: RefCell<Option<DuringPlan>>,
}

impl Fake {
    pub fn new(sharing: Sharing, store: Rc<dyn Store>) -> Rc<Fake> {
        Rc::new(Fake {
            sharing,
            store,
            calls: RefCell::default(),
            failures: RefCell::default(),
            presence: Cell::new(Presence::Present),
            during_grant: RefCell::default(),
            during_plan: RefCell::default(),
        })
    }

    /// The next call of `op` fails with `kind` (failures queue up, in order).
    pub fn fail(&self, op: Op, kind: ErrorKind) {
        self.failures.borrow_mut().push((op, kind));
    }

    /// What inspect answers from now on (when no failure is scripted).
    pub fn answer_inspect(&self, presence: Presence) {
        self.presence.set(presence);
    }

    /// Run `work` inside the next grant, after it is recorded and before it returns.
    pub fn during_grant(&self, work: impl FnOnce(&GrantRequest<'_>) + 'static) {
        *self.during_grant.borrow_mut() = Some(Box::new(work));
    }

    /// Run `work` when the next request is planned (after its policy checks, before the
    /// transaction that records it): another request at the same time.
    pub fn during_plan(&self, work: impl FnOnce() + 'static) {
        *self.during_plan.borrow_mut() = Some(Box::new(work));
    }

    /// The calls made so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    /// The operations called so far, in order.
    pub fn ops(&self) -> Vec<Op> {
        self.calls.borrow().iter().map(|c| c.op).collect()
    }

    pub fn forget_calls(&self) {
        self.calls.borrow_mut().clear();
    }

    fn called(
        &self,
        op: Op,
        lease: &str,
        expires_at: Option<DateTime<Utc>>,
        renewal: bool,
    ) -> Result<(), BackendError> {
        let seen = self
            .store
            .lease(lease)
            .expect("the store answers")
            .map(|l| l.state);
        self.calls.borrow_mut().push(Call {
            op,
            lease: lease.to_owned(),
            expires_at,
            renewal,
            seen,
        });
        let mut failures = self.failures.borrow_mut();
        match failures.iter().position(|(o, _)| *o == op) {
            Some(at) => {
                let (_, kind) = failures.remove(at);
                Err(BackendError {
                    kind,
                    message: format!("fake {op:?} failed ({kind:?})"),
                })
            }
            None => Ok(()),
        }
    }
}

impl Backend for Fake {
    fn kind(&self) -> &'static str {
        "fake"
    }

    fn traits(&self, _params: &serde_json::Value) -> Traits {
        Traits {
            sharing: self.sharing,
            ..Traits::default()
        }
    }

    fn plan(&self, _lease: &crate::lease::Lease, _params: &serde_json::Value) -> serde_json::Value {
        let during = self.during_plan.borrow_mut().take();
        if let Some(work) = during {
            work();
        }
        serde_json::Value::Null
    }

    fn grant(&self, request: &GrantRequest<'_>) -> Result<Grant, BackendError> {
        let lease = &request.lease.id;
        self.called(Op::Grant, lease, Some(request.expires_at), request.renewal)?;
        let during = self.during_grant.borrow_mut().take();
        if let Some(work) = during {
            work(request);
        }
        Ok(Grant {
            handle: json!({ "granted": lease }),
            credentials: None,
            native_expiry: Some(request.expires_at),
            notice: None,
        })
    }

    fn revoke(&self, request: &EndRequest<'_>) -> Result<(), BackendError> {
        self.called(Op::Revoke, &request.lease.id, None, false)
    }

    fn extend(&self, request: &GrantRequest<'_>) -> Result<(), BackendError> {
        self.called(
            Op::Extend,
            &request.lease.id,
            Some(request.expires_at),
            request.renewal,
        )
    }

    fn inspect(&self, request: &EndRequest<'_>) -> Result<Presence, BackendError> {
        self.called(Op::Inspect, &request.lease.id, None, false)?;
        Ok(self.presence.get())
    }

    fn check(&self, _target: &str, _grants: &[&serde_json::Value]) -> Vec<Check> {
        Vec::new()
    }
}
