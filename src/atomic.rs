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
//! fsync policy, for every output: none. Like TensorFlow's own writers, the
//! guarantee is against failed or interrupted runs, not power loss, and an
//! fsync of a 400 MB graph would cost more than the whole strip.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

pub struct AtomicFile {
    tmp: BufWriter<NamedTempFile>,
    dest: PathBuf,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> io::Result<Self> {
        let (dir, prefix) = beside(dest, "");
        let tmp = builder(&prefix, 0o666).tempfile_in(dir)?;
        Ok(AtomicFile {
            tmp: BufWriter::with_capacity(1 << 20, tmp),
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary file itself, for writers that size and map it; what was
    /// written through `Write` is flushed to it first.
    pub fn file(&mut self) -> io::Result<&File> {
        self.tmp.flush()?;
        Ok(self.tmp.get_ref().as_file())
    }

    pub fn commit(self) -> io::Result<()> {
        let tmp = self.tmp.into_inner().map_err(|e| e.into_error())?;
        if let Ok(existing) = std::fs::metadata(&self.dest) {
            tmp.as_file().set_permissions(existing.permissions())?;
        }
        tmp.persist(&self.dest).map_err(|e| e.error)?;
        Ok(())
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
    tmp: tempfile::TempDir,
    dest: PathBuf,
}

impl AtomicDir {
    /// A new empty directory (mode 0777 less the umask) to fill.
    pub fn create(dest: &Path) -> io::Result<Self> {
        let (dir, prefix) = beside(dest, "");
        Ok(AtomicDir { tmp: builder(&prefix, 0o777).tempdir_in(dir)?, dest: dest.to_path_buf() })
    }

    /// Where to write the directory's contents.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Renames the directory into place. A directory already at `dest` (the
    /// caller decided it may go) is first moved aside and removed after the
    /// rename, so `dest` is never a mix of old and new files; if the rename
    /// fails, the old directory is put back.
    pub fn commit(self) -> io::Result<()> {
        let existing = std::fs::symlink_metadata(&self.dest).ok();
        let Some(existing) = existing else {
            return std::fs::rename(self.tmp.keep(), &self.dest);
        };
        if !existing.is_dir() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a directory"));
        }
        std::fs::set_permissions(self.tmp.path(), existing.permissions())?;
        let (dir, prefix) = beside(&self.dest, "old.");
        // rename(2) replaces an empty directory, which this one is; dropping
        // it removes the old contents.
        let old = builder(&prefix, 0o700).tempdir_in(dir)?;
        std::fs::rename(&self.dest, old.path())?;
        if let Err(e) = std::fs::rename(self.tmp.path(), &self.dest) {
            std::fs::rename(old.path(), &self.dest)?;
            return Err(e);
        }
        let _ = self.tmp.keep();
        drop(old);
        Ok(())
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
}
