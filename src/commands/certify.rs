//! `jit review certify` and `jit review revoke-eligibility`.

use crate::cli::{CertifyArgs, RevokeEligibilityArgs};
use crate::context::Context;
use crate::exit::Exit;
use anyhow::Result;

pub fn certify(_ctx: &Context, _args: CertifyArgs) -> Result<Exit> {
    Err(crate::exit::usage("jit review certify: being built"))
}

pub fn revoke_eligibility(_ctx: &Context, _args: RevokeEligibilityArgs) -> Result<Exit> {
    Err(crate::exit::usage(
        "jit review revoke-eligibility: being built",
    ))
}
