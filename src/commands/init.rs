//! `jit init`: a starter configuration with a local SSH certificate authority, so that a first
//! `jit request` issues a real certificate on a fresh machine, with no server and no root.

use crate::cli::{GlobalArgs, InitArgs};
use crate::context::config_path;
use crate::exit::{self, Exit};
use crate::identity::Identity;
use crate::output::Printer;
use anyhow::{Context as _, Result};
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, LineEnding, PrivateKey};
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

pub fn run(global: &GlobalArgs, args: InitArgs) -> Result<Exit> {
    let printer = Printer::new(global.json, global.quiet, global.verbose);
    let path = config_path(global)?;
    if path.exists() && !args.force {
        return Err(exit::usage(format!(
            "{} exists; jit init does not overwrite a configuration (--force replaces it)",
            path.display()
        )));
    }
    // Replaced, never written through: a link there would send the file elsewhere.
    if std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        anyhow::bail!("refusing {}: it is a symbolic link", path.display());
    }
    let who = Identity::current(None)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;

    // The certificate authority: readable by its owner only.
    let ca_path = dir.join("ssh_ca");
    let mut ca = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)?;
    ca.set_comment(format!("jit certificate authority of {}", who.user));
    let ca_text = ca.to_openssh(LineEnding::LF)?;
    write_new(&ca_path, ca_text.as_bytes(), 0o600, args.force)?;
    write_new(
        &dir.join("ssh_ca.pub"),
        format!("{}\n", ca.public_key().to_openssh()?).as_bytes(),
        0o644,
        args.force,
    )?;

    // A key to certify, only when the requester has none in ~/.ssh (which jit init never
    // touches): `jit request` certifies ~/.ssh/id_ed25519.pub, else this one.
    let own_key = who.home.join(".ssh/id_ed25519.pub");
    let key_path = dir.join("id_ed25519");
    let made_key = !own_key.exists();
    if made_key {
        let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)?;
        key.set_comment(format!("{}@jit-init", who.user));
        write_new(
            &key_path,
            key.to_openssh(LineEnding::LF)?.as_bytes(),
            0o600,
            args.force,
        )?;
        write_new(
            &key_path.with_extension("pub"),
            format!("{}\n", key.public_key().to_openssh()?).as_bytes(),
            0o644,
            args.force,
        )?;
    }
    let certified = if made_key {
        key_path.clone()
    } else {
        who.home.join(".ssh/id_ed25519")
    };

    let config = format!(
        r#"# Written by `jit init`. Every key is described in docs/configuration.md.

# A local SSH certificate authority. Hosts that trust it (TrustedUserCAKeys {ca_pub})
# accept the certificates jit signs, until each lease ends; RevokedKeys {krl} ends them early.
[targets.local-ssh]
backend = "ssh"
mode = "certificate"
ca_key = "file:ssh_ca"
krl = "revoked.krl"
description = "a local SSH certificate authority"

[roles.ssh-demo]
target = "local-ssh"
description = "an SSH certificate for {user}, to try jit"
max_ttl = "1h"
default_ttl = "15m"
ticket = {{ required = true, pattern = "^[A-Z]+-[0-9]+$" }}
grant = {{ principals = ["{user}"], extensions = ["permit-pty"] }}

[[eligibility]]
subjects = ["user:{user}"]
roles = ["*"]
max_ttl = "1h"
"#,
        ca_pub = dir.join("ssh_ca.pub").display(),
        krl = dir.join("revoked.krl").display(),
        user = who.user,
    );
    write_new(&path, config.as_bytes(), 0o600, args.force)?;
    // An empty revocation list: sshd refuses every key while RevokedKeys names a file that
    // does not exist.
    let krl = dir.join("revoked.krl");
    if !krl.exists() {
        write_new(&krl, b"", 0o644, false)?;
    }
    // Validate what was written, so that a bad starter never goes unnoticed.
    crate::config::load(&path)?;

    let mut text = format!(
        "wrote {} with a local SSH certificate authority ({})",
        path.display(),
        ca_path.display()
    );
    if made_key {
        text.push_str(&format!(
            "\nno ~/.ssh/id_ed25519.pub: created a key to certify, {}",
            key_path.display()
        ));
    }
    text.push_str(&format!(
        "\nnext: jit request --role ssh-demo --ttl 15m --ticket DEMO-1\n      ssh-keygen -L -f {}-cert.pub",
        certified.display()
    ));
    printer.done(&text);
    Ok(Exit::Success)
}

/// Write a file with `mode`, refusing to replace one unless `replace`, and never through a
/// link.
fn write_new(path: &Path, body: &[u8], mode: u32, replace: bool) -> Result<()> {
    let mut options = OpenOptions::new();
    options
        .write(true)
        .mode(mode)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits());
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(body)?;
    file.sync_all()?;
    Ok(())
}
