//! lab-check: the exercises' checker. A student writes one of the notes' programs; lab-check
//! runs it against ipc-lab's reference programs, check by check, and says what is wrong in the
//! notes' words, with the lab sheet's section that teaches it.
//!
//! - [`run`]: a program run as the student runs it: on a terminal, in its own process group,
//!   bounded by a timeout, with the children it leaves unreaped found (lab-check is a subreaper).
//! - [`ipc`]: the private IPC namespace the runs share, and the objects a run leaves behind.
//! - [`build`]: a `.c` file compiled as the notes' programs are.
//! - [`report`]: the result, as text for the student or Gradescope's JSON for the instructor.
//! - one file per exercise: `shm_slave`, `shm_master`, `pipe_hello`, [`pipeline`],
//!   `sig_segv`, [`mq_receive`].

#![forbid(unsafe_code)]

pub mod build;
pub mod ipc;
pub mod mq_receive;
pub(crate) mod pipe_hello;
pub mod pipeline;
pub mod report;
pub mod run;
pub(crate) mod shm_master;
pub(crate) mod shm_slave;
pub(crate) mod sig_segv;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ui::Ui;
use ipc::{Isolation, Object};
use run::Run;

/// One check of an exercise, as its README lists it.
#[derive(Debug)]
pub struct Check {
    /// Its name, as the report and Gradescope show it: `values`, `flag-last`.
    pub name: &'static str,
    pub points: u32,
    /// What it asks of the program, in a line.
    pub asks: &'static str,
    /// The section of the lab sheet that teaches it.
    pub see: &'static str,
}

/// An exercise: what the student writes and how lab-check checks it.
#[derive(Debug)]
pub struct Exercise {
    /// The name instructors script against: `shm-slave`.
    pub name: &'static str,
    /// The notes' section it comes from.
    pub section: &'static str,
    /// What to write, in a line.
    pub task: &'static str,
    /// How lab-check runs the program: `PROGRAM QUEUE N`.
    pub usage: &'static str,
    /// The time one run of the program may take, unless `--timeout` says otherwise.
    pub timeout: Duration,
    pub checks: &'static [Check],
    /// Run the checks, recording each in the lab.
    pub run: fn(&mut Lab) -> anyhow::Result<()>,
}

impl Exercise {
    pub fn max_score(&self) -> u32 {
        self.checks.iter().map(|c| c.points).sum()
    }

    fn check(&self, name: &str) -> &'static Check {
        self.checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("exercise {} has no check {name}", self.name))
    }
}

/// Every exercise, in the lab sheet's order.
pub fn exercises() -> &'static [&'static Exercise] {
    static ALL: &[&Exercise] = &[
        &shm_slave::EXERCISE,
        &shm_master::EXERCISE,
        &pipe_hello::EXERCISE,
        &pipeline::EXERCISE,
        &sig_segv::EXERCISE,
        &mq_receive::EXERCISE,
    ];
    ALL
}

/// The exercise named `name`.
pub fn exercise(name: &str) -> Option<&'static Exercise> {
    exercises().iter().copied().find(|e| e.name == name)
}

/// Why a check failed: what was expected, what happened, and what mistake that points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub expected: String,
    pub happened: String,
    pub hint: String,
}

impl Failure {
    pub fn new(
        expected: impl Into<String>,
        happened: impl Into<String>,
        hint: impl Into<String>,
    ) -> Failure {
        Failure {
            expected: expected.into(),
            happened: happened.into(),
            hint: hint.into(),
        }
    }
}

/// A check's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub check: &'static Check,
    /// None: passed.
    pub failure: Option<Failure>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    pub fn score(&self) -> u32 {
        if self.passed() { self.check.points } else { 0 }
    }
}

/// The program under test, ready to run: the executable given, or the one compiled from the
/// `.c` file given.
#[derive(Debug)]
pub struct Program {
    pub path: PathBuf,
    /// How the student knows it: `./segv` (compiled from segv.c, or given so).
    pub shown: PathBuf,
    /// The arguments given after PROGRAM (an exercise may pass them on).
    pub args: Vec<String>,
}

