//! lab-check itself: its command line, its reports, and the pipe-hello and sig-segv exercises,
//! on the reference solutions, the notes' own programs and broken copies of them. The other
//! exercises have a module each (shm-slave and shm-master, pipeline, mq-receive), and all share
//! the helpers here.

mod mq_receive;
mod pipeline;
mod shm;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::bad_input::{self, try_bad_arguments};
use crate::common::{self, cmd, notes_program};

/// A folder of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        // The tests of every exercise run in one process: a counter keeps their folders apart.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("lab-check-test-{}-{n}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make a scratch folder");
        Scratch(dir)
    }

    /// Write `source` as NAME.c here and return its path.
    fn c_file(&self, name: &str, source: &str) -> PathBuf {
        let path = self.0.join(format!("{name}.c"));
        std::fs::write(&path, source).expect("write a C file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn exercises_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("exercises")
}

/// The reference solution of exercise `name`: exercises/NAME/solution/NAME.c.
fn solution(name: &str) -> PathBuf {
    exercises_dir()
        .join(name)
        .join("solution")
        .join(format!("{name}.c"))
}

/// The starter students are given for exercise `name`: exercises/NAME/NAME.c.
fn starter(name: &str) -> PathBuf {
    exercises_dir().join(name).join(format!("{name}.c"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `source` with each `from` replaced by its `to`, in order; each `from` must be there.
fn broken(source: &str, edits: &[(&str, &str)]) -> String {
    let mut text = source.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "the solution has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    text
}

/// A copy of `exercise`'s solution with `edits` made (see `broken`), checked as NAME.c.
fn check_broken(exercise: &str, name: &str, edits: &[(&str, &str)], extra: &[&str]) -> Checked {
    let source = broken(&read(&solution(exercise)), edits);
    check_source(exercise, name, &source, extra)
}

/// lab-check with these arguments, uncoloured.
fn lab_check(args: &[&str]) -> Output {
    cmd("lab-check").args(args).output().expect("run lab-check")
}

/// What a run of lab-check gave: its status as a shell shows it, its report and its stderr.
struct Checked {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `lab-check EXERCISE PROGRAM EXTRA...`.
fn check(exercise: &str, program: &Path, extra: &[&str]) -> Checked {
    let mut args = vec![exercise, program.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let out = lab_check(&args);
    Checked {
        code: common::shell_status(out.status),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Check `source`, written as NAME.c in a folder of the test's own.
fn check_source(exercise: &str, name: &str, source: &str, extra: &[&str]) -> Checked {
    let scratch = Scratch::new(name);
    let path = scratch.c_file(name, source);
    check(exercise, &path, extra)
}

/// The report's line for `check`, with its mark: `ok    output  3/3  ...` or
/// `FAIL  removed  0/2  ...`.
fn line_of<'a>(report: &'a str, check: &str) -> &'a str {
    report
        .lines()
        .find(|l| {
            let mut words = l.split_whitespace();
            matches!(words.next(), Some("ok" | "FAIL")) && words.next() == Some(check)
        })
        .unwrap_or_else(|| panic!("no line for check {check} in:\n{report}"))
}

/// The lines under `check`'s line (expected, happened, hint, see), without it.
fn details(report: &str, check: &str) -> String {
    let mut lines = report
        .lines()
        .skip_while(|l| l.split_whitespace().nth(1) != Some(check));
    lines.next();
    lines
        .take_while(|l| l.starts_with("      "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each check of `all` in `failing` is marked FAIL, every other one ok.
#[track_caller]
fn assert_marks(report: &str, all: &[&str], failing: &[&str]) {
    for c in all {
        let (mark, should) = if failing.contains(c) {
            ("FAIL", "fail")
        } else {
            ("ok  ", "pass")
        };
        assert!(
            line_of(report, c).starts_with(&format!("{mark}  {c} ")),
            "{c} should {should}:\n{report}"
        );
    }
}

/// The report says `text`.
#[track_caller]
fn assert_reports(ran: &Checked, text: &str) {
    assert!(ran.stdout.contains(text), "{}", ran.stdout);
}

/// The run passed (exit status 0): every check of `all` is ok, and the report ends with the
/// full score, `max` points.
#[track_caller]
fn assert_all_pass(ran: &Checked, all: &[&str], max: u32) {
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_marks(&ran.stdout, all, &[]);
    let n = all.len();
    assert!(
        ran.stdout
            .ends_with(&format!("score: {max}/{max} ({n} of {n} checks passed)\n")),
        "{}",
        ran.stdout
    );
}

/// The run failed (exit status 1): exactly `failed` fails, says what happened and has `hint` in
/// its hint line; every other check of `all` passes. Returns the lines under the failure.
#[track_caller]
fn assert_only_failure(ran: &Checked, all: &[&str], failed: &str, hint: &str) -> String {
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    assert_marks(&ran.stdout, all, &[failed]);
    let details = details(&ran.stdout, failed);
    let hint_line = details
        .lines()
        .find(|l| l.trim_start().starts_with("hint:"))
        .unwrap_or_else(|| panic!("no hint:\n{}", ran.stdout));
    assert!(
        hint_line.contains(hint),
        "hint {hint:?} missing:\n{}",
        ran.stdout
    );
    assert!(details.contains("happened: "), "{}", ran.stdout);
    details
}

const PIPE_CHECKS: [&str; 3] = ["output", "ends", "waits"];
const SEGV_CHECKS: [&str; 3] = ["message", "exit-status", "no-return"];

// ---------------------------------------------------------------------------------------------
// The command line

#[test]
fn list_names_every_exercise_with_its_section_and_points() {
    let out = lab_check(&["list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["pipe-hello", "sig-segv"] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{text}"));
        assert!(line.contains("6 points"), "{line}");
        assert!(line.contains("B3") || line.contains("B4"), "{line}");
    }
}

#[test]
fn every_listed_exercise_has_its_folder_starter_makefile_and_solution() {
    let out = lab_check(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for name in text.lines().filter_map(|l| l.split_whitespace().next()) {
        let dir = exercises_dir().join(name);
        for file in [
            "README.md".to_string(),
            "Makefile".to_string(),
            format!("{name}.c"),
            format!("solution/{name}.c"),
        ] {
            assert!(
                dir.join(&file).is_file(),
                "exercises/{name}/{file} is missing"
            );
        }
        let readme = read(&dir.join("README.md"));
        assert!(
            readme.contains(&format!("lab-check {name}")),
            "{name}'s README shows no lab-check command"
        );
        // The rules are the ones every exercise shares: the Makefile names its exercise.
        let makefile = read(&dir.join("Makefile"));
        assert!(
            makefile.contains(&format!("\nEXERCISE = {name}\n"))
                && makefile.contains("../exercise.mk"),
            "exercises/{name}/Makefile does not name its exercise and include ../exercise.mk"
        );
    }
    assert!(exercises_dir().join("exercise.mk").is_file());
}

#[test]
fn an_unknown_exercise_is_a_usage_error_naming_the_exercises() {
    let out = lab_check(&["pipe-helo", "x.c"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no exercise is named pipe-helo"), "{err}");
    assert!(err.contains("pipe-hello, "), "{err}");
}

#[test]
fn a_missing_program_is_a_usage_error() {
    let out = lab_check(&["pipe-hello"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("which program?"));
    let out = lab_check(&["pipe-hello", "/no/such/program"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot find the program /no/such/program")
    );
}

#[test]
fn a_program_that_does_not_compile_fails_every_check_with_the_first_error() {
    let Checked {
        code,
        stdout: report,
        ..
    } = check_source("sig-segv", "broken", "int main(void) { return x; }\n", &[]);
    assert_eq!(code, 1, "{report}");
    let first = report.lines().next().unwrap_or("");
    assert!(
        first.starts_with("did not compile: cc -std=")
            || first.starts_with("did not compile: cc -Wall"),
        "{report}"
    );
    assert!(first.contains("error"), "{report}");
    assert_marks(&report, &SEGV_CHECKS, &SEGV_CHECKS);
    assert!(
        report.contains("not checked: the program did not compile"),
        "{report}"
    );
    assert!(
        report.ends_with("score: 0/6 (0 of 3 checks passed)\n"),
        "{report}"
    );
}

#[test]
fn json_is_gradescopes_format_with_one_test_per_check() {
    let Checked {
        code, stdout: json, ..
    } = check_source(
        "pipe-hello",
        "pipe",
        &notes_program("Hello There!"),
        &["--format", "json"],
    );
    assert_eq!(code, 1, "{json}");
    assert!(
        json.starts_with("{\"score\": 4, \"max_score\": 6, \"tests\": ["),
        "{json}"
    );
    assert!(
        json.contains(
            "{\"name\": \"compiles\", \"score\": 0, \"max_score\": 0, \"status\": \"passed\""
        ),
        "{json}"
    );
    assert!(
        json.contains(
            "{\"name\": \"output\", \"score\": 3, \"max_score\": 3, \"status\": \"passed\""
        ),
        "{json}"
    );
    assert!(json.contains("{\"name\": \"waits\", \"score\": 0, \"max_score\": 2, \"status\": \"failed\", \"output\": \""), "{json}");
    assert!(json.contains("\\nhint: call wait(NULL)"), "{json}");
    assert_eq!(json.lines().count(), 1, "one line of JSON");
}

#[test]
fn an_executable_is_run_as_given() {
    let scratch = Scratch::new("exe");
    let c = solution("sig-segv");
    let exe = scratch.0.join("segv");
    let built = std::process::Command::new("cc")
        .args(["-o", exe.to_str().unwrap(), c.to_str().unwrap()])
        .status()
        .expect("cc");
    assert!(built.success());
    let ran = check("sig-segv", &exe, &[]);
    assert_all_pass(&ran, &SEGV_CHECKS, 6);
    assert!(!ran.stdout.contains("compiled"), "{}", ran.stdout);
}

// ---------------------------------------------------------------------------------------------
// pipe-hello

#[test]
fn pipe_hello_solution_passes_every_check() {
    let ran = check("pipe-hello", &solution("pipe-hello"), &[]);
    assert_all_pass(&ran, &PIPE_CHECKS, 6);
}

#[test]
fn pipe_hello_the_notes_program_prints_right_but_leaves_its_child_unreaped() {
    let ran = check_source("pipe-hello", "pipe", &notes_program("Hello There!"), &[]);
    assert_only_failure(&ran, &PIPE_CHECKS, "waits", "call wait(NULL) in the parent");
    assert_reports(&ran, "lab-check reaped its child (pid ");
}

#[test]
fn pipe_hello_a_child_that_prints_after_its_parent_ended_is_heard_out() {
    // The parent does not wait, and its child takes its time: as in a terminal, the child's
    // line still comes (lab-check, its new parent, lets it finish); only waits fails.
    let source = broken(
        &read(&solution("pipe-hello")),
        &[
            (
                "        if (waitpid(pid, NULL, 0) == -1) {\n            perror(\"waitpid\");\n            return 1;\n        }\n",
                "",
            ),
            (
                "        printf(\"Proc %d read: %s\\n\", pid, buf);",
                "        usleep(300000);\n        printf(\"Proc %d read: %s\\n\", pid, buf);",
            ),
        ],
    );
    assert!(
        !source.contains("waitpid(pid") && source.contains("usleep"),
        "{source}"
    );
    let ran = check_source("pipe-hello", "pipe", &source, &[]);
    assert_only_failure(&ran, &PIPE_CHECKS, "waits", "call wait(NULL) in the parent");
}

#[test]
fn pipe_hello_a_child_that_prints_the_wrong_pid_fails_output_only() {
    let ran = check_broken(
        "pipe-hello",
        "pipe",
        &[(
            "printf(\"Proc %d read: %s\\n\", pid, buf);",
            "printf(\"Proc %d read: %s\\n\", getpid(), buf);",
        )],
        &[],
    );
    assert_only_failure(
        &ran,
        &PIPE_CHECKS,
        "output",
        "fork's return value, which is 0 in the child",
    );
}

#[test]
fn pipe_hello_a_write_end_left_open_hangs_the_reader_and_is_named() {
    // The parent keeps its write end and waits for the child, which waits for more data (it
    // reads again until end of file): neither ever ends.
    let Checked {
        code,
        stdout: report,
        ..
    } = check_broken(
        "pipe-hello",
        "pipe",
        &[
            (
                "        close(pipeFd[WRITE_END]);\n        if (waitpid",
                "        if (waitpid",
            ),
            (
                "        close(pipeFd[WRITE_END]);\n        len = read",
                "        len = read",
            ),
            (
                "        buf[len] = '\\0';",
                "        buf[len] = '\\0';\n        while (read(pipeFd[READ_END], buf + len, 1) > 0)\n            ;",
            ),
        ],
        &["--timeout", "1"],
    );
    assert_eq!(code, 1, "{report}");
    let ends = line_of(&report, "ends");
    assert!(ends.starts_with("FAIL"), "{report}");
    assert!(
        report.contains("still running after 1 s: lab-check killed it"),
        "{report}"
    );
    assert!(
        report.contains("close the write end in the child before reading"),
        "{report}"
    );
}

// ---------------------------------------------------------------------------------------------
// sig-segv

#[test]
fn sig_segv_solution_and_the_notes_program_pass_every_check() {
    let ran = check("sig-segv", &solution("sig-segv"), &[]);
    assert_all_pass(&ran, &SEGV_CHECKS, 6);
    let ran = check_source(
        "sig-segv",
        "segv",
        &notes_program("Memory access blows up!"),
        &[],
    );
    assert_all_pass(&ran, &SEGV_CHECKS, 6);
}

#[test]
fn sig_segv_without_a_handler_dies_by_sigsegv_and_is_told_to_install_one() {
    let no_handler = (
        "    if (signal(SIGSEGV, myOwnHandler) == SIG_ERR) {",
        "    if (0) {",
    );
    let ran = check_broken("sig-segv", "segv", &[no_handler], &[]);
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert_marks(&ran.stdout, &SEGV_CHECKS, &["message", "exit-status"]);
    assert_reports(&ran, "happened: killed by SIGSEGV");
    assert_reports(&ran, "install it with signal(SIGSEGV, myOwnHandler)");
}

#[test]
fn sig_segv_a_handler_that_returns_faults_for_ever_and_is_named() {
    let returns = ("        exit(1);\n", "");
    let ran = check_broken("sig-segv", "segv", &[returns], &["--timeout", "1"]);
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert_marks(&ran.stdout, &SEGV_CHECKS, &SEGV_CHECKS);
    assert_reports(&ran, "a SIGSEGV handler must not return");
}

#[test]
fn sig_segv_a_wrong_exit_status_fails_that_check_only() {
    let ran = check_broken(
        "sig-segv",
        "segv",
        &[("        exit(1);\n", "        exit(0);\n")],
        &[],
    );
    assert_only_failure(&ran, &SEGV_CHECKS, "exit-status", "exit(1)");
    assert_reports(&ran, "happened: exit status 0");
}

// ---------------------------------------------------------------------------------------------
// Ending lab-check

#[test]
fn a_termination_signal_ends_lab_check_with_the_program_killed_and_its_build_removed() {
    use std::os::unix::process::ExitStatusExt as _;
    let scratch = Scratch::new("term");
    let c = scratch.c_file(
        "sleeper",
        "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n",
    );
    for sig in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        let mut c_cmd = cmd("lab-check");
        c_cmd.args(["pipe-hello", c.to_str().unwrap(), "--timeout", "600"]);
        let demo = common::Demo::start_cmd(c_cmd);
        let lab = demo.pid();
        // The program runs once lab-check has a child that has executed it.
        let mut program = 0;
        common::eventually("the program under check", || {
            program = common::children_of(lab)
                .into_iter()
                .find(|&p| {
                    std::fs::read_to_string(format!("/proc/{p}/comm"))
                        .is_ok_and(|c| c == "sleeper\n")
                })
                .unwrap_or(0);
            program != 0
        });
        let exe = std::fs::read_link(format!("/proc/{program}/exe")).expect("the program's path");
        let build = exe.parent().expect("a folder").to_path_buf();
        assert!(build.is_dir());
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(lab), sig).expect("kill");
        let ran = demo.finish();
        assert_eq!(
            ran.status.signal(),
            Some(sig as i32),
            "{sig}: {}",
            ran.stderr
        );
        assert_eq!(ran.stdout, "", "{sig}: no report of an interrupted check");
        assert!(
            common::proc_stat(program).is_none_or(|s| s.state == 'Z'),
            "{sig}: the program still runs"
        );
        assert!(!build.exists(), "{sig}: {} is left", build.display());
    }
}

// ---------------------------------------------------------------------------------------------
// Rows of the bad-input table (tests/lab/bad_input.rs): every option of lab-check

/// Options of lab-check, each with a program that does exist: a valid value would check it.
fn lab_check_rows() -> Vec<bad_input::Row> {
    use bad_input::Row;
    vec![
        Row::opt("lab-check", "--timeout").before(&["sig-segv", "/bin/true"]),
        Row::opt("lab-check", "--format").before(&["sig-segv", "/bin/true"]),
        Row::opt("lab-check", "--color").before(&["list"]),
    ]
}

#[test]
fn lab_check_bad_arguments() {
    try_bad_arguments(
        "lab-check",
        &lab_check_rows(),
        &[],
        &[
            &[],
            &["bogus", "x.c"],
            &["sig-segv"],
            &["sig-segv", "/nonexistent-ipc-lab/segv.c"],
            &["sig-segv", "/nonexistent-ipc-lab/segv"],
            &["sig-segv", "/etc/passwd"],
            &["list", "extra"],
            &["sig-segv", "/bin/true", "--timeout", "0"],
            &["sig-segv", "/bin/true", "--format", "xml"],
        ],
    );
}
