//! The model runner: how a model of a strategy is set up and checked, how
//! the properties are declared ([`properties!`]), and how each model and
//! each planted bug runs in a child process of its own (loom reports a
//! deadlock by aborting the process, which would end every model after it
//! unreported).

use std::process::Command;

use litepool::fake::{FakeConnection, FakeDatabase, FakeManager};
use litepool::strategy::{Connections, Manager, Sizing, Strategy, Transactional};
use litepool::{Access, Result};

use crate::support::checker::{Arc, Scale, check, scales, thread};
use crate::support::properties::PROPERTIES;

/// A strategy over fake connections.
pub type Fake = dyn Access<Connection = FakeConnection>;

/// What a model checks: a strategy over fake connections, and its
/// promises (capacity, waiters, one writer), as the strategy list states
/// them.
pub type Subject = Strategy<FakeManager>;

/// The real strategies, from the one list: no strategy is named here.
pub fn real_subjects() -> Vec<Subject> {
    litepool::strategy::all::<FakeManager>()
}

/// Whether a subject's connections live in thread-locals that loom drops
/// late: loom's `join` returns before the joined thread's thread-locals are
/// dropped (std's and shuttle's do not), so under loom the exact open/close
/// count of these is checked by loom's own leak check at the end of each
/// execution instead.
pub fn thread_local_connections(subject: &Subject) -> bool {
    cfg!(loom) && matches!(subject.connections, Connections::PerThread)
}

/// Runs one model of `subject` at each of its [`scales`]: a fresh
/// database, the strategy opened with a pool of the scale's size, `body`,
/// then the leak check.
pub fn model(
    subject: &Subject,
    property: &str,
    loom: Scale,
    body: impl Fn(Arc<Box<Fake>>, &FakeDatabase, Scale) + Sync + Send + 'static,
) {
    let body = std::sync::Arc::new(body);
    for scale in scales(loom) {
        let (subject, body) = (subject.clone(), body.clone());
        let thread_local = thread_local_connections(&subject);
        let name = if cfg!(loom) {
            format!("{}::{property}", subject.name)
        } else {
            format!("{}::{property} (pool {})", subject.name, scale.pool)
        };
        check(&name, scale.threads, move || {
            let db = FakeDatabase::new();
            let sizing = Sizing::pool_size(scale.pool);
            let access = Arc::new((subject.open)(db.manager(), sizing).expect("open strategy"));
            body(access.clone(), &db, scale);
            drop(access);
            if !thread_local {
                assert_eq!(db.opened(), db.closed(), "a connection was not closed exactly once");
            }
        });
    }
}

/// The models' write: one row.
pub fn insert(c: &FakeConnection) -> Result<()> {
    c.insert()
}

/// Spawns `n` threads running `f(i, access)` and returns their handles.
pub fn spawn_each<T: Send + 'static>(
    access: &Arc<Box<Fake>>,
    n: usize,
    f: impl Fn(usize, &Fake) -> T + Send + Sync + 'static,
) -> Vec<thread::JoinHandle<T>> {
    let f = Arc::new(f);
    (0..n)
        .map(|i| {
            let (access, f) = (access.clone(), f.clone());
            thread::spawn(move || f(i, &**access))
        })
        .collect()
}

