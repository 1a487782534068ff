//! Outputs appear whole or not at all: they are written to a temporary file in
//! the destination's folder (so the rename cannot cross filesystems) and
//! renamed when complete. A failure drops the temporary file.
//!
//! The file gets the mode any program's new file gets (0666 less the umask),
//! or, when it replaces a file, that file's mode: a model written here must
//! be readable by whoever serves it, not only by us as a 0600 temporary file.
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
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Passed to open(2), so the kernel applies the umask as for any new file.
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let tmp = builder.tempfile_in(dir)?;
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
}
