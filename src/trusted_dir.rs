//! A directory jit may write into, opened so that nobody else can redirect what it writes.
//!
//! jit often writes with more rights than the owner of the place it writes to: as root into an
//! account's `~/.ssh`, as a service account into a directory named in its configuration. A
//! path is not safe to follow there: a link planted by whoever controls a directory on the way
//! sends the write (or the read, the chmod, the chown) somewhere else. So, as OpenSSH and sudo
//! do:
//! - the directory is opened by walking its path from `/`, one component at a time with
//!   `openat(O_NOFOLLOW|O_DIRECTORY)`; each component must be a real directory owned by root,
//!   by the account jit acts for, or by jit's own user, and writable by nobody else (a sticky
//!   directory such as `/tmp` may be passed through, but not written into). A link on the
//!   way is followed only when root or jit's own user made it (`/home -> /usr/home`);
//! - every file operation is relative to that descriptor: reads with `O_NOFOLLOW` and an
//!   `fstat` (a regular file with one link, owned as above, writable by nobody else), new
//!   files with `O_CREAT|O_EXCL|O_NOFOLLOW`, `fchmod`/`fchown` on the open file and a
//!   `renameat` inside the directory.
//!
//! Anything else is refused with [`Error::Untrusted`], naming the path and what is wrong.

use nix::errno::Errno;
use nix::fcntl::{AtFlags, Flock, FlockArg, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::unistd::{Gid, Uid, UnlinkatFlags};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// Why a path cannot be used.
#[derive(Debug)]
pub enum Error {
    /// The path is not what it claims to be: a link, someone else's, writable by others.
    Untrusted { path: PathBuf, why: String },
    /// The directory (or a directory on the way) does not exist.
    Missing { path: PathBuf },
    /// An ordinary I/O failure.
    Io {
        what: &'static str,
        path: PathBuf,
        err: Errno,
    },
}

impl Error {
    pub fn is_untrusted(&self) -> bool {
        matches!(self, Error::Untrusted { .. })
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, Error::Missing { .. })
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Untrusted { path, why } => write!(f, "refusing {}: {why}", path.display()),
            Error::Missing { path } => write!(f, "{} does not exist", path.display()),
            Error::Io { what, path, err } => write!(f, "{what} {}: {}", path.display(), err.desc()),
        }
    }
}

impl std::error::Error for Error {}

fn untrusted(path: &Path, why: impl Into<String>) -> Error {
    Error::Untrusted {
        path: path.to_owned(),
        why: why.into(),
    }
}

fn name_of(uid: u32) -> String {
    match nix::unistd::User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}

/// How [`TrustedDir::walk`] makes what is missing.
struct Create {
    mode: Mode,
    /// Every missing component, or only the last.
    all: bool,
    /// Hand the last one, when made, to this user and group.
    chown: Option<(Uid, Gid)>,
}

/// The names in `path`, without `/` and `.`.
fn names(path: &Path) -> impl Iterator<Item = std::ffi::OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.to_owned()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    })
}

/// A directory opened without following links, whose every component was checked.
#[derive(Debug)]
pub struct TrustedDir {
    fd: OwnedFd,
    path: PathBuf,
    /// Who may own what jit reads or replaces here: root, jit's own user, and `owner`.
    trusted: Vec<u32>,
}

/// Flags of every open: never follow a link, never block on a FIFO, never leak to a child.
fn base_flags() -> OFlag {
    OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC
}

impl TrustedDir {
    /// Open `path`, a directory that root, jit's own user or `owner` owns, walking it from
    /// `/` without following any link.
    pub fn open(path: &Path, owner: Uid) -> Result<TrustedDir, Error> {
        TrustedDir::walk(path, owner, None)
    }

    /// Open `path`, a directory of jit's own user (or root), creating the components that are
    /// missing (mode `mode`) on the way, as `mkdir -p` would but without following a link.
    pub fn create_all(path: &Path, mode: u32) -> Result<TrustedDir, Error> {
        let create = Create {
            mode: Mode::from_bits_truncate(mode),
            all: true,
            chown: None,
        };
        TrustedDir::walk(path, Uid::effective(), Some(create))
    }