/// Joins every handle, unwrapping each thread's result.
pub fn join_all<T>(handles: Vec<thread::JoinHandle<T>>) -> Vec<T> {
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// A connection handed out is clean: no transaction open.
pub fn assert_clean(c: &FakeConnection) -> Result<()> {
    assert!(!c.in_transaction(), "handed a connection inside someone else's transaction");
    assert_eq!(c.pending(), 0, "handed someone else's uncommitted rows");
    Ok(())
}

/// A property of the strategy suite: its name, its model, and the promise
/// it checks (`None`: one every strategy makes).
pub struct Property {
    pub name: &'static str,
    pub run: fn(&Subject),
    pub promise: Option<fn(&Subject) -> bool>,
}

impl Property {
    /// Whether `subject` makes the promise this property checks.
    pub fn applies(&self, subject: &Subject) -> bool {
        self.promise.is_none_or(|promise| promise(subject))
    }
}

/// Declares the strategy properties once (`tests/support/properties.rs`):
/// `fn name(subject, property) [if (promise)] { body }`, where `property` is
/// the property's name and `promise` says which strategies make the
/// promise it checks. Generates each function, [`PROPERTIES`] (the table
/// the planted bugs run through) and `strategy_suite!`, one `#[test]` per
/// property, run against every listed strategy it applies to.
macro_rules! properties {
    ($(
        $(#[doc = $doc:literal])*
        fn $name:ident($subject:ident, $property:ident) $(if ($promise:expr))? $body:block
    )*) => {
        $(
            $(#[doc = $doc])*
            pub fn $name($subject: &Subject) {
                let $property: &str = stringify!($name);
                $body
            }
        )*

        /// Every property, in declaration order.
        pub const PROPERTIES: &[$crate::support::runner::Property] = &[$(
            $crate::support::runner::Property {
                name: stringify!($name),
                run: $name,
                promise: properties!(@promise $subject $($promise)?),
            }
        ),*];

        /// The strategy suite, for `loom_strategies.rs` and
        /// `shuttle_strategies.rs`: one test per property.
        #[allow(unused_macros)]
        macro_rules! strategy_suite {
            () => {$(
                #[test]
                fn $name() {
                    $crate::support::runner::every_strategy(module_path!(), stringify!($name));
                }
            )*};
        }
        #[allow(unused_imports)]
        pub(crate) use strategy_suite;
    };
    (@promise $subject:ident) => { None };
    (@promise $subject:ident $promise:expr) => { Some(|$subject: &Subject| $promise) };
}
pub(crate) use properties;

/// The property named `name`, for running one alone.
pub fn property(name: &str) -> &'static Property {
    PROPERTIES.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no property named {name:?}"))
}

/// Every property that applies to `subject`, in declaration order; a
/// planted bug is run through them.
pub fn all_properties(subject: &Subject) {
    PROPERTIES.iter().filter(|p| p.applies(subject)).for_each(|p| (p.run)(subject));
}

/// The variable naming the one model a child process runs.
pub const MODEL_VAR: &str = "LITEPOOL_LOOM_MODEL";

/// The variable naming the strategy a child process runs its model
/// against; set by hand, it runs the loom suite for that strategy alone.
pub const STRATEGY_VAR: &str = "LITEPOOL_LOOM_STRATEGY";

/// Runs `property` against every listed strategy it applies to (only
/// `LITEPOOL_LOOM_STRATEGY`'s, if that is set), each in a child process of
/// this test binary, and fails naming every strategy that failed. loom
/// reports a deadlock by aborting the process, which would end every model
/// after it in the same process unreported; in a child of its own, a
/// deadlock fails its own model, by name.
pub fn every_strategy(module: &str, property: &str) {
    // `module_path!()` starts with the test crate's name; libtest's names
    // do not.
    let test = match module.split_once("::") {
        Some((_, inner)) => format!("{inner}::{property}"),
        None => property.to_owned(),
    };
    let only = std::env::var(STRATEGY_VAR).ok();
    if std::env::var(MODEL_VAR).is_ok_and(|v| v == test) {
        let name = only.expect("the parent names the strategy");
        let subject = real_subjects().into_iter().find(|s| s.name == name).expect("a listed strategy");
        return (self::property(property).run)(&subject);
    }
    let mut ran = Vec::new();
    let mut failed = Vec::new();
    for subject in real_subjects() {
        if !self::property(property).applies(&subject)
            || only.as_ref().is_some_and(|only| *only != subject.name)
        {
            continue;
        }
        let output = Command::new(std::env::current_exe().expect("test binary path"))
            .args([&test, "--exact", "--nocapture", "--test-threads=1"])
            .env(MODEL_VAR, &test)
            .env(STRATEGY_VAR, subject.name)
            .env_remove(PLANTED_VAR)
            .output()
            .expect("run the model's child process");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The LOOM-ROW line, for `.ci/loom-table` (shown with --nocapture).
        print!("{stdout}");
        if !output.status.success() {
            failed.push(format!(
                "{}::{property} failed ({}):\n{stdout}\n{stderr}",
                subject.name, output.status
            ));
        } else if !stdout.contains("1 passed") {
            failed.push(format!("the child process for {}::{property} ran no test:\n{stdout}", subject.name));
        }
        ran.push(subject.name);
    }
    assert!(failed.is_empty(), "{} of {} strategies failed:\n{}", failed.len(), ran.len(), failed.join("\n"));
    assert!(
        !ran.is_empty() || only.is_some(),
        "no listed strategy makes the promise {property} checks; is it in `applies`?"
    );
}

/// A planted bug, the property that must catch it, and what the failure
/// must say (the planted tables of `queue.rs` and `group.rs`).
pub type Caught = (&'static str, &'static str, &'static [&'static str]);

/// A suite of planted bugs: its table, the bugs only shuttle can catch,
/// and the child test that runs one bug through one property.
pub struct PlantedSuite {
    pub caught_by: &'static [Caught],
    pub beyond_loom: &'static [&'static str],
    pub child_test: &'static str,
}

