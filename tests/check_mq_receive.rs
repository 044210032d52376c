//! `lab-check mq-receive`: the reference solution passes every check; each classic mistake,
//! made in a copy of it here, fails exactly its own check with its hint.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const CHECKS: [&str; 4] = ["order", "exact-text", "removed", "buffer-size"];

fn exercise_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("exercises/mq-receive")
}

fn solution() -> PathBuf {
    exercise_dir().join("solution/mq-receive.c")
}

/// A folder of this test's own under the temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "lab-check-test-{}-mq-receive-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A copy of the solution with `from` replaced by `to` (each must be there), in `scratch`.
fn broken(scratch: &Scratch, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(solution()).expect("read the solution");
    for (from, to) in edits {
        assert!(text.contains(from), "{name}: the solution has no {from:?}");
        text = text.replace(from, to);
    }
    let path = scratch.0.join(format!("{name}.c"));
    std::fs::write(&path, text).expect("write the broken copy");
    path
}

struct Checked {
    code: i32,
    stdout: String,
    stderr: String,
}

fn lab_check(program: &Path, extra: &[&str]) -> Checked {
    let out = Command::new(common::bin("lab-check"))
        .arg("mq-receive")
        .arg(program)
        .args(extra)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run lab-check");
    Checked {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The report's line for `check`: `ok    order  4/4  ...` or `FAIL  removed  0/2  ...`.
fn status_of<'a>(report: &'a str, check: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(check))
        .unwrap_or_else(|| panic!("no line for {check}: {report}"))
}

