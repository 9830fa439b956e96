//! `jit discover` on a sudo target: the rules of the configured sudoers file and of every
//! file it includes that let a user or a group run a role's commands, or `ALL`, without an
//! end (`standing`, `admin`), and jit's own drop-ins whose lease is not live (`leftover`,
//! or `unmarked` without a store's mark).
//!
//! sudoers is read by sudo's own tools, never by a parser of jit's: `visudo -c -f FILE`
//! names the files sudo reads for FILE (the file and its includes, in order), and
//! `cvtsudoers -e -f json FILE` gives their rules, aliases expanded. cvtsudoers merges the
//! includes into the including file's rules, so a file's own rules are its rules less those
//! of the files it includes.
//!
//! `--adopt` of a standing rule rewrites a file only when that is safe: a file that holds
//! nothing but that one rule, for that one holder, in a directory that is root's (or jit's
//! own user's) and writable by nobody else, and not the main sudoers file. Its lines are
//! then commented out (so the file stays, for an `@include` naming it, and what it said
//! stays readable), the new file checked with `visudo -cqf` before it is renamed into place,
//! and the whole configuration checked again after. Any other rule (one of several in a
//! file, one that names several users) is reported with a null removal and what to edit by
//! hand: jit does not rewrite a file that says more than the rule it takes away.

