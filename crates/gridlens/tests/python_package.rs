//! The Python package (`python/`) passes its own tests (pytest: NumPy and h5py answers, dask's
//! schedulers, a local Dask cluster) in the Python of `GRIDLENS_PYTHON`, where `.ci/run`
//! installs it with `maturin develop`. Without that Python the test says so and passes,
//! unless `GRIDLENS_REQUIRE_PYTHON=1` (CI), where a missing package fails.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_python_package_passes_its_tests() {
    let require = std::env::var_os("GRIDLENS_REQUIRE_PYTHON").is_some_and(|v| v == "1");
    let Some(python) = std::env::var_os("GRIDLENS_PYTHON") else {
        assert!(!require, "GRIDLENS_REQUIRE_PYTHON=1 but GRIDLENS_PYTHON is not set");
        eprintln!("note: GRIDLENS_PYTHON is not set; the Python package's tests are skipped");
        return;
    };
    let probe = Command::new(&python).args(["-c", "import gridlens, pytest, dask, distributed"]).output().expect("run GRIDLENS_PYTHON");
    if !probe.status.success() {
        let why = String::from_utf8_lossy(&probe.stderr);
        let how = "install it with: pip install maturin pytest 'dask[array]' distributed && (cd python && maturin develop)";
        assert!(!require, "the Python package is not installed in GRIDLENS_PYTHON ({}); {how}", why.trim().lines().last().unwrap_or(""));
        eprintln!("note: the Python package is not installed in GRIDLENS_PYTHON; skipped ({how})");
        return;
    }
    let tests = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../python/tests");
    let out = Command::new(&python).args(["-m", "pytest", "-q", "-p", "no:cacheprovider"]).arg(&tests).output().expect("run pytest");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pytest failed:\n{text}");
    eprintln!("{}", text.trim().lines().last().unwrap_or(""));
}
