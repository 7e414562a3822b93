//! Checks of the repository itself, in the manner of rust-analyzer's
//! `tidy.rs`: the rules ARCHITECTURE.md states, enforced.

use std::collections::{BTreeMap, BTreeSet};
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

/// Only `src/sync.rs` names `parking_lot`, `loom`, `shuttle` or std's locks and
/// atomics. (The stress tool in `stress/` is a client of the library, like
/// the tests, and not held to this.)
#[test]
fn only_the_sync_shim_names_sync_primitives() {
    let names = [
        "parking_lot::",
        "loom::",
        "shuttle::",
        "std::sync::Mutex",
        "std::sync::Condvar",
        "std::sync::RwLock",
        "std::sync::atomic",
    ];
    let files = rust_files("src");
    assert!(files.len() > 5, "src was not found: {files:?}");
    for path in files.iter().filter(|p| !p.ends_with("sync.rs")) {
        // Doc comments may show client code (a strategy written outside
        // litepool uses std's locks); the rule is for litepool's own code.
        let text: String = fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
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

/// No test, benchmark or stress-tool file names a listed strategy by hand
/// (as a quoted string, the way `s.name == ...` would): each iterates
/// `litepool::strategy::all`, so a new strategy is covered by its one line
/// in `src/lib.rs`. A suite that picked strategies by name would silently
/// leave a new one out.
#[test]
fn no_test_names_a_strategy_by_hand() {
    let names: Vec<String> = litepool::strategy::all::<litepool::SqliteManager>()
        .iter()
        .map(|s| format!("\"{}\"", s.name))
        .collect();
    let files: Vec<PathBuf> =
        ["tests", "benches", "stress", "examples"].iter().flat_map(|d| rust_files(d)).collect();
    assert!(files.len() > 10, "the test files were not found: {files:?}");
    for path in files.iter().filter(|p| !p.ends_with("tests/tidy.rs")) {
        let text = fs::read_to_string(path).unwrap();
        for name in &names {
            assert!(
                !text.contains(name.as_str()),
                "{} names the strategy {name} by hand; iterate litepool::strategy::all() instead",
                path.display()
            );
        }
    }
}

fn read(path: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The strategy types of `strategy_list!` in `src/lib.rs`.
fn strategy_list() -> BTreeSet<String> {
    let lib = read("src/lib.rs");
    let start = lib.find("\nstrategy_list! {").expect("strategy_list! in src/lib.rs");
    let body = &lib[start..start + lib[start..].find("\n}").expect("the end of strategy_list!")];
    let types: BTreeSet<String> = body
        .lines()
        .filter_map(|l| l.trim().strip_suffix(',')?.split("::").nth(1))
        .map(str::to_owned)
        .collect();
    assert!(types.len() >= 5, "strategy_list! was not parsed: {types:?}");
    types
}

/// The strategy types a document's table between `<!-- strategy-table:start
/// -->` and its end lists: the first cell of each row, a type name in
/// backticks (a link in brackets too).
fn listed_in(doc: &str) -> Result<BTreeSet<String>, String> {
    let start = doc.find("<!-- strategy-table:start -->").ok_or("no <!-- strategy-table:start --> marker")?;
    let end =
        doc[start..].find("<!-- strategy-table:end -->").ok_or("no <!-- strategy-table:end --> marker")?;
    let rows = doc[start..start + end].lines().map(|l| l.trim_start_matches("//!").trim());
    let cells = rows.filter(|l| l.starts_with('|') && !l.starts_with("|---")).skip(1);
    cells
        .map(|row| {
            let first = row.split('|').nth(1).unwrap_or_default().trim();
            let name = first.trim_matches(|c| c == '[' || c == ']' || c == '`');
            match name.chars().all(|c| c.is_ascii_alphanumeric()) && !name.is_empty() {
                true => Ok(name.to_owned()),
                false => Err(format!("cannot read a strategy name from the row {row:?}")),
            }
        })
        .collect()
}

/// Checks each document's strategy table against the list.
fn check_strategy_tables(listed: &BTreeSet<String>, docs: &[(&str, String)]) -> Result<(), String> {
    for (name, text) in docs {
        let named = listed_in(text).map_err(|e| format!("{name}: {e}"))?;
        if &named != listed {
            let missing: Vec<_> = listed.difference(&named).collect();
            let extra: Vec<_> = named.difference(listed).collect();
            return Err(format!(
                "{name}'s strategy table does not match strategy_list! in src/lib.rs: missing {missing:?}, \
                 not in the list {extra:?}; add or remove the row"
            ));
        }
    }
    Ok(())
}

fn strategy_docs() -> Vec<(&'static str, String)> {
    ["README.md", "src/lib.rs", "ARCHITECTURE.md"].map(|doc| (doc, read(doc))).into()
}

/// The README, the crate docs and ARCHITECTURE.md each list exactly the
/// strategies of `strategy_list!`: a strategy added to the list (or only to
/// one document) fails here until all three name it.
#[test]
fn the_docs_list_exactly_the_listed_strategies() {
    check_strategy_tables(&strategy_list(), &strategy_docs()).unwrap_or_else(|e| panic!("{e}"));
}

/// The check above has teeth: a row added to one document only, or one
/// removed, fails it, and so does a name in the list that no document has.
#[test]
fn a_strategy_named_in_one_list_only_fails_the_check() {
    let listed = strategy_list();
    let docs = strategy_docs();
    for (at, (doc, text)) in docs.iter().enumerate() {
        let row =
            text.lines().find(|l| l.contains("| `Pool`") || l.contains("| [`Pool`]")).expect("a Pool row");
        let mut changed = docs.clone();
        changed[at].1 = text.replacen(row, &format!("{row}\n{}", row.replacen("Pool", "Extra", 1)), 1);
        assert!(
            check_strategy_tables(&listed, &changed).is_err(),
            "a row added to {doc} only went unnoticed"
        );
        changed[at].1 = text.replacen(&format!("{row}\n"), "", 1);
        assert!(check_strategy_tables(&listed, &changed).is_err(), "a row removed from {doc} went unnoticed");
    }
    let mut more = listed.clone();
    more.insert("Extra".to_owned());
    assert!(check_strategy_tables(&more, &docs).is_err(), "a strategy no document lists went unnoticed");
}

/// The files of `src/` import each other without a circle, so they stack
/// in floors (the sync shim and the errors at the bottom, the strategies on
/// top) with every arrow pointing down. The crate root, which declares and
/// re-exports everything, is not a floor.
#[test]
fn source_files_import_each_other_without_a_circle() {
    let files = rust_files("src");
    let module = |p: &Path| p.file_stem().unwrap().to_string_lossy().into_owned();
    let modules: BTreeSet<String> = files.iter().map(|p| module(p)).filter(|m| m != "lib").collect();
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in files.iter().filter(|p| module(p) != "lib") {
        let code: String = fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let used = modules.iter().filter(|m| **m != module(path) && code.contains(&format!("crate::{m}::")));
        imports.insert(module(path), used.cloned().collect());
    }
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        imports: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!("an import circle in src/: {} -> {m}", path[at..].join(" -> "));
        }
        if done.contains(m) {
            return;
        }
        path.push(m.to_owned());
        for next in &imports[m] {
            visit(next, imports, path, done);
        }
        path.pop();
        done.insert(m.to_owned());
    }
    let mut done = BTreeSet::new();
    for m in imports.keys() {
        visit(m, &imports, &mut Vec::new(), &mut done);
    }
}