    /// Open `path`, creating its last component (mode `mode`, then handed to `chown` when jit
    /// runs as root) if it is missing.
    pub fn open_or_create(
        path: &Path,
        owner: Uid,
        mode: u32,
        chown: Option<(Uid, Gid)>,
    ) -> Result<TrustedDir, Error> {
        let create = Create {
            mode: Mode::from_bits_truncate(mode),
            all: false,
            chown: chown.filter(|_| Uid::effective().is_root()),
        };
        TrustedDir::walk(path, owner, Some(create))
    }

    /// Walk `path` from `/`, one component at a time. A symbolic link on the way is followed
    /// only when root or jit's own user made it (it is then as trusted as the directory
    /// holding it), at most 40 times; one the account made is refused.
    fn walk(path: &Path, owner: Uid, create: Option<Create>) -> Result<TrustedDir, Error> {
        let absolute = absolute(path)?;
        let mut trusted = vec![0, Uid::effective().as_raw(), owner.as_raw()];
        trusted.sort_unstable();
        trusted.dedup();
        let root = TrustedDir::root(trusted)?;
        // The directories walked so far, for `..` in a link's target.
        let mut stack: Vec<TrustedDir> = Vec::new();
        let mut dir = root.reopen()?;
        let mut pending: std::collections::VecDeque<std::ffi::OsString> =
            names(&absolute).collect();
        if absolute.components().any(|c| c == Component::ParentDir) {
            return Err(untrusted(&absolute, "the path goes up with `..`"));
        }
        let mut opened_last = false;
        let mut hops = 0;
        while let Some(name) = pending.pop_front() {
            let last = pending.is_empty();
            let name = Path::new(&name);
            if name == Path::new("..") {
                dir = stack.pop().map_or_else(|| root.reopen(), Ok)?;
                opened_last = false;
                continue;
            }
            let next = match dir.child(name, last) {
                Err(Error::Missing { .. })
                    if create.as_ref().is_some_and(|create| create.all || last) =>
                {
                    let create = create.as_ref().expect("checked above");
                    dir.make(name, create.mode, create.chown.filter(|_| last))?;
                    dir.child(name, last)
                }
                Err(Error::Untrusted { path, why }) => match dir.trusted_link(name)? {
                    Some(target) => {
                        hops += 1;
                        if hops > 40 {
                            return Err(untrusted(&path, "too many symbolic links"));
                        }
                        if target.is_absolute() {
                            stack.clear();
                            dir = root.reopen()?;
                        }
                        for name in names(&target).collect::<Vec<_>>().into_iter().rev() {
                            pending.push_front(name);
                        }
                        opened_last = false;
                        continue;
                    }
                    None => Err(Error::Untrusted { path, why }),
                },
                other => other,
            }?;
            stack.push(std::mem::replace(&mut dir, next));
            opened_last = last;
        }
        // The final directory is opened for reading (fsync needs it) and checked as such.
        if !opened_last {
            dir = dir.reopen()?;
            dir.check(&dir.stat()?, true)?;
        }
        Ok(dir)
    }

    /// `/`, which root owns.
    fn root(trusted: Vec<u32>) -> Result<TrustedDir, Error> {
        let root = Path::new("/");
        let fd = nix::fcntl::open(
            root,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | base_flags(),
            Mode::empty(),
        )
        .map_err(|err| Error::Io {
            what: "opening",
            path: root.to_owned(),
            err,
        })?;
        Ok(TrustedDir {
            fd,
            path: root.to_owned(),
            trusted,
        })
    }

    /// The same directory again, opened for reading.
    fn reopen(&self) -> Result<TrustedDir, Error> {
        let fd = nix::fcntl::openat(
            &self.fd,
            ".",
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | base_flags(),
            Mode::empty(),
        )
        .map_err(|err| self.io("opening", Path::new(""), err))?;
        Ok(TrustedDir {
            fd,
            path: self.path.clone(),
            trusted: self.trusted.clone(),
        })
    }

