//! ipc-bench as real processes: every mechanism in every mode with small counts, and the shape
//! of what comes out (every row present, figures positive, finite and ordered, the counts
//! asked for, p99 and p99.9 only from 100 and 1000 samples on); the JSON, CSV and table formats;
//! the floor; the cpu column; the message-queue size limit; the SVG chart; usage errors;
//! termination signals mid-measurement, sent to ipc-bench or to its whole process group as a
//! terminal's Ctrl-C is (a table still shows the rows measured); its child killed alone; a
//! closed stdout.
//!
//! Every run is tagged and its children are recorded while it runs (see [`Demo`]): afterwards
//! none may be left, neither running nor unreaped. Nor may an IPC object of the run: a segment
//! in /proc/sysvipc/shm whose creator is ipc-bench or its child, or one of its message queues
//! (`/ipc-bench-<pid>-<n>-down` and `-up`, asked of the kernel with mq_open). Other tests make
//! their own objects meanwhile, so the machine's tables are never expected to be empty.
//!
//! Figures are never compared with each other across mechanisms: only their shape is checked,
//! so that a busy machine cannot fail a test. The one bound on a figure is physical: two
//! processes cannot use more than two CPUs' worth of time, one's when they share it. Placements
//! that need two CPUs are expected to say why not when this process may use only one.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::bad_input::{self, try_bad_arguments};
use crate::common::*;
use crate::faults::{self, Fixture, READ, Subject};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

// ---------------------------------------------------------------------------------------------
// Running ipc-bench

fn bench_cmd(args: &[&str]) -> Command {
    cmd_with("ipc-bench", args)
}

/// ipc-bench with these arguments (tagged, its children watched: see [`Demo`]).
fn start(args: &[&str]) -> Demo {
    Demo::start_cmd(bench_cmd(args))
}

/// Wait (bounded) for the end of a started run, then check that it left nothing behind: no
/// process (see [`Demo::finish`]) and no IPC object (see [`assert_no_ipc_left`]).
#[track_caller]
fn finish(demo: Demo) -> Ran {
    left_nothing(demo.finish())
}

/// A run, once checked to have left no IPC object (see [`assert_no_ipc_left`]).
#[track_caller]
fn left_nothing(ran: Ran) -> Ran {
    assert_no_ipc_left(ran.pid, &ran.children);
    ran
}

/// ipc-bench with these arguments, run to its end (bounded), nothing left behind.
#[track_caller]
fn run(args: &[&str]) -> Ran {
    finish(start(args))
}

/// A run that succeeded, with no panic on stderr.
#[track_caller]
fn assert_ok(ran: &Ran, what: &str) {
    assert_eq!(code(ran), 0, "{what}: {}", ran.stderr);
    assert_no_panic(&ran.stderr);
    assert!(!ran.stderr.contains("error"), "{what}: {}", ran.stderr);
}

/// The small counts every measuring test uses: `--quick --count 200`.
const QUICK: [&str; 3] = ["--quick", "--count", "200"];
const COUNT: u64 = 200;

fn with_quick<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = QUICK.to_vec();
    all.extend_from_slice(args);
    all
}

// ---------------------------------------------------------------------------------------------
// What a run leaves behind

/// How many of a run's queue names are asked about: ipc-bench numbers its queues from 0, two
/// per measurement that uses queues, and no test here makes more than a few dozen.
const QUEUE_NUMBERS: u32 = 64;

/// The queues of ipc-bench process `pid` that exist now (`/ipc-bench-<pid>-<n>-down|up`).
fn queues_of(pid: i32) -> Vec<String> {
    (0..QUEUE_NUMBERS)
        .flat_map(|n| ["down", "up"].map(|dir| format!("/ipc-bench-{pid}-{n}-{dir}")))
        .filter(|name| {
            let name = ipc_lab::mq::QueueName::parse(name).expect("a valid queue name");
            ipc_lab::mq::exists(&name)
        })
        .collect()
}

/// No segment made by ipc-bench `pid` or one of its `children`, and none of its queues, is left.
/// The segments are marked for removal as soon as they are attached: one still listed is still
/// attached by a process that should be gone.
#[track_caller]
fn assert_no_ipc_left(pid: i32, children: &[ProcId]) {
    let mut pids = vec![pid];
    pids.extend(children.iter().map(|c| c.pid));
    let segments = segments_created_by(&pids);
    let queues = queues_of(pid);
    // Whatever is left is removed, so that a failing test leaves nothing either.
    for line in &segments {
        if let Some(id) = line
            .split_whitespace()
            .nth(1)
            .and_then(|id| id.parse().ok())
        {
            remove_segment(id);
        }
    }
    for name in &queues {
        if let Ok(name) = std::ffi::CString::new(name.as_str()) {
            let _ = nix::mqueue::mq_unlink(name.as_c_str());
        }
    }
    assert_eq!(
        (segments, queues),
        (vec![], vec![]),
        "segments and queues ipc-bench {pid} left behind"
    );
}

#[test]
fn the_leftover_checks_see_a_segment_and_a_queue_of_the_names_they_look_for() {
    // A segment this process made is listed under its pid until it is removed.
    let me = std::process::id() as i32;
    let segment = ipc_lab::shm::Segment::create(&ipc_lab::shm::CreateOptions::private(64))
        .expect("create a segment");
    let id = segment.id();
    assert_eq!(segments_created_by(&[me]).len(), 1, "segment {id:?}");
    drop(segment);
    assert_eq!(segments_created_by(&[me]), Vec::<String>::new());

    // A queue named as ipc-bench names them, for a pid no process has.
    let pid = pid_never_used();
    let name = format!("/ipc-bench-{pid}-{}-up", QUEUE_NUMBERS - 1);
    let queue = ipc_lab::mq::QueueName::parse(&name).unwrap();
    let options = ipc_lab::mq::OpenOptions::create(ipc_lab::mq::Access::Both, 1, 8);
    let mailbox = ipc_lab::mq::Mailbox::open(&queue, &options).expect("create a queue");
    let found = queues_of(pid);
    let _ = ipc_lab::mq::unlink(&queue);
    drop(mailbox);
    assert_eq!(found, [name]);
    assert_eq!(queues_of(pid), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// The machine

/// The CPUs this process may use (ipc-bench, started from this thread, inherits them).
fn usable_cpus() -> Vec<usize> {
    use nix::sched::{CpuSet, sched_getaffinity};
    let set = sched_getaffinity(Pid::from_raw(0)).expect("sched_getaffinity");
    (0..CpuSet::count())
        .filter(|c| set.is_set(*c).unwrap_or(false))
        .collect()
}

/// Why `--pin cross` is not measured here, if it is not.
fn cross_unsupported() -> Option<String> {
    let n = usable_cpus().len();
    (n < 2).then(|| format!("needs two CPUs, and this process may use {n}"))
}

/// The placement where both processes spin at once: on two CPUs when there are two.
fn spinning_pin() -> &'static str {
    if cross_unsupported().is_none() {
        "cross"
    } else {
        "same"
    }
}

/// /proc/sys/fs/mqueue/msgsize_max: the largest message a queue may hold.
fn msgsize_max() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/mqueue/msgsize_max")
        .expect("read /proc/sys/fs/mqueue/msgsize_max")
        .trim()
        .parse()
        .expect("a number")
}

fn mq_reason(max: u64) -> String {
    format!("a queue message holds at most {max} bytes here (/proc/sys/fs/mqueue/msgsize_max)")
}

/// The capacity of a new pipe (F_GETPIPE_SZ), which the floor's pipe-self must not exceed.
fn pipe_capacity() -> u64 {
    let p = ipc_lab::pipe::pipe(false).expect("pipe");
    ipc_lab::pipe::capacity(std::os::fd::AsFd::as_fd(&p.write)).expect("F_GETPIPE_SZ") as u64
}

/// The machine line's facts: the kernel's release and the CPUs this process may use.
#[track_caller]
fn assert_machine_line(line: &str) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .expect("read /proc/sys/kernel/osrelease");
    let n = usable_cpus().len();
    let cpus = format!(", {n} CPU{} usable (", if n == 1 { "" } else { "s" });
    assert!(
        line.contains(&format!(" {} ", release.trim())) && line.contains(&cpus),
        "the machine line names the kernel and {cpus:?}: {line:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Rows: the documented keys, a tiny JSON reader, a CSV reader

/// Every key a row may have, in the documented order (also the CSV's columns).
const KEYS: [&str; 14] = [
    "mech",
    "mode",
    "size",
    "count",
    "pin",
    "min_ns",
    "median_ns",
    "p99_ns",
    "p999_ns",
    "mean_ns",
    "msgs_per_s",
    "mb_per_s",
    "cpu_ns_per_msg",
    "unsupported",
];
/// The statistics every measured floor or latency row has; p99 and p99.9 come only with
/// samples enough for them (see [`percentiles_shown`]).
const STATS: [&str; 3] = ["min_ns", "median_ns", "mean_ns"];
const TEXT_KEYS: [&str; 4] = ["mech", "mode", "pin", "unsupported"];

/// A value of a flat JSON object: a string, or a number with the text it was written as.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Number(f64, String),
}