impl PlantedSuite {
    /// The entries this checker must catch: all of them under shuttle, all
    /// but the bugs beyond loom under loom.
    pub fn caught_here(&self) -> impl Iterator<Item = Caught> + '_ {
        self.caught_by.iter().copied().filter(|(bug, _, _)| !cfg!(loom) || !self.beyond_loom.contains(bug))
    }

    /// Every property (`properties`) has a planted bug this checker catches
    /// with it, and every bug (`bugs`) is planted.
    pub fn every_property_catches_a_planted_bug<'a>(
        &self,
        properties: impl IntoIterator<Item = &'a str>,
        bugs: impl IntoIterator<Item = &'a str>,
    ) {
        for name in properties {
            assert!(self.caught_here().any(|(_, p, _)| p == name), "no planted bug for {name}");
        }
        for bug in bugs {
            assert!(self.caught_by.iter().any(|(b, _, _)| *b == bug), "{bug} is never planted");
        }
    }

    /// In the child process: switches on the bug `LITEPOOL_PLANTED` names
    /// (`plant`), then runs the property `LITEPOOL_PROPERTY` names.
    pub fn run_child(&self, properties: &[(&str, fn())], plant: impl FnOnce(&str)) {
        let bug = std::env::var(PLANTED_VAR).expect("LITEPOOL_PLANTED names the bug");
        let property = std::env::var(PROPERTY_VAR).expect("LITEPOOL_PROPERTY names the property");
        plant(&bug);
        let (_, run) = properties.iter().find(|(name, _)| *name == property).expect("a known property");
        run();
    }

    /// Each bug this checker must catch is caught by its property, in a
    /// child process of its own.
    pub fn assert_each_caught(&self) {
        for (bug, property, expected) in self.caught_here() {
            let model = assert_caught_by(self.child_test, bug, Some(property), expected);
            assert!(model.contains(property), "{bug} was caught by {model}, not {property}");
        }
    }
}

/// The variable naming the planted bug a child process runs.
pub const PLANTED_VAR: &str = "LITEPOOL_PLANTED";
/// The variable naming the one property a child process runs, if set.
pub const PROPERTY_VAR: &str = "LITEPOOL_PROPERTY";

/// Runs the planted bug `bug` through the properties in a child process
/// (loom can abort the process on some failures, loom#291, which
/// `#[should_panic]` cannot catch), and asserts that a model failed with one
/// of `expected` in its output. Returns the model that caught it.
pub fn assert_caught(child_test: &str, bug: &str, expected: &[&str]) -> String {
    assert_caught_by(child_test, bug, None, expected)
}

/// As [`assert_caught`], running only `property` if it is given.
pub fn assert_caught_by(child_test: &str, bug: &str, property: Option<&str>, expected: &[&str]) -> String {
    let mut child = Command::new(std::env::current_exe().expect("test binary path"));
    child.args([child_test, "--exact", "--ignored", "--nocapture", "--test-threads=1"]).env(PLANTED_VAR, bug);
    match property {
        Some(property) => child.env(PROPERTY_VAR, property),
        None => child.env_remove(PROPERTY_VAR),
    };
    let output = child.output().expect("run the child test process");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!output.status.success(), "planted bug {bug} was NOT caught; the models passed:\n{text}");
    assert!(
        expected.iter().any(|e| text.contains(e)),
        "planted bug {bug} failed, but not with any of {expected:?}:\n{text}"
    );
    let caught = text
        .lines()
        .find_map(|l| l.strip_prefix("LITEPOOL-CAUGHT "))
        .unwrap_or_else(|| panic!("no LITEPOOL-CAUGHT line for {bug}:\n{text}"))
        .to_owned();
    // `model=<name> iteration=<n>`, and under shuttle
    // ` scheduler=<s> seed=<seed> total=<n>`.
    let (model, found) = caught.split_once(" iteration=").expect("caught line format");
    let model = model.trim_start_matches("model=");
    let property = property.unwrap_or("all");
    let fields: Vec<&str> = found.split(' ').map(|f| f.split_once('=').map_or(f, |(_, v)| v)).collect();
    match fields[..] {
        [iteration] => println!("LOOM-PLANTED | {bug} | {property} | {model} | {iteration} |"),
        [iteration, scheduler, seed, total] => println!(
            "SHUTTLE-PLANTED | {bug} | {property} | {model} | {scheduler} | {seed} | {iteration} | {total} |"
        ),
        _ => panic!("unexpected caught line {caught:?}"),
    }
    model.to_owned()
}

