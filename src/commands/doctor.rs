use crate::backend::{self, Check};
use crate::cli::GlobalArgs;
use crate::context::config_path;
use crate::exit::Exit;
use crate::identity::Identity;
use crate::output::Printer;
use anyhow::Result;

pub fn run(global: &GlobalArgs) -> Result<Exit> {
    let printer = Printer::new(global.json, global.quiet, global.verbose);
    let mut checks = Vec::new();

    let path = config_path(global)?;
    let config = crate::config::load(&path);
    check(
        &mut checks,
        "configuration",
        config
            .as_ref()
            .map(|_| path.display().to_string())
            .map_err(|e| e.to_string()),
    );

    let (store_name, keyring) = crate::secret::keyring_status();
    check(
        &mut checks,
        "keyring",
        keyring
            .map(|()| store_name.clone())
            .map_err(|e| format!("{store_name}: {e}")),
    );

    if let Ok(config) = &config {
        check(
            &mut checks,
            "identity",
            Identity::current(config.identity.service_account.as_deref())
                .map(|who| format!("{} (groups: {})", who.user, who.groups.join(", ")))
                .map_err(|e| e.to_string()),
        );
        let store = crate::context::store_status(config);
        let store_ok = store.is_ok();
        check(&mut checks, "store", store);
        if store_ok && config.eligibility.iter().any(|r| r.review_every.is_some()) {
            certifications(&mut checks, global);
        }
        for target in config.targets.values() {
            for (place, reference) in target.settings.secret_refs() {
                check(
                    &mut checks,
                    &format!("target {}: secret {place}", target.name),
                    reference
                        .resolve()
                        .map(|_| format!("{reference} resolves"))
                        .map_err(|e| e.to_string()),
                );
            }
            let grants: Vec<&serde_json::Value> = config
                .roles
                .values()
                .filter(|role| role.target == target.name)
                .map(|role| &role.grant)
                .collect();
            checks.extend(backend::for_target(target).check(&target.name, &grants));
        }
        // The secrets of the integrations: ticket checks, webhooks, shipping destinations.
        for (place, reference) in config.integration_secret_refs() {
            check(
                &mut checks,
                &place,
                reference
                    .resolve()
                    .map(|_| format!("{reference} resolves"))
                    .map_err(|e| e.to_string()),
            );
        }
    }
    printer.doctor(&checks);
    Ok(if checks.iter().all(|c| c.ok) {
        Exit::Success
    } else {
        Exit::Runtime
    })
}

fn check(checks: &mut Vec<Check>, name: &str, outcome: Result<String, String>) {
    checks.push(Check {
        name: name.to_owned(),
        ok: outcome.is_ok(),
        detail: outcome.unwrap_or_else(|err| err),
    });
}

/// A line for each eligibility rule with `review_every`: failed while its certification is
/// overdue.
fn certifications(checks: &mut Vec<Check>, global: &GlobalArgs) {
    let standings = crate::context::Context::load(global).and_then(|ctx| {
        let list = ctx.engine().rule_standings()?;
        Ok(list
            .into_iter()
            .map(|item| (item.rule.name.clone(), item.standing))
            .collect::<Vec<_>>())
    });
    match standings {
        Ok(list) => {
            for (rule, standing) in list {
                let detail = standing.describe();
                check(
                    checks,
                    &format!("certification: {rule}"),
                    if standing.overdue {
                        Err(detail)
                    } else {
                        Ok(detail)
                    },
                );
            }
        }
        Err(err) => check(checks, "certification", Err(format!("{err:#}"))),
    }
}
