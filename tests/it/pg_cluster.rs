//! A throwaway PostgreSQL cluster for the backend tests: initdb in a temporary directory,
//! loopback only, a free port, run as an unprivileged OS user when the suite runs as root,
//! and stopped when the test process ends (the server gets SIGINT, a fast shutdown, through
//! the kernel's parent-death signal).

use crate::harness::{free_port, server_dir};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "jit_admin";
pub const ADMIN_PASSWORD: &str = "admin-Secret-42";
pub const DATABASE: &str = "app";
pub const GROUP: &str = "app_rw";

pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
    bin: PathBuf,
    owner: Option<(String, u32, u32)>,
    server: Mutex<Option<Child>>,
}

/// The cluster shared by the tests of one run, started on first use.
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<&'static Cluster> = OnceLock::new();
    SHARED.get_or_init(|| {
        // The server must outlive the test thread that starts it (the parent-death signal
        // follows the spawning thread), so a thread that never ends starts it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let cluster: &'static Cluster = Box::leak(Box::new(Cluster::create()));
            cluster.start();
            cluster.setup();
            tx.send(cluster).unwrap();
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("the PostgreSQL cluster started")
    })
}

fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|dir| dir.join("initdb").exists());
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/test.sh, which installs it")
    })
}

impl Cluster {
    /// initdb a new cluster (not started).
    pub fn create() -> Cluster {
        let tmp = server_dir("jit-test-pg");
        let dir = tmp.path().to_path_buf();
        let owner = if nix::unistd::Uid::effective().is_root() {
            let user = ["postgres", "nobody"]
                .iter()
                .find_map(|name| nix::unistd::User::from_name(name).ok().flatten())
                .expect("an unprivileged user (postgres or nobody) to run PostgreSQL as");
            nix::unistd::chown(&dir, Some(user.uid), Some(user.gid)).unwrap();
            Some((user.name, user.uid.as_raw(), user.gid.as_raw()))
        } else {
            None
        };
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cluster = Cluster {
            port: free_port(),
            dir,
            _tmp: tmp,
            bin: bin_dir(),
            owner,
            server: Mutex::new(None),
        };
        let data = cluster.dir.join("data");
        let output = cluster
            .command("initdb")
            .args([
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // A certificate authority and a server certificate for 127.0.0.1 signed by it, so
        // that TLS can be proven too (the CA stays outside the data directory).
        let ca_key = cluster.dir.join("ca.key");
        let ca = cluster.certificate();
        let csr = cluster.dir.join("server.csr");
        let extensions = cluster.dir.join("server.ext");
        std::fs::write(
            &extensions,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        let openssl = |args: &[&std::ffi::OsStr]| {
            let output = Command::new("openssl").args(args).output().unwrap();
            assert!(
                output.status.success(),
                "openssl: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let os = |s: &str| std::ffi::OsString::from(s);
        openssl(&[
            &os("req"),
            &os("-x509"),
            &os("-newkey"),
            &os("rsa:2048"),
            &os("-nodes"),
            &os("-days"),
            &os("2"),
            &os("-subj"),
            &os("/CN=jit test CA"),
            &os("-keyout"),
            ca_key.as_os_str(),
            &os("-out"),
            ca.as_os_str(),
        ]);
        openssl(&[
            &os("req"),
            &os("-new"),
            &os("-newkey"),
            &os("rsa:2048"),
            &os("-nodes"),
            &os("-subj"),
            &os("/CN=127.0.0.1"),
            &os("-keyout"),
            data.join("server.key").as_os_str(),
            &os("-out"),
            csr.as_os_str(),
        ]);
        openssl(&[
            &os("x509"),
            &os("-req"),
            &os("-in"),
            csr.as_os_str(),
            &os("-CA"),
            ca.as_os_str(),
            &os("-CAkey"),
            ca_key.as_os_str(),
            &os("-CAcreateserial"),
            &os("-days"),
            &os("2"),
            &os("-extfile"),
            extensions.as_os_str(),
            &os("-out"),
            data.join("server.crt").as_os_str(),
        ]);
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        if let Some((_, uid, gid)) = &cluster.owner {
            for file in ["server.key", "server.crt"] {
                nix::unistd::chown(&data.join(file), Some((*uid).into()), Some((*gid).into()))
                    .unwrap();
            }
        }
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        cluster
    }

    /// A command for a PostgreSQL program, as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.owner {
            Some((_, uid, gid)) => {
                let mut command = Command::new("setpriv");
                command
                    .arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg("--pdeathsig=INT")
                    .arg(path);
                command
            }
            None => Command::new(path),
        }
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Start the server and wait until it accepts connections.
    pub fn start(&self) {
        let child = self
            .command("postgres")
            .args(["-D", self.dir.join("data").to_str().unwrap()])
            .args([
                "-p",
                &self.port.to_string(),
                "-k",
                self.socket_dir().to_str().unwrap(),
            ])
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=300",
            ])
            .args([
                "-c",
                "password_encryption=scram-sha-256",
                "-c",
                "logging_collector=off",
            ])
            .args([
                "-c",
                "ssl=on",
                "-c",
                "ssl_cert_file=server.crt",
                "-c",
                "ssl_key_file=server.key",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("server.log")).unwrap())
            .spawn()
            .unwrap();
        *self.server.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.superuser(None).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the server (fast shutdown) and wait for it to exit.
    pub fn stop(&self) {
        if let Some(mut child) = self.server.lock().unwrap().take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The superuser over the Unix socket (trust), for setup and for looking at the server.
    pub fn superuser(&self, database: Option<&str>) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::new()
            .host_path(self.socket_dir())
            .port(self.port)
            .user("postgres")
            .dbname(database.unwrap_or("postgres"))
            .connect(postgres::NoTls)
    }

    /// Log in over TCP with a password, as a user would.
    pub fn login(&self, user: &str, password: &str) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname(DATABASE)
            .connect_timeout(Duration::from_secs(10))
            .connect(postgres::NoTls)
    }

    /// A streaming replica of `primary` (`pg_basebackup -R`), started: a hot standby that
    /// takes logins and refuses writes until [`Cluster::promote`].
    pub fn replica_of(primary: &Cluster) -> Cluster {
        let hba = primary.dir.join("data").join("pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).unwrap();
        if !rules.contains("local replication all trust") {
            std::fs::write(&hba, format!("local replication all trust\n{rules}")).unwrap();
            primary
                .superuser(None)
                .unwrap()
                .batch_execute("SELECT pg_reload_conf()")
                .unwrap();
        }
        let replica = Cluster::create();
        let data = replica.dir.join("data");
        std::fs::remove_dir_all(&data).unwrap();
        // Reloading pg_hba.conf takes a moment: try again until the primary lets it in.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let output = replica
                .command("pg_basebackup")
                .args([
                    "-D",
                    data.to_str().unwrap(),
                    "-R",
                    "-X",
                    "stream",
                    "-U",
                    "postgres",
                ])
                // A checkpoint at once, not spread over minutes.
                .args(["--checkpoint", "fast"])
                .args(["-h", primary.socket_dir().to_str().unwrap()])
                .args(["-p", &primary.port.to_string()])
                .output()
                .unwrap();
            if output.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "pg_basebackup failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let _ = std::fs::remove_dir_all(&data);
            std::thread::sleep(Duration::from_millis(100));
        }
        replica.start();
        replica
    }

    /// Promote a replica to a primary, and wait until it takes writes.
    pub fn promote(&self) {
        self.superuser(None)
            .unwrap()
            .batch_execute("SELECT pg_promote(true, 60)")
            .unwrap();
    }

    pub fn setup(&self) {
        let mut su = self.superuser(None).unwrap();
        for statement in [
            format!("CREATE ROLE {ADMIN} LOGIN CREATEROLE PASSWORD '{ADMIN_PASSWORD}'"),
            format!("CREATE DATABASE {DATABASE}"),
            format!("CREATE ROLE {GROUP} NOLOGIN"),
            format!("GRANT CONNECT, TEMPORARY ON DATABASE {DATABASE} TO {ADMIN} WITH GRANT OPTION"),
        ] {
            su.batch_execute(&statement).unwrap();
        }
        let mut app = self.superuser(Some(DATABASE)).unwrap();
        app.batch_execute(&format!(
            "CREATE TABLE accounts (id int PRIMARY KEY, owner text);
             INSERT INTO accounts VALUES (1, 'alice'), (2, 'bob');
             GRANT SELECT, INSERT, UPDATE ON accounts TO {GROUP};
             GRANT USAGE, CREATE ON SCHEMA public TO {ADMIN} WITH GRANT OPTION;"
        ))
        .unwrap();
    }

    /// Does a role exist?
    pub fn role_exists(&self, name: &str) -> bool {
        self.superuser(None)
            .unwrap()
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
            .unwrap()
            .is_some()
    }

    /// Every role name, for proving that a refused request changed nothing.
    pub fn roles(&self) -> Vec<String> {
        self.superuser(None)
            .unwrap()
            .query("SELECT rolname FROM pg_roles ORDER BY 1", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// The server's certificate, to trust with `sslrootcert`.
    /// The certificate authority that signed the server's certificate.
    pub fn certificate(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// A target section for this cluster; the admin password comes from a 0600 file.
    pub fn target(&self, name: &str, world_dir: &Path) -> String {
        let secret = world_dir.join(format!("{name}.password"));
        std::fs::write(&secret, ADMIN_PASSWORD).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        format!(
            "[targets.{name}]\nbackend = \"postgres\"\nurl = \"postgres://{ADMIN}@127.0.0.1:{}/{DATABASE}?sslmode=disable\"\npassword = \"file:{}\"\nconnect_timeout = \"3s\"\n",
            self.port,
            secret.display()
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
