//! lab-check itself: its command line, its reports, and the pipe-hello and sig-segv exercises,
//! on the reference solutions, the notes' own programs and broken copies of them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::cmd;

/// A folder of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("lab-check-test-{}-{test}", std::process::id()));
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

fn solution(name: &str) -> PathBuf {
    exercises_dir()
        .join(name)
        .join("solution")
        .join(format!("{name}.c"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lab_check(args: &[&str]) -> Output {
    cmd("lab-check").args(args).output().expect("run lab-check")
}

fn check(exercise: &str, program: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![exercise, program.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let out = lab_check(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The report's line for `check`, with its mark: `ok    output  3/3  ...`.
fn line_of<'a>(report: &'a str, check: &str) -> &'a str {
    report
        .lines()
        .find(|l| {
            let mut words = l.split_whitespace();
            matches!(words.next(), Some("ok" | "FAIL")) && words.next() == Some(check)
        })
        .unwrap_or_else(|| panic!("no line for check {check} in:\n{report}"))
}

fn assert_passed(report: &str, checks: &[&str]) {
    for c in checks {
        assert!(
            line_of(report, c).starts_with("ok"),
            "{c} should pass:\n{report}"
        );
    }
}

/// Exactly `failed` fails, with `hint` in its hint line; every other check of `all` passes.
fn assert_only_failure(report: &str, all: &[&str], failed: &str, hint: &str) {
    for c in all {
        let line = line_of(report, c);
        if *c == failed {
            assert!(line.starts_with("FAIL"), "{c} should fail:\n{report}");
        } else {
            assert!(line.starts_with("ok"), "{c} should pass:\n{report}");
        }
    }
    let hint_line = report
        .lines()
        .skip_while(|l| !l.starts_with("FAIL"))
        .find(|l| l.trim_start().starts_with("hint:"))
        .unwrap_or_else(|| panic!("no hint:\n{report}"));
    assert!(hint_line.contains(hint), "hint {hint:?} missing:\n{report}");
}

/// The notes' C program that contains `marker`, as printed in the notes.
fn notes_program(marker: &str) -> String {
    let notes = read(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("shared/seed/ipc-lecture-notes.md"),
    );
    notes
        .split("```c\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("no C program with {marker:?} in the notes"))
        .to_string()
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
    }
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
    let scratch = Scratch::new("nocompile");
    let c = scratch.c_file("broken", "int main(void) { return x; }\n");
    let (code, report, _) = check("sig-segv", &c, &[]);
    assert_eq!(code, 1, "{report}");
    let first = report.lines().next().unwrap_or("");
    assert!(
        first.starts_with("did not compile: cc -std=")
            || first.starts_with("did not compile: cc -Wall"),
        "{report}"
    );
    assert!(first.contains("error"), "{report}");
    for c in SEGV_CHECKS {
        assert!(line_of(&report, c).starts_with("FAIL"), "{report}");
    }
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
    let scratch = Scratch::new("json");
    let c = scratch.c_file("pipe", &notes_program("Hello There!"));
    let (code, json, _) = check("pipe-hello", &c, &["--format", "json"]);
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
    let (code, report, _) = check("sig-segv", &exe, &[]);
    assert_eq!(code, 0, "{report}");
    assert!(!report.contains("compiled"), "{report}");
    assert!(
        report.ends_with("score: 6/6 (3 of 3 checks passed)\n"),
        "{report}"
    );
}

// ---------------------------------------------------------------------------------------------
// pipe-hello

#[test]
fn pipe_hello_solution_passes_every_check() {
    let (code, report, _) = check("pipe-hello", &solution("pipe-hello"), &[]);
    assert_eq!(code, 0, "{report}");
    assert_passed(&report, &PIPE_CHECKS);
    assert!(
        report.ends_with("score: 6/6 (3 of 3 checks passed)\n"),
        "{report}"
    );
}

#[test]
fn pipe_hello_the_notes_program_prints_right_but_leaves_its_child_unreaped() {
    let scratch = Scratch::new("notes-pipe");
    let c = scratch.c_file("pipe", &notes_program("Hello There!"));
    let (code, report, _) = check("pipe-hello", &c, &[]);
    assert_eq!(code, 1, "{report}");
    assert_only_failure(
        &report,
        &PIPE_CHECKS,
        "waits",
        "call wait(NULL) in the parent",
    );
    assert!(
        report.contains("lab-check reaped its child (pid "),
        "{report}"
    );
}

#[test]
fn pipe_hello_a_child_that_prints_after_its_parent_ended_is_heard_out() {
    // The parent does not wait, and its child takes its time: as in a terminal, the child's
    // line still comes (lab-check, its new parent, lets it finish); only waits fails.
    let scratch = Scratch::new("pipe-late");
    let source = read(&solution("pipe-hello"))
        .replace(
            "        if (waitpid(pid, NULL, 0) == -1) {\n            perror(\"waitpid\");\n            return 1;\n        }\n",
            "",
        )
        .replace(
            "        printf(\"Proc %d read: %s\\n\", pid, buf);",
            "        usleep(300000);\n        printf(\"Proc %d read: %s\\n\", pid, buf);",
        );
    assert!(
        !source.contains("waitpid(pid") && source.contains("usleep"),
        "{source}"
    );
    let c = scratch.c_file("pipe", &source);
    let (code, report, _) = check("pipe-hello", &c, &[]);
    assert_eq!(code, 1, "{report}");
    assert_only_failure(
        &report,
        &PIPE_CHECKS,
        "waits",
        "call wait(NULL) in the parent",
    );
}

#[test]
fn pipe_hello_a_child_that_prints_the_wrong_pid_fails_output_only() {
    let scratch = Scratch::new("pipe-pid");
    let source = read(&solution("pipe-hello")).replace(
        "printf(\"Proc %d read: %s\\n\", pid, buf);",
        "printf(\"Proc %d read: %s\\n\", getpid(), buf);",
    );
    let c = scratch.c_file("pipe", &source);
    let (code, report, _) = check("pipe-hello", &c, &[]);
    assert_eq!(code, 1, "{report}");
    assert_only_failure(
        &report,
        &PIPE_CHECKS,
        "output",
        "fork's return value, which is 0 in the child",
    );
}

#[test]
fn pipe_hello_a_write_end_left_open_hangs_the_reader_and_is_named() {
    let scratch = Scratch::new("pipe-open");
    // The parent keeps its write end and waits for the child, which waits for more data (it
    // reads again until end of file): neither ever ends.
    let source = read(&solution("pipe-hello"))
        .replace("        close(pipeFd[WRITE_END]);\n        if (waitpid", "        if (waitpid")
        .replace(
            "        close(pipeFd[WRITE_END]);\n        len = read",
            "        len = read",
        )
        .replace(
            "        buf[len] = '\\0';",
            "        buf[len] = '\\0';\n        while (read(pipeFd[READ_END], buf + len, 1) > 0)\n            ;",
        );
    let c = scratch.c_file("pipe", &source);
    let (code, report, _) = check("pipe-hello", &c, &["--timeout", "1"]);
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
    let (code, report, _) = check("sig-segv", &solution("sig-segv"), &[]);
    assert_eq!(code, 0, "{report}");
    assert_passed(&report, &SEGV_CHECKS);
    let scratch = Scratch::new("notes-segv");
    let c = scratch.c_file("segv", &notes_program("Memory access blows up!"));
    let (code, report, _) = check("sig-segv", &c, &[]);
    assert_eq!(code, 0, "{report}");
    assert!(
        report.ends_with("score: 6/6 (3 of 3 checks passed)\n"),
        "{report}"
    );
}

#[test]
fn sig_segv_without_a_handler_dies_by_sigsegv_and_is_told_to_install_one() {
    let scratch = Scratch::new("segv-none");
    let source = read(&solution("sig-segv")).replace(
        "    if (signal(SIGSEGV, myOwnHandler) == SIG_ERR) {",
        "    if (0) {",
    );
    let c = scratch.c_file("segv", &source);
    let (code, report, _) = check("sig-segv", &c, &[]);
    assert_eq!(code, 1, "{report}");
    assert!(line_of(&report, "message").starts_with("FAIL"), "{report}");
    assert!(
        line_of(&report, "exit-status").starts_with("FAIL"),
        "{report}"
    );
    assert!(line_of(&report, "no-return").starts_with("ok"), "{report}");
    assert!(report.contains("happened: killed by SIGSEGV"), "{report}");
    assert!(
        report.contains("install it with signal(SIGSEGV, myOwnHandler)"),
        "{report}"
    );
}

#[test]
fn sig_segv_a_handler_that_returns_faults_for_ever_and_is_named() {
    let scratch = Scratch::new("segv-return");
    let source = read(&solution("sig-segv")).replace("        exit(1);\n", "");
    let c = scratch.c_file("segv", &source);
    let (code, report, _) = check("sig-segv", &c, &["--timeout", "1"]);
    assert_eq!(code, 1, "{report}");
    for c in SEGV_CHECKS {
        assert!(line_of(&report, c).starts_with("FAIL"), "{c}:\n{report}");
    }
    assert!(
        report.contains("a SIGSEGV handler must not return"),
        "{report}"
    );
}

#[test]
fn sig_segv_a_wrong_exit_status_fails_that_check_only() {
    let scratch = Scratch::new("segv-status");
    let source = read(&solution("sig-segv")).replace("        exit(1);\n", "        exit(0);\n");
    let c = scratch.c_file("segv", &source);
    let (code, report, _) = check("sig-segv", &c, &[]);
    assert_eq!(code, 1, "{report}");
    assert_only_failure(&report, &SEGV_CHECKS, "exit-status", "exit(1)");
    assert!(report.contains("happened: exit status 0"), "{report}");
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
