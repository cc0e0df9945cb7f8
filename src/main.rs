use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = syncwarden::cli::Cli::parse();
    match syncwarden::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
