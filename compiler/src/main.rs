//! The `fwc` binary: see `fwc --help`.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = compiler::cli::Cli::parse();
    ExitCode::from(compiler::cli::run(cli))
}
