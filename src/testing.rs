//! For the integration tests (tests/it), what they cannot do through the binary: ask for a
//! lease as an AI agent does through `jit mcp`, through the same lease service, so that what
//! people see of an agent's lease is proven without an MCP client.

use crate::clock::Clock;
use crate::config::{self, Config};
use crate::engine::{Engine, Local, Requested};
use crate::identity::Identity;
use crate::lease::{Agent, RequestInput};
use crate::leases::{Leases, Pickup};
use crate::store::sqlite::SqliteStore;
use anyhow::Result;
use std::path::Path;
use std::time::Duration;

/// An agent's requests held by this process, as `jit mcp` holds them: the leases are bound to
/// this process's session, and it takes up their grants once they are approved.
pub struct AgentRequests {
    config: Config,
    store: SqliteStore,
    identity: Identity,
}

impl AgentRequests {
    /// The configuration at `config`, the embedded store in `state_dir`, and this process's
    /// OS user as the subject.
    pub fn open(config: &Path, state_dir: &Path) -> Result<AgentRequests> {
        let config = config::load(config)?;
        let identity = Identity::current(config.identity.service_account.as_deref())?;
        let store = SqliteStore::open(&state_dir.join("jit.db"))?;
        Ok(AgentRequests {
            config,
            store,
            identity,
        })
    }

    fn with<T>(&self, run: impl FnOnce(&Local<'_>) -> Result<T>) -> Result<T> {
        let local = Local {
            engine: Engine::new(
                &self.config,
                &self.store,
                Clock::system(),
                &self.identity.user,
            ),
            who: &self.identity,
        };
        let outcome = run(&local);
        local.publish();
        outcome
    }

    /// Ask for `role` for the agent `client` and its `task`: the lease's id and state.
    pub fn request(
        &self,
        role: &str,
        ttl: Option<Duration>,
        reason: &str,
        client: &str,
        task: &str,
    ) -> Result<(String, String)> {
        self.with(|local| {
            let input = RequestInput {
                role: role.to_owned(),
                ttl,
                reason: Some(reason.to_owned()),
                agent: Some(Agent {
                    client: client.to_owned(),
                    task: task.to_owned(),
                }),
                session: Some(local.session()?),
                ..RequestInput::default()
            };
            let (requested, _) = local.request_held(&input)?;
            let lease = match requested {
                Requested::Granted { lease, .. } | Requested::Pending { lease, .. } => lease,
            };
            Ok((lease.id, lease.state.to_string()))
        })
    }

    /// Wait at most `timeout` for the approval of `lease_id` and take up its grant: the
    /// lease's state then.
    pub fn await_grant(&self, lease_id: &str, timeout: Duration) -> Result<String> {
        self.with(|local| {
            let requested = local.await_held(lease_id, &Pickup::Here, timeout, &mut |_| {})?;
            Ok(match requested {
                Requested::Granted { lease, .. } | Requested::Pending { lease, .. } => {
                    lease.state.to_string()
                }
            })
        })
    }
}
