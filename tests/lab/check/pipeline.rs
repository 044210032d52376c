//! lab-check pipeline: the reference solution passes every check; broken copies of it, made
//! here, fail the checks their mistake is about, with the hint that names it.

use super::*;

const CHECKS: [&str; 5] = [
    "same-as-shell",
    "closes-ends",
    "sigpipe",
    "missing-command",
    "waits",
];

/// The solution with `from` replaced by `to` (which must be found), checked as `name.c`: the
/// exit status and the report.
fn check_edit(name: &str, from: &str, to: &str) -> (i32, String) {
    let ran = check_broken("pipeline", name, &[(from, to)], &[]);
    (ran.code, ran.stdout)
}

/// The source after the parent's two closes, which the broken copies change.
const PARENT_CLOSES: &str = "    close(fd[READ_END]);        /* the parent uses neither end */\n    close(fd[WRITE_END]);\n";

#[test]
fn the_solution_passes_every_check() {
    let ran = check("pipeline", &solution("pipeline"), &[]);
    assert_all_pass(&ran, &CHECKS, 11);
}

#[test]
fn the_solution_in_gradescope_json() {
    let Checked {
        code, stdout: json, ..
    } = check("pipeline", &solution("pipeline"), &["--format", "json"]);
    assert_eq!(code, 0, "{json}");
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
    let Checked {
        code,
        stdout: report,
        ..
    } = check("pipeline", &starter("pipeline"), &[]);
    assert_eq!(code, 1, "{report}");
    assert!(report.starts_with("compiled: "), "{report}");
    assert_marks(&report, &CHECKS, &CHECKS);
    assert!(report.contains("score: 0/11"), "{report}");
}

#[test]
fn a_parent_that_keeps_the_write_end_hangs_cat() {
    let (code, report) = check_edit("write-end", PARENT_CLOSES, "    close(fd[READ_END]);\n");
    assert_eq!(code, 1, "{report}");
    // Every pipeline whose reader reads to end of file hangs: tr in same-as-shell, cat in
    // closes-ends and in missing-command. yes | head -n 1 does not read to the end.
    assert_marks(
        &report,
        &CHECKS,
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
    let (code, report) = check_edit("read-end", PARENT_CLOSES, "    close(fd[WRITE_END]);\n");
    assert_eq!(code, 1, "{report}");
    assert_marks(&report, &CHECKS, &["sigpipe"]);
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
    let (code, report) = check_edit(
        "exit-0",
        "    if (WIFEXITED(status))\n        return WEXITSTATUS(status);\n    return 128 + WTERMSIG(status);",
        "    (void) status;\n    return 0;",
    );
    assert_eq!(code, 1, "{report}");
    assert_marks(&report, &CHECKS, &["same-as-shell", "missing-command"]);
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
    let (code, report) = check_edit(
        "wait-one",
        "    if (waitpid(writer, NULL, 0) == -1)\n        perror(\"waitpid\");\n",
        "",
    );
    assert_eq!(code, 1, "{report}");
    assert_marks(&report, &CHECKS, &["waits"]);
    let waits = details(&report, "waits");
    assert!(
        waits.contains("hint: wait for both children with waitpid before exiting"),
        "{waits}"
    );
    assert!(waits.contains("lab-check reaped"), "{waits}");
}

#[test]
fn a_child_that_says_nothing_when_execvp_fails() {
    let (code, report) = check_edit("silent-exec", "    perror(argv[0]);", "");
    assert_eq!(code, 1, "{report}");
    assert_marks(&report, &CHECKS, &["missing-command"]);
    assert!(
        details(&report, "missing-command").contains("nothing on stderr"),
        "{report}"
    );
}
