//! `jit exec`: the credentials live only in the child's environment and only while it runs.

use crate::cli::ExecArgs;
use crate::context::Context;
use crate::engine::{Requested, RevokeOutcome};
use crate::exit::{self, Exit};
use anyhow::Result;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

pub fn run(ctx: &Context, args: ExecArgs) -> Result<Exit> {
    let leases = ctx.leases();
    leases.holds_for_a_command()?;
    // Acting for someone else, the command must run as them, never as jit's own account
    // (which holds the configuration and its secrets): only root can switch to them.
    if ctx.identity.delegated() && !nix::unistd::Uid::effective().is_root() {
        return Err(exit::usage(
            "jit exec under sudo delegation needs jit to run as root, to run the command as you",
        ));
    }
    let (input, _) = super::request_input(ctx, args.lease, true)?;
    let (lease, credentials) = match leases.request(&input, Some(args.timeout), &mut |_| {})? {
        Requested::Granted {
            lease, credentials, ..
        } => (lease, credentials),
        Requested::Pending { lease, .. } => {
            ctx.printer.pending(&lease, &ctx.approvers(&lease), None);
            return Ok(Exit::Pending);
        }
    };
    // The command may run for hours: the grant is announced now.
    leases.publish();
    ctx.printer.note(&format!(
        "jit: lease {} of role {} granted until {}; it is revoked when the command ends",
        lease.id,
        lease.role,
        lease
            .expires_at
            .map(|t| crate::lease::rfc3339::format(&t))
            .unwrap_or_default()
    ));

    // From here on the lease must be revoked whatever happens to the command: Ctrl-C and
    // termination signals are caught (the child gets the terminal's Ctrl-C itself; TERM and
    // HUP sent to jit are passed on to it).
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let handle = signals.handle();

    let mut command = Command::new(&args.command[0]);
    if ctx.identity.delegated() {
        use std::os::unix::process::CommandExt;
        command.uid(ctx.identity.uid).gid(ctx.identity.gid);
    }
    command.args(&args.command[1..]);
    // Killed, jit can no longer revoke when the command ends: the command is told to end
    // too (as when jit is sent TERM), rather than go on with the credentials unwatched.
    crate::child::dies_with_jit(&mut command, nix::sys::signal::Signal::SIGTERM);
    command.env("JIT_LEASE_ID", &lease.id);
    if let Some(end) = lease.expires_at {
        command.env("JIT_LEASE_EXPIRES_AT", crate::lease::rfc3339::format(&end));
    }
    if let Some(credentials) = &credentials {
        for (key, value) in credentials.expose() {
            if crate::child::is_env_name(key) {
                command.env(key, value);
            } else {
                ctx.printer.warn(&format!(
                    "credential {key:?} is not an environment variable name; not passed on"
                ));
            }
        }
    }
    // Whether the command ran to an end we saw (127: it never started; 1: we lost it).
    let mut waited = true;
    let status = match command.spawn() {
        Ok(mut child) => {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
            let forwarder = std::thread::spawn(move || {
                for signal in signals.forever() {
                    if signal != SIGINT
                        && let Ok(signal) = nix::sys::signal::Signal::try_from(signal)
                    {
                        let _ = nix::sys::signal::kill(pid, signal);
                    }
                }
            });
            let status = child.wait();
            handle.close();
            let _ = forwarder.join();
            match status {
                Ok(status) => Some(status),
                Err(err) => {
                    ctx.printer.warn(&format!("waiting for the command: {err}"));
                    waited = false;
                    None
                }
            }
        }
        Err(err) => {
            handle.close();
            ctx.printer
                .warn(&format!("cannot run {:?}: {err}", args.command[0]));
            None
        }
    };

    let revocation = leases.revoke(&lease)?;
    let code = match status {
        Some(status) => status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        None if waited => 127,
        None => 1,
    };
    match revocation.outcome {
        RevokeOutcome::Done { .. } | RevokeOutcome::AlreadyEnded => {
            ctx.printer
                .note(&format!("jit: lease {} revoked", lease.id));
        }
        RevokeOutcome::Failed { error } => {
            ctx.printer.warn(&format!(
                "revoking lease {} failed: {error} (it is revoke-failed; `jit sweep` retries it)",
                lease.id
            ));
            if code == 0 {
                return Ok(Exit::RevokeIncomplete);
            }
        }
        other => {
            return Err(anyhow::anyhow!(
                "lease {} was not revoked ({other:?}); run `jit revoke {}`",
                lease.id,
                lease.id
            ));
        }
    }
    Ok(ExitCode(code).into())
}

/// The command's own exit status, passed through.
struct ExitCode(i32);

impl From<ExitCode> for Exit {
    fn from(code: ExitCode) -> Exit {
        Exit::Child(u8::try_from(code.0).unwrap_or(1))
    }
}
