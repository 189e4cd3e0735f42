fn main() -> std::process::ExitCode {
    scimitar::cli::main()
}
