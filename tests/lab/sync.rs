//! shm-race as real processes: lost updates on a shared counter and torn copies of a shared
//! record without synchronisation, none with a System V semaphore or an atomic add; the tables
//! it prints; a race across processes started by hand (`--others` and `--join`) and every way a
//! join fails; termination signals mid-run; usage errors, help and a closed stdout. Then the
//! door `shm-master --perms 666` leaves open to another user, and `shm-slave --check`, which
//! refuses a segment that is open, not its own, or not the size shm-master makes.
//!
//! Every run is tagged and its children are recorded while it runs: afterwards none may be
//! left, neither running nor unreaped (see [`Demo`]). Every run that makes a segment or a
//! semaphore set narrates it (`--explain`, or the `Shared Memory Id = N` line), and the test
//! checks that exactly those ids are gone from /proc/sysvipc afterwards: other tests make their
//! own objects meanwhile, so the machine's tables are never expected to be empty. Races the
//! loss depends on are retried a bounded number of times; semaphore runs stay small (a
//! contended semop costs microseconds), except where a signal ends them early.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crate::bad_input::{self, try_bad_arguments};
use crate::common::*;
use crate::faults::{self, Fixture, Subject};
use ipc_lab::shm::{Access, CreateOptions, Segment};

// ---------------------------------------------------------------------------------------------
// Running shm-race

/// shm-race with these arguments (tagged, its children watched: see [`Demo`]).
fn start(args: &[&str]) -> Demo {
    Demo::start("shm-race", args)
}

/// shm-race with these arguments, run to its end (bounded), nothing left behind.
#[track_caller]
fn run(args: &[&str]) -> Ran {
    start(args).finish()
}

/// shm-race with these arguments and `--explain`, run to its end: it must succeed. Returns the
/// run and what its narration says it made.
#[track_caller]
fn run_explained(args: &[&str]) -> (Ran, Made) {
    let ran = run(&[args, &["--explain"]].concat());
    assert_eq!(code(&ran), 0, "{args:?}: {}", ran.stderr);
    let made = Made::narrated(&ran.stderr);
    (ran, made)
}

/// Races of two processes that take far longer than any test: they are signalled mid-run.
pub(crate) const LONG_SEMAPHORE_RACE: &[&str] = &[
    "counter",
    "--sync",
    "semaphore",
    "--increments",
    "10000000",
    "--explain",
];
const LONG_TORN: &[&str] = &["torn", "--reads", "10000000000", "--explain"];
const LONG_SEMAPHORE_TORN: &[&str] = &[
    "torn",
    "--sync",
    "semaphore",
    "--reads",
    "10000000000",
    "--explain",
];

/// `counter --others K` with these arguments and `--explain`, once it has printed its id and
/// waits for the K others (which it does with the segment, and the set, made); with its id and
/// what it made.
#[track_caller]
fn host(others: u32, args: &[&str]) -> (Demo, i32, Made) {
    let k = others.to_string();
    let mut demo = start(&[&["counter", "--others", &k], args, &["--explain"]].concat());
    let id = id_line(&demo.run.wait_stdout("Shared Memory Id = "));
    let plural = if others == 1 { "" } else { "es" };
    demo.run
        .wait_stderr(&format!("waiting for {others} more process{plural}"));
    let made = Made::narrated(&demo.run.err);
    (demo, id, made)
}

/// The host's end: exit 0, its id line, then the table of `procs` x `increments`.
#[track_caller]
fn host_table(demo: Demo, procs: u32, increments: u64) -> (Ran, Vec<CounterRow>) {
    let ran = demo.finish();
    assert_eq!(code(&ran), 0, "{}", ran.stderr);
    let (_, table) = ran.stdout.split_once('\n').unwrap();
    let rows = counter_table(table, procs, increments);
    (ran, rows)
}

/// `counter --join ID` (with `extra` arguments), started.
fn joiner(id: i32, extra: &[&str]) -> Demo {
    start(&[&["counter", "--join", &id.to_string()], extra].concat())
}

/// A joiner of the race in segment `id`, refused: exit 1, `message` with the hint, nothing on
/// stdout.
#[track_caller]
fn assert_join_refused(id: i32, message: &str) {
    let ran = joiner(id, &[]).finish();
    assert_failed(&ran, message, JOIN_HINT);
    assert_eq!(ran.stdout, "");
}

/// Send `sig` to a running demo, which must end by that very signal.
#[track_caller]
fn end_by(demo: Demo, sig: i32) -> Ran {
    demo.run.signal(sig);
    let ran = demo.finish();
    assert_ended_by(&ran, sig);
    ran
}

/// Stop the host (SIGSTOP), and wait until it is stopped: it cannot open the gate.
fn stop_host(demo: &Demo) {
    demo.run.signal(19);
    eventually("the host to stop", || {
        proc_stat(demo.pid()).is_some_and(|s| s.state == 'T')
    });
}

/// The last line of a race called off by signal `name`, which removed segment `seg` and the
/// semaphore `sets` (none, or one).
fn called_off(name: &str, seg: i32, sets: &[i32]) -> String {
    let sem = sets
        .first()
        .map_or(String::new(), |s| format!(" and semaphore set {s}"));
    format!("shm-race: interrupted by {name}: the race is called off; segment {seg}{sem} removed\n")
}

/// A failure: exit 1, `error: ...` then `hint: ...` on stderr, no panic.
#[track_caller]
fn assert_failed(ran: &Ran, message: &str, hint: &str) {
    assert_eq!(code(ran), 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!("error: {message}")),
        "wanted {message:?}: {}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(&format!("hint: {hint}")),
        "wanted hint {hint:?}: {}",
        ran.stderr
    );
    assert_no_panic(&ran.stderr);
}

