//! `jit init`'s starter: a configuration with a local SSH certificate authority, so that a
//! first `jit request` issues a real certificate on a fresh machine, with no server and no
//! root.

use crate::exit;
use crate::identity::Identity;
use anyhow::{Context as _, Result};
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, LineEnding, PrivateKey};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt};
use std::path::Path;

/// Write the starter configuration at `path` and its certificate authority (and a key to
/// certify, when `who` has none) in `dir`, its directory; what was done, for the user.
/// `force` replaces what an earlier `jit init` left.
pub fn write(path: &Path, dir: &Path, who: &Identity, force: bool) -> Result<String> {
    // The schema beside the configuration is replaced on every run, never written through
    // a link: one there is refused before anything is written.
    let schema = dir.join(crate::config::schema::FILE_NAME);
    if std::fs::symlink_metadata(&schema).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(exit::usage(format!(
            "{} is a symbolic link; jit init writes the configuration's schema there and does not write through a link: move it away",
            schema.display()
        )));
    }
    // The certificate authority: readable by its owner only. One left by an earlier
    // `jit init` (whose configuration has gone) is kept: hosts may trust it.
    let ca_path = dir.join("ssh_ca");
    let kept_ca = if force {
        None
    } else {
        kept_key(&ca_path, who)?
    };
    let ca = match kept_ca.clone() {
        Some(ca) => ca,
        None => {
            let mut ca = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)?;
            ca.set_comment(format!("jit certificate authority of {}", who.user));
            let ca_text = ca.to_openssh(LineEnding::LF)?;
            write_new(&ca_path, ca_text.as_bytes(), 0o600, force)?;
            ca
        }
    };
    write_public(&dir.join("ssh_ca.pub"), &ca_path, &ca, force)?;

    // A key to certify, only when the requester has none in ~/.ssh (which jit init never
    // touches): `jit request` certifies ~/.ssh/id_ed25519.pub, else this one.
    let own_key = who.home.join(".ssh/id_ed25519.pub");
    let key_path = dir.join("id_ed25519");
    let made_key = !own_key.exists();
    let mut kept_own_key = false;
    if made_key {
        let kept = if force {
            None
        } else {
            kept_key(&key_path, who)?
        };
        kept_own_key = kept.is_some();
        let key = match kept {
            Some(key) => key,
            None => {
                let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)?;
                key.set_comment(format!("{}@jit-init", who.user));
                write_new(
                    &key_path,
                    key.to_openssh(LineEnding::LF)?.as_bytes(),
                    0o600,
                    force,
                )?;
                key
            }
        };
        write_public(&key_path.with_extension("pub"), &key_path, &key, force)?;
    }
    let certified = if made_key {
        key_path.clone()
    } else {
        who.home.join(".ssh/id_ed25519")
    };

    let config = format!(
        r#"{directive}
# Written by `jit init`. Every key is described in docs/configuration.md; the first line
# points editors that read it (Taplo, Even Better TOML) at {schema}, beside this file.

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
        directive = crate::config::schema::DIRECTIVE,
        schema = crate::config::schema::FILE_NAME,
        ca_pub = dir.join("ssh_ca.pub").display(),
        krl = dir.join("revoked.krl").display(),
        user = who.user,
    );
    // The schema the first line names: public, and this jit's own, so one an earlier
    // `jit init` (or an older jit) left is replaced (never through a link).
    write_new(&schema, crate::config::schema::SCHEMA.as_bytes(), 0o644, true)?;
    write_new(path, config.as_bytes(), 0o600, force)?;
    // An empty revocation list: sshd refuses every key while RevokedKeys names a file that
    // does not exist.
    let krl = dir.join("revoked.krl");
    if !krl.exists() {
        write_new(&krl, b"", 0o644, false)?;
    }

    let mut text = format!(
        "wrote {} with a local SSH certificate authority ({})\nwrote {} for editors (the configuration's first line names it)",
        path.display(),
        ca_path.display(),
        schema.display()
    );
    if kept_ca.is_some() {
        text.push_str(&format!(
            "\nkept the existing certificate authority {}",
            ca_path.display()
        ));
    }
    if kept_own_key {
        text.push_str(&format!(
            "\nno ~/.ssh/id_ed25519.pub: kept the key to certify, {}",
            key_path.display()
        ));
    } else if made_key {
        text.push_str(&format!(
            "\nno ~/.ssh/id_ed25519.pub: created a key to certify, {}",
            key_path.display()
        ));
    }
    text.push_str(&format!(
        "\nnext: jit request --role ssh-demo --ttl 15m --ticket DEMO-1\n      ssh-keygen -L -f {}-cert.pub",
        certified.display()
    ));
    Ok(text)
}

/// A private key an earlier `jit init` left at `path` (its configuration has gone since):
/// kept when it is an unencrypted OpenSSH key in a regular file of this user's that nobody
/// else can read; anything else there is refused, never replaced without `--force`.
fn kept_key(path: &Path, who: &Identity) -> Result<Option<PrivateKey>> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let refuse_link = |what: &str| {
        exit::usage(format!(
            "{} exists and is kept, but {what}, so jit init does not reuse it: move it away, or run `jit init --force` to replace it",
            path.display()
        ))
    };
    // Never through a link: the key read is the file checked.
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
    {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) if err.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err(refuse_link("it is a symbolic link"));
        }
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        Ok(file) => file,
    };
    let meta = file.metadata()?;
    let refuse = |why: String, fix: &str| {
        exit::usage(format!(
            "{} exists and is kept, but {why}, so jit init does not reuse it: {fix}, or run `jit init --force` to replace it",
            path.display()
        ))
    };
    let move_it = "move it away";
    if !meta.file_type().is_file() {
        return Err(refuse("it is not a regular file".to_owned(), move_it));
    }
    if meta.uid() != who.uid {
        return Err(refuse(
            format!("it belongs to uid {}, not to {}", meta.uid(), who.user),
            move_it,
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(refuse(
            format!(
                "others may read it (mode {:04o}, not 0600)",
                meta.mode() & 0o7777
            ),
            "chmod 600 it if nobody else read it, else move it away",
        ));
    }
    let mut pem = Vec::new();
    file.read_to_end(&mut pem)?;
    let key = PrivateKey::from_openssh(pem)
        .map_err(|err| refuse(format!("it is not an OpenSSH private key ({err})"), move_it))?;
    if key.is_encrypted() {
        return Err(refuse(
            "it is encrypted with a passphrase".to_owned(),
            move_it,
        ));
    }
    Ok(Some(key))
}

/// Write `key`'s public half to `path`, or keep the file there if it already holds it.
fn write_public(path: &Path, private: &Path, key: &PrivateKey, replace: bool) -> Result<()> {
    let text = key.public_key().to_openssh()?;
    if !replace && let Ok(existing) = std::fs::read_to_string(path) {
        let same = ssh_key::PublicKey::from_openssh(existing.trim())
            .is_ok_and(|public| public.key_data() == key.public_key().key_data());
        if same {
            return Ok(());
        }
        return Err(exit::usage(format!(
            "{} does not hold the public key of {}: move it away (jit init writes it again), or run `jit init --force` to replace both",
            path.display(),
            private.display()
        )));
    }
    write_new(path, format!("{text}\n").as_bytes(), 0o644, replace)
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
