//! Who is asking (SPEC §3): the real uid from the OS user database, never a flag or an
//! ordinary environment variable. `SUDO_USER` counts only when the real user is the
//! configured service account.

use anyhow::{Context as _, Result, bail};
use nix::unistd::{Gid, Group, Uid, User, getgrouplist};
use std::ffi::CString;

/// A requester or approver as the OS knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
    /// The OS account actually running jit (differs from `user` under sudo delegation).
    pub os_user: String,
    /// `user`'s home directory, from the user database.
    pub home: std::path::PathBuf,
    /// `user`'s uid and primary gid.
    pub uid: u32,
    pub gid: u32,
}

impl Identity {
    /// Is jit acting for someone else (the service account, through sudo)? Then everything
    /// the requester names on the command line is untrusted input to a privileged process.
    pub fn delegated(&self) -> bool {
        self.user != self.os_user
    }
}

impl Identity {
    /// The caller, as the OS reports it.
    pub fn current(service_account: Option<&str>) -> Result<Identity> {
        let uid = Uid::current();
        let os_user = User::from_uid(uid)
            .context("reading the user database")?
            .with_context(|| format!("uid {uid} has no entry in the user database"))?;
        let delegated = match (service_account, std::env::var("SUDO_USER")) {
            (Some(account), Ok(sudo_user)) if account == os_user.name && !sudo_user.is_empty() => {
                Some(sudo_user)
            }
            _ => None,
        };
        let user = match delegated {
            Some(name) => User::from_name(&name)
                .context("reading the user database")?
                .with_context(|| format!("SUDO_USER {name:?} is not in the user database"))?,
            None => os_user.clone(),
        };
        Ok(Identity {
            groups: groups_of(&user.name, user.gid)?,
            home: user.dir,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            user: user.name,
            os_user: os_user.name,
        })
    }

    /// Someone known by name: a team store's login, as the worker's OS user and group
    /// database knows them (no groups when it does not know them).
    pub fn named(name: &str) -> Result<Identity> {
        let user = User::from_name(name).context("reading the user database")?;
        Ok(match user {
            Some(user) => Identity {
                groups: groups_of(&user.name, user.gid)?,
                home: user.dir,
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
                os_user: user.name.clone(),
                user: user.name,
            },
            None => Identity {
                user: name.to_owned(),
                groups: Vec::new(),
                os_user: name.to_owned(),
                home: std::path::PathBuf::from("/nonexistent"),
                uid: u32::MAX,
                gid: u32::MAX,
            },
        })
    }

    /// Does `user:NAME` or `group:NAME` name this identity?
    pub fn matches(&self, subject: &crate::config::SubjectPattern) -> bool {
        use crate::config::SubjectPattern;
        match subject {
            SubjectPattern::User(name) => *name == self.user,
            SubjectPattern::Group(name) => self.groups.iter().any(|group| group == name),
        }
    }
}

fn groups_of(user: &str, primary: Gid) -> Result<Vec<String>> {
    let name = CString::new(user)?;
    let gids = getgrouplist(&name, primary).context("reading the group database")?;
    let mut names = Vec::with_capacity(gids.len());
    for gid in gids {
        match Group::from_gid(gid) {
            Ok(Some(group)) => names.push(group.name),
            Ok(None) => {}
            Err(err) => bail!("reading the group database: {err}"),
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}
