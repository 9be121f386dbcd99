//! Test helper: runs the project's Python (NumPy, zarr-python, h5py) as the independent
//! reference implementation for the format tests in [`crate::io`].
//!
//! The interpreter is `$GRIDLENS_PYTHON`, else the venv `.ci/run` makes in the repository
//! (`target/ci-python`). When it does not exist, the tests that need it print a note and pass
//! without checking, so the suite still runs on machines without Python; with
//! `GRIDLENS_REQUIRE_PYTHON=1` (as CI sets it) they fail instead. Packages beyond NumPy, h5py,
//! zarr and netCDF4 (matplotlib, Pillow) are checked with [`Python::has`]: missing, they skip
//! a test with a note, or fail it where Python is required.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Python interpreter with NumPy.
pub struct Python(PathBuf);

/// The reference interpreter, or `None` after printing why `test` is skipped.
pub fn python(test: &str) -> Option<Python> {
    let path = std::env::var_os("GRIDLENS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ci-python/bin/python"));
    if path.exists() {
        return Some(Python(path));
    }
    assert!(!required(), "{test}: no Python at {} and GRIDLENS_REQUIRE_PYTHON is set", path.display());
    eprintln!("note: {test} skipped: no Python at {} (set GRIDLENS_PYTHON)", path.display());
    None
}

/// Whether the tests must run against Python rather than skip (`GRIDLENS_REQUIRE_PYTHON=1`).
fn required() -> bool {
    std::env::var_os("GRIDLENS_REQUIRE_PYTHON").is_some_and(|v| !v.is_empty() && v != "0")
}

impl Python {
    /// Whether `module` can be imported; prints a note for `test` when it cannot.
    pub fn has(&self, module: &str, test: &str) -> bool {
        let ok = Command::new(&self.0).arg("-c").arg(format!("import {module}")).output().is_ok_and(|o| o.status.success());
        if !ok {
            assert!(!required(), "{test}: the Python at {} has no {module} and GRIDLENS_REQUIRE_PYTHON is set", self.0.display());
            eprintln!("note: {test} skipped: the Python at {} has no {module}", self.0.display());
        }
        ok
    }

    /// Runs `script` with `sys.argv[1:] = args` and returns its standard output.
    ///
    /// # Panics
    /// When the script fails: the test fails with Python's error output.
    pub fn run(&self, script: &str, args: &[&Path]) -> String {
        let out = Command::new(&self.0).arg("-c").arg(script).args(args).output().expect("python runs");
        assert!(out.status.success(), "python failed:\n{script}\n--- stderr ---\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Little-endian f64 values from a file written by NumPy's `arr.astype('<f8').tofile(path)`.
pub fn read_f64_raw(path: &Path) -> Vec<f64> {
    let b = std::fs::read(path).expect("raw file");
    b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
}
