use crate::context::Context;
use crate::exit::Exit;
use anyhow::Result;

pub fn run(ctx: &Context) -> Result<Exit> {
    let engine = ctx.engine();
    let roles = engine.roles_for(&ctx.identity);
    ctx.printer.roles(&roles);
    // The rules behind these roles whose certification is overdue.
    let overdue: Vec<_> = engine
        .rule_standings()?
        .into_iter()
        .filter(|item| {
            item.standing.overdue
                && roles
                    .iter()
                    .any(|view| item.rule.covers_role(&view.role.name))
                && item.rule.subjects.iter().any(|s| ctx.identity.matches(s))
        })
        .collect();
    ctx.printer.overdue_rules(&overdue);
    Ok(Exit::Success)
}
