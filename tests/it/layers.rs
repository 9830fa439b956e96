//! The shape of the code, as docs/architecture.md draws it: a backend is a folder under
//! `src/backend/` and one line in the registry, nothing outside that folder reaches into it,
//! and no command knows which store it runs on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The kinds the registry (`kinds! { ... }` in src/backend/mod.rs) lists.
fn registered() -> BTreeSet<String> {
    let text = std::fs::read_to_string(src().join("backend/mod.rs")).unwrap();
    let start = text.find("\nkinds! {").expect("the registry") + "\nkinds! {".len();
    let end = start + text[start..].find('}').unwrap();
    text[start..end]
        .split(',')
        .map(|kind| kind.trim().to_owned())
        .filter(|kind| !kind.is_empty())
        .collect()
}

#[test]
fn every_backend_folder_is_registered_once_and_every_registered_kind_has_its_folder() {
    let folders: BTreeSet<String> = std::fs::read_dir(src().join("backend"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let kinds = registered();
    assert_eq!(kinds, folders);
    assert!(kinds.contains("file") && kinds.len() >= 8, "{kinds:?}");
    for kind in &kinds {
        for file in ["mod.rs", "config.rs"] {
            let path = src().join("backend").join(kind).join(file);
            assert!(path.is_file(), "{} is missing", path.display());
        }
        let config = std::fs::read_to_string(src().join("backend").join(kind).join("config.rs"));
        assert!(
            config.unwrap().contains(&format!("name: \"{kind}\"")),
            "backend/{kind}/config.rs names its kind in its KIND"
        );
    }
}

#[test]
fn nothing_outside_a_backends_folder_reaches_into_it() {
    let kinds = registered();
    let backend_dir = src().join("backend");
    for path in sources(&src())
        .into_iter()
        .filter(|p| !p.starts_with(&backend_dir))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        for kind in &kinds {
            for reach in [format!("backend::{kind}::"), format!("backend::{kind};")] {
                assert!(
                    !text.contains(&reach),
                    "{} reaches into the {kind} backend ({reach})",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn no_command_knows_which_store_it_runs_on() {
    for path in sources(&src().join("commands")) {
        let text = std::fs::read_to_string(&path).unwrap();
        for store_kind in [
            "PgStore",
            "SqliteStore",
            "MemoryStore",
            "store::postgres",
            "store::sqlite",
            "store::memory",
            "store::queue",
            "team::client",
            ".team()",
        ] {
            assert!(
                !text.contains(store_kind),
                "{} names {store_kind}: commands hold the lease service",
                path.display()
            );
        }
    }
}
