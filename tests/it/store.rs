//! The store conformance checks (src/store/conformance.rs) on the team store: each check in
//! a fresh database of the suite's PostgreSQL cluster, created by the store's own `init`.

use crate::pg_cluster;
use jit::store::Store;
use jit::store::conformance::{self, Fixture};
use jit::store::postgres::PgStore;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A login of the suite's own that owns the store's databases.
const LOGIN: &str = "jit_store_check";
const PASSWORD: &str = "pw-store-check-81";

static DATABASES: AtomicUsize = AtomicUsize::new(0);

struct Team {
    cluster: &'static pg_cluster::Cluster,
    database: String,
    config: std::path::PathBuf,
    store: PgStore,
    _dir: tempfile::TempDir,
}

impl Team {
    fn new() -> Team {
        let cluster = pg_cluster::shared();
        let database = format!(
            "store_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst)
        );
        let mut su = cluster.superuser(None).unwrap();
        // Roles are the cluster's: other tests may be creating the same ones.
        let mut roles = vec![format!(
            "CREATE ROLE {LOGIN} LOGIN SUPERUSER PASSWORD '{PASSWORD}'"
        )];
        roles.extend(
            jit::store::postgres::ROLES
                .iter()
                .map(|role| format!("CREATE ROLE {role} NOLOGIN")),
        );
        for create in roles {
            su.batch_execute(&format!(
                "DO $$ BEGIN {create}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            ))
            .unwrap();
        }
        su.batch_execute(&format!("CREATE DATABASE {database} OWNER {LOGIN}"))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("store.password");
        std::fs::write(&secret, PASSWORD).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[store]\nkind = \"postgres\"\nurl = \"postgres://{LOGIN}@127.0.0.1:{}/{database}?sslmode=disable\"\npassword = \"file:{}\"\nconnect_timeout = \"5s\"\n",
                cluster.port,
                secret.display()
            ),
        )
        .unwrap();
        let store = open(&config);
        store.init().unwrap();
        Team {
            cluster,
            database,
            config,
            store,
            _dir: dir,
        }
    }
}

fn open(config: &std::path::Path) -> PgStore {
    let config = jit::config::load(config).unwrap();
    PgStore::open(config.store.team.as_ref().unwrap(), LOGIN).unwrap()
}

impl Fixture for Team {
    fn store(&self) -> &dyn Store {
        &self.store
    }

    fn another(&self) -> Box<dyn Store> {
        Box::new(open(&self.config))
    }

    fn tamper(&self, seq: i64, details: &str) {
        self.cluster
            .superuser(Some(&self.database))
            .unwrap()
            .execute(
                "UPDATE jit.audit SET details = $1 WHERE seq = $2",
                &[&details, &seq],
            )
            .unwrap();
    }
}

#[test]
fn the_team_store_conforms() {
    conformance::run(&|| Box::new(Team::new()));
}
