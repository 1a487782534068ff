use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    end_quietly_on_a_closed_pipe();
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

/// Rust ignores SIGPIPE, so a report printed into a pipe whose reader has
/// gone (`tf-strip inspect MODEL | head`) would panic in `println!`; a
/// command-line tool ends there quietly instead, as `cat` does.
#[cfg(unix)]
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: called first thing in main, before any other thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn end_quietly_on_a_closed_pipe() {}