/// A flat JSON object (strings and numbers only), its keys in order. Anything else, or
/// anything that is not JSON (a duplicate key, `NaN`, `inf`, a trailing comma), is an error.
fn parse_json_object(line: &str) -> Result<Vec<(String, Value)>, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while chars
            .get(*i)
            .is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
        {
            *i += 1;
        }
    };
    let expect = |i: &mut usize, want: char| -> Result<(), String> {
        match chars.get(*i) {
            Some(c) if *c == want => {
                *i += 1;
                Ok(())
            }
            other => Err(format!("expected {want:?} at {i}, found {other:?}")),
        }
    };
    let string = |i: &mut usize| -> Result<String, String> {
        expect(i, '"')?;
        let mut out = String::new();
        loop {
            let c = *chars.get(*i).ok_or("unterminated string")?;
            *i += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let e = *chars.get(*i).ok_or("unterminated escape")?;
                    *i += 1;
                    match e {
                        '"' | '\\' | '/' => out.push(e),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let hex: String =
                                chars.get(*i..*i + 4).ok_or("short \\u")?.iter().collect();
                            *i += 4;
                            let code = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                            out.push(char::from_u32(code).ok_or("a surrogate in \\u")?);
                        }
                        other => return Err(format!("bad escape \\{other}")),
                    }
                }
                c if (c as u32) < 0x20 => return Err(format!("raw control character {c:?}")),
                c => out.push(c),
            }
        }
    };
    // -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    let number = |i: &mut usize| -> Result<(f64, String), String> {
        let from = *i;
        let digits = |i: &mut usize| {
            let at = *i;
            while chars.get(*i).is_some_and(char::is_ascii_digit) {
                *i += 1;
            }
            *i - at
        };
        if chars.get(*i) == Some(&'-') {
            *i += 1;
        }
        let lead = chars.get(*i).copied();
        let n = digits(i);
        if n == 0 || (lead == Some('0') && n > 1) {
            return Err(format!("not a JSON number at {from}"));
        }
        if chars.get(*i) == Some(&'.') {
            *i += 1;
            if digits(i) == 0 {
                return Err(format!("no digits after the point at {from}"));
            }
        }
        if chars.get(*i).is_some_and(|c| matches!(c, 'e' | 'E')) {
            *i += 1;
            if chars.get(*i).is_some_and(|c| matches!(c, '+' | '-')) {
                *i += 1;
            }
            if digits(i) == 0 {
                return Err(format!("no digits in the exponent at {from}"));
            }
        }
        let text: String = chars[from..*i].iter().collect();
        let value = text.parse::<f64>().map_err(|e| format!("{text}: {e}"))?;
        Ok((value, text))
    };

    let mut fields: Vec<(String, Value)> = Vec::new();
    skip_ws(&mut i);
    expect(&mut i, '{')?;
    skip_ws(&mut i);
    if chars.get(i) == Some(&'}') {
        i += 1;
    } else {
        loop {
            skip_ws(&mut i);
            let key = string(&mut i)?;
            skip_ws(&mut i);
            expect(&mut i, ':')?;
            skip_ws(&mut i);
            let value = if chars.get(i) == Some(&'"') {
                Value::Text(string(&mut i)?)
            } else {
                let (v, text) = number(&mut i)?;
                Value::Number(v, text)
            };
            if fields.iter().any(|(k, _)| *k == key) {
                return Err(format!("duplicate key {key:?}"));
            }
            fields.push((key, value));
            skip_ws(&mut i);
            match chars.get(i) {
                Some(',') => i += 1,
                Some('}') => {
                    i += 1;
                    break;
                }
                other => return Err(format!("expected ',' or '}}' at {i}, found {other:?}")),
            }
        }
    }
    skip_ws(&mut i);
    if i != chars.len() {
        return Err(format!("text after the object at {i}"));
    }
    Ok(fields)
}

/// The cells of one CSV line (RFC 4180: a quoted cell may hold commas and doubled quotes).
fn parse_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut cells = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut cell = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        cell.push('"');
                    }
                    Some('"') => break,
                    Some(c) => cell.push(c),
                    None => return Err(format!("unterminated quoted cell in {line:?}")),
                }
            }
            match chars.next() {
                None => {
                    cells.push(cell);
                    return Ok(cells);
                }
                Some(',') => cells.push(cell),
                Some(c) => return Err(format!("{c:?} after a quoted cell in {line:?}")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        cells.push(cell);
                        return Ok(cells);
                    }
                    Some(',') => break,
                    Some('"') => return Err(format!("a quote inside a bare cell in {line:?}")),
                    Some(c) => cell.push(c),
                }
            }
            cells.push(cell);
        }
    }
}

#[test]
fn the_json_and_csv_readers_take_what_is_so_and_refuse_what_is_not() {
    let text = |s: &str| Value::Text(s.to_string());
    let number = |v: f64, s: &str| Value::Number(v, s.to_string());
    assert_eq!(
        parse_json_object(r#"{"mech":"a\"b\u0041","size":64,"min_ns":-1.5e3}"#),
        Ok(vec![
            ("mech".to_string(), text("a\"bA")),
            ("size".to_string(), number(64.0, "64")),
            ("min_ns".to_string(), number(-1500.0, "-1.5e3")),
        ])
    );
    for bad in [
        r#"{"a":NaN}"#,
        r#"{"a":inf}"#,
        r#"{"a":01}"#,
        r#"{"a":1.}"#,
        r#"{"a":1,}"#,
        r#"{"a":1,"a":2}"#,
        r#"{"a":1} x"#,
        r#"{"a":[1]}"#,
        r#"{"a":"x"#,
        "{\"a\":\"tab\there\"}",
    ] {
        assert!(parse_json_object(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parse_csv_line(r#"a,,"b, ""c""",d"#),
        Ok(vec!["a".into(), "".into(), "b, \"c\"".into(), "d".into()])
    );
    assert_eq!(parse_csv_line(""), Ok(vec![String::new()]));
    for bad in [r#"a,"b"#, r#"a,b"c"#, r#""a"b"#] {
        assert!(parse_csv_line(bad).is_err(), "{bad}");
    }
}

/// A row's statistics, in nanoseconds: p99 and p99.9 where given.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stats {
    min: f64,
    median: f64,
    p99: Option<f64>,
    p999: Option<f64>,
    mean: f64,
}

/// The floor times each row in this many batches, whatever the count: its rows' samples.
const FLOOR_BATCHES: u64 = 200;

/// The samples a measured row's statistics come from: a latency row's round trips (its count),
/// the floor's batches.
fn samples_of(mode: &str, count: u64) -> u64 {
    if mode == "floor" {
        FLOOR_BATCHES
    } else {
        count
    }
}

/// Whether a row of this many samples gives p99 and p99.9: each from the number of samples on
/// where it is more than the slowest sample (100 and 1000).
fn percentiles_shown(samples: u64) -> (bool, bool) {
    (samples >= 100, samples >= 1000)
}

/// One row of results, whatever the format it came in.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    /// The keys present, in the order they came.
    keys: Vec<String>,
    mech: String,
    mode: String,
    size: u64,
    count: Option<u64>,
    pin: Option<String>,
    stats: Option<Stats>,
    msgs_per_s: Option<f64>,
    mb_per_s: Option<f64>,
    cpu_ns_per_msg: Option<f64>,
    unsupported: Option<String>,
}

/// The identity of a row and why it was not measured: what a test expects to see.
type RowKey = (String, String, u64, Option<String>, Option<String>);

impl Row {
    /// From key-value pairs (absent keys left out): each key documented, strings where strings
    /// belong, numbers finite, sizes and counts whole.
    fn from_fields(fields: &[(String, Value)], line: &str) -> Row {
        let keys: Vec<String> = fields.iter().map(|(k, _)| k.clone()).collect();
        for k in &keys {
            assert!(
                KEYS.contains(&k.as_str()),
                "undocumented key {k:?} in {line}"
            );
        }
        let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let text = |key: &str| {
            get(key).map(|v| match v {
                Value::Text(s) => s.clone(),
                Value::Number(..) => panic!("{key} is a number, not a string, in {line}"),
            })
        };
        let number = |key: &str| {
            get(key).map(|v| match v {
                Value::Number(n, _) => {
                    assert!(n.is_finite(), "{key} is not finite in {line}");
                    *n
                }
                Value::Text(_) => panic!("{key} is a string, not a number, in {line}"),
            })
        };
        let whole = |key: &str| {
            get(key).map(|v| match v {
                Value::Number(_, text) => text
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("{key} is not a whole number in {line}")),
                Value::Text(_) => panic!("{key} is a string, not a number, in {line}"),
            })
        };
        let (p99, p999) = (number("p99_ns"), number("p999_ns"));
        let stats = match STATS.map(&number) {
            [Some(min), Some(median), Some(mean)] => Some(Stats {
                min,
                median,
                p99,
                p999,
                mean,
            }),
            [None, None, None] => {
                assert!(
                    p99.is_none() && p999.is_none(),
                    "a percentile without {STATS:?} in {line}"
                );
                None
            }
            _ => panic!("all of {STATS:?} or none in {line}"),
        };
        Row {
            mech: text("mech").unwrap_or_else(|| panic!("no mech in {line}")),
            mode: text("mode").unwrap_or_else(|| panic!("no mode in {line}")),
            size: whole("size").unwrap_or_else(|| panic!("no size in {line}")),
            count: whole("count"),
            pin: text("pin"),
            stats,
            msgs_per_s: number("msgs_per_s"),
            mb_per_s: number("mb_per_s"),
            cpu_ns_per_msg: number("cpu_ns_per_msg"),
            unsupported: text("unsupported"),
            keys,
        }
    }

    fn key(&self) -> RowKey {
        (
            self.mech.clone(),
            self.mode.clone(),
            self.size,
            self.pin.clone(),
            self.unsupported.clone(),
        )
    }
}

/// The rows of a JSON run's stdout: every line one object.
#[track_caller]
fn json_rows(stdout: &str) -> Vec<Row> {
    stdout
        .lines()
        .map(|line| {
            let fields = parse_json_object(line)
                .unwrap_or_else(|e| panic!("not a flat JSON object ({e}): {line}"));
            let row = Row::from_fields(&fields, line);
            // JSON keeps the documented order too: a reader may rely on it as on CSV's columns.
            let order: Vec<&str> = KEYS
                .iter()
                .copied()
                .filter(|k| row.keys.iter().any(|r| r == k))
                .collect();
            assert_eq!(row.keys, order, "keys out of the documented order: {line}");
            row
        })
        .collect()
}

/// The rows of a CSV run's stdout, after its header of the documented columns; every line has
/// as many cells as the header, an empty cell being an absent key.
#[track_caller]
fn csv_rows(stdout: &str) -> Vec<Row> {
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some(KEYS.join(",").as_str()), "{stdout}");
    lines
        .map(|line| {
            let cells = parse_csv_line(line).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(cells.len(), KEYS.len(), "{line}");
            let fields: Vec<(String, Value)> = KEYS
                .iter()
                .zip(cells)
                .filter(|(_, cell)| !cell.is_empty())
                .map(|(k, cell)| {
                    let value = if TEXT_KEYS.contains(k) {
                        Value::Text(cell)
                    } else {
                        let n = cell
                            .parse::<f64>()
                            .unwrap_or_else(|_| panic!("{k} = {cell:?} is not a number: {line}"));
                        Value::Number(n, cell)
                    };
                    (k.to_string(), value)
                })
                .collect();
            Row::from_fields(&fields, line)
        })
        .collect()
}

/// The keys a row of this kind has, exactly, for a measured row of `samples` samples.
fn keys_for(mode: &str, measured: bool, samples: u64) -> Vec<&'static str> {
    let (p99, p999) = percentiles_shown(samples);
    let pick = |wanted: &[&str]| {
        KEYS.iter()
            .copied()
            .filter(|k| wanted.contains(k))
            .filter(|k| (*k != "p99_ns" || p99) && (*k != "p999_ns" || p999))
            .collect()
    };
    // A measured row has every documented key but those it leaves out.
    let all_but = |left_out: &[&str]| {
        let wanted: Vec<&str> = KEYS.into_iter().filter(|k| !left_out.contains(k)).collect();
        pick(&wanted)
    };
    let floor = mode == "floor";
    match (mode, measured) {
        (_, false) if floor => pick(&["mech", "mode", "size", "unsupported"]),
        (_, false) => pick(&["mech", "mode", "size", "pin", "unsupported"]),
        ("floor", true) => all_but(&[
            "pin",
            "msgs_per_s",
            "mb_per_s",
            "cpu_ns_per_msg",
            "unsupported",
        ]),
        ("latency", true) => all_but(&["msgs_per_s", "mb_per_s", "unsupported"]),
        ("throughput", true) => all_but(&[
            "min_ns",
            "median_ns",
            "p99_ns",
            "p999_ns",
            "mean_ns",
            "unsupported",
        ]),
        _ => panic!("unknown mode {mode:?}"),
    }
}

