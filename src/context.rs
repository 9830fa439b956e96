//! Everything a command needs, resolved once: configuration, identity, clock, store,
//! output. Commands read no environment, files or clock of their own.

use crate::cli::GlobalArgs;
use crate::clock::Clock;
use crate::config::{self, Config};
use crate::engine::Engine;
use crate::identity::Identity;
use crate::leases::Leases;
use crate::output::Printer;
use crate::store::Store;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use anyhow::Result;
use std::path::PathBuf;

pub struct Context {
    pub printer: Printer,
    pub config: Config,
    pub identity: Identity,
    pub clock: Clock,
    store: Stores,
}

/// The embedded store, or a team's shared one.
enum Stores {
    Local(SqliteStore),
    Team(Box<PgStore>),
}

/// The configuration file: `--config`, `JIT_CONFIG`, or the XDG default.
///
/// Run through sudo, jit reads only the configuration its own account chose (the default, or
/// JIT_CONFIG as sudo's env_keep passes it): never one the invoking user names, which would
/// let them write the policy of a privileged process (or have it read or write any file).
pub fn config_path(global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    if global.config_from_command_line && std::env::var_os("SUDO_USER").is_some() {
        return Err(crate::exit::usage(
            "--config is refused under sudo: jit uses its own account's configuration",
        ));
    }
    Ok(global.config.clone().unwrap_or_else(config::default_path))
}

/// The embedded store's file: `JIT_STATE_DIR`, `[store] path`, or `$XDG_STATE_HOME/jit`.
pub fn store_path(config: &Config) -> PathBuf {
    let dir = std::env::var_os("JIT_STATE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| config.store.path.clone())
        .or_else(|| dirs::state_dir().map(|d| d.join("jit")))
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state/jit")))
        .unwrap_or_else(|| PathBuf::from(".jit"));
    dir.join("jit.db")
}

/// Whether the store opens and answers, for `jit doctor`: where it is and what it said, or
/// why not.
pub fn store_status(config: &Config) -> std::result::Result<String, String> {
    match &config.store.team {
        Some(settings) => Identity::current(config.identity.service_account.as_deref())
            .and_then(|who| PgStore::open(settings, &who.user))
            .and_then(|s| Ok(format!("{} ({})", s.location(), s.check()?)))
            .map_err(|e| format!("team store: {e:#}")),
        None => {
            let store = store_path(config);
            SqliteStore::open(&store)
                .and_then(|s| Ok(s.check()?))
                .map(|detail| format!("{} ({detail})", store.display()))
                .map_err(|e| format!("{}: {e:#}", store.display()))
        }
    }
}

/// Refuse a configuration without a team store before any store is opened (an embedded one
/// would be created), for the commands that serve one; `what` is the error.
pub fn require_team_store(global: &GlobalArgs, what: &str) -> Result<()> {
    let config = config::load(&config_path(global)?)?;
    match config.store.team {
        Some(_) => Ok(()),
        None => Err(crate::exit::config(what.to_owned())),
    }
}

impl Context {
    pub fn load(global: &GlobalArgs) -> Result<Context> {
        let printer = Printer::new(global.json, global.quiet, global.verbose);
        let path = config_path(global)?;
        printer.debug(&format!("configuration: {}", path.display()));
        let config = config::load(&path)?;
        let identity = Identity::current(config.identity.service_account.as_deref())?;
        printer.debug(&format!(
            "identity: {} (groups: {})",
            identity.user,
            identity.groups.join(", ")
        ));
        let (store, identity) = match &config.store.team {
            Some(settings) => {
                let store = PgStore::open(settings, &identity.user)?;
                printer.debug(&format!("team store: {}", store.location()));
                // In a team store, who is acting is the database login.
                let identity = if store.user() == identity.user {
                    identity
                } else {
                    Identity::named(store.user())?
                };
                (Stores::Team(Box::new(store)), identity)
            }
            None => {
                let store_path = store_path(&config);
                printer.debug(&format!("store: {}", store_path.display()));
                (Stores::Local(SqliteStore::open(&store_path)?), identity)
            }
        };
        Ok(Context {
            printer,
            config,
            identity,
            clock: Clock::system(),
            store,
        })
    }

    pub fn store(&self) -> &dyn Store {
        match &self.store {
            Stores::Local(store) => store,
            Stores::Team(store) => store.as_ref(),
        }
    }

    pub fn engine(&self) -> Engine<'_> {
        Engine::new(&self.config, self.store(), self.clock, &self.identity.user)
    }

    /// The lease service: this process's engine on the embedded store, or a team store's
    /// work queue.
    pub fn leases(&self) -> Box<dyn Leases + '_> {
        match &self.store {
            Stores::Local(_) => Box::new(crate::engine::Local {
                engine: self.engine(),
                who: &self.identity,
            }),
            Stores::Team(store) => Box::new(crate::team::client::Queued {
                store: store.as_ref(),
                engine: self.engine(),
            }),
        }
    }

    /// Who may approve `lease`, as this configuration lists them (none for a role it
    /// lacks): an agent's request is approved by its role's agent approvers.
    pub fn approvers(&self, lease: &crate::lease::Lease) -> Vec<String> {
        self.config
            .roles
            .get(&lease.role)
            .map(|role| role.approvals_for(lease.agent.is_some()).approvers())
            .unwrap_or_default()
    }

    /// The team store, for the commands that serve or set one up (`jit worker`, `jit store
    /// init`); `what` says what needs it, in the error.
    pub fn team_store(&self, what: &str) -> Result<&PgStore> {
        match &self.store {
            Stores::Team(store) => Ok(store.as_ref()),
            Stores::Local(_) => Err(crate::exit::config(what.to_owned())),
        }
    }
}
