//! Fault injection for the crash-safety tests. In debug builds, `JIT_FAULT=<point>` makes
//! the process kill itself with SIGKILL at that point; release builds have no such points.

/// Die here if the test suite asked for it.
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("JIT_FAULT").is_ok_and(|wanted| wanted == name) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
