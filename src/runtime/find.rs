//! Finding libtensorflow: `TENSORFLOW_DIR` (a folder holding
//! `libtensorflow.so`, as the tensorflow crate reads it), else the C library
//! inside a pip-installed `tensorflow` / `tensorflow-cpu` package, found
//! through a Python interpreter (`python3` on the PATH unless one is given).

use std::path::{Path, PathBuf};
use std::process::Command;

use tensorflow as tf;

/// The wheels ship the C API in these two files, side by side.
const WHEEL_LIBS: [&str; 2] = ["libtensorflow_cc.so.2", "libtensorflow_framework.so.2"];

const HOW: &str = "install it with `pip install tensorflow-cpu` (then python3 on the PATH, or --python, \
                   finds it) or set TENSORFLOW_DIR to a folder holding libtensorflow.so";

/// TensorFlow's C++ logging level when the user chose none: errors only. Its
/// INFO and WARNING lines (oneDNN, CPU features, MLIR, absl's "before
/// InitializeLog") are about TensorFlow, not the models, and would clutter
/// verify's and bench's reports; `TF_CPP_MIN_LOG_LEVEL=0` shows them again.
const QUIET_LOG_LEVEL: &str = "2";

/// Why libtensorflow could not be loaded; each says what was tried and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `reason` is the loader's own message (the crate gives a string).
    #[error("TENSORFLOW_DIR={}: {reason}; {HOW}", .dir.display())]
    TensorflowDir { dir: PathBuf, reason: String },
    #[error("TENSORFLOW_DIR is not set and {0}; {HOW}")]
    NoWheel(#[source] WheelError),
    #[error("{}: {source}; {HOW}", .dir.display())]
    Wheel {
        dir: PathBuf,
        #[source]
        source: WheelLoadError,
    },
}

/// Why no pip-installed package (TensorFlow, LiteRT) was found through `python`.
#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    #[error("{} could not be run ({source})", .python.display())]
    PythonNotRunnable {
        python: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has no `{package}` package", .python.display())]
    NoPackage { python: PathBuf, package: &'static str },
    #[error("{}'s {package} package at {} has no {lib}", .python.display(), .dir.display())]
    MissingLibrary { python: PathBuf, package: &'static str, dir: PathBuf, lib: &'static str },
}

/// Why the C library of a found wheel did not load.
#[derive(Debug, thiserror::Error)]
pub enum WheelLoadError {
    #[error("cannot create a temporary folder: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("cannot link {lib} into {}: {source}", .dir.display())]
    Link {
        lib: &'static str,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The loader's own message.
    #[error("{0}")]
    Load(String),
    #[error("loading a pip-installed TensorFlow is implemented for Unix only")]
    UnixOnly,
}

/// Loads the library; the error says everything that was tried.
pub(super) fn load(python: Option<&Path>) -> Result<String, LoadError> {
    if std::env::var_os("TF_CPP_MIN_LOG_LEVEL").is_none() {
        // Read by TensorFlow as it loads; this runs once per process
        // (runtime::load's OnceLock), before any TensorFlow thread exists.
        std::env::set_var("TF_CPP_MIN_LOG_LEVEL", QUIET_LOG_LEVEL);
    }
    if let Some(dir) = std::env::var_os("TENSORFLOW_DIR") {
        let dir = PathBuf::from(dir);
        return tf::library::load()
            .map(|()| format!("TENSORFLOW_DIR={}", dir.display()))
            .map_err(|reason| LoadError::TensorflowDir { dir, reason });
    }
    let python = python.map_or_else(|| PathBuf::from("python3"), Path::to_path_buf);
    let dir = wheel_dir(&python).map_err(LoadError::NoWheel)?;
    load_wheel(&dir).map_err(|source| LoadError::Wheel { dir: dir.clone(), source })?;
    Ok(dir.display().to_string())
}

/// The `tensorflow` package directory of `python`'s environment.
fn wheel_dir(python: &Path) -> Result<PathBuf, WheelError> {
    package_dir(python, "tensorflow", &WHEEL_LIBS)
}

/// The directory of pip-installed `package` in `python`'s environment,
/// checked to hold every one of `libs`. `find_spec` locates the package
/// without importing it, which would take seconds.
pub(crate) fn package_dir(python: &Path, package: &'static str, libs: &[&'static str]) -> Result<PathBuf, WheelError> {
    let find = format!(
        "import importlib.util as u, os\n\
         s = u.find_spec('{package}')\n\
         print(os.path.dirname(s.origin) if s and s.origin else '')"
    );
    let out = Command::new(python)
        .args(["-c", &find])
        .output()
        .map_err(|source| WheelError::PythonNotRunnable { python: python.to_path_buf(), source })?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || dir.is_empty() {
        return Err(WheelError::NoPackage { python: python.to_path_buf(), package });
    }
    let dir = PathBuf::from(dir);
    match libs.iter().find(|lib| !dir.join(lib).is_file()) {
        Some(&lib) => Err(WheelError::MissingLibrary { python: python.to_path_buf(), package, dir, lib }),
        None => Ok(dir),
    }
}

/// The crate's loader only looks for a file named `libtensorflow.so` in
/// `TENSORFLOW_DIR`, so it is shown one: a private temporary folder of
/// symlinks, set as `TENSORFLOW_DIR` only while the library loads. The
/// framework library is linked beside it because libtensorflow_cc finds it
/// through `$ORIGIN`. Once loaded, the folder is no longer needed.
#[cfg(unix)]
fn load_wheel(dir: &Path) -> Result<(), WheelLoadError> {
    let links = tempfile::Builder::new()
        .prefix("tf-strip-libtensorflow")
        .tempdir()
        .map_err(WheelLoadError::TempDir)?;
    let link = |lib: &'static str, name: &str| {
        std::os::unix::fs::symlink(dir.join(lib), links.path().join(name))
            .map_err(|source| WheelLoadError::Link { lib, dir: links.path().to_path_buf(), source })
    };
    link(WHEEL_LIBS[0], "libtensorflow.so")?;
    link(WHEEL_LIBS[1], WHEEL_LIBS[1])?;
    // Runs once per process (runtime::load's OnceLock), before any TensorFlow
    // thread exists that could read the environment concurrently.
    std::env::set_var("TENSORFLOW_DIR", links.path());
    let loaded = tf::library::load();
    // Unset again: it was unset (`load` came here), and child processes
    // must not inherit a folder about to be removed.
    std::env::remove_var("TENSORFLOW_DIR");
    loaded.map_err(WheelLoadError::Load)
}

#[cfg(not(unix))]
fn load_wheel(_dir: &Path) -> Result<(), WheelLoadError> {
    Err(WheelLoadError::UnixOnly)
}