/// Each of `wanted` is a whole line of `text`, in this order (other lines may come between).
#[track_caller]
fn assert_lines_in_order(text: &str, wanted: &[String]) {
    let mut lines = text.lines();
    for want in wanted {
        assert!(
            lines.any(|line| line == want),
            "{want:?} missing, or out of order:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The kernel objects a run made

/// The segments and semaphore sets a run made. Should a test fail midway, dropping it removes
/// them (ipcrm), so that a failed run leaves nothing in the kernel either.
#[derive(Debug, Default)]
struct Made {
    segments: Vec<i32>,
    sets: Vec<i32>,
}

impl Made {
    /// What a run's `--explain` narration says it created.
    fn narrated(stderr: &str) -> Made {
        Made {
            segments: ids_after(stderr, "shmget("),
            sets: ids_after(stderr, "semget("),
        }
    }

    /// Every one of them is gone from /proc/sysvipc/shm and /proc/sysvipc/sem.
    #[track_caller]
    fn assert_gone(&self) {
        let left = |ids: &[i32], exists: fn(i32) -> bool| -> Vec<i32> {
            ids.iter().copied().filter(|id| exists(*id)).collect()
        };
        assert_eq!(
            (
                left(&self.segments, segment_exists),
                left(&self.sets, semaphore_set_exists)
            ),
            (vec![], vec![]),
            "segments and semaphore sets left behind (of {self:?})"
        );
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for (flag, ids) in [("-m", &self.segments), ("-s", &self.sets)] {
            for id in ids {
                let _ = Command::new("ipcrm")
                    .args([flag, &id.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tables

const COUNTER_HEAD: &str =
    "sync        expected         got        lost  lost %        time  per increment";
const TORN_HEAD: &str = "sync           reads       torn  torn %      writes        time";
const UNITS: [&str; 4] = ["ns", "µs", "ms", "s"];

/// One row of the counter table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CounterRow {
    sync: String,
    expected: u64,
    got: u64,
    lost: u64,
}

impl CounterRow {
    /// The row of a race that lost nothing: `n` increments expected, and got.
    fn exact(sync: &str, n: u64) -> CounterRow {
        CounterRow {
            sync: sync.into(),
            expected: n,
            got: n,
            lost: 0,
        }
    }
}

fn number(word: &str, line: &str) -> u64 {
    word.parse()
        .unwrap_or_else(|_| panic!("{word:?} is not a count in {line:?}"))
}

/// `3.10 ms` as two words: a number and a unit shm-race uses.
#[track_caller]
fn assert_duration(value: &str, unit: &str, line: &str) {
    assert!(
        value.parse::<f64>().is_ok_and(|v| v >= 0.0) && UNITS.contains(&unit),
        "{value:?} {unit:?} is not a duration in {line:?}"
    );
}

#[track_caller]
fn counter_row(line: &str) -> CounterRow {
    let w = row_words(line, COUNTER_HEAD);
    assert_eq!(w.len(), 9, "{line:?}");
    let row = CounterRow {
        sync: w[0].to_string(),
        expected: number(w[1], line),
        got: number(w[2], line),
        lost: number(w[3], line),
    };
    assert!(row.got <= row.expected, "{line:?}");
    assert_eq!(row.lost, row.expected - row.got, "{line:?}");
    let percent = format!("{:.1}%", row.lost as f64 * 100.0 / row.expected as f64);
    assert_eq!(w[4], percent, "{line:?}");
    assert_duration(w[5], w[6], line);
    assert_duration(w[7], w[8], line);
    row
}

fn processes(n: u32) -> String {
    if n == 1 {
        "1 process".into()
    } else {
        format!("{n} processes")
    }
}

/// The counter table's title and header, then its rows; each row's expected is procs x M.
#[track_caller]
fn counter_table(stdout: &str, procs: u32, increments: u64) -> Vec<CounterRow> {
    let mut lines = stdout.lines();
    let title = format!(
        "{} x {increments} increment{} of one counter in shared memory",
        processes(procs),
        if increments == 1 { "" } else { "s" }
    );
    assert_eq!(lines.next(), Some(title.as_str()), "{stdout}");
    assert_eq!(lines.next(), Some(COUNTER_HEAD), "{stdout}");
    let rows: Vec<CounterRow> = lines.map(counter_row).collect();
    for row in &rows {
        assert_eq!(row.expected, u64::from(procs) * increments, "{stdout}");
    }
    rows
}

fn syncs(rows: &[CounterRow]) -> Vec<&str> {
    rows.iter().map(|r| r.sync.as_str()).collect()
}

/// One row of the torn-record table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TornRow {
    sync: String,
    reads: u64,
    torn: u64,
}

#[track_caller]
fn torn_row(line: &str) -> TornRow {
    let w = row_words(line, TORN_HEAD);
    assert_eq!(w.len(), 7, "{line:?}");
    let row = TornRow {
        sync: w[0].to_string(),
        reads: number(w[1], line),
        torn: number(w[2], line),
    };
    assert!(row.torn <= row.reads, "{line:?}");
    let percent = format!("{:.2}%", row.torn as f64 * 100.0 / row.reads as f64);
    assert_eq!(w[3], percent, "{line:?}");
    number(w[4], line);
    assert_duration(w[5], w[6], line);
    row
}

/// The torn table: its title and header, the rows, then the `first torn copy (SYNC): ...`
/// lines, each checked to be a copy that is not whole; returns the rows and the syncs of
/// those lines.
#[track_caller]
fn torn_table(stdout: &str, reads: u64) -> (Vec<TornRow>, Vec<String>) {
    let mut lines = stdout.lines().peekable();
    let title = format!(
        "a writer rewrites a record of 7 equal fields and their sum; a reader copies it {reads} times"
    );
    assert_eq!(lines.next(), Some(title.as_str()), "{stdout}");
    assert_eq!(lines.next(), Some(TORN_HEAD), "{stdout}");
    let mut rows = Vec::new();
    while let Some(line) = lines.next_if(|l| !l.starts_with("first torn copy (")) {
        let row = torn_row(line);
        assert_eq!(row.reads, reads, "{stdout}");
        rows.push(row);
    }
    let mut firsts = Vec::new();
    for line in lines {
        let (sync, copy) = line
            .strip_prefix("first torn copy (")
            .and_then(|rest| rest.split_once("): "))
            .unwrap_or_else(|| panic!("{line:?} in {stdout}"));
        let (fields, sum) = copy
            .split_once(" | sum ")
            .unwrap_or_else(|| panic!("{line:?}"));
        let fields: Vec<u64> = fields.split(' ').map(|f| number(f, line)).collect();
        let sum = number(sum, line);
        assert_eq!(fields.len(), 7, "{line:?}");
        let whole = fields.iter().all(|f| *f == fields[0]) && sum == fields[0] * 7;
        assert!(!whole, "a torn copy is not whole: {line:?}");
        firsts.push(sync.to_string());
    }
    (rows, firsts)
}

// ---------------------------------------------------------------------------------------------
// counter: lost updates, and their cures

#[test]
fn counter_without_sync_loses_updates() {
    // Two processes on two CPUs, 200000 increments each: almost every run loses thousands.
    // A busy machine may keep them from overlapping once, so up to five runs.
    let mut losses = Vec::new();
    for _ in 0..5 {
        let (ran, made) = run_explained(&[
            "counter",
            "--procs",
            "2",
            "--increments",
            "200000",
            "--sync",
            "none",
        ]);
        made.assert_gone();
        let rows = counter_table(&ran.stdout, 2, 200_000);
        assert_eq!(syncs(&rows), ["none"]);
        let lost = rows[0].lost;
        losses.push(lost);
        if lost > 0 {
            assert!(
                ran.stderr.contains(&format!(
                    "{lost} of 400000 increments were overwritten by another process's store: \
                     lost updates"
                )),
                "{}",
                ran.stderr
            );
            return;
        }
    }
    panic!("no update was lost in 5 runs of 2 x 200000: {losses:?}");
}

#[test]
fn counter_by_default_is_two_processes_without_sync_and_says_nothing_else() {
    let ran = run(&["counter"]);
    assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""));
    let rows = counter_table(&ran.stdout, 2, 100_000);
    assert_eq!(syncs(&rows), ["none"]);
}

#[test]
fn counts_of_one_are_singular() {
    let counter = run_explained(&["counter", "--procs", "1", "--increments", "1"]);
    let torn = run_explained(&["torn", "--reads", "1"]);
    for (ran, made) in [&counter, &torn] {
        made.assert_gone();
        let text = format!("{}{}", ran.stdout, ran.stderr);
        for plural in ["1 processes", " 1 times"] {
            assert!(!text.contains(plural), "{plural:?}:\n{text}");
        }
    }
}

#[test]
fn counter_with_a_semaphore_or_an_atomic_add_is_exact() {
    for (procs, increments, sync) in [
        (3, 1000, "semaphore"),
        (2, 1500, "semaphore"),
        (4, 100_000, "atomic"),
        (2, 300_000, "atomic"),
    ] {
        let (p, m) = (procs.to_string(), increments.to_string());
        let (ran, made) =
            run_explained(&["counter", "--procs", &p, "--increments", &m, "--sync", sync]);
        assert_eq!(made.segments.len(), 1, "{}", ran.stderr);
        assert_eq!(made.sets.len(), usize::from(sync == "semaphore"));
        made.assert_gone();
        let rows = counter_table(&ran.stdout, procs, increments);
        let expected = u64::from(procs) * increments;
        assert_eq!(rows, [CounterRow::exact(sync, expected)], "{}", ran.stdout);
        assert!(
            ran.stderr.contains("exact: no two increments overlapped"),
            "{}",
            ran.stderr
        );
    }
}

#[test]
fn counter_sync_all_is_a_table_of_none_semaphore_and_atomic() {
    let (ran, made) = run_explained(&[
        "counter",
        "--sync",
        "all",
        "--procs",
        "2",
        "--increments",
        "1000",
    ]);
    assert_eq!(
        (made.segments.len(), made.sets.len()),
        (3, 1),
        "a segment per race, a semaphore set for one: {}",
        ran.stderr
    );
    made.assert_gone();
    assert_eq!(ran.stdout.lines().count(), 5, "{}", ran.stdout);
    let rows = counter_table(&ran.stdout, 2, 1000);
    assert_eq!(syncs(&rows), ["none", "semaphore", "atomic"]);
    for row in &rows[1..] {
        assert_eq!((row.got, row.lost), (2000, 0), "{row:?}");
    }
}

#[test]
fn one_process_cannot_lose_an_update() {
    let (ran, made) = run_explained(&[
        "counter",
        "--procs",
        "1",
        "--increments",
        "200000",
        "--sync",
        "none",
    ]);
    let ([seg], []) = (&made.segments[..], &made.sets[..]) else {
        panic!("one segment, no semaphore set: {}", ran.stderr);
    };
    assert_lines_in_order(
        &ran.stderr,
        &[
            "[step 4] compare, then remove the segment".into(),
            format!("  shmctl({seg}, IPC_RMID, NULL) = 0"),
        ],
    );
    made.assert_gone();
    let rows = counter_table(&ran.stdout, 1, 200_000);
    assert_eq!(rows, [CounterRow::exact("none", 200_000)]);
    assert!(
        ran.stderr.contains("nothing was lost this time"),
        "{}",
        ran.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// torn: a record copied while it is rewritten

#[test]
fn torn_copies_are_seen_without_sync() {
    let mut counts = Vec::new();
    for _ in 0..5 {
        let (ran, made) = run_explained(&["torn", "--sync", "none", "--reads", "100000"]);
        assert_eq!((made.segments.len(), made.sets.len()), (1, 0));
        made.assert_gone();
        let (rows, firsts) = torn_table(&ran.stdout, 100_000);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].sync, "none");
        counts.push(rows[0].torn);
        if rows[0].torn > 0 {
            assert_eq!(firsts, ["none"], "{}", ran.stdout);
            return;
        }
        assert!(firsts.is_empty(), "{}", ran.stdout);
    }
    panic!("no torn copy in 5 runs of 100000 reads: {counts:?}");
}

#[test]
fn torn_with_a_semaphore_has_no_torn_copy() {
    for _ in 0..2 {
        let (ran, made) = run_explained(&["torn", "--sync", "semaphore", "--reads", "2000"]);
        assert_eq!((made.segments.len(), made.sets.len()), (1, 1));
        made.assert_gone();
        let (rows, firsts) = torn_table(&ran.stdout, 2000);
        assert_eq!(
            rows,
            [TornRow {
                sync: "semaphore".into(),
                reads: 2000,
                torn: 0
            }]
        );
        assert!(firsts.is_empty(), "{}", ran.stdout);
    }
}

#[test]
fn torn_sync_all_is_none_then_semaphore_and_the_first_torn_copy() {
    let ran = run(&["torn", "--sync", "all", "--reads", "2000"]);
    assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""));
    let (rows, firsts) = torn_table(&ran.stdout, 2000);
    let names: Vec<&str> = rows.iter().map(|r| r.sync.as_str()).collect();
    assert_eq!(names, ["none", "semaphore"], "{}", ran.stdout);
    assert_eq!(rows[1].torn, 0, "{}", ran.stdout);
    // 2000 reads may or may not catch the writer half way: the line comes with the count.
    let want: &[&str] = if rows[0].torn > 0 { &["none"] } else { &[] };
    assert_eq!(firsts, want, "{}", ran.stdout);
}

// ---------------------------------------------------------------------------------------------
// --explain

#[test]
fn explain_narrates_semget_semctl_shmget_and_ipc_rmid_in_order() {
    let (ran, made) = run_explained(&["counter", "--sync", "semaphore", "--increments", "300"]);
    let ([seg], [sem]) = (&made.segments[..], &made.sets[..]) else {
        panic!("one segment and one set: {}", ran.stderr);
    };
    made.assert_gone();
    let err = &ran.stderr;
    let wanted = [
        "[step 1] create the shared memory region M and what guards it".to_string(),
        format!("  shmget(IPC_PRIVATE, 1024, IPC_CREAT|0600) = {seg}"),
        format!("  semget(IPC_PRIVATE, 1, IPC_CREAT|0600) = {sem}"),
        format!("  semctl({sem}, 0, SETVAL, 1) = 0"),
        "[step 2] fork 2 processes to race".into(),
        "[step 3] open the gate: every process adds 1, 300 times".into(),
        "[step 4] compare, then remove the segment and the semaphore set".into(),
        format!("  semctl({sem}, 0, IPC_RMID) = 0"),
        format!("  shmctl({seg}, IPC_RMID, NULL) = 0"),
    ];
    assert_lines_in_order(err, &wanted);
    for meaning in ["SEM_UNDO", "semop P, load, add, store, semop V"] {
        assert!(err.contains(meaning), "{meaning:?}:\n{err}");
    }
    // stdout is the same table with or without the narration.
    counter_table(&ran.stdout, 2, 300);

    let (ran, made) = run_explained(&["torn", "--sync", "none", "--reads", "500"]);
    let [seg] = made.segments[..] else {
        panic!("{}", ran.stderr);
    };
    assert!(made.sets.is_empty(), "no semaphore without one: {made:?}");
    made.assert_gone();
    assert_lines_in_order(
        &ran.stderr,
        &[
            format!("  shmget(IPC_PRIVATE, 1024, IPC_CREAT|0600) = {seg}"),
            "  no semaphore: the processes only share the segment".into(),
            "[step 2] fork a writer and a reader".into(),
            "[step 3] remove the segment".into(),
            format!("  shmctl({seg}, IPC_RMID, NULL) = 0"),
        ],
    );
    assert!(!ran.stderr.contains("semctl("), "{}", ran.stderr);
}

#[test]
fn perms_set_the_mode_of_the_segment_and_the_semaphore_set() {
    let (demo, id, made) = host(1, &["--sync", "semaphore", "--perms", "640"]);
    assert_eq!(made.segments, [id], "{}", demo.run.err);
    let [sem] = made.sets[..] else {
        panic!("{}", demo.run.err);
    };
    assert!(
        demo.run
            .err
            .contains(&format!("semget(IPC_PRIVATE, 1, IPC_CREAT|0640) = {sem}")),
        "{}",
        demo.run.err
    );
    assert_eq!(segment(id).expect("listed").perms & 0o777, 0o640);
    let row = semaphore_set_row(sem).expect("listed");
    assert_eq!(u32::from_str_radix(&row[2], 8).unwrap() & 0o777, 0o640);
    end_by(demo, 15);
    made.assert_gone();
}

// ---------------------------------------------------------------------------------------------
// A race across processes started by hand: --others and --join

#[test]
fn others_and_join_race_across_processes() {
    let (demo, id, made) = host(1, &["--sync", "semaphore", "--increments", "1000"]);
    assert!(
        demo.run.err.contains(&format!(
            "shm-race: waiting for 1 more process: run `shm-race counter --join {id}` in \
             another terminal\n"
        )),
        "{}",
        demo.run.err
    );
    assert_eq!((made.segments.len(), made.sets.len()), (1, 1));
    let join = joiner(id, &["--explain"]).finish();
    assert_eq!(code(&join), 0, "{}", join.stderr);
    let mut lines = join.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!("joined segment {id}: process 2 of 2, sync semaphore, 1000 increments")
                .as_str()
        ),
        "{}",
        join.stdout
    );
    let done = lines.next().expect("a done line");
    let read: u64 = done
        .strip_prefix("done: the counter read ")
        .and_then(|rest| {
            rest.strip_suffix(" as this process finished; the first terminal prints the total")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{done:?}"));
    assert!((1000..=2000).contains(&read), "{done:?}");
    assert_eq!(lines.next(), None, "{}", join.stdout);
    assert!(
        join.stderr
            .contains(&format!("  shmat({id}, NULL, 0) = 0x")),
        "{}",
        join.stderr
    );
    assert!(join.children.is_empty(), "a joiner forks nothing");

    let (ran, rows) = host_table(demo, 2, 1000);
    assert_eq!(id_line(ran.stdout.lines().next().unwrap()), id);
    assert_eq!(rows, [CounterRow::exact("semaphore", 2000)]);
    let (seg, sem) = (made.segments[0], made.sets[0]);
    assert_lines_in_order(
        &ran.stderr,
        &[
            "[step 1] create the shared memory region M and what guards it".into(),
            format!("  shmget(IPC_PRIVATE, 1024, IPC_CREAT|0600) = {seg}"),
            format!("  semget(IPC_PRIVATE, 1, IPC_CREAT|0600) = {sem}"),
            "[step 2] wait for 1 other process at the start gate".into(),
            format!(
                "shm-race: waiting for 1 more process: run `shm-race counter --join {id}` in \
                 another terminal"
            ),
            "shm-race: all 2 processes are here: go".into(),
            "[step 3] open the gate: every process adds 1, 1000 times".into(),
            "[step 4] compare, then remove the segment and the semaphore set".into(),
            "  exact: no two increments overlapped".into(),
            format!("  semctl({sem}, 0, IPC_RMID) = 0"),
            format!("  shmctl({seg}, IPC_RMID, NULL) = 0"),
        ],
    );
    assert!(
        ran.children.is_empty(),
        "the host races itself: {:?}",
        ran.children
    );
    made.assert_gone();
}

#[test]
fn two_others_take_places_two_and_three() {
    let (mut demo, id, made) = host(2, &["--sync", "atomic", "--increments", "20000"]);
    let first = joiner(id, &[]);
    demo.run.wait_stderr("waiting for 1 more process");
    let second = joiner(id, &[]);
    // The host first: the joiners are reaped after it ends. (A joiner reaped while another
    // still counts is taken for one that died: see the ignored test below.)
    let (ran, rows) = host_table(demo, 3, 20_000);
    assert_eq!((rows[0].got, rows[0].lost), (60_000, 0), "{}", ran.stdout);
    assert!(ran.stderr.contains("all 3 processes are here: go"));
    let mut places = Vec::new();
    for j in [first.finish(), second.finish()] {
        assert_eq!((code(&j), j.stderr.as_str()), (0, ""));
        let line = j.stdout.lines().next().unwrap_or_default().to_string();
        let place = line
            .strip_prefix(&format!("joined segment {id}: process "))
            .and_then(|rest| rest.strip_suffix(" of 3, sync atomic, 20000 increments"))
            .unwrap_or_else(|| panic!("{line:?}"))
            .to_string();
        places.push(place);
        assert!(
            j.stdout.contains("\ndone: the counter read "),
            "{}",
            j.stdout
        );
    }
    places.sort();
    assert_eq!(places, ["2", "3"]);
    made.assert_gone();
}

#[test]
fn a_joiner_that_finished_and_exited_is_not_taken_for_one_that_died() {
    // Three processes; the third joiner is stopped as the race starts, so the first joiner
    // finishes, exits and is reaped while the host still waits for the third.
    let (mut demo, id, made) = host(2, &["--sync", "atomic", "--increments", "10000000"]);
    let quick = joiner(id, &[]);
    demo.run.wait_stderr("waiting for 1 more process");
    let mut slow = joiner(id, &[]);
    slow.run.wait_stdout("joined segment");
    slow.run.signal(19);
    let quick = quick.finish();
    assert_eq!(code(&quick), 0, "{}", quick.stderr);
    // Time for the host to finish its own part and look at the others.
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_millis(1500)
        && demo.run.child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    slow.run.signal(18);
    let slow = slow.finish();
    assert_eq!(code(&slow), 0, "{}", slow.stderr);
    let (_, rows) = host_table(demo, 3, 10_000_000);
    made.assert_gone();
    assert_eq!((rows[0].got, rows[0].lost), (30_000_000, 0));
}

const JOIN_HINT: &str = "give the id that `shm-race counter --others K` printed, while it \
                         waits; `ipcs -m` lists segments";

#[test]
fn joining_something_that_is_not_a_waiting_race_fails_with_a_hint() {
    // A segment that is gone.
    let gone = Segment::create(&CreateOptions::private(40)).unwrap();
    let id = gone.id().raw();
    drop(gone);
    assert_join_refused(
        id,
        &format!("cannot attach segment {id}: Invalid argument (EINVAL)"),
    );

    // A segment of the right size that holds no race.
    let plain = Segment::create(&CreateOptions::private(1024)).unwrap();
    let id = plain.id().raw();
    assert_join_refused(
        id,
        &format!("segment {id} is not a shm-race counter segment"),
    );
    let att = plain.id().attach(Access::ReadOnly).unwrap();
    assert_eq!(att.load(0, Ordering::Acquire), Some(0), "left as it was");
    drop(att);

    // shm-master's 40 bytes.
    let master = Master::start(&["--interval", "0.05"]);
    assert_join_refused(
        master.id,
        &format!(
            "segment {} is 40 bytes, not a shm-race segment (1024 bytes)",
            master.id
        ),
    );
    drop(master);

    // A race of forked processes, running: it takes no one else, and has started.
    for (procs, message) in [
        (
            "1",
            "belongs to a race that takes no other processes (it was started without --others)",
        ),
        ("2", "has started already, or was called off"),
    ] {
        let mut demo = start(&[LONG_SEMAPHORE_RACE, &["--procs", procs]].concat());
        demo.run.wait_stderr("[step 3]");
        let made = Made::narrated(&demo.run.err);
        let sem = made.sets[0];
        eventually("the race to start", || semaphore_used(sem));
        let id = made.segments[0];
        let message = if procs == "1" {
            format!("segment {id} {message}")
        } else {
            format!("the race in segment {id} {message}")
        };
        assert_join_refused(id, &message);
        end_by(demo, 15);
        made.assert_gone();
    }
}

#[test]
fn a_race_with_all_its_processes_refuses_one_more() {
    let (demo, id, made) = host(1, &["--sync", "atomic", "--increments", "5000"]);
    // Stopped, the host cannot open the gate: the race is full and has not started.
    stop_host(&demo);
    let mut first = joiner(id, &[]);
    first
        .run
        .wait_stdout(&format!("joined segment {id}: process 2 of 2"));
    assert_join_refused(
        id,
        &format!("the race in segment {id} has all its 2 processes already"),
    );
    demo.run.signal(18);
    let first = first.finish();
    assert_eq!(code(&first), 0, "{}", first.stderr);
    let (_, rows) = host_table(demo, 2, 5000);
    assert_eq!(
        (rows[0].got, rows[0].lost),
        (10_000, 0),
        "one joiner counted"
    );
    made.assert_gone();
}

#[test]
fn the_host_interrupted_while_waiting_calls_the_race_off() {
    let (mut demo, id, made) = host(2, &["--sync", "semaphore"]);
    let sem = made.sets[0];
    let mut waiting = joiner(id, &[]);
    waiting.run.wait_stdout("joined segment");
    demo.run.wait_stderr("waiting for 1 more process");
    let ran = end_by(demo, 2);
    assert!(
        ran.stderr.ends_with(&called_off("SIGINT", id, &[sem])),
        "{}",
        ran.stderr
    );
    assert!(!semaphore_set_exists(sem), "the set goes at once");
    let joined = waiting.finish();
    assert_eq!(code(&joined), 1, "{}", joined.stderr);
    assert!(
        joined
            .stderr
            .contains("error: the process that created the race called it off"),
        "{}",
        joined.stderr
    );
    assert_no_panic(&joined.stderr);
    // The segment went with the joiner's detach.
    made.assert_gone();
}

#[test]
fn a_host_killed_outright_leaves_the_joiner_to_say_so() {
    let (demo, id, made) = host(1, &["--sync", "semaphore"]);
    let host_pid = demo.pid();
    // Joined: the host would start the race at once, so it is stopped first, then killed.
    stop_host(&demo);
    let mut waiting = joiner(id, &[]);
    waiting.run.wait_stdout("joined segment");
    end_by(demo, 9);
    let joined = waiting.finish();
    assert_eq!(code(&joined), 1, "{}", joined.stderr);
    assert!(
        joined.stderr.contains(&format!(
            "error: the process that created the race ({host_pid}) has ended"
        )),
        "{}",
        joined.stderr
    );
    // SIGKILL cannot be caught: what the host made is left, as `ipcs` would show.
    assert!(segment_exists(id) && semaphore_set_exists(made.sets[0]));
    remove_segment(id);
    let _ = Command::new("ipcrm")
        .args(["-s", &made.sets[0].to_string()])
        .status();
    made.assert_gone();
}

#[test]
fn a_joiner_that_dies_mid_race_fails_the_host_which_still_cleans_up() {
    let (mut demo, id, made) = host(1, &["--sync", "semaphore", "--increments", "200000"]);
    let mut doomed = joiner(id, &[]);
    doomed.run.wait_stdout("joined segment");
    demo.run.wait_stderr("all 2 processes are here: go");
    eventually("the race to start", || semaphore_used(made.sets[0]));
    let doomed_pid = doomed.pid();
    end_by(doomed, 9);
    // The host finishes its own increments (SEM_UNDO gave the semaphore back), then sees it.
    let ran = demo.finish();
    assert_eq!(code(&ran), 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!(
            "error: process {doomed_pid} ended before finishing its increments: the count is \
             incomplete"
        )),
        "{}",
        ran.stderr
    );
    assert_eq!(id_line(&ran.stdout), id, "no table for an incomplete count");
    made.assert_gone();
}

// ---------------------------------------------------------------------------------------------
// Termination signals mid-run

/// A race started with `command` (with --explain), once it runs: its `workers` forked and, with
/// a semaphore, a semop done. With what it made, and the workers seen.
fn racing(command: Command, workers: usize) -> (Demo, Made, Vec<ProcId>) {
    let mut demo = Demo::start_cmd(command);
    demo.run.wait_stderr("[step 2]");
    let made = Made::narrated(&demo.run.err);
    let seen = demo.watch.wait_for(workers);
    if let Some(sem) = made.sets.first() {
        eventually("the race to start", || semaphore_used(*sem));
    } else {
        std::thread::sleep(Duration::from_millis(50));
    }
    (demo, made, seen)
}

/// Start `args` (with --explain), wait until the race runs (both workers forked and, with a
/// semaphore, a semop done), send `sig`: it must end promptly by that signal with the note, its
/// workers gone and reaped, and its segment and semaphore set removed.
fn interrupt_mid_run(args: &[&str], workers: usize, sig: i32, name: &str) {
    let (demo, made, seen) = racing(cmd_with("shm-race", args), workers);
    assert_eq!(
        seen.len(),
        workers,
        "{args:?}: one worker per process: {seen:?}"
    );
    for w in &seen {
        assert!(w.exists(), "{args:?}: worker {} runs", w.pid);
    }
    let sent = Instant::now();
    demo.run.signal(sig);
    let ran = demo.finish();
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{args:?} {name}: took {:?}",
        sent.elapsed()
    );
    assert_ended_by(&ran, sig);
    let [seg] = made.segments[..] else {
        panic!("{}", ran.stderr);
    };
    assert!(
        ran.stderr.ends_with(&called_off(name, seg, &made.sets)),
        "{args:?}: {}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("error"), "{}", ran.stderr);
    assert_no_panic(&ran.stderr);
    for w in &seen {
        assert!(!w.exists(), "{args:?} {name}: worker {} is gone", w.pid);
    }
    made.assert_gone();
}

#[test]
fn termination_signals_mid_count_end_it_by_the_signal_and_remove_everything() {
    for (sig, name) in [(2, "SIGINT"), (15, "SIGTERM"), (1, "SIGHUP")] {
        interrupt_mid_run(LONG_SEMAPHORE_RACE, 2, sig, name);
    }
    interrupt_mid_run(
        &[
            "counter",
            "--procs",
            "5",
            "--increments",
            "10000000000",
            "--explain",
        ],
        5,
        15,
        "SIGTERM",
    );
}

#[test]
fn termination_signals_mid_torn_and_while_waiting_for_others() {
    interrupt_mid_run(LONG_SEMAPHORE_TORN, 2, 2, "SIGINT");
    interrupt_mid_run(LONG_TORN, 2, 1, "SIGHUP");
    // The host of a race with others, waiting for them.
    let (demo, id, made) = host(3, &["--sync", "semaphore"]);
    let ran = end_by(demo, 1);
    assert!(
        ran.stderr
            .ends_with(&called_off("SIGHUP", id, &made.sets[..1])),
        "{}",
        ran.stderr
    );
    made.assert_gone();
}

#[test]
fn ctrl_c_at_a_terminal_ends_it_by_sigint_with_its_workers() {
    // At a terminal Ctrl-C reaches the whole foreground process group: the workers, which take
    // the default action, and shm-race itself. Half the runs failed before a fix, so ten runs.
    for _ in 0..10 {
        let mut c = cmd_with("shm-race", LONG_SEMAPHORE_RACE);
        c.process_group(0);
        let (demo, made, _) = racing(c, 2);
        nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(demo.pid()),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("killpg");
        let ran = demo.finish();
        made.assert_gone();
        assert_ended_by(&ran, 2);
        assert!(
            ran.stderr
                .contains("shm-race: interrupted by SIGINT: the race is called off"),
            "{}",
            ran.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Usage errors, help, version, a closed stdout

#[test]
fn bad_arguments_are_usage_errors() {
    assert_usage_errors(
        &[
            &["counter", "--procs", "0"][..],
            &["counter", "--procs", "65"][..],
            &["counter", "--procs", "-1"][..],
            &["counter", "--increments", "0"][..],
            &["counter", "--increments", "x"][..],
            &["counter", "--sync", "sometimes"][..],
            &["counter", "--others", "0"][..],
            &["counter", "--others", "64"][..],
            &["counter", "--others", "1", "--procs", "3"][..],
            &["counter", "--join"][..],
            &["counter", "--join", "abc"][..],
            &["counter", "--join", "-1"][..],
            &["counter", "--join", "5", "--procs", "2"][..],
            &["counter", "--join", "5", "--sync", "atomic"][..],
            &["counter", "--join", "5", "--increments", "9"][..],
            &["counter", "--join", "5", "--others", "1"][..],
            &["counter", "--perms", "800"][..],
            &["counter", "extra"][..],
            &["torn", "--reads", "0"][..],
            &["torn", "--procs", "2"][..],
            &["torn", "--sync", "sometimes"][..],
        ],
        run,
    );
    let ran = run(&["counter", "--procs", "65"]);
    assert!(ran.stderr.contains("65 is not in 1..=64"), "{}", ran.stderr);

    // Refused by shm-race itself, before anything is made.
    for (args, message) in [
        (
            &["torn", "--sync", "atomic"][..],
            "error: torn takes --sync none, semaphore or all: an atomic instruction writes one \
             word, and the record is 8 words\n",
        ),
        (
            &["counter", "--others", "1", "--sync", "all"][..],
            "error: --others runs one race at a time: give --sync none, semaphore or atomic\n",
        ),
    ] {
        let mut all = args.to_vec();
        all.push("--explain");
        let ran = run(&all);
        assert_usage_error(&ran, &format!("{args:?}"));
        assert_eq!(
            ran.stderr, message,
            "{args:?}: nothing made, nothing narrated"
        );
    }

    // No subcommand: the usage, on stderr.
    let ran = run(&[]);
    assert_eq!((code(&ran), ran.stdout.as_str()), (2, ""));
    assert!(
        ran.stderr.contains("Usage: shm-race [OPTIONS] <COMMAND>"),
        "{}",
        ran.stderr
    );
}

#[test]
fn help_names_the_notes_section_the_subcommands_and_examples() {
    assert_help(
        &["--help"],
        &[
            "Usage: shm-race [OPTIONS] <COMMAND>",
            "\n  counter ",
            "\n  torn ",
            "Lecture notes: B1 Shared Memory",
            "Examples:",
            "shm-race counter --sync all",
            "shm-race counter --join ID",
            "shm-race torn --sync semaphore",
            "--explain",
            "--color",
        ],
        run,
    );
    assert_subcommand_helps("shm-race", &["counter", "torn"], run);
    assert_helps_mention(
        &[
            (
                "counter",
                &[
                    "--procs <N>",
                    "--increments <M>",
                    "--sync <HOW>",
                    "--others <K>",
                    "--join <ID>",
                    "--perms <OCTAL>",
                    "[default: 2]",
                    "[default: 100000]",
                    "[default: none]",
                ][..],
            ),
            (
                "torn",
                &[
                    "--reads <N>",
                    "--sync <HOW>",
                    "--perms <OCTAL>",
                    "[default: 100000]",
                ][..],
            ),
        ],
        run,
    );
}

#[test]
fn version_is_the_packages() {
    assert_version("shm-race", run);
}

/// shm-race with its stdout on a pipe whose reader takes `keep` lines and goes (at once, for 0):
/// run to its end (bounded), nothing it started left behind.
#[track_caller]
fn with_stdout_closed(args: &[&str], keep: usize) -> Ran {
    run_with_stdout_closed_after(cmd_with("shm-race", args), keep)
}

#[test]
fn a_closed_stdout_ends_it_quietly() {
    // Closed from the start: the title meets the broken pipe before anything is made.
    for args in [
        &["counter"][..],
        &["counter", "--sync", "all", "--increments", "100"][..],
        &["torn", "--reads", "100"][..],
    ] {
        let ran = with_stdout_closed(args, 0);
        assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""), "{args:?}");
    }

    // Closed after the header, while the three races of --sync all run: the next row
    // meets the broken pipe, and what the run had made is removed on the way out.
    let args = [
        "counter",
        "--sync",
        "all",
        "--increments",
        "3000",
        "--explain",
    ];
    let ran = with_stdout_closed(&args, 2);
    assert_eq!(
        ran.stdout,
        format!("2 processes x 3000 increments of one counter in shared memory\n{COUNTER_HEAD}\n")
    );
    let err = &ran.stderr;
    assert_eq!(code(&ran), 0, "{err}");
    assert!(!err.contains("error"), "{err}");
    let made = Made::narrated(err);
    assert!(
        !made.segments.is_empty() && made.segments.len() < 3,
        "it stopped before the last race: {err}"
    );
    made.assert_gone();
}

#[test]
fn a_closed_stdout_ends_a_host_quietly() {
    let ran = with_stdout_closed(&["counter", "--others", "1", "--explain"], 0);
    let err = &ran.stderr;
    let made = Made::narrated(err);
    assert_eq!(made.segments.len(), 1, "{err}");
    made.assert_gone();
    assert_eq!(code(&ran), 0, "{err}");
    assert!(!err.contains("error"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// shm-master --perms and shm-slave --check

fn s(x: impl ToString) -> String {
    x.to_string()
}

/// shm-slave with these arguments, run to its end (bounded).
fn slave(args: &[String]) -> Finished {
    output_of(cmd("shm-slave").args(args), b"")
}

/// The ready flag of segment `id`, read as root or its owner would.
fn ready_flag(id: i32) -> Option<i32> {
    let att = ipc_lab::shm::ShmId::from_raw(id)
        .attach(Access::ReadOnly)
        .expect("attach read-only");
    att.load(0, Ordering::Acquire)
}

const CHECK_HINT: &str = "hint: a segment others can write could hold forged values or a forged \
     ready flag: start shm-master with the default --perms 600, as yourself, or leave out \
     --check to write anyway\n";

/// `shm-slave --check ID 1 2 3`, run to its end.
fn check(id: i32) -> Finished {
    slave(&[s("--check"), s(id), s(1), s(2), s(3)])
}

/// shm-slave --check refused segment `id` (`why` says what it found): exit 1, nothing on
/// stdout, the error and the hint on stderr.
#[track_caller]
fn assert_check_refused(out: &Finished, id: i32, why: &str) {
    assert_eq!(shell_status(out.status), 1, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!("error: refusing to write to segment {id}: {why}\n{CHECK_HINT}")
    );
}

#[test]
fn the_master_narrates_the_door_its_perms_leave_open() {
    for (perms, whom) in [
        ("666", Some("every user")),
        ("640", Some("the group")),
        ("600", None),
    ] {
        let mut master = Master::start(&["--interval", "0.05", "--perms", perms, "--explain"]);
        master.run.wait_stderr("shm[0] = 0");
        let opens = format!(
            "mode 0{perms} opens it to {}: whoever learns the id (`ipcs -m` lists it) can attach \
             it and forge the values or the ready flag",
            whom.unwrap_or("")
        );
        assert_eq!(
            master.run.err.contains(&opens),
            whom.is_some(),
            "{perms}: {}",
            master.run.err
        );
        assert_eq!(
            master.run.err.contains("opens it to"),
            whom.is_some(),
            "{perms}"
        );
        assert_eq!(
            segment(master.id).unwrap().perms & 0o777,
            u32::from_str_radix(perms, 8).unwrap()
        );
    }
}

#[test]
fn another_user_forges_the_message_at_666_and_is_refused_at_600() {
    skip_unless_nobody!();
    let mut open = Master::start(&["--interval", "0.05", "--perms", "666"]);
    let forged = output_of(
        as_nobody("shm-slave").args([s(open.id), s(-1), s(-1), s(-1)]),
        b"",
    );
    assert_eq!(shell_status(forged.status), 0, "{}", forged.stderr);
    assert_eq!(shell_status(open.run.finish()), 0, "{}", open.run.err);
    assert_eq!(
        open.run.out,
        format!(
            "Shared Memory Id = {}\n{}",
            open.id,
            read_lines(&[-1, -1, -1])
        ),
        "the master takes nobody's values for its slave's"
    );
    assert!(!segment_exists(open.id));

    let closed = Master::start(&["--interval", "0.05"]);
    let refused = output_of(
        as_nobody("shm-slave").args([s(closed.id), s(-1), s(-1), s(-1)]),
        b"",
    );
    assert_eq!(shell_status(refused.status), 1, "{}", refused.stderr);
    assert_eq!(refused.stdout, "Error: Cannot attach!\n");
    assert!(
        refused.stderr.contains(&format!(
            "error: cannot attach segment {}: Permission denied (EACCES)",
            closed.id
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(ready_flag(closed.id), Some(0), "nothing forged");
}

#[test]
fn another_user_joins_a_race_only_when_its_perms_let_them() {
    skip_unless_nobody!();
    let nobody_joins = |id: i32| {
        let mut c = as_nobody("shm-race");
        c.args(["counter", "--join", &id.to_string()]);
        Demo::start_cmd(c).finish()
    };
    let (demo, id, made) = host(1, &["--sync", "semaphore"]);
    let ran = nobody_joins(id);
    assert_failed(
        &ran,
        &format!("cannot attach segment {id}: Permission denied (EACCES)"),
        "the race's segment is closed to you: run both as the same user, or start the first \
         with --perms 666",
    );
    end_by(demo, 15);
    made.assert_gone();

    let (demo, id, made) = host(
        1,
        &[
            "--sync",
            "semaphore",
            "--increments",
            "500",
            "--perms",
            "666",
        ],
    );
    let ran = nobody_joins(id);
    assert_eq!(code(&ran), 0, "{}", ran.stderr);
    let (ran, rows) = host_table(demo, 2, 500);
    assert_eq!((rows[0].got, rows[0].lost), (1000, 0), "{}", ran.stdout);
    made.assert_gone();
}

#[test]
fn check_refuses_a_segment_open_to_others() {
    let mut master = Master::start(&["--interval", "0.05", "--perms", "666"]);
    let id = master.id;
    assert_check_refused(
        &check(id),
        id,
        "its mode 0666 lets its group and every other user read and write it",
    );
    assert_eq!(ready_flag(id), Some(0), "nothing written");
    assert!(
        master.run.child.try_wait().unwrap().is_none(),
        "still waiting"
    );
    // Without --check the same write goes through.
    let out = slave(&[s(id), s(1), s(2), s(3)]);
    assert_eq!(shell_status(out.status), 0, "{}", out.stderr);
    assert_eq!(shell_status(master.run.finish()), 0);
    assert!(master.run.out.ends_with(&read_lines(&[1, 2, 3])));
}

#[test]
fn check_refuses_a_segment_of_another_owner() {
    skip_unless_nobody!();
    let mut c = as_nobody("shm-master");
    c.args(["--interval", "0.05"]);
    let mut master = Master::start_cmd(c);
    let id = master.id;
    assert_check_refused(
        &check(id),
        id,
        "it belongs to uid 65534 (created by uid 65534), not to you (uid 0)",
    );
    assert_eq!(ready_flag(id), Some(0), "nothing written");
    master.run.signal(15);
    assert_eq!(shell_status(master.run.finish()), 143, "{}", master.run.err);
    assert!(!segment_exists(id));
}

#[test]
fn check_refuses_a_segment_of_the_wrong_size() {
    // The 1024 bytes of a race waiting for another process.
    let (demo, id, made) = host(1, &["--sync", "atomic", "--increments", "1000"]);
    assert_check_refused(
        &check(id),
        id,
        "it is 1024 bytes, not the 40 bytes expected",
    );
    // The race is intact: a joiner is let in and the count is whole.
    let join = joiner(id, &[]).finish();
    assert_eq!(code(&join), 0, "{}", join.stderr);
    let (_, rows) = host_table(demo, 2, 1000);
    assert_eq!(rows[0].got, 2000);
    made.assert_gone();

    // 64 bytes from ipcmk, when util-linux has it.
    let Ok(made_by_ipcmk) = Command::new("ipcmk")
        .args(["-M", "64", "-p", "0600"])
        .output()
    else {
        eprintln!("skipped the ipcmk part: no ipcmk");
        return;
    };
    let text = String::from_utf8_lossy(&made_by_ipcmk.stdout);
    let id: i32 = text
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("ipcmk said {text:?}"));
    let out = check(id);
    remove_segment(id);
    assert_check_refused(&out, id, "it is 64 bytes, not the 40 bytes expected");
    assert!(!segment_exists(id));
}

#[test]
fn check_accepts_the_default_segment() {
    let mut master = Master::start(&["--interval", "0.05"]);
    let id = master.id;
    let uid = nix::unistd::geteuid().as_raw();
    let out = slave(&[s("--check"), s("--explain"), s(id), s(5), s(7), s(-9)]);
    assert_eq!(
        (shell_status(out.status), out.stdout.as_str()),
        (0, ""),
        "{}",
        out.stderr
    );
    for want in [
        format!("shmctl({id}, IPC_STAT, &buf) = 0"),
        format!(
            "40 bytes, owned and created by uid {uid} (you), mode 0600: no other user (root \
             aside) can read or write it"
        ),
        "shm[0] = 1".into(),
    ] {
        assert!(out.stderr.contains(&want), "{want:?}: {}", out.stderr);
    }
    assert_eq!(shell_status(master.run.finish()), 0, "{}", master.run.err);
    assert_eq!(
        master.run.out,
        format!("Shared Memory Id = {id}\n{}", read_lines(&[5, 7, -9]))
    );
    assert!(!segment_exists(id));
}

#[test]
fn perms_that_keep_out_the_owner_too_are_named_not_blamed_on_limits() {
    skip_unless_nobody!("root attaches whatever the mode; needs setpriv to act as nobody");
    for sync in ["none", "semaphore"] {
        let mut c = as_nobody("shm-race");
        c.args(["counter", "--sync", sync, "--perms", "000"]);
        let demo = Demo::start_cmd(c);
        let pid = demo.pid();
        let ran = demo.finish();
        assert_eq!(code(&ran), 1, "{sync}: {}", ran.stderr);
        let lines: Vec<&str> = ran.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{sync}: {}", ran.stderr);
        assert!(
            lines[0].starts_with("error: cannot attach segment ")
                && lines[0].ends_with(": Permission denied (EACCES)"),
            "{sync}: {}",
            ran.stderr
        );
        assert!(
            lines[1].starts_with("hint: segment ")
                && lines[1].ends_with(
                    " is yours, but its mode 0000 does not let even its owner read and write it, which a read-write shmat needs: make it with --perms 600"
                ),
            "{sync}: {}",
            ran.stderr
        );
        assert_eq!(segments_created_by(&[pid]), Vec::<String>::new(), "{sync}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rows of the fault table (tests/lab/faults.rs): shm-race, wherever it waits

/// Once stderr holds `needle`, note in the fixture the segments and sets the narration says
/// were made by then.
fn made_by_then(s: &mut Subject, f: &mut Fixture, needle: &str) {
    let err = s.wait_err(needle);
    f.segments = ids_after(&err, "shmget(");
    f.sets = ids_after(&err, "semget(");
}

/// The race runs once its narration reaches `step`: its two workers forked (and, with a
/// semaphore, a semop done).
fn workers_race(s: &mut Subject, f: &mut Fixture, step: &str) {
    made_by_then(s, f, step);
    s.wait_children(2);
    if let Some(&set) = f.sets.first() {
        s.wait_until("the race to start", |_| semaphore_used(set));
    } else {
        thread::sleep(Duration::from_millis(20));
    }
}

/// The counter race runs: its workers forked (and, with a semaphore, a semop done).
pub(crate) fn race_runs(s: &mut Subject, f: &mut Fixture) {
    workers_race(s, f, "[step 3]");
}

fn torn_runs(s: &mut Subject, f: &mut Fixture) {
    workers_race(s, f, "[step 2]");
}

fn host_waits(s: &mut Subject, f: &mut Fixture) {
    made_by_then(s, f, "waiting for 1 more process");
}

/// A race waiting for two more processes (`counter --others 2`), to join.
fn race_host(f: &mut Fixture) {
    let host = f.helper(
        "shm-race",
        &[
            "counter",
            "--others",
            "2",
            "--sync",
            "semaphore",
            "--explain",
        ],
    );
    let line = host.wait_stdout("Shared Memory Id = ");
    host.wait_stderr("waiting for 2 more processes");
    let err = host.err.clone();
    f.race = id_line(&line);
    f.helper_segments.push(f.race);
    f.helper_sets = ids_after(&err, "semget(");
}

fn joined(s: &mut Subject, _: &mut Fixture) {
    s.wait_out("joined segment");
}

/// shm-race, at every place it waits: its rows of the fault table, which sends each row every
/// termination signal (see [`crate::faults`]).
pub(crate) fn fault_rows() -> Vec<faults::Row> {
    use faults::{Row, Thing};
    let row = faults::row;
    vec![
        // shm-race: mid-run with its workers, and waiting at the gate.
        Row {
            owns: &[Thing::Segments],
            ..row(
                "shm-race",
                "counter mid-run, no sync",
                &["counter", "--increments", "10000000000", "--explain"],
                race_runs,
            )
        },
        Row {
            owns: &[Thing::Segments, Thing::Sets],
            ..row(
                "shm-race",
                "counter mid-run, semaphore",
                LONG_SEMAPHORE_RACE,
                race_runs,
            )
        },
        Row {
            owns: &[Thing::Segments],
            ..row("shm-race", "torn mid-run, no sync", LONG_TORN, torn_runs)
        },
        Row {
            owns: &[Thing::Segments, Thing::Sets],
            ..row(
                "shm-race",
                "torn mid-run, semaphore",
                LONG_SEMAPHORE_TORN,
                torn_runs,
            )
        },
        Row {
            owns: &[Thing::Segments, Thing::Sets],
            ..row(
                "shm-race",
                "counter --others: waiting at the gate for another terminal",
                &[
                    "counter",
                    "--others",
                    "1",
                    "--sync",
                    "semaphore",
                    "--explain",
                ],
                host_waits,
            )
        },
        Row {
            prepare: race_host,
            ..row(
                "shm-race",
                "counter --join: waiting at the gate",
                &["counter", "--join", "{race}"],
                joined,
            )
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Rows of the bad-input table (tests/lab/bad_input.rs): every option of shm-race

/// Options of shm-race's subcommands: every kind is refused before anything is made.
fn race_rows() -> Vec<bad_input::Row> {
    use bad_input::Row;
    let c = |name: &'static str| Row::opt("shm-race", name).before(&["counter"]);
    let t = |name: &'static str| Row::opt("shm-race", name).before(&["torn"]);
    vec![
        c("--procs"),
        c("--increments"),
        c("--sync"),
        c("--others"),
        c("--join"),
        c("--perms"),
        t("--sync"),
        t("--reads"),
        t("--perms"),
        Row::opt("shm-race", "--color").before(&["torn"]),
    ]
}

#[test]
fn shm_race_bad_arguments() {
    try_bad_arguments(
        "shm-race",
        &race_rows(),
        &[],
        &[
            &["bogus"],
            &["counter", "extra"],
            &["torn", "--procs", "2"],
            &["counter", "--join", "5", "--procs", "2"],
            &["torn", "--sync", "atomic"],
        ],
    );
}
