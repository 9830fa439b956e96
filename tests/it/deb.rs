//! The Debian package: `cargo deb` builds it from the metadata in Cargo.toml, dpkg installs it
//! into a tree of its own (`dpkg --root`), every file lands where Debian's tools look for it
//! (man, bash-completion, systemd), and `dpkg -r` takes every one of them away again.
//!
//! The package is built from the debug binary the suite already has, handed to `cargo deb
//! --no-build` as the release binary of a target directory of the test's own, so the test
//! costs the packaging and not a release build.

use crate::harness::JIT;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The files the package installs, with their modes.
const FILES: &[(&str, u32)] = &[
    ("lib/systemd/system/jit-worker.service", 0o644),
    ("lib/systemd/system/jit-worker@.service", 0o644),
    ("usr/bin/jit", 0o755),
    ("usr/share/bash-completion/completions/jit", 0o644),
    ("usr/share/doc/jit/README.md", 0o644),
    ("usr/share/doc/jit/copyright", 0o644),
    ("usr/share/fish/vendor_completions.d/jit.fish", 0o644),
    ("usr/share/man/man1/jit.1.gz", 0o644),
    ("usr/share/zsh/vendor-completions/_jit", 0o644),
];

fn source(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// What the test could not check here, said where the test output shows it.
#[expect(
    clippy::print_stderr,
    reason = "a skipped check must be seen, not silent"
)]
fn say(what: &str) {
    eprintln!("\n*** {what} ***\n");
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|out| out.status.success())
}

fn run(command: &mut Command) -> Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: Output) -> String {
    String::from_utf8(out.stdout).unwrap()
}

/// The files under `root`, as paths relative to it, leaving dpkg's own database out.
fn files_under(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            if relative == "var/lib/dpkg" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                found.insert(relative);
            }
        }
    }
    let mut found = BTreeSet::new();
    walk(root, root, &mut found);
    found
}

/// `dpkg --root ROOT ARGS`, for a tree that is not a system: no chroot for scripts (the
/// package has none) and no dependency check (the tree has no libc6 package).
fn dpkg(root: &Path) -> Command {
    let mut dpkg = Command::new("dpkg");
    dpkg.arg(format!("--root={}", root.display()))
        .args(["--log=/dev/null", "--force-not-root", "--force-depends"])
        .arg("--force-script-chrootless");
    dpkg
}

