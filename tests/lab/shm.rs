//! shm-master and shm-slave as real processes: the notes' dialogue, every option, every bad input,
//! termination signals, SIGKILL with and without --remove-early, and another user refused.

use std::io::Write;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::bad_input::{self, Bad, Want, try_bad_arguments};
use crate::common::*;
use crate::faults::{self, Fixture, POLL, READ, Subject};
use ipc_lab::shm::{CreateOptions, Segment};

const FAST: &[&str] = &["--interval", "0.05"];

fn slave(args: &[String]) -> Command {
    let mut c = cmd("shm-slave");
    c.args(args);
    c
}

fn s(x: impl ToString) -> String {
    x.to_string()
}

/// Run the slave with `stdin` as its input; returns (status, stdout, stderr).
fn run_slave(args: &[String], stdin: &str) -> (i32, String, String) {
    let out = output_of(&mut slave(args), stdin.as_bytes());
    (shell_status(out.status), out.stdout, out.stderr)
}

fn assert_no_panic(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

#[test]
fn the_notes_dialogue_default_options_whole_stdout() {
    // The real default: poll every 3 s.
    let mut master = Master::start(&[]);
    let id = master.id;
    let (status, out, err) = run_slave(&[], &format!("{id}\n5 7 -9\n"));
    assert_eq!(
        (status, out.as_str(), err.as_str()),
        (0, "Shared memory id for attachment: ", "")
    );
    assert_eq!(shell_status(master.run.finish()), 0);
    assert_eq!(
        master.run.out,
        format!("Shared Memory Id = {id}\n{}", read_lines(&[5, 7, -9]))
    );
    assert_eq!(master.run.err, "");
    assert!(!segment_exists(id), "the master destroys its segment");
}

#[test]
fn values_all_on_one_line_or_one_per_line_like_scanf() {
    for input in ["{id} 1 2 3", "{id}\n1\n2\n3\n", "  {id}\n\n 1\t2   3  "] {
        let mut master = Master::start(FAST);
        let id = master.id;
        let (status, out, _) = run_slave(&[], &input.replace("{id}", &s(id)));
        assert_eq!(
            (status, out.as_str()),
            (0, "Shared memory id for attachment: "),
            "{input:?}"
        );
        master.run.finish();
        assert!(
            master.run.out.ends_with(&read_lines(&[1, 2, 3])),
            "{input:?}"
        );
    }
}

#[test]
fn positional_id_and_values_read_nothing_from_stdin() {
    let mut master = Master::start(FAST);
    let id = master.id;
    // stdin holds junk: it must not be read.
    let (status, out, err) = run_slave(&[s(id), s(5), s(7), s(-9)], "junk\n");
    assert_eq!((status, out.as_str(), err.as_str()), (0, "", ""));
    assert_eq!(shell_status(master.run.finish()), 0);
    assert!(master.run.out.ends_with(&read_lines(&[5, 7, -9])));
}

#[test]
fn positional_id_with_values_from_stdin_and_a_partial_list() {
    let mut master = Master::start(FAST);
    let (status, out, _) = run_slave(&[s(master.id), s(-1)], "-2 -3\n");
    assert_eq!((status, out.as_str()), (0, ""));
    master.run.finish();
    assert!(master.run.out.ends_with(&read_lines(&[-1, -2, -3])));
}

#[test]
fn count_five_on_both_sides_and_extremes_of_int() {
    let mut master = Master::start(&["--interval", "0.05", "--count", "5"]);
    let values = [i32::MIN, -1, 0, 1, i32::MAX];
    let mut args = vec![s(master.id), s("--count"), s(5)];
    args.extend(values.iter().map(s));
    let (status, _, err) = run_slave(&args, "");
    assert_eq!(status, 0, "{err}");
    master.run.finish();
    assert!(
        master.run.out.ends_with(&read_lines(&values)),
        "{}",
        master.run.out
    );
}

#[test]
fn nine_values_fill_the_segment() {
    let mut master = Master::start(&["--interval", "0.05", "--count", "9"]);
    let values: Vec<i32> = (1..=9).collect();
    let mut args = vec![s("--count"), s(9), s(master.id)];
    args.extend(values.iter().map(s));
    assert_eq!(run_slave(&args, "").0, 0);
    master.run.finish();
    assert!(master.run.out.ends_with(&read_lines(&values)));
}

#[test]
fn key_locates_the_segment_without_passing_the_id() {
    let key = format!("{:#x}", unique_key() as u32);
    let mut master = Master::start(&["--interval", "0.05", "--key", &key, "--perms", "640"]);
    let row = segment(master.id).expect("segment listed");
    assert_eq!(row.key as u32, u32::from_str_radix(&key[2..], 16).unwrap());
    assert_eq!(row.perms & 0o777, 0o640);
    let (status, out, err) = run_slave(&[s("--key"), key.clone(), s(4), s(5), s(6)], "");
    assert_eq!((status, out.as_str(), err.as_str()), (0, "", ""));
    assert_eq!(shell_status(master.run.finish()), 0);
    assert!(master.run.out.ends_with(&read_lines(&[4, 5, 6])));
    assert!(!segment_exists(master.id));
}

#[test]
fn ftok_locates_the_segment_from_a_path() {
    let dir = std::env::temp_dir().join(format!("ipc-lab-ftok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.to_str().unwrap().to_string();
    let mut master = Master::start(&["--interval", "0.05", "--ftok", &path, "--proj", "7"]);
    let (status, _, err) = run_slave(
        &[
            s("--ftok"),
            path.clone(),
            s("--proj"),
            s(7),
            s(1),
            s(2),
            s(3),
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    master.run.finish();
    assert!(master.run.out.ends_with(&read_lines(&[1, 2, 3])));
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn a_key_in_use_is_refused_not_adopted() {
    let key = unique_key();
    let existing = Segment::create(&CreateOptions {
        key,
        size: 40,
        perms: 0o600,
        exclusive: true,
    })
    .unwrap();
    let out = output_of(cmd("shm-master").args(["--key", &key.to_string()]), b"");
    let stderr = out.stderr.as_str();
    assert_eq!(shell_status(out.status), 1);
    assert_eq!(out.stdout.as_str(), "Cannot create shared memory!\n");
    assert!(stderr.contains("File exists (EEXIST)"), "{stderr}");
    assert!(
        stderr.contains("hint: ") && stderr.contains("ipcrm -M"),
        "{stderr}"
    );
    assert!(existing.id().exists(), "the other segment is left alone");
}

#[test]
fn a_key_another_user_holds_is_met_with_advice_for_a_key_of_ones_own() {
    skip_unless_nobody!();
    let dir = TempDir::new("ftok");
    let by_ftok = ipc_lab::shm::ftok(&dir.path, 1).expect("ftok of a directory");
    for (key, naming) in [
        (unique_key(), None),
        (by_ftok, Some(dir.path.to_str().unwrap())),
    ] {
        // Root's segment with that key, owner-only, as another user's master would leave it.
        let theirs = Segment::create(&CreateOptions {
            key,
            size: 40,
            perms: 0o600,
            exclusive: true,
        })
        .unwrap();
        let id = theirs.id();
        let key_text = ipc_lab::shm::key_text(key);
        let hint = format!(
            "hint: another user has key {key_text}: pick another key, or --ftok a file of your own (segment {id}, owner uid 0, mode 0600)\n"
        );
        let named: Vec<String> = match naming {
            None => vec![s("--key"), key_text.clone()],
            Some(path) => vec![s("--ftok"), s(path)],
        };

        let out = output_of(as_nobody("shm-master").args(&named), b"");
        assert_eq!(
            (shell_status(out.status), out.stdout.as_str()),
            (1, "Cannot create shared memory!\n"),
            "{}",
            out.stderr
        );
        assert_eq!(
            out.stderr,
            format!(
                "error: cannot create a 40-byte segment with key {key_text}: File exists (EEXIST)\n{hint}"
            )
        );

        let out = output_of(
            as_nobody("shm-slave").args(&named).args(["1", "2", "3"]),
            b"",
        );
        assert_eq!(
            (shell_status(out.status), out.stdout.as_str()),
            (1, "Error: Cannot attach!\n"),
            "{}",
            out.stderr
        );
        assert_eq!(
            out.stderr,
            format!("error: cannot attach segment {id}: Permission denied (EACCES)\n{hint}")
        );
        let row = segment(id.as_raw()).expect("their segment is left alone");
        assert_eq!(row.nattch, 0);
    }
}

#[test]
fn a_missing_key_is_a_clear_error() {
    let key = unique_key().to_string();
    let (status, out, err) = run_slave(&[s("--key"), key, s(1), s(2), s(3)], "");
    assert_eq!(status, 1);
    assert_eq!(out, "Error: Cannot attach!\n");
    assert!(err.contains("No such file or directory (ENOENT)"), "{err}");
    assert!(err.contains("hint: no segment has that key"), "{err}");
}

#[test]
fn timeout_gives_up_destroys_and_exits_1() {
    let mut master = Master::start(&["--interval", "0.05", "--timeout", "0.3"]);
    let status = master.run.finish();
    assert_eq!(shell_status(status), 1);
    assert_eq!(
        master.run.out,
        format!("Shared Memory Id = {}\n", master.id)
    );
    assert!(
        master.run.err.contains(&format!(
            "error: no slave set the ready flag of segment {} within 0.3 s; the segment is destroyed",
            master.id
        )),
        "{}",
        master.run.err
    );
    assert!(master.run.err.contains("hint: start shm-slave"));
    assert!(!segment_exists(master.id));
}

#[test]
fn bad_input_on_stdin_is_a_usage_error_before_anything_is_touched() {
    let master = Master::start(FAST);
    let id = master.id;
    let cases: &[(&str, i32, &str)] = &[
        ("abc\n", 2, "expected a segment id"),
        ("-5\n", 2, "expected a segment id"),
        ("99999999999\n", 2, "expected a segment id"),
        ("7x\n", 2, "expected a segment id"),
        ("{id} 1 two 3\n", 2, "value 2 of 3: expected a whole number"),
        (
            "{id} 1 2 3000000000\n",
            2,
            "value 3 of 3: expected a whole number",
        ),
        ("{id} 1 2 0x10\n", 2, "value 3 of 3"),
        ("", 1, "no segment id: standard input ended"),
        (
            "{id} 1\n",
            1,
            "expected 3 values but standard input ended after 1",
        ),
        ("\u{0}\u{1}\u{ff}\n", 2, "expected a segment id"),
    ];
    for (input, want, message) in cases {
        let (status, out, err) = run_slave(&[], &input.replace("{id}", &s(id)));
        assert_eq!(status, *want, "{input:?}: {err}");
        assert_eq!(out, "Shared memory id for attachment: ", "{input:?}");
        assert!(
            err.starts_with("error: ") && err.contains(message),
            "{input:?}: {err}"
        );
        assert_no_panic(&err);
        assert_eq!(segment(id).unwrap().nattch, 1, "the slave never attached");
    }
    let long = "9".repeat(100_000);
    let (status, _, err) = run_slave(&[], &long);
    assert_eq!(status, 2, "{}", &err[..err.len().min(200)]);
    assert_no_panic(&err);
}

/// `shm-slave < /dev/zero` once aborted ("memory allocation of 536870912 bytes failed", exit
/// 134): a word of NULs with no end was read whole. A number is at most 64 bytes: more is a usage
/// error that says so, whether it is the id at the prompt or a value.
#[test]
fn endless_input_from_dev_zero_is_a_usage_error_not_an_allocation_failure() {
    let master = Master::start(FAST);
    let id = master.id;
    let cases = [
        (
            Vec::new(),
            "Shared memory id for attachment: ",
            "error: the segment id on standard input is longer than 64 bytes, more than any id needs (at most 10 digits)\n\
             hint: type the id that shm-master printed, or give it: shm-slave ID VALUE...\n",
        ),
        (
            vec![s(id)],
            "",
            "error: value 1 of 3 on standard input is longer than 64 bytes, more than any whole number needs (at most 11 characters)\n\
             hint: type whole numbers from -2147483648 to 2147483647, separated by spaces or newlines\n",
        ),
        (
            vec![s(id), s(5), s(7)],
            "",
            "error: value 3 of 3 on standard input is longer than 64 bytes, more than any whole number needs (at most 11 characters)\n\
             hint: type whole numbers from -2147483648 to 2147483647, separated by spaces or newlines\n",
        ),
    ];
    for (args, stdout, stderr) in cases {
        let out = output_of_dev_zero(&mut slave(&args));
        assert_eq!(
            (
                shell_status(out.status),
                out.stdout.as_str(),
                out.stderr.as_str()
            ),
            (2, stdout, stderr),
            "shm-slave {args:?} < /dev/zero"
        );
        assert_eq!(segment(id).unwrap().nattch, 1, "the slave never attached");
    }
}

#[test]
fn bad_arguments_are_usage_errors() {
    let cases: &[&[&str]] = &[
        &["abc"],
        &["-5", "1", "2", "3"],
        &["1", "2", "3", "4", "5"],
        &["1", "2", "x", "4"],
        &["--count", "0", "1"],
        &["--count", "10", "1"],
        &["--key", "0", "1", "2", "3"],
        &["--key", "zz"],
        &["--proj", "3", "1"],
        &["--linger", "-1", "1"],
    ];
    for args in cases {
        let out = output_of(cmd("shm-slave").args(*args), b"");
        let err = out.stderr.as_str();
        assert_eq!(shell_status(out.status), 2, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert_no_panic(err);
    }
    let master_cases: &[&[&str]] = &[
        &["--interval", "0"],
        &["--interval", "abc"],
        &["--timeout", "-3"],
        &["--count", "10"],
        &["--perms", "800"],
        &["--key", "0"],
        &["--key", "1", "--ftok", "/"],
        &["--proj", "2"],
        &["extra"],
    ];
    for args in master_cases {
        let out = output_of(cmd("shm-master").args(*args), b"");
        let err = out.stderr.as_str();
        assert_eq!(shell_status(out.status), 2, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing created");
    }
}

#[test]
fn missing_or_destroyed_segment_is_a_clear_error_with_a_hint() {
    let seg = Segment::create(&CreateOptions::private(40)).unwrap();
    let id = seg.id().raw();
    drop(seg);
    let (status, out, err) = run_slave(&[s(id), s(1), s(2), s(3)], "");
    assert_eq!(status, 1);
    assert_eq!(
        out, "Error: Cannot attach!\n",
        "the notes' own message on stdout"
    );
    assert_eq!(
        err,
        format!(
            "error: cannot attach segment {id}: Invalid argument (EINVAL)\n\
             hint: is shm-master running, and is {id} the id it printed? `ipcs -m` lists segments\n"
        )
    );
}

#[test]
fn a_segment_too_small_for_the_layout_is_refused_before_writing() {
    let seg = Segment::create(&CreateOptions::private(8)).unwrap();
    let id = seg.id().raw();
    let (status, _, err) = run_slave(&[s(id), s(1), s(2), s(3)], "");
    assert_eq!(status, 1);
    assert!(
        err.contains(&format!(
            "segment {id} is 8 bytes, too small for the flag and 3 values (16 bytes)"
        )),
        "{err}"
    );
    let att = seg.id().attach(ipc_lab::shm::Access::ReadOnly).unwrap();
    assert_eq!(
        att.load(0, std::sync::atomic::Ordering::Acquire),
        Some(0),
        "flag untouched"
    );
}

#[test]
fn termination_signals_while_waiting_clean_up_and_exit_128_plus_n() {
    for (sig, name, status) in [(2, "SIGINT", 130), (15, "SIGTERM", 143), (1, "SIGHUP", 129)] {
        let mut master = Master::start(&[]); // default 3 s interval: the signal must wake it
        let id = master.id;
        let started = std::time::Instant::now();
        master.run.signal(sig);
        let st = master.run.finish();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{name}: ended promptly"
        );
        assert_eq!(shell_status(st), status, "{name}");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(sig), "{name}: ended by the signal itself");
        assert_eq!(
            master.run.err,
            format!("shm-master: interrupted by {name}: detached and destroyed segment {id}\n")
        );
        assert!(!segment_exists(id), "{name}: segment destroyed");
    }
}

/// `shm-slave --linger SECS ID 1 2 3`, started.
fn lingering_slave(id: i32, secs: u32) -> Running {
    Running::spawn(cmd("shm-slave").args([s("--linger"), s(secs), s(id), s(1), s(2), s(3)]))
}

/// A slave lingering in the master's segment, once attached (nattch 2). The master is held
/// (SIGSTOP) while the slave attaches: else it could see the flag, read and detach between two
/// looks at nattch, which would then never be seen at 2.
fn slave_attached_to_held_master(master: &Master, secs: u32) -> Running {
    master.run.signal(19);
    let slave = lingering_slave(master.id, secs);
    eventually("the slave to attach", || {
        segment(master.id).is_some_and(|r| r.nattch == 2)
    });
    slave
}

/// SIGTERM to a lingering slave: it ends by it (143), saying it detached from segment `id`.
#[track_caller]
fn terminate_slave(mut slave: Running, id: i32) {
    slave.signal(15);
    assert_eq!(shell_status(slave.finish()), 143, "{}", slave.err);
    assert_eq!(
        slave.err,
        format!("shm-slave: interrupted by SIGTERM: detached from segment {id}\n")
    );
}

#[test]
fn termination_signal_while_the_slave_lingers_detaches() {
    let mut master = Master::start(FAST);
    let id = master.id;
    let slave = slave_attached_to_held_master(&master, 30);
    terminate_slave(slave, id);
    master.run.signal(18);
    master.run.finish();
    assert!(!segment_exists(id));
}

#[test]
fn sigkill_leaks_the_segment_unless_removed_early() {
    // Without --remove-early: the kernel keeps the segment of a killed master.
    let mut master = Master::start(FAST);
    let id = master.id;
    eventually("the master to attach", || {
        segment(id).is_some_and(|r| r.nattch == 1)
    });
    master.run.signal(9);
    master.run.finish();
    assert!(segment_exists(id), "SIGKILL leaves the segment behind");
    remove_segment(id); // the remedy the lab sheet shows: ipcrm -m ID
    assert!(!segment_exists(id));

    // With --remove-early: the slave can still attach by id, and the last detach frees it. The
    // slave stays attached until the test ends it (a linger of a second could be over before a
    // busy machine let the test look at nattch 1).
    let mut master = Master::start(&["--interval", "0.05", "--remove-early", "--inspect"]);
    let id = master.id;
    master.run.wait_stderr("marked for destruction");
    // Held while the slave attaches, so it is still attached when it is killed (it would
    // otherwise read the values and detach by itself within its 0.05 s interval).
    let slave = slave_attached_to_held_master(&master, 60);
    master.run.signal(9);
    master.run.finish();
    eventually("nattch to drop to 1", || {
        segment(id).is_some_and(|r| r.nattch == 1)
    });
    assert!(segment_exists(id), "the slave holds it still");
    terminate_slave(slave, id);
    assert!(!segment_exists(id), "gone with the slave's detach");
}

#[test]
fn remove_early_run_completes_normally() {
    let mut master = Master::start(&["--interval", "0.05", "--remove-early", "--explain"]);
    let (status, _, err) = run_slave(&[s(master.id), s(8), s(9), s(10)], "");
    assert_eq!(status, 0, "{err}");
    assert_eq!(shell_status(master.run.finish()), 0);
    assert!(master.run.out.ends_with(&read_lines(&[8, 9, 10])));
    assert!(
        master
            .run
            .err
            .contains("already marked for destruction (--remove-early)")
    );
    assert!(!segment_exists(master.id));
}

#[test]
fn explain_narrates_the_five_steps_with_the_calls() {
    let mut master = Master::start(&["--interval", "0.05", "--explain"]);
    let id = master.id;
    let (status, out, err) = run_slave(&[s("--explain"), s(id), s(5), s(7), s(-9)], "");
    assert_eq!((status, out.as_str()), (0, ""));
    master.run.finish();
    let m = &master.run.err;
    for want in [
        "[step 1] create the shared memory region M".to_string(),
        format!("shmget(IPC_PRIVATE, 40, IPC_CREAT|0600) = {id}"),
        format!("shmat({id}, NULL, 0) = 0x"),
        "shm[0] = 0".into(),
        "[step 4] detach M".into(),
        format!("shmctl({id}, IPC_RMID, NULL) = 0"),
        "nothing else is attached, so the kernel freed the segment at once".into(),
    ] {
        assert!(m.contains(&want), "master narration lacks {want:?}:\n{m}");
    }
    for want in [
        "[step 2]",
        "shm[1] = 5",
        "shm[3] = -9",
        "shm[0] = 1",
        "release store",
        "[step 4]",
    ] {
        assert!(err.contains(want), "slave narration lacks {want:?}:\n{err}");
    }
    assert!(!err.contains("[step 5]"), "destroying is the master's job");
    // Steps come in order.
    let pos = |s: &str| m.find(s).unwrap();
    assert!(pos("[step 1]") < pos("[step 2]") && pos("[step 2]") < pos("[step 3]"));
    assert!(pos("[step 3]") < pos("[step 4]") && pos("[step 4]") < pos("[step 5]"));
}

#[test]
fn inspect_shows_nattch_go_1_2_1_and_the_slaves_pid() {
    let mut master = Master::start(&["--interval", "0.05", "--inspect"]);
    let id = master.id;
    // The master is held (stopped, still attached) while the slave runs, so that it cannot see
    // the flag, read and detach before the slave's last look: then the slave sees 1, 2, 2, 1 on
    // any schedule. Released, it reads what the slave left.
    let master_pid = master.run.pid();
    master.run.signal(libc::SIGSTOP);
    eventually("the master to stop", || {
        proc_stat(master_pid).is_some_and(|st| st.state == 'T')
    });
    let mut c = cmd("shm-slave");
    c.args([s("--inspect"), s(id), s(1), s(2), s(3)]);
    let mut slave = Running::spawn(&mut c);
    let slave_pid = slave.pid();
    assert_eq!(shell_status(slave.finish()), 0);
    master.run.signal(libc::SIGCONT);
    let nattch: Vec<&str> = slave
        .err
        .lines()
        .map(|l| {
            l.split("nattch ")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(nattch, ["1", "2", "2", "1"], "{}", slave.err);
    master.run.finish();
    assert!(
        master
            .run
            .err
            .contains(&format!("last attach/detach by pid {slave_pid}, nattch 1")),
        "the master sees who was there:\n{}",
        master.run.err
    );
    assert!(
        master
            .run
            .err
            .ends_with(&format!("[inspect] segment {id}: gone\n"))
    );
}

#[test]
fn linger_keeps_a_destroyed_segment_alive_until_the_last_detach() {
    // The slave stays attached until the test ends it: a linger of a second or two could be
    // over before a busy machine let the master finish.
    let mut master = Master::start(&["--interval", "0.05"]);
    let id = master.id;
    let slave = lingering_slave(id, 60);
    assert_eq!(shell_status(master.run.finish()), 0, "the master is done");
    // The master has destroyed it (IPC_RMID: the kernel's SHM_DEST flag, 0o1000), yet it lives
    // on: the slave is still attached.
    let row = segment(id).expect("still attached by the slave");
    assert_eq!((row.perms & 0o1000, row.nattch), (0o1000, 1), "{row:?}");
    terminate_slave(slave, id);
    assert!(!segment_exists(id), "gone with the last detach");
}

#[test]
fn another_user_is_refused_at_0600_and_let_in_at_0666() {
    skip_unless_nobody!();
    let master = Master::start(&["--interval", "0.05"]);
    let out = output_of(
        as_nobody("shm-slave").args([s(master.id), s(1), s(2), s(3)]),
        b"",
    );
    let err = out.stderr.as_str();
    assert_eq!(shell_status(out.status), 1, "{err}");
    assert_eq!(out.stdout.as_str(), "Error: Cannot attach!\n");
    assert!(err.contains("Permission denied (EACCES)"), "{err}");
    assert!(
        err.contains("hint: the segment belongs to another user"),
        "{err}"
    );
    drop(master);

    let mut open = Master::start(&["--interval", "0.05", "--perms", "666"]);
    let out = output_of(
        as_nobody("shm-slave").args([s(open.id), s(6), s(6), s(6)]),
        b"",
    );
    assert_eq!(shell_status(out.status), 0, "{}", out.stderr.as_str());
    open.run.finish();
    assert!(open.run.out.ends_with(&read_lines(&[6, 6, 6])));
}

#[test]
fn a_closed_stdout_ends_the_master_quietly_and_cleans_up() {
    // Like `shm-master | true`: the reading end is closed before the master starts, so its
    // first line meets a broken pipe. (The timeout only bounds the test should that fail.)
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = cmd("shm-master")
        .args(["--explain", "--timeout", "20"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(shell_status(out.status), 0, "{err}");
    assert!(!err.contains("error"), "{err}");
    let id: i32 = err
        .split("IPC_CREAT|0600) = ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|n| n.parse().ok())
        .expect("the narration names the id");
    assert!(!segment_exists(id), "destroyed on the way out");
}

#[test]
fn colour_follows_the_flag_and_the_environment() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(bin("shm-slave"));
        c.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        c.args(args).args(["abc"]);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = output_of(&mut c, b"");
        out.stderr.as_str().contains('\x1b')
    };
    assert!(!run(&[], &[]), "auto: stderr is a pipe");
    assert!(run(&["--color", "always"], &[]));
    assert!(!run(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
    assert!(run(&[], &[("CLICOLOR_FORCE", "1")]));
    assert!(!run(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]));
    assert!(
        run(&["--color", "always"], &[("NO_COLOR", "1")]),
        "the flag wins"
    );
}

#[test]
fn help_and_version_name_the_lecture() {
    for name in ["shm-master", "shm-slave"] {
        let out = output_of(cmd(name).arg("--help"), b"");
        let help = out.stdout.as_str();
        assert!(out.status.success());
        assert!(help.contains("Lecture notes: B1 Shared Memory"), "{help}");
        assert!(help.contains("Examples:"), "{help}");
        for opt in [
            "--explain",
            "--inspect",
            "--color",
            "--count",
            "--key",
            "--ftok",
        ] {
            assert!(help.contains(opt), "{name} --help lacks {opt}");
        }
        let out = output_of(cmd(name).arg("--version"), b"");
        assert_eq!(
            out.stdout.as_str(),
            format!("{name} {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn the_masters_help_says_what_differs_from_the_notes_program() {
    // The same stdout and exit status, not the same program: the help says so, point by point.
    let out = output_of(cmd("shm-master").arg("--help"), b"");
    assert!(out.status.success());
    // clap wraps the text at the terminal's width: compare it as one line.
    let help = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!help.contains("exactly the notes' program"), "{help}");
    for point in [
        "With no options it prints on stdout what the notes' program prints, byte for byte, and exits with the same status. What it does differently from the notes' C master:",
        "it attaches the segment and clears the ready flag (steps 2 and 3) before it prints \"Shared Memory Id = N\". The C master prints the id right after shmget, before it attaches",
        "then every --interval seconds (3 by default, as the C master's sleep(3))",
        "it does not wait for the slave to attach or to detach: the flag alone ends the wait",
        "Ctrl-C, SIGTERM or SIGHUP while it waits: it detaches and destroys the segment",
        "A failed attach: it destroys the segment it made",
        "a segment someone else removed already (`ipcrm`) is told on stderr, not a failure",
        "where the C master ignores what shmctl returns and exits with 0",
        "Each line of stdout is written at once, into a pipe too",
    ] {
        assert!(help.contains(point), "--help lacks {point:?}:\n{help}");
    }
}

/// The slave's narration of an id that names no segment: the same in every run.
fn narrated_slave(extra: &[&str]) -> Command {
    let mut c = cmd("shm-slave");
    c.env_remove("COLUMNS")
        .args(["--explain", "--inspect", "2147483647", "1", "2", "3"])
        .args(extra);
    c
}

/// `stderr` as a terminal `width` wide shows it: each narration and inspect line wrapped at
/// word boundaries under its text; errors and hints as they are.
fn wrapped_at(stderr: &str, width: usize) -> String {
    stderr
        .lines()
        .map(|line| {
            let prefix_len = if line.starts_with("[step ") {
                line.find("] ").expect("a step heading") + 2
            } else if line.starts_with("[inspect] ") {
                "[inspect] ".len()
            } else if line.starts_with("  ") {
                2
            } else {
                return format!("{line}\n");
            };
            let (prefix, text) = line.split_at(prefix_len);
            format!("{}\n", ipc_lab::ui::wrap_line(prefix, text, width))
        })
        .collect()
}

#[test]
fn narration_on_a_narrow_terminal_is_wrapped_at_its_width_and_nowhere_else() {
    // Into a pipe: the lines as they are, $COLUMNS or not.
    let piped = output_of(&mut narrated_slave(&[]), b"");
    assert_eq!(shell_status(piped.status), 1, "{}", piped.stderr);
    let lines = piped.stderr.clone();
    assert!(
        lines.contains("\n  the master created it; its id 2147483647 is all the slave needs\n"),
        "{lines}"
    );
    assert!(lines.lines().any(|l| l.len() > 80), "{lines}");
    let piped_narrow = output_of(narrated_slave(&[]).env("COLUMNS", "30"), b"");
    assert_eq!(piped_narrow.stderr, lines, "a pipe is not a terminal");

    // On a terminal 40 columns wide (a half-screen tmux pane): wrapped at 40.
    let narrow = output_with_stderr_on_terminal(&mut narrated_slave(&[]), 40);
    assert_eq!(shell_status(narrow.status), 1, "{}", narrow.stderr);
    assert_eq!(narrow.stdout, piped.stdout);
    assert_eq!(narrow.stderr, wrapped_at(&lines, 40));
    assert_ne!(narrow.stderr, lines);
    assert!(
        narrow.stderr.contains(
            "[inspect] segment 2147483647: gone (the\n          master destroyed it, and this\n          was the last detach)\n"
        ),
        "{}",
        narrow.stderr
    );
    // The error and its hint are not narration: as they are.
    assert!(narrow.stderr.ends_with(
        "error: cannot attach segment 2147483647: Invalid argument (EINVAL)\nhint: is shm-master running, and is 2147483647 the id it printed? `ipcs -m` lists segments\n"
    ));

    // $COLUMNS, where it is set, says the width.
    let wide = output_with_stderr_on_terminal(narrated_slave(&[]).env("COLUMNS", "60"), 40);
    assert_eq!(wide.stderr, wrapped_at(&lines, 60));

    // Coloured, the same breaks: the escapes take no room.
    let coloured = output_with_stderr_on_terminal(&mut narrated_slave(&["--color", "always"]), 40);
    assert!(coloured.stderr.contains('\x1b'), "{:?}", coloured.stderr);
    let mut plain = String::new();
    let mut chars = coloured.stderr.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            plain.push(c);
        }
    }
    assert_eq!(plain, narrow.stderr);
}

#[test]
fn slave_waits_for_values_typed_later() {
    // The slave at its prompt, values typed one at a time, as a person would.
    let mut master = Master::start(FAST);
    let mut slave = Running::spawn(&mut slave(&[]));
    let stdin = slave.stdin.as_mut().unwrap();
    writeln!(stdin, "{}", master.id).unwrap();
    thread::sleep(Duration::from_millis(100));
    assert!(
        slave.child.try_wait().unwrap().is_none(),
        "still waiting for values"
    );
    assert_eq!(
        segment(master.id).unwrap().nattch,
        1,
        "not attached before all input is read"
    );
    writeln!(stdin, "11 22").unwrap();
    writeln!(stdin, "33").unwrap();
    assert_eq!(shell_status(slave.finish()), 0);
    master.run.finish();
    assert!(master.run.out.ends_with(&read_lines(&[11, 22, 33])));
}

#[test]
fn termination_signals_at_the_slaves_prompt_end_it_at_once() {
    // Nothing is attached yet, so the default action is right: the process dies by the signal.
    for (sig, status) in [(2, 130), (15, 143), (1, 129)] {
        let mut slave = Running::spawn(&mut slave(&[]));
        eventually("the prompt to be read", || {
            std::fs::read_to_string(format!("/proc/{}/syscall", slave.pid()))
                .is_ok_and(|s| s.starts_with(&format!("{} 0x0 ", libc::SYS_read)))
        });
        slave.signal(sig);
        assert_eq!(shell_status(slave.finish()), status);
        assert_eq!(slave.out, "Shared memory id for attachment: ");
    }
}

#[test]
fn the_id_is_printed_only_after_attaching_and_clearing_the_flag() {
    // The notes' master prints its id before it attaches and clears the flag, so a quick slave's
    // message can be wiped. Ours prints it last: a slave that writes at once is never lost.
    for _ in 0..20 {
        let mut master = Master::start(&["--interval", "0.01", "--timeout", "10"]);
        assert_eq!(
            segment(master.id).unwrap().nattch,
            1,
            "attached before the id is out"
        );
        let (status, _, err) = run_slave(&[s(master.id), s(1), s(2), s(3)], "");
        assert_eq!(status, 0, "{err}");
        assert_eq!(shell_status(master.run.finish()), 0, "{}", master.run.err);
        assert!(master.run.out.ends_with(&read_lines(&[1, 2, 3])));
    }
}

// ---------------------------------------------------------------------------------------------
// Someone else removes the segment; a mode that keeps out its own owner

#[test]
fn a_segment_someone_else_removed_during_the_exchange_is_no_failure() {
    // `ipcrm -m ID` while the master waits: Linux still lets the slave attach by id, the
    // exchange completes, and the master's last detach frees the segment before its own
    // IPC_RMID, which then finds nothing (EINVAL). The exchange succeeded: exit 0, and a note.
    let mut master = Master::start(FAST);
    let id = master.id;
    remove_segment(id);
    let (status, _, err) = run_slave(&[s(id), s(5), s(7), s(-9)], "");
    assert_eq!(status, 0, "{err}");
    assert_eq!(shell_status(master.run.finish()), 0, "{}", master.run.err);
    assert_eq!(
        master.run.out,
        format!("Shared Memory Id = {id}\n{}", read_lines(&[5, 7, -9]))
    );
    assert_eq!(
        master.run.err,
        format!(
            "shm-master: segment {id} was gone already: someone else removed it (`ipcrm`, or another process's IPC_RMID) and the last detach freed it; nothing is left to destroy\n"
        )
    );
    assert!(!segment_exists(id));

    // With --timeout and no slave: the timeout is what is reported.
    let mut master = Master::start(&["--interval", "0.05", "--timeout", "0.5"]);
    let id = master.id;
    remove_segment(id);
    assert_eq!(shell_status(master.run.finish()), 1, "{}", master.run.err);
    assert_eq!(
        master.run.err,
        format!(
            "shm-master: segment {id} was gone already: someone else removed it (`ipcrm`, or another process's IPC_RMID) and the last detach freed it; nothing is left to destroy\n\
             error: no slave set the ready flag of segment {id} within 0.5 s; the segment is destroyed\n\
             hint: start shm-slave in another terminal and give it id {id}, or allow longer with --timeout\n"
        )
    );
}

#[test]
fn a_mode_that_keeps_out_the_owner_too_is_named() {
    skip_unless_nobody!("root attaches whatever the mode; needs setpriv to act as nobody");
    let out = output_of(as_nobody("shm-master").args(["--perms", "400"]), b"");
    assert_eq!(shell_status(out.status), 1, "{}", out.stderr);
    let id: i32 = out
        .stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Shared Memory Id = "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{:?}", out.stdout));
    assert_eq!(
        out.stdout,
        format!("Shared Memory Id = {id}\nCannot attach shared memory!\n")
    );
    assert_eq!(
        out.stderr,
        format!(
            "error: cannot attach segment {id}: Permission denied (EACCES)\n\
             hint: segment {id} is yours, but its mode 0400 does not let even its owner read and write it, which a read-write shmat needs: make it with --perms 600\n"
        )
    );
    assert!(!segment_exists(id), "the segment it made is destroyed");
}

// ---------------------------------------------------------------------------------------------
// Rows of the fault table (tests/lab/faults.rs): shm-master and shm-slave, wherever each waits

pub(crate) fn master_polls(s: &mut Subject, f: &mut Fixture) {
    let out = s.wait_out("Shared Memory Id = ");
    let id = id_line(&out);
    f.segments.push(id);
    s.wait_in(POLL);
}

/// A 40-byte segment with the fixture's key, as shm-master makes (the test's own).
pub(crate) fn test_segment(f: &mut Fixture) {
    let segment = Segment::create(&CreateOptions {
        key: f.key,
        size: 40,
        perms: 0o600,
        exclusive: true,
    })
    .expect("a segment for shm-slave");
    f.segment = Some(segment);
}

fn slave_prompts(s: &mut Subject, _: &mut Fixture) {
    s.wait_out("Shared memory id for attachment: ");
    s.wait_in(READ);
}

fn slave_reads(s: &mut Subject, _: &mut Fixture) {
    s.wait_in(READ);
}

pub(crate) fn slave_lingers(s: &mut Subject, f: &mut Fixture) {
    let id = f.segment.as_ref().unwrap().id().raw();
    s.wait_until("the slave to attach", |_| {
        segment(id).is_some_and(|r| r.nattch == 1)
    });
    s.wait_in(POLL);
}

/// shm-master and shm-slave, at every place each waits: their rows of the fault table, which sends
/// each row every termination signal (see [`crate::faults`]).
pub(crate) fn fault_rows() -> Vec<faults::Row> {
    use faults::{Row, Thing};
    let row = faults::row;
    vec![
        // shm-master: polls the ready flag (Termination::sleep, a poll) until a slave writes.
        Row {
            owns: &[Thing::Segments],
            ..row("shm-master", "polling the ready flag", &[], master_polls)
        },
        Row {
            owns: &[Thing::Segments, Thing::Key],
            ..row(
                "shm-master",
                "polling, a segment named by key",
                &["--key", "{key}", "--interval", "0.1"],
                master_polls,
            )
        },
        Row {
            owns: &[Thing::Segments],
            ..row(
                "shm-master",
                "polling, segment marked for destruction",
                &["--remove-early", "--interval", "0.2"],
                master_polls,
            )
        },
        Row {
            owns: &[Thing::Segments],
            ..row(
                "shm-master",
                "polling with a timeout",
                &["--timeout", "60", "--interval", "0.5", "--inspect"],
                master_polls,
            )
        },
        // shm-slave: at its prompt, reading values, staying attached.
        Row {
            prepare: test_segment,
            keeps: &[Thing::TestSegment],
            ..row("shm-slave", "at its prompt for the id", &[], slave_prompts)
        },
        Row {
            prepare: test_segment,
            keeps: &[Thing::TestSegment],
            ..row("shm-slave", "reading the values", &["{seg}"], slave_reads)
        },
        Row {
            prepare: test_segment,
            keeps: &[Thing::TestSegment],
            ..row(
                "shm-slave",
                "reading values, segment found by key",
                &["--key", "{key}", "5"],
                slave_reads,
            )
        },
        Row {
            prepare: test_segment,
            keeps: &[Thing::TestSegment],
            ..row(
                "shm-slave",
                "attached, lingering",
                &["--linger", "30", "{seg}", "5", "7", "-9"],
                slave_lingers,
            )
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Rows of the bad-input table (tests/lab/bad_input.rs): every option of shm-master and shm-slave

/// Bad values that, given to --ftok, name no file: ftok fails (ENOENT, ENAMETOOLONG), a failure
/// rather than a usage error.
const NOT_A_PATH: [Bad; 6] = [
    Bad::Word,
    Bad::NegativeAttached,
    Bad::Overflow,
    Bad::Junk,
    Bad::Long,
    Bad::LongDigits,
];

/// Options of shm-master, each with the harmless rest of a run: a valid value would create a
/// segment, wait 0.05 s for a slave, destroy it and exit 1.
fn master_rows() -> Vec<bad_input::Row> {
    use bad_input::Row;
    let base = |skip: &str| -> Vec<&'static str> {
        let mut b = Vec::new();
        for (name, value) in [("--timeout", "0.05"), ("--interval", "0.01")] {
            if name != skip {
                b.extend([name, value]);
            }
        }
        b
    };
    vec![
        Row::opt("shm-master", "--interval").before(&base("--interval")),
        Row::opt("shm-master", "--timeout").before(&base("--timeout")),
        Row::opt("shm-master", "--count").before(&base("")),
        // -5 is a key (0xfffffffb): made, waited on, destroyed.
        Row::opt("shm-master", "--key")
            .before(&base(""))
            .but(&[Bad::NegativeAttached], Want::Failure),
        // A path that does not exist: ftok fails (ENOENT, ENAMETOOLONG).
        Row::opt("shm-master", "--ftok")
            .before(&base(""))
            .but(&NOT_A_PATH, Want::Failure),
        Row::opt("shm-master", "--proj")
            .before(&base(""))
            .before(&["--ftok", "/"]),
        Row::opt("shm-master", "--perms").before(&base("")),
        Row::opt("shm-master", "--color").before(&base("")),
    ]
}

#[test]
fn shm_master_bad_arguments() {
    try_bad_arguments(
        "shm-master",
        &master_rows(),
        &["--timeout", "0.05"],
        &[&["bogus"], &["5"], &["--", "-5"]],
    );
}

/// Options of shm-slave, with no id and an empty stdin: a valid value ends at "standard input
/// ended" (exit 1) before any segment is looked for.
fn slave_rows() -> Vec<bad_input::Row> {
    use bad_input::Row;
    // An id no segment is likely to have; the values are checked before it is looked for.
    let id = i32::MAX.to_string();
    vec![
        // Negatives are allowed on its command line: -5 reaches the id's parser.
        Row::pos("shm-slave", "ID"),
        // -5 is a value: the other two are awaited on stdin, which is empty.
        Row::pos("shm-slave", "VALUE")
            .before(&[&id])
            .but(&[Bad::Negative, Bad::NegativeAttached], Want::Failure),
        Row::opt("shm-slave", "--count"),
        // -5 is a key; with negatives allowed, `--key -5` is one too.
        Row::opt("shm-slave", "--key").but(&[Bad::Negative, Bad::NegativeAttached], Want::Failure),
        Row::opt("shm-slave", "--ftok")
            .but(&NOT_A_PATH, Want::Failure)
            .but(&[Bad::Negative], Want::Failure),
        Row::opt("shm-slave", "--proj").before(&["--ftok", "/"]),
        Row::opt("shm-slave", "--linger"),
        Row::opt("shm-slave", "--color"),
    ]
}

#[test]
fn shm_slave_bad_arguments() {
    let id = i32::MAX.to_string();
    try_bad_arguments(
        "shm-slave",
        &slave_rows(),
        &[],
        &[&[&id, "1", "2", "3", "4"], &["--count", "1", &id, "1", "2"]],
    );
}
