//! Placeholder: being written.

/// Entry point of the command-line tool.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}
