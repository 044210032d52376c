//! lab-check's shm-slave and shm-master exercises: the reference solutions and the notes' own
//! programs pass every check; each classic mistake, made in a copy of the solution here, fails
//! exactly its check and shows its hint.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const SLAVE_SOLUTION: &str = include_str!("../exercises/shm-slave/solution/shm-slave.c");
const MASTER_SOLUTION: &str = include_str!("../exercises/shm-master/solution/shm-master.c");

const SLAVE_CHECKS: [&str; 4] = ["prompt", "values", "flag-last", "bad-id"];
const MASTER_CHECKS: [&str; 5] = ["id-line", "private", "read-lines", "removed", "exit-status"];

/// The notes' master (B1), as printed.
const NOTES_MASTER: &str = r#"#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main()
{
    int shmid, i, *shm;

	// step 1 -> create shared memory
    shmid = shmget( IPC_PRIVATE, 40, IPC_CREAT | 0600);
    if (shmid == -1){
        printf("Cannot create shared memory!\n");
        exit(1);
    } else
        printf("Shared Memory Id = %d\n", shmid);

		// step 2 -> attach shared memory
	    shm = (int*) shmat( shmid, NULL, 0 );

	    if (shm == (int*) -1){
	        printf("Cannot attach shared memory!\n");
	        exit(1);
	}
	shm[0] = 0;
    while(shm[0] == 0){
        sleep(3);
    }
    
    for (i = 0; i < 3; i++){
        printf("Read %d from shared memory.\n", shm[i+1]);
    }

	// steps 4 and 5 -> detach and destroy M
    shmdt( (char*) shm);
    shmctl( shmid, IPC_RMID, 0);
    return 0;
}
"#;

/// The notes' slave (B1), as printed.
const NOTES_SLAVE: &str = r#"#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>
int main()
{   
	int shmid, i, input, *shm;
    printf("Shared memory id for attachment: ");
    scanf("%d", &shmid);
    
    shm = (int*)shmat( shmid, NULL, 0);
    if (shm == (int*)-1) {
        printf("Error: Cannot attach!\n");
        exit(1);
    }

    for (i = 0; i < 3; i++){
        scanf("%d", &input);
        shm[i+1] = input;
    }

    shm[0] = 1;
    shmdt( (char*)shm );
    return 0;
}
"#;

