//! A throwaway OpenSSH server for the ssh backend tests: its own host key, a certificate
//! authority it trusts (`TrustedUserCAKeys`), the revocation list jit writes (`RevokedKeys`),
//! loopback and a free port. Stopped when dropped.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    pub port: u16,
    pub dir: tempfile::TempDir,
    server: Child,
}

fn keygen(path: &Path, comment: &str) {
    let output = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Sshd {
    pub fn start() -> Sshd {
        Sshd::start_with("none")
    }

    /// With `AuthorizedKeysFile` set to `authorized_keys` (`%d` for the server's directory).
    pub fn start_with(authorized_keys: &str) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = |name: &str| dir.path().join(name);
        keygen(&path("host_key"), "host");
        keygen(&path("ca"), "jit test ca");
        keygen(&path("user"), "user@test");
        // sshd refuses every key while RevokedKeys is unreadable: start with an empty list.
        std::fs::write(path("revoked.krl"), "").unwrap();
        std::fs::create_dir_all("/run/sshd").ok();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            path("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\n\
                 TrustedUserCAKeys {ca}.pub\nRevokedKeys {krl}\nAuthorizedKeysFile {keys}\n\
                 PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nPermitRootLogin prohibit-password\nStrictModes no\nLogLevel VERBOSE\n",
                host = path("host_key").display(),
                pid = path("sshd.pid").display(),
                ca = path("ca").display(),
                krl = path("revoked.krl").display(),
                keys = authorized_keys.replace("%d", &dir.path().to_string_lossy()),
            ),
        )
        .unwrap();
        let server = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(path("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(path("sshd.log")).unwrap())
            .spawn()
            .expect("sshd is installed (scripts/test.sh installs openssh-server)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                std::fs::read_to_string(path("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd { port, dir, server }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Log in as `user` with the test key and `certificate`, in batch mode, and run `true`.
    pub fn login(&self, user: &str, certificate: &Path) -> Output {
        self.ssh(user, Some(certificate))
    }

    /// Log in as `user` with the test key alone (authorized_keys).
    pub fn login_with_key(&self, user: &str) -> Output {
        self.ssh(user, None)
    }

    fn ssh(&self, user: &str, certificate: Option<&Path>) -> Output {
        let certificate =
            certificate.map_or_else(|| "none".to_owned(), |c| c.display().to_string());
        Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
            ])
            .args([
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "LogLevel=ERROR",
            ])
            .arg("-o")
            .arg(format!("CertificateFile={certificate}"))
            .arg("-i")
            .arg(self.path("user"))
            .args(["-p", &self.port.to_string()])
            .arg(format!("{user}@127.0.0.1"))
            .arg("true")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
