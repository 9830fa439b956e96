//! `jit review certify` and `jit review revoke-eligibility`.

use crate::cli::{CertifyArgs, RevokeEligibilityArgs};
use crate::context::Context;
use crate::exit::Exit;
use anyhow::Result;

pub fn certify(ctx: &Context, args: CertifyArgs) -> Result<Exit> {
    let event = ctx
        .engine()
        .certify(&ctx.identity, &args.rule, &args.reason)?;
    ctx.printer.reviewed(&event);
    Ok(Exit::Success)
}

pub fn revoke_eligibility(ctx: &Context, args: RevokeEligibilityArgs) -> Result<Exit> {
    let event = ctx
        .engine()
        .decertify(&args.rule, &args.subject, &args.reason)?;
    ctx.printer.reviewed(&event);
    Ok(Exit::Success)
}
