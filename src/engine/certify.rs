//! Certification of eligibility rules: `jit review certify` and `jit review
//! revoke-eligibility` record what a reviewer decided; policy weighs it at each request
//! ([`policy::check_reviews`]).

use super::*;
use crate::audit::AuditEvent;
use crate::certification::{Reviews, Standing};
use crate::config::{Eligibility, SubjectPattern};

/// A rule with `review_every` and how its certification stands.
pub struct RuleStanding<'c> {
    pub rule: &'c Eligibility,
    pub standing: Standing,
}

impl<'a> Engine<'a> {
    /// The certifications and decertifications so far: one store query.
    pub fn reviews(&self) -> Result<Reviews> {
        let events = self
            .store
            .events_of_kinds(&[EventKind::Certified, EventKind::Decertified])?;
        Ok(Reviews::from_events(&events))
    }

    /// The rule `reference` names: its `name`, or `#N` for the Nth `[[eligibility]]` table
    /// when it has no name. Anything else is a usage error (exit 2) listing what would do.
    pub fn eligibility_rule(&self, reference: &str) -> Result<&'a Eligibility> {
        let rules = &self.config.eligibility;
        let found = match reference.strip_prefix('#') {
            Some(n) => n
                .parse::<usize>()
                .ok()
                .and_then(|n| rules.iter().find(|r| r.position == n)),
            None => rules.iter().find(|r| r.label.as_deref() == Some(reference)),
        };
        match found {
            Some(rule) if rule.label.is_none() || !reference.starts_with('#') => Ok(rule),
            Some(rule) => Err(exit::usage(format!(
                "{reference} is named {:?}: name it so (`jit review certify {}`)",
                rule.reference(),
                rule.reference()
            ))),
            None => {
                let known: Vec<String> = rules.iter().map(Eligibility::reference).collect();
                Err(exit::usage(format!(
                    "no eligibility rule {reference:?}; the rules are: {}",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )))
            }
        }
    }

    /// Record that `rule` still holds as it stands (a `certified` event). Nobody certifies a
    /// rule that covers themselves: that is refused (exit 3) and recorded as a denial.
    pub fn certify(&self, who: &Identity, reference: &str, reason: &str) -> Result<AuditEvent> {
        let rule = self.eligibility_rule(reference)?;
        check_review_reason(reason)?;
        let (subjects, roles) = rule.covered();
        if let Some(own) = rule.subjects.iter().find(|s| who.matches(s)) {
            let refused = policy::Refused::by(
                &format!("{} self-certification", rule.name),
                format!(
                    "{} may not certify {}: it covers them ({own})",
                    who.user, rule.name
                ),
            );
            let event = self.denied(&refused, &who.user, &who.user, &roles.join(","), None)?;
            store::write(self.store, |tx| Ok(tx.append(&event).map(drop)?))?;
            return Err(exit::denied(refused.denial.0));
        }
        let details = events::Certified {
            rule: &rule.reference(),
            position: rule.position,
            subjects: &subjects,
            roles: &roles,
            reason,
        };
        self.record(&details)
    }

    /// Record that `subject` may no longer request under `rule` (a `decertified` event),
    /// from the next request on and, at the sweep, for the leases it holds through the rule.
    pub fn decertify(&self, reference: &str, subject: &str, reason: &str) -> Result<AuditEvent> {
        let rule = self.eligibility_rule(reference)?;
        let pattern = SubjectPattern::parse(subject).map_err(exit::usage)?;
        check_review_reason(reason)?;
        // A user may be covered through a group the rule names; a group must be named, and so
        // must a user where the rule names no group.
        let through_group = matches!(pattern, SubjectPattern::User(_))
            && rule
                .subjects
                .iter()
                .any(|s| matches!(s, SubjectPattern::Group(_)));
        if !through_group && !rule.subjects.contains(&pattern) {
            return Err(exit::usage(format!(
                "{} does not name {subject}; it names: {}",
                rule.name,
                rule.covered().0.join(", ")
            )));
        }
        let (subjects, roles) = rule.covered();
        let details = events::Decertified {
            rule: &rule.reference(),
            position: rule.position,
            subject,
            subjects: &subjects,
            roles: &roles,
            reason,
        };
        self.record(&details)
    }

    /// Every rule with `review_every`, and how its certification stands at this moment.
    pub fn rule_standings(&self) -> Result<Vec<RuleStanding<'a>>> {
        let reviews = self.reviews()?;
        let now = self.clock.now();
        Ok(self
            .config
            .eligibility
            .iter()
            .filter_map(|rule| {
                reviews
                    .standing(rule, now)
                    .map(|standing| RuleStanding { rule, standing })
            })
            .collect())
    }

    /// Append one event of no lease and return it as stored.
    fn record(&self, details: &impl Details) -> Result<AuditEvent> {
        let event = NewEvent {
            at: self.clock.now(),
            actor: self.actor.clone(),
            lease_id: None,
            kind: details.kind(),
            details: serde_json::to_value(details)?,
        };
        let seq = store::write(self.store, |tx| Ok(tx.append(&event)?))?;
        let stored = self.store.events_after(seq - 1, 1)?;
        let stored = stored
            .into_iter()
            .next()
            .with_context(|| format!("audit event {seq} vanished"))?;
        self.publish();
        Ok(stored)
    }
}

/// A reviewer's reason: required, one line.
fn check_review_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty() {
        return Err(exit::usage("--reason is empty: say why"));
    }
    policy::check_reason(reason).map_err(exit::usage)
}
