use std::process::ExitCode;

fn main() -> ExitCode {
    labforge::cli::main()
}
