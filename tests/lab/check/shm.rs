//! lab-check's shm-slave and shm-master exercises: the reference solutions and the notes' own
//! programs pass every check; each classic mistake, made in a copy of the solution here, fails
//! exactly its check and shows its hint.

use super::*;

const SLAVE_CHECKS: [&str; 4] = ["prompt", "values", "flag-last", "bad-id"];
const MASTER_CHECKS: [&str; 5] = ["id-line", "private", "read-lines", "removed", "exit-status"];

/// The notes' master (B1), as printed.
fn notes_master() -> String {
    notes_program("Shared Memory Id = ")
}

/// The notes' slave (B1), as printed.
fn notes_slave() -> String {
    notes_program("Shared memory id for attachment: ")
}

/// The master's edit that makes its segment with mode 0666 instead of 0600.
const MODE_0666: (&str, &str) = ("IPC_CREAT | 0600)", "IPC_CREAT | 0666)");

#[test]
fn the_list_names_both_exercises_first() {
    let out = lab_check(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(&names[..2], ["shm-slave", "shm-master"], "{text}");
    assert!(text.contains("10 points"), "{text}");
}

#[test]
fn the_slave_solution_passes_every_check() {
    let checked = check("shm-slave", &solution("shm-slave"), &[]);
    assert_all_pass(&checked, &SLAVE_CHECKS, 10);
}

#[test]
fn the_master_solution_passes_every_check() {
    let checked = check("shm-master", &solution("shm-master"), &[]);
    assert_all_pass(&checked, &MASTER_CHECKS, 10);
}

#[test]
fn the_notes_slave_as_printed_passes_every_check() {
    let checked = check_source("shm-slave", "notes-slave", &notes_slave(), &[]);
    assert_all_pass(&checked, &SLAVE_CHECKS, 10);
}

#[test]
fn the_notes_master_as_printed_passes_every_check() {
    let checked = check_source("shm-master", "notes-master", &notes_master(), &[]);
    assert_all_pass(&checked, &MASTER_CHECKS, 10);
}

#[test]
fn a_slave_that_sets_the_flag_before_reading_the_values_fails_flag_last() {
    let checked = check_broken(
        "shm-slave",
        "flag-first",
        &[
            (
                "    /* ... the flag last: the master reads the values the moment it sees it */\n    shm[0] = 1;\n",
                "",
            ),
            (
                "    /* step 3 -> the values first ... */\n",
                "    shm[0] = 1;\n",
            ),
        ],
        &[],
    );
    assert_only_failure(
        &checked,
        &SLAVE_CHECKS,
        "flag-last",
        "set shm[0] = 1 after writing the three values: the master reads them the moment it sees the flag",
    );
    assert_reports(
        &checked,
        "shm[0] was 1 once it had attached, before any value was typed",
    );
}

#[test]
fn a_slave_that_does_not_check_shmat_fails_bad_id_with_the_shmat_hint() {
    let checked = check_broken(
        "shm-slave",
        "no-check",
        &[(
            "    if (shm == (int *) -1) {\n        printf(\"Error: Cannot attach!\\n\");\n        exit(1);\n    }\n",
            "",
        )],
        &[],
    );
    assert_only_failure(
        &checked,
        &SLAVE_CHECKS,
        "bad-id",
        "check shmat's result against (void *)-1 before using it",
    );
    assert_reports(&checked, "killed by SIGSEGV");
}

#[test]
fn a_slave_that_exits_0_when_shmat_fails_fails_bad_id() {
    let checked = check_broken(
        "shm-slave",
        "exit-0",
        &[(
            "        printf(\"Error: Cannot attach!\\n\");\n        exit(1);",
            "        printf(\"Error: Cannot attach!\\n\");\n        exit(0);",
        )],
        &[],
    );
    assert_only_failure(
        &checked,
        &SLAVE_CHECKS,
        "bad-id",
        "exit(1) when shmat fails",
    );
}

#[test]
fn a_slave_with_another_prompt_fails_prompt() {
    let checked = check_broken(
        "shm-slave",
        "prompt",
        &[(
            "printf(\"Shared memory id for attachment: \")",
            "printf(\"Enter the shared memory id: \")",
        )],
        &[],
    );
    assert_only_failure(
        &checked,
        &SLAVE_CHECKS,
        "prompt",
        "printf(\"Shared memory id for attachment: \")",
    );
    assert_reports(
        &checked,
        "happened: output \"Enter the shared memory id: \" while it waits for the id",
    );
}

#[test]
fn a_master_with_mode_0666_fails_private() {
    let checked = check_broken("shm-master", "mode-666", &[MODE_0666], &[]);
    assert_only_failure(
        &checked,
        &MASTER_CHECKS,
        "private",
        "0666 lets every user on the machine read and forge the values",
    );
    assert_reports(&checked, "has mode 0666");
}

#[test]
fn a_master_without_ipc_rmid_fails_removed_and_its_segment_is_named() {
    let checked = check_broken(
        "shm-master",
        "no-rmid",
        &[(
            "    if (shmctl(shmid, IPC_RMID, 0) == -1) {\n        perror(\"shmctl(IPC_RMID)\");\n        exit(1);\n    }\n",
            "",
        )],
        &[],
    );
    assert_only_failure(
        &checked,
        &MASTER_CHECKS,
        "removed",
        "shmctl(shmid, IPC_RMID, 0)",
    );
    let happened = checked
        .stdout
        .lines()
        .find(|l| l.contains("happened: shared memory segment"))
        .unwrap_or_else(|| panic!("no segment named:\n{}", checked.stdout));
    assert!(happened.contains("lab-check removed it"), "{happened}");
}

#[test]
fn a_master_that_busy_waits_still_gets_its_values() {
    let checked = check_broken("shm-master", "busy", &[("        sleep(3);\n", "")], &[]);
    assert_all_pass(&checked, &MASTER_CHECKS, 10);
}

#[test]
fn a_master_that_crashes_fails_every_check_but_says_what_happened() {
    let checked = check_source(
        "shm-master",
        "crash",
        "int main(void) { int *p = 0; *p = 1; return 0; }\n",
        &[],
    );
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    assert_marks(&checked.stdout, &MASTER_CHECKS, &MASTER_CHECKS);
    assert_eq!(
        checked.stdout.matches("killed by SIGSEGV").count(),
        MASTER_CHECKS.len(),
        "{}",
        checked.stdout
    );
}

#[test]
fn a_slave_that_hangs_fails_every_check_within_one_time_limit() {
    let start = std::time::Instant::now();
    let checked = check_source(
        "shm-slave",
        "hang",
        "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n",
        &["--timeout", "1"],
    );
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    assert_marks(&checked.stdout, &SLAVE_CHECKS, &SLAVE_CHECKS);
    assert_eq!(
        checked.stdout.matches("still running after 1 s").count(),
        SLAVE_CHECKS.len(),
        "{}",
        checked.stdout
    );
    // One run timed out; the others were not tried.
    assert!(start.elapsed() < common::PATIENCE, "{:?}", start.elapsed());
}

#[test]
fn the_json_report_gives_gradescope_the_score_and_each_status() {
    let checked = check_broken(
        "shm-master",
        "mode-666",
        &[MODE_0666],
        &["--format", "json"],
    );
    assert_eq!(checked.code, 1, "{}\n{}", checked.stdout, checked.stderr);
    let json = checked.stdout.trim();
    assert!(
        json.starts_with("{\"score\": 8, \"max_score\": 10, \"tests\": ["),
        "{json}"
    );
    for (name, status) in [
        ("compiles", "passed"),
        ("id-line", "passed"),
        ("private", "failed"),
        ("read-lines", "passed"),
        ("removed", "passed"),
        ("exit-status", "passed"),
    ] {
        let at = json
            .find(&format!("{{\"name\": \"{name}\""))
            .unwrap_or_else(|| panic!("no test {name}: {json}"));
        let rest = &json[at..];
        let end = rest.find('}').expect("the test's end");
        assert!(
            rest[..end].contains(&format!("\"status\": \"{status}\"")),
            "{name}: {json}"
        );
    }
    assert!(
        json.contains("0666 lets every user on the machine"),
        "{json}"
    );
}