#[test]
fn the_debian_package_installs_every_file_where_debian_looks_and_removes_them_all() {
    if !have("dpkg") || !have("dpkg-deb") {
        say(
            "SKIPPED deb::the_debian_package_installs_every_file_where_debian_looks_and_removes_them_all: \
             dpkg is not on this machine (not Debian or Ubuntu)",
        );
        return;
    }
    let version = env!("CARGO_PKG_VERSION");
    let arch = text(run(Command::new("dpkg").arg("--print-architecture")));
    let arch = arch.trim();
    let dir = tempfile::tempdir().unwrap();
    let deb = dir.path().join(format!("jit_{version}-1_{arch}.deb"));

    // Build: the binary the suite runs stands in for a release build (cargo deb strips it).
    let target_dir = dir.path().join("target");
    std::fs::create_dir_all(target_dir.join("release")).unwrap();
    std::os::unix::fs::symlink(JIT, target_dir.join("release/jit")).unwrap();
    let built = Command::new("cargo")
        .args(["deb", "--no-build", "--fast", "--strip", "--no-dbgsym"])
        .arg("--output")
        .arg(&deb)
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "cargo deb failed (scripts/test.sh installs cargo-deb): {}",
        String::from_utf8_lossy(&built.stderr)
    );

    // What it holds: these files, and no maintainer script at all.
    let listing = text(run(Command::new("dpkg-deb").arg("--contents").arg(&deb)));
    let packaged: BTreeSet<String> = listing
        .lines()
        .map(|line| line.split_whitespace().last().unwrap())
        .filter(|path| !path.ends_with('/'))
        .map(|path| path.trim_start_matches("./").to_owned())
        .collect();
    let expected: BTreeSet<String> = FILES.iter().map(|(path, _)| (*path).to_owned()).collect();
    assert_eq!(packaged, expected, "{listing}");
    let control = dir.path().join("control");
    run(Command::new("dpkg-deb")
        .arg("--control")
        .arg(&deb)
        .arg(&control));
    let control_files: BTreeSet<String> = std::fs::read_dir(&control)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        control_files,
        BTreeSet::from(["control".to_owned()]),
        "no preinst, postinst, prerm or postrm"
    );
    let fields = std::fs::read_to_string(control.join("control")).unwrap();
    for field in [
        "Package: jit\n".to_owned(),
        format!("Version: {version}-1\n"),
        format!("Architecture: {arch}\n"),
        "Section: admin\n".to_owned(),
        "Priority: optional\n".to_owned(),
    ] {
        assert!(fields.contains(&field), "{field:?} not in:\n{fields}");
    }
    let depends = fields
        .lines()
        .find_map(|line| line.strip_prefix("Depends: "))
        .unwrap_or_else(|| panic!("no Depends in:\n{fields}"));
    assert!(depends.contains("libc6"), "{depends}");

    // Install into a tree of its own.
    let root = dir.path().join("root");
    for db in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
    ] {
        std::fs::create_dir_all(root.join(db)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    run(dpkg(&root).arg("--install").arg(&deb));
    let status = text(run(Command::new("dpkg-query")
        .arg(format!("--root={}", root.display()))
        .args(["--show", "--showformat=${Status} ${Version}", "jit"])));
    assert_eq!(status, format!("install ok installed {version}-1"));
    assert_eq!(files_under(&root), expected);
    for (path, mode) in FILES {
        let meta = std::fs::metadata(root.join(path)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, *mode, "{path}");
    }
    for (installed, from) in [
        (
            "usr/share/bash-completion/completions/jit",
            "completions/jit.bash",
        ),
        ("usr/share/zsh/vendor-completions/_jit", "completions/_jit"),
        (
            "usr/share/fish/vendor_completions.d/jit.fish",
            "completions/jit.fish",
        ),
        (
            "lib/systemd/system/jit-worker.service",
            "docs/systemd/jit-worker.service",
        ),
        (
            "lib/systemd/system/jit-worker@.service",
            "docs/systemd/jit-worker@.service",
        ),
        ("usr/share/doc/jit/README.md", "README.md"),
    ] {
        assert_eq!(
            std::fs::read(root.join(installed)).unwrap(),
            std::fs::read(source(from)).unwrap(),
            "{installed}"
        );
    }
    let copyright = std::fs::read_to_string(root.join("usr/share/doc/jit/copyright")).unwrap();
    assert!(copyright.contains("MIT License"), "{copyright}");

    // The binary runs.
    let jit = root.join("usr/bin/jit");
    assert_eq!(
        text(run(Command::new(&jit).arg("--version"))),
        format!("jit {version}\n")
    );

    // man finds the page by name in the tree and renders it.
    let page = text(run(Command::new("man")
        .env("MANPATH", root.join("usr/share/man"))
        .env("MANWIDTH", "80")
        .args(["--pager=cat", "jit"])));
    let sections: Vec<&str> = page
        .lines()
        .filter(|line| line.starts_with(|c: char| c.is_ascii_uppercase()))
        .collect();
    assert_eq!(
        sections,
        [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "SUBCOMMANDS",
            "EXTRA",
            "VERSION"
        ],
        "{page}"
    );
    assert!(page.starts_with("jit(1) "), "{page}");
    assert!(page.contains(&format!("jit {version}")), "{page}");
    let by_file = text(run(Command::new("man")
        .env("MANWIDTH", "80")
        .args(["--pager=cat", "-l"])
        .arg(root.join("usr/share/man/man1/jit.1.gz"))));
    assert_eq!(by_file, page);

    // bash-completion's own loader finds the completion in the tree's data directory, and it
    // completes a subcommand.
    let completed = text(run(Command::new("bash")
        .env("XDG_DATA_DIRS", root.join("usr/share"))
        .env("BASH_COMPLETION_USER_DIR", dir.path().join("none"))
        .args([
            "-c",
            ". /usr/share/bash-completion/bash_completion && __load_completion jit && \
             complete -p jit && COMP_WORDS=(jit requ) COMP_CWORD=1 && _jit jit requ jit && \
             echo \"${COMPREPLY[*]}\"",
        ])));
    assert_eq!(
        completed,
        "complete -o bashdefault -o default -o nosort -F _jit jit\nrequest\n"
    );

    // systemd accepts the units as installed: verified in the tree (`--root`), beside a
    // copy of this machine's own units (the targets they name), where the bare `jit` of
    // ExecStart must be found on systemd's search path, in the tree's /usr/bin.
    if have("systemd-analyze") {
        let host_units = root.join("usr/lib/systemd/system");
        std::fs::create_dir_all(&host_units).unwrap();
        run(Command::new("cp")
            .arg("-a")
            .arg("/lib/systemd/system/.")
            .arg(&host_units));
        let verify = |unit: &str| {
            Command::new("systemd-analyze")
                .args(["verify", "--man=no"])
                .arg(format!("--root={}", root.display()))
                .arg(unit)
                .output()
                .unwrap()
        };
        for unit in ["jit-worker.service", "jit-worker@prod.service"] {
            let verified = verify(unit);
            assert!(
                verified.status.success() && verified.stderr.is_empty(),
                "{unit}: {}",
                String::from_utf8_lossy(&verified.stderr)
            );
        }
        // The check can fail: without the binary, the same unit is refused.
        let aside = root.join("usr/bin/jit.aside");
        std::fs::rename(&jit, &aside).unwrap();
        let refused = verify("jit-worker.service");
        std::fs::rename(&aside, &jit).unwrap();
        assert!(!refused.status.success());
        assert_eq!(
            String::from_utf8_lossy(&refused.stderr),
            "jit-worker.service: Command jit is not executable: No such file or directory\n"
        );
        std::fs::remove_dir_all(root.join("usr/lib")).unwrap();
    } else {
        say("deb: systemd-analyze is not on this machine; the units were not verified");
    }

    // Removal takes away every file and directory it installed, and dpkg forgets it.
    run(dpkg(&root).args(["--remove", "jit"]));
    assert_eq!(files_under(&root), BTreeSet::new());
    let left: BTreeSet<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, BTreeSet::from(["var".to_owned()]));
    let gone = Command::new("dpkg-query")
        .arg(format!("--root={}", root.display()))
        .args(["--show", "jit"])
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&gone.stderr),
        "dpkg-query: no packages found matching jit\n"
    );
}
