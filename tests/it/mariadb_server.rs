//! A throwaway MariaDB for the mysql backend tests: mariadb-install-db in a temporary
//! directory, loopback, a free port, the event scheduler on; stopped when the test process
//! ends (parent-death signal) or when dropped.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "jit_admin";
pub const ADMIN_PASSWORD: &str = "admin-Secret-42";

pub struct Mariadb {
    pub port: u16,
    dir: tempfile::TempDir,
    server: Mutex<Option<Child>>,
}

pub fn shared() -> &'static Mariadb {
    static SHARED: OnceLock<&'static Mariadb> = OnceLock::new();
    SHARED.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let server: &'static Mariadb = Box::leak(Box::new(Mariadb::create()));
            server.start();
            server.setup();
            tx.send(server).unwrap();
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("MariaDB started")
    })
}

impl Mariadb {
    pub fn create() -> Mariadb {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = nix::unistd::Uid::effective().is_root();
        if root {
            let mysql = nix::unistd::User::from_name("mysql")
                .ok()
                .flatten()
                .expect("a mysql account (mariadb-server makes it)");
            nix::unistd::chown(dir.path(), Some(mysql.uid), Some(mysql.gid)).unwrap();
        }
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if root {
            install.arg("--user=mysql");
        }
        let output = install
            .output()
            .expect("mariadb-install-db is installed (scripts/test.sh installs mariadb-server)");
        assert!(
            output.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Mariadb {
            port,
            dir,
            server: Mutex::new(None),
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    pub fn start(&self) {
        let mut command = Command::new("setpriv");
        command
            .arg("--pdeathsig=TERM")
            .arg("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .arg(format!(
                "--datadir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("mysqld.pid").display()
            ))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--event-scheduler=ON",
                "--skip-log-bin",
            ])
            .args(["--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M"]);
        if nix::unistd::Uid::effective().is_root() {
            command.arg("--user=mysql");
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("server.log")).unwrap())
            .spawn()
            .unwrap();
        *self.server.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.root().is_err() {
            assert!(
                Instant::now() < deadline,
                "MariaDB did not start: {}",
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop(&self) {
        if let Some(mut child) = self.server.lock().unwrap().take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
        }
    }

    /// root over the socket, for setup and for looking at the server.
    pub fn root(&self) -> Result<mysql::Conn, mysql::Error> {
        let opts = mysql::OptsBuilder::new()
            .socket(Some(self.socket().to_string_lossy().into_owned()))
            .user(Some("root"));
        mysql::Conn::new(opts)
    }

    /// Log in over TCP with a password, as a user would.
    pub fn login(&self, user: &str, password: &str) -> Result<mysql::Conn, mysql::Error> {
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.port)
            .user(Some(user))
            .pass(Some(password))
            .db_name(Some("app"));
        mysql::Conn::new(opts)
    }

    pub fn setup(&self) {
        use mysql::prelude::Queryable;
        let mut root = self.root().unwrap();
        for statement in [
            "DROP USER IF EXISTS ''@'localhost'".to_owned(),
            format!("CREATE USER {ADMIN}@'127.0.0.1' IDENTIFIED BY '{ADMIN_PASSWORD}'"),
            format!("GRANT ALL PRIVILEGES ON *.* TO {ADMIN}@'127.0.0.1' WITH GRANT OPTION"),
            "CREATE DATABASE app".to_owned(),
            "CREATE TABLE app.accounts (id INT PRIMARY KEY, owner VARCHAR(20))".to_owned(),
            "INSERT INTO app.accounts VALUES (1, 'alice'), (2, 'bob')".to_owned(),
            "CREATE ROLE app_rw".to_owned(),
            "GRANT SELECT, INSERT ON app.* TO app_rw".to_owned(),
            format!("GRANT app_rw TO {ADMIN}@'127.0.0.1' WITH ADMIN OPTION"),
        ] {
            root.query_drop(statement).unwrap();
        }
    }

    pub fn user_exists(&self, user: &str) -> bool {
        use mysql::prelude::Queryable;
        let found: Option<u8> = self
            .root()
            .unwrap()
            .exec_first("SELECT 1 FROM mysql.user WHERE User = ?", (user,))
            .unwrap();
        found.is_some()
    }

    pub fn target(&self, name: &str, world: &std::path::Path) -> String {
        let secret = world.join(format!("{name}.password"));
        std::fs::write(&secret, ADMIN_PASSWORD).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        format!(
            "[targets.{name}]\nbackend = \"mysql\"\nurl = \"mysql://{ADMIN}@127.0.0.1:{}/app\"\npassword = \"file:{}\"\nconnect_timeout = \"3s\"\n",
            self.port,
            secret.display()
        )
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        self.stop();
    }
}
