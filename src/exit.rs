//! Exit codes (SPEC §4) and how errors map to them.

use std::process::ExitCode;

/// The documented exit codes. Scripts depend on these numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success,
    Runtime,
    Usage,
    Denied,
    Pending,
    Config,
    RevokeIncomplete,
    /// Findings reported where the caller asked to fail on them (`jit discover --fail`).
    Findings,
    /// `jit exec` passes its command's status through.
    Child(u8),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Runtime => 1,
            Exit::Usage => 2,
            Exit::Denied => 3,
            Exit::Pending => 4,
            Exit::Config => 5,
            Exit::RevokeIncomplete => 6,
            Exit::Findings => 7,
            Exit::Child(code) => code,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// An error that carries its exit code. Anything else maps to [`Exit::Runtime`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

fn failure(exit: Exit, message: impl Into<String>) -> anyhow::Error {
    Failure {
        exit,
        message: message.into(),
    }
    .into()
}

/// A bad argument: exit 2.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    failure(Exit::Usage, message)
}

/// Denied by policy: exit 3.
pub fn denied(message: impl Into<String>) -> anyhow::Error {
    failure(Exit::Denied, message)
}

/// Configuration invalid: exit 5.
pub fn config(message: impl Into<String>) -> anyhow::Error {
    failure(Exit::Config, message)
}

/// The exit code an error maps to.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<Failure>())
        .map_or(Exit::Runtime, |failure| failure.exit)
}

/// An error with the exit code another process decided (a team store's worker).
pub fn with_code(code: i32, message: impl Into<String>) -> anyhow::Error {
    let exit = match code {
        2 => Exit::Usage,
        3 => Exit::Denied,
        4 => Exit::Pending,
        5 => Exit::Config,
        6 => Exit::RevokeIncomplete,
        _ => Exit::Runtime,
    };
    failure(exit, message)
}
