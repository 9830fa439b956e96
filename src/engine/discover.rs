//! `jit discover`: ask each target who holds, outside any live lease, what its roles hand
//! out; and `--adopt`: take one such holding away, recorded, so that the holder asks for it
//! just in time instead.

use super::Engine;
use super::events::{self, Details as _};
use crate::audit::NewEvent;
use crate::backend::discover::{Finding, FindingKind, Scope};
use crate::exit;
use crate::lease::LeaseState;
use crate::store::{self, LeaseFilter};
use anyhow::Result;
use sha2::{Digest, Sha256};

/// Which targets and findings to report.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub target: Option<String>,
    pub kind: Option<FindingKind>,
}

/// One finding on a configured target, with the id `--adopt` names it by.
#[derive(Clone, Debug)]
pub struct Found {
    /// The same for the same holding at every run: from the target, kind, holder and
    /// entitlement.
    pub id: String,
    pub target: String,
    pub backend: &'static str,
    pub finding: Finding,
}

/// What `jit discover` found, target by target.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Found>,
    /// `(target, note)`: a target that could not be looked at fully, and why.
    pub notes: Vec<(String, String)>,
    /// `(target, error)`: a target that could not be asked.
    pub errors: Vec<(String, String)>,
}

/// What `--adopt` did.
#[derive(Debug)]
pub struct Adopted {
    pub found: Found,
}

impl Adopted {
    /// The `[[eligibility]]` rule (TOML) that lets the holder ask for the role just in time
    /// instead; `None` for a finding without a role or a subject (a leftover, say).
    pub fn eligibility(&self) -> Option<String> {
        let finding = &self.found.finding;
        let (role, subject) = (finding.role.as_deref()?, finding.subject.as_deref()?);
        if finding.kind == FindingKind::Leftover {
            return None;
        }
        let quoted = |text: &str| toml::Value::String(text.to_owned()).to_string();
        Some(format!(
            "# {subject} asks for role {role:?} just in time instead (finding {})\n\
             [[eligibility]]\nsubjects = [{}]\nroles = [{}]\n",
            self.found.id,
            quoted(subject),
            quoted(role)
        ))
    }
}

/// A finding's id: twelve hex digits of a hash of what identifies it.
fn finding_id(target: &str, finding: &Finding) -> String {
    let mut hasher = Sha256::new();
    for part in [
        target,
        finding.kind.as_str(),
        &finding.holder,
        &finding.entitlement,
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..6])
}

