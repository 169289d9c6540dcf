//! The `poolsim` binary: parse arguments, call the library, map errors to exit codes.
//!
//! Nothing here may panic on a closed or full stdout/stderr: a broken pipe ends the
//! program quietly with success (the reader wanted no more, as with ripgrep), any
//! other write error ends it with one line and exit code 2.

use std::io::ErrorKind;
use std::process::ExitCode;

use clap::Parser;
use poolsim::app::{console, AppError};

fn main() -> ExitCode {
    let cli = match poolsim::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version are "errors" that print to stdout with exit code 0.
            return match error.print() {
                Err(e) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    console::err(&format!("error: cannot write to standard output: {e}\n"));
                    ExitCode::from(2)
                }
                Ok(()) => ExitCode::from(error.exit_code().clamp(0, 255) as u8),
            };
        }
    };
    match poolsim::app::run(cli) {
        Ok(code) => code,
        Err(AppError::Write(error)) if error.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            console::err(&format!("error: {error}\n"));
            ExitCode::from(2)
        }
    }
}