/// Declares the properties of a suite over a type parameter once (the
/// write queue's over `L: Line`, group commit's over `B: Batcher`):
/// `fn name(property) { body }`, where `property` is the property's name,
/// optionally under `#[cfg(...)]` (a property one checker cannot run).
/// Generates each function, `PROPERTIES` (each over the planted copy,
/// `$Planted`, for the planted child) and the suite macro `$suite!`: one
/// `#[test]` per property over the real code (`$Real`), the planted copy
/// passing every property unplanted, and each planted bug caught by its
/// property (the `$planted` module's functions).
macro_rules! typed_properties {
    (
        suite $suite:ident in $module:ident over $T:ident: $Bound:ident,
        real $Real:ident, planted $Planted:ident from $planted:ident,
        tests $caught:ident and $child:ident;
        $(
            $(#[doc = $doc:literal])*
            $(#[cfg($cfg:meta)])?
            fn $name:ident($property:ident) $body:block
        )*
    ) => {
        $(
            $(#[doc = $doc])*
            pub fn $name<$T: $Bound>() {
                let $property: &str = stringify!($name);
                $body
            }
        )*

        /// Every property over the planted copy, by name, for the planted
        /// child.
        pub const PROPERTIES: &[(&str, fn())] = &[$(
            $(#[cfg($cfg)])?
            (stringify!($name), $name::<$crate::support::$planted::$Planted>)
        ),*];

        /// The suite, for the loom and the shuttle test file alike.
        #[allow(unused_macros)]
        macro_rules! $suite {
            () => {
                $(
                    $(#[cfg($cfg)])?
                    #[test]
                    fn $name() {
                        $crate::support::$module::$name::<$crate::support::$module::$Real>();
                    }
                )*

                /// The copy the bugs are planted in passes every property
                /// unplanted.
                #[test]
                fn a_correct_copy_passes() {
                    for (_, property) in $crate::support::$module::PROPERTIES {
                        property();
                    }
                }

                #[test]
                fn every_property_catches_a_planted_bug() {
                    $crate::support::$planted::every_property_catches_a_planted_bug();
                }

                #[test]
                fn $caught() {
                    $crate::support::$planted::PLANTED_SUITE.assert_each_caught();
                }

                /// Runs one planted bug through one property; started in a
                /// child process by the test above.
                #[test]
                #[ignore = "run by the planted bugs' test in a child process"]
                fn $child() {
                    $crate::support::$planted::planted_child();
                }
            };
        }
        #[allow(unused_imports)]
        pub(crate) use $suite;
    };
}
pub(crate) use typed_properties;

/// The tutorial's unsafe example, done by force: one connection shared by
/// two threads with no lock at all.
pub fn tutorial_shared_connection() {
    check("tutorial::shared_connection_without_a_lock", 2, || {
        let db = litepool::fake::FakeDatabase::new();
        let shared = Arc::new(crate::support::planted::ForceSync(db.manager().connect().unwrap()));
        let other = {
            let shared = shared.clone();
            thread::spawn(move || shared.0.insert())
        };
        shared.0.insert().unwrap();
        other.join().unwrap().unwrap();
    });
}

/// Runs what the child process was asked for in `LITEPOOL_PLANTED`.
pub fn run_planted_child() {
    use crate::support::planted::subject;
    let name = std::env::var(PLANTED_VAR)
        .expect("run by the planted_* tests in a child process, with LITEPOOL_PLANTED set");
    if name == "tutorial-shared-connection" {
        tutorial_shared_connection();
    } else if let Ok(only) = std::env::var(PROPERTY_VAR) {
        (property(&only).run)(&subject(&name));
    } else {
        all_properties(&subject(&name));
    }
}
