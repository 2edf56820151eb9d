//! `rvirt`: the command-line client of rvirt. Offline commands (`validate`) work
//! without a daemon.

mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "rvirt",
    version,
    about = "Manage QEMU guests through rvirtd (libvirt-compatible)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check domain XML files offline; print problems as FILE:LINE:COL: message.
    Validate {
        /// Print the canonical XML (as `virsh dumpxml` would show it).
        #[arg(long)]
        canonical: bool,
        /// Domain XML files ("-" for standard input).
        #[arg(required = true)]
        files: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { canonical, files } => validate::run(&files, canonical),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rvirt: {e:#}");
            ExitCode::FAILURE
        }
    }
}
