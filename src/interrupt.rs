//! An interrupted run leaves nothing behind. The temporaries of `atomic`'s
//! writers and the folders a job created for its output are registered here
//! while they exist; on SIGINT or SIGTERM, the handler removes them and the
//! process then dies of the signal as if it had none, so the shell reports
//! 130 or 143 and a calling script stops as it would for any program.
//!
//! The handler runs on signal-hook's thread, not in signal context, so it may
//! lock and remove files. It keeps the registry locked until the process is
//! gone, and a writer renames its temporary into place under the same lock
//! (`Pending::settle`): an output is either complete before the handler
//! looks, or never appears.

use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// What a registered path is, so the handler removes it the right way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    TempFile,
    /// A temporary directory and all in it.
    TempDir,
    /// A folder made for an output: removed only while empty, so anything
    /// another program put there stays.
    CreatedDir,
}

struct Entry {
    id: u64,
    path: PathBuf,
    kind: Kind,
}

struct Registry {
    next_id: u64,
    entries: Vec<Entry>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { next_id: 0, entries: Vec::new() });

fn registry() -> MutexGuard<'static, Registry> {
    // A writer that panicked left the list consistent: every change is one push or retain.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A path removed if the process is interrupted, until this is dropped.
#[derive(Debug)]
pub(crate) struct Pending(u64);

impl Pending {
    /// Creates something (`create`) and registers its path in one step, so
    /// that no interrupt falls between the two.
    pub(crate) fn create<T>(
        kind: Kind,
        create: impl FnOnce() -> io::Result<T>,
        path: impl FnOnce(&T) -> PathBuf,
    ) -> io::Result<(T, Pending)> {
        let mut registry = registry();
        let made = create()?;
        let id = registry.next_id;
        registry.next_id += 1;
        registry.entries.push(Entry { id, path: path(&made), kind });
        Ok((made, Pending(id)))
    }

    /// Runs `settle` (the rename of a temporary into place) with the handler
    /// held off, then forgets the path.
    pub(crate) fn settle<T>(self, settle: impl FnOnce() -> T) -> T {
        let _held = registry();
        settle()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        registry().entries.retain(|e| e.id != self.0);
    }
}

/// Installs the handler: on SIGINT or SIGTERM, everything registered is
/// removed, newest first (a temporary before the folder made for it), and
/// the process dies of the signal. Called once, by a program's `main`: a
/// library user decides about its own signals.
pub fn remove_pending_on_interrupt() -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("interrupt".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let registry = registry();
            for entry in registry.entries.iter().rev() {
                // Best effort: the process is going either way.
                let _ = match entry.kind {
                    Kind::TempFile => std::fs::remove_file(&entry.path),
                    Kind::TempDir => std::fs::remove_dir_all(&entry.path),
                    Kind::CreatedDir => std::fs::remove_dir(&entry.path),
                };
            }
            // Never returns for these two signals: the default action ends the process.
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            drop(registry);
            std::process::exit(128 + signal);
        }
    })?;
    Ok(())
}

/// The paths registered now, for tests.
#[cfg(test)]
pub(crate) fn registered() -> Vec<PathBuf> {
    registry().entries.iter().map(|e| e.path.clone()).collect()
}