impl Engine<'_> {
    /// Ask every target (or the one `filter` names) for its standing privilege. A target
    /// that cannot be asked is reported in [`Report::errors`]; the others are still asked.
    pub fn discover(&self, filter: &Filter) -> Result<Report> {
        self.discover_counted(filter, &mut |_, _| {})
    }

    /// [`Engine::discover`], telling `steps` how many of the targets have been asked and of
    /// how many (before the first and after each).
    pub fn discover_counted(
        &self,
        filter: &Filter,
        steps: &mut dyn FnMut(usize, usize),
    ) -> Result<Report> {
        if let Some(target) = &filter.target
            && !self.config.targets.contains_key(target)
        {
            return Err(exit::usage(format!(
                "unknown target {target:?}; configured: {}",
                self.config
                    .targets
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let live = self.store.leases(&LeaseFilter {
            states: LeaseState::LIVE.to_vec(),
            ..LeaseFilter::default()
        })?;
        let store = self.store_name()?.to_owned();
        let now = self.clock.now();
        let mut report = Report::default();
        let asked: Vec<_> = self
            .config
            .targets
            .iter()
            .filter(|(name, _)| filter.target.as_ref().is_none_or(|only| only == *name))
            .collect();
        let total = asked.len();
        steps(0, total);
        for (done, (name, target)) in asked.into_iter().enumerate() {
            // Whole records: the list leaves out handles and parameters, which backends read.
            let mut on_target = Vec::new();
            for lease in live.iter().filter(|l| &l.target == name) {
                on_target.extend(self.store.lease(&lease.id)?);
            }
            let scope = Scope {
                target: name,
                roles: self
                    .config
                    .roles
                    .values()
                    .filter(|role| &role.target == name)
                    .map(|role| (role.name.as_str(), &role.grant))
                    .collect(),
                live: &on_target,
                store: &store,
                now,
            };
            let backend = self.backend_for(name)?;
            match backend.discover(&scope) {
                Ok(discovery) => {
                    for note in discovery.notes {
                        report.notes.push((name.clone(), note));
                    }
                    for finding in discovery.findings {
                        if filter.kind.is_some_and(|kind| kind != finding.kind) {
                            continue;
                        }
                        let id = finding_id(name, &finding);
                        if report.findings.iter().any(|found| found.id == id) {
                            continue;
                        }
                        report.findings.push(Found {
                            id,
                            target: name.clone(),
                            backend: target.backend,
                            finding,
                        });
                    }
                }
                Err(err) => report.errors.push((name.clone(), err.message)),
            }
            steps(done + 1, total);
        }
        Ok(report)
    }

    /// Find `id` again (on the targets `filter` leaves) and take away what it holds, recorded
    /// in the audit trail in the same store transaction. A finding jit does not remove is
    /// refused (exit 2).
    pub fn adopt(&self, id: &str, filter: &Filter) -> Result<Adopted> {
        let report = self.discover(filter)?;
        let Some(found) = report.findings.into_iter().find(|found| found.id == id) else {
            let unasked = report
                .errors
                .iter()
                .map(|(target, err)| format!("; target {target:?} could not be asked: {err}"))
                .collect::<String>();
            return Err(exit::usage(format!(
                "no finding {id:?} (run `jit discover` to list them){unasked}"
            )));
        };
        if !found.finding.removable() {
            return Err(exit::usage(format!(
                "finding {id} ({} on target {:?}) is not one jit removes: {}",
                found.finding.kind.as_str(),
                found.target,
                found.finding.action
            )));
        }
        let backend = self.backend_for(&found.target)?;
        let finding = &found.finding;
        let details = events::Adopted {
            finding: &found.id,
            target: &found.target,
            kind: finding.kind.as_str(),
            holder: &finding.holder,
            entitlement: &finding.entitlement,
            role: finding.role.as_deref(),
            subject: finding.subject.as_deref(),
        };
        let event = NewEvent {
            at: self.clock.now(),
            actor: self.actor.clone(),
            lease_id: None,
            kind: details.kind(),
            details: serde_json::to_value(&details)?,
        };
        // The record is written first and committed only once the target has confirmed the
        // removal: a login that may not append to the audit trail removes nothing, and a
        // failed removal leaves no record.
        store::write(self.store, |tx| {
            tx.append(&event)?;
            backend.remove(finding).map_err(|err| {
                anyhow::anyhow!(
                    "removing finding {id} on target {:?} failed: {}",
                    found.target,
                    err.message
                )
            })
        })?;
        Ok(Adopted { found })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(holder: &str) -> Finding {
        Finding {
            kind: FindingKind::Standing,
            holder: holder.into(),
            subject: None,
            role: None,
            entitlement: "member of \"app\"".into(),
            since: None,
            action: "adopt".into(),
            removal: serde_json::Value::Null,
        }
    }

    #[test]
    fn the_rule_adopt_prints_makes_the_holder_eligible_for_the_role() {
        let mut standing = finding("alice");
        standing.role = Some("db-admin".into());
        standing.subject = Some("user:alice".into());
        let adopted = Adopted {
            found: Found {
                id: "0123456789ab".into(),
                target: "db".into(),
                backend: "postgres",
                finding: standing,
            },
        };
        let rule = adopted.eligibility().unwrap();
        assert_eq!(
            rule,
            "# user:alice asks for role \"db-admin\" just in time instead (finding 0123456789ab)\n\
             [[eligibility]]\nsubjects = [\"user:alice\"]\nroles = [\"db-admin\"]\n"
        );
        let parsed: toml::Value = toml::from_str(&rule).unwrap();
        assert_eq!(
            parsed["eligibility"][0]["roles"][0].as_str(),
            Some("db-admin")
        );

        let mut leftover = adopted.found.clone();
        leftover.finding.kind = FindingKind::Leftover;
        assert_eq!(Adopted { found: leftover }.eligibility(), None);
        let mut nobody = adopted.found.clone();
        nobody.finding.subject = None;
        assert_eq!(Adopted { found: nobody }.eligibility(), None);
    }

    #[test]
    fn a_finding_keeps_its_id_and_another_holder_gets_another() {
        let alice = finding_id("db", &finding("alice"));
        assert_eq!(alice.len(), 12);
        assert_eq!(alice, finding_id("db", &finding("alice")));
        assert_ne!(alice, finding_id("db", &finding("bob")));
        assert_ne!(alice, finding_id("other", &finding("alice")));
    }
}
