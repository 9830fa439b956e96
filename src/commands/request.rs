use crate::cli::RequestArgs;
use crate::context::Context;
use crate::engine::Requested;
use crate::exit::Exit;
use crate::trusted_dir::TrustedDir;
use anyhow::Result;
use nix::unistd::Uid;

pub fn run(ctx: &Context, args: RequestArgs) -> Result<Exit> {
    let leases = ctx.leases();
    if args.out.is_some() && ctx.identity.delegated() {
        return Err(crate::exit::usage(
            "--out is refused under sudo delegation: the certificate goes beside your key",
        ));
    }
    let (input, pubkey) = super::request_input(ctx, args.lease, !args.dry_run)?;
    if args.dry_run {
        let evaluation = leases.evaluate(&input)?;
        ctx.printer.dry_run(&evaluation);
        return Ok(Exit::Success);
    }
    // Waiting for approvals, where the request stands is shown as it changes.
    let mut progress = None;
    let mut news = |lease: &crate::lease::Lease| {
        progress
            .get_or_insert_with(|| ctx.printer.progress())
            .update(&crate::output::waiting(lease));
    };
    let requested = leases.request(&input, args.wait.then_some(args.timeout), &mut news)?;
    drop(progress);
    match requested {
        Requested::Granted {
            lease,
            credentials,
            notice,
        } => {
            // An ssh certificate goes beside the key it certifies (or to --out).
            let certificate = credentials
                .as_ref()
                .and_then(|c| c.expose().get("SSH_CERTIFICATE").cloned());
            // Under sudo the key was read through its checked directory: no second look by path.
            let delegated = ctx.identity.delegated();
            let destination = args.out.clone().or_else(|| {
                pubkey
                    .as_ref()
                    .filter(|key| delegated || key.is_file())
                    .map(|key| {
                        let text = key.to_string_lossy();
                        let stem = text.strip_suffix(".pub").unwrap_or(&text);
                        std::path::PathBuf::from(format!("{stem}-cert.pub"))
                    })
            });
            ctx.printer
                .granted(&lease, credentials.as_ref(), ctx.clock.now());
            if let Some(notice) = notice {
                ctx.printer.note(&format!("jit: note: {notice}"));
            }
            if let (Some(certificate), Some(path)) = (certificate, destination) {
                // The certificate was printed above: a file that cannot be written is a warning.
                match write_certificate(ctx, &path, &certificate) {
                    Ok(()) => {
                        ctx.printer
                            .note(&format!("certificate written to {}", path.display()));
                        add_to_agent(ctx, &lease, pubkey.as_deref(), &path);
                    }
                    Err(err) => ctx.printer.warn(&format!(
                        "writing the certificate to {}: {err} (it is printed above)",
                        path.display()
                    )),
                }
            }
            Ok(Exit::Success)
        }
        Requested::Pending { lease, notice } => {
            let approvers = ctx.approvers(&lease.role);
            ctx.printer.pending(&lease, &approvers, notice.as_deref());
            Ok(Exit::Pending)
        }
    }
}

/// Roles with `agent = true`: hand the key and its new certificate to the running ssh-agent,
/// for the lease's time (`ssh-add -t`). No agent, or no private key beside the public one:
/// nothing to do, and the certificate file is there all the same.
fn add_to_agent(
    ctx: &Context,
    lease: &crate::lease::Lease,
    pubkey: Option<&std::path::Path>,
    certificate: &std::path::Path,
) {
    let wants_agent = ctx.config.roles.get(&lease.role).is_some_and(|role| {
        role.grant.get("agent").and_then(serde_json::Value::as_bool) == Some(true)
    });
    let (Some(pubkey), Some(end)) = (pubkey, lease.expires_at) else {
        return;
    };
    let private = pubkey.with_extension("");
    if !wants_agent || std::env::var_os("SSH_AUTH_SOCK").is_none() {
        return;
    }
    let delegated = ctx.identity.delegated();
    let has_private = if delegated {
        // Looked at in the requester's checked ~/.ssh, never through a link.
        private
            .parent()
            .and_then(|dir| TrustedDir::open(dir, Uid::from_raw(ctx.identity.uid)).ok())
            .is_some_and(|dir| dir.contains("id_ed25519"))
    } else {
        private.exists()
    };
    if !has_private {
        return;
    }
    if delegated && !Uid::effective().is_root() {
        ctx.printer.warn(
            "not added to the ssh-agent: under sudo, jit hands keys to an agent only as root (as you); run ssh-add yourself",
        );
        return;
    }
    // ssh-add takes the certificate from beside the key, KEY-cert.pub, and nowhere else.
    let mut beside = private.clone().into_os_string();
    beside.push("-cert.pub");
    if certificate != std::path::Path::new(&beside) {
        ctx.printer.warn(
            "not added to the ssh-agent: ssh-add reads KEY-cert.pub beside the key, and --out put the certificate elsewhere",
        );
        return;
    }
    let seconds = (end - ctx.clock.now()).num_seconds().max(1);
    let mut ssh_add = std::process::Command::new("ssh-add");
    if delegated {
        // ssh-add reads the requester's key and talks to their agent as them, not as root.
        use std::os::unix::process::CommandExt;
        ssh_add.uid(ctx.identity.uid).gid(ctx.identity.gid);
    }
    ssh_add
        .arg("-q")
        .arg("-t")
        .arg(seconds.to_string())
        .arg(&private)
        .stdin(std::process::Stdio::null());
    crate::child::dies_with_jit(&mut ssh_add, nix::sys::signal::Signal::SIGKILL);
    let added = ssh_add.output();
    match added {
        Ok(output) if output.status.success() => ctx
            .printer
            .note(&format!("added to the ssh-agent for {seconds}s")),
        Ok(output) => ctx.printer.warn(&format!(
            "ssh-add: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(err) => ctx.printer.warn(&format!("ssh-add: {err}")),
    }
}

/// Write the certificate. Acting for someone else (through sudo, possibly as root), write it
/// into the requester's `~/.ssh` opened without following links and checked to be theirs (see
/// [`TrustedDir`]), as a new file renamed into place and handed to them: nothing is written,
/// chmod-ed or chown-ed through a link they planted.
fn write_certificate(
    ctx: &Context,
    path: &std::path::Path,
    certificate: &str,
) -> std::result::Result<(), String> {
    let body = format!("{certificate}\n");
    if !ctx.identity.delegated() {
        return std::fs::write(path, body).map_err(|err| err.to_string());
    }
    let (dir, name) = crate::trusted_dir::split(path).map_err(|err| err.to_string())?;
    let uid = Uid::from_raw(ctx.identity.uid);
    let gid = nix::unistd::Gid::from_raw(ctx.identity.gid);
    TrustedDir::open(dir, uid)
        .and_then(|dir| dir.replace(name, body.as_bytes(), 0o644, Some((uid, gid))))
        .map_err(|err| err.to_string())
}
