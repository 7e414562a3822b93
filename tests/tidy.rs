//! Checks of the repository itself, in the manner of rust-analyzer's
//! `tidy.rs`: the rules ARCHITECTURE.md states, enforced.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Only `src/sync.rs` names `parking_lot`, `loom` or std's locks and
/// atomics. (The stress tool in `stress/` is a client of the library, like
/// the tests, and not held to this.)
#[test]
fn only_the_sync_shim_names_sync_primitives() {
    let names = [
        "parking_lot::",
        "loom::",
        "std::sync::Mutex",
        "std::sync::Condvar",
        "std::sync::RwLock",
        "std::sync::atomic",
    ];
    let files = rust_files("src");
    assert!(files.len() > 5, "src was not found: {files:?}");
    for path in files.iter().filter(|p| !p.ends_with("sync.rs")) {
        let text = fs::read_to_string(path).unwrap();
        for name in names {
            assert!(!text.contains(name), "{} names {name}; import it from crate::sync", path.display());
        }
    }
}

/// Every source file opens with a module doc comment that says why.
#[test]
fn every_source_file_starts_with_a_module_doc() {
    for path in rust_files("src") {
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("//!"), "{} does not start with //!", path.display());
    }
}

/// proptest seeds live only in the top-level `proptest-regressions/`.
#[test]
fn proptest_seeds_live_only_at_the_top_level() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(root.join("proptest-regressions").is_dir(), "proptest-regressions/ is missing");
    for dir in ["src", "tests", "benches"] {
        let mut stack = vec![root.join(dir)];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    assert!(
                        !path.to_string_lossy().ends_with(".proptest-regressions"),
                        "{} was written outside proptest-regressions/: set FileFailurePersistence::Direct",
                        path.display()
                    );
                }
            }
        }
    }
}
