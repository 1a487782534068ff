//! Outputs appear whole or not at all: they are written to a temporary file in
//! the destination's folder (so the rename cannot cross filesystems) and
//! renamed when complete. A failure drops the temporary file.
//!
//! The file gets the mode any program's new file gets (0666 less the umask),
//! or, when it replaces a file, that file's mode: a model written here must
//! be readable by whoever serves it, not only by us as a 0600 temporary file.
//!
//! A directory output (a SavedModel) is built the same way: in a temporary
//! directory beside the destination, renamed into place when complete.
//!
//! Temporaries, and the folders a job creates for its output (`CreatedDirs`),
//! are registered with `interrupt` while they exist, so SIGINT or SIGTERM
//! removes them too.
//!
//! fsync policy, for every output: none. Like TensorFlow's own writers, the
//! guarantee is against failed or interrupted runs, not power loss, and an
//! fsync of a 400 MB graph would cost more than the whole strip.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::{NamedTempFile, TempDir};

use crate::interrupt::{Kind, Pending};

pub struct AtomicFile {
    // Dropped (the file removed) before `pending` lets the handler forget it.
    tmp: BufWriter<NamedTempFile>,
    pending: Pending,
    dest: PathBuf,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> io::Result<Self> {
        let (dir, prefix) = beside(dest, "");
        let (tmp, pending) = Pending::create(Kind::TempFile, || builder(&prefix, 0o666).tempfile_in(dir), |t| {
            t.path().to_path_buf()
        })?;
        Ok(AtomicFile { tmp: BufWriter::with_capacity(1 << 20, tmp), pending, dest: dest.to_path_buf() })
    }

    /// The temporary file itself, for writers that size and map it; what was
    /// written through `Write` is flushed to it first.
    pub fn file(&mut self) -> io::Result<&File> {
        self.tmp.flush()?;
        Ok(self.tmp.get_ref().as_file())
    }

    pub fn commit(self) -> io::Result<()> {
        let AtomicFile { tmp, pending, dest } = self;
        let tmp = tmp.into_inner().map_err(|e| e.into_error())?;
        if let Ok(existing) = std::fs::metadata(&dest) {
            tmp.as_file().set_permissions(existing.permissions())?;
        }
        pending.settle(|| tmp.persist(&dest).map(drop).map_err(|e| e.error))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.tmp.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// Where a temporary for `dest` goes and its name's prefix: `.NAME.INFIX`,
/// hidden, in `dest`'s folder so that the rename stays on one filesystem.
fn beside(dest: &Path, infix: &str) -> (PathBuf, String) {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    (dir, format!(".{name}.{infix}"))
}

fn builder(prefix: &str, mode: u32) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Passed to open(2) / mkdir(2), so the kernel applies the umask as for any new file.
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder
}

/// A directory that appears whole or not at all: filled under a temporary
/// name beside `dest`, then renamed to it. A failure before `commit` removes
/// the temporary directory and leaves `dest` as it was.
pub struct AtomicDir {
    tmp: TempDir,
    pending: Pending,
    dest: PathBuf,
}

impl AtomicDir {
    /// A new empty directory (mode 0777 less the umask) to fill.
    pub fn create(dest: &Path) -> io::Result<Self> {
        let (dir, prefix) = beside(dest, "");
        let (tmp, pending) =
            Pending::create(Kind::TempDir, || builder(&prefix, 0o777).tempdir_in(dir), |t| t.path().to_path_buf())?;
        Ok(AtomicDir { tmp, pending, dest: dest.to_path_buf() })
    }

