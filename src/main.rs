//! The `shannon` command-line tool; all of its logic lives in [`shannon::cli`].

fn main() -> std::process::ExitCode {
    shannon::cli::main()
}