/// Statistics that can be true for `samples` samples: p99 given exactly from 100 samples on,
/// p99.9 from 1000; each figure positive and finite; min <= median <= p99 <= p99.9 as far as
/// they are given; the mean at least the minimum.
#[track_caller]
fn assert_stats(s: Stats, samples: u64, what: &str) {
    let (p99, p999) = percentiles_shown(samples);
    assert_eq!(
        (s.p99.is_some(), s.p999.is_some()),
        (p99, p999),
        "{what}: p99 from 100 samples on, p99.9 from 1000; here {samples}: {s:?}"
    );
    let ordered: Vec<f64> = [Some(s.min), Some(s.median), s.p99, s.p999]
        .into_iter()
        .flatten()
        .collect();
    assert!(
        ordered
            .iter()
            .chain([&s.mean])
            .all(|v| v.is_finite() && *v > 0.0),
        "{what}: {s:?}"
    );
    assert!(
        ordered.is_sorted(),
        "{what}: min <= median <= p99 <= p99.9: {s:?}"
    );
    assert!(s.mean >= s.min, "{what}: mean >= min: {s:?}");
}

/// One row's shape: its keys for its kind, a reason when not measured, otherwise figures that
/// can be true and the count asked for (`count`; the floor's is the operations it timed).
#[track_caller]
fn assert_row(row: &Row, count: u64) {
    let what = format!("{row:?}");
    let measured = row.unsupported.is_none();
    let samples = samples_of(&row.mode, count);
    assert_eq!(row.keys, keys_for(&row.mode, measured, samples), "{what}");
    if !measured {
        assert!(!row.unsupported.as_ref().unwrap().is_empty(), "{what}");
        return;
    }
    assert_eq!(row.count, Some(count), "the count asked for: {what}");
    if let Some(stats) = row.stats {
        assert_stats(stats, samples, &what);
    }
    if row.mode != "floor" {
        let cpu = row.cpu_ns_per_msg.unwrap();
        assert!(cpu.is_finite() && cpu > 0.0, "{what}");
    }
    if row.mode == "throughput" {
        let (msgs, mb) = (row.msgs_per_s.unwrap(), row.mb_per_s.unwrap());
        let from_msgs = msgs * row.size as f64 / 1e6;
        assert!(msgs > 0.0, "{what}");
        assert!(mb > 0.0 || from_msgs < 0.05, "{what}");
        // Both are printed to 0.1: within the rounding of each.
        let slack = 0.05 + 0.05 * row.size as f64 / 1e6 + 1e-6;
        assert!(
            (mb - from_msgs).abs() <= slack,
            "mb_per_s = msgs_per_s x size / 1e6 ({from_msgs}): {what}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The rows a run must give

/// The latency or throughput rows for these mechanisms, sizes and placements, in ipc-bench's
/// order (placement, then mechanism, then size), each with why it cannot be measured here.
fn expected_rows(mode: &str, mechs: &[&str], sizes: &[u64], pins: &[&str]) -> Vec<RowKey> {
    let max = msgsize_max();
    let mut rows = Vec::new();
    for pin in pins {
        for mech in mechs {
            let sizes = if *mech == "signal" {
                vec![0]
            } else {
                sizes.to_vec()
            };
            for size in sizes {
                let why = if mode == "throughput" && *mech == "signal" {
                    Some("a signal carries no data: latency only".to_string())
                } else if *mech == "mq" && size > max {
                    Some(mq_reason(max))
                } else if *pin == "cross" {
                    cross_unsupported()
                } else {
                    None
                };
                rows.push((
                    mech.to_string(),
                    mode.to_string(),
                    size,
                    Some(pin.to_string()),
                    why,
                ));
            }
        }
    }
    rows
}

/// The floor's rows for these sizes: the clock and a system call, then per size a pipe inside
/// one process (not when the size exceeds a pipe's capacity) and memcpy.
fn expected_floor(sizes: &[u64]) -> Vec<RowKey> {
    let capacity = pipe_capacity();
    let row = |what: &str, size: u64, why: Option<String>| {
        (what.to_string(), "floor".to_string(), size, None, why)
    };
    let mut rows = vec![row("clock", 0, None), row("syscall", 0, None)];
    for &size in sizes {
        let why = (size > capacity).then(|| {
            format!(
                "one process cannot write {size} bytes into a {capacity}-byte pipe before reading"
            )
        });
        rows.push(row("pipe-self", size, why));
        rows.push(row("memcpy", size, None));
    }
    rows
}

const ALL_MECHS: [&str; 6] = ["shm-spin", "shm-sem", "pipe", "socket", "mq", "signal"];
const DEFAULT_SIZES: [u64; 3] = [64, 4096, 65536];
const DEFAULT_PINS: [&str; 2] = ["same", "cross"];

#[track_caller]
fn assert_rows(rows: &[Row], expected: &[RowKey], count: u64) {
    let keys: Vec<RowKey> = rows.iter().map(Row::key).collect();
    assert_eq!(keys, expected, "every row, in order");
    for row in rows {
        assert_row(row, count);
    }
}

/// stderr's first two lines in the data formats: the machine, then the settings.
#[track_caller]
fn assert_data_header(stderr: &str, settings: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 2, "{stderr}");
    assert!(lines[0].starts_with("ipc-bench: "), "{stderr}");
    assert_machine_line(lines[0]);
    assert_eq!(lines[1], format!("ipc-bench: {settings}"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Every mechanism in every mode

#[test]
fn every_mode_and_mechanism_gives_every_row_with_figures_that_can_be_true() {
    let dir = TempDir::new("all");
    let svg = dir.path.join("all.svg");
    let svg = svg.to_str().unwrap();
    let ran = run(&with_quick(&["--format", "json", "--plot", svg]));
    assert_ok(&ran, "all");
    assert_data_header(
        &ran.stderr,
        "settings: floor 200 operations; latency 200 round trips after 20 warm-up; \
         throughput 200 messages after 20 warm-up; pin same,cross; --quick: rough figures",
    );
    assert!(
        ran.stderr
            .ends_with(&format!("ipc-bench: latency chart written to {svg}\n")),
        "{}",
        ran.stderr
    );
    let rows = json_rows(&ran.stdout);
    let mut expected = expected_floor(&DEFAULT_SIZES);
    for mode in ["latency", "throughput"] {
        expected.extend(expected_rows(
            mode,
            &ALL_MECHS,
            &DEFAULT_SIZES,
            &DEFAULT_PINS,
        ));
    }
    assert_rows(&rows, &expected, COUNT);
    // At most one child per measured latency or throughput row (one that lived less than a
    // millisecond may not have been seen), each reaped (see `finish`).
    let measured = rows
        .iter()
        .filter(|r| r.mode != "floor" && r.unsupported.is_none())
        .count();
    assert!(
        !ran.children.is_empty() && ran.children.len() <= measured,
        "{} children for {measured} rows",
        ran.children.len()
    );
    let chart = std::fs::read_to_string(svg).expect("the chart is written");
    assert!(chart.trim_start().starts_with("<svg"), "{chart}");
}

#[test]
fn pin_none_and_all_and_one_cpu_give_their_rows_and_say_why_cross_is_not_measured() {
    // --pin all is none, same and cross, in that order; repeated names count once.
    let mechs = ["shm-spin", "pipe", "signal"];
    let ran = run(&with_quick(&[
        "--format",
        "json",
        "--mech",
        "shm-spin,pipe,signal,pipe",
        "--size",
        "64,64",
        "--pin",
        "all,none",
    ]));
    assert_ok(&ran, "--pin all");
    let mut expected = expected_floor(&[64]);
    for mode in ["latency", "throughput"] {
        expected.extend(expected_rows(
            mode,
            &mechs,
            &[64],
            &["none", "same", "cross"],
        ));
    }
    assert_rows(&json_rows(&ran.stdout), &expected, COUNT);

    // On one CPU (taskset), cross is not measured and the rows say why; the CSV quotes that
    // reason, which holds a comma.
    if Command::new("taskset").arg("-V").output().is_err() {
        eprintln!("skipped the one-CPU part: no taskset");
        return;
    }
    let cpu = usable_cpus()[0].to_string();
    let mut c = Command::new("taskset");
    c.args(["-c", &cpu])
        .arg(bin("ipc-bench"))
        .args(with_quick(&[
            "--format",
            "csv",
            "--mech",
            "pipe,signal",
            "--size",
            "64",
            "--pin",
            "all",
        ]))
        .env("NO_COLOR", "1");
    let demo = Demo::start_cmd(c);
    let ran = finish(demo);
    assert_ok(&ran, "one CPU");
    let why = Some("needs two CPUs, and this process may use 1".to_string());
    let one_cpu = |mode: &str| -> Vec<RowKey> {
        expected_rows(mode, &["pipe", "signal"], &[64], &["none", "same", "cross"])
            .into_iter()
            .map(|(m, mode, size, pin, reason)| {
                let reason = match (pin.as_deref(), &reason) {
                    (Some("cross"), None) => why.clone(),
                    _ => reason,
                };
                (m, mode, size, pin, reason)
            })
            .collect()
    };
    let mut expected = expected_floor(&[64]);
    expected.extend(one_cpu("latency"));
    expected.extend(one_cpu("throughput"));
    assert_rows(&csv_rows(&ran.stdout), &expected, COUNT);
    assert!(
        ran.stdout.contains(
            "pipe,latency,64,,cross,,,,,,,,,\"needs two CPUs, and this process may use 1\"\n"
        ),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stderr
            .lines()
            .next()
            .is_some_and(|l| l.contains(", 1 CPU usable (")),
        "{}",
        ran.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// The floor

#[test]
fn floor_times_the_clock_a_system_call_a_pipe_in_one_process_and_memcpy() {
    let capacity = pipe_capacity();
    let too_big = (capacity * 2).to_string();
    let sizes = [1, 4096, capacity * 2];
    let ran = run(&[
        "floor",
        "--count",
        "400",
        "--format",
        "json",
        "--size",
        &format!("1,4096,{too_big}"),
    ]);
    assert_ok(&ran, "floor");
    // One process, no child: the header names no placement.
    assert!(ran.children.is_empty(), "{:?}", ran.children);
    assert_data_header(&ran.stderr, "settings: floor 400 operations");
    assert_rows(&json_rows(&ran.stdout), &expected_floor(&sizes), 400);

    // --quick's default is 4000 operations, which --count overrides.
    let ran = run(&["floor", "--quick", "--format", "json", "--size", "64"]);
    assert_ok(&ran, "floor --quick");
    assert_data_header(
        &ran.stderr,
        "settings: floor 4000 operations; --quick: rough figures",
    );
    assert_rows(&json_rows(&ran.stdout), &expected_floor(&[64]), 4000);
}

// ---------------------------------------------------------------------------------------------
// The formats

/// The arguments of a small run of every mode with rows of every kind: measured, a queue
/// message too big, a signal's throughput; returns them and the rows expected.
fn small_mixed_run(format: &str) -> (Vec<String>, Vec<RowKey>) {
    let big = msgsize_max() + 1;
    let sizes = [64, big];
    let mechs = ["pipe", "mq", "signal"];
    let args: Vec<String> = with_quick(&[
        "--format",
        format,
        "--mech",
        "pipe,mq,signal",
        "--pin",
        "same",
    ])
    .into_iter()
    .map(str::to_string)
    .chain(["--size".to_string(), format!("64,{big}")])
    .collect();
    let mut expected = expected_floor(&sizes);
    for mode in ["latency", "throughput"] {
        expected.extend(expected_rows(mode, &mechs, &sizes, &["same"]));
    }
    (args, expected)
}

fn run_owned(args: &[String]) -> Ran {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args)
}

#[test]
fn json_and_csv_carry_the_same_rows_and_keys() {
    let (args, expected) = small_mixed_run("json");
    let json = run_owned(&args);
    assert_ok(&json, "json");
    let json = json_rows(&json.stdout);
    assert_rows(&json, &expected, COUNT);

    let (args, expected) = small_mixed_run("csv");
    let ran = run_owned(&args);
    assert_ok(&ran, "csv");
    assert_data_header(
        &ran.stderr,
        "settings: floor 200 operations; latency 200 round trips after 20 warm-up; \
         throughput 200 messages after 20 warm-up; pin same; --quick: rough figures",
    );
    assert_eq!(ran.stderr.lines().count(), 2, "{}", ran.stderr);
    let csv = csv_rows(&ran.stdout);
    assert_rows(&csv, &expected, COUNT);
    // Row by row, the same keys are present (an empty cell is a key JSON leaves out).
    for (c, j) in csv.iter().zip(&json) {
        assert_eq!(c.keys, j.keys, "{c:?} / {j:?}");
    }
}

/// The lines of a table run: the machine and settings lines, then one section per mode.
struct Table {
    machine: String,
    settings: String,
    sections: Vec<Section>,
}

struct Section {
    title: String,
    header: String,
    rows: Vec<String>,
}

impl Table {
    /// Each section's title and header, in order.
    fn heads(&self) -> Vec<(&str, &str)> {
        self.sections
            .iter()
            .map(|s| (s.title.as_str(), s.header.as_str()))
            .collect()
    }
}

#[track_caller]
fn table(stdout: &str) -> Table {
    let mut lines = stdout.lines();
    let machine = lines.next().expect("a machine line").to_string();
    let settings = lines.next().expect("a settings line").to_string();
    let mut sections = Vec::new();
    let rest: Vec<&str> = lines.collect();
    for block in rest.split(|l| l.is_empty()).skip(1) {
        assert!(block.len() >= 2, "a title and a header: {stdout}");
        sections.push(Section {
            title: block[0].to_string(),
            header: block[1].to_string(),
            rows: block[2..].iter().map(|l| l.to_string()).collect(),
        });
    }
    assert_eq!(
        rest.first(),
        Some(&""),
        "a blank line after the settings: {stdout}"
    );
    Table {
        machine,
        settings,
        sections,
    }
}

const FLOOR_TITLE: &str =
    "floor: what no IPC can beat, one process, in ns per operation (batches of many)";
const FLOOR_HEAD: &str = "what        size      min   median      p99     mean";
const LATENCY_TITLE: &str = "latency: one round trip (there and back), in µs; cpu: CPU time of \
     both processes per round trip";
const LATENCY_HEAD: &str =
    "mech      pin     size      min   median      p99    p99.9     mean      cpu";
const THROUGHPUT_TITLE: &str = "throughput: a one-way stream, each message copied out; cpu: CPU \
     time of both processes per message, in µs";
const THROUGHPUT_HEAD: &str = "mech      pin     size      msgs/s      MB/s      cpu";

/// One table row against the row it should be, measured with `count` (see [`assert_row`]): its
/// names and size, then either `not measured: REASON` or figures that can be true and a bar of
/// 1 to 30 cells; the size ends under the header's `size`. A percentile the row has too few
/// samples for reads `-`, under its column's name.
#[track_caller]
fn assert_table_row(line: &str, header: &str, want: &RowKey, count: u64) {
    let (mech, mode, size, pin, why) = want;
    let size_text = if *size == 0 {
        "-".to_string()
    } else {
        size.to_string()
    };
    let size_end = header.find("size").unwrap() + 4;
    assert!(
        line.get(..size_end)
            .is_some_and(|l| l.ends_with(&size_text))
            && line.as_bytes().get(size_end) == Some(&b' '),
        "the size {size_text} ends under the header's size:\n{header}\n{line}"
    );
    let mut names = vec![mech.as_str()];
    names.extend(pin.as_deref());
    names.push(&size_text);
    if let Some(why) = why {
        let (left, reason) = line
            .split_once("  not measured: ")
            .unwrap_or_else(|| panic!("no reason: {line:?}"));
        assert_eq!(
            left.split_whitespace().collect::<Vec<_>>(),
            names,
            "{line:?}"
        );
        assert_eq!(reason, why, "{line:?}");
        return;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&words[..names.len()], &names[..], "{line:?}");
    // Each figure, or None for `-`.
    let figures: Vec<Option<f64>> = words[names.len()..words.len() - 1]
        .iter()
        .map(|w| {
            (*w != "-").then(|| {
                w.parse::<f64>()
                    .unwrap_or_else(|_| panic!("{w:?} is not a figure: {line:?}"))
            })
        })
        .collect();
    let bar = words[words.len() - 1];
    let cells = bar.chars().count();
    assert!(
        bar.chars().all(|c| c == '█') && (1..=30).contains(&cells),
        "a bar of 1 to 30 cells: {line:?}"
    );
    assert!(
        figures.iter().flatten().all(|f| f.is_finite() && *f >= 0.0),
        "{line:?}"
    );
    // Which figures may read `-`: the percentiles not given for these samples.
    let (p99, p999) = percentiles_shown(samples_of(mode, count));
    let given: &[bool] = match mode.as_str() {
        // min median p99 p99.9 mean cpu, in µs to two decimals
        "latency" => &[true, true, p99, p999, true, true],
        // msgs/s MB/s cpu
        "throughput" => &[true, true, true],
        // min median p99 mean, in ns to one decimal
        _ => &[true, true, p99, true],
    };
    assert_eq!(
        figures.iter().map(Option::is_some).collect::<Vec<_>>(),
        given,
        "which figures are given (the others read -) for {count}: {line:?}"
    );
    // A `-` stands under its column's name, as a figure would.
    let ends = |text: &str| -> Vec<usize> {
        let chars: Vec<char> = text.chars().collect();
        (0..chars.len())
            .filter(|&i| {
                !chars[i].is_whitespace() && chars.get(i + 1).is_none_or(|c| c.is_whitespace())
            })
            .collect()
    };
    let (line_ends, header_ends) = (ends(line), ends(header));
    for (i, figure) in figures.iter().enumerate() {
        if figure.is_none() {
            let column = names.len() + i;
            assert_eq!(
                line_ends.get(column),
                header_ends.get(column),
                "a - under its column's name:\n{header}\n{line}"
            );
        }
    }
    let f: Vec<f64> = figures.iter().map(|f| f.unwrap_or(f64::NAN)).collect();
    // Ordered as far as given (a comparison with a `-`, NaN here, is left out).
    let le = |a: f64, b: f64| a.is_nan() || b.is_nan() || a <= b;
    match mode.as_str() {
        "latency" => {
            assert!(
                le(f[0], f[1]) && le(f[1], f[2]) && le(f[2], f[3]) && le(f[1], f[3]),
                "{line:?}"
            );
            assert!(f[4] >= f[0], "{line:?}");
            assert!(f[1] > 0.0 && f[5] > 0.0, "{line:?}");
        }
        "throughput" => {
            assert!(f[0] > 0.0 && f[2] > 0.0, "{line:?}");
        }
        _ => {
            assert!(
                f[0] > 0.0 && le(f[0], f[1]) && le(f[1], f[2]) && f[3] >= f[0],
                "{line:?}"
            );
        }
    }
}

#[test]
fn table_has_the_machine_and_settings_a_section_per_mode_and_a_line_per_row() {
    let (args, expected) = small_mixed_run("table");
    let ran = run_owned(&args);
    assert_ok(&ran, "table");
    assert_eq!(ran.stderr, "", "a table says everything on stdout");
    let t = table(&ran.stdout);
    assert!(t.machine.starts_with("ipc-bench: "), "{}", t.machine);
    assert_machine_line(&t.machine);
    assert_eq!(
        t.settings,
        "settings: floor 200 operations; latency 200 round trips after 20 warm-up; \
         throughput 200 messages after 20 warm-up; pin same; --quick: rough figures"
    );
    assert_eq!(
        t.heads(),
        [
            (FLOOR_TITLE, FLOOR_HEAD),
            (LATENCY_TITLE, LATENCY_HEAD),
            (THROUGHPUT_TITLE, THROUGHPUT_HEAD)
        ]
    );
    let lines: Vec<(&str, &str)> = t
        .sections
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| (r.as_str(), s.header.as_str())))
        .collect();
    assert_eq!(
        lines.len(),
        expected.len(),
        "one line per row:\n{}",
        ran.stdout
    );
    for ((line, header), want) in lines.iter().zip(&expected) {
        assert_table_row(line, header, want, COUNT);
    }
}

#[test]
fn explain_narrates_each_mode_on_stderr_and_leaves_stdout_to_the_rows() {
    let ran = run(&[
        "latency",
        "--explain",
        "--format",
        "json",
        "--mech",
        "pipe",
        "--size",
        "64",
        "--pin",
        "same",
        "--count",
        "50",
        "--warmup",
        "5",
    ]);
    assert_ok(&ran, "--explain");
    assert_rows(
        &json_rows(&ran.stdout),
        &expected_rows("latency", &["pipe"], &[64], &["same"]),
        50,
    );
    for want in [
        "[step 1] latency: 50 round trips, each timed, after 5 warm-up, for each placement, \
         mechanism and size",
        "pipe(down); pipe(up)",
        "parent: t0 = clock; write(fd, 64); read(fd, 64); sample = clock - t0",
    ] {
        assert!(ran.stderr.contains(want), "{want:?}: {}", ran.stderr);
    }
}

#[test]
fn p99_is_given_from_100_samples_on_and_p999_from_1000_in_every_format() {
    // One quick row each: a pipe, both processes on one CPU, 64 bytes.
    let want = expected_rows("latency", &["pipe"], &[64], &["same"]);
    for (count, p99, p999) in [
        (99, false, false),
        (100, true, false),
        (999, true, false),
        (1000, true, true),
    ] {
        let n = count.to_string();
        for format in ["json", "csv", "table"] {
            let what = format!("--count {count} --format {format}");
            let ran = run(&[
                "latency", "--mech", "pipe", "--pin", "same", "--size", "64", "--count", &n,
                "--format", format,
            ]);
            assert_ok(&ran, &what);
            let rows = match format {
                "json" => json_rows(&ran.stdout),
                "csv" => csv_rows(&ran.stdout),
                _ => {
                    let t = table(&ran.stdout);
                    assert_eq!(t.sections.len(), 1, "{what}: {}", ran.stdout);
                    let latency = &t.sections[0];
                    assert_eq!(latency.header, LATENCY_HEAD, "{what}");
                    assert_eq!(latency.rows.len(), 1, "{what}: {}", ran.stdout);
                    let line = &latency.rows[0];
                    assert_table_row(line, &latency.header, &want[0], count);
                    // min median p99 p99.9 mean cpu, then the bar: `-` for each not given.
                    let cells: Vec<&str> = line.split_whitespace().skip(3).take(6).collect();
                    let dashes: Vec<bool> = cells.iter().map(|c| *c == "-").collect();
                    assert_eq!(
                        dashes,
                        [false, false, !p99, !p999, false, false],
                        "{what}: {line:?}"
                    );
                    continue;
                }
            };
            assert_rows(&rows, &want, count);
            let stats = rows[0].stats.unwrap_or_else(|| panic!("{what}: {rows:?}"));
            assert_eq!(
                (stats.p99.is_some(), stats.p999.is_some()),
                (p99, p999),
                "{what}: {}",
                ran.stdout
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The cpu column

/// The CPUs a row's two processes can use at once: one with `--pin same`, otherwise two (as
/// many as there are, up to two).
fn cpus_for(pin: &str) -> f64 {
    if pin == "same" {
        1.0
    } else {
        usable_cpus().len().min(2) as f64
    }
}

/// How much more CPU time than its CPUs x its wall time a row's timed part may show, in ns:
/// getrusage's microseconds (four readings) and the edges of the timed part (each process
/// reads its CPU time on its own side of the first and last message). Well below a run's fork
/// and set-up: counting those, as the column once did, added 200 to 500 µs to each row of a
/// debug build on a 2-CPU machine (3500 µs to shm-spin's latency at cross).
const CPU_SLACK_NS: f64 = 100_000.0;

/// Latency's wall time is its samples' sum, which leaves out the code between two timed round
/// trips, while the other side waits for the next (spinning, at cross): this much more per
/// round trip and CPU, twice what a debug build takes.
const CPU_SLACK_PER_ROUND_TRIP_NS: f64 = 250.0;

/// The round trips or messages of the rows whose cpu column is checked: few, so that the
/// timed part is short and anything else counted shows.
const CPU_COUNT: u64 = 200;

/// How many times a row out of bounds is measured in all: a busy machine can, rarely, stop one
/// process outside the timed part while the other spins (a tick at the wrong moment); what
/// counts more than the timed part is out of bounds every time.
const CPU_TRIES: usize = 3;

/// A run of `mode` for these mechanisms and placements, 64 bytes, CPU_COUNT after a tenth as
/// many warm-up, in JSON.
fn cpu_run(mode: &str, mechs: &str, pins: &str) -> Vec<String> {
    let (count, warmup) = (CPU_COUNT.to_string(), (CPU_COUNT / 10).to_string());
    [
        mode, "--mech", mechs, "--pin", pins, "--size", "64", "--count", &count, "--warmup",
        &warmup, "--format", "json",
    ]
    .map(str::to_string)
    .to_vec()
}

/// Why a measured row's cpu column cannot be the CPU time its two processes spent in its timed
/// part, if it cannot: it must be above 0, and the CPU time in all (count x cpu_ns_per_msg) at
/// most [`cpus_for`] its placement times the timed part's wall time (latency: count x mean;
/// throughput: count / msgs_per_s), plus the slack.
fn cpu_out_of_bounds(row: &Row) -> Option<String> {
    let count = row.count.expect("a measured row's count") as f64;
    let cpu = row.cpu_ns_per_msg.expect("a measured row's cpu");
    let cpus = cpus_for(row.pin.as_deref().expect("a measured row's pin"));
    let (wall, slack) = if row.mode == "latency" {
        let mean = row.stats.expect("a latency row's statistics").mean;
        (
            count * mean,
            CPU_SLACK_NS + cpus * count * CPU_SLACK_PER_ROUND_TRIP_NS,
        )
    } else {
        let per_s = row.msgs_per_s.expect("a throughput row's msgs_per_s");
        (count * 1e9 / per_s, CPU_SLACK_NS)
    };
    let used = count * cpu;
    let bound = cpus * wall + slack;
    (!(cpu > 0.0 && used <= bound)).then(|| {
        format!(
            "{} {} pin {}: {:.0} µs of CPU in {:.0} µs on {cpus} CPU(s), at most {:.0} µs with \
             the slack",
            row.mech,
            row.mode,
            row.pin.as_deref().unwrap_or("?"),
            used / 1e3,
            wall / 1e3,
            bound / 1e3
        )
    })
}

#[test]
fn the_cpu_column_is_the_timed_part_at_most_two_cpus_or_one_when_both_share_it() {
    let mut pins = vec!["same"];
    if cross_unsupported().is_none() {
        pins.push("cross");
    }
    let mut out_of_bounds = Vec::new();
    // Throughput: every mechanism but a signal, which carries no data.
    let streams = ["shm-spin", "shm-sem", "pipe", "socket", "mq"];
    for (mode, mechs) in [("latency", &ALL_MECHS[..]), ("throughput", &streams[..])] {
        let ran = run_owned(&cpu_run(mode, &mechs.join(","), &pins.join(",")));
        assert_ok(&ran, mode);
        let rows = json_rows(&ran.stdout);
        // Every row measured, its cpu above 0 among the rest (see `assert_row`).
        assert_rows(&rows, &expected_rows(mode, mechs, &[64], &pins), CPU_COUNT);
        for row in rows.into_iter().filter(|r| r.unsupported.is_none()) {
            // Why each try was out of bounds, until one is not.
            let mut tries: Vec<String> = cpu_out_of_bounds(&row).into_iter().collect();
            while !tries.is_empty() && tries.len() < CPU_TRIES {
                let pin = row.pin.as_deref().unwrap();
                let again = run_owned(&cpu_run(mode, &row.mech, pin));
                assert_ok(&again, &format!("{} {mode} pin {pin}", row.mech));
                let again = json_rows(&again.stdout);
                assert_rows(&again, &[row.key()], CPU_COUNT);
                match cpu_out_of_bounds(&again[0]) {
                    Some(why) => tries.push(why),
                    None => {
                        tries.clear();
                        break;
                    }
                }
            }
            out_of_bounds.extend(tries);
        }
    }
    assert!(
        out_of_bounds.is_empty(),
        "rows whose CPU time cannot be their timed part's, in each of {CPU_TRIES} tries:\n{}",
        out_of_bounds.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Message queues and their size limit

#[test]
fn mq_above_msgsize_max_is_not_measured_and_names_the_limit_in_every_format() {
    let max = msgsize_max();
    if max >= 16 << 20 {
        eprintln!("skipped: msgsize_max {max} is at ipc-bench's own largest size");
        return;
    }
    let big = (max + 1).to_string();
    let why = mq_reason(max);
    let expected: Vec<RowKey> = ["latency", "throughput"]
        .iter()
        .flat_map(|mode| expected_rows(mode, &["mq"], &[max + 1], &DEFAULT_PINS))
        .collect();
    assert!(expected.iter().all(|r| r.4.as_ref() == Some(&why)));
    for format in ["table", "json", "csv"] {
        let ran = run(&with_quick(&[
            "--mech", "mq", "--size", &big, "--format", format,
        ]));
        assert_ok(&ran, format);
        // Nothing measured, so nothing forked; the floor (in `all`) forks nothing either.
        assert!(ran.children.is_empty(), "{format}: {:?}", ran.children);
        let rows: Vec<Row> = match format {
            "json" => json_rows(&ran.stdout),
            "csv" => csv_rows(&ran.stdout),
            _ => {
                let t = table(&ran.stdout);
                for section in &t.sections[1..] {
                    for (line, pin) in section.rows.iter().zip(DEFAULT_PINS) {
                        assert_eq!(
                            line.split_whitespace().take(3).collect::<Vec<_>>(),
                            ["mq", pin, big.as_str()],
                            "{line:?}"
                        );
                        assert!(
                            line.ends_with(&format!("  not measured: {why}")),
                            "{line:?}"
                        );
                    }
                }
                assert_eq!(
                    t.sections.iter().map(|s| s.rows.len()).collect::<Vec<_>>(),
                    [4, 2, 2]
                );
                continue;
            }
        };
        let mq: Vec<Row> = rows.into_iter().filter(|r| r.mech == "mq").collect();
        assert_rows(&mq, &expected, COUNT);
    }
}

#[test]
fn mq_at_exactly_msgsize_max_is_measured() {
    let max = msgsize_max();
    let ran = run(&with_quick(&[
        "--format",
        "json",
        "--mech",
        "mq",
        "--pin",
        "same",
        "--size",
        &max.to_string(),
    ]));
    assert_ok(&ran, "mq at msgsize_max");
    let rows: Vec<Row> = json_rows(&ran.stdout)
        .into_iter()
        .filter(|r| r.mode != "floor")
        .collect();
    let mut expected = expected_rows("latency", &["mq"], &[max], &["same"]);
    expected.extend(expected_rows("throughput", &["mq"], &[max], &["same"]));
    assert!(expected.iter().all(|r| r.4.is_none()));
    assert_rows(&rows, &expected, COUNT);
    // One child per row (a short one may not have been seen).
    assert!((1..=2).contains(&ran.children.len()), "{:?}", ran.children);
}

// ---------------------------------------------------------------------------------------------
// The chart

/// The text of every `<text>` element of an SVG, trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|rest| {
            let (_, body) = rest.split_once('>')?;
            let (text, _) = body.split_once("</text>")?;
            Some(text.trim().to_string())
        })
        .collect()
}

#[test]
fn plot_draws_a_bar_per_mechanism_measured_into_an_svg() {
    let dir = TempDir::new("plot");
    let path = dir.path.join("latency.svg");
    let path = path.to_str().unwrap();
    let ran = run(&with_quick(&[
        "latency",
        "--mech",
        "shm-spin,pipe,mq,signal",
        "--size",
        "64",
        "--plot",
        path,
    ]));
    assert_ok(&ran, "--plot");
    assert_eq!(
        ran.stderr,
        format!("ipc-bench: latency chart written to {path}\n")
    );
    assert_eq!(dir.entries(), ["latency.svg"]);
    let svg = std::fs::read_to_string(path).expect("read the chart");
    let head = svg.trim_start();
    assert!(
        head.starts_with("<svg") || head.starts_with("<?xml"),
        "{head:.200}"
    );
    assert!(svg.trim_end().ends_with("</svg>"), "a whole SVG");
    let texts = svg_texts(&svg);
    let mut want = vec![
        "Round-trip latency, 64-byte messages (median, whisker to p99; log scale)",
        "shm-spin",
        "pipe",
        "mq",
        "signal",
        "both on one CPU (--pin same)",
    ];
    if cross_unsupported().is_none() {
        want.push("on two CPUs (--pin cross)");
    }
    for w in want {
        assert!(texts.iter().any(|t| t == w), "no {w:?} label in {texts:?}");
    }

    // A mechanism with nothing measured has no bar and no label; the chart takes the smallest
    // size measured.
    let big = (msgsize_max() + 1).to_string();
    let path = dir.path.join("big.svg");
    let path = path.to_str().unwrap();
    let ran = run(&with_quick(&[
        "latency", "--mech", "pipe,mq", "--size", &big, "--pin", "same", "--plot", path,
    ]));
    assert_ok(&ran, "--plot, mq not measured");
    let texts = svg_texts(&std::fs::read_to_string(path).expect("read the chart"));
    assert!(texts.iter().any(|t| t == "pipe"), "{texts:?}");
    assert!(!texts.iter().any(|t| t == "mq"), "{texts:?}");
    let title =
        format!("Round-trip latency, {big}-byte messages (median, whisker to p99; log scale)");
    assert!(texts.contains(&title), "{texts:?}");
}

#[test]
fn plot_wants_an_svg_name_and_latency_and_writes_nothing_otherwise() {
    let dir = TempDir::new("plot-errors");
    let at = |name: &str| dir.path.join(name).to_str().unwrap().to_string();
    // Refused before anything is measured: a usage error, one line, no child, no file.
    for (args, message) in [
        (
            vec!["latency".to_string(), "--plot".into(), at("chart.png")],
            format!(
                "--plot writes SVG: give a file name ending in .svg, not {}",
                at("chart.png")
            ),
        ),
        (
            vec!["--plot".into(), at("chart")],
            format!(
                "--plot writes SVG: give a file name ending in .svg, not {}",
                at("chart")
            ),
        ),
        (
            vec!["throughput".into(), "--plot".into(), at("chart.svg")],
            "--plot draws latency: measure latency (ipc-bench latency or all)".to_string(),
        ),
        (
            vec!["floor".into(), "--plot".into(), at("chart.svg")],
            "--plot draws latency: measure latency (ipc-bench latency or all)".to_string(),
        ),
    ] {
        let mut all: Vec<String> = QUICK.iter().map(|s| s.to_string()).collect();
        all.extend(args);
        let ran = run_owned(&all);
        assert_usage_error(&ran, &format!("{all:?}"));
        assert_eq!(ran.stderr, format!("error: {message}\n"), "{all:?}");
        assert_eq!(dir.entries(), Vec::<String>::new(), "{all:?}");
    }

    // Nothing measured, nothing to draw: a failure after the table, and no file.
    let big = (msgsize_max() + 1).to_string();
    let ran = run(&with_quick(&[
        "latency",
        "--mech",
        "mq",
        "--size",
        &big,
        "--plot",
        &at("none.svg"),
    ]));
    assert_eq!(code(&ran), 1, "{}", ran.stderr);
    assert_eq!(
        ran.stderr,
        "error: no latency was measured: nothing to draw\n"
    );
    assert_eq!(dir.entries(), Vec::<String>::new());

    // Where the chart cannot go, found before anything is measured: a usage error that names
    // the file and why. A directory that does not exist; a file where the directory should
    // be, writable though it is (made first); a name longer than a directory entry may be (255
    // bytes).
    std::fs::write(at("a-file"), "").unwrap();
    for (path, why) in [
        (
            at("no-such-dir/chart.svg"),
            "No such file or directory (ENOENT)",
        ),
        (at("a-file/chart.svg"), "Not a directory (ENOTDIR)"),
        (
            at(&format!("{}.svg", "a".repeat(300))),
            "File name too long (ENAMETOOLONG)",
        ),
    ] {
        assert_plot_refused(&run(&plot_args(&path)), &path, why);
        assert_eq!(dir.entries(), ["a-file"], "{why}");
    }
}

/// One quick row of a pipe's latency, drawn with `--plot PATH`.
fn plot_args(path: &str) -> Vec<&str> {
    with_quick(&[
        "latency", "--mech", "pipe", "--size", "64", "--pin", "same", "--plot", path,
    ])
}

/// A `--plot` refused before anything is measured: a usage error that names the file and why
/// the chart cannot be written there.
#[track_caller]
fn assert_plot_refused(ran: &Ran, path: &str, why: &str) {
    assert_usage_error(ran, path);
    assert_eq!(
        ran.stderr,
        format!("error: --plot {path}: cannot write the chart there: {why}\n")
    );
}

#[test]
fn plot_into_a_directory_it_may_not_write_is_refused_before_measuring() {
    // A directory this process made (0755) is not writable by nobody; without root, one made
    // read-only is not writable by this process either.
    let dir = TempDir::new("plot-read-only");
    let chart = dir.path.join("chart.svg");
    let chart = chart.to_str().unwrap();
    let args = plot_args(chart);
    let ran = if can_drop_to_nobody() {
        let mut c = as_nobody("ipc-bench");
        c.args(&args);
        finish(Demo::start_cmd(c))
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o555))
            .expect("chmod 0555");
        let writable = nix::unistd::access(&dir.path, nix::unistd::AccessFlags::W_OK).is_ok();
        let ran = run(&args);
        let _ = std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755));
        if writable {
            eprintln!("skipped: this process may write into a read-only directory");
            return;
        }
        ran
    };
    assert_plot_refused(&ran, chart, "Permission denied (EACCES)");
    assert_eq!(dir.entries(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Usage errors, help, version

#[test]
fn bad_arguments_are_one_line_usage_errors() {
    for args in [
        &["--size", "0"][..],
        &["--size", "99999999"][..],
        &["--size", "16777217"][..],
        &["--size", "abc"][..],
        &["--size", "64,,128"][..],
        &["--mech", "foo"][..],
        &["--mech", "pipe,foo"][..],
        &["--pin", "sideways"][..],
        &["--count", "0"][..],
        &["--count", "-1"][..],
        &["--count", "100000001"][..],
        &["--count", "x"][..],
        &["--warmup", "x"][..],
        &["--warmup", "-1"][..],
        &["--format", "xml"][..],
        &["sideways"][..],
        &["latency", "extra"][..],
        &["--bogus"][..],
    ] {
        let ran = run(args);
        assert_usage_error(&ran, &format!("{args:?}"));
        assert_eq!(
            ran.stderr
                .lines()
                .filter(|l| l.starts_with("error:"))
                .count(),
            1,
            "{args:?}: {}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains("For more information, try '--help'."),
            "{args:?}: {}",
            ran.stderr
        );
    }
    for (arg, range) in [
        ("0", "expected a size from 1 to 16777216 bytes, got \"0\""),
        (
            "abc",
            "expected a size in bytes such as 64 or 4096, got \"abc\"",
        ),
    ] {
        let ran = run(&["--size", arg]);
        assert!(ran.stderr.contains(range), "{arg}: {}", ran.stderr);
    }
}

#[test]
fn latency_counts_are_capped_by_the_samples_they_keep() {
    for args in [
        &["latency", "--count", "10000001"][..],
        &["--count", "20000000"][..],
    ] {
        let ran = run(args);
        assert_eq!(code(&ran), 2, "{args:?}: {}", ran.stderr);
        assert_eq!(
            ran.stderr.lines().collect::<Vec<_>>(),
            [format!(
                "error: --count {}: latency keeps every round trip's time (8 bytes each), so it takes at most 10000000; throughput and floor take up to 100000000",
                args[args.len() - 1]
            )],
            "{args:?}"
        );
        assert_eq!(ran.stdout, "", "{args:?}");
    }
}

#[test]
fn help_and_version() {
    let ran = run(&["--help"]);
    assert_eq!((code(&ran), ran.stderr.as_str()), (0, ""));
    for want in [
        "Usage: ipc-bench [OPTIONS] [MODE]",
        "latency",
        "throughput",
        "floor",
        "--mech <LIST>",
        "--size <LIST>",
        "--pin <LIST>",
        "--count <N>",
        "--warmup <N>",
        "--quick",
        "--format <FORMAT>",
        "--plot <FILE.svg>",
        "--explain",
        "Lecture notes: B1",
        "Examples:",
    ] {
        assert!(ran.stdout.contains(want), "{want:?}: {}", ran.stdout);
    }
    assert!(ran.children.is_empty());
    assert_version("ipc-bench", run);
}

// ---------------------------------------------------------------------------------------------
// Termination signals mid-measurement

const STOPPED: &str =
    "ipc-bench: stopped: the child process is reaped, and nothing the run made is left";

const TERMINATION: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// A measurement that runs far longer than any test (and starts at once: no warm-up), of two
/// sizes: a run that went on after the signal would fork a second child.
fn long_run(mode: &str, mech: &str, pin: &str) -> Vec<String> {
    // A latency row keeps every sample (8 bytes each): ten million of them at most.
    let count = if mode == "latency" {
        "10000000"
    } else {
        "100000000"
    };
    [
        mode, "--mech", mech, "--pin", pin, "--size", "64,128", "--count", count, "--warmup", "0",
        "--format", "json",
    ]
    .map(str::to_string)
    .to_vec()
}

/// How soon a run must end after a termination signal (it looks after every round trip or
/// message, and a signal interrupts any wait).
const PROMPTLY: Duration = Duration::from_secs(3);

/// Send `sig` to the bench (or its whole process group, as a terminal's Ctrl-C reaches the
/// parent and its child at once): it must end by that signal within `limit`, and leave nothing
/// behind.
#[track_caller]
fn end_by(demo: Demo, sig: Signal, target: Target, limit: Duration, what: &str) -> Ran {
    let (ran, took) = demo.end_by_signal(sig, target);
    let ran = left_nothing(ran);
    assert!(took < limit, "{what}: took {took:?}");
    assert_eq!(
        (ran.status.signal(), code(&ran)),
        (Some(sig as i32), 128 + sig as i32),
        "{what}: {:?}: {}",
        ran.status,
        ran.stderr
    );
    ran
}

/// Start `args`, wait until it measures (its child exists and, with `waits_in`, ipc-bench waits
/// in one of those system calls), send `sig` to `target`: it must end within `limit`, by that
/// signal, saying it stopped, with its child reaped, no other row started and nothing left.
fn interrupt_mid_run(
    args: &[String],
    waits_in: &[i64],
    sig: Signal,
    target: Target,
    limit: Duration,
) {
    let what = format!("{args:?} {sig} to {target:?}");
    let c = bench_cmd(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let demo = Demo::start_for(c, target);
    let pid = demo.pid();
    let child = demo.watch.wait_for(1)[0];
    if args.iter().any(|a| a.starts_with("shm-")) {
        // The run's segment is there while it measures, under ipc-bench's pid.
        eventually("the segment", || !segments_created_by(&[pid]).is_empty());
    }
    if waits_in.is_empty() {
        std::thread::sleep(Duration::from_millis(30));
    } else {
        // Either side may be the one that waits: on one CPU the faster side waits for the slower
        // one, and which is faster changes from run to run (the sender may never wait at all).
        eventually(
            &format!("{what}: a wait in {waits_in:?}, by ipc-bench or its child"),
            || {
                [pid, child.pid]
                    .iter()
                    .any(|p| syscall_of(*p).is_some_and(|nr| waits_in.contains(&nr)))
            },
        );
    }
    assert!(child.exists(), "{what}: the child runs");
    let ran = end_by(demo, sig, target, limit, &what);
    assert_eq!(
        ran.stderr.lines().last(),
        Some(STOPPED),
        "{what}: {}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("error"), "{what}: {}", ran.stderr);
    assert_no_panic(&ran.stderr);
    assert_eq!(ran.children, [child], "{what}: no other row started");
    assert_eq!(ran.stdout, "", "{what}: the first row was not over");
}

fn interrupt_every_way(args: &[String], waits_in: &[i64]) {
    for sig in TERMINATION {
        for target in Target::BOTH {
            interrupt_mid_run(args, waits_in, sig, target, PROMPTLY);
        }
    }
}

#[test]
fn termination_signals_while_shm_spin_spins() {
    interrupt_every_way(&long_run("latency", "shm-spin", spinning_pin()), &[]);
}

#[test]
fn termination_signals_while_shm_sem_waits_in_sem_wait() {
    interrupt_every_way(&long_run("latency", "shm-sem", "same"), &[libc::SYS_futex]);
}

#[test]
fn termination_signals_while_a_pipe_or_a_socket_waits_in_read() {
    interrupt_every_way(&long_run("latency", "pipe", "same"), &[libc::SYS_read]);
    interrupt_mid_run(
        &long_run("latency", "socket", "same"),
        &[libc::SYS_read, libc::SYS_recvfrom],
        Signal::SIGINT,
        Target::Group,
        PROMPTLY,
    );
}

#[test]
fn termination_signals_while_mq_waits_in_mq_receive() {
    interrupt_every_way(
        &long_run("latency", "mq", "same"),
        &[libc::SYS_mq_timedreceive],
    );
}

#[test]
fn termination_signals_while_signal_waits_in_sigwaitinfo() {
    interrupt_every_way(
        &long_run("latency", "signal", "same"),
        &[libc::SYS_rt_sigtimedwait],
    );
}

#[test]
fn termination_signals_mid_throughput() {
    interrupt_every_way(&long_run("throughput", "shm-spin", spinning_pin()), &[]);
    for target in Target::BOTH {
        interrupt_mid_run(
            &long_run("throughput", "shm-sem", "same"),
            &[libc::SYS_futex],
            Signal::SIGTERM,
            target,
            PROMPTLY,
        );
        interrupt_mid_run(
            &long_run("throughput", "pipe", "none"),
            &[],
            Signal::SIGINT,
            target,
            PROMPTLY,
        );
    }
}

/// A table of two rows: a pipe's latency for 64 bytes, over in milliseconds, then for 16 MiB,
/// which takes seconds (each round trip copies 32 MiB through the pipes).
const SHORT_THEN_LONG: [&str; 11] = [
    "latency",
    "--mech",
    "pipe",
    "--pin",
    "same",
    "--size",
    "64,16777216",
    "--count",
    "1000",
    "--warmup",
    "0",
];

#[test]
fn a_termination_signal_mid_table_prints_the_rows_measured_before_the_stop_note() {
    let want = expected_rows("latency", &["pipe"], &[64, 16 << 20], &["same"]);
    for (sig, target) in [
        (Signal::SIGINT, Target::Group),
        (Signal::SIGTERM, Target::Process),
    ] {
        let what = format!("{sig} to {target:?}");
        let demo = Demo::start_for(bench_cmd(&SHORT_THEN_LONG), target);
        // Each row forks its own child: with the second, the first row is over.
        let children = demo.watch.wait_for(2);
        assert!(children[1].exists(), "{what}: the second row runs");
        let ran = end_by(demo, sig, target, PROMPTLY, &what);
        // stderr: the note alone; stdout: the header, then the section with the first row.
        assert_eq!(ran.stderr, format!("{STOPPED}\n"), "{what}");
        assert_eq!(ran.children.len(), 2, "{what}: {:?}", ran.children);
        let t = table(&ran.stdout);
        assert_machine_line(&t.machine);
        assert_eq!(
            t.settings, "settings: latency 1000 round trips after 0 warm-up; pin same",
            "{what}"
        );
        assert_eq!(
            t.heads(),
            [(LATENCY_TITLE, LATENCY_HEAD)],
            "{what}: {}",
            ran.stdout
        );
        let rows = &t.sections[0].rows;
        assert_eq!(rows.len(), 1, "{what}: the first row alone: {}", ran.stdout);
        assert_table_row(&rows[0], LATENCY_HEAD, &want[0], 1000);
        assert!(
            ran.stdout.ends_with('\n'),
            "{what}: whole lines: {:?}",
            ran.stdout
        );
    }
}

/// A run still in its warm-up (a hundred million round trips) when the signal comes.
fn in_warm_up(mech: &str, pin: &str) -> Vec<String> {
    [
        "latency",
        "--mech",
        mech,
        "--pin",
        pin,
        "--size",
        "64,128",
        "--count",
        "1000",
        "--warmup",
        "100000000",
        "--format",
        "json",
    ]
    .map(str::to_string)
    .to_vec()
}

/// The mechanisms a warm-up is interrupted in, and where ipc-bench waits then.
fn warm_ups() -> [(&'static str, &'static str, &'static [i64]); 4] {
    [
        ("shm-spin", spinning_pin(), &[]),
        ("shm-sem", "same", &[libc::SYS_futex]),
        ("pipe", "same", &[libc::SYS_read]),
        ("mq", "same", &[libc::SYS_mq_timedreceive]),
    ]
}

#[test]
fn ctrl_c_or_a_hangup_during_the_warm_up_ends_it_too() {
    // The signal reaches the whole process group: the child dies of it at once, and ipc-bench
    // is woken by that as much as by the signal.
    for (mech, pin, waits_in) in warm_ups() {
        for sig in [Signal::SIGINT, Signal::SIGHUP] {
            interrupt_mid_run(
                &in_warm_up(mech, pin),
                waits_in,
                sig,
                Target::Group,
                PROMPTLY,
            );
        }
    }
}

#[test]
fn a_termination_signal_to_ipc_bench_alone_during_the_warm_up_ends_it_promptly() {
    // A signal that lands in a wait ends it at once (EINTR); one that lands between waits is
    // seen by the look at the flag after every round trip, or else by the next 100 ms tick that
    // interrupts a wait. Either way the end is prompt, on any schedule.
    for (mech, pin, waits_in) in warm_ups() {
        if mech == "shm-spin" {
            continue;
        }
        for _ in 0..5 {
            interrupt_mid_run(
                &in_warm_up(mech, pin),
                waits_in,
                Signal::SIGTERM,
                Target::Process,
                PROMPTLY,
            );
        }
    }
}

#[test]
fn the_warm_up_looks_at_the_stop_flag_as_the_timed_loop_does() {
    // The look at the flag after every round trip is the same loop for every mechanism, and
    // shm-spin is the one where nothing else could end the run: its waits never sleep, so no
    // signal interrupts them, and with each sched_yield made slow (traced by strace) the other
    // side answers within a few yields, as on a machine where the scheduler always switches at
    // a yield: every wait ends long before its 32768th spin, where it would look at the flag.
    // Without the look, the 100,000,000 round trips of the warm-up would go on for hours; with
    // it, the run ends. Asked: that it ends at all, which no schedule can make false.
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("skipped: needs strace to make the spinning waits short");
        return;
    }
    let mut c = Command::new("strace");
    c.args([
        "-f",
        "-qq",
        "-e",
        "trace=sched_yield",
        "-e",
        "signal=none",
        "-o",
        "/dev/null",
    ])
    .arg(bin("ipc-bench"))
    .args(in_warm_up("shm-spin", "same"))
    .env("NO_COLOR", "1");
    let demo = Demo::start_cmd(c);
    // ipc-bench is the tracer's child that runs it. strace may fork helpers first, and a forked
    // copy of strace has strace's command line, ipc-bench's arguments included: only a process
    // that has executed ipc-bench is named so (/proc/PID/comm). A traced process's children are
    // missing from its /proc/PID/task/PID/children: look for a process whose parent it is.
    let tracer = demo.pid();
    let mut bench = 0;
    eventually("ipc-bench under strace", || {
        let found = children_of(tracer).into_iter().find(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c == "ipc-bench\n")
        });
        bench = found.unwrap_or(0);
        found.is_some()
    });
    eventually("ipc-bench's child", || {
        std::fs::read_dir("/proc").is_ok_and(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .any(|p| proc_stat(p).is_some_and(|s| s.ppid == bench))
        })
    });
    // Its child is there, so the warm-up runs or is about to: give it a moment to be in it.
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    nix::sys::signal::kill(Pid::from_raw(bench), Signal::SIGINT).expect("kill");
    let mut stopped = false;
    while !stopped && sent.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(10));
        stopped = proc_stat(bench).is_none_or(|s| s.state == 'Z');
    }
    let took = sent.elapsed();
    if !stopped {
        let _ = nix::sys::signal::kill(Pid::from_raw(bench), Signal::SIGKILL);
    }
    let ran = demo.finish();
    assert!(
        stopped,
        "shm-spin: SIGINT not acted on in {took:?}: {}",
        ran.stderr
    );
    assert_eq!(ran.stderr.lines().last(), Some(STOPPED), "{}", ran.stderr);
}

// ---------------------------------------------------------------------------------------------
// The child killed alone

/// Start `args`, wait until it measures, kill its child with SIGKILL: ipc-bench must end
/// promptly with status 1 and say that the child ended before the measurement was over.
fn kill_the_child(args: &[String], row: &str) {
    let demo = Demo::start_cmd(bench_cmd(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let child = demo.watch.wait_for(1)[0];
    std::thread::sleep(Duration::from_millis(50));
    let sent = Instant::now();
    nix::sys::signal::kill(Pid::from_raw(child.pid), Signal::SIGKILL).expect("kill the child");
    let ran = finish(demo);
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(3), "{args:?}: took {took:?}");
    assert_eq!(code(&ran), 1, "{args:?}: {}", ran.stderr);
    assert_no_panic(&ran.stderr);
    assert_eq!(
        ran.stderr.lines().last(),
        Some(
            format!(
                "error: {row}: the child process ended before the measurement was over: killed \
                 by SIGKILL"
            )
            .as_str()
        ),
        "{args:?}: {}",
        ran.stderr
    );
    assert_eq!(ran.children, [child], "{args:?}: no other row started");
}

#[test]
fn a_child_killed_alone_ends_the_run_with_an_error() {
    let spin = spinning_pin();
    for (mode, mech, pin) in [
        ("latency", "shm-spin", spin),
        ("latency", "mq", "same"),
        ("latency", "shm-sem", "same"),
        ("throughput", "shm-spin", spin),
        ("throughput", "mq", "same"),
    ] {
        kill_the_child(
            &long_run(mode, mech, pin),
            &format!("{mech} {mode}, 64 bytes, pin {pin}"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A closed stdout

/// ipc-bench with its stdout on a pipe whose reader takes `keep` lines and goes (at once, for
/// 0): run to its end (bounded), it must end quietly (exit 0, no panic) and leave nothing
/// behind (no process, no IPC object).
#[track_caller]
fn with_stdout_closed(args: &[&str], keep: usize) -> Ran {
    let ran = left_nothing(run_with_stdout_closed_after(bench_cmd(args), keep));
    assert_eq!(code(&ran), 0, "{args:?}: {}", ran.stderr);
    assert_no_panic(&ran.stderr);
    ran
}

#[test]
fn a_closed_stdout_ends_it_quietly() {
    // A table's header meets the closed pipe first: nothing is measured.
    for args in [
        &["floor", "--quick"][..],
        &[
            "latency", "--quick", "--count", "200", "--mech", "pipe", "--size", "64",
        ][..],
        &[
            "--quick", "--count", "200", "--mech", "shm-spin", "--size", "64",
        ][..],
        // CSV's column header does the same, after the settings on stderr.
        &[
            "--quick", "--count", "200", "--format", "csv", "--mech", "pipe", "--size", "64",
        ][..],
    ] {
        let ran = with_stdout_closed(args, 0);
        let err = &ran.stderr;
        assert!(!err.contains("error"), "{args:?}: {err}");
        assert!(
            ran.children.is_empty(),
            "{args:?}: nothing measured: {:?}",
            ran.children
        );
    }
    // JSON's first row meets it.
    let args = [
        "latency",
        "--quick",
        "--count",
        "200",
        "--format",
        "json",
        "--mech",
        "pipe,signal",
        "--size",
        "64",
        "--pin",
        "same",
    ];
    let err = with_stdout_closed(&args, 0).stderr;
    assert_eq!(err.lines().count(), 2, "only the header: {err}");
}

#[test]
fn a_reader_that_stops_after_the_first_row_ends_the_measurement() {
    // Ten rows of a pipe's latency; the reader takes the first and goes (`| head -1`). The
    // second row's line may still land in the pipe (if the reader is slow to go), the third's
    // cannot: no fourth row should be measured.
    let args = [
        "latency",
        "--format",
        "json",
        "--mech",
        "pipe",
        "--pin",
        "same",
        "--size",
        "64,65,66,67,68,69,70,71,72,73",
        "--count",
        "20000",
        "--warmup",
        "0",
    ];
    let ran = with_stdout_closed(&args, 1);
    let first = &ran.stdout;
    assert!(
        first.starts_with("{\"mech\":\"pipe\",\"mode\":\"latency\",\"size\":64,"),
        "{first}"
    );
    assert!(
        ran.children.len() <= 3,
        "{} rows measured for a reader that took one",
        ran.children.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Headers and alignment

#[test]
fn the_data_formats_machine_line_is_the_tables() {
    let args = ["floor", "--count", "200", "--size", "64"];
    let table = run(&args);
    let machine = table.stdout.lines().next().unwrap().to_string();
    for format in ["json", "csv"] {
        let mut all = args.to_vec();
        all.extend(["--format", format]);
        let ran = run(&all);
        assert_eq!(
            ran.stderr.lines().next(),
            Some(machine.as_str()),
            "{format}"
        );
    }
}

#[test]
fn the_floors_header_counts_what_its_rows_count() {
    let ran = run(&[
        "floor", "--count", "1001", "--size", "64", "--format", "json",
    ]);
    assert_ok(&ran, "floor --count 1001");
    let said: u64 = ran
        .stderr
        .split("settings: floor ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", ran.stderr));
    for row in json_rows(&ran.stdout) {
        assert_eq!(row.count, Some(said), "{row:?}");
    }
}

#[test]
fn the_floors_not_measured_row_lines_up_with_its_header() {
    let size = pipe_capacity() + 1;
    if size > 999_999 {
        eprintln!("skipped: the pipe's capacity {size} is wider than the size column");
        return;
    }
    let ran = run(&["floor", "--count", "200", "--size", &size.to_string()]);
    assert_ok(&ran, "floor");
    let t = table(&ran.stdout);
    let floor = &t.sections[0];
    for (line, want) in floor.rows.iter().zip(expected_floor(&[size])) {
        assert_table_row(line, &floor.header, &want, 200);
    }
}

// ---------------------------------------------------------------------------------------------
// Rows of the fault table (tests/lab/faults.rs): ipc-bench, wherever it waits

fn measures_in(s: &mut Subject, calls: &[i64]) {
    s.wait_children(1);
    s.wait_in(calls);
}

fn bench_pipe(s: &mut Subject, _: &mut Fixture) {
    measures_in(s, READ);
}

pub(crate) fn bench_mq(s: &mut Subject, _: &mut Fixture) {
    measures_in(s, &[libc::SYS_mq_timedreceive]);
}

pub(crate) fn bench_sem(s: &mut Subject, _: &mut Fixture) {
    measures_in(s, &[libc::SYS_futex]);
}

fn bench_throughput(s: &mut Subject, _: &mut Fixture) {
    s.wait_children(1);
    thread::sleep(Duration::from_millis(20));
}

fn bench_floor(s: &mut Subject, _: &mut Fixture) {
    s.wait_out("what        size");
    thread::sleep(Duration::from_millis(20));
}

/// A latency run far longer than any test, with no warm-up.
macro_rules! long_latency {
    ($mech:literal) => {
        &[
            "latency", "--mech", $mech, "--pin", "same", "--size", "64,128", "--count", "10000000",
            "--warmup", "0",
        ]
    };
}
pub(crate) use long_latency;

/// ipc-bench, at every place it waits: its rows of the fault table, which sends each row every
/// termination signal (see [`crate::faults`]).
pub(crate) fn fault_rows() -> Vec<faults::Row> {
    use faults::{Row, Thing};
    let row = faults::row;
    vec![
        // ipc-bench: mid-run, parent and child exchanging, or measuring alone.
        row(
            "ipc-bench",
            "latency mid-run, pipe (read)",
            long_latency!("pipe"),
            bench_pipe,
        ),
        Row {
            owns: &[Thing::BenchQueues],
            ..row(
                "ipc-bench",
                "latency mid-run, mq (mq_timedreceive)",
                long_latency!("mq"),
                bench_mq,
            )
        },
        row(
            "ipc-bench",
            "latency mid-run, shm-sem (futex)",
            long_latency!("shm-sem"),
            bench_sem,
        ),
        row(
            "ipc-bench",
            "throughput mid-run, pipe",
            &[
                "throughput",
                "--mech",
                "pipe",
                "--pin",
                "same",
                "--size",
                "64,128",
                "--count",
                "100000000",
                "--warmup",
                "0",
            ],
            bench_throughput,
        ),
        row(
            "ipc-bench",
            "floor mid-run (no child)",
            &["floor", "--count", "100000000"],
            bench_floor,
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Rows of the bad-input table (tests/lab/bad_input.rs): every option of ipc-bench

/// Options of ipc-bench; a valid value would measure one tiny row (`latency --quick --count 1
/// --warmup 0 --mech pipe --size 64 --pin none`).
fn bench_rows() -> Vec<bad_input::Row> {
    use bad_input::Row;
    let groups: [&[&str]; 6] = [
        &["--quick"],
        &["--count", "1"],
        &["--warmup", "0"],
        &["--mech", "pipe"],
        &["--size", "64"],
        &["--pin", "none"],
    ];
    let base = |skip: &str| -> Vec<&'static str> {
        groups
            .iter()
            .filter(|g| g[0] != skip)
            .flat_map(|g| g.iter().copied())
            .collect()
    };
    let opt = |name: &'static str| {
        Row::opt("ipc-bench", name)
            .before(&["latency"])
            .before(&base(name))
    };
    vec![
        Row::pos("ipc-bench", "MODE").before(&base("")),
        opt("--mech"),
        opt("--size"),
        opt("--pin"),
        opt("--count"),
        opt("--warmup"),
        opt("--format"),
        // Refused before measuring: not a .svg name, or no value.
        opt("--plot"),
        opt("--color"),
    ]
}

#[test]
fn ipc_bench_bad_arguments() {
    try_bad_arguments(
        "ipc-bench",
        &bench_rows(),
        &[],
        &[
            &["bogus"],
            &["latency", "extra"],
            &["--mech", "pipe,,mq"],
            &["--size", "64,"],
            &["--pin", ","],
            &["floor", "--plot", "x.svg"],
            &["latency", "--plot", "x.png"],
            &["latency", "--plot", "/nonexistent-ipc-lab/x.svg"],
        ],
    );
}