/// A folder of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let path =
            std::env::temp_dir().join(format!("lab-check-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("make the test's folder");
        Scratch(path)
    }

    /// Write `source` as NAME.c here; its path.
    fn write(&self, name: &str, source: &str) -> PathBuf {
        let path = self.0.join(format!("{name}.c"));
        std::fs::write(&path, source).expect("write the C file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `source` with `from` replaced by `to`, which must be there.
fn broken(source: &str, from: &str, to: &str) -> String {
    assert!(source.contains(from), "the solution has no {from:?}");
    source.replacen(from, to, 1)
}

struct Checked {
    code: i32,
    stdout: String,
    stderr: String,
}

fn lab_check(exercise: &str, program: &Path, extra: &[&str]) -> Checked {
    let out = Command::new(common::bin("lab-check"))
        .arg(exercise)
        .arg(program)
        .args(extra)
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run lab-check");
    Checked {
        code: common::shell_status(out.status),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Check `source` (written as NAME.c in a folder of the test's own).
fn check_source(exercise: &str, name: &str, source: &str) -> Checked {
    let scratch = Scratch::new(name);
    let path = scratch.write(name, source);
    lab_check(exercise, &path, &[])
}

/// The report line of `check`: `ok    name ...` or `FAIL  name ...`.
fn line_of<'a>(report: &'a str, check: &str) -> &'a str {
    report
        .lines()
        .find(|l| {
            let mut words = l.split_whitespace();
            matches!(words.next(), Some("ok") | Some("FAIL")) && words.next() == Some(check)
        })
        .unwrap_or_else(|| panic!("no line for {check} in:\n{report}"))
}

#[track_caller]
fn assert_all_pass(checked: &Checked, checks: &[&str]) {
    assert_eq!(checked.code, 0, "{}\n{}", checked.stdout, checked.stderr);
    for check in checks {
        assert!(
            line_of(&checked.stdout, check).starts_with("ok"),
            "{check}:\n{}",
            checked.stdout
        );
    }
    assert!(
        checked.stdout.contains("score: 10/10"),
        "{}",
        checked.stdout
    );
}

/// `failing` fails with `hint` in its report; every other check passes.
#[track_caller]
fn assert_fails_only(checked: &Checked, checks: &[&str], failing: &str, hint: &str) {
    assert_eq!(checked.code, 1, "{}\n{}", checked.stdout, checked.stderr);
    for check in checks {
        let line = line_of(&checked.stdout, check);
        let want = if *check == failing { "FAIL" } else { "ok" };
        assert!(line.starts_with(want), "{check}:\n{}", checked.stdout);
    }
    assert!(
        checked
            .stdout
            .lines()
            .any(|l| l.trim_start().starts_with("hint:") && l.contains(hint)),
        "no hint {hint:?}:\n{}",
        checked.stdout
    );
    assert!(checked.stdout.contains("happened: "), "{}", checked.stdout);
}

fn solution_path(exercise: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("exercises")
        .join(exercise)
        .join("solution")
        .join(format!("{exercise}.c"))
}

#[test]
fn the_list_names_both_exercises_first() {
    let out = Command::new(common::bin("lab-check"))
        .arg("list")
        .output()
        .expect("run lab-check list");
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
    let checked = lab_check("shm-slave", &solution_path("shm-slave"), &[]);
    assert_all_pass(&checked, &SLAVE_CHECKS);
}

#[test]
fn the_master_solution_passes_every_check() {
    let checked = lab_check("shm-master", &solution_path("shm-master"), &[]);
    assert_all_pass(&checked, &MASTER_CHECKS);
}

#[test]
fn the_notes_slave_as_printed_passes_every_check() {
    let checked = check_source("shm-slave", "notes-slave", NOTES_SLAVE);
    assert_all_pass(&checked, &SLAVE_CHECKS);
}

#[test]
fn the_notes_master_as_printed_passes_every_check() {
    let checked = check_source("shm-master", "notes-master", NOTES_MASTER);
    assert_all_pass(&checked, &MASTER_CHECKS);
}

#[test]
fn a_slave_that_sets_the_flag_before_reading_the_values_fails_flag_last() {
    let source = broken(
        SLAVE_SOLUTION,
        "    /* ... the flag last: the master reads the values the moment it sees it */\n    shm[0] = 1;\n",
        "",
    );
    let source = broken(
        &source,
        "    /* step 3 -> the values first ... */\n",
        "    shm[0] = 1;\n",
    );
    let checked = check_source("shm-slave", "flag-first", &source);
    assert_fails_only(
        &checked,
        &SLAVE_CHECKS,
        "flag-last",
        "set shm[0] = 1 after writing the three values: the master reads them the moment it sees the flag",
    );
    assert!(
        checked
            .stdout
            .contains("shm[0] was 1 once it had attached, before any value was typed"),
        "{}",
        checked.stdout
    );
}

#[test]
fn a_slave_that_does_not_check_shmat_fails_bad_id_with_the_shmat_hint() {
    let source = broken(
        SLAVE_SOLUTION,
        "    if (shm == (int *) -1) {\n        printf(\"Error: Cannot attach!\\n\");\n        exit(1);\n    }\n",
        "",
    );
    let checked = check_source("shm-slave", "no-check", &source);
    assert_fails_only(
        &checked,
        &SLAVE_CHECKS,
        "bad-id",
        "check shmat's result against (void *)-1 before using it",
    );
    assert!(
        checked.stdout.contains("killed by SIGSEGV"),
        "{}",
        checked.stdout
    );
}

#[test]
fn a_slave_that_exits_0_when_shmat_fails_fails_bad_id() {
    let source = broken(
        SLAVE_SOLUTION,
        "        printf(\"Error: Cannot attach!\\n\");\n        exit(1);",
        "        printf(\"Error: Cannot attach!\\n\");\n        exit(0);",
    );
    let checked = check_source("shm-slave", "exit-0", &source);
    assert_fails_only(
        &checked,
        &SLAVE_CHECKS,
        "bad-id",
        "exit(1) when shmat fails",
    );
}

#[test]
fn a_slave_with_another_prompt_fails_prompt() {
    let source = broken(
        SLAVE_SOLUTION,
        "printf(\"Shared memory id for attachment: \")",
        "printf(\"Enter the shared memory id: \")",
    );
    let checked = check_source("shm-slave", "prompt", &source);
    assert_fails_only(
        &checked,
        &SLAVE_CHECKS,
        "prompt",
        "printf(\"Shared memory id for attachment: \")",
    );
    assert!(
        checked.stdout.contains(
            "happened: output \"Enter the shared memory id: \" while it waits for the id"
        ),
        "{}",
        checked.stdout
    );
}

#[test]
fn a_master_with_mode_0666_fails_private() {
    let source = broken(MASTER_SOLUTION, "IPC_CREAT | 0600)", "IPC_CREAT | 0666)");
    let checked = check_source("shm-master", "mode-666", &source);
    assert_fails_only(
        &checked,
        &MASTER_CHECKS,
        "private",
        "0666 lets every user on the machine read and forge the values",
    );
    assert!(
        checked.stdout.contains("has mode 0666"),
        "{}",
        checked.stdout
    );
}

#[test]
fn a_master_without_ipc_rmid_fails_removed_and_its_segment_is_named() {
    let source = broken(
        MASTER_SOLUTION,
        "    if (shmctl(shmid, IPC_RMID, 0) == -1) {\n        perror(\"shmctl(IPC_RMID)\");\n        exit(1);\n    }\n",
        "",
    );
    let checked = check_source("shm-master", "no-rmid", &source);
    assert_fails_only(
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
    let source = broken(MASTER_SOLUTION, "        sleep(3);\n", "");
    let checked = check_source("shm-master", "busy", &source);
    assert_all_pass(&checked, &MASTER_CHECKS);
}

#[test]
fn a_master_that_crashes_fails_every_check_but_says_what_happened() {
    let checked = check_source(
        "shm-master",
        "crash",
        "int main(void) { int *p = 0; *p = 1; return 0; }\n",
    );
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    for check in MASTER_CHECKS {
        assert!(
            line_of(&checked.stdout, check).starts_with("FAIL"),
            "{check}:\n{}",
            checked.stdout
        );
    }
    assert_eq!(
        checked.stdout.matches("killed by SIGSEGV").count(),
        MASTER_CHECKS.len(),
        "{}",
        checked.stdout
    );
}

#[test]
fn a_slave_that_hangs_fails_every_check_within_one_time_limit() {
    let scratch = Scratch::new("hang");
    let path = scratch.write(
        "hang",
        "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n",
    );
    let start = std::time::Instant::now();
    let checked = lab_check("shm-slave", &path, &["--timeout", "1"]);
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    for check in SLAVE_CHECKS {
        assert!(
            line_of(&checked.stdout, check).starts_with("FAIL"),
            "{check}:\n{}",
            checked.stdout
        );
    }
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
    let source = broken(MASTER_SOLUTION, "IPC_CREAT | 0600)", "IPC_CREAT | 0666)");
    let scratch = Scratch::new("json");
    let path = scratch.write("mode-666", &source);
    let checked = lab_check("shm-master", &path, &["--format", "json"]);
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
