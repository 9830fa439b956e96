use crate::cli::RequestArgs;
use crate::context::Context;
use crate::engine::Requested;
use crate::exit::Exit;
use anyhow::Result;

pub fn run(ctx: &Context, args: RequestArgs) -> Result<Exit> {
    let engine = ctx.engine();
    let (input, pubkey) = super::request_input(ctx, args.lease)?;
    if args.dry_run {
        let evaluation = engine.evaluate(&ctx.identity, &input)?;
        ctx.printer.dry_run(&evaluation);
        return Ok(Exit::Success);
    }
    match engine.request(&ctx.identity, &input, args.wait.then_some(args.timeout))? {
        Requested::Granted { lease, credentials } => {
            // An ssh certificate goes beside the key it certifies (or to --out).
            let certificate = credentials
                .as_ref()
                .and_then(|c| c.expose().get("SSH_CERTIFICATE").cloned());
            let destination = args.out.clone().or_else(|| {
                pubkey.as_ref().map(|key| {
                    let text = key.to_string_lossy();
                    let stem = text.strip_suffix(".pub").unwrap_or(&text);
                    std::path::PathBuf::from(format!("{stem}-cert.pub"))
                })
            });
            ctx.printer
                .granted(&lease, credentials.as_ref(), ctx.clock.now());
            if let (Some(certificate), Some(path)) = (certificate, destination) {
                std::fs::write(&path, format!("{certificate}\n")).map_err(|err| {
                    anyhow::anyhow!("writing the certificate to {}: {err}", path.display())
                })?;
                ctx.printer
                    .note(&format!("certificate written to {}", path.display()));
            }
            Ok(Exit::Success)
        }
        Requested::Pending { lease } => {
            let approvers: Vec<String> = engine
                .role(&lease.role)
                .map(|role| role.approvals.approvers())
                .unwrap_or_default();
            ctx.printer.pending(&lease, &approvers);
            Ok(Exit::Pending)
        }
    }
}
