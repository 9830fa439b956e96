//! jit: just-in-time privilege elevation.
//!
//! Layers, top down (a lower layer never imports a higher one): `cli` → `commands` →
//! `context` → `leases` (the lease service: `engine` in this process, `team` through a team
//! store) → `policy` / `ticket` / `notify` / `shipping` → `backend` / `store` → `config` /
//! `http` / `net` → `audit` / `lease` / `secret` / `identity` and the small parts. `output`
//! is the only place that prints. See docs/architecture.md.
//!
//! Only what the fuzz targets and the integration tests reach is public: the configuration
//! reader, the backends and the stores (for their conformance checks), leases and
//! durations, and `testing` (an agent's requests without an MCP client); the rest is the
//! binary's own.

pub(crate) mod audit;
pub mod backend;
pub(crate) mod certification;
pub(crate) mod child;
pub(crate) mod cli;
pub(crate) mod clock;
mod commands;
pub mod config;
pub(crate) mod context;
pub(crate) mod credential_cache;
pub mod duration;
pub(crate) mod engine;
pub(crate) mod entitlement;
pub(crate) mod exit;
mod fault;
pub(crate) mod http;
pub(crate) mod identity;
pub mod lease;
pub(crate) mod leases;
mod mcp;
pub(crate) mod metrics;
pub(crate) mod net;
pub(crate) mod notify;
pub(crate) mod ocsf;
pub(crate) mod output;
pub(crate) mod policy;
pub(crate) mod review;
pub(crate) mod secret;
pub(crate) mod shipping;
pub mod store;
pub(crate) mod team;
#[doc(hidden)]
pub mod testing;
pub(crate) mod text;
pub(crate) mod ticket;
pub(crate) mod trusted_dir;

use std::ffi::OsString;
use std::process::ExitCode;

/// Parse the arguments, run the command, and return its exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let parsed = cli::Cli::command()
        .try_get_matches_from(args)
        .and_then(|matches| {
            let mut cli = cli::Cli::from_arg_matches(&matches)?;
            cli.global.config_from_command_line =
                matches.value_source("config") == Some(clap::parser::ValueSource::CommandLine);
            Ok(cli)
        });
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) if err.use_stderr() => {
            output::Printer::new(false, false, false).usage_error(&rendered(&err));
            return exit::Exit::Usage.into();
        }
        Err(help_or_version) => {
            let _ = help_or_version.print();
            return exit::Exit::Success.into();
        }
    };
    let printer = output::Printer::new(cli.global.json, cli.global.quiet, cli.global.verbose);
    match commands::dispatch(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            printer.error(&err);
            exit::exit_for(&err).into()
        }
    }
}

/// clap's rendering of a command-line error, with the value or argument it repeats cut as
/// jit cuts any input it echoes.
fn rendered(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let mut text = err.render().to_string();
    for kind in [
        ContextKind::InvalidValue,
        ContextKind::InvalidArg,
        ContextKind::InvalidSubcommand,
    ] {
        if let Some(ContextValue::String(value)) = err.get(kind)
            && value.chars().count() > text::ECHO_LIMIT
        {
            let head: String = value.chars().take(text::ECHO_LIMIT).collect();
            text = text.replace(
                &format!("'{value}'"),
                &format!("'{head}'... ({} characters)", value.chars().count()),
            );
        }
    }
    text
}
