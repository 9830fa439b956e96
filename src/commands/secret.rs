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
            secret::keyring_store(&name, &value).map_err(|e| exit::usage(e.to_string()))?;
            printer.done(&format!("stored keyring:{name}"));
        }
        SecretCommand::Delete { name } => {
            secret::keyring_delete(&name).map_err(|e| exit::usage(e.to_string()))?;
            printer.done(&format!("deleted keyring:{name}"));
        }
    }
    Ok(Exit::Success)
}
