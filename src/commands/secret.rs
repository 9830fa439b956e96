use crate::cli::{GlobalArgs, SecretArgs, SecretCommand};
use crate::exit::{self, Exit};
use crate::output::Printer;
use crate::secret::{self, Secret};
use anyhow::Result;
use std::io::Read;

pub fn run(global: &GlobalArgs, args: SecretArgs) -> Result<Exit> {
    let printer = Printer::new(global.json, global.quiet, global.verbose);
    match args.command {
        SecretCommand::Set { name } => {
            let mut value = String::new();
            std::io::stdin().read_to_string(&mut value)?;
            let value = Secret::new(value.trim_end_matches(['\n', '\r']).to_owned());
            if value.expose().is_empty() {
                return Err(exit::usage("no secret on stdin"));
            }
            check_name(&name)?;
            secret::keyring_store(&name, &value)?;
            printer.done(&format!("stored keyring:{name}"));
        }
        SecretCommand::Delete { name } => {
            check_name(&name)?;
            secret::keyring_delete(&name)?;
            printer.done(&format!("deleted keyring:{name}"));
        }
    }
    Ok(Exit::Success)
}

/// A name that could not appear in a `keyring:NAME` reference is a usage error.
fn check_name(name: &str) -> Result<()> {
    secret::SecretRef::parse(&format!("keyring:{name}")).map_err(exit::usage)?;
    Ok(())
}
