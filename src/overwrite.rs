//! No output replaces an input: not by its path, nor through a symlink or a
//! hard link to it, nor (a directory output, a SavedModel) by replacing a
//! directory that holds one. Every command that writes checks this before
//! its work.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{}: the output would overwrite an input{}; write it elsewhere", .output.display(), which(.output, .input))]
pub struct OverwriteError {
    pub output: PathBuf,
    pub input: PathBuf,
}

/// The input, unless the user named it as the output: a symlink, a hard
/// link or a folder holding it does not say which input it is.
fn which(output: &Path, input: &Path) -> String {
    match output == input {
        true => String::new(),
        false => format!(" ({})", input.display()),
    }
}

/// Refuses `output` when it is one of `inputs`, or a directory holding one.
/// Inputs that do not exist are skipped, and so is an output that does not
/// exist yet: it replaces nothing.
pub fn check_not_an_input<P: AsRef<Path>>(output: &Path, inputs: &[P]) -> Result<(), OverwriteError> {
    let Some(out) = identity(output) else { return Ok(()) };
    for input in inputs.iter().map(AsRef::as_ref) {
        // Canonical, so that the folders around an input reached through a
        // symlink are the real ones.
        let Ok(real) = input.canonicalize() else { continue };
        if real.ancestors().any(|a| identity(a) == Some(out)) {
            return Err(OverwriteError { output: output.to_path_buf(), input: input.to_path_buf() });
        }
    }
    Ok(())
}

/// What a file is whatever it is called: device and inode. `stat`, not
/// `open` (as the `same-file` crate does), since opening a FIFO blocks.
#[cfg(unix)]
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(path: &Path) -> Option<PathBuf> {
    path.canonicalize().ok()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_same_file_by_path_symlink_or_hard_link_or_a_folder_holding_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("model.pb");
        std::fs::write(&input, b"graph").unwrap();
        let symlink = dir.path().join("link.pb");
        std::os::unix::fs::symlink(&input, &symlink).unwrap();
        let hard = dir.path().join("hard.pb");
        std::fs::hard_link(&input, &hard).unwrap();
        for output in [&input, &symlink, &hard, &dir.path().to_path_buf()] {
            let e = check_not_an_input(output, &[&input]).unwrap_err();
            assert_eq!(e.output, *output);
        }
        // Reached through the symlink, the input's folder is still found.
        assert!(check_not_an_input(dir.path(), &[&symlink]).is_err());
    }

    #[test]
    fn a_new_file_or_another_file_beside_the_input_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("model.pb");
        std::fs::write(&input, b"graph").unwrap();
        let other = dir.path().join("other.pb");
        assert!(check_not_an_input(&other, &[&input]).is_ok());
        std::fs::write(&other, b"old output").unwrap();
        assert!(check_not_an_input(&other, &[&input]).is_ok());
        assert!(check_not_an_input(&other, &[dir.path().join("missing")]).is_ok());
    }

    #[test]
    fn the_message_names_the_input_only_when_the_output_is_another_name_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("model.pb");
        std::fs::write(&input, b"graph").unwrap();
        let same = check_not_an_input(&input, &[&input]).unwrap_err().to_string();
        assert_eq!(same, format!("{}: the output would overwrite an input; write it elsewhere", input.display()));
        let hard = dir.path().join("hard.pb");
        std::fs::hard_link(&input, &hard).unwrap();
        let linked = check_not_an_input(&hard, &[&input]).unwrap_err().to_string();
        assert!(linked.contains(&format!("an input ({})", input.display())), "{linked}");
    }
}