    /// Make the directory `name` here, handed to `chown` if given.
    fn make(&self, name: &Path, mode: Mode, chown: Option<(Uid, Gid)>) -> Result<(), Error> {
        match nix::sys::stat::mkdirat(&self.fd, name, mode) {
            Ok(()) => {}
            Err(Errno::EEXIST) => return Ok(()),
            Err(err) => return Err(self.io("creating", name, err)),
        }
        if let Some((uid, gid)) = chown {
            let made = nix::fcntl::openat(
                &self.fd,
                name,
                OFlag::O_DIRECTORY | OFlag::O_RDONLY | base_flags(),
                Mode::empty(),
            )
            .map_err(|err| self.io("opening", name, err))?;
            nix::unistd::fchown(&made, Some(uid), Some(gid))
                .map_err(|err| self.io("handing over", name, err))?;
        }
        Ok(())
    }

    /// The target of the link `name` here, when root or jit's own user owns the link (never
    /// the account jit acts for, unless that is jit's own user).
    fn trusted_link(&self, name: &Path) -> Result<Option<PathBuf>, Error> {
        let Ok(stat) = nix::sys::stat::fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
            return Ok(None);
        };
        let is_link = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK;
        let by_us = stat.st_uid == 0 || stat.st_uid == Uid::effective().as_raw();
        if !is_link || !by_us {
            return Ok(None);
        }
        nix::fcntl::readlinkat(&self.fd, name)
            .map(|target| Some(PathBuf::from(target)))
            .map_err(|err| self.io("reading the link", name, err))
    }

    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, what: &'static str, name: &Path, err: Errno) -> Error {
        Error::Io {
            what,
            path: self.path.join(name),
            err,
        }
    }

    fn stat(&self) -> Result<FileStat, Error> {
        nix::sys::stat::fstat(&self.fd).map_err(|err| self.io("reading", Path::new(""), err))
    }

    /// One step down: `name` must be a real directory, trusted; the last one (`last`) must be
    /// writable by nobody but its owner.
    fn child(&self, name: &Path, last: bool) -> Result<TrustedDir, Error> {
        let path = self.path.join(name);
        // A directory on the way is only passed through (O_PATH: search permission is enough,
        // as for a path); the last one is opened for reading, which fsync needs.
        let access = if last { OFlag::O_RDONLY } else { OFlag::O_PATH };
        let fd = match nix::fcntl::openat(
            &self.fd,
            name,
            OFlag::O_DIRECTORY | access | base_flags(),
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Err(Error::Missing { path }),
            Err(err @ (Errno::ELOOP | Errno::ENOTDIR)) => {
                return Err(match self.kind_of(name) {
                    Some(SFlag::S_IFLNK) => untrusted(&path, "it is a symbolic link"),
                    Some(_) => untrusted(&path, "it is not a directory"),
                    None => self.io("opening", name, err),
                });
            }
            Err(err) => return Err(self.io("opening", name, err)),
        };
        let dir = TrustedDir {
            fd,
            path,
            trusted: self.trusted.clone(),
        };
        dir.check(&dir.stat()?, last)?;
        Ok(dir)
    }

    fn kind_of(&self, name: &Path) -> Option<SFlag> {
        nix::sys::stat::fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .ok()
            .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT)
    }

    /// A directory's owner and mode: owned by a trusted account; writable by nobody else,
    /// except a sticky directory passed through on the way.
    fn check(&self, stat: &FileStat, last: bool) -> Result<(), Error> {
        self.check_owner(&self.path, stat)?;
        let open_to_others = stat.st_mode & 0o022 != 0;
        let sticky = stat.st_mode & 0o1000 != 0;
        if open_to_others && (last || !sticky) {
            return Err(untrusted(
                &self.path,
                format!(
                    "it is writable by group or others (mode {:04o})",
                    stat.st_mode & 0o7777
                ),
            ));
        }
        Ok(())
    }

    fn check_owner(&self, path: &Path, stat: &FileStat) -> Result<(), Error> {
        if self.trusted.contains(&stat.st_uid) {
            return Ok(());
        }
        let expected: Vec<String> = self.trusted.iter().map(|uid| name_of(*uid)).collect();
        Err(untrusted(
            path,
            format!(
                "it is owned by {}, not by {}",
                name_of(stat.st_uid),
                expected.join(" or ")
            ),
        ))
    }

    /// A file in this directory must be a regular file with one link, owned by a trusted
    /// account and writable by nobody else.
    fn check_file(&self, name: &str, stat: &FileStat) -> Result<(), Error> {
        let path = self.path.join(name);
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(untrusted(&path, "it is not a regular file"));
        }
        if stat.st_nlink != 1 {
            return Err(untrusted(
                &path,
                format!("it has {} hard links", stat.st_nlink),
            ));
        }
        self.check_owner(&path, stat)?;
        if stat.st_mode & 0o022 != 0 {
            return Err(untrusted(
                &path,
                format!(
                    "it is writable by group or others (mode {:04o})",
                    stat.st_mode & 0o7777
                ),
            ));
        }
        Ok(())
    }

    fn open_file(&self, name: &str, flags: OFlag, mode: u32) -> Result<Option<File>, Error> {
        match nix::fcntl::openat(
            &self.fd,
            name,
            flags | base_flags(),
            Mode::from_bits_truncate(mode),
        ) {
            Ok(fd) => Ok(Some(File::from(fd))),
            Err(Errno::ENOENT) => Ok(None),
            Err(Errno::ELOOP | Errno::EEXIST)
                if self.kind_of(Path::new(name)) == Some(SFlag::S_IFLNK) =>
            {
                Err(untrusted(&self.path.join(name), "it is a symbolic link"))
            }
            Err(Errno::EEXIST) => Err(untrusted(
                &self.path.join(name),
                "it already exists (jit creates its temporary files new)",
            )),
            Err(err) => Err(self.io("opening", Path::new(name), err)),
        }
    }

    /// The contents of `name`, or `None` when there is no such file.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let Some(mut file) = self.open_file(name, OFlag::O_RDONLY, 0)? else {
            return Ok(None);
        };
        let stat = nix::sys::stat::fstat(file.as_fd())
            .map_err(|err| self.io("reading", Path::new(name), err))?;
        self.check_file(name, &stat)?;
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut body).map_err(|err| {
            self.io(
                "reading",
                Path::new(name),
                Errno::from_raw(err.raw_os_error().unwrap_or(0)),
            )
        })?;
        Ok(Some(body))
    }

    /// Is there an entry called `name` (of any kind, links included)?
    pub fn contains(&self, name: &str) -> bool {
        self.kind_of(Path::new(name)).is_some()
    }

    /// Hold an exclusive lock on `name` (created 0600 if missing) until the guard is dropped.
    pub fn lock(&self, name: &str) -> Result<Flock<File>, Error> {
        let file = self
            .open_file(name, OFlag::O_WRONLY | OFlag::O_CREAT, 0o600)?
            .ok_or_else(|| self.io("opening", Path::new(name), Errno::ENOENT))?;
        let stat = nix::sys::stat::fstat(file.as_fd())
            .map_err(|err| self.io("opening", Path::new(name), err))?;
        self.check_file(name, &stat)?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, err)| self.io("locking", Path::new(name), err))
    }

    /// A new file that will replace `name`: created beside it as `NAME.tmp.PID`, never
    /// through a link. A leftover of an earlier jit (a regular file of jit's own user) is
    /// removed first; anything else at that name is refused.
    pub fn new_file(&self, name: &str) -> Result<NewFile<'_>, Error> {
        let tmp = format!("{name}.tmp.{}", std::process::id());
        if let Ok(stat) =
            nix::sys::stat::fstatat(&self.fd, tmp.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
        {
            let regular = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
            if regular && stat.st_nlink == 1 && stat.st_uid == Uid::effective().as_raw() {
                let _ = nix::unistd::unlinkat(&self.fd, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
            }
        }
        let file = self
            .open_file(
                &tmp,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                0o600,
            )?
            .ok_or_else(|| self.io("creating", Path::new(&tmp), Errno::ENOENT))?;
        Ok(NewFile {
            dir: self,
            tmp,
            file,
            installed: false,
        })
    }

    /// Replace `name` with `body` (mode `mode`, handed to `owner` when jit runs as root),
    /// atomically: readers see the old file or the new one, whole.
    pub fn replace(
        &self,
        name: &str,
        body: &[u8],
        mode: u32,
        owner: Option<(Uid, Gid)>,
    ) -> Result<(), Error> {
        let mut new = self.new_file(name)?;
        new.write_all(body)?;
        new.install(name, mode, owner)
    }

    /// Remove `name` (never what a link points to); `false` when it was not there.
    pub fn remove(&self, name: &str) -> Result<bool, Error> {
        match nix::unistd::unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) => {
                self.sync()?;
                Ok(true)
            }
            Err(Errno::ENOENT) => Ok(false),
            Err(err) => Err(self.io("removing", Path::new(name), err)),
        }
    }

    /// Remove the temporary files that [`TrustedDir::new_file`] made for `name` and a killed
    /// process left behind (`NAME.tmp.PID`, regular files of jit's own user); how many.
    pub fn remove_leftovers(&self, name: &str) -> Result<usize, Error> {
        let prefix = format!("{name}.tmp.");
        let leftovers = self.names()?.into_iter().filter(|file| {
            let pid = file.strip_prefix(&prefix).unwrap_or_default();
            !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
        });
        let mut removed = 0;
        for file in leftovers {
            let Ok(stat) =
                nix::sys::stat::fstatat(&self.fd, file.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            else {
                continue;
            };
            let regular = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
            if regular && stat.st_uid == Uid::effective().as_raw() && self.remove(&file)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The names of the entries here (of any kind; `.` and `..` left out, as are names
    /// that are not UTF-8).
    pub fn names(&self) -> Result<Vec<String>, Error> {
        let listing = nix::dir::Dir::openat(
            &self.fd,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | base_flags(),
            Mode::empty(),
        )
        .map_err(|err| self.io("listing", Path::new(""), err))?;
        let mut names = Vec::new();
        for entry in listing {
            let entry = entry.map_err(|err| self.io("listing", Path::new(""), err))?;
            if let Ok(name) = entry.file_name().to_str()
                && name != "."
                && name != ".."
            {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    fn sync(&self) -> Result<(), Error> {
        nix::unistd::fsync(&self.fd).map_err(|err| self.io("syncing", Path::new(""), err))
    }
}

/// A temporary file in a [`TrustedDir`], removed unless it is installed.
pub struct NewFile<'d> {
    dir: &'d TrustedDir,
    tmp: String,
    file: File,
    installed: bool,
}

impl NewFile<'_> {
    /// Its path, for a program that must read it (the directory is trusted, so the path
    /// stays what it is).
    pub fn path(&self) -> PathBuf {
        self.dir.path.join(&self.tmp)
    }

    pub fn write_all(&mut self, body: &[u8]) -> Result<(), Error> {
        self.file
            .write_all(body)
            .and_then(|()| self.file.sync_all())
            .map_err(|err| {
                self.dir.io(
                    "writing",
                    Path::new(&self.tmp),
                    Errno::from_raw(err.raw_os_error().unwrap_or(0)),
                )
            })
    }

    /// Set its mode and owner on the open file, then rename it to `name` in the directory.
    pub fn install(
        mut self,
        name: &str,
        mode: u32,
        owner: Option<(Uid, Gid)>,
    ) -> Result<(), Error> {
        let tmp = Path::new(&self.tmp).to_owned();
        nix::sys::stat::fchmod(self.file.as_fd(), Mode::from_bits_truncate(mode))
            .map_err(|err| self.dir.io("setting the mode of", &tmp, err))?;
        if let Some((uid, gid)) = owner.filter(|_| Uid::effective().is_root()) {
            nix::unistd::fchown(self.file.as_fd(), Some(uid), Some(gid))
                .map_err(|err| self.dir.io("handing over", &tmp, err))?;
        }
        nix::fcntl::renameat(&self.dir.fd, self.tmp.as_str(), &self.dir.fd, name)
            .map_err(|err| self.dir.io("renaming", &tmp, err))?;
        self.installed = true;
        self.dir.sync()
    }
}

impl Drop for NewFile<'_> {
    fn drop(&mut self) {
        if !self.installed {
            let _ =
                nix::unistd::unlinkat(&self.dir.fd, self.tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// `path` from `/`: relative paths are taken from the working directory.
fn absolute(path: &Path) -> Result<PathBuf, Error> {
    if path.is_absolute() {
        return Ok(path.to_owned());
    }
    let cwd = std::env::current_dir().map_err(|err| Error::Io {
        what: "reading the working directory for",
        path: path.to_owned(),
        err: Errno::from_raw(err.raw_os_error().unwrap_or(0)),
    })?;
    Ok(cwd.join(path))
}

/// Split `path` into its directory and file name.
pub fn split(path: &Path) -> Result<(&Path, &str), Error> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| untrusted(path, "it names no file"))?;
    Ok((dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn me() -> Uid {
        Uid::effective()
    }

    #[test]
    fn a_sticky_directory_is_passed_through_but_not_written_into() {
        let base = tempfile::tempdir().unwrap();
        let sticky = base.path().join("sticky");
        std::fs::create_dir(&sticky).unwrap();
        std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let inner = sticky.join("inner");
        std::fs::create_dir(&inner).unwrap();
        assert!(TrustedDir::open(&inner, me()).is_ok());
        let refused = TrustedDir::open(&sticky, me()).unwrap_err();
        assert_eq!(
            refused.to_string(),
            format!(
                "refusing {}: it is writable by group or others (mode 1777)",
                sticky.display()
            )
        );
    }

    #[test]
    fn links_and_parent_steps_are_refused_and_a_missing_directory_is_named() {
        let base = tempfile::tempdir().unwrap();
        let real = base.path().join("real");
        std::fs::create_dir(&real).unwrap();
        // A link jit's own user made is followed (one another account made is not: that
        // needs a second account, see tests/it/links.rs), `..` in its target too.
        let link = base.path().join("link");
        std::os::unix::fs::symlink("real/../real", &link).unwrap();
        std::fs::create_dir(real.join("below")).unwrap();
        assert_eq!(
            TrustedDir::open(&link.join("below"), me()).unwrap().path(),
            real.join("below")
        );
        let looping = base.path().join("loop");
        std::os::unix::fs::symlink("loop", &looping).unwrap();
        assert_eq!(
            TrustedDir::open(&looping, me()).unwrap_err().to_string(),
            format!("refusing {}: too many symbolic links", looping.display())
        );
        assert!(
            TrustedDir::open(&real.join("../real"), me())
                .unwrap_err()
                .is_untrusted()
        );
        let missing = real.join("missing");
        assert!(TrustedDir::open(&missing, me()).unwrap_err().is_missing());
        let made = TrustedDir::open_or_create(&missing, me(), 0o700, None).unwrap();
        assert_eq!(made.path(), missing);
        let deep = real.join("a/b/c");
        assert_eq!(TrustedDir::create_all(&deep, 0o700).unwrap().path(), deep);
        // Nor through a FIFO or a file where a directory should be.
        nix::unistd::mkfifo(&real.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(
            TrustedDir::create_all(&real.join("fifo/x"), 0o700)
                .unwrap_err()
                .to_string(),
            format!(
                "refusing {}: it is not a directory",
                real.join("fifo").display()
            )
        );
    }

    #[test]
    fn a_temporary_name_taken_by_a_link_is_refused_and_a_leftover_replaced() {
        let base = tempfile::tempdir().unwrap();
        let dir = TrustedDir::open(base.path(), me()).unwrap();
        let tmp = format!("file.tmp.{}", std::process::id());
        // A leftover of an earlier process with this pid: jit's own, removed.
        std::fs::write(base.path().join(&tmp), "stale").unwrap();
        dir.replace("file", b"new\n", 0o640, None).unwrap();
        assert_eq!(std::fs::read(base.path().join("file")).unwrap(), b"new\n");
        assert_eq!(dir.read("file").unwrap().unwrap(), b"new\n");
        assert!(!base.path().join(&tmp).exists());
        // A link there is not followed.
        let target = base.path().join("target");
        std::os::unix::fs::symlink(&target, base.path().join(&tmp)).unwrap();
        let refused = dir.replace("file", b"newer\n", 0o640, None).unwrap_err();
        assert!(refused.is_untrusted(), "{refused}");
        assert!(!target.exists());
        assert_eq!(std::fs::read(base.path().join("file")).unwrap(), b"new\n");
        // Nor is a link read.
        std::os::unix::fs::symlink(base.path().join("file"), base.path().join("alias")).unwrap();
        assert!(dir.read("alias").unwrap_err().is_untrusted());
    }
}