use super::config::{SudoGrant, SudoTarget};
use super::{drop_in_name, valid_user};
use crate::backend::BackendError;
use crate::backend::discover::{Discovery, Finding, FindingKind, Mark, Scope};
use crate::trusted_dir::{self, TrustedDir};
use nix::unistd::Uid;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run one of sudo's tools; its standard output, or what went wrong.
fn run(program: &Path, args: &[&std::ffi::OsStr]) -> Result<String, BackendError> {
    let mut command = Command::new(program);
    command.args(args);
    crate::child::dies_with_jit(&mut command, nix::sys::signal::Signal::SIGKILL);
    let output = command.output().map_err(|err| {
        BackendError::permanent(format!("running {}: {err}", program.display()))
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let said = if stderr.trim().is_empty() { stdout } else { stderr };
        return Err(BackendError::permanent(format!(
            "{} failed: {}",
            program.display(),
            said.trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The files sudo reads for `file`: the file itself first, then its includes, as
/// `visudo -c -f FILE` names them (`PATH: parsed OK`).
fn files_of(settings: &SudoTarget, file: &Path) -> Result<Vec<PathBuf>, BackendError> {
    let out = run(&settings.visudo, &["-c".as_ref(), "-f".as_ref(), file.as_ref()])?;
    let mut files: Vec<PathBuf> = out
        .lines()
        .filter_map(|line| line.strip_suffix(": parsed OK"))
        .map(PathBuf::from)
        .collect();
    // visudo names the file as it was given.
    if files.first().is_some_and(|first| first == file) {
        files.remove(0);
    }
    files.insert(0, file.to_owned());
    Ok(files)
}

/// The rules (`User_Specs`) of `file` and its includes, aliases expanded.
fn rules_of(settings: &SudoTarget, file: &Path) -> Result<Vec<Value>, BackendError> {
    let out = run(
        &settings.cvtsudoers,
        &["-e".as_ref(), "-f".as_ref(), "json".as_ref(), file.as_ref()],
    )?;
    // A file without rules, Defaults or aliases (comments only) gives nothing at all.
    if out.trim().is_empty() {
        return Ok(Vec::new());
    }
    let parsed: Value = serde_json::from_str(&out).map_err(|err| {
        BackendError::permanent(format!(
            "{} -e -f json {}: not JSON ({err})",
            settings.cvtsudoers.display(),
            file.display()
        ))
    })?;
    Ok(parsed["User_Specs"].as_array().cloned().unwrap_or_default())
}

/// What `file` says besides its rules, as cvtsudoers reads it without expanding aliases:
/// whether it holds exactly one rule and nothing else (no `Defaults`, no aliases).
fn holds_only_one_rule(settings: &SudoTarget, file: &Path) -> Result<bool, BackendError> {
    let out = run(
        &settings.cvtsudoers,
        &["-f".as_ref(), "json".as_ref(), file.as_ref()],
    )?;
    let parsed: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    let Some(sections) = parsed.as_object() else {
        return Ok(false);
    };
    Ok(sections.len() == 1 && parsed["User_Specs"].as_array().is_some_and(|r| r.len() == 1))
}

/// A file's identity (device and inode), to know jit's drop-ins whatever path names them.
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()))
}

/// The main sudoers file, checked as a privileged process must: in a directory of root's (or
/// jit's own user's) that nobody else can write, a regular file that nobody else can write,
/// not a link. Only then are sudo's tools pointed at it.
fn trusted_main(settings: &SudoTarget) -> Result<PathBuf, BackendError> {
    let path = &settings.sudoers;
    let (dir, name) = trusted_dir::split(path).map_err(crate::backend::fs_error)?;
    let dir = TrustedDir::open(dir, Uid::effective()).map_err(crate::backend::fs_error)?;
    match dir.read(name).map_err(crate::backend::fs_error)? {
        Some(_) => Ok(dir.path().join(name)),
        None => Err(BackendError::permanent(format!(
            "there is no sudoers file at {}",
            path.display()
        ))),
    }
}

/// One file of the configuration, with the rules that are its own.
struct File {
    path: PathBuf,
    /// The files it includes (all the way down), itself left out.
    includes: Vec<PathBuf>,
    own: Vec<Value>,
}

/// Every file sudo reads for the main file, each with its own rules. An included file that
/// the tools cannot read alone (it uses an alias defined in another file, say) keeps no
/// rules of its own: its rules count as the including file's, which jit does not rewrite.
fn read_tree(
    settings: &SudoTarget,
    main: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<File>, BackendError> {
    let listed = files_of(settings, main)?;
    let mut files = Vec::new();
    for path in &listed {
        let alone = if path == main {
            Ok((listed[1..].to_vec(), rules_of(settings, path)?))
        } else {
            files_of(settings, path)
                .map(|mut files| files.split_off(1))
                .and_then(|includes| Ok((includes, rules_of(settings, path)?)))
        };
        let (includes, rules) = alone.unwrap_or_else(|err| {
            notes.push(format!(
                "{} cannot be read alone ({}); its rules are reported as the including file's",
                path.display(),
                err.message
            ));
            (Vec::new(), Vec::new())
        });
        files.push(File {
            path: path.clone(),
            includes,
            own: rules,
        });
    }
    // A file's rules less those of what it includes: the innermost files first, whose rules
    // are all their own.
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| files[i].includes.len());
    let mut own: BTreeMap<PathBuf, Vec<Value>> = BTreeMap::new();
    for i in order {
        let mut rules = std::mem::take(&mut files[i].own);
        for included in &files[i].includes {
            for rule in own.get(included).into_iter().flatten() {
                if let Some(at) = rules.iter().position(|r| r == rule) {
                    rules.remove(at);
                }
            }
        }
        own.insert(files[i].path.clone(), rules.clone());
        files[i].own = rules;
    }
    Ok(files)
}

/// A holder in a rule's `User_List`: its name as sudoers writes it, and the subject jit
/// knows it as.
fn holder_of(entry: &Value) -> Option<(String, Option<String>)> {
    if entry["negated"].as_bool() == Some(true) {
        return None;
    }
    if let Some(user) = entry["username"].as_str() {
        let subject = valid_user(user).then(|| format!("user:{user}"));
        return Some((user.to_owned(), subject));
    }
    if let Some(group) = entry["usergroup"].as_str() {
        let subject = valid_user(group).then(|| format!("group:{group}"));
        return Some((format!("%{group}"), subject));
    }
    if let Some(netgroup) = entry["netgroup"].as_str() {
        return Some((format!("+{netgroup}"), None));
    }
    None
}

/// Does the rule command `rule` let its holder run `command`? The same command, or the same
/// program named without arguments (which sudo reads as any arguments).
fn allows(rule: &str, command: &str) -> bool {
    rule == command
        || (!rule.contains(' ')
            && command
                .split_once(' ')
                .is_some_and(|(program, _)| program == rule))
}

/// Does a `Cmnd_Spec` run as `runas`? `runasusers` absent means root.
fn runs_as(spec: &Value, runas: &str) -> bool {
    match spec["runasusers"].as_array() {
        None => runas == "root" && spec["runasgroups"].is_null(),
        Some(users) => users.iter().any(|user| {
            user["negated"].as_bool() != Some(true)
                && matches!(user["username"].as_str(), Some(name) if name == runas || name == "ALL")
        }),
    }
}

/// Has a `Cmnd_Spec` an end (`NOTAFTER`)? Without one it is permanent.
fn has_end(spec: &Value) -> bool {
    spec["Options"]
        .as_array()
        .is_some_and(|options| options.iter().any(|o| o.get("notafter").is_some()))
}

fn hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Can `--adopt` rewrite `file` to take `rule` away: is the rule all the file says, for one
/// holder only, in a directory nobody else controls? Its removal (the file and what it held
/// when read), or why not.
fn safe_removal(
    settings: &SudoTarget,
    main: &Path,
    file: &File,
    rule: &Value,
) -> Result<Value, String> {
    let by_hand = |why: &str| {
        Err(format!(
            "{why}: edit it by hand (visudo -f {})",
            file.path.display()
        ))
    };
    if file.path == main {
        return by_hand("the rule is in the main sudoers file");
    }
    if !file.includes.is_empty() || file.own.len() != 1 {
        return by_hand("the file holds more than this rule");
    }
    let holders = rule["User_List"].as_array().map_or(0, Vec::len);
    if holders != 1 {
        return by_hand("the rule names more than one holder");
    }
    if !holds_only_one_rule(settings, &file.path).unwrap_or(false) {
        return by_hand("the file holds more than this rule");
    }
    let body = trusted_dir::split(&file.path)
        .and_then(|(dir, name)| TrustedDir::open(dir, Uid::effective())?.read(name))
        .map_err(|err| format!("{err}: edit it by hand"))?
        .unwrap_or_default();
    Ok(json!({ "file": file.path, "sha256": hash(&body) }))
}

pub fn discover(
    settings: &SudoTarget,
    scope: &Scope<'_>,
    roles: &[(&str, SudoGrant)],
) -> Result<Discovery, BackendError> {
    let mut discovery = Discovery::default();
    let main = trusted_main(settings)?;

    // jit's drop-ins, read from the directory jit writes them to.
    let mut jit_files = Vec::new();
    match TrustedDir::open(&settings.directory, Uid::effective()) {
        Err(err) if err.is_missing() => {}
        Err(err) => return Err(crate::backend::fs_error(err)),
        Ok(dir) => {
            let mut names = dir.names().map_err(crate::backend::fs_error)?;
            names.sort();
            for name in names {
                let Some(lease_id) = name.strip_prefix("jit-") else {
                    continue;
                };
                if !crate::lease::is_valid_id(lease_id) {
                    continue;
                }
                let path = dir.path().join(&name);
                jit_files.extend(identity(&path));
                let body = dir.read(&name).map_err(crate::backend::fs_error)?;
                let text = String::from_utf8_lossy(&body.unwrap_or_default()).into_owned();
                let mark = Mark::find(&text);
                // The holder as the rule names it.
                let holder = rules_of(settings, &path)
                    .ok()
                    .and_then(|rules| rules.first().cloned())
                    .and_then(|rule| rule["User_List"].get(0).and_then(holder_of))
                    .map(|(holder, _)| holder)
                    .unwrap_or_default();
                let entitlement = format!("sudoers drop-in {}", path.display());
                let finding = match mark.as_ref().map(|mark| (mark, scope.leftover(mark))) {
                    Some((_, None | Some(false))) => continue,
                    Some((mark, Some(true))) => Finding::leftover(holder, entitlement, &mark.lease, json!({ "drop_in": name })),
                    None if scope.is_live(lease_id) => continue,
                    None => Finding::unmarked(holder, entitlement),
                };
                discovery.findings.push(finding);
            }
        }
    }

    let tree = read_tree(settings, &main, &mut discovery.notes)?;
    for file in &tree {
        if identity(&file.path).is_some_and(|id| jit_files.contains(&id)) {
            continue;
        }
        for rule in &file.own {
            let specs: Vec<&Value> = rule["Cmnd_Specs"]
                .as_array()
                .map(|specs| specs.iter().filter(|spec| !has_end(spec)).collect())
                .unwrap_or_default();
            if specs.is_empty() {
                continue;
            }
            let everything = specs.iter().any(|spec| {
                spec["Commands"].as_array().is_some_and(|commands| {
                    commands.iter().any(|c| {
                        c["command"].as_str() == Some("ALL") && c["negated"].as_bool() != Some(true)
                    })
                })
            });
            let removal = safe_removal(settings, &main, file, rule);
            for (holder, subject) in rule["User_List"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(holder_of)
            {
                // root has everything without sudo.
                if holder == "root" {
                    continue;
                }
                if everything {
                    discovery.findings.push(Finding {
                        kind: FindingKind::Admin,
                        holder: holder.clone(),
                        subject: subject.clone(),
                        role: None,
                        entitlement: format!("ALL commands (in {})", file.path.display()),
                        since: None,
                        action: format!(
                            "review: remove the rule or narrow it to jit roles (visudo -f {})",
                            file.path.display()
                        ),
                        removal: Value::Null,
                    });
                }
                for (role, grant) in roles {
                    let held: Vec<&str> = grant
                        .commands
                        .iter()
                        .filter(|command| {
                            specs.iter().any(|spec| {
                                runs_as(spec, &grant.runas)
                                    && spec["Commands"].as_array().is_some_and(|commands| {
                                        commands.iter().any(|c| {
                                            c["negated"].as_bool() != Some(true)
                                                && c["command"]
                                                    .as_str()
                                                    .is_some_and(|rule| allows(rule, command))
                                        })
                                    })
                            })
                        })
                        .map(String::as_str)
                        .collect();
                    if held.is_empty() || everything {
                        continue;
                    }
                    let (action, removal) = match &removal {
                        Ok(removal) => (
                            "adopt: the rule's file is commented out".to_owned(),
                            removal.clone(),
                        ),
                        Err(by_hand) => (by_hand.clone(), Value::Null),
                    };
                    discovery.findings.push(Finding {
                        kind: FindingKind::Standing,
                        holder: holder.clone(),
                        subject: subject.clone(),
                        role: Some((*role).to_owned()),
                        entitlement: format!(
                            "may run {} as {} (in {})",
                            held.join(", "),
                            grant.runas,
                            file.path.display()
                        ),
                        since: None,
                        action,
                        removal,
                    });
                }
            }
        }
    }
    Ok(discovery)
}

/// Take a finding of [`discover`] away: a leftover drop-in of jit's is deleted as a revoke
/// deletes it; a standing rule's file, checked to be what discovery read, has its lines
/// commented out (checked with visudo before it is renamed into place).
pub fn remove(settings: &SudoTarget, finding: &Finding) -> Result<(), BackendError> {
    if let Some(name) = finding.removal["drop_in"].as_str() {
        let lease_id = name.strip_prefix("jit-").unwrap_or("");
        if !crate::lease::is_valid_id(lease_id) || name != drop_in_name(lease_id) {
            return Err(BackendError::refused("the finding names no jit drop-in"));
        }
        let dir = match TrustedDir::open(&settings.directory, Uid::effective()) {
            Err(err) if err.is_missing() => return Ok(()),
            other => other.map_err(crate::backend::fs_error)?,
        };
        dir.remove_leftovers(&format!(".{name}"))
            .map_err(crate::backend::fs_error)?;
        return dir.remove(name).map(drop).map_err(crate::backend::fs_error);
    }
    let (Some(file), Some(digest)) = (
        finding.removal["file"].as_str().map(PathBuf::from),
        finding.removal["sha256"].as_str(),
    ) else {
        return Err(BackendError::refused("the finding names no sudoers file"));
    };
    let main = trusted_main(settings)?;
    if file == main || !file.is_absolute() {
        return Err(BackendError::refused(
            "jit does not rewrite the main sudoers file",
        ));
    }
    // Only a file of this target's configuration.
    if !files_of(settings, &main)?.contains(&file) {
        return Err(BackendError::refused(format!(
            "{} is not part of the sudoers configuration {}",
            file.display(),
            main.display()
        )));
    }
    let (dir, name) = trusted_dir::split(&file).map_err(crate::backend::fs_error)?;
    let dir = TrustedDir::open(dir, Uid::effective()).map_err(crate::backend::fs_error)?;
    let body = dir
        .read(name)
        .map_err(crate::backend::fs_error)?
        .unwrap_or_default();
    if hash(&body) != digest {
        return Err(BackendError::refused(format!(
            "{} changed since it was read; run jit discover again",
            file.display()
        )));
    }
    let mut text = format!(
        "# jit discover --adopt: the rule below was taken away on {}; {} asks for it just in time now.\n",
        crate::lease::rfc3339::format(&chrono::Utc::now()),
        finding.holder
    );
    for line in String::from_utf8_lossy(&body).lines() {
        text.push_str("# ");
        text.push_str(line);
        text.push('\n');
    }
    // A name with a dot: sudo ignores it while it is being checked.
    let mut tmp = dir
        .new_file(&format!(".{name}"))
        .map_err(crate::backend::fs_error)?;
    tmp.write_all(text.as_bytes())
        .map_err(crate::backend::fs_error)?;
    run(
        &settings.visudo,
        &["-cqf".as_ref(), tmp.path().as_os_str()],
    )
    .map_err(|err| BackendError::refused(format!("visudo refused the rewritten file: {}", err.message)))?;
    tmp.install(name, 0o440, None)
        .map_err(crate::backend::fs_error)?;
    // The whole configuration still reads.
    files_of(settings, &main).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_command_allows_the_same_command_or_any_arguments() {
        let role = "/usr/bin/systemctl restart nginx.service";
        assert!(allows(role, role));
        assert!(allows("/usr/bin/systemctl", role));
        assert!(!allows("/usr/bin/systemctl restart", role));
        assert!(!allows("/usr/bin/systemctl stop nginx.service", role));
        assert!(!allows("/usr/bin/true", role));
    }

    #[test]
    fn runas_defaults_to_root_and_all_is_anyone() {
        assert!(runs_as(&json!({}), "root"));
        assert!(!runs_as(&json!({}), "www-data"));
        assert!(runs_as(&json!({"runasusers": [{"username": "ALL"}]}), "www-data"));
        assert!(!runs_as(
            &json!({"runasusers": [{"username": "www-data", "negated": true}]}),
            "www-data"
        ));
    }

    #[test]
    fn holders_are_users_and_groups_never_negated() {
        assert_eq!(
            holder_of(&json!({"username": "alice"})),
            Some(("alice".into(), Some("user:alice".into())))
        );
        assert_eq!(
            holder_of(&json!({"usergroup": "ops"})),
            Some(("%ops".into(), Some("group:ops".into())))
        );
        assert_eq!(holder_of(&json!({"username": "bob", "negated": true})), None);
        assert_eq!(
            holder_of(&json!({"username": "ALL"})),
            Some(("ALL".into(), None))
        );
    }
}
