use crate::cli::RequestArgs;
use crate::context::Context;
use crate::engine::Requested;
use crate::exit::Exit;
use crate::store::LeaseStore;
use crate::store::postgres::PgStore;
use crate::team::{self, handoff::OneTimeKey};
use crate::trusted_dir::TrustedDir;
use anyhow::{Context as _, Result};
use nix::unistd::Uid;
use std::time::Instant;

pub fn run(ctx: &Context, args: RequestArgs) -> Result<Exit> {
    let engine = ctx.engine();
    if args.out.is_some() && ctx.identity.delegated() {
        return Err(crate::exit::usage(
            "--out is refused under sudo delegation: the certificate goes beside your key",
        ));
    }
    let (input, pubkey) = super::request_input(ctx, args.lease, !args.dry_run)?;
    if args.dry_run && ctx.team().is_some() {
        return Err(crate::exit::usage(
            "--dry-run is not available with a team store: the worker's configuration decides",
        ));
    }
    if args.dry_run {
        let evaluation = engine.evaluate(&ctx.identity, &input)?;
        ctx.printer.dry_run(&evaluation);
        return Ok(Exit::Success);
    }
    let (requested, worker_notice) = match ctx.team() {
        Some(store) => team_request(ctx, store, &input, args.wait, args.timeout)?,
        None => (
            engine.request(&ctx.identity, &input, args.wait.then_some(args.timeout))?,
            None,
        ),
    };
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
        Requested::Pending { lease } => {
            let approvers: Vec<String> = engine
                .role(&lease.role)
                .map(|role| role.approvals.approvers())
                .unwrap_or_default();
            let unshown = worker_notice.or_else(|| engine.unshown_credentials(&lease));
            ctx.printer.pending(&lease, &approvers, unshown.as_deref());
            Ok(Exit::Pending)
        }
    }
}

/// With a team store: queue the request, and take the answer and the credentials from the
/// worker that carries it out; for a request left pending, what the worker said about its
/// credentials.
fn team_request(
    ctx: &Context,
    store: &PgStore,
    input: &crate::engine::RequestInput,
    wait: bool,
    timeout: std::time::Duration,
) -> Result<(Requested, Option<String>)> {
    let key = OneTimeKey::generate();
    let id = team::submit(
        store,
        &team::Ask::Request {
            input,
            handoff_key: key.public(),
        },
    )?;
    let mut answer = team::answered(store, id)?;
    let lease_id = answer
        .lease_id
        .clone()
        .with_context(|| format!("the worker answered request {id} without a lease"))?;
    if answer.status == "pending" && wait {
        let mut progress = ctx.printer.progress();
        answer = team::wait_for(
            store,
            id,
            Instant::now() + timeout,
            |a| a.status == "done" || a.status == "refused",
            &mut |_| {
                if let Ok(Some(lease)) = store.lease(&lease_id) {
                    progress.update(&waiting_news(&lease));
                }
            },
        )?;
    }
    let lease = store
        .lease(&lease_id)?
        .with_context(|| format!("lease {lease_id} is not in the team store"))?;
    match answer.status.as_str() {
        "done" => Ok((
            Requested::Granted {
                credentials: team::pick_up(store, &lease_id, &key)?,
                lease,
                notice: None,
            },
            None,
        )),
        "refused" => Err(answer.refusal()),
        _ => {
            let notice = answer
                .message
                .filter(|message| *message != format!("pending {lease_id}"));
            Ok((Requested::Pending { lease }, notice))
        }
    }
}

/// Where a request waiting for approval stands, for the progress line.
fn waiting_news(lease: &crate::lease::Lease) -> String {
    let given: Vec<&str> = lease
        .approvals
        .iter()
        .filter(|a| a.decision == crate::lease::Verdict::Approve)
        .map(|a| a.by.as_str())
        .collect();
    let mut news = format!(
        "waiting for approval of {}: {} of {}",
        lease.id,
        given.len(),
        lease.approvals_required
    );
    if !given.is_empty() {
        news.push_str(&format!(" (approved by {})", given.join(", ")));
    }
    news
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
