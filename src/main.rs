use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    let args = cli::parse();
    if let Err(e) = tf_strip::interrupt::remove_pending_on_interrupt() {
        eprintln!("tf-strip: warning: an interrupt may leave temporary files: {e}");
    }
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tf-strip: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
