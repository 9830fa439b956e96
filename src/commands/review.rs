use crate::cli::{ReviewArgs, ReviewCommand};
use crate::context::Context;
use crate::exit::Exit;
use anyhow::Result;

pub fn run(ctx: &Context, args: ReviewArgs) -> Result<Exit> {
    match args.command {
        Some(ReviewCommand::Certify(args)) => super::certify::certify(ctx, args),
        Some(ReviewCommand::RevokeEligibility(args)) => {
            super::certify::revoke_eligibility(ctx, args)
        }
        None => report(ctx, args),
    }
}

fn report(_ctx: &Context, _args: ReviewArgs) -> Result<Exit> {
    Err(crate::exit::usage("jit review: the report is being built"))
}