/// What an exercise's checks work with: the program, the settings, the narration, and the
/// outcomes recorded so far.
#[derive(Debug)]
pub struct Lab<'a> {
    pub exercise: &'static Exercise,
    pub program: Program,
    /// One run's time limit.
    pub timeout: Duration,
    pub isolation: Isolation,
    ui: &'a Ui,
    outcomes: Vec<Outcome>,
}

impl<'a> Lab<'a> {
    pub fn new(
        exercise: &'static Exercise,
        program: Program,
        timeout: Option<Duration>,
        isolation: Isolation,
        ui: &'a Ui,
    ) -> Lab<'a> {
        Lab {
            exercise,
            program,
            timeout: timeout.unwrap_or(exercise.timeout),
            isolation,
            ui,
            outcomes: Vec::new(),
        }
    }

    /// `--explain`: say what the next check does.
    pub fn explain(&self, check: &str, text: &str) {
        self.ui.meaning(&format!("[{check}] {text}"));
    }

    /// Start the student's program with `args`, on a terminal, for at most the timeout.
    pub fn start(&self, args: &[String]) -> anyhow::Result<Run> {
        self.start_for(args, self.timeout)
    }

    /// Start the student's program with `args`, for at most `timeout`.
    pub(crate) fn start_for(&self, args: &[String], timeout: Duration) -> anyhow::Result<Run> {
        self.ui.meaning(&format!(
            "  run: {}",
            run::shell_words(&self.program.shown, args)
        ));
        Run::start(&self.program.path, args, timeout)
    }

    /// Record a check's result. Each check is recorded once; a second result is a failure of
    /// the first kind only if the first passed.
    pub fn record(&mut self, check: &str, result: Result<(), Failure>) {
        let check = self.exercise.check(check);
        match self
            .outcomes
            .iter_mut()
            .find(|o| std::ptr::eq(o.check, check))
        {
            Some(o) => {
                if o.failure.is_none() {
                    o.failure = result.err();
                }
            }
            None => self.outcomes.push(Outcome {
                check,
                failure: result.err(),
            }),
        }
    }

    /// Record a failure of `check`.
    pub fn fail(&mut self, check: &str, failure: Failure) {
        self.record(check, Err(failure));
    }

    /// Record a pass of `check`.
    pub fn pass(&mut self, check: &str) {
        self.record(check, Ok(()));
    }

    /// Whether `check` has been recorded as failed.
    pub fn failed(&self, check: &str) -> bool {
        self.outcomes
            .iter()
            .any(|o| o.check.name == check && !o.passed())
    }

    /// The objects in the namespace now.
    pub fn objects(&self) -> std::collections::BTreeSet<Object> {
        ipc::snapshot(&self.isolation)
    }

    /// Find what the program left since `before`, remove it, and describe it (empty: nothing).
    pub(crate) fn remove_leftovers(
        &self,
        before: &std::collections::BTreeSet<Object>,
    ) -> Vec<String> {
        let left = ipc::left_since(&self.isolation, before);
        left.iter()
            .map(|o| {
                let _ = o.remove();
                o.describe()
            })
            .collect()
    }

    /// Every check's outcome, in the exercise's order; a check the run never reached failed.
    pub fn outcomes(&self, why_not_run: &str) -> Vec<Outcome> {
        self.exercise
            .checks
            .iter()
            .map(|check| {
                self.outcomes
                    .iter()
                    .find(|o| std::ptr::eq(o.check, check))
                    .cloned()
                    .unwrap_or_else(|| Outcome {
                        check,
                        failure: Some(Failure::new(
                            check.asks,
                            format!("not checked: {why_not_run}"),
                            "fix the failure above first",
                        )),
                    })
            })
            .collect()
    }
}

/// Whether `path` names a C source file to compile first.
pub fn is_c_source(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "c")
}

/// Whether `path` is a file someone may execute (a mode bit x is set).
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
