use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    let args = cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tf-strip: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
