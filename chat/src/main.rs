//! The `sotto` binary: parses the command line and runs it (the work lives in
//! the `sotto_chat` library).

use std::process::ExitCode;

use clap::Parser;
use sotto_chat::app::{self, error::EXIT_FAILURE};
use sotto_chat::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sotto: cannot start: {e}");
            return ExitCode::from(EXIT_FAILURE as u8);
        }
    };
    match runtime.block_on(app::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(app::AppError::OutputClosed) => ExitCode::from(EXIT_FAILURE as u8),
        // Run by the process holding the home, which said all there is.
        Err(app::AppError::Relayed(code)) => ExitCode::from(code),
        Err(e) => {
            eprintln!("sotto: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
