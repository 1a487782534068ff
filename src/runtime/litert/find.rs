//! Finding libLiteRt.so: `LITERT_DIR` (a folder holding it), else the one
//! inside a pip-installed `ai-edge-litert` package, found through a Python
//! interpreter (`python3` on the PATH unless one is given), as
//! libtensorflow is found (`runtime/find.rs`).

use std::path::{Path, PathBuf};

use super::api::Api;
use crate::runtime::find::package_dir;
use crate::runtime::WheelError;

const LIBRARY: &str = "libLiteRt.so";

const HOW: &str = "install it with `pip install ai-edge-litert` (then python3 on the PATH, or --python, \
                   finds it) or set LITERT_DIR to a folder holding libLiteRt.so";

/// Why libLiteRt.so could not be loaded; each says what was tried and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `reason` is the loader's own message.
    #[error("LITERT_DIR={}: {reason}; {HOW}", .dir.display())]
    Dir { dir: PathBuf, reason: String },
    #[error("LITERT_DIR is not set and {0}; {HOW}")]
    NoWheel(#[source] WheelError),
    #[error("{}: {reason}; {HOW}", .library.display())]
    Wheel { library: PathBuf, reason: String },
}

/// Opens the library; the error says everything that was tried.
pub(super) fn load(python: Option<&Path>) -> Result<Api, LoadError> {
    if let Some(dir) = std::env::var_os("LITERT_DIR") {
        let dir = PathBuf::from(dir);
        return Api::open(&dir.join(LIBRARY)).map_err(|reason| LoadError::Dir { dir, reason });
    }
    let python = python.map_or_else(|| PathBuf::from("python3"), Path::to_path_buf);
    let library = package_dir(&python, "ai_edge_litert", &[LIBRARY]).map_err(LoadError::NoWheel)?.join(LIBRARY);
    Api::open(&library).map_err(|reason| LoadError::Wheel { library, reason })
}
