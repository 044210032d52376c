//! `lab-check mq-receive`: the reference solution passes every check; each classic mistake,
//! made in a copy of it here, fails exactly its own check with its hint.

use super::*;

const CHECKS: [&str; 4] = ["order", "exact-text", "removed", "buffer-size"];

/// lab-check mq-receive on `program`.
fn check_mq(program: &Path, extra: &[&str]) -> Checked {
    check("mq-receive", program, extra)
}

/// `check` failed with `hint` in its lines, and every other check passed; the score is the
/// rest's. Returns the failure's lines.
#[track_caller]
fn assert_fails_only(ran: &Checked, check: &str, points: u32, hint: &str) -> String {
    let failure = assert_only_failure(ran, &CHECKS, check, hint);
    assert_reports(
        ran,
        &format!("score: {}/10 (3 of 4 checks passed)", 10 - points),
    );
    failure
}

/// The edit that prints the whole buffer with %s, not the message's own length.
const PERCENT_S: (&str, &str) = (
    "printf(\"%.*s\\n\", (int) len, buf);",
    "printf(\"%s\\n\", buf);",
);

#[test]
fn the_solution_passes_every_check() {
    let ran = check_mq(&solution("mq-receive"), &[]);
    assert_all_pass(&ran, &CHECKS, 10);
    assert!(
        ran.stdout.starts_with("compiled: ") && !ran.stdout.contains("warning"),
        "{}",
        ran.stdout
    );
    assert_eq!(ran.stderr, "");
}

#[test]
fn explain_names_each_queue_and_run() {
    let ran = check_mq(&solution("mq-receive"), &["--explain"]);
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
    let ran = check_broken(
        "mq-receive",
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
        &[],
    );
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
    let ran = check_broken(
        "mq-receive",
        "no-unlink",
        &[(
            "    if (mq_unlink(argv[1]) == -1) {\n        perror(\"mq_unlink\");\n        \
             return 1;\n    }\n",
            "",
        )],
        &[],
    );
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
    let ran = check_broken("mq-receive", "junk", &[PERCENT_S], &[]);
    let failure = assert_fails_only(&ran, "exact-text", 2, "printf(\"%.*s\\n\", (int) len, buf)");
    // What the first message left after the second is shown.
    assert!(
        failure.contains(r#"output "abcdefgh\nxycdefgh\n""#),
        "{failure}"
    );
}

#[test]
fn receiving_more_than_n_is_killed_at_the_timeout_and_fails_order() {
    let ran = check_broken(
        "mq-receive",
        "forever",
        &[("for (i = 0; i < count; i++) {", "for (i = 0; ; i++) {")],
        &["--timeout", "1"],
    );
    assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    assert_marks(&ran.stdout, &["order"], &["order"]);
    assert_reports(&ran, "still running after 1 s: lab-check killed it");
    assert_reports(&ran, "went on waiting for more");
    // The text and the buffer were right; only the end was missing.
    assert_marks(&ran.stdout, &["exact-text", "buffer-size"], &[]);
    // No run ended well: removed cannot be judged.
    assert_reports(
        &ran,
        "not judged: no run of the program ended with exit status 0",
    );
}

#[test]
fn the_starter_compiles_without_warnings_and_scores_nothing() {
    let ran = check_mq(&starter("mq-receive"), &[]);
    assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.starts_with("compiled: ") && !ran.stdout.contains("warning"),
        "{}",
        ran.stdout
    );
    assert_reports(&ran, "score: 0/10 (0 of 4 checks passed)");
    assert_reports(&ran, "nothing was printed");
}

#[test]
fn json_for_gradescope() {
    let ran = check_mq(&solution("mq-receive"), &["--format", "json"]);
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

    let ran = check_broken("mq-receive", "junk", &[PERCENT_S], &["--format", "json"]);
    assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .starts_with(r#"{"score": 8, "max_score": 10, "tests": ["#),
        "{}",
        ran.stdout
    );
    assert_reports(
        &ran,
        r#"{"name": "exact-text", "score": 0, "max_score": 2, "status": "failed""#,
    );
}