/// `check` failed with `hint` in its lines, and every other check passed; the score is the
/// rest's. Returns the failure's lines.
#[track_caller]
fn assert_fails_only(ran: &Checked, check: &str, points: u32, hint: &str) -> String {
    assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    for other in CHECKS {
        let line = status_of(&ran.stdout, other);
        if other == check {
            assert!(
                line.starts_with(&format!("FAIL  {check}")),
                "{line}\n{}",
                ran.stdout
            );
        } else {
            assert!(line.starts_with("ok  "), "{other}: {line}\n{}", ran.stdout);
        }
    }
    let failure: String = ran
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with(&format!("FAIL  {check}")))
        .take_while(|l| !l.starts_with("ok ") && !l.starts_with("score:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(failure.contains(hint), "hint {hint:?} missing:\n{failure}");
    assert!(
        ran.stdout
            .contains(&format!("score: {}/10 (3 of 4 checks passed)", 10 - points)),
        "{}",
        ran.stdout
    );
    failure
}

#[test]
fn the_solution_passes_every_check() {
    let ran = lab_check(&solution(), &[]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.starts_with("compiled: ") && !ran.stdout.contains("warning"),
        "{}",
        ran.stdout
    );
    for check in CHECKS {
        assert!(
            status_of(&ran.stdout, check).starts_with("ok  "),
            "{}",
            ran.stdout
        );
    }
    assert!(
        ran.stdout
            .ends_with("score: 10/10 (4 of 4 checks passed)\n"),
        "{}",
        ran.stdout
    );
    assert_eq!(ran.stderr, "");
}

#[test]
fn explain_names_each_queue_and_run() {
    let ran = lab_check(&solution(), &["--explain"]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    for (n, count) in [(1, 4), (2, 2), (3, 2), (4, 1)] {
        let run = ran
            .stderr
            .lines()
            .filter(|l| l.trim_start().starts_with("run: ") && l.contains(" /lab-check-"))
            .nth(n - 1)
            .unwrap_or_else(|| panic!("run {n}: {}", ran.stderr));
        assert!(run.ends_with(&format!("-{n} {count}")), "{run}");
    }
}

#[test]
fn a_fixed_buffer_smaller_than_mq_msgsize_fails_buffer_size() {
    let scratch = Scratch::new("fixed-buffer");
    let program = broken(
        &scratch,
        "fixed-buffer",
        &[
            ("    char *buf;\n", "    char buf[1024];\n"),
            (
                "    buf = malloc(attr.mq_msgsize);\n    if (buf == NULL) {\n        \
                 perror(\"malloc\");\n        return 1;\n    }\n",
                "",
            ),
            (
                "mq_receive(mq, buf, attr.mq_msgsize, &prio)",
                "mq_receive(mq, buf, sizeof buf, &prio)",
            ),
            ("    free(buf);\n", ""),
        ],
    );
    let ran = lab_check(&program, &[]);
    let failure = assert_fails_only(
        &ran,
        "buffer-size",
        2,
        "ask mq_getattr, then malloc attr.mq_msgsize bytes",
    );
    assert!(failure.contains("Message too long"), "{failure}");
    assert!(failure.contains("EMSGSIZE"), "{failure}");
}

#[test]
fn no_mq_unlink_fails_removed_and_lab_check_removes_the_queue() {
    let scratch = Scratch::new("no-unlink");
    let program = broken(
        &scratch,
        "no-unlink",
        &[(
            "    if (mq_unlink(argv[1]) == -1) {\n        perror(\"mq_unlink\");\n        \
             return 1;\n    }\n",
            "",
        )],
    );
    let ran = lab_check(&program, &[]);
    let failure = assert_fails_only(&ran, "removed", 2, "until mq_unlink(argv[1]) removes");
    // The queue left is named, and gone now (lab-check removed it, whether it ran in a private
    // namespace or among the machine's queues).
    let name = failure
        .split_whitespace()
        .find(|w| w.starts_with("/lab-check-"))
        .unwrap_or_else(|| panic!("no queue named: {failure}"));
    assert!(failure.contains("was still there after"), "{failure}");
    let name = ipc_lab::mq::QueueName::parse(name).unwrap();
    assert!(!ipc_lab::mq::exists(&name), "{name} is still there");
}

#[test]
fn printing_the_buffer_with_percent_s_fails_exact_text() {
    let scratch = Scratch::new("junk");
    let program = broken(
        &scratch,
        "junk",
        &[(
            "printf(\"%.*s\\n\", (int) len, buf);",
            "printf(\"%s\\n\", buf);",
        )],
    );
    let ran = lab_check(&program, &[]);
    let failure = assert_fails_only(&ran, "exact-text", 2, "printf(\"%.*s\\n\", (int) len, buf)");
    // What the first message left after the second is shown.
    assert!(
        failure.contains(r#"output "abcdefgh\nxycdefgh\n""#),
        "{failure}"
    );
}

#[test]
fn receiving_more_than_n_is_killed_at_the_timeout_and_fails_order() {
    let scratch = Scratch::new("forever");
    let program = broken(
        &scratch,
        "forever",
        &[("for (i = 0; i < count; i++) {", "for (i = 0; ; i++) {")],
    );
    let ran = lab_check(&program, &["--timeout", "1"]);
    assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    let order = status_of(&ran.stdout, "order");
    assert!(order.starts_with("FAIL  order"), "{}", ran.stdout);
    assert!(
        ran.stdout
            .contains("still running after 1 s: lab-check killed it"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("went on waiting for more"),
        "{}",
        ran.stdout
    );
    // The text and the buffer were right; only the end was missing.
    for check in ["exact-text", "buffer-size"] {
        assert!(
            status_of(&ran.stdout, check).starts_with("ok  "),
            "{}",
            ran.stdout
        );
    }
    // No run ended well: removed cannot be judged.
    assert!(
        ran.stdout
            .contains("not judged: no run of the program ended with exit status 0"),
        "{}",
        ran.stdout
    );
}

#[test]
fn the_starter_compiles_without_warnings_and_scores_nothing() {
    let ran = lab_check(&exercise_dir().join("mq-receive.c"), &[]);
    assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.starts_with("compiled: ") && !ran.stdout.contains("warning"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("score: 0/10 (0 of 4 checks passed)"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("nothing was printed"), "{}", ran.stdout);
}

#[test]
fn json_for_gradescope() {
    let ran = lab_check(&solution(), &["--format", "json"]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    let json = ran.stdout.trim_end();
    assert!(
        json.starts_with(r#"{"score": 10, "max_score": 10, "tests": ["#),
        "{json}"
    );
    assert!(json.ends_with("]}"), "{json}");
    for (check, points) in [
        ("order", 4),
        ("exact-text", 2),
        ("removed", 2),
        ("buffer-size", 2),
    ] {
        let entry = format!(
            r#"{{"name": "{check}", "score": {points}, "max_score": {points}, "status": "passed""#
        );
        assert!(json.contains(&entry), "{entry} missing: {json}");
    }
    assert!(!json.contains(r#""status": "failed""#), "{json}");

    let scratch = Scratch::new("json-junk");
    let program = broken(
        &scratch,
        "junk",
        &[(
            "printf(\"%.*s\\n\", (int) len, buf);",
            "printf(\"%s\\n\", buf);",
        )],
    );
    let ran = lab_check(&program, &["--format", "json"]);
    assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .starts_with(r#"{"score": 8, "max_score": 10, "tests": ["#),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains(r#"{"name": "exact-text", "score": 0, "max_score": 2, "status": "failed""#),
        "{}",
        ran.stdout
    );
}
