fn main() -> std::process::ExitCode {
    cargo_meshinsight::main_impl()
}