    /// Where to write the directory's contents.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Renames the directory into place. A directory already at `dest` (the
    /// caller decided it may go) is first moved aside and removed after the
    /// rename, so `dest` is never a mix of old and new files; if the rename
    /// fails, the old directory is put back. An interrupt waits until this is
    /// done: it would otherwise find the old directory moved aside and the
    /// new one not yet in place.
    pub fn commit(self) -> io::Result<()> {
        let AtomicDir { tmp, pending, dest } = self;
        pending.settle(|| replace(tmp, &dest))
    }
}

fn replace(tmp: TempDir, dest: &Path) -> io::Result<()> {
    let existing = std::fs::symlink_metadata(dest).ok();
    let Some(existing) = existing else {
        return std::fs::rename(tmp.keep(), dest);
    };
    if !existing.is_dir() {
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a directory"));
    }
    std::fs::set_permissions(tmp.path(), existing.permissions())?;
    let (dir, prefix) = beside(dest, "old.");
    // rename(2) replaces an empty directory, which this one is; dropping
    // it removes the old contents.
    let old = builder(&prefix, 0o700).tempdir_in(dir)?;
    std::fs::rename(dest, old.path())?;
    if let Err(e) = std::fs::rename(tmp.path(), dest) {
        std::fs::rename(old.path(), dest)?;
        return Err(e);
    }
    let _ = tmp.keep();
    drop(old);
    Ok(())
}

/// The folders made for an output that did not exist: removed again, if
/// still empty, unless the job that made them `keep`s them. A folder that
/// existed before is never touched.
#[must_use = "dropping it removes the folders again"]
pub struct CreatedDirs {
    /// Outermost first.
    dirs: Vec<(PathBuf, Pending)>,
}

impl CreatedDirs {
    /// `create_dir_all(dir)`, remembering which folders it made.
    pub fn create(dir: &Path) -> io::Result<Self> {
        let missing: Vec<&Path> =
            dir.ancestors().take_while(|a| !a.as_os_str().is_empty() && std::fs::metadata(a).is_err()).collect();
        let mut created = CreatedDirs { dirs: Vec::new() };
        for d in missing.into_iter().rev() {
            match Pending::create(Kind::CreatedDir, || std::fs::create_dir(d), |_| d.to_path_buf()) {
                Ok(((), pending)) => created.dirs.push((d.to_path_buf(), pending)),
                // Made meanwhile by someone else: theirs, not ours to remove.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(created)
    }

    /// The folder `dest` goes in, made as by `create`.
    pub fn parent_of(dest: &Path) -> io::Result<Self> {
        match dest.parent() {
            Some(dir) => Self::create(dir),
            None => Ok(CreatedDirs { dirs: Vec::new() }),
        }
    }

    /// The job succeeded: the folders stay.
    pub fn keep(mut self) {
        self.dirs.clear();
    }
}

impl Drop for CreatedDirs {
    fn drop(&mut self) {
        for (dir, _) in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

pub fn write_file(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.write_all(bytes)?;
    f.commit()
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_get_the_umask_mode_and_replaced_files_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.pb");
        write_file(&p, b"one").unwrap();
        // The umask of this process, read the only way POSIX offers: a file made with 0666.
        let probe = dir.path().join("probe");
        std::fs::OpenOptions::new().write(true).create_new(true).open(&probe).unwrap();
        assert_eq!(mode(&p), mode(&probe));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_file(&p, b"two").unwrap();
        assert_eq!(mode(&p), 0o640);
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
    }

    #[test]
    fn a_directory_appears_whole_and_replaces_the_old_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("model");
        let probe = dir.path().join("probe");
        std::fs::create_dir(&probe).unwrap();
        let out = AtomicDir::create(&dest).unwrap();
        write_file(&out.path().join("a"), b"new").unwrap();
        assert!(!dest.exists(), "visible before commit");
        out.commit().unwrap();
        assert_eq!(mode(&dest), mode(&probe), "the umask mode of any new directory");
        assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"new");

        std::fs::write(dest.join("stale"), b"old").unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o750)).unwrap();
        let out = AtomicDir::create(&dest).unwrap();
        write_file(&out.path().join("a"), b"newer").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"newer");
        assert!(!dest.join("stale").exists(), "old files mixed in");
        assert_eq!(mode(&dest), 0o750);

        drop(AtomicDir::create(&dest).unwrap());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "temporary directories left: {left:?}");
    }

    /// What the interrupt handler would remove under `dir` now.
    fn registered_in(dir: &Path) -> Vec<PathBuf> {
        crate::interrupt::registered().into_iter().filter(|p| p.starts_with(dir)).collect()
    }

    #[test]
    fn temporaries_are_registered_for_an_interrupt_until_committed_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let file = AtomicFile::create(&dir.path().join("model.pb")).unwrap();
        assert_eq!(registered_in(dir.path()).len(), 1);
        file.commit().unwrap();
        assert_eq!(registered_in(dir.path()), Vec::<PathBuf>::new());
        drop(AtomicFile::create(&dir.path().join("other.pb")).unwrap());
        let saved_model = AtomicDir::create(&dir.path().join("saved_model")).unwrap();
        assert_eq!(registered_in(dir.path()), vec![saved_model.path().to_path_buf()]);
        drop(saved_model);
        assert_eq!(registered_in(dir.path()), Vec::<PathBuf>::new());
    }

    #[test]
    fn created_folders_go_on_failure_but_not_one_that_existed_or_holds_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/c");
        let created = CreatedDirs::create(&nested).unwrap();
        assert!(nested.is_dir());
        assert_eq!(registered_in(dir.path()), ["a", "a/b", "a/b/c"].map(|d| dir.path().join(d)));
        drop(created);
        assert!(!dir.path().join("a").exists() && dir.path().exists());
        assert_eq!(registered_in(dir.path()), Vec::<PathBuf>::new());

        std::fs::create_dir(dir.path().join("a")).unwrap();
        let created = CreatedDirs::parent_of(&nested.join("model.pb")).unwrap();
        std::fs::write(dir.path().join("a/b/someone_else.txt"), b"x").unwrap();
        drop(created);
        assert!(dir.path().join("a/b").is_dir() && !nested.exists());

        CreatedDirs::create(&nested).unwrap().keep();
        assert!(nested.is_dir());
        assert_eq!(registered_in(dir.path()), Vec::<PathBuf>::new());
    }
}
