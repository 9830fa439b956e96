fn main() -> std::process::ExitCode {
    jit::run(std::env::args_os())
}
