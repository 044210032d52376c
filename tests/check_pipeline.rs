//! lab-check pipeline: the reference solution passes every check; broken copies of it, made
//! here, fail the checks their mistake is about, with the hint that names it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CHECKS: [&str; 5] = [
    "same-as-shell",
    "closes-ends",
    "sigpipe",
    "missing-command",
    "waits",
];

fn exercise_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("exercises/pipeline")
}

fn solution() -> String {
    std::fs::read_to_string(exercise_dir().join("solution/pipeline.c")).expect("read solution")
}

/// A folder of the test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "lab-check-test-{}-pipeline-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn lab_check(program: &Path, extra: &[&str]) -> Output {
    Command::new(common::bin("lab-check"))
        .arg("pipeline")
        .arg(program)
        .args(extra)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run lab-check")
}

/// The solution with `from` replaced by `to` (which must be found), checked as `name.c`.
fn check_broken(name: &str, from: &str, to: &str) -> (i32, String) {
    let source = solution();
    assert!(source.contains(from), "the solution lacks {from:?}");
    let scratch = Scratch::new(name);
    let path = scratch.0.join(format!("{name}.c"));
    std::fs::write(&path, source.replacen(from, to, 1)).expect("write broken copy");
    let out = lab_check(&path, &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

/// The report's line for `check`: `ok` or `FAIL`, and the lines under it.
fn status_of<'a>(report: &'a str, check: &str) -> &'a str {
    let line = report
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(check))
        .unwrap_or_else(|| panic!("no line for {check} in:\n{report}"));
    line.split_whitespace().next().unwrap()
}

/// The text under `check`'s FAIL line (expected, happened, hint, see).
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

#[track_caller]
fn assert_checks(report: &str, failing: &[&str]) {
    for check in CHECKS {
        let want = if failing.contains(&check) {
            "FAIL"
        } else {
            "ok"
        };
        assert_eq!(status_of(report, check), want, "{check} in:\n{report}");
    }
}

/// The source after the parent's two closes, which the broken copies change.
const PARENT_CLOSES: &str = "    close(fd[READ_END]);        /* the parent uses neither end */\n    close(fd[WRITE_END]);\n";

#[test]
fn the_solution_passes_every_check() {
    let out = lab_check(&exercise_dir().join("solution/pipeline.c"), &[]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_checks(&report, &[]);
    assert!(
        report.contains("score: 11/11 (5 of 5 checks passed)"),
        "{report}"
    );
}

#[test]
fn the_solution_in_gradescope_json() {
    let out = lab_check(
        &exercise_dir().join("solution/pipeline.c"),
        &["--format", "json"],
    );
    let json = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert!(
        json.starts_with("{\"score\": 11, \"max_score\": 11, \"tests\": ["),
        "{json}"
    );
    for (check, points) in [
        ("same-as-shell", 4),
        ("closes-ends", 2),
        ("sigpipe", 2),
        ("missing-command", 2),
        ("waits", 1),
    ] {
        assert!(
            json.contains(&format!(
                "{{\"name\": \"{check}\", \"score\": {points}, \"max_score\": {points}, \
                 \"status\": \"passed\""
            )),
            "{check}: {json}"
        );
    }
    assert!(!json.contains("\"failed\""), "{json}");
}

#[test]
fn the_starter_compiles_and_passes_nothing() {
    let out = lab_check(&exercise_dir().join("pipeline.c"), &[]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.starts_with("compiled: "), "{report}");
    assert_checks(&report, &CHECKS);
    assert!(report.contains("score: 0/11"), "{report}");
}

#[test]
fn a_parent_that_keeps_the_write_end_hangs_cat() {
    let (code, report) = check_broken("write-end", PARENT_CLOSES, "    close(fd[READ_END]);\n");
    assert_eq!(code, 1, "{report}");
    // Every pipeline whose reader reads to end of file hangs: tr in same-as-shell, cat in
    // closes-ends and in missing-command. yes | head -n 1 does not read to the end.
    assert_checks(
        &report,
        &["same-as-shell", "closes-ends", "missing-command"],
    );
    let closes = details(&report, "closes-ends");
    assert!(
        closes.contains(
            "hint: a write end is still open: close unused ends in the parent and in each child"
        ),
        "{closes}"
    );
    assert!(
        closes.contains("a write end of its pipe was open in: your program, the parent"),
        "{closes}"
    );
    assert!(closes.contains("close(fd[1])"), "{closes}");
    assert!(
        details(&report, "same-as-shell").contains("a write end is still open"),
        "{report}"
    );
}

#[test]
fn a_parent_that_keeps_the_read_end_spares_yes_its_sigpipe() {
    let (code, report) = check_broken("read-end", PARENT_CLOSES, "    close(fd[WRITE_END]);\n");
    assert_eq!(code, 1, "{report}");
    assert_checks(&report, &["sigpipe"]);
    let sigpipe = details(&report, "sigpipe");
    assert!(
        sigpipe.contains("close the read end in the parent and in the first child"),
        "{sigpipe}"
    );
    assert!(
        sigpipe.contains("a read end was open in: your program, the parent"),
        "{sigpipe}"
    );
}

#[test]
fn a_program_that_always_exits_0_is_not_the_shell() {
    let (code, report) = check_broken(
        "exit-0",
        "    if (WIFEXITED(status))\n        return WEXITSTATUS(status);\n    return 128 + WTERMSIG(status);",
        "    (void) status;\n    return 0;",
    );
    assert_eq!(code, 1, "{report}");
    assert_checks(&report, &["same-as-shell", "missing-command"]);
    let same = details(&report, "same-as-shell");
    assert!(same.contains("'seq 3 | false'"), "{same}");
    assert!(
        same.contains("the status of a pipeline is the last command's"),
        "{same}"
    );
    assert!(
        details(&report, "missing-command").contains("exit status 127"),
        "{report}"
    );
}

#[test]
fn a_parent_that_waits_for_one_child_leaves_the_other() {
    let (code, report) = check_broken(
        "wait-one",
        "    if (waitpid(writer, NULL, 0) == -1)\n        perror(\"waitpid\");\n",
        "",
    );
    assert_eq!(code, 1, "{report}");
    assert_checks(&report, &["waits"]);
    let waits = details(&report, "waits");
    assert!(
        waits.contains("hint: wait for both children with waitpid before exiting"),
        "{waits}"
    );
    assert!(waits.contains("lab-check reaped"), "{waits}");
}

#[test]
fn a_child_that_says_nothing_when_execvp_fails() {
    let (code, report) = check_broken("silent-exec", "    perror(argv[0]);", "");
    assert_eq!(code, 1, "{report}");
    assert_checks(&report, &["missing-command"]);
    assert!(
        details(&report, "missing-command").contains("nothing on stderr"),
        "{report}"
    );
}
